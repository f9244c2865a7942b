// nn.functional (imported as F): the ops with PyTorch's positional arguments and a trailing
// options object.
export { conv2d } from '../ops/conv2d';
export { linear, matmul } from '../ops/gemm';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d } from '../ops/pool2d';
export { relu, leakyRelu, sigmoid, tanh, dropout } from '../ops/activation';
export { batchNorm } from '../ops/batch_norm';
export { logSoftmax, softmax, crossEntropy, nllLoss, mseLoss, l1Loss, smoothL1Loss } from '../ops/loss';
export { flatten } from '../ops/shape';
