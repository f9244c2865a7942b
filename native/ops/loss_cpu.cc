// CPU loss kernels: the readable reference loops, parallel over the outer dimension on the shared
// pool. Per-slice temporaries run along `inner` so that every inner loop reads contiguous memory,
// for [N, C] (inner = 1) and [N, C, H, W] alike. Everything is accumulated in double.
#include <cmath>
#include <limits>
#include <vector>

#include "../core/allocator.h"
#include "../core/thread_pool.h"
#include "loss.h"

namespace tensile {
namespace {

constexpr int64_t kGrain = 32768;  // elements below which threading costs more than it saves
constexpr int64_t kBlock = 4096;   // fixed summation block: results do not depend on thread count

// Outer slices per chunk, so that a chunk holds about kGrain elements.
inline int64_t slice_grain(int64_t slice) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(slice, 1)); }

// sum_{i < n} term(i) in double: fixed blocks in parallel, then the block sums in order.
template <typename F>
double block_sum(int64_t n, F term) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(nb), 0.0);
  parallel_for(nb, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
      double s = 0;
      const int64_t end = std::min(n, (b + 1) * kBlock);
      for (int64_t i = b * kBlock; i < end; i++) s += term(i);
      part[b] = s;
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return s;
}

// For one (C, inner) slice x: mx[i] = max_c x[c, i] and sum[i] = sum_c exp(x[c, i] - mx[i]).
// A NaN never wins the max, so it reaches the output through exp (NaN in, NaN out).
template <typename T>
void slice_max_sumexp(double* mx, double* sum, const T* x, int64_t C, int64_t inner) {
  for (int64_t i = 0; i < inner; i++) {
    mx[i] = -std::numeric_limits<double>::infinity();
    sum[i] = 0;
  }
  for (int64_t c = 0; c < C; c++)
    for (int64_t i = 0; i < inner; i++) {
      double v = double(x[c * inner + i]);
      if (v > mx[i]) mx[i] = v;
    }
  for (int64_t c = 0; c < C; c++)
    for (int64_t i = 0; i < inner; i++) sum[i] += std::exp(double(x[c * inner + i]) - mx[i]);
}

template <typename T>
inline double weight_of(const T* weight, int64_t c) {
  return weight ? double(weight[c]) : 1.0;
}

// Per-sample loss and weight of the class-index losses from log-probabilities (see loss.h), then
// the reduction into out and total_weight.
template <typename T, typename TI>
void class_loss_forward(T* out, T* total_weight, const T* logp, const TI* target, const T* weight, Reduction reduction,
                        int64_t ignore_index, double eps, int64_t outer, int64_t C, int64_t inner) {
  const int64_t S = outer * inner;
  ScratchBuffer<double> loss(static_cast<size_t>(S)), wt(static_cast<size_t>(S));
  double* ls = loss.get();
  double* ws = wt.get();
  parallel_for(outer, slice_grain(C * inner), [&](int64_t o0, int64_t o1) {
    // smooth[i] = sum_c -w_c * logp[c, i], only needed with label smoothing
    std::vector<double> smooth(eps > 0 ? size_t(inner) : 0);
    for (int64_t o = o0; o < o1; o++) {
      const T* lp = logp + o * C * inner;
      if (eps > 0) {
        std::fill(smooth.begin(), smooth.end(), 0.0);
        for (int64_t c = 0; c < C; c++) {
          const double wc = weight_of(weight, c);
          for (int64_t i = 0; i < inner; i++) smooth[i] -= wc * double(lp[c * inner + i]);
        }
      }
      for (int64_t i = 0; i < inner; i++) {
        const int64_t s = o * inner + i;
        const int64_t t = int64_t(target[s]);
        if (t == ignore_index) {
          ls[s] = 0;
          ws[s] = 0;
          continue;
        }
        const double w = weight_of(weight, t);
        double l = -w * double(lp[t * inner + i]);
        if (eps > 0) l = (1 - eps) * l + eps / double(C) * smooth[i];
        ls[s] = l;
        ws[s] = w;
      }
    }
  });
  const double wsum = block_sum(S, [&](int64_t s) { return ws[s]; });
  total_weight[0] = T(wsum);
  if (reduction == Reduction::None) {
    parallel_for(S, kGrain, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; s++) out[s] = T(ls[s]);
    });
    return;
  }
  const double lsum = block_sum(S, [&](int64_t s) { return ls[s]; });
  // Mean divides by the weight of the non-ignored targets: 0/0 = NaN when all are ignored.
  out[0] = T(reduction == Reduction::Mean ? lsum / wsum : lsum);
}

