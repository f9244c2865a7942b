// CUDA twin of loss_cpu.cc: log_softmax / softmax along the middle dimension of (outer, C, inner),
// cross-entropy and nll_loss with class weights, ignore_index, label smoothing and the three
// reductions, and the point-wise regression losses. Everything is computed in double, as on the
// CPU.
//
// Shapes of work: with inner == 1 (the [N, C] logits of a classifier) one warp owns a row and
// reduces over C with shuffles; with inner > 1 one thread owns a column (o, i) and walks C with
// stride inner, so that a warp reads consecutive i. Reductions to one value (the loss, the total
// weight) go through fixed-size block partials summed in a fixed order: run-to-run reproducible.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"

namespace tensile {
namespace {

using namespace cuda;

// ---------------------------------------------------------------------------------------------
// fixed-order sums of n terms (two stages)

constexpr int64_t kSumBlocks = 1024;  // at most, for the first stage

inline int64_t sum_blocks(int64_t n) { return std::max<int64_t>(1, std::min<int64_t>(kSumBlocks, ceil_div(n, kThreads * 8))); }

// part[b] = sum over this block's share of term(i) for i < n (a pair of sums at once).
template <typename Term>
__global__ void __launch_bounds__(kThreads) sum_partial_kernel(double2* part, Term term, int64_t n) {
  __shared__ double2 shared[32];
  double2 acc = make_double2(0, 0);
  TENSILE_CUDA_LOOP(i, n) {
    const double2 v = term(i);
    acc.x += v.x;
    acc.y += v.y;
  }
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

// fin(sum of part[0 .. nb)), by one block.
template <typename Fin>
__global__ void __launch_bounds__(kThreads) sum_final_kernel(const double2* part, int64_t nb, Fin fin) {
  __shared__ double2 shared[32];
  double2 acc = make_double2(0, 0);
  for (int64_t b = threadIdx.x; b < nb; b += blockDim.x) {
    acc.x += part[b].x;
    acc.y += part[b].y;
  }
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) fin(acc);
}

// Launches both stages; `part` holds sum_blocks(n) values.
template <typename Term, typename Fin>
int fixed_sum(double2* part, Term term, int64_t n, Fin fin, cudaStream_t stream) {
  const int64_t nb = sum_blocks(n);
  sum_partial_kernel<Term><<<unsigned(nb), kThreads, 0, stream>>>(part, term, n);
  sum_final_kernel<Fin><<<1, kThreads, 0, stream>>>(part, nb, fin);
  return launch_status();
}

// ---------------------------------------------------------------------------------------------
// log_softmax / softmax

// One warp per row of C contiguous values (inner == 1).
template <bool Log, typename T>
__global__ void __launch_bounds__(kThreads) softmax_rows_kernel(T* out, const T* x, int64_t rows, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T* xr = x + r * C;
    T* yr = out + r * C;
    double mx = -INFINITY;  // a NaN never wins the max; it reaches the output through exp
    for (int64_t c = lane; c < C; c += 32) {
      const double v = double(xr[c]);
      if (v > mx) mx = v;
    }
    mx = warp_max(mx);
    double sum = 0;
    for (int64_t c = lane; c < C; c += 32) sum += exp(double(xr[c]) - mx);
    sum = warp_sum(sum);
    if (Log) {
      const double lse = mx + log(sum);
      for (int64_t c = lane; c < C; c += 32) yr[c] = T(double(xr[c]) - lse);
    } else {
      for (int64_t c = lane; c < C; c += 32) yr[c] = T(exp(double(xr[c]) - mx) / sum);
    }
  }
}

// One thread per column (o, i), walking C with stride inner (inner > 1): the CPU's loop.
template <bool Log, typename T>
__global__ void __launch_bounds__(kThreads) softmax_cols_kernel(T* out, const T* x, int64_t outer, int64_t C,
                                                                int64_t inner) {
  TENSILE_CUDA_LOOP(t, outer * inner) {
    const int64_t o = t / inner, i = t - o * inner;
    const T* xc = x + o * C * inner + i;
    T* yc = out + o * C * inner + i;
    double mx = -INFINITY, sum = 0;
    for (int64_t c = 0; c < C; c++) {
      const double v = double(xc[c * inner]);
      if (v > mx) mx = v;
    }
    for (int64_t c = 0; c < C; c++) sum += exp(double(xc[c * inner]) - mx);
    if (Log) {
      const double lse = mx + log(sum);
      for (int64_t c = 0; c < C; c++) yc[c * inner] = T(double(xc[c * inner]) - lse);
    } else {
      for (int64_t c = 0; c < C; c++) yc[c * inner] = T(exp(double(xc[c * inner]) - mx) / sum);
    }
  }
}

// log_softmax: dx = dy - exp(out) * sum dy; softmax: dx = out * (dy - sum dy * out).
template <bool Log>
__device__ __forceinline__ double softmax_dterm(double dy, double y) { return Log ? dy : dy * y; }
template <bool Log>
__device__ __forceinline__ double softmax_dx(double dy, double y, double s) { return Log ? dy - exp(y) * s : y * (dy - s); }

template <bool Log, typename T>
__global__ void __launch_bounds__(kThreads) softmax_backward_rows_kernel(T* dx, const T* dy, const T* out, int64_t rows,
                                                                         int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const int64_t base = r * C;
    double s = 0;
    for (int64_t c = lane; c < C; c += 32) s += softmax_dterm<Log>(double(dy[base + c]), double(out[base + c]));
    s = warp_sum(s);
    for (int64_t c = lane; c < C; c += 32) dx[base + c] = T(softmax_dx<Log>(double(dy[base + c]), double(out[base + c]), s));
  }
}

