// Flatten: merges dims startDim..endDim (by default all but the batch dim).
import { flatten } from '../ops/shape';
import { Tensor } from '../tensor';
import { Module } from './module';

export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
  extraRepr(): string {
    return `startDim=${this.startDim}, endDim=${this.endDim}`;
  }
}
