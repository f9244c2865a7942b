// Every CUDA kernel against its CPU twin, through the public API: the same inputs go to an op on
// 'cpu' and, moved with .to('cuda'), on 'cuda'; the CUDA result comes back with .to('cpu') and the
// two are compared (float32 within a tolerance per op, float64 tight), gradients included. Some
// results must match bit for bit (dropout masks, max-pool indices, fills, casts, optimizer steps).
// Then float64 gradient checks run on the GPU, a short training run compares losses, and errors
// (out-of-memory, mixed devices) are checked by class.
//
// The classic and standard CNN of the CLI take one training step on both devices, memory stays flat
// over 100 steps, an impossible allocation is an OutOfMemoryError after which the device still
// works, and pinned DataLoader batches feed CUDA training.
//
// Without a CUDA device every test here is skipped, and the reason is printed once.
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { native } from '../../lib/native';
import { indexSelect } from '../../lib/ops/shape';
import type { Conv2dOptions } from '../../lib/ops/conv2d';
import type { AvgPool2dOptions, MaxPool2dOptions } from '../../lib/ops/pool2d';
import { expectClose } from '../helpers/gradcheck';
import { DataLoader } from '../../lib/data/dataloader';
import { TensorDataset } from '../../lib/data/dataset';
import { fit } from '../../lib/train/fit';
import { buildModel } from '../../lib/train/models';

const F = tn.F;
const hasCuda = tn.cuda.isAvailable();
const itCuda = hasCuda ? test : test.skip;

function skipReason(): string {
  const p = tn.cuda.probe();
  if (!p.compiled) return `this build has no CUDA kernels (${p.message})`;
  if (p.deviceCount === 0) return `no CUDA device (${p.errorName}: ${p.message})`;
  return 'tn.cuda.isAvailable() is false';
}
if (!hasCuda) console.log(`test/cuda/ops_cuda.test.ts: CUDA tests skipped: ${skipReason()}`);

// ---------------------------------------------------------------------------------------------
// helpers

type Tol = { atol: number; rtol: number };
const F64: Tol = { atol: 1e-12, rtol: 1e-10 };
const EXACT: Tol = { atol: 0, rtol: 0 };

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function randValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const g = new tn.Generator(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * g.random();
  return v;
}

/** A CPU tensor of the given dtype with uniform values in [lo, hi). */
function rnd(shape: number[], seed: number, dtype: tn.DType = 'float32', lo = -1, hi = 1): Tensor {
  return tn.tensor(randValues(numel(shape), seed, lo, hi), { shape, dtype });
}

/** Integer class labels in [0, C) as int64, a few set to `ignore` when given. */
function labels(n: number, C: number, seed: number, ignore?: number): Tensor {
  const g = new tn.Generator(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = ignore !== undefined && i % 5 === 3 ? ignore : Math.floor(g.random() * C);
  return tn.tensor(v, { shape: [n], dtype: 'int64' });
}

const cuda = (t: Tensor) => t.to('cuda');

function values(t: Tensor): number[] {
  const c = t.device === 'cpu' ? t : t.to('cpu');
  return Array.from(c.contiguous().data as ArrayLike<number | bigint>, (x) => Number(x));
}

function tolFor(dtype: tn.DType, f32: Tol): Tol {
  return dtype === 'float64' ? F64 : f32;
}

function expectSame(gpu: Tensor, cpu: Tensor, tol: Tol, label: string): void {
  expect(gpu.device).not.toBe('cpu');
  expect(gpu.shape).toEqual(cpu.shape);
  expect(gpu.dtype).toBe(cpu.dtype);
  if (tol.atol === 0 && tol.rtol === 0) {
    expect({ label, v: values(gpu) }).toEqual({ label, v: values(cpu) });
    return;
  }
  expectClose(values(gpu), values(cpu), tol.atol, tol.rtol, label);
}

/** Fixed random weights for reducing a non-scalar output to a loss. */
function projection(shape: readonly number[], dtype: tn.DType): Tensor {
  return tn.tensor(randValues(numel(shape), 4321), { shape: [...shape], dtype });
}

/**
 * Runs fn on CPU copies and CUDA copies of `inputs` (each input marked for grad when its index is
 * in `grads`), compares the outputs, then backpropagates sum(out * w) on both and compares the
 * gradients with tolerance `gtol` (default: tol).
 */
function compareOp(label: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], tol: Tol, grads: number[] = [], gtol?: Tol): void {
  const cpuIn = inputs.map((x, i) => (grads.includes(i) ? x.detach().clone().requiresGrad_(true) : x));
  const gpuIn = inputs.map((x, i) => (grads.includes(i) ? cuda(x.detach()).requiresGrad_(true) : cuda(x)));
  const outC = fn(...cpuIn);
  const outG = fn(...gpuIn);
  expectSame(outG, outC, tol, `${label} forward`);
  if (grads.length === 0) return;
  const w = projection(outC.shape, outC.dtype);
  outC.mul(w).sum().backward();
  outG.mul(cuda(w)).sum().backward();
  for (const i of grads) {
    expect(gpuIn[i].grad).toBeTruthy();
    expectSame(gpuIn[i].grad!, cpuIn[i].grad!, gtol ?? tol, `${label} grad of input ${i}`);
  }
}

/**
 * Float64 central differences evaluated on the GPU against the analytic gradient from CUDA
 * kernels (DESIGN.md: eps 1e-6, atol 1e-5, rtol 1e-3). At most `sample` elements per input.
 */
