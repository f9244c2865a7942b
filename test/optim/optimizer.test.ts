// The Optimizer base: parameter checks, skipped parameters, zeroGrad, no autograd recording,
// stateDict/loadStateDict (structure, round trip, validation), and the binding's own guards.
import * as tn from '../../lib';
import { DTYPE_CODE } from '../../lib/dtype';
import { native } from '../../lib/native';
import { Adam, AdamW, Optimizer, SGD } from '../../lib/optim';

function randArray(n: number, seed: number, lo = -1, hi = 1): number[] {
  const g = new tn.Generator(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * g.random());
}

function grad(values: number[], shape: number[], dtype: tn.DType = 'float64'): tn.Tensor {
  return tn.tensor(Float64Array.from(values), { shape, dtype });
}

const SHAPES = [[3, 5], [7], [2, 1, 3]];
const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);

function makeParams(seed: number): tn.Tensor[] {
  return SHAPES.map((s, k) => tn.tensor(Float64Array.from(randArray(numel(s), seed + k)), { shape: s, dtype: 'float64' }).requiresGrad_());
}

function copyParams(ps: tn.Tensor[]): tn.Tensor[] {
  return ps.map((p) => tn.tensor(p.data as Float64Array, { shape: p.shape, dtype: p.dtype }).requiresGrad_());
}

function applyGrads(ps: tn.Tensor[], t: number): void {
  ps.forEach((p, k) => (p.grad = grad(randArray(p.numel(), 1000 * t + k, -2, 2), p.shape)));
}

const values = (ps: tn.Tensor[]): number[][] => ps.map((p) => Array.from(p.data as Float64Array));

