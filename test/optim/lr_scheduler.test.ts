// LR schedulers: each lr sequence against its formula (test/helpers/reference_optim.ts), PyTorch's
// known OneCycleLR endpoints, ReduceLROnPlateau's patience/cooldown/threshold rules, state dicts
// and option errors.
import * as tn from '../../lib';
import { Adam, lrScheduler, Optimizer, SGD } from '../../lib/optim';
import { cosineLrAt, multiStepLrAt, oneCycleAt, stepLrAt } from '../helpers/reference_optim';

const { StepLR, MultiStepLR, CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau } = lrScheduler;

const leaf = (): tn.Tensor => tn.zeros([2], { requiresGrad: true });
const sgd = (lr = 0.1, momentum = 0): SGD => new SGD([leaf()], { lr, momentum });

/** Steps the optimizer (with a zero gradient) and the scheduler n times; returns the lrs seen, epoch 0 first. */
function run(opt: Optimizer<any>, sched: { step(): void; getLastLr(): number[] }, n: number): number[][] {
  const seen = [sched.getLastLr()];
  for (let i = 0; i < n; i++) {
    for (const g of opt.paramGroups) for (const p of g.params) p.grad = tn.zerosLike(p);
    opt.step();
    sched.step();
    seen.push(sched.getLastLr());
    expect(opt.paramGroups.map((g) => g.lr)).toEqual(seen[seen.length - 1]);
  }
  return seen;
}

function expectSeq(actual: number[], expected: number[], digits = 14): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i], digits));
}

describe('StepLR, MultiStepLR, CosineAnnealingLR', () => {
  test('StepLR: lr = base * gamma^floor(epoch / stepSize), per group', () => {
    const opt = new SGD([{ params: [leaf()] }, { params: [leaf()], lr: 0.02 }], { lr: 0.1 });
    const s = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
    expect(opt.paramGroups.map((g) => g.initial_lr)).toEqual([0.1, 0.02]);
    const seen = run(opt, s, 20);
    expectSeq(seen.map((l) => l[0]), Array.from({ length: 21 }, (_, e) => stepLrAt(0.1, e, 3, 0.5)));
    expectSeq(seen.map((l) => l[1]), Array.from({ length: 21 }, (_, e) => stepLrAt(0.02, e, 3, 0.5)));
    expect(s.lastEpoch).toBe(20);
  });

  test('StepLR default gamma 0.1', () => {
    const opt = sgd(1);
    const seen = run(opt, new StepLR(opt, { stepSize: 2 }), 5);
    expectSeq(seen.map((l) => l[0]), [1, 1, 0.1, 0.1, 0.01, 0.01]);
  });

  test('MultiStepLR: gamma at each milestone, twice for a repeated one', () => {
    const milestones = [9, 2, 5, 5];
    const opt = sgd(0.3);
    const seen = run(opt, new MultiStepLR(opt, { milestones, gamma: 0.5 }), 20);
    expectSeq(seen.map((l) => l[0]), Array.from({ length: 21 }, (_, e) => multiStepLrAt(0.3, e, milestones, 0.5)));
    expect(seen[5][0]).toBeCloseTo(0.3 * 0.125, 15);
  });

  test('CosineAnnealingLR: the closed form, through and past TMax', () => {
    const opt = sgd(0.1);
    const seen = run(opt, new CosineAnnealingLR(opt, { TMax: 10, etaMin: 0.001 }), 25);
    expectSeq(seen.map((l) => l[0]), Array.from({ length: 26 }, (_, e) => cosineLrAt(0.1, e, 10, 0.001)), 15);
    expect(seen[10][0]).toBeCloseTo(0.001, 15);
    expect(seen[5][0]).toBeCloseTo(0.0505, 15);
    expect(seen[20][0]).toBeCloseTo(0.1, 15);
  });

  test('option errors', () => {
    expect(() => new StepLR(sgd(), { stepSize: 0 })).toThrow(tn.ValueError);
    expect(() => new StepLR(sgd(), { stepSize: 1.5 })).toThrow('StepLR: expected a positive integer stepSize, but got 1.5');
    expect(() => new StepLR(sgd(), { stepSize: 2, gamma: NaN })).toThrow('StepLR: invalid gamma: NaN');
    expect(() => new MultiStepLR(sgd(), { milestones: [1, -2] })).toThrow('MultiStepLR: expected a non-negative integer milestones[1], but got -2');
    expect(() => new CosineAnnealingLR(sgd(), { TMax: 0 })).toThrow('CosineAnnealingLR: TMax must be a positive number, got 0');
    expect(() => new StepLR({} as never, { stepSize: 1 })).toThrow('StepLR: expected an Optimizer');
    expect(() => new StepLR(sgd(), { stepSize: 1, lastEpoch: 4 })).toThrow('StepLR: initial_lr is not set in paramGroups[0] when resuming from lastEpoch 4');
  });

  test('a second scheduler keeps the initial_lr set by the first', () => {
    const opt = sgd(0.1);
    new StepLR(opt, { stepSize: 1, gamma: 0.5 }).step();
    expect(opt.paramGroups[0].lr).toBeCloseTo(0.05, 15);
    const c = new CosineAnnealingLR(opt, { TMax: 4 });
    expect(c.baseLrs).toEqual([0.1]);
    expect(c.getLastLr()).toEqual([0.1]);
  });

  test('stateDict round trip: a resumed schedule continues identically', () => {
    const opt = sgd(0.1);
    const s = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
    run(opt, s, 3);
    const osd = opt.stateDict();
    const ssd = s.stateDict();
    expect(ssd).toMatchObject({ baseLrs: [0.1], lastEpoch: 3, stepCount: 4, stepSize: 2, gamma: 0.5 });
    expect(ssd).not.toHaveProperty('optimizer');
    const rest = run(opt, s, 5);

    const opt2 = sgd(0.7);
    const s2 = new StepLR(opt2, { stepSize: 7, gamma: 0.9 });
    opt2.loadStateDict(osd);
    s2.loadStateDict(ssd);
    expect(run(opt2, s2, 5)).toEqual(rest);
    expect(() => s2.loadStateDict({ nope: 1 })).toThrow("StepLR: unknown state key 'nope'");
  });
});

