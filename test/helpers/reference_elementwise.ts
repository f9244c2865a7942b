// Plain JS references for element-wise and reduction kernels: index arithmetic spelled out, no
// cleverness, so that a kernel bug cannot hide behind the same bug here.

export function broadcastRef(a: Float64Array | Float32Array, aShape: number[], b: Float64Array | Float32Array, bShape: number[], f: (x: number, y: number) => number): { out: number[]; shape: number[] } {
  const n = Math.max(aShape.length, bShape.length);
  const pa = [...Array(n - aShape.length).fill(1), ...aShape];
  const pb = [...Array(n - bShape.length).fill(1), ...bShape];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const total = shape.reduce((x, y) => x * y, 1);
  const out: number[] = [];
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    const idx = new Array(n);
    for (let d = n - 1; d >= 0; d--) {
      idx[d] = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
    }
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < n; d++) {
      ia = ia * pa[d] + (pa[d] === 1 ? 0 : idx[d]);
      ib = ib * pb[d] + (pb[d] === 1 ? 0 : idx[d]);
    }
    out.push(f(a[ia], b[ib]));
  }
  return { out, shape };
}

/** Reduces dim d of a row-major array of `shape` with f over the values along d. */
export function reduceRef(x: ArrayLike<number>, shape: number[], d: number, f: (vals: number[]) => number): number[] {
  const outer = shape.slice(0, d).reduce((p, q) => p * q, 1);
  const r = shape[d];
  const inner = shape.slice(d + 1).reduce((p, q) => p * q, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const vals: number[] = [];
      for (let k = 0; k < r; k++) vals.push(x[(o * r + k) * inner + i]);
      out.push(f(vals));
    }
  }
  return out;
}
