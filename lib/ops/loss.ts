// Losses and the softmax family: logSoftmax, softmax, crossEntropy (fused with its gradient),
// nllLoss, mseLoss, l1Loss, smoothL1Loss. Every op validates in TS first (PyTorch-like messages
// that name the op and the shapes), makes one native forward call and records a backward closure
// that makes one native backward call. The class dimension is the middle of an (outer, C, inner)
// view, so [N, C], [N, C, d1, ...] and softmax over any dim of a contiguous tensor need no copy.
// Class-probability targets for crossEntropy are composed from logSoftmax and element-wise ops.
import { record } from '../autograd';
import { checkOptionalTensor, checkOptions, checkTensor } from '../check';
import { DTYPE_CODE, isFloating } from '../dtype';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors';
import { native } from '../native';
import { Tensor, empty, numelOf } from '../tensor';
import { addScalar, cast, checkSameDevice, mul, neg } from './elementwise';
import { mean, sum } from './reduce';
import { normDim, reshape } from './shape';

export type Reduction = 'none' | 'mean' | 'sum';

/** PyTorch's at::Reduction codes, shared with native/ops/loss.h. */
export const REDUCTION_CODE: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

export interface ReductionOptions {
  /** 'mean' (default) averages, 'sum' adds up, 'none' keeps one loss per element/sample. */
  reduction?: Reduction;
}

export interface NllLossOptions extends ReductionOptions {
  /** A manual rescaling weight for each class, of shape [C]. */
  weight?: Tensor | null;
  /** Targets equal to this index contribute neither loss nor gradient (default -100). */
  ignoreIndex?: number;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** In [0, 1]: the target becomes (1 - eps) one-hot + eps / C uniform (default 0). */
  labelSmoothing?: number;
}

export interface SmoothL1LossOptions extends ReductionOptions {
  /** The |input - target| below which the loss is quadratic (default 1; 0 gives l1Loss). */
  beta?: number;
}

// ---------------------------------------------------------------------------------------------
// shared checks

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkFloating(op: string, what: string, t: Tensor): void {
  if (!isFloating(t.dtype)) throw new DTypeError(`${op}: expected ${what} of dtype float32 or float64 but got ${t.dtype}`);
}

function checkReduction(op: string, reduction: unknown): asserts reduction is Reduction {
  if (typeof reduction !== 'string' || !(reduction in REDUCTION_CODE)) {
    throw new ValueError(`${op}: reduction must be 'none', 'mean' or 'sum' but got ${typeof reduction === 'string' ? `'${reduction}'` : String(reduction)}`);
  }
}

/** (outer, C, inner) sizes of a contiguous shape around dim d; a 0-d tensor is (1, 1, 1). */
function classView(shape: readonly number[], d: number): { outer: number; C: number; inner: number } {
  if (shape.length === 0) return { outer: 1, C: 1, inner: 1 };
  return { outer: numelOf(shape.slice(0, d)), C: shape[d], inner: numelOf(shape.slice(d + 1)) };
}

/** The incoming gradient as a contiguous tensor of `like`'s dtype. */
function gradFor(g: Tensor, like: Tensor): Tensor {
  return (g.dtype === like.dtype ? g : cast(g, like.dtype)).contiguous();
}

// ---------------------------------------------------------------------------------------------
// logSoftmax / softmax

function softmaxOp(op: 'log_softmax' | 'softmax', x: Tensor, dim: number): Tensor {
  checkTensor(x, op, 'input');
  if (!isFloating(x.dtype)) throw new DTypeError(`${op}: expected a float32 or float64 tensor but got ${x.dtype}`);
  const d = normDim(dim, x.ndim, op);
  const c = x.contiguous();
  const { outer, C, inner } = classView(c.shape, d);
  const dt = DTYPE_CODE[c.dtype];
  const out = empty(c.shape, { dtype: c.dtype, device: c.device });
  const log = op === 'log_softmax';
  if (log) native.logSoftmaxForward(out.handle, 0, c.handle, c.offset, outer, C, inner, dt);
  else native.softmaxForward(out.handle, 0, c.handle, c.offset, outer, C, inner, dt);
  return record(log ? 'logSoftmax' : 'softmax', out, [x], (g) => {
    const gc = gradFor(g, out);
    const dx = empty(out.shape, { dtype: out.dtype, device: out.device });
    if (log) native.logSoftmaxBackward(dx.handle, 0, gc.handle, gc.offset, out.handle, 0, outer, C, inner, dt);
    else native.softmaxBackward(dx.handle, 0, gc.handle, gc.offset, out.handle, 0, outer, C, inner, dt);
    return [dx];
  });
}

