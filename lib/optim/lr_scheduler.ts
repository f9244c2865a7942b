// Learning-rate schedulers: PyTorch's torch.optim.lr_scheduler. A scheduler writes `lr` (and,
// for OneCycleLR, momentum or beta1) into the optimizer's parameter groups; call `step()` after
// `optimizer.step()`, once per epoch (or per batch for OneCycleLR). Constructing one performs
// PyTorch's initial step, so the groups hold the lr of epoch 0 right away.
// What this is not: PyTorch's deprecated step(epoch) form, or chaining helpers (SequentialLR).
import { ValueError } from '../errors';
import { Tensor } from '../tensor';
import { Optimizer, ParamGroup } from './optimizer';

// Schedulers work with any optimizer; they only read and write group options.
type AnyOptimizer = Optimizer<any>;

/** A scheduler's own fields (everything but the optimizer), as plain data. */
export type SchedulerStateDict = Record<string, unknown>;

function stateOf(obj: object): SchedulerStateDict {
  const out: SchedulerStateDict = {};
  for (const [k, v] of Object.entries(obj)) if (k !== 'optimizer') out[k] = structuredClone(v);
  return out;
}

function loadState(obj: object, sd: SchedulerStateDict, name: string): void {
  if (!sd || typeof sd !== 'object') throw new ValueError(`${name}: loadStateDict expects an object`);
  for (const k of Object.keys(sd)) {
    if (k === 'optimizer') continue;
    if (!(k in obj)) throw new ValueError(`${name}: unknown state key '${k}'`);
  }
  for (const [k, v] of Object.entries(sd)) if (k !== 'optimizer') (obj as Record<string, unknown>)[k] = structuredClone(v);
}

/** A per-group value: one number for all groups, or one per group (PyTorch's _format_param). */
function perGroup(name: string, option: string, opt: AnyOptimizer, v: number | number[]): number[] {
  const n = opt.paramGroups.length;
  if (Array.isArray(v)) {
    if (v.length !== n) throw new ValueError(`${name}: expected ${n} values for ${option}, got ${v.length}`);
    return v.slice();
  }
  return new Array<number>(n).fill(v);
}

function checkNumber(name: string, option: string, v: unknown): void {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new ValueError(`${name}: invalid ${option}: ${v}`);
}

function checkInteger(name: string, option: string, v: unknown, min: number): void {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= min))
    throw new ValueError(`${name}: expected ${min > 0 ? 'a positive' : 'a non-negative'} integer ${option}, but got ${v}`);
}

// ---------------------------------------------------------------------------------------------
// base

/**
 * Base of the epoch-indexed schedulers. `lastEpoch` counts steps (0 after construction);
 * `baseLrs` are the groups' `initial_lr`, which the constructor sets to their lr when missing.
 * Subclasses set their fields and then call `init(lastEpoch)`, which performs the initial step.
 */
export abstract class LRScheduler {
  baseLrs: number[] = [];
  lastEpoch = -1;
  stepCount = 0;
  lastLr: number[] = [];

  constructor(readonly optimizer: AnyOptimizer) {
    if (!(optimizer instanceof Optimizer)) throw new ValueError(`${new.target.name}: expected an Optimizer but got ${String(optimizer)}`);
  }

  /** The lrs of every group at epoch `epoch` (the new lastEpoch); may read the current group lr. */
  protected abstract getLr(epoch: number): number[];

  protected get groups(): ParamGroup[] {
    return this.optimizer.paramGroups;
  }

  protected init(lastEpoch: number, name: string): void {
    if (lastEpoch === -1) {
      for (const g of this.groups) if (g.initial_lr === undefined) g.initial_lr = g.lr;
    } else {
      this.groups.forEach((g, i) => {
        if (g.initial_lr === undefined) throw new ValueError(`${name}: initial_lr is not set in paramGroups[${i}] when resuming from lastEpoch ${lastEpoch}`);
      });
    }
    this.baseLrs = this.groups.map((g) => g.initial_lr as number);
    this.lastEpoch = lastEpoch;
    this.step();
  }

  /** Advances one epoch and writes the new lr into every group. */
  step(): void {
    const lrs = this.getLr(this.lastEpoch + 1);
    this.lastEpoch++;
    this.stepCount++;
    this.groups.forEach((g, i) => (g.lr = lrs[i]));
    this.lastLr = this.groups.map((g) => g.lr);
  }

  /** The lr of every group as last set by this scheduler. */
  getLastLr(): number[] {
    return this.lastLr.slice();
  }

