// fit(): the epoch loop a PyTorch user writes by hand (zeroGrad, forward, loss, backward, step),
// plus what every run wants around it: progress, validation each epoch, history files, learning
// curves, best/last checkpoints, resume, and a test report with per-class accuracy and a
// confusion matrix. It adds nothing to the step itself, so `fit` and the plain loop compute the
// same weights from the same seed (test/train/fit.test.ts checks that).
import * as fs from 'fs';
import * as path from 'path';
import { noGrad } from '../autograd';
import { ValueError } from '../errors';
import { writeFileAtomic } from '../io/atomic';
import { save } from '../io/safetensors';
import type { Module } from '../nn/module';
import { OneCycleLR, ReduceLROnPlateau } from '../optim/lr_scheduler';
import { defaultGenerator, Generator } from '../random';
import { Device, Tensor, tidy } from '../tensor';
import { renderLearningCurves } from './chart_svg';
import { Checkpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { EpochLog, History, TestLog } from './history';
import { ConfusionMatrix, classificationLabels, pct } from './metrics';
import { Progress, ProgressMode, ProgressStream, fmtCount, fmtDuration, fmtLoss } from './progress';

// ---------------------------------------------------------------------------------------------
// what fit accepts: duck types, so a hand-written loader or loss works as well as tn's own

/** Anything iterable (sync or async) yielding [input, target, ...] batches: a DataLoader, an array. */
export type Loader = Iterable<unknown> | AsyncIterable<unknown>;

/** A loss module (`forward(output, target)`) or a function of the same signature. */
export type Criterion = { forward(output: Tensor, target: Tensor): Tensor } | ((output: Tensor, target: Tensor) => Tensor);

export interface OptimizerLike {
  zeroGrad(): void;
  step(): unknown;
  stateDict(): unknown;
  loadStateDict(sd: never): void;
  paramGroups?: { lr: number }[];
}

export interface SchedulerLike {
  /** Called with no argument; a ReduceLROnPlateau gets the epoch's validation (or train) loss. */
  step(...args: never[]): unknown;
  stateDict?(): unknown;
  loadStateDict?(sd: never): void;
}

export interface FitContext {
  model: Module;
  optimizer: OptimizerLike;
  history: History;
  /** The epoch running (1-based), or the last one completed. */
  epoch: number;
  /** Set to true (e.g. from onEpochEnd) to stop after the current epoch. */
  stopTraining: boolean;
}

export interface Callback {
  onTrainBegin?(ctx: FitContext): void | Promise<void>;
  onEpochBegin?(epoch: number, ctx: FitContext): void | Promise<void>;
  onBatchEnd?(batch: number, logs: { loss: number; size: number }, ctx: FitContext): void | Promise<void>;
  onEpochEnd?(epoch: number, log: EpochLog, ctx: FitContext): void | Promise<void>;
  onTrainEnd?(history: History, ctx: FitContext): void | Promise<void>;
}

export interface FitOptions {
  trainLoader: Loader;
  /** Evaluated after every epoch. */
  valLoader?: Loader | null;
  /** Evaluated once at the end (default: valLoader). */
  testLoader?: Loader | null;
  criterion: Criterion;
  optimizer: OptimizerLike;
  scheduler?: SchedulerLike | null;
  /** When the scheduler steps: per epoch (default), or per batch (default for OneCycleLR). */
  schedulerStep?: 'epoch' | 'batch';
  /** Total epochs; a resumed run continues up to this number. */
  epochs: number;
  /** Moves the model and every batch here (model.to(device)). */
  device?: Device;
  callbacks?: Callback[];
  /**
   * Folder for history.json, history.csv, learning_curves.svg, last.safetensors and
   * best.safetensors (checkpoints), model.safetensors (final weights) and confusion_matrix.csv.
   * Nothing is written without it.
   */
  outDir?: string | null;
  /** A checkpoint to continue from (last.safetensors or best.safetensors of an earlier run). */
  resume?: string | null;
  /** Class names for the per-class report (default: the dataset's `classes`, else 0..C-1). */
  classes?: string[];
  /** What "best" means: 'valAccuracy' (default for classification), 'valLoss', 'trainLoss', ... */
  monitor?: keyof EpochLog;
  /** 'auto' (bar on a terminal, one line per epoch elsewhere), 'bar', 'lines' or 'none'. */
  progress?: ProgressMode;
  /** Where progress and reports go (default process.stdout). */
  stream?: ProgressStream;
  /** Recorded in checkpoints (the run's seed). */
  seed?: number | null;
  /** Recorded in checkpoints: settings a later `tensile eval` or resume needs (model name, ...). */
  config?: Record<string, unknown>;
}

export interface EvalResult {
  loss: number | null;
  /** null when not a classification task. */
  accuracy: number | null;
  samples: number;
  confusion: ConfusionMatrix | null;
}

// ---------------------------------------------------------------------------------------------
// fit

/** Trains `model`; returns the history (per-epoch logs, best epoch, test results). */
export async function fit(model: Module, options: FitOptions): Promise<History> {
  const o = checkOptions(model, options);
  const stream = o.stream ?? process.stdout;
  const progress = new Progress(stream, o.progress ?? 'auto');
  if (o.device) model.to(o.device);
  const scheduler = o.scheduler ?? null;
  const perBatch = scheduler !== null && (o.schedulerStep ?? (scheduler instanceof OneCycleLR ? 'batch' : 'epoch')) === 'batch';

  let history = new History();
  history.classes = o.classes ?? findClasses(o.trainLoader) ?? null;
  if (o.resume) {
    const ckpt = loadCheckpoint(o.resume);
    restore(ckpt, model, o, scheduler);
    if (ckpt.history) history = History.fromJSON(ckpt.history as ReturnType<History['toJSON']>);
    history.classes = o.classes ?? history.classes ?? findClasses(o.trainLoader) ?? null;
    // keep only the epochs the checkpoint had completed (best.safetensors may predate last)
    history.epochs = history.epochs.filter((e) => e.epoch <= ckpt.epoch);
    history.test = null;
    progress.line(`resuming from ${o.resume} (epoch ${ckpt.epoch} done)`);
  }
  const startEpoch = history.epochs.length ? history.epochs[history.epochs.length - 1].epoch : 0;
  const ctx: FitContext = { model, optimizer: o.optimizer, history, epoch: startEpoch, stopTraining: false };
  const callbacks = o.callbacks ?? [];
  const outDir = o.outDir ?? null;
  if (outDir) fs.mkdirSync(outDir, { recursive: true });

  for (const cb of callbacks) await cb.onTrainBegin?.(ctx);
  let lastVal: EvalResult | null = null;
  for (let epoch = startEpoch + 1; epoch <= o.epochs && !ctx.stopTraining; epoch++) {
    ctx.epoch = epoch;
    for (const cb of callbacks) await cb.onEpochBegin?.(epoch, ctx);
    const label = `epoch ${epoch}/${o.epochs}`;
    const lr = currentLr(o.optimizer);
    const train = await trainEpoch(model, o, label, progress, perBatch ? scheduler : null, ctx, callbacks);
    const val = o.valLoader ? await evaluate(model, o.valLoader, o.criterion, { device: o.device }) : null;
    lastVal = val;
    if (scheduler && !perBatch) {
      if (scheduler instanceof ReduceLROnPlateau) scheduler.step(val?.loss ?? train.loss);
      else scheduler.step();
    }
    const log: EpochLog = {
      epoch,
      trainLoss: train.loss,
      trainAccuracy: train.accuracy,
      valLoss: val ? val.loss : null,
      valAccuracy: val ? val.accuracy : null,
      lr,
      seconds: round(train.seconds, 3),
      samplesPerSecond: round(train.samples / Math.max(train.seconds, 1e-9), 1),
      // resident memory at the end of the epoch: it should stay flat from epoch to epoch
      rssMB: round(process.memoryUsage().rss / 2 ** 20, 1),
    };
    const monitor = o.monitor ?? history.best?.monitor ?? defaultMonitor(log);
    const isBest = history.add(log, monitor as string);
    progress.line(summaryLine(label, log, isBest && epoch > 1 && !!outDir));
    if (outDir) writeEpochFiles(outDir, model, o, scheduler, history, epoch, isBest);
    for (const cb of callbacks) await cb.onEpochEnd?.(epoch, log, ctx);
  }

  // the final report: test accuracy, per class, confusion matrix
  const testLoader = o.testLoader === undefined ? o.valLoader : o.testLoader;
  if (testLoader) {
    // validating on the test set (the classic setup): the last epoch's evaluation is the test result
    const test = testLoader === o.valLoader && lastVal !== null ? lastVal : await evaluate(model, testLoader, o.criterion, { device: o.device });
    history.test = testLog(test, history.classes ?? undefined);
    progress.line(formatTestReport(test, history.classes ?? undefined));
  }
  if (outDir) writeFinalFiles(outDir, model, history);
  for (const cb of callbacks) await cb.onTrainEnd?.(history, ctx);
  return history;
}

// ---------------------------------------------------------------------------------------------
// one epoch of training, and evaluation

async function trainEpoch(
  model: Module,
  o: FitOptions,
  label: string,
  progress: Progress,
  batchScheduler: SchedulerLike | null,
  ctx: FitContext,
  callbacks: Callback[],
): Promise<{ loss: number; accuracy: number | null; samples: number; seconds: number }> {
  model.train();
  const total = loaderLength(o.trainLoader);
  const t0 = performance.now();
  let batches = 0;
  let samples = 0;
  let lossSum = 0;
  let correct = 0;
  let labelled = 0;
  for await (const b of o.trainLoader as AsyncIterable<unknown>) {
    const [x0, y0] = batchParts(b, 'fit');
    const x = toDevice(x0, o.device);
    const y = toDevice(y0, o.device);
    // the step, exactly as the plain loop writes it
    o.optimizer.zeroGrad();
    const out = model.forward(x) as Tensor;
    const loss = callCriterion(o.criterion, out, y);
    loss.backward();
    o.optimizer.step();
    if (batchScheduler) batchScheduler.step();

    const n = x.shape[0] ?? 1;
    const l = loss.item();
    lossSum += l * n;
    samples += n;
    batches++;
    // targets read from the batch as loaded (host memory) rather than from the device copy
    const labels = classificationLabels(out, y0.device === 'cpu' ? y0 : y);
    if (labels) {
      for (let i = 0; i < labels.target.length; i++) if (Number(labels.predicted[i]) === Number(labels.target[i])) correct++;
      labelled += labels.target.length;
    }
    release(out, [x, y, x0, y0]);
    release(loss, [out]);
    if (x !== x0) x.dispose();
    if (y !== y0) y.dispose();
    progress.batch(label, { batch: batches, total, samples, seconds: (performance.now() - t0) / 1000, runningLoss: lossSum / samples });
    for (const cb of callbacks) await cb.onBatchEnd?.(batches, { loss: l, size: n }, ctx);
  }
  if (batches === 0) throw new ValueError('fit: trainLoader yielded no batches');
  return { loss: lossSum / samples, accuracy: labelled ? correct / labelled : null, samples, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Mean loss, accuracy and confusion matrix of `model` over a loader, in eval mode and without
 * gradients. The model's training mode is restored afterwards.
 */
export async function evaluate(model: Module, loader: Loader, criterion?: Criterion | null, options: { device?: Device } = {}): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  let samples = 0;
  let lossSum = 0;
  let hasLoss = false;
  // (typed by assertion: assignments inside the tidy closure are invisible to narrowing)
  let confusion = null as ConfusionMatrix | null;
  let classification = true;
  try {
    for await (const b of loader as AsyncIterable<unknown>) {
      const [x0, y0] = batchParts(b, 'evaluate');
      // tidy frees each batch's activations at once; only numbers leave the scope
      tidy(() =>
        noGrad(() => {
          const x = toDevice(x0, options.device);
          const y = toDevice(y0, options.device);
          const out = model.forward(x) as Tensor;
          const n = x.shape[0] ?? 1;
          if (criterion) {
            lossSum += callCriterion(criterion, out, y).item() * n;
            hasLoss = true;
          }
          samples += n;
          const labels = classification ? classificationLabels(out, y0.device === 'cpu' ? y0 : y) : null;
          if (labels) {
            confusion ??= new ConfusionMatrix(out.shape[1]);
            confusion.update(labels.predicted, labels.target);
          } else {
            classification = false;
          }
        }),
      );
    }
  } finally {
    model.train(wasTraining);
  }
  if (!classification) confusion = null;
  return { loss: hasLoss && samples ? lossSum / samples : null, accuracy: confusion && confusion.total ? confusion.accuracy() : null, samples, confusion };
}

// ---------------------------------------------------------------------------------------------
// files and checkpoints

function writeEpochFiles(outDir: string, model: Module, o: FitOptions, scheduler: SchedulerLike | null, history: History, epoch: number, isBest: boolean): void {
  const ckpt: Checkpoint = {
    model: model.stateDict(),
    optimizer: o.optimizer.stateDict(),
    scheduler: scheduler?.stateDict?.(),
    epoch,
    seed: o.seed ?? null,
    rng: { default: generatorState(defaultGenerator) },
    loader: captureLoaderState(o.trainLoader),
    history: history.toJSON(),
    config: o.config,
  };
  saveCheckpoint(path.join(outDir, 'last.safetensors'), ckpt);
  if (isBest) saveCheckpoint(path.join(outDir, 'best.safetensors'), ckpt);
  history.write(outDir);
  writeFileAtomic(path.join(outDir, 'learning_curves.svg'), [renderLearningCurves(history.epochs)]);
}

function writeFinalFiles(outDir: string, model: Module, history: History): void {
  history.write(outDir);
  writeFileAtomic(path.join(outDir, 'learning_curves.svg'), [renderLearningCurves(history.epochs)]);
  // plain weights, the keys of model.stateDict(): PyTorch's model.load_state_dict(load_file(...))
  save(model.stateDict(), path.join(outDir, 'model.safetensors'));
  if (history.test?.confusionMatrix) {
    const cm = new ConfusionMatrix(history.test.confusionMatrix.length);
    history.test.confusionMatrix.forEach((row, i) => row.forEach((c, j) => (cm.counts[i][j] = c)));
    writeFileAtomic(path.join(outDir, 'confusion_matrix.csv'), [cm.toCSV(history.classes ?? undefined)]);
  }
}

function restore(ckpt: Checkpoint, model: Module, o: FitOptions, scheduler: SchedulerLike | null): void {
  // loadStateDict names every missing, unexpected and mis-shaped key
  model.loadStateDict(ckpt.model);
  if (ckpt.optimizer !== undefined) o.optimizer.loadStateDict(ckpt.optimizer as never);
  if (scheduler && ckpt.scheduler !== undefined) {
    if (!scheduler.loadStateDict) throw new ValueError('fit: the checkpoint holds scheduler state but this scheduler has no loadStateDict');
    scheduler.loadStateDict(ckpt.scheduler as never);
  }
  const rng = ckpt.rng as { default?: bigint } | undefined;
  if (rng?.default !== undefined) setGeneratorState(defaultGenerator, rng.default);
  if (ckpt.loader !== undefined) restoreLoaderState(o.trainLoader, ckpt.loader);
}

/** The 64-bit state of a Generator (its SplitMix64 counter). */
export function generatorState(g: Generator): bigint {
  const s = (g as unknown as { getState?: () => bigint; state?: unknown }).getState?.() ?? (g as unknown as { state?: unknown }).state;
  if (typeof s !== 'bigint') throw new ValueError('fit: cannot read the generator state to checkpoint it');
  return s;
}

/** manualSeed(state) sets the counter to exactly `state`, so it also restores a saved state. */
export function setGeneratorState(g: Generator, state: bigint): void {
  g.manualSeed(state);
}

/**
 * What decides the training loader's next shuffle: its own `stateDict()` when it has one, else its
 * `seed` and `epoch` fields, else its `generator`'s state. (A loader shuffling from the global
 * generator is covered by the "rng" entry.)
 */
export function captureLoaderState(loader: Loader): unknown {
  const l = loader as unknown as Record<string, unknown>;
  if (typeof l.stateDict === 'function') return (l.stateDict as () => unknown).call(loader);
  const state: Record<string, unknown> = {};
  if (typeof l.seed === 'number' || typeof l.seed === 'bigint') state.seed = l.seed;
  if (typeof l.epoch === 'number') state.epoch = l.epoch;
  if (l.generator instanceof Generator) state.generator = generatorState(l.generator);
  return Object.keys(state).length ? state : undefined;
}

export function restoreLoaderState(loader: Loader, state: unknown): void {
  if (state === undefined || state === null) return;
  const l = loader as unknown as Record<string, unknown>;
  if (typeof l.loadStateDict === 'function') {
    (l.loadStateDict as (s: unknown) => void).call(loader, state);
    return;
  }
  const s = state as { seed?: number; epoch?: number; generator?: bigint };
  if (s.seed !== undefined && 'seed' in l) l.seed = s.seed;
  if (s.epoch !== undefined) {
    if (typeof l.setEpoch === 'function') (l.setEpoch as (e: number) => void).call(loader, s.epoch);
    else if ('epoch' in l) l.epoch = s.epoch;
  }
  if (s.generator !== undefined && l.generator instanceof Generator) setGeneratorState(l.generator, s.generator);
}

// ---------------------------------------------------------------------------------------------
// output

function summaryLine(label: string, e: EpochLog, newBest: boolean): string {
  const parts = [label, `train loss ${fmtLoss(e.trainLoss)}`];
  if (e.trainAccuracy !== null) parts.push(`acc ${pct(e.trainAccuracy)}`);
  if (e.valLoss !== null || e.valAccuracy !== null) {
    parts.push(`val loss ${fmtLoss(e.valLoss)}`);
    if (e.valAccuracy !== null) parts.push(`acc ${pct(e.valAccuracy)}`);
  }
  if (e.lr !== null) parts.push(`lr ${Number(e.lr.toPrecision(4))}`);
  parts.push(`${fmtDuration(e.seconds)} (${fmtCount(Math.round(e.samplesPerSecond))} samples/s)`);
  if (e.rssMB !== undefined) parts.push(`rss ${Math.round(e.rssMB)} MiB`);
  return parts.join('  ') + (newBest ? '  * best' : '');
}

/** The end-of-run report: accuracy, per-class accuracy with names, confusion matrix. */
export function formatTestReport(r: EvalResult, classes?: readonly string[]): string {
  const lines: string[] = [];
  const loss = r.loss !== null ? `  loss ${fmtLoss(r.loss)}` : '';
  if (r.confusion) {
    lines.push(`test accuracy ${pct(r.confusion.accuracy())} (${r.confusion.correct}/${r.confusion.total})${loss}`);
    lines.push('per-class accuracy:');
    lines.push(r.confusion.formatPerClass(classes));
    lines.push('confusion matrix (rows: true class, columns: predicted class):');
    lines.push(r.confusion.format(classes));
  } else {
    lines.push(`test: ${r.samples} samples${loss}`);
  }
  return lines.join('\n');
}

function testLog(r: EvalResult, classes?: readonly string[]): TestLog {
  const cm = r.confusion;
  return {
    loss: r.loss,
    accuracy: r.accuracy,
    correct: cm ? cm.correct : null,
    total: r.samples,
    perClass: cm ? cm.perClass(classes) : null,
    confusionMatrix: cm ? cm.counts.map((row) => row.slice()) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// small helpers

function checkOptions(model: Module, o: FitOptions): FitOptions {
  if (!model || typeof (model as { forward?: unknown }).forward !== 'function') throw new ValueError('fit: expected a Module to train');
  if (!o || typeof o !== 'object') throw new ValueError('fit: expected an options object { trainLoader, criterion, optimizer, epochs, ... }');
  if (!isLoader(o.trainLoader)) throw new ValueError('fit: trainLoader must be iterable (a DataLoader or an array of [input, target] batches)');
  if (o.valLoader && !isLoader(o.valLoader)) throw new ValueError('fit: valLoader must be iterable');
  if (o.testLoader && !isLoader(o.testLoader)) throw new ValueError('fit: testLoader must be iterable');
  if (!o.criterion || (typeof o.criterion !== 'function' && typeof (o.criterion as { forward?: unknown }).forward !== 'function')) {
    throw new ValueError('fit: criterion must be a loss module (with forward) or a function (output, target) => loss');
  }
  if (!o.optimizer || typeof o.optimizer.step !== 'function' || typeof o.optimizer.zeroGrad !== 'function') throw new ValueError('fit: optimizer must have step() and zeroGrad()');
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new ValueError(`fit: epochs must be a positive integer but received ${o.epochs}`);
  if (o.schedulerStep !== undefined && o.schedulerStep !== 'epoch' && o.schedulerStep !== 'batch') throw new ValueError(`fit: schedulerStep must be 'epoch' or 'batch' but received '${o.schedulerStep}'`);
  if (o.progress !== undefined && !['auto', 'bar', 'lines', 'none'].includes(o.progress)) throw new ValueError(`fit: progress must be 'auto', 'bar', 'lines' or 'none' but received '${o.progress}'`);
  return o;
}

function isLoader(l: unknown): l is Loader {
  return !!l && (typeof (l as Record<symbol, unknown>)[Symbol.iterator] === 'function' || typeof (l as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function');
}

function batchParts(b: unknown, op: string): [Tensor, Tensor] {
  if (!Array.isArray(b) || b.length < 2 || !(b[0] instanceof Tensor) || !(b[1] instanceof Tensor)) {
    throw new ValueError(`${op}: each batch must be [input, target] tensors, got ${Array.isArray(b) ? `an array of ${b.length}` : typeof b}`);
  }
  return [b[0], b[1]];
}

/** t on `device` (t itself when it is there): from pinned memory (DataLoader pinMemory) the host-to-device copy is asynchronous. */
function toDevice(t: Tensor, device?: Device): Tensor {
  return device && t.device !== device ? t.to({ device, nonBlocking: true }) : t;
}

function callCriterion(c: Criterion, out: Tensor, y: Tensor): Tensor {
  return typeof c === 'function' ? c(out, y) : c.forward(out, y);
}

/** Disposes a tensor fit made, unless it is one of `keep` (a model may return its input). */
function release(t: Tensor, keep: Tensor[]): void {
  if (!keep.includes(t)) t.dispose();
}

function loaderLength(l: Loader): number | null {
  const x = l as { length?: unknown; len?: unknown };
  if (typeof x.length === 'number') return x.length;
  if (typeof x.len === 'function') return (x.len as () => number).call(l);
  return null;
}

/** Class names from the loader's dataset (FashionMNIST's `classes`), looking through subsets. */
function findClasses(l: Loader): string[] | null {
  let d = (l as { dataset?: unknown }).dataset;
  for (let depth = 0; d && depth < 4; depth++) {
    const c = (d as { classes?: unknown }).classes;
    if (Array.isArray(c) && c.every((s) => typeof s === 'string')) return c.slice();
    d = (d as { dataset?: unknown }).dataset;
  }
  return null;
}

function currentLr(opt: OptimizerLike): number | null {
  const lr = opt.paramGroups?.[0]?.lr;
  return typeof lr === 'number' ? lr : null;
}

function defaultMonitor(log: EpochLog): keyof EpochLog {
  if (log.valAccuracy !== null) return 'valAccuracy';
  if (log.valLoss !== null) return 'valLoss';
  return 'trainLoss';
}

function round(x: number, digits: number): number {
  const m = 10 ** digits;
  return Math.round(x * m) / m;
}
