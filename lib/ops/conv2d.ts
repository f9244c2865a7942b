// 2-D convolution (cross-correlation, as PyTorch) with stride, padding (numbers, pairs, 'valid'
// or 'same'), dilation and groups, and its backward. One native call forward, one per wanted
// gradient backward (native/ops/conv2d.h: im2col + GEMM).
import { BackwardFn, disposeWithProducer, record } from '../autograd';
import { MAX_NUMEL, checkOptionalTensor, checkOptions, checkTensor, tooLargeError } from '../check';
import { DTYPE_CODE, isFloating } from '../dtype';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors';
import { native } from '../native';
import { Tensor, empty } from '../tensor';
import { ACTIVATION_OP } from './activation';
import { checkSameDevice } from './elementwise';
import { MaxPool2dOptions, Size2, asDtype, maxPoolGeometry, reluMaxPool2d } from './pool2d';
import { squeeze, unsqueeze } from './shape';

export type IntPair = number | [number, number];

export interface Conv2dOptions {
  /** Step between kernel applications: a number or [h, w]. Default 1. */
  stride?: IntPair;
  /** Zeros added on both sides: a number, [h, w], 'valid' (none) or 'same' (output size = input size, stride 1 only). Default 0. */
  padding?: IntPair | 'valid' | 'same';
  /** Spacing between kernel taps: a number or [h, w]. Default 1. */
  dilation?: IntPair;
  /** Input and output channels are split into `groups` independent convolutions. Default 1. */
  groups?: number;
}

function pairOf(v: unknown, name: string, min: number): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => typeof x === 'number' && Number.isInteger(x))) {
    throw new ValueError(`conv2d: ${name} must be an integer or a pair of integers [h, w] but got ${JSON.stringify(v)}`);
  }
  if (p[0] < min || p[1] < min) throw new ValueError(`conv2d: ${name} must be ${min === 0 ? 'non-negative' : 'positive'} but got ${fmtShape(p)}`);
  return [p[0], p[1]];
}

/**
 * Applies a 2-D convolution over an input of several planes.
 *
 * out[n, oc, oh, ow] = bias[oc] + sum over c in oc's group, kh, kw of
 *   weight[oc, c, kh, kw] * input[n, g * C/groups + c, oh * sH - pH + kh * dH, ow * sW - pW + kw * dW]
 * (positions outside the input read as 0).
 *
 * Args: input [N, C, H, W] or unbatched [C, H, W]; weight [OC, C / groups, KH, KW]; bias [OC] or
 * null; options { stride, padding, dilation, groups }.
 *
 * Shape: out [N, OC, OH, OW] with OH = floor((H + 2 pH - dH (KH - 1) - 1) / sH) + 1 (likewise
 * OW); [OC, OH, OW] for unbatched input.
 *
 * Example: conv2d(x, w, b, { stride: 2, padding: 1 }) on x [20, 3, 28, 28], w [10, 3, 3, 3] gives
 * [20, 10, 14, 14].
 */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const res = recordConv2d(conv2dSetup(input, weight, bias ?? null, options), input, weight, bias ?? null);
  return input.ndim === 3 ? squeeze(res, 0) : res;
}

/** Runs the convolution and records its node: the 4-D output. */
function recordConv2d(c: Conv2dSetup, input: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const { x4, x, w, b, params, dt, OC } = c;
  const out = empty([c.N, OC, c.OH, c.OW], { dtype: input.dtype, device: input.device });
  native.conv2dForward(out.handle, 0, x.handle, x.offset, w.handle, w.offset, b ? b.handle : null, b ? b.offset : 0, params, dt);
  const res = record('conv2d', out, [x4, weight, bias], (g) => {
    const gc = g.contiguous();
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (x4.requiresGrad) {
      gx = empty(x4.shape, { dtype: input.dtype, device: input.device });
      native.conv2dBackwardInput(gx.handle, 0, gc.handle, gc.offset, w.handle, w.offset, params, dt);
    }
    if (weight.requiresGrad) {
      gw = empty(weight.shape, { dtype: weight.dtype, device: weight.device });
      native.conv2dBackwardWeight(gw.handle, 0, gc.handle, gc.offset, x.handle, x.offset, params, dt);
    }
    if (bias && bias.requiresGrad) {
      gb = empty([OC], { dtype: bias.dtype, device: bias.device });
      native.conv2dBackwardBias(gb.handle, 0, gc.handle, gc.offset, params, dt);
    }
    return [gx, gw, gb];
  });
  if (res.gradFn && x4.device === 'cpu') {
    const fusion: ConvReluPoolFusion = { inputs: [x4, weight, bias], backward: (pooled, indices, window, PH, PW) => fusedBackward(c, weight, bias, pooled, indices, window, PH, PW, true) };
    res.gradFn.fusion = fusion;
  }
  return res;
}

