// Process-wide settings and introspection: threads, allocator statistics, backend availability.
import { CudaMemoryStats, CudaProbeResult, native } from './native';
import { Device, checkDeviceAvailable, cudaAvailable, cudaIndexOf, cudaProbe, normalizeDevice } from './device';
import { ValueError } from './errors';
import { dropSpareStorage, spareStorageBytes } from './tensor';

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Threads of the native pool (default: physical cores, or TENSILE_NUM_THREADS). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ValueError(`setNumThreads: expected a positive integer but received ${n}`);
  native.setNumThreads(n);
}

export const memory = {
  /** Bytes held by live CPU tensors and bytes reserved by the caching allocator. */
  stats(): { allocated: number; reserved: number } {
    const s = native.allocatorStats();
    // Spare handles (tensor.ts) are cache, not live tensors. The allocator counts size classes,
    // which are at least the requested bytes, so this never goes below the live tensors' bytes.
    return { allocated: s.allocated - spareStorageBytes(), reserved: s.reserved };
  },
  /** Returns cached, unused CPU blocks to the system. */
  emptyCache(): void {
    dropSpareStorage();
    native.emptyCache();
  },
};

function cudaIndexArg(device: number | Device | undefined, op: string): number {
  if (device === undefined) return 0;
  if (typeof device === 'number') {
    if (!Number.isInteger(device) || device < 0) throw new ValueError(`${op}: invalid device index ${device}`);
    return device;
  }
  const d = normalizeDevice(device, op);
  if (d === 'cpu') throw new ValueError(`${op}: expected a CUDA device but got 'cpu'`);
  return cudaIndexOf(d);
}

function memoryStatsOf(device: number | Device | undefined, op: string): CudaMemoryStats {
  const index = cudaIndexArg(device, op);
  return index < cuda.deviceCount() ? native.cudaMemoryStats(index) : { allocated: 0, reserved: 0, peakAllocated: 0, numAllocRetries: 0 };
}

/**
 * PyTorch's torch.cuda. Without a usable device (no CUDA in this build, no driver, no GPU)
 * isAvailable() is false, deviceCount() 0, the memory figures 0 and emptyCache() does nothing;
 * synchronize() raises DeviceError with the reason. `device` arguments take an index or a name
 * ('cuda', 'cuda:1'); the default is cuda:0.
 */
export const cuda = {
  /** What the CUDA runtime reports: whether kernels were compiled in, device count, or why none. */
  probe(): CudaProbeResult {
    return { ...cudaProbe() };
  },
  /** CUDA kernels compiled in and at least one device present (probed once per process). */
  isAvailable(): boolean {
    return cudaAvailable();
  },
  deviceCount(): number {
    return cudaAvailable() ? cudaProbe().deviceCount : 0;
  },
  /** The default CUDA device's index: always 0 (there is no torch.cuda.set_device). */
  currentDevice(): number {
    return 0;
  },
  /** Waits for everything queued on the device, and raises the errors it deferred (IndexError, ...). */
  synchronize(device?: number | Device): void {
    const index = cudaIndexArg(device, 'cuda.synchronize');
    checkDeviceAvailable(`cuda:${index}` as Device, 'cuda.synchronize');
    native.cudaSynchronize(index);
  },
  /** Bytes held by live tensors on the device. */
  memoryAllocated(device?: number | Device): number {
    return memoryStatsOf(device, 'cuda.memoryAllocated').allocated;
  },
  /** Bytes the device's caching allocator holds (live tensors and its cache). */
  memoryReserved(device?: number | Device): number {
    return memoryStatsOf(device, 'cuda.memoryReserved').reserved;
  },
  /** The peak of memoryAllocated since the process started. */
  maxMemoryAllocated(device?: number | Device): number {
    return memoryStatsOf(device, 'cuda.maxMemoryAllocated').peakAllocated;
  },
  /** allocated, reserved, peakAllocated and numAllocRetries (out-of-memory retries) of one device. */
  memoryStats(device?: number | Device): CudaMemoryStats {
    return memoryStatsOf(device, 'cuda.memoryStats');
  },
  /** Returns the cached, unused blocks of every device (and completed pinned host blocks) to the driver. */
  emptyCache(): void {
    const n = cuda.deviceCount();
    for (let i = 0; i < n; i++) native.cudaEmptyCache(i);
  },
};

/**
 * A `{ allowTF32 }` object whose property is a plain-looking boolean (off by default) that checks
 * its value and passes it to the addon.
 */
function tf32Switch(name: string, apply: (flag: boolean) => void): { allowTF32: boolean } {
  let on = false;
  return {
    get allowTF32(): boolean {
      return on;
    },
    set allowTF32(flag: boolean) {
      if (typeof flag !== 'boolean') throw new ValueError(`${name}: expected a boolean but got ${String(flag)}`);
      apply(flag);
      on = flag;
    },
  };
}

export const backends = {
  /**
   * Opt-in TF32 tensor-core products for float32 matmuls (the GEMM kernel) on CUDA (sm_80 and
   * newer), as torch.backends.cuda.matmul.allow_tf32; off by default. No effect on the CPU.
   */
  cuda: tf32Switch('backends.cuda.allowTF32', (f) => native.setAllowTF32(f)),
  /**
   * TF32 tensor-core products in the CUDA convolutions, as torch.backends.cudnn.allow_tf32 (tensile
   * has no cuDNN: the name is PyTorch's). Off by default here, unlike PyTorch, where it is on: set
   * it to compare like with like. No effect on the CPU.
   */
  cudnn: tf32Switch('backends.cudnn.allowTF32', (f) => native.setConvAllowTF32(f)),
};
