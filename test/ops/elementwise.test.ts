// Element-wise ops: values against plain JS, broadcasting, and float64 gradient checks.
import * as tn from '../../lib';
import { DTYPE_CODE } from '../../lib/dtype';
import { native } from '../../lib/native';
import { BINARY_OP, UNARY_OP } from '../../lib/ops/elementwise';
import { REDUCE_OP } from '../../lib/ops/reduce';
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

describe('float32 kernels against the plain reference', () => {
  const { broadcastRef, reduceRef } = require('../helpers/reference_elementwise') as typeof import('../helpers/reference_elementwise');
  const { expectClose } = require('../helpers/gradcheck') as typeof import('../helpers/gradcheck');
  const cases: [number[], number[]][] = [[[33, 17], [17]], [[5, 1, 7], [3, 1]], [[1], [4, 9]], [[2, 3, 4, 5], [2, 1, 4, 1]], [[4097], [4097]]];
  const ops: [string, (x: number, y: number) => number, (a: tn.Tensor, b: tn.Tensor) => tn.Tensor][] = [
    ['add', (x, y) => x + y, (a, b) => a.add(b)],
    ['sub', (x, y) => x - y, (a, b) => a.sub(b)],
    ['mul', (x, y) => x * y, (a, b) => a.mul(b)],
    ['div', (x, y) => x / y, (a, b) => a.div(b)],
    ['maximum', (x, y) => Math.max(x, y), (a, b) => a.maximum(b)],
    ['pow', (x, y) => Math.pow(Math.abs(x) + 0.5, y), (a, b) => a.abs().add(0.5).pow(b)],
  ];
  test.each(cases)('binary ops broadcast %j with %j', (sa, sb) => {
    tn.manualSeed(5);
    const a = tn.randn(sa);
    const b = tn.rand(sb).add(0.5);
    for (const [name, f, op] of ops) {
      const ref = broadcastRef(a.data as Float32Array, sa, b.data as Float32Array, sb, f);
      const got = op(a, b);
      expect(got.shape).toEqual(ref.shape);
      expectClose(got.data as Float32Array, ref.out, 1e-5, 1e-5, name);
    }
  });

  test('unary ops', () => {
    tn.manualSeed(6);
    const x = tn.rand([1001]).add(0.1);
    const xs = Array.from(x.data as Float32Array);
    const check = (t: tn.Tensor, f: (v: number) => number, name: string) => expectClose(t.data as Float32Array, xs.map(f), 1e-6, 1e-5, name);
    check(x.exp(), Math.exp, 'exp');
    check(x.log(), Math.log, 'log');
    check(x.sqrt(), Math.sqrt, 'sqrt');
    check(x.neg(), (v) => -v, 'neg');
    check(x.pow(2.5), (v) => v ** 2.5, 'pow');
    check(x.clamp(0.3, 0.7), (v) => Math.min(0.7, Math.max(0.3, v)), 'clamp');
    check(x.mul(3), (v) => v * 3, 'mulScalar');
    check(x.add(-2), (v) => v - 2, 'addScalar');
  });

  test.each([[[7, 13, 5]], [[1, 300]], [[64, 3]]])('reductions over each dim of %j', (shape) => {
    tn.manualSeed(7);
    const x = tn.randn(shape as number[]);
    const xs = x.data as Float32Array;
    for (let d = 0; d < (shape as number[]).length; d++) {
      expectClose(x.sum(d).data as Float32Array, reduceRef(xs, shape as number[], d, (v) => v.reduce((p, q) => p + q, 0)), 1e-5, 1e-5, `sum ${d}`);
      expectClose(x.mean(d).data as Float32Array, reduceRef(xs, shape as number[], d, (v) => v.reduce((p, q) => p + q, 0) / v.length), 1e-5, 1e-5, `mean ${d}`);
      expectClose(x.max(d).values.data as Float32Array, reduceRef(xs, shape as number[], d, (v) => Math.max(...v)), 0, 0, `max ${d}`);
      expect(Array.from(x.argmax(d).data as BigInt64Array).map(Number)).toEqual(reduceRef(xs, shape as number[], d, (v) => v.indexOf(Math.max(...v))));
    }
  });

  test('strided copies (contiguous of a permuted view) match index arithmetic', () => {
    const x = tn.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).float();
    const p = x.permute(3, 1, 0, 2).contiguous().data as Float32Array;
    let k = 0;
    for (let a = 0; a < 5; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 2; c++) for (let d = 0; d < 4; d++) expect(p[k++]).toBe(((c * 3 + b) * 4 + d) * 5 + a);
  });
});

