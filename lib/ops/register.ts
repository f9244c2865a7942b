// Connects the op families that Tensor methods reach through opsRegistry (tensor.ts cannot import
// them without an import cycle at load time).
import { opsRegistry } from '../tensor';
import { relu, sigmoid, tanh } from './activation';
import { matmul } from './gemm';
import { logSoftmax, softmax } from './loss';

Object.assign(opsRegistry, { relu, sigmoid, tanh, matmul, softmax, logSoftmax });
