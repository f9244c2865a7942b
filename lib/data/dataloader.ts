// DataLoader: batches of a dataset, in order or shuffled (seeded per epoch), in the main thread
// or prepared ahead by worker threads. Both `for...of` and `for await...of` work.
//
//   const loader = new DataLoader(train, { batchSize: 20, shuffle: true, seed: 0, numWorkers: 2 });
//   for (const [x, y] of loader) { ... }       // one epoch per loop; the next loop is epoch 1
//
// Determinism: the loader's seed (given, or drawn once from the generator at construction) and
// the epoch decide the order (a permutation keyed by (seed, epoch)) and every random transform
// (keyed by (seed, epoch, sample index)). Workers never add randomness of their own, so
// numWorkers 2 yields exactly the batches of numWorkers 0.
//
// How a batch is made, in the main thread: with the default collate and a dataset that has a
// batch path (`getBatch`, e.g. FashionMNIST, TensorDataset), that path; otherwise `get` per sample
// and the collate function. With workers: each worker rebuilds the dataset from `describe()` and
// sends typed arrays back; the main thread wraps them into tensors (one copy each). A dataset that
// cannot describe itself loads in the main thread (with a warning). Sync iteration with workers
// blocks in Atomics.wait between batches; async iteration awaits without blocking the event loop.
import { ValueError } from '../errors';
import { Generator, defaultGenerator } from '../random';
import { BatchContext, DatasetDescription, decodeTree } from './batch';
import { Collated, decodeToTensors, defaultCollate, pinTree, withPinnedMemory, wrapArrayTensor } from './collate';
import type { DatasetLike } from './dataset';
import { epochPermutation } from './rng';
import { WorkerMode, WorkerPool, WorkerResult, rebuildError } from './worker_pool';

export interface DataLoaderOptions<S, B> {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Reshuffle every epoch (default false: dataset order). */
  shuffle?: boolean;
  /** Seed of the order and of random transforms. Default: drawn once from `generator`. */
  seed?: number | bigint;
  /** Where the seed comes from when `seed` is not given (default: the global generator). */
  generator?: Generator;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Merges a list of samples into a batch (default: defaultCollate). */
  collate?: (samples: S[]) => B;
  /** Worker threads preparing batches ahead (default 0: load in the calling thread). */
  numWorkers?: number;
  /** Batches in flight per worker (default 2): the bound of the prefetch queue. */
  prefetchFactor?: number;
  /**
   * Milliseconds to wait for a worker's batch before failing (default 0: no limit). A worker
   * whose thread ends fails the iteration at once, whatever the timeout.
   */
  timeout?: number;
  /**
   * Put every batch's tensors in page-locked host memory (PyTorch's pin_memory), from which
   * `.to('cuda')` copies run asynchronously; batches from workers too. Without a usable CUDA
   * device the batches are the same, in ordinary memory. Default false.
   */
  pinMemory?: boolean;
}

const MAX_SEED = 2 ** 53;

function checkInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ValueError(`DataLoader: ${name} must be an integer >= ${min} but got ${String(v)}`);
  }
  return v;
}

export class DataLoader<S = unknown, B = Collated<S>> implements Iterable<B>, AsyncIterable<B> {
  readonly dataset: DatasetLike<S>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly numWorkers: number;
  readonly prefetchFactor: number;
  readonly timeout: number;
  readonly pinMemory: boolean;
  /** The seed of every epoch's order and random transforms. */
  readonly seed: number;
  /** The epoch the next iteration runs (counts up by one per `for` loop). */
  epoch = 0;
  private readonly collateFn: ((samples: S[]) => B) | null;
  private warned = false;

