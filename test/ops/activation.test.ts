// Activations and dropout: float32 kernels (forward and fused backward) against plain JS,
// dropout masks bit for bit against a BigInt re-derivation of the seeded generator, float64
// gradient checks, and errors by class and message.
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { native } from '../../lib/native';
import { dropout, leakyRelu, relu, sigmoid, tanh } from '../../lib/ops/activation';
import { expectClose, gradcheck } from '../helpers/gradcheck';
import * as ref from '../helpers/reference_activation';

function randValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const g = new tn.Generator(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * g.random();
  return v;
}

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** A float64 leaf with |x| in [0.1, 2): kinks of relu/leaky_relu stay far from every perturbation. */
function awayLeaf(shape: number[], seed: number): Tensor {
  const v = randValues(numel(shape), seed, -1, 1).map((u) => Math.sign(u || 1) * (0.1 + 1.9 * Math.abs(u)));
  return tn.fromTypedArray(v, shape).requiresGrad_(true);
}

type Act = { name: string; fn: (x: Tensor) => Tensor; f: (x: number) => number; df: (x: number) => number };
const acts: Act[] = [
  { name: 'relu', fn: relu, f: ref.reluRef, df: ref.reluGradRef },
  { name: 'leaky_relu(0.01)', fn: (x) => leakyRelu(x), f: (x) => ref.leakyReluRef(x, 0.01), df: (x) => ref.leakyReluGradRef(x, 0.01) },
  { name: 'leaky_relu(-0.3)', fn: (x) => leakyRelu(x, -0.3), f: (x) => ref.leakyReluRef(x, -0.3), df: (x) => ref.leakyReluGradRef(x, -0.3) },
  { name: 'sigmoid', fn: sigmoid, f: ref.sigmoidRef, df: ref.sigmoidGradRef },
  { name: 'tanh', fn: tanh, f: ref.tanhRef, df: ref.tanhGradRef },
];

// ---------------------------------------------------------------------------------------------
// float32 kernels against the references

describe('activation float32 kernels vs reference', () => {
  const shapes = [[7], [3, 5], [2, 3, 7, 5], [100003]]; // the last one takes the threaded path
  const cases = acts.flatMap((a) => shapes.map((s) => [a.name, JSON.stringify(s), a, s] as const));
  test.each(cases)('%s %s', (_n, _s, a, shape) => {
    const v = Float32Array.from(randValues(numel(shape), 21, -4, 4));
    v[0] = 0; // the kink: relu' = 0 and leaky_relu' = slope there, as in PyTorch
    const x = tn.fromTypedArray(v, shape).requiresGrad_(true);
    const y = a.fn(x);
    expect(y.shape).toEqual(shape);
    expect(y.dtype).toBe('float32');
    expectClose(y.data as Float32Array, Array.from(v, a.f), 1e-6, 1e-5, `${a.name} forward`);
    const dy = Float32Array.from(randValues(numel(shape), 22));
    y.backward(tn.fromTypedArray(dy, shape));
    expectClose(x.grad!.data as Float32Array, Array.from(v, (xi, i) => dy[i] * a.df(xi)), 1e-6, 1e-5, `${a.name} backward`);
  });

  test('NaN propagates through every activation; saturation is exact', () => {
    const x = tn.tensor([NaN, -100, 100, -20, 20], { dtype: 'float32' });
    for (const a of acts) expect(Number.isNaN((a.fn(x).data as Float32Array)[0])).toBe(true);
    expect(Array.from(sigmoid(x).data as Float32Array).slice(1, 3)).toEqual([0, 1]);
    expect(Array.from(tanh(x).data as Float32Array).slice(3)).toEqual([-1, 1]);
  });

  test('strided input and float64 both work', () => {
    const x = tn.fromTypedArray(randValues(12, 23, -2, 2), [3, 4]);
    const t = x.transpose(0, 1);
    expect(relu(t).toArray()).toEqual(relu(t.contiguous()).toArray());
    expect(relu(x).dtype).toBe('float64');
    expectClose(tanh(x).data as Float64Array, Array.from(x.data as Float64Array, Math.tanh), 1e-15, 1e-14, 'tanh float64');
  });

  test('exact values on small inputs', () => {
    const x = tn.tensor([-1, 0.5], { dtype: 'float32' });
    expect(relu(x).toArray()).toEqual([0, 0.5]);
    expect(leakyRelu(x, 0.5).toArray()).toEqual([-0.5, 0.5]);
  });
});

