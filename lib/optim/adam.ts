// Adam and AdamW: PyTorch's torch.optim.Adam / AdamW (bias correction, AMSGrad, L2 or decoupled
// weight decay, maximize). The update of each parameter is one call to native adamStep; the
// formula, line by line, is in native/ops/optim_cpu.cc.
import { DTYPE_CODE } from '../dtype';
import { ValueError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { Optimizer, ParamGroup, ParamGroupInput, ParamState, tensorListArgs } from './optimizer';

export interface AdamOptions {
  /** Learning rate gamma (default 1e-3). */
  lr?: number;
  /** Decay rates (beta1, beta2) of the first and second moments (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay (default 1e-2). */
  weightDecay?: number;
  /** Use the running max of the second moment (AMSGrad, default false). */
  amsgrad?: boolean;
  /** Maximize the objective instead of minimizing (default false). */
  maximize?: boolean;
  /**
   * Multi-tensor updates (one native call per device and dtype of a group): default (null) and
   * true everywhere, false nowhere. Not a group option; the results are the same bits.
   */
  foreach?: boolean | null;
}

export type AdamGroupOptions = Required<Omit<AdamOptions, 'foreach'>>;

type Params = Iterable<Tensor> | Iterable<ParamGroupInput<AdamGroupOptions>>;

function adamDefaults(options: AdamOptions, weightDecay: number): AdamGroupOptions {
  return {
    lr: options?.lr ?? 1e-3,
    betas: options?.betas ?? [0.9, 0.999],
    eps: options?.eps ?? 1e-8,
    weightDecay: options?.weightDecay ?? weightDecay,
    amsgrad: options?.amsgrad ?? false,
    maximize: options?.maximize ?? false,
  };
}

/**
 * Adam:
 * g = grad (+ weightDecay * p); m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g^2;
 * (amsgrad: vmax = max(vmax, v), used for v); p -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps).
 * https://pytorch.org/docs/stable/generated/torch.optim.Adam.html
 *
 * State per parameter: `step`, `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with amsgrad.
 *
 * Example: `const opt = new Adam(model.parameters(), { lr: 1e-3 });`
 */
export class Adam extends Optimizer<AdamGroupOptions> {
  constructor(params: Params, options: AdamOptions = {}) {
    super(params, adamDefaults(options, 0));
    this.foreach = options?.foreach ?? null;
  }

  protected get opName(): string {
    return 'Adam';
  }

  /** AdamW's decoupled weight decay (p *= 1 - lr * weightDecay) instead of Adam's L2 penalty. */
  protected get decoupled(): boolean {
    return false;
  }

  protected validateGroup(g: ParamGroup & AdamGroupOptions): void {
    const name = this.opName;
    if (!(typeof g.lr === 'number' && g.lr >= 0)) throw new ValueError(`${name}: invalid learning rate: ${g.lr}`);
    if (!(typeof g.eps === 'number' && g.eps >= 0)) throw new ValueError(`${name}: invalid epsilon value: ${g.eps}`);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) throw new ValueError(`${name}: betas must be a pair [beta1, beta2], got ${JSON.stringify(g.betas)}`);
    for (const i of [0, 1]) {
      const b = g.betas[i];
      if (!(typeof b === 'number' && b >= 0 && b < 1)) throw new ValueError(`${name}: invalid beta parameter at index ${i}: ${b}`);
    }
    if (!(typeof g.weightDecay === 'number' && g.weightDecay >= 0)) throw new ValueError(`${name}: invalid weightDecay value: ${g.weightDecay}`);
    for (const k of ['amsgrad', 'maximize'] as const) {
      if (typeof g[k] !== 'boolean') throw new ValueError(`${name}: invalid ${k} value: ${g[k]} (expected a boolean)`);
    }
  }

  protected updateParam(p: Tensor, grad: Tensor, g: ParamGroup & AdamGroupOptions, st: ParamState): void {
    const step = ((st.step as number | undefined) ?? 0) + 1;
    const expAvg = this.buffer(st, 'exp_avg', p);
    const expAvgSq = this.buffer(st, 'exp_avg_sq', p);
    const maxSq = g.amsgrad ? this.buffer(st, 'max_exp_avg_sq', p) : null;
    native.adamStep(
      p.handle, p.offset, grad.handle, grad.offset, expAvg.handle, expAvg.offset, expAvgSq.handle, expAvgSq.offset,
      maxSq ? maxSq.handle : null, maxSq ? maxSq.offset : 0, p.numel(), DTYPE_CODE[p.dtype],
      g.lr, g.betas[0], g.betas[1], g.eps, g.weightDecay, step, g.amsgrad, this.decoupled, g.maximize,
    );
    st.step = step;
  }

  protected updateParams(ps: Tensor[], grads: Tensor[], g: ParamGroup & AdamGroupOptions, states: ParamState[]): void {
    const [handles, offs] = tensorListArgs(ps);
    const [gHandles, gOffs] = tensorListArgs(grads);
    const [mH, mO] = tensorListArgs(ps.map((p, k) => this.buffer(states[k], 'exp_avg', p)));
    const [vH, vO] = tensorListArgs(ps.map((p, k) => this.buffer(states[k], 'exp_avg_sq', p)));
    const [maxH, maxO] = g.amsgrad ? tensorListArgs(ps.map((p, k) => this.buffer(states[k], 'max_exp_avg_sq', p))) : [null, null];
    const steps = states.map((st) => ((st.step as number | undefined) ?? 0) + 1);
    native.adamStepMulti(
      handles, offs, gHandles, gOffs, mH, mO, vH, vO, maxH, maxO, ps.map((p) => p.numel()), steps, DTYPE_CODE[ps[0].dtype],
      g.lr, g.betas[0], g.betas[1], g.eps, g.weightDecay, g.amsgrad, this.decoupled, g.maximize,
    );
    for (let k = 0; k < states.length; k++) states[k].step = steps[k];
  }
}

/**
 * AdamW: Adam with decoupled weight decay, p *= 1 - lr * weightDecay before the Adam update
 * (weightDecay defaults to 1e-2). https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
 */
export class AdamW extends Adam {
  constructor(params: Params, options: AdamOptions = {}) {
    super(params, { ...options, weightDecay: options?.weightDecay ?? 1e-2 });
  }

  protected get opName(): string {
    return 'AdamW';
  }

  protected get decoupled(): boolean {
    return true;
  }
}
