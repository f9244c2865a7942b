// `npm run bench:gpu`: training throughput of the classic and standard models on CUDA, tensile and
// the PyTorch of the same machine side by side (issue #5's goals: standard >= 1.0x, classic >= 3x),
// measured as bench/run.ts measures the CPU rows (bench/tensile_bench.ts and bench/torch_bench.py
// `train --device cuda`: 50 warm-up steps, shuffled batches gathered on the device, loss.item() every
// step). Each run is a child process; the two sides of a row run back to back.
//
//   npm run bench:gpu [-- --steps 1000] [-- --warmup 50] [-- --reps 2] [-- --python python3] [-- --out DIR] [-- --data DIR]
//
// Prints a markdown table and writes <out>/gpu-<date>.json (out: $OUT when set, as on the lent GPU
// machine, else bench/results). Without a CUDA device it says why and exits 1.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tn from '../lib';
import { prepareData } from './bench_data';

const ROOT = path.join(__dirname, '..', '..');

interface Args {
  steps: number;
  warmup: number;
  reps: number;
  python: string;
  out: string;
  data: string | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { steps: 1000, warmup: 50, reps: 2, python: process.env.TORCH_PYTHON ?? 'python3', out: process.env.OUT ?? path.join(ROOT, 'bench', 'results'), data: null };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    if (k === 'steps' || k === 'warmup' || k === 'reps') a[k] = Number(v);
    else if (k === 'python' || k === 'out' || k === 'data') a[k] = v;
    else throw new Error(`bench/gpu: unknown option --${k}`);
  }
  return a;
}

type Record = { samples_per_s?: number; ms_per_step?: number; mean_loss?: number; error?: string; [k: string]: unknown };

/** Runs one child and returns its `bench: train` line (or the error it died with). */
function child(cmd: string, args: string[]): Record {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) return { error: r.error.message };
  const lines = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{'));
  const rec = lines.map((l) => JSON.parse(l) as Record).find((o) => o.bench === 'train');
  if (r.status !== 0 || !rec) return { error: `exit ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` };
  return rec;
}

/** Whether the interpreter has a PyTorch that sees a CUDA device, and which. */
function torchCuda(python: string): { ok: boolean; what: string } {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, what: `no PyTorch under ${python}` };
  const [version, avail, ...name] = r.stdout.trim().split(' ');
  return avail === 'True' ? { ok: true, what: `PyTorch ${version} on ${name.join(' ')}` } : { ok: false, what: `PyTorch ${version} sees no CUDA device` };
}

function best(recs: Record[]): Record {
  const good = recs.filter((r) => typeof r.samples_per_s === 'number');
  return good.length ? good.reduce((a, b) => (b.samples_per_s! > a.samples_per_s! ? b : a)) : recs[recs.length - 1];
}

function main(): void {
  const a = parseArgs(process.argv.slice(2));
  if (!tn.cuda.isAvailable()) {
    const p = tn.cuda.probe();
    console.error(`bench/gpu: no CUDA device: ${p.compiled ? `${p.errorName}: ${p.message}` : p.message}`);
    process.exit(1);
  }
  // --data: a folder with train-{images,labels}-idx*-ubyte (the GPU machine has no data package).
  const data = a.data ?? prepareData();
  const torch = torchCuda(a.python);
  console.log(`tensile on cuda:0 (${tn.cuda.deviceCount()} device(s)); ${torch.what}; ${a.steps} steps after ${a.warmup} warm-up, best of ${a.reps}`);
  const rows: { model: string; goal: number; tensile: Record; torch: Record | null }[] = [];
  for (const [model, goal] of [['classic', 3], ['standard', 1]] as const) {
    const ts: Record[] = [];
    const ps: Record[] = [];
    for (let r = 0; r < a.reps; r++) {
      const common = ['train', '--model', model, '--device', 'cuda', '--data', data, '--warmup', String(a.warmup), '--steps', String(a.steps)];
      ts.push(child(process.execPath, [path.join(__dirname, 'tensile_bench.js'), ...common]));
      if (torch.ok) ps.push(child(a.python, [path.join(ROOT, 'bench', 'torch_bench.py'), ...common]));
    }
    rows.push({ model, goal, tensile: best(ts), torch: torch.ok ? best(ps) : null });
  }
  const fmt = (r: Record | null) => (r === null ? '' : r.error ? `error: ${r.error}` : r.samples_per_s!.toLocaleString('en-US', { maximumFractionDigits: 0 }));
  const lines = ['| model | tensile samples/s | PyTorch samples/s | tensile / PyTorch | goal (issue #5) |', '|---|---|---|---|---|'];
  for (const r of rows) {
    const ratio = r.torch && r.tensile.samples_per_s && r.torch.samples_per_s ? r.tensile.samples_per_s / r.torch.samples_per_s : null;
    const mark = ratio === null ? '' : ratio >= r.goal ? ' ✓' : ' ✗';
    lines.push(`| ${r.model} (batch ${r.model === 'classic' ? 20 : 64}) | ${fmt(r.tensile)} | ${fmt(r.torch)} | ${ratio === null ? '' : ratio.toFixed(2)} | ≥ ${r.goal}${mark} |`);
  }
  console.log(lines.join('\n'));
  fs.mkdirSync(a.out, { recursive: true });
  const file = path.join(a.out, `gpu-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}.json`);
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), torch: torch.what, args: a, rows }, null, 2));
  console.log(`wrote ${file}`);
}

main();
