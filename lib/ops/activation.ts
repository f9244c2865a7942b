// Activations (relu, leakyRelu, sigmoid, tanh) and dropout. Each is one native forward call and
// one fused native backward call; relu, sigmoid and tanh differentiate from their output, so
// they keep no copy of the input.
import { record } from '../autograd';
import { checkOptions, checkTensor } from '../check';
import { DTYPE_CODE, isFloating } from '../dtype';
import { DTypeError, ValueError } from '../errors';
import { native } from '../native';
import { Generator, defaultGenerator } from '../random';
import { Tensor, empty } from '../tensor';
import { cast, mul } from './elementwise';

// Codes shared with native/ops/activation.h (Activation).
export const ACTIVATION_OP = { relu: 0, leakyRelu: 1, sigmoid: 2, tanh: 3 } as const;
type ActName = keyof typeof ACTIVATION_OP;
const OP_NAME: Record<ActName, string> = { relu: 'relu', leakyRelu: 'leaky_relu', sigmoid: 'sigmoid', tanh: 'tanh' };

function checkFloating(x: Tensor, op: string): void {
  checkTensor(x, op, 'input');
  if (!isFloating(x.dtype)) throw new DTypeError(`${op}: expected a float32 or float64 tensor but got ${x.dtype}`);
}

/** Gradient in the saved tensor's dtype, contiguous. */
function asDtype(g: Tensor, like: Tensor): Tensor {
  return (g.dtype === like.dtype ? g : cast(g, like.dtype)).contiguous();
}

function forwardRaw(act: ActName, x: Tensor, slope: number): Tensor {
  const out = empty(x.shape, { dtype: x.dtype, device: x.device });
  native.activationForward(ACTIVATION_OP[act], out.handle, 0, x.handle, x.offset, x.numel(), DTYPE_CODE[x.dtype], slope);
  return out;
}

/** dx from dy and the saved forward output (relu, sigmoid, tanh) or input (leakyRelu). */
function backwardRaw(act: ActName, g: Tensor, saved: Tensor, slope: number): Tensor {
  const gy = asDtype(g, saved);
  const dx = empty(saved.shape, { dtype: saved.dtype, device: saved.device });
  native.activationBackward(ACTIVATION_OP[act], dx.handle, 0, gy.handle, gy.offset, saved.handle, saved.offset, saved.numel(), DTYPE_CODE[saved.dtype], slope);
  return dx;
}

function activation(act: ActName, input: Tensor, slope = 0): Tensor {
  const op = OP_NAME[act];
  checkFloating(input, op);
  const x = input.contiguous();
  const out = forwardRaw(act, x, slope);
  // leaky_relu differentiates from its input: with a negative slope its output's sign says nothing.
  const saved = act === 'leakyRelu' ? x : out;
  return record(op, out, [input], (g) => [backwardRaw(act, g, saved, slope)]);
}

/** max(x, 0) element-wise; NaN propagates. */
export function relu(x: Tensor): Tensor {
  return activation('relu', x);
}

/** x for x > 0, negativeSlope * x otherwise. */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  if (typeof negativeSlope !== 'number' || !Number.isFinite(negativeSlope)) {
    throw new ValueError(`leaky_relu: negative_slope must be a finite number, but got ${negativeSlope}`);
  }
  return activation('leakyRelu', x, negativeSlope);
}

/** 1 / (1 + exp(-x)). */
export function sigmoid(x: Tensor): Tensor {
  return activation('sigmoid', x);
}

/** tanh(x). */
export function tanh(x: Tensor): Tensor {
  return activation('tanh', x);
}

// ---------------------------------------------------------------------------------------------
// dropout

export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1]. Default 0.5. */
  p?: number;
  /** Identity when false. Default true (PyTorch's F.dropout). */
  training?: boolean;
  /** Source of the mask's seed; defaultGenerator when omitted. */
  generator?: Generator;
}

/**
 * Zeroes each element with probability p and scales the others by 1/(1-p), so the expected
 * value is unchanged. One 64-bit seed per call from the generator decides the whole mask
 * (element i depends only on the seed and i). Returns x itself when p = 0 or not training,
 * and x * 0 when p = 1.
 */
export function dropout(input: Tensor, options: DropoutOptions = {}): Tensor {
  checkTensor(input, 'dropout', 'input');
  checkOptions(options, 'dropout');
  const p = options.p ?? 0.5;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`dropout: probability has to be between 0 and 1, but got ${p}`);
  const training = options.training ?? true;
  if (!training || p === 0) return input;
  checkFloating(input, 'dropout');
  if (p === 1) return mul(input, 0);
  const [seedHi, seedLo] = (options.generator ?? defaultGenerator).nextSeed();
  const x = input.contiguous();
  const n = x.numel();
  const out = empty(x.shape, { dtype: x.dtype, device: x.device });
  const mask = empty(x.shape, { dtype: 'uint8', device: x.device });
  native.dropoutForward(out.handle, 0, mask.handle, 0, x.handle, x.offset, n, DTYPE_CODE[x.dtype], p, seedHi, seedLo);
  return record('dropout', out, [input], (g) => {
    const gy = asDtype(g, x);
    const dx = empty(x.shape, { dtype: x.dtype, device: x.device });
    native.dropoutBackward(dx.handle, 0, gy.handle, gy.offset, mask.handle, 0, n, DTYPE_CODE[x.dtype], p);
    return [dx];
  });
}
