// The addon, loaded once. Only this file touches `require` for native code; everything else sees
// the typed `native` object. Family sections below mirror native/binding/<family>.cc one to one.
//
// A tensor argument is always the pair (handle, offset): the storage External and the element
// offset of the tensor's first element. Shapes and options are validated in lib/ops first.
import * as path from 'path';
import { ERROR_CLASSES } from './errors';

export type Handle = object & { readonly __brand?: 'StorageHandle' };
type H = Handle;
type Opt = Handle | null;

export interface CudaProbeResult {
  compiled: boolean;
  deviceCount: number;
  code: number;
  errorName: string;
  message: string;
  driverVersion: number;
  runtimeVersion: number;
}

export interface CudaMemoryStats {
  allocated: number;
  reserved: number;
  peakAllocated: number;
  numAllocRetries: number;
}

export interface StorageBinding {
  // The error classes, and the sentinel a failed call returns (see guardAll below).
  initialize(classes: object, failed?: object): void;
  // device: 0 = cpu, 1 + n = cuda:n. On a CUDA device: DeviceError when the build has no CUDA or
  // there is no such device; OutOfMemoryError (with the sizes) after the native cache was emptied
  // and the allocation retried once.
  alloc(bytes: number, device: number): H;
  // Host storage (device 0) in page-locked memory when a CUDA device is usable, else ordinary.
  allocPinned(bytes: number): H;
  isPinned(h: H): boolean;
  // Raw bytes between any two storages on any devices: host->device asynchronous (from pinned
  // storage directly, else through staging), device->host waits.
  // nonBlocking: from pinned host memory the DMA reads the source later (it must not change meanwhile).
  copy(dst: H, dstByteOffset: number, src: H, srcByteOffset: number, bytes: number, nonBlocking?: boolean): void;
  free(h: H): void;
  write(h: H, byteOffset: number, data: ArrayBufferView): void;
  read(h: H, byteOffset: number, byteLength: number): ArrayBuffer;
  storageBytes(h: H): number;
  allocatorStats(): { allocated: number; reserved: number };
  emptyCache(): void;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  cudaProbe(): CudaProbeResult;
  // Waits for cuda:index's stream, then raises errors the device deferred (IndexError, ...).
  cudaSynchronize(index: number): void;
  // All zeros without CUDA.
  cudaMemoryStats(index: number): CudaMemoryStats;
  cudaEmptyCache(index: number): void;
}

export interface ElementwiseBinding {
  unary(op: number, out: H, outOff: number, x: H, xOff: number, n: number, dtype: number, scalar: number): void;
  binary(op: number, out: H, outOff: number, a: H, aOff: number, aStrides: number[], b: H, bOff: number, bStrides: number[], shape: number[], dtype: number): void;
  // binary for contiguous out, a and b of n elements each (no stride arrays to read).
  binaryContiguous(op: number, out: H, outOff: number, a: H, aOff: number, b: H, bOff: number, n: number, dtype: number): void;
  // out (contiguous, shape) = cond (bool) ? a : b, each read through broadcast strides.
  where(out: H, outOff: number, cond: H, condOff: number, condStrides: number[], a: H, aOff: number, aStrides: number[], b: H, bOff: number, bStrides: number[], shape: number[], dtype: number): void;
  // out (contiguous, or read through outStrides when given) = x read through strides.
  copyStrided(out: H, outOff: number, x: H, xOff: number, shape: number[], strides: number[], dtype: number, outStrides?: number[] | null): void;
  cast(out: H, outOff: number, outDtype: number, x: H, xOff: number, xDtype: number, n: number): void;
  fill(out: H, outOff: number, n: number, dtype: number, value: number): void;
  uniform(out: H, outOff: number, n: number, dtype: number, lo: number, hi: number, seedHi: number, seedLo: number): void;
  normal(out: H, outOff: number, n: number, dtype: number, mean: number, std: number, seedHi: number, seedLo: number): void;
  indexAddRows(out: H, outOff: number, src: H, srcOff: number, rows: number, rowElems: number, dtype: number, idx: H, idxOff: number, k: number): void;
  indexSelect(out: H, outOff: number, x: H, xOff: number, rows: number, rowElems: number, dtype: number, idx: H, idxOff: number, k: number, idxDtype: number): void;
}

