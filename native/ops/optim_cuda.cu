// CUDA twin of optim_cpu.cc, as multi-tensor kernels: one launch updates every parameter of a
// group (up to kMaxTensors per launch). The tensors' pointers, sizes and per-tensor scalars travel
// in the kernel's parameters (under the classic 4 KiB limit); each tensor is cut into chunks of
// kChunk elements, a block takes chunks in a grid-stride loop and finds a chunk's tensor by binary
// search over the running chunk counts.
//
// The update formulas are the CPU's, line by line, in the parameter's type T, with every product
// and sum rounded separately (mul_rn/add_rn: the compiler would otherwise fuse them into FMAs),
// so that a CUDA step gives the CPU's result bit for bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"

namespace tensile {
namespace {

using namespace cuda;

constexpr int kMaxTensors = 48;
constexpr int64_t kChunk = 16384;
constexpr int kOptimThreads = 256;

// Per launch: up to 5 lists of tensors (param, grad, then the optimizer's state buffers).
struct MultiMeta {
  void* ptr[5][kMaxTensors];
  int64_t numel[kMaxTensors];
  int64_t chunk_start[kMaxTensors + 1];  // chunks of tensors before t; chunk_start[count] = total
  double step_size[kMaxTensors];         // Adam: lr / (1 - beta1^t)
  double bc2_sqrt[kMaxTensors];          // Adam: sqrt(1 - beta2^t)
  uint8_t first_step[kMaxTensors];       // SGD: the momentum buffer starts as g
  int count;
};
static_assert(sizeof(MultiMeta) <= 3800, "multi-tensor metadata must fit the kernel parameter space");

template <typename Op>
__global__ void __launch_bounds__(kOptimThreads) multi_tensor_kernel(MultiMeta meta, Op op) {
  const int64_t total = meta.chunk_start[meta.count];
  for (int64_t c = blockIdx.x; c < total; c += gridDim.x) {
    // The last tensor whose first chunk is at or before c (tensors of size 0 own no chunk).
    int lo = 0, hi = meta.count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (meta.chunk_start[mid] <= c) lo = mid;
      else hi = mid - 1;
    }
    const int64_t i0 = (c - meta.chunk_start[lo]) * kChunk, i1 = min(meta.numel[lo], i0 + kChunk);
    for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) op(meta, lo, i);
  }
}

// ---------------------------------------------------------------------------------------------
// SGD (https://pytorch.org/docs/stable/generated/torch.optim.SGD.html)

template <typename T>
struct SgdOp {
  T lr, mu, one_minus_tau, wd;
  bool use_wd, use_momentum, nesterov, maximize;

  __device__ void operator()(const MultiMeta& m, int t, int64_t i) const {
    T* param = static_cast<T*>(m.ptr[0][t]);
    const T* grad = static_cast<const T*>(m.ptr[1][t]);
    T* buf = static_cast<T*>(m.ptr[2][t]);
    // g_t = grad f(theta_{t-1}), negated for maximize (before weight decay, as PyTorch's code)
    T g = maximize ? -grad[i] : grad[i];
    // g_t <- g_t + lambda * theta_{t-1}
    if (use_wd) g = add_rn(g, mul_rn(wd, param[i]));
    if (use_momentum) {
      // b_t <- g_t on the first step (no dampening), else b_t <- mu * b_{t-1} + (1 - tau) * g_t
      const T b = m.first_step[t] ? g : add_rn(mul_rn(mu, buf[i]), mul_rn(one_minus_tau, g));
      buf[i] = b;
      // g_t <- g_t + mu * b_t (Nesterov), else g_t <- b_t
      g = nesterov ? add_rn(g, mul_rn(mu, b)) : b;
    }
    // theta_t <- theta_{t-1} - gamma * g_t
    param[i] = sub_rn(param[i], mul_rn(lr, g));
  }
};

// ---------------------------------------------------------------------------------------------
// Adam / AdamW (https://pytorch.org/docs/stable/generated/torch.optim.Adam.html, .../AdamW.html)

