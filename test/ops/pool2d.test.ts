// Pooling: float32 kernels (forward values, max indices, backward) against the plain JS
// references, PyTorch's output sizes, float64 gradient checks, and errors by class and message.
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { native } from '../../lib/native';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d, pool2dOutputSize, reluMaxPool2d } from '../../lib/ops/pool2d';
import { expectClose, gradcheck } from '../helpers/gradcheck';
import * as ref from '../helpers/reference_pool2d';

type P2 = [number, number];

function randValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const g = new tn.Generator(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * g.random();
  return v;
}

/** A float32 leaf with random values, and those values as float32 would round them. */
function randF32(shape: number[], seed: number): { t: Tensor; v: Float32Array } {
  const v = Float32Array.from(randValues(shape.reduce((a, b) => a * b, 1), seed));
  return { t: tn.fromTypedArray(v, shape).requiresGrad_(true), v };
}

/** A float64 leaf whose values are a shuffled ramp: no ties anywhere, gaps of 0.01 (max pool). */
function distinctLeaf(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const perm = new tn.Generator(seed).permutation(n);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = (perm[i] - n / 2) * 0.01;
  return tn.fromTypedArray(v, shape).requiresGrad_(true);
}

/** A float64 leaf uniform in [lo, hi). */
function leaf64(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  return tn.fromTypedArray(randValues(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape).requiresGrad_(true);
}

function planes(shape: number[]): { P: number; H: number; W: number } {
  const H = shape[shape.length - 2];
  const W = shape[shape.length - 1];
  return { P: shape.slice(0, -2).reduce((a, b) => a * b, 1), H, W };
}

function pair(v: number | number[]): P2 {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function indicesOf(t: Tensor): number[] {
  return Array.from(t.data as BigInt64Array, (b) => Number(b));
}

// ---------------------------------------------------------------------------------------------
// output sizes

describe('output sizes follow PyTorch', () => {
  test('pool2dOutputSize matches the reference formula over a grid, ceil_mode included', () => {
    let checked = 0;
    for (let n = 1; n <= 12; n++)
      for (let k = 1; k <= 4; k++)
        for (let s = 1; s <= 3; s++)
          for (let p = 0; p <= Math.floor(k / 2); p++)
            for (let d = 1; d <= 2; d++)
              for (const c of [false, true]) {
                expect(pool2dOutputSize(n, k, s, p, d, c)).toBe(ref.outputSizeRef(n, k, s, p, d, c));
                checked++;
              }
    expect(checked).toBeGreaterThan(1000);
  });

  test('known PyTorch shapes, including the rule that the last ceil_mode window starts inside the input', () => {
    // nn.MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5x5 gives 3x3: a 4th window would start in the right padding.
    expect(maxPool2d(tn.zeros([1, 1, 5, 5]), 2, { stride: 2, padding: 1, ceilMode: true }).shape).toEqual([1, 1, 3, 3]);
    expect(maxPool2d(tn.zeros([1, 1, 6, 6]), 3, { stride: 2, padding: 1, ceilMode: true }).shape).toEqual([1, 1, 4, 4]);
    expect(maxPool2d(tn.zeros([1, 1, 6, 6]), 3, { stride: 2, padding: 1 }).shape).toEqual([1, 1, 3, 3]);
    expect(maxPool2d(tn.zeros([20, 10, 26, 26]), 2).shape).toEqual([20, 10, 13, 13]);
    expect(maxPool2d(tn.zeros([20, 20, 11, 11]), 2).shape).toEqual([20, 20, 5, 5]);
    expect(maxPool2d(tn.zeros([3, 11, 11]), 2, { ceilMode: true }).shape).toEqual([3, 6, 6]);
    expect(maxPool2d(tn.zeros([1, 1, 9, 9]), 2, { dilation: 3, stride: 1 }).shape).toEqual([1, 1, 6, 6]);
    expect(avgPool2d(tn.zeros([2, 3, 7, 9]), [3, 2], { stride: [2, 3], padding: [1, 0] }).shape).toEqual([2, 3, 4, 3]);
    expect(adaptiveAvgPool2d(tn.zeros([2, 3, 7, 9]), [3, null]).shape).toEqual([2, 3, 3, 9]);
  });
});

// ---------------------------------------------------------------------------------------------
// float32 kernels against the references

interface MaxCase {
  shape: number[];
  k: number | P2;
  s?: number | P2;
  p?: number | P2;
  d?: number | P2;
  ceil?: boolean;
}

const maxCases: MaxCase[] = [
  { shape: [2, 3, 7, 9], k: 3, s: 2, p: 1 }, // overlapping windows, stride 2, padding
  { shape: [1, 2, 8, 8], k: 2 }, // the classic CNN's pool
  { shape: [2, 1, 11, 10], k: [3, 2], s: [2, 3], p: [1, 0], d: [2, 1] }, // dilation, rectangular
  { shape: [3, 5, 5], k: 2, s: 2, p: 1, ceil: true }, // unbatched; ceil rule drops a window
  { shape: [1, 2, 6, 7], k: 3, s: 2, p: 1, ceil: true },
  { shape: [2, 2, 9, 9], k: 3, s: 1, d: 3 },
  { shape: [1, 1, 13, 13], k: 3, s: 3, ceil: true }, // partial last window
  { shape: [8, 16, 28, 28], k: 2 }, // many planes: the threaded path
  { shape: [2, 3, 11, 13], k: 2 }, // 2x2 fast path on odd sizes: the last row and column are dropped
  { shape: [1, 2, 7, 7], k: 2, ceil: true }, // ceil mode: a last window past the input (general loop)
  { shape: [3, 1, 6, 34], k: 2 }, // 2x2 fast path, rows longer than one vector
];

describe('max_pool2d float32 kernels vs reference', () => {
  test.each(maxCases.map((c) => [JSON.stringify(c), c]))('%s', (_name, c) => {
    const cs = c as MaxCase;
    const q: ref.PoolParams = { k: pair(cs.k), s: pair(cs.s ?? cs.k), p: pair(cs.p ?? 0), d: pair(cs.d ?? 1), ceilMode: cs.ceil ?? false };
    const { t, v } = randF32(cs.shape, 7);
    const { P, H, W } = planes(cs.shape);
    const r = ref.maxPool2dRef(v, P, H, W, q);
    const { output, indices } = maxPool2d(t, cs.k, { stride: cs.s, padding: cs.p, dilation: cs.d, ceilMode: cs.ceil, returnIndices: true });
    expect(output.shape).toEqual([...cs.shape.slice(0, -2), r.OH, r.OW]);
    expect(indices.dtype).toBe('int64');
    expect(indicesOf(indices)).toEqual(r.idx);
    expectClose(output.data as Float32Array, r.out, 0, 0, 'max_pool2d forward');
    const dy = randValues(output.numel(), 8);
    output.backward(tn.fromTypedArray(Float32Array.from(dy), output.shape));
    expectClose(t.grad!.data as Float32Array, ref.maxPool2dBackwardRef(Float32Array.from(dy), r.idx, P, H, W, r.OH, r.OW), 1e-6, 1e-5, 'max_pool2d backward');
  });

  test('backward overwrites: a second backward gives the same gradient, not twice it', () => {
    const x = tn.fromTypedArray(Float32Array.from(randValues(2 * 5 * 5, 3)), [2, 5, 5]).requiresGrad_(true);
    const y = maxPool2d(x, 3, { stride: 1, padding: 1 });
    y.sum().backward(undefined, { retainGraph: true });
    const first = Float32Array.from(x.grad!.data as Float32Array);
    x.grad = null;
    y.sum().backward();
    expect(Array.from(x.grad!.data as Float32Array)).toEqual(Array.from(first));
    // Overlapping 3x3 windows with stride 1: some cell wins several windows and collects each dy.
    expect(Math.max(...first)).toBeGreaterThan(1);
  });

  test('NaN propagates and ties keep the first index', () => {
    const x = tn.tensor([[[1, 5, 5, 2], [0, 5, NaN, 3]]], { dtype: 'float32' });
    const { output, indices } = maxPool2d(x, [2, 2], { returnIndices: true });
    const o = output.data as Float32Array;
    expect(o[0]).toBe(5);
    expect(Number.isNaN(o[1])).toBe(true);
    expect(indicesOf(indices)).toEqual([1, 6]);
  });

  test.each([
    [3, 8, 18],
    [2, 6, 41], // rows of 20 outputs: a full 16-wide step and a masked tail
    [4, 5, 9], // odd sizes: the last row and column are dropped
    [2, 7, 17], // odd sizes on the direct backward's path (rows of 8 outputs)
  ])('2x2 stride-2 fast path: ties and NaN at every tap position, float32 and float64, relu fused or not: [%d, %d, %d]', (P, H, W) => {
    // Values from a small set give ties in most windows; the rule is the general loop's: the first
    // tap, then any strictly greater value, or any NaN (so the last NaN of a window wins).
    const g = new tn.Generator(21 + W);
    const v = new Float64Array(P * H * W);
    for (let i = 0; i < v.length; i++) {
      const r = g.random();
      v[i] = r < 0.08 ? NaN : r < 0.12 ? -Infinity : Math.floor(r * 4) - 2;
    }
    const OH = Math.floor(H / 2);
    const OW = Math.floor(W / 2);
    const wantOut: number[] = [];
    const wantIdx: number[] = [];
    for (let p = 0; p < P; p++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let best = 0;
          let bi = -1;
          for (const [dh, dw] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
            const pos = (2 * oh + dh) * W + 2 * ow + dw;
            const x = v[p * H * W + pos];
            if (bi < 0 || x > best || Number.isNaN(x)) {
              best = x;
              bi = pos;
            }
          }
          wantOut.push(best);
          wantIdx.push(bi);
        }
      }
    }
    for (const dtype of ['float32', 'float64'] as const) {
      const x = tn.fromTypedArray(v, [P, H, W], { dtype });
      const { output, indices } = maxPool2d(x, 2, { returnIndices: true });
      expect(indicesOf(indices)).toEqual(wantIdx);
      expect(Array.from(output.data as Float32Array | Float64Array)).toEqual(wantOut);
      // fused relu: relu(max) (NaN stays NaN), and a gradient only where the max is positive
      const xg = x.detach().requiresGrad_(true);
      const fused = reluMaxPool2d(xg, 2);
      expect(Array.from(fused.data as Float32Array | Float64Array)).toEqual(wantOut.map((b) => (b < 0 ? 0 : b)));
      // leave stale values in the memory the gradient will get: every element must be written
      tn.full([P, H, W], 7, { dtype }).dispose();
      fused.sum().backward();
      const wantGrad = new Array(P * H * W).fill(0);
      wantIdx.forEach((bi, o) => {
        if (wantOut[o] > 0) wantGrad[Math.floor(o / (OH * OW)) * H * W + bi] += 1;
      });
      expect(Array.from(xg.grad!.data as Float32Array | Float64Array)).toEqual(wantGrad);
    }
  });

  test.each(maxCases.map((c) => [JSON.stringify(c), c]))('reluMaxPool2d equals maxPool2d(relu(x)), values and gradient: %s', (_name, c) => {
    const cs = c as MaxCase;
    const opts = { stride: cs.s, padding: cs.p, dilation: cs.d, ceilMode: cs.ceil };
    const { v } = randF32(cs.shape, 11);
    // coarse values: ties, zeros, negative-only windows
    const q = Float32Array.from(v, (x) => Math.round(x * 3) / 3);
    const a = tn.fromTypedArray(q, cs.shape).requiresGrad_(true);
    const b = tn.fromTypedArray(q, cs.shape).requiresGrad_(true);
    const fused = reluMaxPool2d(a, cs.k, opts);
    const plain = maxPool2d(b.relu(), cs.k, opts);
    // equal values; a zero may differ in sign (which of several zeros wins a window)
    const noSign = (t: Tensor) => Array.from(t.data as Float32Array, (z) => (z === 0 ? 0 : z));
    expect(noSign(fused)).toEqual(noSign(plain));
    const dy = tn.fromTypedArray(Float32Array.from(randValues(fused.numel(), 12)), fused.shape);
    fused.backward(dy);
    plain.backward(dy);
    expect(Array.from(a.grad!.data as Float32Array)).toEqual(Array.from(b.grad!.data as Float32Array));
  });

  test('reluMaxPool2d: NaN stays NaN and passes no gradient, float64 too', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      // windows: [NaN -1 -2 -1] -> NaN, [-2 -3 0 -5] -> 0, [0.5 7 -1 -2] -> 7, [NaN 1 -3 -4] -> NaN
      const v = [NaN, -1, -2, -3, -2, -1, 0, -5, 0.5, 7, NaN, 1, -1, -2, -3, -4];
      const x = tn.tensor(v, { dtype }).reshape([1, 4, 4]).requiresGrad_(true);
      const out = reluMaxPool2d(x, 2);
      const o = Array.from(out.data as Float32Array | Float64Array);
      expect(Number.isNaN(o[0])).toBe(true);
      expect(o[1]).toBe(0);
      expect(o[2]).toBe(7);
      expect(Number.isNaN(o[3])).toBe(true);
      out.sum().backward();
      const want = Array(16).fill(0);
      want[9] = 1;
      expect(Array.from(x.grad!.data as Float32Array | Float64Array)).toEqual(want);
    }
  });

  test('unbatched input equals the batched op on a batch of one', () => {
    const { t } = randF32([3, 7, 6], 9);
    const a = maxPool2d(t, 3, { stride: 2, padding: 1 });
    const b = maxPool2d(t.unsqueeze(0), 3, { stride: 2, padding: 1 });
    expect(a.shape).toEqual([3, 4, 3]);
    expect(Array.from(a.data as Float32Array)).toEqual(Array.from(b.data as Float32Array));
  });

  test('non-contiguous input is read correctly', () => {
    const { t } = randF32([2, 3, 6, 5], 10);
    const perm = t.permute(1, 0, 2, 3); // [3, 2, 6, 5], strided
    const out = maxPool2d(perm, 2);
    const contig = maxPool2d(perm.contiguous(), 2);
    expect(Array.from(out.data as Float32Array)).toEqual(Array.from(contig.data as Float32Array));
  });
});