export interface ReduceBinding {
  // x is (outer, r, inner) contiguous; out (and indices, int64) are (outer, inner).
  reduceDim(op: number, out: H, outOff: number, idx: Opt, idxOff: number, x: H, xOff: number, outer: number, r: number, inner: number, dtype: number): void;
}

export interface GemmBinding {
  // For each of `batch` matrices (b-th at offset + b * stride): C (M, N) = alpha * op(A) (M, K) *
  // op(B) (K, N) + beta * C, row-major. A is stored (M, lda), or (K, lda) with transA; B is (K, ldb),
  // or (N, ldb) with transB; C is (M, ldc). A stride of 0 broadcasts a matrix; beta 0 ignores C.
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, a: H, aOff: number, lda: number, b: H, bOff: number, ldb: number, beta: number, c: H, cOff: number, ldc: number, batch: number, strideA: number, strideB: number, strideC: number, dtype: number): void;
  // The GEMM micro-kernel in use: 'avx512' | 'avx2' | 'baseline' (TENSILE_GEMM_KERNEL caps it).
  gemmKernel(): string;
  // TF32 tensor-core products for float32 GEMMs on CUDA (tn.backends.cuda.allowTF32).
  setAllowTF32(flag: boolean): void;
}
export interface Conv2dBinding {
  // params: [N, C, H, W, OC, KH, KW, OH, OW, strideH, strideW, padH, padW, dilH, dilW, groups].
  // x, dx (N, C, H, W); w, dw (OC, C/groups, KH, KW); bias, db (OC); out, dout (N, OC, OH, OW); all
  // contiguous. Backward kernels overwrite their output.
  conv2dForward(out: H, outOff: number, x: H, xOff: number, w: H, wOff: number, bias: Opt, biasOff: number, params: ArrayLike<number>, dtype: number): void;
  conv2dBackwardInput(dx: H, dxOff: number, dout: H, doutOff: number, w: H, wOff: number, params: ArrayLike<number>, dtype: number): void;
  conv2dBackwardWeight(dw: H, dwOff: number, dout: H, doutOff: number, x: H, xOff: number, params: ArrayLike<number>, dtype: number): void;
  conv2dBackwardBias(db: H, dbOff: number, dout: H, doutOff: number, params: ArrayLike<number>, dtype: number): void;
  // max_pool2d(relu(conv2d(x, w) + bias)) in one pass, and its backward from the output's
  // gradient and the pool's indices (N, OC, PH, PW; into the convolution's planes). window: the
  // pool's [kH, kW, sH, sW, pH, pW, dH, dW]. CPU only.
  conv2dReluMaxPool2dForward(
    out: H, outOff: number, idx: H, idxOff: number, x: H, xOff: number, w: H, wOff: number, bias: Opt, biasOff: number,
    params: ArrayLike<number>, window: ArrayLike<number>, PH: number, PW: number, dtype: number,
  ): void;
  conv2dReluMaxPool2dBackward(
    dx: Opt, dxOff: number, dw: Opt, dwOff: number, db: Opt, dbOff: number, grad: H, gradOff: number, idx: H, idxOff: number,
    x: H, xOff: number, w: H, wOff: number, params: ArrayLike<number>, window: ArrayLike<number>, PH: number, PW: number, dtype: number,
  ): void;
  // TF32 tensor-core products in the CUDA convolutions' GEMMs (tn.backends.cudnn.allowTF32).
  setConvAllowTF32(flag: boolean): void;
}
export interface Pool2dBinding {
  // Planes: P = N*C; x and dx are (P, H, W), out, dy and indices (int64, flat h*W+w) are (P, OH, OW),
  // all contiguous. Average pooling's divisorOverride is 0 for none.
  // relu: out = relu(max), windows whose max is not positive get index -1 (no gradient).
  maxPool2dForward(out: H, outOff: number, indices: H, indicesOff: number, x: H, xOff: number, P: number, H: number, W: number, OH: number, OW: number, kH: number, kW: number, sH: number, sW: number, pH: number, pW: number, dH: number, dW: number, dtype: number, relu?: boolean): void;
  // The forward's window, when given, enables the kernel's fast path for it.
  maxPool2dBackward(dx: H, dxOff: number, dy: H, dyOff: number, indices: H, indicesOff: number, P: number, H: number, W: number, OH: number, OW: number, dtype: number, kH?: number, kW?: number, sH?: number, sW?: number, pH?: number, pW?: number, dH?: number, dW?: number): void;
  avgPool2dForward(out: H, outOff: number, x: H, xOff: number, P: number, H: number, W: number, OH: number, OW: number, kH: number, kW: number, sH: number, sW: number, pH: number, pW: number, countIncludePad: boolean, divisorOverride: number, dtype: number): void;
  avgPool2dBackward(dx: H, dxOff: number, dy: H, dyOff: number, P: number, H: number, W: number, OH: number, OW: number, kH: number, kW: number, sH: number, sW: number, pH: number, pW: number, countIncludePad: boolean, divisorOverride: number, dtype: number): void;
  adaptiveAvgPool2dForward(out: H, outOff: number, x: H, xOff: number, P: number, H: number, W: number, OH: number, OW: number, dtype: number): void;
  adaptiveAvgPool2dBackward(dx: H, dxOff: number, dy: H, dyOff: number, P: number, H: number, W: number, OH: number, OW: number, dtype: number): void;
}
export interface ActivationBinding {
  // act: ACTIVATION_OP code (lib/ops/activation.ts). out, x, dx, dy, saved are (n) contiguous; saved is the
  // forward output (relu, sigmoid, tanh) or input (leaky_relu); slope is leaky_relu's negative slope.
  activationForward(act: number, out: H, outOff: number, x: H, xOff: number, n: number, dtype: number, slope: number): void;
  activationBackward(act: number, dx: H, dxOff: number, dy: H, dyOff: number, saved: H, savedOff: number, n: number, dtype: number, slope: number): void;
  // out, x, dx, dy (n); mask (n) uint8; 0 <= p < 1; the seed is two uint32 halves (Generator.nextSeed).
  dropoutForward(out: H, outOff: number, mask: H, maskOff: number, x: H, xOff: number, n: number, dtype: number, p: number, seedHi: number, seedLo: number): void;
  dropoutBackward(dx: H, dxOff: number, dy: H, dyOff: number, mask: H, maskOff: number, n: number, dtype: number, p: number): void;
}
export interface BatchNormBinding {
  // out, x, dx, dy are (N, C, S) contiguous; saveMean, saveInvstd, runningMean, runningVar, weight, bias,
  // dweight, dbias are (C). Training updates the running stats in place when given; eval needs them.
  // Any of dx, dweight, dbias may be null in backward (not wanted); weight and bias null mean 1 and 0.
  batchNormForward(out: H, outOff: number, saveMean: H, saveMeanOff: number, saveInvstd: H, saveInvstdOff: number, runningMean: Opt, runningMeanOff: number, runningVar: Opt, runningVarOff: number, x: H, xOff: number, weight: Opt, weightOff: number, bias: Opt, biasOff: number, N: number, C: number, S: number, training: boolean, momentum: number, eps: number, dtype: number): void;
  batchNormBackward(dx: Opt, dxOff: number, dweight: Opt, dweightOff: number, dbias: Opt, dbiasOff: number, dy: H, dyOff: number, x: H, xOff: number, saveMean: H, saveMeanOff: number, saveInvstd: H, saveInvstdOff: number, weight: Opt, weightOff: number, N: number, C: number, S: number, training: boolean, dtype: number): void;
}
export interface LossBinding {
  // Softmax family over an (outer, C, inner) view, C being the softmax dim: x, out, dx, dy are all
  // (outer, C, inner) contiguous; backward takes the forward's output `out`.
  logSoftmaxForward(out: H, outOff: number, x: H, xOff: number, outer: number, C: number, inner: number, dtype: number): void;
  logSoftmaxBackward(dx: H, dxOff: number, dy: H, dyOff: number, out: H, outOff: number, outer: number, C: number, inner: number, dtype: number): void;
  softmaxForward(out: H, outOff: number, x: H, xOff: number, outer: number, C: number, inner: number, dtype: number): void;
  softmaxBackward(dx: H, dxOff: number, dy: H, dyOff: number, out: H, outOff: number, outer: number, C: number, inner: number, dtype: number): void;
  // Class-index losses: logits/logp/dlogits/dlogp (outer, C, inner); target (outer, inner) of int64
  // (targetDtype 3) or int32 (2), each in [0, C) or == ignoreIndex (else IndexError); weight (C) or
  // null; out and dout (outer, inner) for reduction 0 (none), [] for 1 (mean) and 2 (sum);
  // totalWeight [] (sum of the weights of non-ignored targets), written by forward, read by backward.
  crossEntropyForward(out: H, outOff: number, totalWeight: H, twOff: number, logp: H, logpOff: number, logits: H, logitsOff: number, target: H, targetOff: number, targetDtype: number, weight: Opt, weightOff: number, reduction: number, ignoreIndex: number, labelSmoothing: number, outer: number, C: number, inner: number, dtype: number): void;
  crossEntropyBackward(dlogits: H, dOff: number, dout: H, doutOff: number, logp: H, logpOff: number, target: H, targetOff: number, targetDtype: number, weight: Opt, weightOff: number, totalWeight: H, twOff: number, reduction: number, ignoreIndex: number, labelSmoothing: number, outer: number, C: number, inner: number, dtype: number): void;
  nllLossForward(out: H, outOff: number, totalWeight: H, twOff: number, logp: H, logpOff: number, target: H, targetOff: number, targetDtype: number, weight: Opt, weightOff: number, reduction: number, ignoreIndex: number, outer: number, C: number, inner: number, dtype: number): void;
  nllLossBackward(dlogp: H, dOff: number, dout: H, doutOff: number, target: H, targetOff: number, targetDtype: number, weight: Opt, weightOff: number, totalWeight: H, twOff: number, reduction: number, ignoreIndex: number, outer: number, C: number, inner: number, dtype: number): void;
  // Point-wise losses: input, target, dinput (n); out and dout (n) for reduction 0 (none), else [].
  mseLossForward(out: H, outOff: number, input: H, inOff: number, target: H, tOff: number, reduction: number, n: number, dtype: number): void;
  mseLossBackward(dinput: H, dOff: number, dout: H, doutOff: number, input: H, inOff: number, target: H, tOff: number, reduction: number, n: number, dtype: number): void;
  l1LossForward(out: H, outOff: number, input: H, inOff: number, target: H, tOff: number, reduction: number, n: number, dtype: number): void;
  l1LossBackward(dinput: H, dOff: number, dout: H, doutOff: number, input: H, inOff: number, target: H, tOff: number, reduction: number, n: number, dtype: number): void;
  smoothL1LossForward(out: H, outOff: number, input: H, inOff: number, target: H, tOff: number, reduction: number, n: number, dtype: number, beta: number): void;
  smoothL1LossBackward(dinput: H, dOff: number, dout: H, doutOff: number, input: H, inOff: number, target: H, tOff: number, reduction: number, n: number, dtype: number, beta: number): void;
}
export interface OptimBinding {
  // One fused, in-place step per parameter; every tensor is (n) contiguous of `dtype`.
  // param, grad, momentumBuf: (n); momentumBuf may be null when momentum == 0.
  sgdStep(param: H, paramOff: number, grad: H, gradOff: number, momentumBuf: Opt, bufOff: number, n: number, dtype: number, lr: number, momentum: number, dampening: number, nesterov: boolean, weightDecay: number, maximize: boolean, firstStep: boolean): void;
  // param, grad, expAvg, expAvgSq, maxExpAvgSq: (n); maxExpAvgSq may be null unless amsgrad.
  // step counts this step (>= 1); decoupled selects AdamW's weight decay.
  adamStep(param: H, paramOff: number, grad: H, gradOff: number, expAvg: H, expAvgOff: number, expAvgSq: H, expAvgSqOff: number, maxExpAvgSq: Opt, maxExpAvgSqOff: number, n: number, dtype: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, amsgrad: boolean, decoupled: boolean, maximize: boolean): void;
  // Multi-tensor forms: one call updates a list of same-dtype, same-device parameters (one launch
  // per 48 tensors on CUDA; on the CPU a loop of the single-tensor kernel, bit-identical to it).
  sgdStepMulti(params: H[], paramOffs: number[], grads: H[], gradOffs: number[], bufs: Opt[] | null, bufOffs: number[] | null, numels: number[], firstSteps: boolean[], dtype: number, lr: number, momentum: number, dampening: number, nesterov: boolean, weightDecay: number, maximize: boolean): void;
  adamStepMulti(params: H[], paramOffs: number[], grads: H[], gradOffs: number[], expAvgs: H[], expAvgOffs: number[], expAvgSqs: H[], expAvgSqOffs: number[], maxExpAvgSqs: H[] | null, maxExpAvgSqOffs: number[] | null, numels: number[], steps: number[], dtype: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, amsgrad: boolean, decoupled: boolean, maximize: boolean): void;
}