function gradcheckCuda(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], check: number[], sample = 40): void {
  const eps = 1e-6, atol = 1e-5, rtol = 1e-3;
  const leaves = inputs.map((x, i) => (check.includes(i) ? cuda(x.detach()).requiresGrad_(true) : cuda(x)));
  const out = fn(...leaves);
  const w = cuda(projection(out.shape, 'float64'));
  out.mul(w).sum().backward();
  const lossAt = (xs: Tensor[]) => tn.noGrad(() => fn(...xs).mul(w).sum().item());
  for (const i of check) {
    const base = inputs[i].to('float64').data as Float64Array;
    const analytic = values(leaves[i].grad!);
    const stride = Math.max(1, base.length / sample);
    for (let kk = 0; kk < base.length; kk += stride) {
      const k = Math.floor(kk);
      const at = (delta: number) => {
        const v = Float64Array.from(base);
        v[k] += delta;
        const xs = leaves.map((l, j) => (j === i ? cuda(tn.fromTypedArray(v, inputs[i].shape)) : l.detach()));
        return lossAt(xs);
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      const err = Math.abs(numeric - analytic[k]);
      if (!(err <= atol + rtol * Math.abs(numeric))) {
        throw new Error(`gradcheck on cuda: input ${i} element ${k}: analytic ${analytic[k]}, numeric ${numeric}`);
      }
    }
  }
}

const DTYPES: tn.DType[] = ['float32', 'float64'];

// ---------------------------------------------------------------------------------------------
// transfers, fills, casts, random fills

describe('cuda: transfers, fills, casts and random fills', () => {
  itCuda('a round trip cpu -> cuda -> cpu gives back every dtype bit for bit', () => {
    for (const dtype of ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'] as tn.DType[]) {
      const x = rnd([3, 7, 5], 1, 'float64', -100, 100).to(dtype);
      const y = cuda(x);
      expect(y.device).toBe('cuda:0'); // tensors report the normalised name
      expect(values(y.to('cpu'))).toEqual(values(x));
    }
  });

  itCuda('fills and casts match the CPU exactly', () => {
    for (const dtype of ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'] as tn.DType[]) {
      expectSame(tn.full([4, 33], 3, { dtype, device: 'cuda' }), tn.full([4, 33], 3, { dtype }), EXACT, `full ${dtype}`);
      expectSame(tn.zeros([0, 3], { dtype, device: 'cuda' }), tn.zeros([0, 3], { dtype }), EXACT, `empty ${dtype}`);
    }
    const x = rnd([257, 3], 2, 'float64', -300, 300);
    for (const from of ['float32', 'float64', 'int32', 'int64'] as tn.DType[])
      for (const to of ['float32', 'float64', 'int32', 'int64', 'bool'] as tn.DType[]) {
        const src = x.to(from);
        expectSame(cuda(src).to(to), src.to(to), EXACT, `cast ${from} -> ${to}`);
      }
  });

  itCuda('rand matches the CPU bit for bit for the same generator seed; randn within libm rounding', () => {
    for (const dtype of DTYPES) {
      const a = tn.rand([1001], { dtype, device: 'cuda', generator: new tn.Generator(9) });
      const b = tn.rand([1001], { dtype, generator: new tn.Generator(9) });
      expectSame(a, b, EXACT, `rand ${dtype}`);
      const c = tn.randn([1001], { dtype, device: 'cuda', generator: new tn.Generator(9) });
      const d = tn.randn([1001], { dtype, generator: new tn.Generator(9) });
      expectSame(c, d, tolFor(dtype, { atol: 1e-6, rtol: 1e-6 }), `randn ${dtype}`);
    }
  });

  itCuda('strided copies: permuted, transposed, sliced and broadcast views made contiguous', () => {
    const x = rnd([4, 5, 6, 7], 3, 'float64');
    const g = cuda(x);
    expectSame(g.permute(3, 1, 0, 2).contiguous(), x.permute(3, 1, 0, 2).contiguous(), EXACT, 'permute');
    expectSame(g.transpose(1, 3).contiguous(), x.transpose(1, 3).contiguous(), EXACT, 'transpose');
    expectSame(cuda(x.to('uint8')).transpose(0, 2).contiguous(), x.to('uint8').transpose(0, 2).contiguous(), EXACT, 'uint8 transpose');
    const idx = tn.tensor([3, 0, 3, 1], { dtype: 'int64' });
    expectSame(indexSelect(g, 1, cuda(idx)), indexSelect(x, 1, idx), EXACT, 'indexSelect');
  });
});

// ---------------------------------------------------------------------------------------------
// element-wise and reductions

describe('cuda: element-wise ops and reductions', () => {
  itCuda.each(DTYPES)('unary maps (%s)', (dtype) => {
    const x = rnd([3, 129], 4, dtype, -3, 3);
    const pos = rnd([3, 129], 5, dtype, 0.1, 4);
    const t = tolFor(dtype, { atol: 1e-6, rtol: 2e-6 });
    const unary: [string, (a: Tensor) => Tensor, Tensor][] = [
      ['neg', (a) => a.neg(), x], ['exp', (a) => a.exp(), x], ['log', (a) => a.log(), pos], ['sqrt', (a) => a.sqrt(), pos],
      ['abs', (a) => a.abs(), x], ['square', (a) => a.square(), x], ['pow 2.5', (a) => a.pow(2.5), pos],
      ['clamp', (a) => a.clamp(-1, 0.5), x], ['relu', (a) => a.relu(), x], ['sigmoid', (a) => a.sigmoid(), x],
      ['tanh', (a) => a.tanh(), x], ['mul scalar', (a) => a.mul(1.7), x], ['add scalar', (a) => a.add(0.3), x],
    ];
    for (const [name, fn, inp] of unary) compareOp(`${name} ${dtype}`, fn, [inp], t, [0]);
  });

  itCuda.each(DTYPES)('broadcasting binary maps and comparisons (%s)', (dtype) => {
    const t = tolFor(dtype, { atol: 1e-6, rtol: 2e-6 });
    const shapes: [number[], number[]][] = [[[5, 7], [5, 7]], [[5, 1], [1, 7]], [[2, 3, 4], [4]], [[1], [3, 1, 2]], [[6, 1, 5], [6, 4, 1]]];
    for (const [sa, sb] of shapes) {
      const a = rnd(sa, 6, dtype), b = rnd(sb, 7, dtype, 0.5, 2);
      for (const [name, fn] of [
        ['add', (p: Tensor, q: Tensor) => p.add(q)], ['sub', (p: Tensor, q: Tensor) => p.sub(q)],
        ['mul', (p: Tensor, q: Tensor) => p.mul(q)], ['div', (p: Tensor, q: Tensor) => p.div(q)],
        ['maximum', (p: Tensor, q: Tensor) => p.maximum(q)], ['minimum', (p: Tensor, q: Tensor) => p.minimum(q)],
      ] as [string, (p: Tensor, q: Tensor) => Tensor][])
        compareOp(`${name} ${sa}x${sb} ${dtype}`, fn, [a, b], t, [0, 1]);
      compareOp(`pow ${sa}x${sb}`, (p, q) => p.abs().add(0.1).pow(q), [a, b], tolFor(dtype, { atol: 1e-5, rtol: 1e-5 }), [0, 1]);
      for (const cmp of ['eq', 'lt', 'gt'] as const)
        compareOp(`${cmp} ${sa}x${sb}`, (p, q) => p[cmp](q), [a, b.sub(1)], EXACT);
    }
  });

  itCuda.each(DTYPES)('where selects through broadcasts, and never lets the other branch in (%s)', (dtype) => {
    const cond = rnd([5, 1, 7], 9, 'float64').gt(0);
    // forward bit for bit; the gradients sum over the broadcast dims, in another order on the GPU
    compareOp('where', (c, p, q) => tn.where(c, p, q), [cond, rnd([1, 6, 7], 10, dtype), rnd([5, 6, 1], 11, dtype)], EXACT, [1, 2],
      tolFor(dtype, { atol: 1e-6, rtol: 1e-6 }));
    const inf = tn.full([5, 6, 7], Infinity, { dtype });
    compareOp('where with inf', (c, p, q) => tn.where(c, p, q), [cond, rnd([1, 6, 7], 12, dtype), inf], EXACT);
  });

  itCuda.each(DTYPES)('sum, mean, max, min, argmax over every dim and all (%s)', (dtype) => {
    const t = tolFor(dtype, { atol: 1e-5, rtol: 1e-5 });
    for (const shape of [[7, 33, 5], [2, 3000], [40000], [1, 1, 1], [64, 40]]) {
      const x = rnd(shape, 8, dtype);
      compareOp(`sum all ${shape}`, (a) => a.sum(), [x], t, [0]);
      compareOp(`mean all ${shape}`, (a) => a.mean(), [x], t, [0]);
      for (let d = 0; d < shape.length; d++) {
        compareOp(`sum dim ${d} ${shape}`, (a) => a.sum(d), [x], t, [0]);
        compareOp(`mean dim ${d} keepdim ${shape}`, (a) => a.mean(d, true), [x], t, [0]);
        const mg = cuda(x).max(d), mc = x.max(d);
        expectSame(mg.values, mc.values, EXACT, `max values dim ${d} ${shape}`);
        expectSame(mg.indices, mc.indices, EXACT, `max indices dim ${d} ${shape}`);
        const ng = cuda(x).min(d), nc = x.min(d);
        expectSame(ng.indices, nc.indices, EXACT, `min indices dim ${d} ${shape}`);
        expectSame(cuda(x).argmax(d), x.argmax(d), EXACT, `argmax dim ${d} ${shape}`);
      }
    }
  });

  itCuda('ties go to the first index and NaN wins, as on the CPU; integer reductions', () => {
    const x = tn.tensor([[1, 3, 3, 0], [NaN, 2, NaN, 5], [0, -0, 0, 0]], { dtype: 'float32' });
    expectSame(cuda(x).argmax(1), x.argmax(1), EXACT, 'argmax ties and NaN');
    expectSame(cuda(x).max(1).values, x.max(1).values, EXACT, 'max NaN');
    expectSame(cuda(x).argmin(0), x.argmin(0), EXACT, 'argmin');
    const big = tn.tensor(Float64Array.from({ length: 5000 }, (_, i) => (i * 7919) % 4999), { shape: [5000], dtype: 'int64' });
    expectSame(cuda(big).sum(), big.sum(), EXACT, 'int64 sum');
    expectSame(cuda(big).argmax(), big.argmax(), EXACT, 'int64 argmax over a long row (split reduction)');
  });
});

// ---------------------------------------------------------------------------------------------
// GEMM

describe('cuda: matmul and linear (tiled GEMM)', () => {
  const cases: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [64, 64, 64], [65, 129, 31], [200, 300, 250], [1, 1000, 3], [1000, 2, 1], [10, 20, 4000], [257, 255, 9]];

  itCuda.each(DTYPES)('matmul with every transpose combination against the CPU (%s)', (dtype) => {
    for (const [M, K, N] of cases) {
      // FMA accumulation in another order: float32 error grows like sqrt(K).
      const t = tolFor(dtype, { atol: 2e-6 * Math.sqrt(K) * 4, rtol: 1e-4 });
      const a = rnd([M, K], 10 + M, dtype), b = rnd([K, N], 20 + N, dtype);
      compareOp(`matmul ${M}x${K}x${N}`, (p, q) => p.matmul(q), [a, b], t, [0, 1]);
      compareOp(`matmul A^T ${M}x${K}x${N}`, (p, q) => p.transpose(0, 1).matmul(q), [a.transpose(0, 1).contiguous(), b], t, [0, 1]);
      compareOp(`matmul B^T ${M}x${K}x${N}`, (p, q) => p.matmul(q.transpose(0, 1)), [a, b.transpose(0, 1).contiguous()], t, [0, 1]);
    }
  });

  itCuda.each(DTYPES)('batched matmul, broadcast batches and linear with bias (%s)', (dtype) => {
    const t = tolFor(dtype, { atol: 1e-4, rtol: 1e-4 });
    compareOp('bmm', (p, q) => p.matmul(q), [rnd([6, 17, 33], 30, dtype), rnd([6, 33, 9], 31, dtype)], t, [0, 1]);
    compareOp('broadcast batch', (p, q) => p.matmul(q), [rnd([2, 3, 17, 33], 32, dtype), rnd([33, 9], 33, dtype)], t, [0, 1]);
    compareOp('linear', (x, w, b) => F.linear(x, w, b), [rnd([20, 500], 34, dtype), rnd([10, 500], 35, dtype), rnd([10], 36, dtype)], t, [0, 1, 2]);
  });

  itCuda('TF32 tensor cores are opt-in (tn.backends.cuda.allowTF32) and stay within TF32 rounding', () => {
    const a = rnd([300, 256], 40), b = rnd([256, 200], 41);
    const ref = a.to('float64').matmul(b.to('float64'));
    const prev = tn.backends.cuda.allowTF32;
    try {
      tn.backends.cuda.allowTF32 = false;
      expectClose(values(cuda(a).matmul(cuda(b))), values(ref), 1e-4, 1e-4, 'float32 FMA');
      tn.backends.cuda.allowTF32 = true;
      // TF32 keeps 10 mantissa bits: products are off by ~2^-11 relative, sums of 256 of them by ~1e-2.
      expectClose(values(cuda(a).matmul(cuda(b))), values(ref), 3e-2, 1e-2, 'TF32');
    } finally {
      tn.backends.cuda.allowTF32 = prev;
    }
  });
});

