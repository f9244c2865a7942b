// conv2d on the CPU. Paths, chosen per call:
// - direct (the fast path): channel-vector tiles over a zero-padded copy of each image, described
//   at "Direct path" below; used for unit column strides and channel counts that fill vectors.
//   For 3x3 stride-1 layers with 32 or more channels to sum over, Winograd F(2x2, 3x3) on top of
//   the same tiles (2.25x fewer multiplies), for the weight gradient too; TENSILE_CONV_KERNEL=direct
//   turns it off. For layers with few taps whose output channels leave vectors partly empty (a
//   first layer of 10 channels), pixel-vector tiles instead ("Pixel-vector kernels"). For stride-1,
//   undilated layers whose channel vectors would be partly empty (the classic CNN's 10 and 20
//   channels), the pixel-vector tiles over whole planes stored as one row ("Wide rows").
//   TENSILE_CONV_KERNEL=nowide turns the wide rows off.
// - im2col + GEMM, per image and group, parallel over images (the GEMM then runs inline on each
//   thread; with one image it spreads over the threads itself): everything else, and the
//   reference the direct path is tested against (TENSILE_CONV_KERNEL=im2col forces it). The
//   column matrix is built a band of output rows at a time so that scratch stays bounded.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

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

// ---------------------------------------------------------------------------------------------
// forward: out[n, g] (OC/G, P) = weight[g] (OC/G, Kg) x col (Kg, P) + bias

template <typename T>
void conv2d_forward_im2col(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
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
void conv2d_backward_input_im2col(T* dinp, const T* dout, const T* weight, const Conv2dParams& p) {
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


template <typename T>
void conv2d_backward_weight_im2col(T* dweight, const T* dout, const T* inp, const Conv2dParams& p) {
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

// =============================================================================================
// Direct path: vectors along channels, no im2col
//
// The layout oneDNN's jit kernels use, applied to NCHW: a tile is R consecutive output pixels of
// one row times OCB vectors of output channels, held in R * OCB vector registers. For each tap
// k = (c, kh, kw) of the reduction, OCB weight vectors are loaded once and each of the R input
// values is broadcast once, so every load feeds OCB or R FMAs and nothing is packed per image
// but a zero-padded copy of it (padding then costs no branches in the inner loop). The finished
// tile is transposed in registers and stored as OCB * VW rows of R pixels: NCHW out, no scatter.
//
// The same tile computes the input gradient of a stride-1 convolution: a correlation of the
// zero-padded output gradient with the flipped, transposed weights. The weight gradient uses a
// second tile, RT taps x OCB channel vectors, summed over every pixel of an image from a copy of
// the output gradient transposed to (pixel, channel); no horizontal sums are needed.
//
// Used where a unit column stride keeps the R broadcasts at fixed offsets and where channel
// vectors are at least a quarter full; the im2col path above covers the rest (depthwise,
// column strides).

#define TENSILE_AI inline __attribute__((always_inline))

// Copies n elements as a few fixed-size chunks, the last one overlapping its neighbour: image
// rows are a dozen or so elements, where a loop with a scalar tail costs more than the copy.
template <typename T>
inline void copy_short(T* __restrict d, const T* __restrict s, int64_t n) {
  if (n >= 8) {
    for (int64_t t = 0; t + 8 < n; t += 8) std::memcpy(d + t, s + t, 8 * sizeof(T));
    std::memcpy(d + n - 8, s + n - 8, 8 * sizeof(T));
  } else if (n >= 4) {
    std::memcpy(d, s, 4 * sizeof(T));
    std::memcpy(d + n - 4, s + n - 4, 4 * sizeof(T));
  } else {
    for (int64_t t = 0; t < n; t++) d[t] = s[t];
  }
}

template <typename T, int VW>
struct Vec {
  typedef T type __attribute__((vector_size(VW * sizeof(T))));
};
template <typename T, int VW>
struct LaneIdx;
template <int VW>
struct LaneIdx<float, VW> {
  typedef int32_t elem;
  typedef int32_t type __attribute__((vector_size(VW * sizeof(int32_t))));
};
template <int VW>
struct LaneIdx<double, VW> {
  typedef int64_t elem;
  typedef int64_t type __attribute__((vector_size(VW * sizeof(int64_t))));
};

// Unaligned vector load (an out-parameter: returning a vector from a function compiled without
// AVX draws ABI warnings, though this is always inlined).
template <typename V, typename T>
TENSILE_AI void vload(V& v, const T* p) {
  std::memcpy(&v, p, sizeof(V));
}

// In-register transpose of a VW x VW block: log2(VW) butterfly stages; at stage H, rows i and
// i + H exchange their H-lane halves. Masks are built from index sequences so that they are
// constants and each shuffle compiles to one permute.
template <typename T, int VW, int H, bool HI, typename Seq>
struct StageMask;
template <typename T, int VW, int H, bool HI, size_t... L>
struct StageMask<T, VW, H, HI, std::index_sequence<L...>> {
  typedef typename LaneIdx<T, VW>::type M;
  typedef typename LaneIdx<T, VW>::elem E;
  static constexpr M value = {E(HI ? ((L & H) == 0 ? L + H : VW + L) : ((L & H) == 0 ? L : VW + L - H))...};
};

template <typename T, int VW, int H>
TENSILE_AI void transpose_stages(typename Vec<T, VW>::type (&r)[VW]) {
  constexpr auto lo = StageMask<T, VW, H, false, std::make_index_sequence<VW>>::value;
  constexpr auto hi = StageMask<T, VW, H, true, std::make_index_sequence<VW>>::value;
#pragma GCC unroll 16
  for (int i = 0; i < VW; i++)
    if ((i & H) == 0) {
      const auto a = r[i], b = r[i + H];
      r[i] = __builtin_shuffle(a, b, lo);
      r[i + H] = __builtin_shuffle(a, b, hi);
    }
  if constexpr (H > 1) transpose_stages<T, VW, H / 2>(r);
}

// Stores the first cnt lanes of v at dst (0 < cnt <= VW) without a trip through memory: a
// vector spilled and read back at an odd offset stalls store-to-load forwarding (measured ~2x on
// the Winograd output transform). From half a vector up: the low half, then the half ending at
// lane cnt (a variable permute), overlapping.
template <typename T, int VW>
TENSILE_AI void store_lanes(T* dst, typename Vec<T, VW>::type v, int64_t cnt) {
  typedef typename Vec<T, VW>::type V;
  typedef typename LaneIdx<T, VW>::type M;
  typedef typename LaneIdx<T, VW>::elem E;
  constexpr int H = VW / 2;
  if (cnt == VW) {
    std::memcpy(dst, &v, sizeof(V));
  } else if (H >= 4 && cnt >= H) {
    M idx;
#pragma GCC unroll 16
    for (int l = 0; l < VW; l++) idx[l] = E((l + cnt - H) & (VW - 1));
    const V hi = __builtin_shuffle(v, idx);
    std::memcpy(dst, &v, H * sizeof(T));
    std::memcpy(dst + cnt - H, &hi, H * sizeof(T));
  } else {
    T lanes[VW < 16 ? 16 : VW];  // copy_short reads chunks of up to 8
    std::memcpy(lanes, &v, sizeof(V));
    copy_short(dst, lanes, cnt);
  }
}

// One forward (or input-gradient) tile. Everything is relative to the tile's first pixel.
template <typename T>
struct TileArgs {
  int64_t K;            // reduction length: source channels x KH x KW
  const T* x;           // source (padded image) at the tile's first pixel, tap 0
  const int64_t* koff;  // (K) offset of tap k from x
  const T* w;           // (K, OCB * VW) packed weights of this channel block
  const T* bias;        // (OCB * VW) start values, or null for zeros
  T* out;               // output channel 0 of the block at the tile's first pixel
  int64_t ldo;          // between output channels (OH * OW)
  int64_t nvalid;       // channels of the block that exist (the rest are padding lanes)
};

// Stores pixels [R0, R) of channel-vector b: transposes VW pixels at a time, so that row i of the
// block holds channel b * VW + i for those pixels.
template <typename T, int VW, int OCB, int R, int R0>
TENSILE_AI void store_tile(typename Vec<T, VW>::type (&acc)[R][OCB], const TileArgs<T>& a) {
  typedef typename Vec<T, VW>::type V;
  constexpr int cnt = R - R0 < VW ? R - R0 : VW;
#pragma GCC unroll 4
  for (int b = 0; b < OCB; b++) {
    V rows[VW];
#pragma GCC unroll 16
    for (int i = 0; i < VW; i++) rows[i] = i < cnt ? acc[R0 + i][b] : V{};
    transpose_stages<T, VW, VW / 2>(rows);
    const int64_t left = a.nvalid - b * VW;
    T* o = a.out + b * VW * a.ldo + R0;
#pragma GCC unroll 16
    for (int i = 0; i < VW; i++)
      if (i < left) std::memcpy(o + i * a.ldo, &rows[i], cnt * sizeof(T));
  }
  if constexpr (R0 + VW < R) store_tile<T, VW, OCB, R, R0 + VW>(acc, a);
}

// NCHW: store transposed, one row of R pixels per channel (ldo apart); else R rows of OCB * VW
// channels, pixel r at out + r * ldo (the Winograd products below).
template <typename T, int VW, int OCB, int R, bool NCHW>
TENSILE_AI void direct_tile(const TileArgs<T>& a) {
  typedef typename Vec<T, VW>::type V;
  constexpr int NB = OCB * VW;
  V acc[R][OCB];
#pragma GCC unroll 4
  for (int b = 0; b < OCB; b++) {
    V init = V{};
    if (a.bias) vload(init, a.bias + b * VW);
#pragma GCC unroll 32
    for (int r = 0; r < R; r++) acc[r][b] = init;
  }
  const T* __restrict x = a.x;
  const int64_t* __restrict koff = a.koff;
  const T* __restrict w = a.w;
  for (int64_t k = 0; k < a.K; k++) {
    const T* xp = x + koff[k];
    V wv[OCB];
#pragma GCC unroll 4
    for (int b = 0; b < OCB; b++) vload(wv[b], w + k * NB + b * VW);
#pragma GCC unroll 32
    for (int r = 0; r < R; r++) {
      const V xv = xp[r] - V{};  // broadcast (s - 0 folds away; 0 + s would not: 0 + -0 is 0)
#pragma GCC unroll 4
      for (int b = 0; b < OCB; b++) acc[r][b] += xv * wv[b];
    }
  }
  if constexpr (NCHW) {
    store_tile<T, VW, OCB, R, 0>(acc, a);
  } else {
#pragma GCC unroll 32
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
      for (int b = 0; b < OCB; b++) std::memcpy(a.out + r * a.ldo + b * VW, &acc[r][b], sizeof(V));
  }
}

// One weight-gradient tile: RT taps x OCB channel vectors, accumulated over all pixels of one
// image into acc.
template <typename T>
struct WTileArgs {
  const T* x;           // source (padded image) at the group's first channel
  const int64_t* toff;  // (RT) offsets of the tile's taps from x
  const T* g;           // (OH * OW, gld) transposed output gradient at the block's first channel
  int64_t gld;
  int64_t OH, OW, xrow;  // xrow: source offset between output rows (strideH * padded width)
  T* acc;                // (RT, ald) sums at the block's first channel
  int64_t ald;
};

template <typename T, int VW, int OCB, int RT>
TENSILE_AI void wgrad_tile(const WTileArgs<T>& a) {
  typedef typename Vec<T, VW>::type V;
  V acc[RT][OCB];
#pragma GCC unroll 8
  for (int t = 0; t < RT; t++)
#pragma GCC unroll 4
    for (int b = 0; b < OCB; b++) vload(acc[t][b], a.acc + t * a.ald + b * VW);
  const int64_t gld = a.gld, OW = a.OW;
  for (int64_t oh = 0; oh < a.OH; oh++) {
    const T* xr[RT];
#pragma GCC unroll 8
    for (int t = 0; t < RT; t++) xr[t] = a.x + oh * a.xrow + a.toff[t];
    const T* __restrict gr = a.g + oh * OW * gld;
    for (int64_t ow = 0; ow < OW; ow++) {
      V gv[OCB];
#pragma GCC unroll 4
      for (int b = 0; b < OCB; b++) vload(gv[b], gr + ow * gld + b * VW);
#pragma GCC unroll 8
      for (int t = 0; t < RT; t++) {
        const V xv = xr[t][ow] - V{};
#pragma GCC unroll 4
        for (int b = 0; b < OCB; b++) acc[t][b] += xv * gv[b];
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < RT; t++)
#pragma GCC unroll 4
    for (int b = 0; b < OCB; b++) std::memcpy(a.acc + t * a.ald + b * VW, &acc[t][b], sizeof(V));
}

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: VW x VW blocks through registers,
// scalar edges. Turns an image of the output gradient (channels, pixels) into (pixels, channels).
template <typename T, int VW>
TENSILE_AI void transpose_matrix(T* __restrict dst, int64_t ldd, const T* __restrict src, int64_t lds, int64_t rows,
                                 int64_t cols) {
  typedef typename Vec<T, VW>::type V;
  const int64_t rb = rows / VW * VW, cb = cols / VW * VW;
  for (int64_t r = 0; r < rb; r += VW)
    for (int64_t c = 0; c < cb; c += VW) {
      V v[VW];
#pragma GCC unroll 16
      for (int i = 0; i < VW; i++) vload(v[i], src + (r + i) * lds + c);
      transpose_stages<T, VW, VW / 2>(v);
#pragma GCC unroll 16
      for (int i = 0; i < VW; i++) std::memcpy(dst + (c + i) * ldd + r, &v[i], sizeof(V));
    }
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = r < rb ? cb : 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
}

// --- Winograd F(2x2, 3x3) transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015): a 2x2 output tile of a 3x3 correlation is A^T [(G g G^T) . (B^T d B)] A for
// the 4x4 input patch d at twice the tile's position, so 16 products per tile and channel pair
// instead of 36. Each of the 16 positions xi = 4i + j of the transformed tile is one product of
// (tiles x channels) by (channels x output channels), computed by the direct tile above.

// V[xi * xis + c * vs + t] = (B^T d B)[i][j] for tiles t = ty * tw + tx of one image and
// channels c < C (planes `plane` apart, rows Wp apart in img). Vectors run along tiles: the
// even and odd columns of a row are split by shuffles, so VW - 1 tiles take two loads per row.
// Lanes past a tile row's end land on the next row's tiles, which are written afterwards, or in
// the slack at the end of each V row (vs >= tiles + VW). Reads up to 2 * VW elements past the
// last patch: img needs that slack.
template <typename T, int VW, int FIRST, typename Seq>
struct DeintMask;
template <typename T, int VW, int FIRST, size_t... L>
struct DeintMask<T, VW, FIRST, std::index_sequence<L...>> {
  // Lane l takes element FIRST + 2l of the concatenated pair (clamped: past the pair the lane is
  // not used).
  static constexpr typename LaneIdx<T, VW>::type value = {
      typename LaneIdx<T, VW>::elem(FIRST + 2 * L < 2 * VW ? FIRST + 2 * L : 2 * VW - 1)...};
};

template <typename T, int VW>
TENSILE_AI void wino_input(T* __restrict V, int64_t xis, int64_t vs, const T* __restrict img, int64_t C, int64_t plane,
                           int64_t Wp, int64_t th, int64_t tw) {
  typedef typename Vec<T, VW>::type Vv;
  typedef typename LaneIdx<T, VW>::type M;
  constexpr M even = DeintMask<T, VW, 0, std::make_index_sequence<VW>>::value;
  constexpr M odd = DeintMask<T, VW, 1, std::make_index_sequence<VW>>::value;
  constexpr M even1 = DeintMask<T, VW, 2, std::make_index_sequence<VW>>::value;
  constexpr M odd1 = DeintMask<T, VW, 3, std::make_index_sequence<VW>>::value;
  for (int64_t c = 0; c < C; c++)
    for (int64_t ty = 0; ty < th; ty++)
      for (int64_t tx0 = 0; tx0 < tw; tx0 += VW - 1) {
        const T* base = img + c * plane + 2 * ty * Wp + 2 * tx0;
        Vv lo[4], hi[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
          vload(lo[i], base + i * Wp);
          vload(hi[i], base + i * Wp + VW);
        }
        // B^T down the columns: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3.
        const Vv rl[4] = {lo[0] - lo[2], lo[1] + lo[2], lo[2] - lo[1], lo[1] - lo[3]};
        const Vv rh[4] = {hi[0] - hi[2], hi[1] + hi[2], hi[2] - hi[1], hi[1] - hi[3]};
        T* dst = V + c * vs + ty * tw + tx0;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
          // ... and along each row, for every tile at once: columns 2tx .. 2tx + 3.
          const Vv e = __builtin_shuffle(rl[i], rh[i], even), o = __builtin_shuffle(rl[i], rh[i], odd);
          const Vv e1 = __builtin_shuffle(rl[i], rh[i], even1), o1 = __builtin_shuffle(rl[i], rh[i], odd1);
          const Vv u[4] = {e - e1, o + e1, e1 - o, o - o1};
#pragma GCC unroll 4
          for (int j = 0; j < 4; j++) std::memcpy(dst + (4 * i + j) * xis, &u[j], sizeof(Vv));
        }
      }
}

// out[oc * ldo + (2ty + p) * OW + 2tx + q] = (A^T M A)[p][q] + bias[oc] for oc < Og, from the
// products M[xi * mxi + t * ocpad + oc] (channel vectors). Half a vector of tiles at a time gives
// VW output columns per row and channel vector, transposed in registers to rows of NCHW.
template <typename T, int VW>
TENSILE_AI void wino_output(T* __restrict out, int64_t ldo, int64_t OH, int64_t OW, const T* __restrict Mp,
                            int64_t mxi, int64_t ocpad, int64_t Og, const T* bias, int64_t th, int64_t tw) {
  typedef typename Vec<T, VW>::type Vv;
  constexpr int HT = VW / 2 > 0 ? VW / 2 : 1;
  for (int64_t v0 = 0; v0 < ocpad; v0 += VW) {
    Vv bv = Vv{};
    if (bias) vload(bv, bias + v0);
    for (int64_t ty = 0; ty < th; ty++)
      for (int64_t tx0 = 0; tx0 < tw; tx0 += HT) {
        Vv y[2][VW];
#pragma GCC unroll 16
        for (int k = 0; k < HT; k++) {
          if (tx0 + k >= tw) {
            y[0][2 * k] = y[0][2 * k + 1] = y[1][2 * k] = y[1][2 * k + 1] = Vv{};
            continue;
          }
          const T* m = Mp + (ty * tw + tx0 + k) * ocpad + v0;
          Vv mv[16];
#pragma GCC unroll 16
          for (int x = 0; x < 16; x++) vload(mv[x], m + x * mxi);
          // A^T along each row of the 4x4, then down the columns.
          Vv sr[4], dr[4];
#pragma GCC unroll 4
          for (int i = 0; i < 4; i++) {
            sr[i] = mv[4 * i] + mv[4 * i + 1] + mv[4 * i + 2];
            dr[i] = mv[4 * i + 1] - mv[4 * i + 2] - mv[4 * i + 3];
          }
          y[0][2 * k] = sr[0] + sr[1] + sr[2] + bv;
          y[0][2 * k + 1] = dr[0] + dr[1] + dr[2] + bv;
          y[1][2 * k] = sr[1] - sr[2] - sr[3] + bv;
          y[1][2 * k + 1] = dr[1] - dr[2] - dr[3] + bv;
        }
        const int64_t ow0 = 2 * tx0, cnt = std::min<int64_t>(VW, OW - ow0);
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++) {
          const int64_t oh = 2 * ty + p;
          if (oh >= OH) break;
          transpose_stages<T, VW, VW / 2>(y[p]);
#pragma GCC unroll 16
          for (int i = 0; i < VW; i++) {
            if (v0 + i >= Og) break;
            store_lanes<T, VW>(out + (v0 + i) * ldo + oh * OW + ow0, y[p][i], cnt);
          }
        }
      }
  }
}

// Yt[xi * yxi + t * ocpad + oc] = (A dy A^T)[i][j] for every tile t of one image, dy the tile's
// 2x2 output gradient (zero past OH, OW) read from gt (OH * OW pixels, ocpad channels): the
// adjoint of the output transform, for the weight gradient. Vectors along channels.
template <typename T, int VW>
TENSILE_AI void wino_dout(T* __restrict Yt, int64_t yxi, const T* __restrict gt, int64_t ocpad, int64_t OH,
                          int64_t OW, int64_t th, int64_t tw) {
  typedef typename Vec<T, VW>::type Vv;
  for (int64_t ty = 0; ty < th; ty++)
    for (int64_t tx = 0; tx < tw; tx++) {
      const int64_t oh = 2 * ty, ow = 2 * tx;
      const bool down = oh + 1 < OH, right = ow + 1 < OW;
      T* dst = Yt + (ty * tw + tx) * ocpad;
      for (int64_t v0 = 0; v0 < ocpad; v0 += VW) {
        const T* g = gt + (oh * OW + ow) * ocpad + v0;
        Vv a, b = Vv{}, c = Vv{}, d = Vv{};  // dy = [a b; c d]
        vload(a, g);
        if (right) vload(b, g + ocpad);
        if (down) vload(c, g + OW * ocpad);
        if (down && right) vload(d, g + (OW + 1) * ocpad);
        // A dy with A = [1 0; 1 1; 1 -1; 0 -1], then times A^T along the rows.
        const Vv z[4][2] = {{a, b}, {a + c, b + d}, {a - c, b - d}, {-c, -d}};
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
          const Vv u[4] = {z[i][0], z[i][0] + z[i][1], z[i][0] - z[i][1], -z[i][1]};
#pragma GCC unroll 4
          for (int j = 0; j < 4; j++) std::memcpy(dst + (4 * i + j) * yxi + v0, &u[j], sizeof(Vv));
        }
      }
    }
}

// --- Pixel-vector kernels, for layers with few taps per output (a network's first layer: one
// input channel, 3x3). There the channel-vector tile spends more on transposing its result than on
// its K FMAs, and a handful of channels leave most lanes empty. Here vectors run along an output
// row and weights are broadcast, so rows are stored as they are computed.

template <typename T>
struct RowArgs {
  int64_t K;            // taps: source channels x KH x KW
  const T* x;           // padded source at the row's first pixel, tap 0
  const int64_t* koff;  // (K) offset of tap k from x
  const T* w;           // (K, MR) packed weights of the tile's output channels
  const T* bias;        // (MR) or null
  T* out;               // first output channel at the row's first pixel
  int64_t ldo;          // between output channels
  int64_t n;            // pixels of the row (<= NV * VW)
  // wide_tile_avx512 only: per vector, the lanes to keep and where the first of them goes
  const uint32_t* mask = nullptr;
  const int64_t* cofs = nullptr;
};

// MR output channels x NV pixel vectors of one output row. Lanes past n compute garbage from the
// padded source (finite) and are not stored.
template <typename T, int VW, int MR, int NV>
TENSILE_AI void row_tile(const RowArgs<T>& a) {
  typedef typename Vec<T, VW>::type V;
  // With few accumulators (one channel: the input gradient of a first layer) every FMA would wait
  // for the last; U interleaved copies over k keep 8 or more chains in flight.
  constexpr int U = MR * NV >= 8 ? 1 : MR * NV >= 4 ? 2 : 4;
  V acc[U][MR][NV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++) {
    const V init = a.bias ? a.bias[m] - V{} : V{};
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      acc[0][m][v] = init;
#pragma GCC unroll 4
      for (int u = 1; u < U; u++) acc[u][m][v] = V{};
    }
  }
  const T* __restrict x = a.x;
  const int64_t* __restrict koff = a.koff;
  const T* __restrict w = a.w;
  auto step = [&](int u, int64_t k) __attribute__((always_inline)) {
    V xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) vload(xv[v], x + koff[k] + v * VW);
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
      const V wv = w[k * MR + m] - V{};
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[u][m][v] += wv * xv[v];
    }
  };
  int64_t k = 0;
  for (; k + U <= a.K; k += U)
