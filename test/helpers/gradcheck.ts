// Float64 central-difference gradient checks (DESIGN.md: eps 1e-6, atol 1e-5, rtol 1e-3).
// A non-scalar output is reduced with fixed random weights, so every output element's gradient
// path is exercised, not just their sum.
import * as tn from '../../lib';
import { Tensor } from '../../lib';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Indices of inputs to check (default: all that require grad). */
  check?: number[];
  /** Check at most this many elements per input, evenly spaced (large inputs such as a whole CNN). */
  sample?: number;
}

function projection(out: Tensor, seed: number): Tensor {
  const g = new tn.Generator(seed);
  const w = new Float64Array(out.numel());
  for (let i = 0; i < w.length; i++) w[i] = g.random() * 2 - 1;
  return tn.fromTypedArray(w, out.shape);
}

/**
 * Compares the analytic gradient of sum(fn(inputs) * w) with central differences for every
 * element of every checked input. Throws with the worst mismatch; returns the max abs error.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): number {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  for (const x of inputs) if (x.dtype !== 'float64') throw new Error(`gradcheck: inputs must be float64, got ${x.dtype}`);
  const check = opts.check ?? inputs.map((x, i) => (x.requiresGrad ? i : -1)).filter((i) => i >= 0);

  const leaves = inputs.map((x) => {
    const t = tn.fromTypedArray(x.data as Float64Array, x.shape);
    if (x.requiresGrad) t.requiresGrad_(true);
    return t;
  });
  const out = fn(...leaves);
  const w = projection(out, 1234);
  out.mul(w).sum().backward();

  const lossAt = (xs: Tensor[]): number => tn.noGrad(() => fn(...xs).mul(w).sum().item());
  let worst = 0;
  for (const i of check) {
    const base = inputs[i].data as Float64Array;
    const analytic = leaves[i].grad ? (leaves[i].grad!.data as Float64Array) : new Float64Array(base.length);
    const stride = opts.sample && base.length > opts.sample ? base.length / opts.sample : 1;
    for (let kk = 0; kk < base.length; kk += stride) {
      const k = Math.floor(kk);
      const plus = Float64Array.from(base);
      const minus = Float64Array.from(base);
      plus[k] += eps;
      minus[k] -= eps;
      const xsPlus = leaves.map((l, j) => (j === i ? tn.fromTypedArray(plus, l.shape) : l.detach()));
      const xsMinus = leaves.map((l, j) => (j === i ? tn.fromTypedArray(minus, l.shape) : l.detach()));
      const numeric = (lossAt(xsPlus) - lossAt(xsMinus)) / (2 * eps);
      const err = Math.abs(numeric - analytic[k]);
      worst = Math.max(worst, err);
      if (!(err <= atol + rtol * Math.abs(numeric))) {
        throw new Error(`gradcheck: input ${i} element ${k} (shape [${inputs[i].shape}]): analytic ${analytic[k]} vs numeric ${numeric} (error ${err})`);
      }
    }
  }
  return worst;
}

/** A float64 leaf with values uniform in [lo, hi), seeded. */
export function randLeaf(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const g = new tn.Generator(seed);
  const v = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * g.random();
  return tn.fromTypedArray(v, shape).requiresGrad_(true);
}

/** Max |a - b| over two tensors or arrays of the same length. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxDiff: lengths ${a.length} and ${b.length} differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Asserts |a - b| <= atol + rtol |b| element-wise, naming the first offending element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, label = ''): void {
  if (actual.length !== expected.length) throw new Error(`${label}: lengths ${actual.length} and ${expected.length} differ`);
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`${label}: element ${i}: got ${actual[i]}, expected ${expected[i]} (|diff| ${e}, maxdiff ${maxDiff(actual, expected)})`);
    }
  }
}