template <typename T>
struct AdamOp {
  T b1, one_minus_b1, b2, one_minus_b2, eps, wd, decay;
  bool use_wd, decoupled, amsgrad, maximize;

  __device__ void operator()(const MultiMeta& m, int t, int64_t i) const {
    T* param = static_cast<T*>(m.ptr[0][t]);
    const T* grad = static_cast<const T*>(m.ptr[1][t]);
    T* exp_avg = static_cast<T*>(m.ptr[2][t]);
    T* exp_avg_sq = static_cast<T*>(m.ptr[3][t]);
    T* max_exp_avg_sq = static_cast<T*>(m.ptr[4][t]);
    const T step_size = T(m.step_size[t]), bias_correction2_sqrt = T(m.bc2_sqrt[t]);
    // g_t = grad f(theta_{t-1}), negated for maximize
    T g = maximize ? -grad[i] : grad[i];
    T p = param[i];
    if (use_wd) {
      // AdamW: theta_t <- theta_{t-1} - gamma * lambda * theta_{t-1} (decoupled weight decay)
      // Adam:  g_t <- g_t + lambda * theta_{t-1} (L2 penalty)
      if (decoupled) p = mul_rn(p, decay);
      else g = add_rn(g, mul_rn(wd, p));
    }
    // m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t (first moment)
    const T mt = add_rn(mul_rn(b1, exp_avg[i]), mul_rn(one_minus_b1, g));
    exp_avg[i] = mt;
    // v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2 (second moment)
    T v = add_rn(mul_rn(b2, exp_avg_sq[i]), mul_rn(mul_rn(one_minus_b2, g), g));
    exp_avg_sq[i] = v;
    // AMSGrad: v_t^max <- max(v_{t-1}^max, v_t), and the denominator uses v_t^max instead of v_t
    if (amsgrad) {
      const T vmax = max_exp_avg_sq[i];
      v = (vmax < v || v != v) ? v : vmax;  // NaN propagates, as torch.maximum does
      max_exp_avg_sq[i] = v;
    }
    // denominator sqrt(v_hat_t) + eps, with v_hat_t = v_t / (1 - beta2^t)
    const T denom = add_rn(sqrt(v) / bias_correction2_sqrt, eps);
    // theta_t <- theta_{t-1} - gamma * m_hat_t / (sqrt(v_hat_t) + eps), with m_hat_t = m_t / (1 - beta1^t)
    param[i] = sub_rn(p, mul_rn(step_size, mt / denom));
  }
};

