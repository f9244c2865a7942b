// DataLoader worker threads: numWorkers 2 yields exactly the bytes of numWorkers 0 (image sets
// with random transforms, TensorDataset, a user dataset from a module, custom collate), sync and
// async; the bounded prefetch queue; errors from workers; early break; the event loop stays free
// during `for await`; a process never hangs at exit (child processes); and a worker whose thread
// ends (process.exit, an uncaught exception, terminated from outside) fails the loop with an error
// naming the worker and the batch, promptly, in both loop forms (child processes: a hang fails the
// test instead of stalling Jest).
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { DataLoader, DataLoaderOptions } from '../../lib/data/dataloader';
import { DatasetLike, TensorDataset } from '../../lib/data/dataset';
import { ImageClassificationDataset } from '../../lib/data/mnist';
import { compose, normalize, randomCrop, randomHorizontalFlip } from '../../lib/data/transforms';
import { liveWorkerThreads } from '../../lib/data/worker_pool';
import { ensureDist } from '../fixtures/data_ensure_dist';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const fixture = require('../fixtures/data_user_dataset.js') as {
  SquaresDataset: new (n: number, failAt?: number, delayMs?: number, counter?: Int32Array | null) => DatasetLike<{ x: Tensor; y: number; w: number; name: string }>;
};
const root = path.join(__dirname, '..', '..');

beforeAll(() => ensureDist(), 60000);
afterEach(() => expect(liveWorkerThreads()).toBe(0));

