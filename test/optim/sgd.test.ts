// SGD against a plain JS re-implementation of PyTorch's algorithm (float64 at 1e-12, float32 at
// float32 rounding), hand-computed values, and SGD's option errors.
import * as tn from '../../lib';
import { SGD } from '../../lib/optim';
import { expectClose } from '../helpers/gradcheck';
import { sgdReference, SGDRefOptions } from '../helpers/reference_optim';

function randArray(n: number, seed: number, lo = -1, hi = 1): number[] {
  const g = new tn.Generator(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * g.random());
}

function param(values: number[], shape: number[], dtype: tn.DType): tn.Tensor {
  return tn.tensor(Float64Array.from(values), { shape, dtype }).requiresGrad_();
}

function grad(values: number[], shape: number[], dtype: tn.DType): tn.Tensor {
  return tn.tensor(Float64Array.from(values), { shape, dtype });
}

const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);

const CASES: [string, SGDRefOptions][] = [
  ['plain', { lr: 0.1 }],
  ['momentum', { lr: 0.05, momentum: 0.9 }],
  ['momentum + dampening', { lr: 0.05, momentum: 0.8, dampening: 0.3 }],
  ['nesterov', { lr: 0.05, momentum: 0.9, nesterov: true }],
  ['weight decay', { lr: 0.1, weightDecay: 0.05 }],
  ['maximize', { lr: 0.1, maximize: true }],
  ['momentum + weight decay + maximize', { lr: 0.02, momentum: 0.7, dampening: 0.1, weightDecay: 0.01, maximize: true }],
  ['nesterov + weight decay + maximize', { lr: 0.03, momentum: 0.5, nesterov: true, weightDecay: 0.2, maximize: true }],
];

// Odd sizes, and one parameter larger than the kernel's parallel grain.
const SHAPES = [[3, 5], [7], [2, 3, 1, 3], [201, 203]];
const STEPS = 5;

describe.each(['float64', 'float32'] as tn.DType[])('SGD %s against the reference', (dtype) => {
  const round = dtype === 'float32' ? Math.fround : (x: number) => x;
  const [atol, rtol] = dtype === 'float64' ? [1e-12, 1e-12] : [2e-6, 1e-5];

  test.each(CASES)('%s, several parameters over several steps', (_name, opts) => {
    const inits = SHAPES.map((s, k) => randArray(numel(s), 10 + k).map(round));
    const grads = SHAPES.map((s, k) => Array.from({ length: STEPS }, (_, t) => randArray(numel(s), 100 * k + t, -2, 2).map(round)));
    const params = SHAPES.map((s, k) => param(inits[k], s, dtype));
    const opt = new SGD(params, opts);
    for (let t = 0; t < STEPS; t++) {
      params.forEach((p, k) => (p.grad = grad(grads[k][t], SHAPES[k], dtype)));
      opt.step();
    }
    SHAPES.forEach((_s, k) => {
      const expected = sgdReference(inits[k], grads[k], opts)[STEPS - 1];
      expectClose(params[k].data as Float64Array, expected, atol, rtol, `param ${k}`);
      expect(params[k].dtype).toBe(dtype);
    });
  });
});

