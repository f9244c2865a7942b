// Plain JS pooling references in double precision, written from PyTorch's definitions: one
// (H, W) plane at a time over P = N*C planes, flat arrays in row-major order. Slow and obvious
// on purpose: they are the oracle for the native kernels.

export interface PoolParams {
  k: [number, number];
  s: [number, number];
  p: [number, number];
  d: [number, number];
  ceilMode: boolean;
}

/** PyTorch's pooling_output_shape for one dim. */
export function outputSizeRef(n: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  const eff = d * (k - 1) + 1;
  let out = (ceilMode ? Math.ceil((n + 2 * p - eff) / s) : Math.floor((n + 2 * p - eff) / s)) + 1;
  // With ceil_mode the last window must start inside the input or the left padding.
  if (ceilMode && (out - 1) * s >= n + p) out -= 1;
  return out;
}

export function maxPool2dRef(x: ArrayLike<number>, P: number, H: number, W: number, q: PoolParams) {
  const OH = outputSizeRef(H, q.k[0], q.s[0], q.p[0], q.d[0], q.ceilMode);
  const OW = outputSizeRef(W, q.k[1], q.s[1], q.p[1], q.d[1], q.ceilMode);
  const out = new Float64Array(P * OH * OW);
  const idx = new Array<number>(P * OH * OW);
  for (let pl = 0; pl < P; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity;
        let bi = -1;
        for (let i = 0; i < q.k[0]; i++) {
          for (let j = 0; j < q.k[1]; j++) {
            const h = oh * q.s[0] - q.p[0] + i * q.d[0];
            const w = ow * q.s[1] - q.p[1] + j * q.d[1];
            if (h < 0 || h >= H || w < 0 || w >= W) continue; // padding is -inf
            const v = x[pl * H * W + h * W + w];
            if (bi < 0 || v > best) {
              best = v;
              bi = h * W + w;
            }
          }
        }
        out[(pl * OH + oh) * OW + ow] = best;
        idx[(pl * OH + oh) * OW + ow] = bi;
      }
    }
  }
  return { out, idx, OH, OW };
}

/** dx of max pooling: each dy goes to its window's argmax (several windows may share one). */
export function maxPool2dBackwardRef(dy: ArrayLike<number>, idx: number[], P: number, H: number, W: number, OH: number, OW: number): Float64Array {
  const dx = new Float64Array(P * H * W);
  for (let pl = 0; pl < P; pl++) {
    for (let o = 0; o < OH * OW; o++) {
      const i = idx[pl * OH * OW + o];
      if (i >= 0) dx[pl * H * W + i] += dy[pl * OH * OW + o];
    }
  }
  return dx;
}

export interface AvgParams {
  k: [number, number];
  s: [number, number];
  p: [number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
  divisorOverride?: number;
}

/** Window of output (oh, ow): the input cells it averages and the divisor, PyTorch's rules. */
function avgWindow(oh: number, ow: number, H: number, W: number, q: AvgParams) {
  let h0 = oh * q.s[0] - q.p[0];
  let w0 = ow * q.s[1] - q.p[1];
  // Clip to the padded input first: that size is the count_include_pad divisor.
  let h1 = Math.min(h0 + q.k[0], H + q.p[0]);
  let w1 = Math.min(w0 + q.k[1], W + q.p[1]);
  const padded = (h1 - h0) * (w1 - w0);
  h0 = Math.max(h0, 0);
  w0 = Math.max(w0, 0);
  h1 = Math.min(h1, H);
  w1 = Math.min(w1, W);
  const cells: number[] = [];
  for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) cells.push(h * W + w);
  const divisor = q.divisorOverride ?? (q.countIncludePad ? padded : cells.length);
  return { cells, divisor };
}

export function avgPool2dRef(x: ArrayLike<number>, P: number, H: number, W: number, q: AvgParams) {
  const OH = outputSizeRef(H, q.k[0], q.s[0], q.p[0], 1, q.ceilMode);
  const OW = outputSizeRef(W, q.k[1], q.s[1], q.p[1], 1, q.ceilMode);
  const out = new Float64Array(P * OH * OW);
  for (let pl = 0; pl < P; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const { cells, divisor } = avgWindow(oh, ow, H, W, q);
        let s = 0;
        for (const c of cells) s += x[pl * H * W + c];
        out[(pl * OH + oh) * OW + ow] = cells.length ? s / divisor : 0;
      }
    }
  }
  return { out, OH, OW };
}

export function avgPool2dBackwardRef(dy: ArrayLike<number>, P: number, H: number, W: number, OH: number, OW: number, q: AvgParams): Float64Array {
  const dx = new Float64Array(P * H * W);
  for (let pl = 0; pl < P; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const { cells, divisor } = avgWindow(oh, ow, H, W, q);
        for (const c of cells) dx[pl * H * W + c] += dy[(pl * OH + oh) * OW + ow] / divisor;
      }
    }
  }
  return dx;
}

/** Adaptive windows along one dim: [floor(i*n/out), ceil((i+1)*n/out)). */
function adaptiveBounds(i: number, out: number, n: number): [number, number] {
  return [Math.floor((i * n) / out), Math.ceil(((i + 1) * n) / out)];
}

export function adaptiveAvgPool2dRef(x: ArrayLike<number>, P: number, H: number, W: number, OH: number, OW: number): Float64Array {
  const out = new Float64Array(P * OH * OW);
  for (let pl = 0; pl < P; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1] = adaptiveBounds(oh, OH, H);
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1] = adaptiveBounds(ow, OW, W);
        let s = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x[pl * H * W + h * W + w];
        out[(pl * OH + oh) * OW + ow] = s / ((h1 - h0) * (w1 - w0));
      }
    }
  }
  return out;
}

export function adaptiveAvgPool2dBackwardRef(dy: ArrayLike<number>, P: number, H: number, W: number, OH: number, OW: number): Float64Array {
  const dx = new Float64Array(P * H * W);
  for (let pl = 0; pl < P; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      const [h0, h1] = adaptiveBounds(oh, OH, H);
      for (let ow = 0; ow < OW; ow++) {
        const [w0, w1] = adaptiveBounds(ow, OW, W);
        const g = dy[(pl * OH + oh) * OW + ow] / ((h1 - h0) * (w1 - w0));
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) dx[pl * H * W + h * W + w] += g;
      }
    }
  }
  return dx;
}