function bytes(t: Tensor): Buffer {
  const d = t.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function expectSameBatch(a: unknown, b: unknown): void {
  if (a instanceof Tensor) {
    expect(b).toBeInstanceOf(Tensor);
    const t = b as Tensor;
    expect([t.dtype, t.shape]).toEqual([a.dtype, a.shape]);
    expect(Buffer.compare(bytes(a), bytes(t))).toBe(0);
  } else if (Array.isArray(a)) {
    expect((b as unknown[]).length).toBe(a.length);
    a.forEach((x, i) => expectSameBatch(x, (b as unknown[])[i]));
  } else if (a && typeof a === 'object') {
    expect(Object.keys(b as object)).toEqual(Object.keys(a));
    for (const k of Object.keys(a)) expectSameBatch((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
  } else {
    expect(b).toEqual(a);
  }
}

/** Two epochs of batches, sync or async. */
async function epochs<S, B>(ds: DatasetLike<S>, opts: DataLoaderOptions<S, B>, async: boolean): Promise<B[][]> {
  const l = new DataLoader<S, B>(ds, opts);
  const out: B[][] = [];
  for (let e = 0; e < 2; e++) {
    const batches: B[] = [];
    if (async) for await (const b of l) batches.push(b);
    else for (const b of l) batches.push(b);
    out.push(batches);
  }
  return out;
}

function imageSet(n: number): ImageClassificationDataset {
  const g = new tn.Generator(11);
  const images = Uint8Array.from({ length: n * 784 }, () => g.randint(256));
  const labels = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 10);
  const t = compose([randomCrop(28, { padding: 2, paddingMode: 'reflect' }), randomHorizontalFlip(), normalize(0.286, 0.353)]);
  return new ImageClassificationDataset('Images', images, labels, [1, 28, 28], 'abcdefghij'.split(''), { transform: t });
}

describe('numWorkers 2 yields exactly the batches of numWorkers 0', () => {
  test.each([false, true])('image set with random crops and flips, shuffled (async %s)', async (async) => {
    const ds = imageSet(53);
    const opts = { batchSize: 7, shuffle: true, seed: 1234 };
    const ref = await epochs(ds, { ...opts, numWorkers: 0 }, false);
    const got = await epochs(ds, { ...opts, numWorkers: 2 }, async);
    expect(got[0].length).toBe(8);
    expectSameBatch(got, ref);
    // the two epochs differ (new order, new crops)
    expect(Buffer.compare(bytes((got[0][0] as Tensor[])[0]), bytes((got[1][0] as Tensor[])[0]))).not.toBe(0);
  });

  test('TensorDataset (float32, int64, bool), dropLast, three workers', async () => {
    const n = 40;
    const ds = new TensorDataset(tn.randn([n, 2, 3]), tn.arange(n), tn.tensor(Array.from({ length: n }, (_, i) => i % 3 === 0)));
    const opts = { batchSize: 6, shuffle: true, seed: 7, dropLast: true };
    const ref = await epochs(ds, { ...opts, numWorkers: 0 }, false);
    const got = await epochs(ds, { ...opts, numWorkers: 3, prefetchFactor: 1 }, false);
    expect(got[0].length).toBe(6);
    expectSameBatch(got, ref);
  });

  test.each([false, true])('a user dataset from a module (objects, ints, floats, strings; async %s)', async (async) => {
    const ds = new fixture.SquaresDataset(23);
    const opts = { batchSize: 4, shuffle: true, seed: 3 };
    const ref = await epochs(ds, { ...opts, numWorkers: 0 }, false);
    const got = await epochs(ds, { ...opts, numWorkers: 2 }, async);
    expectSameBatch(got, ref);
    const b = got[1][0] as { x: Tensor; y: Tensor; w: Tensor; name: string[] };
    expect(b.x.shape).toEqual([4, 3]);
    expect((b.x.toArray() as number[][])[0][2]).toBe(1); // the epoch reached the worker's get()
    expect([b.y.dtype, b.w.dtype]).toEqual(['int64', 'float64']);
    expect(b.name.length).toBe(4);
  });

  test('custom collate runs in the main thread on the samples the workers made', async () => {
    const collate = (samples: unknown[]): number[] =>
      samples.map((s) => {
        const [img, label] = s as [Tensor, number];
        return tn.noGrad(() => img.sum().item()) + label;
      });
    const ds = imageSet(19);
    const opts = { batchSize: 5, shuffle: true, seed: 8, collate };
    const ref = await epochs(ds, { ...opts, numWorkers: 0 }, false);
    const got = await epochs(ds, { ...opts, numWorkers: 2 }, true);
    expect(got).toEqual(ref);
    const sq = new fixture.SquaresDataset(9);
    const keys = (samples: unknown[]) => samples.map((s) => (s as { name: string; x: Tensor }).name + ':' + (s as { x: Tensor }).x.toArray());
    expect(await epochs(sq, { batchSize: 4, collate: keys, numWorkers: 2 }, false)).toEqual(await epochs(sq, { batchSize: 4, collate: keys }, false));
  });
});

describe('workers: queue, errors, early exit, the event loop', () => {
  test('the prefetch queue is bounded: prefetchFactor * numWorkers batches ahead', () => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const made = (): number => Atomics.load(counter, 0);
    const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    /** Waits until the workers have made `n` samples, then a little longer to see that they stop there. */
    const settle = (n: number): number => {
      for (const until = Date.now() + 10000; made() < n && Date.now() < until; ) sleep(10);
      sleep(200);
      return made();
    };
    const ds = new fixture.SquaresDataset(50, -1, 0, counter);
    const l = new DataLoader(ds, { batchSize: 1, numWorkers: 2, prefetchFactor: 2 });
    const it = l[Symbol.iterator]();
    it.next();
    // batch 0 taken: batches 1..4 in flight, 5 made in all, and no more
    expect(settle(5)).toBe(5);
    it.next();
    expect(settle(6)).toBe(6);
    it.return!();
    expect(liveWorkerThreads()).toBe(0);
  });

  test.each([false, true])('an error in a worker comes back with its class and message, workers end (async %s)', async (async) => {
    const ds = new fixture.SquaresDataset(30, 13);
    const l = new DataLoader(ds, { batchSize: 4, numWorkers: 2 });
    const run = async (): Promise<number> => {
      let n = 0;
      if (async) for await (const _ of l) n++;
      else for (const _ of l) n++;
      return n;
    };
    let err: unknown;
    try {
      await run();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(tn.DataError);
    expect((err as Error).message).toBe('SquaresDataset: sample 13 is corrupt (in DataLoader worker 1, batch 3 of epoch 0)');
    expect(liveWorkerThreads()).toBe(0);
  });

  test('early break and return() terminate the workers', async () => {
    const l = new DataLoader(imageSet(40), { batchSize: 4, numWorkers: 2 });
    for (const _ of l) {
      expect(liveWorkerThreads()).toBe(2);
      break;
    }
    expect(liveWorkerThreads()).toBe(0);
    for await (const _ of l) break;
    expect(liveWorkerThreads()).toBe(0);
    const it = l[Symbol.asyncIterator]();
    await it.next();
    await it.return!();
    expect(liveWorkerThreads()).toBe(0);
    // a full pass ends them too
    expect(Array.from(l).length).toBe(10);
    expect(liveWorkerThreads()).toBe(0);
  });

  test('for await does not block the event loop while a worker prepares a batch', async () => {
    const ds = new fixture.SquaresDataset(6, -1, 40);
    const l = new DataLoader(ds, { batchSize: 3, numWorkers: 1 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      for await (const _ of l) void 0;
    } finally {
      clearInterval(timer);
    }
    // 240 ms of work in the worker; the interval kept running meanwhile (a blocked loop gives 0)
    expect(ticks).toBeGreaterThan(2);
  });

  test('a dataset that cannot describe itself loads in the main thread with a warning', () => {
    const ds: DatasetLike<number> = { length: 5, get: (i) => i * 2 };
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const l = new DataLoader(ds, { batchSize: 2, numWorkers: 2 });
      expect(Array.from(l).map((b) => b.toArray())).toEqual([[0, 2], [4, 6], [8]]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/^DataLoader: Object cannot be rebuilt in a worker thread/);
    } finally {
      warn.mockRestore();
    }
  });

  test.each([
    ['a sync iterator left after one batch', 'const it = l[Symbol.iterator](); it.next(); console.log("one");'],
    ['a for...of break', 'for (const b of l) { console.log("one"); break; }'],
    ['an async iterator left after one batch', '(async () => { const it = l[Symbol.asyncIterator](); await it.next(); console.log("one"); })();'],
    ['a for await break', '(async () => { for await (const b of l) { console.log("one"); break; } })();'],
    ['a full async pass', '(async () => { let n = 0; for await (const b of l) n++; console.log(n === 25 ? "one" : n); })();'],
  ])('the process exits promptly after %s', (_what, body) => {
    const script = `
      const tn = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const data = require(${JSON.stringify(path.join(root, 'dist', 'data', 'index.js'))});
      const ds = new data.TensorDataset(tn.randn([100, 8]), tn.arange(100));
      const l = new data.DataLoader(ds, { batchSize: 4, numWorkers: 2, shuffle: true, seed: 1 });
      ${body}`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000, env: process.env });
    expect(r.error).toBeUndefined();
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('one');
    expect(r.status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15000);
  });
});