describe('SGD by hand', () => {
  test('momentum 0.9: the first step sets b = g, the second b = 0.9 b + g', () => {
    const p = param([1, 2], [2], 'float64');
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad = grad([0.5, -1], [2], 'float64');
    opt.step();
    expectClose(p.data as Float64Array, [0.95, 2.1], 1e-15, 0);
    opt.step();
    // b = [0.95, -1.9]; p = [0.95 - 0.095, 2.1 + 0.19]
    expectClose(p.data as Float64Array, [0.855, 2.29], 1e-15, 0);
    const buf = opt.state.get(p)!.momentum_buffer as tn.Tensor;
    expect(buf).toBeInstanceOf(tn.Tensor);
    expectClose(buf.data as Float64Array, [0.95, -1.9], 1e-15, 0);
  });

  test('dampening does not apply on the first step', () => {
    const p = param([0], [1], 'float64');
    const opt = new SGD([p], { lr: 1, momentum: 0.5, dampening: 0.5 });
    p.grad = grad([1], [1], 'float64');
    opt.step();
    expect(p.item()).toBeCloseTo(-1, 15); // b = g = 1
    opt.step();
    expect(p.item()).toBeCloseTo(-2, 15); // b = 0.5 * 1 + 0.5 * 1 = 1
  });

  test('nesterov: p -= lr * (g + mu * b)', () => {
    const p = param([1], [1], 'float64');
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true });
    p.grad = grad([1], [1], 'float64');
    opt.step();
    expect(p.item()).toBeCloseTo(1 - 0.1 * 1.9, 15);
  });

  test('weight decay adds lambda * p to the gradient', () => {
    const p = param([2], [1], 'float64');
    const opt = new SGD([p], { lr: 0.5, weightDecay: 0.1 });
    p.grad = grad([1], [1], 'float64');
    opt.step();
    expect(p.item()).toBeCloseTo(2 - 0.5 * 1.2, 15);
  });

  test('maximize without weight decay equals minimizing the negated gradient', () => {
    const g = randArray(9, 3);
    const a = param(randArray(9, 4), [9], 'float64');
    const b = param(Array.from(a.data as Float64Array), [9], 'float64');
    const oa = new SGD([a], { lr: 0.1, momentum: 0.9, maximize: true });
    const ob = new SGD([b], { lr: 0.1, momentum: 0.9 });
    for (let t = 0; t < 3; t++) {
      a.grad = grad(g, [9], 'float64');
      b.grad = grad(g.map((x) => -x), [9], 'float64');
      oa.step();
      ob.step();
    }
    expect(Array.from(a.data as Float64Array)).toEqual(Array.from(b.data as Float64Array));
  });

  test('no momentum keeps no momentum buffer', () => {
    const p = param([1], [1], 'float64');
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = grad([1], [1], 'float64');
    opt.step();
    expect(opt.state.get(p)!.momentum_buffer).toBeUndefined();
    expect(opt.state.get(p)!.step).toBe(1);
  });

  test('parameter groups use their own lr and momentum', () => {
    const a = param([1], [1], 'float64');
    const b = param([1], [1], 'float64');
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5, momentum: 0.9 }], { lr: 0.1 });
    expect(opt.paramGroups[0]).toMatchObject({ lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false });
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.5, momentum: 0.9 });
    a.grad = grad([1], [1], 'float64');
    b.grad = grad([1], [1], 'float64');
    opt.step();
    opt.step();
    expect(a.item()).toBeCloseTo(0.8, 15);
    expect(b.item()).toBeCloseTo(1 - 0.5 - 0.5 * 1.9, 15);
  });
});

describe('SGD options', () => {
  const p = () => [tn.zeros([3], { requiresGrad: true })];
  const cases: [string, object, string][] = [
    ['negative lr', { lr: -0.1 }, 'SGD: invalid learning rate: -0.1'],
    ['NaN lr', { lr: NaN }, 'SGD: invalid learning rate: NaN'],
    ['missing lr', {}, 'SGD: invalid learning rate: undefined (lr is required)'],
    ['negative momentum', { lr: 0.1, momentum: -0.5 }, 'SGD: invalid momentum value: -0.5'],
    ['negative weight decay', { lr: 0.1, weightDecay: -1 }, 'SGD: invalid weightDecay value: -1'],
    ['NaN dampening', { lr: 0.1, dampening: NaN }, 'SGD: invalid dampening value: NaN'],
    ['nesterov without momentum', { lr: 0.1, nesterov: true }, 'SGD: nesterov momentum requires a momentum and zero dampening'],
    ['nesterov with dampening', { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }, 'SGD: nesterov momentum requires a momentum and zero dampening'],
    ['non-boolean maximize', { lr: 0.1, maximize: 1 }, 'SGD: invalid maximize value: 1 (expected a boolean)'],
  ];
  test.each(cases)('%s is a ValueError', (_name, opts, message) => {
    expect(() => new SGD(p(), opts as never)).toThrow(tn.ValueError);
    expect(() => new SGD(p(), opts as never)).toThrow(message);
  });

  test('a group with a bad option is rejected too', () => {
    expect(() => new SGD([{ params: p() }, { params: p(), lr: -1 }], { lr: 0.1 })).toThrow('SGD: invalid learning rate: -1');
  });
});