interface AvgCase {
  shape: number[];
  k: number | P2;
  s?: number | P2;
  p?: number | P2;
  ceil?: boolean;
  include?: boolean;
  div?: number;
}

const avgCases: AvgCase[] = [
  { shape: [2, 3, 7, 9], k: 3, s: 2, p: 1, include: true },
  { shape: [2, 3, 7, 9], k: 3, s: 2, p: 1, include: false },
  { shape: [1, 2, 5, 5], k: 2, s: 2, p: 1, ceil: true, include: true }, // clipped at the padded border
  { shape: [1, 2, 5, 5], k: 2, s: 2, p: 1, ceil: true, include: false },
  { shape: [3, 6, 7], k: [3, 2], s: [2, 1], p: [1, 1], ceil: true, include: true }, // unbatched
  { shape: [1, 1, 8, 8], k: 4, s: 3, ceil: true, include: true }, // last window runs past the end
  { shape: [2, 2, 7, 7], k: 3, s: 2, p: 1, include: true, div: 3 },
  { shape: [8, 16, 28, 28], k: 2, include: true }, // threaded path
];

describe('avg_pool2d float32 kernels vs reference', () => {
  test.each(avgCases.map((c) => [JSON.stringify(c), c]))('%s', (_name, c) => {
    const cs = c as AvgCase;
    const q: ref.AvgParams = { k: pair(cs.k), s: pair(cs.s ?? cs.k), p: pair(cs.p ?? 0), ceilMode: cs.ceil ?? false, countIncludePad: cs.include ?? true, divisorOverride: cs.div };
    const { t, v } = randF32(cs.shape, 11);
    const { P, H, W } = planes(cs.shape);
    const r = ref.avgPool2dRef(v, P, H, W, q);
    const y = avgPool2d(t, cs.k, { stride: cs.s, padding: cs.p, ceilMode: cs.ceil, countIncludePad: cs.include, divisorOverride: cs.div });
    expect(y.shape).toEqual([...cs.shape.slice(0, -2), r.OH, r.OW]);
    expectClose(y.data as Float32Array, r.out, 1e-6, 1e-5, 'avg_pool2d forward');
    const dy = Float32Array.from(randValues(y.numel(), 12));
    y.backward(tn.fromTypedArray(dy, y.shape));
    expectClose(t.grad!.data as Float32Array, ref.avgPool2dBackwardRef(dy, P, H, W, r.OH, r.OW, q), 1e-6, 1e-5, 'avg_pool2d backward');
  });

  test("PyTorch's divisors on ones: padding counted or not, ceil_mode windows clipped", () => {
    const ones = tn.ones([1, 1, 3, 3]);
    expect(avgPool2d(ones, 2, { stride: 2, padding: 1 }).toArray()).toEqual([[[[0.25, 0.5], [0.5, 1]]]]);
    expect(avgPool2d(ones, 2, { stride: 2, padding: 1, countIncludePad: false }).toArray()).toEqual([[[[1, 1], [1, 1]]]]);
    // ceil_mode's extra window is divided by its size clipped to the (unpadded here) input: all ones.
    expect(avgPool2d(tn.ones([1, 1, 5, 5]), 2, { ceilMode: true }).toArray()).toEqual([[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]]]);
  });
});

