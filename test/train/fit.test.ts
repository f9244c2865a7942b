// fit() on small synthetic data: it computes exactly what the plain PyTorch-style loop computes;
// it writes history (JSON, CSV), the SVG chart and best/last checkpoints that parse; it prints a
// bar on a terminal and one line per epoch elsewhere; resuming from a checkpoint ends with the
// same weights as an uninterrupted run; schedulers, callbacks and errors behave.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import * as nn from '../../lib/nn';
import * as optim from '../../lib/optim';
import { DataLoader } from '../../lib/data/dataloader';
import { TensorDataset } from '../../lib/data/dataset';
import { load } from '../../lib/io';
import { fit, loadCheckpoint, History } from '../../lib/train';
import type { FitOptions } from '../../lib/train';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-fit-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const CLASSES = ['red', 'green', 'blue'];

/** 3-class images [N, 1, 6, 6]: the class is the argmax of three fixed projections (learnable). */
function syntheticSet(n: number, seed: number): TensorDataset {
  const g = new tn.Generator(seed);
  const x = new Float32Array(n * 36);
  const y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const s = [0, 0, 0];
    for (let j = 0; j < 36; j++) {
      const v = g.random() * 2 - 1;
      x[i * 36 + j] = v;
      s[j % 3] += v * (j < 18 ? 1 : 0.5);
    }
    y[i] = BigInt(s.indexOf(Math.max(...s)));
  }
  return new TensorDataset(tn.fromTypedArray(x, [n, 1, 6, 6]), tn.fromTypedArray(y, [n]));
}

/** Everything a run needs, built from the global seed (model init, and the loader's seed when none is given). */
function setup(seed: number, loaderSeed?: number) {
  tn.manualSeed(seed);
  const model = new nn.Sequential(new nn.Conv2d(1, 4, 3), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Dropout(0.3), new nn.Linear(16, 3));
  const optimizer = new optim.SGD(model.parameters(), { lr: 0.2, momentum: 0.9 });
  const scheduler = new optim.lrScheduler.StepLR(optimizer, { stepSize: 1, gamma: 0.7 });
  const trainLoader = new DataLoader(syntheticSet(75, 1), { batchSize: 16, shuffle: true, seed: loaderSeed });
  const valLoader = new DataLoader(syntheticSet(30, 2), { batchSize: 16 });
  return { model, optimizer, scheduler, trainLoader, valLoader, criterion: new nn.CrossEntropyLoss() };
}

/** Collects what fit prints. */
function sink(isTTY = false) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 120, write: (s: string) => chunks.push(s) }, text: () => chunks.join('') };
}

function weights(model: nn.Module): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, t] of Object.entries(model.stateDict())) {
    const d = t.data;
    out[k] = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }
  return out;
}

function expectSameWeights(a: nn.Module, b: nn.Module): void {
  const wa = weights(a);
  const wb = weights(b);
  expect(Object.keys(wb)).toEqual(Object.keys(wa));
  for (const k of Object.keys(wa)) expect({ k, same: wb[k].equals(wa[k]) }).toEqual({ k, same: true });
}

test('fit computes exactly what the plain loop computes (same seed, same weights)', async () => {
  const s1 = setup(0, 7);
  for (let epoch = 0; epoch < 2; epoch++) {
    s1.model.train();
    for (const [x, y] of s1.trainLoader) {
      s1.optimizer.zeroGrad();
      const loss = s1.criterion.forward(s1.model.forward(x), y);
      loss.backward();
      s1.optimizer.step();
    }
    s1.scheduler.step();
  }
  const s2 = setup(0, 7);
  await fit(s2.model, { ...s2, valLoader: null, epochs: 2, progress: 'none' });
  expectSameWeights(s1.model, s2.model);
  // and the weights moved: this test can tell a loop that did nothing
  const s3 = setup(0, 7);
  expect(weights(s3.model)['5.weight'].equals(weights(s2.model)['5.weight'])).toBe(false);
});