// ---------------------------------------------------------------------------------------------
// float64 gradient checks

describe('gradients (float64 central differences)', () => {
  const shapes = [[3, 5], [2, 3, 4], [7]];
  test.each(shapes.map((s) => [JSON.stringify(s), s]))('relu, leaky_relu, sigmoid, tanh on %s', (_n, shape) => {
    const x = awayLeaf(shape as number[], 31);
    gradcheck((t) => relu(t), [x]);
    gradcheck((t) => leakyRelu(t, 0.1), [x]);
    gradcheck((t) => leakyRelu(t, -0.2), [x]);
    gradcheck((t) => sigmoid(t), [x]);
    gradcheck((t) => tanh(t), [x]);
  });

  test('composition: tanh(sigmoid(x) * relu(x))', () => {
    gradcheck((t) => tanh(sigmoid(t).mul(relu(t))), [awayLeaf([4, 3], 32)]);
  });

  test('dropout with a fixed seed: the same mask in every forward, gradient = mask / (1 - p)', () => {
    const x = awayLeaf([6, 7], 33);
    const p = 0.4;
    const fn = (t: Tensor) => dropout(t, { p, generator: new tn.Generator(77) });
    gradcheck(fn, [x]);
    const y = fn(x);
    const mask = Array.from(y.data as Float64Array, (v) => (v !== 0 ? 1 : 0));
    expect(mask).toContain(0);
    expect(mask).toContain(1);
    y.sum().backward();
    expectClose(x.grad!.data as Float64Array, mask.map((m) => m / (1 - p)), 1e-15, 1e-14, 'dropout grad');
  });
});

// ---------------------------------------------------------------------------------------------
// dropout semantics

