// DataLoader in the calling thread: order, seeded shuffles per epoch, dropLast, batch shapes and
// dtypes, default collate of tuples and objects, custom collate, the batch path against get +
// collate, random transforms keyed by (seed, epoch, index), sync and async iteration, errors.
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { DataLoader } from '../../lib/data/dataloader';
import { Dataset, DatasetLike, TensorDataset } from '../../lib/data/dataset';
import { defaultCollate } from '../../lib/data/collate';
import { ImageClassificationDataset } from '../../lib/data/mnist';
import { Transform, compose, normalize, randomCrop, randomHorizontalFlip, toTensor } from '../../lib/data/transforms';

/** TensorDataset over 0..n-1: batches are easy to read back. */
function rangeDataset(n: number): TensorDataset {
  return new TensorDataset(tn.arange(n));
}

function order(loader: DataLoader<Tensor[], Tensor[]>): number[][] {
  return Array.from(loader, ([x]) => x.toArray() as number[]);
}

function bytes(t: Tensor): Buffer {
  const d = t.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** Exact equality of two batch trees: same structure, dtypes, shapes and bytes. */
function expectSameBatch(a: unknown, b: unknown): void {
  if (a instanceof Tensor) {
    expect(b).toBeInstanceOf(Tensor);
    const t = b as Tensor;
    expect([t.dtype, t.shape]).toEqual([a.dtype, a.shape]);
    expect(Buffer.compare(bytes(a), bytes(t))).toBe(0);
  } else if (Array.isArray(a)) {
    expect(Array.isArray(b)).toBe(true);
    expect((b as unknown[]).length).toBe(a.length);
    a.forEach((x, i) => expectSameBatch(x, (b as unknown[])[i]));
  } else if (a && typeof a === 'object') {
    expect(Object.keys(b as object)).toEqual(Object.keys(a));
    for (const k of Object.keys(a)) expectSameBatch((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
  } else {
    expect(b).toEqual(a);
  }
}

describe('order, shuffle, dropLast', () => {
  test('in order: batches of batchSize, the last one short; dropLast drops it', () => {
    const ds = rangeDataset(10);
    const l = new DataLoader(ds, { batchSize: 3 });
    expect(l.length).toBe(4);
    expect(order(l)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    const d = new DataLoader(ds, { batchSize: 3, dropLast: true });
    expect(d.length).toBe(3);
    expect(order(d)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
    expect(order(new DataLoader(ds, { batchSize: 5, dropLast: true }))).toEqual([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
    expect(order(new DataLoader(ds))).toEqual(Array.from({ length: 10 }, (_, i) => [i]));
    expect(order(new DataLoader(rangeDataset(0) as never, { batchSize: 4 }))).toEqual([]);
  });

  test('shuffle is seeded per epoch: same seed same orders, each epoch another permutation', () => {
    const ds = rangeDataset(23);
    const a = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42 });
    const b = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42 });
    const a0 = order(a);
    const a1 = order(a);
    expect(a.epoch).toBe(2);
    expect(order(b)).toEqual(a0);
    expect(order(b)).toEqual(a1);
    expect(a1).not.toEqual(a0);
    for (const ep of [a0, a1]) expect(ep.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(a0.map((x) => x.length)).toEqual([5, 5, 5, 5, 3]);
    expect(order(new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 43 }))).not.toEqual(a0);
    // setEpoch replays an epoch; batchIndices gives the plan without loading
    a.setEpoch(1);
    expect(order(a)).toEqual(a1);
    expect(a.batchIndices(0).map((x) => Array.from(x))).toEqual(a0);
    // shuffled and dropLast: full batches only
    expect(order(new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42, dropLast: true }))).toEqual(a0.slice(0, 4));
  });

  test('without a seed the loader draws one from the global generator (tn.manualSeed) or a given generator', () => {
    const ds = rangeDataset(30);
    tn.manualSeed(7);
    const a = order(new DataLoader(ds, { batchSize: 30, shuffle: true }));
    tn.manualSeed(7);
    const b = order(new DataLoader(ds, { batchSize: 30, shuffle: true }));
    expect(b).toEqual(a);
    const c = order(new DataLoader(ds, { batchSize: 30, shuffle: true, generator: new tn.Generator(3) }));
    const d = order(new DataLoader(ds, { batchSize: 30, shuffle: true, generator: new tn.Generator(3) }));
    expect(c).toEqual(d);
    expect(c).not.toEqual(a);
  });

  test('early break: the loop ends, the next loop is the next epoch', () => {
    const l = new DataLoader(rangeDataset(12), { batchSize: 2, shuffle: true, seed: 1 });
    let n = 0;
    for (const [x] of l) {
      expect(x.shape).toEqual([2]);
      if (++n === 2) break;
    }
    expect(n).toBe(2);
    expect(l.epoch).toBe(1);
    expect(order(l)).toEqual(l.batchIndices(1).map((x) => Array.from(x)));
  });
});

