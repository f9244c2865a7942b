// Module: PyTorch's nn.Module. Parameters, buffers and child modules are found by walking the
// module's own properties in insertion order (so `this.weight = new Parameter(...)` registers a
// parameter, as attribute assignment does in PyTorch); buffers are registered by name, because
// their state-dict keys use PyTorch's snake_case names (running_mean).
import { disposeWithProducer, isGradEnabled, noGrad } from '../autograd';
import { describe } from '../check';
import { DType, DTYPE_CODE } from '../dtype';
import { ShapeError, ValueError, fmtShape } from '../errors';
import { Device, checkDeviceAvailable, normalizeDevice } from '../device';
import { Tensor, keep } from '../tensor';

/** A tensor that a Module owns and an optimizer updates. */
export class Parameter extends Tensor {
  constructor(data: Tensor, requiresGrad = true) {
    super(data.storage, data.shape.slice(), data.strides.slice(), data.offset, data.dtype);
    this.requiresGrad = requiresGrad;
    keep(this); // module state outlives any tidy() it is created in
  }
}

export type StateDict = Record<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  training = true;
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _nonPersistent = new Set<string>();

  abstract forward(...args: any[]): any;

  /** Registers a buffer (state that is saved but not trained, e.g. running_mean). */
  registerBuffer(name: string, tensor: Tensor | null, persistent = true): void {
    this._buffers.set(name, tensor ? keep(tensor) : null);
    if (!persistent) this._nonPersistent.add(name);
  }

  getBuffer(name: string): Tensor | null {
    return this._buffers.get(name) ?? null;
  }

  setBuffer(name: string, tensor: Tensor): void {
    if (!this._buffers.has(name)) throw new ValueError(`setBuffer: ${this.constructor.name} has no buffer '${name}'`);
    this._buffers.set(name, keep(tensor));
  }

  *namedChildren(): Generator<[string, Module]> {
    for (const [k, v] of Object.entries(this)) if (v instanceof Module) yield [k, v];
  }

  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k);
  }

  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  *namedParameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    const seen = new Set<Tensor>();
    const mods: [string, Module][] = recurse ? [...this.namedModules(prefix)] : [[prefix, this]];
    for (const [mp, m] of mods) {
      for (const [k, v] of Object.entries(m)) {
        if (v instanceof Parameter && !seen.has(v)) {
          seen.add(v);
          yield [mp ? `${mp}.${k}` : k, v];
        }
      }
    }
  }

  parameters(recurse = true): Parameter[] {
    return [...this.namedParameters('', recurse)].map(([, p]) => p);
  }

  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [mp, m] of this.namedModules(prefix)) {
      for (const [k, v] of m._buffers) if (v) yield [mp ? `${mp}.${k}` : k, v];
    }
  }

  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Calls fn on every submodule (children first) and then on this module. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Moves parameters, their gradients and buffers to a device ('cpu', 'cuda', 'cuda:1'), or converts
   * floating ones to a dtype, in place: the Parameter objects keep their identity (their data is
   * replaced), so an optimizer built before `.to` still sees them. `{ device, dtype }` does both.
   */
  to(target: Device | DType | { device?: Device; dtype?: DType }): this {
    const spec = typeof target === 'object' && target !== null ? target : (target as string) in DTYPE_CODE ? { dtype: target as DType } : { device: normalizeDevice(target, 'Module.to') };
    if (spec.dtype !== undefined && spec.dtype !== 'float32' && spec.dtype !== 'float64') throw new ValueError(`Module.to: expected a floating dtype (float32 or float64) but got '${String(spec.dtype)}'`);
    const device = spec.device === undefined ? undefined : normalizeDevice(spec.device, 'Module.to');
    // Checked before anything moves, so that a missing device leaves the module as it was.
    if (device !== undefined) checkDeviceAvailable(device, 'Module.to');
    const floating = (t: Tensor) => t.dtype === 'float32' || t.dtype === 'float64';
    const convert = (t: Tensor) => t.to({ device, dtype: spec.dtype !== undefined && floating(t) ? spec.dtype : undefined });
    noGrad(() => {
      for (const m of this.modules()) {
        for (const [, p] of m.namedParameters('', false)) {
          const moved = convert(p);
          if (moved !== p) p._setData(moved);
          if (p.grad) p.grad = keep(convert(p.grad));
        }
        for (const [k, b] of m._buffers) {
          if (!b) continue;
          const moved = convert(b);
          if (moved !== b) m._buffers.set(k, keep(moved));
        }
      }
    });
    return this;
  }

  /** Moves the module to cuda:`index` (default 0). */
  cuda(index?: number): this {
    return this.to(index === undefined ? 'cuda' : (`cuda:${index}` as Device));
  }

  /** Moves the module to the CPU. */
  cpu(): this {
    return this.to('cpu');
  }

  double(): this {
    return this.to('float64');
  }

  float(): this {
    return this.to('float32');
  }

  /** Parameters and persistent buffers by PyTorch's dotted names, detached. */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [mp, m] of this.namedModules()) {
      for (const [k, v] of Object.entries(m)) if (v instanceof Parameter) out[mp ? `${mp}.${k}` : k] = v.detach();
      for (const [k, b] of m._buffers) if (b && !m._nonPersistent.has(k)) out[mp ? `${mp}.${k}` : k] = b.detach();
    }
    return out;
  }

  /**
   * Copies values from a state dict. With strict (the default) any missing or unexpected key is an
   * error; a shape mismatch always is. The error lists every offending key at once.
   */
  loadStateDict(stateDict: StateDict, strict = true): LoadResult {
    if (typeof stateDict !== 'object' || stateDict === null) throw new ValueError(`loadStateDict: expected an object of named tensors for 'stateDict', got ${describe(stateDict)}`);
    const own = this.stateDict();
    for (const k of Object.keys(own)) {
      // a number or a disposed tensor would otherwise fail inside the copy with a TypeError
      const v: unknown = stateDict[k];
      if (k in stateDict && (!(v instanceof Tensor) || v.isDisposed)) throw new ValueError(`loadStateDict: expected a Tensor for key '${k}', found ${describe(v)}`);
    }
    const missingKeys = Object.keys(own).filter((k) => !(k in stateDict));
    const unexpectedKeys = Object.keys(stateDict).filter((k) => !(k in own));
    const mismatched = Object.keys(own)
      .filter((k) => k in stateDict && stateDict[k].shape.join(',') !== own[k].shape.join(','))
      .map((k) => `size mismatch for ${k}: copying a param with shape ${fmtShape(stateDict[k].shape)} from checkpoint, the shape in current model is ${fmtShape(own[k].shape)}`);
    const problems: string[] = [];
    if (strict && missingKeys.length) problems.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}.`);
    if (strict && unexpectedKeys.length) problems.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.`);
    problems.push(...mismatched);
    if (problems.length) {
      const err = new ShapeError(`loadStateDict: error(s) in loading state_dict for ${this.constructor.name}:\n\t${problems.join('\n\t')}`);
      Object.assign(err, { missingKeys, unexpectedKeys });
      throw err;
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) if (k in stateDict) t.copy_(stateDict[k]);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** One-line summary of this module's options (PyTorch's extra_repr). */
  extraRepr(): string {
    return '';
  }

  toString(): string {
    const kids = [...this.namedChildren()];
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (!kids.length) return `${head})`;
    const body = kids.map(([k, m]) => `  (${k}): ${m.toString().replace(/\n/g, '\n  ')}`).join('\n');
    return `${head}\n${body}\n)`;
  }
}