export interface NativeBinding
  extends StorageBinding,
    ElementwiseBinding,
    ReduceBinding,
    GemmBinding,
    Conv2dBinding,
    Pool2dBinding,
    ActivationBinding,
    BatchNormBinding,
    LossBinding,
    OptimBinding {}

/** The package root: the nearest folder above this file holding tensile's package.json. */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      if (require(path.join(dir, 'package.json')).name === 'tensile') return dir;
    } catch {
      // not here; keep walking up
    }
    if (path.dirname(dir) === dir) return path.join(__dirname, '..');
  }
}

function load(): NativeBinding {
  const root = packageRoot();
  const errors: string[] = [];
  // TENSILE_NATIVE names an explicit .node (tests of other builds, side-by-side builds).
  const explicit = process.env.TENSILE_NATIVE;
  if (explicit) return require(path.resolve(explicit)) as NativeBinding;
  try {
    // prebuilds/<platform>-<arch>/ first would be node-gyp-build's order for installed packages;
    // it prefers build/Release when present, which is what a developer checkout wants.
    return require('node-gyp-build')(root) as NativeBinding;
  } catch (e) {
    errors.push(`node-gyp-build: ${(e as Error).message}`);
  }
  throw new Error(
    `Could not load the tensile native addon for ${process.platform}-${process.arch} (Node ${process.version}).\n` +
      errors.map((e) => `  - ${e}`).join('\n') +
      `\nPossible solutions:\n  - run \`npm install\` (or \`npm run build:native\`) in the tensile folder to build it\n` +
      `  - install from a package that ships prebuilds/${process.platform}-${process.arch}/tensile.node`,
  );
}

/**
 * The addon's functions, each wrapped to throw the error of a failed call. The addon never throws
 * through Node-API: a failed call returns `FAILED` with the error in `FAILED.error` (why: see
 * call_guarded in native/binding/util.h; in short, Node aborts when a garbage collection runs a
 * storage finalizer while a Node-API exception is pending). Everything, the raw binding included,
 * reaches the addon through these wrappers.
 */
function guardAll(raw: NativeBinding): NativeBinding {
  const FAILED: { error: unknown } = { error: undefined };
  const guarded: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(raw)) {
    if (typeof fn !== 'function') {
      guarded[name] = fn;
      continue;
    }
    const f = fn as (...args: unknown[]) => unknown;
    guarded[name] = {
      // A method of an object literal keeps the native function's name in stack traces.
      [name](...args: unknown[]): unknown {
        const r = f(...args);
        if (r !== FAILED) return r;
        const e = FAILED.error;
        FAILED.error = undefined;
        throw e;
      },
    }[name];
  }
  (raw.initialize as (classes: object, failed: object) => void)(ERROR_CLASSES, FAILED);
  return guarded as unknown as NativeBinding;
}

export const native: NativeBinding = guardAll(load());
