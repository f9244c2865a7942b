// Reference pooling loops, parallel over planes: planes are independent, so backward scatters
// (overlapping windows included) need no atomics. Sums accumulate in double.
// One fast path so far: 2x2/stride-2 max pooling, branch-free and vectorised (AVX2, or AVX-512 for
// float, chosen at run time).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

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

// 2x2 windows at stride 2 without padding or dilation, the pool of most CNNs: every window lies
// inside the input, so the four taps need no clipping and the compare-and-select chain (same
// rule as the general loop: strictly greater, or NaN) compiles to vector blends. The general
// loop's data-dependent branch mispredicts on about half the taps of real activations, which made
// it ~15x slower than this on a (20, 10, 26, 26) input.
template <typename T, bool RELU>
inline __attribute__((always_inline)) void max_pool_2x2_planes(T* __restrict out, int64_t* __restrict indices, const T* __restrict inp,
                                                               int64_t p0, int64_t p1, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  for (int64_t p = p0; p < p1; p++) {
    for (int64_t oh = 0; oh < OH; oh++) {
      const T* r0 = inp + (p * H + 2 * oh) * W;
      const T* r1 = r0 + W;
      T* o = out + (p * OH + oh) * OW;
      int64_t* idx = indices + (p * OH + oh) * OW;
      const int64_t base = 2 * oh * W;
      for (int64_t ow = 0; ow < OW; ow++) {
        T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        T best = a;
        int64_t k = 0;
        bool tb = b > best || b != b;
        best = tb ? b : best;
        k = tb ? 1 : k;
        bool tc = c > best || c != c;
        best = tc ? c : best;
        k = tc ? W : k;
        bool td = d > best || d != d;
        best = td ? d : best;
        k = td ? W + 1 : k;
        int64_t at = base + 2 * ow + k;
        if (RELU) {
          // relu(max), written as relu is (x < 0 ? 0 : x: NaN stays NaN) so that it vectorises;
          // a max that is not positive passes no gradient (index -1).
          at = best > T(0) ? at : -1;
          best = best < T(0) ? T(0) : best;
        }
        o[ow] = best;
        idx[ow] = at;
      }
    }
  }
}

// AVX2 build of the loop above (AVX-512 measured slower here: its cross-lane permutes for the
// stride-2 loads cost more on Zen 4); the baseline build is only the fallback for old CPUs.
#define TENSILE_POOL_ARGS(T) T *out, int64_t *indices, const T *inp, int64_t p0, int64_t p1, int64_t H, int64_t W, int64_t OH, int64_t OW
#define TENSILE_POOL_PASS out, indices, inp, p0, p1, H, W, OH, OW
template <bool RELU>
__attribute__((target("avx2"))) void max_pool_2x2_f32_avx2(TENSILE_POOL_ARGS(float)) { max_pool_2x2_planes<float, RELU>(TENSILE_POOL_PASS); }
template <bool RELU>
__attribute__((target("avx2"))) void max_pool_2x2_f64_avx2(TENSILE_POOL_ARGS(double)) { max_pool_2x2_planes<double, RELU>(TENSILE_POOL_PASS); }
template <bool RELU>
void max_pool_2x2_f32_base(TENSILE_POOL_ARGS(float)) { max_pool_2x2_planes<float, RELU>(TENSILE_POOL_PASS); }
template <bool RELU>
void max_pool_2x2_f64_base(TENSILE_POOL_ARGS(double)) { max_pool_2x2_planes<double, RELU>(TENSILE_POOL_PASS); }