#pragma GCC unroll 4
    for (int u = 0; u < U; u++) step(u, k + u);
  for (; k < a.K; k++) step(0, k);
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
#pragma GCC unroll 4
      for (int u = 1; u < U; u++) acc[0][m][v] += acc[u][m][v];
  // Through a buffer: stores that depend on n, next to 2 * MR live accumulators, made GCC spill
  // the accumulators inside the loop above (store_lanes here too: c1 forward 54 -> 83 us).
  T tile[MR][NV * VW < 16 ? 16 : NV * VW];  // copy_short reads chunks of up to 8
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) std::memcpy(&tile[m][v * VW], &acc[0][m][v], sizeof(V));
  for (int m = 0; m < MR; m++) copy_short(a.out + m * a.ldo, tile[m], a.n);
}


// The row tile over wide rows with its outputs packed on the way out (AVX-512 only): the lanes of
// vector v whose bits are set in a.mask[v] are stored, in order, from out + m * ldo + a.cofs[v],
// which drops the wasted columns at the end of each wide row without a compaction pass.
template <typename T, int MR, int NV>
__attribute__((target("avx512f,avx2,fma"))) void wide_tile_avx512(const RowArgs<T>& a) {
  constexpr int VW = 64 / sizeof(T);
  typedef typename Vec<T, VW>::type V;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++) {
    const V init = a.bias ? a.bias[m] - V{} : V{};
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[m][v] = init;
  }
  const T* __restrict x = a.x;
  const int64_t* __restrict koff = a.koff;
  const T* __restrict w = a.w;
  for (int64_t k = 0; k < a.K; k++) {
    V xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) vload(xv[v], x + koff[k] + v * VW);
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
      const V wv = w[k * MR + m] - V{};
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[m][v] += wv * xv[v];
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) {
    const uint32_t mk = a.mask[v];
    const uint32_t keep = (1u << __builtin_popcount(mk)) - 1;
    T* base = a.out + a.cofs[v];
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
      if constexpr (sizeof(T) == 4) {
        const __m512 c = _mm512_maskz_compress_ps(__mmask16(mk), (__m512)acc[m][v]);
        _mm512_mask_storeu_ps(base + m * a.ldo, __mmask16(keep), c);
      } else {
        const __m512d c = _mm512_maskz_compress_pd(__mmask8(mk), (__m512d)acc[m][v]);
        _mm512_mask_storeu_pd(base + m * a.ldo, __mmask8(keep), c);
      }
    }
  }
}

template <typename T>
struct RowWArgs {
  const T* x;           // padded source image at the group's first channel
  const int64_t* toff;  // (KT) offsets of the tile's taps
  const T* g;           // output gradient of the tile's first channel, image n: rows of OW
  int64_t gld;          // between output channels (OH * OW)
  int64_t OH, OW, xrow;  // xrow: source offset between output rows (strideH * padded width)
  T* acc;                // (MR, KT, VW) lane-wise partial sums, accumulated
  const T* gend;         // end of the output gradient tensor: no vector load may pass it
};

