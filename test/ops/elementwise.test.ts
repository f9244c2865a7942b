// Element-wise ops: values against plain JS, broadcasting, and float64 gradient checks.
import * as tn from '../../lib';
import { gradcheck, randLeaf } from '../helpers/gradcheck';

describe('broadcasting arithmetic', () => {
  test('add/sub/mul/div broadcast like NumPy', () => {
    const a = tn.tensor([[1, 2, 3], [4, 5, 6]]).float();
    const b = tn.tensor([10, 20, 30]).float();
    expect(a.add(b).toArray()).toEqual([[11, 22, 33], [14, 25, 36]]);
    expect(a.sub(b).toArray()).toEqual([[-9, -18, -27], [-6, -15, -24]]);
    expect(a.mul(tn.tensor([[2], [3]]).float()).toArray()).toEqual([[2, 4, 6], [12, 15, 18]]);
    expect(b.div(a).toArray()).toEqual([[10, 10, 10], [2.5, 4, 5]]);
  });

  test('non-broadcastable shapes raise ShapeError naming both shapes', () => {
    const a = tn.zeros([2, 3]);
    const b = tn.zeros([4]);
    expect(() => a.add(b)).toThrow(tn.ShapeError);
    expect(() => a.add(b)).toThrow('add: shapes [2, 3] and [4] are not broadcastable');
  });

  test('integer tensors: division is true division, comparisons give bool', () => {
    const a = tn.tensor([1, 2, 3]);
    expect(a.dtype).toBe('int64');
    const d = a.div(2);
    expect(d.dtype).toBe('float32');
    expect(d.toArray()).toEqual([0.5, 1, 1.5]);
    expect(a.eq(tn.tensor([1, 0, 3])).toArray()).toEqual([true, false, true]);
  });
});

describe('gradients (float64 central differences)', () => {
  const shapesA = [[3, 5], [2, 1, 4], [7]];
  const shapesB = [[5], [3, 4], [1]];
  test.each(shapesA.map((s, i) => [s, shapesB[i]]))('add, sub, mul, div with broadcasting %j %j', (sa, sb) => {
    const a = randLeaf(sa as number[], 1);
    const b = randLeaf(sb as number[], 2, 0.5, 2);
    gradcheck((x, y) => x.add(y), [a, b]);
    gradcheck((x, y) => x.sub(y), [a, b]);
    gradcheck((x, y) => x.mul(y), [a, b]);
    gradcheck((x, y) => x.div(y), [a, b]);
  });

  test('unary: exp, log, sqrt, neg, abs, pow, clamp', () => {
    const x = randLeaf([3, 4], 3, 0.2, 2);
    gradcheck((t) => t.exp(), [x]);
    gradcheck((t) => t.log(), [x]);
    gradcheck((t) => t.sqrt(), [x]);
    gradcheck((t) => t.neg(), [x]);
    gradcheck((t) => t.pow(3), [x]);
    gradcheck((t) => t.clamp(0.5, 1.5), [x]);
    gradcheck((t) => t.abs(), [randLeaf([5], 4)]);
  });

  test('maximum and tensor pow', () => {
    const a = randLeaf([4, 3], 5, 0.5, 2);
    const b = randLeaf([3], 6, 0.5, 2);
    gradcheck((x, y) => x.maximum(y), [a, b]);
    gradcheck((x, y) => x.pow(y), [a, b]);
  });
});