describe('step', () => {
  test('parameters without a gradient are skipped and get no state', () => {
    const [a, b] = makeParams(1);
    const before = Array.from(b.data as Float64Array);
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = grad(randArray(a.numel(), 2), a.shape);
    opt.step();
    expect(Array.from(b.data as Float64Array)).toEqual(before);
    expect(opt.state.has(b)).toBe(false);
    expect(opt.state.get(a)!.step).toBe(1);
  });

  test('step records no autograd: parameters stay leaves that require grad', () => {
    const ps = makeParams(3);
    const opt = new SGD(ps, { lr: 0.1, momentum: 0.9 });
    const loss = ps.map((p) => p.mul(p).sum()).reduce((x, y) => x.add(y));
    loss.backward();
    tn.enableGrad(() => opt.step());
    for (const p of ps) {
      expect(p.isLeaf).toBe(true);
      expect(p.gradFn).toBeNull();
      expect(p.requiresGrad).toBe(true);
    }
  });

  test('step(closure) evaluates the loss with gradients on and returns it', () => {
    const [p] = makeParams(4);
    const opt = new SGD([p], { lr: 0.1 });
    const loss = tn.noGrad(() =>
      opt.step(() => {
        opt.zeroGrad();
        const l = p.mul(p).sum();
        l.backward();
        return l;
      }),
    ) as tn.Tensor;
    expect(loss).toBeInstanceOf(tn.Tensor);
    expect(opt.state.get(p)!.step).toBe(1);
  });

  test('a gradient of the wrong shape, dtype or a non-contiguous parameter is an error by class', () => {
    const p = tn.zeros([2, 3], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = tn.zeros([3, 2], { dtype: 'float64' });
    expect(() => opt.step()).toThrow(tn.ShapeError);
    expect(() => opt.step()).toThrow('SGD: gradient of parameter 0 of group 0 has shape [3, 2] but the parameter has shape [2, 3]');
    p.grad = tn.zeros([2, 3], { dtype: 'float32' });
    expect(() => opt.step()).toThrow(tn.DTypeError);
    expect(() => opt.step()).toThrow('SGD: gradient of parameter 0 of group 0 is float32 but the parameter is float64');
  });

  test('a non-contiguous gradient is used through a contiguous copy', () => {
    const p = tn.zeros([2, 3], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([p], { lr: 1 });
    p.grad = tn.tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64' }).transpose(0, 1);
    opt.step();
    expect(p.toArray()).toEqual([[-1, -3, -5], [-2, -4, -6]]);
  });

  test('state buffers follow a parameter converted to float64 after some steps', () => {
    const p = tn.ones([3], { requiresGrad: true });
    const opt = new Adam([p], { lr: 0.1 });
    p.grad = tn.ones([3]);
    opt.step();
    tn.noGrad(() => p._setData(p.to('float64')));
    p.grad = tn.ones([3], { dtype: 'float64' });
    opt.step();
    expect((opt.state.get(p)!.exp_avg as tn.Tensor).dtype).toBe('float64');
    expect((opt.state.get(p)!.exp_avg as tn.Tensor).data[0]).toBeCloseTo(0.19, 6);
  });
});

describe('parameters', () => {
  test('empty, non-float, non-leaf and duplicated parameters are rejected by class and message', () => {
    expect(() => new SGD([], { lr: 0.1 })).toThrow(tn.ValueError);
    expect(() => new SGD([], { lr: 0.1 })).toThrow('SGD: got an empty parameter list');
    expect(() => new Adam([tn.zeros([2], { dtype: 'int64' })])).toThrow(tn.DTypeError);
    expect(() => new Adam([tn.zeros([2], { dtype: 'int64' })])).toThrow('Adam: can only optimize float32 or float64 tensors, but parameter 0 of group 0 is int64');
    const leaf = tn.zeros([2], { requiresGrad: true });
    expect(() => new AdamW([leaf.mul(2)])).toThrow("AdamW: can't optimize a non-leaf Tensor (parameter 0 of group 0)");
    expect(() => new SGD([{ params: [leaf] }, { params: [leaf] }], { lr: 0.1 })).toThrow(tn.ValueError);
    expect(() => new SGD([leaf, leaf], { lr: 0.1 })).toThrow('SGD: some parameters appear more than once in the parameter groups (parameter 1 of group 0)');
  });

  test('an iterable of parameters and a single tensor as a group both work', () => {
    const ps = makeParams(5);
    const opt = new SGD(new Set(ps), { lr: 0.1 });
    expect(opt.paramGroups[0].params).toEqual(ps);
    const opt2 = new SGD([{ params: ps[0] }], { lr: 0.1 });
    expect(opt2.paramGroups[0].params).toEqual([ps[0]]);
  });

  test('addParamGroup fills options from the defaults', () => {
    const [a, b] = makeParams(6);
    const opt = new Adam([a], { lr: 0.01, betas: [0.8, 0.9] });
    opt.addParamGroup({ params: [b], eps: 1e-3 });
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.01, betas: [0.8, 0.9], eps: 1e-3 });
    expect(() => opt.addParamGroup({ params: [a] })).toThrow('more than once');
  });
});

describe('zeroGrad', () => {
  test('sets gradients to null by default', () => {
    const ps = makeParams(7);
    applyGrads(ps, 0);
    new SGD(ps, { lr: 0.1 }).zeroGrad();
    for (const p of ps) expect(p.grad).toBeNull();
  });

  test('zeroGrad(false) zeroes them in place, keeping shape and dtype', () => {
    const ps = makeParams(8);
    applyGrads(ps, 0);
    const g0 = ps[0].grad!;
    new SGD(ps, { lr: 0.1 }).zeroGrad(false);
    expect(ps[0].grad).toBe(g0);
    for (const p of ps) {
      expect(p.grad!.shape).toEqual(p.shape);
      expect(p.grad!.dtype).toBe('float64');
      expect(Array.from(p.grad!.data as Float64Array).every((x) => x === 0)).toBe(true);
    }
  });
});