// Weight gradient, MR output channels x KT taps, summed lane-wise over every pixel of one image:
// dout rows times the source shifted by each tap. The ragged end of a row is loaded whole and
// masked bit-wise (past the row both tensors may hold anything, NaN included); only a load that
// would pass the end of dout goes through a zero-filled copy.
template <typename T, int VW, int MR, int KT>
TENSILE_AI void row_wtile(const RowWArgs<T>& a) {
  typedef typename Vec<T, VW>::type V;
  typedef typename LaneIdx<T, VW>::type M;
  V acc[MR][KT];
#pragma GCC unroll 4
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 16
    for (int t = 0; t < KT; t++) vload(acc[m][t], a.acc + (m * KT + t) * VW);
  const int64_t OW = a.OW, full = OW / VW * VW, rem = OW - full;
  M mask;
#pragma GCC unroll 16
  for (int l = 0; l < VW; l++) mask[l] = l < rem ? -1 : 0;
  int64_t off[KT];
#pragma GCC unroll 16
  for (int t = 0; t < KT; t++) off[t] = a.toff[t];
  for (int64_t oh = 0; oh < a.OH; oh++) {
    const T* __restrict xr = a.x + oh * a.xrow;
    const T* __restrict gr = a.g + oh * OW;
    for (int64_t ow = 0; ow < full; ow += VW) {
      V gv[MR];
#pragma GCC unroll 4
      for (int m = 0; m < MR; m++) vload(gv[m], gr + m * a.gld + ow);
#pragma GCC unroll 16
      for (int t = 0; t < KT; t++) {
        V xv;
        vload(xv, xr + off[t] + ow);
#pragma GCC unroll 4
        for (int m = 0; m < MR; m++) acc[m][t] += gv[m] * xv;
      }
    }
    if (rem) {
      V gv[MR];
#pragma GCC unroll 4
      for (int m = 0; m < MR; m++) {
        const T* gp = gr + m * a.gld + full;
        if (gp + VW <= a.gend) {
          vload(gv[m], gp);
          gv[m] = V(M(gv[m]) & mask);
        } else {
          T lanes[VW < 16 ? 16 : VW] = {};  // copy_short writes chunks of up to 8
          copy_short(lanes, gp, rem);
          vload(gv[m], lanes);
        }
      }
#pragma GCC unroll 16
      for (int t = 0; t < KT; t++) {
        V xv;
        vload(xv, xr + off[t] + full);
        xv = V(M(xv) & mask);  // bit-wise: past the row the source may hold anything
#pragma GCC unroll 4
        for (int m = 0; m < MR; m++) acc[m][t] += gv[m] * xv;
      }
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 16
    for (int t = 0; t < KT; t++) std::memcpy(a.acc + (m * KT + t) * VW, &acc[m][t], sizeof(V));
}


template <typename T>
struct WideWArgs {
  const T* x;            // first image's wide source at the group's first channel
  int64_t xstride;       // between images' sources
  const int64_t* toff;   // (KT) offsets of the tile's taps
  const T* g;            // first image's wide output gradient of the tile's first channel
  int64_t gld, gstride;  // between channels, between images
  int64_t nimg, nv;      // images, whole vectors per image
  T* acc;                // (MR, KT, VW) lane-wise partial sums, accumulated
  bool first;            // acc not written yet: start from zero
};

// Weight gradient over wide rows, MR output channels x KT taps summed lane-wise over nv whole
// vectors of each of nimg images: each gradient vector is loaded once per image position and each
// source vector once per tap, so that a position costs MR + KT loads for MR * KT FMAs, and the
// accumulators are loaded and stored once per call rather than once per image.
template <typename T, int VW, int MR, int KT>
TENSILE_AI void wide_wtile(const WideWArgs<T>& a) {
  typedef typename Vec<T, VW>::type V;
  V acc[MR][KT];
#pragma GCC unroll 8
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 8
    for (int t = 0; t < KT; t++) {
      if (a.first) acc[m][t] = V{};
      else vload(acc[m][t], a.acc + (m * KT + t) * VW);
    }
  int64_t off[KT];
#pragma GCC unroll 8
  for (int t = 0; t < KT; t++) off[t] = a.toff[t];
  for (int64_t i = 0; i < a.nimg; i++) {
    const T* __restrict xr = a.x + i * a.xstride;
    const T* __restrict gr = a.g + i * a.gstride;
    for (int64_t q = 0; q < a.nv * VW; q += VW) {
      V gv[MR];
#pragma GCC unroll 8
      for (int m = 0; m < MR; m++) vload(gv[m], gr + m * a.gld + q);
#pragma GCC unroll 8
      for (int t = 0; t < KT; t++) {
        V xv;
        vload(xv, xr + off[t] + q);
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) acc[m][t] += gv[m] * xv;
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 8
    for (int t = 0; t < KT; t++) std::memcpy(a.acc + (m * KT + t) * VW, &acc[m][t], sizeof(V));
}

// The compiled variants. Register budgets: AVX-512 has 32 vector registers, so 14 pixels x 2
// vectors (28 accumulators) forward and 6 taps x 4 vectors (24) for the weight gradient; AVX2
// and SSE2 have 16, so 6 x 2 (AVX2) and 4 x 2 (SSE2, which also needs a temporary per FMA).
constexpr int kMaxR = 14, kMaxOCB = 2, kMaxRT = 6, kMaxWOCB = 4;
// Pixel-vector tiles: up to 12 channels x 2 vectors forward (AVX-512; 6 with AVX2, 4 with SSE2)
// and 3 channels x 9 taps for the weight gradient (AVX-512; 1 x 9 otherwise).
constexpr int kMaxRowMR = 12, kMaxRowNV = 2, kMaxRowWMR = 3, kMaxRowKT = 9;
// Wide weight-gradient tiles: 4 channels x 6 taps (AVX-512: 24 accumulators, 4 gradient vectors
// and a source vector in 32 registers), or 2 channels x 9 taps for layers of at most 9 taps (one
// tap group; 3 x 9 made GCC spill accumulators); 2 x 4 (AVX2) and 2 x 3 (SSE2).
constexpr int kMaxWideMR = 4, kMaxWideKT = 9;

template <typename T>
struct DirectKernels {
  int vw = 0;    // lanes per vector
  int rmax = 0;  // pixels per forward tile
  int ocb = 0;   // channel vectors per forward tile
  int rt = 0;    // taps per weight-gradient tile
  int wocb = 0;  // channel vectors per weight-gradient tile
  void (*tile[kMaxOCB + 1][kMaxR + 1])(const TileArgs<T>&) = {};
  void (*tile_rows[kMaxOCB + 1][kMaxR + 1])(const TileArgs<T>&) = {};
  void (*wtile[kMaxWOCB + 1][kMaxRT + 1])(const WTileArgs<T>&) = {};
  void (*transpose)(T* dst, int64_t ldd, const T* src, int64_t lds, int64_t rows, int64_t cols) = nullptr;
  void (*wino_in)(T* V, int64_t xis, int64_t vs, const T* img, int64_t C, int64_t plane, int64_t Wp, int64_t th,
                  int64_t tw) = nullptr;
  void (*wino_out)(T* out, int64_t ldo, int64_t OH, int64_t OW, const T* M, int64_t mxi, int64_t ocpad, int64_t Og,
                   const T* bias, int64_t th, int64_t tw) = nullptr;
  void (*wino_dy)(T* Yt, int64_t yxi, const T* gt, int64_t ocpad, int64_t OH, int64_t OW, int64_t th,
                  int64_t tw) = nullptr;
  int rowmr = 0;   // channels per pixel-vector tile
  int rowwmr = 0;  // channels per pixel-vector weight-gradient tile (taps: up to kMaxRowKT)
  void (*row[kMaxRowNV + 1][kMaxRowMR + 1])(const RowArgs<T>&) = {};
  // AVX-512 only (else null): the row tile storing the kept lanes of wide rows (run_wide)
  void (*wrow[kMaxRowNV + 1][kMaxRowMR + 1])(const RowArgs<T>&) = {};
  int wwmr = 0, wwkt = 0;  // channels and taps per wide weight-gradient tile
  int wwmr9 = 0;           // channels per tile of up to 9 taps (0: none)
  // rows rows of n elements from s (ls apart) to d (ld apart): short rows, vector-wide
  void (*copy_rows)(T* d, int64_t ld, const T* s, int64_t ls, int64_t rows, int64_t n) = nullptr;
  void (*wwide[kMaxWideMR + 1][kMaxWideKT + 1])(const WideWArgs<T>&) = {};
  void (*roww[kMaxRowWMR + 1][kMaxRowKT + 1])(const RowWArgs<T>&) = {};
};

// One struct per instruction set: the same templates compiled with its target attribute.
#define TENSILE_CONV_ISA(NAME, ATTR)                                                                      \
  struct NAME {                                                                                           \
    template <typename T, int VW, int OCB, int R>                                                         \
    ATTR static void tile(const TileArgs<T>& a) {                                                         \
      direct_tile<T, VW, OCB, R, true>(a);                                                                \
    }                                                                                                     \
    template <typename T, int VW, int OCB, int R>                                                         \
    ATTR static void tile_rows(const TileArgs<T>& a) {                                                    \
      direct_tile<T, VW, OCB, R, false>(a);                                                               \
    }                                                                                                     \
    template <typename T, int VW, int OCB, int RT>                                                        \
    ATTR static void wtile(const WTileArgs<T>& a) {                                                       \
      wgrad_tile<T, VW, OCB, RT>(a);                                                                      \
    }                                                                                                     \
    template <typename T, int VW>                                                                         \
    ATTR static void transpose(T* dst, int64_t ldd, const T* src, int64_t lds, int64_t rows, int64_t cols) { \
      transpose_matrix<T, VW>(dst, ldd, src, lds, rows, cols);                                            \
    }                                                                                                     \
    template <typename T, int VW>                                                                         \
    ATTR static void wino_in(T* V, int64_t xis, int64_t vs, const T* img, int64_t C, int64_t plane, int64_t Wp, \
                             int64_t th, int64_t tw) {                                                    \
      wino_input<T, VW>(V, xis, vs, img, C, plane, Wp, th, tw);                                           \
    }                                                                                                     \
    template <typename T, int VW, int MR, int NV>                                                         \
    ATTR static void row(const RowArgs<T>& a) {                                                           \
      row_tile<T, VW, MR, NV>(a);                                                                         \
    }                                                                                                     \
    template <typename T, int VW, int MR, int KT>                                                         \
    ATTR static void roww(const RowWArgs<T>& a) {                                                         \
      row_wtile<T, VW, MR, KT>(a);                                                                        \
    }                                                                                                     \
    template <typename T, int VW, int MR, int KT>                                                         \
    ATTR static void wwide(const WideWArgs<T>& a) {                                                       \
      wide_wtile<T, VW, MR, KT>(a);                                                                       \
    }                                                                                                     \
    template <typename T, int VW>                                                                         \
    ATTR static void wino_dy(T* Yt, int64_t yxi, const T* gt, int64_t ocpad, int64_t OH, int64_t OW, int64_t th, \
                             int64_t tw) {                                                                \
      wino_dout<T, VW>(Yt, yxi, gt, ocpad, OH, OW, th, tw);                                               \
    }                                                                                                     \
    template <typename T, int VW>                                                                         \
    ATTR static void wino_out(T* out, int64_t ldo, int64_t OH, int64_t OW, const T* M, int64_t mxi,        \
                              int64_t ocpad, int64_t Og, const T* bias, int64_t th, int64_t tw) {         \
      wino_output<T, VW>(out, ldo, OH, OW, M, mxi, ocpad, Og, bias, th, tw);                              \
    }                                                                                                     \
  };
TENSILE_CONV_ISA(IsaAvx512, __attribute__((target("avx512f,avx2,fma"))))
TENSILE_CONV_ISA(IsaAvx2, __attribute__((target("avx2,fma"))))
TENSILE_CONV_ISA(IsaBase, )
#undef TENSILE_CONV_ISA

template <class Isa, typename T, int VW, int OCB, size_t... Rs>
void fill_tiles(DirectKernels<T>& k, std::index_sequence<Rs...>) {
  ((k.tile[OCB][Rs + 1] = &Isa::template tile<T, VW, OCB, int(Rs) + 1>), ...);
  ((k.tile_rows[OCB][Rs + 1] = &Isa::template tile_rows<T, VW, OCB, int(Rs) + 1>), ...);
}
template <class Isa, typename T, int VW, int OCB, size_t... Ts>
void fill_wtiles(DirectKernels<T>& k, std::index_sequence<Ts...>) {
  ((k.wtile[OCB][Ts + 1] = &Isa::template wtile<T, VW, OCB, int(Ts) + 1>), ...);
}

template <class Isa, typename T, int VW, int NV, size_t... Ms>
void fill_rows(DirectKernels<T>& k, std::index_sequence<Ms...>) {
  ((k.row[NV][Ms + 1] = &Isa::template row<T, VW, int(Ms) + 1, NV>), ...);
}
template <class Isa, typename T, int VW, int MR, size_t... Ts>
void fill_rowws(DirectKernels<T>& k, std::index_sequence<Ts...>) {
  ((k.roww[MR][Ts + 1] = &Isa::template roww<T, VW, MR, int(Ts) + 1>), ...);
}

template <typename T>
void copy_rows_generic(T* d, int64_t ld, const T* s, int64_t ls, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; r++) copy_short(d + r * ld, s + r * ls, n);
}
// Masked 64-byte moves: a row of a dozen floats is one load and one store.
template <typename T>
__attribute__((target("avx512f"))) void copy_rows_avx512(T* d, int64_t ld, const T* s, int64_t ls, int64_t rows,
                                                         int64_t n) {
  constexpr int64_t VW = 64 / sizeof(T);
  const int64_t full = n / VW * VW;
  const __mmask16 tail = __mmask16((1u << (n - full)) - 1);
  for (int64_t r = 0; r < rows; r++) {
    const T* sr = s + r * ls;
    T* dr = d + r * ld;
    for (int64_t j = 0; j < full; j += VW) _mm512_storeu_si512(dr + j, _mm512_loadu_si512(sr + j));
    if constexpr (sizeof(T) == 4)
      _mm512_mask_storeu_ps(dr + full, tail, _mm512_maskz_loadu_ps(tail, sr + full));
    else
      _mm512_mask_storeu_pd(dr + full, __mmask8(tail), _mm512_maskz_loadu_pd(__mmask8(tail), sr + full));
  }
}

template <class Isa, typename T, int VW, int MR, size_t... Ts>
void fill_wwides(DirectKernels<T>& k, std::index_sequence<Ts...>) {
  ((k.wwide[MR][Ts + 1] = &Isa::template wwide<T, VW, MR, int(Ts) + 1>), ...);
}
template <class Isa, typename T, int VW, int WWMR, int WWKT, size_t... Ms>
void fill_wwide_table(DirectKernels<T>& k, std::index_sequence<Ms...>) {
  static_assert(WWMR <= kMaxWideMR && WWKT <= kMaxWideKT, "wide tables too small");
  k.wwmr = WWMR;
  k.wwkt = WWKT;
  k.copy_rows = &copy_rows_generic<T>;
  (fill_wwides<Isa, T, VW, int(Ms) + 1>(k, std::make_index_sequence<WWKT>()), ...);
}

template <class Isa, typename T, int VW, int RMAX, int RT, int WOCB, int ROWMR, int ROWWMR>
DirectKernels<T> make_kernels() {
  static_assert(RMAX <= kMaxR && RT <= kMaxRT && WOCB <= kMaxWOCB, "tile tables too small");
  DirectKernels<T> k;
  k.vw = VW;
  k.rmax = RMAX;
  k.ocb = 2;
  k.rt = RT;
  k.wocb = WOCB;
  k.transpose = &Isa::template transpose<T, VW>;
  k.wino_in = &Isa::template wino_in<T, VW>;
  k.wino_out = &Isa::template wino_out<T, VW>;
  k.wino_dy = &Isa::template wino_dy<T, VW>;
  static_assert(ROWMR <= kMaxRowMR && ROWWMR <= kMaxRowWMR, "row tables too small");
  k.rowmr = ROWMR;
  k.rowwmr = ROWWMR;
  fill_rows<Isa, T, VW, 1>(k, std::make_index_sequence<ROWMR>());
  fill_rows<Isa, T, VW, 2>(k, std::make_index_sequence<ROWMR>());
  fill_rowws<Isa, T, VW, 1>(k, std::make_index_sequence<kMaxRowKT>());
  if constexpr (ROWWMR >= 2) fill_rowws<Isa, T, VW, 2>(k, std::make_index_sequence<kMaxRowKT>());
  if constexpr (ROWWMR >= 3) fill_rowws<Isa, T, VW, 3>(k, std::make_index_sequence<kMaxRowKT>());
  fill_tiles<Isa, T, VW, 1>(k, std::make_index_sequence<RMAX>());
  fill_tiles<Isa, T, VW, 2>(k, std::make_index_sequence<RMAX>());
  fill_wtiles<Isa, T, VW, 1>(k, std::make_index_sequence<RT>());
  fill_wtiles<Isa, T, VW, 2>(k, std::make_index_sequence<RT>());
  if constexpr (WOCB >= 3) fill_wtiles<Isa, T, VW, 3>(k, std::make_index_sequence<RT>());
  if constexpr (WOCB >= 4) fill_wtiles<Isa, T, VW, 4>(k, std::make_index_sequence<RT>());
  return k;
}

template <typename T, int NV, size_t... Ms>
void fill_wrows(DirectKernels<T>& k, std::index_sequence<Ms...>) {
  ((k.wrow[NV][Ms + 1] = &wide_tile_avx512<T, int(Ms) + 1, NV>), ...);
}

struct DirectSet {
  DirectKernels<float> f32;
  DirectKernels<double> f64;
  bool enabled;   // false: TENSILE_CONV_KERNEL=im2col forces the im2col path everywhere
  bool winograd;  // false: TENSILE_CONV_KERNEL=direct (or im2col) turns Winograd off
  bool wide;      // false: TENSILE_CONV_KERNEL=direct|nowide|im2col turns the wide row tiles off
};

// Best variant for this CPU, capped like the GEMM's by TENSILE_GEMM_KERNEL=avx2|baseline.
// TENSILE_CONV_KERNEL=direct|im2col narrows the choice of algorithm (tests, benchmarks).
DirectSet pick_direct() {
  DirectSet s;
  __builtin_cpu_init();
  int level = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = 1;
  if (level == 1 && __builtin_cpu_supports("avx512f")) level = 2;
  if (const char* env = std::getenv("TENSILE_GEMM_KERNEL")) {
    const std::string want(env);
    if (want == "baseline") level = 0;
    else if (want == "avx2") level = std::min(level, 1);
  }
  if (level == 2) {
    s.f32 = make_kernels<IsaAvx512, float, 16, 14, 6, 4, 12, 3>();
    s.f64 = make_kernels<IsaAvx512, double, 8, 14, 6, 4, 12, 3>();
    fill_wrows<float, 1>(s.f32, std::make_index_sequence<12>());
    fill_wrows<float, 2>(s.f32, std::make_index_sequence<12>());
    fill_wrows<double, 1>(s.f64, std::make_index_sequence<12>());
    fill_wrows<double, 2>(s.f64, std::make_index_sequence<12>());
    fill_wwide_table<IsaAvx512, float, 16, 4, 6>(s.f32, std::make_index_sequence<4>());
    fill_wwide_table<IsaAvx512, double, 8, 4, 6>(s.f64, std::make_index_sequence<4>());
    fill_wwides<IsaAvx512, float, 16, 3>(s.f32, std::make_index_sequence<9>());
    fill_wwides<IsaAvx512, double, 8, 3>(s.f64, std::make_index_sequence<9>());
    fill_wwides<IsaAvx512, float, 16, 2>(s.f32, std::make_index_sequence<9>());
    fill_wwides<IsaAvx512, double, 8, 2>(s.f64, std::make_index_sequence<9>());
    fill_wwides<IsaAvx512, float, 16, 1>(s.f32, std::make_index_sequence<9>());
    fill_wwides<IsaAvx512, double, 8, 1>(s.f64, std::make_index_sequence<9>());
    s.f32.wwmr9 = s.f64.wwmr9 = 2;  // 3 x 9 spills accumulators
    s.f32.copy_rows = &copy_rows_avx512<float>;
    s.f64.copy_rows = &copy_rows_avx512<double>;
  } else if (level == 1) {
    s.f32 = make_kernels<IsaAvx2, float, 8, 6, 4, 2, 6, 1>();
    s.f64 = make_kernels<IsaAvx2, double, 4, 6, 4, 2, 6, 1>();
    fill_wwide_table<IsaAvx2, float, 8, 2, 4>(s.f32, std::make_index_sequence<2>());
    fill_wwide_table<IsaAvx2, double, 4, 2, 4>(s.f64, std::make_index_sequence<2>());
  } else {
    s.f32 = make_kernels<IsaBase, float, 4, 4, 4, 2, 4, 1>();
    s.f64 = make_kernels<IsaBase, double, 2, 4, 4, 2, 4, 1>();
    fill_wwide_table<IsaBase, float, 4, 2, 3>(s.f32, std::make_index_sequence<2>());
    fill_wwide_table<IsaBase, double, 2, 2, 3>(s.f64, std::make_index_sequence<2>());
  }
  const std::string env = std::getenv("TENSILE_CONV_KERNEL") ? std::getenv("TENSILE_CONV_KERNEL") : "";
  s.enabled = env != "im2col";
  s.winograd = s.enabled && env != "direct";
  s.wide = s.enabled && env != "direct" && env != "nowide";
  return s;
}

const DirectSet& direct_set() {
  static const DirectSet s = pick_direct();
  return s;
}

template <typename T>
const DirectKernels<T>* direct_kernels();
template <>
const DirectKernels<float>* direct_kernels<float>() {
  return direct_set().enabled ? &direct_set().f32 : nullptr;
}
template <>
const DirectKernels<double>* direct_kernels<double>() {
  return direct_set().enabled ? &direct_set().f64 : nullptr;
}

// Channel vectors of `channels` lanes at least a quarter full: below that (depthwise) most
// of every FMA would be padding, and the im2col path does better.
inline bool worth_vectors(int64_t channels, int vw) { return channels * 4 >= vw; }

// Work below which a call runs on the calling thread: waking the pool costs a few microseconds.
constexpr int64_t kDirectParallelMacs = int64_t(1) << 18;

// --- the source image as the kernels read it


// One image of a (N, C, H, W) tensor seen through zero padding: padded pixel (i, j) is source
// pixel (i - pt, j - pl), zero outside the source. pt or pl may be negative (rows or columns
// cropped). When the tensor already has that layout the kernels read it in place.
template <typename T>
struct PaddedSource {
  const T* base;
  int64_t C, H, W;
  int64_t pt, pl, Hp, Wp;
  bool copy;

  int64_t slack = 0;  // zeros after the copy, for kernels that read past its last row

  // always_copy: a copy even where the tensor could be read in place, with `tail` zeros after it.
  PaddedSource(const T* b, int64_t c, int64_t h, int64_t w, int64_t top, int64_t left, int64_t hp, int64_t wp,
               bool always_copy = false, int64_t tail = 0)
      : base(b), C(c), H(h), W(w), pt(top), pl(left), Hp(hp), Wp(wp) {
    copy = always_copy || !(pt == 0 && pl == 0 && Wp == W && Hp <= H);
    if (!copy) Hp = H;  // read in place: channel stride H * W
    if (copy) slack = tail;
  }
  int64_t plane() const { return Hp * Wp; }
  size_t scratchElems() const { return copy ? size_t(C * Hp * Wp + slack) : 1; }

  // Image n as the kernels read it: the tensor itself, or a padded copy written into buf. The
  // border of the copy is the same for every image, so it is zeroed only on a buffer's first
  // use (`fresh`); after that only the rows inside the source are copied.
  const T* image(int64_t n, T* buf, bool& fresh) const {
    const T* src = base + n * C * H * W;
    if (!copy) return src;
    if (fresh) std::fill(buf, buf + C * Hp * Wp + slack, T(0));
    fresh = false;
    const int64_t j0 = std::clamp<int64_t>(pl, 0, Wp), j1 = std::clamp<int64_t>(pl + W, j0, Wp);
    const int64_t i0 = std::clamp<int64_t>(pt, 0, Hp), i1 = std::clamp<int64_t>(pt + H, i0, Hp);
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = i0; i < i1; i++) copy_short(buf + (c * Hp + i) * Wp + j0, src + (c * H + i - pt) * W + (j0 - pl), j1 - j0);
    return buf;
  }
};

// Packs weights for the forward tile: per group, channel blocks of up to `ocb` vectors, each
// (K, nb * VW) with lanes past `Og` zero: wp[g * K * Opad + v0 * VW * K + k * nb * VW + lane] =
// value(g, v0 * VW + lane, k).
template <typename T, typename F>
void pack_blocks(T* wp, int64_t G, int64_t Og, int64_t K, int vw, int ocb, F value) {
  const int64_t nvec = (Og + vw - 1) / vw, Opad = nvec * vw;
  for (int64_t g = 0; g < G; g++)
    for (int64_t v0 = 0; v0 < nvec; v0 += ocb) {
      const int64_t nbw = std::min<int64_t>(ocb, nvec - v0) * vw;
      T* dst = wp + g * K * Opad + v0 * vw * K;
      for (int64_t k = 0; k < K; k++)
        for (int64_t l = 0; l < nbw; l++) {
          const int64_t o = v0 * vw + l;
          dst[k * nbw + l] = o < Og ? value(g, o, k) : T(0);
        }
    }
}

// out (N, G * Og, Ho, Wo) = the direct tile over every image, group, channel block, output row
// and run of pixels. Source channels per group Cg; taps (c, kh, kw) sit at c * plane + kh * dH *
// Wp + kw * dW from the tile's first pixel, whose row is oh * sH. wp from pack_blocks; biasp
// (G, Opad) or null.
template <typename T>
void run_direct(const DirectKernels<T>& ks, T* out, const PaddedSource<T>& src, int64_t N, int64_t G, int64_t Cg,
                int64_t Og, int64_t Ho, int64_t Wo, int64_t sH, int64_t KH, int64_t KW, int64_t dH, int64_t dW,
                const T* wp, const T* biasp) {
  const int vw = ks.vw;
  const int64_t K = Cg * KH * KW, plane = src.plane(), Wp = src.Wp;
  ScratchBuffer<int64_t> koff{size_t(K)};
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < KH; kh++)
      for (int64_t kw = 0; kw < KW; kw++) koff.get()[(c * KH + kh) * KW + kw] = c * plane + kh * dH * Wp + kw * dW;
  const int64_t nvec = (Og + vw - 1) / vw, Opad = nvec * vw, nblk = (nvec + ks.ocb - 1) / ks.ocb;
  // Runs of pixels along a row: as few as the tile width allows, of near-equal length.
  const int64_t nch = (Wo + ks.rmax - 1) / ks.rmax, R = (Wo + nch - 1) / nch, Rlast = Wo - (nch - 1) * R;
  const int64_t perImage = G * nblk * Ho * nch, total = N * perImage;
  const int64_t tileMacs = std::max<int64_t>(1, K * R * ks.ocb * vw);
  const int64_t grain = total * tileMacs < kDirectParallelMacs ? total : std::max<int64_t>(1, 4096 / tileMacs);
  parallel_for(total, grain, [&](int64_t t0, int64_t t1) {
    ScratchBuffer<T> buf(src.scratchElems());
    bool fresh = true;
    int64_t cur = -1;
    const T* img = nullptr;
    TileArgs<T> a;
    a.K = K;
    a.koff = koff.get();
    a.ldo = Ho * Wo;
    for (int64_t t = t0; t < t1; t++) {
      const int64_t n = t / perImage;
      int64_t r = t % perImage;
      if (n != cur) {
        img = src.image(n, buf.get(), fresh);
        cur = n;
      }
      const int64_t ch = r % nch;
      r /= nch;
      const int64_t oh = r % Ho;
      r /= Ho;
      const int64_t blk = r % nblk, g = r / nblk;
      const int64_t v0 = blk * ks.ocb, nb = std::min<int64_t>(ks.ocb, nvec - v0);
      const int64_t ow0 = ch * R, Rc = ch == nch - 1 ? Rlast : R;
      a.x = img + g * Cg * plane + oh * sH * Wp + ow0;
      a.w = wp + g * K * Opad + v0 * vw * K;
      a.bias = biasp ? biasp + g * Opad + v0 * vw : nullptr;
      a.out = out + ((n * G * Og + g * Og + v0 * vw) * Ho + oh) * Wo + ow0;
      a.nvalid = std::min<int64_t>(nb * vw, Og - v0 * vw);
      ks.tile[nb][Rc](a);
    }
  });
}

// Winograd F(2x2, 3x3) for 3x3, stride-1, undilated correlations: out (N, G * Og, Ho, Wo) from
// src (padded so that 2x2 tile (ty, tx) reads padded rows and columns 2ty .. 2ty + 3) and the
// weights wgt(g, o, c, kh, kw). Per image and group: transform the input into V (16, Cg, tiles),
// multiply each of the 16 slices by the transformed weights into M (16, tiles, Opad) with the
// direct tile (tiles as pixels), transform back and add the bias. Images are split over threads.
// Rounding: the transforms add up to 4 x 4 inputs and halve the weights, so sums differ from
// the direct path's by a few units in the last place (the tests hold both to the reference).
template <typename T, typename F>
void run_winograd(const DirectKernels<T>& ks, T* out, const PaddedSource<T>& src, int64_t N, int64_t G, int64_t Cg,
                  int64_t Og, int64_t Ho, int64_t Wo, F wgt, const T* bias) {
  const int vw = ks.vw;
  const int64_t th = (Ho + 1) / 2, tw = (Wo + 1) / 2, tiles = th * tw;
  const int64_t vs = tiles + vw, xis = Cg * vs;  // V rows carry vw lanes of slack
  const int64_t nvec = (Og + vw - 1) / vw, Opad = nvec * vw, nblk = (nvec + ks.ocb - 1) / ks.ocb;
  const int64_t plane = src.plane(), Wp = src.Wp;

  // U[g][xi] = (G g G^T)[i][j] packed as the tile's weights (Cg, block lanes) per channel block.
  ScratchBuffer<T> U(size_t(G * 16 * Cg * Opad));
  {
    ScratchBuffer<T> ut(size_t(G * Og * Cg * 16));
    for (int64_t g = 0; g < G; g++)
      for (int64_t o = 0; o < Og; o++)
        for (int64_t c = 0; c < Cg; c++) {
          T k[3][3], gk[4][3];
          for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) k[a][b] = wgt(g, o, c, a, b);
          for (int b = 0; b < 3; b++) {  // G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
            gk[0][b] = k[0][b];
            gk[1][b] = T(0.5) * (k[0][b] + k[1][b] + k[2][b]);
            gk[2][b] = T(0.5) * (k[0][b] - k[1][b] + k[2][b]);
            gk[3][b] = k[2][b];
          }
          T* u = ut.get() + ((g * Og + o) * Cg + c) * 16;
          for (int i = 0; i < 4; i++) {
            u[4 * i] = gk[i][0];
            u[4 * i + 1] = T(0.5) * (gk[i][0] + gk[i][1] + gk[i][2]);
            u[4 * i + 2] = T(0.5) * (gk[i][0] - gk[i][1] + gk[i][2]);
            u[4 * i + 3] = gk[i][2];
          }
        }
    for (int64_t g = 0; g < G; g++)
      for (int x = 0; x < 16; x++)
        pack_blocks(U.get() + (g * 16 + x) * Cg * Opad, 1, Og, Cg, vw, ks.ocb,
                    [&](int64_t, int64_t o, int64_t c) { return ut.get()[((g * Og + o) * Cg + c) * 16 + x]; });
  }
  ScratchBuffer<T> bp(bias ? size_t(G * Opad) : 1);
  if (bias)
    for (int64_t g = 0; g < G; g++)
      for (int64_t o = 0; o < Opad; o++) bp.get()[g * Opad + o] = o < Og ? bias[g * Og + o] : T(0);
  ScratchBuffer<int64_t> koff{size_t(Cg)};
  for (int64_t c = 0; c < Cg; c++) koff.get()[c] = c * vs;
  // Runs of tiles per product: as in run_direct, near-equal and at most rmax.
  const int64_t nch = (tiles + ks.rmax - 1) / ks.rmax, R = (tiles + nch - 1) / nch, Rlast = tiles - (nch - 1) * R;

  parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    ScratchBuffer<T> buf(src.scratchElems());
    ScratchBuffer<T> V(size_t(16 * xis));
    ScratchBuffer<T> M(size_t(16 * tiles * Opad));
    std::fill(V.get(), V.get() + 16 * xis, T(0));  // slack lanes: finite, never used
    bool fresh = true;
    TileArgs<T> a;
    a.K = Cg;
    a.koff = koff.get();
    a.bias = nullptr;
    a.ldo = Opad;
    a.nvalid = Opad;
    for (int64_t n = n0; n < n1; n++) {
      const T* img = src.image(n, buf.get(), fresh);
      for (int64_t g = 0; g < G; g++) {
        ks.wino_in(V.get(), xis, vs, img + g * Cg * plane, Cg, plane, Wp, th, tw);
        for (int x = 0; x < 16; x++)
          for (int64_t blk = 0; blk < nblk; blk++) {
            const int64_t v0 = blk * ks.ocb, nb = std::min<int64_t>(ks.ocb, nvec - v0);
            a.w = U.get() + (g * 16 + x) * Cg * Opad + v0 * vw * Cg;
            for (int64_t ch = 0; ch < nch; ch++) {
              const int64_t t0 = ch * R;
              a.x = V.get() + x * xis + t0;
              a.out = M.get() + (x * tiles + t0) * Opad + v0 * vw;
              ks.tile_rows[nb][ch == nch - 1 ? Rlast : R](a);
            }
          }
        ks.wino_out(out + (n * G + g) * Og * Ho * Wo, Ho * Wo, Ho, Wo, M.get(), tiles * Opad, Opad, Og,
                    bias ? bp.get() + g * Opad : nullptr, th, tw);
      }
    }
  });
}

