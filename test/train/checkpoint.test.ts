// Training checkpoints: model, optimizer state (tensors under prefixed keys, the rest as JSON in
// __metadata__), scheduler, epoch, seed and random state survive a round trip; the file is plain
// safetensors; wrong files and wrong models fail with errors that name what is wrong.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import * as nn from '../../lib/nn';
import * as optim from '../../lib/optim';
import { loadFile, save } from '../../lib/io';
import { saveCheckpoint, loadCheckpoint, classicCNN } from '../../lib/train';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-ckpt-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function trainedSteps(opt: 'sgd' | 'adam') {
  tn.manualSeed(3);
  const model = new nn.Sequential(new nn.Linear(5, 4), new nn.ReLU(), new nn.Linear(4, 3));
  const optimizer = opt === 'sgd' ? new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }) : new optim.Adam(model.parameters(), { lr: 0.01 });
  const x = tn.randn([7, 5]);
  const y = tn.tensor([0, 1, 2, 0, 1, 2, 0]);
  for (let i = 0; i < 2; i++) {
    optimizer.zeroGrad();
    new nn.CrossEntropyLoss().forward(model.forward(x), y).backward();
    optimizer.step();
  }
  return { model, optimizer };
}

test('model, SGD momentum, scheduler (with Infinity), epoch, seed and rng state round-trip', () => {
  const { model, optimizer } = trainedSteps('sgd');
  const scheduler = new optim.lrScheduler.ReduceLROnPlateau(optimizer, { patience: 2 });
  const file = path.join(dir, 'last.safetensors');
  const rng = { default: (1n << 63n) + 12345n };
  saveCheckpoint(file, {
    model: model.stateDict(),
    optimizer: optimizer.stateDict(),
    scheduler: scheduler.stateDict(),
    epoch: 3,
    seed: 42,
    rng,
    loader: { seed: 7, epoch: 3 },
    config: { model: 'tiny', batchSize: 7 },
  });

  // a plain safetensors file: the model under "model.", optimizer tensors under "optimizer."
  const raw = loadFile(file);
  expect(Object.keys(raw.tensors)).toEqual([
    'model.0.weight', 'model.0.bias', 'model.2.weight', 'model.2.bias',
    'optimizer.state.0.momentum_buffer', 'optimizer.state.1.momentum_buffer', 'optimizer.state.2.momentum_buffer', 'optimizer.state.3.momentum_buffer',
  ]);
  expect(raw.metadata['tensile.checkpoint']).toBe('1');
  expect(raw.metadata.epoch).toBe('3');
  expect(raw.metadata.seed).toBe('42');
  expect(JSON.parse(raw.metadata.optimizer).state['0'].momentum_buffer).toEqual({ $tensor: 'optimizer.state.0.momentum_buffer' });
  expect(JSON.parse(raw.metadata.scheduler).best).toEqual({ $number: 'Infinity' });

  const back = loadCheckpoint(file);
  expect(back.epoch).toBe(3);
  expect(back.seed).toBe(42);
  expect(back.rng).toEqual(rng);
  expect(back.loader).toEqual({ seed: 7, epoch: 3 });
  expect(back.config).toEqual({ model: 'tiny', batchSize: 7 });
  expect((back.scheduler as { best: number }).best).toBe(Infinity);
  for (const [k, t] of Object.entries(model.stateDict())) expect(back.model[k].toArray()).toEqual(t.toArray());

  // and they load: a fresh optimizer takes the state and the next step matches the original's
  const fresh = trainedSteps('sgd');
  const opt2 = new optim.SGD(fresh.model.parameters(), { lr: 0.5, momentum: 0.1 });
  fresh.model.loadStateDict(back.model);
  opt2.loadStateDict(back.optimizer as never);
  expect(opt2.paramGroups[0].lr).toBe(0.1);
  const sd1 = optimizer.stateDict();
  const sd2 = opt2.stateDict();
  expect((sd2.state[0].momentum_buffer as tn.Tensor).toArray()).toEqual((sd1.state[0].momentum_buffer as tn.Tensor).toArray());
  const sched2 = new optim.lrScheduler.ReduceLROnPlateau(opt2);
  sched2.loadStateDict(back.scheduler as never);
  expect(sched2.patience).toBe(2);
});

test('Adam state (step counts and both moments) round-trips', () => {
  const { model, optimizer } = trainedSteps('adam');
  const file = path.join(dir, 'adam.safetensors');
  saveCheckpoint(file, { model: model.stateDict(), optimizer: optimizer.stateDict(), epoch: 1 });
  const back = loadCheckpoint(file);
  const st = (back.optimizer as optim.OptimizerStateDict).state[0];
  expect(st.step).toBe(2);
  expect((st.exp_avg as tn.Tensor).toArray()).toEqual((optimizer.stateDict().state[0].exp_avg as tn.Tensor).toArray());
  expect((st.exp_avg_sq as tn.Tensor).shape).toEqual([4, 5]);
});