describe('batches and collate', () => {
  test('TensorDataset batches: shapes and dtypes; the batch path equals get + default collate', () => {
    const n = 11;
    const x = tn.randn([n, 3, 4]);
    const y = tn.arange(n);
    const m = tn.tensor(Array.from({ length: n }, (_, i) => i % 2 === 0));
    const ds = new TensorDataset(x, y, m);
    const l = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 3 });
    const batches = Array.from(l);
    expect(batches.map((b) => b[0].shape)).toEqual([[4, 3, 4], [4, 3, 4], [3, 3, 4]]);
    expect(batches.map((b) => [b[0].dtype, b[1].dtype, b[2].dtype])[0]).toEqual(['float32', 'int64', 'bool']);
    const plan = l.batchIndices(0);
    batches.forEach((b, k) => expectSameBatch(b, defaultCollate(Array.from(plan[k], (i) => ds.get(i)))));
    // and against the tensors' own rows
    expect(batches[0][0].toArray()).toEqual(Array.from(plan[0], (i) => x.select(0, i).toArray()));
  });

  test('default collate of tuples and objects: tensors stack, ints -> int64, floats -> float64, bools, strings', () => {
    const ds: DatasetLike<{ img: Tensor; label: number; weight: number; ok: boolean; name: string; pair: [Tensor, number] }> = {
      length: 7,
      get: (i) => ({
        img: tn.full([2, 3], i),
        label: i % 4,
        weight: i / 4,
        ok: i % 2 === 1,
        name: `n${i}`,
        pair: [tn.tensor([i, -i]), i * 10],
      }),
    };
    const [b] = Array.from(new DataLoader(ds, { batchSize: 3 }));
    expect(b.img.shape).toEqual([3, 2, 3]);
    expect(b.img.dtype).toBe('float32');
    expect(b.label.dtype).toBe('int64');
    expect(b.label.toArray()).toEqual([0, 1, 2]);
    expect(b.weight.dtype).toBe('float64');
    expect(b.weight.toArray()).toEqual([0, 0.25, 0.5]);
    expect(b.ok.dtype).toBe('bool');
    expect(b.ok.toArray()).toEqual([false, true, false]);
    expect(b.name).toEqual(['n0', 'n1', 'n2']);
    expect(b.pair[0].toArray()).toEqual([[0, 0], [1, -1], [2, -2]]);
    expect(b.pair[1].toArray()).toEqual([0, 10, 20]);
  });

  test('a custom collate gets the list of samples', () => {
    const seen: number[] = [];
    const l = new DataLoader(rangeDataset(5), {
      batchSize: 2,
      collate: (samples: Tensor[][]) => {
        seen.push(samples.length);
        return samples.map(([v]) => v.item() * 100);
      },
    });
    expect(Array.from(l)).toEqual([[0, 100], [200, 300], [400]]);
    expect(seen).toEqual([2, 2, 1]);
  });

  test('a Dataset subclass works; errors in collate name the problem', () => {
    class Ragged extends Dataset<Tensor> {
      readonly length = 3;
      get(i: number): Tensor {
        return tn.zeros([i + 1]);
      }
    }
    const l = new DataLoader(new Ragged(), { batchSize: 3 });
    expect(() => Array.from(l)).toThrow(tn.ShapeError);
    expect(() => Array.from(l)).toThrow('defaultCollate: stack expects each tensor to be equal size, but got [1] at entry 0 and [2] at entry 1');
    expect(() => defaultCollate([1, 'a'])).toThrow(tn.DTypeError);
    expect(() => defaultCollate([1, 'a'])).toThrow('defaultCollate: sample 0 has a number where sample 1 has a string');
    expect(() => defaultCollate([[1, 2], [3]])).toThrow('defaultCollate: each element in the batch should be of equal size, but entry 0 has 2 fields and entry 1 has 1');
    expect(() => defaultCollate([tn.zeros([2]), tn.zeros([2], { dtype: 'int64' })])).toThrow('defaultCollate: expected all tensors to be float32 but got int64 at entry 1');
  });

  test('image dataset: the fused batch path equals get + collate, random transforms keyed by (seed, epoch, index)', () => {
    const g = new tn.Generator(5);
    const n = 17;
    const images = Uint8Array.from({ length: n * 784 }, () => g.randint(256));
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    const t = compose([randomCrop(28, { padding: 4 }), randomHorizontalFlip(), normalize(0.3, 0.4)]);
    const ds = new ImageClassificationDataset('Images', images, labels, [1, 28, 28], 'abcdefghij'.split(''), { transform: t });
    const l = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 9 });
    const e0 = Array.from(l) as Tensor[][];
    expect(e0[0][0].shape).toEqual([5, 1, 28, 28]);
    expect(e0[0][1].dtype).toBe('int64');
    const plan = l.batchIndices(0);
    e0.forEach((b, k) => expectSameBatch(b, defaultCollate(Array.from(plan[k], (i) => ds.get(i, { seed: l.seed, epoch: 0, index: i })))));
    // same seed, same epoch: same batches; another epoch: other crops for the same image
    const again = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 9 });
    expectSameBatch(Array.from(again), e0);
    const e1 = Array.from(new DataLoader(ds, { batchSize: n, seed: 9 }).setEpoch(1)) as Tensor[][];
    const e0All = Array.from(new DataLoader(ds, { batchSize: n, seed: 9 })) as Tensor[][];
    expect(Buffer.compare(bytes(e1[0][0]), bytes(e0All[0][0]))).not.toBe(0);
  });

  test.each([
    ['no transform (uint8)', null, (v: number) => v],
    ['toTensor', toTensor(), (v: number) => Math.fround(v / 255)],
    ['normalize', normalize(0.286, 0.353), (v: number) => Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(0.286)) / Math.fround(0.353))],
  ] as [string, Transform | null, (v: number) => number][])('the point-wise batch path (%s) is exact, zeros and odd indices included', (_what, transform, ref) => {
    const g = new tn.Generator(8);
    const n = 9;
    // half the pixels 0, as in FashionMNIST's backgrounds (pairs of zeros are float64 subnormals)
    const images = Uint8Array.from({ length: n * 784 }, () => (g.random() < 0.5 ? 0 : g.randint(256)));
    const ds = new ImageClassificationDataset('Images', images, new Uint8Array(n), [1, 28, 28], 'abcdefghij'.split(''), { transform });
    const idx = Int32Array.from([8, 1, 4, 1, 7]);
    const [x] = ds.getBatch(idx, { seed: 0, epoch: 0 }) as Tensor[];
    const want = Array.from(idx).flatMap((i) => Array.from(images.subarray(i * 784, (i + 1) * 784), ref));
    expect(x.dtype).toBe(transform ? 'float32' : 'uint8');
    expect(Array.from(x.data as Float32Array)).toEqual(want);
    expect(() => ds.getBatch(Int32Array.from([2, 9]), { seed: 0, epoch: 0 })).toThrow('Images: index 9 is out of range for a dataset of length 9');
  });

  test('targetTransform maps labels (typed through to the batch); such a dataset stays in the main thread', () => {
    const images = new Uint8Array(6 * 784).fill(7);
    const labels = Uint8Array.from([0, 1, 2, 3, 4, 5]);
    const ds = new ImageClassificationDataset('Images', images, labels, [1, 28, 28], 'abcdefghij'.split(''), { targetTransform: (l: number) => l % 2 === 0 });
    expect(ds.get(2)[1]).toBe(true);
    expect(ds.describe()).toBeNull();
    const [x, y]: [Tensor, Tensor] = Array.from(new DataLoader(ds, { batchSize: 6 }))[0];
    expect(x.dtype).toBe('uint8');
    expect(y.dtype).toBe('bool');
    expect(y.toArray()).toEqual([true, false, true, false, true, false]);
  });

  test('for await...of gives the same batches as for...of', async () => {
    const ds = rangeDataset(9);
    const l = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 5 });
    const got: number[][] = [];
    for await (const [x] of l) got.push(x.toArray() as number[]);
    expect(got).toEqual(l.batchIndices(0).map((x) => Array.from(x)));
  });
});