/** Applies modules in order; children are named "0", "1", ... as in PyTorch. */
export class Sequential extends Module {
  [index: number]: Module;

  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => ((this as unknown as Record<string, Module>)[String(i)] = m));
  }

  get length(): number {
    return this.children().length;
  }

  /**
   * Runs the modules in order. The outputs between two modules are this container's own: when
   * both their producer and their consumer are built-in modules that keep no reference to a
   * tensor (see markKeepsNoTensors), nobody else can reach them, so their memory is released at a
   * known point rather than by the garbage collector: with gradients off, right after the next
   * module has run; with gradients on, by backward, once the node that produced them has run.
   * Reusing that memory at once, still warm in cache, is a large part of a small model's speed.
   */
  forward(x: Tensor): Tensor {
    // The children in registration order, without children()'s generator and pair arrays (this
    // runs every step).
    const mods: Module[] = [];
    for (const v of Object.values(this)) if (v instanceof Module) mods.push(v);
    let out = x;
    let producer: Module | null = null;
    for (let i = 0; i < mods.length; i++) {
      const m = mods[i];
      // Adjacent layers with a fused op (Conv2d, ReLU, MaxPool2d; ReLU, MaxPool2d) run as one: see registerFusion.
      const fused = matchFusion(mods, i);
      const next = fused ? fused.run(mods.slice(i, i + fused.classes.length), out) : m.forward(out);
      if (producer && out !== x && next !== out && out instanceof Tensor && keepsNoTensors(producer) && keepsNoTensors(m)) {
        if (out.gradFn) disposeWithProducer(out);
        else if (!isGradEnabled()) out.dispose();
      }
      if (fused) i += fused.classes.length - 1;
      producer = mods[i];
      out = next;
    }
    return out;
  }
}