  stateDict(): SchedulerStateDict {
    return stateOf(this);
  }

  loadStateDict(sd: SchedulerStateDict): void {
    loadState(this, sd, this.constructor.name);
  }
}

// ---------------------------------------------------------------------------------------------
// StepLR, MultiStepLR, CosineAnnealingLR

/** Multiplies each group's lr by `gamma` every `stepSize` epochs: lr = base * gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;

  constructor(optimizer: AnyOptimizer, options: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    super(optimizer);
    checkInteger('StepLR', 'stepSize', options?.stepSize, 1);
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
    checkNumber('StepLR', 'gamma', this.gamma);
    this.init(options.lastEpoch ?? -1, 'StepLR');
  }

  // PyTorch's chainable form: scale the current lr at each multiple of stepSize.
  protected getLr(epoch: number): number[] {
    if (epoch === 0 || epoch % this.stepSize !== 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma);
  }
}

/** Multiplies each group's lr by `gamma` at each milestone epoch (twice for a repeated milestone). */
export class MultiStepLR extends LRScheduler {
  milestones: number[];
  gamma: number;

  constructor(optimizer: AnyOptimizer, options: { milestones: number[]; gamma?: number; lastEpoch?: number }) {
    super(optimizer);
    const ms = options?.milestones;
    if (!Array.isArray(ms)) throw new ValueError(`MultiStepLR: milestones must be an array of epoch numbers, got ${ms}`);
    ms.forEach((m, i) => checkInteger('MultiStepLR', `milestones[${i}]`, m, 0));
    this.milestones = ms.slice().sort((a, b) => a - b);
    this.gamma = options.gamma ?? 0.1;
    checkNumber('MultiStepLR', 'gamma', this.gamma);
    this.init(options.lastEpoch ?? -1, 'MultiStepLR');
  }

  protected getLr(epoch: number): number[] {
    const count = this.milestones.filter((m) => m === epoch).length;
    if (count === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma ** count);
  }
}

/** lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / TMax)) / 2, the closed form of PyTorch's recursion. */
export class CosineAnnealingLR extends LRScheduler {
  TMax: number;
  etaMin: number;

  constructor(optimizer: AnyOptimizer, options: { TMax: number; etaMin?: number; lastEpoch?: number }) {
    super(optimizer);
    const tmax = options?.TMax;
    if (!(typeof tmax === 'number' && tmax > 0)) throw new ValueError(`CosineAnnealingLR: TMax must be a positive number, got ${tmax}`);
    this.TMax = tmax;
    this.etaMin = options.etaMin ?? 0;
    checkNumber('CosineAnnealingLR', 'etaMin', this.etaMin);
    this.init(options.lastEpoch ?? -1, 'CosineAnnealingLR');
  }

  protected getLr(epoch: number): number[] {
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.TMax))) / 2);
  }
}

// ---------------------------------------------------------------------------------------------
// OneCycleLR

export interface OneCycleLROptions {
  /** Peak lr, one for all groups or one per group. */
  maxLr: number | number[];
  /** Number of steps in the cycle; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Fraction of the cycle spent increasing the lr (default 0.3). */
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  /** Cycle SGD's momentum or Adam's beta1 inversely to the lr (default true). */
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
  /** initial lr = maxLr / divFactor (default 25). */
  divFactor?: number;
  /** final lr = initial lr / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** Three phases (up, down to initial, annihilate) instead of two (default false). */
  threePhase?: boolean;
  lastEpoch?: number;
}

interface Phase {
  endStep: number;
  startLr: string;
  endLr: string;
  startMomentum: string;
  endMomentum: string;
}

/**
 * The 1cycle policy (Smith & Topal): lr rises from maxLr/divFactor to maxLr over pctStart of the
 * steps, then anneals to initial/finalDivFactor, while momentum moves the opposite way. Step it
 * once per batch; stepping past totalSteps is an error. Group keys follow PyTorch: initial_lr,
 * max_lr, min_lr, base_momentum, max_momentum.
 */
export class OneCycleLR extends LRScheduler {
  totalSteps: number;
  phases: Phase[];
  annealStrategy: 'cos' | 'linear';
  cycleMomentum: boolean;
  useBeta1: boolean;

