// Batch normalisation over (N, C, S) inputs: [N, C] has S = 1, [N, C, L] has S = L, [N, C, H, W]
// has S = H*W. Statistics are per channel over the M = N*S values of that channel and accumulate
// in double. Module state (running stats, momentum schedule) lives in TS; these kernels only
// compute. Backward overwrites its outputs.
//
// Dimension letters: N = batch, C = channels, S = positions per channel; element (n, c, s) of
// a (N, C, S) tensor is at (n*C + c)*S + s.
#pragma once
#include <cstdint>

namespace tensile {

// Training (training = true): mean and biased variance of the batch per channel;
// save_mean = mean, save_invstd = 1 / sqrt(var + eps), and when running_mean / running_var are
// non-null they are updated in place with PyTorch's rule:
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)   (unbiased)
// Eval (training = false): running_mean and running_var (both required) are the statistics, and
// are copied into save_mean and save_invstd so that backward has one form for both modes.
// In both: out = (inp - mean) * invstd * weight + bias, weight = 1 and bias = 0 when null.
// out, inp are (N, C, S); save_mean, save_invstd, running_mean, running_var, weight, bias are (C).
template <typename T>
void batch_norm_forward_cpu(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                            const T* weight, const T* bias, int64_t N, int64_t C, int64_t S, bool training,
                            double momentum, double eps);

// Gradients of the forward above, with xhat = (inp - mean) * invstd from the saved statistics:
//   dbias   = sum over (n, s) of dout
//   dweight = sum over (n, s) of dout * xhat
//   dinp    = weight * invstd * (dout - dbias / M - xhat * dweight / M)   when training
//   dinp    = weight * invstd * dout                                      in eval (stats are constants)
// Any of dinp, dweight, dbias may be null (not wanted); weight null means 1.
// dinp, dout, inp are (N, C, S); dweight, dbias, save_mean, save_invstd, weight are (C).
template <typename T>
void batch_norm_backward_cpu(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* save_mean,
                             const T* save_invstd, const T* weight, int64_t N, int64_t C, int64_t S, bool training);

}  // namespace tensile
