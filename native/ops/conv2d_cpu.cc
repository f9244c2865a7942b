// conv2d on the CPU by im2col + GEMM, per image and group, parallel over images (the GEMM then
// runs inline on each thread; with one image it spreads over the threads itself). The column
// matrix is built a band of output rows at a time so that scratch stays bounded on big images.
#include <algorithm>
#include <cstring>

#include "../core/allocator.h"
#include "../core/thread_pool.h"
#include "conv2d.h"
#include "gemm.h"

namespace tensile {
namespace {

constexpr int64_t kColBudget = int64_t(1) << 20;  // column-matrix elements per band (4 MiB float)

inline int64_t ceil_div_pos(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

// Sizes derived once per call. Kg = rows of the column matrix = C/G * KH * KW; P = OH * OW.
struct Geometry {
  int64_t Cg, OCg, Kg, HW, P;
  bool direct;       // 1x1, stride 1, no padding: the input channel block is the column matrix
  int64_t bandRows;  // output rows per im2col band

  explicit Geometry(const Conv2dParams& p) {
    Cg = p.C / p.groups;
    OCg = p.OC / p.groups;
    Kg = Cg * p.KH * p.KW;
    HW = p.H * p.W;
    P = p.OH * p.OW;
    direct = p.KH == 1 && p.KW == 1 && p.strideH == 1 && p.strideW == 1 && p.padH == 0 && p.padW == 0 &&
             p.OH == p.H && p.OW == p.W;
    bandRows = std::max<int64_t>(1, std::min<int64_t>(p.OH, kColBudget / std::max<int64_t>(1, Kg * p.OW)));
  }
  size_t colElems(const Conv2dParams& p) const { return direct ? 1 : size_t(std::max<int64_t>(1, Kg * bandRows * p.OW)); }
};

// Copies n elements inline: rows here are short (a dozen elements), where a libc memcpy call
// per row costs more than the copy itself.
template <typename T>
inline void copy_row(T* __restrict d, const T* __restrict s, int64_t n) {
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) std::memcpy(d + t, s + t, 8 * sizeof(T));
#pragma GCC unroll 8
  for (int l = 0; l < 8; l++)  // a constant trip count: GCC would turn `t < n` into a memmove call
    if (t + l < n) d[t + l] = s[t + l];
}

// Columns [ow_lo, ow_hi) of an output row whose input column ow * strideW + off lies in [0, W).
inline void valid_cols(const Conv2dParams& p, int64_t off, int64_t& lo, int64_t& hi) {
  lo = std::min(p.OW, ceil_div_pos(-off, p.strideW));
  hi = std::max(lo, std::min(p.OW, ceil_div_pos(p.W - off, p.strideW)));
}

// col (Kg, (oh1 - oh0) * OW) = the input patches of output rows [oh0, oh1) for one image and
// group; x is that group's (C/G, H, W) channel block. Row (c, kh, kw) of col holds, for each
// output position, the input value its kernel tap (kh, kw) of channel c sees (0 in padding).
template <typename T>
void im2col(T* col, const T* x, const Conv2dParams& p, int64_t Cg, int64_t oh0, int64_t oh1) {
  const int64_t np = (oh1 - oh0) * p.OW;
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < p.KH; kh++)
      for (int64_t kw = 0; kw < p.KW; kw++) {
        T* row = col + ((c * p.KH + kh) * p.KW + kw) * np;
        const T* xc = x + c * p.H * p.W;
        const int64_t off = kw * p.dilW - p.padW;
        int64_t lo, hi;
        valid_cols(p, off, lo, hi);
        for (int64_t oh = oh0; oh < oh1; oh++) {
          T* r = row + (oh - oh0) * p.OW;
          const int64_t ih = oh * p.strideH - p.padH + kh * p.dilH;
          if (ih < 0 || ih >= p.H) {
            std::fill(r, r + p.OW, T(0));
            continue;
          }
          const T* xr = xc + ih * p.W;  // input column of output column ow: ow * strideW + off
          std::fill(r, r + lo, T(0));
          if (p.strideW == 1) copy_row(r + lo, xr + lo + off, hi - lo);
          else
            for (int64_t ow = lo; ow < hi; ow++) r[ow] = xr[ow * p.strideW + off];
          std::fill(r + hi, r + p.OW, T(0));
        }
      }
}

// The adjoint of im2col: dx (C/G, H, W) += col scattered back to the input positions it was
// gathered from (padding positions dropped).
template <typename T>
void col2im_add(T* dx, const T* col, const Conv2dParams& p, int64_t Cg, int64_t oh0, int64_t oh1) {
  const int64_t np = (oh1 - oh0) * p.OW;
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < p.KH; kh++)
      for (int64_t kw = 0; kw < p.KW; kw++) {
        const T* row = col + ((c * p.KH + kh) * p.KW + kw) * np;
        T* dc = dx + c * p.H * p.W;
        const int64_t off = kw * p.dilW - p.padW;
        int64_t lo, hi;
        valid_cols(p, off, lo, hi);
        for (int64_t oh = oh0; oh < oh1; oh++) {
          const int64_t ih = oh * p.strideH - p.padH + kh * p.dilH;
          if (ih < 0 || ih >= p.H) continue;
          const T* r = row + (oh - oh0) * p.OW;
          T* dr = dc + ih * p.W;
          for (int64_t ow = lo; ow < hi; ow++) dr[ow * p.strideW + off] += r[ow];
        }
      }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// forward: out[n, g] (OC/G, P) = weight[g] (OC/G, Kg) x col (Kg, P) + bias

template <typename T>
void conv2d_forward_cpu(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  const Geometry geo(p);
  parallel_for(p.N, 1, [&](int64_t n0, int64_t n1) {
    ScratchBuffer<T> col(geo.colElems(p));
    for (int64_t n = n0; n < n1; n++)
      for (int64_t g = 0; g < p.groups; g++) {
        const T* x = inp + (n * p.C + g * geo.Cg) * geo.HW;
        const T* w = weight + g * geo.OCg * geo.Kg;
        T* o = out + (n * p.OC + g * geo.OCg) * geo.P;
        T beta = T(0);
        if (bias) {
          for (int64_t oc = 0; oc < geo.OCg; oc++) std::fill(o + oc * geo.P, o + (oc + 1) * geo.P, bias[g * geo.OCg + oc]);
          beta = T(1);
        }
        if (geo.direct) {
          gemm_cpu<T>(false, false, geo.OCg, geo.P, geo.Kg, T(1), w, geo.Kg, x, geo.P, beta, o, geo.P);
          continue;
        }
        for (int64_t oh0 = 0; oh0 < p.OH; oh0 += geo.bandRows) {
          const int64_t oh1 = std::min(p.OH, oh0 + geo.bandRows), np = (oh1 - oh0) * p.OW;
          im2col(col.get(), x, p, geo.Cg, oh0, oh1);
          gemm_cpu<T>(false, false, geo.OCg, np, geo.Kg, T(1), w, geo.Kg, col.get(), np, beta, o + oh0 * p.OW, geo.P);
        }
      }
  });
}

// ---------------------------------------------------------------------------------------------
// backward input: dcol (Kg, P) = weight[g]^T (Kg, OC/G) x dout[n, g] (OC/G, P), then col2im

template <typename T>
void conv2d_backward_input_cpu(T* dinp, const T* dout, const T* weight, const Conv2dParams& p) {
  const Geometry geo(p);
  parallel_for(p.N, 1, [&](int64_t n0, int64_t n1) {
    ScratchBuffer<T> col(geo.colElems(p));
    for (int64_t n = n0; n < n1; n++)
      for (int64_t g = 0; g < p.groups; g++) {
        T* dx = dinp + (n * p.C + g * geo.Cg) * geo.HW;
        const T* w = weight + g * geo.OCg * geo.Kg;
        const T* go = dout + (n * p.OC + g * geo.OCg) * geo.P;
        if (geo.direct) {
          gemm_cpu<T>(true, false, geo.Kg, geo.P, geo.OCg, T(1), w, geo.Kg, go, geo.P, T(0), dx, geo.P);
          continue;
        }
        std::fill(dx, dx + geo.Cg * geo.HW, T(0));
        for (int64_t oh0 = 0; oh0 < p.OH; oh0 += geo.bandRows) {
          const int64_t oh1 = std::min(p.OH, oh0 + geo.bandRows), np = (oh1 - oh0) * p.OW;
          gemm_cpu<T>(true, false, geo.Kg, np, geo.OCg, T(1), w, geo.Kg, go + oh0 * p.OW, geo.P, T(0), col.get(), np);
          col2im_add(dx, col.get(), p, geo.Cg, oh0, oh1);
        }
      }
  });
}

// ---------------------------------------------------------------------------------------------
// backward weight: dweight[g] (OC/G, Kg) = sum over n of dout[n, g] (OC/G, P) x col^T (P, Kg)

namespace {

// dw (OC, Kg) = the sum over images [n0, n1) (overwritten, not accumulated).
template <typename T>
void weight_grad_images(T* dw, const T* dout, const T* inp, const Conv2dParams& p, const Geometry& geo, int64_t n0,
                        int64_t n1) {
  ScratchBuffer<T> col(geo.colElems(p));
  for (int64_t g = 0; g < p.groups; g++) {
    T* dwg = dw + g * geo.OCg * geo.Kg;
    T beta = T(0);  // the first product overwrites, the rest accumulate
    for (int64_t n = n0; n < n1; n++) {
      const T* x = inp + (n * p.C + g * geo.Cg) * geo.HW;
      const T* go = dout + (n * p.OC + g * geo.OCg) * geo.P;
      if (geo.direct) {
        gemm_cpu<T>(false, true, geo.OCg, geo.Kg, geo.P, T(1), go, geo.P, x, geo.P, beta, dwg, geo.Kg);
        beta = T(1);
        continue;
      }
      for (int64_t oh0 = 0; oh0 < p.OH; oh0 += geo.bandRows) {
        const int64_t oh1 = std::min(p.OH, oh0 + geo.bandRows), np = (oh1 - oh0) * p.OW;
        im2col(col.get(), x, p, geo.Cg, oh0, oh1);
        gemm_cpu<T>(false, true, geo.OCg, geo.Kg, np, T(1), go + oh0 * p.OW, geo.P, col.get(), np, beta, dwg, geo.Kg);
        beta = T(1);
      }
    }
    if (beta == T(0)) std::fill(dwg, dwg + geo.OCg * geo.Kg, T(0));  // no images
  }
}

}  // namespace

template <typename T>
void conv2d_backward_weight_cpu(T* dweight, const T* dout, const T* inp, const Conv2dParams& p) {
  const Geometry geo(p);
  const int64_t wsize = p.OC * geo.Kg;
  // One partial sum per chunk of images, added in chunk order: deterministic for a given
  // thread count. Chunk 0 writes straight into dweight.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), p.N));
  if (chunks == 1) return weight_grad_images(dweight, dout, inp, p, geo, 0, p.N);
  ScratchBuffer<T> partial(size_t((chunks - 1) * wsize));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      T* dst = c == 0 ? dweight : partial.get() + (c - 1) * wsize;
      weight_grad_images(dst, dout, inp, p, geo, p.N * c / chunks, p.N * (c + 1) / chunks);
    }
  });
  for (int64_t c = 1; c < chunks; c++) {
    const T* src = partial.get() + (c - 1) * wsize;
    for (int64_t i = 0; i < wsize; i++) dweight[i] += src[i];
  }
}

