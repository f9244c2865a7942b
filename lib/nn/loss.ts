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

export class CrossEntropyLoss extends Module {
  constructor(readonly options: ClassLossOptions & { labelSmoothing?: number } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return crossEntropy(input, target, this.options);
  }
}

export class NLLLoss extends Module {
  constructor(readonly options: ClassLossOptions = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return nllLoss(input, target, this.options);
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
