// Batches as plain typed arrays: what the built-in datasets' batch paths compute and what worker
// threads send back. Pure JS (no native code), shared by the main thread and the workers, so that
// both produce the same bytes. The main thread wraps each array into a tensor with one copy
// (collate.ts `wrapArray`).
//
// Also here: the serialisable description of a dataset that a worker rebuilds it from, and the
// tagged encoding of a batch (nested arrays/objects with typed-array leaves) for postMessage.
import { DTypeError, IndexError, ShapeError, ValueError, fmtShape } from '../errors';
import { PixelArray, Pipeline, TransformSpec } from './pipeline';

export type ArrayDType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';
export type AnyArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A tensor to be: a flat typed array, its shape and dtype (bool is stored as uint8). */
export class ArrayTensor {
  constructor(
    readonly dtype: ArrayDType,
    readonly shape: number[],
    readonly data: AnyArray,
  ) {}
}

export function arrayFor(dtype: ArrayDType, n: number): AnyArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    default:
      return new Uint8Array(n);
  }
}

/** What the DataLoader passes to a batch path: the loader's seed and the epoch. */
export interface BatchContext {
  seed: number;
  epoch: number;
}

/** How a worker rebuilds a dataset. Typed arrays in it live on SharedArrayBuffers (no copy). */
export type DatasetDescription =
  | {
      kind: 'images';
      name: string;
      /** (N, ...sampleShape) uint8 */
      images: Uint8Array;
      /** (N) class indices */
      labels: Uint8Array;
      sampleShape: number[];
      transform: TransformSpec | null;
    }
  | { kind: 'tensors'; arrays: { dtype: ArrayDType; shape: number[]; data: AnyArray }[] }
  | {
      kind: 'module';
      /** an absolute path (or package name) that `require` resolves in the worker */
      module: string;
      /** the export: a Dataset instance, a class (constructed with `args`) or a factory function */
      export: string;
      args?: unknown[];
    };

export function checkIndex(op: string, i: number, n: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= n) {
    throw new IndexError(`${op}: index ${i} is out of range for a dataset of length ${n}`);
  }
}

// ---------------------------------------------------------------------------------------------
// batch paths of the built-in datasets

export interface ImageSet {
  name: string;
  images: Uint8Array;
  labels: Uint8Array;
  sampleShape: number[];
}

/**
 * A batch of an image classification set: x is the transformed images stacked (B, ...out), y the
 * labels as int64 (B). `out` may be a reusable buffer of the right size (main thread only; a
 * worker transfers its result and needs a fresh one each time).
 */
export function imageBatch(set: ImageSet, pipe: Pipeline, indices: ArrayLike<number>, ctx: BatchContext, out?: AnyArray): [ArrayTensor, ArrayTensor] {
  const n = set.labels.length;
  const m = pipe.meta(set.sampleShape, 'uint8');
  let outNumel = 1;
  for (const d of m.shape) outNumel *= d;
  const b = indices.length;
  const x = out && out.length === b * outNumel ? out : arrayFor(m.dtype, b * outNumel);
  const y = new BigInt64Array(b);
  pipe.batchInto(set.images, set.sampleShape, indices, x as PixelArray, ctx, (i) => checkIndex(set.name, i, n));
  for (let j = 0; j < b; j++) y[j] = BigInt(set.labels[indices[j]]);
  return [new ArrayTensor(m.dtype, [b, ...m.shape], x), new ArrayTensor('int64', [b], y)];
}

/** Rows `indices` of each array (a TensorDataset batch). */
export function tensorRowsBatch(arrays: { dtype: ArrayDType; shape: number[]; data: AnyArray }[], indices: ArrayLike<number>): ArrayTensor[] {
  const b = indices.length;
  return arrays.map((a) => {
    const n = a.shape[0];
    const row = n === 0 ? 0 : a.data.length / n;
    const out = arrayFor(a.dtype, b * row);
    for (let j = 0; j < b; j++) {
      const i = indices[j];
      checkIndex('TensorDataset', i, n);
      (out as Uint8Array).set((a.data as Uint8Array).subarray(i * row, (i + 1) * row), j * row);
    }
    return new ArrayTensor(a.dtype, [b, ...a.shape.slice(1)], out);
  });
}

// ---------------------------------------------------------------------------------------------
// default collate on plain arrays (a worker running a user dataset)

/** What default collate does with a leaf, shared by the tensor and the array versions. */
export type LeafKind = 'tensor' | 'number' | 'boolean' | 'string' | 'array' | 'object' | 'other';

export function isTensorLike(v: unknown): v is { dtype: string; shape: number[]; data: AnyArray } {
  return !!v && typeof v === 'object' && 'shape' in v && 'dtype' in v && 'handle' in v;
}

export function leafKind(v: unknown): LeafKind {
  if (v instanceof ArrayTensor || isTensorLike(v)) return 'tensor';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'array';
  if (v && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) return 'object';
  return 'other';
}

