// `npm run bench`: tensile and PyTorch side by side, in one run, on the same shapes, models and data.
// Every measurement runs in a child process of its own (bench/tensile_bench.ts, bench/torch_bench.py),
// so the thread count is fixed at start and the peak RSS is that run's alone; tensile's and PyTorch's
// child for the same row run back to back, so that load from other jobs on the machine hits both
// alike. Prints one markdown table with tensile / PyTorch per row, writes bench/results/<date>.json
// and bench/results/latest.md. PyTorch runs "tuned" as in docs/reference-measurements.md (OpenBLAS,
// malloc thresholds); without it, the table has tensile's figures alone and says how to install it.
//
//   npm run bench [-- --quick] [-- --only gemm,layers,overhead,train,resnet] [-- --threads 1,2]
//                 [-- --steps 300 --classic-steps 1500 --warmup 50] [-- --reps 3] [-- --settle 15] [-- --no-torch]
//                 [-- --resnet-steps 25,14 --resnet-warmup 5,3]   (ResNet-20, ResNet-18: issue #15)
//                 [-- --python /usr/bin/python3] [-- --out DIR]   |   [-- --render results/X.json]
// --reps N runs every measurement N times (tensile and PyTorch alternating) and keeps each side's best;
// --settle S waits up to S seconds before each pair for other processes to go quiet.
// 'resnet': ResNet-20 (batch 128) and the CIFAR ResNet-18 (batch 32) training on random CIFAR-size
// data (bench/resnet.ts, torch_bench.py's CifarResNet), tensile and PyTorch fp32 side by side, and
// PyTorch's bf16 autocast alone (tensile has no bf16): few, slow steps, so their own step counts.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { prepareData } from './bench_data';

// dist-dev/bench/run.js -> the package root
const ROOT = path.resolve(__dirname, '..', '..');
const OPENBLAS_DIR = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
const GEMM_SIZES = [256, 512, 1024, 2048];
/** The 'resnet' group's nets (bench/resnet.ts), in run order; the step counts keep each timed span
 * at ≥ ~3 s and the whole group at ~2-3 minutes on 2 vCPUs (1 and 2 threads). */
const RESNET_ROWS = [
  { model: 'resnet20', label: 'ResNet-20 training (CIFAR 3×32×32, 0.27 M params), batch 128', short: 'ResNet-20' },
  { model: 'resnet18', label: 'ResNet-18 training (CIFAR stem, 11.2 M params), batch 32', short: 'ResNet-18' },
] as const;
/** issue #15: ResNet training samples/s ≥ 1.3× PyTorch fp32, at 2 threads */
const RESNET_BAR = 1.3;
const CPUS = os.cpus().length;
/** Other load (CPUs busy with other processes during a row's runs) that a row tolerates on top of
 * the CPUs its runs use; above it the row is flagged and its target left unjudged. A 1-thread run on
 * 2 CPUs keeps a core of its own beside 1 CPU of other load; a 2-thread run does not. */
const SLACK = 0.3;
const noisy = (load: number, threads: number): boolean => load + threads > CPUS + SLACK;

interface Args {
  quick: boolean;
  only: Set<string>;
  threads: number[];
  warmup: number;
  steps: number;
  /** the classic model's steps take ~1-2 ms: more of them for the same noise, at little cost */
  classicSteps: number;
  minTime: number;
  /** warm-up and timed steps of each RESNET_ROWS net, in its order */
  resnetWarmup: number[];
  resnetSteps: number[];
  settle: number;
  reps: number;
  torch: boolean;
  python: string;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    quick,
    only: new Set((val('only') ?? 'overhead,gemm,layers,train,resnet').split(',')),
    threads: (val('threads') ?? '1,2').split(',').map(Number),
    warmup: Number(val('warmup') ?? 50),
    steps: Number(val('steps') ?? (quick ? 60 : 300)),
    classicSteps: Number(val('classic-steps') ?? val('steps') ?? (quick ? 300 : 1500)),
    minTime: Number(val('min-time') ?? (quick ? 0.2 : 1.0)),
    resnetWarmup: (val('resnet-warmup') ?? (quick ? '2,1' : '5,3')).split(',').map(Number),
    resnetSteps: (val('resnet-steps') ?? (quick ? '5,3' : '25,14')).split(',').map(Number),
    settle: Number(val('settle') ?? (quick ? 2 : 15)),
    reps: Number(val('reps') ?? 1),
    torch: !argv.includes('--no-torch'),
    python: val('python') ?? process.env.TORCH_PYTHON ?? '/usr/bin/python3',
    out: val('out') ?? path.join(ROOT, 'bench', 'results'),
  };
}