// float with AVX-512, hand-written: 16 outputs of a row per step, the row's tail under a mask, so
// that a short row (13 outputs in the classic CNN's first pool, 7 in the standard CNN's second) is
// one step rather than a vector step and a scalar tail; the even and odd columns are split by
// two-source permutes. 1.5x the compiled AVX2 loop on the classic CNN's pool, and 4-6x on the
// standard CNN's (64 planes of 28x28 or 14x14 per image), where that loop falls to its scalar
// tail. Same rule as the loop above.
// (GCC 12's own intrinsic headers trip -Wmaybe-uninitialized on the 512 -> 256 extract.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <bool RELU>
__attribute__((target("avx512f"))) void max_pool_2x2_f32_avx512(TENSILE_POOL_ARGS(float)) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 zero = _mm512_setzero_ps();
  const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32(int32_t(W)), diag = _mm512_set1_epi32(int32_t(W + 1));
  for (int64_t p = p0; p < p1; p++) {
    for (int64_t oh = 0; oh < OH; oh++) {
      const float* r0 = inp + (p * H + 2 * oh) * W;
      const float* r1 = r0 + W;
      float* o = out + (p * OH + oh) * OW;
      int64_t* idx = indices + (p * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ow += 16) {
        const int n = int(std::min<int64_t>(16, OW - ow));
        const __mmask16 m = __mmask16((1u << n) - 1);
        const __mmask16 lo = __mmask16((1u << std::min(2 * n, 16)) - 1), hi = __mmask16(2 * n > 16 ? (1u << (2 * n - 16)) - 1 : 0);
        const __m512 x0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow), x1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
        const __m512 y0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow), y1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
        const __m512 a = _mm512_permutex2var_ps(x0, even, x1), b = _mm512_permutex2var_ps(x0, odd, x1);
        const __m512 c = _mm512_permutex2var_ps(y0, even, y1), d = _mm512_permutex2var_ps(y0, odd, y1);
        __m512 best = a;
        __m512i k = _mm512_setzero_si512();
        __mmask16 t = _mm512_cmp_ps_mask(b, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, t, b);
        k = _mm512_mask_mov_epi32(k, t, one);
        t = _mm512_cmp_ps_mask(c, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, t, c);
        k = _mm512_mask_mov_epi32(k, t, down);
        t = _mm512_cmp_ps_mask(d, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, t, d);
        k = _mm512_mask_mov_epi32(k, t, diag);
        // at = 2*oh*W + 2*(ow + lane) + k, in int32 (the caller checked H*W < 2^31)
        __m512i at = _mm512_add_epi32(_mm512_add_epi32(k, even), _mm512_set1_epi32(int32_t(2 * oh * W + 2 * ow)));
        if (RELU) {
          at = _mm512_mask_mov_epi32(_mm512_set1_epi32(-1), _mm512_cmp_ps_mask(best, zero, _CMP_GT_OQ), at);
          best = _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(best, zero, _CMP_LT_OQ), zero);
        }
        _mm512_mask_storeu_ps(o + ow, m, best);
        _mm512_mask_storeu_epi64(idx + ow, __mmask8(m & 0xff), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(at)));
        _mm512_mask_storeu_epi64(idx + ow + 8, __mmask8(m >> 8), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(at, 1)));
      }
    }
  }
}
#pragma GCC diagnostic pop

// The backward of the above for float: each 2x2 window's four gradients (dout where the index
// points, else 0) interleaved back into the two input rows, every element written once. Rows the
// windows do not cover (odd H or W) are zeroed. Planes [p0, p1).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void max_pool_2x2_backward_f32_avx512(float* dinp, const float* dout, const int64_t* indices, int64_t p0,
                                                                         int64_t p1, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  const __m512i interleave_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i interleave_hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32(int32_t(W)), diag = _mm512_set1_epi32(int32_t(W + 1));
  for (int64_t p = p0; p < p1; p++) {
    for (int64_t oh = 0; oh < OH; oh++) {
      float* r0 = dinp + (p * H + 2 * oh) * W;
      float* r1 = r0 + W;
      const float* dy = dout + (p * OH + oh) * OW;
      const int64_t* idx = indices + (p * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ow += 16) {
        const int n = int(std::min<int64_t>(16, OW - ow));
        const __mmask16 m = __mmask16((1u << n) - 1);
        const __mmask16 lo = __mmask16((1u << std::min(2 * n, 16)) - 1), hi = __mmask16(2 * n > 16 ? (1u << (2 * n - 16)) - 1 : 0);
        const __m512 g = _mm512_maskz_loadu_ps(m, dy + ow);
        const __m256i i0 = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(__mmask8(m & 0xff), idx + ow));
        const __m256i i1 = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(__mmask8(m >> 8), idx + ow + 8));
        // k = index - (2*oh*W + 2*(ow + lane)): 0, 1, W or W + 1 inside the window (int32: H*W < 2^31)
        const __m512i k = _mm512_sub_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(i0), i1, 1),
                                           _mm512_add_epi32(even, _mm512_set1_epi32(int32_t(2 * oh * W + 2 * ow))));
        const __m512 a = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, _mm512_setzero_si512()), g);
        const __m512 b = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, one), g);
        const __m512 c = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, down), g);
        const __m512 d = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(k, diag), g);
        _mm512_mask_storeu_ps(r0 + 2 * ow, lo, _mm512_permutex2var_ps(a, interleave_lo, b));
        _mm512_mask_storeu_ps(r0 + 2 * ow + 16, hi, _mm512_permutex2var_ps(a, interleave_hi, b));
        _mm512_mask_storeu_ps(r1 + 2 * ow, lo, _mm512_permutex2var_ps(c, interleave_lo, d));
        _mm512_mask_storeu_ps(r1 + 2 * ow + 16, hi, _mm512_permutex2var_ps(c, interleave_hi, d));
      }
      for (int64_t w = 2 * OW; w < W; w++) r0[w] = r1[w] = 0.f;
    }
    for (int64_t h = 2 * OH; h < H; h++) std::fill(dinp + (p * H + h) * W, dinp + (p * H + h + 1) * W, 0.f);
  }
}
#pragma GCC diagnostic pop