// g_s: the incoming gradient of sample s, with the mean's 1/total_weight folded in.
template <typename T>
struct SampleGrad {
  const T* dout;
  Reduction reduction;
  double scalar;
  SampleGrad(const T* d, Reduction r, const T* total_weight) : dout(d), reduction(r), scalar(0) {
    if (r != Reduction::None) scalar = double(d[0]) / (r == Reduction::Mean ? double(total_weight[0]) : 1.0);
  }
  double operator()(int64_t s) const { return reduction == Reduction::None ? double(dout[s]) : scalar; }
};

inline double pointwise_value(PointwiseLoss loss, double z, double beta) {
  const double a = std::fabs(z);
  switch (loss) {
    case PointwiseLoss::Mse: return z * z;
    case PointwiseLoss::L1: return a;
    case PointwiseLoss::SmoothL1:
      if (beta == 0) return a;
      return a < beta ? 0.5 * z * z / beta : a - 0.5 * beta;
  }
  return 0;
}

inline double sign_of(double z) { return double((z > 0) - (z < 0)); }

inline double pointwise_grad(PointwiseLoss loss, double z, double beta) {
  switch (loss) {
    case PointwiseLoss::Mse: return 2 * z;
    case PointwiseLoss::L1: return sign_of(z);
    case PointwiseLoss::SmoothL1:
      if (beta == 0) return sign_of(z);
      return std::fabs(z) < beta ? z / beta : sign_of(z);
  }
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// log_softmax / softmax

namespace {

// log_softmax and softmax forward share everything but the last step: per slice, the max over C
// and sum_c exp(x - max) (slice_max_sumexp), then out from those two.
template <bool Log, typename T>
void softmax_forward_impl(T* out, const T* x, int64_t outer, int64_t C, int64_t inner) {
  if (outer * C * inner == 0) return;
  parallel_for(outer, slice_grain(C * inner), [&](int64_t o0, int64_t o1) {
    ScratchBuffer<double> buf(static_cast<size_t>(2 * inner));
    double* mx = buf.get();
    double* sum = mx + inner;
    for (int64_t o = o0; o < o1; o++) {
      const T* xo = x + o * C * inner;
      T* yo = out + o * C * inner;
      slice_max_sumexp(mx, sum, xo, C, inner);
      if constexpr (Log) {
        double* lse = sum;  // log-sum-exp = max + log(sum), in place
        for (int64_t i = 0; i < inner; i++) lse[i] = mx[i] + std::log(lse[i]);
        for (int64_t c = 0; c < C; c++)
          for (int64_t i = 0; i < inner; i++) yo[c * inner + i] = T(double(xo[c * inner + i]) - lse[i]);
      } else {
        for (int64_t c = 0; c < C; c++)
          for (int64_t i = 0; i < inner; i++) yo[c * inner + i] = T(std::exp(double(xo[c * inner + i]) - mx[i]) / sum[i]);
      }
    }
  });
}

}  // namespace

template <typename T>
void log_softmax_forward_cpu(T* out, const T* x, int64_t outer, int64_t C, int64_t inner) {
  softmax_forward_impl<true>(out, x, outer, C, inner);
}

template <typename T>
void log_softmax_backward_cpu(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner) {
  if (outer * C * inner == 0) return;
  parallel_for(outer, slice_grain(C * inner), [&](int64_t o0, int64_t o1) {
    ScratchBuffer<double> buf(static_cast<size_t>(inner));
    double* dsum = buf.get();  // sum_c dy[c, i]
    for (int64_t o = o0; o < o1; o++) {
      const int64_t base = o * C * inner;
      for (int64_t i = 0; i < inner; i++) dsum[i] = 0;
      for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < inner; i++) dsum[i] += double(dy[base + c * inner + i]);
      for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < inner; i++) {
          const int64_t k = base + c * inner + i;
          dx[k] = T(double(dy[k]) - std::exp(double(out[k])) * dsum[i]);
        }
    }
  });
}

