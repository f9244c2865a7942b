// Tensor: a view (shape, strides, offset) over reference-counted native storage, plus the
// autograd fields. Math lives in lib/ops/*; the methods here are thin delegations so that
// `x.add(y).relu()` reads like PyTorch.
import * as v8 from 'v8';
import * as vm from 'vm';
import { BackwardFn, Node, isGradEnabled, noGrad, record, runBackward } from './autograd';
import { Device, checkDeviceAvailable, deviceCode, normalizeDevice } from './device';
import { DType, DTYPE_CODE, ITEM_SIZE, TYPED_ARRAY, TypedArray, dtypeOfTypedArray, halfBitsToFloat32, isFloating } from './dtype';
import { MAX_NUMEL, checkDType, checkFinite, checkFunction, checkInteger, checkOptions, checkScalar, checkShape, checkTensor, describe, disposedError } from './check';
import { AutogradError, DeviceError, DTypeError, OutOfMemoryError, ShapeError, ValueError, fmtShape } from './errors';
import { Handle, native } from './native';
import { defaultGenerator, Generator } from './random';
import * as E from './ops/elementwise';
import * as R from './ops/reduce';
import * as S from './ops/shape';

export type { Device } from './device';
export { cudaUnavailableReason } from './device';

// ---------------------------------------------------------------------------------------------
// storage and memory scopes

// Handles of CPU storages (not pinned ones) whose tensors were all disposed, by byte size, memory
// still attached: the next allocation of that size takes one instead of crossing into native code
// for a new handle (a fresh External with a GC finalizer and external-memory accounting costs about
// as much as a small op). A training step disposes and reallocates the same sizes every step.
// Bounded, and emptied by memory.emptyCache(); memory.stats() counts it as cached, not allocated.
// Device memory has no such list: the addon's caching allocator is its cache.
const SPARE_PER_SIZE = 8;
const SPARE_LIMIT_BYTES = 64 << 20;
const spare = new Map<number, Handle[]>();
let spareBytes = 0;

/** Bytes the native caching allocator holds for spare handles: its size classes (mirrors size_class in native/core/allocator.cc). */
export function spareStorageBytes(): number {
  let total = 0;
  for (const [bytes, list] of spare) total += allocatorClassBytes(bytes) * list.length;
  return total;
}

function allocatorClassBytes(bytes: number): number {
  if (bytes <= 4096) return Math.ceil(Math.max(bytes, 1) / 64) * 64;
  const quarter = 2 ** Math.floor(Math.log2(bytes)) / 4;
  return Math.ceil(bytes / quarter) * quarter;
}

/** Frees every spare handle's memory (back to the native caching allocator). */
export function dropSpareStorage(): void {
  for (const list of spare.values()) for (const h of list) native.free(h);
  spare.clear();
  spareBytes = 0;
}

/**
 * One native allocation shared by every view of it. `refs` counts live (undisposed) tensors; the
 * native memory goes back to the caching allocator when the last one is disposed (by way of the
 * spare handles above), or when the GC collects the handle, whichever comes first.
 */
export class Storage {
  refs = 0;
  /** Bumped by every in-place write; autograd checks it to refuse stale saved tensors. */
  version = 0;
  private released = false;
  constructor(
    readonly handle: Handle,
    readonly bytes: number,
    /** Normalised: 'cpu' or 'cuda:n'. */
    readonly device: Device,
    /** Page-locked host memory (allocatePinned with a usable CUDA device). */
    readonly pinned = false,
  ) {}

  static allocate(bytes: number, device: Device): Storage {
    if (device !== 'cpu') return allocateOnDevice(bytes, device);
    undisposedBytes += bytes;
    if (bytes > largestUndisposed) largestUndisposed = bytes;
    // At least four allocations' worth between two scavenges: with activations past the budget
    // (a ResNet's 8 MiB), one every allocation cost a ResNet-20 step 78 scavenges, 18 ms of 300.
    if (undisposedBytes > SCAVENGE_BYTES && undisposedBytes > 4 * largestUndisposed) {
      undisposedBytes = 0;
      largestUndisposed = 0;
      collectYoungGarbage();
    }
    const list = spare.get(bytes);
    if (list !== undefined && list.length > 0) {
      spareBytes -= bytes;
      return new Storage(list.pop()!, bytes, device);
    }
    try {
      return new Storage(native.alloc(bytes, 0), bytes, device);
    } catch (e) {
      // Out of memory: the spare handles' memory may be what is missing; give it back and retry once.
      if (!(e instanceof OutOfMemoryError) || spareBytes === 0) throw e;
      dropSpareStorage();
      return new Storage(native.alloc(bytes, 0), bytes, device);
    }
  }

  /**
   * Host storage in page-locked memory, from which host-to-device copies run asynchronously:
   * ordinary host memory (pinned false) when no CUDA device is usable, as PyTorch's pin_memory
   * without an accelerator. Never taken from or given to the spare handles.
   */
  static allocatePinned(bytes: number): Storage {
    let h: Handle;
    try {
      h = native.allocPinned(bytes);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      dropSpareStorage();
      collectGarbage();
      h = native.allocPinned(bytes);
    }
    return new Storage(h, bytes, 'cpu', native.isPinned(h));
  }

