// nn.init: PyTorch's initialisers, in place and without autograd, drawing from the seeded
// generator. Formulas follow torch/nn/init.py.
import { noGrad } from '../autograd';
import { ValueError, fmtShape } from '../errors';
import { defaultGenerator, Generator } from '../random';
import { Tensor } from '../tensor';

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
  }
  throw new ValueError(`calculateGain: unsupported nonlinearity ${nonlinearity}`);
}

/** fan_in = size(1) * receptive field, fan_out = size(0) * receptive field. */
export function calculateFanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new ValueError(`init: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape ${fmtShape(t.shape)})`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

export function uniform_(t: Tensor, a = 0, b = 1, generator: Generator = defaultGenerator): Tensor {
  return noGrad(() => t.uniform_(a, b, generator));
}

export function normal_(t: Tensor, mean = 0, std = 1, generator: Generator = defaultGenerator): Tensor {
  return noGrad(() => t.normal_(mean, std, generator));
}

export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

export function xavierUniform_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -a, a, generator);
}

export function xavierNormal_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(t: Tensor, o: KaimingOptions): number {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const fan = (o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan);
}

export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, o);
  return uniform_(t, -bound, bound, o.generator);
}

export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, o), o.generator);
}

/**
 * PyTorch's default for Linear and Conv layers: kaiming_uniform_(weight, a=sqrt(5)), i.e. weights
 * uniform in ±1/sqrt(fan_in), and the bias uniform in ±1/sqrt(fan_in).
 */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const { fanIn } = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}
