// Reference pooling loops, parallel over planes: planes are independent, so backward scatters
// (overlapping windows included) need no atomics. Sums accumulate in double.
// Not vectorised on purpose: correctness first; the fast paths come with the speed work.
#include <algorithm>
#include <cstring>
#include <limits>

#include "../core/thread_pool.h"
#include "pool2d.h"

namespace tensile {
namespace {

constexpr int64_t kGrain = 32768;  // elements of work below which a chunk runs inline

// Planes per chunk so that each chunk has about kGrain units of work.
int64_t plane_grain(int64_t work_per_plane) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(work_per_plane, 1)); }

// Range [lo, hi) of tap k such that start + k*D lies in [0, n), for k in [0, K).
inline void valid_taps(int64_t start, int64_t D, int64_t K, int64_t n, int64_t& lo, int64_t& hi) {
  lo = start >= 0 ? 0 : (-start + D - 1) / D;
  hi = start >= n ? 0 : std::min<int64_t>(K, (n - start + D - 1) / D);
  if (hi < lo) hi = lo;
}

// PyTorch's adaptive pooling bounds: [floor(i*n/out), ceil((i+1)*n/out)).
inline int64_t adaptive_start(int64_t i, int64_t out, int64_t n) { return (i * n) / out; }
inline int64_t adaptive_end(int64_t i, int64_t out, int64_t n) { return ((i + 1) * n + out - 1) / out; }

// The clipped window of output (oh, ow) of an average pool and its divisor; false when the
// window holds no input element.
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  double divisor;
};
inline bool avg_window(int64_t oh, int64_t ow, int64_t H, int64_t W, const Pool2dWindow& win, bool count_include_pad,
                       int64_t divisor_override, AvgWindow& a) {
  int64_t h0 = oh * win.SH - win.PH, w0 = ow * win.SW - win.PW;
  int64_t h1 = std::min(h0 + win.KH, H + win.PH), w1 = std::min(w0 + win.KW, W + win.PW);
  int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, H);
  w1 = std::min(w1, W);
  if (h0 >= h1 || w0 >= w1) return false;
  a = {h0, h1, w0, w1, 0.0};
  if (divisor_override > 0)
    a.divisor = double(divisor_override);
  else
    a.divisor = double(count_include_pad ? pool_size : (h1 - h0) * (w1 - w0));
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// max pooling

template <typename T>
void max_pool2d_forward_cpu(T* out, int64_t* indices, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                            int64_t OW, const Pool2dWindow& win) {
  parallel_for(P, plane_grain(OH * OW * win.KH * win.KW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      const T* x = inp + p * H * W;
      T* o = out + p * OH * OW;
      int64_t* idx = indices + p * OH * OW;
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t hs = oh * win.SH - win.PH, kh0, kh1;
        valid_taps(hs, win.DH, win.KH, H, kh0, kh1);
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t ws = ow * win.SW - win.PW, kw0, kw1;
          valid_taps(ws, win.DW, win.KW, W, kw0, kw1);
          T best = -std::numeric_limits<T>::infinity();
          int64_t bi = -1;
          for (int64_t kh = kh0; kh < kh1; kh++) {
            int64_t h = hs + kh * win.DH;
            for (int64_t kw = kw0; kw < kw1; kw++) {
              int64_t pos = h * W + ws + kw * win.DW;
              T v = x[pos];
              // First valid tap always counts; then strictly greater, or NaN (which propagates).
              if (bi < 0 || v > best || v != v) {
                best = v;
                bi = pos;
              }
            }
          }
          o[oh * OW + ow] = best;
          idx[oh * OW + ow] = bi;
        }
      }
    }
  });
}

template <typename T>
void max_pool2d_backward_cpu(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                             int64_t OH, int64_t OW) {
  parallel_for(P, plane_grain(H * W + OH * OW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      T* dx = dinp + p * H * W;
      const T* dy = dout + p * OH * OW;
      const int64_t* idx = indices + p * OH * OW;
      std::fill(dx, dx + H * W, T(0));
      for (int64_t o = 0; o < OH * OW; o++)
        if (idx[o] >= 0) dx[idx[o]] += dy[o];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// average pooling

template <typename T>
void avg_pool2d_forward_cpu(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override) {
  parallel_for(P, plane_grain(OH * OW * win.KH * win.KW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      const T* x = inp + p * H * W;
      T* o = out + p * OH * OW;
      for (int64_t oh = 0; oh < OH; oh++) {
        for (int64_t ow = 0; ow < OW; ow++) {
          AvgWindow a;
          if (!avg_window(oh, ow, H, W, win, count_include_pad, divisor_override, a)) {
            o[oh * OW + ow] = T(0);
            continue;
          }
          double s = 0;
          for (int64_t h = a.h0; h < a.h1; h++)
            for (int64_t w = a.w0; w < a.w1; w++) s += double(x[h * W + w]);
          o[oh * OW + ow] = T(s / a.divisor);
        }
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward_cpu(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                             const Pool2dWindow& win, bool count_include_pad, int64_t divisor_override) {
  parallel_for(P, plane_grain(H * W + OH * OW * win.KH * win.KW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      T* dx = dinp + p * H * W;
      const T* dy = dout + p * OH * OW;
      std::fill(dx, dx + H * W, T(0));
      for (int64_t oh = 0; oh < OH; oh++) {
        for (int64_t ow = 0; ow < OW; ow++) {
          AvgWindow a;
          if (!avg_window(oh, ow, H, W, win, count_include_pad, divisor_override, a)) continue;
          T g = T(double(dy[oh * OW + ow]) / a.divisor);
          for (int64_t h = a.h0; h < a.h1; h++)
            for (int64_t w = a.w0; w < a.w1; w++) dx[h * W + w] += g;
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// adaptive average pooling

template <typename T>
void adaptive_avg_pool2d_forward_cpu(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  parallel_for(P, plane_grain(H * W + OH * OW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      const T* x = inp + p * H * W;
      T* o = out + p * OH * OW;
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
          double s = 0;
          for (int64_t h = h0; h < h1; h++)
            for (int64_t w = w0; w < w1; w++) s += double(x[h * W + w]);
          o[oh * OW + ow] = T(s / double((h1 - h0) * (w1 - w0)));
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_backward_cpu(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  parallel_for(P, plane_grain(H * W + OH * OW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
      T* dx = dinp + p * H * W;
      const T* dy = dout + p * OH * OW;
      std::fill(dx, dx + H * W, T(0));
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
          T g = T(double(dy[oh * OW + ow]) / double((h1 - h0) * (w1 - w0)));
          for (int64_t h = h0; h < h1; h++)
            for (int64_t w = w0; w < w1; w++) dx[h * W + w] += g;
        }
      }
    }
  });
}

#define INSTANTIATE(T)                                                                                               \
  template void max_pool2d_forward_cpu<T>(T*, int64_t*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,        \
                                          const Pool2dWindow&);                                                      \
  template void max_pool2d_backward_cpu<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t, int64_t); \
  template void avg_pool2d_forward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,                  \
                                          const Pool2dWindow&, bool, int64_t);                                       \
  template void avg_pool2d_backward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t,                 \
                                           const Pool2dWindow&, bool, int64_t);                                      \
  template void adaptive_avg_pool2d_forward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);        \
  template void adaptive_avg_pool2d_backward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