  constructor(optimizer: AnyOptimizer, options: OneCycleLROptions) {
    super(optimizer);
    const name = 'OneCycleLR';
    const o = options ?? ({} as OneCycleLROptions);
    if (o.totalSteps !== undefined && o.totalSteps !== null) {
      checkInteger(name, 'totalSteps', o.totalSteps, 1);
      this.totalSteps = o.totalSteps;
    } else if (o.epochs !== undefined && o.stepsPerEpoch !== undefined) {
      checkInteger(name, 'epochs', o.epochs, 1);
      checkInteger(name, 'stepsPerEpoch', o.stepsPerEpoch, 1);
      this.totalSteps = o.epochs * o.stepsPerEpoch;
    } else {
      throw new ValueError(`${name}: you must define either totalSteps OR (epochs AND stepsPerEpoch)`);
    }
    const pctStart = o.pctStart ?? 0.3;
    if (!(typeof pctStart === 'number' && pctStart >= 0 && pctStart <= 1)) throw new ValueError(`${name}: expected a float between 0 and 1 for pctStart, but got ${pctStart}`);
    const anneal = o.annealStrategy ?? 'cos';
    if (anneal !== 'cos' && anneal !== 'linear') throw new ValueError(`${name}: annealStrategy must be one of 'cos' or 'linear', instead got ${anneal}`);
    this.annealStrategy = anneal;
    const divFactor = o.divFactor ?? 25;
    const finalDivFactor = o.finalDivFactor ?? 1e4;
    if (!(typeof divFactor === 'number' && divFactor > 0)) throw new ValueError(`${name}: divFactor must be positive, got ${divFactor}`);
    if (!(typeof finalDivFactor === 'number' && finalDivFactor > 0)) throw new ValueError(`${name}: finalDivFactor must be positive, got ${finalDivFactor}`);

    const T = this.totalSteps;
    this.phases = o.threePhase
      ? [
          { endStep: pctStart * T - 1, startLr: 'initial_lr', endLr: 'max_lr', startMomentum: 'max_momentum', endMomentum: 'base_momentum' },
          { endStep: 2 * pctStart * T - 2, startLr: 'max_lr', endLr: 'initial_lr', startMomentum: 'base_momentum', endMomentum: 'max_momentum' },
          { endStep: T - 1, startLr: 'initial_lr', endLr: 'min_lr', startMomentum: 'max_momentum', endMomentum: 'max_momentum' },
        ]
      : [
          { endStep: pctStart * T - 1, startLr: 'initial_lr', endLr: 'max_lr', startMomentum: 'max_momentum', endMomentum: 'base_momentum' },
          { endStep: T - 1, startLr: 'max_lr', endLr: 'min_lr', startMomentum: 'base_momentum', endMomentum: 'max_momentum' },
        ];

    const lastEpoch = o.lastEpoch ?? -1;
    const maxLrs = perGroup(name, 'maxLr', optimizer, o.maxLr);
    maxLrs.forEach((v, i) => {
      if (!(typeof v === 'number' && v >= 0)) throw new ValueError(`${name}: invalid maxLr for group ${i}: ${v}`);
    });
    if (lastEpoch === -1) {
      this.groups.forEach((g, i) => {
        g.initial_lr = maxLrs[i] / divFactor;
        g.max_lr = maxLrs[i];
        g.min_lr = g.initial_lr / finalDivFactor;
      });
    }

    this.cycleMomentum = o.cycleMomentum ?? true;
    this.useBeta1 = 'betas' in optimizer.defaults;
    if (this.cycleMomentum) {
      if (!('momentum' in optimizer.defaults) && !this.useBeta1)
        throw new ValueError(`${name}: optimizer must support momentum or beta1 with the cycleMomentum option enabled`);
      const maxM = perGroup(name, 'maxMomentum', optimizer, o.maxMomentum ?? 0.95);
      const baseM = perGroup(name, 'baseMomentum', optimizer, o.baseMomentum ?? 0.85);
      if (lastEpoch === -1) {
        this.groups.forEach((g, i) => {
          this.setMomentum(g, maxM[i]);
          g.max_momentum = maxM[i];
          g.base_momentum = baseM[i];
        });
      }
    }
    this.init(lastEpoch, name);
  }