  /** Drops one tensor's reference; the last one hands the memory back. */
  release(): void {
    if (--this.refs > 0 || this.released) return;
    this.released = true;
    if (this.device === 'cpu') undisposedBytes = Math.max(0, undisposedBytes - this.bytes);
    // Every tensor of this storage is disposed, and Tensor.handle refuses disposed tensors, so
    // nothing can reach the handle through this Storage any more: it can serve a new one.
    const list = spare.get(this.bytes);
    if (this.device === 'cpu' && !this.pinned && this.bytes > 0 && spareBytes + this.bytes <= SPARE_LIMIT_BYTES && (list === undefined || list.length < SPARE_PER_SIZE)) {
      if (list === undefined) spare.set(this.bytes, [this.handle]);
      else list.push(this.handle);
      spareBytes += this.bytes;
    } else {
      native.free(this.handle);
    }
  }
}

/**
 * Device memory from the addon's caching allocator (no spare handles here: the native cache is
 * the cache). On out-of-memory the addon has already emptied its cache and retried; what may still
 * hold device memory is tensors nobody can reach that the garbage collector has not finalised yet.
 * So: drop the spare host handles, run a collection, empty the device cache, retry once, and only
 * then raise OutOfMemoryError (with the sizes). The process goes on either way.
 */
function allocateOnDevice(bytes: number, device: Device): Storage {
  const d = usableDevice(device, 'alloc');
  const code = deviceCode(d);
  return retryAfterOutOfMemory(() => new Storage(native.alloc(bytes, code), bytes, d), code - 1);
}

/**
 * attempt(), and when it raises OutOfMemoryError: the spare host handles dropped, a V8 collection
 * (finalizers of unreachable tensors hand their blocks back), the device's cache emptied, and one
 * more attempt, whose OutOfMemoryError says that all this was tried. Other errors pass through.
 */
export function retryAfterOutOfMemory<T>(attempt: () => T, cudaIndex: number): T {
  try {
    return attempt();
  } catch (e) {
    if (!(e instanceof OutOfMemoryError)) throw e;
  }
  dropSpareStorage();
  collectGarbage();
  native.cudaEmptyCache(cudaIndex);
  try {
    return attempt();
  } catch (e) {
    if (!(e instanceof OutOfMemoryError)) throw e;
    throw new OutOfMemoryError(`${e.message} (after emptying the cache, a garbage collection and one retry)`);
  }
}

// Devices already checked to be usable (normalised names): the check runs once per device.
const availableDevices = new Set<string>();

/** `device` normalised, after checking (once per device) that it can hold tensors: a DeviceError naming `op` if not. */
function usableDevice(device: Device, op: string): Device {
  if (device === 'cpu' || availableDevices.has(device)) return device;
  const d = normalizeDevice(device, op);
  if (!availableDevices.has(d)) {
    checkDeviceAvailable(d, op);
    availableDevices.add(d);
  }
  return d;
}

type GcFunction = (options?: { type: 'major' | 'minor' }) => void;
let gcFunction: GcFunction | null | undefined;

/**
 * Runs a full V8 garbage collection now, so that finalizers of unreachable tensors hand their
 * memory back: global.gc when Node runs with --expose-gc, else one obtained once through the
 * --expose-gc flag and a fresh context (the flag is put back afterwards).
 */
export function collectGarbage(): void {
  const gc = gcFn();
  if (gc) gc();
}

/**
 * Runs a young-generation collection (a scavenge, ~50 us): the tensors of the last few ops that
 * nothing references any more are finalised, and their blocks go back to the native cache.
 */
function collectYoungGarbage(): void {
  const gc = gcFn();
  if (gc) gc({ type: 'minor' });
}

// Host bytes allocated since the last young-generation collection and not handed back by a
// dispose(): the garbage of a forward written op by op (a Module's own forward: conv, relu and
// pool outputs that only the garbage collector frees). Left to V8, it is collected every few tens
// of MiB (external-memory pressure), and by then the blocks the next ops get back from the cache
// are cold: the lesson's classic net ran its relu at 152 us instead of 19 us (its output written
// to memory last touched tens of MiB before). A scavenge every few MiB keeps the blocks that come
// back in cache (25 us with one every 4 MiB). Sequential's intermediates, which backward
// disposes, do not count. TENSILE_SCAVENGE_MB sets the budget (6: in npm run bench the lesson's
// net trained at 2.76-3.05x PyTorch with 4, 3.05-3.07x with 6, 2.98x with 8; at 2 the scavenges
// cost more than they save); 0 leaves collections to V8.
let undisposedBytes = 0;
let largestUndisposed = 0;
const SCAVENGE_BYTES = scavengeBudget();

function scavengeBudget(): number {
  const env = process.env.TENSILE_SCAVENGE_MB;
  const mb = env === undefined || env === '' ? 6 : Number(env);
  return Number.isFinite(mb) && mb > 0 ? mb * (1 << 20) : Infinity;
}

