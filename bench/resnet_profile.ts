// Where a tensile ResNet training step spends its time (issue #15): the loop of `npm run bench`'s
// 'resnet' rows, with every native call timed (CPU calls are synchronous, so a call's wall time is
// its kernel's) and the step split into phases (batch gather, forward + loss, backward, optimizer
// step, loss.item()); a phase's time beyond its native calls is JavaScript, autograd bookkeeping
// and garbage collection. Convolutions are also broken down by shape. Not part of `npm run bench`.
//
//   npx tsc -p tsconfig.dev.json && TENSILE_NUM_THREADS=2 node dist-dev/bench/resnet_profile.js [resnet20|resnet18] [--warmup 3 --steps 5 --lr 0.1]
import * as tn from '../lib';
import { native } from '../lib/native';
import { RESNETS, ResNetName, countParams } from './resnet';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

type Phase = 'gather' | 'forward' | 'backward' | 'step' | 'item' | 'zeroGrad';
let phase: Phase = 'gather';
const byOp = new Map<string, { ms: number; calls: number }>();
const byPhase = new Map<Phase, { wall: number; native: number }>();
const byConv = new Map<string, { ms: number; calls: number; gflop: number }>();
let profiling = false;

const add = <K>(m: Map<K, { ms: number; calls: number }>, k: K, ms: number): void => {
  const e = m.get(k) ?? { ms: 0, calls: 0 };
  e.ms += ms;
  e.calls++;
  m.set(k, e);
};

/** Wraps every function of the binding with a timer (once profiling is on). */
function instrument(): void {
  const nat = native as unknown as Record<string, unknown>;
  for (const [name, fn] of Object.entries(nat)) {
    if (typeof fn !== 'function') continue;
    const f = fn as (...args: unknown[]) => unknown;
    nat[name] = (...args: unknown[]): unknown => {
      if (!profiling) return f(...args);
      const t = nowMs();
      const r = f(...args);
      const ms = nowMs() - t;
      add(byOp, `${phase}: ${name}`, ms);
      const p = byPhase.get(phase)!;
      p.native += ms;
      if (name.startsWith('conv2d')) {
        const params = args.find((a): a is Int32Array => a instanceof Int32Array);
        if (params) {
          const [N, C, H, W, OC, KH, KW, OH, OW, sH] = params;
          void H; void W;
          const key = `${name.padEnd(22)} ${KH}x${KW}/${sH} ${String(C).padStart(3)}→${String(OC).padEnd(3)} out ${OH}x${OW}`;
          const e = byConv.get(key) ?? { ms: 0, calls: 0, gflop: 0 };
          e.ms += ms;
          e.calls++;
          e.gflop += (2 * N * OC * OH * OW * C * KH * KW) / 1e9;
          byConv.set(key, e);
        }
      }
      return r;
    };
  }
}

function main(): void {
  const args = process.argv.slice(2);
  const model = (args.find((a) => a in RESNETS) ?? 'resnet20') as ResNetName;
  const opt = (name: string, d: number): number => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const warmup = opt('warmup', 3);
  const steps = opt('steps', 5);
  const threads = Number(process.env.TENSILE_NUM_THREADS ?? opt('threads', 1));
  tn.setNumThreads(threads);
  instrument();
  const spec = RESNETS[model];
  tn.manualSeed(0);
  const xtr = tn.randn([1024, 3, 32, 32]);
  const ytr = tn.randint(0, 10, [1024]);
  const net = spec.make();
  const sgd = new tn.optim.SGD(net.parameters(), { lr: opt('lr', 0.1), momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const criterion = new tn.nn.CrossEntropyLoss();
  net.train();
  const bs = spec.batch;
  const time = <T>(p: Phase, fn: () => T): T => {
    phase = p;
    const t = nowMs();
    const r = fn();
    if (profiling) byPhase.get(p)!.wall += nowMs() - t;
    return r;
  };
  for (const p of ['gather', 'zeroGrad', 'forward', 'backward', 'step', 'item'] as Phase[]) byPhase.set(p, { wall: 0, native: 0 });
  let t0 = 0;
  const stepMs: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const ts = nowMs();
    if (s === warmup) {
      profiling = true;
      t0 = nowMs();
    }
    const [xb, yb] = time('gather', () => {
      const j = tn.arange(((s * bs) % 1024), ((s * bs) % 1024) + bs);
      return [xtr.indexSelect(0, j), ytr.indexSelect(0, j)];
    });
    time('zeroGrad', () => sgd.zeroGrad());
    const loss = time('forward', () => criterion.forward(net.forward(xb), yb));
    time('backward', () => loss.backward());
    time('step', () => sgd.step());
    time('item', () => loss.item());
    stepMs.push(nowMs() - ts);
  }
  const total = (nowMs() - t0) / steps;
  const per = (ms: number): string => `${(ms / steps).toFixed(1).padStart(8)} ms/step`;
  const lines: string[] = [];
  lines.push(`${model} (${countParams(net)} params), batch ${bs}, ${threads} thread(s): ${total.toFixed(1)} ms/step over ${steps} steps after ${warmup} warm-up (${((bs * 1000) / total).toFixed(1)} samples/s, profiled)`);
  lines.push(`step times (ms, warm-up first): ${stepMs.map((v) => v.toFixed(0)).join(' ')}`);
  let nativeSum = 0;
  lines.push('\nby phase (wall; native calls; rest = JS, autograd, GC):');
  for (const [p, v] of byPhase) {
    nativeSum += v.native;
    lines.push(`  ${p.padEnd(10)} ${per(v.wall)}  native ${per(v.native)}  rest ${per(v.wall - v.native)}`);
  }
  lines.push(`  all native calls ${per(nativeSum)} of ${total.toFixed(1)} ms/step`);
  lines.push('\nby native call (phase: function), largest first:');
  for (const [k, v] of [...byOp].sort((a, b) => b[1].ms - a[1].ms)) {
    if (v.ms / steps < 0.05) continue;
    lines.push(`  ${k.padEnd(36)} ${per(v.ms)}  ${(v.calls / steps).toFixed(1).padStart(6)} calls/step  ${((v.ms / v.calls) * 1000).toFixed(0).padStart(7)} us/call  ${((100 * v.ms) / steps / total).toFixed(1).padStart(5)}%`);
  }
  lines.push('\nconvolutions by shape (GFLOP/s: 2·N·OC·OH·OW·C·KH·KW per call, the same count for every direction):');
  for (const [k, v] of [...byConv].sort((a, b) => b[1].ms - a[1].ms)) {
    lines.push(`  ${k} ${per(v.ms)}  ${(v.calls / steps).toFixed(0).padStart(3)} calls/step  ${(v.gflop / (v.ms / 1000)).toFixed(1).padStart(6)} GFLOP/s`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main();