/** log(softmax(x)) along `dim`, computed stably (max-subtracted, accumulated in double). */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxOp('log_softmax', x, dim);
}

/** exp(x) / sum(exp(x)) along `dim`. */
export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxOp('softmax', x, dim);
}

// ---------------------------------------------------------------------------------------------
// class-index losses

interface ClassSetup {
  x: Tensor;
  t: Tensor;
  w: Tensor | null;
  outer: number;
  C: number;
  inner: number;
}

/** The class dimension of a class-loss input: 0 for [C], else 1. */
function classDimOf(input: Tensor): number {
  return input.ndim === 1 ? 0 : 1;
}

function checkWeight(op: string, input: Tensor, weight: Tensor | null, C: number): void {
  if (!weight) return;
  checkSameDevice(op, input, weight, 'input', 'weight');
  if (weight.dtype !== input.dtype) throw new DTypeError(`${op}: expected weight of dtype ${input.dtype} (the input's) but got ${weight.dtype}`);
  if (weight.ndim !== 1 || weight.shape[0] !== C) {
    throw new ShapeError(`${op}: weight ${fmtShape(weight.shape)} should have one entry per class: expected [${C}] for input ${fmtShape(input.shape)}`);
  }
}

/** The tensor arguments and the options object of a loss, before anything reads them. */
function checkLossArgs(op: string, input: unknown, target: unknown, options: unknown): void {
  checkTensor(input, op, 'input');
  checkTensor(target, op, 'target');
  checkOptions(options, op);
  checkOptionalTensor((options as { weight?: unknown }).weight, op, 'weight');
}

/** Validates input/target/weight/ignoreIndex of a class-index loss and forms the native view. */
function classSetup(op: string, input: Tensor, target: Tensor, weight: Tensor | null, ignoreIndex: number): ClassSetup {
  checkFloating(op, 'input', input);
  if (input.ndim === 0) throw new ShapeError(`${op}: input must have at least 1 dimension (the classes) but got shape []`);
  if (target.dtype !== 'int64' && target.dtype !== 'int32') {
    throw new DTypeError(`${op}: expected target of dtype int64 (class indices) but got ${target.dtype}`);
  }
  checkSameDevice(op, input, target, 'input', 'target');
  const cd = classDimOf(input);
  const expected = input.shape.filter((_, i) => i !== cd);
  if (!sameShape(target.shape, expected)) {
    if (input.ndim >= 2 && target.ndim >= 1 && target.shape[0] !== input.shape[0]) {
      throw new ShapeError(`${op}: input ${fmtShape(input.shape)} has batch size ${input.shape[0]} but target ${fmtShape(target.shape)} has batch size ${target.shape[0]}`);
    }
    throw new ShapeError(`${op}: target ${fmtShape(target.shape)} does not match input ${fmtShape(input.shape)}: expected a target of shape ${fmtShape(expected)}`);
  }
  const C = input.shape[cd];
  checkWeight(op, input, weight, C);
  if (!Number.isSafeInteger(ignoreIndex)) throw new ValueError(`${op}: ignoreIndex must be an integer but got ${ignoreIndex}`);
  const x = input.contiguous();
  const { outer, inner } = classView(x.shape, cd);
  return { x, t: target.contiguous(), w: weight ? weight.contiguous() : null, outer, C, inner };
}

