// Activation kernels with fused backward (relu, leaky_relu, sigmoid, tanh) and dropout. Each
// backward reads what makes it cheapest: the output for relu, sigmoid and tanh, the input for
// leaky_relu (whose output sign depends on the slope's sign). Backward kernels overwrite dinp.
//
// Dimension letters: n = number of elements (all tensors here are flat and contiguous).
#pragma once
#include <cstdint>

namespace tensile {

// Codes shared with lib/ops/activation.ts (ACTIVATION_OP).
enum class Activation : int { Relu = 0, LeakyRelu, Sigmoid, Tanh };

// out[i] = act(inp[i]); `slope` is leaky_relu's negative slope (unused otherwise). NaN propagates.
// out, inp are (n).
template <typename T>
void activation_forward_cpu(Activation act, T* out, const T* inp, int64_t n, double slope);

// dinp[i] = dout[i] * act'(.) computed from `saved`: the forward output for relu
// (out > 0), sigmoid (out (1 - out)) and tanh (1 - out^2); the forward input for leaky_relu
// (1 if inp > 0 else slope).
// dinp, dout, saved are (n).
template <typename T>
void activation_backward_cpu(Activation act, T* dinp, const T* dout, const T* saved, int64_t n, double slope);

// Inverted dropout: mask[i] = 1 with probability 1 - p, decided by random_unit(seed, i) >= p so
// that element i depends only on (seed, i); out[i] = inp[i] * (mask[i] ? 1 / (1 - p) : 0). 0 <= p < 1.
// out, inp are (n); mask is (n) uint8.
template <typename T>
void dropout_forward_cpu(T* out, uint8_t* mask, const T* inp, int64_t n, double p, uint64_t seed);

// dinp[i] = dout[i] * (mask[i] ? 1 / (1 - p) : 0).
// dinp, dout are (n); mask is (n) uint8.
template <typename T>
void dropout_backward_cpu(T* dinp, const T* dout, const uint8_t* mask, int64_t n, double p);

}  // namespace tensile