// ---------------------------------------------------------------------------------------------
// conv2d

describe('cuda: conv2d forward and the three backward kernels', () => {
  // [name, input shape, weight shape, options]
  const configs: [string, number[], number[], Conv2dOptions][] = [
    ['3x3 plain', [2, 3, 9, 8], [5, 3, 3, 3], {}],
    ['classic 1->10 on 28x28', [4, 1, 28, 28], [10, 1, 3, 3], {}],
    ['stride 2, padding 1', [2, 4, 11, 10], [6, 4, 3, 3], { stride: 2, padding: 1 }],
    ['asymmetric kernel, stride, padding', [2, 3, 10, 12], [4, 3, 2, 5], { stride: [2, 1], padding: [1, 2] }],
    ['dilation 2', [1, 2, 12, 11], [3, 2, 3, 3], { dilation: 2, padding: 2 }],
    ['groups 2', [2, 4, 7, 7], [6, 2, 3, 3], { groups: 2, padding: 1 }],
    ['depthwise', [2, 6, 8, 8], [6, 1, 3, 3], { groups: 6, padding: 1 }],
    ['1x1 (no im2col)', [3, 8, 5, 6], [7, 8, 1, 1], {}],
    ['1x1 grouped', [2, 8, 5, 5], [4, 2, 1, 1], { groups: 4 }],
    ['1x1 stride 2', [2, 4, 7, 7], [3, 4, 1, 1], { stride: 2 }],
    ['padding same, even kernel', [1, 2, 6, 6], [2, 2, 4, 4], { padding: 'same' }],
    ['many images (weight gradient split over K)', [64, 3, 16, 16], [8, 3, 3, 3], { padding: 1 }],
  ];

  itCuda.each(DTYPES)('every configuration, with and without bias (%s)', (dtype) => {
    for (const [name, xs, ws, opts] of configs)
      for (const withBias of [true, false]) {
        const x = rnd(xs, 50, dtype), w = rnd(ws, 51, dtype, -0.5, 0.5), b = rnd([ws[0]], 52, dtype);
        const K = ws[1] * ws[2] * ws[3];
        const t = tolFor(dtype, { atol: 1e-5 * Math.sqrt(K + 1) * 4, rtol: 1e-4 });
        const gt = tolFor(dtype, { atol: 1e-4 * Math.sqrt(xs[0] * xs[2] * xs[3]), rtol: 1e-4 });
        if (withBias) compareOp(`conv2d ${name} bias`, (p, q, r) => F.conv2d(p, q, r, opts), [x, w, b], t, [0, 1, 2], gt);
        else compareOp(`conv2d ${name}`, (p, q) => F.conv2d(p, q, null, opts), [x, w], t, [0, 1], gt);
      }
  });
});

