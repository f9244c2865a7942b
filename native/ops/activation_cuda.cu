// CUDA twin of activation_cpu.cc: element-wise activations with their fused backward, and
// inverted dropout. Dropout draws from the same counter-based random_unit(seed, i) as the CPU
// (SplitMix64, not Philox), so a mask made on the GPU equals the CPU's for the same seed and the
// two devices can be checked against each other element by element.
#include <cuda_runtime.h>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"

namespace tensile {
namespace {

using namespace cuda;

__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return tanh(x); }

template <typename T>
__global__ void __launch_bounds__(kThreads) activation_forward_kernel(Activation act, T* out, const T* inp, int64_t n,
                                                                      T s) {
  switch (act) {
    // x < 0 ? 0 : x keeps NaN (PyTorch's relu propagates it).
    case Activation::Relu: TENSILE_CUDA_LOOP(i, n) { const T x = inp[i]; out[i] = x < T(0) ? T(0) : x; } break;
    case Activation::LeakyRelu: TENSILE_CUDA_LOOP(i, n) { const T x = inp[i]; out[i] = x > T(0) ? x : x * s; } break;
    case Activation::Sigmoid: TENSILE_CUDA_LOOP(i, n) out[i] = T(1) / (T(1) + d_exp(-inp[i])); break;
    case Activation::Tanh: TENSILE_CUDA_LOOP(i, n) out[i] = d_tanh(inp[i]); break;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) activation_backward_kernel(Activation act, T* dinp, const T* dout,
                                                                       const T* saved, int64_t n, T s) {
  switch (act) {
    case Activation::Relu: TENSILE_CUDA_LOOP(i, n) dinp[i] = saved[i] > T(0) ? dout[i] : T(0); break;
    case Activation::LeakyRelu: TENSILE_CUDA_LOOP(i, n) dinp[i] = saved[i] > T(0) ? dout[i] : dout[i] * s; break;
    // The CPU's rounding: (dout * y) * (1 - y) and dout * (1 - y * y), each step rounded.
    case Activation::Sigmoid:
      TENSILE_CUDA_LOOP(i, n) { const T y = saved[i]; dinp[i] = mul_rn(mul_rn(dout[i], y), T(1) - y); }
      break;
    case Activation::Tanh:
      TENSILE_CUDA_LOOP(i, n) { const T y = saved[i]; dinp[i] = mul_rn(dout[i], T(1) - mul_rn(y, y)); }
      break;
  }
}

// keep = random_unit(seed, i) >= p; out = inp * (keep ? scale : 0) (NaN * 0 stays NaN, as in PyTorch).
template <typename T>
__global__ void __launch_bounds__(kThreads) dropout_forward_kernel(T* out, uint8_t* mask, const T* inp, int64_t n,
                                                                   double p, uint64_t seed, T scale) {
  TENSILE_CUDA_LOOP(i, n) {
    const uint8_t keep = random_unit_hd(seed, uint64_t(i)) >= p;
    mask[i] = keep;
    out[i] = inp[i] * (keep ? scale : T(0));
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) dropout_backward_kernel(T* dinp, const T* dout, const uint8_t* mask,
                                                                    int64_t n, T scale) {
  TENSILE_CUDA_LOOP(i, n) dinp[i] = dout[i] * (mask[i] ? scale : T(0));
}

}  // namespace

template <typename T>
int activation_forward_cuda(Activation act, T* out, const T* inp, int64_t n, double slope, cudaStream_t stream) {
  if (n <= 0) return 0;
  activation_forward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(act, out, inp, n, T(slope));
  return launch_status();
}

template <typename T>
int activation_backward_cuda(Activation act, T* dinp, const T* dout, const T* saved, int64_t n, double slope,
                             cudaStream_t stream) {
  if (n <= 0) return 0;
  activation_backward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(act, dinp, dout, saved, n, T(slope));
  return launch_status();
}

template <typename T>
int dropout_forward_cuda(T* out, uint8_t* mask, const T* inp, int64_t n, double p, uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return 0;
  const T scale = T(1.0 / (1.0 - p));  // the CPU's scale, rounded to T once
  dropout_forward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(out, mask, inp, n, p, seed, scale);
  return launch_status();
}

template <typename T>
int dropout_backward_cuda(T* dinp, const T* dout, const uint8_t* mask, int64_t n, double p, cudaStream_t stream) {
  if (n <= 0) return 0;
  const T scale = T(1.0 / (1.0 - p));
  dropout_backward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(dinp, dout, mask, n, scale);
  return launch_status();
}

#define INSTANTIATE(T)                                                                                         \
  template int activation_forward_cuda<T>(Activation, T*, const T*, int64_t, double, cudaStream_t);            \
  template int activation_backward_cuda<T>(Activation, T*, const T*, const T*, int64_t, double, cudaStream_t); \
  template int dropout_forward_cuda<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t, cudaStream_t);       \
  template int dropout_backward_cuda<T>(T*, const T*, const uint8_t*, int64_t, double, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
