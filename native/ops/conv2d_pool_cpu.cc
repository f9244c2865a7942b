// conv2d -> relu -> max_pool2d as one op on the CPU (conv2d.h: conv2d_relu_max_pool2d_*_cpu).
//
// Forward: each task (a share of the images) convolves a few images at a time into a scratch
// that stays in cache and pools it at once: one parallel region, no intermediate tensor. Against
// the whole batch convolved then pooled in the same call, each kernel with its own split, it
// measured 2-5% faster per classic-CNN step at 2 threads (three alternating A/Bs, min of 8-10 runs),
// though per-call timing inside the training loop put both fused forwards 15-25 us above the
// separate conv and pool ops they replaced.
//
// Backward, from the pool's gradient and indices: per task, the input gradient through the dense
// kernels from the unpooled gradient, and the weight and bias gradients straight from the pool's:
// it passes each window's gradient to one position of the convolution's output, and none where the
// relu left the window at zero, so 3/4 of a 2x2 pool's output gradient are zeros the dense kernels
// multiply through. Each position j with gradient g at output (n, oc, oy, ox) is one rank-1 update
//   dweight[oc] += g * patch(inp[n] at oy, ox)
// on zero-padded channels-last copies of the images ("padded HWC"), where no tap needs a bounds
// check and, with one group and unit column dilation, a patch is KH rows of KW*C contiguous values:
// a row is a few vectors, accumulated in registers over all of a channel's positions, so the pass
// only loads; rows of at most 8 floats (a one-channel input's 3 columns) use 256-bit vectors, where
// 512-bit ones would be mostly empty halves. (The same updates scattered into the input gradient are
// bound by stores, ~2x slower per byte than loads on Zen 4, and measured no faster than the dense
// kernel.) Other groups, column dilations and rows of 9-15 floats take the dense kernel on the
// unpooled gradient.
//
// Each task sums its weight and bias gradients into partials of its own, summed after in task
// order, so that for a given thread count the result does not depend on scheduling.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../core/allocator.h"
#include "../core/thread_pool.h"
#include "conv2d.h"
#include "pool2d.h"