describe('a worker whose thread ends fails the loop, naming the worker and the batch', () => {
  interface Outcome {
    /** batches received before the error */
    n: number;
    err: string | null;
    tensile: boolean;
    /** from the start of the loop, and from terminate() */
    ms: number;
    sinceKill: number | null;
    live: number;
  }

  /**
   * One epoch of FaultyDataset(40, at, how) in batches of 2 on 2 workers (batch b comes from worker
   * b % 2), in a child process: the error is reported on stdout, then rethrown, so the process
   * must end with code 1 and the message on stderr. 'hang': after the first batch, once worker 1
   * blocks in get(at), the loop terminates it from outside (the Worker objects are caught by
   * wrapping the constructor). 'throwLater': each step takes 10 ms (a training step), so that the
   * workers go idle and the timer fires: a worker whose port always has a task waiting runs no
   * timers (Node's MessagePort delivers up to 1,000 messages in a row), and an error thrown after
   * its last batch of the epoch is never seen, as the pool ends with the epoch.
   */
  function faulty(form: 'sync' | 'async', how: 'exit' | 'throwLater' | 'hang', at: number): Outcome {
    const loop = form === 'sync' ? 'for (const b of l) step();' : 'for await (const b of l) step();';
    const script = `
      const wt = require('worker_threads');
      const workers = [];
      const W = wt.Worker;
      wt.Worker = class extends W { constructor(...a) { super(...a); workers.push(this); } };
      const tn = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const data = require(${JSON.stringify(path.join(root, 'dist', 'data', 'index.js'))});
      const { liveWorkerThreads } = require(${JSON.stringify(path.join(root, 'dist', 'data', 'worker_pool.js'))});
      const { FaultyDataset } = require(${JSON.stringify(path.join(root, 'test', 'fixtures', 'data_user_dataset.js'))});
      const reached = new Int32Array(new SharedArrayBuffer(4));
      const nap = new Int32Array(new SharedArrayBuffer(4));
      const l = new data.DataLoader(new FaultyDataset(40, ${at}, '${how}', 3, reached), { batchSize: 2, numWorkers: 2 });
      const t0 = Date.now();
      let n = 0, tKill = 0;
      function step() {
        if ('${how}' === 'hang' && n === 0) {
          while (!Atomics.load(reached, 0)) Atomics.wait(reached, 0, 0, 10);
          tKill = Date.now();
          workers[1].terminate();
        }
        if ('${how}' === 'throwLater') Atomics.wait(nap, 0, 0, 10);
        n++;
      }
      function report(e) {
        const err = e ? e.name + ': ' + e.message : null;
        console.log(JSON.stringify({ n, err, tensile: e instanceof tn.TensileError, ms: Date.now() - t0, sinceKill: tKill ? Date.now() - tKill : null, live: liveWorkerThreads() }));
        if (e) throw e;
      }
      (async () => {
        try { ${loop} } catch (e) { report(e); }
        report(null);
      })();`;
    // Without JEST_WORKER_ID, the fixture loads tensile from dist/ in the child's main thread too.
    const env = { ...process.env, JEST_WORKER_ID: undefined };
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000, env });
    expect(r.signal).toBeNull(); // not killed by the timeout: no hang
    expect(r.stdout).toMatch(/^\{.*\}\n$/); // the loop ended
    const out = JSON.parse(r.stdout) as Outcome;
    expect(r.status).toBe(1); // an unhandled rejection: never a silent exit 0
    expect(r.stderr).toContain(out.err!.replace(/^\w+: /, ''));
    expect(out.live).toBe(0); // the pool was terminated
    expect(out.ms).toBeLessThan(10000); // no waiting for a timeout (there is none: timeout 0)
    return out;
  }

  test.each(['sync', 'async'] as const)('process.exit(3) in get() (%s)', (form) => {
    // sample 11 is in batch 5, worker 1's; batches 0-4 arrive first
    const out = faulty(form, 'exit', 11);
    expect([out.n, out.err, out.tensile]).toEqual([5, 'TensileError: DataLoader: worker 1 exited (code 3) before sending batch 5', true]);
  });

  test.each(['sync', 'async'] as const)('terminated from outside while preparing a batch (%s)', (form) => {
    const out = faulty(form, 'hang', 3);
    // Sync, the main thread finds the thread gone by itself (no exit code); async, 'exit' says.
    const why = form === 'sync' ? 'was stopped (terminated from outside, or out of memory)' : 'exited (code 1)';
    expect([out.n, out.err, out.tensile]).toEqual([1, `TensileError: DataLoader: worker 1 ${why} before sending batch 1`, true]);
    expect(out.sinceKill).toBeLessThan(2000); // sync: found within a probe period or so (50 ms)
  });

  test.each(['sync', 'async'] as const)('an uncaught exception from a timer ends the worker (%s)', (form) => {
    // Thrown after batch 5 is sent: it fails the first of worker 1's later batches not yet sent.
    const out = faulty(form, 'throwLater', 11);
    const m = /^RangeError: FaultyDataset: late failure after sample 11 \(in DataLoader worker 1, which ended before sending batch (\d+)\)$/.exec(out.err!);
    expect(m).not.toBeNull();
    const b = Number(m![1]);
    expect([b % 2, b >= 7, out.n]).toEqual([1, true, b]);
  });

  test('a live worker busy for longer than a probe period is not taken for dead (sync)', async () => {
    // 120 ms per batch: the sync wait probes the worker twice or so per batch
    const ds = new fixture.SquaresDataset(6, -1, 40);
    const got = await epochs(ds, { batchSize: 3, numWorkers: 1 }, false);
    expectSameBatch(got, await epochs(ds, { batchSize: 3 }, false));
  });
});
