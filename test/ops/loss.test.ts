// Loss family: float32 kernels against the plain JS references (forward and backward, every option
// combination, spatial inputs), float64 gradient checks, values PyTorch gives that can be derived by
// hand, and error cases by class and message (including direct calls of the binding).
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { native } from '../../lib/native';
import { crossEntropy, l1Loss, logSoftmax, mseLoss, nllLoss, smoothL1Loss, softmax } from '../../lib/ops/loss';
import type { CrossEntropyOptions, Reduction } from '../../lib/ops/loss';
import { expectClose, gradcheck, randLeaf } from '../helpers/gradcheck';
import {
  PointwiseKind,
  refCrossEntropy,
  refCrossEntropyBackward,
  refCrossEntropyProbs,
  refLogSoftmax,
  refLogSoftmaxBackward,
  refNllLoss,
  refNllLossBackward,
  refPointwiseLoss,
  refPointwiseLossBackward,
  refSoftmax,
  refSoftmaxBackward,
} from '../helpers/reference_loss';

// ---------------------------------------------------------------------------------------------
// helpers

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function randArray(n: number, seed: number, lo = -2, hi = 2): number[] {
  const g = new tn.Generator(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * g.random());
}

/** A float32 tensor and the float32-rounded values it holds (what the reference must see). */
function f32(shape: number[], seed: number, lo = -2, hi = 2): { t: Tensor; v: number[] } {
  const a = Float32Array.from(randArray(numel(shape), seed, lo, hi));
  return { t: tn.fromTypedArray(a, shape), v: Array.from(a) };
}

function nums(t: Tensor): number[] {
  return Array.from(t.data as Float32Array | Float64Array);
}

/** Class targets in [0, C); with `ignore`, every third position (s % 3 == 1) is ignored instead and
 * the others avoid the ignored class, so that no shape below ends up with every target ignored. */
function randTargets(S: number, C: number, seed: number, ignore?: number): number[] {
  const g = new tn.Generator(seed);
  const classes = Array.from({ length: C }, (_, c) => c).filter((c) => c !== ignore);
  return Array.from({ length: S }, (_, s) => (ignore !== undefined && s % 3 === 1 ? ignore : classes[g.randint(classes.length)]));
}

function targetTensor(vals: number[], shape: number[], dtype: 'int64' | 'int32' = 'int64'): Tensor {
  return dtype === 'int64' ? tn.fromTypedArray(BigInt64Array.from(vals.map((v) => BigInt(v))), shape) : tn.fromTypedArray(Int32Array.from(vals), shape);
}

const REDUCTIONS: Reduction[] = ['none', 'mean', 'sum'];

interface ClassCombo {
  name: string;
  weighted: boolean;
  ignore: number | undefined;
  reduction: Reduction;
  eps: number;
}

function classCombos(withSmoothing: boolean): ClassCombo[] {
  const out: ClassCombo[] = [];
  for (const weighted of [false, true])
    for (const ignore of [undefined, 2])
      for (const reduction of REDUCTIONS)
        for (const eps of withSmoothing ? [0, 0.2] : [0]) {
          const name = `${reduction}${weighted ? ' weight' : ''}${ignore !== undefined ? ' ignoreIndex=2' : ''}${eps ? ` labelSmoothing=${eps}` : ''}`;
          out.push({ name, weighted, ignore, reduction, eps });
        }
  return out;
}

// input shape, target shape: [N, C], spatial [N, C, H, W], and a single sample [C].
const CLASS_SHAPES: [number[], number[]][] = [
  [[5, 7], [5]],
  [[3, 4, 2, 3], [3, 2, 3]],
  [[6], []],
];

// ---------------------------------------------------------------------------------------------
// float32 kernels against the references

