// The main-thread side of DataLoader workers: worker_threads that prepare batches ahead of the
// training loop. One pool serves one pass over the data (an epoch) and is terminated when the
// pass ends, breaks or fails.
//
// Protocol. Each worker gets its own MessageChannel port and a shared Int32 counter. The main
// thread posts tasks {b, indices} to worker b % n (round robin, as PyTorch does), keeping at most
// prefetchFactor * n batches in flight (the bounded prefetch queue). A worker answers with
// {b, ok, tree, arrays} (typed arrays transferred, not copied), then bumps the counter and
// notifies it. Waiting for batch b:
//   - sync (`for...of`): drain the ports with receiveMessageOnPort and sleep in Atomics.wait on
//     the counter until it moves: the main thread blocks, as a synchronous loop must;
//   - async (`for await`): a 'message' listener resolves a promise; the event loop stays free.
// Workers and ports are unref'd except while an async wait is pending, so a forgotten iterator
// never keeps the process alive at exit.
import * as fs from 'fs';
import * as path from 'path';
import { MessageChannel, MessagePort, Worker, receiveMessageOnPort } from 'worker_threads';
import { ERROR_CLASSES } from '../errors';
import type { AnyArray, DatasetDescription, Encoded } from './batch';

/** What a worker does with a list of indices. */
export type WorkerMode =
  /** the dataset's batch path (built-in datasets, default collate) */
  | 'batch'
  /** get() per sample, then default collate on arrays (a user dataset from a module) */
  | 'collate'
  /** get() per sample, sent as is: the main thread runs the custom collate */
  | 'samples';

