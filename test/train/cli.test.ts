// The `tensile` command, run as a user runs it: `node dist/cli.js ...` in a child process (the
// compiled CLI; built here first when dist/ is older than lib/). Usage mistakes exit with 2 and
// one line; failures while running exit with 1; `train` on a tiny subset writes its files and
// prints test and per-class accuracy; `--resume` ends with the weights of an uninterrupted run;
// `eval` scores a checkpoint.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeIdx } from '../../lib/data/idx';
import { cudaAvailable } from '../../lib/device';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

/** Newest modification time under a folder (files only). */
function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

beforeAll(() => {
  if (!fs.existsSync(CLI) || fs.statSync(CLI).mtimeMs < newest(path.join(ROOT, 'lib'))) {
    // npm run build:ts; tsc emits even when a file elsewhere has a type error, so check the output
    spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore' });
  }
  expect(fs.existsSync(CLI)).toBe(true);
}, 120000);

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-cli-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function tensile(args: string[], cwd = dir): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, TENSILE_NUM_THREADS: '2' }, timeout: 120000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TINY = ['--limit-train', '120', '--limit-test', '40'];

describe('usage mistakes: exit code 2 and one line', () => {
  const cases: [string[], RegExp][] = [
    [[], /missing command: train or eval/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['--epochs', '3'], /unknown option '--epochs' \(a command comes first/],
    [['train', '--bogus'], /unknown option '--bogus'/],
    [['train', '--epochs'], /--epochs needs a value/],
    [['train', '--epochs', '0'], /--epochs expects a positive integer, got '0'/],
    [['train', '--epochs', '2.5'], /--epochs expects a positive integer, got '2.5'/],
    [['train', '--epochs', 'ten'], /--epochs expects a positive integer, got 'ten'/],
    [['train', '--batch-size', '0'], /--batch-size expects a positive integer/],
    [['train', '--lr', '-0.1'], /--lr expects a positive number, got '-0.1'/],
    [['train', '--lr', 'fast'], /--lr expects a positive number, got 'fast'/],
    [['train', '--model', 'resnet'], /--model must be classic or standard, got 'resnet'/],
    [['train', '--optimizer', 'rmsprop'], /--optimizer must be sgd, adam or adamw, got 'rmsprop'/],
    [['train', '--momentum', '1.5'], /--momentum expects a number in \[0, 1\), got '1.5'/],
    [['train', '--optimizer', 'adam', '--momentum', '0.5'], /--momentum applies to --optimizer sgd only/],
    [['train', '--weight-decay', '-1'], /--weight-decay expects a non-negative number/],
    [['train', '--device', 'tpu'], /--device must be cpu or cuda, got 'tpu'/],
    [['train', '--data', '/no/such/folder'], /--data: no such folder '\/no\/such\/folder'/],
    [['train', '--resume', '/no/such.safetensors'], /--resume: no such file '\/no\/such.safetensors'/],
    [['train', '--seed', '-3'], /--seed expects a non-negative integer, got '-3'/],
    [['train', '--seed=-3'], /--seed expects a non-negative integer, got '-3'/],
    [['train', '--seed', '--epochs', '2'], /--seed needs a value \(one that starts with '-' is written --seed=VALUE\)/],
    [['train', '--threads', '0'], /--threads expects a positive integer/],
    [['train', '--num-workers', 'two'], /--num-workers expects a non-negative integer/],
    [['train', 'now'], /unexpected argument 'now'/],
    [['eval'], /eval needs --checkpoint FILE/],
    [['eval', '--checkpoint', 'nope.safetensors'], /--checkpoint: no such file 'nope.safetensors'/],
  ];
  test.each(cases)('tensile %j', (args, message) => {
    const r = tensile(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tensile: [^\n]+ \(see 'tensile --help'\)\n$/);
    expect(r.stderr).toMatch(message);
  });
});

test('--help lists every command and flag, exit code 0', () => {
  const r = tensile(['--help']);
  expect(r.status).toBe(0);
  for (const flag of ['train', 'eval', '--model', '--epochs', '--batch-size', '--lr', '--optimizer', '--momentum', '--weight-decay', '--device', '--data', '--out', '--resume', '--seed', '--threads', '--num-workers', '--checkpoint']) {
    expect(r.stdout).toContain(flag);
  }
  expect(tensile(['train', '--help']).stdout).toBe(r.stdout);
});

(cudaAvailable() ? test.skip : test)('--device cuda without a CUDA backend: a DeviceError line and exit code 1', () => {
  const r = tensile(['train', '--device', 'cuda']);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^tensile: DeviceError: train: device 'cuda' is not available: [^\n]+\n$/);
});

