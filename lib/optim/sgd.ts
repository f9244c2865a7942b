// SGD: PyTorch's torch.optim.SGD (momentum, dampening, Nesterov, L2 weight decay, maximize).
// The update of each parameter is one call to native sgdStep; the formula, line by line, is in
// native/ops/optim_cpu.cc.
import { DTYPE_CODE } from '../dtype';
import { ValueError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { Optimizer, ParamGroup, ParamGroupInput, ParamState, tensorListArgs } from './optimizer';

export interface SGDOptions {
  /** Learning rate gamma (required). */
  lr: number;
  /** Momentum factor mu (default 0). */
  momentum?: number;
  /** Dampening tau of the momentum (default 0). */
  dampening?: number;
  /** L2 penalty lambda added to the gradient (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** Maximize the objective instead of minimizing (default false). */
  maximize?: boolean;
  /**
   * Multi-tensor updates (one native call per device and dtype of a group): default (null) and
   * true everywhere, false nowhere. Not a group option; the results are the same bits.
   */
  foreach?: boolean | null;
}

export type SGDGroupOptions = Required<Omit<SGDOptions, 'foreach'>>;

/**
 * Stochastic gradient descent, optionally with momentum:
 * g = grad (+ weightDecay * p); b = momentum * b + (1 - dampening) * g (b = g on the first step);
 * g = nesterov ? g + momentum * b : b; p -= lr * g.
 * https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
 *
 * State per parameter: `step`, and `momentum_buffer` when momentum is non-zero.
 *
 * Example: `const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });`
 */
export class SGD extends Optimizer<SGDGroupOptions> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<SGDGroupOptions>>, options: SGDOptions) {
    super(params, {
      lr: options?.lr,
      momentum: options?.momentum ?? 0,
      dampening: options?.dampening ?? 0,
      weightDecay: options?.weightDecay ?? 0,
      nesterov: options?.nesterov ?? false,
      maximize: options?.maximize ?? false,
    } as SGDGroupOptions);
    this.foreach = options?.foreach ?? null;
  }

  protected get opName(): string {
    return 'SGD';
  }

  protected validateGroup(g: ParamGroup & SGDGroupOptions): void {
    if (g.lr === undefined) throw new ValueError('SGD: invalid learning rate: undefined (lr is required)');
    if (!(typeof g.lr === 'number' && g.lr >= 0)) throw new ValueError(`SGD: invalid learning rate: ${g.lr}`);
    if (!(typeof g.momentum === 'number' && g.momentum >= 0)) throw new ValueError(`SGD: invalid momentum value: ${g.momentum}`);
    if (!(typeof g.dampening === 'number' && !Number.isNaN(g.dampening))) throw new ValueError(`SGD: invalid dampening value: ${g.dampening}`);
    if (!(typeof g.weightDecay === 'number' && g.weightDecay >= 0)) throw new ValueError(`SGD: invalid weightDecay value: ${g.weightDecay}`);
    for (const k of ['nesterov', 'maximize'] as const) {
      if (typeof g[k] !== 'boolean') throw new ValueError(`SGD: invalid ${k} value: ${g[k]} (expected a boolean)`);
    }
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new ValueError('SGD: nesterov momentum requires a momentum and zero dampening');
  }

  protected updateParam(p: Tensor, grad: Tensor, g: ParamGroup & SGDGroupOptions, st: ParamState): void {
    let buf: Tensor | null = null;
    let firstStep = false;
    if (g.momentum !== 0) {
      // The first step sets b = g, so a fresh buffer need not be zeroed.
      firstStep = !(st.momentum_buffer instanceof Tensor);
      buf = this.buffer(st, 'momentum_buffer', p, 'empty');
    }
    native.sgdStep(p.handle, p.offset, grad.handle, grad.offset, buf ? buf.handle : null, buf ? buf.offset : 0, p.numel(), DTYPE_CODE[p.dtype], g.lr, g.momentum, g.dampening, g.nesterov, g.weightDecay, g.maximize, firstStep);
    st.step = ((st.step as number | undefined) ?? 0) + 1;
  }

  protected updateParams(ps: Tensor[], grads: Tensor[], g: ParamGroup & SGDGroupOptions, states: ParamState[]): void {
    const [handles, offs] = tensorListArgs(ps);
    const [gHandles, gOffs] = tensorListArgs(grads);
    // A parameter's first momentum step starts its buffer from the gradient (first[k]).
    const first = states.map((st) => g.momentum !== 0 && !(st.momentum_buffer instanceof Tensor));
    const [bufs, bufOffs] = g.momentum !== 0 ? tensorListArgs(ps.map((p, k) => this.buffer(states[k], 'momentum_buffer', p, 'empty'))) : [null, null];
    native.sgdStepMulti(handles, offs, gHandles, gOffs, bufs, bufOffs, ps.map((p) => p.numel()), first, DTYPE_CODE[ps[0].dtype], g.lr, g.momentum, g.dampening, g.nesterov, g.weightDecay, g.maximize);
    for (const st of states) st.step = ((st.step as number | undefined) ?? 0) + 1;
  }
}