template <typename T>
void softmax_forward_cpu(T* out, const T* x, int64_t outer, int64_t C, int64_t inner) {
  softmax_forward_impl<false>(out, x, outer, C, inner);
}

template <typename T>
void softmax_backward_cpu(T* dx, const T* dy, const T* out, int64_t outer, int64_t C, int64_t inner) {
  if (outer * C * inner == 0) return;
  parallel_for(outer, slice_grain(C * inner), [&](int64_t o0, int64_t o1) {
    ScratchBuffer<double> buf(static_cast<size_t>(inner));
    double* dot = buf.get();  // sum_c dy[c, i] * out[c, i]
    for (int64_t o = o0; o < o1; o++) {
      const int64_t base = o * C * inner;
      for (int64_t i = 0; i < inner; i++) dot[i] = 0;
      for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < inner; i++) dot[i] += double(dy[base + c * inner + i]) * double(out[base + c * inner + i]);
      for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < inner; i++) {
          const int64_t k = base + c * inner + i;
          dx[k] = T(double(out[k]) * (double(dy[k]) - dot[i]));
        }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// cross-entropy and nll_loss

template <typename T, typename TI>
void cross_entropy_forward_cpu(T* out, T* total_weight, T* logp, const T* logits, const TI* target, const T* weight,
                               Reduction reduction, int64_t ignore_index, double label_smoothing, int64_t outer,
                               int64_t C, int64_t inner) {
  log_softmax_forward_cpu(logp, logits, outer, C, inner);
  class_loss_forward(out, total_weight, logp, target, weight, reduction, ignore_index, label_smoothing, outer, C, inner);
}

template <typename T, typename TI>
void cross_entropy_backward_cpu(T* dlogits, const T* dout, const T* logp, const TI* target, const T* weight,
                                const T* total_weight, Reduction reduction, int64_t ignore_index,
                                double label_smoothing, int64_t outer, int64_t C, int64_t inner) {
  if (outer * C * inner == 0) return;
  const double eps = label_smoothing;
  const double eps_c = eps > 0 ? eps / double(C) : 0.0;
  double wall = 0;  // sum_k w_k, only needed with label smoothing
  if (eps > 0)
    for (int64_t c = 0; c < C; c++) wall += weight_of(weight, c);
  const SampleGrad<T> grad(dout, reduction, total_weight);
  parallel_for(outer, slice_grain(C * inner), [&](int64_t o0, int64_t o1) {
    // Per position: a = g ((1-eps) w_t + eps/C sum_k w_k) multiplies p[c]; b = g eps/C multiplies w_c;
    // hit = g (1-eps) w_t comes off at the target class. All 0 for ignored positions.
    ScratchBuffer<double> buf(static_cast<size_t>(3 * inner));
    double* a = buf.get();
    double* b = a + inner;
    double* hit = b + inner;
    for (int64_t o = o0; o < o1; o++) {
      const int64_t base = o * C * inner;
      for (int64_t i = 0; i < inner; i++) {
        const int64_t s = o * inner + i;
        const int64_t t = int64_t(target[s]);
        if (t == ignore_index) {
          a[i] = b[i] = hit[i] = 0;
          continue;
        }
        const double g = grad(s), wt = weight_of(weight, t);
        a[i] = g * ((1 - eps) * wt + eps_c * wall);
        b[i] = g * eps_c;
        hit[i] = g * (1 - eps) * wt;
      }
      for (int64_t c = 0; c < C; c++) {
        const double wc = weight_of(weight, c);
        for (int64_t i = 0; i < inner; i++) {
          const int64_t k = base + c * inner + i;
          dlogits[k] = T(std::exp(double(logp[k])) * a[i] - b[i] * wc);
        }
      }
      // The target class once more, in double from scratch, rather than adjusting a rounded value.
      for (int64_t i = 0; i < inner; i++) {
        const int64_t t = int64_t(target[o * inner + i]);
        if (t == ignore_index) continue;
        const int64_t k = base + t * inner + i;
        dlogits[k] = T(std::exp(double(logp[k])) * a[i] - b[i] * weight_of(weight, t) - hit[i]);
      }
    }
  });
}

template <typename T, typename TI>
void nll_loss_forward_cpu(T* out, T* total_weight, const T* logp, const TI* target, const T* weight,
                          Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner) {
  class_loss_forward(out, total_weight, logp, target, weight, reduction, ignore_index, 0.0, outer, C, inner);
}

template <typename T, typename TI>
void nll_loss_backward_cpu(T* dlogp, const T* dout, const TI* target, const T* weight, const T* total_weight,
                           Reduction reduction, int64_t ignore_index, int64_t outer, int64_t C, int64_t inner) {
  if (outer * C * inner == 0) return;
  const SampleGrad<T> grad(dout, reduction, total_weight);
  parallel_for(outer, slice_grain(C * inner), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; o++) {
      T* d = dlogp + o * C * inner;
      std::fill(d, d + C * inner, T(0));
      for (int64_t i = 0; i < inner; i++) {
        const int64_t s = o * inner + i;
        const int64_t t = int64_t(target[s]);
        if (t == ignore_index) continue;
        d[t * inner + i] = T(-grad(s) * weight_of(weight, t));
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// point-wise losses

template <typename T>
void pointwise_loss_forward_cpu(PointwiseLoss loss, T* out, const T* input, const T* target, Reduction reduction,
                                double beta, int64_t n) {
  auto term = [&](int64_t i) { return pointwise_value(loss, double(input[i]) - double(target[i]), beta); };
  if (reduction == Reduction::None) {
    parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) out[i] = T(term(i));
    });
    return;
  }
  const double s = block_sum(n, term);
  // Mean of nothing is 0/0 = NaN, as in PyTorch.
  out[0] = T(reduction == Reduction::Mean ? s / double(n) : s);
}

template <typename T>
void pointwise_loss_backward_cpu(PointwiseLoss loss, T* dinput, const T* dout, const T* input, const T* target,
                                 Reduction reduction, double beta, int64_t n) {
  if (n == 0) return;
  const double scalar = reduction == Reduction::None ? 0.0 : double(dout[0]) / (reduction == Reduction::Mean ? double(n) : 1.0);
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const double g = reduction == Reduction::None ? double(dout[i]) : scalar;
      dinput[i] = T(g * pointwise_grad(loss, double(input[i]) - double(target[i]), beta));
    }
  });
}

