// BatchNorm1d/2d: per-channel normalisation with learnable affine (weight, bias) and running
// statistics (running_mean, running_var, num_batches_tracked) kept as buffers under PyTorch's names.
import { noGrad } from '../autograd';
import { checkInteger, checkTensor } from '../check';
import { ShapeError, fmtShape } from '../errors';
import { batchNorm } from '../ops/batch_norm';
import { Tensor, full, zeros } from '../tensor';
import { Module, Parameter } from './module';

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
  dtype?: 'float32' | 'float64';
}

abstract class BatchNormBase extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  readonly eps: number;
  readonly momentum: number;
  readonly trackRunningStats: boolean;

  constructor(
    readonly numFeatures: number,
    options: BatchNormOptions = {},
  ) {
    super();
    checkInteger(numFeatures, this.constructor.name, 'numFeatures', 0);
    const dtype = options.dtype ?? 'float32';
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.trackRunningStats = options.trackRunningStats ?? true;
    const affine = options.affine ?? true;
    this.weight = affine ? new Parameter(full([numFeatures], 1, { dtype })) : null;
    this.bias = affine ? new Parameter(zeros([numFeatures], { dtype })) : null;
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures], { dtype }));
      this.registerBuffer('running_var', full([numFeatures], 1, { dtype }));
      this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
    }
  }

  get runningMean(): Tensor | null {
    return this.getBuffer('running_mean');
  }
  get runningVar(): Tensor | null {
    return this.getBuffer('running_var');
  }

  protected abstract checkInput(x: Tensor): void;

  forward(x: Tensor): Tensor {
    checkTensor(x, this.constructor.name, 'input');
    this.checkInput(x);
    if (x.shape[1] !== this.numFeatures) {
      throw new ShapeError(`${this.constructor.name}: input ${fmtShape(x.shape)} has ${x.shape[1]} channels but the layer expects ${this.numFeatures}`);
    }
    const useBatchStats = this.training || !this.trackRunningStats;
    if (this.training && this.trackRunningStats) {
      const n = this.getBuffer('num_batches_tracked')!;
      noGrad(() => this.setBuffer('num_batches_tracked', n.add(1)));
    }
    // Buffers are passed whenever they exist: in training they are updated, in eval they are used.
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: useBatchStats,
      momentum: this.momentum,
      eps: this.eps,
    });
  }

  extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}, trackRunningStats=${this.trackRunningStats}`;
  }
}

/** Over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError(`BatchNorm1d: expected 2D or 3D input (got ${x.ndim}D input of shape ${fmtShape(x.shape)})`);
  }
}

/** Over [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4) throw new ShapeError(`BatchNorm2d: expected 4D input (got ${x.ndim}D input of shape ${fmtShape(x.shape)})`);
  }
}
