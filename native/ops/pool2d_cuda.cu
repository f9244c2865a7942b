// CUDA twin of pool2d_cpu.cc. Forward kernels: one thread per output element, scanning its window
// in the CPU's order, so values and max indices are the CPU's bit for bit. Backward: max pooling
// scatters through its indices with atomic adds (the only kernel here whose float sums may vary
// in order, and only where windows overlap); average pooling gathers, each input element summing
// the outputs whose window covers it in ascending output order, as the CPU's scatter does.
#include <cuda_runtime.h>

#include <cmath>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"

namespace tensile {
namespace {

using namespace cuda;

// Range [lo, hi) of tap k such that start + k*D lies in [0, n), for k in [0, K).
__device__ __forceinline__ void valid_taps(int64_t start, int64_t D, int64_t K, int64_t n, int64_t& lo, int64_t& hi) {
  lo = start >= 0 ? 0 : (-start + D - 1) / D;
  hi = start >= n ? 0 : min(K, (n - start + D - 1) / D);
  if (hi < lo) hi = lo;
}

__host__ __device__ __forceinline__ int64_t adaptive_start(int64_t i, int64_t out, int64_t n) { return (i * n) / out; }
__host__ __device__ __forceinline__ int64_t adaptive_end(int64_t i, int64_t out, int64_t n) { return ((i + 1) * n + out - 1) / out; }

// The clipped window of output (oh, ow) of an average pool and its divisor (the CPU's avg_window).
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  double divisor;
};
__device__ __forceinline__ bool avg_window(int64_t oh, int64_t ow, int64_t H, int64_t W, const Pool2dWindow& win,
                                           bool count_include_pad, int64_t divisor_override, AvgWindow& a) {
  int64_t h0 = oh * win.SH - win.PH, w0 = ow * win.SW - win.PW;
  int64_t h1 = min(h0 + win.KH, H + win.PH), w1 = min(w0 + win.KW, W + win.PW);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = max(h0, int64_t(0));
  w0 = max(w0, int64_t(0));
  h1 = min(h1, H);
  w1 = min(w1, W);
  if (h0 >= h1 || w0 >= w1) return false;
  a = {h0, h1, w0, w1, 0.0};
  if (divisor_override > 0) a.divisor = double(divisor_override);
  else a.divisor = double(count_include_pad ? pool_size : (h1 - h0) * (w1 - w0));
  return true;
}

// ---------------------------------------------------------------------------------------------
// max pooling

template <typename T>
__global__ void __launch_bounds__(kThreads) max_pool_forward_kernel(T* out, int64_t* indices, const T* inp, int64_t P,
                                                                    int64_t H, int64_t W, int64_t OH, int64_t OW,
                                                                    Pool2dWindow win, bool relu) {
  TENSILE_CUDA_LOOP(t, P * OH * OW) {
    const int64_t ow = t % OW, oh = (t / OW) % OH, p = t / (OW * OH);
    const T* x = inp + p * H * W;
    const int64_t hs = oh * win.SH - win.PH, ws = ow * win.SW - win.PW;
    int64_t kh0, kh1, kw0, kw1;
    valid_taps(hs, win.DH, win.KH, H, kh0, kh1);
    valid_taps(ws, win.DW, win.KW, W, kw0, kw1);
    T best = -INFINITY;
    int64_t bi = -1;
    for (int64_t kh = kh0; kh < kh1; kh++) {
      const int64_t h = hs + kh * win.DH;
      for (int64_t kw = kw0; kw < kw1; kw++) {
        const int64_t pos = h * W + ws + kw * win.DW;
        const T v = x[pos];
        // First valid tap always counts; then strictly greater, or NaN (which propagates).
        if (bi < 0 || v > best || v != v) {
          best = v;
          bi = pos;
        }
      }
    }
    if (relu) {
      // relu(max) as the CPU writes it: NaN stays NaN; a max that is not positive passes no gradient.
      bi = best > T(0) ? bi : -1;
      best = best < T(0) ? T(0) : best;
    }
    out[t] = best;
    indices[t] = bi;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) max_pool_backward_kernel(T* dinp, const T* dout, const int64_t* indices,
                                                                     int64_t H, int64_t W, int64_t OHW, int64_t total) {
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t idx = indices[t];
    if (idx >= 0 && idx < H * W) atomicAdd(dinp + (t / OHW) * H * W + idx, dout[t]);
  }
}

// ---------------------------------------------------------------------------------------------
// average pooling

template <typename T>
__global__ void __launch_bounds__(kThreads) avg_pool_forward_kernel(T* out, const T* inp, int64_t P, int64_t H,
                                                                    int64_t W, int64_t OH, int64_t OW,
                                                                    Pool2dWindow win, bool count_include_pad,
                                                                    int64_t divisor_override) {
  TENSILE_CUDA_LOOP(t, P * OH * OW) {
    const int64_t ow = t % OW, oh = (t / OW) % OH, p = t / (OW * OH);
    AvgWindow a;
    if (!avg_window(oh, ow, H, W, win, count_include_pad, divisor_override, a)) {
      out[t] = T(0);
      continue;
    }
    const T* x = inp + p * H * W;
    double s = 0;
    for (int64_t h = a.h0; h < a.h1; h++)
      for (int64_t w = a.w0; w < a.w1; w++) s += double(x[h * W + w]);
    out[t] = T(s / a.divisor);
  }
}

// Input element (h, w) lies in the window of output row oh when oh * SH - PH <= h < oh * SH - PH + KH
// (the window's clip to [-PH, H + PH) never cuts an input row off): oh in [ceil((h + PH - KH + 1) / SH),
// floor((h + PH) / SH)], clipped to [0, OH).
__device__ __forceinline__ void covering(int64_t h, int64_t K, int64_t S, int64_t Pd, int64_t O, int64_t& lo, int64_t& hi) {
  const int64_t num = h + Pd - K + 1;
  lo = num <= 0 ? 0 : (num + S - 1) / S;
  hi = min(O - 1, (h + Pd) / S);  // h + Pd >= 0
}

template <typename T>
__global__ void __launch_bounds__(kThreads) avg_pool_backward_kernel(T* dinp, const T* dout, int64_t P, int64_t H,
                                                                     int64_t W, int64_t OH, int64_t OW,
                                                                     Pool2dWindow win, bool count_include_pad,
                                                                     int64_t divisor_override) {
  TENSILE_CUDA_LOOP(t, P * H * W) {
    const int64_t w = t % W, h = (t / W) % H, p = t / (W * H);
    const T* dy = dout + p * OH * OW;
    int64_t oh0, oh1, ow0, ow1;
    covering(h, win.KH, win.SH, win.PH, OH, oh0, oh1);
    covering(w, win.KW, win.SW, win.PW, OW, ow0, ow1);
    T acc = T(0);
    for (int64_t oh = oh0; oh <= oh1; oh++)
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        AvgWindow a;
        if (!avg_window(oh, ow, H, W, win, count_include_pad, divisor_override, a)) continue;
        if (h < a.h0 || h >= a.h1 || w < a.w0 || w >= a.w1) continue;
        acc += T(double(dy[oh * OW + ow]) / a.divisor);
      }
    dinp[t] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// adaptive average pooling

template <typename T>
__global__ void __launch_bounds__(kThreads) adaptive_avg_forward_kernel(T* out, const T* inp, int64_t P, int64_t H,
                                                                        int64_t W, int64_t OH, int64_t OW) {
  TENSILE_CUDA_LOOP(t, P * OH * OW) {
    const int64_t ow = t % OW, oh = (t / OW) % OH, p = t / (OW * OH);
    const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
    const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
    const T* x = inp + p * H * W;
    double s = 0;
    for (int64_t h = h0; h < h1; h++)
      for (int64_t w = w0; w < w1; w++) s += double(x[h * W + w]);
    out[t] = T(s / double((h1 - h0) * (w1 - w0)));
  }
}

// Output rows whose adaptive window [start, end) holds input row h: [floor(h * O / n), ceil((h + 1) * O / n) - 1].
__device__ __forceinline__ void adaptive_covering(int64_t h, int64_t O, int64_t n, int64_t& lo, int64_t& hi) {
  lo = (h * O) / n;
  hi = min(O - 1, ((h + 1) * O + n - 1) / n - 1);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) adaptive_avg_backward_kernel(T* dinp, const T* dout, int64_t P, int64_t H,
                                                                         int64_t W, int64_t OH, int64_t OW) {
  TENSILE_CUDA_LOOP(t, P * H * W) {
    const int64_t w = t % W, h = (t / W) % H, p = t / (W * H);
    const T* dy = dout + p * OH * OW;
    int64_t oh0, oh1, ow0, ow1;
    adaptive_covering(h, OH, H, oh0, oh1);
    adaptive_covering(w, OW, W, ow0, ow1);
    T acc = T(0);
    for (int64_t oh = oh0; oh <= oh1; oh++) {
      const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
      if (h < h0 || h >= h1) continue;
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
        if (w < w0 || w >= w1) continue;
        acc += T(double(dy[oh * OW + ow]) / double((h1 - h0) * (w1 - w0)));
      }
    }
    dinp[t] = acc;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// launchers

template <typename T>
int max_pool2d_forward_cuda(T* out, int64_t* indices, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                            int64_t OW, const Pool2dWindow& win, bool relu, cudaStream_t stream) {
  const int64_t n = P * OH * OW;
  if (n <= 0) return 0;
  max_pool_forward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(out, indices, inp, P, H, W, OH, OW, win, relu);
  return launch_status();
}

template <typename T>
int max_pool2d_backward_cuda(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                             int64_t OH, int64_t OW, cudaStream_t stream) {
  if (P * H * W <= 0) return 0;
  TENSILE_CUDA_TRY(cuda_memset_zero(dinp, size_t(P * H * W) * sizeof(T), stream));
  const int64_t n = P * OH * OW;
  if (n <= 0) return 0;
  max_pool_backward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(dinp, dout, indices, H, W, OH * OW, n);
  return launch_status();
}

template <typename T>
int avg_pool2d_forward_cuda(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override,
                            cudaStream_t stream) {
  const int64_t n = P * OH * OW;
  if (n <= 0) return 0;
  avg_pool_forward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(out, inp, P, H, W, OH, OW, win, count_include_pad,
                                                                  divisor_override);
  return launch_status();
}

template <typename T>
int avg_pool2d_backward_cuda(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override,
                             cudaStream_t stream) {
  const int64_t n = P * H * W;
  if (n <= 0) return 0;
  if (OH <= 0 || OW <= 0) return cuda_memset_zero(dinp, size_t(n) * sizeof(T), stream);
  avg_pool_backward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(dinp, dout, P, H, W, OH, OW, win,
                                                                   count_include_pad, divisor_override);
  return launch_status();
}

template <typename T>
int adaptive_avg_pool2d_forward_cuda(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                     cudaStream_t stream) {
  const int64_t n = P * OH * OW;
  if (n <= 0) return 0;
  adaptive_avg_forward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(out, inp, P, H, W, OH, OW);
  return launch_status();
}

template <typename T>
int adaptive_avg_pool2d_backward_cuda(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH,
                                      int64_t OW, cudaStream_t stream) {
  const int64_t n = P * H * W;
  if (n <= 0) return 0;
  if (OH <= 0 || OW <= 0) return cuda_memset_zero(dinp, size_t(n) * sizeof(T), stream);
  adaptive_avg_backward_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(dinp, dout, P, H, W, OH, OW);
  return launch_status();
}

#define INSTANTIATE(T)                                                                                                \
  template int max_pool2d_forward_cuda<T>(T*, int64_t*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,         \
                                          const Pool2dWindow&, bool, cudaStream_t);                                    \
  template int max_pool2d_backward_cuda<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t, int64_t,  \
                                           cudaStream_t);                                                              \
  template int avg_pool2d_forward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,                   \
                                          const Pool2dWindow&, bool, int64_t, cudaStream_t);                           \
  template int avg_pool2d_backward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,                  \
                                           const Pool2dWindow&, bool, int64_t, cudaStream_t);                          \
  template int adaptive_avg_pool2d_forward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,          \
                                                   cudaStream_t);                                                      \
  template int adaptive_avg_pool2d_backward_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,         \
                                                    cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