/**
 * Cross-entropy between logits `input` and `target`, PyTorch's F.cross_entropy:
 * loss = (1 - eps) * (-w[t] * logp[t]) + eps / C * sum_c(-w[c] * logp[c]), logp = logSoftmax(input).
 *
 * Shapes: input [N, C], [N, C, d1, ...] or [C]; target of class indices (int64 or int32) [N],
 * [N, d1, ...] or [], each in [0, C) or equal to ignoreIndex; or class probabilities of the
 * input's shape (float). The result is [] for 'mean'/'sum' and the target's shape (class
 * indices) or the input's shape without C (probabilities) for 'none'. 'mean' divides by the sum
 * of w[t] over the non-ignored targets (by the number of samples for probability targets).
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'cross_entropy';
  checkLossArgs(op, input, target, options);
  const { weight = null, ignoreIndex = -100, reduction = 'mean', labelSmoothing = 0 } = options;
  checkReduction(op, reduction);
  if (typeof labelSmoothing !== 'number' || !(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new ValueError(`${op}: labelSmoothing must be in [0, 1] but got ${labelSmoothing}`);
  }
  if (input.ndim >= 1 && sameShape(input.shape, target.shape)) {
    return crossEntropyProbs(input, target, weight, ignoreIndex, reduction, labelSmoothing);
  }
  const { x, t, w, outer, C, inner } = classSetup(op, input, target, weight, ignoreIndex);
  const dt = DTYPE_CODE[x.dtype];
  const red = REDUCTION_CODE[reduction];
  const opts = { dtype: x.dtype, device: x.device };
  const out = empty(reduction === 'none' ? t.shape : [], opts);
  const totalWeight = empty([], opts);
  const logp = empty(x.shape, opts);
  native.crossEntropyForward(out.handle, 0, totalWeight.handle, 0, logp.handle, 0, x.handle, x.offset, t.handle, t.offset, DTYPE_CODE[t.dtype],
    w ? w.handle : null, w ? w.offset : 0, red, ignoreIndex, labelSmoothing, outer, C, inner, dt);
  return record('crossEntropy', out, [input], (g) => {
    const gc = gradFor(g, out);
    const dx = empty(x.shape, opts);
    native.crossEntropyBackward(dx.handle, 0, gc.handle, gc.offset, logp.handle, 0, t.handle, t.offset, DTYPE_CODE[t.dtype],
      w ? w.handle : null, w ? w.offset : 0, totalWeight.handle, 0, red, ignoreIndex, labelSmoothing, outer, C, inner, dt);
    return [dx];
  });
}

/**
 * Probability targets (same shape as input): loss = -sum_c w[c] ((1 - eps) y[c] + eps / C) logp[c],
 * composed from differentiable ops so that input, target and weight all get gradients.
 */
function crossEntropyProbs(input: Tensor, target: Tensor, weight: Tensor | null, ignoreIndex: number, reduction: Reduction, eps: number): Tensor {
  const op = 'cross_entropy';
  checkFloating(op, 'input', input);
  if (!isFloating(target.dtype)) {
    throw new DTypeError(`${op}: expected target of dtype float32 or float64 (class probabilities, the input's shape ${fmtShape(input.shape)}) but got ${target.dtype}`);
  }
  if (target.dtype !== input.dtype) throw new DTypeError(`${op}: expected target of dtype ${input.dtype} (the input's) but got ${target.dtype}`);
  checkSameDevice(op, input, target, 'input', 'target');
  if (ignoreIndex >= 0) throw new ValueError(`${op}: ignoreIndex is not supported for class-probability targets (got ${ignoreIndex})`);
  const cd = classDimOf(input);
  const C = input.shape[cd];
  checkWeight(op, input, weight, C);
  const logp = logSoftmax(input, cd);
  let coef = eps > 0 ? addScalar(mul(target, 1 - eps), eps / C) : target;
  if (weight) coef = mul(coef, reshape(weight, input.shape.map((s, i) => (i === cd ? C : 1))));
  const perSample = neg(sum(mul(logp, coef), cd));
  if (reduction === 'none') return perSample;
  return reduction === 'sum' ? sum(perSample) : mean(perSample);
}

/**
 * Negative log-likelihood on log-probabilities `input`, PyTorch's F.nll_loss:
 * loss = -w[t] * input[t]. Shapes, weight, ignoreIndex and reductions as crossEntropy with
 * class-index targets.
 */