// Fills the metadata of tensors [t0, t0 + count) (lists[d][t] for d < depth) and launches.
template <typename Op, typename SetScalars>
int launch_multi(int64_t count, int depth, void* const* const* lists, const int64_t* numels, Op op,
                 SetScalars set_scalars, cudaStream_t stream) {
  for (int64_t t0 = 0; t0 < count; t0 += kMaxTensors) {
    MultiMeta meta{};
    meta.count = int(std::min<int64_t>(kMaxTensors, count - t0));
    int64_t chunks = 0;
    for (int k = 0; k < meta.count; k++) {
      const int64_t t = t0 + k;
      for (int d = 0; d < depth; d++) meta.ptr[d][k] = lists[d] ? lists[d][t] : nullptr;
      meta.numel[k] = std::max<int64_t>(0, numels[t]);
      meta.chunk_start[k] = chunks;
      chunks += ceil_div(meta.numel[k], kChunk);
      set_scalars(meta, k, t);
    }
    meta.chunk_start[meta.count] = chunks;
    if (chunks == 0) continue;
    multi_tensor_kernel<Op><<<unsigned(std::min<int64_t>(chunks, kMaxGrid)), kOptimThreads, 0, stream>>>(meta, op);
  }
  return launch_status();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// launchers

template <typename T>
int sgd_step_multi_cuda(int64_t count, T* const* params, const T* const* grads, T* const* momentum_bufs,
                        const int64_t* numels, const bool* first_steps, double lr, double momentum, double dampening,
                        bool nesterov, double weight_decay, bool maximize, cudaStream_t stream) {
  if (count <= 0) return 0;
  const SgdOp<T> op{T(lr), T(momentum), T(1.0 - dampening), T(weight_decay), weight_decay != 0, momentum != 0,
                    nesterov, maximize};
  void* const* lists[3] = {reinterpret_cast<void* const*>(params),
                           reinterpret_cast<void* const*>(const_cast<T* const*>(grads)),
                           reinterpret_cast<void* const*>(momentum_bufs)};
  return launch_multi(count, 3, lists, numels, op,
                      [&](MultiMeta& m, int k, int64_t t) { m.first_step[k] = first_steps ? first_steps[t] : 0; },
                      stream);
}

template <typename T>
int adam_step_multi_cuda(int64_t count, T* const* params, const T* const* grads, T* const* exp_avgs,
                         T* const* exp_avg_sqs, T* const* max_exp_avg_sqs, const int64_t* numels, const int64_t* steps,
                         double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
                         bool decoupled, bool maximize, cudaStream_t stream) {
  if (count <= 0) return 0;
  const AdamOp<T> op{T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2), T(eps), T(weight_decay),
                     T(1.0 - lr * weight_decay), weight_decay != 0, decoupled, amsgrad, maximize};
  void* const* lists[5] = {reinterpret_cast<void* const*>(params),
                           reinterpret_cast<void* const*>(const_cast<T* const*>(grads)),
                           reinterpret_cast<void* const*>(exp_avgs), reinterpret_cast<void* const*>(exp_avg_sqs),
                           reinterpret_cast<void* const*>(max_exp_avg_sqs)};
  // The per-step scalars in double, as PyTorch computes them in Python (and the CPU step does).
  auto scalars = [&](MultiMeta& m, int k, int64_t t) {
    const double bias_correction1 = 1.0 - std::pow(beta1, double(steps[t]));
    const double bias_correction2 = 1.0 - std::pow(beta2, double(steps[t]));
    m.step_size[k] = lr / bias_correction1;
    m.bc2_sqrt[k] = std::sqrt(bias_correction2);
  };
  return launch_multi(count, 5, lists, numels, op, scalars, stream);
}

template <typename T>
int sgd_step_cuda(T* param, const T* grad, T* momentum_buf, int64_t n, double lr, double momentum, double dampening,
                  bool nesterov, double weight_decay, bool maximize, bool first_step, cudaStream_t stream) {
  return sgd_step_multi_cuda<T>(1, &param, &grad, &momentum_buf, &n, &first_step, lr, momentum, dampening, nesterov,
                                weight_decay, maximize, stream);
}

template <typename T>
int adam_step_cuda(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n, double lr,
                   double beta1, double beta2, double eps, double weight_decay, int64_t step, bool amsgrad,
                   bool decoupled, bool maximize, cudaStream_t stream) {
  return adam_step_multi_cuda<T>(1, &param, &grad, &exp_avg, &exp_avg_sq, &max_exp_avg_sq, &n, &step, lr, beta1, beta2,
                                 eps, weight_decay, amsgrad, decoupled, maximize, stream);
}

#define INSTANTIATE(T)                                                                                               \
  template int sgd_step_cuda<T>(T*, const T*, T*, int64_t, double, double, double, bool, double, bool, bool,          \
                                cudaStream_t);                                                                       \
  template int adam_step_cuda<T>(T*, const T*, T*, T*, T*, int64_t, double, double, double, double, double, int64_t,  \
                                 bool, bool, bool, cudaStream_t);                                                    \
  template int sgd_step_multi_cuda<T>(int64_t, T* const*, const T* const*, T* const*, const int64_t*, const bool*,   \
                                      double, double, double, bool, double, bool, cudaStream_t);                     \
  template int adam_step_multi_cuda<T>(int64_t, T* const*, const T* const*, T* const*, T* const*, T* const*,         \
                                       const int64_t*, const int64_t*, double, double, double, double, double, bool, \
                                       bool, bool, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
