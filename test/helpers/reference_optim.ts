// Plain JS re-implementations of PyTorch's documented optimizer algorithms and LR schedules, on
// arrays of numbers (float64), written straight from the pseudo-code in the torch.optim docs.
// They are the oracles for test/optim/*.test.ts and share no code with lib/optim.

export interface SGDRefOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

/**
 * torch.optim.SGD, one parameter over several steps: returns the parameter after each step.
 * On `maximize`: PyTorch's code negates the gradient first (before weight decay); the docs'
 * pseudo-code flips the sign at the update instead. The two agree except with weight decay, and
 * we follow the code, which is what PyTorch computes.
 */
export function sgdReference(p0: number[], grads: number[][], o: SGDRefOptions): number[][] {
  const mu = o.momentum ?? 0;
  const tau = o.dampening ?? 0;
  const lambda = o.weightDecay ?? 0;
  const p = p0.slice();
  let b: number[] | null = null;
  const out: number[][] = [];
  for (let t = 1; t <= grads.length; t++) {
    const g = grads[t - 1].map((x) => (o.maximize ? -x : x));
    for (let i = 0; i < p.length; i++) {
      if (lambda !== 0) g[i] = g[i] + lambda * p[i];
    }
    if (mu !== 0) {
      if (t > 1 && b) b = b.map((bi, i) => mu * bi + (1 - tau) * g[i]);
      else b = g.slice();
      for (let i = 0; i < p.length; i++) g[i] = o.nesterov ? g[i] + mu * b[i] : b[i];
    }
    for (let i = 0; i < p.length; i++) p[i] = p[i] - o.lr * g[i];
    out.push(p.slice());
  }
  return out;
}

export interface AdamRefOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  /** AdamW: theta <- theta - lr * lambda * theta before the update, instead of the L2 term. */
  decoupled?: boolean;
}

/** torch.optim.Adam / AdamW, one parameter over several steps: the parameter after each step. */
export function adamReference(p0: number[], grads: number[][], o: AdamRefOptions): number[][] {
  const lr = o.lr ?? 1e-3;
  const [b1, b2] = o.betas ?? [0.9, 0.999];
  const eps = o.eps ?? 1e-8;
  const lambda = o.weightDecay ?? (o.decoupled ? 1e-2 : 0);
  const p = p0.slice();
  const m = new Array<number>(p.length).fill(0);
  const v = new Array<number>(p.length).fill(0);
  const vmax = new Array<number>(p.length).fill(0);
  const out: number[][] = [];
  for (let t = 1; t <= grads.length; t++) {
    for (let i = 0; i < p.length; i++) {
      let g = o.maximize ? -grads[t - 1][i] : grads[t - 1][i];
      if (o.decoupled) p[i] = p[i] - lr * lambda * p[i];
      else if (lambda !== 0) g = g + lambda * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const mHat = m[i] / (1 - b1 ** t);
      let vHat: number;
      if (o.amsgrad) {
        vmax[i] = Math.max(vmax[i], v[i]);
        vHat = vmax[i] / (1 - b2 ** t);
      } else {
        vHat = v[i] / (1 - b2 ** t);
      }
      p[i] = p[i] - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
    out.push(p.slice());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// schedules in closed form (lr at epoch e, e = 0 after construction)

export function stepLrAt(base: number, e: number, stepSize: number, gamma: number): number {
  return base * gamma ** Math.floor(e / stepSize);
}

export function multiStepLrAt(base: number, e: number, milestones: number[], gamma: number): number {
  return base * gamma ** milestones.filter((m) => m <= e).length;
}

export function cosineLrAt(base: number, e: number, tMax: number, etaMin: number): number {
  return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * e) / tMax))) / 2;
}

export interface OneCycleRef {
  maxLr: number;
  total: number;
  pctStart?: number;
  anneal?: 'cos' | 'linear';
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
}

/**
 * The 1cycle schedule as the OneCycleLR docs describe it: [lr, momentum] at step e. Two phases:
 * initial -> max over steps [0, pct*T - 1], then max -> min over [pct*T - 1, T - 1]. Three phases:
 * initial -> max, max -> initial over [pct*T - 1, 2*pct*T - 2], then initial -> min.
 */
export function oneCycleAt(o: OneCycleRef, e: number): [number, number] {
  const pct = o.pctStart ?? 0.3;
  const initial = o.maxLr / (o.divFactor ?? 25);
  const min = initial / (o.finalDivFactor ?? 1e4);
  const mBase = o.baseMomentum ?? 0.85;
  const mMax = o.maxMomentum ?? 0.95;
  const f = (a: number, b: number, x: number): number => (o.anneal === 'linear' ? a + (b - a) * x : b + ((a - b) * (1 + Math.cos(Math.PI * x))) / 2);
  const up = pct * o.total - 1;
  if (!o.threePhase) {
    if (e <= up) return [f(initial, o.maxLr, e / up), f(mMax, mBase, e / up)];
    const x = (e - up) / (o.total - 1 - up);
    return [f(o.maxLr, min, x), f(mBase, mMax, x)];
  }
  const down = 2 * pct * o.total - 2;
  if (e <= up) return [f(initial, o.maxLr, e / up), f(mMax, mBase, e / up)];
  if (e <= down) {
    const x = (e - up) / (down - up);
    return [f(o.maxLr, initial, x), f(mBase, mMax, x)];
  }
  const x = (e - down) / (o.total - 1 - down);
  return [f(initial, min, x), mMax];
}
