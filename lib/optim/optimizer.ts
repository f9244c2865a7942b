// Optimizer: PyTorch's torch.optim.Optimizer. Parameter groups carry their own options (lr,
// momentum, ...), per-parameter state lives in a Map keyed by the parameter tensor, and the
// update of each parameter is one fused native call (native/ops/optim.h) made by the subclass.
// By default parameters are updated in buckets instead: one multi-tensor native call per (device,
// dtype) of a group (PyTorch's foreach, which PyTorch defaults to on CUDA only; here on the CPU too,
// where it gives the same bits and saved ~15 us of a 0.55 ms classic-CNN step against six calls).
// What this is not: a closure-based line search.
import { enableGrad, noGrad } from '../autograd';
import { describe } from '../check';
import { DeviceError, DTypeError, ShapeError, ValueError, fmtShape } from '../errors';
import { Handle } from '../native';
import { empty, keep, Tensor } from '../tensor';

/** The (handles, element offsets) of a list of tensors: how the multi-tensor bindings take them. */
export function tensorListArgs(ts: readonly Tensor[]): [Handle[], number[]] {
  const handles = new Array<Handle>(ts.length), offs = new Array<number>(ts.length);
  for (let k = 0; k < ts.length; k++) {
    handles[k] = ts[k].handle;
    offs[k] = ts[k].offset;
  }
  return [handles, offs];
}

/** Parameters of one group on one device with one dtype, updated by one multi-tensor call. */
interface Bucket {
  params: Tensor[];
  grads: Tensor[];
  states: ParamState[];
}

/** One parameter group: its tensors and its options (lr and the optimizer's own). */
export interface ParamGroup {
  params: Tensor[];
  lr: number;
  /** Set by LR schedulers (PyTorch's key): the lr the schedule starts from. */
  initial_lr?: number;
  [option: string]: unknown;
}

/** A parameter group as passed in: options missing here come from the optimizer's defaults. */
export type ParamGroupInput<O> = Partial<O> & { params: Iterable<Tensor> | Tensor };

/** Per-parameter state: `step` and buffers such as momentum_buffer, exp_avg, exp_avg_sq. */
export type ParamState = Record<string, Tensor | number>;

/**
 * PyTorch's optimizer state-dict structure: parameters are numbered in group order, `state` maps
 * those numbers to copies of their state, and each group lists its options and its numbers.
 */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  param_groups: (Record<string, unknown> & { params: number[] })[];
}

/**
 * Base class of SGD, Adam and AdamW.
 *
 * Args: `params` is an iterable of parameter tensors, or of parameter groups `{ params, ...options }`
 * whose options override `defaults`. Subclasses implement `validateGroup` (option checks, throwing
 * ValueError) and `updateParam` (one native call).
 */
