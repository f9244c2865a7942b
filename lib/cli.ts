#!/usr/bin/env -S node --max-semi-space-size=4
// (The flag caps V8's young generation at 4 MiB per semi-space. Left to itself V8 grows it once,
// a few epochs into a run, which steps the process's RSS up by ~10 MiB: not a leak, but it hides
// whether memory is flat. Tensor data lives outside the V8 heap, so the cap costs nothing.)
// The `tensile` command: `tensile train` trains a FashionMNIST CNN (the classic model of the
// Udacity exercise by default, or BASELINE.md's standard one) on the bundled data and ends with
// test and per-class accuracy; `tensile eval` scores a checkpoint. Flags are parsed with Node's
// own util.parseArgs. A usage mistake prints one line and exits with 2; a failure while running
// (a missing device, a corrupt file) prints the error and exits with 1.
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import * as tn from './index';
import * as nn from './nn';
import * as optim from './optim';
import { DataLoader } from './data/dataloader';
import { FashionMNIST, ImageClassificationDataset } from './data/mnist';
import { compose, normalize, toTensor } from './data/transforms';
import { TensileError, DeviceError, DataError } from './errors';
import { loadFile } from './io/safetensors';
import { cudaUnavailableReason } from './tensor';
import { evaluate, fit, formatTestReport } from './train/fit';
import { loadCheckpoint } from './train/checkpoint';
import { MODEL_DEFAULTS, MODEL_NAMES, ModelName, buildModel } from './train/models';
import { fmtCount } from './train/progress';

// FashionMNIST's training-set statistics (BASELINE.md): x -> (x/255 - mean) / std.
const MEAN = 0.286;
const STD = 0.353;

const HELP = `Usage: tensile <command> [options]

Commands:
  train                 train a FashionMNIST CNN (default: the classic model, 5 epochs, bundled data)
  eval                  score a checkpoint on the test set
  help                  show this help

tensile train [options]
  --model NAME          classic (default): conv(1->10,3) relu pool conv(10->20,3) relu pool linear(500->10),
                        SGD lr 0.001 momentum 0.9, batch 20; standard: BASELINE.md's 421k-parameter CNN,
                        Adam lr 1e-3, batch 64
  --epochs N            epochs to train (default 5; with --resume, the total to reach)
  --batch-size N        samples per batch (default: the model's)
  --lr X                learning rate (default: the model's)
  --optimizer NAME      sgd, adam or adamw (default: the model's)
  --momentum X          SGD momentum (default 0.9)
  --weight-decay X      weight decay (default 0; adamw 0.01)
  --device NAME         cpu (default) or cuda
  --data DIR            FashionMNIST IDX files (torchvision layout or flat; default: the bundled data)
  --out DIR             output folder (default ./runs/<timestamp>): history.json/.csv,
                        learning_curves.svg, last/best.safetensors checkpoints, model.safetensors
  --resume FILE         continue from a checkpoint (writes into its folder unless --out is given)
  --seed N              seed for initialisation, shuffling and dropout (default 0)
  --threads N           native threads (default: physical cores)
  --num-workers N       data-loading worker threads (default 0: load on the main thread)
  --val-size N          hold out the last N training images for validation (default 0: validate
                        on the test set each epoch, as the reference runs do)
  --limit-train N       use only the first N training images (quick runs, tests)
  --limit-test N        use only the first N test images

tensile eval --checkpoint FILE [options]
  --checkpoint FILE     a checkpoint (last/best.safetensors) or plain weights (model.safetensors)
  --model NAME          the model of plain weights (default classic; checkpoints name their own)
  --data DIR, --batch-size N, --device NAME, --threads N, --num-workers N, --limit-test N

Examples:
  tensile train
  tensile train --model standard --epochs 3 --out runs/standard
  tensile train --epochs 10 --resume runs/standard/last.safetensors
  tensile eval --checkpoint runs/standard/best.safetensors
`;

/** A mistake in how the command was called: one line on stderr, exit code 2. */
class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// argument parsing