template <bool Log, typename T>
__global__ void __launch_bounds__(kThreads) softmax_backward_cols_kernel(T* dx, const T* dy, const T* out, int64_t outer,
                                                                         int64_t C, int64_t inner) {
  TENSILE_CUDA_LOOP(t, outer * inner) {
    const int64_t o = t / inner, i = t - o * inner, base = o * C * inner + i;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += softmax_dterm<Log>(double(dy[base + c * inner]), double(out[base + c * inner]));
    for (int64_t c = 0; c < C; c++) {
      const int64_t k = base + c * inner;
      dx[k] = T(softmax_dx<Log>(double(dy[k]), double(out[k]), s));
    }
  }
}

template <bool Log, typename T>
int softmax_forward(T* out, const T* x, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream) {
  if (outer * C * inner == 0) return 0;
  if (inner == 1) softmax_rows_kernel<Log, T><<<grid_for(outer * 32), kThreads, 0, stream>>>(out, x, outer, C);
  else softmax_cols_kernel<Log, T><<<grid_for(outer * inner), kThreads, 0, stream>>>(out, x, outer, C, inner);
  return launch_status();
}

template <bool Log, typename T>
int softmax_backward(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream) {
  if (outer * C * inner == 0) return 0;
  if (inner == 1) softmax_backward_rows_kernel<Log, T><<<grid_for(outer * 32), kThreads, 0, stream>>>(dx, dy, out, outer, C);
  else softmax_backward_cols_kernel<Log, T><<<grid_for(outer * inner), kThreads, 0, stream>>>(dx, dy, out, outer, C, inner);
  return launch_status();
}

// ---------------------------------------------------------------------------------------------
// class-index losses

template <typename T>
__device__ __forceinline__ double weight_of(const T* weight, int64_t c) {
  return weight ? double(weight[c]) : 1.0;
}