describe('binding guards', () => {
  // The raw binding is callable directly: a storage too short for what the arguments describe is
  // an IndexError naming the op and argument, never a read or write out of bounds.
  const f32 = DTYPE_CODE.float32;
  const i64 = DTYPE_CODE.int64;

  test('unary checks out and x for n elements', () => {
    const x = tn.ones([4]);
    const small = tn.zeros([3]);
    expect(() => native.unary(UNARY_OP.neg, small.handle, 0, x.handle, 0, 4, f32, 0)).toThrow(tn.IndexError);
    expect(() => native.unary(UNARY_OP.neg, small.handle, 0, x.handle, 0, 4, f32, 0)).toThrow('unary: output needs 4 elements from offset 0 but its storage holds 3');
    expect(() => native.unary(UNARY_OP.neg, x.handle, 0, small.handle, 0, 4, f32, 0)).toThrow('unary: input needs 4 elements');
    expect(() => native.unary(UNARY_OP.neg, x.handle, 1, x.handle, 0, 4, f32, 0)).toThrow(tn.IndexError);
    expect(() => native.unary(UNARY_OP.neg, x.handle, -1, x.handle, 0, 1, f32, 0)).toThrow(tn.IndexError);
    expect(() => native.unary(UNARY_OP.neg, x.handle, 0, x.handle, 0, -1, f32, 0)).toThrow(tn.ValueError);
    native.unary(UNARY_OP.neg, x.handle, 0, x.handle, 0, 4, f32, 0); // in bounds: runs
    expect(x.toArray()).toEqual([-1, -1, -1, -1]);
  });

  test('binary checks out for prod(shape) and a, b for the furthest element their strides reach', () => {
    const a = tn.ones([2, 3]);
    const row = tn.ones([3]);
    const out = tn.zeros([2, 3]);
    const add = (o: tn.Tensor, x: tn.Tensor, xs: number[], y: tn.Tensor, ys: number[], shape = [2, 3]) =>
      native.binary(BINARY_OP.add, o.handle, 0, x.handle, 0, xs, y.handle, 0, ys, shape, f32);
    add(out, a, [3, 1], row, [0, 1]); // broadcast row: reaches element 2 only
    expect(out.toArray()).toEqual([[2, 2, 2], [2, 2, 2]]);
    expect(() => add(tn.zeros([5]), a, [3, 1], row, [0, 1])).toThrow('binary: output needs 6 elements from offset 0 but its storage holds 5');
    expect(() => add(out, a, [3, 1], row, [3, 1])).toThrow(tn.IndexError);
    expect(() => add(out, a, [3, 1], row, [3, 1])).toThrow('binary: b needs 6 elements from offset 0 but its storage holds 3');
    expect(() => add(out, a, [4, 1], row, [0, 1])).toThrow('binary: a needs 7 elements');
    expect(() => add(out, a, [3, -1], row, [0, 1])).toThrow(tn.ValueError);
  });

  test('binaryContiguous checks out, a and b for n elements from their offsets', () => {
    const a = tn.tensor([1, 2, 3, 4], { dtype: 'float32' });
    const b = tn.tensor([10, 20, 30, 40], { dtype: 'float32' });
    const out = tn.zeros([4]);
    native.binaryContiguous(BINARY_OP.sub, out.handle, 0, b.handle, 0, a.handle, 0, 4, f32);
    expect(out.toArray()).toEqual([9, 18, 27, 36]);
    native.binaryContiguous(BINARY_OP.mul, out.handle, 1, b.handle, 2, a.handle, 1, 2, f32);
    expect(out.toArray()).toEqual([9, 60, 120, 36]);
    expect(() => native.binaryContiguous(BINARY_OP.add, tn.zeros([3]).handle, 0, a.handle, 0, b.handle, 0, 4, f32)).toThrow('binary: output needs 4 elements from offset 0 but its storage holds 3');
    expect(() => native.binaryContiguous(BINARY_OP.add, out.handle, 0, a.handle, 1, b.handle, 0, 4, f32)).toThrow('binary: a needs 4 elements from offset 1');
    expect(() => native.binaryContiguous(BINARY_OP.add, out.handle, 0, a.handle, 0, b.handle, 2, 4, f32)).toThrow(tn.IndexError);
    expect(() => native.binaryContiguous(BINARY_OP.add, out.handle, 0, a.handle, 0, b.handle, 0, -1, f32)).toThrow(tn.ValueError);
    expect(() => native.binaryContiguous(99, out.handle, 0, a.handle, 0, b.handle, 0, 4, f32)).toThrow(tn.ValueError);
    const i = tn.tensor([1, 2, 3]);
    const o = tn.zeros([3], { dtype: 'int64' });
    native.binaryContiguous(BINARY_OP.mul, o.handle, 0, i.handle, 0, i.handle, 0, 3, i64);
    expect(o.toArray()).toEqual([1, 4, 9]);
  });

  test('copyStrided checks x through its strides and out through outStrides when given', () => {
    const x = tn.arange(6).float();
    const out = tn.zeros([6]);
    expect(() => native.copyStrided(out.handle, 0, x.handle, 0, [3, 2], [1, 3], f32)).not.toThrow(); // transpose: reaches 5
    expect(out.toArray()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(() => native.copyStrided(out.handle, 0, x.handle, 1, [3, 2], [1, 3], f32)).toThrow(tn.IndexError);
    expect(() => native.copyStrided(out.handle, 0, x.handle, 1, [3, 2], [1, 3], f32)).toThrow('copy: input needs 6 elements from offset 1 but its storage holds 6');
    expect(() => native.copyStrided(tn.zeros([5]).handle, 0, x.handle, 0, [3, 2], [2, 1], f32)).toThrow('copy: output needs 6 elements');
    expect(() => native.copyStrided(out.handle, 0, x.handle, 0, [3, 2], [2, 1], f32, [1, 4])).toThrow('copy: output needs 7 elements');
    expect(() => native.copyStrided(out.handle, 0, x.handle, 0, [0, 2], [100, 100], f32)).not.toThrow(); // empty: reaches nothing
  });

  test('indexSelect checks the index (k), out (k rows) and x (rows rows)', () => {
    const x = tn.ones([4, 3]);
    const idx = tn.tensor([0, 3]);
    const out = tn.zeros([2, 3]);
    const call = (o: tn.Tensor, rows: number, ix: tn.Tensor, k: number) =>
      native.indexSelect(o.handle, 0, x.handle, 0, rows, 3, f32, ix.handle, 0, k, i64);
    call(out, 4, idx, 2);
    expect(out.toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
    expect(() => call(out, 4, idx, 3)).toThrow('indexSelect: index needs 3 elements from offset 0 but its storage holds 2');
    expect(() => call(out, 4, tn.tensor([0, 1, 2]), 3)).toThrow('indexSelect: output needs 9 elements');
    expect(() => call(out, 5, tn.tensor([4, 4]), 2)).toThrow(tn.IndexError);
    expect(() => call(out, 5, tn.tensor([4, 4]), 2)).toThrow('indexSelect: input needs 15 elements from offset 0 but its storage holds 12');
  });

  test('reduceDim checks x (outer, r, inner) and out, indices (outer, inner)', () => {
    const x = tn.ones([2, 3, 4]);
    const out = tn.zeros([2, 4]);
    const idx = tn.zeros([2, 4], { dtype: 'int64' });
    const reduce = (op: number, o: tn.Tensor, ix: tn.Tensor | null, r: number) =>
      native.reduceDim(op, o.handle, 0, ix ? ix.handle : null, 0, x.handle, 0, 2, r, 4, f32);
    reduce(REDUCE_OP.sum, out, null, 3);
    expect(out.toArray()).toEqual([[3, 3, 3, 3], [3, 3, 3, 3]]);
    expect(() => reduce(REDUCE_OP.sum, out, null, 4)).toThrow(tn.IndexError);
    expect(() => reduce(REDUCE_OP.sum, out, null, 4)).toThrow('reduce: input needs 32 elements from offset 0 but its storage holds 24');
    expect(() => reduce(REDUCE_OP.sum, tn.zeros([7]), null, 3)).toThrow('reduce: output needs 8 elements');
    expect(() => reduce(REDUCE_OP.max, out, tn.zeros([7], { dtype: 'int64' }), 3)).toThrow('reduce: indices needs 8 elements');
    expect(() => reduce(REDUCE_OP.argmax, out, tn.zeros([4], { dtype: 'int64' }), 3)).toThrow(tn.IndexError);
    reduce(REDUCE_OP.argmax, out, idx, 3); // argmax writes only the indices
  });
});