// Winograd pays where the 16 products are real matrix products, long next to the transforms,
// whose cost grows with channels in and out rather than with their product: at 20 channels
// summed into 10 (the classic model's second layer) the transforms cost as much as the products
// save. And there must be images to share between threads.
constexpr int64_t kWinogradMinSum = 32, kWinogradMinOut = 16;
inline bool winograd_fits(const Conv2dParams& p, int64_t sumChannels, int64_t outChannels) {
  return direct_set().winograd && p.KH == 3 && p.KW == 3 && p.strideH == 1 && p.strideW == 1 && p.dilH == 1 &&
         p.dilW == 1 && p.N >= 2 && sumChannels >= kWinogradMinSum && outChannels >= kWinogradMinOut;
}

// --- layers with few taps: the pixel-vector tiles

// Few taps per output (K <= 16) and output channels that leave channel vectors partly empty:
// there the pixel-vector tiles win (the classic model's first layer, 10 channels: forward 73 ->
// 55 us, weight gradient 128 -> 48 us). With full vectors (32 channels) the channel-vector tile
// stays ahead by ~10%: its rows of a dozen pixels, stored after a transpose, cost about what the
// pixel tiles' repeated loads of the source do.
constexpr int64_t kRowMaxTaps = 16;
inline bool rows_fit(const Conv2dParams& p, int vw) {
  return p.strideW == 1 && (p.C / p.groups) * p.KH * p.KW <= kRowMaxTaps && (p.OC / p.groups) % vw != 0;
}