// ---------------------------------------------------------------------------------------------
// pooling

describe('cuda: pooling', () => {
  itCuda.each(DTYPES)('max pooling: values and indices bit for bit, gradients through the indices (%s)', (dtype) => {
    const cases: [number[], number | number[], MaxPool2dOptions][] = [
      [[2, 3, 8, 8], 2, {}],
      [[20, 10, 26, 26], 2, {}],
      [[1, 2, 9, 7], 3, { stride: 2, padding: 1 }],
      [[2, 1, 11, 11], [3, 2], { stride: [2, 3], padding: [1, 1], dilation: [2, 1] }],
      [[1, 2, 5, 5], 2, { stride: 2, padding: 1, ceilMode: true }],
      [[3, 6, 6], 3, { stride: 1 }], // overlapping windows: atomics add in any order
    ];
    for (const [shape, k, opts] of cases) {
      const x = rnd(shape, 60, dtype);
      const rg = F.maxPool2d(cuda(x), k, { ...opts, returnIndices: true as const });
      const rc = F.maxPool2d(x, k, { ...opts, returnIndices: true as const });
      expectSame(rg.output, rc.output, EXACT, `maxPool2d ${shape} values`);
      expectSame(rg.indices, rc.indices, EXACT, `maxPool2d ${shape} indices`);
      compareOp(`maxPool2d ${shape}`, (a) => F.maxPool2d(a, k, { ...opts, returnIndices: false }), [x], EXACT, [0], tolFor(dtype, { atol: 1e-6, rtol: 1e-6 }));
    }
  });

  itCuda.each(DTYPES)('average and adaptive average pooling (%s)', (dtype) => {
    const avg: [number[], number | number[], AvgPool2dOptions][] = [
      [[2, 3, 8, 8], 2, {}],
      [[1, 2, 9, 7], 3, { stride: 2, padding: 1 }],
      [[1, 2, 9, 7], 3, { stride: 2, padding: 1, countIncludePad: false }],
      [[1, 1, 6, 6], 3, { stride: 2, padding: 1, ceilMode: true }],
      [[2, 2, 7, 9], [3, 2], { stride: [2, 3], padding: [1, 0], divisorOverride: 5 }],
      [[2, 5, 5], 3, { stride: 1 }],
    ];
    // Forward sums in double in the CPU's order and the backward gathers in the CPU's order: exact.
    for (const [shape, k, opts] of avg) compareOp(`avgPool2d ${shape} ${JSON.stringify(opts)}`, (a) => F.avgPool2d(a, k, opts), [rnd(shape, 61, dtype)], EXACT, [0]);
    for (const [shape, out] of [[[2, 3, 10, 10], [3, 3]], [[1, 2, 7, 5], [4, 3]], [[2, 4, 6, 6], [1, 1]], [[1, 1, 5, 9], [5, 9]], [[1, 1, 3, 3], [7, 6]]] as [number[], number[]][])
      compareOp(`adaptiveAvgPool2d ${shape} -> ${out}`, (a) => F.adaptiveAvgPool2d(a, out), [rnd(shape, 62, dtype)], EXACT, [0]);
  });
});