/**
 * What a CPU convolution's node offers a max pool over relu(its output): the pool's node can take
 * the three backwards into one native call (the fused op's), on the convolution's inputs. That is
 * how a forward written op by op (a Module subclass calling conv, F.relu and the pool one by one,
 * as the seed lesson does) gets the fused backward that nn.Sequential gets from its fused forward.
 */
export interface ConvReluPoolFusion {
  inputs: (Tensor | null)[];
  /** The backward of pooled = maxPool2d(relu(conv)), from the pool's indices into the conv planes. */
  backward(pooled: Tensor, indices: Tensor, window: number[], PH: number, PW: number): BackwardFn;
}

/**
 * The gradients of the convolution's input, weight and bias (those that require grad) for the
 * gradient of maxPool2d(relu(conv)) (pooled, PH x PW planes), from the pool's indices into the
 * convolution's planes. An index of -1 passes no gradient (the fused forward marks windows whose
 * maximum is not positive so); with reluMask, indices of the pool of the relu's output are used
 * as they are and the gradient passes only where the pooled value is positive (as relu's would).
 */
function fusedBackward(c: Conv2dSetup, weight: Tensor, bias: Tensor | null, pooled: Tensor, indices: Tensor, window: number[], PH: number, PW: number, reluMask: boolean): BackwardFn {
  const { x4, x, w, params, dt, OC } = c;
  return (g) => {
    let gy = asDtype(g, pooled);
    if (reluMask) {
      const masked = empty(pooled.shape, { dtype: pooled.dtype });
      native.activationBackward(ACTIVATION_OP.relu, masked.handle, 0, gy.handle, gy.offset, pooled.handle, pooled.offset, pooled.numel(), dt, 0);
      if (gy !== g) gy.dispose();
      gy = masked;
    }
    const gx = x4.requiresGrad ? empty(x4.shape, { dtype: x4.dtype }) : null;
    const gw = weight.requiresGrad ? empty(weight.shape, { dtype: weight.dtype }) : null;
    const gb = bias && bias.requiresGrad ? empty([OC], { dtype: bias.dtype }) : null;
    native.conv2dReluMaxPool2dBackward(
      gx ? gx.handle : null, 0, gw ? gw.handle : null, 0, gb ? gb.handle : null, 0, gy.handle, gy.offset, indices.handle, indices.offset,
      x.handle, x.offset, w.handle, w.offset, params, window, PH, PW, dt,
    );
    if (gy !== g) gy.dispose();
    return [gx, gw, gb];
  };
}

/**
 * maxPool2d(relu(conv2d(input, weight, bias, convOptions)), kernelSize, poolOptions): the
 * Conv2d -> ReLU -> MaxPool2d block of most CNNs as one op, which nn.Sequential runs through this.
 * Values and gradients are those of the three ops. On the CPU it is one native call each way
 * (native/ops/conv2d_pool_cpu.cc): the convolution's output lives only in that call's scratch, and
 * the weight and bias gradients come straight from the pool's gradient and indices (a 2x2 pool
 * passes each window's gradient to one position, so the dense kernels would spend 3/4 of their work
 * on zeros). On CUDA it runs the three ops.
 */