export function nllLoss(input: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor {
  const op = 'nll_loss';
  checkLossArgs(op, input, target, options);
  const { weight = null, ignoreIndex = -100, reduction = 'mean' } = options;
  checkReduction(op, reduction);
  const { x, t, w, outer, C, inner } = classSetup(op, input, target, weight, ignoreIndex);
  const dt = DTYPE_CODE[x.dtype];
  const red = REDUCTION_CODE[reduction];
  const opts = { dtype: x.dtype, device: x.device };
  const out = empty(reduction === 'none' ? t.shape : [], opts);
  const totalWeight = empty([], opts);
  native.nllLossForward(out.handle, 0, totalWeight.handle, 0, x.handle, x.offset, t.handle, t.offset, DTYPE_CODE[t.dtype],
    w ? w.handle : null, w ? w.offset : 0, red, ignoreIndex, outer, C, inner, dt);
  return record('nllLoss', out, [input], (g) => {
    const gc = gradFor(g, out);
    const dx = empty(x.shape, opts);
    native.nllLossBackward(dx.handle, 0, gc.handle, gc.offset, t.handle, t.offset, DTYPE_CODE[t.dtype],
      w ? w.handle : null, w ? w.offset : 0, totalWeight.handle, 0, red, ignoreIndex, outer, C, inner, dt);
    return [dx];
  });
}

// ---------------------------------------------------------------------------------------------
// point-wise losses

type PointwiseOp = 'mse_loss' | 'l1_loss' | 'smooth_l1_loss';

function pointwiseLoss(op: PointwiseOp, input: Tensor, target: Tensor, reduction: unknown, beta: number): Tensor {
  checkReduction(op, reduction);
  checkFloating(op, 'input', input);
  if (target.dtype !== input.dtype) throw new DTypeError(`${op}: expected target of dtype ${input.dtype} (the input's) but got ${target.dtype}`);
  checkSameDevice(op, input, target, 'input', 'target');
  if (!sameShape(input.shape, target.shape)) {
    throw new ShapeError(`${op}: input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
  const a = input.contiguous();
  const b = target.contiguous();
  const n = a.numel();
  const dt = DTYPE_CODE[a.dtype];
  const red = REDUCTION_CODE[reduction];
  const opts = { dtype: a.dtype, device: a.device };
  const out = empty(reduction === 'none' ? a.shape : [], opts);
  if (op === 'mse_loss') native.mseLossForward(out.handle, 0, a.handle, a.offset, b.handle, b.offset, red, n, dt);
  else if (op === 'l1_loss') native.l1LossForward(out.handle, 0, a.handle, a.offset, b.handle, b.offset, red, n, dt);
  else native.smoothL1LossForward(out.handle, 0, a.handle, a.offset, b.handle, b.offset, red, n, dt, beta);
  const name = op === 'mse_loss' ? 'mseLoss' : op === 'l1_loss' ? 'l1Loss' : 'smoothL1Loss';
  return record(name, out, [input, target], (g) => {
    const gc = gradFor(g, out);
    const dx = empty(a.shape, opts);
    if (op === 'mse_loss') native.mseLossBackward(dx.handle, 0, gc.handle, gc.offset, a.handle, a.offset, b.handle, b.offset, red, n, dt);
    else if (op === 'l1_loss') native.l1LossBackward(dx.handle, 0, gc.handle, gc.offset, a.handle, a.offset, b.handle, b.offset, red, n, dt);
    else native.smoothL1LossBackward(dx.handle, 0, gc.handle, gc.offset, a.handle, a.offset, b.handle, b.offset, red, n, dt, beta);
    // d/dtarget = -d/dinput for every point-wise loss of (input - target).
    return [input.requiresGrad ? dx : null, target.requiresGrad ? neg(dx) : null];
  });
}

/** Mean squared error: (input - target)^2, reduced. input and target have the same shape. */
export function mseLoss(input: Tensor, target: Tensor, options: ReductionOptions = {}): Tensor {
  checkLossArgs('mse_loss', input, target, options);
  return pointwiseLoss('mse_loss', input, target, options.reduction ?? 'mean', 0);
}

/** Mean absolute error: |input - target|, reduced. input and target have the same shape. */
export function l1Loss(input: Tensor, target: Tensor, options: ReductionOptions = {}): Tensor {
  checkLossArgs('l1_loss', input, target, options);
  return pointwiseLoss('l1_loss', input, target, options.reduction ?? 'mean', 0);
}

/**
 * Smooth L1 (Huber divided by beta): 0.5 z^2 / beta where |z| < beta, else |z| - 0.5 beta, with
 * z = input - target; beta = 0 is l1Loss. input and target have the same shape.
 */
export function smoothL1Loss(input: Tensor, target: Tensor, options: SmoothL1LossOptions = {}): Tensor {
  checkLossArgs('smooth_l1_loss', input, target, options);
  const beta = options.beta ?? 1;
  if (typeof beta !== 'number' || !(beta >= 0) || !Number.isFinite(beta)) {
    throw new ValueError(`smooth_l1_loss: beta must be a non-negative number but got ${beta}`);
  }
  return pointwiseLoss('smooth_l1_loss', input, target, options.reduction ?? 'mean', beta);
}
