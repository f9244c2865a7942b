// Pooling modules: shells over F.maxPool2d, F.avgPool2d and F.adaptiveAvgPool2d.
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../ops/pool2d';
import { Tensor } from '../tensor';
import { Module } from './module';

type Pair = number | [number, number];

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options) as Tensor;
  }
  extraRepr(): string {
    return `kernelSize=${JSON.stringify(this.kernelSize)}, stride=${JSON.stringify(this.options.stride ?? this.kernelSize)}`;
  }
}

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options);
  }
  extraRepr(): string {
    return `kernelSize=${JSON.stringify(this.kernelSize)}, stride=${JSON.stringify(this.options.stride ?? this.kernelSize)}`;
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
  extraRepr(): string {
    return `outputSize=${JSON.stringify(this.outputSize)}`;
  }
}
