// tensile's data loading: `import { data } from 'tensile'` (the lead wires
// `export * as data from './data'` in lib/index.ts).
export { Dataset, TensorDataset } from './dataset';
export type { DatasetLike, BatchContext, DatasetDescription, SampleContext } from './dataset';
export { DataLoader } from './dataloader';
export type { DataLoaderOptions } from './dataloader';
export { defaultCollate } from './collate';
export type { Collated } from './collate';
export { toTensor, normalize, compose, randomHorizontalFlip, randomCrop } from './transforms';
export type { Transform, RandomCropOptions, TransformSpec, PaddingMode } from './transforms';
export { MNIST, FashionMNIST, ImageClassificationDataset, FASHION_MNIST_CLASSES, MNIST_CLASSES } from './mnist';
export type { MNISTOptions, FashionMNISTOptions } from './mnist';
export { readIdx, parseIdx, encodeIdx } from './idx';
export type { IdxArray, IdxType } from './idx';
export { bundledLoadInfo } from './fashion_mnist_bundled';
export { cacheDir } from './cache';