describe('logSoftmax and softmax (float32 vs reference)', () => {
  const cases: [number[], number][] = [
    [[7], 0],
    [[3, 5], 1],
    [[3, 5], 0],
    [[2, 5, 3], 1],
    [[2, 5, 3], -1],
    [[2, 3, 4, 5], 2],
    [[2, 3, 4, 5], -4],
  ];
  test.each(cases)('shape %j dim %d: forward and backward', (shape, dim) => {
    const { t: x0, v } = f32(shape, 11 + shape.length, -3, 3);
    const dy = f32(shape, 99).v;
    for (const [op, ref, refBack] of [
      [logSoftmax, refLogSoftmax, refLogSoftmaxBackward],
      [softmax, refSoftmax, refSoftmaxBackward],
    ] as const) {
      const x = x0.detach().requiresGrad_(true);
      const y = op(x, dim);
      expect(y.shape).toEqual(shape);
      expectClose(nums(y), ref(v, shape, dim), 1e-5, 1e-5, `${op.name} forward`);
      y.backward(tn.fromTypedArray(Float32Array.from(dy), shape));
      expectClose(nums(x.grad!), refBack(dy, v, shape, dim), 1e-5, 1e-4, `${op.name} backward`);
    }
  });

  test('a non-contiguous input gives the values of its contiguous copy', () => {
    const { t, v } = f32([4, 3], 5);
    const tt = t.transpose(0, 1); // [3, 4], strided
    const vt = [0, 1, 2].flatMap((r) => [0, 1, 2, 3].map((c) => v[c * 3 + r]));
    expectClose(nums(logSoftmax(tt, 1)), refLogSoftmax(vt, [3, 4], 1), 1e-5, 1e-5, 'logSoftmax');
    expectClose(nums(softmax(tt, 0)), refSoftmax(vt, [3, 4], 0), 1e-5, 1e-5, 'softmax');
  });

  test('large logits stay finite (max subtracted)', () => {
    const x = tn.tensor([[1000, 0, -1000], [-1e4, -1e4 + 1, -1e4]], { dtype: 'float32' });
    expectClose(nums(logSoftmax(x, 1)), [0, -1000, -2000, ...refLogSoftmax([0, 1, 0], [3], 0)], 1e-4, 1e-6, 'logSoftmax');
    expectClose(nums(softmax(x, 1)), [1, 0, 0, ...refSoftmax([0, 1, 0], [3], 0)], 1e-6, 1e-6, 'softmax');
  });

  test('a larger batch runs on several threads and matches the reference', () => {
    const shape = [64, 10, 9, 9];
    const { t, v } = f32(shape, 21, -4, 4);
    expectClose(nums(logSoftmax(t, 1)), refLogSoftmax(v, shape, 1), 1e-5, 1e-5, 'logSoftmax');
  });
});

describe.each(CLASS_SHAPES)('crossEntropy (float32 vs reference) input %j target %j', (inShape, tShape) => {
  const C = inShape.length === 1 ? inShape[0] : inShape[1];
  test.each(classCombos(true).map((c) => [c.name, c] as const))('%s', (_, combo) => {
    const { t: x0, v } = f32(inShape, 31 + inShape.length);
    const tv = randTargets(numel(tShape), C, 7, combo.ignore);
    const target = targetTensor(tv, tShape);
    const wv = combo.weighted ? Array.from(Float32Array.from(randArray(C, 8, 0.2, 2))) : null;
    const opts: CrossEntropyOptions = { reduction: combo.reduction, labelSmoothing: combo.eps };
    if (wv) opts.weight = tn.fromTypedArray(Float32Array.from(wv), [C]);
    if (combo.ignore !== undefined) opts.ignoreIndex = combo.ignore;
    const refOpts = { weight: wv, ignoreIndex: combo.ignore, reduction: combo.reduction, labelSmoothing: combo.eps };

    const x = x0.detach().requiresGrad_(true);
    const loss = crossEntropy(x, target, opts);
    expect(loss.shape).toEqual(combo.reduction === 'none' ? tShape : []);
    expectClose(nums(loss), refCrossEntropy(v, inShape, tv, refOpts), 1e-5, 1e-5, 'loss');

    const dout = combo.reduction === 'none' ? Array.from(Float32Array.from(randArray(numel(tShape), 9))) : [0.75];
    loss.backward(tn.fromTypedArray(Float32Array.from(dout), loss.shape));
    expectClose(nums(x.grad!), refCrossEntropyBackward(dout, v, inShape, tv, refOpts), 1e-6, 1e-4, 'grad');
  });
});

describe.each(CLASS_SHAPES)('nllLoss (float32 vs reference) input %j target %j', (inShape, tShape) => {
  const C = inShape.length === 1 ? inShape[0] : inShape[1];
  test.each(classCombos(false).map((c) => [c.name, c] as const))('%s', (_, combo) => {
    const { t: x0, v } = f32(inShape, 41 + inShape.length, -4, 0);
    const tv = randTargets(numel(tShape), C, 17, combo.ignore);
    const wv = combo.weighted ? Array.from(Float32Array.from(randArray(C, 18, 0.2, 2))) : null;
    const refOpts = { weight: wv, ignoreIndex: combo.ignore, reduction: combo.reduction };
    const x = x0.detach().requiresGrad_(true);
    const loss = nllLoss(x, targetTensor(tv, tShape), {
      reduction: combo.reduction,
      weight: wv ? tn.fromTypedArray(Float32Array.from(wv), [C]) : null,
      ...(combo.ignore !== undefined ? { ignoreIndex: combo.ignore } : {}),
    });
    expectClose(nums(loss), refNllLoss(v, inShape, tv, refOpts), 1e-5, 1e-5, 'loss');
    const dout = combo.reduction === 'none' ? Array.from(Float32Array.from(randArray(numel(tShape), 19))) : [1.25];
    loss.backward(tn.fromTypedArray(Float32Array.from(dout), loss.shape));
    expectClose(nums(x.grad!), refNllLossBackward(dout, inShape, tv, refOpts), 1e-6, 1e-5, 'grad');
  });
});