describe('dropout', () => {
  test('the mask is random_unit(seed, i) >= p, bit for bit, and kept values are scaled by 1/(1-p)', () => {
    for (const [p, dtype] of [[0.5, 'float32'], [0.13, 'float64'], [0.9, 'float32']] as const) {
      const n = 1001;
      const v = randValues(n, 41, 0.5, 2); // nonzero, so out != 0 exactly where kept
      const x = tn.fromTypedArray(v, [7, 11, 13], { dtype });
      const seed = new tn.Generator(99).nextSeed();
      const y = dropout(x, { p, generator: new tn.Generator(99) });
      const mask = ref.dropoutMaskRef(seed, n, p);
      const out = y.data as Float32Array | Float64Array;
      expect(Array.from(out, (o) => (o !== 0 ? 1 : 0))).toEqual(Array.from(mask));
      const xs = x.data as Float32Array | Float64Array;
      expectClose(out, Array.from(xs, (xi, i) => (mask[i] ? xi / (1 - p) : 0)), 1e-6, 1e-6, `dropout p=${p}`);
    }
  });

  test('same seed, same mask; different seeds, different masks; independent of size and thread count', () => {
    const x = tn.ones([50000]);
    const a = dropout(x, { generator: new tn.Generator(5) }).data as Float32Array;
    const b = dropout(x, { generator: new tn.Generator(5) }).data as Float32Array;
    const c = dropout(x, { generator: new tn.Generator(6) }).data as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    // Element i depends only on (seed, i): a prefix of a bigger tensor gets the same mask.
    const small = dropout(tn.ones([100]), { generator: new tn.Generator(5) }).data as Float32Array;
    expect(Array.from(small)).toEqual(Array.from(a.subarray(0, 100)));
    const threads = tn.getNumThreads();
    try {
      tn.setNumThreads(1);
      const single = dropout(x, { generator: new tn.Generator(5) }).data as Float32Array;
      expect(Array.from(single)).toEqual(Array.from(a));
    } finally {
      tn.setNumThreads(threads);
    }
  });

  test('the default generator: manualSeed reproduces the mask, successive calls differ', () => {
    const x = tn.ones([1000]);
    tn.manualSeed(123);
    const a = Array.from(dropout(x).data as Float32Array);
    const b = Array.from(dropout(x).data as Float32Array);
    tn.manualSeed(123);
    const c = Array.from(dropout(x).data as Float32Array);
    expect(c).toEqual(a);
    expect(b).not.toEqual(a);
  });

  test('the mean is preserved and a fraction p is zeroed (statistically)', () => {
    const n = 200000;
    for (const p of [0.1, 0.5, 0.8]) {
      const y = dropout(tn.ones([n], { dtype: 'float64' }), { p, generator: new tn.Generator(Math.round(p * 1000)) });
      const d = y.data as Float64Array;
      let sum = 0;
      let zeros = 0;
      for (const v of d) {
        sum += v;
        if (v === 0) zeros++;
      }
      // Standard error of the mean is sqrt(p / (1 - p) / n) <= 0.0045; allow ~5 of them.
      expect(Math.abs(sum / n - 1)).toBeLessThan(0.02);
      expect(Math.abs(zeros / n - p)).toBeLessThan(0.01);
    }
  });

  test('p = 0 and training = false return the input itself; p = 1 gives zeros and a zero gradient', () => {
    const x = tn.fromTypedArray(randValues(10, 51), [2, 5]).requiresGrad_(true);
    expect(dropout(x, { p: 0 })).toBe(x);
    expect(dropout(x, { p: 0.7, training: false })).toBe(x);
    const y = dropout(x, { p: 1 });
    expect(Array.from(y.data as Float64Array).every((v) => v === 0)).toBe(true);
    y.sum().backward();
    expect(Array.from(x.grad!.data as Float64Array).every((v) => v === 0)).toBe(true);
  });

  test('float32 backward kernel: dx = dy * mask / (1 - p)', () => {
    const p = 0.3;
    const v = Float32Array.from(randValues(999, 52, 0.5, 2));
    const x = tn.fromTypedArray(v, [27, 37]).requiresGrad_(true);
    const y = dropout(x, { p, generator: new tn.Generator(8) });
    const mask = ref.dropoutMaskRef(new tn.Generator(8).nextSeed(), 999, p);
    const dy = Float32Array.from(randValues(999, 53));
    y.backward(tn.fromTypedArray(dy, [27, 37]));
    expectClose(x.grad!.data as Float32Array, Array.from(dy, (g, i) => (mask[i] ? g / (1 - p) : 0)), 1e-6, 1e-6, 'dropout backward');
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
  test('integer inputs are a DTypeError naming the op', () => {
    const xi = tn.tensor([1, -2, 3]);
    for (const [name, fn] of [['relu', relu], ['leaky_relu', (t: Tensor) => leakyRelu(t)], ['sigmoid', sigmoid], ['tanh', tanh], ['dropout', (t: Tensor) => dropout(t)]] as const) {
      const e = thrown(() => fn(xi));
      expect(e).toBeInstanceOf(tn.DTypeError);
      expect(e.message).toBe(`${name}: expected a float32 or float64 tensor but got int64`);
    }
  });

  test('dropout probability outside [0, 1] and a non-finite slope are ValueErrors', () => {
    const x = tn.ones([3]);
    for (const p of [-0.1, 1.5, NaN]) {
      const e = thrown(() => dropout(x, { p }));
      expect(e).toBeInstanceOf(tn.ValueError);
      expect(e.message).toBe(`dropout: probability has to be between 0 and 1, but got ${p}`);
    }
    // checked even when training is false, as PyTorch does
    expect(() => dropout(x, { p: 2, training: false })).toThrow(tn.ValueError);
    const s = thrown(() => leakyRelu(x, Infinity));
    expect(s).toBeInstanceOf(tn.ValueError);
    expect(s.message).toBe('leaky_relu: negative_slope must be a finite number, but got Infinity');
  });

  test('the binding refuses bad codes, out-of-bounds buffers and p outside [0, 1)', () => {
    const x = tn.ones([4]);
    const small = tn.zeros([3]);
    expect(() => native.activationForward(9, x.handle, 0, x.handle, 0, 4, 0, 0)).toThrow(tn.ValueError);
    const e = thrown(() => native.activationForward(0, small.handle, 0, x.handle, 0, 4, 0, 0));
    expect(e).toBeInstanceOf(tn.IndexError);
    expect(e.message).toContain('activation: output needs 4 elements');
    expect(() => native.activationBackward(2, x.handle, 0, x.handle, 2, x.handle, 0, 4, 0, 0)).toThrow(tn.IndexError);
    const mask = tn.zeros([4], { dtype: 'uint8' });
    expect(() => native.dropoutForward(x.handle, 0, mask.handle, 0, x.handle, 0, 4, 0, 1, 0, 1)).toThrow(tn.ValueError);
    expect(() => native.dropoutForward(x.handle, 0, mask.handle, 1, x.handle, 0, 4, 0, 0.5, 0, 1)).toThrow(tn.IndexError);
    expect(() => native.dropoutBackward(x.handle, 0, x.handle, 0, mask.handle, 0, 4, 2, 0.5)).toThrow(tn.DTypeError);
  });
});
