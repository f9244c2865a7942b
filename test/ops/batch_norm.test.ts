// Batch norm: float32 kernels (training and eval forward, running-stat updates, backward) against
// the plain JS reference, float64 gradient checks in both modes, and errors by class and message.
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { native } from '../../lib/native';
import { batchNorm } from '../../lib/ops/batch_norm';
import { expectClose, gradcheck, randLeaf } from '../helpers/gradcheck';
import * as ref from '../helpers/reference_batch_norm';

function randValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const g = new tn.Generator(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * g.random();
  return v;
}

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function ncs(shape: number[]): { N: number; C: number; S: number } {
  return { N: shape[0], C: shape[1], S: numel(shape.slice(2)) };
}

function f32(v: ArrayLike<number>, shape: number[], grad = false): Tensor {
  const t = tn.fromTypedArray(Float32Array.from(v), shape);
  return grad ? t.requiresGrad_(true) : t;
}

const arr = (t: Tensor): number[] => Array.from(t.data as Float32Array | Float64Array);

// Odd sizes, 2-D/3-D/4-D, a non-zero mean (3 + x) so that one-pass variance would lose digits,
// and one big enough for several threads.
const shapes = [[5, 3], [4, 3, 7], [3, 2, 5, 3], [16, 8, 28, 28]];

// ---------------------------------------------------------------------------------------------
// float32 kernels against the references