// Group i of n near-equal groups of `total`: [total * i / n, total * (i + 1) / n).
inline int64_t split_at(int64_t total, int64_t n, int64_t i) { return total * i / n; }

// Fraction of vector lanes that hold data when x values are cut into vectors of vw (pixels of
// a row are first cut into runs of at most kMaxRowNV vectors, as run_rows does).
inline double lane_fill(int64_t x, int64_t vw) { return double(x) / double((x + vw - 1) / vw * vw); }
inline double row_fill(int64_t width, int64_t vw) {
  const int64_t span = kMaxRowNV * vw, nch = (width + span - 1) / span;
  int64_t lanes = 0;
  for (int64_t c = 0; c < nch; c++) lanes += (split_at(width, nch, c + 1) - split_at(width, nch, c) + vw - 1) / vw * vw;
  return double(width) / double(lanes);
}
// With many taps the two tiles are the same product with the roles of pixels and channels
// swapped, and the store's transpose is noise: the one whose vectors are fuller wins.
inline bool rows_fuller(int64_t width, int64_t channels, int vw) {
  return row_fill(width, vw) > lane_fill(channels, vw) + 0.1;
}

// out (N, G * Og, Ho, Wo) = the pixel-vector tile over every image, group, channel group of at most
// rowmr, output row and run of at most kMaxRowNV vectors. Source channels per group Cg; taps
// (c, kh, kw) at c * plane + kh * dH * Wp + kw * dW from a row's first pixel, whose source row is
// oh * sH; wgt(g, o, k) the weight of output channel o and tap k; bias (G * Og) or null.
template <typename T, typename F>
void run_rows(const DirectKernels<T>& ks, T* out, const PaddedSource<T>& src, int64_t N, int64_t G, int64_t Cg,
              int64_t Og, int64_t Ho, int64_t Wo, int64_t sH, int64_t KH, int64_t KW, int64_t dH, int64_t dW, F wgt,
              const T* bias) {
  const int vw = ks.vw;
  const int64_t K = Cg * KH * KW, span = kMaxRowNV * vw, plane = src.plane(), Wp = src.Wp;
  ScratchBuffer<int64_t> koff{size_t(K)};
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < KH; kh++)
      for (int64_t kw = 0; kw < KW; kw++) koff.get()[(c * KH + kh) * KW + kw] = c * plane + kh * dH * Wp + kw * dW;
  // Channel groups of at most rowmr, each packed (K, mr) at its first channel's offset.
  const int64_t ngr = (Og + ks.rowmr - 1) / ks.rowmr;
  ScratchBuffer<T> wp(size_t(G * Og * K));
  for (int64_t g = 0; g < G; g++)
    for (int64_t gi = 0; gi < ngr; gi++) {
      const int64_t o0 = split_at(Og, ngr, gi), mr = split_at(Og, ngr, gi + 1) - o0;
      T* dst = wp.get() + (g * Og + o0) * K;
      for (int64_t k = 0; k < K; k++)
        for (int64_t m = 0; m < mr; m++) dst[k * mr + m] = wgt(g, o0 + m, k);
    }
  const int64_t nch = (Wo + span - 1) / span;
  const int64_t perImage = G * ngr * Ho * nch, total = N * perImage;
  const int64_t rowMacs = std::max<int64_t>(1, K * Wo / nch * Og / ngr);
  const int64_t grain = total * rowMacs < kDirectParallelMacs ? total : std::max<int64_t>(1, 4096 / rowMacs);
  parallel_for(total, grain, [&](int64_t t0, int64_t t1) {
    ScratchBuffer<T> buf(src.scratchElems());
    bool fresh = true;
    int64_t cur = -1;
    const T* img = nullptr;
    RowArgs<T> a;
    a.K = K;
    a.koff = koff.get();
    a.ldo = Ho * Wo;
    for (int64_t t = t0; t < t1; t++) {
      const int64_t n = t / perImage;
      int64_t r = t % perImage;
      if (n != cur) {
        img = src.image(n, buf.get(), fresh);
        cur = n;
      }
      const int64_t ch = r % nch;
      r /= nch;
      const int64_t oh = r % Ho;
      r /= Ho;
      const int64_t gi = r % ngr, g = r / ngr;
      const int64_t o0 = split_at(Og, ngr, gi), mr = split_at(Og, ngr, gi + 1) - o0;
      const int64_t ow0 = split_at(Wo, nch, ch), len = split_at(Wo, nch, ch + 1) - ow0;
      a.x = img + g * Cg * plane + oh * sH * Wp + ow0;
      a.w = wp.get() + (g * Og + o0) * K;
      a.bias = bias ? bias + g * Og + o0 : nullptr;
      a.out = out + ((n * G * Og + g * Og + o0) * Ho + oh) * Wo + ow0;
      a.n = len;
      ks.row[(len + vw - 1) / vw][mr](a);
    }
  });
}

template <typename T>
void forward_rows(const DirectKernels<T>& ks, T* out, const T* inp, const T* weight, const T* bias,
                  const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, K = Cg * p.KH * p.KW;
  const PaddedSource<T> src(inp, p.C, p.H, p.W, p.padH, p.padW, (p.OH - 1) * p.strideH + (p.KH - 1) * p.dilH + 1,
                            p.OW + (p.KW - 1) * p.dilW, true, kMaxRowNV * ks.vw);
  run_rows(ks, out, src, p.N, G, Cg, OCg, p.OH, p.OW, p.strideH, p.KH, p.KW, p.dilH, p.dilW,
           [&](int64_t g, int64_t o, int64_t k) { return weight[(g * OCg + o) * K + k]; }, bias);
}

// Stride 1, as backward_input_direct: dout padded by (K - 1) * dil - pad, taps flipped.
template <typename T>
void backward_input_rows(const DirectKernels<T>& ks, T* dinp, const T* dout, const T* weight, const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, KK = p.KH * p.KW;
  const int64_t spanH = (p.KH - 1) * p.dilH, spanW = (p.KW - 1) * p.dilW;
  const PaddedSource<T> src(dout, p.OC, p.OH, p.OW, spanH - p.padH, spanW - p.padW, p.H + spanH, p.W + spanW, true,
                            kMaxRowNV * ks.vw);
  run_rows(ks, dinp, src, p.N, G, OCg, Cg, p.H, p.W, 1, p.KH, p.KW, p.dilH, p.dilW,
           [&](int64_t g, int64_t c, int64_t k) {
             const int64_t oc = k / KK, t = KK - 1 - k % KK;  // flipped tap
             return weight[((g * OCg + oc) * Cg + c) * KK + t];
           },
           (const T*)nullptr);
}