test('history JSON and CSV, the SVG chart and best/last checkpoints are written and parse', async () => {
  const s = setup(0, 7);
  const out = sink();
  const history = await fit(s.model, { ...s, epochs: 3, outDir: dir, classes: CLASSES, stream: out.stream, seed: 0, config: { model: 'tiny' } });
  const names = fs.readdirSync(dir).sort();
  expect(names).toEqual(['best.safetensors', 'confusion_matrix.csv', 'history.csv', 'history.json', 'last.safetensors', 'learning_curves.svg', 'model.safetensors']);

  const json = JSON.parse(fs.readFileSync(path.join(dir, 'history.json'), 'utf8'));
  expect(json.classes).toEqual(CLASSES);
  expect(json.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3]);
  for (const e of json.epochs) {
    for (const k of ['trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'lr', 'seconds', 'samplesPerSecond']) expect(typeof e[k]).toBe('number');
  }
  expect(json.epochs.map((e: { lr: number }) => e.lr)).toEqual([0.2, 0.2 * 0.7, 0.2 * 0.7 * 0.7]); // StepLR stepped each epoch
  expect(json.test.total).toBe(30);
  expect(json.test.perClass.map((c: { name: string }) => c.name)).toEqual(CLASSES);
  expect(json.test.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(30);
  expect(json.test.accuracy).toBe(json.epochs[2].valAccuracy); // validation set = test set here
  expect(json.best.monitor).toBe('valAccuracy');
  expect(json.best.value).toBe(Math.max(...json.epochs.map((e: { valAccuracy: number }) => e.valAccuracy)));
  expect(history.toJSON()).toEqual(json);

  const csv = fs.readFileSync(path.join(dir, 'history.csv'), 'utf8').trim().split('\n');
  expect(csv).toHaveLength(4);
  expect(csv[0]).toBe('epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,samples_per_second,rss_mb');
  expect(Number(csv[3].split(',')[1])).toBe(json.epochs[2].trainLoss);

  const svg = fs.readFileSync(path.join(dir, 'learning_curves.svg'), 'utf8');
  expect(svg).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
  expect(svg.match(/<polyline /g)).toHaveLength(4); // loss and accuracy, train and validation

  const last = loadCheckpoint(path.join(dir, 'last.safetensors'));
  expect(last.epoch).toBe(3);
  expect(last.seed).toBe(0);
  expect(last.config).toEqual({ model: 'tiny' });
  expect(last.loader).toEqual({ seed: 7, epoch: 3 });
  expect(typeof (last.rng as { default: bigint }).default).toBe('bigint');
  expect(Object.keys((last.optimizer as optim.OptimizerStateDict).state)).toHaveLength(4);
  const best = loadCheckpoint(path.join(dir, 'best.safetensors'));
  expect(best.epoch).toBe(json.best.epoch);
  // model.safetensors: plain weights under the model's own keys, as PyTorch's load_state_dict wants
  const plain = load(path.join(dir, 'model.safetensors'));
  expect(Object.keys(plain)).toEqual(Object.keys(s.model.stateDict()));
  expect(plain['5.weight'].toArray()).toEqual(s.model.stateDict()['5.weight'].toArray());
  expect(fs.readFileSync(path.join(dir, 'confusion_matrix.csv'), 'utf8').split('\n')[0]).toBe('true\\predicted,red,green,blue');

  // not a terminal: one summary line per epoch, then the test report; no bar
  const text = out.text();
  expect(text).not.toContain('\r');
  const lines = text.split('\n');
  expect(lines.filter((l) => /^epoch \d\/3  train loss \d\.\d{4}  acc \d+\.\d\d%  val loss \d\.\d{4}  acc \d+\.\d\d%  lr [\d.]+  0:\d\d \([\d,]+ samples\/s\)/.test(l))).toHaveLength(3);
  expect(text).toMatch(/test accuracy \d+\.\d\d% \(\d+\/30\)/);
  expect(text).toMatch(/per-class accuracy:\n {2}red {3}\s*\d+\.\d\d% {2}\(\d+\/\d+\)\n {2}green/);
  expect(text).toContain('confusion matrix (rows: true class, columns: predicted class):');
  expect(text).toMatch(/\n2 blue\s+\d+\s+\d+\s+\d+/);
});

test('on a terminal: a progress bar per epoch with batch i/n, samples/s, running loss and ETA', async () => {
  const s = setup(0, 7);
  const out = sink(true);
  await fit(s.model, { ...s, epochs: 2, stream: out.stream });
  const text = out.text();
  expect(text).toMatch(/\repoch 1\/2 \[[=> ]+\] 5\/5  [\d,]+ samples\/s  loss \d\.\d{4}  ETA 0:00\x1b\[K/);
  expect(text).toMatch(/\repoch 2\/2 \[/);
  // the bar is cleared and replaced by the summary line
  expect(text).toMatch(/\r\x1b\[Kepoch 1\/2  train loss/);
});

test('resume: 1 epoch, then resume to 2, ends with the weights of an uninterrupted 2-epoch run', async () => {
  // uninterrupted; the loaders draw their seed from the global generator
  const a = setup(0);
  const ha = await fit(a.model, { ...a, epochs: 2, outDir: path.join(dir, 'a'), progress: 'none' });

  const b1 = setup(0);
  await fit(b1.model, { ...b1, epochs: 1, outDir: path.join(dir, 'b'), progress: 'none' });
  // a new process would start from scratch: another seed, so another init and another loader seed
  const b2 = setup(12345);
  expect(b2.trainLoader.seed).not.toBe(a.trainLoader.seed);
  const out = sink();
  const hb = await fit(b2.model, { ...b2, epochs: 2, outDir: path.join(dir, 'b'), resume: path.join(dir, 'b', 'last.safetensors'), stream: out.stream });
  expect(out.text()).toContain(`resuming from ${path.join(dir, 'b', 'last.safetensors')} (epoch 1 done)`);
  expect(out.text()).not.toMatch(/^epoch 1\/2/m);

  expectSameWeights(a.model, b2.model);
  expect(hb.epochs.map((e) => e.epoch)).toEqual([1, 2]);
  expect(hb.epochs[1].trainLoss).toBe(ha.epochs[1].trainLoss);
  expect(hb.epochs[1].valAccuracy).toBe(ha.epochs[1].valAccuracy);
  expect(hb.epochs[1].lr).toBe(ha.epochs[1].lr);
  expect(b2.optimizer.paramGroups[0].lr).toBe(a.optimizer.paramGroups[0].lr);
  expect(loadCheckpoint(path.join(dir, 'b', 'last.safetensors')).epoch).toBe(2);
  const csv = fs.readFileSync(path.join(dir, 'b', 'history.csv'), 'utf8').trim().split('\n');
  expect(csv).toHaveLength(3);
});

test('resume with Adam, OneCycleLR stepped per batch and no validation also matches', async () => {
  const make = (seed: number) => {
    const s = setup(seed);
    const optimizer = new optim.Adam(s.model.parameters(), { lr: 0.01 });
    const scheduler = new optim.lrScheduler.OneCycleLR(optimizer, { maxLr: 0.05, epochs: 3, stepsPerEpoch: s.trainLoader.length });
    return { ...s, optimizer, scheduler, valLoader: null };
  };
  const a = make(0);
  await fit(a.model, { ...a, epochs: 3, outDir: path.join(dir, 'a'), progress: 'none' });
  expect(a.scheduler.lastEpoch).toBe(3 * a.trainLoader.length); // stepped once per batch
  const b1 = make(0);
  await fit(b1.model, { ...b1, epochs: 2, outDir: path.join(dir, 'b'), progress: 'none' });
  const b2 = make(99);
  await fit(b2.model, { ...b2, epochs: 3, resume: path.join(dir, 'b', 'last.safetensors'), progress: 'none' });
  expectSameWeights(a.model, b2.model);
  expect(b2.scheduler.lastEpoch).toBe(a.scheduler.lastEpoch);
});

test('ReduceLROnPlateau is stepped with the validation loss', async () => {
  const s = setup(0, 7);
  const scheduler = new optim.lrScheduler.ReduceLROnPlateau(s.optimizer, { patience: 0, factor: 0.5 });
  const h = await fit(s.model, { ...s, scheduler, epochs: 3, progress: 'none' });
  expect(scheduler.best).toBe(Math.min(...h.epochs.map((e) => e.valLoss!)));
  expect(scheduler.lastEpoch).toBe(3);
});

test('callbacks see every batch and epoch, and can stop training early', async () => {
  const s = setup(0, 7);
  const seen: string[] = [];
  const h = await fit(s.model, {
    ...s,
    epochs: 5,
    progress: 'none',
    callbacks: [
      {
        onTrainBegin: () => void seen.push('begin'),
        onEpochBegin: (e) => void seen.push(`e${e}`),
        onBatchEnd: (b, logs) => void seen.push(`b${b}:${logs.size}`),
        onEpochEnd: (e, log, ctx) => {
          seen.push(`end${e}:${log.epoch}`);
          if (e === 2) ctx.stopTraining = true;
        },
        onTrainEnd: (hist) => void seen.push(`done${hist.epochs.length}`),
      },
    ],
  });
  expect(h.epochs).toHaveLength(2);
  expect(seen).toEqual(['begin', 'e1', 'b1:16', 'b2:16', 'b3:16', 'b4:16', 'b5:11', 'end1:1', 'e2', 'b1:16', 'b2:16', 'b3:16', 'b4:16', 'b5:11', 'end2:2', 'done2']);
});

test('regression (MSELoss, float targets): losses but no accuracy, a loss-only chart', async () => {
  tn.manualSeed(4);
  const x = tn.randn([40, 3]);
  const y = x.matmul(tn.tensor([[1], [-2], [0.5]], { dtype: 'float32' }));
  const model = new nn.Sequential(new nn.Linear(3, 1));
  const loader = new DataLoader(new TensorDataset(x, y), { batchSize: 8, shuffle: true, seed: 1 });
  const h = await fit(model, { trainLoader: loader, valLoader: loader, criterion: new nn.MSELoss(), optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }), epochs: 4, outDir: dir, progress: 'none' });
  expect(h.epochs[3].trainLoss).toBeLessThan(h.epochs[0].trainLoss);
  expect(h.epochs.every((e) => e.trainAccuracy === null && e.valAccuracy === null)).toBe(true);
  expect(h.best!.monitor).toBe('valLoss');
  expect(h.test).toMatchObject({ accuracy: null, confusionMatrix: null, total: 40 });
  const svg = fs.readFileSync(path.join(dir, 'learning_curves.svg'), 'utf8');
  expect(svg).not.toContain('>Accuracy</text>');
  expect(fs.existsSync(path.join(dir, 'confusion_matrix.csv'))).toBe(false);
});

test('a plain array of batches and a loss function work as loader and criterion', async () => {
  tn.manualSeed(5);
  const x = tn.randn([12, 4]);
  const y = tn.tensor([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  const model = new nn.Linear(4, 2);
  const batches = [[x.slice(0, 0, 6), y.slice(0, 0, 6)], [x.slice(0, 6, 12), y.slice(0, 6, 12)]];
  const h = await fit(model, { trainLoader: batches, criterion: (o, t) => tn.F.crossEntropy(o, t), optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }), epochs: 2, progress: 'none' });
  expect(h).toBeInstanceOf(History);
  expect(h.epochs).toHaveLength(2);
  expect(h.test).toBeNull();
  // the loader's tensors survive for the next epoch (fit disposes only what it made)
  expect(batches[0][0].isDisposed).toBe(false);
});

describe('errors', () => {
  const base = (): FitOptions & { model: nn.Module } => {
    const s = setup(0, 7);
    return { ...s, epochs: 1, progress: 'none' };
  };

  test('bad options are ValueErrors that say what was expected', async () => {
    const o = base();
    await expect(fit(o.model, { ...o, epochs: 0 })).rejects.toThrow(new tn.ValueError('fit: epochs must be a positive integer but received 0'));
    await expect(fit(o.model, { ...o, trainLoader: 5 as never })).rejects.toThrow('fit: trainLoader must be iterable');
    await expect(fit(o.model, { ...o, criterion: {} as never })).rejects.toThrow('fit: criterion must be a loss module');
    await expect(fit(o.model, { ...o, schedulerStep: 'step' as never })).rejects.toThrow("fit: schedulerStep must be 'epoch' or 'batch' but received 'step'");
    await expect(fit(o.model, { ...o, trainLoader: [[1, 2]] })).rejects.toThrow('fit: each batch must be [input, target] tensors, got an array of 2');
    await expect(fit(o.model, { ...o, trainLoader: [] })).rejects.toThrow('fit: trainLoader yielded no batches');
  });

  (tn.cuda.isAvailable() ? test.skip : test)("device 'cuda' without a CUDA backend is a DeviceError", async () => {
    const o = base();
    await expect(fit(o.model, { ...o, device: 'cuda' })).rejects.toThrow(tn.DeviceError);
  });

  test('resuming from a truncated checkpoint is a DataError naming the file', async () => {
    const o = base();
    await fit(o.model, { ...o, outDir: dir });
    const file = path.join(dir, 'last.safetensors');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 7));
    const p = base();
    await expect(fit(p.model, { ...p, epochs: 2, resume: file })).rejects.toThrow(tn.DataError);
    await expect(fit(p.model, { ...p, epochs: 2, resume: file })).rejects.toThrow(`load: ${file}: truncated file`);
  });

  test('resuming into a model of another shape names the mismatched keys', async () => {
    const o = base();
    await fit(o.model, { ...o, outDir: dir });
    const other = new nn.Sequential(new nn.Conv2d(1, 5, 3), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Dropout(0.3), new nn.Linear(20, 3));
    const run = fit(other, { ...o, optimizer: new optim.SGD(other.parameters(), { lr: 0.1 }), epochs: 2, resume: path.join(dir, 'last.safetensors') });
    await expect(run).rejects.toThrow(tn.ShapeError);
    await expect(fit(other, { ...o, optimizer: new optim.SGD(other.parameters(), { lr: 0.1 }), epochs: 2, resume: path.join(dir, 'last.safetensors') })).rejects.toThrow(
      'size mismatch for 0.weight: copying a param with shape [4, 1, 3, 3] from checkpoint, the shape in current model is [5, 1, 3, 3]',
    );
  });
});