describe('OneCycleLR', () => {
  test("cos, SGD momentum: lr and momentum follow the 1cycle formula; PyTorch's endpoints", () => {
    const opt = sgd(0.5, 0.9);
    const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 20 });
    const g = opt.paramGroups[0];
    expect(g).toMatchObject({ initial_lr: 0.04, max_lr: 1, min_lr: 0.04 / 1e4, max_momentum: 0.95, base_momentum: 0.85 });
    const lrs = [g.lr];
    const moms = [g.momentum as number];
    for (let e = 1; e < 20; e++) {
      s.step();
      lrs.push(g.lr);
      moms.push(g.momentum as number);
    }
    const ref = Array.from({ length: 20 }, (_, e) => oneCycleAt({ maxLr: 1, total: 20 }, e));
    expectSeq(lrs, ref.map((r) => r[0]));
    expectSeq(moms, ref.map((r) => r[1]));
    // initial lr = maxLr / divFactor, peak maxLr at step pctStart * total - 1 = 5, final = initial / finalDivFactor
    expect(lrs[0]).toBeCloseTo(0.04, 15);
    expect(lrs[5]).toBeCloseTo(1, 15);
    expect(Math.max(...lrs)).toBe(lrs[5]);
    expect(lrs[19]).toBeCloseTo(4e-6, 15);
    expect(moms[0]).toBeCloseTo(0.95, 15);
    expect(moms[5]).toBeCloseTo(0.85, 15);
    expect(moms[19]).toBeCloseTo(0.95, 15);
  });

  test('hand values: maxLr 0.1 over 10 steps', () => {
    const opt = sgd(0.1, 0.9);
    const s = new OneCycleLR(opt, { maxLr: 0.1, totalSteps: 10 });
    const seen = run(opt, s, 9).map((l) => l[0]);
    // warm-up over steps 0..2: 0.004, 0.052 (midpoint of the cosine), 0.1
    expectSeq(seen.slice(0, 3), [0.004, 0.052, 0.1], 15);
    expect(seen[9]).toBeCloseTo(4e-7, 15);
  });

  test('linear annealing, three phases, epochs * stepsPerEpoch, Adam beta1', () => {
    const opt = new Adam([leaf()], { lr: 0.01, betas: [0.9, 0.99] });
    const s = new OneCycleLR(opt, { maxLr: 0.2, epochs: 4, stepsPerEpoch: 5, pctStart: 0.25, annealStrategy: 'linear', threePhase: true, baseMomentum: 0.8, maxMomentum: 0.9 });
    expect(s.totalSteps).toBe(20);
    const g = opt.paramGroups[0];
    const ref = (e: number) => oneCycleAt({ maxLr: 0.2, total: 20, pctStart: 0.25, anneal: 'linear', threePhase: true, baseMomentum: 0.8, maxMomentum: 0.9 }, e);
    for (let e = 0; e < 20; e++) {
      if (e > 0) s.step();
      expect(g.lr).toBeCloseTo(ref(e)[0], 14);
      expect((g.betas as number[])[0]).toBeCloseTo(ref(e)[1], 14);
      expect((g.betas as number[])[1]).toBe(0.99);
    }
    // three phases: up to max at step 4, back to initial at step 8, then down to initial / 1e4
    const lrAt = (e: number) => ref(e)[0];
    expect(lrAt(4)).toBeCloseTo(0.2, 15);
    expect(lrAt(8)).toBeCloseTo(0.008, 15);
    expect(lrAt(19)).toBeCloseTo(8e-7, 15);
  });

  test('per-group maxLr and no momentum cycling', () => {
    const opt = new SGD([{ params: [leaf()] }, { params: [leaf()] }], { lr: 0.1, momentum: 0.5 });
    const s = new OneCycleLR(opt, { maxLr: [1, 2], totalSteps: 10, cycleMomentum: false });
    expectSeq(s.getLastLr(), [0.04, 0.08], 15);
    s.step();
    expect(opt.paramGroups.map((g) => g.momentum)).toEqual([0.5, 0.5]);
    expect(() => new OneCycleLR(opt, { maxLr: [1, 2, 3], totalSteps: 10 })).toThrow('OneCycleLR: expected 2 values for maxLr, got 3');
  });

  test('stepping past totalSteps is an error', () => {
    const opt = sgd(0.1, 0.9);
    const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 5 });
    for (let i = 0; i < 5; i++) s.step(); // lastEpoch 5 = totalSteps is still allowed, as in PyTorch
    expect(() => s.step()).toThrow(tn.ValueError);
    expect(() => s.step()).toThrow('OneCycleLR: tried to step 6 times. The specified number of total steps is 5');
    expect(s.lastEpoch).toBe(5);
  });

  test('option errors', () => {
    const o = sgd(0.1, 0.9);
    expect(() => new OneCycleLR(o, { maxLr: 1 })).toThrow('OneCycleLR: you must define either totalSteps OR (epochs AND stepsPerEpoch)');
    expect(() => new OneCycleLR(o, { maxLr: 1, totalSteps: 0 })).toThrow('OneCycleLR: expected a positive integer totalSteps, but got 0');
    expect(() => new OneCycleLR(o, { maxLr: 1, epochs: 2, stepsPerEpoch: -1 })).toThrow('OneCycleLR: expected a positive integer stepsPerEpoch, but got -1');
    expect(() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, pctStart: 1.5 })).toThrow('OneCycleLR: expected a float between 0 and 1 for pctStart, but got 1.5');
    expect(() => new OneCycleLR(o, { maxLr: 1, totalSteps: 10, annealStrategy: 'exp' as never })).toThrow("OneCycleLR: annealStrategy must be one of 'cos' or 'linear', instead got exp");

    class Plain extends Optimizer<{ lr: number }> {
      constructor(ps: tn.Tensor[]) {
        super(ps, { lr: 0.1 });
      }
      protected validateGroup(): void {}
      protected updateParam(): void {}
    }
    expect(() => new OneCycleLR(new Plain([leaf()]), { maxLr: 1, totalSteps: 10 })).toThrow(
      'OneCycleLR: optimizer must support momentum or beta1 with the cycleMomentum option enabled',
    );
    expect(() => new OneCycleLR(new Plain([leaf()]), { maxLr: 1, totalSteps: 10, cycleMomentum: false })).not.toThrow();
  });
});