describe('stateDict', () => {
  test("has PyTorch's structure, with copies of the state tensors", () => {
    const ps = makeParams(9);
    const opt = new Adam([{ params: [ps[0], ps[1]] }, { params: [ps[2]], lr: 0.5 }], { lr: 0.01, amsgrad: true });
    applyGrads([ps[0], ps[2]], 1);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.param_groups).toEqual([
      { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: true, maximize: false, params: [0, 1] },
      { lr: 0.5, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: true, maximize: false, params: [2] },
    ]);
    expect(Object.keys(sd.state).sort()).toEqual(['0', '2']);
    expect(Object.keys(sd.state[0]).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    expect(sd.state[0].step).toBe(1);
    const saved = Array.from((sd.state[0].exp_avg as tn.Tensor).data as Float64Array);
    expect(sd.state[0].exp_avg).not.toBe(opt.state.get(ps[0])!.exp_avg);
    applyGrads([ps[0], ps[2]], 2);
    opt.step();
    expect(Array.from((sd.state[0].exp_avg as tn.Tensor).data as Float64Array)).toEqual(saved);
  });

  const makers: [string, (ps: tn.Tensor[]) => Optimizer<any>][] = [
    ['SGD with momentum', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 })],
    ['Adam amsgrad', (ps) => new Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 0.01 })],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.01 })],
  ];
  test.each(makers)('%s: training resumed from a state dict matches uninterrupted training exactly', (_name, make) => {
    const ps = makeParams(11);
    const opt = make(ps);
    for (let t = 0; t < 3; t++) {
      applyGrads(ps, t);
      opt.step();
    }
    const sd = opt.stateDict();
    const resumed = copyParams(ps);
    for (let t = 3; t < 6; t++) {
      applyGrads(ps, t);
      opt.step();
    }
    // A fresh optimizer with other options: loading restores the options too.
    const opt2 = make(resumed);
    opt2.paramGroups[0].lr = 123;
    opt2.loadStateDict(sd);
    expect(opt2.paramGroups[0].lr).toBe(opt.paramGroups[0].lr);
    for (let t = 3; t < 6; t++) {
      applyGrads(resumed, t);
      opt2.step();
    }
    expect(values(resumed)).toEqual(values(ps));
  });

  test('loaded tensors are converted to the parameter dtype, and a Tensor step is accepted', () => {
    const p = tn.ones([4], { dtype: 'float64', requiresGrad: true });
    const opt = new Adam([p]);
    opt.loadStateDict({
      state: { 0: { step: tn.tensor(3, { dtype: 'float32' }), exp_avg: tn.ones([4]), exp_avg_sq: tn.ones([4]) } },
      param_groups: [{ lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, params: [0] }],
    });
    const st = opt.state.get(p)!;
    expect(st.step).toBe(3);
    expect((st.exp_avg as tn.Tensor).dtype).toBe('float64');
    p.grad = tn.ones([4], { dtype: 'float64' });
    opt.step();
    expect(st.step).toBe(4);
  });

  test('mismatched group count, parameter count or state shape is an error, and leaves the optimizer unchanged', () => {
    const ps = makeParams(12);
    const opt = new SGD(ps, { lr: 0.1, momentum: 0.9 });
    applyGrads(ps, 0);
    opt.step();
    const sd = opt.stateDict();

    const two = new SGD([{ params: [ps[0]] }, { params: [ps[1], ps[2]] }], { lr: 0.1 });
    expect(() => two.loadStateDict(sd)).toThrow(tn.ValueError);
    expect(() => two.loadStateDict(sd)).toThrow('SGD: loaded state dict has a different number of parameter groups (1) than the optimizer (2)');

    const fewer = new SGD([ps[0], ps[1]], { lr: 0.1 });
    expect(() => fewer.loadStateDict(sd)).toThrow("SGD: loaded parameter group 0 has 3 parameters but the optimizer's group 0 has 2");

    const other = makeParams(13).reverse();
    const swapped = new SGD(other, { lr: 0.7 });
    expect(() => swapped.loadStateDict(sd)).toThrow(tn.ShapeError);
    expect(() => swapped.loadStateDict(sd)).toThrow('SGD: loaded state momentum_buffer of parameter 0 in group 0 has shape [3, 5] but the parameter has shape [2, 1, 3]');
    expect(swapped.paramGroups[0].lr).toBe(0.7);
    expect(swapped.state.size).toBe(0);

    expect(() => opt.loadStateDict({} as never)).toThrow('SGD: loadStateDict expects an object { state, param_groups }');
    const bad = opt.stateDict();
    bad.param_groups[0].lr = -1;
    expect(() => opt.loadStateDict(bad)).toThrow('SGD: invalid learning rate: -1');
  });
});

