// Linear: y = x W^T + b, a thin shell over F.linear owning weight [out, in] and bias [out].
import { checkInteger } from '../check';
import { linear } from '../ops/gemm';
import { Tensor, empty } from '../tensor';
import { defaultLayerInit } from './init';
import { Module, Parameter } from './module';

export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean; dtype?: 'float32' | 'float64' } = {},
  ) {
    super();
    checkInteger(inFeatures, 'Linear', 'inFeatures', 0);
    checkInteger(outFeatures, 'Linear', 'outFeatures', 0);
    const dtype = options.dtype ?? 'float32';
    this.weight = new Parameter(empty([outFeatures, inFeatures], { dtype }));
    this.bias = options.bias === false ? null : new Parameter(empty([outFeatures], { dtype }));
    this.resetParameters();
  }

  resetParameters(): void {
    defaultLayerInit(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}