// dweight by lane-wise sums over pixels (the pixel-vector weight tile), channels in groups of at
// most rowwmr and taps in groups of at most kMaxRowKT; images split over threads with one
// partial sum per chunk, added in chunk order; lanes summed at the end.
template <typename T>
void backward_weight_rows(const DirectKernels<T>& ks, T* dweight, const T* dout, const T* inp,
                          const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, K = Cg * p.KH * p.KW, P = p.OH * p.OW;
  const int vw = ks.vw;
  const PaddedSource<T> src(inp, p.C, p.H, p.W, p.padH, p.padW, (p.OH - 1) * p.strideH + (p.KH - 1) * p.dilH + 1,
                            p.OW + (p.KW - 1) * p.dilW, true, vw);
  const int64_t plane = src.plane(), Wp = src.Wp;
  ScratchBuffer<int64_t> toff{size_t(K)};
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < p.KH; kh++)
      for (int64_t kw = 0; kw < p.KW; kw++) toff.get()[(c * p.KH + kh) * p.KW + kw] = c * plane + kh * p.dilH * Wp + kw * p.dilW;
  const int64_t ngr = (OCg + ks.rowwmr - 1) / ks.rowwmr, ntg = (K + kMaxRowKT - 1) / kMaxRowKT;
  const int64_t tiles = G * ngr * ntg, tileElems = int64_t(ks.rowwmr) * kMaxRowKT * vw, accElems = tiles * tileElems;
  const int64_t nthreads = int64_t(p.N) * p.OC * P * K < kDirectParallelMacs ? 1 : get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(nthreads, p.N));
  ScratchBuffer<T> acc(size_t(chunks * accElems));
  std::fill(acc.get(), acc.get() + chunks * accElems, T(0));
  auto tile = [&](int64_t ti, int64_t& g, int64_t& o0, int64_t& mr, int64_t& k0, int64_t& kt) {
    const int64_t tg = ti % ntg, gi = (ti / ntg) % ngr;
    g = ti / (ntg * ngr);
    o0 = split_at(OCg, ngr, gi);
    mr = split_at(OCg, ngr, gi + 1) - o0;
    k0 = split_at(K, ntg, tg);
    kt = split_at(K, ntg, tg + 1) - k0;
  };
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    ScratchBuffer<T> buf(src.scratchElems());
    bool fresh = true;
    RowWArgs<T> a;
    a.gend = dout + p.N * p.OC * P;
    a.gld = P;
    a.OH = p.OH;
    a.OW = p.OW;
    a.xrow = p.strideH * Wp;
    for (int64_t c = c0; c < c1; c++)
      for (int64_t n = p.N * c / chunks; n < p.N * (c + 1) / chunks; n++) {
        const T* img = src.image(n, buf.get(), fresh);
        for (int64_t ti = 0; ti < tiles; ti++) {
          int64_t g, o0, mr, k0, kt;
          tile(ti, g, o0, mr, k0, kt);
          a.x = img + g * Cg * plane;
          a.toff = toff.get() + k0;
          a.g = dout + (n * p.OC + g * OCg + o0) * P;
          a.acc = acc.get() + c * accElems + ti * tileElems;
          ks.roww[mr][kt](a);
        }
      }
  });
  for (int64_t c = 1; c < chunks; c++) {
    const T* s = acc.get() + c * accElems;
    for (int64_t i = 0; i < accElems; i++) acc.get()[i] += s[i];
  }
  for (int64_t ti = 0; ti < tiles; ti++) {
    int64_t g, o0, mr, k0, kt;
    tile(ti, g, o0, mr, k0, kt);
    const T* at = acc.get() + ti * tileElems;
    for (int64_t m = 0; m < mr; m++)
      for (int64_t t = 0; t < kt; t++) {
        const T* lanes = at + (m * kt + t) * vw;
        T sum = T(0);
        for (int l = 0; l < vw; l++) sum += lanes[l];
        dweight[(g * OCg + o0 + m) * K + k0 + t] = sum;
      }
  }
}

// --- Wide rows: the pixel-vector tiles over a whole image plane at once
//
// For small images (the classic model: 11x11 and 13x13 planes, 26-wide rows) the row tiles leave
// a quarter of their lanes empty at the end of every row, and the channel-vector tile leaves 12
// of 32 lanes empty with 20 channels. Here a plane is one long row: the source is stored with a
// row stride of Ws = W + left padding and no right padding (a row's reads past its right end
// land in the next row's left padding, zero), so that output position q = oh * Ws + ow reads
// source position q + kh * Ws + kw for every tap. Vectors then run along q over the whole plane;
// only the Ws - Wo columns at the end of each wide output row are computed in vain (2 of 13 in
// the classic second layer's forward, none in its input gradient).

// The source of one image in that layout: C planes of Hs rows of Ws, the data at (pt + i, pl + j),
// zeros around it and `slack` zeros after the last plane.
template <typename T>
struct WideSource {
  const T* base;
  int64_t C, H, W, pt, pl, Ws, Hs, plane, slack;
  WideSource(const T* b, int64_t c, int64_t h, int64_t w, int64_t top, int64_t left, int64_t rows, int64_t tail)
      : base(b), C(c), H(h), W(w), pt(top), pl(left), Ws(w + left), Hs(rows), plane(rows * (w + left)), slack(tail) {}
  size_t elems() const { return size_t(C * plane + slack); }
  // Zeros everywhere image() does not write: rows above and below the data, the left padding of
  // the data rows, and the slack.
  void clear_border(T* buf) const {
    for (int64_t c = 0; c < C; c++) {
      T* pc = buf + c * plane;
      std::fill(pc, pc + pt * Ws, T(0));
      for (int64_t i = pt; i < pt + H; i++) std::fill(pc + i * Ws, pc + i * Ws + pl, T(0));
      std::fill(pc + (pt + H) * Ws, pc + plane, T(0));
    }
    std::fill(buf + C * plane, buf + C * plane + slack, T(0));
  }
  // Image n in buf; the zero border is the same for every image: written on a buffer's first use.
  template <typename Copy>
  const T* image(int64_t n, T* buf, bool& fresh, Copy copy_rows) const {
    if (fresh) std::fill(buf, buf + elems(), T(0));
    fresh = false;
    const T* src = base + n * C * H * W;
    if (pl == 0)  // rows of the source's width: each channel's data is one block
      for (int64_t c = 0; c < C; c++) std::memcpy(buf + c * plane + pt * Ws, src + c * H * W, size_t(H * W) * sizeof(T));
    else
      for (int64_t c = 0; c < C; c++) copy_rows(buf + c * plane + pt * Ws + pl, Ws, src + c * H * W, W, H, W);
    return buf;
  }
};

// The wide layout fits a stride-1, undilated correlation of a (H, W) source padded by (pt, pl)
// on the top and left into (Ho, Wo) outputs when no padding is negative (cropping), the right
// padding the outputs reach (Wo + KW - 1 - W - pl columns) fits in the left padding of the next
// row, and the bottom padding they reach is covered by the plane's rows.
struct WideGeometry {
  bool ok = false;
  int64_t Ws = 0, Hs = 0, Q = 0;
  WideGeometry(int64_t H, int64_t W, int64_t pt, int64_t pl, int64_t Ho, int64_t Wo, int64_t KH, int64_t KW) {
    const int64_t pr = Wo + KW - 1 - W - pl, pb = Ho + KH - 1 - H - pt;
    Ws = W + pl;
    // One zero row past the last the outputs reach: the right padding of the last row wraps into it.
    Hs = std::max(Ho + KH - 1, pt + H) + 1;
    Q = Ho * Ws;
    ok = pt >= 0 && pl >= 0 && pb >= 0 && pr <= pl && Wo <= Ws && Ho > 0 && Wo > 0;
  }
};

// Fraction of the lanes that hold wanted outputs.
inline double wide_fill(const WideGeometry& g, int64_t Ho, int64_t Wo, int vw) {
  return double(Ho * Wo) / double((g.Q + vw - 1) / vw * vw);
}

// out (N, G * Og, Ho, Wo) = bias + the correlation of each image of src (N, G * Cg, H, W), padded
// by (pt, pl), with weights wgt(g, o, k), k = (c, kh, kw): the row tiles over runs of up to
// kMaxRowNV vectors of wide positions, channels in groups of at most rowmr. Where Ws > Wo the
// tiles write a wide plane per channel group, compacted into out. Images split over threads.
template <typename T, typename F>
void run_wide(const DirectKernels<T>& ks, T* out, const T* src, int64_t N, int64_t G, int64_t Cg, int64_t Og,
              int64_t H, int64_t W, int64_t pt, int64_t pl, int64_t Ho, int64_t Wo, int64_t KH, int64_t KW, F wgt,
              const T* bias) {
  const int vw = ks.vw;
  const WideGeometry geo(H, W, pt, pl, Ho, Wo, KH, KW);
  const int64_t Ws = geo.Ws, Q = geo.Q, K = Cg * KH * KW, span = kMaxRowNV * vw;
  const WideSource<T> ws(src, G * Cg, H, W, pt, pl, geo.Hs, span + KW);
  const int64_t plane = ws.plane;
  ScratchBuffer<int64_t> koff{size_t(K)};
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < KH; kh++)
      for (int64_t kw = 0; kw < KW; kw++) koff.get()[(c * KH + kh) * KW + kw] = c * plane + kh * Ws + kw;
  const int64_t ngr = (Og + ks.rowmr - 1) / ks.rowmr;
  ScratchBuffer<T> wp(size_t(G * Og * K));
  for (int64_t g = 0; g < G; g++)
    for (int64_t gi = 0; gi < ngr; gi++) {
      const int64_t o0 = split_at(Og, ngr, gi), mr = split_at(Og, ngr, gi + 1) - o0;
      T* dst = wp.get() + (g * Og + o0) * K;
      for (int64_t k = 0; k < K; k++)
        for (int64_t m = 0; m < mr; m++) dst[k * mr + m] = wgt(g, o0 + m, k);
    }
  // Where rows have wasted columns: with AVX-512 the tiles drop them as they store (per vector of
  // wide positions, a lane mask and the packed offset of its first kept lane); otherwise they
  // write a wide plane per channel group that is compacted afterwards.
  const bool packed = Ws != Wo && ks.wrow[1][1], compact = Ws != Wo && !packed;
  const int64_t nvec = (Q + vw - 1) / vw;
  ScratchBuffer<uint32_t> masks(packed ? size_t(nvec) : 1);
  ScratchBuffer<int64_t> cofs(packed ? size_t(nvec) : 1);
  if (packed)
    for (int64_t v = 0; v < nvec; v++) {
      uint32_t mk = 0;
      int64_t first = -1;
      for (int l = 0; l < vw; l++) {
        const int64_t q = v * vw + l;
        if (q < Q && q % Ws < Wo) {
          mk |= 1u << l;
          if (first < 0) first = q / Ws * Wo + q % Ws;
        }
      }
      masks.get()[v] = mk;
      cofs.get()[v] = first < 0 ? 0 : first;
    }
  const int64_t Qpad = (Q + span - 1) / span * span;
  const int64_t macs = N * G * Og * K * Q;
  parallel_for(N, macs < kDirectParallelMacs ? N : 1, [&](int64_t n0, int64_t n1) {
    ScratchBuffer<T> buf(ws.elems());
    ScratchBuffer<T> wide(compact ? size_t(ks.rowmr * Qpad) : 1);
    bool fresh = true;
    RowArgs<T> a;
    a.K = K;
    a.koff = koff.get();
    for (int64_t n = n0; n < n1; n++) {
      const T* img = ws.image(n, buf.get(), fresh, ks.copy_rows);
      for (int64_t g = 0; g < G; g++)
        for (int64_t gi = 0; gi < ngr; gi++) {
          const int64_t o0 = split_at(Og, ngr, gi), mr = split_at(Og, ngr, gi + 1) - o0;
          T* dst = out + (n * G * Og + g * Og + o0) * Ho * Wo;
          a.w = wp.get() + (g * Og + o0) * K;
          a.bias = bias ? bias + g * Og + o0 : nullptr;
          a.ldo = compact ? Qpad : Ho * Wo;
          for (int64_t q0 = 0; q0 < Q; q0 += span) {
            const int64_t len = std::min(span, Q - q0), nv = (len + vw - 1) / vw;
            a.x = img + g * Cg * plane + q0;
            a.n = len;
            if (packed) {
              a.out = dst;
              a.mask = masks.get() + q0 / vw;
              a.cofs = cofs.get() + q0 / vw;
              ks.wrow[nv][mr](a);
            } else {
              a.out = (compact ? wide.get() : dst) + q0;
              ks.row[nv][mr](a);
            }
          }
          if (compact)
            for (int64_t m = 0; m < mr; m++) ks.copy_rows(dst + m * Ho * Wo, Wo, wide.get() + m * Qpad, Ws, Ho, Wo);
        }
    }
  });
}

template <typename T>
void forward_wide(const DirectKernels<T>& ks, T* out, const T* inp, const T* weight, const T* bias,
                  const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, K = Cg * p.KH * p.KW;
  run_wide(ks, out, inp, p.N, G, Cg, OCg, p.H, p.W, p.padH, p.padW, p.OH, p.OW, p.KH, p.KW,
           [&](int64_t g, int64_t o, int64_t k) { return weight[(g * OCg + o) * K + k]; }, bias);
}

// Stride 1: the correlation of dout, padded by KH - 1 - padH and KW - 1 - padW, with the
// flipped, transposed weights (as backward_input_direct).
template <typename T>
void backward_input_wide(const DirectKernels<T>& ks, T* dinp, const T* dout, const T* weight, const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, KK = p.KH * p.KW;
  run_wide(ks, dinp, dout, p.N, G, OCg, Cg, p.OH, p.OW, p.KH - 1 - p.padH, p.KW - 1 - p.padW, p.H, p.W, p.KH, p.KW,
           [&](int64_t g, int64_t c, int64_t k) {
             const int64_t oc = k / KK, t = KK - 1 - k % KK;  // flipped tap
             return weight[((g * OCg + oc) * Cg + c) * KK + t];
           },
           (const T*)nullptr);
}

