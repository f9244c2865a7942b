// tensile's public entry point: `import * as tn from 'tensile'`.
import './ops/register';

export { Tensor, Storage, tensor, empty, zeros, ones, full, zerosLike, onesLike, rand, randn, randint, arange, fromTypedArray, tidy, keep } from './tensor';
export type { Device, TensorOptions } from './tensor';
export type { DType } from './dtype';
export { noGrad, enableGrad, isGradEnabled } from './autograd';
export { manualSeed, Generator, defaultGenerator } from './random';
export * from './errors';
export { cat, stack } from './ops/shape';
export { where } from './ops/elementwise';
export { matmul } from './ops/gemm';
export { getNumThreads, setNumThreads, memory, backends, cuda } from './runtime';
export * as nn from './nn';
export * as optim from './optim';
export * as F from './nn/functional';
export * as data from './data';
export * as train from './train';
export { save, load } from './io';
