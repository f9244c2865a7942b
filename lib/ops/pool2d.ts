// 2-D pooling: maxPool2d (with PyTorch's flat h*W+w indices), avgPool2d and adaptiveAvgPool2d,
// on 3-D (C, H, W) or 4-D (N, C, H, W) inputs. Output sizes follow PyTorch exactly, including
// ceil_mode's rule that the last window must start inside the input or the left padding. The
// kernels see P = N*C independent planes; each backward is one native call.
import { record } from '../autograd';
import { MAX_NUMEL, checkOptions, checkTensor, describe, tooLargeError } from '../check';
import { DTYPE_CODE, DType, isFloating } from '../dtype';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors';
import { native } from '../native';
import { Tensor, empty } from '../tensor';
import type { ConvReluPoolFusion } from './conv2d';
import { cast } from './elementwise';

export type Size2 = number | readonly number[];

export interface MaxPool2dOptions {
  /** Default: kernelSize. */
  stride?: Size2 | null;
  padding?: Size2;
  dilation?: Size2;
  ceilMode?: boolean;
  returnIndices?: boolean;
}

export interface AvgPool2dOptions {
  /** Default: kernelSize. */
  stride?: Size2 | null;
  padding?: Size2;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  /** When given, every window sum is divided by this instead of the window size. */
  divisorOverride?: number | null;
}

// ---------------------------------------------------------------------------------------------
// shapes and options

/** PyTorch's pooling output size along one dim (pooling_output_shape). */
export function pool2dOutputSize(inputSize: number, kernel: number, stride: number, padding: number, dilation: number, ceilMode: boolean): number {
  const span = inputSize + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
  let out = Math.floor(span / stride) + 1;
  // The last window must start inside the input or the left padding.
  if (ceilMode && (out - 1) * stride >= inputSize + padding) out--;
  return out;
}

/** A scalar or a 1- or 2-element list of integers as [h, w]; `min` is the smallest allowed value. */
function pair(v: Size2, what: string, op: string, min: number): [number, number] {
  const arr = typeof v === 'number' ? [v, v] : typeof v === 'object' && v !== null ? Array.from(v) : [];
  const p = arr.length === 1 ? [arr[0], arr[0]] : arr;
  if (p.length !== 2 || !p.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= min)) {
    const want = min > 0 ? 'positive integers' : 'non-negative integers';
    throw new ValueError(`${op}: ${what} must be one or two ${want}, but got ${typeof v === 'object' && v !== null ? JSON.stringify(Array.from(v)) : describe(v)}`);
  }
  return [p[0], p[1]];
}

interface Geometry {
  lead: number[]; // [N, C] or [C]
  P: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
}

/** What the shape checks read of an input: a Tensor, or the shape and dtype of one not made yet. */
interface ShapeLike {
  readonly shape: readonly number[];
  readonly ndim: number;
  readonly dtype: DType;
}

function checkInput(input: ShapeLike, op: string): void {
  if (input.ndim !== 3 && input.ndim !== 4) {
    throw new ShapeError(`${op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, but got input of shape ${fmtShape(input.shape)}`);
  }
  if (input.shape.slice(-3).some((d) => d === 0)) {
    throw new ShapeError(`${op}: expected non-zero sizes for the C, H and W dimensions, but got input of shape ${fmtShape(input.shape)}`);
  }
  if (!isFloating(input.dtype)) throw new DTypeError(`${op}: expected a float32 or float64 tensor but got ${input.dtype}`);
}

function geometry(input: ShapeLike, OH: number, OW: number): Geometry {
  const lead = input.shape.slice(0, -2);
  const H = input.shape[input.ndim - 2];
  const W = input.shape[input.ndim - 1];
  return { lead, P: lead.reduce((a, b) => a * b, 1), H, W, OH, OW };
}

/** Kernel, stride, padding, dilation and output size of a max or average pool, all checked. */
function windowGeometry(input: ShapeLike, op: string, kernelSize: Size2, stride: Size2 | null | undefined, padding: Size2, dilation: Size2, ceilMode: boolean) {
  checkInput(input, op);
  const k = pair(kernelSize, 'kernel_size', op, 1);
  const s = stride === null || stride === undefined || (typeof stride !== 'number' && stride.length === 0) ? k : pair(stride, 'stride', op, 1);
  const p = pair(padding, 'padding', op, 0);
  const d = pair(dilation, 'dilation', op, 1);
  if (p[0] > Math.floor(k[0] / 2) || p[1] > Math.floor(k[1] / 2)) {
    throw new ValueError(`${op}: padding should be at most half of kernel size, but got padding ${fmtShape(p)} and kernel_size ${fmtShape(k)}`);
  }
  const H = input.shape[input.ndim - 2];
  const W = input.shape[input.ndim - 1];
  const OH = pool2dOutputSize(H, k[0], s[0], p[0], d[0], ceilMode);
  const OW = pool2dOutputSize(W, k[1], s[1], p[1], d[1], ceilMode);
  if (OH < 1 || OW < 1) {
    const dil = op === 'max_pool2d' ? `, dilation ${fmtShape(d)}` : '';
    throw new ShapeError(
      `${op}: input ${fmtShape(input.shape)} is too small: calculated output size ${fmtShape([OH, OW])} is less than 1 ` +
        `(kernel_size ${fmtShape(k)}, stride ${fmtShape(s)}, padding ${fmtShape(p)}${dil})`,
    );
  }
  return { k, s, p, d, g: geometry(input, OH, OW) };
}