function gcFn(): GcFunction | null {
  if (gcFunction === undefined) {
    const g = (globalThis as { gc?: unknown }).gc;
    if (typeof g === 'function') gcFunction = g as GcFunction;
    else {
      try {
        v8.setFlagsFromString('--expose-gc');
        const fn = vm.runInNewContext('gc') as unknown;
        gcFunction = typeof fn === 'function' ? (fn as GcFunction) : null;
      } catch {
        gcFunction = null;
      } finally {
        v8.setFlagsFromString('--no-expose-gc');
      }
    }
  }
  return gcFunction;
}

/** x on `device` (normalised, not x's): contiguous on the source, one native copy; differentiable. */
function moveTo(x: Tensor, device: Device, nonBlocking = false): Tensor {
  usableDevice(device, 'to');
  const c = x.isContiguous() ? x : noGrad(() => x.contiguous());
  const size = ITEM_SIZE[c.dtype];
  const bytes = c.numel() * size;
  const out = new Tensor(Storage.allocate(bytes, device), c.shape.slice(), contiguousStrides(c.shape), 0, c.dtype);
  if (bytes > 0) native.copy(out.handle, 0, c.handle, c.offset * size, bytes, nonBlocking && c === x);
  if (c !== x) c.dispose();
  if (!isFloating(out.dtype)) return out;
  const from = x.device;
  return record('to', out, [x], (g) => [moveTo(g, from)]);
}

const scopes: Set<Tensor>[] = [];

/**
 * Runs fn and disposes every tensor created inside it except those it returns (a tensor, or an
 * array or object of tensors). For code that wants memory released at a known point.
 */
export function tidy<T>(fn: () => T): T {
  checkFunction(fn, 'tidy', 'fn');
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result! && typeof (result as { then?: unknown }).then === 'function') {
    // tensors made after an await would escape the scope and those made before would be freed
    // under the async code: refuse, as tfjs does (nothing is disposed)
    for (const t of scope) if (scopes.length) scopes[scopes.length - 1].add(t);
    throw new ValueError('tidy: fn must be synchronous, but it returned a Promise');
  }
  const keep = new Set<Tensor>();
  collectTensors(result!, keep);
  for (const t of scope) {
    if (keep.has(t)) {
      if (scopes.length) scopes[scopes.length - 1].add(t);
    } else {
      t.dispose();
    }
  }
  return result!;
}

/**
 * Takes t out of every enclosing tidy scope: for tensors that become part of long-lived state
 * (parameters, buffers, gradients, optimizer state) while a tidy is running.
 */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) {
    out.add(v);
    if (v.grad) out.add(v.grad);
  } else if (Array.isArray(v)) {
    for (const x of v) collectTensors(x, out);
  } else if (v && typeof v === 'object' && (v as object).constructor === Object) {
    for (const x of Object.values(v as object)) collectTensors(x, out);
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  return strides;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Tensor

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
  /** Page-locked host memory (CPU tensors only; see Tensor.pinMemory). */
  pinMemory?: boolean;
}

let tensorsMade = 0;

/** How many tensors have been constructed so far: autograd tells its own temporaries by it. */
export function tensorCount(): number {
  return tensorsMade;
}

export class Tensor {
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: Node | null = null;
  private disposed = false;
  /** Construction order (see tensorCount). */
  readonly serial: number;

  constructor(
    public storage: Storage,
    public shape: number[],
    public strides: number[],
    public offset: number,
    public dtype: DType,
  ) {
    this.serial = tensorsMade++;
    storage.refs++;
    if (scopes.length) scopes[scopes.length - 1].add(this);
  }

