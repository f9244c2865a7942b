// Collate: merging a list of samples into a batch (PyTorch's default_collate), and wrapping the
// typed arrays that batch paths and workers produce into tensors.
//
// Default collate, recursively: tensors stack along a new first dim; integers become an int64
// tensor and other numbers float64 (PyTorch's rule); booleans a bool tensor; tuples (arrays) and
// plain objects collate field by field; strings and anything else stay a list.
import { noGrad } from '../autograd';
import { cudaAvailable } from '../device';
import type { DType } from '../dtype';
import { native } from '../native';
import { Tensor, empty } from '../tensor';
import { stack } from '../ops/shape';
import { ArrayTensor, AnyArray, Encoded, checkCollatable, decodeTree, numbersDType } from './batch';

/** Maps a sample type to what default collate makes of a list of them. */
export type Collated<S> = S extends Tensor
  ? Tensor
  : S extends number | boolean
    ? Tensor
    : S extends string
      ? string[]
      : S extends readonly unknown[]
        ? { -readonly [K in keyof S]: Collated<S[K]> }
        : S extends object
          ? { [K in keyof S]: Collated<S[K]> }
          : S[];

// Inside withPinnedMemory: wrapArray puts batches straight into page-locked memory.
let pinDepth = 0;

/** Runs fn with the tensors wrapArray makes in page-locked host memory (DataLoader's pinMemory). */
export function withPinnedMemory<T>(fn: () => T): T {
  pinDepth++;
  try {
    return fn();
  } finally {
    pinDepth--;
  }
}

/**
 * The batch tree with every CPU tensor leaf in page-locked memory: those wrapArray made pinned
 * already stay as they are, the others are copied (only where a CUDA device makes pinning mean
 * anything: without one a copy would change nothing, and PyTorch ignores pin_memory there too).
 */
export function pinTree(v: unknown): unknown {
  if (v instanceof Tensor) return v.device !== 'cpu' || v.isPinned() || !cudaAvailable() ? v : noGrad(() => v.pinMemory());
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < v.length; i++) {
      const x = pinTree(v[i]);
      if (x !== v[i]) (out ??= v.slice())[i] = x;
    }
    return out ?? v;
  }
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    let out: Record<string, unknown> | null = null;
    for (const [k, x] of Object.entries(v)) {
      const y = pinTree(x);
      if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = y;
    }
    return out ?? v;
  }
  return v;
}

/** One tensor holding a copy of `data` (one allocation, one native copy). */
export function wrapArray(data: AnyArray, shape: number[], dtype: DType): Tensor {
  const t = empty(shape, { dtype, pinMemory: pinDepth > 0 });
  // N-API cannot see the memory of a SharedArrayBuffer (the addon's write would read a null
  // pointer), so shared data is copied out first.
  if (data.buffer instanceof SharedArrayBuffer) data = data.slice() as AnyArray;
  if (data.length) native.write(t.handle, 0, data);
  return t;
}

export function wrapArrayTensor(a: ArrayTensor): Tensor {
  return wrapArray(a.data, a.shape, a.dtype);
}

export function defaultCollate<S>(samples: S[]): Collated<S> {
  return noGrad(() => collate(samples)) as Collated<S>;
}

function collate(samples: readonly unknown[]): unknown {
  if (samples.length === 0) return [];
  const kind = checkCollatable(samples);
  switch (kind) {
    case 'tensor': {
      const ts = samples.map((s) => (s instanceof ArrayTensor ? wrapArrayTensor(s) : (s as Tensor)));
      return stack(ts.map((t) => (t.device === 'cpu' ? t : t.to('cpu'))), 0);
    }
    case 'number': {
      const vals = samples as number[];
      const dt = numbersDType(vals);
      return wrapArray(dt === 'int64' ? BigInt64Array.from(vals, (v) => BigInt(v)) : Float64Array.from(vals), [vals.length], dt);
    }
    case 'boolean':
      return wrapArray(Uint8Array.from(samples as boolean[], (v) => (v ? 1 : 0)), [samples.length], 'bool');
    case 'array': {
      const len = (samples[0] as unknown[]).length;
      const out: unknown[] = [];
      for (let f = 0; f < len; f++) out.push(collate(samples.map((s) => (s as unknown[])[f])));
      return out;
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(samples[0] as object)) out[key] = collate(samples.map((s) => (s as Record<string, unknown>)[key]));
      return out;
    }
    default:
      return samples.slice();
  }
}

/** Turns a tree with ArrayTensor leaves into the same tree with tensors. */
export function wrapTree(v: unknown): unknown {
  if (v instanceof ArrayTensor) return wrapArrayTensor(v);
  if (Array.isArray(v)) return v.map(wrapTree);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = wrapTree(x);
    return out;
  }
  return v;
}

/** Decodes a worker's message into tensors. */
export function decodeToTensors(e: Encoded, arrays: AnyArray[]): unknown {
  return decodeTree(e, arrays, wrapArrayTensor);
}