// Per sample s = (o, i): loss and weight (see loss.h), into ls and ws; also into out when the
// reduction is None. A target outside [0, C) that is not ignore_index reads nothing and gives a
// NaN loss (the binding cannot check device targets without a synchronisation).
template <typename T, typename TI>
__global__ void __launch_bounds__(kThreads) class_loss_kernel(double* ls, double* ws, T* out_none, const T* logp,
                                                              const TI* target, const T* weight, int64_t ignore_index,
                                                              double eps, int64_t outer, int64_t C, int64_t inner) {
  TENSILE_CUDA_LOOP(s, outer * inner) {
    const int64_t o = s / inner, i = s - o * inner;
    const int64_t t = int64_t(target[s]);
    double l = 0, w = 0;
    if (t == ignore_index) {
      // ignored: contributes nothing
    } else if (t < 0 || t >= C) {
      l = NAN;
    } else {
      const T* lp = logp + o * C * inner + i;
      w = weight_of(weight, t);
      l = -w * double(lp[t * inner]);
      if (eps > 0) {
        double smooth = 0;  // sum_c -w_c * logp[c], in the CPU's order
        for (int64_t c = 0; c < C; c++) smooth -= weight_of(weight, c) * double(lp[c * inner]);
        l = (1 - eps) * l + eps / double(C) * smooth;
      }
    }
    ls[s] = l;
    ws[s] = w;
    if (out_none) out_none[s] = T(l);
  }
}

struct LossWeightTerm {
  const double* ls;
  const double* ws;
  __device__ double2 operator()(int64_t s) const { return make_double2(ls[s], ws[s]); }
};

// out[0] (unless None) and total_weight[0] from (sum of losses, sum of weights).
template <typename T>
struct ClassLossFin {
  T* out;
  T* total_weight;
  Reduction reduction;
  __device__ void operator()(double2 s) const {
    total_weight[0] = T(s.y);
    if (reduction == Reduction::None) return;
    // Mean divides by the weight of the non-ignored targets: 0/0 = NaN when all are ignored.
    out[0] = T(reduction == Reduction::Mean ? s.x / s.y : s.x);
  }
};

template <typename T, typename TI>
int class_loss_forward(T* out, T* total_weight, const T* logp, const TI* target, const T* weight, Reduction reduction,
                       int64_t ignore_index, double eps, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream) {
  const int64_t S = outer * inner;
  CudaScratch scratch(size_t(2 * S) * sizeof(double) + size_t(sum_blocks(S)) * sizeof(double2));
  TENSILE_CUDA_TRY(scratch.status());
  double* ls = scratch.as<double>();
  double* ws = ls + S;
  double2* part = reinterpret_cast<double2*>(ws + S);
  if (S > 0)
    class_loss_kernel<T, TI><<<grid_for(S), kThreads, 0, stream>>>(ls, ws, reduction == Reduction::None ? out : nullptr,
                                                                   logp, target, weight, ignore_index, eps, outer, C, inner);
  return fixed_sum(part, LossWeightTerm{ls, ws}, S, ClassLossFin<T>{out, total_weight, reduction}, stream);
}

// g_s: the incoming gradient of sample s, with the mean's 1/total_weight folded in.
template <typename T>
__device__ __forceinline__ double sample_grad(const T* dout, const T* total_weight, Reduction r, int64_t s) {
  if (r == Reduction::None) return double(dout[s]);
  return double(dout[0]) / (r == Reduction::Mean ? double(total_weight[0]) : 1.0);
}

__global__ void weight_sum_kernel(double* wall, const void* weight, bool is_double, int64_t C) {
  __shared__ double shared[32];
  double acc = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    acc += weight ? (is_double ? static_cast<const double*>(weight)[c] : double(static_cast<const float*>(weight)[c])) : 1.0;
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) *wall = acc;
}