export function conv2dReluMaxPool2d(
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null | undefined,
  convOptions: Conv2dOptions,
  kernelSize: Size2,
  poolOptions: Omit<MaxPool2dOptions, 'returnIndices'> = {},
): Tensor {
  const c = conv2dSetup(input, weight, bias ?? null, convOptions);
  if (c.x4.device !== 'cpu') {
    // The three ops, the convolution's output released as nn.Sequential releases its intermediates:
    // by backward, once its node has run, or now without a graph (no backward reads it).
    const y = recordConv2d(c, input, weight, bias ?? null);
    const pooled = reluMaxPool2d(y, kernelSize, poolOptions);
    if (y.gradFn) disposeWithProducer(y);
    else y.dispose();
    return input.ndim === 3 ? squeeze(pooled, 0) : pooled;
  }
  const { x4, x, w, b, params, dt, N, OC } = c;
  const pg = maxPoolGeometry([N, OC, c.OH, c.OW], x.dtype, kernelSize, poolOptions);
  const [PH, PW] = [pg.OH, pg.OW];
  const out = empty([N, OC, PH, PW], { dtype: x.dtype });
  const indices = empty([N, OC, PH, PW], { dtype: 'int64' });
  native.conv2dReluMaxPool2dForward(out.handle, 0, indices.handle, 0, x.handle, x.offset, w.handle, w.offset, b ? b.handle : null, b ? b.offset : 0, params, pg.window, PH, PW, dt);
  const res = record('conv2d_relu_max_pool2d', out, [x4, weight, bias], fusedBackward(c, weight, bias ?? null, out, indices, pg.window, PH, PW, false), [indices]);
  if (!res.gradFn) indices.dispose();
  return input.ndim === 3 ? squeeze(res, 0) : res;
}

/** A convolution's arguments, checked: its contiguous operands, geometry and output size. */
interface Conv2dSetup {
  /** the input as 4-D (unsqueezed when unbatched), and its contiguous copy */
  x4: Tensor;
  x: Tensor;
  w: Tensor;
  b: Tensor | null;
  params: Int32Array;
  dt: number;
  N: number;
  OC: number;
  OH: number;
  OW: number;
}