// dweight[g * OCg + o, k] = sum over images and wide positions q of dout_wide[o, q] *
// src[k's offset + q], dout_wide being dout in rows of Ws with zeros in the Ws - Wo columns past
// each row and up to a whole number of vectors: the wide weight tile (channels in groups of at
// most wwmr, taps in groups of at most wwkt) over batches of up to kWideImages images prepared
// side by side; images split over threads with one partial sum per chunk, added in chunk order.
constexpr int64_t kWideImages = 8, kWideBatchBytes = 128 << 10;
template <typename T>
void backward_weight_wide(const DirectKernels<T>& ks, T* dweight, const T* dout, const T* inp,
                          const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, K = Cg * p.KH * p.KW, P = p.OH * p.OW;
  const int vw = ks.vw;
  const WideGeometry geo(p.H, p.W, p.padH, p.padW, p.OH, p.OW, p.KH, p.KW);
  const int64_t Ws = geo.Ws, nv = (geo.Q + vw - 1) / vw, Qv = nv * vw;
  // The last vector reads up to Qv - 1 + the largest tap offset: within `vw + KW` past the planes.
  const WideSource<T> ws(inp, p.C, p.H, p.W, p.padH, p.padW, geo.Hs, vw + p.KW);
  const int64_t plane = ws.plane, xstride = int64_t(ws.elems()), gstride = p.OC * Qv;
  // Images per call: more spread the accumulators' loads and stores, but their sources and
  // gradients should stay in L2 (classic model: 6 images of conv2, 3 of conv1).
  const int64_t batch = std::clamp<int64_t>(kWideBatchBytes / int64_t((xstride + gstride) * sizeof(T)), 1, kWideImages);
  ScratchBuffer<int64_t> toff{size_t(K)};
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < p.KH; kh++)
      for (int64_t kw = 0; kw < p.KW; kw++) toff.get()[(c * p.KH + kh) * p.KW + kw] = c * plane + kh * Ws + kw;
  // Layers of at most 9 taps (a first layer) in one tap group where the tile table has one.
  const bool one = K <= 9 && ks.wwmr9 > 0;
  const int64_t mrmax = one ? ks.wwmr9 : ks.wwmr, ktmax = one ? 9 : ks.wwkt;
  const int64_t ngr = (OCg + mrmax - 1) / mrmax, ntg = (K + ktmax - 1) / ktmax;
  const int64_t tiles = G * ngr * ntg, tileElems = mrmax * ktmax * vw, accElems = tiles * tileElems;
  const int64_t nthreads = int64_t(p.N) * p.OC * P * K < kDirectParallelMacs ? 1 : get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(nthreads, p.N));
  // Every tile of a chunk is written by its first call (a.first), so acc needs no zero fill.
  // Each chunk sums its lanes into sums (chunk, G * OCg * K) on its own thread; the chunks are
  // then added in chunk order.
  ScratchBuffer<T> acc(size_t(chunks * accElems));
  const int64_t nw = G * OCg * K;
  ScratchBuffer<T> sums(size_t(chunks * nw));
  auto tile = [&](int64_t ti, int64_t& g, int64_t& o0, int64_t& mr, int64_t& k0, int64_t& kt) {
    const int64_t tg = ti % ntg, gi = (ti / ntg) % ngr;
    g = ti / (ntg * ngr);
    o0 = split_at(OCg, ngr, gi);
    mr = split_at(OCg, ngr, gi + 1) - o0;
    k0 = split_at(K, ntg, tg);
    kt = split_at(K, ntg, tg + 1) - k0;
  };
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      const int64_t na = p.N * c / chunks, nb = p.N * (c + 1) / chunks;
      const int64_t ib = std::min<int64_t>(batch, nb - na);
      ScratchBuffer<T> buf(size_t(ib * xstride));
      ScratchBuffer<T> gw(size_t(ib * gstride));
      // Zeros where no copy writes: the columns past Wo of each gradient row, the tail of each
      // channel's vectors, and the source's border.
      for (int64_t i = 0; i < ib * p.OC; i++) {
        T* gc = gw.get() + i * Qv;
        for (int64_t oh = 0; oh < p.OH; oh++)
          for (int64_t j = oh * Ws + p.OW; j < (oh + 1) * Ws; j++) gc[j] = T(0);
        std::fill(gc + p.OH * Ws, gc + Qv, T(0));
      }
      for (int64_t i = 0; i < ib; i++) ws.clear_border(buf.get() + i * xstride);
      WideWArgs<T> a;
      a.xstride = xstride;
      a.gld = Qv;
      a.gstride = gstride;
      a.nv = nv;
      for (int64_t n0 = na; n0 < nb; n0 += ib) {
        const int64_t cnt = std::min(ib, nb - n0);
        for (int64_t i = 0; i < cnt; i++) {
          bool fresh = false;  // border zeroed above; image() writes only the data
          ws.image(n0 + i, buf.get() + i * xstride, fresh, ks.copy_rows);
          const T* gn = dout + (n0 + i) * p.OC * P;
          T* gi = gw.get() + i * gstride;
          for (int64_t o = 0; o < p.OC; o++) ks.copy_rows(gi + o * Qv, Ws, gn + o * P, p.OW, p.OH, p.OW);
        }
        a.nimg = cnt;
        a.first = n0 == na;
        for (int64_t ti = 0; ti < tiles; ti++) {
          int64_t g, o0, mr, k0, kt;
          tile(ti, g, o0, mr, k0, kt);
          a.x = buf.get() + g * Cg * plane;
          a.toff = toff.get() + k0;
          a.g = gw.get() + (g * OCg + o0) * Qv;
          a.acc = acc.get() + c * accElems + ti * tileElems;
          ks.wwide[mr][kt](a);
        }
      }
      T* sc = sums.get() + c * nw;
      for (int64_t ti = 0; ti < tiles; ti++) {
        int64_t g, o0, mr, k0, kt;
        tile(ti, g, o0, mr, k0, kt);
        const T* at = acc.get() + c * accElems + ti * tileElems;
        for (int64_t m = 0; m < mr; m++)
          for (int64_t t = 0; t < kt; t++) {
            const T* lanes = at + (m * kt + t) * vw;
            T sum = T(0);
            for (int l = 0; l < vw; l++) sum += lanes[l];
            sc[(g * OCg + o0 + m) * K + k0 + t] = sum;
          }
      }
    }
  });
  for (int64_t i = 0; i < nw; i++) {
    T sum = sums.get()[i];
    for (int64_t c = 1; c < chunks; c++) sum += sums.get()[c * nw + i];
    dweight[i] = sum;
  }
}

// Where the wide tiles apply and fill their vectors better than the alternatives: the channel
// vectors of the direct tile (lane_fill of the channels they run along) and, where it applies,
// the row tiles (row_fill of a row). Stride 1, no dilation, no Winograd.
constexpr bool kWideWeight = true;
inline bool wide_unit(const Conv2dParams& p) {
  return direct_set().wide && p.strideH == 1 && p.strideW == 1 && p.dilH == 1 && p.dilW == 1;
}
inline bool wide_forward_fits(const Conv2dParams& p, int vw) {
  if (!wide_unit(p) || winograd_fits(p, p.C / p.groups, p.OC / p.groups)) return false;
  const WideGeometry g(p.H, p.W, p.padH, p.padW, p.OH, p.OW, p.KH, p.KW);
  if (!g.ok) return false;
  const double fill = wide_fill(g, p.OH, p.OW, vw);
  return fill > lane_fill(p.OC / p.groups, vw) + 0.1 && fill >= row_fill(p.OW, vw);
}
inline bool wide_input_fits(const Conv2dParams& p, int vw) {
  if (!wide_unit(p) || p.C / p.groups < 4 || winograd_fits(p, p.OC / p.groups, p.C / p.groups)) return false;
  const WideGeometry g(p.OH, p.OW, p.KH - 1 - p.padH, p.KW - 1 - p.padW, p.H, p.W, p.KH, p.KW);
  if (!g.ok) return false;
  const double fill = wide_fill(g, p.H, p.W, vw);
  return fill > lane_fill(p.C / p.groups, vw) + 0.1 && fill >= row_fill(p.W, vw);
}
inline bool wide_weight_fits(const Conv2dParams& p, int vw) {
  if (!kWideWeight || !wide_unit(p) || winograd_fits(p, p.C / p.groups, p.OC / p.groups)) return false;
  const WideGeometry g(p.H, p.W, p.padH, p.padW, p.OH, p.OW, p.KH, p.KW);
  if (!g.ok) return false;
  const double fill = wide_fill(g, p.OH, p.OW, vw);
  return fill > lane_fill(p.OC / p.groups, vw) + 0.1 && fill >= row_fill(p.OW, vw);
}

template <typename T>
void forward_direct(const DirectKernels<T>& ks, T* out, const T* inp, const T* weight, const T* bias,
                    const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, K = Cg * p.KH * p.KW;
  const int vw = ks.vw;
  if (winograd_fits(p, Cg, OCg)) {
    // Tiles cover ceil(OH / 2) x ceil(OW / 2) outputs: 2 * tiles + 2 padded rows and columns.
    const PaddedSource<T> src(inp, p.C, p.H, p.W, p.padH, p.padW, (p.OH + 1) / 2 * 2 + 2, (p.OW + 1) / 2 * 2 + 2, true,
                              2 * vw);
    return run_winograd(ks, out, src, p.N, G, Cg, OCg, p.OH, p.OW,
                        [&](int64_t g, int64_t o, int64_t c, int kh, int kw) {
                          return weight[(((g * OCg + o) * Cg + c) * 3 + kh) * 3 + kw];
                        },
                        bias);
  }
  const int64_t Opad = (OCg + vw - 1) / vw * vw;
  ScratchBuffer<T> wp(size_t(G * K * Opad));
  pack_blocks(wp.get(), G, OCg, K, vw, ks.ocb, [&](int64_t g, int64_t o, int64_t k) { return weight[(g * OCg + o) * K + k]; });
  ScratchBuffer<T> bp(bias ? size_t(G * Opad) : 1);
  if (bias)
    for (int64_t g = 0; g < G; g++)
      for (int64_t o = 0; o < Opad; o++) bp.get()[g * Opad + o] = o < OCg ? bias[g * OCg + o] : T(0);
  // Padded rows and columns the taps reach: (OH - 1) * strideH + (KH - 1) * dilH + 1 rows.
  const PaddedSource<T> src(inp, p.C, p.H, p.W, p.padH, p.padW, (p.OH - 1) * p.strideH + (p.KH - 1) * p.dilH + 1,
                            p.OW + (p.KW - 1) * p.dilW);
  run_direct(ks, out, src, p.N, G, Cg, OCg, p.OH, p.OW, p.strideH, p.KH, p.KW, p.dilH, p.dilW, wp.get(),
             bias ? bp.get() : nullptr);
}

// Stride 1: dinp[n, c, ih, iw] = sum over oc, kh, kw of dout[n, oc, ih + padH - kh * dilH,
// iw + padW - kw * dilW] * weight[oc, c, kh, kw], a correlation of dout padded by (K - 1) * dil -
// pad with the weights flipped in kh, kw and transposed in (oc, c).
template <typename T>
void backward_input_direct(const DirectKernels<T>& ks, T* dinp, const T* dout, const T* weight,
                           const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, KK = p.KH * p.KW, K = OCg * KK;
  const int vw = ks.vw;
  if (winograd_fits(p, OCg, Cg)) {
    // dout padded by 2 - pad; taps flipped, channels transposed.
    const PaddedSource<T> src(dout, p.OC, p.OH, p.OW, 2 - p.padH, 2 - p.padW, (p.H + 1) / 2 * 2 + 2,
                              (p.W + 1) / 2 * 2 + 2, true, 2 * vw);
    return run_winograd(ks, dinp, src, p.N, G, OCg, Cg, p.H, p.W,
                        [&](int64_t g, int64_t c, int64_t oc, int kh, int kw) {
                          return weight[(((g * OCg + oc) * Cg + c) * 3 + 2 - kh) * 3 + 2 - kw];
                        },
                        (const T*)nullptr);
  }
  const int64_t Cpad = (Cg + vw - 1) / vw * vw;
  ScratchBuffer<T> wp(size_t(G * K * Cpad));
  pack_blocks(wp.get(), G, Cg, K, vw, ks.ocb, [&](int64_t g, int64_t c, int64_t k) {
    const int64_t oc = k / KK, t = KK - 1 - k % KK;  // flipped tap: (KH-1-kh) * KW + (KW-1-kw)
    return weight[((g * OCg + oc) * Cg + c) * KK + t];
  });
  const int64_t spanH = (p.KH - 1) * p.dilH, spanW = (p.KW - 1) * p.dilW;
  const PaddedSource<T> src(dout, p.OC, p.OH, p.OW, spanH - p.padH, spanW - p.padW, p.H + spanH, p.W + spanW);
  run_direct(ks, dinp, src, p.N, G, OCg, Cg, p.H, p.W, 1, p.KH, p.KW, p.dilH, p.dilW, wp.get(), (const T*)nullptr);
}

// Weight gradient of a 3x3, stride-1, undilated layer by the same transforms: the forward tile
// is A^T [(G w G^T) . V] A, so dw = G^T dU G with dU[xi][c][oc] = the sum over images and tiles
// of V[xi][c][t] * (A dy A^T)[xi][t][oc], 16 sums over tiles that the weight-gradient tile
// computes (taps = input channels, pixels = tiles). Images split over threads as in
// backward_weight_direct (one partial sum per chunk, added in chunk order).
template <typename T>
void backward_weight_winograd(const DirectKernels<T>& ks, T* dweight, const T* dout, const T* inp,
                              const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, P = p.OH * p.OW;
  const int vw = ks.vw;
  const int64_t th = (p.OH + 1) / 2, tw = (p.OW + 1) / 2, tiles = th * tw;
  const int64_t vs = tiles + vw, xis = Cg * vs;
  const int64_t nvec = (OCg + vw - 1) / vw, Opad = nvec * vw, nblk = (nvec + ks.wocb - 1) / ks.wocb;
  const int64_t nct = (Cg + ks.rt - 1) / ks.rt;  // runs of at most rt channels, near-equal: 32 = 5+5+5+5+6+6
  const int64_t accElems = G * 16 * Cg * Opad;
  const PaddedSource<T> src(inp, p.C, p.H, p.W, p.padH, p.padW, 2 * th + 2, 2 * tw + 2, true, 2 * vw);
  const int64_t plane = src.plane(), Wp = src.Wp;
  ScratchBuffer<int64_t> toff{size_t(Cg)};
  for (int64_t c = 0; c < Cg; c++) toff.get()[c] = c * vs;

  const int64_t nthreads = int64_t(p.N) * p.OC * P * Cg * 9 < kDirectParallelMacs ? 1 : get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(nthreads, p.N));
  ScratchBuffer<T> acc(size_t(chunks * accElems));
  std::fill(acc.get(), acc.get() + chunks * accElems, T(0));
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    ScratchBuffer<T> buf(src.scratchElems());
    ScratchBuffer<T> V(size_t(16 * xis));
    ScratchBuffer<T> gt(size_t(P * Opad));
    ScratchBuffer<T> Yt(size_t(16 * tiles * Opad));
    std::fill(V.get(), V.get() + 16 * xis, T(0));
    std::fill(gt.get(), gt.get() + P * Opad, T(0));  // padding lanes stay zero
    bool fresh = true;
    WTileArgs<T> a;
    a.gld = Opad;
    a.OH = 1;
    a.OW = tiles;
    a.xrow = 0;
    a.ald = Opad;
    for (int64_t chunk = c0; chunk < c1; chunk++)
      for (int64_t n = p.N * chunk / chunks; n < p.N * (chunk + 1) / chunks; n++) {
        const T* img = src.image(n, buf.get(), fresh);
        for (int64_t g = 0; g < G; g++) {
          ks.wino_in(V.get(), xis, vs, img + g * Cg * plane, Cg, plane, Wp, th, tw);
          ks.transpose(gt.get(), Opad, dout + (n * p.OC + g * OCg) * P, P, OCg, P);
          ks.wino_dy(Yt.get(), tiles * Opad, gt.get(), Opad, p.OH, p.OW, th, tw);
          T* accg = acc.get() + chunk * accElems + g * 16 * Cg * Opad;
          for (int x = 0; x < 16; x++)
            for (int64_t blk = 0; blk < nblk; blk++) {
              const int64_t v0 = blk * ks.wocb, nb = std::min<int64_t>(ks.wocb, nvec - v0);
              a.g = Yt.get() + x * tiles * Opad + v0 * vw;
              for (int64_t ci = 0; ci < nct; ci++) {
                const int64_t cs = Cg * ci / nct, rt = Cg * (ci + 1) / nct - cs;
                a.x = V.get() + x * xis;
                a.toff = toff.get() + cs;
                a.acc = accg + (x * Cg + cs) * Opad + v0 * vw;
                ks.wtile[nb][rt](a);
              }
            }
        }
      }
  });
  for (int64_t c = 1; c < chunks; c++) {
    const T* s = acc.get() + c * accElems;
    for (int64_t i = 0; i < accElems; i++) acc.get()[i] += s[i];
  }
  // dw = G^T dU G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1].
  for (int64_t g = 0; g < G; g++)
    for (int64_t o = 0; o < OCg; o++)
      for (int64_t c = 0; c < Cg; c++) {
        T u[4][4], r[3][4];
        for (int x = 0; x < 16; x++) u[x / 4][x % 4] = acc.get()[((g * 16 + x) * Cg + c) * Opad + o];
        for (int j = 0; j < 4; j++) {
          r[0][j] = u[0][j] + T(0.5) * (u[1][j] + u[2][j]);
          r[1][j] = T(0.5) * (u[1][j] - u[2][j]);
          r[2][j] = T(0.5) * (u[1][j] + u[2][j]) + u[3][j];
        }
        T* dw = dweight + ((g * OCg + o) * Cg + c) * 9;
        for (int i = 0; i < 3; i++) {
          dw[3 * i] = r[i][0] + T(0.5) * (r[i][1] + r[i][2]);
          dw[3 * i + 1] = T(0.5) * (r[i][1] - r[i][2]);
          dw[3 * i + 2] = T(0.5) * (r[i][1] + r[i][2]) + r[i][3];
        }
      }
}

