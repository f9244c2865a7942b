// CUDA twin of batch_norm_cpu.cc. Per-channel sums over the M = N*S values of a channel are cut
// into `splits` slices, one block each (grid: slices x channels), reduced in the block in double;
// a one-thread-per-channel kernel then adds the slices in order and does the per-channel
// arithmetic (mean, two-pass variance, running statistics, the scale and shift of the affine
// map); a last element-wise kernel applies it. Results are reproducible run to run, and equal the
// CPU's up to the order of the double sums.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"

namespace tensile {
namespace {

using namespace cuda;

constexpr int64_t kSlice = 8192;  // values of one channel per block, about
constexpr int64_t kMaxSplits = 128;

enum class Sum { X, SqDev, Grad };

// part[c * splits + s] = the slice s sum for channel c:
//   X:     sum x
//   SqDev: sum (x - mean[c])^2
//   Grad:  (sum dy, sum dy * (x - save_mean[c]))
template <Sum kind, typename T>
__global__ void __launch_bounds__(kThreads) channel_partial_kernel(double2* part, const T* x, const T* dy,
                                                                   const double* mean, const T* save_mean, int64_t N,
                                                                   int64_t C, int64_t S, int64_t splits, int64_t chunk) {
  __shared__ double2 shared[32];
  const int64_t M = N * S;
  for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
    const int64_t s = blockIdx.x, j0 = s * chunk, j1 = min(M, j0 + chunk);
    const double mu = kind == Sum::SqDev ? mean[c] : (kind == Sum::Grad ? double(save_mean[c]) : 0.0);
    double2 acc = make_double2(0, 0);
    for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
      const int64_t n = j / S, k = (n * C + c) * S + (j - n * S);
      const double v = double(x[k]);
      if (kind == Sum::X) {
        acc.x += v;
      } else if (kind == Sum::SqDev) {
        const double d = v - mu;
        acc.x += d * d;
      } else {
        const double g = double(dy[k]);
        acc.x += g;
        acc.y += g * (v - mu);
      }
    }
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0) part[c * splits + s] = acc;
  }
}

__device__ __forceinline__ double2 sum_slices(const double2* part, int64_t c, int64_t splits) {
  double2 r = make_double2(0, 0);
  for (int64_t s = 0; s < splits; s++) {
    r.x += part[c * splits + s].x;
    r.y += part[c * splits + s].y;
  }
  return r;
}

// Per channel, in double: the statistics and the affine map out = x * scale + shift.
struct Stats {
  double mean, invstd, scale, shift;
};

__global__ void mean_kernel(double* mean, const double2* part, int64_t C, int64_t M, int64_t splits) {
  TENSILE_CUDA_LOOP(c, C) mean[c] = M > 0 ? sum_slices(part, c, splits).x / double(M) : 0.0;
}

// Training: biased variance for normalising, running stats updated with the unbiased one.
template <typename T>
__global__ void train_stats_kernel(Stats* st, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                   const T* weight, const T* bias, const double* mean, const double2* part, int64_t C,
                                   int64_t M, int64_t splits, double momentum, double eps) {
  TENSILE_CUDA_LOOP(c, C) {
    const double mu = mean[c], sq = sum_slices(part, c, splits).x;
    const double var = M > 0 ? sq / double(M) : 0.0;
    const double invstd = 1.0 / sqrt(var + eps);
    if (running_mean) running_mean[c] = T((1.0 - momentum) * double(running_mean[c]) + momentum * mu);
    if (running_var) {
      const double unbiased = M > 1 ? sq / double(M - 1) : var;
      running_var[c] = T((1.0 - momentum) * double(running_var[c]) + momentum * unbiased);
    }
    save_mean[c] = T(mu);
    save_invstd[c] = T(invstd);
    const double scale = (weight ? double(weight[c]) : 1.0) * invstd;
    st[c] = {mu, invstd, scale, (bias ? double(bias[c]) : 0.0) - mu * scale};
  }
}

// Eval: the running statistics are the statistics.
template <typename T>
__global__ void eval_stats_kernel(Stats* st, T* save_mean, T* save_invstd, const T* running_mean, const T* running_var,
                                  const T* weight, const T* bias, int64_t C, double eps) {
  TENSILE_CUDA_LOOP(c, C) {
    const double mu = double(running_mean[c]), invstd = 1.0 / sqrt(double(running_var[c]) + eps);
    save_mean[c] = T(mu);
    save_invstd[c] = T(invstd);
    const double scale = (weight ? double(weight[c]) : 1.0) * invstd;
    st[c] = {mu, invstd, scale, (bias ? double(bias[c]) : 0.0) - mu * scale};
  }
}

// out = x * scale + shift.
template <typename T>
__global__ void __launch_bounds__(kThreads) normalize_kernel(T* out, const T* inp, const Stats* st, int64_t C, int64_t S,
                                                             int64_t total) {
  TENSILE_CUDA_LOOP(t, total) {
    const Stats& s = st[(t / S) % C];
    out[t] = T(double(inp[t]) * s.scale + s.shift);
  }
}

// Per channel: dbias, dweight, and for dinp the coefficients of
//   dx = k * (dy - mean_dy - (x - mean) * proj),  k = weight * invstd.
struct GradCoef {
  double k, mean_dy, proj, mean;
};