const TRAIN_OPTIONS = {
  model: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  device: { type: 'string' },
  data: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  'num-workers': { type: 'string' },
  'val-size': { type: 'string' },
  'limit-train': { type: 'string' },
  'limit-test': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const EVAL_OPTIONS = {
  checkpoint: { type: 'string' },
  model: { type: 'string' },
  data: { type: 'string' },
  'batch-size': { type: 'string' },
  device: { type: 'string' },
  threads: { type: 'string' },
  'num-workers': { type: 'string' },
  'limit-test': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function parse(argv: string[], options: typeof TRAIN_OPTIONS | typeof EVAL_OPTIONS): Values {
  // parseArgs refuses `--lr -0.1` as ambiguous; a negative number is clearly a value, so join it
  // as `--lr=-0.1` and let the flag's own check say what is wrong with it
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : null;
    const spec = name ? (options as Record<string, { type: string }>)[name] : undefined;
    if (spec?.type === 'string' && i + 1 < argv.length && /^-(\d|\.\d)/.test(argv[i + 1])) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    return values as Values;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // parseArgs' messages are long and mention internals; keep their first sentence
    const msg = (e as Error).message.split('\n')[0].split('. ')[0].replace(/\.$/, '');
    const missing = /^Option '(-\w, )?(--[\w-]+) <value>' argument missing/.exec(msg);
    if (missing) throw new UsageError(`${missing[2]} needs a value`);
    const ambiguous = /^Option '(-\w, )?(--[\w-]+)' argument is ambiguous/.exec(msg);
    if (ambiguous) throw new UsageError(`${ambiguous[2]} needs a value (one that starts with '-' is written ${ambiguous[2]}=VALUE)`);
    throw new UsageError(msg.replace(/^Unknown option/, 'unknown option'));
  }
}

function intFlag(v: Values, name: string, min: number, fallback: number): number;
function intFlag(v: Values, name: string, min: number, fallback: null): number | null;
function intFlag(v: Values, name: string, min: number, fallback: number | null): number | null {
  const s = v[name];
  if (s === undefined) return fallback;
  const n = Number(s);
  if (typeof s !== 'string' || s.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} expects ${min === 0 ? 'a non-negative' : min === 1 ? 'a positive' : `an integer >= ${min}, an`} integer, got '${s}'`);
  }
  return n;
}

function numFlag(v: Values, name: string, check: (x: number) => boolean, what: string, fallback: number): number {
  const s = v[name];
  if (s === undefined) return fallback;
  const n = Number(s);
  if (typeof s !== 'string' || s.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} expects ${what}, got '${s}'`);
  return n;
}

function choiceFlag<T extends string>(v: Values, name: string, choices: readonly T[], fallback: T): T {
  const s = v[name];
  if (s === undefined) return fallback;
  if (!choices.includes(s as T)) throw new UsageError(`--${name} must be ${choices.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got '${s}'`);
  return s as T;
}

function dirFlag(v: Values, name: string): string | null {
  const s = v[name];
  if (s === undefined) return null;
  if (typeof s !== 'string' || s === '') throw new UsageError(`--${name} expects a folder`);
  if (!fs.existsSync(s) || !fs.statSync(s).isDirectory()) throw new UsageError(`--${name}: no such folder '${s}'`);
  return s;
}

function fileFlag(v: Values, name: string): string | null {
  const s = v[name];
  if (s === undefined) return null;
  if (typeof s !== 'string' || s === '') throw new UsageError(`--${name} expects a file`);
  if (!fs.existsSync(s) || !fs.statSync(s).isFile()) throw new UsageError(`--${name}: no such file '${s}'`);
  return s;
}

// ---------------------------------------------------------------------------------------------
// data

/** The first n images of a set (or all), sharing its memory: the fast batch path and workers still apply. */
function prefix(ds: ImageClassificationDataset, start: number, end: number): ImageClassificationDataset {
  const per = ds.sampleShape.reduce((a, b) => a * b, 1);
  return new ImageClassificationDataset(ds.name, ds.images.subarray(start * per, end * per), ds.labels.subarray(start, end), ds.sampleShape, ds.classes, { transform: ds.transform });
}

function loadSplit(train: boolean, dataDir: string | null): ImageClassificationDataset {
  const transform = compose([toTensor(), normalize(MEAN, STD)]);
  return new FashionMNIST({ train, root: dataDir ?? undefined, transform });
}

function limited(ds: ImageClassificationDataset, limit: number | null): ImageClassificationDataset {
  return limit === null || limit >= ds.length ? ds : prefix(ds, 0, limit);
}

// ---------------------------------------------------------------------------------------------
// commands

function setThreads(v: Values): void {
  const threads = intFlag(v, 'threads', 1, null);
  if (threads !== null) tn.setNumThreads(threads);
}

