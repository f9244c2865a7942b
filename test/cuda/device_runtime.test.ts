// The device runtime as a user sees it: device names, tn.cuda, Tensor.to / cuda / cpu / pinMemory,
// Module.to, the optimizers' multi-tensor path, DataLoader pinMemory, and what fit and the CLI do
// with --device cuda. It runs everywhere: without a GPU (this machine, CI) it checks that every
// CUDA request is a DeviceError with the reason and that the process goes on, that the memory
// figures are 0, and that the multi-tensor optimizer bindings equal the single-tensor ones bit
// for bit on the CPU. Mixed-device errors are checked on tensors whose storage claims a CUDA
// device (the JS checks run before any native call). With a GPU the CUDA side of each runs too.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import { Storage, Tensor } from '../../lib';
import { main } from '../../lib/cli';
import { DataLoader } from '../../lib/data/dataloader';
import { Dataset, TensorDataset } from '../../lib/data/dataset';
import { cudaUnavailableReason, deviceCode, deviceOfCode, normalizeDevice } from '../../lib/device';
import { encodeIdx } from '../../lib/data/idx';
import { DTYPE_CODE } from '../../lib/dtype';
import { native } from '../../lib/native';
import { collectGarbage, retryAfterOutOfMemory, spareStorageBytes } from '../../lib/tensor';
import { fit } from '../../lib/train/fit';
import { ensureDist } from '../fixtures/data_ensure_dist';

const hasCuda = tn.cuda.isAvailable();
const itCuda = hasCuda ? test : test.skip;
const itNoCuda = hasCuda ? test.skip : test;
if (!hasCuda) {
  const p = tn.cuda.probe();
  console.log(`test/cuda/device_runtime.test.ts: GPU-side tests skipped: ${p.compiled ? `no CUDA device (${p.errorName}: ${p.message})` : `this build has no CUDA kernels (${p.message})`}`);
}

const values = (t: Tensor): number[] => Array.from(t.to('cpu').contiguous().data as ArrayLike<number | bigint>, Number);

function randn(shape: number[], seed: number, dtype: tn.DType = 'float32'): Tensor {
  return tn.randn(shape, { dtype, generator: new tn.Generator(seed) });
}

/** A tensor that shares t's memory but whose storage claims `device`: for the JS-side device checks. */
function claiming(t: Tensor, device: tn.Device): Tensor {
  return new Tensor(new Storage(t.storage.handle, t.storage.bytes, device), t.shape.slice(), t.strides.slice(), t.offset, t.dtype);
}

// ---------------------------------------------------------------------------------------------