/** A gradient as the contiguous dtype of `like` (the backward of an op whose output is `like`'s dtype). */
export function asDtype(g: Tensor, like: Tensor): Tensor {
  return (g.dtype === like.dtype ? g : cast(g, like.dtype)).contiguous();
}

// ---------------------------------------------------------------------------------------------
// max pooling

/**
 * Max over each kernel window (padding counts as -inf). With `returnIndices` also the int64 flat
 * index h*W + w of each maximum within its (H, W) plane, as PyTorch returns it.
 * Shape: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW).
 */
export function maxPool2d(input: Tensor, kernelSize: Size2, options?: MaxPool2dOptions & { returnIndices?: false }): Tensor;
export function maxPool2d(input: Tensor, kernelSize: Size2, options: MaxPool2dOptions & { returnIndices: true }): { output: Tensor; indices: Tensor };
export function maxPool2d(input: Tensor, kernelSize: Size2, options?: MaxPool2dOptions): Tensor | { output: Tensor; indices: Tensor };
export function maxPool2d(input: Tensor, kernelSize: Size2, options: MaxPool2dOptions = {}): Tensor | { output: Tensor; indices: Tensor } {
  return maxPoolImpl(input, kernelSize, options, false);
}

/**
 * maxPool2d(relu(x)) in one pass, the ReLU -> MaxPool2d pair of most CNNs, which nn.Sequential
 * runs through this: max commutes with relu, so the values and the gradient are exactly those of
 * the two ops, but the relu output (as large as the input) is never written, read back or kept.
 * Shape and options as maxPool2d, without returnIndices.
 */
export function reluMaxPool2d(input: Tensor, kernelSize: Size2, options: Omit<MaxPool2dOptions, 'returnIndices'> = {}): Tensor {
  return maxPoolImpl(input, kernelSize, { ...options, returnIndices: false }, true) as Tensor;
}

/**
 * The output size and window [kH, kW, sH, sW, pH, pW, dH, dW] of maxPool2d on an input of this
 * shape and dtype, with the same checks and errors (for a pool fused after another op).
 */
export function maxPoolGeometry(shape: readonly number[], dtype: DType, kernelSize: Size2, options: Omit<MaxPool2dOptions, 'returnIndices'>): { OH: number; OW: number; window: number[] } {
  const { k, s, p, d, g } = windowGeometry({ shape, ndim: shape.length, dtype }, 'max_pool2d', kernelSize, options.stride, options.padding ?? 0, options.dilation ?? 1, options.ceilMode ?? false);
  return { OH: g.OH, OW: g.OW, window: [k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]] };
}

function maxPoolImpl(input: Tensor, kernelSize: Size2, options: MaxPool2dOptions, relu: boolean): Tensor | { output: Tensor; indices: Tensor } {
  const op = 'max_pool2d';
  checkTensor(input, op, 'input');
  checkOptions(options, op);
  const { k, s, p, d, g } = windowGeometry(input, op, kernelSize, options.stride, options.padding ?? 0, options.dilation ?? 1, options.ceilMode ?? false);
  const x = input.contiguous();
  const outShape = [...g.lead, g.OH, g.OW];
  const out = empty(outShape, { dtype: x.dtype, device: x.device });
  const indices = empty(outShape, { dtype: 'int64', device: x.device });
  native.maxPool2dForward(out.handle, 0, indices.handle, 0, x.handle, x.offset, g.P, g.H, g.W, g.OH, g.OW, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], DTYPE_CODE[x.dtype], relu);
  const backward = (grad: Tensor): Tensor[] => {
    const gy = asDtype(grad, x);
    const dx = empty(x.shape, { dtype: x.dtype, device: x.device });
    native.maxPool2dBackward(dx.handle, 0, gy.handle, gy.offset, indices.handle, 0, g.P, g.H, g.W, g.OH, g.OW, DTYPE_CODE[x.dtype], k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]);
    return [dx];
  };
  if (options.returnIndices) {
    record(op, out, [input], backward);
    return { output: out, indices };
  }
  // A pool of relu(conv(...)) written op by op takes the three backwards as one (see
  // ConvReluPoolFusion): its node stands on the convolution's inputs, and the relu and conv nodes,
  // which nothing else may need, are left to the garbage collector with their outputs.
  const conv = relu ? null : convUnderRelu(input);
  if (conv) record('conv2d_relu_max_pool2d', out, conv.inputs, conv.backward(out, indices, [k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]], g.OH, g.OW), [indices]);
  // The indices are the node's own: released with it after backward, or now when no node was made.
  else record(relu ? 'relu_max_pool2d' : op, out, [input], backward, [indices]);
  if (!out.gradFn) indices.dispose();
  return out;
}