// ---------------------------------------------------------------------------------------------

#define INSTANTIATE(T)                                                                                         \
  template void log_softmax_forward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t);                          \
  template void log_softmax_backward_cpu<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);               \
  template void softmax_forward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t);                              \
  template void softmax_backward_cpu<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);                   \
  template void pointwise_loss_forward_cpu<T>(PointwiseLoss, T*, const T*, const T*, Reduction, double, int64_t); \
  template void pointwise_loss_backward_cpu<T>(PointwiseLoss, T*, const T*, const T*, const T*, Reduction, double, int64_t);

#define INSTANTIATE_CLASS(T, TI)                                                                                  \
  template void cross_entropy_forward_cpu<T, TI>(T*, T*, T*, const T*, const TI*, const T*, Reduction, int64_t,   \
                                                 double, int64_t, int64_t, int64_t);                              \
  template void cross_entropy_backward_cpu<T, TI>(T*, const T*, const T*, const TI*, const T*, const T*,          \
                                                  Reduction, int64_t, double, int64_t, int64_t, int64_t);         \
  template void nll_loss_forward_cpu<T, TI>(T*, T*, const T*, const TI*, const T*, Reduction, int64_t, int64_t,   \
                                            int64_t, int64_t);                                                    \
  template void nll_loss_backward_cpu<T, TI>(T*, const T*, const TI*, const T*, const T*, Reduction, int64_t,     \
                                             int64_t, int64_t, int64_t);

INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE_CLASS(float, int64_t)
INSTANTIATE_CLASS(double, int64_t)
INSTANTIATE_CLASS(float, int32_t)
INSTANTIATE_CLASS(double, int32_t)
#undef INSTANTIATE
#undef INSTANTIATE_CLASS

}  // namespace tensile