/** PyTorch's rule: integers collate to int64, other numbers to float64. */
export function numbersDType(values: readonly number[]): 'int64' | 'float64' {
  return values.every((v) => Number.isInteger(v)) ? 'int64' : 'float64';
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** 'a tensor', 'an array', 'a function', 'a Date' (for 'other', what the value is). */
function kindName(kind: LeafKind, v: unknown): string {
  const name = kind !== 'other' ? kind : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;
  return `${/^[aeiouAEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** Checks what default collate needs of a list of samples at one position; returns the kind. */
export function checkCollatable(samples: readonly unknown[]): LeafKind {
  for (let k = 0; k < samples.length; k++) {
    // PyTorch's default_collate refuses None too; usually a dataset's get() that returned nothing
    if (samples[k] === undefined || samples[k] === null) {
      throw new ValueError(`defaultCollate: sample ${k} of the batch is ${samples[k]}; expected a tensor, number, boolean, string, array or object (did the dataset's get() return nothing?)`);
    }
  }
  const kind = leafKind(samples[0]);
  for (let k = 1; k < samples.length; k++) {
    const kk = leafKind(samples[k]);
    if (kk !== kind) throw new DTypeError(`defaultCollate: sample 0 has ${kindName(kind, samples[0])} where sample ${k} has ${kindName(kk, samples[k])}`);
  }
  if (kind === 'tensor') {
    const first = samples[0] as { shape: number[]; dtype: string };
    samples.forEach((s, k) => {
      const t = s as { shape: number[]; dtype: string };
      if (!sameShape(t.shape, first.shape)) {
        throw new ShapeError(`defaultCollate: stack expects each tensor to be equal size, but got ${fmtShape(first.shape)} at entry 0 and ${fmtShape(t.shape)} at entry ${k}`);
      }
      if (t.dtype !== first.dtype) throw new DTypeError(`defaultCollate: expected all tensors to be ${first.dtype} but got ${t.dtype} at entry ${k}`);
    });
  } else if (kind === 'array') {
    const len = (samples[0] as unknown[]).length;
    samples.forEach((s, k) => {
      if ((s as unknown[]).length !== len) throw new ShapeError(`defaultCollate: each element in the batch should be of equal size, but entry 0 has ${len} fields and entry ${k} has ${(s as unknown[]).length}`);
    });
  } else if (kind === 'object') {
    const keys = Object.keys(samples[0] as object).join(',');
    samples.forEach((s, k) => {
      if (Object.keys(s as object).join(',') !== keys) throw new ShapeError(`defaultCollate: entry ${k} has keys {${Object.keys(s as object).join(', ')}} but entry 0 has {${keys.split(',').join(', ')}}`);
    });
  }
  return kind;
}

function tensorToArray(t: unknown): ArrayTensor {
  if (t instanceof ArrayTensor) return t;
  const x = t as { dtype: ArrayDType; shape: number[]; data: AnyArray };
  return new ArrayTensor(x.dtype, x.shape.slice(), x.data);
}

/** Default collate producing ArrayTensor leaves (no native code needed). */
export function collateArrays(samples: readonly unknown[]): unknown {
  if (samples.length === 0) return [];
  const kind = checkCollatable(samples);
  switch (kind) {
    case 'tensor': {
      const parts = samples.map(tensorToArray);
      const first = parts[0];
      const per = first.data.length;
      const out = arrayFor(first.dtype, per * parts.length);
      parts.forEach((p, k) => (out as Uint8Array).set(p.data as Uint8Array, k * per));
      return new ArrayTensor(first.dtype, [parts.length, ...first.shape], out);
    }
    case 'number': {
      const vals = samples as number[];
      const dt = numbersDType(vals);
      const out = dt === 'int64' ? BigInt64Array.from(vals, (v) => BigInt(v)) : Float64Array.from(vals);
      return new ArrayTensor(dt, [vals.length], out);
    }
    case 'boolean':
      return new ArrayTensor('bool', [samples.length], Uint8Array.from(samples as boolean[], (v) => (v ? 1 : 0)));
    case 'array': {
      const len = (samples[0] as unknown[]).length;
      const out: unknown[] = [];
      for (let f = 0; f < len; f++) out.push(collateArrays(samples.map((s) => (s as unknown[])[f])));
      return out;
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(samples[0] as object)) out[key] = collateArrays(samples.map((s) => (s as Record<string, unknown>)[key]));
      return out;
    }
    default:
      return samples.slice();
  }
}

// ---------------------------------------------------------------------------------------------
// encoding for postMessage

/** A batch tree with its typed arrays pulled out (they go in the transfer list). */
export type Encoded = ['t', number, ArrayDType, number[]] | ['a', Encoded[]] | ['o', [string, Encoded][]] | ['v', unknown];

/** Encodes a tree whose tensor leaves are ArrayTensors or tensors; `arrays` collects the data. */
export function encodeTree(v: unknown, arrays: AnyArray[]): Encoded {
  const kind = leafKind(v);
  if (kind === 'tensor') {
    const t = tensorToArray(v);
    let data = t.data;
    // Send exactly this array's bytes: a view into a larger buffer is copied out first.
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || data.buffer instanceof SharedArrayBuffer) data = data.slice() as AnyArray;
    arrays.push(data);
    return ['t', arrays.length - 1, t.dtype, t.shape];
  }
  if (kind === 'array') return ['a', (v as unknown[]).map((x) => encodeTree(x, arrays))];
  if (kind === 'object') return ['o', Object.entries(v as object).map(([k, x]) => [k, encodeTree(x, arrays)] as [string, Encoded])];
  return ['v', v];
}

/** Rebuilds a tree, turning each tensor leaf into `leaf(ArrayTensor)`. */
export function decodeTree<T>(e: Encoded, arrays: AnyArray[], leaf: (a: ArrayTensor) => T): unknown {
  switch (e[0]) {
    case 't':
      return leaf(new ArrayTensor(e[2], e[3], arrays[e[1]]));
    case 'a':
      return e[1].map((x) => decodeTree(x, arrays, leaf));
    case 'o': {
      const out: Record<string, unknown> = {};
      for (const [k, x] of e[1]) out[k] = decodeTree(x, arrays, leaf);
      return out;
    }
    default:
      return e[1];
  }
}