function checkDevice(device: string, op: string): void {
  if (device === 'cuda' && !tn.cuda.isAvailable()) throw new DeviceError(`${op}: device 'cuda' is not available: ${cudaUnavailableReason()}`);
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function countParams(model: nn.Module): number {
  return model.parameters().reduce((s, p) => s + p.numel(), 0);
}

async function train(args: string[]): Promise<number> {
  const v = parse(args, TRAIN_OPTIONS);
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const resume = fileFlag(v, 'resume');
  // a resumed run takes its settings from the checkpoint; flags given now override them
  const saved = resume ? ((loadCheckpoint(resume).config ?? {}) as Record<string, unknown>) : {};
  const pick = <T>(name: string, parsed: T): T => (v[name] === undefined && saved[name] !== undefined ? (saved[name] as T) : parsed);

  const model = pick('model', choiceFlag(v, 'model', MODEL_NAMES, 'classic')) as ModelName;
  const defaults = MODEL_DEFAULTS[model];
  const epochs = intFlag(v, 'epochs', 1, 5);
  const batchSize = pick('batch-size', intFlag(v, 'batch-size', 1, defaults.batchSize));
  const optimizerName = pick('optimizer', choiceFlag(v, 'optimizer', ['sgd', 'adam', 'adamw'] as const, defaults.optimizer));
  const lr = pick('lr', numFlag(v, 'lr', (x) => x > 0, 'a positive number', defaults.lr));
  const momentum = pick('momentum', numFlag(v, 'momentum', (x) => x >= 0 && x < 1, 'a number in [0, 1)', defaults.momentum));
  if (v.momentum !== undefined && optimizerName !== 'sgd') throw new UsageError(`--momentum applies to --optimizer sgd only (${optimizerName} uses betas)`);
  const weightDecay = pick('weight-decay', numFlag(v, 'weight-decay', (x) => x >= 0, 'a non-negative number', optimizerName === 'adamw' ? 0.01 : 0));
  const device = choiceFlag(v, 'device', ['cpu', 'cuda'] as const, 'cpu');
  const dataDir = dirFlag(v, 'data');
  const seed = pick('seed', intFlag(v, 'seed', 0, 0));
  const numWorkers = intFlag(v, 'num-workers', 0, 0);
  const valSize = pick('val-size', intFlag(v, 'val-size', 0, 0));
  const limitTrain = pick('limit-train', intFlag(v, 'limit-train', 1, null));
  const limitTest = pick('limit-test', intFlag(v, 'limit-test', 1, null));
  if (v.out !== undefined && (typeof v.out !== 'string' || v.out === '')) throw new UsageError('--out expects a folder');
  const outDir = typeof v.out === 'string' ? v.out : resume ? path.dirname(resume) : path.join('runs', timestamp());
  setThreads(v);
  checkDevice(device, 'train');

  // data: train (optionally its last valSize images held out for validation) and test
  const log = (s: string) => process.stdout.write(s + '\n');
  let trainSet = limited(loadSplit(true, dataDir), limitTrain);
  const testSet = limited(loadSplit(false, dataDir), limitTest);
  let valSet: ImageClassificationDataset | null = null;
  if (valSize > 0) {
    if (valSize >= trainSet.length) throw new UsageError(`--val-size ${valSize} leaves no training images (the training set has ${trainSet.length})`);
    valSet = prefix(trainSet, trainSet.length - valSize, trainSet.length);
    trainSet = prefix(trainSet, 0, trainSet.length - valSize);
  }
  // batches for a GPU come in page-locked memory, so that their copies to the device run asynchronously
  const pinMemory = device !== 'cpu';
  const trainLoader = new DataLoader(trainSet, { batchSize, shuffle: true, seed, numWorkers, pinMemory });
  const testLoader = new DataLoader(testSet, { batchSize: 1000, numWorkers, pinMemory });
  const valLoader = valSet ? new DataLoader(valSet, { batchSize: 1000, numWorkers, pinMemory }) : testLoader;

  tn.manualSeed(seed);
  const net = buildModel(model);
  const params = net.parameters();
  const optimizer =
    optimizerName === 'sgd'
      ? new optim.SGD(params, { lr, momentum, weightDecay })
      : optimizerName === 'adam'
        ? new optim.Adam(params, { lr, weightDecay })
        : new optim.AdamW(params, { lr, weightDecay });

  const optText = optimizerName === 'sgd' ? `SGD lr ${lr} momentum ${momentum}` : `${optimizerName === 'adam' ? 'Adam' : 'AdamW'} lr ${lr}`;
  log(`tensile train: ${model} model (${fmtCount(countParams(net))} parameters), ${optText}${weightDecay ? ` weight decay ${weightDecay}` : ''}, batch ${batchSize}, ${epochs} epoch${epochs === 1 ? '' : 's'}, seed ${seed}, ${tn.getNumThreads()} thread${tn.getNumThreads() === 1 ? '' : 's'}, ${device}`);
  log(`data: FashionMNIST ${dataDir ? `from ${dataDir}` : '(bundled)'}: ${fmtCount(trainSet.length)} train, ${valSet ? `${fmtCount(valSet.length)} validation, ` : ''}${fmtCount(testSet.length)} test${valSet ? '' : ' (validating on the test set)'}`);
  log(`output: ${outDir}`);

  const history = await fit(net, {
    trainLoader,
    valLoader,
    testLoader,
    criterion: new nn.CrossEntropyLoss(),
    optimizer,
    epochs,
    device,
    outDir,
    resume,
    classes: [...trainSet.classes],
    seed,
    config: { model, 'batch-size': batchSize, optimizer: optimizerName, lr, momentum, 'weight-decay': weightDecay, seed, 'val-size': valSize, 'limit-train': limitTrain ?? undefined, 'limit-test': limitTest ?? undefined },
  });
  if (history.best) log(`best epoch ${history.best.epoch} (${history.best.monitor} ${history.best.value.toFixed(4)}); files in ${outDir}`);
  return 0;
}

async function evalCommand(args: string[]): Promise<number> {
  const v = parse(args, EVAL_OPTIONS);
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (v.checkpoint === undefined) throw new UsageError('eval needs --checkpoint FILE');
  const file = fileFlag(v, 'checkpoint')!;
  const dataDir = dirFlag(v, 'data');
  const batchSize = intFlag(v, 'batch-size', 1, 1000);
  const device = choiceFlag(v, 'device', ['cpu', 'cuda'] as const, 'cpu');
  const numWorkers = intFlag(v, 'num-workers', 0, 0);
  const limitTest = intFlag(v, 'limit-test', 1, null);
  setThreads(v);
  checkDevice(device, 'eval');

  // a training checkpoint names its model; plain weights need --model (default classic)
  const { tensors, metadata } = loadFile(file);
  let modelName: string;
  let weights: Record<string, tn.Tensor>;
  let epoch: number | null = null;
  if (metadata['tensile.checkpoint'] !== undefined) {
    const ckpt = loadCheckpoint(file);
    const named = (ckpt.config as { model?: unknown } | undefined)?.model;
    modelName = v.model !== undefined ? choiceFlag(v, 'model', MODEL_NAMES, 'classic') : typeof named === 'string' ? named : 'classic';
    weights = ckpt.model;
    epoch = ckpt.epoch;
  } else {
    modelName = choiceFlag(v, 'model', MODEL_NAMES, 'classic');
    weights = tensors;
  }
  if (!(MODEL_NAMES as readonly string[]).includes(modelName)) throw new DataError(`eval: ${file} names model '${modelName}', which this tensile does not know`);
  const net = buildModel(modelName);
  net.loadStateDict(weights);
  if (device !== 'cpu') net.to(device);
  const testSet = limited(loadSplit(false, dataDir), limitTest);
  const loader = new DataLoader(testSet, { batchSize, numWorkers, pinMemory: device !== 'cpu' });
  process.stdout.write(`tensile eval: ${file} (${modelName} model${epoch !== null ? `, after epoch ${epoch}` : ''}) on ${fmtCount(testSet.length)} test images\n`);
  const result = await evaluate(net, loader, new nn.CrossEntropyLoss(), { device });
  process.stdout.write(formatTestReport(result, testSet.classes) + '\n');
  return 0;
}

// ---------------------------------------------------------------------------------------------
// entry point

/** Runs the command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) throw new UsageError('missing command: train or eval');
    if (command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(HELP);
      return 0;
    }
    if (command === 'train') return await train(rest);
    if (command === 'eval') return await evalCommand(rest);
    throw new UsageError(command.startsWith('-') ? `unknown option '${command}' (a command comes first: train or eval)` : `unknown command '${command}' (expected train or eval)`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tensile: ${e.message} (see 'tensile --help')\n`);
      return 2;
    }
    const err = e as Error;
    process.stderr.write(`tensile: ${err instanceof TensileError ? `${err.name}: ` : ''}${err.message}\n`);
    if (process.env.TENSILE_DEBUG && err.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`tensile: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