  private setMomentum(g: ParamGroup, m: number): void {
    if (this.useBeta1) g.betas = [m, (g.betas as number[])[1]];
    else g.momentum = m;
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'linear') return (end - start) * pct + start;
    return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  }

  protected getLr(epoch: number): number[] {
    if (epoch > this.totalSteps) throw new ValueError(`OneCycleLR: tried to step ${epoch} times. The specified number of total steps is ${this.totalSteps}`);
    return this.groups.map((g) => {
      let start = 0;
      for (let i = 0; i < this.phases.length; i++) {
        const ph = this.phases[i];
        if (epoch <= ph.endStep || i === this.phases.length - 1) {
          // A phase of zero length (pctStart * totalSteps == 1) is complete at its end step.
          const pct = ph.endStep === start ? 1 : (epoch - start) / (ph.endStep - start);
          if (this.cycleMomentum) this.setMomentum(g, this.anneal(g[ph.startMomentum] as number, g[ph.endMomentum] as number, pct));
          return this.anneal(g[ph.startLr] as number, g[ph.endLr] as number, pct);
        }
        start = ph.endStep;
      }
      return g.lr;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau

export interface ReduceLROnPlateauOptions {
  /** 'min': the metric should go down (a loss); 'max': up (an accuracy). */
  mode?: 'min' | 'max';
  /** new lr = lr * factor (default 0.1, must be < 1). */
  factor?: number;
  /** Bad epochs tolerated before reducing (default 10). */
  patience?: number;
  /** Minimum change that counts as an improvement (default 1e-4). */
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again (default 0). */
  cooldown?: number;
  /** Lower bound on the lr, one for all groups or one per group (default 0). */
  minLr?: number | number[];
  /** Reductions smaller than eps are skipped (default 1e-8). */
  eps?: number;
}

/**
 * Reduces the lr by `factor` once the metric passed to `step(metric)` has not improved for more
 * than `patience` epochs. PyTorch's torch.optim.lr_scheduler.ReduceLROnPlateau.
 */
export class ReduceLROnPlateau {
  factor: number;
  minLrs: number[];
  patience: number;
  cooldown: number;
  cooldownCounter = 0;
  mode: 'min' | 'max';
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  best: number;
  numBadEpochs = 0;
  modeWorse: number;
  eps: number;
  lastEpoch = 0;
  lastLr: number[];

  constructor(
    readonly optimizer: AnyOptimizer,
    options: ReduceLROnPlateauOptions = {},
  ) {
    const name = 'ReduceLROnPlateau';
    if (!(optimizer instanceof Optimizer)) throw new ValueError(`${name}: expected an Optimizer but got ${String(optimizer)}`);
    const o = options ?? {};
    this.factor = o.factor ?? 0.1;
    if (!(typeof this.factor === 'number' && this.factor < 1)) throw new ValueError(`${name}: factor should be < 1.0, got ${this.factor}`);
    this.minLrs = perGroup(name, 'minLr', optimizer, o.minLr ?? 0);
    this.patience = o.patience ?? 10;
    checkInteger(name, 'patience', this.patience, 0);
    this.cooldown = o.cooldown ?? 0;
    checkInteger(name, 'cooldown', this.cooldown, 0);
    this.mode = o.mode ?? 'min';
    if (this.mode !== 'min' && this.mode !== 'max') throw new ValueError(`${name}: mode '${this.mode}' is unknown (expected 'min' or 'max')`);
    this.thresholdMode = o.thresholdMode ?? 'rel';
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs') throw new ValueError(`${name}: thresholdMode '${this.thresholdMode}' is unknown (expected 'rel' or 'abs')`);
    this.threshold = o.threshold ?? 1e-4;
    checkNumber(name, 'threshold', this.threshold);
    this.eps = o.eps ?? 1e-8;
    checkNumber(name, 'eps', this.eps);
    this.modeWorse = this.mode === 'min' ? Infinity : -Infinity;
    this.best = this.modeWorse;
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min' && this.thresholdMode === 'rel') return a < best * (1 - this.threshold);
    if (this.mode === 'min') return a < best - this.threshold;
    if (this.thresholdMode === 'rel') return a > best * (this.threshold + 1);
    return a > best + this.threshold;
  }

  /** Records one epoch's metric (a number or a one-element tensor) and reduces the lr if it plateaued. */
  step(metric: number | Tensor): void {
    const current = metric instanceof Tensor ? metric.item() : Number(metric);
    this.lastEpoch++;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs++;
    }
    if (this.inCooldown) {
      this.cooldownCounter--;
      this.numBadEpochs = 0; // bad epochs in cooldown do not count
    }
    if (this.numBadEpochs > this.patience) {
      this.reduceLr();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  private reduceLr(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      const oldLr = g.lr;
      const newLr = Math.max(oldLr * this.factor, this.minLrs[i]);
      if (oldLr - newLr > this.eps) g.lr = newLr;
    });
  }

  getLastLr(): number[] {
    return this.lastLr.slice();
  }

  stateDict(): SchedulerStateDict {
    return stateOf(this);
  }

  loadStateDict(sd: SchedulerStateDict): void {
    loadState(this, sd, 'ReduceLROnPlateau');
  }
}