test('a file that is not a checkpoint, or has corrupt metadata, is a DataError naming it', () => {
  const plain = path.join(dir, 'weights.safetensors');
  save({ w: tn.zeros([2]) }, plain);
  expect(() => loadCheckpoint(plain)).toThrow(tn.DataError);
  expect(() => loadCheckpoint(plain)).toThrow(`loadCheckpoint: ${plain} is a safetensors file but not a tensile checkpoint`);

  const bad = path.join(dir, 'bad.safetensors');
  save({ 'model.w': tn.zeros([2]) }, bad, { metadata: { 'tensile.checkpoint': '1', epoch: '2', optimizer: '{"state": ' } });
  expect(() => loadCheckpoint(bad)).toThrow(`loadCheckpoint: ${bad}: corrupt metadata: "optimizer" is not JSON`);
  save({ 'model.w': tn.zeros([2]) }, bad, { metadata: { 'tensile.checkpoint': '1', epoch: '2', optimizer: '{"m": {"$tensor": "optimizer.m"}}' } });
  expect(() => loadCheckpoint(bad)).toThrow("metadata refers to tensor 'optimizer.m', which the file does not hold");
  save({ 'model.w': tn.zeros([2]) }, bad, { metadata: { 'tensile.checkpoint': '1', epoch: 'two' } });
  expect(() => loadCheckpoint(bad)).toThrow("corrupt metadata: epoch is 'two'");
  save({}, bad, { metadata: { 'tensile.checkpoint': '9', epoch: '1' } });
  expect(() => loadCheckpoint(bad)).toThrow('has checkpoint format 9, this tensile reads format 1');

  const truncated = path.join(dir, 'cut.safetensors');
  saveCheckpoint(truncated, { model: classicCNN().stateDict(), epoch: 1 });
  const bytes = fs.readFileSync(truncated);
  fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
  expect(() => loadCheckpoint(truncated)).toThrow(tn.DataError);
  expect(() => loadCheckpoint(truncated)).toThrow(new RegExp(`^load: ${truncated.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: truncated file`));
});

test('a flipped bit in a checkpoint\'s tensor data is a DataError naming the tensor and the file', () => {
  const { model, optimizer } = trainedSteps('adam');
  const file = path.join(dir, 'adam.safetensors');
  saveCheckpoint(file, { model: model.stateDict(), optimizer: optimizer.stateDict(), epoch: 1 });
  expect(Object.keys(loadFile(file).metadata)).not.toContain('tensile.crc32c'); // tensile's own key stays inside
  // flip the lowest bit of the file's last byte: an exponent bit of the last tensor's last float
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(file, bytes);
  const last = Object.keys(loadFile(file, { verify: false }).tensors).pop();
  expect(last).toBe('optimizer.state.3.exp_avg_sq');
  expect(() => loadCheckpoint(file)).toThrow(tn.DataError);
  expect(() => loadCheckpoint(file)).toThrow(`load: ${file}: checksum mismatch in tensor '${last}'`);
  // verify: false reads it anyway, flipped bit and all
  const back = loadCheckpoint(file, { verify: false });
  expect(back.epoch).toBe(1);
  const want = (optimizer.stateDict().state[3].exp_avg_sq as tn.Tensor).data as Float32Array;
  const got = ((back.optimizer as optim.OptimizerStateDict).state[3].exp_avg_sq as tn.Tensor).data as Float32Array;
  expect(got.length).toBe(want.length);
  expect(got.findIndex((v, i) => v !== want[i])).toBe(got.length - 1);
});

test('loading into a model of another shape names every missing, unexpected and mis-shaped key', () => {
  const file = path.join(dir, 'classic.safetensors');
  saveCheckpoint(file, { model: classicCNN().stateDict(), epoch: 1 });
  const other = new nn.Sequential(
    new nn.Conv2d(1, 12, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(12, 20, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(500, 10), new nn.Linear(10, 10),
  );
  let err: Error | null = null;
  try {
    other.loadStateDict(loadCheckpoint(file).model);
  } catch (e) {
    err = e as Error;
  }
  expect(err).toBeInstanceOf(tn.ShapeError);
  expect(err!.message).toContain('Missing key(s) in state_dict: "8.weight", "8.bias".');
  expect(err!.message).toContain('size mismatch for 0.weight: copying a param with shape [10, 1, 3, 3] from checkpoint, the shape in current model is [12, 1, 3, 3]');
  expect(err!.message).toContain('size mismatch for 3.weight');
  const fewer = new nn.Sequential(new nn.Conv2d(1, 10, 3));
  expect(() => fewer.loadStateDict(loadCheckpoint(file).model)).toThrow('Unexpected key(s) in state_dict: "3.weight", "3.bias", "7.weight", "7.bias".');
});

test('bad arguments are ValueErrors', () => {
  const file = path.join(dir, 'x.safetensors');
  expect(() => saveCheckpoint(file, { model: {}, epoch: -1 })).toThrow('saveCheckpoint: epoch must be a non-negative integer but received -1');
  expect(() => saveCheckpoint(file, { model: {}, epoch: 0, config: { m: new Map() } })).toThrow("saveCheckpoint: cannot store a Map at 'config.m'");
  expect(fs.existsSync(file)).toBe(false);
});
