// Adam and AdamW against a plain JS re-implementation of PyTorch's algorithm (float64 at 1e-12,
// float32 at float32 rounding), hand-computed values, and their option errors.
import * as tn from '../../lib';
import { Adam, AdamW } from '../../lib/optim';
import { expectClose } from '../helpers/gradcheck';
import { adamReference, AdamRefOptions } from '../helpers/reference_optim';

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

// [name, AdamW?, options]
const CASES: [string, boolean, AdamRefOptions][] = [
  ['Adam defaults', false, {}],
  ['Adam lr, betas, eps', false, { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6 }],
  ['Adam L2 weight decay', false, { lr: 0.01, weightDecay: 0.1 }],
  ['Adam amsgrad', false, { lr: 0.01, amsgrad: true }],
  ['Adam maximize', false, { lr: 0.01, maximize: true }],
  ['Adam everything', false, { lr: 0.02, betas: [0.5, 0.9], eps: 1e-4, weightDecay: 0.05, amsgrad: true, maximize: true }],
  ['AdamW defaults (weight decay 1e-2)', true, {}],
  ['AdamW weight decay', true, { lr: 0.05, weightDecay: 0.3 }],
  ['AdamW amsgrad + maximize', true, { lr: 0.01, weightDecay: 0.1, amsgrad: true, maximize: true }],
];

const SHAPES = [[3, 5], [7], [2, 3, 1, 3], [201, 203]];
const STEPS = 6;

describe.each(['float64', 'float32'] as tn.DType[])('Adam/AdamW %s against the reference', (dtype) => {
  const round = dtype === 'float32' ? Math.fround : (x: number) => x;
  const [atol, rtol] = dtype === 'float64' ? [1e-12, 1e-12] : [2e-6, 1e-5];

  test.each(CASES)('%s, several parameters over several steps', (_name, decoupled, opts) => {
    const inits = SHAPES.map((s, k) => randArray(numel(s), 20 + k).map(round));
    // Gradients that shrink over the steps, so that AMSGrad's running max differs from v.
    const grads = SHAPES.map((s, k) => Array.from({ length: STEPS }, (_, t) => randArray(numel(s), 300 * k + t, -2, 2).map((x) => round(x * (STEPS - t)))));
    const params = SHAPES.map((s, k) => param(inits[k], s, dtype));
    const Opt = decoupled ? AdamW : Adam;
    const opt = new Opt(params, opts);
    for (let t = 0; t < STEPS; t++) {
      params.forEach((p, k) => (p.grad = grad(grads[k][t], SHAPES[k], dtype)));
      opt.step();
    }
    SHAPES.forEach((_s, k) => {
      const expected = adamReference(inits[k], grads[k], { ...opts, decoupled })[STEPS - 1];
      expectClose(params[k].data as Float64Array, expected, atol, rtol, `param ${k}`);
    });
    const st = opt.state.get(params[0])!;
    expect(st.step).toBe(STEPS);
    expect(Object.keys(st).sort()).toEqual(opts.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step'] : ['exp_avg', 'exp_avg_sq', 'step']);
  });
});

describe('Adam by hand', () => {
  test('the first step moves each element by about lr * sign(g)', () => {
    const p = param([1, 2], [2], 'float64');
    const opt = new Adam([p], { lr: 0.1 });
    p.grad = grad([0.5, -1], [2], 'float64');
    opt.step();
    // m_hat = g and v_hat = g^2 after bias correction: p -= 0.1 * g / (|g| + 1e-8)
    expectClose(p.data as Float64Array, [1 - 0.05 / (0.5 + 1e-8), 2 + 0.1 / (1 + 1e-8)], 1e-14, 0);
    expectClose(p.data as Float64Array, [0.900000002, 2.099999999], 1e-12, 0);
    const st = opt.state.get(p)!;
    expectClose((st.exp_avg as tn.Tensor).data as Float64Array, [0.05, -0.1], 1e-15, 0);
    expectClose((st.exp_avg_sq as tn.Tensor).data as Float64Array, [0.00025, 0.001], 1e-15, 0);
  });

  test('AdamW scales the parameter by 1 - lr * weightDecay first', () => {
    const p = param([1], [1], 'float64');
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.1 });
    p.grad = grad([0.5], [1], 'float64');
    opt.step();
    expect(p.item()).toBeCloseTo(0.99 - 0.1 * (0.5 / (0.5 + 1e-8)), 14);
    expect(p.item()).toBeCloseTo(0.890000002, 12);
  });

  test('Adam weight decay is an L2 term: it changes the moments, AdamW does not', () => {
    const a = param([2], [1], 'float64');
    const w = param([2], [1], 'float64');
    const oa = new Adam([a], { lr: 0.1, weightDecay: 0.5 });
    const ow = new AdamW([w], { lr: 0.1, weightDecay: 0.5 });
    a.grad = grad([1], [1], 'float64');
    w.grad = grad([1], [1], 'float64');
    oa.step();
    ow.step();
    expect(((oa.state.get(a)!.exp_avg as tn.Tensor).item())).toBeCloseTo(0.1 * (1 + 0.5 * 2), 15);
    expect(((ow.state.get(w)!.exp_avg as tn.Tensor).item())).toBeCloseTo(0.1, 15);
  });

  test('amsgrad keeps the max of the second moment', () => {
    const p = param([0], [1], 'float64');
    const opt = new Adam([p], { lr: 0.1, betas: [0.9, 0.5], amsgrad: true });
    p.grad = grad([2], [1], 'float64');
    opt.step(); // v = 0.5 * 4 = 2
    p.grad = grad([0], [1], 'float64');
    opt.step(); // v = 1, max stays 2
    const st = opt.state.get(p)!;
    expect((st.exp_avg_sq as tn.Tensor).item()).toBeCloseTo(1, 15);
    expect((st.max_exp_avg_sq as tn.Tensor).item()).toBeCloseTo(2, 15);
  });

  test('defaults as PyTorch: Adam weightDecay 0, AdamW 1e-2', () => {
    const p = [tn.zeros([2], { requiresGrad: true })];
    expect(new Adam(p).paramGroups[0]).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false });
    expect(new AdamW(p).paramGroups[0]).toMatchObject({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false });
  });
});

describe('Adam/AdamW options', () => {
  const p = () => [tn.zeros([3], { requiresGrad: true })];
  const cases: [string, object, string][] = [
    ['negative lr', { lr: -0.1 }, 'invalid learning rate: -0.1'],
    ['NaN lr', { lr: NaN }, 'invalid learning rate: NaN'],
    ['negative eps', { eps: -1e-8 }, 'invalid epsilon value: -1e-8'],
    ['beta1 = 1', { betas: [1, 0.999] }, 'invalid beta parameter at index 0: 1'],
    ['negative beta2', { betas: [0.9, -0.1] }, 'invalid beta parameter at index 1: -0.1'],
    ['one beta', { betas: [0.9] }, 'betas must be a pair [beta1, beta2], got [0.9]'],
    ['negative weight decay', { weightDecay: -0.01 }, 'invalid weightDecay value: -0.01'],
    ['non-boolean amsgrad', { amsgrad: 'yes' }, 'invalid amsgrad value: yes (expected a boolean)'],
  ];
  test.each(cases)('%s is a ValueError', (_name, opts, message) => {
    expect(() => new Adam(p(), opts as never)).toThrow(tn.ValueError);
    expect(() => new Adam(p(), opts as never)).toThrow(`Adam: ${message}`);
    expect(() => new AdamW(p(), opts as never)).toThrow(`AdamW: ${message}`);
  });
});