describe('native binding guards (callable directly)', () => {
  const f64 = DTYPE_CODE.float64;
  test('tensors that do not fit their storage are an IndexError, not a crash', () => {
    const p = tn.zeros([4], { dtype: 'float64' });
    const g = tn.zeros([3], { dtype: 'float64' });
    expect(() => native.sgdStep(p.handle, 0, g.handle, 0, null, 0, 4, f64, 0.1, 0, 0, false, 0, false, true)).toThrow(tn.IndexError);
    expect(() => native.sgdStep(p.handle, 0, g.handle, 0, null, 0, 4, f64, 0.1, 0, 0, false, 0, false, true)).toThrow(
      'sgd_step: grad of 4 elements at offset 0 does not fit its storage of 3 elements',
    );
    expect(() => native.sgdStep(p.handle, 2, p.handle, 0, null, 0, 3, f64, 0.1, 0, 0, false, 0, false, true)).toThrow(tn.IndexError);
    expect(() => native.sgdStep(p.handle, -1, p.handle, 0, null, 0, 1, f64, 0.1, 0, 0, false, 0, false, true)).toThrow(tn.IndexError);
    const m = tn.zeros([2], { dtype: 'float64' });
    expect(() => native.adamStep(p.handle, 0, p.handle, 0, m.handle, 0, p.handle, 0, null, 0, 4, f64, 0.1, 0.9, 0.999, 1e-8, 0, 1, false, false, false)).toThrow(
      'adam_step: exp_avg of 4 elements at offset 0 does not fit its storage of 2 elements',
    );
    // A float32 storage of 4 elements holds only 2 float64s.
    const f = tn.zeros([4]);
    expect(() => native.sgdStep(f.handle, 0, f.handle, 0, null, 0, 4, f64, 0.1, 0, 0, false, 0, false, true)).toThrow(tn.IndexError);
  });

  test('missing buffers, bad hyperparameters and integer dtypes are rejected', () => {
    const p = tn.zeros([4], { dtype: 'float64' });
    expect(() => native.sgdStep(p.handle, 0, p.handle, 0, null, 0, 4, f64, 0.1, 0.9, 0, false, 0, false, true)).toThrow('sgd_step: momentum 0.9 needs a momentum buffer');
    expect(() => native.sgdStep(p.handle, 0, p.handle, 0, null, 0, 4, f64, -1, 0, 0, false, 0, false, true)).toThrow(tn.ValueError);
    expect(() => native.adamStep(p.handle, 0, p.handle, 0, p.handle, 0, p.handle, 0, null, 0, 4, f64, 0.1, 0.9, 0.999, 1e-8, 0, 1, true, false, false)).toThrow(
      'adam_step: amsgrad needs a max_exp_avg_sq buffer',
    );
    expect(() => native.adamStep(p.handle, 0, p.handle, 0, p.handle, 0, p.handle, 0, null, 0, 4, f64, 0.1, 1, 0.999, 1e-8, 0, 1, false, false, false)).toThrow(
      'adam_step: invalid beta parameter at index 0: 1',
    );
    expect(() => native.adamStep(p.handle, 0, p.handle, 0, p.handle, 0, p.handle, 0, null, 0, 4, f64, 0.1, 0.9, 0.999, 1e-8, 0, 0, false, false, false)).toThrow(
      'adam_step: step must be at least 1, got 0',
    );
    const i = tn.zeros([4], { dtype: 'int64' });
    expect(() => native.sgdStep(i.handle, 0, i.handle, 0, null, 0, 4, DTYPE_CODE.int64, 0.1, 0, 0, false, 0, false, true)).toThrow(tn.DTypeError);
  });
});