namespace tensile {
namespace {

// The padded HWC image: rows Hp, columns Wp, C channels. Padded row r holds input row r - padH;
// the rows a patch can reach, (OH - 1) * strideH + (KH - 1) * dilH, all exist (likewise columns).
struct Padded {
  int64_t Hp, Wp, C, row, image;
  explicit Padded(const Conv2dParams& p)
      : Hp(std::max(p.H + p.padH, (p.OH - 1) * p.strideH + (p.KH - 1) * p.dilH + 1)),
        Wp(std::max(p.W + p.padW, (p.OW - 1) * p.strideW + (p.KW - 1) * p.dilW + 1)),
        C(p.C),
        row(Wp * C),
        image(Hp * Wp * C) {}
};

// img (C, H, W) -> dst (Hp, Wp, C), zeros around. The transpose goes through tiles of up to 16
// columns: each channel's row segment is read once, contiguously, and the tile written in order.
template <typename T>
void to_padded_hwc(T* __restrict dst, const T* __restrict img, const Conv2dParams& p, const Padded& l) {
  const int64_t C = l.C, plane = p.H * p.W;
  std::memset(dst, 0, size_t(p.padH * l.row) * sizeof(T));
  std::memset(dst + (p.padH + p.H) * l.row, 0, size_t((l.Hp - p.padH - p.H) * l.row) * sizeof(T));
  for (int64_t h = 0; h < p.H; h++) {
    T* d = dst + (h + p.padH) * l.row;
    std::memset(d, 0, size_t(p.padW * C) * sizeof(T));
    std::memset(d + (p.padW + p.W) * C, 0, size_t((l.Wp - p.padW - p.W) * C) * sizeof(T));
    d += p.padW * C;
    const T* s = img + h * p.W;
    if (C == 1) {
      std::memcpy(d, s, size_t(p.W) * sizeof(T));
      continue;
    }
    for (int64_t w0 = 0; w0 < p.W; w0 += 16) {
      const int64_t nw = std::min<int64_t>(16, p.W - w0);
      for (int64_t c = 0; c < C; c++) {
        const T* sc = s + c * plane + w0;
        T* dc = d + w0 * C + c;
        for (int64_t w = 0; w < nw; w++) dc[w * C] = sc[w];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Row kernels of the contiguous case: a patch row is L = KW*C values, rows `rstep` apart in the
// image. The positions of one (image, output channel): off[j] is the padded-HWC offset of the first
// tap of position j's patch, g[j] its gradient (0 where the pool passed none).

template <typename T>
struct Segment {
  const int64_t* off;
  const T* g;
  int64_t n;
  const T* base;  // the padded HWC image the offsets index
};

// Weight gradient: acc[r*lda + 0..L) += sum of g[j] * base[off[j] + r*rstep + 0..L) over the
// positions of every segment, for the kernel's R rows (a template argument).
template <typename T>
using GatherFn = void (*)(T* acc, int64_t lda, int64_t L, int64_t rstep, const Segment<T>* segs, int64_t nsegs);
// Vector traits for the row kernels: 512-bit vectors, and 256-bit ones under AVX-512VL masks for
// patch rows of at most 8 floats (a one-channel input's 3 columns), where Zen 4 would split every
// 512-bit load and FMA of mostly empty lanes into two. PRE/SUF name the intrinsics
// (_mm512_loadu_ps: PRE _mm512, SUF ps).
template <typename T>
struct Zmm;
template <typename T>
struct Ymm;
#define TENSILE_Z static inline __attribute__((always_inline, target("avx512f,avx512vl,fma")))
#define TENSILE_VEC_TRAITS(NAME, T, VEC, MASK, LANES, PRE, SUF)                                  \
  template <>                                                                                     \
  struct NAME<T> {                                                                                \
    using V = VEC;                                                                                \
    using M = MASK;                                                                               \
    static constexpr int L = LANES;                                                               \
    TENSILE_Z M mask(int64_t n) { return M(n >= L ? (1u << L) - 1 : n <= 0 ? 0 : (1u << n) - 1); } \
    TENSILE_Z V zero() { return PRE##_setzero_##SUF(); }                                          \
    TENSILE_Z V set1(T x) { return PRE##_set1_##SUF(x); }                                         \
    TENSILE_Z V load(M m, const T* p) { return PRE##_maskz_loadu_##SUF(m, p); }                   \
    TENSILE_Z void store(T* p, M m, V v) { PRE##_mask_storeu_##SUF(p, m, v); }                    \
    TENSILE_Z V fma(V a, V b, V c) { return PRE##_fmadd_##SUF(a, b, c); }                         \
    TENSILE_Z V add(V a, V b) { return PRE##_add_##SUF(a, b); }                                   \
  };
TENSILE_VEC_TRAITS(Zmm, float, __m512, __mmask16, 16, _mm512, ps)
TENSILE_VEC_TRAITS(Zmm, double, __m512d, __mmask8, 8, _mm512, pd)
TENSILE_VEC_TRAITS(Ymm, float, __m256, __mmask8, 8, _mm256, ps)
TENSILE_VEC_TRAITS(Ymm, double, __m256d, __mmask8, 4, _mm256, pd)
#undef TENSILE_VEC_TRAITS
#undef TENSILE_Z

// Vectors per patch row the AVX-512 kernels are built for (longer rows go in column blocks), and
// the rows one call handles: all KH of a short row (fewer loads of the entry per tap), else one.
constexpr int kMaxNV = 8;
constexpr int kMaxFusedNV = 2;
constexpr int kMaxFusedRows = 5;

// NV vectors per row (the last under a mask) for R rows, accumulators in registers. With few
// accumulators the FMA chains are latency-bound, so U entries run on separate sets.
template <typename T, typename Z, int NV, int R>
__attribute__((target("avx512f,avx512vl,fma"))) void gather_avx512(T* acc, int64_t lda, int64_t L, int64_t rstep, const Segment<T>* segs, int64_t nsegs) {
  constexpr int U = NV * R == 1 ? 4 : NV * R <= 3 ? 2 : 1;
  typename Z::M m[NV];
  typename Z::V a[U][R][NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; v++) m[v] = Z::mask(L - v * Z::L);
#pragma GCC unroll 64
  for (int u = 0; u < U; u++)
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) a[u][r][v] = Z::zero();
  for (int64_t s = 0; s < nsegs; s++) {
    const int64_t* off = segs[s].off;
    const T* g = segs[s].g;
    const T* base = segs[s].base;
    const int64_t n = segs[s].n;
    int64_t j = 0;
    for (; j + U <= n; j += U)
#pragma GCC unroll 4
      for (int u = 0; u < U; u++) {
        const typename Z::V gv = Z::set1(g[j + u]);
        const T* x = base + off[j + u];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
          for (int v = 0; v < NV; v++) a[u][r][v] = Z::fma(gv, Z::load(m[v], x + r * rstep + v * Z::L), a[u][r][v]);
      }
    for (; j < n; j++) {
      const typename Z::V gv = Z::set1(g[j]);
      const T* x = base + off[j];
#pragma GCC unroll 8
      for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) a[0][r][v] = Z::fma(gv, Z::load(m[v], x + r * rstep + v * Z::L), a[0][r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
      typename Z::V t = a[0][r][v];
#pragma GCC unroll 4
      for (int u = 1; u < U; u++) t = Z::add(t, a[u][r][v]);
      T* o = acc + r * lda + v * Z::L;
      Z::store(o, m[v], Z::add(Z::load(m[v], o), t));
    }
}

bool has_avx512() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f"));
  return yes;
}
// The weight gradient from the pool's gradient needs AVX-512 (F, DQ and VL); TENSILE_CONV_POOL_WEIGHT=dense
// turns it off (tests, benchmarks).
bool sparse_weight_enabled() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                                                  __builtin_cpu_supports("avx512vl")) &&
                          !(std::getenv("TENSILE_CONV_POOL_WEIGHT") && std::string(std::getenv("TENSILE_CONV_POOL_WEIGHT")) == "dense");
  return yes;
}

template <typename T, int R, size_t... NV>
GatherFn<T> gather_nv(int64_t nv, std::index_sequence<NV...>) {
  static constexpr GatherFn<T> table[] = {gather_avx512<T, Zmm<T>, int(NV) + 1, R>...};
  return table[nv - 1];
}
template <typename T, size_t... R>
GatherFn<T> gather_fused(int64_t nv, int64_t rows, std::index_sequence<R...>) {
  static constexpr GatherFn<T> table[][kMaxFusedNV + 1] = {
      {gather_avx512<T, Ymm<T>, 1, int(R) + 1>, gather_avx512<T, Zmm<T>, 1, int(R) + 1>, gather_avx512<T, Zmm<T>, 2, int(R) + 1>}...};
  return table[rows - 1][nv];
}
// The rows one kernel call covers for a column block of L values and KH kernel rows.
template <typename T>
int64_t fused_rows(int64_t L, int64_t KH) {
  const int64_t nv = (L + Zmm<T>::L - 1) / Zmm<T>::L;
  return nv <= kMaxFusedNV && KH <= kMaxFusedRows ? KH : 1;
}
template <typename T>
GatherFn<T> gather_kernel(int64_t L, int64_t rows) {
  const int64_t nv = (L + Zmm<T>::L - 1) / Zmm<T>::L;
  // fused rows of at most half a 512-bit vector: one 256-bit vector (index 0 of the table)
  if (rows > 1) return gather_fused<T>(L <= Ymm<T>::L ? 0 : nv, rows, std::make_index_sequence<kMaxFusedRows>());
  return gather_nv<T, 1>(nv, std::make_index_sequence<kMaxNV>());
}
// ---------------------------------------------------------------------------------------------
// The entries

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// off[j] = padded-HWC offset of the patch of plane position at[j] (oy * OW + ox), 0 where at[j] < 0,
// 8 at a time, dividing through a double reciprocal (a 64-bit division costs tens of
// cycles; the double quotient is off by at most one, which the remainder corrects).
__attribute__((target("avx512f,avx512dq"))) void offsets_avx512(int64_t* off, const int64_t* at, int64_t n, int64_t OW, int64_t ystep, int64_t xstep) {
  const __m512d inv = _mm512_set1_pd(1.0 / double(OW));
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1), ow = _mm512_set1_epi64(OW);
  const __m512i ys = _mm512_set1_epi64(ystep), xs = _mm512_set1_epi64(xstep);
  for (int64_t j = 0; j < n; j += 8) {
    const __mmask8 m = __mmask8(n - j >= 8 ? 0xff : (1u << (n - j)) - 1);
    __m512i a = _mm512_maskz_loadu_epi64(m, at + j);
    const __mmask8 valid = _mm512_cmpge_epi64_mask(a, zero);
    a = _mm512_max_epi64(a, zero);
    __m512i q = _mm512_cvttpd_epi64(_mm512_mul_pd(_mm512_cvtepi64_pd(a), inv));
    __m512i r = _mm512_sub_epi64(a, _mm512_mullo_epi64(q, ow));
    const __mmask8 below = _mm512_cmplt_epi64_mask(r, zero);
    q = _mm512_mask_sub_epi64(q, below, q, one);
    r = _mm512_mask_add_epi64(r, below, r, ow);
    const __mmask8 above = _mm512_cmpge_epi64_mask(r, ow);
    q = _mm512_mask_add_epi64(q, above, q, one);
    r = _mm512_mask_sub_epi64(r, above, r, ow);
    const __m512i o = _mm512_add_epi64(_mm512_mullo_epi64(q, ys), _mm512_mullo_epi64(r, xs));
    _mm512_mask_storeu_epi64(off + j, m, _mm512_maskz_mov_epi64(valid, o));
  }
}
#pragma GCC diagnostic pop

// gz[j] = g[j] where at[j] >= 0, else 0; returns their sum in double.
template <typename T>
double masked_grads_scalar(T* __restrict gz, const T* __restrict g, const int64_t* __restrict at, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; j++) {
    gz[j] = at[j] < 0 ? T(0) : g[j];
    s += double(gz[j]);
  }
  return s;
}

// (GCC 12's own intrinsic headers trip -W(maybe-)uninitialized on the 512 -> 256 extracts.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// The same with vectors (the scalar select compiles to a branch that mispredicts on relu'd
// windows), 16 floats or 8 doubles at a time, the sum in double lanes.
__attribute__((target("avx512f"))) double masked_grads_avx512(float* gz, const float* g, const int64_t* at, int64_t n) {
  __m512d s = _mm512_setzero_pd();
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t j = 0; j < n; j += 16) {
    const int64_t k = std::min<int64_t>(16, n - j);
    const __mmask8 m0 = __mmask8(k >= 8 ? 0xff : (1u << k) - 1), m1 = __mmask8(k <= 8 ? 0 : k >= 16 ? 0xff : (1u << (k - 8)) - 1);
    const __mmask8 v0 = _mm512_mask_cmpge_epi64_mask(m0, _mm512_maskz_loadu_epi64(m0, at + j), zero);
    const __mmask8 v1 = _mm512_mask_cmpge_epi64_mask(m1, _mm512_maskz_loadu_epi64(m1, at + j + 8), zero);
    const __m512 v = _mm512_maskz_loadu_ps(__mmask16(v0 | (v1 << 8)), g + j);
    _mm512_mask_storeu_ps(gz + j, __mmask16(m0 | (m1 << 8)), v);
    s = _mm512_add_pd(s, _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))));
  }
  return _mm512_reduce_add_pd(s);
}
__attribute__((target("avx512f"))) double masked_grads_avx512(double* gz, const double* g, const int64_t* at, int64_t n) {
  __m512d s = _mm512_setzero_pd();
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t j = 0; j < n; j += 8) {
    const int64_t k = std::min<int64_t>(8, n - j);
    const __mmask8 m = __mmask8(k >= 8 ? 0xff : (1u << k) - 1);
    const __mmask8 valid = _mm512_mask_cmpge_epi64_mask(m, _mm512_maskz_loadu_epi64(m, at + j), zero);
    const __m512d v = _mm512_maskz_loadu_pd(valid, g + j);
    _mm512_mask_storeu_pd(gz + j, m, v);
    s = _mm512_add_pd(s, v);
  }
  return _mm512_reduce_add_pd(s);
}

#pragma GCC diagnostic pop

template <typename T>
double masked_grads(T* gz, const T* g, const int64_t* at, int64_t n) {
  return has_avx512() ? masked_grads_avx512(gz, g, at, n) : masked_grads_scalar(gz, g, at, n);
}

template <typename T>
struct Problem {
  const Conv2dParams& p;
  Padded l;
  int64_t J;       // gradient positions per (image, output channel)
  int64_t K;       // KH * KW * C / groups: one output channel's weights
  int64_t L;       // KW * C, a patch row
  int64_t block;   // column block of the row kernels
  // The weight gradient from the pool's gradient: patch rows contiguous (one group, unit column
  // dilation) and either at least a 512-bit float vector long or within a 256-bit one with all
  // KH rows in one pass (rows of 9-15 floats would leave most of two 256-bit halves empty).
  bool sparse;
  Problem(const Conv2dParams& q, int64_t j)
      : p(q), l(q), J(j), K(q.KH * q.KW * (q.C / q.groups)), L(q.KW * q.C), block(int64_t(kMaxNV) * Zmm<T>::L),
        sparse(sparse_weight_enabled() && q.groups == 1 && q.dilW == 1 && (q.KW * q.C >= 16 || (q.KW * q.C <= Ymm<T>::L && q.KH <= kMaxFusedRows))) {}
};

// Images per sub-chunk of a task: about kChunkBytes of convolution output or unpooled gradient (at
// least one image), which stays in the core's cache between the two kernels that write and read it.
constexpr int64_t kChunkBytes = int64_t(512) << 10;
// Images are split evenly: 20 images at 19 per chunk would leave a chunk of one, where the
// convolution kernels run at half their speed per image.
template <typename T>
int64_t images_per_chunk(const Conv2dParams& p, int64_t images) {
  const int64_t most = std::max<int64_t>(1, kChunkBytes / std::max<int64_t>(1, p.OC * p.OH * p.OW * int64_t(sizeof(T))));
  const int64_t chunks = (images + most - 1) / most;
  return std::max<int64_t>(1, (images + chunks - 1) / chunks);
}

// Tasks, each a contiguous share of the images: one per thread, or two for a small layer. The
// caller runs the first task and then any no worker has claimed yet, so a worker that starts late
// (asleep after a pause in JavaScript, or descheduled) leaves its whole share to the caller and
// the op takes twice as long; with two tasks per thread it still takes part in what is left. On
// the classic CNN (layers of 1.2M and 4.4M multiply-adds) that gave 0.566 -> 0.526 ms per step at 2
// threads (min of 6 alternating runs); three or four per thread lose more to the smaller batches
// each convolution kernel call then gets than they gain; the standard CNN's 231M-MAC layer gains
// nothing from it.
constexpr int64_t kSmallLayerMacs = int64_t(50) << 20;
int64_t task_count(const Conv2dParams& p) {
  const int64_t macs = p.N * p.OC * p.OH * p.OW * (p.C / p.groups) * p.KH * p.KW;
  const int64_t threads = get_num_threads(), per_thread = threads > 1 && macs < kSmallLayerMacs ? 2 : 1;
  return std::max<int64_t>(1, std::min<int64_t>(threads * per_thread, p.N));
}

// The weight gradient of images [n0, n1) from their positions (off, gz: plane (n, oc) at
// ((n - n0) * OC + oc) * J), added to dwk (OC, KH, KW, C). xh: scratch for the padded images.
template <typename T>
void sparse_weight(T* dwk, T* xh, const int64_t* off, const T* gz, const T* inp, int64_t n0, int64_t n1, const Problem<T>& pr) {
  const Conv2dParams& p = pr.p;
  for (int64_t n = n0; n < n1; n++) to_padded_hwc(xh + (n - n0) * pr.l.image, inp + n * p.C * p.H * p.W, p, pr.l);
  const int64_t rstep = p.dilH * pr.l.row;
  // Images per pass: about 256 KiB of them, so that each output channel's pass over them reads
  // from cache.
  const int64_t per = std::max<int64_t>(1, (int64_t(256) << 10) / (pr.l.image * int64_t(sizeof(T))));
  std::vector<Segment<T>> segs(size_t(std::min(per, n1 - n0)));
  for (int64_t b0 = n0; b0 < n1; b0 += per) {
    const int64_t b1 = std::min(n1, b0 + per);
    for (int64_t oc = 0; oc < p.OC; oc++) {
      for (int64_t n = b0; n < b1; n++) {
        const int64_t i = ((n - n0) * p.OC + oc) * pr.J;
        segs[size_t(n - b0)] = {off + i, gz + i, pr.J, nullptr};
      }
      // Column blocks of the patch rows: the accumulators of block c0 are dwk[oc][ky][c0 ...].
      for (int64_t c0 = 0; c0 < pr.L; c0 += pr.block) {
        const int64_t Lb = std::min(pr.block, pr.L - c0), R = fused_rows<T>(Lb, p.KH);
        const GatherFn<T> kernel = gather_kernel<T>(Lb, R);
        for (int64_t ky = 0; ky < p.KH; ky += R) {
          for (int64_t n = b0; n < b1; n++) segs[size_t(n - b0)].base = xh + (n - n0) * pr.l.image + c0 + ky * rstep;
          kernel(dwk + oc * pr.K + ky * pr.L + c0, pr.L, Lb, rstep, segs.data(), b1 - b0);
        }
      }
    }
  }
}

// One backward task: images [n0, n1). dw is the task's weight partial (null: not wanted), in
// (OC, KH, KW, C) order when pr.sparse, else (OC, C/G, KH, KW); db its bias partial (OC).
template <typename T>
void backward_task(T* dinp, T* dw, double* db, const T* grad, const int64_t* idx, const T* inp, const T* weight, int64_t n0, int64_t n1,
                   const Problem<T>& pr, const Pool2dWindow& win, int64_t PH, int64_t PW) {
  const Conv2dParams& p = pr.p;
  const int64_t planes = (n1 - n0) * p.OC, count = planes * pr.J;
  const int64_t* at = idx + n0 * p.OC * pr.J;
  ScratchBuffer<T> gz(size_t(std::max<int64_t>(1, count)));
  for (int64_t i = 0; i < planes; i++) db[i % p.OC] += masked_grads(gz.get() + i * pr.J, grad + n0 * p.OC * pr.J + i * pr.J, at + i * pr.J, pr.J);
  if (dw && pr.sparse) {
    ScratchBuffer<int64_t> off(size_t(std::max<int64_t>(1, count)));
    offsets_avx512(off.get(), at, count, p.OW, p.strideH * pr.l.row, p.strideW * pr.l.C);
    ScratchBuffer<T> xh(size_t((n1 - n0) * pr.l.image));
    sparse_weight(dw, xh.get(), off.get(), gz.get(), inp, n0, n1, pr);
  }
  const bool dense_weight = dw && !pr.sparse;
  if (!dinp && !dense_weight) return;
  // The dense kernels, a few images at a time, on the unpooled gradient.
  const int64_t per = images_per_chunk<T>(p, n1 - n0), plane = p.OH * p.OW;
  ScratchBuffer<T> G(size_t(std::min(per, n1 - n0) * p.OC * plane));
  ScratchBuffer<T> part(dense_weight ? size_t(pr.p.OC * pr.K) : 1);
  for (int64_t a = n0; a < n1; a += per) {
    Conv2dParams q = p;
    q.N = std::min(n1, a + per) - a;
    max_pool2d_backward_cpu(G.get(), grad + a * p.OC * pr.J, idx + a * p.OC * pr.J, q.N * p.OC, p.OH, p.OW, PH, PW, &win);
    if (dinp) conv2d_backward_input_cpu(dinp + a * p.C * p.H * p.W, G.get(), weight, q);
    if (dense_weight) {
      conv2d_backward_weight_cpu(part.get(), G.get(), inp + a * p.C * p.H * p.W, q);
      for (int64_t i = 0; i < p.OC * pr.K; i++) dw[i] += part.get()[i];
    }
  }
}

}  // namespace

template <typename T>
void conv2d_relu_max_pool2d_forward_cpu(T* out, int64_t* indices, const T* inp, const T* weight, const T* bias, const Conv2dParams& p,
                                        const Pool2dWindow& win, int64_t PH, int64_t PW) {
  const int64_t tasks = task_count(p), J = PH * PW;
  parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t n0 = t * p.N / tasks, n1 = (t + 1) * p.N / tasks;
      if (n1 <= n0) continue;
      const int64_t per = images_per_chunk<T>(p, n1 - n0);
      ScratchBuffer<T> y(size_t(std::min(per, n1 - n0) * p.OC * p.OH * p.OW));
      for (int64_t a = n0; a < n1; a += per) {
        Conv2dParams q = p;
        q.N = std::min(n1, a + per) - a;
        conv2d_forward_cpu(y.get(), inp + a * p.C * p.H * p.W, weight, bias, q);
        max_pool2d_forward_cpu(out + a * p.OC * J, indices + a * p.OC * J, y.get(), q.N * p.OC, p.OH, p.OW, PH, PW, win, true);
      }
    }
  });
}