interface Fusion {
  classes: readonly object[];
  run: (mods: Module[], x: Tensor) => Tensor;
}
/** Longest chains first, so that a chain wins over a pair at its tail. */
const fusions: Fusion[] = [];

function matchFusion(mods: Module[], i: number): Fusion | undefined {
  for (const f of fusions) {
    if (i + f.classes.length > mods.length) continue;
    let k = 0;
    while (k < f.classes.length && mods[i + k].constructor === f.classes[k]) k++;
    if (k === f.classes.length) return f;
  }
  return undefined;
}

type ModuleClass<M extends Module> = abstract new (...args: never[]) => M;
type Instances<C extends readonly ModuleClass<Module>[]> = { [K in keyof C]: C[K] extends ModuleClass<infer M> ? M : never };

/**
 * Lets nn.Sequential run adjacent layers of exactly these classes (subclasses do not match) as one
 * op, run(layers, x), which must give the values and gradients of the layers applied in turn: the
 * intermediates are the container's own, so nobody can tell that they were never made.
 */
export function registerFusion<C extends readonly ModuleClass<Module>[]>(classes: C, run: (layers: Instances<C>, x: Tensor) => Tensor): void {
  fusions.push({ classes, run: run as unknown as Fusion['run'] });
  fusions.sort((a, b) => b.classes.length - a.classes.length);
}

const tensorFreeModules = new WeakSet<object>();

/**
 * Declares modules classes whose forward keeps no reference to its input or output (all of
 * tensile's layers): nn.Sequential may then release the tensors passed between two of them.
 * Subclasses are not covered: a user's subclass may keep what it likes.
 */
export function markKeepsNoTensors(...classes: (abstract new (...args: never[]) => Module)[]): void {
  for (const c of classes) tensorFreeModules.add(c);
}

function keepsNoTensors(m: Module): boolean {
  return tensorFreeModules.has(m.constructor);
}

/** Holds submodules in a list, registered as "0", "1", ... */
export class ModuleList extends Module {
  [index: number]: Module;
  constructor(modules: Module[] = []) {
    super();
    modules.forEach((m, i) => ((this as unknown as Record<string, Module>)[String(i)] = m));
  }
  get length(): number {
    return this.children().length;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }
  forward(): never {
    throw new ValueError('ModuleList: has no forward(); iterate over its modules instead');
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
