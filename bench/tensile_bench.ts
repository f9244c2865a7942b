// tensile's side of `npm run bench`: the measurements of bench/torch_bench.py, same shapes, same
// models, same data, same timing rule, one JSON object per line on stdout. bench/run.ts starts it once
// per measurement, with TENSILE_NUM_THREADS set, so that the pool size is fixed at start and the peak
// RSS it reports (VmHWM) is that measurement's alone. Not a test: it checks nothing.
//
//   node dist-dev/bench/tensile_bench.js gemm|layers|overhead|train [--threads N] [--min-time S]
//        [--sizes 256,512] [--model classic|lesson|standard --warmup 50 --steps 300 --data DIR]
//        [--model resnet20|resnet18 --warmup 5 --steps 20 --samples 1024]  (random CIFAR-size data)
import * as fs from 'fs';
import * as path from 'path';
import * as tn from '../lib';
import { native } from '../lib/native';
import { readIdx } from '../lib/data';
import { classicModel, lessonModel, standardModel } from './step_time';
import { RESNETS, ResNetName, countParams } from './resnet';

const { nn, optim } = tn;
const MEAN = 0.286;
const STD = 0.353;

function emit(obj: object): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** VmHWM of this process in MiB: the peak resident set, read at the end of a run. */
export function peakRssMb(): number | null {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : null;
}

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Median ms of fn() over at least minIters calls and minTime seconds, as torch_bench.py's bench(). */
function bench(fn: () => void, minTime: number, minIters = 5, warmup = 3): { ms: number; iters: number } {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const t0 = nowMs();
  while (times.length < minIters || nowMs() - t0 < minTime * 1000) {
    const t = nowMs();
    fn();
    times.push(nowMs() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1], iters: times.length };
}

// ---------------------------------------------------------------------------------------------
// measurements

function gemm(sizes: number[], minTime: number): void {
  tn.manualSeed(0);
  for (const n of sizes) {
    const A = tn.randn([n, n]);
    const B = tn.randn([n, n]);
    // The product is disposed at once, so its block goes back to the caching allocator and the
    // next call reuses it, as torch.mm(out=C) reuses C.
    const r = tn.noGrad(() => bench(() => tn.matmul(A, B).dispose(), minTime, 3, 1));
    emit({ bench: 'gemm', n, ms: round(r.ms, 4), gflops: round((2 * n ** 3) / r.ms / 1e6, 2), iters: r.iters });
  }
}

function layers(minTime: number): void {
  tn.manualSeed(0);
  const cases: [string, tn.nn.Module, number[]][] = [
    ['conv2', new nn.Conv2d(32, 64, 3, { padding: 1 }), [64, 32, 14, 14]],
    ['fc1', new nn.Linear(3136, 128), [64, 3136]],
  ];
  for (const [name, layer, shape] of cases) {
    const x = tn.randn(shape);
    const xg = x.clone().requiresGrad_(true);
    const fwd = () => tn.noGrad(() => layer.forward(x).dispose());
    // Gradients of the input, the weight and the bias; tidy releases them (and y) per call.
    const fwdbwd = () =>
      tn.tidy(() => {
        layer.zeroGrad();
        xg.grad = null;
        const y = layer.forward(xg);
        y.backward(tn.onesLike(y));
      });
    let r = bench(fwd, minTime);
    emit({ bench: `${name}_fwd`, ms: round(r.ms, 4), iters: r.iters });
    r = bench(fwdbwd, minTime);
    emit({ bench: `${name}_fwdbwd`, ms: round(r.ms, 4), iters: r.iters });
  }
}

/** Per-op cost of a tiny element-wise op: out-of-place add of two 16-element tensors in a loop, as a
 * user writes it (no dispose: the results go to the garbage collector, whose cost counts). */
function overhead(ops: number, reps: number): void {
  const x = tn.ones([16]);
  const y = tn.ones([16]);
  const results: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t = nowMs();
    for (let i = 0; i < ops; i++) x.add(y);
    results.push(((nowMs() - t) * 1000) / ops);
  }
  const rs = results.slice(1).sort((a, b) => a - b); // the first repetition warms up
  emit({ bench: 'overhead', op: 'add 16 float32', us: round(rs[rs.length >> 1], 3), ops: ops * reps });
}

