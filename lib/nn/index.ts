// tn.nn: modules, losses, init and functional.
export { Module, Parameter, Sequential, ModuleList, Identity } from './module';
export type { StateDict, LoadResult } from './module';
export { Conv2d } from './conv';
export type { Conv2dOptions } from './conv';
export { Linear } from './linear';
export { ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax } from './activation';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d } from './pooling';
export { Dropout } from './dropout';
export { Flatten } from './flatten';
export { BatchNorm1d, BatchNorm2d } from './batchnorm';
export { CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss } from './loss';
export type { Reduction } from './loss';
export * as init from './init';
export * as functional from './functional';

import { BatchNorm1d, BatchNorm2d } from './batchnorm';
import { Conv2d } from './conv';
import { Dropout } from './dropout';
import { Flatten } from './flatten';
import { Linear } from './linear';
import { LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh } from './activation';
import { Identity, Sequential, markKeepsNoTensors, registerFusion } from './module';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from './pooling';
import { conv2dReluMaxPool2d } from '../ops/conv2d';
import { reluMaxPool2d } from '../ops/pool2d';

// Every layer here keeps no reference to the tensors it is given or returns (module.ts).
markKeepsNoTensors(Conv2d, Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Dropout, Flatten, BatchNorm1d, BatchNorm2d, Identity, Sequential);
// ReLU then MaxPool2d in a Sequential: one pass, no relu output (ops/pool2d.ts reluMaxPool2d); with
// the Conv2d before them, the weight gradients from the pool's (ops/conv2d.ts conv2dReluMaxPool2d).
registerFusion([ReLU, MaxPool2d] as const, ([, pool], x) => reluMaxPool2d(x, pool.kernelSize, pool.options));
registerFusion([Conv2d, ReLU, MaxPool2d] as const, ([conv, , pool], x) => conv2dReluMaxPool2d(x, conv.weight, conv.bias, conv.convOptions(), pool.kernelSize, pool.options));