bool has_avx2() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
  return yes;
}

bool has_avx512() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f"));
  return yes;
}

template <bool RELU>
void max_pool_2x2(TENSILE_POOL_ARGS(float)) {
  if (H * W < (int64_t(1) << 31) && has_avx512()) return max_pool_2x2_f32_avx512<RELU>(TENSILE_POOL_PASS);
  (has_avx2() ? max_pool_2x2_f32_avx2<RELU> : max_pool_2x2_f32_base<RELU>)(TENSILE_POOL_PASS);
}
template <bool RELU>
void max_pool_2x2(TENSILE_POOL_ARGS(double)) { (has_avx2() ? max_pool_2x2_f64_avx2<RELU> : max_pool_2x2_f64_base<RELU>)(TENSILE_POOL_PASS); }
#undef TENSILE_POOL_PASS
#undef TENSILE_POOL_ARGS

}  // namespace

// ---------------------------------------------------------------------------------------------
// max pooling

template <typename T>
void max_pool2d_forward_cpu(T* out, int64_t* indices, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                            int64_t OW, const Pool2dWindow& win, bool relu) {
  if (win.KH == 2 && win.KW == 2 && win.SH == 2 && win.SW == 2 && win.PH == 0 && win.PW == 0 && win.DH == 1 && win.DW == 1 &&
      2 * OH <= H && 2 * OW <= W) {
    // ceil_mode can add a last window that runs past the input; such shapes take the general loop.
    return parallel_for(P, plane_grain(OH * OW * 4), [&](int64_t p0, int64_t p1) {
      if (relu)
        max_pool_2x2<true>(out, indices, inp, p0, p1, H, W, OH, OW);
      else
        max_pool_2x2<false>(out, indices, inp, p0, p1, H, W, OH, OW);
    });
  }
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
          if (relu) {
            bi = best > T(0) ? bi : -1;
            best = best < T(0) ? T(0) : best;
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
                             int64_t OH, int64_t OW, const Pool2dWindow* win) {
  // The direct 2x2 backward pays on rows of 7+ outputs (standard CNN: 2x-4x); on shorter rows the
  // zero fill and scatter below are faster.
  if constexpr (std::is_same<T, float>::value) {
    if (win && win->KH == 2 && win->KW == 2 && win->SH == 2 && win->SW == 2 && win->PH == 0 && win->PW == 0 && win->DH == 1 && win->DW == 1 &&
        2 * OH <= H && 2 * OW <= W && OW >= 7 && H * W < (int64_t(1) << 31) && has_avx512()) {
      return parallel_for(P, plane_grain(H * W + OH * OW), [&](int64_t p0, int64_t p1) {
        max_pool_2x2_backward_f32_avx512(dinp, dout, indices, p0, p1, H, W, OH, OW);
      });
    }
  }
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
                                          const Pool2dWindow&, bool);                                                \
  template void max_pool2d_backward_cpu<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                           const Pool2dWindow*);                                                     \
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