/** The train split of `dir` as torch_bench.py's load_train: (x-0.2860)/0.3530 of x/255, float32
 * (N, 1, 28, 28), and int64 labels. Normalised in chunks written straight into the native tensor, so
 * that no whole-set float copy lives in JS (torch normalises in place; equal peak memory). */
function loadTrain(dir: string): { x: tn.Tensor; y: tn.Tensor } {
  const img = readIdx(path.join(dir, 'train-images-idx3-ubyte'));
  const lab = readIdx(path.join(dir, 'train-labels-idx1-ubyte'));
  const n = img.dims[0];
  const px = img.dims[1] * img.dims[2];
  const x = tn.empty([n, 1, img.dims[1], img.dims[2]]);
  const chunk = 1024;
  const buf = new Float32Array(chunk * px);
  for (let i = 0; i < n; i += chunk) {
    const k = Math.min(chunk, n - i);
    const src = img.data.subarray(i * px, (i + k) * px);
    for (let j = 0; j < k * px; j++) buf[j] = (src[j] / 255 - MEAN) / STD;
    native.write(x.handle, (x.offset + i * px) * 4, buf.subarray(0, k * px));
  }
  const y = tn.fromTypedArray(lab.data as Uint8Array).to('int64');
  return { x, y };
}

/** A seeded Fisher-Yates permutation of 0..n-1 (torch.randperm's role). */
function randperm(n: number, state: { s: number }): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    // mulberry32
    state.s = (state.s + 0x6d2b79f5) | 0;
    let t = state.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    const j = Math.floor(r * (i + 1));
    const v = p[i];
    p[i] = p[j];
    p[j] = v;
  }
  return p;
}

/** Training throughput as BASELINE.md measures it: shuffled batches gathered from the normalised
 * train set (indexSelect), forward, loss, backward, optimizer step and loss.item(); the clock starts
 * after `warmup` steps. */
function train(modelName: string, warmup: number, steps: number, dir: string, device: tn.Device = 'cpu'): void {
  tn.manualSeed(0);
  const host = loadTrain(dir);
  // On a GPU the whole train set lives on the device, as the PyTorch side does with --device cuda.
  const xtr = device === 'cpu' ? host.x : host.x.to(device);
  const ytr = device === 'cpu' ? host.y : host.y.to(device);
  // 'lesson': the classic net written as the lesson writes it (a Module subclass calling its layers)
  const classic = modelName === 'classic' || modelName === 'lesson';
  const model = modelName === 'classic' ? classicModel() : modelName === 'lesson' ? lessonModel() : standardModel();
  if (device !== 'cpu') model.to(device);
  const opt = classic ? new optim.SGD(model.parameters(), { lr: 0.001, momentum: 0.9 }) : new optim.Adam(model.parameters(), { lr: 1e-3 });
  const bs = classic ? 20 : 64;
  const r = trainLoop(model, opt, xtr, ytr, bs, warmup, steps, device);
  emit({
    bench: 'train', model: modelName, device, batch: bs, warmup, steps,
    ms_per_step: round(r.ms / steps, 4), samples_per_s: round((steps * bs * 1000) / r.ms, 1),
    mean_loss: round(r.lossSum / steps, 4), peak_rss_mb: peakRssMb(),
  });
}

/** The timed loop of every 'train' row: a seeded shuffle per epoch, batches gathered with
 * indexSelect, zeroGrad, forward, cross-entropy, backward, step, loss.item(). Returns the wall time
 * of the `steps` timed steps, their loss sum, and each step's time and loss (warm-up included). */