describe('class-index losses: target dtypes, default ignoreIndex, probabilities, big batches', () => {
  test('int32 targets give the same loss and gradient as int64', () => {
    const { t: x0 } = f32([4, 5, 3], 51);
    const tv = randTargets(12, 5, 52, 1);
    const run = (dtype: 'int64' | 'int32') => {
      const x = x0.detach().requiresGrad_(true);
      const l = crossEntropy(x, targetTensor(tv, [4, 3], dtype), { ignoreIndex: 1, labelSmoothing: 0.1 });
      l.backward();
      return [l.item(), ...nums(x.grad!)];
    };
    expect(run('int32')).toEqual(run('int64'));
  });

  test('targets equal to the default ignoreIndex (-100) are ignored', () => {
    const { t: x, v } = f32([4, 3], 53);
    const tv = [0, -100, 2, -100];
    const l = crossEntropy(x, targetTensor(tv, [4]));
    expectClose([l.item()], refCrossEntropy(v, [4, 3], tv), 1e-6, 1e-5, 'loss');
    expectClose([l.item()], refCrossEntropy(v.slice(0, 3).concat(v.slice(6, 9)), [2, 3], [0, 2]), 1e-6, 1e-5, 'same as without them');
  });

  test.each([
    ['none', 0, false],
    ['mean', 0, true],
    ['sum', 0.3, true],
    ['mean', 0.1, false],
  ] as const)('class-probability targets, reduction %s, labelSmoothing %d, weight %s', (reduction, eps, weighted) => {
    const shape = [3, 4, 2];
    const { t: x, v } = f32(shape, 54);
    const yv = Array.from(Float32Array.from(randArray(numel(shape), 55, 0, 1)));
    const wv = weighted ? Array.from(Float32Array.from(randArray(4, 56, 0.5, 2))) : null;
    const l = crossEntropy(x, tn.fromTypedArray(Float32Array.from(yv), shape), {
      reduction,
      labelSmoothing: eps,
      weight: wv ? tn.fromTypedArray(Float32Array.from(wv), [4]) : null,
    });
    expect(l.shape).toEqual(reduction === 'none' ? [3, 2] : []);
    expectClose(nums(l), refCrossEntropyProbs(v, shape, yv, { reduction, labelSmoothing: eps, weight: wv }), 1e-5, 1e-5, 'loss');
  });

  test('a large spatial batch (parallel path) matches the reference', () => {
    const shape = [32, 10, 8, 8];
    const { t: x0, v } = f32(shape, 57, -3, 3);
    const tv = randTargets(32 * 64, 10, 58, 3);
    const x = x0.detach().requiresGrad_(true);
    const opts = { ignoreIndex: 3, labelSmoothing: 0.1, reduction: 'mean' as const };
    const l = crossEntropy(x, targetTensor(tv, [32, 8, 8]), opts);
    expectClose([l.item()], refCrossEntropy(v, shape, tv, opts), 1e-5, 1e-5, 'loss');
    l.backward();
    expectClose(nums(x.grad!), refCrossEntropyBackward([1], v, shape, tv, opts), 1e-7, 1e-4, 'grad');
  });
});