template <typename T>
__global__ void backward_stats_kernel(GradCoef* gc, T* dweight, T* dbias, const T* save_mean, const T* save_invstd,
                                      const T* weight, const double2* part, int64_t C, int64_t M, int64_t splits,
                                      bool training) {
  TENSILE_CUDA_LOOP(c, C) {
    const double mean = double(save_mean[c]), invstd = double(save_invstd[c]);
    const double2 sums = sum_slices(part, c, splits);
    const double sum_dy = sums.x, sum_dy_xhat = sums.y * invstd;
    if (dbias) dbias[c] = T(sum_dy);
    if (dweight) dweight[c] = T(sum_dy_xhat);
    const double k = (weight ? double(weight[c]) : 1.0) * invstd;
    const double mean_dy = training && M > 0 ? sum_dy / double(M) : 0.0;
    const double proj = training && M > 0 ? sum_dy_xhat / double(M) * invstd : 0.0;
    gc[c] = {k, mean_dy, proj, mean};
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) input_grad_kernel(T* dinp, const T* dout, const T* inp, const GradCoef* gc,
                                                              int64_t C, int64_t S, int64_t total) {
  TENSILE_CUDA_LOOP(t, total) {
    const GradCoef& g = gc[(t / S) % C];
    dinp[t] = T(g.k * (double(dout[t]) - g.mean_dy - (double(inp[t]) - g.mean) * g.proj));
  }
}

inline int64_t splits_for(int64_t M) { return std::max<int64_t>(1, std::min<int64_t>(kMaxSplits, ceil_div(M, kSlice))); }

inline dim3 channel_grid(int64_t splits, int64_t C) {
  return dim3(unsigned(splits), unsigned(std::min<int64_t>(C, 65535)));
}

}  // namespace

template <typename T>
int batch_norm_forward_cuda(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                            const T* weight, const T* bias, int64_t N, int64_t C, int64_t S, bool training,
                            double momentum, double eps, cudaStream_t stream) {
  if (C <= 0) return 0;
  const int64_t M = N * S, total = N * C * S;
  const int64_t splits = splits_for(M), chunk = ceil_div(std::max<int64_t>(M, 1), splits);
  // Scratch: slice partials (C * splits double2), Stats (C), mean (C doubles). The double2 array comes
  // first: it needs 16-byte alignment, which C doubles before it would break for odd C.
  CudaScratch scratch(size_t(C * splits) * sizeof(double2) + size_t(C) * (sizeof(Stats) + sizeof(double)));
  TENSILE_CUDA_TRY(scratch.status());
  double2* part = scratch.as<double2>();
  Stats* st = reinterpret_cast<Stats*>(part + C * splits);
  double* mean = reinterpret_cast<double*>(st + C);
  if (training) {
    channel_partial_kernel<Sum::X, T><<<channel_grid(splits, C), kThreads, 0, stream>>>(part, inp, nullptr, nullptr,
                                                                                        nullptr, N, C, S, splits, chunk);
    mean_kernel<<<grid_for(C), kThreads, 0, stream>>>(mean, part, C, M, splits);
    channel_partial_kernel<Sum::SqDev, T><<<channel_grid(splits, C), kThreads, 0, stream>>>(part, inp, nullptr, mean,
                                                                                            nullptr, N, C, S, splits, chunk);
    train_stats_kernel<T><<<grid_for(C), kThreads, 0, stream>>>(st, save_mean, save_invstd, running_mean, running_var,
                                                                weight, bias, mean, part, C, M, splits, momentum, eps);
  } else {
    eval_stats_kernel<T><<<grid_for(C), kThreads, 0, stream>>>(st, save_mean, save_invstd, running_mean, running_var,
                                                               weight, bias, C, eps);
  }
  if (total > 0) normalize_kernel<T><<<grid_for(total), kThreads, 0, stream>>>(out, inp, st, C, S, total);
  return launch_status();
}

template <typename T>
int batch_norm_backward_cuda(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* save_mean,
                             const T* save_invstd, const T* weight, int64_t N, int64_t C, int64_t S, bool training,
                             cudaStream_t stream) {
  if (C <= 0) return 0;
  const int64_t M = N * S, total = N * C * S;
  const int64_t splits = splits_for(M), chunk = ceil_div(std::max<int64_t>(M, 1), splits);
  CudaScratch scratch(size_t(C) * sizeof(GradCoef) + size_t(C * splits) * sizeof(double2));
  TENSILE_CUDA_TRY(scratch.status());
  double2* part = scratch.as<double2>();  // first, for its 16-byte alignment
  GradCoef* gc = reinterpret_cast<GradCoef*>(part + C * splits);
  channel_partial_kernel<Sum::Grad, T><<<channel_grid(splits, C), kThreads, 0, stream>>>(part, inp, dout, nullptr,
                                                                                         save_mean, N, C, S, splits, chunk);
  backward_stats_kernel<T><<<grid_for(C), kThreads, 0, stream>>>(gc, dweight, dbias, save_mean, save_invstd, weight,
                                                                 part, C, M, splits, training);
  if (dinp && total > 0) input_grad_kernel<T><<<grid_for(total), kThreads, 0, stream>>>(dinp, dout, inp, gc, C, S, total);
  return launch_status();
}

#define INSTANTIATE(T)                                                                                              \
  template int batch_norm_forward_cuda<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t,       \
                                          int64_t, bool, double, double, cudaStream_t);                             \
  template int batch_norm_backward_cuda<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,   \
                                           int64_t, int64_t, bool, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