function trainLoop(model: tn.nn.Module, opt: tn.optim.Optimizer, xtr: tn.Tensor, ytr: tn.Tensor, bs: number, warmup: number, steps: number, device: tn.Device = 'cpu'): { ms: number; lossSum: number; stepMs: number[]; losses: number[] } {
  const criterion = new nn.CrossEntropyLoss();
  const n = xtr.shape[0];
  const rng = { s: 0 };
  model.train();
  let perm = randperm(n, rng);
  let pos = 0;
  let lossSum = 0;
  let t0 = 0;
  const stepMs: number[] = [];
  const losses: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const ts = nowMs();
    if (s === warmup) {
      t0 = ts;
      lossSum = 0;
    }
    if (pos + bs > n) {
      perm = randperm(n, rng);
      pos = 0;
    }
    const j0 = tn.fromTypedArray(perm.subarray(pos, pos + bs));
    const j = device === 'cpu' ? j0 : j0.to(device);
    pos += bs;
    const xb = xtr.indexSelect(0, j);
    const yb = ytr.indexSelect(0, j);
    opt.zeroGrad();
    const loss = criterion.forward(model.forward(xb), yb);
    loss.backward();
    opt.step();
    const l = loss.item();
    lossSum += l;
    losses.push(l);
    stepMs.push(nowMs() - ts);
  }
  return { ms: nowMs() - t0, lossSum, stepMs, losses };
}

/** ResNet training (issue #15): `samples` random CIFAR-size images (randn, 3×32×32) with random
 * labels of 10 classes, seed 0; SGD with Nesterov momentum 0.9, weight decay 5e-4, lr 0.1; the loop
 * of the other 'train' rows. Also reports the parameter count, each step's time and loss. */
function trainResnet(modelName: string, warmup: number, steps: number, samples: number): void {
  if (!(modelName in RESNETS)) throw new Error(`unknown ResNet ${modelName}: ${Object.keys(RESNETS).join(' | ')}`);
  const spec = RESNETS[modelName as ResNetName];
  tn.manualSeed(0);
  const xtr = tn.randn([samples, 3, 32, 32]);
  const ytr = tn.randint(0, 10, [samples]);
  const model = spec.make();
  const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const bs = spec.batch;
  const r = trainLoop(model, opt, xtr, ytr, bs, warmup, steps);
  const timed = r.stepMs.slice(warmup).sort((a, b) => a - b);
  emit({
    bench: 'train', model: modelName, precision: 'fp32', device: 'cpu', batch: bs, warmup, steps, samples, params: countParams(model),
    ms_per_step: round(r.ms / steps, 4), samples_per_s: round((steps * bs * 1000) / r.ms, 1),
    step_ms_min: round(timed[0], 2), step_ms_median: round(timed[timed.length >> 1], 2),
    mean_loss: round(r.lossSum / steps, 4), losses: r.losses.map((l) => round(l, 4)), peak_rss_mb: peakRssMb(),
  });
}

// ---------------------------------------------------------------------------------------------

function main(): void {
  const [cmd, ...rest] = process.argv.slice(2);
  const opt: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = rest[i + 1];
  const threads = Number(opt.threads ?? process.env.TENSILE_NUM_THREADS ?? 1);
  tn.setNumThreads(threads);
  const minTime = Number(opt['min-time'] ?? 1);
  switch (cmd) {
    case 'gemm':
      gemm((opt.sizes ?? '256,512,1024,2048').split(',').map(Number), minTime);
      break;
    case 'layers':
      layers(minTime);
      break;
    case 'overhead':
      overhead(Number(opt.ops ?? 100000), Number(opt.reps ?? 5));
      break;
    case 'train':
      if (opt.model in RESNETS) {
        if (opt.precision && opt.precision !== 'fp32') throw new Error(`tensile trains in fp32 only (asked for ${opt.precision})`);
        trainResnet(opt.model, Number(opt.warmup ?? 5), Number(opt.steps ?? 20), Number(opt.samples ?? 1024));
        break;
      }
      if (!opt.data || !opt.model) throw new Error('train needs --model classic|lesson|standard|resnet20|resnet18 and --data DIR (not for the ResNets)');
      train(opt.model, Number(opt.warmup ?? 50), Number(opt.steps ?? 300), opt.data, (opt.device ?? 'cpu') as tn.Device);
      break;
    case 'info':
      emit({ threads: tn.getNumThreads(), gemmKernel: native.gemmKernel(), node: process.version });
      return;
    default:
      throw new Error(`unknown command ${cmd}: gemm | layers | overhead | train | info`);
  }
  const cpu = process.cpuUsage();
  emit({ event: 'end', threads: tn.getNumThreads(), peak_rss_mb: peakRssMb(), cpu_s: round((cpu.user + cpu.system) / 1e6, 3) });
}

if (require.main === module) main();