// dweight[g * OCg + oc, k] = sum over images and pixels of dout * the input at tap k. Each image
// is padded as in the forward pass and its output gradient transposed to (pixel, channel); the
// tiles then sum into acc (G, K, Opad). Images are split over threads (one partial sum per chunk,
// added in chunk order: deterministic for a given thread count) unless there are too few of
// them, then the tiles are, each thread preparing every image itself.
template <typename T>
void backward_weight_direct(const DirectKernels<T>& ks, T* dweight, const T* dout, const T* inp,
                            const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C / G, OCg = p.OC / G, K = Cg * p.KH * p.KW, P = p.OH * p.OW;
  const int vw = ks.vw;
  if (winograd_fits(p, Cg, OCg)) return backward_weight_winograd(ks, dweight, dout, inp, p);
  const int64_t nvec = (OCg + vw - 1) / vw, Opad = nvec * vw, nblk = (nvec + ks.wocb - 1) / ks.wocb;
  const int64_t ntt = (K + ks.rt - 1) / ks.rt, perImage = G * nblk * ntt, accElems = G * K * Opad;
  const PaddedSource<T> src(inp, p.C, p.H, p.W, p.padH, p.padW, (p.OH - 1) * p.strideH + (p.KH - 1) * p.dilH + 1,
                            p.OW + (p.KW - 1) * p.dilW);
  const int64_t plane = src.plane(), Wp = src.Wp;
  ScratchBuffer<int64_t> toff{size_t(K)};
  for (int64_t c = 0; c < Cg; c++)
    for (int64_t kh = 0; kh < p.KH; kh++)
      for (int64_t kw = 0; kw < p.KW; kw++)
        toff.get()[(c * p.KH + kh) * p.KW + kw] = c * plane + kh * p.dilH * Wp + kw * p.dilW;

  // Transposes image n of dout into gt (G, P, Opad); padding lanes were zeroed once.
  auto transpose_dout = [&](int64_t n, T* gt) {
    for (int64_t g = 0; g < G; g++) ks.transpose(gt + g * P * Opad, Opad, dout + (n * p.OC + g * OCg) * P, P, OCg, P);
  };
  auto tile = [&](const T* img, const T* gt, T* acc, int64_t t) {
    const int64_t tt = t % ntt, blk = (t / ntt) % nblk, g = t / (ntt * nblk);
    const int64_t v0 = blk * ks.wocb, nb = std::min<int64_t>(ks.wocb, nvec - v0);
    const int64_t k0 = tt * ks.rt, rt = std::min<int64_t>(ks.rt, K - k0);
    WTileArgs<T> a;
    a.x = img + g * Cg * plane;
    a.toff = toff.get() + k0;
    a.g = gt + g * P * Opad + v0 * vw;
    a.gld = Opad;
    a.OH = p.OH;
    a.OW = p.OW;
    a.xrow = p.strideH * Wp;
    a.acc = acc + (g * K + k0) * Opad + v0 * vw;
    a.ald = Opad;
    ks.wtile[nb][rt](a);
  };

  const int64_t nthreads = int64_t(p.N) * p.OC * P * K < kDirectParallelMacs ? 1 : get_num_threads();
  const bool byImages = p.N >= 2 * nthreads || perImage < 2 * nthreads;
  const int64_t chunks = byImages ? std::max<int64_t>(1, std::min<int64_t>(nthreads, p.N)) : 1;
  ScratchBuffer<T> acc(size_t(chunks * accElems));
  std::fill(acc.get(), acc.get() + chunks * accElems, T(0));
  auto prepared = [&](auto body) {  // per-task scratch: one padded image and one transposed dout
    ScratchBuffer<T> buf(src.scratchElems());
    ScratchBuffer<T> gt(size_t(G * P * Opad));
    std::fill(gt.get(), gt.get() + G * P * Opad, T(0));
    bool fresh = true;
    body(buf.get(), gt.get(), fresh);
  };
  if (byImages) {
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      prepared([&](T* buf, T* gt, bool& fresh) {
        for (int64_t c = c0; c < c1; c++)
          for (int64_t n = p.N * c / chunks; n < p.N * (c + 1) / chunks; n++) {
            const T* img = src.image(n, buf, fresh);
            transpose_dout(n, gt);
            for (int64_t t = 0; t < perImage; t++) tile(img, gt, acc.get() + c * accElems, t);
          }
      });
    });
    for (int64_t c = 1; c < chunks; c++) {
      const T* s = acc.get() + c * accElems;
      for (int64_t i = 0; i < accElems; i++) acc.get()[i] += s[i];
    }
  } else {
    parallel_for(perImage, 1, [&](int64_t t0, int64_t t1) {
      prepared([&](T* buf, T* gt, bool& fresh) {
        for (int64_t n = 0; n < p.N; n++) {
          const T* img = src.image(n, buf, fresh);
          transpose_dout(n, gt);
          for (int64_t t = t0; t < t1; t++) tile(img, gt, acc.get(), t);
        }
      });
    });
  }
  for (int64_t g = 0; g < G; g++)
    for (int64_t oc = 0; oc < OCg; oc++)
      for (int64_t k = 0; k < K; k++) dweight[(g * OCg + oc) * K + k] = acc.get()[(g * K + k) * Opad + oc];
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// entry points: the direct path where it applies, else im2col + GEMM

template <typename T>
void conv2d_forward_cpu(T* out, const T* inp, const T* weight, const T* bias, const Conv2dParams& p) {
  if (p.N == 0) return;
  const DirectKernels<T>* ks = direct_kernels<T>();
  if (ks && wide_forward_fits(p, ks->vw)) return forward_wide(*ks, out, inp, weight, bias, p);
  if (ks && (rows_fit(p, ks->vw) || (p.strideW == 1 && rows_fuller(p.OW, p.OC / p.groups, ks->vw))))
    return forward_rows(*ks, out, inp, weight, bias, p);
  if (ks && p.strideW == 1 && worth_vectors(p.OC / p.groups, ks->vw)) return forward_direct(*ks, out, inp, weight, bias, p);
  conv2d_forward_im2col(out, inp, weight, bias, p);
}

template <typename T>
void conv2d_backward_input_cpu(T* dinp, const T* dout, const T* weight, const Conv2dParams& p) {
  if (p.N == 0) return;
  const DirectKernels<T>* ks = direct_kernels<T>();
  const bool unit = p.strideH == 1 && p.strideW == 1;
  if (ks && wide_input_fits(p, ks->vw)) return backward_input_wide(*ks, dinp, dout, weight, p);
  // Not for one or two input channels: a pixel tile of so few rows loads two vectors per FMA pair
  // and stays behind im2col + GEMM (a first layer's input gradient, rarely wanted anyway).
  if (ks && unit && p.C / p.groups >= 4 && rows_fuller(p.W, p.C / p.groups, ks->vw) &&
      !winograd_fits(p, p.OC / p.groups, p.C / p.groups))
    return backward_input_rows(*ks, dinp, dout, weight, p);
  if (ks && unit && worth_vectors(p.C / p.groups, ks->vw)) return backward_input_direct(*ks, dinp, dout, weight, p);
  conv2d_backward_input_im2col(dinp, dout, weight, p);
}

template <typename T>
void conv2d_backward_weight_cpu(T* dweight, const T* dout, const T* inp, const Conv2dParams& p) {
  const DirectKernels<T>* ks = direct_kernels<T>();
  if (ks && p.N > 0 && wide_weight_fits(p, ks->vw)) return backward_weight_wide(*ks, dweight, dout, inp, p);
  if (ks && p.N > 0 && rows_fit(p, ks->vw)) return backward_weight_rows(*ks, dweight, dout, inp, p);
  if (ks && p.N > 0 && p.strideW == 1 && worth_vectors(p.OC / p.groups, ks->vw))
    return backward_weight_direct(*ks, dweight, dout, inp, p);
  conv2d_backward_weight_im2col(dweight, dout, inp, p);
}

// backward bias: dbias[oc] = sum over n, oh, ow of dout[n, oc, oh, ow] (accumulated in double)

namespace {

// acc[l] += row[i] over `rows` rows of n elements `stride` apart, i = l mod 32 in runs of 32 (then
// 16, 8 and single elements): 32 independent double sums, which the compiler turns into
// float-to-double conversions and four independent chains of vector adds; the clones let it use AVX-512 or AVX2 where the CPU has them (the library itself is
// baseline x86-64). One call per channel: a clone is reached through an indirect call.
#define TENSILE_SUM16_BODY                                              \
  for (int64_t r = 0; r < rows; r++) {                                  \
    const auto* p = base + r * stride;                                  \
    int64_t i = 0;                                                      \
    for (; i + 32 <= n; i += 32)                                        \
      for (int l = 0; l < 32; l++) acc[l] += double(p[i + l]);         \
    for (; i + 16 <= n; i += 16)                                        \
      for (int l = 0; l < 16; l++) acc[l] += double(p[i + l]);         \
    if (i + 8 <= n) {                                                   \
      for (int l = 0; l < 8; l++) acc[l] += double(p[i + l]);          \
      i += 8;                                                           \
    }                                                                   \
    for (; i < n; i++) acc[i % 8] += double(p[i]);                      \
  }
__attribute__((target_clones("avx512f", "avx2", "default"))) void add16(double* __restrict acc,
                                                                        const float* __restrict base, int64_t rows,
                                                                        int64_t stride, int64_t n) {
  TENSILE_SUM16_BODY
}
__attribute__((target_clones("avx512f", "avx2", "default"))) void add16(double* __restrict acc,
                                                                        const double* __restrict base, int64_t rows,
                                                                        int64_t stride, int64_t n) {
  TENSILE_SUM16_BODY
}
#undef TENSILE_SUM16_BODY

// float with AVX-512: each row (an image's plane of the channel) summed in float vectors, its
// tail under a mask, and the row's partial sums added into double vectors: float rounding only
// within a row (at most n / 16 additions per lane), the rows and lanes summed in double. About 3x
// the loop above on the classic CNN's planes of 121 and 676, where its tails were scalar.
// (GCC 12's own intrinsic headers trip -W(maybe-)uninitialized on the 512 -> 256 conversions.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) double sum_rows_f32_avx512(const float* base, int64_t rows, int64_t stride,
                                                              int64_t n) {
  __m512d d0 = _mm512_setzero_pd(), d1 = _mm512_setzero_pd();
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = __mmask16((1u << (n - full)) - 1);
  for (int64_t r = 0; r < rows; r++) {
    const float* p = base + r * stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_maskz_loadu_ps(tail, p + full);
    int64_t i = 0;
    for (; i + 32 <= full; i += 32) {
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
      a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    }
    if (i < full) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a0 = _mm512_add_ps(a0, a1);
    d0 = _mm512_add_pd(d0, _mm512_cvtps_pd(_mm512_castps512_ps256(a0)));
    d1 = _mm512_add_pd(d1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a0), 1))));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(d0, d1));
}
#pragma GCC diagnostic pop

}  // namespace

template <typename T>
void conv2d_backward_bias_cpu(T* dbias, const T* dout, const Conv2dParams& p) {
  const int64_t P = p.OH * p.OW;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.N * P));
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  parallel_for(p.OC, grain, [&](int64_t o0, int64_t o1) {
    for (int64_t oc = o0; oc < o1; oc++) {
      if constexpr (std::is_same<T, float>::value) {
        if (avx512) {
          dbias[oc] = T(sum_rows_f32_avx512(dout + oc * P, p.N, p.OC * P, P));
          continue;
        }
      }
      double acc[32] = {};
      add16(acc, dout + oc * P, p.N, p.OC * P, P);
      for (int w = 16; w >= 1; w /= 2)  // pairwise: acc[l] += acc[l + w]
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
      dbias[oc] = T(acc[0]);
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
