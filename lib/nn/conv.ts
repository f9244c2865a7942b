// Conv2d: a thin shell over F.conv2d that owns weight [outC, inC/groups, kH, kW] and bias [outC].
import { checkInteger } from '../check';
import { ValueError } from '../errors';
import { Conv2dOptions as Conv2dOpOptions, conv2d } from '../ops/conv2d';
import { Tensor, empty } from '../tensor';
import { defaultLayerInit } from './init';
import { Module, Parameter } from './module';

type Pair = number | [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'valid' | 'same';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  dtype?: 'float32' | 'float64';
}

const pair = (v: Pair): [number, number] => (Array.isArray(v) ? v : [v, v]);

export class Conv2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly kernelSize: [number, number];
  readonly stride: Pair;
  readonly padding: Pair | 'valid' | 'same';
  readonly dilation: Pair;
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Conv2dOptions = {},
  ) {
    super();
    checkInteger(inChannels, 'Conv2d', 'inChannels', 0);
    checkInteger(outChannels, 'Conv2d', 'outChannels', 0);
    this.kernelSize = pair(kernelSize);
    if (this.kernelSize.length !== 2 || !this.kernelSize.every((k) => Number.isInteger(k) && k >= 1)) {
      throw new ValueError(`Conv2d: kernelSize must be a positive integer or a pair of them, but got ${JSON.stringify(kernelSize)}`);
    }
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.groups = options.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || inChannels % this.groups || outChannels % this.groups) {
      throw new ValueError(`Conv2d: inChannels ${inChannels} and outChannels ${outChannels} must both be divisible by groups ${this.groups}`);
    }
    const dtype = options.dtype ?? 'float32';
    this.weight = new Parameter(empty([outChannels, inChannels / this.groups, ...this.kernelSize], { dtype }));
    this.bias = options.bias === false ? null : new Parameter(empty([outChannels], { dtype }));
    this.resetParameters();
  }

  resetParameters(): void {
    defaultLayerInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.convOptions());
  }

  /** The options of F.conv2d this layer applies. */
  convOptions(): Conv2dOpOptions {
    return { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups };
  }

  extraRepr(): string {
    const k = this.kernelSize;
    let s = `${this.inChannels}, ${this.outChannels}, kernelSize=(${k[0]}, ${k[1]}), stride=${JSON.stringify(this.stride)}`;
    if (this.padding !== 0) s += `, padding=${JSON.stringify(this.padding)}`;
    if (this.dilation !== 1) s += `, dilation=${JSON.stringify(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=false';
    return s;
  }
}
