// batchNorm: PyTorch's F.batch_norm over (N, C, ...) inputs. Training normalises with the batch
// statistics of each channel and updates the running statistics in place (unbiased variance);
// eval normalises with the running statistics. One native call forward, one backward.
import { record } from '../autograd';
import { checkOptionalTensor, checkOptions, checkTensor } from '../check';
import { DTYPE_CODE, isFloating } from '../dtype';
import { DeviceError, DTypeError, ShapeError, ValueError, fmtShape } from '../errors';
import { native } from '../native';
import { Tensor, empty } from '../tensor';
import { cast } from './elementwise';

export interface BatchNormOptions {
  /** Use batch statistics (and update the running ones). Default false, as in F.batch_norm. */
  training?: boolean;
  /** running = (1 - momentum) * running + momentum * batch statistic. Default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
}

/**
 * y = (x - mean) / sqrt(var + eps) * weight + bias per channel (dim 1).
 * Training: mean and biased var of the batch over every dim but 1; runningMean and runningVar,
 * when given, are updated in place with the unbiased variance. Eval: the running statistics
 * (required) are used.
 * Shape: input (N, C, ...); runningMean, runningVar, weight, bias (C); output as input.
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight?: Tensor | null,
  bias?: Tensor | null,
  options: BatchNormOptions = {},
): Tensor {
  const op = 'batch_norm';
  checkTensor(input, op, 'input');
  checkOptions(options, op);
  const training = options.training ?? false;
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  if (typeof momentum !== 'number' || !Number.isFinite(momentum)) throw new ValueError(`${op}: momentum must be a finite number, but got ${momentum}`);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new ValueError(`${op}: eps must be a non-negative number, but got ${eps}`);
  if (input.ndim < 2) throw new ShapeError(`${op}: expected an input of at least 2 dimensions (N, C, ...), but got input of shape ${fmtShape(input.shape)}`);
  if (!isFloating(input.dtype)) throw new DTypeError(`${op}: expected a float32 or float64 input but got ${input.dtype}`);

  const N = input.shape[0];
  const C = input.shape[1];
  const S = input.shape.slice(2).reduce((a, b) => a * b, 1);
  const params: [string, Tensor | null | undefined][] = [['running_mean', runningMean], ['running_var', runningVar], ['weight', weight], ['bias', bias]];
  for (const [name, t] of params) {
    checkOptionalTensor(t, op, name);
    if (!t) continue;
    if (t.numel() !== C) throw new ShapeError(`${op}: input ${fmtShape(input.shape)} has ${C} channels but ${name} ${fmtShape(t.shape)} expects ${t.numel()}`);
    if (t.dtype !== input.dtype) throw new DTypeError(`${op}: expected ${name} to be ${input.dtype} like the input, but got ${t.dtype}`);
    if (t.device !== input.device) throw new DeviceError(`${op}: expected all tensors on the same device, but got ${input.device} (input) and ${t.device} (${name})`);
  }
  if (!training && (!runningMean || !runningVar)) throw new ValueError(`${op}: running_mean and running_var must be given when training is false`);
  if (training && N * S <= 1) throw new ValueError(`${op}: expected more than 1 value per channel when training, got input size ${fmtShape(input.shape)}`);
  for (const [name, t] of params.slice(0, 2)) {
    // Updated (training) or read (eval) in place by the kernel: a view would be read wrongly.
    if (t && !t.isContiguous()) throw new ValueError(`${op}: ${name} must be contiguous, got strides ${fmtShape(t.strides)} for shape ${fmtShape(t.shape)}`);
  }

  const x = input.contiguous();
  const w = weight ? weight.contiguous() : null;
  const b = bias ? bias.contiguous() : null;
  const out = empty(x.shape, { dtype: x.dtype, device: x.device });
  const saveMean = empty([C], { dtype: x.dtype, device: x.device });
  const saveInvstd = empty([C], { dtype: x.dtype, device: x.device });
  native.batchNormForward(
    out.handle, 0, saveMean.handle, 0, saveInvstd.handle, 0,
    runningMean ? runningMean.handle : null, runningMean ? runningMean.offset : 0,
    runningVar ? runningVar.handle : null, runningVar ? runningVar.offset : 0,
    x.handle, x.offset, w ? w.handle : null, w ? w.offset : 0, b ? b.handle : null, b ? b.offset : 0,
    N, C, S, training, momentum, eps, DTYPE_CODE[x.dtype],
  );
  return record(op, out, [input, weight, bias], (g) => {
    const gy = (g.dtype === x.dtype ? g : cast(g, x.dtype)).contiguous();
    const dx = input.requiresGrad ? empty(x.shape, { dtype: x.dtype, device: x.device }) : null;
    const dw = weight && weight.requiresGrad ? empty(weight.shape, { dtype: x.dtype, device: x.device }) : null;
    const db = bias && bias.requiresGrad ? empty(bias.shape, { dtype: x.dtype, device: x.device }) : null;
    native.batchNormBackward(
      dx ? dx.handle : null, 0, dw ? dw.handle : null, 0, db ? db.handle : null, 0,
      gy.handle, gy.offset, x.handle, x.offset, saveMean.handle, 0, saveInvstd.handle, 0,
      w ? w.handle : null, w ? w.offset : 0, N, C, S, training, DTYPE_CODE[x.dtype],
    );
    return [dx, dw, db];
  });
}
