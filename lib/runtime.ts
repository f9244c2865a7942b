// Process-wide settings and introspection: threads, allocator statistics, backend availability.
import { native, CudaProbeResult } from './native';
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

export const cuda = {
  /** What the CUDA runtime reports: whether kernels were compiled in, device count, or why none. */
  probe(): CudaProbeResult {
    return native.cudaProbe();
  },
  isAvailable(): boolean {
    // Kernels for the CUDA backend land with the CUDA issue; until then nothing runs there.
    return false;
  },
  deviceCount(): number {
    return native.cudaProbe().deviceCount;
  },
};

export const backends = {
  cuda: {
    /** Opt-in TF32 tensor-core matmuls on CUDA, as in PyTorch (off by default). */
    allowTF32: false,
  },
};