  constructor(dataset: DatasetLike<S>, options: DataLoaderOptions<S, B> = {}) {
    if (!dataset || typeof dataset.get !== 'function' || typeof dataset.length !== 'number') {
      throw new ValueError('DataLoader: expected a dataset with a numeric length and a get(i) method');
    }
    if (options === null || typeof options !== 'object') throw new ValueError(`DataLoader: expected an options object but received ${String(options)}`);
    const known = ['batchSize', 'shuffle', 'seed', 'generator', 'dropLast', 'collate', 'numWorkers', 'prefetchFactor', 'timeout', 'pinMemory'];
    for (const k of Object.keys(options)) {
      if (!known.includes(k)) throw new ValueError(`DataLoader: unknown option '${k}' (expected one of ${known.join(', ')})`);
    }
    this.dataset = dataset;
    this.batchSize = checkInt('batchSize', options.batchSize ?? 1, 1);
    this.shuffle = !!options.shuffle;
    this.dropLast = !!options.dropLast;
    this.numWorkers = checkInt('numWorkers', options.numWorkers ?? 0, 0);
    this.prefetchFactor = checkInt('prefetchFactor', options.prefetchFactor ?? 2, 1);
    this.timeout = checkInt('timeout', options.timeout ?? 0, 0);
    if (options.pinMemory !== undefined && typeof options.pinMemory !== 'boolean') throw new ValueError(`DataLoader: pinMemory must be a boolean but received ${String(options.pinMemory)}`);
    this.pinMemory = options.pinMemory ?? false;
    if (options.collate !== undefined && typeof options.collate !== 'function') throw new ValueError(`DataLoader: collate must be a function but received ${typeof options.collate}`);
    this.collateFn = options.collate ?? null;
    if (options.seed !== undefined) {
      const s = options.seed;
      if (typeof s === 'bigint' ? s < 0n : !Number.isInteger(s) || s < 0) throw new ValueError(`DataLoader: seed must be a non-negative integer but got ${String(s)}`);
      this.seed = typeof s === 'bigint' ? Number(s % BigInt(MAX_SEED)) : s % MAX_SEED;
    } else {
      const g = options.generator ?? defaultGenerator;
      if (!(g instanceof Generator)) throw new ValueError('DataLoader: generator must be a tensile Generator');
      this.seed = Number(g.nextBits() >> 11n);
    }
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Sets the epoch the next iteration runs (to resume, or to replay one). */
  setEpoch(epoch: number): this {
    this.epoch = checkInt('epoch', epoch, 0);
    return this;
  }

  /** The dataset indices of every batch of an epoch. */
  batchIndices(epoch = this.epoch): Int32Array[] {
    const n = this.dataset.length;
    let order: Int32Array;
    if (this.shuffle) order = epochPermutation(n, this.seed, epoch);
    else {
      order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
    }
    const out: Int32Array[] = [];
    for (let s = 0; s < n; s += this.batchSize) {
      if (this.dropLast && s + this.batchSize > n) break;
      out.push(order.subarray(s, Math.min(n, s + this.batchSize)));
    }
    return out;
  }

  [Symbol.iterator](): IterableIterator<B> & { return(): IteratorResult<B> } {
    const run = new EpochRun(this, this.epoch++, false);
    const it = {
      next: (): IteratorResult<B> => run.nextSync(),
      return: (): IteratorResult<B> => {
        run.close();
        return { done: true, value: undefined };
      },
      [Symbol.iterator]() {
        return it;
      },
    };
    run.watch(it);
    return it as IterableIterator<B> & { return(): IteratorResult<B> };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<B> & { return(): Promise<IteratorResult<B>> } {
    const run = new EpochRun(this, this.epoch++, true);
    let chain: Promise<unknown> = Promise.resolve();
    const it = {
      // Calls queue up, so that next() twice without await still gets batches in order.
      next: (): Promise<IteratorResult<B>> => {
        const p = chain.then(() => run.nextAsync());
        chain = p.catch(() => undefined);
        return p;
      },
      return: async (): Promise<IteratorResult<B>> => {
        run.close();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    run.watch(it);
    return it as AsyncIterableIterator<B> & { return(): Promise<IteratorResult<B>> };
  }

  // -- internals used by EpochRun ----------------------------------------------------------------

  /** One batch in this thread. */
  _loadInThread(indices: Int32Array, ctx: BatchContext): B {
    return this.pinMemory ? (pinTree(withPinnedMemory(() => this._load(indices, ctx))) as B) : this._load(indices, ctx);
  }

  private _load(indices: Int32Array, ctx: BatchContext): B {
    const ds = this.dataset;
    if (!this.collateFn && typeof ds.getBatch === 'function') return ds.getBatch(indices, ctx) as B;
    const samples = Array.from(indices, (i) => ds.get(i, { seed: ctx.seed, epoch: ctx.epoch, index: i }));
    return this.collateFn ? this.collateFn(samples) : (defaultCollate(samples) as B);
  }

  /** How workers would run this dataset, or null to load in this thread. */
  _workerPlan(): { mode: WorkerMode; dataset: DatasetDescription } | null {
    if (this.numWorkers === 0) return null;
    const desc = typeof this.dataset.describe === 'function' ? this.dataset.describe() : null;
    if (!desc) {
      if (!this.warned) {
        this.warned = true;
        const name = (this.dataset as object).constructor?.name ?? 'dataset';
        process.emitWarning(
          `DataLoader: ${name} cannot be rebuilt in a worker thread (it has a user transform, or no describe()); loading in the main thread instead of ${this.numWorkers} workers`,
          { code: 'TENSILE_DATALOADER_INTHREAD' },
        );
      }
      return null;
    }
    const mode: WorkerMode = this.collateFn ? 'samples' : desc.kind === 'module' ? 'collate' : 'batch';
    return { mode, dataset: desc };
  }

  /** Turns a worker's answer into the batch. */
  _decode(r: WorkerResult, where: string): B {
    if (!r.ok) throw rebuildError(r.error, where);
    return this.pinMemory ? (pinTree(withPinnedMemory(() => this._decodeOk(r))) as B) : this._decodeOk(r);
  }

  private _decodeOk(r: WorkerResult & { ok: true }): B {
    if (!this.collateFn) return decodeToTensors(r.tree, r.arrays) as B;
    const samples = decodeTree(r.tree, r.arrays, wrapArrayTensor) as S[];
    return this.collateFn(samples);
  }
}

// Terminates the workers of an iterator that was dropped without finishing or `return()`.
const abandoned = new FinalizationRegistry<EpochRun<unknown, unknown>>((run) => run.close());

/** One pass over the data: the batches of one epoch, in this thread or from a worker pool. */
class EpochRun<S, B> {
  private readonly batches: Int32Array[];
  private readonly ctx: BatchContext;
  private b = 0;
  private submitted = 0;
  private pool: WorkerPool | null = null;
  private plan: ReturnType<DataLoader<S, B>['_workerPlan']> | undefined;
  private finished = false;

  constructor(
    private readonly loader: DataLoader<S, B>,
    readonly epoch: number,
    private readonly async: boolean,
  ) {
    this.batches = loader.batchIndices(epoch);
    this.ctx = { seed: loader.seed, epoch };
  }

  watch(iterator: object): void {
    abandoned.register(iterator, this as unknown as EpochRun<unknown, unknown>, this);
  }

  private startPool(): WorkerPool | null {
    if (this.plan === undefined) this.plan = this.loader._workerPlan();
    if (!this.plan || this.pool) return this.pool;
    const plan = this.plan;
    const n = Math.min(this.loader.numWorkers, Math.max(1, this.batches.length));
    this.pool = new WorkerPool(n, (workerId) => ({ dataset: plan.dataset, mode: plan.mode, seed: this.ctx.seed, epoch: this.epoch, workerId }), this.async);
    return this.pool;
  }

  /** Keeps the bounded queue full: at most prefetchFactor * workers batches in flight. */
  private fill(pool: WorkerPool): void {
    const cap = this.loader.prefetchFactor * pool.size;
    while (this.submitted < this.batches.length && this.submitted - this.b < cap) {
      // A copy: posting a view would clone the whole epoch permutation behind it.
      pool.submit(this.submitted, this.batches[this.submitted].slice());
      this.submitted++;
    }
  }

  private where(b: number): string {
    return `in DataLoader worker ${b % (this.pool?.size ?? 1)}, batch ${b} of epoch ${this.epoch}`;
  }

  nextSync(): IteratorResult<B> {
    if (this.finished || this.b >= this.batches.length) return this.finish();
    try {
      const pool = this.startPool();
      if (!pool) return { done: false, value: this.loader._loadInThread(this.batches[this.b++], this.ctx) };
      this.fill(pool);
      const b = this.b;
      const r = pool.takeSync(b, this.loader.timeout);
      this.b++;
      this.fill(pool);
      if (this.b >= this.batches.length) pool.close();
      return { done: false, value: this.loader._decode(r, this.where(b)) };
    } catch (e) {
      this.close();
      throw e;
    }
  }

  async nextAsync(): Promise<IteratorResult<B>> {
    if (this.finished || this.b >= this.batches.length) return this.finish();
    try {
      const pool = this.startPool();
      if (!pool) return { done: false, value: this.loader._loadInThread(this.batches[this.b++], this.ctx) };
      this.fill(pool);
      const b = this.b;
      const r = await pool.take(b, this.loader.timeout);
      this.b++;
      this.fill(pool);
      if (this.b >= this.batches.length) pool.close();
      return { done: false, value: this.loader._decode(r, this.where(b)) };
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private finish(): IteratorResult<B> {
    this.close();
    return { done: true, value: undefined };
  }

  close(): void {
    this.finished = true;
    abandoned.unregister(this);
    if (this.pool) this.pool.close();
  }
}