// ---------------------------------------------------------------------------------------------
// activations and dropout

describe('cuda: activations and dropout', () => {
  itCuda.each(DTYPES)('relu, leaky relu, sigmoid, tanh forward and backward (%s)', (dtype) => {
    const x = rnd([7, 1031], 70, dtype, -4, 4);
    compareOp('relu', (a) => F.relu(a), [x], EXACT, [0]);
    compareOp('leakyRelu', (a) => F.leakyRelu(a, 0.2), [x], EXACT, [0]);
    compareOp('leakyRelu negative slope', (a) => F.leakyRelu(a, -1.5), [x], EXACT, [0]);
    // the gradients g * (1 - y^2) and g * y * (1 - y) cancel where y is near 1: a last-bit difference
    // in y (CUDA's tanhf/expf vs libm) becomes ~1e-7 absolute there
    const act = tolFor(dtype, { atol: 1e-7, rtol: 1e-6 }), actGrad = tolFor(dtype, { atol: 5e-7, rtol: 1e-6 });
    compareOp('sigmoid', (a) => F.sigmoid(a), [x], act, [0], actGrad);
    compareOp('tanh', (a) => F.tanh(a), [x], act, [0], actGrad);
  });

  itCuda.each(DTYPES)('dropout: the mask from a seed is the CPU mask, element for element (%s)', (dtype) => {
    const x = rnd([33, 65], 71, dtype, 0.5, 2);
    for (const p of [0.1, 0.5, 0.9]) {
      const yc = F.dropout(x.detach().clone().requiresGrad_(true), { p, generator: new tn.Generator(123) });
      const xg = cuda(x.detach()).requiresGrad_(true);
      const yg = F.dropout(xg, { p, generator: new tn.Generator(123) });
      expectSame(yg, yc, EXACT, `dropout p=${p}`);
      yg.sum().backward();
      const dropped = values(yc).map((v) => (v === 0 ? 0 : 1));
      expect(values(xg.grad!).map((v) => (v === 0 ? 0 : 1))).toEqual(dropped);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// batch norm

describe('cuda: batch norm', () => {
  itCuda.each(DTYPES)('training and eval, with and without affine parameters, running statistics updated (%s)', (dtype) => {
    const t = tolFor(dtype, { atol: 2e-5, rtol: 1e-4 });
    for (const shape of [[8, 3, 5, 5], [16, 4], [6, 5, 7], [2, 3, 1, 1], [64, 2, 30, 30]]) {
      const C = shape[1];
      const x = rnd(shape, 80, dtype, -2, 3);
      const w = rnd([C], 81, dtype, 0.5, 1.5), b = rnd([C], 82, dtype);
      for (const affine of [true, false])
        for (const training of [true, false]) {
          const rmC = rnd([C], 83, dtype), rvC = rnd([C], 84, dtype, 0.5, 2);
          const rmG = cuda(rmC), rvG = cuda(rvC);
          const run = (rm: Tensor, rv: Tensor) => (p: Tensor, q: Tensor, r: Tensor) =>
            F.batchNorm(p, rm, rv, affine ? q : null, affine ? r : null, { training, momentum: 0.2, eps: 1e-5 });
          const inputs = [x, w, b];
          const outC = run(rmC, rvC)(...inputs.map((v) => v.detach().clone().requiresGrad_(true)) as [Tensor, Tensor, Tensor]);
          const outG = run(rmG, rvG)(...inputs.map((v) => cuda(v.detach()).requiresGrad_(true)) as [Tensor, Tensor, Tensor]);
          expectSame(outG, outC, t, `batchNorm ${shape} affine=${affine} training=${training}`);
          expectSame(rmG, rmC, t, 'running mean');
          expectSame(rvG, rvC, t, 'running var');
          const rm2 = rnd([C], 83, dtype), rv2 = rnd([C], 84, dtype, 0.5, 2);
          compareOp(`batchNorm grads ${shape} affine=${affine} training=${training}`, (p, q, r) => {
            // fresh running stats per device call, so both runs update copies of the same values
            const [rm, rv] = p.device === 'cpu' ? [rm2.clone(), rv2.clone()] : [cuda(rm2), cuda(rv2)];
            return run(rm, rv)(p, q, r);
          }, inputs, t, affine ? [0, 1, 2] : [0], tolFor(dtype, { atol: 1e-4, rtol: 1e-3 }));
        }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// losses

describe('cuda: softmax, cross-entropy, nll and regression losses', () => {
  itCuda.each(DTYPES)('logSoftmax and softmax along every dim (%s)', (dtype) => {
    const t = tolFor(dtype, { atol: 1e-6, rtol: 1e-5 });
    for (const shape of [[20, 10], [3, 1000], [2, 5, 4, 3], [7]]) {
      const x = rnd(shape, 90, dtype, -5, 5);
      for (let d = 0; d < shape.length; d++) {
        compareOp(`logSoftmax ${shape} dim ${d}`, (a) => F.logSoftmax(a, d), [x], t, [0]);
        compareOp(`softmax ${shape} dim ${d}`, (a) => F.softmax(a, d), [x], t, [0]);
      }
    }
  });

  itCuda.each(DTYPES)('crossEntropy and nllLoss with every option, [N, C] and [N, C, H, W] (%s)', (dtype) => {
    const t = tolFor(dtype, { atol: 1e-5, rtol: 1e-5 });
    const C = 7;
    const inputs: [number[], number[]][] = [[[20, C], [20]], [[3, C, 4, 5], [3, 4, 5]]];
    for (const [xs, ts] of inputs)
      for (const reduction of ['mean', 'sum', 'none'] as const)
        for (const weighted of [false, true])
          for (const smoothing of [0, 0.1])
            for (const ignore of [undefined, 2]) {
              const x = rnd(xs, 91, dtype, -3, 3);
              const y = labels(numel(ts), C, 92, ignore).reshape(ts);
              const weight = weighted ? rnd([C], 93, dtype, 0.2, 2) : null;
              const opts = { reduction, weight, ignoreIndex: ignore ?? -100, labelSmoothing: smoothing };
              const label = `${xs} ${reduction} weighted=${weighted} smoothing=${smoothing} ignore=${ignore}`;
              compareOp(`crossEntropy ${label}`, (a, tgt, wt) => F.crossEntropy(a, tgt, { ...opts, weight: weighted ? wt : null }), [x, y, weight ?? rnd([C], 1, dtype)], t, [0]);
              if (smoothing === 0)
                compareOp(`nllLoss ${label}`, (a, tgt, wt) => F.nllLoss(F.logSoftmax(a, 1), tgt, { ...opts, weight: weighted ? wt : null }), [x, y, weight ?? rnd([C], 1, dtype)], t, [0]);
            }
    // int32 targets take the same kernels.
    compareOp('crossEntropy int32 targets', (a, tgt) => F.crossEntropy(a, tgt), [rnd([9, C], 94, dtype), labels(9, C, 95).to('int32')], t, [0]);
    // every target ignored: mean is 0/0 = NaN on both
    const allIgnored = tn.full([4], 1, { dtype: 'int64' });
    expect(Number.isNaN(F.crossEntropy(cuda(rnd([4, C], 96, dtype)), cuda(allIgnored), { ignoreIndex: 1 }).item())).toBe(true);
  });

  itCuda.each(DTYPES)('mse, l1 and smooth l1 with every reduction (%s)', (dtype) => {
    const t = tolFor(dtype, { atol: 1e-6, rtol: 1e-5 });
    const a = rnd([17, 33], 97, dtype, -2, 2), b = rnd([17, 33], 98, dtype, -2, 2);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      compareOp(`mseLoss ${reduction}`, (p, q) => F.mseLoss(p, q, { reduction }), [a, b], t, [0, 1]);
      compareOp(`l1Loss ${reduction}`, (p, q) => F.l1Loss(p, q, { reduction }), [a, b], t, [0, 1]);
      for (const beta of [0, 0.5, 1])
        compareOp(`smoothL1Loss beta ${beta} ${reduction}`, (p, q) => F.smoothL1Loss(p, q, { beta, reduction }), [a, b], t, [0, 1]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// optimizers: the multi-tensor steps equal the CPU steps bit for bit

describe('cuda: optimizer steps', () => {
  const SHAPES = [[3, 5], [7], [2, 3, 1, 3], [201, 203], [1]];

  type Stepper = { zeroGrad(): void; step(): void };

  function runSteps(device: 'cpu' | 'cuda', dtype: tn.DType, make: (ps: Tensor[]) => Stepper, steps: number): number[][] {
    const params = SHAPES.map((s, k) => {
      const p = rnd(s, 100 + k, dtype);
      return (device === 'cpu' ? p : cuda(p)).requiresGrad_(true);
    });
    const opt = make(params);
    for (let t = 0; t < steps; t++) {
      opt.zeroGrad();
      params.forEach((p, k) => {
        const g = rnd(SHAPES[k], 1000 * k + t, dtype, -2, 2).mul(steps - t);
        p.grad = device === 'cpu' ? g : cuda(g);
      });
      opt.step();
    }
    return params.map((p) => values(p.detach()));
  }

  const makers: [string, (ps: Tensor[]) => Stepper][] = [
    ['SGD', (ps) => new tn.optim.SGD(ps, { lr: 0.1 })],
    ['SGD momentum nesterov wd', (ps) => new tn.optim.SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
    ['SGD momentum dampening maximize', (ps) => new tn.optim.SGD(ps, { lr: 0.05, momentum: 0.8, dampening: 0.3, maximize: true })],
    ['Adam', (ps) => new tn.optim.Adam(ps, { lr: 0.01 })],
    ['Adam amsgrad wd', (ps) => new tn.optim.Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 0.1 })],
    ['AdamW', (ps) => new tn.optim.AdamW(ps, { lr: 0.02, weightDecay: 0.3, betas: [0.8, 0.95] })],
    ['AdamW amsgrad maximize', (ps) => new tn.optim.AdamW(ps, { lr: 0.01, amsgrad: true, maximize: true })],
  ];

  for (const dtype of DTYPES)
    for (const [name, make] of makers)
      itCuda(`${name} (${dtype}) over 5 steps equals the CPU exactly`, () => {
        const c = runSteps('cpu', dtype, make, 5);
        const g = runSteps('cuda', dtype, make, 5);
        g.forEach((v, k) => expect({ param: k, v }).toEqual({ param: k, v: c[k] }));
      });
});

// ---------------------------------------------------------------------------------------------
// float64 gradient checks computed on the GPU

describe('cuda: float64 gradient checks on the device', () => {
  const d = 'float64';
  itCuda('conv2d with stride, padding, dilation and groups', () => {
    gradcheckCuda((x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 1 }), [rnd([2, 2, 5, 6], 1, d), rnd([3, 2, 3, 3], 2, d), rnd([3], 3, d)], [0, 1, 2]);
    gradcheckCuda((x, w) => F.conv2d(x, w, null, { dilation: 2, padding: 2, groups: 2 }), [rnd([1, 4, 6, 5], 4, d), rnd([4, 2, 3, 2], 5, d)], [0, 1]);
    gradcheckCuda((x, w) => F.conv2d(x, w), [rnd([2, 3, 4, 4], 6, d), rnd([2, 3, 1, 1], 7, d)], [0, 1]);
  });
  itCuda('linear and matmul', () => {
    gradcheckCuda((x, w, b) => F.linear(x, w, b), [rnd([5, 7], 8, d), rnd([3, 7], 9, d), rnd([3], 10, d)], [0, 1, 2]);
    gradcheckCuda((a, b) => a.matmul(b), [rnd([2, 4, 3], 11, d), rnd([3, 5], 12, d)], [0, 1]);
  });
  itCuda('pooling', () => {
    // distinct values so that max pooling has no ties within eps
    const x = tn.tensor(Float64Array.from({ length: 2 * 7 * 6 }, (_, i) => ((i * 37) % 84) * 0.01), { shape: [1, 2, 7, 6], dtype: d });
    gradcheckCuda((a) => F.maxPool2d(a, 3, { stride: 2, padding: 1 }), [x], [0]);
    gradcheckCuda((a) => F.avgPool2d(a, 3, { stride: 2, padding: 1, countIncludePad: false }), [rnd([1, 2, 7, 6], 13, d)], [0]);
    gradcheckCuda((a) => F.adaptiveAvgPool2d(a, [3, 4]), [rnd([1, 2, 7, 6], 14, d)], [0]);
  });
  itCuda('batch norm in training mode', () => {
    gradcheckCuda((x, w, b) => F.batchNorm(x, null, null, w, b, { training: true }), [rnd([4, 3, 2, 2], 15, d), rnd([3], 16, d), rnd([3], 17, d)], [0, 1, 2]);
  });
  itCuda('losses and activations', () => {
    const y = cuda(labels(6, 5, 18, 1));
    gradcheckCuda((x) => F.crossEntropy(x, y, { labelSmoothing: 0.1, ignoreIndex: 1, weight: cuda(rnd([5], 19, d, 0.5, 2)) }), [rnd([6, 5], 20, d)], [0]);
    gradcheckCuda((x) => F.logSoftmax(x, 1), [rnd([3, 4, 5], 21, d)], [0]);
    gradcheckCuda((x, t) => F.smoothL1Loss(x, t, { beta: 0.5 }), [rnd([4, 6], 22, d), rnd([4, 6], 23, d)], [0, 1]);
    gradcheckCuda((x) => F.sigmoid(x).mul(F.tanh(x)), [rnd([4, 6], 24, d)], [0]);
  });
});

// ---------------------------------------------------------------------------------------------
// end to end, memory and errors

describe('cuda: training, memory and errors', () => {
  itCuda('a small CNN trains on cuda with the losses of the CPU run', () => {
    const build = () => {
      tn.manualSeed(0);
      return new tn.nn.Sequential(
        new tn.nn.Conv2d(1, 4, 3), new tn.nn.ReLU(), new tn.nn.MaxPool2d(2),
        new tn.nn.Conv2d(4, 8, 3), new tn.nn.BatchNorm2d(8), new tn.nn.ReLU(), new tn.nn.MaxPool2d(2),
        new tn.nn.Flatten(), new tn.nn.Linear(8 * 5 * 5, 10),
      );
    };
    const x = rnd([16, 1, 28, 28], 200), y = labels(16, 10, 201);
    const run = (device: 'cpu' | 'cuda') => {
      const model = build().to(device);
      const opt = new tn.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const crit = new tn.nn.CrossEntropyLoss();
      const losses: number[] = [];
      for (let step = 0; step < 5; step++) {
        opt.zeroGrad();
        const loss = crit.forward(model.forward(x.to(device)), y.to(device));
        loss.backward();
        opt.step();
        losses.push(loss.item());
      }
      return losses;
    };
    const lc = run('cpu'), lg = run('cuda');
    expectClose(lg, lc, 1e-4, 1e-3, 'losses');
    expect(lg[4]).toBeLessThan(lg[0]);
  });

  itCuda('an allocation larger than the device raises OutOfMemoryError with the sizes, and the device stays usable', () => {
    expect(() => tn.empty([2 ** 40], { device: 'cuda' })).toThrow(tn.OutOfMemoryError);
    expect(() => tn.empty([2 ** 40], { device: 'cuda' })).toThrow(/out of memory.*tried to allocate/i);
    expect(tn.ones([3], { device: 'cuda' }).sum().item()).toBe(3);
  });

  itCuda('mixing devices in one op is a DeviceError naming the op', () => {
    expect(() => cuda(tn.ones([2])).add(tn.ones([2]))).toThrow(tn.DeviceError);
    expect(() => F.conv2d(cuda(tn.ones([1, 1, 4, 4])), tn.ones([1, 1, 3, 3]))).toThrow(/conv2d/);
  });
});

// ---------------------------------------------------------------------------------------------
// training steps of the CLI's models, allocator reuse, out-of-memory, pinned batches

describe('cuda: the classic and standard CNN, memory over a run, pinned batches', () => {
  type Step = { loss: number; grads: number[][]; params: number[][]; gradAbs: number[][] };

  /** One step (zeroGrad, forward, loss, backward, step) of `name` on `device` from seed 0's initial weights. */
  function oneStep(name: 'classic' | 'standard', device: 'cpu' | 'cuda', x: Tensor, y: Tensor): Step {
    tn.manualSeed(0);
    const model = buildModel(name).to(device);
    const params = model.parameters();
    const opt = name === 'classic' ? new tn.optim.SGD(params, { lr: 0.05, momentum: 0.9 }) : new tn.optim.Adam(params, { lr: 1e-3 });
    tn.manualSeed(1); // the dropout mask of the standard model (the same bits on both devices)
    opt.zeroGrad();
    const loss = new tn.nn.CrossEntropyLoss().forward(model.forward(x.to(device)), y.to(device));
    loss.backward();
    const grads = params.map((p) => values(p.grad!));
    opt.step();
    return { loss: loss.item(), grads, params: params.map((p) => values(p.detach())), gradAbs: grads.map((g) => g.map(Math.abs)) };
  }

  for (const name of ['classic', 'standard'] as const) {
    itCuda(`${name}: one training step on cuda equals the CPU step (loss, gradients, updated weights)`, () => {
      const batch = name === 'classic' ? 20 : 64;
      const x = rnd([batch, 1, 28, 28], 300);
      const y = labels(batch, 10, 301);
      const c = oneStep(name, 'cpu', x, y);
      const g = oneStep(name, 'cuda', x, y);
      expect(Math.abs(g.loss - c.loss)).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(c.loss));
      g.grads.forEach((v, k) => expectClose(v, c.grads[k], 1e-5, 1e-3, `${name} grad of parameter ${k}`));
      if (name === 'classic') {
        g.params.forEach((v, k) => expectClose(v, c.params[k], 1e-6, 1e-4, `${name} parameter ${k} after the step`));
      } else {
        // Adam's first step moves each weight by about lr * sign(grad): where a gradient is within
        // float32 noise of 0 its sign is not defined, so compare those within 2 lr, the others tightly.
        g.params.forEach((v, k) => {
          const tight = v.map((_, i) => c.gradAbs[k][i] > 1e-5);
          expectClose(v.filter((_, i) => tight[i]), c.params[k].filter((_, i) => tight[i]), 1e-6, 1e-4, `${name} parameter ${k} after the step`);
          expectClose(v, c.params[k], 2e-3, 0, `${name} parameter ${k} after the step (all)`);
        });
      }
    });
  }

  itCuda('memoryReserved levels off over a long run (no dispose calls): no per-step leak', () => {
    // Dead tensors go back to the cache when V8 collects them (device bytes count as external memory),
    // so the reserve grows until it holds the garbage of one collection cycle (a few tens of steps of
    // this model), then stays. A leak of anything per step (one batch's gradients: ~2 MiB a step,
    // its activations: ~20 MiB) would add hundreds of MiB over the second half.
    const retriesBefore = tn.cuda.memoryStats().numAllocRetries;
    tn.manualSeed(0);
    const model = buildModel('standard').to('cuda');
    const opt = new tn.optim.Adam(model.parameters(), { lr: 1e-3 });
    const crit = new tn.nn.CrossEntropyLoss();
    const xs = rnd([512, 1, 28, 28], 400).to('cuda');
    const ys = labels(512, 10, 401).to('cuda');
    const step = (i: number) => {
      const idx = tn.arange((i % 8) * 64, (i % 8) * 64 + 64).to('cuda');
      opt.zeroGrad();
      const loss = crit.forward(model.forward(xs.indexSelect(0, idx)), ys.indexSelect(0, idx));
      loss.backward();
      opt.step();
      return loss.item();
    };
    for (let i = 0; i < 300; i++) step(i);
    const warm = tn.cuda.memoryReserved();
    let peak = warm;
    for (let i = 0; i < 300; i++) {
      step(i);
      peak = Math.max(peak, tn.cuda.memoryReserved());
    }
    expect(peak).toBeLessThanOrEqual(warm + (16 << 20));
    expect(warm).toBeLessThan(512 << 20);
    expect(tn.cuda.memoryStats().numAllocRetries).toBe(retriesBefore);
  });

  itCuda('tn.empty([2**40], { device: "cuda" }): OutOfMemoryError with the sizes after one retry; the device goes on working', () => {
    const before = tn.cuda.memoryStats().numAllocRetries;
    let err: unknown = null;
    try {
      tn.empty([2 ** 40], { device: 'cuda' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(tn.OutOfMemoryError);
    // 2^40 float32 = 4 TiB = 4194304 MiB
    expect((err as Error).message).toMatch(/^alloc: CUDA out of memory: tried to allocate 4194304 MiB on cuda:0 \(.* free of .*\)/);
    expect((err as Error).message).toContain('after emptying the cache, a garbage collection and one retry');
    expect(tn.cuda.memoryStats().numAllocRetries).toBeGreaterThan(before);
    const t = tn.ones([1000], { device: 'cuda' });
    expect(t.sum().item()).toBe(1000);
    expect(values(tn.ones([4, 4]).to('cuda').matmul(tn.ones([4, 1], { device: 'cuda' })))).toEqual([4, 4, 4, 4]);
  });

  itCuda('DataLoader pinMemory feeds CUDA training: pinned batches, the losses of unpinned ones', async () => {
    const x = rnd([120, 1, 28, 28], 500);
    const y = labels(120, 10, 501);
    const run = async (pinMemory: boolean) => {
      tn.manualSeed(0);
      const model = buildModel('classic');
      const loader = new DataLoader(new TensorDataset(x, y), { batchSize: 20, shuffle: true, seed: 3, pinMemory });
      let pinned = 0;
      for (const [bx] of loader) if (bx.isPinned()) pinned++;
      loader.setEpoch(0);
      const h = await fit(model, { trainLoader: loader, criterion: new tn.nn.CrossEntropyLoss(), optimizer: new tn.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 }), epochs: 2, device: 'cuda', progress: 'none' });
      expect(model.parameters().every((p) => p.device === 'cuda:0')).toBe(true);
      return { pinned, losses: h.epochs.map((e) => e.trainLoss) };
    };
    const a = await run(true);
    const b = await run(false);
    expect(a.pinned).toBe(6);
    expect(b.pinned).toBe(0);
    expectClose(a.losses, b.losses, 1e-5, 1e-4, 'losses with and without pinMemory');
  });
});

describe('bfloat16 and float16 storage on CUDA', () => {
  // The CUDA cast and fill kernels use native/core/half.h on the device: the same bits as the CPU's.
  itCuda('casts both ways and fills give the CPU bits', () => {
    const bits = (t: tn.Tensor) => Array.from(new Uint16Array(native.read(t.to('cpu').handle, 0, t.numel() * 2)));
    const x = tn.tensor([1, 1.00390625, 1.01171875, -3.5, 1e-40, 65504, 65520, NaN, Infinity, 3e38, 2 ** -24, -0]);
    for (const d of ['bfloat16', 'float16'] as tn.DType[]) {
      const onCpu = x.to(d);
      const onGpu = x.to('cuda').to(d);
      expect(bits(onGpu)).toEqual(bits(onCpu));
      expect(Array.from(onGpu.to('float32').to('cpu').data as Float32Array)).toEqual(Array.from(onCpu.to('float32').data as Float32Array));
      expect(bits(tn.full([3], 0.1, { dtype: d, device: 'cuda' }))).toEqual(bits(tn.full([3], 0.1, { dtype: d })));
    }
  });
});
