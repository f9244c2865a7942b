// Plain JS references for the loss family, in double precision over flat arrays with explicit
// shapes. They follow PyTorch's definitions literally (cross-entropy as (1 - eps) * nll_loss +
// eps / C * smooth_loss, each reduced on its own; gradients by the chain rule through
// log_softmax), not the fused formulas of native/ops/loss_cpu.cc, so that they can catch its
// mistakes.

export type Reduction = 'none' | 'mean' | 'sum';

export interface RefClassOptions {
  weight?: ArrayLike<number> | null;
  ignoreIndex?: number;
  reduction?: Reduction;
  labelSmoothing?: number;
}

/** (outer, C, inner) of `shape` around dim d (negative d counts from the end). */
export function splitAt(shape: readonly number[], dim: number): { d: number; outer: number; C: number; inner: number } {
  if (shape.length === 0) return { d: 0, outer: 1, C: 1, inner: 1 };
  const d = dim < 0 ? dim + shape.length : dim;
  const prod = (a: readonly number[]) => a.reduce((p, v) => p * v, 1);
  return { d, outer: prod(shape.slice(0, d)), C: shape[d], inner: prod(shape.slice(d + 1)) };
}

function at(o: number, c: number, i: number, C: number, inner: number): number {
  return (o * C + c) * inner + i;
}

// ---------------------------------------------------------------------------------------------
// softmax family

export function refLogSoftmax(x: ArrayLike<number>, shape: number[], dim: number): number[] {
  const { outer, C, inner } = splitAt(shape, dim);
  const out = new Array<number>(x.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, x[at(o, c, i, C, inner)]);
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(x[at(o, c, i, C, inner)] - m);
      const lse = m + Math.log(s);
      for (let c = 0; c < C; c++) out[at(o, c, i, C, inner)] = x[at(o, c, i, C, inner)] - lse;
    }
  return out;
}

export function refSoftmax(x: ArrayLike<number>, shape: number[], dim: number): number[] {
  return refLogSoftmax(x, shape, dim).map(Math.exp);
}

/** Gradient of log_softmax given dy: dx_c = dy_c - softmax_c * sum_k dy_k. */
export function refLogSoftmaxBackward(dy: ArrayLike<number>, x: ArrayLike<number>, shape: number[], dim: number): number[] {
  const p = refSoftmax(x, shape, dim);
  const { outer, C, inner } = splitAt(shape, dim);
  const dx = new Array<number>(x.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += dy[at(o, c, i, C, inner)];
      for (let c = 0; c < C; c++) dx[at(o, c, i, C, inner)] = dy[at(o, c, i, C, inner)] - p[at(o, c, i, C, inner)] * s;
    }
  return dx;
}

/** Gradient of softmax given dy: the Jacobian diag(p) - p p^T applied to dy. */
export function refSoftmaxBackward(dy: ArrayLike<number>, x: ArrayLike<number>, shape: number[], dim: number): number[] {
  const p = refSoftmax(x, shape, dim);
  const { outer, C, inner } = splitAt(shape, dim);
  const dx = new Array<number>(x.length).fill(0);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++)
      for (let a = 0; a < C; a++)
        for (let b = 0; b < C; b++) {
          const pa = p[at(o, a, i, C, inner)];
          const pb = p[at(o, b, i, C, inner)];
          dx[at(o, a, i, C, inner)] += ((a === b ? pa : 0) - pa * pb) * dy[at(o, b, i, C, inner)];
        }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// class-index losses; input [N, C, ...] (class dim 1) or [C] (class dim 0), target flat (S)

function classDim(shape: number[]): number {
  return shape.length === 1 ? 0 : 1;
}

/** The two per-sample parts of PyTorch's cross-entropy and the total weight of non-ignored targets. */
function classParts(logp: ArrayLike<number>, shape: number[], target: ArrayLike<number>, opts: RefClassOptions) {
  const { outer, C, inner } = splitAt(shape, classDim(shape));
  const w = (c: number) => (opts.weight ? opts.weight[c] : 1);
  const ignore = opts.ignoreIndex ?? -100;
  const nll: number[] = [];
  const smooth: number[] = [];
  let totalWeight = 0;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const t = target[o * inner + i];
      if (t === ignore) {
        nll.push(0);
        smooth.push(0);
        continue;
      }
      nll.push(-w(t) * logp[at(o, t, i, C, inner)]);
      let s = 0;
      for (let c = 0; c < C; c++) s -= w(c) * logp[at(o, c, i, C, inner)];
      smooth.push(s);
      totalWeight += w(t);
    }
  return { nll, smooth, totalWeight, C };
}

function reduce(v: number[], reduction: Reduction, divisor: number): number[] {
  if (reduction === 'none') return v;
  const s = v.reduce((a, b) => a + b, 0);
  return [reduction === 'sum' ? s : s / divisor];
}

/** nll_loss on log-probabilities: the loss values (S for 'none', one value otherwise). */
export function refNllLoss(logp: ArrayLike<number>, shape: number[], target: ArrayLike<number>, opts: RefClassOptions = {}): number[] {
  const { nll, totalWeight } = classParts(logp, shape, target, opts);
  return reduce(nll, opts.reduction ?? 'mean', totalWeight);
}

