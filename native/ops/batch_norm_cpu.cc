// Reference batch-norm loops, parallel over channels (each channel's statistics are one
// reduction over N*S strided values). Two passes for the variance (mean first), in double, so
// that float32 inputs with a large mean keep their precision.
#include <algorithm>
#include <cmath>

#include "../core/thread_pool.h"
#include "batch_norm.h"

namespace tensile {
namespace {

// Channels per chunk so that each chunk touches about 32768 elements.
int64_t channel_grain(int64_t per_channel) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(per_channel, 1)); }

}  // namespace

template <typename T>
void batch_norm_forward_cpu(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                            const T* weight, const T* bias, int64_t N, int64_t C, int64_t S, bool training,
                            double momentum, double eps) {
  const int64_t M = N * S;
  parallel_for(C, channel_grain(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      double mean, invstd;
      if (training) {
        double sum = 0;
        for (int64_t n = 0; n < N; n++) {
          const T* x = inp + (n * C + c) * S;
          for (int64_t s = 0; s < S; s++) sum += double(x[s]);
        }
        mean = M > 0 ? sum / double(M) : 0.0;
        double sq = 0;
        for (int64_t n = 0; n < N; n++) {
          const T* x = inp + (n * C + c) * S;
          for (int64_t s = 0; s < S; s++) {
            double d = double(x[s]) - mean;
            sq += d * d;
          }
        }
        double var = M > 0 ? sq / double(M) : 0.0;
        invstd = 1.0 / std::sqrt(var + eps);
        if (running_mean) running_mean[c] = T((1.0 - momentum) * double(running_mean[c]) + momentum * mean);
        if (running_var) {
          double unbiased = M > 1 ? sq / double(M - 1) : var;
          running_var[c] = T((1.0 - momentum) * double(running_var[c]) + momentum * unbiased);
        }
      } else {
        mean = double(running_mean[c]);
        invstd = 1.0 / std::sqrt(double(running_var[c]) + eps);
      }
      save_mean[c] = T(mean);
      save_invstd[c] = T(invstd);
      // out = x * scale + shift
      double scale = (weight ? double(weight[c]) : 1.0) * invstd;
      double shift = (bias ? double(bias[c]) : 0.0) - mean * scale;
      for (int64_t n = 0; n < N; n++) {
        const T* x = inp + (n * C + c) * S;
        T* o = out + (n * C + c) * S;
        for (int64_t s = 0; s < S; s++) o[s] = T(double(x[s]) * scale + shift);
      }
    }
  });
}

template <typename T>
void batch_norm_backward_cpu(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* save_mean,
                             const T* save_invstd, const T* weight, int64_t N, int64_t C, int64_t S, bool training) {
  const int64_t M = N * S;
  parallel_for(C, channel_grain(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      const double mean = double(save_mean[c]), invstd = double(save_invstd[c]);
      // sum_dy = sum dout, sum_dy_xhat = sum dout * xhat over the channel.
      double sum_dy = 0, sum_dy_xhat = 0;
      for (int64_t n = 0; n < N; n++) {
        const T* x = inp + (n * C + c) * S;
        const T* dy = dout + (n * C + c) * S;
        for (int64_t s = 0; s < S; s++) {
          sum_dy += double(dy[s]);
          sum_dy_xhat += double(dy[s]) * (double(x[s]) - mean);
        }
      }
      sum_dy_xhat *= invstd;
      if (dbias) dbias[c] = T(sum_dy);
      if (dweight) dweight[c] = T(sum_dy_xhat);
      if (!dinp) continue;
      const double k = (weight ? double(weight[c]) : 1.0) * invstd;
      // training: dx = k * (dy - mean(dy) - xhat * mean(dy * xhat)); eval: dx = k * dy.
      const double mean_dy = training && M > 0 ? sum_dy / double(M) : 0.0;
      const double proj = training && M > 0 ? sum_dy_xhat / double(M) * invstd : 0.0;  // multiplies (x - mean)
      for (int64_t n = 0; n < N; n++) {
        const T* x = inp + (n * C + c) * S;
        const T* dy = dout + (n * C + c) * S;
        T* dx = dinp + (n * C + c) * S;
        for (int64_t s = 0; s < S; s++) dx[s] = T(k * (double(dy[s]) - mean_dy - (double(x[s]) - mean) * proj));
      }
    }
  });
}

#define INSTANTIATE(T)                                                                                               \
  template void batch_norm_forward_cpu<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, \
                                          bool, double, double);                                                     \
  template void batch_norm_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,      \
                                           int64_t, int64_t, bool);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