const log = (msg: string): boolean => process.stderr.write(msg + '\n');
const loadavg = (): number[] => os.loadavg().map((v) => Math.round(v * 100) / 100);

// ---------------------------------------------------------------------------------------------
// other load on the machine: the figures are only as good as the machine is quiet

/** Busy and total CPU seconds of the whole machine since boot (/proc/stat, USER_HZ = 100). */
function cpuTimes(): { busy: number; total: number } {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((x, y) => x + y, 0);
    return { busy: (total - f[3] - f[4]) / 100, total: total / 100 };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** CPU seconds of this process's waited-for children (cutime + cstime of /proc/self/stat): a
 * child's whole CPU time, its start-up and exit included, once spawnSync has reaped it. */
function childrenCpu(): number | null {
  try {
    const f = fs.readFileSync('/proc/self/stat', 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[13]) + Number(rest[14])) / 100;
  } catch {
    return null;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** CPUs kept busy by other processes over the next `ms` (this process sleeps meanwhile). */
function otherLoad(ms: number): number {
  const a = cpuTimes();
  sleepMs(ms);
  const b = cpuTimes();
  return (b.busy - a.busy) / (ms / 1000);
}

/** Waits up to `maxS` seconds for a moment when other processes leave `threads` CPUs free (before
 * each tensile/PyTorch pair: a wait inside a pair would let the two sides see different loads). */
function settle(maxS: number, threads: number): number {
  const t0 = Date.now();
  const ok = Math.max(0.25, CPUS - threads);
  let load = otherLoad(500);
  while (load > ok && Date.now() - t0 < maxS * 1000) load = otherLoad(1000);
  return Math.round(load * 100) / 100;
}

// ---------------------------------------------------------------------------------------------
// children

type Rec = Record<string, unknown>;
interface ChildRun {
  side: 'tensile' | 'torch';
  /** which measurement: gemm | layers | overhead | train-classic | train-standard */
  key: string;
  cmd: string;
  threads: number;
  wall_s: number;
  loadavg_before: number[];
  /** CPUs kept busy by other processes just before the run, and on average during it (machine busy
   * time less the child's own CPU time, over its wall time): above ~0.2 the figure is suspect */
  other_load_before: number;
  other_load: number | null;
  records: Rec[];
  error?: string;
}

function torchEnv(threads: number): NodeJS.ProcessEnv {
  void threads; // torch.set_num_threads(n) in the child, as BASELINE.md's runs do
  return {
    ...process.env,
    LD_LIBRARY_PATH: [OPENBLAS_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    MALLOC_TRIM_THRESHOLD_: '2000000000',
    MALLOC_MMAP_THRESHOLD_: '2000000000',
  };
}

/** One child run; `settleS`: how long to wait for quiet first (the first side of a pair waits, the
 * second starts at once, so that both see the same other load). */
function runChild(side: 'tensile' | 'torch', key: string, cmd: string, threads: number, extra: string[], a: Args, settleS: number): ChildRun {
  const args = [cmd, '--threads', String(threads), ...extra];
  const [exe, argv, env] =
    side === 'tensile'
      ? [process.execPath, [path.join(__dirname, 'tensile_bench.js'), ...args], { ...process.env, TENSILE_NUM_THREADS: String(threads) }]
      : [a.python, [path.join(ROOT, 'bench', 'torch_bench.py'), ...args], torchEnv(threads)];
  const quietBefore = settle(settleS, threads);
  const before = loadavg();
  const c0 = cpuTimes();
  const k0 = childrenCpu();
  const t0 = Date.now();
  const r = spawnSync(exe, argv, { env, encoding: 'utf8', timeout: 600_000, maxBuffer: 16 << 20 });
  const wall = (Date.now() - t0) / 1000;
  const c1 = cpuTimes();
  const k1 = childrenCpu();
  const records: Rec[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    if (line.startsWith('{')) records.push(JSON.parse(line) as Rec);
  }
  const end = records.find((x) => x.event === 'end');
  const childCpu = k0 !== null && k1 !== null ? k1 - k0 : typeof end?.cpu_s === 'number' ? end.cpu_s : null;
  const other = childCpu === null ? null : Math.max(0, Math.round(((c1.busy - c0.busy - childCpu) / wall) * 100) / 100);
  const run: ChildRun = { side, key, cmd: [cmd, ...extra].join(' '), threads, wall_s: wall, loadavg_before: before, other_load_before: quietBefore, other_load: other, records };
  if (r.status !== 0) run.error = `${r.error?.message ?? `exit ${r.status ?? r.signal}`}: ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`;
  log(`  ${side.padEnd(7)} ${key.padEnd(15)} ${threads} thr  ${wall.toFixed(1).padStart(5)} s  other load ${other ?? '?'} CPUs${run.error ? `  FAILED ${run.error}` : ''}`);
  return run;
}

/** Whether `python` imports torch with the tuned environment, and what it maps. */
function probeTorch(a: Args): { ok: boolean; info?: Rec; why?: string } {
  const r = spawnSync(a.python, [path.join(ROOT, 'bench', 'torch_bench.py'), 'info', '--threads', '1'], { env: torchEnv(1), encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return { ok: false, why: (r.error?.message ?? (r.stderr ?? '').trim().split('\n').slice(-1)[0]) || `exit ${r.status}` };
  return { ok: true, info: JSON.parse(r.stdout.trim().split('\n').pop() as string) as Rec };
}

const INSTALL_HELP = `PyTorch was not found, so the table shows tensile's figures alone. To compare with PyTorch as
docs/reference-measurements.md describes ("tuned": Debian's torch with OpenBLAS), on Debian/Ubuntu:
    sudo apt-get install -y python3-torch python3-numpy libopenblas0-openmp
then run \`npm run bench\` again. Another interpreter with torch and numpy: --python PATH or TORCH_PYTHON.`;

// ---------------------------------------------------------------------------------------------
// rows

interface Row {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  threads: number;
  tensile: number | null;
  torch: number | null;
  /** the larger other_load of the two runs that gave this row's figures */
  otherLoad: number | null;
  /** false where other jobs cannot move the figure (peak RSS) */
  loadSensitive?: boolean;
  /** The issue's bar on tensile / PyTorch (or on tensile's value when absolute); issue #6 unless said */
  target?: { op: '>=' | '<='; value: number; absolute?: boolean; issue?: number };
  /** the models' parameter counts, where the runs report them (the ResNets) */
  params?: { tensile: number | null; torch: number | null };
}

/** A row's figure on one side: the best over its repetitions (other jobs on the machine only ever
 * slow a run down), with the other load seen by the run that gave it. */
function pick(runs: ChildRun[], side: string, key: string, threads: number, bench: string, field: string, higherIsBetter: boolean, filter: (r: Rec) => boolean = () => true): { value: number | null; load: number | null } {
  let best: { value: number | null; load: number | null } = { value: null, load: null };
  for (const run of runs.filter((r) => r.side === side && r.key === key && r.threads === threads)) {
    const rec = run.records.find((r) => r.bench === bench && filter(r));
    const v = rec && typeof rec[field] === 'number' ? (rec[field] as number) : null;
    if (v !== null && (best.value === null || (higherIsBetter ? v > best.value : v < best.value))) best = { value: v, load: run.other_load };
  }
  return best;
}

function buildRows(runs: ChildRun[], a: Args): Row[] {
  const rows: Row[] = [];
  const both = (r: Omit<Row, 'tensile' | 'torch' | 'otherLoad'>, key: string, bench: string, field: string, filter?: (x: Rec) => boolean) => {
    const t = pick(runs, 'tensile', key, r.threads, bench, field, r.higherIsBetter, filter);
    const p = pick(runs, 'torch', key, r.threads, bench, field, r.higherIsBetter, filter);
    const loads = [t.load, p.load].filter((x): x is number => x !== null);
    rows.push({ ...r, tensile: t.value, torch: p.value, otherLoad: loads.length ? Math.max(...loads) : null });
  };
  if (a.only.has('gemm')) {
    for (const n of GEMM_SIZES) {
      for (const t of a.threads) {
        both({ name: `GEMM n=${n}`, unit: 'GFLOP/s', higherIsBetter: true, threads: t, target: n >= 512 ? { op: '>=', value: 0.9 } : undefined }, 'gemm', 'gemm', 'gflops', (r) => r.n === n);
      }
    }
  }
  if (a.only.has('layers')) {
    const L: [string, string, Row['target']][] = [
      ['conv2_fwd', 'conv2 forward (64×32×14×14, 3×3→64)', undefined],
      ['conv2_fwdbwd', 'conv2 forward + both gradients', { op: '<=', value: 1.0 }],
      ['fc1_fwd', 'fc1 forward (64×3136 → 128)', undefined],
      ['fc1_fwdbwd', 'fc1 forward + backward', undefined],
    ];
    for (const [bench, name, target] of L) {
      for (const t of a.threads) both({ name, unit: 'ms', higherIsBetter: false, threads: t, target }, 'layers', bench, 'ms');
    }
  }
  if (a.only.has('overhead')) {
    for (const t of a.threads) {
      both({ name: 'per-op overhead (add, 16 floats)', unit: 'µs/op', higherIsBetter: false, threads: t, target: { op: '<=', value: 2, absolute: true } }, 'overhead', 'overhead', 'us');
    }
  }
  if (a.only.has('train')) {
    const trained = [
      ['classic', 'classic CNN training, batch 20', 3],
      ['lesson', "classic CNN as the lesson's Module subclass, batch 20", 3],
      ['standard', 'standard CNN training, batch 64', 1.2],
    ] as const;
    for (const [model, label, bar] of trained) {
      for (const t of a.threads) {
        // "2 threads unless said": the issue's model bars are for 2 threads
        both({ name: label, unit: 'samples/s', higherIsBetter: true, threads: t, target: t === 2 ? { op: '>=', value: bar } : undefined }, `train-${model}`, 'train', 'samples_per_s');
      }
    }
    for (const model of ['classic', 'lesson', 'standard']) {
      for (const t of a.threads) {
        both({ name: `peak RSS, ${model} training`, unit: 'MiB', higherIsBetter: false, loadSensitive: false, threads: t, target: { op: '<=', value: 1.0 } }, `train-${model}`, 'train', 'peak_rss_mb');
      }
    }
  }
  if (a.only.has('resnet')) {
    const params = (key: string, side: string): number | null => {
      const rec = runs.find((r) => r.side === side && r.key === key)?.records.find((x) => x.bench === 'train');
      return typeof rec?.params === 'number' ? rec.params : null;
    };
    for (const { model, label } of RESNET_ROWS) {
      for (const t of a.threads) {
        both({ name: label, unit: 'samples/s', higherIsBetter: true, threads: t, target: t === 2 ? { op: '>=', value: RESNET_BAR, issue: 15 } : undefined }, `train-${model}`, 'train', 'samples_per_s');
        rows[rows.length - 1].params = { tensile: params(`train-${model}`, 'tensile'), torch: params(`train-${model}`, 'torch') };
      }
      // PyTorch's bf16 autocast: a PyTorch-only row (tensile has no bf16), left out without PyTorch
      if (runs.some((r) => r.side === 'torch' && r.key === `train-${model}-bf16`)) {
        for (const t of a.threads) both({ name: `${label}, PyTorch bf16 autocast`, unit: 'samples/s', higherIsBetter: true, threads: t }, `train-${model}-bf16`, 'train', 'samples_per_s');
      }
    }
    for (const { model, short } of RESNET_ROWS) {
      for (const t of a.threads) both({ name: `peak RSS, ${short} training`, unit: 'MiB', higherIsBetter: false, loadSensitive: false, threads: t }, `train-${model}`, 'train', 'peak_rss_mb');
    }
  }
  return rows;
}

function fmt(v: number | null): string {
  if (v === null) return '–';
  if (v >= 1000) return Math.round(v).toLocaleString('en-US');
  if (v >= 100) return v.toFixed(1);
  if (v >= 10) return v.toFixed(2);
  return v.toFixed(3);
}

function markdown(rows: Row[], withTorch: boolean): string {
  const out = [
    '| measurement | unit | threads | tensile | PyTorch | tensile / PyTorch | target (issue #6 unless said) | other load |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const ratio = r.tensile !== null && r.torch !== null && r.torch !== 0 ? r.tensile / r.torch : null;
    const suspect = r.loadSensitive !== false && r.otherLoad !== null && noisy(r.otherLoad, r.threads);
    let target = '';
    if (r.target) {
      const subject = r.target.absolute ? r.tensile : ratio;
      const met = subject === null ? '' : suspect ? ' (noisy)' : (r.target.op === '>=' ? subject >= r.target.value : subject <= r.target.value) ? ' ✓' : ' ✗';
      target = `${r.target.absolute ? 'tensile' : 'ratio'} ${r.target.op === '>=' ? '≥' : '≤'} ${r.target.value}${r.target.absolute ? ` ${r.unit}` : ''}${r.target.issue ? ` (#${r.target.issue})` : ''}${met}`;
    }
    const dir = r.higherIsBetter ? 'higher is better' : 'lower is better';
    out.push(`| ${r.name} | ${r.unit} (${dir}) | ${r.threads} | ${fmt(r.tensile)} | ${withTorch ? fmt(r.torch) : 'not installed'} | ${ratio === null ? '–' : ratio.toFixed(2)} | ${target} | ${r.loadSensitive === false ? '' : r.otherLoad === null ? '?' : `${r.otherLoad.toFixed(2)}${suspect ? ' ⚠' : ''}`} |`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

function gitDescribe(): { commit: string; dirty: boolean } {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const st = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return { commit: (head.stdout ?? '').trim() || 'unknown', dirty: (st.stdout ?? '').trim().length > 0 };
}

function cpuName(): string {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const name = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? 'unknown CPU';
    const fam = /^cpu family\s*:\s*(\d+)$/m.exec(info)?.[1];
    const model = /^model\s*:\s*(\d+)$/m.exec(info)?.[1];
    return `${name}${fam ? ` (family ${fam} model ${model})` : ''}, ${os.cpus().length} vCPUs`;
  } catch {
    return `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} vCPUs`;
  }
}

interface Meta {
  date: string;
  quick: boolean;
  machine: { cpu: string; node: string; platform: string; loadavg_end?: number[] };
  tensile: Rec & { git: { commit: string; dirty: boolean }; addon: string };
  torch: Rec | null;
  settings: { reps: number; settle_s: number; threads: number[]; warmup: number; steps: number; classic_steps?: number; min_time_s: number; only: string[]; resnet?: Record<string, { warmup: number; steps: number }> };
}

/** The markdown report: what was measured, on what, and the table. */
function report(rows: Row[], m: Meta): string {
  const t = m.tensile;
  const s = m.settings;
  const header = [
    `tensile ${t.git.commit}${t.git.dirty ? ' + uncommitted changes' : ''} (addon ${t.addon}, GEMM kernel ${String(t.gemmKernel)}) vs ${m.torch ? `PyTorch ${String(m.torch.torch)} "tuned" (OpenBLAS ${OPENBLAS_DIR}, MALLOC_*_THRESHOLD_=2e9)` : 'PyTorch: not installed'}`,
    `${m.date}, ${m.machine.cpu}, Node ${m.machine.node}${m.quick ? ', --quick' : ''}`,
    `${s.only.includes('train') || !s.resnet ? `Training: ${s.classic_steps !== undefined && s.classic_steps !== s.steps ? `${s.classic_steps} (classic) and ${s.steps} (standard)` : s.steps} steps timed after ${s.warmup} warm-up steps, batch gather and loss readback included; micro-benchmarks` : 'Micro-benchmarks'}: median, ≥ ${s.min_time_s} s each. ${s.reps > 1 ? `Each figure is the best of ${s.reps} runs, one child process each.` : 'Each figure comes from one child process and one run.'}`,
    ...(s.resnet && s.only.includes('resnet')
      ? [`ResNets (issue #15): random CIFAR-size data (1024 samples, seed 0), SGD lr 0.1, Nesterov momentum 0.9, weight decay 5e-4, training mode, loss.item() every step; ${Object.entries(s.resnet).map(([m, r]) => `${m} ${r.steps} steps timed after ${r.warmup}`).join(', ')}. "PyTorch bf16 autocast": the forward under torch.autocast('cpu', dtype=torch.bfloat16), the loss in fp32; tensile has no bf16 (–).`]
      : []),
    `"other load": CPUs kept busy by other processes during the row's two runs (of ${CPUS}); ⚠ where it leaves the row's threads less than whole CPUs (load + threads > ${CPUS + SLACK}): that row is not to be trusted, and its target is not judged.`,
  ];
  return `${header.join('  \n')}\n\n${markdown(rows, m.torch !== null)}\n`;
}

/** Which addon the children load: TENSILE_NATIVE, else node-gyp-build's local build (with its time). */
function addonDescription(): string {
  const explicit = process.env.TENSILE_NATIVE;
  const file = explicit ? path.resolve(explicit) : path.join(ROOT, 'build', 'Release', 'tensile.node');
  const rel = path.relative(ROOT, file);
  return fs.existsSync(file) ? `${rel} of ${fs.statSync(file).mtime.toISOString().replace(/\.\d+Z$/, 'Z')}` : explicit ? rel : 'prebuilt';
}

function main(): void {
  const argv = process.argv.slice(2);
  const a = parseArgs(argv);
  const ri = argv.indexOf('--render');
  if (ri >= 0) {
    // Rebuilds the table of an earlier run from its JSON, e.g. after a change to this report.
    const old = JSON.parse(fs.readFileSync(argv[ri + 1], 'utf8')) as Meta & { runs: ChildRun[] };
    const ra = { ...a, only: new Set(old.settings.only), threads: old.settings.threads };
    process.stdout.write(report(buildRows(old.runs, ra), old));
    return;
  }
  const started = new Date();
  const t0 = Date.now();
  const git = gitDescribe();
  const addon = addonDescription();
  let torch: { ok: boolean; info?: Rec; why?: string } = { ok: false, why: 'disabled with --no-torch' };
  if (a.torch) {
    torch = probeTorch(a);
    if (!torch.ok) log(`${INSTALL_HELP}\n(${a.python}: ${torch.why})\n`);
    else if (!fs.existsSync(path.join(OPENBLAS_DIR, 'libblas.so.3'))) {
      log(`note: ${OPENBLAS_DIR} is missing, so PyTorch runs on the system BLAS, not "tuned" (sudo apt-get install -y libopenblas0-openmp)`);
    }
  }
  const tensileInfo = spawnSync(process.execPath, [path.join(__dirname, 'tensile_bench.js'), 'info', '--threads', '1'], { encoding: 'utf8' });
  const tinfo = tensileInfo.status === 0 ? (JSON.parse(tensileInfo.stdout.trim().split('\n').pop() as string) as Rec) : { error: tensileInfo.stderr };
  log(`tensile ${git.commit} (${addon}, GEMM kernel ${String(tinfo.gemmKernel)}) vs ${torch.ok ? `PyTorch ${String(torch.info?.torch)}` : 'no PyTorch'}${a.quick ? ', quick' : ''}`);

  const sides: ('tensile' | 'torch')[] = torch.ok ? ['tensile', 'torch'] : ['tensile'];
  const runs: ChildRun[] = [];
  const each = (key: string, cmd: string, extra: string[], only: ('tensile' | 'torch')[] = sides) => {
    for (const t of a.threads) for (let rep = 0; rep < a.reps; rep++) only.forEach((s, i) => runs.push(runChild(s, key, cmd, t, extra, a, i === 0 ? a.settle : 0)));
  };
  const minTime = ['--min-time', String(a.minTime)];
  if (a.only.has('overhead')) each('overhead', 'overhead', a.quick ? ['--ops', '50000', '--reps', '3'] : ['--ops', '200000', '--reps', '5']);
  if (a.only.has('gemm')) each('gemm', 'gemm', [...minTime, '--sizes', GEMM_SIZES.join(',')]);
  if (a.only.has('layers')) each('layers', 'layers', minTime);
  const trainExtra = (m: string) => ['--model', m, '--warmup', String(a.warmup), '--steps', String(m === 'standard' ? a.steps : a.classicSteps)];
  if (a.only.has('train')) {
    const data = prepareData();
    for (const m of ['classic', 'lesson', 'standard']) each(`train-${m}`, 'train', [...trainExtra(m), '--data', data]);
  }
  if (a.only.has('resnet')) {
    RESNET_ROWS.forEach(({ model }, i) => {
      const extra = ['--model', model, '--warmup', String(a.resnetWarmup[i] ?? a.resnetWarmup[0]), '--steps', String(a.resnetSteps[i] ?? a.resnetSteps[0]), '--samples', '1024'];
      each(`train-${model}`, 'train', extra);
      if (torch.ok) each(`train-${model}-bf16`, 'train', [...extra, '--precision', 'bf16'], ['torch']);
    });
  }

  const rows = buildRows(runs, a);
  const when = started.toISOString().replace(/\.\d+Z$/, 'Z');
  const meta: Meta = {
    date: when, quick: a.quick,
    machine: { cpu: cpuName(), node: process.version, platform: `${os.platform()} ${os.release()}`, loadavg_end: loadavg() },
    tensile: { git, addon, ...tinfo }, torch: torch.ok ? (torch.info as Rec) : null,
    settings: {
      reps: a.reps, settle_s: a.settle, threads: a.threads, warmup: a.warmup, steps: a.steps, classic_steps: a.classicSteps, min_time_s: a.minTime, only: [...a.only],
      resnet: Object.fromEntries(RESNET_ROWS.map(({ model }, i) => [model, { warmup: a.resnetWarmup[i] ?? a.resnetWarmup[0], steps: a.resnetSteps[i] ?? a.resnetSteps[0] }])),
    },
  };
  const md = report(rows, meta);
  process.stdout.write(`\n${md}`);
  if (!torch.ok && a.torch) process.stdout.write(`\n${INSTALL_HELP}\n`);

  fs.mkdirSync(a.out, { recursive: true });
  const stamp = when.replace(/:/g, '').replace(/-(\d\d)T/, '-$1_').replace(/Z$/, '');
  const jsonFile = path.join(a.out, `${stamp}${a.quick ? '-quick' : ''}.json`);
  const result = {
    ...meta, wall_s: (Date.now() - t0) / 1000, torch_missing: torch.ok ? undefined : torch.why,
    rows: rows.map((r) => ({ ...r, ratio: r.tensile !== null && r.torch ? r.tensile / r.torch : null })),
    runs,
  };
  fs.writeFileSync(jsonFile, JSON.stringify(result, null, 1) + '\n');
  fs.writeFileSync(path.join(a.out, 'latest.md'), `# Benchmarks: tensile vs PyTorch (\`npm run bench\`)\n\n${md}\nRaw: ${path.relative(path.join(ROOT, 'bench'), jsonFile)}\n`);
  log(`\nwrote ${path.relative(ROOT, jsonFile)} and ${path.relative(ROOT, path.join(a.out, 'latest.md'))} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (runs.some((r) => r.error)) process.exitCode = 1;
}

main();
