// The tensor API: creation and dtypes, views sharing storage, reductions, indexSelect, reading
// values, the seeded generator and the memory model (dispose, tidy, allocator reuse).
import * as tn from '../lib';
import { gradcheck, randLeaf } from './helpers/gradcheck';

describe('creation and dtypes', () => {
  test('tensor() infers dtypes as PyTorch does', () => {
    expect(tn.tensor([1, 2, 3]).dtype).toBe('int64');
    expect(tn.tensor([1.5, 2]).dtype).toBe('float32');
    expect(tn.tensor([true, false]).dtype).toBe('bool');
    expect(tn.tensor(3).shape).toEqual([]);
    expect(tn.tensor([[1, 2], [3, 4]], { dtype: 'float64' }).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(() => tn.tensor([[1, 2], [3]] as number[][])).toThrow(tn.ShapeError);
  });

  test('every dtype round-trips through data/toArray', () => {
    for (const dtype of ['float32', 'float64', 'int32', 'int64', 'uint8'] as const) {
      const t = tn.tensor([[1, 2], [3, 250]], { dtype });
      expect(t.dtype).toBe(dtype);
      expect(t.toArray()).toEqual([[1, 2], [3, 250]]);
    }
    expect(tn.tensor([1, 0, 2], { dtype: 'bool' }).toArray()).toEqual([true, false, true]);
    expect(tn.tensor([1, 2]).data).toBeInstanceOf(BigInt64Array);
    expect(tn.tensor([1.5]).to('float64').data).toBeInstanceOf(Float64Array);
  });

  test('zeros, ones, full, arange, fromTypedArray, item', () => {
    expect(tn.zeros([2, 2]).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(tn.ones([3]).toArray()).toEqual([1, 1, 1]);
    expect(tn.full([2], 7, { dtype: 'int32' }).toArray()).toEqual([7, 7]);
    expect(tn.arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(tn.arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    const t = tn.fromTypedArray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.sum().item()).toBe(21);
    expect(() => tn.fromTypedArray(new Float32Array(5), [2, 3])).toThrow(tn.ShapeError);
    expect(() => t.item()).toThrow(tn.ShapeError);
  });

  test('manualSeed: same seed, same numbers; rand in [0,1); randn ~ N(0,1)', () => {
    tn.manualSeed(7);
    const a = tn.rand([1000]).data as Float32Array;
    const b = tn.randn([10000]).data as Float32Array;
    tn.manualSeed(7);
    expect(Array.from(tn.rand([1000]).data as Float32Array)).toEqual(Array.from(a));
    expect(Array.from(tn.randn([10000]).data as Float32Array)).toEqual(Array.from(b));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThan(1);
    const mean = b.reduce((s, v) => s + v, 0) / b.length;
    const std = Math.sqrt(b.reduce((s, v) => s + (v - mean) ** 2, 0) / b.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(std - 1)).toBeLessThan(0.05);
  });
});

describe('views share storage', () => {
  test('reshape/view/flatten/permute/transpose/narrow/select read the same memory', () => {
    const t = tn.arange(24).reshape(2, 3, 4);
    expect(t.view(6, 4).storage).toBe(t.storage);
    expect(t.flatten().toArray()).toEqual(Array.from({ length: 24 }, (_, i) => i));
    const p = t.permute(2, 0, 1);
    expect(p.storage).toBe(t.storage);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.isContiguous()).toBe(false);
    expect(p.contiguous().toArray()).toEqual([0, 1, 2, 3].map((k) => [[0, 4, 8].map((j) => j + k), [12, 16, 20].map((j) => j + k)]));
    expect(t.transpose(0, 2).shape).toEqual([4, 3, 2]);
    expect(t.narrow(2, 1, 2).toArray()).toEqual([[[1, 2], [5, 6], [9, 10]], [[13, 14], [17, 18], [21, 22]]]);
    expect(t.select(1, -1).toArray()).toEqual([[8, 9, 10, 11], [20, 21, 22, 23]]);
    expect(() => p.view(24)).toThrow(tn.ShapeError);
    expect(p.reshape(24).shape).toEqual([24]);
    expect(() => t.reshape(5, 5)).toThrow('reshape: shape [5, 5] is invalid for input of size 24');
  });

  test('in-place writes through a view are seen by the base', () => {
    const t = tn.zeros([2, 3]);
    t.view(6).fill_(2);
    expect(t.sum().item()).toBe(12);
  });

  test('gradients flow through views', () => {
    const x = randLeaf([2, 3, 4], 21);
    gradcheck((a) => a.permute(2, 0, 1).reshape(4, 6).narrow(1, 1, 3).mul(a.sum()), [x]);
    gradcheck((a) => a.transpose(0, 1).unsqueeze(0).squeeze(0).expand(5, 3, 2, 4), [x]);
    gradcheck((a) => tn.cat([a, a.mul(2)], 1), [x]);
    gradcheck((a) => tn.stack([a, a.exp()], 0), [x]);
  });
});

describe('reductions', () => {
  const t = tn.tensor([[1, 5, 3], [4, 2, 6]], { dtype: 'float32' });
  test('sum, mean, max, argmax along dims', () => {
    expect(t.sum().item()).toBe(21);
    expect(t.sum(0).toArray()).toEqual([5, 7, 9]);
    expect(t.sum(1, true).toArray()).toEqual([[9], [12]]);
    expect(t.sum([0, 1]).item()).toBe(21);
    expect(t.mean(1).toArray()).toEqual([3, 4]);
    expect(t.max().item()).toBe(6);
    const m = t.max(1);
    expect(m.values.toArray()).toEqual([5, 6]);
    expect(m.indices.toArray()).toEqual([1, 2]);
    expect(t.argmax().item()).toBe(5);
    expect(t.argmax(0).toArray()).toEqual([1, 0, 1]);
    expect(t.min(0).values.toArray()).toEqual([1, 2, 3]);
    expect(t.argmin(1).toArray()).toEqual([0, 1]);
  });

  test('gradients of sum, mean, max', () => {
    const x = randLeaf([3, 5, 2], 22);
    gradcheck((a) => a.sum(1), [x]);
    gradcheck((a) => a.mean([0, 2], true), [x]);
    gradcheck((a) => a.max(1).values, [x]);
    gradcheck((a) => a.max().mul(a.min()), [x]);
    gradcheck((a) => a.sum().add(a.mean()), [x]);
  });
});

test('indexSelect along dim 0 (DataLoader batching) and its gradient', () => {
  const t = tn.arange(12).reshape(4, 3);
  expect(t.indexSelect(0, tn.tensor([3, 0, 3])).toArray()).toEqual([[9, 10, 11], [0, 1, 2], [9, 10, 11]]);
  expect(t.indexSelect(1, tn.tensor([2, 0])).toArray()).toEqual([[2, 0], [5, 3], [8, 6], [11, 9]]);
  expect(() => t.indexSelect(0, tn.tensor([4]))).toThrow(tn.IndexError);
  // an int32 index (widened for the kernel) gathers and is checked the same way
  expect(t.indexSelect(0, tn.tensor([3, 0, 3], { dtype: 'int32' })).toArray()).toEqual([[9, 10, 11], [0, 1, 2], [9, 10, 11]]);
  expect(() => t.indexSelect(0, tn.tensor([1, -2], { dtype: 'int32' }))).toThrow('indexSelect: index -2 at position 1 is out of range for dimension 0 of size 4');
  const x = randLeaf([4, 3], 23);
  gradcheck((a) => a.indexSelect(0, tn.tensor([1, 3, 1])), [x]);
});

describe('autograd', () => {
  test('grads accumulate across backward calls; noGrad and detach stop recording', () => {
    const x = tn.tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
    x.mul(2).sum().backward();
    x.mul(3).sum().backward();
    expect(x.grad!.toArray()).toEqual([5, 5, 5]);
    const y = tn.noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(x.detach().requiresGrad).toBe(false);
    expect(x.mul(2).detach().gradFn).toBeNull();
  });

  test('a shared subexpression gets the sum of both paths', () => {
    const x = randLeaf([3], 24);
    gradcheck((a) => {
      const e = a.exp();
      return e.mul(e).add(e);
    }, [x]);
  });

  test('backward frees saved tensors: the closure is dropped after it runs', () => {
    const x = tn.randn([4], { requiresGrad: true });
    const y = x.exp().sum();
    const node = y.gradFn!;
    y.backward();
    expect(node.backwardFn).toBeNull();
  });
});

describe('memory model', () => {
  test('dispose returns memory to the caching allocator; views keep storage alive', () => {
    const t = tn.zeros([1 << 18]);
    const v = t.view(512, 512);
    t.dispose();
    expect(v.sum().item()).toBe(0); // the view still holds the storage
    const held = tn.memory.stats().allocated;
    v.dispose();
    expect(held - tn.memory.stats().allocated).toBe(1 << 20);
    expect(() => v.sum()).toThrow('dispose');
  });

  test('dispose returns every size to the allocator as memory.stats() reports it', () => {
    for (const n of [1, 17, 1000, 1025, 5000, 77777]) {
      const before = tn.memory.stats().allocated;
      const t = tn.zeros([n]);
      expect(tn.memory.stats().allocated).toBeGreaterThan(before);
      t.dispose();
      expect(tn.memory.stats().allocated).toBe(before);
      // the next tensor of that size reuses the memory, and a disposed tensor stays unusable
      const u = tn.ones([n]);
      expect(u.sum().item()).toBe(n);
      expect(() => t.sum()).toThrow('dispose');
      u.dispose();
    }
  });

  test('out of host memory: the spare memory of disposed tensors is given back first, then OutOfMemoryError', () => {
    tn.zeros([1 << 16]).dispose(); // leaves a spare handle
    const reserved = tn.memory.stats().reserved;
    // 2^46 floats = 256 TiB: past the 128 TiB user address space, so no overcommit setting grants it
    expect(() => tn.empty([2 ** 46])).toThrow(tn.OutOfMemoryError);
    expect(tn.memory.stats().reserved).toBeLessThan(reserved);
    expect(tn.ones([3]).sum().item()).toBe(3); // still usable
  });

  test('tidy disposes everything but its result', () => {
    const inner: tn.Tensor[] = [];
    const kept = tn.tidy(() => {
      const a = tn.ones([1000]);
      const b = a.mul(3);
      inner.push(a, b);
      return { out: b.add(1) };
    }).out;
    expect(inner.every((t) => t.isDisposed)).toBe(true);
    expect(kept.isDisposed).toBe(false);
    expect(kept.sum().item()).toBe(4000);
  });

  test('the caching allocator reuses blocks: reserved memory stays flat over repeated steps', () => {
    const step = () => tn.tidy(() => tn.randn([256, 256]).mul(2).add(1).sum().item());
    for (let i = 0; i < 5; i++) step();
    const reserved = tn.memory.stats().reserved;
    for (let i = 0; i < 50; i++) step();
    expect(tn.memory.stats().reserved).toBe(reserved);
  });

  test('setNumThreads / getNumThreads', () => {
    const n = tn.getNumThreads();
    expect(n).toBeGreaterThanOrEqual(1);
    tn.setNumThreads(1);
    expect(tn.getNumThreads()).toBe(1);
    expect(tn.randn([100000]).sum().item()).toEqual(expect.any(Number));
    tn.setNumThreads(n);
    expect(() => tn.setNumThreads(0)).toThrow(tn.ValueError);
  });
});

test('typed arrays on a SharedArrayBuffer (worker batches) are read correctly', () => {
  const shared = new Float32Array(new SharedArrayBuffer(24), 8, 4);
  shared.set([1, 2, 3, 4]);
  expect(tn.fromTypedArray(shared).toArray()).toEqual([1, 2, 3, 4]);
  const { native } = require('../lib/native') as typeof import('../lib/native');
  expect(() => native.write(tn.zeros([4]).handle, 0, { length: 4 } as unknown as Float32Array)).toThrow(tn.ValueError);
});
