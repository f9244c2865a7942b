// Per-op overhead: µs per call of tiny ops (10-element add/mul/relu, 4x4 matmul) with gradients
// off, the same with a recorded graph, and the classic CNN step (batch 20, SGD momentum). The tiny
// ops do almost no arithmetic, so their time is the JS -> N-API -> kernel -> JS round trip plus
// Tensor construction. Medians of several repeats, because the machine is shared.
// Run: `npx tsc -p tsconfig.dev.json && node dist-dev/bench/overhead.js` (TENSILE_NATIVE picks a build).
import * as tn from '../lib';
import { classicModel, timeSteps } from './step_time';

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** µs per call of fn, median over `repeats` batches of `iters` calls. */
function usPerOp(fn: () => unknown, iters = 20000, repeats = 7): number {
  for (let i = 0; i < iters; i++) fn();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e3 / iters);
  }
  return median(times);
}

export function overheadFigures(): Record<string, number> {
  tn.manualSeed(0);
  const a = tn.randn([10]);
  const b = tn.randn([10]);
  const m = tn.randn([4, 4]);
  const ag = tn.randn([10], { requiresGrad: true });
  const out: Record<string, number> = {};
  out.add_us = usPerOp(() => a.add(b));
  out.mul_us = usPerOp(() => a.mul(b));
  out.add_scalar_us = usPerOp(() => a.add(1));
  out.relu_us = usPerOp(() => a.relu());
  out.matmul4_us = usPerOp(() => m.matmul(m));
  out.add_grad_us = usPerOp(() => ag.add(b));
  out.add_backward_us = usPerOp(() => ag.add(b).sum().backward(), 5000);
  return out;
}

if (require.main === module) {
  const threads = Number(process.env.TENSILE_NUM_THREADS ?? tn.getNumThreads());
  tn.setNumThreads(threads);
  const figs = overheadFigures();
  const steps: number[] = [];
  for (let r = 0; r < 5; r++) {
    tn.manualSeed(0);
    const c = classicModel();
    steps.push(timeSteps(c, new tn.optim.SGD(c.parameters(), { lr: 0.001, momentum: 0.9 }), 20, 50, 400));
  }
  const ms = median(steps);
  const fmt = (v: number) => +v.toFixed(3);
  console.log(JSON.stringify({ threads, ...Object.fromEntries(Object.entries(figs).map(([k, v]) => [k, fmt(v)])), classic_b20_ms: fmt(ms), classic_samples_per_s: Math.round(20000 / ms) }));
}