describe.each(['mse', 'l1', 'smooth_l1'] as PointwiseKind[])('%s loss (float32 vs reference)', (kind) => {
  const betas = kind === 'smooth_l1' ? [1, 0.5, 0] : [1];
  const cases: [number[], Reduction, number][] = [];
  for (const shape of [[7], [3, 5], [2, 3, 5]]) for (const r of REDUCTIONS) for (const b of betas) cases.push([shape, r, b]);
  test.each(cases)('shape %j reduction %s beta %d', (shape, reduction, beta) => {
    const { t: x0, v: xv } = f32(shape, 61 + shape.length);
    const { t: y0, v: yv } = f32(shape, 62 + shape.length);
    const x = x0.detach().requiresGrad_(true);
    const y = y0.detach().requiresGrad_(true);
    const fn = kind === 'mse' ? mseLoss : kind === 'l1' ? l1Loss : (a: Tensor, b: Tensor, o: { reduction: Reduction }) => smoothL1Loss(a, b, { ...o, beta });
    const loss = fn(x, y, { reduction });
    expect(loss.shape).toEqual(reduction === 'none' ? shape : []);
    expectClose(nums(loss), refPointwiseLoss(kind, xv, yv, reduction, beta), 1e-5, 1e-5, 'loss');
    const dout = reduction === 'none' ? Array.from(Float32Array.from(randArray(numel(shape), 63))) : [0.5];
    loss.backward(tn.fromTypedArray(Float32Array.from(dout), loss.shape));
    const dx = refPointwiseLossBackward(kind, dout, xv, yv, reduction, beta);
    expectClose(nums(x.grad!), dx, 1e-6, 1e-5, 'input grad');
    expectClose(nums(y.grad!), dx.map((d) => -d), 1e-6, 1e-5, 'target grad');
  });
});

test('reductions give identical bits with 1 and 2 threads', () => {
  const shape = [300, 1000];
  const { t: x } = f32(shape, 71);
  const { t: y } = f32(shape, 72);
  const logits = f32([40, 10, 30, 30], 73).t;
  const target = targetTensor(randTargets(40 * 900, 10, 74), [40, 30, 30]);
  const prev = tn.getNumThreads();
  const run = () => [mseLoss(x, y).item(), smoothL1Loss(x, y, { reduction: 'sum' }).item(), crossEntropy(logits, target, { labelSmoothing: 0.1 }).item()];
  try {
    tn.setNumThreads(1);
    const one = run();
    tn.setNumThreads(2);
    expect(run()).toEqual(one);
  } finally {
    tn.setNumThreads(prev);
  }
});

// ---------------------------------------------------------------------------------------------
// float64 gradient checks

