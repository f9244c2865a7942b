// Plain JS references for the gemm family: the BLAS-style GEMM (row-major, transposes, leading
// dimensions, alpha/beta) and matmul with PyTorch's shape rules, written as directly as possible
// and computed in float64.

/** Deterministic uniform values in [lo, hi) (mulberry32), fast enough for big test inputs. */
export function randArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo));
  }
  return out;
}

/**
 * C = alpha * op(A) * op(B) + beta * C on flat arrays (C is updated in place and returned).
 * op(A) is (M, K): A[aOff + i * lda + k], or A[aOff + k * lda + i] when transA; likewise B.
 * beta == 0 ignores C's old values, as BLAS does.
 */
export function refGemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: ArrayLike<number>, aOff: number, lda: number, B: ArrayLike<number>, bOff: number, ldb: number,
  beta: number, C: Float64Array, cOff: number, ldc: number,
): Float64Array {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[aOff + k * lda + i] : A[aOff + i * lda + k];
        const b = transB ? B[bOff + j * ldb + k] : B[bOff + k * ldb + j];
        acc += a * b;
      }
      const c = cOff + i * ldc + j;
      C[c] = alpha * acc + (beta === 0 ? 0 : beta * C[c]);
    }
  }
  return C;
}

export interface Dense {
  data: Float64Array;
  shape: number[];
}

function prod(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** torch.matmul on dense row-major arrays: 1-D promotion, broadcast batch dims. */
export function refMatmul(a: Dense, b: Dense): Dense {
  const aShape = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bShape = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const n = aShape[aShape.length - 2];
  const k = aShape[aShape.length - 1];
  const m = bShape[bShape.length - 1];
  if (bShape[bShape.length - 2] !== k) throw new Error('refMatmul: inner dimensions differ');
  const ba = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const nd = Math.max(ba.length, bb.length);
  const pa = [...new Array(nd - ba.length).fill(1), ...ba];
  const pb = [...new Array(nd - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => (d === 1 ? pb[i] : d));
  const nb = prod(batch);
  const out = new Float64Array(nb * n * m);
  for (let t = 0; t < nb; t++) {
    // batch multi-index -> each operand's own matrix index (size-1 dims broadcast)
    let rem = t;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
    for (let d = nd - 1; d >= 0; d--) {
      const idx = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      ia += (pa[d] === 1 ? 0 : idx) * sa;
      ib += (pb[d] === 1 ? 0 : idx) * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        let acc = 0;
        for (let q = 0; q < k; q++) acc += a.data[ia * n * k + i * k + q] * b.data[ib * k * m + q * m + j];
        out[t * n * m + i * m + j] = acc;
      }
    }
  }
  const shape = [...batch, n, m];
  if (b.shape.length === 1) shape.splice(shape.length - 1, 1);
  if (a.shape.length === 1) shape.splice(shape.length - (b.shape.length === 1 ? 1 : 2), 1);
  return { data: out, shape };
}

/** y = x W^T + b for x [*, in], W [out, in], b [out] or null. */
export function refLinear(x: Dense, w: Dense, b: Float64Array | null): Dense {
  const [outF, inF] = w.shape;
  const rows = prod(x.shape.slice(0, -1));
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) acc += x.data[r * inF + i] * w.data[o * inF + i];
      y[r * outF + o] = acc;
    }
  }
  return { data: y, shape: [...x.shape.slice(0, -1), outF] };
}