/**
 * The fusion a CPU convolution offers when x is relu(its output) itself, gradients on: x made by
 * relu (a view would have its own node) from the 4-D convolution output (its node holds the offer).
 */
function convUnderRelu(x: Tensor): ConvReluPoolFusion | null {
  const reluNode = x.gradFn;
  if (!reluNode || reluNode.name !== 'relu' || x.ndim !== 4) return null;
  const y = reluNode.inputs[0];
  const fusion = y && y.gradFn ? (y.gradFn.fusion as ConvReluPoolFusion | null) : null;
  return fusion && x.isContiguous() && x.offset === 0 ? fusion : null;
}

// ---------------------------------------------------------------------------------------------
// average pooling

/**
 * Mean over each kernel window. countIncludePad (default true) counts the zero padding in the
 * divisor; windows that ceilMode lets run past the padded border are clipped to it first.
 * Shape: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW).
 */
export function avgPool2d(input: Tensor, kernelSize: Size2, options: AvgPool2dOptions = {}): Tensor {
  const op = 'avg_pool2d';
  checkTensor(input, op, 'input');
  checkOptions(options, op);
  const { k, s, p, g } = windowGeometry(input, op, kernelSize, options.stride, options.padding ?? 0, 1, options.ceilMode ?? false);
  const includePad = options.countIncludePad ?? true;
  const div = options.divisorOverride ?? 0;
  if (options.divisorOverride !== undefined && options.divisorOverride !== null && !(Number.isInteger(div) && div > 0)) {
    throw new ValueError(`${op}: divisor_override must be a positive integer, but got ${options.divisorOverride}`);
  }
  const x = input.contiguous();
  const out = empty([...g.lead, g.OH, g.OW], { dtype: x.dtype, device: x.device });
  native.avgPool2dForward(out.handle, 0, x.handle, x.offset, g.P, g.H, g.W, g.OH, g.OW, k[0], k[1], s[0], s[1], p[0], p[1], includePad, div, DTYPE_CODE[x.dtype]);
  return record(op, out, [input], (grad) => {
    const gy = asDtype(grad, x);
    const dx = empty(x.shape, { dtype: x.dtype, device: x.device });
    native.avgPool2dBackward(dx.handle, 0, gy.handle, gy.offset, g.P, g.H, g.W, g.OH, g.OW, k[0], k[1], s[0], s[1], p[0], p[1], includePad, div, DTYPE_CODE[x.dtype]);
    return [dx];
  });
}

// ---------------------------------------------------------------------------------------------
// adaptive average pooling

/**
 * Mean over windows chosen so that the output has `outputSize` (a number, or [oh, ow] where null
 * keeps that input size): row i covers input rows [floor(i*H/OH), ceil((i+1)*H/OH)).
 * Shape: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW).
 */
export function adaptiveAvgPool2d(input: Tensor, outputSize: number | readonly (number | null)[]): Tensor {
  const op = 'adaptive_avg_pool2d';
  checkTensor(input, op, 'input');
  checkInput(input, op);
  const H = input.shape[input.ndim - 2];
  const W = input.shape[input.ndim - 1];
  const raw = typeof outputSize === 'number' ? [outputSize, outputSize] : typeof outputSize === 'object' && outputSize !== null ? Array.from(outputSize) : [];
  const sizes = raw.length === 1 ? [raw[0], raw[0]] : raw;
  if (sizes.length !== 2 || !sizes.every((v) => v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 1))) {
    throw new ValueError(`${op}: output_size must be one or two positive integers (or null to keep a size), but got ${JSON.stringify(outputSize)}`);
  }
  const OH = sizes[0] ?? H;
  const OW = sizes[1] ?? W;
  const g = geometry(input, OH, OW);
  const outShape = [...g.lead, OH, OW];
  if (g.P * OH * OW >= MAX_NUMEL) throw tooLargeError(outShape, op, 'the output', ` (input ${fmtShape(input.shape)}, output_size ${JSON.stringify(outputSize)})`);
  const x = input.contiguous();
  const out = empty(outShape, { dtype: x.dtype, device: x.device });
  native.adaptiveAvgPool2dForward(out.handle, 0, x.handle, x.offset, g.P, H, W, OH, OW, DTYPE_CODE[x.dtype]);
  return record(op, out, [input], (grad) => {
    const gy = asDtype(grad, x);
    const dx = empty(x.shape, { dtype: x.dtype, device: x.device });
    native.adaptiveAvgPool2dBackward(dx.handle, 0, gy.handle, gy.offset, g.P, H, W, OH, OW, DTYPE_CODE[x.dtype]);
    return [dx];
  });
}