function conv2dSetup(input: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions): Conv2dSetup {
  checkTensor(input, 'conv2d', 'input');
  checkTensor(weight, 'conv2d', 'weight');
  checkOptionalTensor(bias, 'conv2d', 'bias');
  checkOptions(options, 'conv2d');
  // --- dtypes and devices
  if (!isFloating(input.dtype)) throw new DTypeError(`conv2d: expected a float32 or float64 input but got ${input.dtype}`);
  if (weight.dtype !== input.dtype) throw new DTypeError(`conv2d: input (${input.dtype}) and weight (${weight.dtype}) must have the same dtype`);
  if (bias && bias.dtype !== input.dtype) throw new DTypeError(`conv2d: input (${input.dtype}) and bias (${bias.dtype}) must have the same dtype`);
  checkSameDevice('conv2d', input, weight, 'input', 'weight');
  if (bias) checkSameDevice('conv2d', input, bias, 'input', 'bias');

  // --- options
  const groups = options.groups ?? 1;
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1) throw new ValueError(`conv2d: groups must be a positive integer but got ${JSON.stringify(groups)}`);
  const [sH, sW] = pairOf(options.stride ?? 1, 'stride', 1);
  const [dH, dW] = pairOf(options.dilation ?? 1, 'dilation', 1);
  const padding = options.padding ?? 0;

  // --- shapes
  if (weight.ndim !== 4) throw new ShapeError(`conv2d: weight must be 4-D [out_channels, in_channels/groups, kH, kW] but got ${fmtShape(weight.shape)}`);
  if (input.ndim !== 3 && input.ndim !== 4) throw new ShapeError(`conv2d: expected 3-D (unbatched) or 4-D (batched) input but got ${fmtShape(input.shape)}`);
  const [OC, Cg, KH, KW] = weight.shape;
  const [N, C, H, W] = input.ndim === 4 ? input.shape : [1, ...input.shape];
  if (H === 0 || W === 0) throw new ShapeError(`conv2d: input ${fmtShape(input.shape)} has a zero-sized spatial dimension`);
  if (weight.shape.some((d) => d === 0)) throw new ShapeError(`conv2d: weight ${fmtShape(weight.shape)} has a zero-sized dimension`);
  if (OC % groups !== 0) throw new ShapeError(`conv2d: weight ${fmtShape(weight.shape)} has ${OC} output channels, which is not divisible by groups=${groups}`);
  if (C % groups !== 0) throw new ShapeError(`conv2d: input ${fmtShape(input.shape)} has ${C} channels, which is not divisible by groups=${groups}`);
  if (C !== Cg * groups) {
    throw new ShapeError(`conv2d: input ${fmtShape(input.shape)} has ${C} channels but weight ${fmtShape(weight.shape)} expects ${Cg * groups}${groups > 1 ? ` (${Cg} per group x groups=${groups})` : ''}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== OC)) throw new ShapeError(`conv2d: bias ${fmtShape(bias.shape)} does not match weight ${fmtShape(weight.shape)}; expected [${OC}]`);

  // --- padding: [top, left] plus the extra bottom/right row that 'same' needs for even spans
  const spanH = dH * (KH - 1);
  const spanW = dW * (KW - 1);
  let pH: number, pW: number, extraH = 0, extraW = 0;
  if (padding === 'valid') {
    pH = pW = 0;
  } else if (padding === 'same') {
    if (sH !== 1 || sW !== 1) throw new ValueError(`conv2d: padding='same' is not supported for strided convolutions (stride ${fmtShape([sH, sW])})`);
    pH = Math.floor(spanH / 2);
    pW = Math.floor(spanW / 2);
    extraH = spanH - 2 * pH;
    extraW = spanW - 2 * pW;
  } else if (typeof padding === 'string') {
    throw new ValueError(`conv2d: padding must be 'valid', 'same', an integer or a pair of integers but got '${padding}'`);
  } else {
    [pH, pW] = pairOf(padding, 'padding', 0);
  }
  const padded = [H + 2 * pH + extraH, W + 2 * pW + extraW];
  if (spanH + 1 > padded[0] || spanW + 1 > padded[1]) {
    throw new ShapeError(
      `conv2d: the (dilated) kernel ${fmtShape([spanH + 1, spanW + 1])} is larger than the padded input ${fmtShape(padded)} (input ${fmtShape(input.shape)}, weight ${fmtShape(weight.shape)}, padding ${fmtShape([pH, pW])}, dilation ${fmtShape([dH, dW])})`,
    );
  }
  const OH = Math.floor((padded[0] - spanH - 1) / sH) + 1;
  const OW = Math.floor((padded[1] - spanW - 1) / sW) + 1;
  // The kernels take 32-bit sizes (params below) and no output past 2^48 elements can be made: say
  // which size a large padding blew up, rather than letting the allocator see an overflowed size.
  if (padded[0] >= 2 ** 31 || padded[1] >= 2 ** 31) {
    throw new ValueError(`conv2d: the padded input ${fmtShape(padded)} is too large (input ${fmtShape(input.shape)}, padding ${fmtShape([pH, pW])}): sizes must be below 2^31`);
  }
  if (N * OC * OH * OW >= MAX_NUMEL) throw tooLargeError([N, OC, OH, OW], 'conv2d', 'the output', ` (input ${fmtShape(input.shape)}, weight ${fmtShape(weight.shape)}, padding ${fmtShape([pH, pW])}, stride ${fmtShape([sH, sW])})`);
  // An Int32Array (the binding checks every value < 2^31): read with one call instead of 16 element
  // reads, by the forward and each backward call.
  const params = Int32Array.of(N, C, H, W, OC, KH, KW, OH, OW, sH, sW, pH, pW, dH, dW, groups);

  // --- forward
  const x4 = input.ndim === 3 ? unsqueeze(input, 0) : input;
  const x = x4.contiguous();
  const w = weight.contiguous();
  const b = bias ? bias.contiguous() : null;
  const dt = DTYPE_CODE[input.dtype];
  return { x4, x, w, b, params, dt, N, OC, OH, OW };
}