test('tensile train --epochs 1 on a tiny subset: progress, test and per-class accuracy, files in ./runs/<timestamp>', () => {
  const r = tensile(['train', '--epochs', '1', ...TINY]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = r.stdout;
  expect(out).toMatch(/^tensile train: classic model \(6,930 parameters\), SGD lr 0\.001 momentum 0\.9, batch 20, 1 epoch, seed 0, \d+ threads, cpu\n/);
  expect(out).toContain('data: FashionMNIST (bundled): 120 train, 40 test (validating on the test set)');
  expect(out).toMatch(/\nepoch 1\/1 {2}train loss \d\.\d{4} {2}acc [\d.]+% {2}val loss \d\.\d{4} {2}acc [\d.]+%/);
  expect(out).toMatch(/\ntest accuracy [\d.]+% \(\d+\/40\)/);
  for (const name of ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']) {
    expect(out).toMatch(new RegExp(`\\n  ${name.replace('/', '\\/')}\\s+([\\d.]+%|-)  \\(\\d+/\\d+\\)`));
  }
  expect(out).toContain('confusion matrix (rows: true class, columns: predicted class):');
  const runs = fs.readdirSync(path.join(dir, 'runs'));
  expect(runs).toHaveLength(1);
  expect(runs[0]).toMatch(/^\d{8}-\d{6}$/);
  expect(fs.readdirSync(path.join(dir, 'runs', runs[0])).sort()).toEqual([
    'best.safetensors', 'confusion_matrix.csv', 'history.csv', 'history.json', 'last.safetensors', 'learning_curves.svg', 'model.safetensors',
  ]);
  const history = JSON.parse(fs.readFileSync(path.join(dir, 'runs', runs[0], 'history.json'), 'utf8'));
  expect(history.classes[9]).toBe('Ankle boot');
  expect(history.test.total).toBe(40);
});

test('--resume continues a run and ends with the weights of an uninterrupted one', () => {
  const common = ['--seed', '3', '--batch-size', '16', ...TINY];
  const a = tensile(['train', '--epochs', '2', '--out', 'a', ...common]);
  expect(a.status).toBe(0);
  const b1 = tensile(['train', '--epochs', '1', '--out', 'b', ...common]);
  expect(b1.status).toBe(0);
  // settings (seed, batch size, subset) come from the checkpoint; output goes to its folder
  const b2 = tensile(['train', '--epochs', '2', '--resume', path.join('b', 'last.safetensors')]);
  expect(b2.stderr).toBe('');
  expect(b2.status).toBe(0);
  expect(b2.stdout).toContain('batch 16, 2 epochs, seed 3');
  expect(b2.stdout).toContain(`resuming from ${path.join('b', 'last.safetensors')} (epoch 1 done)`);
  expect(b2.stdout).toMatch(/\nepoch 2\/2 /);
  expect(b2.stdout).not.toMatch(/\nepoch 1\/2 /);
  const wa = fs.readFileSync(path.join(dir, 'a', 'model.safetensors'));
  const wb = fs.readFileSync(path.join(dir, 'b', 'model.safetensors'));
  expect(wb.equals(wa)).toBe(true);
  // and the weights did change from the first epoch's
  const ha = JSON.parse(fs.readFileSync(path.join(dir, 'a', 'history.json'), 'utf8'));
  const hb = JSON.parse(fs.readFileSync(path.join(dir, 'b', 'history.json'), 'utf8'));
  expect(hb.epochs.map((e: { trainLoss: number }) => e.trainLoss)).toEqual(ha.epochs.map((e: { trainLoss: number }) => e.trainLoss));
  expect(hb.test).toEqual(ha.test);
});

test('tensile eval scores a checkpoint and plain weights; a corrupt file exits 1 naming it', () => {
  const t = tensile(['train', '--epochs', '1', '--out', 'run', '--model', 'classic', ...TINY]);
  expect(t.status).toBe(0);
  const acc = /test accuracy ([\d.]+%) \((\d+)\/40\)/.exec(t.stdout)!;
  const e = tensile(['eval', '--checkpoint', path.join('run', 'best.safetensors'), '--limit-test', '40']);
  expect(e.stderr).toBe('');
  expect(e.status).toBe(0);
  expect(e.stdout).toContain(`tensile eval: ${path.join('run', 'best.safetensors')} (classic model, after epoch 1) on 40 test images`);
  expect(e.stdout).toContain(`test accuracy ${acc[1]} (${acc[2]}/40)`);
  expect(e.stdout).toContain('per-class accuracy:\n  T-shirt/top');
  const w = tensile(['eval', '--checkpoint', path.join('run', 'model.safetensors'), '--limit-test', '40', '--batch-size', '7']);
  expect(w.status).toBe(0);
  expect(w.stdout).toContain(`test accuracy ${acc[1]} (${acc[2]}/40)`);
  // plain weights of another model: every mismatched key named
  const s = tensile(['eval', '--checkpoint', path.join('run', 'model.safetensors'), '--model', 'standard', '--limit-test', '40']);
  expect(s.status).toBe(1);
  expect(s.stderr).toMatch(/^tensile: ShapeError: loadStateDict: error\(s\) in loading state_dict for Sequential:/);
  expect(s.stderr).toContain('size mismatch for 0.weight');

  const bytes = fs.readFileSync(path.join(dir, 'run', 'best.safetensors'));
  fs.writeFileSync(path.join(dir, 'cut.safetensors'), bytes.subarray(0, 1000));
  const c = tensile(['eval', '--checkpoint', 'cut.safetensors']);
  expect(c.status).toBe(1);
  expect(c.stderr).toMatch(/^tensile: DataError: load: cut\.safetensors: truncated file: [^\n]+\n$/);
});

test('--data reads IDX files from a folder; --val-size holds out training images; adam and standard model', () => {
  // a tiny FashionMNIST-shaped data set in the flat layout
  const data = path.join(dir, 'idx');
  fs.mkdirSync(data);
  const make = (n: number, seed: number) => {
    const px = new Uint8Array(n * 784);
    let s = seed;
    for (let i = 0; i < px.length; i++) px[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    return { px, labels: Array.from({ length: n }, (_, i) => i % 10) };
  };
  const tr = make(50, 1);
  const te = make(20, 2);
  fs.writeFileSync(path.join(data, 'train-images-idx3-ubyte'), encodeIdx('uint8', [50, 28, 28], tr.px));
  fs.writeFileSync(path.join(data, 'train-labels-idx1-ubyte'), encodeIdx('uint8', [50], tr.labels));
  fs.writeFileSync(path.join(data, 't10k-images-idx3-ubyte'), encodeIdx('uint8', [20, 28, 28], te.px));
  fs.writeFileSync(path.join(data, 't10k-labels-idx1-ubyte'), encodeIdx('uint8', [20], te.labels));
  const r = tensile(['train', '--data', data, '--epochs', '1', '--threads', '1', '--val-size', '10', '--model', 'standard', '--optimizer', 'adamw', '--lr', '0.0005', '--out', 'std']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('standard model (421,642 parameters), AdamW lr 0.0005 weight decay 0.01, batch 64, 1 epoch, seed 0, 1 thread, cpu');
  expect(r.stdout).toContain(`data: FashionMNIST from ${data}: 40 train, 10 validation, 20 test`);
  expect(r.stdout).toMatch(/test accuracy [\d.]+% \(\d+\/20\)/);
  const h = JSON.parse(fs.readFileSync(path.join(dir, 'std', 'history.json'), 'utf8'));
  expect(h.test.total).toBe(20);

  const bad = tensile(['train', '--data', data, '--val-size', '50']);
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/^tensile: --val-size 50 leaves no training images \(the training set has 50\)/);
});
