// Plain loops the compiler vectorises, parallel over contiguous chunks on the shared pool. The
// switch on the activation sits outside the loop so each loop body is branch-light.
#include <cmath>

#include "../core/thread_pool.h"
#include "activation.h"
#include "elementwise.h"

namespace tensile {
namespace {

constexpr int64_t kGrain = 32768;  // below this, threading costs more than it saves

template <typename F>
void map_chunks(int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) f(i);
  });
}

}  // namespace

template <typename T>
void activation_forward_cpu(Activation act, T* out, const T* inp, int64_t n, double slope) {
  const T s = T(slope);
  switch (act) {
    // x < 0 ? 0 : x keeps NaN (PyTorch's relu propagates it).
    case Activation::Relu: return map_chunks(n, [&](int64_t i) { out[i] = inp[i] < T(0) ? T(0) : inp[i]; });
    case Activation::LeakyRelu: return map_chunks(n, [&](int64_t i) { out[i] = inp[i] > T(0) ? inp[i] : inp[i] * s; });
    case Activation::Sigmoid: return map_chunks(n, [&](int64_t i) { out[i] = T(1) / (T(1) + std::exp(-inp[i])); });
    case Activation::Tanh: return map_chunks(n, [&](int64_t i) { out[i] = std::tanh(inp[i]); });
  }
}

template <typename T>
void activation_backward_cpu(Activation act, T* dinp, const T* dout, const T* saved, int64_t n, double slope) {
  const T s = T(slope);
  switch (act) {
    // dout is loaded unconditionally: `saved > 0 ? dout[i] : 0` reads dout only on one side of the
    // branch, so GCC may not vectorise it, and the scalar branch mispredicts on half the elements
    // (about 35x slower on a 26x26x10x20 activation).
    case Activation::Relu: return map_chunks(n, [&](int64_t i) { T g = dout[i]; dinp[i] = saved[i] > T(0) ? g : T(0); });
    case Activation::LeakyRelu: return map_chunks(n, [&](int64_t i) { dinp[i] = saved[i] > T(0) ? dout[i] : dout[i] * s; });
    case Activation::Sigmoid: return map_chunks(n, [&](int64_t i) { dinp[i] = dout[i] * saved[i] * (T(1) - saved[i]); });
    case Activation::Tanh: return map_chunks(n, [&](int64_t i) { dinp[i] = dout[i] * (T(1) - saved[i] * saved[i]); });
  }
}

template <typename T>
void dropout_forward_cpu(T* out, uint8_t* mask, const T* inp, int64_t n, double p, uint64_t seed) {
  const T scale = T(1.0 / (1.0 - p));
  map_chunks(n, [&](int64_t i) {
    uint8_t keep = random_unit(seed, uint64_t(i)) >= p;
    mask[i] = keep;
    out[i] = inp[i] * (keep ? scale : T(0));  // NaN * 0 stays NaN, as in PyTorch
  });
}

template <typename T>
void dropout_backward_cpu(T* dinp, const T* dout, const uint8_t* mask, int64_t n, double p) {
  const T scale = T(1.0 / (1.0 - p));
  map_chunks(n, [&](int64_t i) { dinp[i] = dout[i] * (mask[i] ? scale : T(0)); });
}

#define INSTANTIATE(T)                                                                                     \
  template void activation_forward_cpu<T>(Activation, T*, const T*, int64_t, double);                      \
  template void activation_backward_cpu<T>(Activation, T*, const T*, const T*, int64_t, double);           \
  template void dropout_forward_cpu<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t);                 \
  template void dropout_backward_cpu<T>(T*, const T*, const uint8_t*, int64_t, double);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