export interface WorkerInit {
  dataset: DatasetDescription;
  mode: WorkerMode;
  seed: number;
  epoch: number;
  workerId: number;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export type WorkerResult = { b: number; ok: true; tree: Encoded; arrays: AnyArray[] } | { b: number; ok: false; error: SerializedError };

/** The compiled worker entry (worker threads cannot run TypeScript). */
export function workerEntry(): string {
  const fromTs = __filename.endsWith('.ts');
  // Running from the TypeScript sources (ts-jest): use the compiled copy in dist/.
  const entry = fromTs ? path.join(__dirname, '..', '..', 'dist', 'data', 'worker.js') : path.join(__dirname, 'worker.js');
  if (!fs.existsSync(entry)) {
    throw new Error(`DataLoader: numWorkers > 0 needs the compiled worker ${entry}; run \`npm run build:ts\` (worker threads cannot run TypeScript)`);
  }
  if (fromTs && !staleChecked) {
    staleChecked = true;
    const built = fs.statSync(entry).mtimeMs;
    const newer = fs.readdirSync(__dirname).filter((f) => f.endsWith('.ts') && fs.statSync(path.join(__dirname, f)).mtimeMs > built);
    if (newer.length) process.emitWarning(`DataLoader: ${entry} is older than lib/data/${newer[0]}; run \`npm run build:ts\` so that workers run the current code`, { code: 'TENSILE_STALE_DIST' });
  }
  return entry;
}
let staleChecked = false;

/** Rebuilds a worker's error in the main thread, same class (tensile's or a built-in). */
export function rebuildError(e: SerializedError, where: string): Error {
  const classes = ERROR_CLASSES as Record<string, new (m: string) => Error>;
  const builtins: Record<string, new (m: string) => Error> = { TypeError, RangeError, SyntaxError, ReferenceError };
  const Cls = e.name === 'TensileError' ? classes.Error : e.name !== 'Error' && classes[e.name] ? classes[e.name] : builtins[e.name] ?? Error;
  const err = new Cls(`${e.message} (${where})`);
  if (e.stack) err.stack = `${err.stack}\n    --- in the worker:\n${e.stack}`;
  return err;
}

let live = 0;

/** Worker threads started by DataLoaders and not yet terminated (for tests and diagnostics). */
export function liveWorkerThreads(): number {
  return live;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly results = new Map<number, WorkerResult>();
  private readonly waiters = new Map<number, { resolve: (r: WorkerResult) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout }>();
  /** A worker that died or reported an uncaught error (index -> error). */
  private readonly fatal = new Map<number, Error>();
  private closed = false;

  constructor(
    readonly size: number,
    init: (workerId: number) => WorkerInit,
    readonly async: boolean,
  ) {
    const entry = workerEntry();
    for (let k = 0; k < size; k++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(entry, {
        workerData: { ...init(k), port: port2, signal: this.signal.buffer },
        transferList: [port2],
      });
      worker.unref();
      worker.on('error', (e) => this.fail(k, e instanceof Error ? e : new Error(String(e))));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(k, new Error(`DataLoader worker ${k} exited unexpectedly with code ${code}`));
      });
      if (async) {
        port1.on('message', (m: WorkerResult) => this.receive(k, m));
        port1.unref();
      }
      this.workers.push(worker);
      this.ports.push(port1);
      live++;
    }
  }

  submit(b: number, indices: Int32Array): void {
    this.ports[b % this.size].postMessage({ b, indices });
  }

  private receive(k: number, m: WorkerResult): void {
    if (m.b < 0) {
      // An uncaught error in the worker, outside any task.
      this.fail(k, rebuildError((m as { error: SerializedError }).error, `in DataLoader worker ${k}`));
      return;
    }
    const w = this.waiters.get(m.b);
    if (w) {
      this.waiters.delete(m.b);
      if (w.timer) clearTimeout(w.timer);
      this.ports[k].unref();
      w.resolve(m);
    } else {
      this.results.set(m.b, m);
    }
  }

  private fail(k: number, e: Error): void {
    if (this.closed || this.fatal.has(k)) return;
    this.fatal.set(k, e);
    for (const [b, w] of this.waiters) {
      if (b % this.size === k) {
        this.waiters.delete(b);
        if (w.timer) clearTimeout(w.timer);
        w.reject(e);
      }
    }
  }

  private drain(): void {
    for (let k = 0; k < this.size; k++) {
      for (let m = receiveMessageOnPort(this.ports[k]); m; m = receiveMessageOnPort(this.ports[k])) this.receive(k, m.message as WorkerResult);
    }
  }

  /** Blocks until batch b is there (sync iteration). timeoutMs 0 waits for ever. */
  takeSync(b: number, timeoutMs: number): WorkerResult {
    const k = b % this.size;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      this.drain();
      const r = this.results.get(b);
      if (r) {
        this.results.delete(b);
        return r;
      }
      const f = this.fatal.get(k);
      if (f) throw f;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`DataLoader: timed out after ${timeoutMs} ms waiting for batch ${b} from worker ${k}`);
      // Wakes as soon as any worker posts (the counter moves); the cap lets us notice a timeout.
      Atomics.wait(this.signal, 0, seen, Math.min(left, 1000));
    }
  }

  /** Resolves with batch b (async iteration), without blocking the event loop. */
  take(b: number, timeoutMs: number): Promise<WorkerResult> {
    const k = b % this.size;
    const r = this.results.get(b);
    if (r) {
      this.results.delete(b);
      return Promise.resolve(r);
    }
    const f = this.fatal.get(k);
    if (f) return Promise.reject(f);
    return new Promise((resolve, reject) => {
      const w: { resolve: (r: WorkerResult) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout } = { resolve, reject };
      if (timeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.waiters.delete(b);
          this.ports[k].unref();
          reject(new Error(`DataLoader: timed out after ${timeoutMs} ms waiting for batch ${b} from worker ${k}`));
        }, timeoutMs);
      }
      this.waiters.set(b, w);
      // While someone waits, the port keeps the process alive.
      this.ports[k].ref();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Terminates the workers (idempotent). Pending async waits are rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [, w] of this.waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new Error('DataLoader: the iteration was closed'));
    }
    this.waiters.clear();
    this.results.clear();
    for (const p of this.ports) p.close();
    for (const w of this.workers) void w.terminate();
    live -= this.workers.length;
  }
}
