// Dropout: zeroes elements with probability p in training (scaling the rest by 1/(1-p)), the
// identity in eval mode. Masks come from the seeded generator.
import { ValueError } from '../errors';
import { dropout } from '../ops/activation';
import { Tensor } from '../tensor';
import { Module } from './module';

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError(`Dropout: dropout probability has to be between 0 and 1, but got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, { p: this.p, training: this.training });
  }
  extraRepr(): string {
    return `p=${this.p}`;
  }
}
