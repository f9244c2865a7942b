// Loss modules: hold the options and call the functional loss. forward(input, target).
import { crossEntropy, l1Loss, mseLoss, nllLoss, smoothL1Loss } from '../ops/loss';
import { Tensor } from '../tensor';
import { Module } from './module';

export type Reduction = 'mean' | 'sum' | 'none';

export interface ClassLossOptions {
  weight?: Tensor | null;
  ignoreIndex?: number;
  reduction?: Reduction;
}

/**
 * PyTorch's _WeightedLoss: the class weight is a buffer, so that `.to()` converts it and the state
 * dict carries it (key "weight").
 */
abstract class WeightedLoss<O extends ClassLossOptions> extends Module {
  constructor(readonly options: O) {
    super();
    this.registerBuffer('weight', options.weight ?? null);
  }
  protected opts(): O {
    return { ...this.options, weight: this.getBuffer('weight') };
  }
}

export class CrossEntropyLoss extends WeightedLoss<ClassLossOptions & { labelSmoothing?: number }> {
  constructor(options: ClassLossOptions & { labelSmoothing?: number } = {}) {
    super(options);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return crossEntropy(input, target, this.opts());
  }
}

export class NLLLoss extends WeightedLoss<ClassLossOptions> {
  constructor(options: ClassLossOptions = {}) {
    super(options);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return nllLoss(input, target, this.opts());
  }
}

export class MSELoss extends Module {
  constructor(readonly options: { reduction?: Reduction } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, this.options);
  }
}

export class L1Loss extends Module {
  constructor(readonly options: { reduction?: Reduction } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return l1Loss(input, target, this.options);
  }
}

export class SmoothL1Loss extends Module {
  constructor(readonly options: { beta?: number; reduction?: Reduction } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return smoothL1Loss(input, target, this.options);
  }
}