describe('device names', () => {
  test("'cuda' means cuda:0; codes map both ways; invalid names are ValueErrors naming them", () => {
    expect(normalizeDevice('cpu')).toBe('cpu');
    expect(normalizeDevice('cuda')).toBe('cuda:0');
    expect(normalizeDevice('cuda:0')).toBe('cuda:0');
    expect(normalizeDevice('cuda:3')).toBe('cuda:3');
    expect(deviceCode('cpu')).toBe(0);
    expect(deviceCode('cuda:0')).toBe(1);
    expect(deviceCode('cuda:2')).toBe(3);
    expect(deviceOfCode(0)).toBe('cpu');
    expect(deviceOfCode(2)).toBe('cuda:1');
    for (const bad of ['gpu', 'cuda:x', 'cuda:', 'cuda:-1', 'cuda:01', 'CUDA', 'cpu:0', '']) {
      expect(() => normalizeDevice(bad, 'to')).toThrow(tn.ValueError);
      expect(() => normalizeDevice(bad, 'to')).toThrow(`to: invalid device '${bad}'`);
    }
  });

  test('the public entry points validate names before anything else', () => {
    const x = tn.ones([2]);
    expect(() => x.to('gpu' as tn.Device)).toThrow(new tn.ValueError("to: invalid device 'gpu': expected 'cpu', 'cuda' or 'cuda:<index>'"));
    expect(() => x.to({ device: 'cuda:x' as tn.Device })).toThrow("to: invalid device 'cuda:x'");
    expect(() => tn.empty([2], { device: 'gpu' as tn.Device })).toThrow(tn.ValueError);
    expect(() => tn.zeros([2], { device: 'cuda:x' as tn.Device })).toThrow("zeros: invalid device 'cuda:x'");
    expect(() => new tn.nn.Linear(2, 2).to('gpu' as tn.Device)).toThrow("Module.to: invalid device 'gpu'");
    expect(() => new tn.nn.Linear(2, 2).to('int64' as tn.DType)).toThrow("Module.to: expected a floating dtype (float32 or float64) but got 'int64'");
    expect(() => tn.cuda.memoryAllocated('gpu' as tn.Device)).toThrow(tn.ValueError);
    expect(() => tn.cuda.memoryAllocated(-1)).toThrow(tn.ValueError);
    expect(() => tn.cuda.memoryAllocated('cpu')).toThrow("cuda.memoryAllocated: expected a CUDA device but got 'cpu'");
  });

  test('a CPU tensor reports cpu; to("cpu") and cpu() return it; dtype and device together', () => {
    const x = tn.tensor([1.5, 2.5]);
    expect(x.device).toBe('cpu');
    expect(x.to('cpu')).toBe(x);
    expect(x.cpu()).toBe(x);
    expect(x.to({ device: 'cpu' })).toBe(x);
    const y = x.to({ device: 'cpu', dtype: 'float64' });
    expect([y.dtype, y.device, y.toArray()]).toEqual(['float64', 'cpu', [1.5, 2.5]]);
    expect(tn.randint(0, 5, [3], { device: 'cpu' }).device).toBe('cpu');
    expect(tn.arange(3, undefined, 1, { device: 'cpu' }).toArray()).toEqual([0, 1, 2]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('without a GPU', () => {
  itNoCuda('isAvailable() is false and the probe says why', () => {
    expect(tn.cuda.isAvailable()).toBe(false);
    expect(tn.cuda.deviceCount()).toBe(0);
    const p = tn.cuda.probe();
    expect(typeof p.compiled).toBe('boolean');
    expect(p.message.length).toBeGreaterThan(0);
    if (p.compiled) expect(p.errorName).toMatch(/^cuda/);
    expect(tn.cuda.currentDevice()).toBe(0);
  });

  itNoCuda('every CUDA request is a DeviceError with the reason, and the process goes on', () => {
    const why = cudaUnavailableReason();
    expect(why.length).toBeGreaterThan(0);
    const x = tn.tensor([1, 2, 3], { dtype: 'float32' });
    expect(() => x.to('cuda')).toThrow(tn.DeviceError);
    expect(() => x.to('cuda')).toThrow(`to: device 'cuda:0' is not available: ${why}`);
    expect(() => x.cuda()).toThrow(tn.DeviceError);
    expect(() => x.cuda(1)).toThrow("to: device 'cuda:1' is not available");
    expect(() => x.to({ device: 'cuda', dtype: 'float64' })).toThrow(tn.DeviceError);
    expect(() => tn.empty([2], { device: 'cuda' })).toThrow(`empty: device 'cuda:0' is not available: ${why}`);
    expect(() => tn.zeros([2], { device: 'cuda:0' })).toThrow(tn.DeviceError);
    expect(() => tn.tensor([1, 2], { device: 'cuda' })).toThrow(tn.DeviceError);
    expect(() => tn.randn([2], { device: 'cuda' })).toThrow(tn.DeviceError);
    expect(() => Storage.allocate(8, 'cuda')).toThrow(`alloc: device 'cuda:0' is not available: ${why}`);
    expect(() => tn.cuda.synchronize()).toThrow(new tn.DeviceError(`cuda.synchronize: device 'cuda:0' is not available: ${why}`));
    expect(() => tn.cuda.synchronize('cuda:1')).toThrow(tn.DeviceError);
    // the native layer refuses device memory on its own as well
    expect(() => native.alloc(8, 1)).toThrow(tn.DeviceError);
    // and everything else still works
    expect(x.add(1).sum().item()).toBe(9);
  });

  itNoCuda('model.to("cuda") is a DeviceError that leaves the model as it was', () => {
    tn.manualSeed(1);
    const m = new tn.nn.Sequential(new tn.nn.Linear(3, 2), new tn.nn.BatchNorm1d(2));
    const before = m.parameters().map(values);
    const params = m.parameters();
    expect(() => m.to('cuda')).toThrow(tn.DeviceError);
    expect(() => m.cuda()).toThrow("Module.to: device 'cuda:0' is not available");
    expect(m.parameters()).toEqual(params);
    expect(m.parameters().map(values)).toEqual(before);
    expect(m.parameters().every((p) => p.device === 'cpu')).toBe(true);
    expect(m.buffers().every((b) => b.device === 'cpu')).toBe(true);
    expect(m.forward(tn.ones([4, 3])).shape).toEqual([4, 2]);
  });

  itNoCuda('fit({ device: "cuda" }) rejects with the DeviceError and the model stays usable', async () => {
    tn.manualSeed(0);
    const model = new tn.nn.Linear(4, 3);
    const x = tn.randn([8, 4]);
    const y = tn.tensor([0, 1, 2, 0, 1, 2, 0, 1]);
    const o = { trainLoader: [[x, y]], criterion: new tn.nn.CrossEntropyLoss(), optimizer: new tn.optim.SGD(model.parameters(), { lr: 0.1 }), epochs: 1, progress: 'none' as const };
    await expect(fit(model, { ...o, device: 'cuda' })).rejects.toThrow(/^Module\.to: device 'cuda:0' is not available: .+/);
    await expect(fit(model, { ...o, device: 'cuda' })).rejects.toThrow(tn.DeviceError);
    const h = await fit(model, { ...o, device: 'cpu' });
    expect(h.epochs.length).toBe(1);
  });

  itNoCuda('tensile train / eval --device cuda print the DeviceError line and return 1', async () => {
    const err: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-device-'));
    try {
      expect(await main(['train', '--device', 'cuda', '--epochs', '1', '--limit-train', '20', '--limit-test', '20', '--out', dir])).toBe(1);
      const ckpt = path.join(dir, 'weights.safetensors');
      tn.save(new tn.nn.Linear(2, 2).stateDict(), ckpt);
      expect(await main(['eval', '--device', 'cuda', '--checkpoint', ckpt])).toBe(1);
    } finally {
      spy.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const why = cudaUnavailableReason();
    expect(err).toEqual([`tensile: DeviceError: train: device 'cuda' is not available: ${why}\n`, `tensile: DeviceError: eval: device 'cuda' is not available: ${why}\n`]);
  });

  itNoCuda('memory figures are 0 and emptyCache() does nothing', () => {
    expect(tn.cuda.memoryAllocated()).toBe(0);
    expect(tn.cuda.memoryReserved()).toBe(0);
    expect(tn.cuda.maxMemoryAllocated()).toBe(0);
    expect(tn.cuda.memoryAllocated('cuda:1')).toBe(0);
    expect(tn.cuda.memoryStats(0)).toEqual({ allocated: 0, reserved: 0, peakAllocated: 0, numAllocRetries: 0 });
    expect(() => tn.cuda.emptyCache()).not.toThrow();
  });

  itNoCuda('pinMemory() copies into ordinary memory (isPinned false) with the same values', () => {
    const x = randn([3, 4], 5);
    const p = x.pinMemory();
    expect(p).not.toBe(x);
    expect(p.isPinned()).toBe(false);
    expect(x.isPinned()).toBe(false);
    expect(values(p)).toEqual(values(x));
    const t = x.transpose(0, 1).pinMemory();
    expect(t.shape).toEqual([4, 3]);
    expect(values(t)).toEqual(values(x.transpose(0, 1).contiguous()));
    expect(tn.empty([2], { pinMemory: true }).isPinned()).toBe(false);
  });
});

describe('out of device memory: free what can be freed, retry once, then OutOfMemoryError', () => {
  test('the retry drops the spare handles, collects garbage, empties the device cache, and tries once more', () => {
    const emptied: number[] = [];
    const orig = native.cudaEmptyCache;
    native.cudaEmptyCache = (i: number) => void emptied.push(i);
    try {
      // a disposed CPU tensor leaves a spare handle behind
      tn.empty([1000]).dispose();
      expect(spareStorageBytes()).toBeGreaterThan(0);
      let calls = 0;
      const ok = retryAfterOutOfMemory(() => {
        if (calls++ === 0) throw new tn.OutOfMemoryError('alloc: CUDA out of memory: tried to allocate 8.00 MiB on cuda:0');
        return 'second try';
      }, 0);
      expect([ok, calls, emptied]).toEqual(['second try', 2, [0]]);
      expect(spareStorageBytes()).toBe(0);

      calls = 0;
      let err: unknown = null;
      try {
        retryAfterOutOfMemory(() => {
          calls++;
          throw new tn.OutOfMemoryError('alloc: CUDA out of memory: tried to allocate 8.00 MiB on cuda:1');
        }, 1);
      } catch (e) {
        err = e;
      }
      expect(calls).toBe(2);
      expect(err).toBeInstanceOf(tn.OutOfMemoryError);
      expect((err as Error).message).toBe('alloc: CUDA out of memory: tried to allocate 8.00 MiB on cuda:1 (after emptying the cache, a garbage collection and one retry)');
      expect(emptied).toEqual([0, 1]);

      // anything but out-of-memory is not retried
      calls = 0;
      expect(() => retryAfterOutOfMemory(() => (calls++, (() => { throw new tn.DeviceError('no'); })()), 0)).toThrow(tn.DeviceError);
      expect(calls).toBe(1);
    } finally {
      native.cudaEmptyCache = orig;
    }
  });

  test('collectGarbage runs a full V8 collection without --expose-gc', async () => {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    let finalized = false;
    const registry = new FinalizationRegistry(() => (finalized = true));
    (() => registry.register({ big: new Array(1000).fill(1) }, 0))();
    for (let i = 0; i < 10 && !finalized; i++) {
      collectGarbage();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(finalized).toBe(true);
  });
});

describe('backends.cuda.allowTF32', () => {
  test('a plain boolean property, off by default, that reaches the addon', () => {
    expect(tn.backends.cuda.allowTF32).toBe(false);
    const calls: boolean[] = [];
    const orig = native.setAllowTF32;
    native.setAllowTF32 = (f: boolean) => {
      calls.push(f);
      orig(f);
    };
    try {
      tn.backends.cuda.allowTF32 = true;
      expect(tn.backends.cuda.allowTF32).toBe(true);
      tn.backends.cuda.allowTF32 = false;
      expect(tn.backends.cuda.allowTF32).toBe(false);
    } finally {
      native.setAllowTF32 = orig;
    }
    expect(calls).toEqual([true, false]);
    expect(() => ((tn.backends.cuda as { allowTF32: unknown }).allowTF32 = 1)).toThrow(tn.ValueError);
    expect(Object.keys(tn.backends.cuda)).toEqual(['allowTF32']);
  });

  test('backends.cudnn.allowTF32 (the convolutions) is its own switch, off by default, that reaches the addon', () => {
    expect(tn.backends.cudnn.allowTF32).toBe(false);
    const calls: boolean[] = [];
    const orig = native.setConvAllowTF32;
    native.setConvAllowTF32 = (f: boolean) => {
      calls.push(f);
      orig(f);
    };
    try {
      tn.backends.cudnn.allowTF32 = true;
      expect(tn.backends.cudnn.allowTF32).toBe(true);
      expect(tn.backends.cuda.allowTF32).toBe(false);
      tn.backends.cudnn.allowTF32 = false;
    } finally {
      native.setConvAllowTF32 = orig;
    }
    expect(calls).toEqual([true, false]);
    expect(() => ((tn.backends.cudnn as { allowTF32: unknown }).allowTF32 = 'yes')).toThrow(tn.ValueError);
  });
});

// ---------------------------------------------------------------------------------------------

describe('mixed devices: a DeviceError naming the op and both devices', () => {
  const F = tn.F;
  // Storage on the CPU that claims cuda:0: the JS check must fire before the native call.
  const g = (shape: number[], dtype: tn.DType = 'float32') => claiming(tn.ones(shape, { dtype }), 'cuda:0');

  test('element-wise, matmul, linear, conv2d, batch norm, losses, cat, stack, where, indexSelect', () => {
    const c = tn.ones([2, 2]);
    expect(() => g([2, 2]).add(c)).toThrow(new tn.DeviceError('add: expected all tensors on the same device, but got cuda:0 (input) and cpu (other)'));
    expect(() => c.mul(g([2, 2]))).toThrow('mul: expected all tensors on the same device, but got cpu (input) and cuda:0 (other)');
    expect(() => c.sub(g([2]))).toThrow(tn.DeviceError);
    expect(() => c.div(g([2]))).toThrow(tn.DeviceError);
    expect(() => c.maximum(g([2]))).toThrow(tn.DeviceError);
    expect(() => c.lt(g([2]))).toThrow(/^lt: expected all tensors on the same device/);
    expect(() => g([2, 2]).matmul(c)).toThrow('matmul: expected all tensors on the same device, but got cuda:0 (input) and cpu (other)');
    expect(() => F.linear(c, g([3, 2]))).toThrow('linear: expected all tensors on the same device, but got cpu (input) and cuda:0 (weight)');
    expect(() => F.linear(c, tn.ones([3, 2]), g([3]))).toThrow('linear: expected all tensors on the same device, but got cpu (input) and cuda:0 (bias)');
    expect(() => F.conv2d(g([1, 1, 4, 4]), tn.ones([1, 1, 3, 3]))).toThrow('conv2d: expected all tensors on the same device, but got cuda:0 (input) and cpu (weight)');
    expect(() => F.conv2d(tn.ones([1, 1, 4, 4]), tn.ones([1, 1, 3, 3]), g([1]))).toThrow('conv2d: expected all tensors on the same device, but got cpu (input) and cuda:0 (bias)');
    expect(() => F.batchNorm(tn.ones([2, 3]), g([3]), tn.ones([3]))).toThrow('batch_norm: expected all tensors on the same device, but got cpu (input) and cuda:0 (running_mean)');
    expect(() => F.crossEntropy(g([2, 3]), tn.tensor([0, 1]))).toThrow('cross_entropy: expected all tensors on the same device, but got cuda:0 (input) and cpu (target)');
    expect(() => F.crossEntropy(tn.ones([2, 3]), tn.tensor([0, 1]), { weight: g([3]) })).toThrow('cross_entropy: expected all tensors on the same device, but got cpu (input) and cuda:0 (weight)');
    expect(() => F.nllLoss(tn.ones([2, 3]), claiming(tn.tensor([0, 1]), 'cuda:0'))).toThrow('nll_loss: expected all tensors on the same device, but got cpu (input) and cuda:0 (target)');
    expect(() => F.mseLoss(g([2]), tn.ones([2]))).toThrow(/^mse_loss: expected all tensors on the same device, but got cuda:0 \(input\) and cpu \(target\)/);
    expect(() => tn.cat([c, g([2, 2])])).toThrow('cat: expected all tensors on the same device, but got cpu (tensor 0) and cuda:0 (tensor 1)');
    expect(() => tn.stack([c, c, g([2, 2])])).toThrow('stack: expected all tensors on the same device, but got cpu (tensor 0) and cuda:0 (tensor 2)');
    expect(() => tn.where(claiming(tn.tensor([true, false]), 'cuda:0'), tn.ones([2]), 0)).toThrow('where: expected all tensors on the same device, but got cuda:0 (condition) and cpu (input)');
    expect(() => tn.where(tn.tensor([true, false]), tn.ones([2]), g([2]))).toThrow('where: expected all tensors on the same device, but got cpu (input) and cuda:0 (other)');
    expect(() => c.indexSelect(0, claiming(tn.tensor([0]), 'cuda:0'))).toThrow('indexSelect: expected all tensors on the same device, but got cpu (input) and cuda:0 (index)');
    // and two CUDA devices are different devices
    expect(() => g([2]).add(claiming(tn.ones([2]), 'cuda:1'))).toThrow('add: expected all tensors on the same device, but got cuda:0 (input) and cuda:1 (other)');
  });

  test('an optimizer refuses a gradient on another device than its parameter', () => {
    const p = tn.ones([2]).requiresGrad_(true);
    const opt = new tn.optim.SGD([p], { lr: 0.1 });
    p.grad = g([2]);
    expect(() => opt.step()).toThrow(new tn.DeviceError('SGD: gradient of parameter 0 of group 0 is on cuda:0 but the parameter is on cpu'));
  });
});

// ---------------------------------------------------------------------------------------------

describe('multi-tensor optimizer steps on the CPU equal the single-tensor ones bit for bit', () => {
  const SHAPES = [[3, 5], [7], [0], [2, 3, 1, 3], [129], [1]];

  function params(dtype: tn.DType, seed: number): Tensor[] {
    return SHAPES.map((s, k) => randn(s, seed + k, dtype));
  }
  const bits = (ts: Tensor[]) => ts.map((t) => Buffer.from((t.data as Float32Array).buffer).toString('hex'));

  for (const dtype of ['float32', 'float64'] as const) {
    const code = DTYPE_CODE[dtype];
    test(`the bindings: sgdStepMulti and adamStepMulti (${dtype}), every option, several steps`, () => {
      const sgdCases = [
        [0.1, 0, 0, false, 0, false],
        [0.05, 0.9, 0, false, 0.01, false],
        [0.05, 0.9, 0, true, 0.01, false],
        [0.05, 0.8, 0.3, false, 0, true],
      ] as const;
      for (const [lr, momentum, dampening, nesterov, wd, maximize] of sgdCases) {
        const pa = params(dtype, 1), pb = params(dtype, 1);
        const ba = pa.map((p) => tn.zerosLike(p)), bb = pb.map((p) => tn.zerosLike(p));
        for (let step = 0; step < 3; step++) {
          const grads = params(dtype, 100 + step);
          pa.forEach((p, k) => native.sgdStep(p.handle, 0, grads[k].handle, 0, momentum ? ba[k].handle : null, 0, p.numel(), code, lr, momentum, dampening, nesterov, wd, maximize, step === 0));
          native.sgdStepMulti(pb.map((p) => p.handle), pb.map(() => 0), grads.map((x) => x.handle), grads.map(() => 0), momentum ? bb.map((b) => b.handle) : null, momentum ? bb.map(() => 0) : null, pb.map((p) => p.numel()), pb.map(() => step === 0), code, lr, momentum, dampening, nesterov, wd, maximize);
        }
        expect(bits(pb)).toEqual(bits(pa));
        if (momentum) expect(bits(bb)).toEqual(bits(ba));
        expect(bits(pa)).not.toEqual(bits(params(dtype, 1))); // they did move
      }
      const adamCases = [
        [1e-2, 0.9, 0.999, 1e-8, 0, false, false, false],
        [1e-2, 0.8, 0.95, 1e-6, 0.1, true, false, false],
        [2e-2, 0.9, 0.999, 1e-8, 0.3, false, true, false],
        [1e-2, 0.9, 0.99, 1e-8, 0.01, true, true, true],
      ] as const;
      for (const [lr, b1, b2, eps, wd, amsgrad, decoupled, maximize] of adamCases) {
        const pa = params(dtype, 2), pb = params(dtype, 2);
        const st = (ps: Tensor[]) => ({ m: ps.map((p) => tn.zerosLike(p)), v: ps.map((p) => tn.zerosLike(p)), mx: ps.map((p) => tn.zerosLike(p)) });
        const sa = st(pa), sb = st(pb);
        for (let step = 1; step <= 3; step++) {
          const grads = params(dtype, 200 + step);
          pa.forEach((p, k) => native.adamStep(p.handle, 0, grads[k].handle, 0, sa.m[k].handle, 0, sa.v[k].handle, 0, amsgrad ? sa.mx[k].handle : null, 0, p.numel(), code, lr, b1, b2, eps, wd, step, amsgrad, decoupled, maximize));
          const h = (ts: Tensor[]) => ts.map((t) => t.handle);
          const z = pb.map(() => 0);
          native.adamStepMulti(h(pb), z, h(grads), z, h(sb.m), z, h(sb.v), z, amsgrad ? h(sb.mx) : null, amsgrad ? z : null, pb.map((p) => p.numel()), pb.map(() => step), code, lr, b1, b2, eps, wd, amsgrad, decoupled, maximize);
        }
        expect(bits(pb)).toEqual(bits(pa));
        expect(bits(sb.m)).toEqual(bits(sa.m));
        expect(bits(sb.v)).toEqual(bits(sa.v));
        if (amsgrad) expect(bits(sb.mx)).toEqual(bits(sa.mx));
      }
    });
  }

  test('the bindings validate like the single-tensor ones', () => {
    const p = tn.ones([2]), g2 = tn.ones([2]);
    const f32 = DTYPE_CODE.float32;
    expect(() => native.sgdStepMulti([p.handle], [0], [g2.handle], [0], null, null, [2], [true], f32, -1, 0, 0, false, 0, false)).toThrow('sgd_step: invalid learning rate: -1');
    expect(() => native.sgdStepMulti([p.handle], [0], [g2.handle], [0], null, null, [2], [true], f32, 0.1, 0.9, 0, false, 0, false)).toThrow(tn.ValueError);
    expect(() => native.sgdStepMulti([p.handle], [0], [g2.handle], [0], null, null, [3], [true], f32, 0.1, 0, 0, false, 0, false)).toThrow(/sgd_step/);
    expect(() => native.adamStepMulti([p.handle], [0], [g2.handle], [0], [p.handle], [0], [p.handle], [0], null, null, [2], [0], f32, 0.1, 0.9, 0.999, 1e-8, 0, false, false, false)).toThrow('adam_step: step must be at least 1, got 0');
    expect(() => native.adamStepMulti([p.handle], [0], [g2.handle], [0], [p.handle], [0], [p.handle], [0], null, null, [2], [1], f32, 0.1, 1, 0.999, 1e-8, 0, false, false, false)).toThrow('adam_step: invalid beta parameter at index 0: 1');
  });

  type Make = (ps: Tensor[], foreach: boolean) => tn.optim.Optimizer;
  const makers: [string, Make][] = [
    ['SGD', (ps, foreach) => new tn.optim.SGD(ps, { lr: 0.1, foreach })],
    ['SGD momentum', (ps, foreach) => new tn.optim.SGD(ps, { lr: 0.05, momentum: 0.9, foreach })],
    ['SGD nesterov weight decay', (ps, foreach) => new tn.optim.SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01, foreach })],
    ['SGD dampening maximize', (ps, foreach) => new tn.optim.SGD(ps, { lr: 0.05, momentum: 0.8, dampening: 0.3, maximize: true, foreach })],
    ['Adam', (ps, foreach) => new tn.optim.Adam(ps, { lr: 0.01, foreach })],
    ['Adam amsgrad weight decay', (ps, foreach) => new tn.optim.Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 0.1, foreach })],
    ['AdamW', (ps, foreach) => new tn.optim.AdamW(ps, { lr: 0.02, weightDecay: 0.3, betas: [0.8, 0.95], foreach })],
    ['AdamW amsgrad maximize', (ps, foreach) => new tn.optim.AdamW(ps, { lr: 0.01, amsgrad: true, maximize: true, foreach })],
  ];
  for (const [name, make] of makers) {
    test(`${name}: foreach (one call per device and dtype) equals per-parameter calls over 4 steps, mixed dtypes`, () => {
      const run = (foreach: boolean) => {
        const ps = [...params('float32', 7), ...params('float64', 70)].map((p) => p.requiresGrad_(true));
        const opt = make(ps, foreach);
        expect(opt.foreach).toBe(foreach);
        let calls = 0;
        const spy = (fn: string) => {
          const orig = (native as unknown as Record<string, (...a: unknown[]) => void>)[fn];
          (native as unknown as Record<string, unknown>)[fn] = (...a: unknown[]) => (calls++, orig(...a));
          return () => ((native as unknown as Record<string, unknown>)[fn] = orig);
        };
        const restore = [spy('sgdStep'), spy('adamStep'), spy('sgdStepMulti'), spy('adamStepMulti')];
        try {
          for (let t = 0; t < 4; t++) {
            opt.zeroGrad();
            ps.forEach((p, k) => {
              // parameter 1 has no gradient in step 2: skipped, as PyTorch does
              if (!(k === 1 && t === 2)) p.grad = randn(p.shape, 1000 * k + t, p.dtype);
            });
            opt.step();
          }
        } finally {
          restore.forEach((r) => r());
        }
        return { values: bits(ps.map((p) => p.detach())), calls, state: opt.stateDict() };
      };
      const single = run(false);
      const multi = run(true);
      expect(multi.values).toEqual(single.values);
      expect(single.calls).toBe(4 * 2 * SHAPES.length - 1);
      expect(multi.calls).toBe(4 * 2); // one per dtype per step
      const stateBits = (sd: tn.optim.OptimizerStateDict) =>
        Object.values(sd.state).map((st) => Object.entries(st).map(([k, v]) => [k, v instanceof Tensor ? bits([v]) : v]));
      expect(stateBits(multi.state)).toEqual(stateBits(single.state));
    });
  }

  test.each([
    ['the default (foreach null): one multi-tensor call', null, [0, 1]],
    ['foreach false: one call per parameter', false, [SHAPES.length, 0]],
  ] as [string, boolean | null, number[]][])('%s for CPU parameters', (_, foreach, calls) => {
    const ps = params('float32', 3).map((p) => p.requiresGrad_(true));
    const opt = new tn.optim.SGD(ps, { lr: 0.1, momentum: 0.9, foreach });
    expect(opt.foreach).toBe(foreach);
    let single = 0, multi = 0;
    const [a, b] = [native.sgdStep, native.sgdStepMulti];
    native.sgdStep = (...x: Parameters<typeof a>) => (single++, a(...x));
    native.sgdStepMulti = (...x: Parameters<typeof b>) => (multi++, b(...x));
    try {
      ps.forEach((p) => (p.grad = tn.onesLike(p)));
      opt.step();
    } finally {
      native.sgdStep = a;
      native.sgdStepMulti = b;
    }
    expect([single, multi]).toEqual(calls);
    expect(Object.keys(opt.stateDict().param_groups[0])).not.toContain('foreach');
  });
});

// ---------------------------------------------------------------------------------------------

describe('DataLoader pinMemory', () => {
  beforeAll(() => ensureDist(), 60000);

  class Squares extends Dataset<[Tensor, number]> {
    get length(): number {
      return 10;
    }
    get(i: number): [Tensor, number] {
      return [tn.full([2, 3], i * i), i % 3];
    }
  }

  const flat = (batches: unknown[]): unknown => batches.map((b) => (b as Tensor[]).map((t) => [t.dtype, t.shape, values(t)]));

  test('the same batches as without, for a batch path, default collate and workers; pinned where CUDA is usable', async () => {
    const x = randn([23, 1, 4, 4], 9);
    const y = tn.randint(0, 10, [23], { generator: new tn.Generator(3) });
    const sources: [string, () => tn.data.Dataset<unknown> | TensorDataset, number][] = [
      ['TensorDataset', () => new TensorDataset(x, y), 0],
      ['TensorDataset, 2 workers', () => new TensorDataset(x, y), 2],
      ['a plain dataset (default collate)', () => new Squares() as unknown as tn.data.Dataset<unknown>, 0],
    ];
    for (const [label, make, numWorkers] of sources) {
      const opts = { batchSize: 4, shuffle: true, seed: 11, numWorkers };
      const plain = [...new DataLoader(make(), opts)];
      const pinnedLoader = new DataLoader(make(), { ...opts, pinMemory: true });
      expect(pinnedLoader.pinMemory).toBe(true);
      const pinned = [...pinnedLoader];
      const pinnedAsync: unknown[] = [];
      for await (const b of new DataLoader(make(), { ...opts, pinMemory: true })) pinnedAsync.push(b);
      expect({ label, b: flat(pinned) }).toEqual({ label, b: flat(plain) });
      expect({ label, b: flat(pinnedAsync) }).toEqual({ label, b: flat(plain) });
      for (const b of [...pinned, ...pinnedAsync] as Tensor[][]) {
        for (const t of b) {
          expect(t.device).toBe('cpu');
          expect({ label, pinned: t.isPinned() }).toEqual({ label, pinned: hasCuda });
        }
      }
    }
    expect(() => new DataLoader(new Squares(), { pinMemory: 1 as unknown as boolean })).toThrow('DataLoader: pinMemory must be a boolean but received 1');
  });
});

// ---------------------------------------------------------------------------------------------
// the CUDA side (a GPU machine)

describe('on a CUDA device', () => {
  itCuda('tensile train / eval --device cuda on IDX files: both models train on the GPU, and the GPU evaluates a checkpoint as the CPU does', async () => {
    // The bundled data package need not be installed on a GPU server: synthetic IDX files, whose
    // class is the brightness of a square, so that one epoch learns something.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-cli-cuda-'));
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    const write = (prefix: string, n: number, seed: number) => {
      const img = new Uint8Array(n * 784), lab = new Uint8Array(n);
      let s = seed;
      for (let i = 0; i < n; i++) {
        lab[i] = i % 10;
        for (let j = 0; j < 784; j++) {
          s = (s * 1103515245 + 12345) >>> 0;
          const inSquare = Math.abs((j % 28) - 14) < 6 && Math.abs(Math.floor(j / 28) - 14) < 6;
          img[i * 784 + j] = inSquare ? 25 * lab[i] + (s % 20) : s % 30;
        }
      }
      fs.writeFileSync(path.join(data, `${prefix}-images-idx3-ubyte`), encodeIdx('uint8', [n, 28, 28], img));
      fs.writeFileSync(path.join(data, `${prefix}-labels-idx1-ubyte`), encodeIdx('uint8', [n], lab));
    };
    write('train', 400, 1);
    write('t10k', 200, 2);
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    const accuracy = () => Number(/test accuracy [\d.]+% \((\d+)\/200\)/.exec(out.join(''))![1]);
    try {
      for (const model of ['classic', 'standard']) {
        const runDir = path.join(dir, model);
        expect(await main(['train', '--device', 'cuda', '--model', model, '--epochs', '2', '--lr', model === 'classic' ? '0.02' : '0.003', '--data', data, '--out', runDir, '--seed', '1'])).toBe(0);
        expect(out.join('')).toMatch(new RegExp(`tensile train: ${model} model .*, cuda`));
        expect(fs.existsSync(path.join(runDir, 'best.safetensors'))).toBe(true);
        const ckpt = path.join(runDir, 'last.safetensors');
        out.length = 0;
        expect(await main(['eval', '--device', 'cuda', '--checkpoint', ckpt, '--data', data])).toBe(0);
        const onGpu = accuracy();
        out.length = 0;
        expect(await main(['eval', '--checkpoint', ckpt, '--data', data])).toBe(0);
        const onCpu = accuracy();
        // the same weights: the devices may part only on a near-tie of two logits
        expect(Math.abs(onGpu - onCpu)).toBeLessThanOrEqual(2);
        expect(onGpu).toBeGreaterThan(40); // 10 classes: chance is 20 of 200
        out.length = 0;
      }
    } finally {
      spy.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  itCuda('isAvailable, deviceCount, probe; cuda:0 is what tensors report', () => {
    expect(tn.cuda.deviceCount()).toBeGreaterThan(0);
    expect(cudaUnavailableReason()).toBe('');
    const x = tn.ones([2]).to('cuda');
    expect(x.device).toBe('cuda:0');
    expect(tn.ones([2]).cuda().device).toBe('cuda:0');
    expect(tn.zeros([2], { device: 'cuda' }).device).toBe('cuda:0');
    expect(x.to('cuda')).toBe(x);
    expect(x.to('cuda:0')).toBe(x);
    expect(String(x)).toContain("device='cuda:0'");
    const n = tn.cuda.deviceCount();
    expect(() => tn.ones([2]).to(`cuda:${n}` as tn.Device)).toThrow(new tn.DeviceError(`to: device 'cuda:${n}' is not available: this machine has ${n} CUDA device${n === 1 ? '' : 's'}`));
  });

  itCuda('round trips of every dtype, strided sources, and .to differentiable both ways', () => {
    for (const dtype of ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'] as tn.DType[]) {
      const x = tn.tensor([0, 1, 1, 0, 1, 1], { dtype }).reshape(2, 3);
      const back = x.to('cuda').to('cpu');
      expect([back.dtype, back.toArray()]).toEqual([dtype, x.toArray()]);
      expect(x.to('cuda').toArray()).toEqual(x.toArray());
    }
    const a = randn([3, 4], 1);
    expect(values(a.transpose(0, 1).to('cuda'))).toEqual(values(a.transpose(0, 1).contiguous()));
    const leaf = randn([3, 4], 2).requiresGrad_(true);
    const w = randn([3, 4], 3);
    leaf.to('cuda').mul(w.to('cuda')).sum().backward();
    expect(leaf.grad!.device).toBe('cpu');
    expect(values(leaf.grad!)).toEqual(values(w));
    const gleaf = randn([2, 2], 4).to('cuda').requiresGrad_(true);
    gleaf.to('cpu').mul(2).sum().backward();
    expect(gleaf.grad!.device).toBe('cuda:0');
    expect(values(gleaf.grad!)).toEqual([2, 2, 2, 2]);
    const d = randn([2], 5).to({ device: 'cuda', dtype: 'float64' });
    expect([d.device, d.dtype]).toEqual(['cuda:0', 'float64']);
    expect(tn.tensor(d).device).toBe('cuda:0');
    expect(tn.randint(0, 4, [3], { device: 'cuda' }).device).toBe('cuda:0');
    expect(tn.arange(4, undefined, 1, { device: 'cuda' }).toArray()).toEqual([0, 1, 2, 3]);
  });

  itCuda('memoryAllocated grows and shrinks, emptyCache gives the cache back, synchronize waits', () => {
    // Unreachable CUDA tensors of earlier tests are freed by their GC finalizers; a collection they
    // trigger between the two readings below would move memoryAllocated under the baseline.
    collectGarbage();
    tn.cuda.synchronize();
    const base = tn.cuda.memoryAllocated();
    const t = tn.empty([1 << 20], { device: 'cuda' });
    expect(tn.cuda.memoryAllocated()).toBeGreaterThanOrEqual(base + 4 * (1 << 20));
    expect(tn.cuda.memoryAllocated('cuda:0')).toBe(tn.cuda.memoryAllocated(0));
    expect(tn.cuda.maxMemoryAllocated()).toBeGreaterThanOrEqual(tn.cuda.memoryAllocated());
    expect(tn.cuda.memoryReserved()).toBeGreaterThanOrEqual(tn.cuda.memoryAllocated());
    t.dispose();
    expect(tn.cuda.memoryAllocated()).toBe(base);
    const reservedBefore = tn.cuda.memoryReserved();
    tn.cuda.emptyCache();
    expect(tn.cuda.memoryReserved()).toBeLessThan(reservedBefore);
    tn.cuda.synchronize();
    tn.cuda.synchronize(0);
    tn.cuda.synchronize('cuda');
  });

  itCuda('a deferred device error surfaces at the next synchronisation as an IndexError', () => {
    const logits = randn([4, 3], 6).to('cuda');
    const target = tn.tensor([0, 1, 7, 2]).to('cuda');
    let err: unknown = null;
    try {
      tn.F.crossEntropy(logits, target);
      tn.cuda.synchronize();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(tn.IndexError);
    expect(tn.ones([2], { device: 'cuda' }).sum().item()).toBe(2);
  });

  itCuda('indexSelect with a CUDA index: int32 and int64 gather and backward as on the CPU, with the index left on the device', () => {
    const x = randn([6, 5], 8);
    for (const dtype of ['int64', 'int32'] as tn.DType[]) {
      const idx = tn.tensor([5, 0, 3, 3, 1], { dtype });
      const xc = x.detach().requiresGrad_(true), xg = x.to('cuda').detach().requiresGrad_(true);
      const w = randn([5, 5], 9);
      const yc = xc.indexSelect(0, idx), yg = xg.indexSelect(0, idx.to('cuda'));
      yc.mul(w).sum().backward();
      yg.mul(w.to('cuda')).sum().backward();
      expect(values(yg)).toEqual(values(yc));
      expect(values(xg.grad!)).toEqual(values(xc.grad!)); // index 3 twice: two adds of exact products
    }
  });

  itCuda('indexSelect with a CUDA index out of range: an IndexError naming the first one at the next read, zeros in its row, no gradient written for it, and the device goes on', () => {
    for (const dtype of ['int64', 'int32'] as tn.DType[]) {
      const x = tn.ones([4, 3], { device: 'cuda' }).requiresGrad_(true);
      const idx = tn.tensor([1, 4, -1, 2], { dtype }).to('cuda');
      const y = x.indexSelect(0, idx); // no error yet: that would need the index on the host
      expect(() => y.to('cpu')).toThrow(new tn.IndexError('indexSelect: 2 indices are out of range for dimension 0 of size 4 (the first at position 1), found on cuda:0 when its results were next read; their rows of the result are zeros'));
      expect(y.toArray()).toEqual([[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]]);
      // the backward scatters the valid rows only (the bad ones would land outside x's gradient)
      y.sum().backward();
      expect(x.grad!.toArray()).toEqual([[0, 0, 0], [1, 1, 1], [1, 1, 1], [0, 0, 0]]);
    }
    // rows of no elements: nothing to gather, the index still checked
    const e = tn.ones([4, 0], { device: 'cuda' }).indexSelect(0, tn.tensor([5]).to('cuda'));
    expect(e.shape).toEqual([1, 0]);
    expect(() => tn.cuda.synchronize()).toThrow('indexSelect: 1 index is out of range for dimension 0 of size 4 (the first at position 0)');
    expect(tn.ones([2], { device: 'cuda' }).sum().item()).toBe(2);
  });

  itCuda('pinned round trip: pinMemory, isPinned, async copy to the device and back', () => {
    const x = randn([64, 1, 28, 28], 7);
    const p = x.pinMemory();
    expect(p.isPinned()).toBe(true);
    expect(p.pinMemory()).toBe(p);
    expect(tn.empty([3], { pinMemory: true }).isPinned()).toBe(true);
    const g = p.to({ device: 'cuda', nonBlocking: true });
    expect(values(g)).toEqual(values(x));
    expect(g.to('cpu').isPinned()).toBe(false);
    expect(() => g.pinMemory()).toThrow(tn.DeviceError);
  });

  itCuda('Module.to keeps parameter identity, moves buffers and grads; loadStateDict copies across devices', () => {
    tn.manualSeed(0);
    const m = new tn.nn.Sequential(new tn.nn.Conv2d(1, 2, 3), new tn.nn.BatchNorm2d(2));
    const params = m.parameters();
    const cpuValues = params.map(values);
    params[0].grad = tn.onesLike(params[0]);
    m.to('cuda');
    expect(m.parameters()).toEqual(params);
    expect(params.every((p) => p.device === 'cuda:0' && p.requiresGrad)).toBe(true);
    expect(params[0].grad!.device).toBe('cuda:0');
    expect(m.buffers().every((b) => b.device === 'cuda:0')).toBe(true);
    expect(params.map(values)).toEqual(cpuValues);
    const sd = new tn.nn.Sequential(new tn.nn.Conv2d(1, 2, 3), new tn.nn.BatchNorm2d(2)).stateDict();
    m.loadStateDict(sd);
    expect(params.every((p) => p.device === 'cuda:0')).toBe(true);
    expect(params.map(values)).toEqual(Object.values(sd).slice(0, params.length).map(values));
    m.cpu();
    expect(params.every((p) => p.device === 'cpu')).toBe(true);
  });

  itCuda('optimizers on CUDA: one multi-tensor call per dtype, state on the device, equal to the CPU', () => {
    const run = (device: tn.Device) => {
      const ps = SHAPES_CUDA.map((s, k) => randn(s, 40 + k).to(device).requiresGrad_(true));
      const opt = new tn.optim.Adam(ps, { lr: 0.01, amsgrad: true });
      let multi = 0;
      const orig = native.adamStepMulti;
      native.adamStepMulti = (...a: Parameters<typeof orig>) => (multi++, orig(...a));
      try {
        for (let t = 0; t < 3; t++) {
          ps.forEach((p, k) => (p.grad = randn(p.shape, 500 + 10 * k + t).to(device)));
          opt.step();
        }
      } finally {
        native.adamStepMulti = orig;
      }
      const st = opt.state.get(ps[0])!;
      expect((st.exp_avg as Tensor).device).toBe(device === 'cpu' ? 'cpu' : 'cuda:0');
      return { v: ps.map(values), multi };
    };
    const c = run('cpu');
    const g = run('cuda');
    expect(c.multi).toBe(3); // multi-tensor by default on the CPU too (foreach: null)
    expect(g.multi).toBe(3);
    g.v.forEach((v, k) => expect(v).toEqual(c.v[k]));
  });

  itCuda('DataLoader pinMemory batches are pinned and move to the device', () => {
    const ds = new TensorDataset(randn([10, 3], 1), tn.arange(10));
    for (const [x, y] of new DataLoader(ds, { batchSize: 4, pinMemory: true })) {
      expect(x.isPinned() && y.isPinned()).toBe(true);
      expect(values(x.to('cuda'))).toEqual(values(x));
    }
  });
});

const SHAPES_CUDA = [[3, 5], [7], [201, 203], [1]];