describe('batch_norm float32 kernels vs reference', () => {
  test.each(shapes.map((s) => [JSON.stringify(s), s]))('training %s: output, running stats (unbiased var), gradients', (_n, shape) => {
    const { N, C, S } = ncs(shape);
    const xv = Float32Array.from(randValues(numel(shape), 61, 2, 4));
    const wv = Float32Array.from(randValues(C, 62, 0.5, 1.5));
    const bv = Float32Array.from(randValues(C, 63));
    const rm0 = Float32Array.from(randValues(C, 64));
    const rv0 = Float32Array.from(randValues(C, 65, 0.5, 2));
    const x = f32(xv, shape, true);
    const w = f32(wv, [C], true);
    const b = f32(bv, [C], true);
    const rm = f32(rm0, [C]);
    const rv = f32(rv0, [C]);
    const momentum = 0.2;
    const eps = 1e-3;
    const y = batchNorm(x, rm, rv, w, b, { training: true, momentum, eps });
    const st = ref.batchStatsRef(xv, N, C, S);
    expect(y.shape).toEqual(shape);
    expectClose(y.data as Float32Array, ref.normalizeRef(xv, N, C, S, st.mean, st.varBiased, eps, wv, bv), 1e-5, 1e-4, 'forward');
    expectClose(rm.data as Float32Array, ref.runningUpdateRef(rm0, st.mean, momentum), 1e-6, 1e-5, 'running_mean');
    expectClose(rv.data as Float32Array, ref.runningUpdateRef(rv0, st.varUnbiased, momentum), 1e-6, 1e-5, 'running_var');

    const dy = Float32Array.from(randValues(numel(shape), 66));
    y.backward(f32(dy, shape));
    const g = ref.batchNormBackwardRef(dy, xv, N, C, S, eps, wv, true);
    expectClose(x.grad!.data as Float32Array, g.dx, 1e-5, 1e-3, 'dx');
    expectClose(w.grad!.data as Float32Array, g.dw, 1e-4, 1e-4, 'dweight');
    expectClose(b.grad!.data as Float32Array, g.db, 1e-4, 1e-4, 'dbias');
  });

  test.each(shapes.map((s) => [JSON.stringify(s), s]))('eval %s: running stats used and left unchanged, gradients', (_n, shape) => {
    const { N, C, S } = ncs(shape);
    const xv = Float32Array.from(randValues(numel(shape), 71, -2, 2));
    const wv = Float32Array.from(randValues(C, 72, 0.5, 1.5));
    const bv = Float32Array.from(randValues(C, 73));
    const rmv = Float32Array.from(randValues(C, 74));
    const rvv = Float32Array.from(randValues(C, 75, 0.5, 2));
    const x = f32(xv, shape, true);
    const w = f32(wv, [C], true);
    const b = f32(bv, [C], true);
    const rm = f32(rmv, [C]);
    const rv = f32(rvv, [C]);
    const y = batchNorm(x, rm, rv, w, b);
    expectClose(y.data as Float32Array, ref.normalizeRef(xv, N, C, S, rmv, rvv, 1e-5, wv, bv), 1e-5, 1e-5, 'forward');
    expect(arr(rm)).toEqual(Array.from(rmv));
    expect(arr(rv)).toEqual(Array.from(rvv));
    const dy = Float32Array.from(randValues(numel(shape), 76));
    y.backward(f32(dy, shape));
    const g = ref.batchNormBackwardRef(dy, xv, N, C, S, 1e-5, wv, false, rmv, rvv);
    expectClose(x.grad!.data as Float32Array, g.dx, 1e-5, 1e-4, 'dx');
    expectClose(w.grad!.data as Float32Array, g.dw, 1e-4, 1e-4, 'dweight');
    expectClose(b.grad!.data as Float32Array, g.db, 1e-4, 1e-4, 'dbias');
  });

  test('without weight and bias, and without running stats in training', () => {
    const shape = [6, 4, 5];
    const { N, C, S } = ncs(shape);
    const xv = Float32Array.from(randValues(numel(shape), 81, -3, 3));
    const x = f32(xv, shape, true);
    const y = batchNorm(x, null, null, null, null, { training: true });
    const st = ref.batchStatsRef(xv, N, C, S);
    expectClose(y.data as Float32Array, ref.normalizeRef(xv, N, C, S, st.mean, st.varBiased, 1e-5), 1e-5, 1e-4, 'forward');
    const dy = Float32Array.from(randValues(numel(shape), 82));
    y.backward(f32(dy, shape));
    expectClose(x.grad!.data as Float32Array, ref.batchNormBackwardRef(dy, xv, N, C, S, 1e-5, null, true).dx, 1e-5, 1e-3, 'dx');
  });

  test('running stats over several steps follow the formula; momentum 1 keeps only the last batch', () => {
    const C = 3;
    const rm = tn.zeros([C]);
    const rv = tn.ones([C]);
    let em: Float64Array = new Float64Array(C);
    let ev: Float64Array = new Float64Array(C).fill(1);
    for (let step = 0; step < 4; step++) {
      const xv = Float32Array.from(randValues(8 * C * 2, 90 + step, -1 + step, 1 + 2 * step));
      batchNorm(f32(xv, [8, C, 2]), rm, rv, null, null, { training: true });
      const st = ref.batchStatsRef(xv, 8, C, 2);
      em = ref.runningUpdateRef(em, st.mean, 0.1);
      ev = ref.runningUpdateRef(ev, st.varUnbiased, 0.1);
    }
    expectClose(rm.data as Float32Array, em, 1e-6, 1e-5, 'running_mean');
    expectClose(rv.data as Float32Array, ev, 1e-6, 1e-5, 'running_var');
    // momentum 1: running stats become this batch's mean and unbiased variance; [N, C] input (S = 1).
    const xv = [1, 10, 2, 20, 6, 60];
    const rm2 = tn.zeros([2]);
    const rv2 = tn.zeros([2]);
    batchNorm(f32(xv, [3, 2]), rm2, rv2, null, null, { training: true, momentum: 1 });
    expectClose(rm2.data as Float32Array, [3, 30], 1e-6, 1e-6, 'mean');
    expectClose(rv2.data as Float32Array, [7, 700], 1e-5, 1e-6, 'unbiased var');
  });

  test('a large common offset does not cost precision (statistics in double, two passes)', () => {
    const xv = Float32Array.from(randValues(4 * 2 * 50, 95, -1, 1), (v) => 1000 + v);
    const y = batchNorm(f32(xv, [4, 2, 50]), null, null, null, null, { training: true, eps: 0 });
    const st = ref.batchStatsRef(xv, 4, 2, 50);
    expectClose(y.data as Float32Array, ref.normalizeRef(xv, 4, 2, 50, st.mean, st.varBiased, 0), 1e-4, 1e-4, 'offset forward');
  });

  test('non-contiguous input is read correctly', () => {
    const base = f32(randValues(2 * 5 * 3, 96), [5, 2, 3]);
    const x = base.transpose(0, 1); // [2, 5, 3] strided
    const a = batchNorm(x, null, null, null, null, { training: true });
    const b = batchNorm(x.contiguous(), null, null, null, null, { training: true });
    expect(arr(a)).toEqual(arr(b));
  });
});