interface AdaptiveCase {
  shape: number[];
  out: number | (number | null)[];
}

const adaptiveCases: AdaptiveCase[] = [
  { shape: [2, 3, 7, 7], out: 3 }, // 7 -> 3: overlapping windows
  { shape: [1, 2, 10, 6], out: [4, 4] },
  { shape: [3, 5, 5], out: [null, 2] }, // unbatched, null keeps H
  { shape: [2, 2, 4, 4], out: 1 }, // global average
  { shape: [1, 1, 3, 3], out: 5 }, // output larger than input
  { shape: [8, 16, 28, 28], out: [5, 6] }, // threaded path
];

describe('adaptive_avg_pool2d float32 kernels vs reference', () => {
  test.each(adaptiveCases.map((c) => [JSON.stringify(c), c]))('%s', (_name, c) => {
    const cs = c as AdaptiveCase;
    const { t, v } = randF32(cs.shape, 13);
    const { P, H, W } = planes(cs.shape);
    const sizes = typeof cs.out === 'number' ? [cs.out, cs.out] : cs.out;
    const OH = sizes[0] ?? H;
    const OW = sizes[1] ?? W;
    const y = adaptiveAvgPool2d(t, cs.out);
    expect(y.shape).toEqual([...cs.shape.slice(0, -2), OH, OW]);
    expectClose(y.data as Float32Array, ref.adaptiveAvgPool2dRef(v, P, H, W, OH, OW), 1e-6, 1e-5, 'adaptive forward');
    const dy = Float32Array.from(randValues(y.numel(), 14));
    y.backward(tn.fromTypedArray(dy, y.shape));
    expectClose(t.grad!.data as Float32Array, ref.adaptiveAvgPool2dBackwardRef(dy, P, H, W, OH, OW), 1e-6, 1e-5, 'adaptive backward');
  });
});