// One thread per element (o, c, i) of dlogits (the CPU's formula, see loss.h).
template <typename T, typename TI>
__global__ void __launch_bounds__(kThreads) cross_entropy_backward_kernel(T* dlogits, const T* dout, const T* logp,
                                                                          const TI* target, const T* weight,
                                                                          const T* total_weight, const double* wall,
                                                                          Reduction reduction, int64_t ignore_index,
                                                                          double eps, int64_t outer, int64_t C,
                                                                          int64_t inner) {
  const double eps_c = eps > 0 ? eps / double(C) : 0.0;
  TENSILE_CUDA_LOOP(k, outer * C * inner) {
    const int64_t i = k % inner, c = (k / inner) % C, o = k / (inner * C), s = o * inner + i;
    const int64_t t = int64_t(target[s]);
    if (t == ignore_index) {
      dlogits[k] = T(0);
      continue;
    }
    if (t < 0 || t >= C) {
      dlogits[k] = T(NAN);
      continue;
    }
    const double g = sample_grad(dout, total_weight, reduction, s), wt = weight_of(weight, t);
    const double a = g * ((1 - eps) * wt + eps_c * (eps > 0 ? *wall : 0.0));
    const double b = g * eps_c;
    double d = exp(double(logp[k])) * a - b * weight_of(weight, c);
    if (c == t) d -= g * (1 - eps) * wt;
    dlogits[k] = T(d);
  }
}

template <typename T, typename TI>
__global__ void __launch_bounds__(kThreads) nll_backward_kernel(T* dlogp, const T* dout, const TI* target,
                                                                const T* weight, const T* total_weight,
                                                                Reduction reduction, int64_t ignore_index,
                                                                int64_t outer, int64_t C, int64_t inner) {
  TENSILE_CUDA_LOOP(k, outer * C * inner) {
    const int64_t i = k % inner, c = (k / inner) % C, o = k / (inner * C), s = o * inner + i;
    const int64_t t = int64_t(target[s]);
    T d = T(0);
    if (t != ignore_index) {
      if (t < 0 || t >= C) d = T(NAN);
      else if (c == t) d = T(-sample_grad(dout, total_weight, reduction, s) * weight_of(weight, t));
    }
    dlogp[k] = d;
  }
}

template <typename TI>
__global__ void __launch_bounds__(kThreads) invalid_targets_kernel(unsigned long long* counts, const TI* target,
                                                                   int64_t S, int64_t C, int64_t ignore_index) {
  TENSILE_CUDA_LOOP(s, S) {
    const int64_t t = int64_t(target[s]);
    if (t != ignore_index && (t < 0 || t >= C)) note_offender(counts, S, s);
  }
}

// ---------------------------------------------------------------------------------------------
// point-wise losses (the CPU's double arithmetic, products and sums unfused)

__device__ __forceinline__ double pointwise_value(PointwiseLoss loss, double z, double beta) {
  const double a = fabs(z);
  switch (loss) {
    case PointwiseLoss::Mse: return mul_rn(z, z);
    case PointwiseLoss::L1: return a;
    case PointwiseLoss::SmoothL1:
      if (beta == 0) return a;
      return a < beta ? mul_rn(mul_rn(0.5, z), z) / beta : sub_rn(a, mul_rn(0.5, beta));
  }
  return 0;
}

__device__ __forceinline__ double sign_of(double z) { return double((z > 0) - (z < 0)); }

__device__ __forceinline__ double pointwise_grad(PointwiseLoss loss, double z, double beta) {
  switch (loss) {
    case PointwiseLoss::Mse: return 2 * z;
    case PointwiseLoss::L1: return sign_of(z);
    case PointwiseLoss::SmoothL1:
      if (beta == 0) return sign_of(z);
      return fabs(z) < beta ? z / beta : sign_of(z);
  }
  return 0;
}

template <typename T>
struct PointwiseTerm {
  PointwiseLoss loss;
  const T* input;
  const T* target;
  double beta;
  __device__ double2 operator()(int64_t i) const {
    return make_double2(pointwise_value(loss, double(input[i]) - double(target[i]), beta), 0.0);
  }
};