// ---------------------------------------------------------------------------------------------
// backward bias: dbias[oc] = sum over n, oh, ow of dout[n, oc, oh, ow] (accumulated in double)

template <typename T>
void conv2d_backward_bias_cpu(T* dbias, const T* dout, const Conv2dParams& p) {
  const int64_t P = p.OH * p.OW;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, p.N * P));
  parallel_for(p.OC, grain, [&](int64_t o0, int64_t o1) {
    for (int64_t oc = o0; oc < o1; oc++) {
      // Eight independent partial sums: one chain of dependent adds would be latency-bound.
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t n = 0; n < p.N; n++) {
        const T* go = dout + (n * p.OC + oc) * P;
        int64_t i = 0;
        for (; i + 8 <= P; i += 8)
          for (int l = 0; l < 8; l++) acc[l] += double(go[i + l]);
        for (; i < P; i++) acc[0] += double(go[i]);
      }
      dbias[oc] = T(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    }
  });
}

#define TENSILE_INSTANTIATE(T)                                                                            \
  template void conv2d_forward_cpu<T>(T*, const T*, const T*, const T*, const Conv2dParams&);             \
  template void conv2d_backward_input_cpu<T>(T*, const T*, const T*, const Conv2dParams&);                \
  template void conv2d_backward_weight_cpu<T>(T*, const T*, const T*, const Conv2dParams&);               \
  template void conv2d_backward_bias_cpu<T>(T*, const T*, const Conv2dParams&);
TENSILE_INSTANTIATE(float)
TENSILE_INSTANTIATE(double)
#undef TENSILE_INSTANTIATE

}  // namespace tensile