describe('ReduceLROnPlateau', () => {
  function lrsFor(metrics: number[], opts: ConstructorParameters<typeof ReduceLROnPlateau>[1], lr = 1): number[] {
    const opt = sgd(lr);
    const s = new ReduceLROnPlateau(opt, opts);
    return metrics.map((m) => {
      s.step(m);
      expect(s.getLastLr()).toEqual([opt.paramGroups[0].lr]);
      return opt.paramGroups[0].lr;
    });
  }

  test('patience: reduces after more than `patience` epochs without improvement', () => {
    const lrs = lrsFor([1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], { patience: 2 });
    // best 0.9 at epoch 2; bad epochs 3, 4, 5 -> reduce at 5; again at 8
    expectSeq(lrs, [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01], 15);
  });

  test('default patience 10, and improvement resets the count', () => {
    const metrics = [5, ...new Array(10).fill(5), 4, ...new Array(11).fill(4)];
    const lrs = lrsFor(metrics, {});
    expect(lrs.slice(0, 22).every((l) => l === 1)).toBe(true);
    expect(lrs[22]).toBeCloseTo(0.1, 15);
  });

  test('cooldown: bad epochs during cooldown do not count', () => {
    const lrs = lrsFor(new Array(9).fill(1), { patience: 0, cooldown: 2 });
    // epoch 1 sets best; reductions at epochs 2, 5, 8
    expectSeq(lrs, [1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001], 15);
  });

  test('threshold rel and abs, mode max', () => {
    // rel 0.1 (min): only a metric below 0.9 * best counts as better
    expectSeq(lrsFor([1, 0.95, 0.95], { patience: 1, threshold: 0.1 }), [1, 1, 0.1], 15);
    expectSeq(lrsFor([1, 0.85, 0.8], { patience: 1, threshold: 0.1 }), [1, 1, 1], 15);
    // abs 0.01 (min): 0.995 is no improvement, 0.98 is
    expectSeq(lrsFor([1, 0.995, 0.98, 0.975, 0.972], { patience: 1, threshold: 0.01, thresholdMode: 'abs' }), [1, 1, 1, 1, 0.1], 15);
    // max: rising accuracy is good, a plateau reduces
    expectSeq(lrsFor([0.5, 0.6, 0.7, 0.7, 0.7], { mode: 'max', patience: 1 }), [1, 1, 1, 1, 0.1], 15);
    expectSeq(lrsFor([0.5, 0.504, 0.505], { mode: 'max', patience: 1, threshold: 0.01, thresholdMode: 'abs' }), [1, 1, 0.1], 15);
  });

  test('minLr floors the lr, and reductions smaller than eps are skipped', () => {
    expectSeq(lrsFor([1, 1, 1, 1], { patience: 0, minLr: 0.05, factor: 0.5 }, 0.2), [0.2, 0.1, 0.05, 0.05], 15);
    expectSeq(lrsFor([1, 1, 1], { patience: 0, factor: 0.5, eps: 0.3 }, 1), [1, 0.5, 0.5], 15);
  });

  test('a tensor metric works; stateDict round trip', () => {
    const opt = sgd(1);
    const s = new ReduceLROnPlateau(opt, { patience: 1 });
    s.step(tn.tensor(2.5));
    expect(s.best).toBe(2.5);
    s.step(3);
    const sd = s.stateDict();
    expect(sd).toMatchObject({ best: 2.5, numBadEpochs: 1, lastEpoch: 2, patience: 1 });
    const s2 = new ReduceLROnPlateau(opt, { patience: 5 });
    s2.loadStateDict(sd);
    s2.step(3);
    expect(opt.paramGroups[0].lr).toBeCloseTo(0.1, 15);
  });

  test('option errors', () => {
    expect(() => new ReduceLROnPlateau(sgd(), { factor: 1 })).toThrow(tn.ValueError);
    expect(() => new ReduceLROnPlateau(sgd(), { factor: 1 })).toThrow('ReduceLROnPlateau: factor should be < 1.0, got 1');
    expect(() => new ReduceLROnPlateau(sgd(), { mode: 'up' as never })).toThrow("ReduceLROnPlateau: mode 'up' is unknown (expected 'min' or 'max')");
    expect(() => new ReduceLROnPlateau(sgd(), { thresholdMode: 'x' as never })).toThrow("ReduceLROnPlateau: thresholdMode 'x' is unknown (expected 'rel' or 'abs')");
    expect(() => new ReduceLROnPlateau(sgd(), { minLr: [0, 0] })).toThrow('ReduceLROnPlateau: expected 1 values for minLr, got 2');
    expect(() => new ReduceLROnPlateau(sgd(), { patience: -1 })).toThrow('ReduceLROnPlateau: expected a non-negative integer patience, but got -1');
  });
});