template <typename T>
struct PointwiseFin {
  T* out;
  Reduction reduction;
  int64_t n;
  // Mean of nothing is 0/0 = NaN, as in PyTorch.
  __device__ void operator()(double2 s) const { out[0] = T(reduction == Reduction::Mean ? s.x / double(n) : s.x); }
};

template <typename T>
__global__ void __launch_bounds__(kThreads) pointwise_none_kernel(T* out, PointwiseTerm<T> term, int64_t n) {
  TENSILE_CUDA_LOOP(i, n) out[i] = T(term(i).x);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) pointwise_backward_kernel(PointwiseLoss loss, T* dinput, const T* dout,
                                                                      const T* input, const T* target,
                                                                      Reduction reduction, double beta, int64_t n) {
  const double scalar = reduction == Reduction::None ? 0.0 : double(dout[0]) / (reduction == Reduction::Mean ? double(n) : 1.0);
  TENSILE_CUDA_LOOP(i, n) {
    const double g = reduction == Reduction::None ? double(dout[i]) : scalar;
    dinput[i] = T(mul_rn(g, pointwise_grad(loss, double(input[i]) - double(target[i]), beta)));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// launchers

template <typename T>
int log_softmax_forward_cuda(T* out, const T* x, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream) {
  return softmax_forward<true>(out, x, outer, C, inner, stream);
}
template <typename T>
int log_softmax_backward_cuda(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner,
                              cudaStream_t stream) {
  return softmax_backward<true>(dx, dy, out, outer, C, inner, stream);
}
template <typename T>
int softmax_forward_cuda(T* out, const T* x, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream) {
  return softmax_forward<false>(out, x, outer, C, inner, stream);
}
template <typename T>
int softmax_backward_cuda(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner,
                          cudaStream_t stream) {
  return softmax_backward<false>(dx, dy, out, outer, C, inner, stream);
}

template <typename T, typename TI>
int cross_entropy_forward_cuda(T* out, T* total_weight, T* logp, const T* logits, const TI* target, const T* weight,
                               Reduction reduction, int64_t ignore_index, double label_smoothing, int64_t outer,
                               int64_t C, int64_t inner, cudaStream_t stream) {
  TENSILE_CUDA_TRY(log_softmax_forward_cuda(logp, logits, outer, C, inner, stream));
  return class_loss_forward(out, total_weight, logp, target, weight, reduction, ignore_index, label_smoothing, outer, C,
                            inner, stream);
}

template <typename T, typename TI>
int cross_entropy_backward_cuda(T* dlogits, const T* dout, const T* logp, const TI* target, const T* weight,
                                const T* total_weight, Reduction reduction, int64_t ignore_index,
                                double label_smoothing, int64_t outer, int64_t C, int64_t inner, cudaStream_t stream) {
  const int64_t n = outer * C * inner;
  if (n == 0) return 0;
  CudaScratch wall(sizeof(double));
  TENSILE_CUDA_TRY(wall.status());
  if (label_smoothing > 0)
    weight_sum_kernel<<<1, kThreads, 0, stream>>>(wall.as<double>(), weight, sizeof(T) == 8, C);
  cross_entropy_backward_kernel<T, TI><<<grid_for(n), kThreads, 0, stream>>>(
      dlogits, dout, logp, target, weight, total_weight, wall.as<double>(), reduction, ignore_index, label_smoothing,
      outer, C, inner);
  return launch_status();
}

template <typename T, typename TI>
int nll_loss_forward_cuda(T* out, T* total_weight, const T* logp, const TI* target, const T* weight,
                          Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner,
                          cudaStream_t stream) {
  return class_loss_forward(out, total_weight, logp, target, weight, reduction, ignore_index, 0.0, outer, C, inner,
                            stream);
}

template <typename T, typename TI>
int nll_loss_backward_cuda(T* dlogp, const T* dout, const TI* target, const T* weight, const T* total_weight,
                           Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner,
                           cudaStream_t stream) {
  const int64_t n = outer * C * inner;
  if (n == 0) return 0;
  nll_backward_kernel<T, TI><<<grid_for(n), kThreads, 0, stream>>>(dlogp, dout, target, weight, total_weight, reduction,
                                                                   ignore_index, outer, C, inner);
  return launch_status();
}

template <typename TI>
int count_invalid_targets_cuda(int64_t* counts, const TI* target, int64_t S, int64_t C, int64_t ignore_index,
                               cudaStream_t stream) {
  if (S > 0)
    invalid_targets_kernel<TI><<<grid_for(S), kThreads, 0, stream>>>(reinterpret_cast<unsigned long long*>(counts),
                                                                     target, S, C, ignore_index);
  return launch_status();
}

template <typename T>
int pointwise_loss_forward_cuda(PointwiseLoss loss, T* out, const T* input, const T* target, Reduction reduction,
                                double beta, int64_t n, cudaStream_t stream) {
  const PointwiseTerm<T> term{loss, input, target, beta};
  if (reduction == Reduction::None) {
    if (n <= 0) return 0;
    pointwise_none_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(out, term, n);
    return launch_status();
  }
  CudaScratch part(size_t(sum_blocks(n)) * sizeof(double2));
  TENSILE_CUDA_TRY(part.status());
  return fixed_sum(part.as<double2>(), term, n, PointwiseFin<T>{out, reduction, n}, stream);
}

template <typename T>
int pointwise_loss_backward_cuda(PointwiseLoss loss, T* dinput, const T* dout, const T* input, const T* target,
                                 Reduction reduction, double beta, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0;
  pointwise_backward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(loss, dinput, dout, input, target, reduction,
                                                                     beta, n);
  return launch_status();
}

#define INSTANTIATE(T)                                                                                              \
  template int log_softmax_forward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);                  \
  template int log_softmax_backward_cuda<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);       \
  template int softmax_forward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);                      \
  template int softmax_backward_cuda<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);           \
  template int pointwise_loss_forward_cuda<T>(PointwiseLoss, T*, const T*, const T*, Reduction, double, int64_t,    \
                                              cudaStream_t);                                                        \
  template int pointwise_loss_backward_cuda<T>(PointwiseLoss, T*, const T*, const T*, const T*, Reduction, double,  \
                                               int64_t, cudaStream_t);