describe('errors', () => {
  test('bad options and datasets raise ValueError naming the option', () => {
    const ds = rangeDataset(4);
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(tn.ValueError);
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow('DataLoader: batchSize must be an integer >= 1 but got 0');
    expect(() => new DataLoader(ds, { numWorkers: -1 })).toThrow('DataLoader: numWorkers must be an integer >= 0 but got -1');
    expect(() => new DataLoader(ds, { prefetchFactor: 0 })).toThrow('DataLoader: prefetchFactor must be an integer >= 1 but got 0');
    expect(() => new DataLoader(ds, { seed: -3 })).toThrow('DataLoader: seed must be a non-negative integer but got -3');
    expect(() => new DataLoader(ds, { batchsize: 4 } as never)).toThrow("DataLoader: unknown option 'batchsize'");
    expect(() => new DataLoader({} as never)).toThrow('DataLoader: expected a dataset with a numeric length and a get(i) method');
    expect(() => new TensorDataset(tn.zeros([3]), tn.zeros([4]))).toThrow(tn.ShapeError);
    expect(() => new TensorDataset(tn.zeros([3]), tn.zeros([4]))).toThrow('TensorDataset: size mismatch between tensors: every tensor needs the same first dimension, but got [3] and [4]');
    expect(() => ds.get(4)).toThrow(tn.IndexError);
    expect(() => ds.get(4)).toThrow('TensorDataset: index 4 is out of range for a dataset of length 4');
  });
});
