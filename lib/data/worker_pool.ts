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
// Workers and ports are unref'd (a worker is ref'd while an async wait for it is pending), so a
// forgotten iterator never keeps the process alive at exit.
//
// A worker that ends (process.exit in a dataset, an uncaught exception, terminated from outside,
// out of memory) fails the first batch the main thread then waits for from it and does not have;
// the batches it sent before are still delivered. How its end is seen:
//   - a worker that can still run JS says why on its port (its uncaught error, or its exit code)
//     and bumps the counter, so even a blocked main thread wakes at once;
//   - async: the Worker's 'error' and 'exit' events (the worker is ref'd while awaited, so the
//     process cannot quit before its 'exit' arrives);
//   - sync, a thread ended without running JS (terminate(), out of memory): events cannot reach a
//     main thread blocked in Atomics.wait, so after each PROBE_MS of waiting in vain it probes the
//     awaited worker's port (see alive()).
import * as fs from 'fs';
import * as path from 'path';
import { MessageChannel, MessagePort, Worker, receiveMessageOnPort } from 'worker_threads';
import { ERROR_CLASSES, TensileError } from '../errors';
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

/** What a worker that is ending sends: its uncaught error, or its exit code. */
export type WorkerEnd = { b: -1; ok: false; error: SerializedError } | { b: -1; ok: false; exitCode: number };

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

/** How long a sync wait sleeps before it checks that the awaited worker still runs. */
const PROBE_MS = 50;

/** Posts null and returns what postMessage returns: Node 20 returns a boolean (undocumented; typed void). */
function postNull(port: MessagePort): unknown {
  return (port as unknown as { postMessage(m: null): unknown }).postMessage(null);
}

// alive() relies on that return value: probe only where it is true for a live channel (else a
// dead worker is found by the timeout only, never a live one taken for dead).
let probeWorks: boolean | undefined;
function canProbe(): boolean {
  if (probeWorks === undefined) {
    const { port1, port2 } = new MessageChannel();
    probeWorks = postNull(port1) === true;
    port1.close();
    port2.close();
  }
  return probeWorks;
}

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
  /** Workers that ended (index -> their uncaught error, or how they ended). */
  private readonly dead = new Map<number, SerializedError | string>();
  private readonly probe = canProbe();
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
      // Drained first: what the worker sent before it ended (batches, why it ended) comes first.
      worker.on('error', (e) => {
        this.drain(k);
        this.died(k, e instanceof Error ? e : new Error(String(e)));
      });
      worker.on('exit', (code) => {
        this.drain(k);
        this.died(k, `exited (code ${code})`);
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

  private receive(k: number, m: WorkerResult | WorkerEnd): void {
    if (m.b < 0) {
      const end = m as WorkerEnd;
      this.died(k, 'error' in end ? end.error : `exited (code ${end.exitCode})`);
      return;
    }
    const w = this.waiters.get(m.b);
    if (w) {
      this.waiters.delete(m.b);
      if (w.timer) clearTimeout(w.timer);
      this.workers[k].unref();
      w.resolve(m as WorkerResult);
    } else {
      this.results.set(m.b, m as WorkerResult);
    }
  }

  /** Records that worker k ended (the first cause seen wins) and fails the waits for its batches. */
  private died(k: number, why: SerializedError | string): void {
    if (this.closed || this.dead.has(k)) return;
    this.dead.set(k, why);
    for (const [b, w] of this.waiters) {
      if (b % this.size === k) {
        this.waiters.delete(b);
        if (w.timer) clearTimeout(w.timer);
        w.reject(this.death(k, b));
      }
    }
  }

  /**
   * The error for batch b, which dead worker k will never send. A plain TensileError: the
   * thread ended, the data is not known to be bad (so no DataError); an uncaught error keeps
   * its own class, as errors from get() do.
   */
  private death(k: number, b: number): Error {
    const why = this.dead.get(k) as SerializedError | string;
    if (typeof why !== 'string') return rebuildError(why, `in DataLoader worker ${k}, which ended before sending batch ${b}`);
    return new TensileError(`DataLoader: worker ${k} ${why} before sending batch ${b}`);
  }

  /** Receives what worker k has sent, without waiting. */
  private drain(k: number): void {
    for (let m = receiveMessageOnPort(this.ports[k]); m; m = receiveMessageOnPort(this.ports[k])) this.receive(k, m.message as WorkerResult | WorkerEnd);
  }

  /**
   * Whether worker k's thread still runs, seen synchronously: when a thread ends, however it
   * ends, its end of the port is closed, and postMessage then returns false or undefined instead
   * of true. The probe itself (null) is ignored by a live worker.
   */
  private alive(k: number): boolean {
    return !this.probe || postNull(this.ports[k]) === true;
  }

  /** Blocks until batch b is there (sync iteration). timeoutMs 0 waits for ever. */
  takeSync(b: number, timeoutMs: number): WorkerResult {
    const k = b % this.size;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
    let idle = false;
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      // Probed before draining: a thread found ended has nothing more in its port after the drain.
      // Only after a wait in vain, so that a run of batches costs no probes.
      const ended = idle && !this.alive(k);
      for (let j = 0; j < this.size; j++) this.drain(j);
      const r = this.results.get(b);
      if (r) {
        this.results.delete(b);
        return r;
      }
      if (ended) this.died(k, 'was stopped (terminated from outside, or out of memory)');
      if (this.dead.has(k)) throw this.death(k, b);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`DataLoader: timed out after ${timeoutMs} ms waiting for batch ${b} from worker ${k}`);
      // Wakes as soon as any worker posts (the counter moves); the cap lets us notice a timeout,
      // or a worker stopped from outside.
      idle = Atomics.wait(this.signal, 0, seen, Math.min(left, PROBE_MS)) === 'timed-out';
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
    if (this.dead.has(k)) return Promise.reject(this.death(k, b));
    return new Promise((resolve, reject) => {
      const w: { resolve: (r: WorkerResult) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout } = { resolve, reject };
      if (timeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.waiters.delete(b);
          this.workers[k].unref();
          reject(new Error(`DataLoader: timed out after ${timeoutMs} ms waiting for batch ${b} from worker ${k}`));
        }, timeoutMs);
      }
      this.waiters.set(b, w);
      // While someone waits, the worker keeps the process alive: until it answers, or until its
      // 'exit' event (a ref'd port would not do: a thread's end closes it before 'exit' comes).
      this.workers[k].ref();
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