// ---------------------------------------------------------------------------------------------
// float64 gradient checks

describe('gradients (float64 central differences)', () => {
  const gshapes = [[4, 3], [3, 2, 5], [2, 3, 3, 3]];
  test.each(gshapes.map((s) => [JSON.stringify(s), s]))('training %s: x, weight, bias', (_n, shape) => {
    const C = shape[1];
    const x = randLeaf(shape, 101, -2, 2);
    const w = randLeaf([C], 102, 0.5, 1.5);
    const b = randLeaf([C], 103);
    const rm = tn.zeros([C], { dtype: 'float64' });
    const rv = tn.ones([C], { dtype: 'float64' });
    gradcheck((xi, wi, bi) => batchNorm(xi, rm, rv, wi, bi, { training: true }), [x, w, b]);
    gradcheck((xi) => batchNorm(xi, null, null, null, null, { training: true, eps: 1e-3 }), [x]);
  });

  test.each(gshapes.map((s) => [JSON.stringify(s), s]))('eval %s: x, weight, bias', (_n, shape) => {
    const C = shape[1];
    const x = randLeaf(shape, 111, -2, 2);
    const w = randLeaf([C], 112, 0.5, 1.5);
    const b = randLeaf([C], 113);
    const rm = tn.fromTypedArray(randValues(C, 114), [C]);
    const rv = tn.fromTypedArray(randValues(C, 115, 0.5, 2), [C]);
    gradcheck((xi, wi, bi) => batchNorm(xi, rm, rv, wi, bi), [x, w, b]);
  });

  test('weight only, bias only, and grads only for the inputs that require them', () => {
    const x = randLeaf([5, 2, 3], 121);
    const w = randLeaf([2], 122, 0.5, 1.5);
    const b = randLeaf([2], 123);
    gradcheck((xi, wi) => batchNorm(xi, null, null, wi, null, { training: true }), [x, w]);
    gradcheck((xi, bi) => batchNorm(xi, null, null, null, bi, { training: true }), [x, b]);
    const xc = tn.fromTypedArray(x.data as Float64Array, x.shape); // no grad
    const wl = randLeaf([2], 124);
    batchNorm(xc, null, null, wl, null, { training: true }).sum().backward();
    expect(wl.grad!.shape).toEqual([2]);
    expect(xc.grad).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// errors

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, none was thrown');
}

describe('errors', () => {
  test('channel mismatch names both shapes', () => {
    const x = tn.zeros([2, 4, 5]);
    const e = thrown(() => batchNorm(x, tn.zeros([3]), tn.ones([3])));
    expect(e).toBeInstanceOf(tn.ShapeError);
    expect(e.message).toBe('batch_norm: input [2, 4, 5] has 4 channels but running_mean [3] expects 3');
    expect(() => batchNorm(x, null, null, tn.ones([5]), null, { training: true })).toThrow('batch_norm: input [2, 4, 5] has 4 channels but weight [5] expects 5');
    expect(() => batchNorm(x, tn.zeros([4]), tn.ones([4]), null, tn.zeros([2, 2, 2]))).toThrow('batch_norm: input [2, 4, 5] has 4 channels but bias [2, 2, 2] expects 8');
  });

  test('training with one value per channel', () => {
    const e = thrown(() => batchNorm(tn.zeros([1, 4]), tn.zeros([4]), tn.ones([4]), null, null, { training: true }));
    expect(e).toBeInstanceOf(tn.ValueError);
    expect(e.message).toBe('batch_norm: expected more than 1 value per channel when training, got input size [1, 4]');
    expect(() => batchNorm(tn.zeros([1, 4, 1, 1]), null, null, null, null, { training: true })).toThrow('got input size [1, 4, 1, 1]');
    // eval with a single value is fine
    expect(batchNorm(tn.ones([1, 4]), tn.zeros([4]), tn.ones([4])).shape).toEqual([1, 4]);
  });

  test('eval without running stats, bad dims, dtypes and options', () => {
    const eval1 = thrown(() => batchNorm(tn.zeros([2, 3]), null, null));
    expect(eval1).toBeInstanceOf(tn.ValueError);
    expect(eval1.message).toBe('batch_norm: running_mean and running_var must be given when training is false');
    const d = thrown(() => batchNorm(tn.zeros([4]), null, null, null, null, { training: true }));
    expect(d).toBeInstanceOf(tn.ShapeError);
    expect(d.message).toBe('batch_norm: expected an input of at least 2 dimensions (N, C, ...), but got input of shape [4]');
    const t = thrown(() => batchNorm(tn.zeros([2, 3], { dtype: 'int64' }), null, null, null, null, { training: true }));
    expect(t).toBeInstanceOf(tn.DTypeError);
    expect(t.message).toBe('batch_norm: expected a float32 or float64 input but got int64');
    const m = thrown(() => batchNorm(tn.zeros([2, 3]), null, null, tn.ones([3], { dtype: 'float64' }), null, { training: true }));
    expect(m).toBeInstanceOf(tn.DTypeError);
    expect(m.message).toBe('batch_norm: expected weight to be float32 like the input, but got float64');
    expect(() => batchNorm(tn.zeros([2, 3]), null, null, null, null, { training: true, eps: -1 })).toThrow(tn.ValueError);
    expect(() => batchNorm(tn.zeros([2, 3]), null, null, null, null, { training: true, momentum: NaN })).toThrow('batch_norm: momentum must be a finite number, but got NaN');
    const strided = tn.zeros([3, 2]).select(1, 0);
    expect(() => batchNorm(tn.zeros([2, 3]), strided, tn.ones([3]), null, null, { training: true })).toThrow('batch_norm: running_mean must be contiguous');
  });

  test('the binding refuses out-of-bounds buffers and eval without running stats', () => {
    const x = tn.zeros([2, 3, 4]);
    const c = tn.zeros([3]);
    const small = tn.zeros([2]);
    const e = thrown(() => native.batchNormForward(x.handle, 0, small.handle, 0, c.handle, 0, null, 0, null, 0, x.handle, 0, null, 0, null, 0, 2, 3, 4, true, 0.1, 1e-5, 0));
    expect(e).toBeInstanceOf(tn.IndexError);
    expect(e.message).toContain('batch_norm: save_mean needs 3 elements');
    expect(() => native.batchNormForward(x.handle, 0, c.handle, 0, c.handle, 0, null, 0, null, 0, x.handle, 0, null, 0, null, 0, 2, 3, 4, false, 0.1, 1e-5, 0)).toThrow(tn.ValueError);
    expect(() => native.batchNormBackward(null, 0, null, 0, null, 0, x.handle, 0, x.handle, 0, c.handle, 0, c.handle, 0, null, 0, 2, 3, 5, true, 0)).toThrow(tn.IndexError);
  });
});