export abstract class Optimizer<O extends { lr: number } = { lr: number }> {
  readonly defaults: O;
  paramGroups: (ParamGroup & O)[] = [];
  /** Per-parameter state, created on a parameter's first step. */
  state = new Map<Tensor, ParamState>();

  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<O>>, defaults: O) {
    this.defaults = defaults;
    if (typeof (params as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== 'function') {
      throw new ValueError(`${this.opName}: expected an iterable of tensors or parameter groups for 'params', got ${describe(params)}`);
    }
    const list = Array.from(params as Iterable<Tensor | ParamGroupInput<O>>);
    if (list.length === 0) throw new ValueError(`${this.opName}: got an empty parameter list`);
    const groups: ParamGroupInput<O>[] = list[0] instanceof Tensor ? [{ params: list as Tensor[] } as unknown as ParamGroupInput<O>] : (list as ParamGroupInput<O>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** The name that starts every message ('SGD', 'Adam', 'AdamW'); subclasses override it. */
  protected get opName(): string {
    return 'Optimizer';
  }

  /** Throws ValueError when an option of the (defaults-filled) group is invalid. */
  protected abstract validateGroup(group: ParamGroup & O): void;

  /** Updates one parameter in place from its (contiguous, checked) gradient: one native call. */
  protected abstract updateParam(param: Tensor, grad: Tensor, group: ParamGroup & O, state: ParamState): void;

  /**
   * Updates same-device, same-dtype parameters in place (gradients contiguous and checked;
   * states[i] belongs to params[i]). SGD and Adam make one multi-tensor native call; this default,
   * for subclasses that only have updateParam, calls it per parameter.
   */
  protected updateParams(params: Tensor[], grads: Tensor[], group: ParamGroup & O, states: ParamState[]): void {
    for (let k = 0; k < params.length; k++) this.updateParam(params[k], grads[k], group, states[k]);
  }

  /**
   * Multi-tensor updates: null (default) or true for every device, false for none (one native
   * call per parameter). PyTorch's `foreach`. The results are the same bits either way.
   */
  foreach: boolean | null = null;

  /** Adds a group; options it leaves out come from the defaults (PyTorch's add_param_group). */
  addParamGroup(input: ParamGroupInput<O>): void {
    if (!input || typeof input !== 'object' || !('params' in input)) throw new ValueError(`${this.opName}: a parameter group must be an object with a params field`);
    const raw = input.params instanceof Tensor ? [input.params] : Array.from(input.params ?? []);
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    const gi = this.paramGroups.length;
    raw.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ValueError(`${this.opName}: parameter ${i} of group ${gi} is not a Tensor`);
      if (p.dtype !== 'float32' && p.dtype !== 'float64') throw new DTypeError(`${this.opName}: can only optimize float32 or float64 tensors, but parameter ${i} of group ${gi} is ${p.dtype}`);
      if (!p.isLeaf) throw new ValueError(`${this.opName}: can't optimize a non-leaf Tensor (parameter ${i} of group ${gi})`);
      if (seen.has(p)) throw new ValueError(`${this.opName}: some parameters appear more than once in the parameter groups (parameter ${i} of group ${gi})`);
      seen.add(p);
    });
    const group = { ...input, params: raw } as unknown as ParamGroup & O;
    for (const [k, v] of Object.entries(this.defaults)) {
      if (!(k in group) || (group as Record<string, unknown>)[k] === undefined) (group as Record<string, unknown>)[k] = Array.isArray(v) ? v.slice() : v;
    }
    this.validateGroup(group);
    this.paramGroups.push(group);
  }

  /** Clears every parameter's gradient: to null (default), or to zeros in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) {
          p.grad = null;
        } else {
          const grad = p.grad.gradFn ? p.grad.detach() : p.grad;
          p.grad = grad.isContiguous() ? noGrad(() => grad.zero_()) : keep(empty(p.shape, { dtype: grad.dtype, device: grad.device }).zero_());
        }
      }
    }
  }

  /**
   * One optimization step over every parameter that has a gradient (others are skipped). Never
   * records autograd. With a closure, re-evaluates the loss first (with gradients on) and returns it.
   */
  step(closure?: () => Tensor | number): Tensor | number | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    noGrad(() => {
      // Plain loops and no strings unless a check fails: this runs for every parameter every step.
      const groups = this.paramGroups;
      const foreach = this.foreach;
      for (let gi = 0; gi < groups.length; gi++) {
        const group = groups[gi];
        const params = group.params;
        let buckets: Map<string, Bucket> | null = null;
        for (let i = 0; i < params.length; i++) {
          const p = params[i];
          if (p.grad === null) continue;
          const grad = this.checkGrad(p, p.grad, gi, i);
          let st = this.state.get(p);
          if (!st) {
            st = {};
            this.state.set(p, st);
          }
          if (foreach === false) {
            this.updateParam(p, grad, group, st);
            // an in-place write: a graph recorded before this step must not be backpropagated
            p.storage.version++;
            continue;
          }
          buckets ??= new Map();
          const key = p.device + p.dtype;
          let b = buckets.get(key);
          if (!b) buckets.set(key, (b = { params: [], grads: [], states: [] }));
          b.params.push(p);
          b.grads.push(grad);
          b.states.push(st);
        }
        if (buckets === null) continue;
        for (const b of buckets.values()) {
          this.updateParams(b.params, b.grads, group, b.states);
          for (const p of b.params) p.storage.version++;
        }
      }
    });
    return loss;
  }

  private checkGrad(p: Tensor, grad: Tensor, gi: number, i: number): Tensor {
    const where = (): string => `parameter ${i} of group ${gi}`;
    if (!p.isContiguous()) throw new ValueError(`${this.opName}: ${where()} must be contiguous to be updated in place, got strides ${fmtShape(p.strides)} for shape ${fmtShape(p.shape)}`);
    let same = grad.shape.length === p.shape.length;
    for (let k = 0; same && k < p.shape.length; k++) same = grad.shape[k] === p.shape[k];
    if (!same) throw new ShapeError(`${this.opName}: gradient of ${where()} has shape ${fmtShape(grad.shape)} but the parameter has shape ${fmtShape(p.shape)}`);
    if (grad.dtype !== p.dtype) throw new DTypeError(`${this.opName}: gradient of ${where()} is ${grad.dtype} but the parameter is ${p.dtype}`);
    if (grad.device !== p.device) throw new DeviceError(`${this.opName}: gradient of ${where()} is on ${grad.device} but the parameter is on ${p.device}`);
    return grad.contiguous();
  }

  /**
   * The state buffer `key` of parameter p: created (zeros, or uninitialised with `init: 'empty'`)
   * when missing, converted when the parameter's dtype changed since (Module.to), checked otherwise.
   */
  protected buffer(state: ParamState, key: string, p: Tensor, init: 'zeros' | 'empty' = 'zeros'): Tensor {
    let b = state[key];
    if (!(b instanceof Tensor)) {
      const t = keep(empty(p.shape, { dtype: p.dtype, device: p.device }));
      state[key] = init === 'zeros' ? t.zero_() : t;
      return state[key] as Tensor;
    }
    if (b.numel() !== p.numel()) throw new ShapeError(`${this.opName}: state ${key} has shape ${fmtShape(b.shape)} but its parameter has shape ${fmtShape(p.shape)}`);
    if (b.dtype !== p.dtype || b.device !== p.device || !b.isContiguous()) {
      b = keep(empty(p.shape, { dtype: p.dtype, device: p.device }).copy_(b.reshape(p.shape)));
      state[key] = b;
    }
    return b;
  }

  // --- state dict ---------------------------------------------------------------------------

  /** PyTorch's structure, holding copies: later steps do not change a dict already taken. */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') out[k] = Array.isArray(v) ? v.slice() : v;
      out.params = g.params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      });
      return out as Record<string, unknown> & { params: number[] };
    });
    const state: Record<number, ParamState> = {};
    noGrad(() => {
      for (const [p, idx] of index) {
        const st = this.state.get(p);
        if (!st) continue;
        const copy: ParamState = {};
        for (const [k, v] of Object.entries(st)) copy[k] = v instanceof Tensor ? v.clone() : v;
        state[idx] = copy;
      }
    });
    return { state, param_groups: paramGroups };
  }

  /**
   * Restores state and options from `stateDict()` output (or PyTorch's, converted to this shape).
   * Group and parameter counts must match; state tensors are copied and converted to each
   * parameter's dtype; a Tensor `step` becomes a number.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = this.opName;
    if (!sd || typeof sd !== 'object' || typeof sd.state !== 'object' || sd.state === null || !Array.isArray(sd.param_groups))
      throw new ValueError(`${name}: loadStateDict expects an object { state, param_groups }`);
    const saved = sd.param_groups;
    if (saved.length !== this.paramGroups.length)
      throw new ValueError(`${name}: loaded state dict has a different number of parameter groups (${saved.length}) than the optimizer (${this.paramGroups.length})`);
    saved.forEach((sg, gi) => {
      const n = sg && Array.isArray(sg.params) ? sg.params.length : -1;
      if (n !== this.paramGroups[gi].params.length)
        throw new ValueError(`${name}: loaded parameter group ${gi} has ${n < 0 ? 'no params list' : `${n} parameters`} but the optimizer's group ${gi} has ${this.paramGroups[gi].params.length}`);
    });

    // Build everything first, so that a bad dict leaves the optimizer unchanged.
    const newState = new Map<Tensor, ParamState>();
    const newGroups: (ParamGroup & O)[] = [];
    noGrad(() => {
      saved.forEach((sg, gi) => {
        const params = this.paramGroups[gi].params;
        sg.params.forEach((idx, i) => {
          const st = (sd.state as Record<number, ParamState | undefined>)[idx];
          if (!st) return;
          if (typeof st !== 'object') throw new ValueError(`${name}: loadStateDict: expected an object of buffers for the state of parameter ${i} in group ${gi}, found ${describe(st)}`);
          const p = params[i];
          const copy: ParamState = {};
          for (const [k, v] of Object.entries(st)) {
            if (k === 'step') {
              copy.step = v instanceof Tensor ? v.item() : Number(v);
              if (!Number.isFinite(copy.step)) throw new ValueError(`${name}: loadStateDict: expected a number for state 'step' of parameter ${i} in group ${gi}, found ${describe(v)}`);
            } else if (v === null || v === undefined) {
              // PyTorch saves momentum_buffer None for SGD without momentum: the same as no buffer
            } else if (!(v instanceof Tensor) || v.isDisposed) {
              // a buffer that is not a tensor would be silently replaced by zeros on the next step
              throw new ValueError(`${name}: loadStateDict: expected a Tensor for state '${k}' of parameter ${i} in group ${gi}, found ${describe(v)}`);
            } else {
              if (v.numel() !== p.numel())
                throw new ShapeError(`${name}: loaded state ${k} of parameter ${i} in group ${gi} has shape ${fmtShape(v.shape)} but the parameter has shape ${fmtShape(p.shape)}`);
              copy[k] = keep(empty(p.shape, { dtype: p.dtype, device: p.device }).copy_(v.reshape(p.shape)));
            }
          }
          newState.set(p, copy);
        });
        const group: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(sg)) if (k !== 'params') group[k] = Array.isArray(v) ? v.slice() : v;
        group.params = params;
        this.validateGroup(group as ParamGroup & O);
        newGroups.push(group as ParamGroup & O);
      });
    });
    this.paramGroups = newGroups;
    this.state = newState;
  }
}
