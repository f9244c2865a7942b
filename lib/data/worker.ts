// A DataLoader worker thread (entry point; runs from the compiled dist/data/worker.js). It
// rebuilds the dataset from its description, then answers each task {b, indices} with the batch
// as typed arrays (transferred) and bumps the shared counter the main thread may be sleeping on.
// See worker_pool.ts for the protocol. Built-in datasets run on pure-JS code here (no native
// addon is loaded); a user dataset from a module loads whatever that module loads.
//
// Randomness comes from (seed, epoch, sample index) only, so which worker runs a batch never
// changes its contents.
import { workerData } from 'worker_threads';
import type { MessagePort } from 'worker_threads';
import type * as BatchModule from './batch';
import type * as PipelineModule from './pipeline';
import type { SerializedError, WorkerEnd, WorkerInit, WorkerResult } from './worker_pool';

const init = workerData as WorkerInit & { port: MessagePort; signal: SharedArrayBuffer };
const signal = new Int32Array(init.signal);
const port = init.port;

function serialize(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

function post(msg: WorkerResult | WorkerEnd, transfer: ArrayBuffer[] = []): void {
  try {
    port.postMessage(msg, transfer);
  } catch {
    // A buffer that cannot be transferred (say, external memory): send a copy instead.
    port.postMessage(msg);
  }
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

// Installed before anything else can fail: an error outside a task still reaches the main thread.
// Then the thread ends, as a Node thread does on an uncaught exception: it is in no known state,
// and the main thread fails the first batch it then waits for from this worker.
process.on('uncaughtException', (e) => {
  post({ b: -1, ok: false, error: serialize(e) });
  process.exit(1);
});
// process.exit() in a dataset: the main thread learns the code at once, even while blocked.
// (A thread terminated from outside runs no JS; the main thread finds out by itself.)
process.on('exit', (exitCode) => post({ b: -1, ok: false, exitCode }));

type Producer = (indices: Int32Array) => unknown;
let producer: Producer | null = null;

/** Builds the function that turns indices into a batch tree (ArrayTensor or tensor leaves). */
function setup(): Producer {
  // Loaded here, not at the top, so that a failure to load is reported like any other error.
  const B = require('./batch') as typeof BatchModule;
  const P = require('./pipeline') as typeof PipelineModule;
  const ds = init.dataset;
  const ctx = { seed: init.seed, epoch: init.epoch };
  const sampleCtx = (i: number) => ({ seed: init.seed, epoch: init.epoch, index: i });

  if (ds.kind === 'images') {
    const pipe = new P.Pipeline(ds.transform);
    if (init.mode === 'batch') return (indices) => B.imageBatch(ds, pipe, indices, ctx);
    const per = ds.images.length / Math.max(ds.labels.length, 1);
    return (indices) =>
      Array.from(indices, (i) => {
        B.checkIndex(ds.name, i, ds.labels.length);
        const out = pipe.run({ data: ds.images.subarray(i * per, (i + 1) * per), shape: ds.sampleShape }, sampleCtx(i));
        return [new B.ArrayTensor(P.pixelDType(out.data), out.shape, out.data), ds.labels[i]];
      });
  }

  if (ds.kind === 'tensors') {
    if (init.mode === 'batch') return (indices) => B.tensorRowsBatch(ds.arrays, indices);
    return (indices) =>
      Array.from(indices, (i) =>
        B.tensorRowsBatch(ds.arrays, [i]).map((a) => new B.ArrayTensor(a.dtype, a.shape.slice(1), a.data)),
      );
  }

  // A user dataset: require its module and build it from the named export.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mod = require(ds.module);
  const exp = mod[ds.export];
  if (exp === undefined) throw new Error(`DataLoader worker: module ${ds.module} has no export '${ds.export}'`);
  let dataset = exp;
  if (typeof exp === 'function') {
    const isClass = /^class[\s{]/.test(Function.prototype.toString.call(exp));
    dataset = isClass ? new exp(...(ds.args ?? [])) : exp(...(ds.args ?? []));
  }
  if (!dataset || typeof dataset.get !== 'function') throw new Error(`DataLoader worker: export '${ds.export}' of ${ds.module} did not give a dataset (an object with length and get)`);
  const samples = (indices: Int32Array) => Array.from(indices, (i) => dataset.get(i, sampleCtx(i)));
  if (init.mode === 'samples') return samples;
  return (indices) => B.collateArrays(samples(indices));
}

port.on('message', (task: { b: number; indices: Int32Array } | null) => {
  if (task === null) return; // the main thread checking that this thread still runs
  try {
    if (!producer) producer = setup();
    const B = require('./batch') as typeof BatchModule;
    const arrays: BatchModule.AnyArray[] = [];
    const tree = B.encodeTree(producer(task.indices), arrays);
    const transfer = [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
    post({ b: task.b, ok: true, tree, arrays }, transfer);
  } catch (e) {
    post({ b: task.b, ok: false, error: serialize(e) });
  }
});