describe('gradients (float64 central differences)', () => {
  test.each([
    [[3, 5], 0],
    [[3, 5], 1],
    [[3, 5], -1],
    [[2, 3, 4], 1],
    [[2, 3, 4], -1],
    [[5], 0],
  ] as [number[], number][])('logSoftmax and softmax, shape %j dim %d', (shape, dim) => {
    const x = randLeaf(shape, 101, -2, 2);
    gradcheck((t) => logSoftmax(t, dim), [x]);
    gradcheck((t) => softmax(t, dim), [x]);
  });

  const gradShapes: [number[], number[]][] = [
    [[3, 5], [3]],
    [[2, 3, 3, 2], [2, 3, 2]],
    [[5], []],
  ];
  describe.each(gradShapes)('crossEntropy input %j target %j', (inShape, tShape) => {
    const C = inShape.length === 1 ? inShape[0] : inShape[1];
    test.each(classCombos(true).map((c) => [c.name, c] as const))('%s', (_, combo) => {
      const x = randLeaf(inShape, 111, -2, 2);
      const target = targetTensor(randTargets(numel(tShape), C, 112, combo.ignore), tShape);
      const weight = combo.weighted ? tn.fromTypedArray(Float64Array.from(randArray(C, 113, 0.2, 2)), [C]) : null;
      const opts: CrossEntropyOptions = { reduction: combo.reduction, labelSmoothing: combo.eps, weight };
      if (combo.ignore !== undefined) opts.ignoreIndex = combo.ignore;
      gradcheck((t) => crossEntropy(t, target, opts), [x]);
    });
  });

  describe.each(gradShapes)('nllLoss input %j target %j', (inShape, tShape) => {
    const C = inShape.length === 1 ? inShape[0] : inShape[1];
    test.each(classCombos(false).map((c) => [c.name, c] as const))('%s', (_, combo) => {
      const x = randLeaf(inShape, 121, -3, 0);
      const target = targetTensor(randTargets(numel(tShape), C, 122, combo.ignore), tShape);
      const weight = combo.weighted ? tn.fromTypedArray(Float64Array.from(randArray(C, 123, 0.2, 2)), [C]) : null;
      gradcheck((t) => nllLoss(t, target, { reduction: combo.reduction, weight, ...(combo.ignore !== undefined ? { ignoreIndex: combo.ignore } : {}) }), [x]);
    });
  });

  test('crossEntropy with class-probability targets (input and target gradients)', () => {
    const x = randLeaf([3, 4, 2], 131, -2, 2);
    const y = randLeaf([3, 4, 2], 132, 0, 1);
    const w = tn.fromTypedArray(Float64Array.from(randArray(4, 133, 0.5, 2)), [4]);
    gradcheck((a, b) => crossEntropy(a, b), [x, y]);
    gradcheck((a, b) => crossEntropy(a, b, { labelSmoothing: 0.2, weight: w, reduction: 'sum' }), [x, y]);
    gradcheck((a, b) => crossEntropy(a, b, { reduction: 'none' }), [x, y]);
  });

  // Point-wise inputs: target = input + offset with |offset| in [0.1, 2] and a random sign, so no
  // point sits on the kink of |z| at 0 and smooth_l1 sees both sides of beta 0.5 and 1.
  function pointwiseInputs(shape: number[], seed: number): [Tensor, Tensor] {
    const x = randLeaf(shape, seed, -2, 2);
    const xv = x.data as Float64Array;
    const g = new tn.Generator(seed + 1);
    const yv = Float64Array.from(xv, (v) => v + (g.random() < 0.5 ? -1 : 1) * (0.1 + 1.9 * g.random()));
    return [x, tn.fromTypedArray(yv, shape).requiresGrad_(true)];
  }
  const pwShapes = [[7], [3, 5], [2, 3, 3]];
  test.each(pwShapes)('mseLoss and l1Loss, shape %j, every reduction', (...shape) => {
    const [x, y] = pointwiseInputs(shape, 141 + shape.length);
    for (const reduction of REDUCTIONS) {
      gradcheck((a, b) => mseLoss(a, b, { reduction }), [x, y]);
      gradcheck((a, b) => l1Loss(a, b, { reduction }), [x, y]);
    }
  });

  test.each(pwShapes)('smoothL1Loss beta 1 and 0.5, shape %j, every reduction', (...shape) => {
    const [x, y] = pointwiseInputs(shape, 151 + shape.length);
    const z = Array.from(x.data as Float64Array, (v, i) => Math.abs(v - (y.data as Float64Array)[i]));
    // both sides of each beta occur, and no point is within 1e-3 of a beta (finite differences)
    for (const beta of [1, 0.5]) {
      if (shape.length > 1) expect(z.some((a) => a < beta) && z.some((a) => a > beta)).toBe(true);
      expect(z.every((a) => Math.abs(a - beta) > 1e-3)).toBe(true);
      for (const reduction of REDUCTIONS) gradcheck((a, b) => smoothL1Loss(a, b, { beta, reduction }), [x, y]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// exact values (derived by hand; PyTorch gives the same)

describe('values PyTorch gives', () => {
  test('crossEntropy of zero logits is log(C); its gradient (softmax - onehot) / N', () => {
    const x = tn.zeros([4, 10], { requiresGrad: true });
    const t = tn.tensor([1, 2, 3, 9]);
    const l = crossEntropy(x, t);
    expect(l.item()).toBeCloseTo(Math.log(10), 6);
    expect(crossEntropy(x, t, { reduction: 'sum' }).item()).toBeCloseTo(4 * Math.log(10), 5);
    expect(crossEntropy(x, t, { labelSmoothing: 0.3 }).item()).toBeCloseTo(Math.log(10), 6);
    l.backward();
    const g = nums(x.grad!);
    expect(g[0 * 10 + 1]).toBeCloseTo((0.1 - 1) / 4, 7);
    expect(g[0 * 10 + 0]).toBeCloseTo(0.1 / 4, 7);
  });

  test('crossEntropy of [0, ln 3] is log(4) for class 0 and log(4/3) for class 1; weighted mean', () => {
    const x = tn.tensor([[0, Math.log(3)], [0, Math.log(3)]], { dtype: 'float64' });
    const t = tn.tensor([0, 1]);
    expect(nums(crossEntropy(x, t, { reduction: 'none' }))).toEqual([expect.closeTo(Math.log(4), 12), expect.closeTo(Math.log(4 / 3), 12)]);
    const w = tn.tensor([1, 3], { dtype: 'float64' });
    // mean divides by the sum of the targets' weights, 1 + 3
    expect(crossEntropy(x, t, { weight: w }).item()).toBeCloseTo((Math.log(4) + 3 * Math.log(4 / 3)) / 4, 12);
    expect(crossEntropy(x, t, { weight: w, reduction: 'sum' }).item()).toBeCloseTo(Math.log(4) + 3 * Math.log(4 / 3), 12);
    // labelSmoothing 0.5 on class 1: 0.5 * log(4/3) + 0.25 * (log 4 + log(4/3))
    expect(crossEntropy(x, tn.tensor([1, 1]), { labelSmoothing: 0.5 }).item()).toBeCloseTo(0.5 * Math.log(4 / 3) + 0.25 * (Math.log(4) + Math.log(4 / 3)), 12);
  });

  test('a single sample: input [C] with a 0-d target', () => {
    const l = crossEntropy(tn.tensor([0, Math.log(3)], { dtype: 'float64' }), tn.tensor(1));
    expect(l.shape).toEqual([]);
    expect(l.item()).toBeCloseTo(Math.log(4 / 3), 12);
  });

  test('every target ignored: mean is NaN (0/0), sum is 0, gradient is 0', () => {
    const x = tn.zeros([2, 3], { requiresGrad: true });
    const t = tn.tensor([1, 1]);
    expect(Number.isNaN(crossEntropy(x, t, { ignoreIndex: 1 }).item())).toBe(true);
    const s = crossEntropy(x, t, { ignoreIndex: 1, reduction: 'sum', labelSmoothing: 0.2 });
    expect(s.item()).toBe(0);
    s.backward();
    expect(nums(x.grad!)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('an empty batch: mean is NaN, sum is 0, none is empty; softmax of a 0-d tensor is 1', () => {
    const x = tn.zeros([0, 5], { requiresGrad: true });
    const t = tn.zeros([0], { dtype: 'int64' });
    expect(Number.isNaN(crossEntropy(x, t).item())).toBe(true);
    expect(crossEntropy(x, t, { reduction: 'sum' }).item()).toBe(0);
    expect(crossEntropy(x, t, { reduction: 'none' }).shape).toEqual([0]);
    expect(Number.isNaN(mseLoss(tn.zeros([0]), tn.zeros([0])).item())).toBe(true);
    const l = crossEntropy(x, t, { reduction: 'sum', labelSmoothing: 0.1 });
    l.backward();
    expect(x.grad!.shape).toEqual([0, 5]);
    expect(softmax(tn.tensor(3.5), 0).item()).toBe(1);
    expect(logSoftmax(tn.tensor(3.5), -1).item()).toBe(0);
  });

  test('softmax([0, ln 3]) = [0.25, 0.75]; nllLoss picks -input[target]', () => {
    expectClose(nums(softmax(tn.tensor([0, Math.log(3)], { dtype: 'float64' }), 0)), [0.25, 0.75], 1e-15, 0, 'softmax');
    const logp = tn.tensor([[-1, -2, -3], [-4, -5, -6]], { dtype: 'float32' });
    expect(nllLoss(logp, tn.tensor([2, 0])).item()).toBeCloseTo(3.5, 6);
    expect(nllLoss(logp, tn.tensor([2, 0]), { weight: tn.tensor([1, 1, 3], { dtype: 'float32' }) }).item()).toBeCloseTo((9 + 4) / 4, 6);
  });

  test('mse, l1 and smooth_l1 of [1, 2, 3] against [1, 1, 1]', () => {
    const x = tn.tensor([1, 2, 3], { dtype: 'float64' });
    const y = tn.ones([3], { dtype: 'float64' });
    expect(mseLoss(x, y).item()).toBeCloseTo(5 / 3, 12);
    expect(mseLoss(x, y, { reduction: 'sum' }).item()).toBe(5);
    expect(l1Loss(x, y).item()).toBe(1);
    expect(nums(smoothL1Loss(x, y, { reduction: 'none' }))).toEqual([0, 0.5, 1.5]);
    expect(nums(smoothL1Loss(x, y, { reduction: 'none', beta: 0.5 }))).toEqual([0, 0.75, 1.75]);
    expect(nums(smoothL1Loss(x, y, { reduction: 'none', beta: 0 }))).toEqual([0, 1, 2]);
  });

  test('l1 and smooth_l1 have gradient 0 where input == target (sign(0) = 0)', () => {
    const x = tn.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    l1Loss(x, tn.tensor([1, 1], { dtype: 'float64' }), { reduction: 'sum' }).backward();
    expect(nums(x.grad!)).toEqual([0, 1]);
  });
});

// ---------------------------------------------------------------------------------------------
// errors

describe('errors', () => {
  const x = tn.zeros([4, 10]);
  test('a label out of range is an IndexError naming the label, C and its position', () => {
    expect(() => crossEntropy(x, tn.tensor([1, 2, 3, 12]))).toThrow(tn.IndexError);
    expect(() => crossEntropy(x, tn.tensor([1, 2, 3, 12]))).toThrow('cross_entropy: target 12 is out of bounds for 10 classes (at position 3)');
    expect(() => crossEntropy(x, tn.tensor([10, 2, 3, 1]))).toThrow('cross_entropy: target 10 is out of bounds for 10 classes (at position 0)');
    expect(() => nllLoss(x, tn.tensor([1, 2, 30, 1]).int())).toThrow('nll_loss: target 30 is out of bounds for 10 classes (at position 2)');
    const spatial = tn.zeros([2, 3, 2, 2]);
    expect(() => crossEntropy(spatial, tn.tensor([[[0, 1], [2, 0]], [[1, 3], [0, 0]]]))).toThrow('cross_entropy: target 3 is out of bounds for 3 classes (at position 5)');
  });

  test('a negative label (other than ignoreIndex) is an IndexError', () => {
    expect(() => crossEntropy(x, tn.tensor([-1, 2, 3, 1]))).toThrow(tn.IndexError);
    expect(() => crossEntropy(x, tn.tensor([-1, 2, 3, 1]))).toThrow('cross_entropy: target -1 is out of bounds for 10 classes (at position 0)');
    expect(() => crossEntropy(x, tn.tensor([-1, 2, 3, 1]), { ignoreIndex: -1 })).not.toThrow();
    expect(() => nllLoss(x, tn.tensor([1, -5, 3, 1]))).toThrow(tn.IndexError);
  });

  test('a float label is a DTypeError', () => {
    expect(() => crossEntropy(x, tn.tensor([1, 2, 3, 4], { dtype: 'float32' }))).toThrow(tn.DTypeError);
    expect(() => crossEntropy(x, tn.tensor([1, 2, 3, 4], { dtype: 'float32' }))).toThrow('cross_entropy: expected target of dtype int64 (class indices) but got float32');
    expect(() => nllLoss(x, tn.tensor([1, 2, 3, 4], { dtype: 'float64' }))).toThrow('nll_loss: expected target of dtype int64 (class indices) but got float64');
    expect(() => crossEntropy(x, tn.zeros([4, 10], { dtype: 'int64' }))).toThrow(tn.DTypeError);
    expect(() => crossEntropy(tn.zeros([4, 10], { dtype: 'int64' }), tn.tensor([1, 2, 3, 4]))).toThrow('cross_entropy: expected input of dtype float32 or float64 but got int64');
  });

  test('batch-size and spatial mismatches are ShapeErrors naming both shapes', () => {
    const x3 = tn.zeros([3, 10]);
    expect(() => crossEntropy(x3, tn.tensor([1, 2, 3, 4]))).toThrow(tn.ShapeError);
    expect(() => crossEntropy(x3, tn.tensor([1, 2, 3, 4]))).toThrow('cross_entropy: input [3, 10] has batch size 3 but target [4] has batch size 4');
    expect(() => nllLoss(x3, tn.tensor([1, 2]))).toThrow('nll_loss: input [3, 10] has batch size 3 but target [2] has batch size 2');
    expect(() => crossEntropy(tn.zeros([2, 3, 4, 4]), tn.zeros([2, 5, 5], { dtype: 'int64' }))).toThrow(
      'cross_entropy: target [2, 5, 5] does not match input [2, 3, 4, 4]: expected a target of shape [2, 4, 4]',
    );
    expect(() => crossEntropy(tn.zeros([]), tn.tensor(0))).toThrow(tn.ShapeError);
  });

  test('bad option values are ValueErrors; a weight of the wrong length is a ShapeError', () => {
    const t = tn.tensor([1, 2, 3, 4]);
    expect(() => crossEntropy(x, t, { labelSmoothing: 1.5 })).toThrow(tn.ValueError);
    expect(() => crossEntropy(x, t, { labelSmoothing: 1.5 })).toThrow('cross_entropy: labelSmoothing must be in [0, 1] but got 1.5');
    expect(() => crossEntropy(x, t, { labelSmoothing: -0.1 })).toThrow(tn.ValueError);
    expect(() => crossEntropy(x, t, { reduction: 'avg' as Reduction })).toThrow(tn.ValueError);
    expect(() => crossEntropy(x, t, { reduction: 'avg' as Reduction })).toThrow("cross_entropy: reduction must be 'none', 'mean' or 'sum' but got 'avg'");
    expect(() => mseLoss(x, x, { reduction: 'batchmean' as Reduction })).toThrow("mse_loss: reduction must be 'none', 'mean' or 'sum' but got 'batchmean'");
    expect(() => crossEntropy(x, t, { ignoreIndex: 0.5 })).toThrow('cross_entropy: ignoreIndex must be an integer but got 0.5');
    expect(() => crossEntropy(x, t, { weight: tn.ones([7]) })).toThrow(tn.ShapeError);
    expect(() => crossEntropy(x, t, { weight: tn.ones([7]) })).toThrow('cross_entropy: weight [7] should have one entry per class: expected [10] for input [4, 10]');
    expect(() => nllLoss(x, t, { weight: tn.ones([10], { dtype: 'float64' }) })).toThrow(tn.DTypeError);
    expect(() => crossEntropy(x, tn.zeros([4, 10]), { ignoreIndex: 0 })).toThrow(tn.ValueError);
    expect(() => smoothL1Loss(x, x, { beta: -1 })).toThrow('smooth_l1_loss: beta must be a non-negative number but got -1');
  });

  test('point-wise losses: shape and dtype mismatches', () => {
    expect(() => mseLoss(tn.zeros([2, 3]), tn.zeros([3, 2]))).toThrow(tn.ShapeError);
    expect(() => mseLoss(tn.zeros([2, 3]), tn.zeros([3, 2]))).toThrow('mse_loss: input [2, 3] and target [3, 2] must have the same shape');
    expect(() => l1Loss(tn.zeros([2, 3]), tn.zeros([3]))).toThrow('l1_loss: input [2, 3] and target [3] must have the same shape');
    expect(() => smoothL1Loss(tn.zeros([2]), tn.zeros([2], { dtype: 'float64' }))).toThrow(tn.DTypeError);
    expect(() => l1Loss(tn.zeros([2], { dtype: 'int64' }), tn.zeros([2], { dtype: 'int64' }))).toThrow('l1_loss: expected input of dtype float32 or float64 but got int64');
  });

  test('softmax family: bad dim is an IndexError, integer input a DTypeError', () => {
    expect(() => logSoftmax(tn.zeros([2, 3]), 2)).toThrow(tn.IndexError);
    expect(() => softmax(tn.zeros([2, 3]), -3)).toThrow(tn.IndexError);
    expect(() => logSoftmax(tn.zeros([2, 3], { dtype: 'int64' }), 1)).toThrow('log_softmax: expected a float32 or float64 tensor but got int64');
  });

  test('the binding itself refuses out-of-range targets, short buffers and bad codes', () => {
    const logits = tn.zeros([4, 10]);
    const out = tn.empty([]);
    const tw = tn.empty([]);
    const logp = tn.empty([4, 10]);
    const call = (target: Tensor, S: number, reduction = 1, w: Tensor | null = null) =>
      native.crossEntropyForward(out.handle, 0, tw.handle, 0, logp.handle, 0, logits.handle, 0, target.handle, target.offset, 3, w ? w.handle : null, 0, reduction, -100, 0, S, 10, 1, 0);
    expect(() => call(tn.tensor([1, 2, 3, 99]), 4)).toThrow('cross_entropy: target 99 is out of bounds for 10 classes (at position 3)');
    expect(() => call(tn.tensor([1, 2]), 4)).toThrow(tn.ValueError); // target storage holds 2 of 4
    expect(() => call(tn.tensor([1, 2, 3, 4, 5]), 5)).toThrow(/logp needs 50 elements from offset 0 but its storage holds 40/);
    expect(() => call(tn.tensor([1, 2, 3, 4]), 4, 7)).toThrow('cross_entropy: unknown reduction code 7 (expected 0 none, 1 mean or 2 sum)');
    expect(() => call(tn.tensor([1, 2, 3, 4]), 4, 0)).toThrow(/out needs 4 elements/); // 'none' needs (S) outputs
    expect(() => call(tn.tensor([1, 2, 3, 4]), 4, 1, tn.ones([3]))).toThrow(/weight needs 10 elements/);
    const y = tn.zeros([5]);
    expect(() => native.mseLossForward(out.handle, 0, y.handle, 0, y.handle, 0, 1, 6, 0)).toThrow(/mse_loss: input needs 6 elements/);
    expect(() => native.smoothL1LossForward(out.handle, 0, y.handle, 0, y.handle, 0, 1, 5, 0, -1)).toThrow('smooth_l1_loss: beta must be non-negative but got -1');
    expect(() => native.logSoftmaxForward(logp.handle, 0, logits.handle, 1, 4, 10, 1, 0)).toThrow(/log_softmax: input needs 40 elements from offset 1/);
    expect(() => native.logSoftmaxForward(logp.handle, 0, logits.handle, 0, 4, 10, 1, 3)).toThrow(tn.DTypeError);
  });
});