  get device(): Device {
    return this.storage.device;
  }
  get handle(): Handle {
    // A disposed tensor's handle may already serve another tensor (spare handles, above). The ops
    // check their arguments first and name themselves (check.ts); this catches the rest.
    if (this.disposed) throw new ValueError(`a tensor of shape ${fmtShape(this.shape)} was used after dispose()`);
    return this.storage.handle;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  numel(): number {
    return numelOf(this.shape);
  }
  size(dim?: number): number | number[] {
    return dim === undefined ? this.shape.slice() : this.shape[S.normDim(dim, this.ndim, 'size')];
  }
  dim(): number {
    return this.shape.length;
  }

  isContiguous(): boolean {
    let acc = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== acc) return false;
      acc *= this.shape[d];
    }
    return true;
  }

  /** Frees the native memory now (once no other undisposed view shares it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    this.gradFn = null;
  }

  // --- autograd --------------------------------------------------------------------------------
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    runBackward(this, gradient, options.retainGraph ?? false);
  }
  /** Sets requiresGrad in place (leaf tensors only, as in PyTorch). */
  requiresGrad_(flag = true): this {
    if (!this.isLeaf && !flag) throw new ValueError('requiresGrad_: cannot turn off requiresGrad on a non-leaf tensor; use detach()');
    if (flag && !isFloating(this.dtype)) throw new DTypeError(`requiresGrad_: only floating point tensors can require gradients, got ${this.dtype}`);
    this.requiresGrad = flag;
    return this;
  }
  /** A tensor sharing this one's storage, cut from the graph. */
  detach(): Tensor {
    // a view of a disposed tensor would hold storage that may already serve another tensor
    if (this.disposed) throw disposedError('detach', this);
    return new Tensor(this.storage, this.shape.slice(), this.strides.slice(), this.offset, this.dtype);
  }

  // --- reading values -------------------------------------------------------------------------
  /** A typed-array copy of the elements in row-major order. */
  get data(): TypedArray {
    return this.hostData('data');
  }
  private hostData(op: string): TypedArray {
    const buf = hostBytes(this, op).buffer;
    // the 16-bit floats read back as float32 numbers (exact), as PyTorch's tolist() gives floats
    if (this.dtype === 'bfloat16' || this.dtype === 'float16') return halfBitsToFloat32(new Uint16Array(buf), this.dtype);
    return new TYPED_ARRAY[this.dtype](buf);
  }
  dataSync(): TypedArray {
    return this.data;
  }
  /** The value of a one-element tensor as a JS number. */
  item(): number {
    if (this.numel() !== 1) throw new ShapeError(`item: only one-element tensors can be converted to a number, got shape ${fmtShape(this.shape)}`);
    const v = this.hostData('item')[0];
    return typeof v === 'bigint' ? Number(v) : this.dtype === 'bool' ? Number(v !== 0) : (v as number);
  }
  /** Nested arrays of numbers (booleans for bool tensors). */
  toArray(): unknown {
    const flat = this.hostData('toArray');
    const get = (i: number): unknown => {
      const v = flat[i];
      if (typeof v === 'bigint') return Number(v);
      return this.dtype === 'bool' ? v !== 0 : v;
    };
    if (this.shape.length === 0) return get(0);
    let pos = 0;
    const build = (d: number): unknown[] => {
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[d]; i++) out.push(d === this.shape.length - 1 ? get(pos++) : build(d + 1));
      return out;
    };
    return build(0);
  }
  toString(): string {
    return `tensor(${JSON.stringify(this.toArray())}, dtype=${this.dtype}${this.device === 'cpu' ? '' : `, device='${this.device}'`}${this.requiresGrad ? ', requiresGrad=true' : ''})`;
  }

  // --- conversion -----------------------------------------------------------------------------
  /**
   * `.to('float64')` converts the dtype; `.to('cpu' | 'cuda' | 'cuda:1')` moves the tensor (a new
   * contiguous tensor on the target, differentiable: the gradient goes back to this device);
   * `.to({ device, dtype })` does both. Returns this tensor when nothing changes. Host-to-device
   * copies never make the host wait for the device; with `nonBlocking` from pinned memory the DMA
   * reads this tensor later (do not change it in place meanwhile), else it goes through a staging
   * buffer and this tensor is free at once. Device-to-host copies wait for the device.
   */
  to(target: DType | Device | { dtype?: DType; device?: Device; nonBlocking?: boolean }): Tensor {
    if (this.disposed) throw disposedError('to', this);
    let dtype: DType | undefined;
    let device: Device | undefined;
    if (typeof target === 'object' && target !== null) {
      dtype = target.dtype;
      if (target.device !== undefined) device = target.device === this.storage.device ? target.device : normalizeDevice(target.device, 'to');
    } else if (typeof target === 'string' && target in DTYPE_CODE) {
      dtype = target as DType;
    } else if (target === undefined || target === null) {
      return this; // PyTorch's t.to(None)
    } else {
      device = target === this.storage.device ? target : normalizeDevice(target, 'to');
    }
    if (dtype !== undefined && !(dtype in DTYPE_CODE)) throw new ValueError(`to: invalid dtype '${String(dtype)}'`);
    let out: Tensor = this;
    const move = device !== undefined && device !== this.storage.device;
    const cast = dtype !== undefined && dtype !== this.dtype;
    // Cast on the source when that shrinks what crosses, else after the move.
    if (move && cast && ITEM_SIZE[dtype!] < ITEM_SIZE[this.dtype]) out = E.cast(out, dtype!);
    if (move) out = moveTo(out, device!, typeof target === 'object' && target !== null && target.nonBlocking === true);
    if (cast && out.dtype !== dtype) out = E.cast(out, dtype!);
    return out;
  }
  /** A copy on cuda:`index` (default 0), or this tensor when it is there already. */
  cuda(index?: number): Tensor {
    return this.to(index === undefined ? 'cuda' : (`cuda:${index}` as Device));
  }
  /** A copy in page-locked host memory (this tensor when it is pinned already); see Storage.allocatePinned. */
  pinMemory(): Tensor {
    if (this.storage.device !== 'cpu') throw new DeviceError(`pinMemory: only CPU tensors can be pinned, but this one is on ${this.storage.device}`);
    if (this.storage.pinned) return this;
    const c = this.isContiguous() ? this : noGrad(() => this.contiguous());
    const size = ITEM_SIZE[c.dtype];
    const bytes = c.numel() * size;
    const out = new Tensor(Storage.allocatePinned(bytes), c.shape.slice(), contiguousStrides(c.shape), 0, c.dtype);
    if (bytes > 0) native.copy(out.handle, 0, c.handle, c.offset * size, bytes);
    if (c !== this) c.dispose();
    return isFloating(out.dtype) ? record('pinMemory', out, [this], (g) => [g]) : out;
  }
  /** Whether this tensor's memory is page-locked host memory. */
  isPinned(): boolean {
    return this.storage.pinned;
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  cpu(): Tensor {
    return this.to('cpu');
  }

  // --- element-wise ---------------------------------------------------------------------------
  add(o: Tensor | number, alpha = 1): Tensor {
    return E.add(this, o, alpha);
  }
  sub(o: Tensor | number): Tensor {
    return E.sub(this, o);
  }
  mul(o: Tensor | number): Tensor {
    return E.mul(this, o);
  }
  div(o: Tensor | number): Tensor {
    return E.div(this, o);
  }
  pow(o: Tensor | number): Tensor {
    return E.pow(this, o);
  }
  neg(): Tensor {
    return E.neg(this);
  }
  exp(): Tensor {
    return E.exp(this);
  }
  log(): Tensor {
    return E.log(this);
  }
  sqrt(): Tensor {
    return E.sqrt(this);
  }
  abs(): Tensor {
    return E.abs(this);
  }
  square(): Tensor {
    return E.mul(this, this);
  }
  maximum(o: Tensor): Tensor {
    return E.maximum(this, o);
  }
  minimum(o: Tensor): Tensor {
    return E.minimum(this, o);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return E.clamp(this, min ?? null, max ?? null);
  }
  eq(o: Tensor | number): Tensor {
    return E.compare('eq', this, o);
  }
  ne(o: Tensor | number): Tensor {
    return E.compare('ne', this, o);
  }
  lt(o: Tensor | number): Tensor {
    return E.compare('lt', this, o);
  }
  le(o: Tensor | number): Tensor {
    return E.compare('le', this, o);
  }
  gt(o: Tensor | number): Tensor {
    return E.compare('gt', this, o);
  }
  ge(o: Tensor | number): Tensor {
    return E.compare('ge', this, o);
  }
  relu(): Tensor {
    return opsRegistry.relu(this);
  }
  sigmoid(): Tensor {
    return opsRegistry.sigmoid(this);
  }
  tanh(): Tensor {
    return opsRegistry.tanh(this);
  }
  matmul(o: Tensor): Tensor {
    return opsRegistry.matmul(this, o);
  }
  softmax(dim: number): Tensor {
    return opsRegistry.softmax(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return opsRegistry.logSoftmax(this, dim);
  }

  // --- reductions -----------------------------------------------------------------------------
  sum(dim?: number | number[], keepdim = false): Tensor {
    return R.sum(this, dim, keepdim);
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return R.mean(this, dim, keepdim);
  }
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? R.maxAll(this) : R.maxDim(this, dim, keepdim, 'max');
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? R.minAll(this) : R.maxDim(this, dim, keepdim, 'min');
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return R.argmax(this, dim, keepdim, 'argmax');
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return R.argmax(this, dim, keepdim, 'argmin');
  }

  // --- views and copies -----------------------------------------------------------------------
  reshape(...shape: (number | number[])[]): Tensor {
    return S.reshape(this, S.shapeArgs(shape));
  }
  view(...shape: (number | number[])[]): Tensor {
    return S.view(this, S.shapeArgs(shape));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return S.flatten(this, startDim, endDim);
  }
  permute(...dims: (number | number[])[]): Tensor {
    return S.permute(this, S.shapeArgs(dims));
  }
  transpose(d0: number, d1: number): Tensor {
    return S.transpose(this, d0, d1);
  }
  get T(): Tensor {
    return S.transpose(this, 0, 1);
  }
  t(): Tensor {
    if (this.ndim > 2) throw new ShapeError(`t: expects a tensor with <= 2 dimensions, but got shape ${fmtShape(this.shape)}`);
    return this.ndim < 2 ? this : S.transpose(this, 0, 1);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return S.narrow(this, dim, start, length);
  }
  slice(dim: number, start: number, end?: number): Tensor {
    const d = S.normDim(dim, this.ndim, 'slice');
    const n = this.shape[d];
    const s = Math.max(0, Math.min(n, start < 0 ? start + n : start));
    const e = Math.max(s, Math.min(n, end === undefined ? n : end < 0 ? end + n : end));
    return S.narrow(this, d, s, e - s);
  }
  select(dim: number, index: number): Tensor {
    return S.select(this, dim, index);
  }
  squeeze(dim?: number): Tensor {
    return S.squeeze(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return S.unsqueeze(this, dim);
  }
  expand(...shape: (number | number[])[]): Tensor {
    return S.expand(this, S.shapeArgs(shape));
  }
  contiguous(): Tensor {
    return this.isContiguous() ? this : S.contiguous(this);
  }
  clone(): Tensor {
    return S.clone(this);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return S.indexSelect(this, dim, index);
  }
  onesLike(): Tensor {
    return full(this.shape, 1, { dtype: this.dtype, device: this.device });
  }
  zerosLike(): Tensor {
    return full(this.shape, 0, { dtype: this.dtype, device: this.device });
  }

  // --- in place (no autograd: for init, optimizers and buffers) -------------------------------
  /** Fills with `value` in place; a value that does not fit the dtype is a ValueError, as in PyTorch. */
  fill_(value: number): this {
    return this.fillAs('fill_', value);
  }
  zero_(): this {
    return this.fillAs('zero_', 0);
  }
  private fillAs(op: string, value: number): this {
    const t = this.contiguousOrThrow(op);
    native.fill(t.handle, t.offset, t.numel(), DTYPE_CODE[t.dtype], checkScalar(value, t.dtype, op));
    this.storage.version++;
    return this;
  }
  /** Copies src's values into this tensor (same shape; dtype converted). */
  copy_(src: Tensor): this {
    checkTensor(src, 'copy_', 'src');
    if (src.shape.join(',') !== this.shape.join(',')) throw new ShapeError(`copy_: source shape ${fmtShape(src.shape)} does not match destination ${fmtShape(this.shape)}`);
    const t = this.contiguousOrThrow('copy_');
    let s = src.dtype === this.dtype ? src : E.cast(src, this.dtype);
    if (s.device !== this.device) s = noGrad(() => moveTo(s, this.device));
    s = s.contiguous();
    native.copyStrided(t.handle, t.offset, s.handle, s.offset, s.shape, s.strides, DTYPE_CODE[t.dtype]);
    this.storage.version++;
    return this;
  }
  uniform_(lo = 0, hi = 1, generator: Generator = defaultGenerator): this {
    const t = this.contiguousOrThrow('uniform_');
    // (infinite bounds are let through: nn.init gives them to zero-element tensors, where they do nothing)
    if (typeof lo !== 'number' || typeof hi !== 'number' || !(lo <= hi)) throw new ValueError(`uniform_: expects a range [lo, hi] with lo <= hi, but got lo=${describe(lo)}, hi=${describe(hi)}`);
    checkGenerator(generator, 'uniform_');
    const [a, b] = generator.nextSeed();
    native.uniform(t.handle, t.offset, t.numel(), DTYPE_CODE[t.dtype], lo, hi, a, b);
    this.storage.version++;
    return this;
  }
  normal_(mean = 0, std = 1, generator: Generator = defaultGenerator): this {
    const t = this.contiguousOrThrow('normal_');
    if (typeof mean !== 'number' || typeof std !== 'number' || !(std >= 0)) throw new ValueError(`normal_: expects a number mean and std >= 0, but got mean=${describe(mean)}, std=${describe(std)}`);
    checkGenerator(generator, 'normal_');
    const [a, b] = generator.nextSeed();
    native.normal(t.handle, t.offset, t.numel(), DTYPE_CODE[t.dtype], mean, std, a, b);
    this.storage.version++;
    return this;
  }
  /** Replaces this tensor's contents and dtype by other's, keeping object identity (Module.to). */
  _setData(other: Tensor): this {
    other.storage.refs++;
    if (!this.disposed) this.storage.release();
    this.disposed = false;
    this.storage = other.storage;
    this.shape = other.shape.slice();
    this.strides = other.strides.slice();
    this.offset = other.offset;
    this.dtype = other.dtype;
    return this;
  }

  private contiguousOrThrow(op: string): Tensor {
    if (this.disposed) throw disposedError(op, this);
    if (!this.isContiguous()) throw new ValueError(`${op}: in-place ops need a contiguous tensor, got strides ${fmtShape(this.strides)} for shape ${fmtShape(this.shape)}`);
    if (isGradEnabled() && this.requiresGrad) {
      // PyTorch refuses a leaf (the write would bypass the graphs that read it; parameter updates
      // belong in noGrad()); a graph tensor is refused too, as nothing here records in-place ops.
      if (this.isLeaf) {
        throw new AutogradError(`${op}: a leaf tensor that requires grad (shape ${fmtShape(this.shape)}) is being used in an in-place operation; do it inside noGrad(), as optimizers and nn.init do`);
      }
      throw new AutogradError(`${op}: in-place op on a tensor that is part of an autograd graph`);
    }
    return this;
  }
}

/**
 * Ops whose modules import Tensor at load time register here, so that tensor.ts does not import
 * every op family (and the families stay independent of each other).
 */
export const opsRegistry: {
  relu(x: Tensor): Tensor;
  sigmoid(x: Tensor): Tensor;
  tanh(x: Tensor): Tensor;
  matmul(a: Tensor, b: Tensor): Tensor;
  softmax(x: Tensor, dim: number): Tensor;
  logSoftmax(x: Tensor, dim: number): Tensor;
} = {
  relu: missing('relu'),
  sigmoid: missing('sigmoid'),
  tanh: missing('tanh'),
  matmul: missing('matmul'),
  softmax: missing('softmax'),
  logSoftmax: missing('logSoftmax'),
};

function missing(name: string): never & ((...a: unknown[]) => Tensor) {
  return (() => {
    throw new Error(`${name}: op not registered (import 'tensile' rather than 'tensile/dist/tensor')`);
  }) as never;
}

export type { BackwardFn };

// ---------------------------------------------------------------------------------------------
// creation
//
// Every factory checks its arguments under its own name (zeros, not empty): the shape (an array of
// non-negative integers, not too large), the options object, the dtype, and a fill value that fits
// the dtype. Ops call empty() and full() for their outputs, so the checks here stay cheap.

function checkGenerator(g: unknown, op: string): void {
  if (!(g instanceof Generator)) throw new ValueError(`${op}: expected a Generator for 'generator', got ${describe(g)}`);
}

/**
 * empty() under the name of the factory that called it; requiresGrad is left to the caller. Every
 * op's output comes through here: the checks are inline tests, and the check.ts functions that word
 * the errors are only called once a test fails.
 */
function emptyOf(op: string, shape: readonly number[], options: TensorOptions): Tensor {
  if (typeof options !== 'object' || options === null) checkOptions(options, op);
  const dtype = options.dtype ?? 'float32';
  const itemSize = ITEM_SIZE[dtype];
  if (typeof itemSize !== 'number') checkDType(dtype, op);
  // the sizes checked and multiplied in one pass; NaN marks a bad one
  let n = Array.isArray(shape) ? 1 : NaN;
  for (let i = 0; n === n && i < shape.length; i++) {
    const d = shape[i];
    n = Number.isInteger(d) && d >= 0 ? n * d : NaN;
  }
  if (!(n < MAX_NUMEL)) checkShape(shape, op);
  const device = usableDevice(options.device ?? 'cpu', op);
  const bytes = n * itemSize;
  let storage: Storage;
  if (options.pinMemory) {
    if (device !== 'cpu') throw new DeviceError(`${op}: only CPU tensors can be pinned, but the device is '${device}'`);
    storage = Storage.allocatePinned(bytes);
  } else {
    storage = Storage.allocate(bytes, device);
  }
  return new Tensor(storage, shape.slice(), contiguousStrides(shape), 0, dtype);
}

/** An uninitialised contiguous tensor. */
export function empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
  const t = emptyOf('empty', shape, options);
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** full() under the name of its caller (zeros, ones, an op turning a number operand into a tensor). */
export function fullOf(op: string, shape: readonly number[], value: number, options: TensorOptions): Tensor {
  const t = emptyOf(op, shape, options);
  let v: number;
  try {
    v = checkScalar(value, t.dtype, op);
  } catch (e) {
    t.dispose();
    throw e;
  }
  native.fill(t.handle, 0, t.numel(), DTYPE_CODE[t.dtype], v);
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  return fullOf('full', shape, value, options);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return fullOf('zeros', shape, 0, options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return fullOf('ones', shape, 1, options);
}

export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  checkTensor(t, 'zerosLike', 'input');
  checkOptions(options, 'zerosLike');
  return fullOf('zerosLike', t.shape, 0, { dtype: t.dtype, device: t.device, ...options });
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  checkTensor(t, 'onesLike', 'input');
  checkOptions(options, 'onesLike');
  return fullOf('onesLike', t.shape, 1, { dtype: t.dtype, device: t.device, ...options });
}

/** Uniform on [0, 1) from the seeded generator. */
export function rand(shape: readonly number[], options: TensorOptions & { generator?: Generator } = {}): Tensor {
  const t = emptyOf('rand', shape, options).uniform_(0, 1, options.generator);
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** Standard normal from the seeded generator. */
export function randn(shape: readonly number[], options: TensorOptions & { generator?: Generator } = {}): Tensor {
  const t = emptyOf('randn', shape, options).normal_(0, 1, options.generator);
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** Integers uniform on [low, high); both must be integers that the dtype (default int64) holds. */
export function randint(low: number, high: number, shape: readonly number[], options: TensorOptions & { generator?: Generator } = {}): Tensor {
  const op = 'randint';
  checkInteger(low, op, 'low');
  checkInteger(high, op, 'high');
  // PyTorch's wording (randint is random_ underneath): an empty range has nothing to draw from
  if (!(low < high)) throw new ValueError(`randint: random_ expects 'from' to be less than 'to', but got from=${low} >= to=${high}`);
  checkShape(shape, op);
  checkOptions(options, op);
  const dtype = options.dtype ?? 'int64';
  checkDType(dtype, op);
  checkScalar(low, dtype, op, 'low');
  checkScalar(high - 1, dtype, op, 'high - 1');
  const g = options.generator ?? defaultGenerator;
  checkGenerator(g, op);
  const n = numelOf(shape);
  const vals = new Float64Array(n);
  for (let i = 0; i < n; i++) vals[i] = low + g.randint(high - low);
  return fromTypedArray(vals, shape, { dtype, device: options.device });
}

/** [start, end) by step; arange(end) starts at 0. Integer arguments give int64, others float32. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const op = 'arange';
  if (end === undefined) {
    checkFinite(start, op, 'end');
    end = start;
    start = 0;
  }
  checkFinite(start, op, 'start');
  checkFinite(end, op, 'end');
  checkFinite(step, op, 'step');
  if (step === 0) throw new ValueError('arange: step must be nonzero');
  // PyTorch's message, word for word: a step away from end would otherwise give an empty tensor
  if (step > 0 ? end < start : end > start) throw new ValueError(`arange: upper bound and larger bound inconsistent with step sign (start ${start}, end ${end}, step ${step})`);
  checkOptions(options, op);
  const n = Math.ceil((end - start) / step);
  checkShape([n], op);
  const allInts = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const vals = new Float64Array(n);
  for (let i = 0; i < n; i++) vals[i] = start + i * step;
  return fromTypedArray(vals, [n], { dtype: options.dtype ?? (allInts ? 'int64' : 'float32'), device: options.device });
}

/**
 * The bytes of a tensor's elements in row-major order, as stored (16-bit floats as their bit
 * patterns), in a fresh ArrayBuffer of their own; a device tensor's are read back from the device.
 */
export function hostBytes(t: Tensor, op = 'hostBytes'): Uint8Array {
  if (t.isDisposed) throw disposedError(op, t);
  const c = t.isContiguous() ? t : t.contiguous();
  const size = ITEM_SIZE[c.dtype];
  const bytes = new Uint8Array(native.read(c.handle, c.offset * size, c.numel() * size));
  if (c !== t) c.dispose();
  return bytes;
}

/** Copies a typed array into a new tensor; the dtype follows the array unless given. */
export function fromTypedArray(data: ArrayBufferView, shape?: readonly number[], options: TensorOptions = {}): Tensor {
  const op = 'fromTypedArray';
  if (!ArrayBuffer.isView(data) || data instanceof DataView) throw new ValueError(`${op}: expected a typed array for 'data', got ${describe(data)}`);
  const srcDtype = dtypeOfTypedArray(data);
  const n = (data as TypedArray).length;
  const sh = shape ?? [n];
  checkShape(sh, op);
  if (numelOf(sh) !== n) throw new ShapeError(`fromTypedArray: shape ${fmtShape(sh)} needs ${numelOf(sh)} elements but the array has ${n}`);
  if (options.dtype !== undefined) checkDType(options.dtype, op);
  let t = empty(sh, { dtype: srcDtype, device: 'cpu' });
  native.write(t.handle, 0, data);
  if (options.dtype && options.dtype !== srcDtype) t = E.cast(t, options.dtype);
  if (options.device && options.device !== 'cpu') {
    const moved = t.to(options.device);
    t.dispose();
    t = moved;
  }
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

type Nested = number | boolean | Nested[];

/** tensor(values): a number, nested arrays, or a typed array with { shape }. */
export function tensor(values: Nested | ArrayBufferView | Tensor, options: TensorOptions & { shape?: number[] } = {}): Tensor {
  const op = 'tensor';
  checkOptions(options, op);
  if (values instanceof Tensor) {
    checkTensor(values, op, 'values');
    return fromTypedArray(values.data, values.shape, { dtype: values.dtype, device: values.device, ...options });
  }
  if (ArrayBuffer.isView(values)) return fromTypedArray(values, options.shape, options);
  const shape: number[] = [];
  let probe: Nested = values as Nested;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat: number[] = [];
  let sawBool = false;
  let allInts = true;
  const walk = (v: Nested, d: number): void => {
    if (Array.isArray(v)) {
      if (v.length !== shape[d]) throw new ShapeError(`tensor: ragged nested array: expected ${shape[d]} elements at depth ${d} but found ${v.length}`);
      for (const x of v) walk(x, d + 1);
    } else {
      if (d !== shape.length) throw new ShapeError(`tensor: ragged nested array at depth ${d}`);
      if (typeof v === 'boolean') sawBool = true;
      else if (typeof v !== 'number') throw new ValueError(`tensor: expected numbers or booleans, got ${describe(v)} (element ${flat.length})`);
      const x = Number(v);
      if (!Number.isInteger(x)) allInts = false;
      flat.push(x);
    }
  };
  walk(values as Nested, 0);
  // PyTorch's inference: booleans give bool, all-integer values int64, anything else float32.
  const dtype = options.dtype ?? (sawBool ? 'bool' : allInts && flat.length > 0 ? 'int64' : 'float32');
  checkDType(dtype, op);
  // into an integer dtype every value must fit (NaN, infinities, 2**40 into int32): as full()
  if (!isFloating(dtype) && dtype !== 'bool') {
    for (let i = 0; i < flat.length; i++) checkScalar(flat[i], dtype, op, `element ${i}`);
  }
  return fromTypedArray(Float64Array.from(flat), options.shape ?? shape, { ...options, dtype });
}