// ---------------------------------------------------------------------------------------------
// float64 gradient checks

describe('gradients (float64 central differences)', () => {
  test('max_pool2d: stride 2 with padding, dilation, ceil_mode, overlapping windows (inputs without ties)', () => {
    gradcheck((x) => maxPool2d(x, 3, { stride: 2, padding: 1 }), [distinctLeaf([2, 2, 7, 7], 1)]);
    gradcheck((x) => maxPool2d(x, [3, 2], { stride: [2, 1], padding: [1, 1], dilation: [2, 1] }), [distinctLeaf([1, 2, 9, 8], 2)]);
    gradcheck((x) => maxPool2d(x, 2, { stride: 2, padding: 1, ceilMode: true }), [distinctLeaf([2, 5, 5], 3)]);
    gradcheck((x) => maxPool2d(x, 3, { stride: 1, ceilMode: true }), [distinctLeaf([1, 1, 6, 7], 4)]);
  });

  test('reluMaxPool2d: 2x2 fast path and general windows (distinct values, half of them negative)', () => {
    gradcheck((x) => reluMaxPool2d(x, 2), [distinctLeaf([2, 3, 6, 8], 12)]);
    gradcheck((x) => reluMaxPool2d(x, 3, { stride: 2, padding: 1 }), [distinctLeaf([2, 2, 7, 7], 13)]);
  });

  test('avg_pool2d: padding counted or not, ceil_mode, divisor override', () => {
    gradcheck((x) => avgPool2d(x, 3, { stride: 2, padding: 1 }), [leaf64([2, 2, 7, 7], 5)]);
    gradcheck((x) => avgPool2d(x, [3, 2], { stride: [2, 1], padding: [1, 1], ceilMode: true, countIncludePad: false }), [leaf64([1, 3, 7, 6], 6)]);
    gradcheck((x) => avgPool2d(x, 2, { stride: 2, padding: 1, ceilMode: true }), [leaf64([3, 5, 5], 7)]);
    gradcheck((x) => avgPool2d(x, 3, { stride: 2, divisorOverride: 4 }), [leaf64([1, 2, 7, 5], 8)]);
  });

  test('adaptive_avg_pool2d: non-divisible sizes (7 -> 3, 5 -> 2, 8 -> 3)', () => {
    gradcheck((x) => adaptiveAvgPool2d(x, 3), [leaf64([2, 2, 7, 7], 9)]);
    gradcheck((x) => adaptiveAvgPool2d(x, [2, 3]), [leaf64([1, 3, 5, 8], 10)]);
    gradcheck((x) => adaptiveAvgPool2d(x, [null, 4]), [leaf64([2, 3, 5], 11)]);
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
  test('input that is not 3-D or 4-D, or has an empty plane', () => {
    const e = thrown(() => maxPool2d(tn.zeros([2, 3]), 2));
    expect(e).toBeInstanceOf(tn.ShapeError);
    expect(e.message).toBe('max_pool2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, but got input of shape [2, 3]');
    expect(() => avgPool2d(tn.zeros([1, 2, 3, 4, 5]), 2)).toThrow(/^avg_pool2d: expected a 3-D .* \[1, 2, 3, 4, 5\]$/);
    expect(() => adaptiveAvgPool2d(tn.zeros([4, 4]), 2)).toThrow(tn.ShapeError);
    const z = thrown(() => maxPool2d(tn.zeros([1, 0, 4, 4]), 2));
    expect(z).toBeInstanceOf(tn.ShapeError);
    expect(z.message).toContain('[1, 0, 4, 4]');
  });

  test('padding larger than half the kernel', () => {
    const e = thrown(() => maxPool2d(tn.zeros([1, 1, 8, 8]), 3, { padding: 2 }));
    expect(e).toBeInstanceOf(tn.ValueError);
    expect(e.message).toBe('max_pool2d: padding should be at most half of kernel size, but got padding [2, 2] and kernel_size [3, 3]');
    expect(() => avgPool2d(tn.zeros([1, 1, 8, 8]), [2, 4], { padding: [1, 3] })).toThrow(
      'avg_pool2d: padding should be at most half of kernel size, but got padding [1, 3] and kernel_size [2, 4]',
    );
  });

  test('output size below 1 names the input shape', () => {
    const e = thrown(() => maxPool2d(tn.zeros([2, 3, 2, 2]), 3));
    expect(e).toBeInstanceOf(tn.ShapeError);
    expect(e.message).toBe('max_pool2d: input [2, 3, 2, 2] is too small: calculated output size [0, 0] is less than 1 (kernel_size [3, 3], stride [3, 3], padding [0, 0], dilation [1, 1])');
    const a = thrown(() => avgPool2d(tn.zeros([3, 5, 1]), 2, { stride: 1 }));
    expect(a).toBeInstanceOf(tn.ShapeError);
    expect(a.message).toContain('avg_pool2d: input [3, 5, 1] is too small: calculated output size [4, 0]');
    expect(() => maxPool2d(tn.zeros([1, 1, 4, 4]), 2, { dilation: 4 })).toThrow(tn.ShapeError);
  });

  test('bad option values and dtypes', () => {
    expect(() => maxPool2d(tn.zeros([1, 1, 4, 4]), 0)).toThrow(tn.ValueError);
    expect(() => maxPool2d(tn.zeros([1, 1, 4, 4]), 0)).toThrow('max_pool2d: kernel_size must be one or two positive integers, but got 0');
    expect(() => maxPool2d(tn.zeros([1, 1, 4, 4]), 2, { stride: [1, 2, 3] })).toThrow('max_pool2d: stride must be one or two positive integers, but got [1,2,3]');
    expect(() => maxPool2d(tn.zeros([1, 1, 4, 4]), 2, { padding: -1 })).toThrow(tn.ValueError);
    expect(() => maxPool2d(tn.zeros([1, 1, 4, 4]), 1.5)).toThrow(tn.ValueError);
    expect(() => avgPool2d(tn.zeros([1, 1, 4, 4]), 2, { divisorOverride: 0 })).toThrow('avg_pool2d: divisor_override must be a positive integer, but got 0');
    const a = thrown(() => adaptiveAvgPool2d(tn.zeros([1, 1, 4, 4]), [0, 2]));
    expect(a).toBeInstanceOf(tn.ValueError);
    expect(a.message).toContain('adaptive_avg_pool2d: output_size');
    const d = thrown(() => maxPool2d(tn.zeros([1, 1, 4, 4], { dtype: 'int64' }), 2));
    expect(d).toBeInstanceOf(tn.DTypeError);
    expect(d.message).toBe('max_pool2d: expected a float32 or float64 tensor but got int64');
  });

  test('the binding itself refuses out-of-bounds buffers and indices', () => {
    const x = tn.zeros([1, 1, 4, 4]);
    const small = tn.zeros([3]);
    const idx = tn.zeros([4], { dtype: 'int64' });
    const fwd = thrown(() => native.maxPool2dForward(small.handle, 0, idx.handle, 0, x.handle, 0, 1, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 0));
    expect(fwd).toBeInstanceOf(tn.IndexError);
    expect(fwd.message).toContain('max_pool2d: output needs 4 elements');
    const bad = tn.tensor([0, 3, 16, 5]); // 16 is outside a 4x4 plane
    const dy = tn.zeros([4]);
    const bwd = thrown(() => native.maxPool2dBackward(x.handle, 0, dy.handle, 0, bad.handle, 0, 1, 4, 4, 2, 2, 0));
    expect(bwd).toBeInstanceOf(tn.IndexError);
    expect(bwd.message).toContain('index 16');
    expect(() => native.avgPool2dForward(small.handle, 0, x.handle, 0, 1, 4, 4, 2, 2, 0, 2, 2, 2, 0, 0, true, 0, 0)).toThrow(tn.ValueError);
    expect(() => native.adaptiveAvgPool2dForward(small.handle, 0, x.handle, 1, 1, 4, 4, 1, 1, 0)).toThrow(tn.IndexError);
  });
});