#define INSTANTIATE_CLASS(T, TI)                                                                                     \
  template int cross_entropy_forward_cuda<T, TI>(T*, T*, T*, const T*, const TI*, const T*, Reduction, int64_t,      \
                                                 double, int64_t, int64_t, int64_t, cudaStream_t);                   \
  template int cross_entropy_backward_cuda<T, TI>(T*, const T*, const T*, const TI*, const T*, const T*, Reduction,  \
                                                  int64_t, double, int64_t, int64_t, int64_t, cudaStream_t);         \
  template int nll_loss_forward_cuda<T, TI>(T*, T*, const T*, const TI*, const T*, Reduction, int64_t, int64_t,      \
                                            int64_t, int64_t, cudaStream_t);                                         \
  template int nll_loss_backward_cuda<T, TI>(T*, const T*, const TI*, const T*, const T*, Reduction, int64_t,        \
                                             int64_t, int64_t, int64_t, cudaStream_t);

INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE_CLASS(float, int64_t)
INSTANTIATE_CLASS(double, int64_t)
INSTANTIATE_CLASS(float, int32_t)
INSTANTIATE_CLASS(double, int32_t)
template int count_invalid_targets_cuda<int64_t>(int64_t*, const int64_t*, int64_t, int64_t, int64_t, cudaStream_t);
template int count_invalid_targets_cuda<int32_t>(int64_t*, const int32_t*, int64_t, int64_t, int64_t, cudaStream_t);
#undef INSTANTIATE
#undef INSTANTIATE_CLASS

}  // namespace tensile
