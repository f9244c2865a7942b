// Convolution layer times through the public API, as shared/reference/torch_fmnist.py `conv`
// measures PyTorch: forward under noGrad, and forward + backward (ones as the output gradient)
// giving the input, weight and bias gradients. Shapes: the standard model's conv2 (64 x 32->64,
// 14x14, 3x3, pad 1) and conv1 (64 x 1->32, 28x28), the classic model's two convs at batch 20.
// Median of repeated timed batches, after warm-up. Usage:
//   npx tsc -p tsconfig.dev.json && node dist-dev/bench/conv_time.js [threads,...] [filter]
// e.g. `node dist-dev/bench/conv_time.js 1,2 conv2`. TENSILE_NATIVE picks the addon build.
import * as tn from '../lib';

interface Case {
  name: string;
  x: number[];
  w: number[];
  padding: number;
}

const cases: Case[] = [
  { name: 'conv2_32to64_14x14_k3p1_b64', x: [64, 32, 14, 14], w: [64, 32, 3, 3], padding: 1 },
  { name: 'conv1_1to32_28x28_k3p1_b64', x: [64, 1, 28, 28], w: [32, 1, 3, 3], padding: 1 },
  { name: 'classic_conv1_1to10_28x28_k3_b20', x: [20, 1, 28, 28], w: [10, 1, 3, 3], padding: 0 },
  { name: 'classic_conv2_10to20_13x13_k3_b20', x: [20, 10, 13, 13], w: [20, 10, 3, 3], padding: 0 },
];

// Median and best ms of one call of fn over `reps` batches that each last at least ~minMs, and
// the process CPU ms per call (user + system, all threads): on a busy machine the wall time
// includes waiting for a core, the CPU time does not.
function timeIt(fn: () => void, minMs = 20, reps = 15): { med: number; best: number; cpu: number } {
  for (let i = 0; i < 5; i++) fn();
  let iters = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms >= minMs) break;
    iters *= 2;
  }
  const times: number[] = [];
  const cpus: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6 / iters);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e3 / iters);
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return { med: med(times), best: Math.min(...times), cpu: med(cpus) };
}

function main(): void {
  const threads = (process.argv[2] ?? '1,2').split(',').map(Number);
  const filter = process.argv[3] ?? '';
  tn.manualSeed(0);
  for (const th of threads) {
    tn.setNumThreads(th);
    for (const c of cases) {
      if (filter && !c.name.includes(filter)) continue;
      const x = tn.randn(c.x);
      const xg = x.clone().requiresGrad_();
      const w = tn.randn(c.w).mul(0.1).detach().requiresGrad_();
      const b = tn.randn([c.w[0]]).detach().requiresGrad_();
      const opts = { padding: c.padding };
      // tidy frees each call's tensors at once, as a training step frees its activations: the
      // caching allocator then hands the same blocks back instead of fresh pages.
      const fwd = () => {
        tn.tidy(() => tn.noGrad(() => tn.F.conv2d(x, w, b, opts)));
      };
      const ones = tn.onesLike(tn.noGrad(() => tn.F.conv2d(x, w, b, opts)));
      const fwdbwd = () => {
        for (const t of [xg, w, b]) {
          t.grad?.dispose();
          t.grad = null;
        }
        tn.tidy(() => {
          tn.F.conv2d(xg, w, b, opts).backward(ones);
        });
      };
      const f = timeIt(fwd);
      const b2 = timeIt(fwdbwd);
      const [N, C, H, W] = c.x;
      const [OC, , KH, KW] = c.w;
      const OH = H + 2 * c.padding - KH + 1;
      const OW = W + 2 * c.padding - KW + 1;
      const flops = 2 * N * OC * OH * OW * C * KH * KW;
      const r3 = (v: number) => +v.toFixed(3);
      console.log(JSON.stringify({
        bench: c.name, threads: th,
        fwd_ms: r3(f.med), fwd_best_ms: r3(f.best), fwd_cpu_ms: r3(f.cpu),
        fwdbwd_ms: r3(b2.med), fwdbwd_best_ms: r3(b2.best), fwdbwd_cpu_ms: r3(b2.cpu),
        fwd_gflops: +(flops / f.med / 1e6).toFixed(1), fwdbwd_gflops: +((3 * flops) / b2.med / 1e6).toFixed(1),
      }));
    }
  }
}

main();
