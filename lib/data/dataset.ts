// Datasets: anything with a `length` and `get(i)` (PyTorch's map-style Dataset), plus
// TensorDataset. A dataset may also offer
//   getBatch(indices, ctx)  a fast path the DataLoader uses (with the default collate) instead of
//                           `get` per sample; it must return exactly what default collate makes
//                           of the samples;
//   describe()              a serialisable description from which a DataLoader worker thread
//                           rebuilds it (built-ins know theirs; a user dataset can name a module
//                           and an export, see DatasetDescription).
import { checkTensor } from '../check';
import { ShapeError, fmtShape } from '../errors';
import { Tensor } from '../tensor';
import { ArrayDType, AnyArray, BatchContext, DatasetDescription, checkIndex } from './batch';
import { wrapArray } from './collate';
import type { SampleContext } from './pipeline';

export type { BatchContext, DatasetDescription } from './batch';
export type { SampleContext } from './pipeline';

/** What a DataLoader needs of a dataset. */
export interface DatasetLike<S = unknown> {
  readonly length: number;
  /** Sample i. ctx (given by a DataLoader) seeds random transforms: (seed, epoch, index). */
  get(index: number, ctx?: SampleContext): S;
  getBatch?(indices: Int32Array, ctx: BatchContext): unknown;
  describe?(): DatasetDescription | null;
}

/**
 * Base class for map-style datasets: implement `length` and `get`. To use it with DataLoader
 * workers, override `describe()` to return `{ kind: 'module', module: __filename, export:
 * 'MyDataset', args: [...] }`: each worker then requires that module (it must be JavaScript, e.g.
 * the compiled file) and builds the dataset from the export (an instance, a class constructed
 * with args, or a factory function called with args).
 */
export abstract class Dataset<S = unknown> implements DatasetLike<S> {
  abstract readonly length: number;
  abstract get(index: number, ctx?: SampleContext): S;
  describe(): DatasetDescription | null {
    return null;
  }
}

/**
 * Samples are the i-th rows of the given tensors (PyTorch's TensorDataset): `get(i)` returns
 * [t0[i], t1[i], ...] as views, a batch is one indexSelect per tensor.
 */
export class TensorDataset extends Dataset<Tensor[]> {
  readonly tensors: Tensor[];
  private shared: DatasetDescription | null = null;

  constructor(...tensors: Tensor[]) {
    super();
    if (tensors.length === 0) throw new ShapeError('TensorDataset: expected at least one tensor');
    tensors.forEach((t, i) => checkTensor(t, 'TensorDataset', `tensors[${i}]`));
    const n = tensors[0].ndim ? tensors[0].shape[0] : -1;
    for (const t of tensors) {
      if (t.ndim === 0 || t.shape[0] !== n) {
        throw new ShapeError(`TensorDataset: size mismatch between tensors: every tensor needs the same first dimension, but got ${tensors.map((x) => fmtShape(x.shape)).join(' and ')}`);
      }
    }
    this.tensors = tensors.map((t) => (t.device === 'cpu' ? t : t.to('cpu')).detach());
  }

  get length(): number {
    return this.tensors[0].shape[0];
  }

  get(index: number): Tensor[] {
    checkIndex('TensorDataset', index, this.length);
    return this.tensors.map((t) => t.select(0, index));
  }

  getBatch(indices: Int32Array): Tensor[] {
    for (const i of indices) checkIndex('TensorDataset', i, this.length);
    const idx = wrapArray(indices, [indices.length], 'int32');
    return this.tensors.map((t) => t.indexSelect(0, idx));
  }

  /**
   * Copies the tensors once into SharedArrayBuffers that every worker reads. The copy is a
   * snapshot: changes made to the tensors afterwards reach `get` but not the workers.
   */
  describe(): DatasetDescription {
    if (!this.shared) {
      this.shared = {
        kind: 'tensors',
        arrays: this.tensors.map((t) => {
          const src = t.contiguous().data as AnyArray;
          const Ctor = src.constructor as { new (b: SharedArrayBuffer): AnyArray };
          const data = new Ctor(new SharedArrayBuffer(src.byteLength));
          (data as Uint8Array).set(src as Uint8Array);
          return { dtype: t.dtype as ArrayDType, shape: t.shape.slice(), data };
        }),
      };
    }
    return this.shared;
  }
}