template <typename T>
void conv2d_relu_max_pool2d_backward_cpu(T* dinp, T* dweight, T* dbias, const T* grad, const int64_t* indices, const T* inp, const T* weight,
                                         const Conv2dParams& p, const Pool2dWindow& win, int64_t PH, int64_t PW) {
  const Problem<T> pr(p, PH * PW);
  const int64_t tasks = task_count(p), wsize = p.OC * pr.K;
  ScratchBuffer<T> dw(dweight ? size_t(tasks * wsize) : 1);
  if (dweight) std::memset(dw.get(), 0, size_t(tasks * wsize) * sizeof(T));
  std::vector<double> db(size_t(tasks * p.OC), 0.0);
  parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t n0 = t * p.N / tasks, n1 = (t + 1) * p.N / tasks;
      if (n1 > n0) backward_task(dinp, dweight ? dw.get() + t * wsize : nullptr, db.data() + t * p.OC, grad, indices, inp, weight, n0, n1, pr, win, PH, PW);
    }
  });
  if (dweight) {
    // Partials in task order; the sparse ones from (OC, KH, KW, C) to (OC, C, KH, KW).
    const int64_t Cg = p.C / p.groups, KK = p.KH * p.KW;
    for (int64_t oc = 0; oc < p.OC; oc++)
      for (int64_t c = 0; c < Cg; c++)
        for (int64_t t = 0; t < KK; t++) {
          const int64_t at = oc * pr.K + (pr.sparse ? t * Cg + c : c * KK + t);
          T s = 0;
          for (int64_t k = 0; k < tasks; k++) s += dw.get()[k * wsize + at];
          dweight[(oc * Cg + c) * KK + t] = s;
        }
  }
  if (dbias)
    for (int64_t oc = 0; oc < p.OC; oc++) {
      double s = 0;
      for (int64_t k = 0; k < tasks; k++) s += db[size_t(k * p.OC + oc)];
      dbias[oc] = T(s);
    }
}

#define TENSILE_INSTANTIATE(T)                                                                                                   \
  template void conv2d_relu_max_pool2d_forward_cpu<T>(T*, int64_t*, const T*, const T*, const T*, const Conv2dParams&,           \
                                                      const Pool2dWindow&, int64_t, int64_t);                                   \
  template void conv2d_relu_max_pool2d_backward_cpu<T>(T*, T*, T*, const T*, const int64_t*, const T*, const T*, const Conv2dParams&, \
                                                       const Pool2dWindow&, int64_t, int64_t);
TENSILE_INSTANTIATE(float)
TENSILE_INSTANTIATE(double)
#undef TENSILE_INSTANTIATE

}  // namespace tensile