/** cross_entropy with class indices = (1 - eps) nll_loss(logp) + eps / C * smooth_loss, reduced separately. */
export function refCrossEntropy(logits: ArrayLike<number>, shape: number[], target: ArrayLike<number>, opts: RefClassOptions = {}): number[] {
  const logp = refLogSoftmax(logits, shape, classDim(shape));
  const eps = opts.labelSmoothing ?? 0;
  const red = opts.reduction ?? 'mean';
  const { nll, smooth, totalWeight, C } = classParts(logp, shape, target, opts);
  const a = reduce(nll, red, totalWeight);
  const b = reduce(smooth, red, totalWeight);
  return a.map((v, k) => (1 - eps) * v + (eps / C) * b[k]);
}

/** d nll_loss / d logp for incoming gradient dout (S values for 'none', one otherwise). */
export function refNllLossBackward(dout: ArrayLike<number>, shape: number[], target: ArrayLike<number>, opts: RefClassOptions = {}): number[] {
  return dlogpOf(dout, shape, target, opts, 0);
}

function dlogpOf(dout: ArrayLike<number>, shape: number[], target: ArrayLike<number>, opts: RefClassOptions, eps: number): number[] {
  const { outer, C, inner } = splitAt(shape, classDim(shape));
  const w = (c: number) => (opts.weight ? opts.weight[c] : 1);
  const ignore = opts.ignoreIndex ?? -100;
  const red = opts.reduction ?? 'mean';
  let totalWeight = 0;
  for (let s = 0; s < outer * inner; s++) if (target[s] !== ignore) totalWeight += w(target[s]);
  const d = new Array<number>(outer * C * inner).fill(0);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const s = o * inner + i;
      const t = target[s];
      if (t === ignore) continue;
      const g = red === 'none' ? dout[s] : red === 'sum' ? dout[0] : dout[0] / totalWeight;
      d[at(o, t, i, C, inner)] -= g * (1 - eps) * w(t);
      for (let c = 0; c < C; c++) d[at(o, c, i, C, inner)] -= (g * eps * w(c)) / C;
    }
  return d;
}

/** d cross_entropy / d logits: the loss's d/dlogp pushed through log_softmax's backward. */
export function refCrossEntropyBackward(dout: ArrayLike<number>, logits: ArrayLike<number>, shape: number[], target: ArrayLike<number>, opts: RefClassOptions = {}): number[] {
  const dlogp = dlogpOf(dout, shape, target, opts, opts.labelSmoothing ?? 0);
  return refLogSoftmaxBackward(dlogp, logits, shape, classDim(shape));
}

/** cross_entropy with class probabilities y (input's shape): -sum_c w_c ((1-eps) y_c + eps/C) logp_c, mean over samples. */
export function refCrossEntropyProbs(logits: ArrayLike<number>, shape: number[], y: ArrayLike<number>, opts: RefClassOptions = {}): number[] {
  const cd = classDim(shape);
  const logp = refLogSoftmax(logits, shape, cd);
  const { outer, C, inner } = splitAt(shape, cd);
  const eps = opts.labelSmoothing ?? 0;
  const w = (c: number) => (opts.weight ? opts.weight[c] : 1);
  const per: number[] = [];
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let c = 0; c < C; c++) s -= w(c) * ((1 - eps) * y[at(o, c, i, C, inner)] + eps / C) * logp[at(o, c, i, C, inner)];
      per.push(s);
    }
  return reduce(per, opts.reduction ?? 'mean', per.length);
}

// ---------------------------------------------------------------------------------------------
// point-wise losses

export type PointwiseKind = 'mse' | 'l1' | 'smooth_l1';

function value(kind: PointwiseKind, z: number, beta: number): number {
  const a = Math.abs(z);
  if (kind === 'mse') return z * z;
  if (kind === 'l1' || beta === 0) return a;
  return a < beta ? (0.5 * z * z) / beta : a - 0.5 * beta;
}

function slope(kind: PointwiseKind, z: number, beta: number): number {
  if (kind === 'mse') return 2 * z;
  if (kind === 'l1' || beta === 0 || Math.abs(z) >= beta) return Math.sign(z);
  return z / beta;
}

export function refPointwiseLoss(kind: PointwiseKind, x: ArrayLike<number>, y: ArrayLike<number>, reduction: Reduction = 'mean', beta = 1): number[] {
  const v = Array.from({ length: x.length }, (_, i) => value(kind, x[i] - y[i], beta));
  return reduce(v, reduction, x.length);
}

/** d loss / d input; d loss / d target is its negation. */
export function refPointwiseLossBackward(kind: PointwiseKind, dout: ArrayLike<number>, x: ArrayLike<number>, y: ArrayLike<number>, reduction: Reduction = 'mean', beta = 1): number[] {
  return Array.from({ length: x.length }, (_, i) => {
    const g = reduction === 'none' ? dout[i] : reduction === 'sum' ? dout[0] : dout[0] / x.length;
    return g * slope(kind, x[i] - y[i], beta);
  });
}
