// Plain JS batch-norm references in double precision over (N, C, S) layouts: element (n, c, s)
// at (n*C + c)*S + s. Written from the textbook formulas (and PyTorch's running-stat rule), not
// from the kernel's algebra.

export interface BatchStats {
  mean: Float64Array;
  /** Biased (divide by M = N*S): what normalisation uses. */
  varBiased: Float64Array;
  /** Unbiased (divide by M - 1): what the running variance tracks. */
  varUnbiased: Float64Array;
}

function at(n: number, c: number, s: number, C: number, S: number): number {
  return (n * C + c) * S + s;
}

export function batchStatsRef(x: ArrayLike<number>, N: number, C: number, S: number): BatchStats {
  const M = N * S;
  const mean = new Float64Array(C);
  const varBiased = new Float64Array(C);
  const varUnbiased = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sum += x[at(n, c, s, C, S)];
    const m = sum / M;
    let sq = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sq += (x[at(n, c, s, C, S)] - m) ** 2;
    mean[c] = m;
    varBiased[c] = sq / M;
    varUnbiased[c] = sq / (M - 1);
  }
  return { mean, varBiased, varUnbiased };
}

/** y = (x - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c]; w = 1 and b = 0 when absent. */
export function normalizeRef(x: ArrayLike<number>, N: number, C: number, S: number, mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number, w?: ArrayLike<number> | null, b?: ArrayLike<number> | null): Float64Array {
  const out = new Float64Array(N * C * S);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let s = 0; s < S; s++) {
        const i = at(n, c, s, C, S);
        out[i] = ((x[i] - mean[c]) / Math.sqrt(variance[c] + eps)) * (w ? w[c] : 1) + (b ? b[c] : 0);
      }
  return out;
}

/** PyTorch's running update: (1 - momentum) * running + momentum * stat. */
export function runningUpdateRef(running: ArrayLike<number>, stat: ArrayLike<number>, momentum: number): Float64Array {
  return Float64Array.from(running, (r, c) => (1 - momentum) * r + momentum * stat[c]);
}

/**
 * Gradients of y = normalizeRef(x, ...) given dy. Training: mean and var are functions of x
 * (the batch statistics); eval: they are the given constants (running statistics).
 */
export function batchNormBackwardRef(
  dy: ArrayLike<number>, x: ArrayLike<number>, N: number, C: number, S: number, eps: number, w: ArrayLike<number> | null,
  training: boolean, runningMean?: ArrayLike<number>, runningVar?: ArrayLike<number>,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const M = N * S;
  const stats = training ? batchStatsRef(x, N, C, S) : null;
  const dx = new Float64Array(N * C * S);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const mean = stats ? stats.mean[c] : runningMean![c];
    const sd = Math.sqrt((stats ? stats.varBiased[c] : runningVar![c]) + eps);
    const wc = w ? w[c] : 1;
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < N; n++)
      for (let s = 0; s < S; s++) {
        const i = at(n, c, s, C, S);
        sumDy += dy[i];
        sumDyXhat += dy[i] * ((x[i] - mean) / sd);
      }
    db[c] = sumDy;
    dw[c] = sumDyXhat;
    for (let n = 0; n < N; n++)
      for (let s = 0; s < S; s++) {
        const i = at(n, c, s, C, S);
        const xhat = (x[i] - mean) / sd;
        // training: d/dx of w * xhat through mean and var too: (w / sd) (dy - mean(dy) - xhat mean(dy xhat))
        dx[i] = training ? (wc / sd) * (dy[i] - sumDy / M - (xhat * sumDyXhat) / M) : (wc / sd) * dy[i];
      }
  }
  return { dx, dw, db };
}
