// Blocked GEMM in the style of BLIS/GotoBLAS: K is cut into KC-deep slabs and N into NC-wide
// blocks; each slab of op(B) is packed once into NR-wide micro-panels, each MC-row block of op(A)
// into MR-tall micro-panels, and an MR x NR micro-kernel keeps its tile of C in registers.
// The micro-kernel is one template written with GCC vector extensions, compiled three times by
// non-template entry points carrying target attributes and chosen once by CPUID. Not here: JIT,
// assembly, or any -march flag (the library stays baseline x86-64).
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../core/allocator.h"
#include "../core/thread_pool.h"
#include "gemm.h"

namespace tensile {
namespace {

// ---------------------------------------------------------------------------------------------
// micro-kernel

template <typename T, int VW>
struct VecOf {
  typedef T type __attribute__((vector_size(VW * sizeof(T))));
};

// Signature shared by every variant: a is a packed (kc, MR) micro-panel of op(A), b a packed
// (kc, NR) micro-panel of op(B); c is the (m, n) corner (m <= MR, n <= NR) of C with row stride
// ldc, updated as c = alpha * a * b + beta * c (beta == 0: c is not read).
template <typename T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta, int m, int n);

// MR rows by NV vectors of VW lanes. The accumulators are MR * NV vector registers; loops over
// constants unroll fully, so nothing here touches memory but the two panels and C.
template <typename T, int MR, int NV, int VW>
inline __attribute__((always_inline)) void micro_tile(int64_t kc, const T* __restrict a, const T* __restrict b,
                                                      T* __restrict c, int64_t ldc, T alpha, T beta, int m, int n) {
  typedef typename VecOf<T, VW>::type V;
  constexpr int NR = NV * VW;
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[i][j] = V{};

  // The tile of C is MR rows a matrix row apart, each on its own pages: fetched only at the
  // write-back, its misses stall that write-back (hundreds of cycles a call, far from the
  // last-level cache for large C). Ask for it now; the k loop hides the latency.
  constexpr int kLineElems = 64 / sizeof(T);
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++) {
    if (i >= m) break;  // rows past the matrix: no pointer into them
    const T* row = c + i * ldc;
#pragma GCC unroll 8
    for (int l = 0; l < NR; l += kLineElems) __builtin_prefetch(row + l, 1, 3);
    __builtin_prefetch(row + NR - 1, 1, 3);  // the line a row not aligned to 64 bytes spills into
  }

  for (int64_t k = 0; k < kc; k++) {
    V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) std::memcpy(&bv[j], b + k * NR + j * VW, sizeof(V));
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
      // Broadcast. Spelt `s - 0` because s - 0 == s for every s (it folds away), while `0 + s`
      // costs a real add (0 + -0 is not -0).
      const V av = a[k * MR + i] - V{};
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) acc[i][j] += av * bv[j];
    }
  }

  // Write-back: whole vectors where the tile's columns allow, the ragged right edge lane by lane;
  // rows past m (padding of the A panel) are dropped.
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++) {
    if (i >= m) continue;
    T* row = c + i * ldc;
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) {
      T* p = row + j * VW;
      if ((j + 1) * VW <= n) {
        V r = acc[i][j] * alpha;
        if (beta != T(0)) {
          V old;
          std::memcpy(&old, p, sizeof(V));
          r += old * beta;
        }
        std::memcpy(p, &r, sizeof(V));
      } else if (j * VW < n) {
        T lanes[VW];
        std::memcpy(lanes, &acc[i][j], sizeof(V));
        for (int l = 0; l < n - j * VW; l++) p[l] = beta == T(0) ? alpha * lanes[l] : alpha * lanes[l] + beta * p[l];
      }
    }
  }
}

// The variants. Tile shapes: 12 (AVX-512) or 6 (AVX2) accumulator rows of two vectors each, which
// leaves registers for the B vectors and the broadcast; baseline SSE2 has 16 xmm registers.
#define TENSILE_MICRO_ARGS(T) int64_t kc, const T *a, const T *b, T *c, int64_t ldc, T alpha, T beta, int m, int n
#define TENSILE_MICRO_PASS kc, a, b, c, ldc, alpha, beta, m, n

__attribute__((target("avx512f,avx2,fma"))) void micro_f32_avx512(TENSILE_MICRO_ARGS(float)) {
  micro_tile<float, 12, 2, 16>(TENSILE_MICRO_PASS);
}
__attribute__((target("avx512f,avx2,fma"))) void micro_f64_avx512(TENSILE_MICRO_ARGS(double)) {
  micro_tile<double, 12, 2, 8>(TENSILE_MICRO_PASS);
}
__attribute__((target("avx2,fma"))) void micro_f32_avx2(TENSILE_MICRO_ARGS(float)) {
  micro_tile<float, 6, 2, 8>(TENSILE_MICRO_PASS);
}
__attribute__((target("avx2,fma"))) void micro_f64_avx2(TENSILE_MICRO_ARGS(double)) {
  micro_tile<double, 6, 2, 4>(TENSILE_MICRO_PASS);
}
void micro_f32_base(TENSILE_MICRO_ARGS(float)) { micro_tile<float, 4, 2, 4>(TENSILE_MICRO_PASS); }
void micro_f64_base(TENSILE_MICRO_ARGS(double)) { micro_tile<double, 4, 2, 2>(TENSILE_MICRO_PASS); }

#undef TENSILE_MICRO_ARGS
#undef TENSILE_MICRO_PASS

// ---------------------------------------------------------------------------------------------
// dot-product kernel for skinny products

// When op(A) = A and op(B) = B^T, rows of both are contiguous in k and C(i, j) is the dot product
// of row i of A with row j of B. For small M or N, where most of an MR x NR tile would be padding,
// blocks of 2 x 4 dot products (eight vector accumulators) beat packing. Computes, for rows
// [i0, i1) and columns [j0, j1) of C: c = alpha * dot + beta * c (beta == 0: c is not read).
template <typename T>
using DotKernel = void (*)(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, T alpha, const T* A, int64_t lda,
                           const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

template <typename T, int VW>
inline __attribute__((always_inline)) void dot_blocks(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, T alpha,
                                                      const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
                                                      int64_t ldc) {
  typedef typename VecOf<T, VW>::type V;
  constexpr int BI = 2, BJ = 4;
  for (int64_t i = i0; i < i1; i += BI) {
    const T* a[BI];
    for (int r = 0; r < BI; r++) a[r] = A + std::min(i + r, i1 - 1) * lda;  // edge: repeat the last row
    for (int64_t j = j0; j < j1; j += BJ) {
      const T* b[BJ];
      for (int q = 0; q < BJ; q++) b[q] = B + std::min(j + q, j1 - 1) * ldb;
      V acc[BI][BJ];
#pragma GCC unroll 8
      for (int r = 0; r < BI; r++)
#pragma GCC unroll 8
        for (int q = 0; q < BJ; q++) acc[r][q] = V{};
      int64_t k = 0;
      for (; k + VW <= K; k += VW) {
        V av[BI], bv[BJ];
#pragma GCC unroll 8
        for (int r = 0; r < BI; r++) std::memcpy(&av[r], a[r] + k, sizeof(V));
#pragma GCC unroll 8
        for (int q = 0; q < BJ; q++) std::memcpy(&bv[q], b[q] + k, sizeof(V));
#pragma GCC unroll 8
        for (int r = 0; r < BI; r++)
#pragma GCC unroll 8
          for (int q = 0; q < BJ; q++) acc[r][q] += av[r] * bv[q];
      }
      // Spill with constant indices (keeps acc in registers above), then reduce the lanes.
      T lanes[BI][BJ][VW];
#pragma GCC unroll 8
      for (int r = 0; r < BI; r++)
#pragma GCC unroll 8
        for (int q = 0; q < BJ; q++) std::memcpy(lanes[r][q], &acc[r][q], sizeof(V));
      for (int r = 0; r < BI && i + r < i1; r++)
        for (int q = 0; q < BJ && j + q < j1; q++) {
          T sum = 0;
          for (int l = 0; l < VW; l++) sum += lanes[r][q][l];
          for (int64_t t = k; t < K; t++) sum += a[r][t] * b[q][t];
          T* cp = C + (i + r) * ldc + j + q;
          *cp = beta == T(0) ? alpha * sum : alpha * sum + beta * *cp;
        }
    }
  }
}

#define TENSILE_DOT_ARGS(T)                                                                                   \
  int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, T alpha, const T *A, int64_t lda, const T *B, \
      int64_t ldb, T beta, T *C, int64_t ldc
#define TENSILE_DOT_PASS i0, i1, j0, j1, K, alpha, A, lda, B, ldb, beta, C, ldc

__attribute__((target("avx512f,avx2,fma"))) void dot_f32_avx512(TENSILE_DOT_ARGS(float)) { dot_blocks<float, 16>(TENSILE_DOT_PASS); }
__attribute__((target("avx512f,avx2,fma"))) void dot_f64_avx512(TENSILE_DOT_ARGS(double)) { dot_blocks<double, 8>(TENSILE_DOT_PASS); }
__attribute__((target("avx2,fma"))) void dot_f32_avx2(TENSILE_DOT_ARGS(float)) { dot_blocks<float, 8>(TENSILE_DOT_PASS); }
__attribute__((target("avx2,fma"))) void dot_f64_avx2(TENSILE_DOT_ARGS(double)) { dot_blocks<double, 4>(TENSILE_DOT_PASS); }
void dot_f32_base(TENSILE_DOT_ARGS(float)) { dot_blocks<float, 4>(TENSILE_DOT_PASS); }
void dot_f64_base(TENSILE_DOT_ARGS(double)) { dot_blocks<double, 2>(TENSILE_DOT_PASS); }

#undef TENSILE_DOT_ARGS
#undef TENSILE_DOT_PASS

template <typename T>
struct Kernel {
  int mr, nr;
  MicroKernel<T> fn;
  DotKernel<T> dot;
};

struct KernelSet {
  Kernel<float> f32;
  Kernel<double> f64;
  const char* name;
};

// Best variant the CPU supports, capped by TENSILE_GEMM_KERNEL=avx512|avx2|baseline (tests and
// benchmarks use it to exercise the lesser variants on a big machine).
KernelSet pick_kernels() {
  static const KernelSet sets[] = {
      {{4, 8, micro_f32_base, dot_f32_base}, {4, 4, micro_f64_base, dot_f64_base}, "baseline"},
      {{6, 16, micro_f32_avx2, dot_f32_avx2}, {6, 8, micro_f64_avx2, dot_f64_avx2}, "avx2"},
      {{12, 32, micro_f32_avx512, dot_f32_avx512}, {12, 16, micro_f64_avx512, dot_f64_avx512}, "avx512"},
  };
  __builtin_cpu_init();
  int level = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = 1;
  if (level == 1 && __builtin_cpu_supports("avx512f")) level = 2;
  if (const char* env = std::getenv("TENSILE_GEMM_KERNEL")) {
    std::string want(env);
    if (want == "baseline") level = 0;
    else if (want == "avx2") level = std::min(level, 1);
  }
  return sets[level];
}

const KernelSet& kernels() {
  static const KernelSet ks = pick_kernels();
  return ks;
}

template <typename T>
const Kernel<T>& kernel_for();
template <>
const Kernel<float>& kernel_for<float>() { return kernels().f32; }
template <>
const Kernel<double>& kernel_for<double>() { return kernels().f64; }

// ---------------------------------------------------------------------------------------------
// packing

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

// The first rows of a full A micro-panel, src's rows (stride lda) written as columns of the
// (kc, mr) panel d, by 4 x 4 (float) or 2 x 2 (double) SSE transposes: the scalar copy, one load
// and one strided store per element, was half of the packing time (perf, 1 thread, n = 1024).
// Returns how many rows it packed; the caller copies the rest (and the k tail is done here).
inline int64_t transpose_rows_into_panel(float* d, const float* src, int64_t lda, int64_t kc, int mr) {
  int64_t r = 0;
  for (; r + 4 <= mr; r += 4) {
    const float* s0 = src + r * lda;
    const float *s1 = s0 + lda, *s2 = s1 + lda, *s3 = s2 + lda;
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
      __m128 a0 = _mm_loadu_ps(s0 + k), a1 = _mm_loadu_ps(s1 + k), a2 = _mm_loadu_ps(s2 + k), a3 = _mm_loadu_ps(s3 + k);
      _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
      float* o = d + k * mr + r;
      _mm_storeu_ps(o, a0);
      _mm_storeu_ps(o + mr, a1);
      _mm_storeu_ps(o + 2 * mr, a2);
      _mm_storeu_ps(o + 3 * mr, a3);
    }
    for (; k < kc; k++) {
      float* o = d + k * mr + r;
      o[0] = s0[k], o[1] = s1[k], o[2] = s2[k], o[3] = s3[k];
    }
  }
  return r;
}

inline int64_t transpose_rows_into_panel(double* d, const double* src, int64_t lda, int64_t kc, int mr) {
  int64_t r = 0;
  for (; r + 2 <= mr; r += 2) {
    const double *s0 = src + r * lda, *s1 = s0 + lda;
    int64_t k = 0;
    for (; k + 2 <= kc; k += 2) {
      const __m128d a0 = _mm_loadu_pd(s0 + k), a1 = _mm_loadu_pd(s1 + k);
      double* o = d + k * mr + r;
      _mm_storeu_pd(o, _mm_unpacklo_pd(a0, a1));
      _mm_storeu_pd(o + mr, _mm_unpackhi_pd(a0, a1));
    }
    for (; k < kc; k++) d[k * mr + r] = s0[k], d[k * mr + r + 1] = s1[k];
  }
  return r;
}

// Rows [i0, i0 + mc) and columns [p0, p0 + kc) of op(A) into ceil(mc / mr) micro-panels of
// (kc, mr), rows past mc zero-filled: dst[(ip / mr) * mr * kc + k * mr + r].
template <typename T>
void pack_a(T* dst, bool transA, const T* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr) {
  for (int64_t ip = 0; ip < mc; ip += mr) {
    int64_t m = std::min<int64_t>(mr, mc - ip);
    T* d = dst + ip * kc;
    if (m < mr) std::fill(d, d + kc * mr, T(0));  // rows past the matrix stay zero
    if (!transA) {
      const T* src = A + (i0 + ip) * lda + p0;
      int64_t r = 0;
      if (m == mr) r = transpose_rows_into_panel(d, src, lda, kc, mr);
      for (; r < m; r++)
        for (int64_t k = 0; k < kc; k++) d[k * mr + r] = src[r * lda + k];
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const T* src = A + (p0 + k) * lda + i0 + ip;
        for (int64_t r = 0; r < m; r++) d[k * mr + r] = src[r];
      }
    }
  }
}

// Rows [p0, p0 + kc) and columns [j0 + s * nr, ...) of op(B), strips s in [s0, s1), into
// micro-panels of (kc, nr), columns past nc zero-filled: dst[s * nr * kc + k * nr + j].
template <typename T>
void pack_b(T* dst, bool transB, const T* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
            int64_t s0, int64_t s1) {
  if (!transB) {
    // A few strips at a time, row by row: each row of B is then read as one run of a few hundred
    // bytes (one strip at a time read 128 bytes a row, a page apart, which the prefetchers follow
    // poorly), and written to as many panels.
    constexpr int64_t kStrips = 4;
    for (int64_t sb = s0; sb < s1; sb += kStrips) {
      const int64_t se = std::min(s1, sb + kStrips);
      for (int64_t k = 0; k < kc; k++) {
        const T* src = B + (p0 + k) * ldb + j0;
        for (int64_t s = sb; s < se; s++) {
          const int64_t jp = s * nr, n = std::min<int64_t>(nr, nc - jp);
          T* dk = dst + jp * kc + k * nr;
          copy_row(dk, src + jp, n);
          for (int64_t j = n; j < nr; j++) dk[j] = T(0);
        }
      }
    }
    return;
  }
  for (int64_t s = s0; s < s1; s++) {
    const int64_t jp = s * nr, n = std::min<int64_t>(nr, nc - jp);
    T* d = dst + jp * kc;
    // Row k of the panel gathers element k of n rows of B: n sequential read streams, one
    // contiguous write per k (scattering each B row instead costs a cache line per element).
    const T* src = B + (j0 + jp) * ldb + p0;
    for (int64_t k = 0; k < kc; k++) {
      T* dk = d + k * nr;
      for (int64_t j = 0; j < n; j++) dk[j] = src[j * ldb + k];
      for (int64_t j = n; j < nr; j++) dk[j] = T(0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// blocked driver

// Cache blocking: a (KC, NR) B micro-panel stays in L1 across the MC rows of an A block, the
// (MC, KC) A block in L2, the (KC, NC) B slab in L3.
template <typename T>
struct Blocking;
template <>
struct Blocking<float> {
  static constexpr int64_t kc = 384, mc = 192, nc = 3072;
};
template <>
struct Blocking<double> {
  static constexpr int64_t kc = 256, mc = 144, nc = 2048;
};

constexpr int64_t kNaiveWork = 4096;        // M*N*K at or below which the triple loop wins
constexpr int64_t kParallelWork = 1 << 17;  // M*N*K below which waking threads costs more

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C = beta * C (zero when beta == 0, whatever C held).
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++) {
    T* row = C + i * ldc;
    if (beta == T(0)) std::fill(row, row + N, T(0));
    else
      for (int64_t j = 0; j < N; j++) row[j] *= beta;
  }
}

template <typename T>
void gemm_blocked(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const Kernel<T>& kr = kernel_for<T>();
  const int mr = kr.mr, nr = kr.nr;
  const int64_t nthreads = M * N * K < kParallelWork ? 1 : get_num_threads();

  // M blocks: at most MC rows, balanced, and a multiple of the thread count when M is large
  // enough that splitting it (rather than N) keeps every thread busy.
  int64_t mpanels = ceil_div(M, mr);
  int64_t mblocks = ceil_div(M, Blocking<T>::mc);
  if (mpanels >= 2 * nthreads) mblocks = ceil_div(mblocks, nthreads) * nthreads;
  int64_t mc = ceil_div(ceil_div(M, mblocks), mr) * mr;
  mblocks = ceil_div(M, mc);

  const int64_t KC = std::min(K, Blocking<T>::kc);
  const int64_t NC = std::min(ceil_div(N, nr) * nr, Blocking<T>::nc);
  ScratchBuffer<T> bpack(size_t(KC * NC));

  for (int64_t pc = 0; pc < K; pc += KC) {
    const int64_t kc = std::min(KC, K - pc);
    const T beta_k = pc == 0 ? beta : T(1);  // later slabs accumulate onto the first
    for (int64_t jc = 0; jc < N; jc += NC) {
      const int64_t nc = std::min(NC, N - jc);
      const int64_t nstrips = ceil_div(nc, nr);
      T* bp = bpack.get();
      auto pack = [&](int64_t s0, int64_t s1) { pack_b(bp, transB, B, ldb, pc, kc, jc, nc, nr, s0, s1); };
      if (nthreads > 1) parallel_for(nstrips, std::max<int64_t>(1, 16384 / (kc * nr)), pack);
      else pack(0, nstrips);

      // Tasks: each M block, and when there are fewer blocks than threads, each of `nsplit`
      // slices of the B strips (threads then pack the same small A block, which is cheap).
      const int64_t nsplit = mblocks >= nthreads ? 1 : std::min(nstrips, ceil_div(nthreads, mblocks));
      auto run = [&](int64_t t0, int64_t t1) {
        ScratchBuffer<T> apack(size_t(mc * kc));
        int64_t packed = -1;
        for (int64_t t = t0; t < t1; t++) {
          const int64_t ib = t / nsplit, js = t % nsplit;
          const int64_t ic = ib * mc, mcb = std::min(mc, M - ic);
          if (ib != packed) {
            pack_a(apack.get(), transA, A, lda, ic, mcb, pc, kc, mr);
            packed = ib;
          }
          const int64_t s0 = nstrips * js / nsplit, s1 = nstrips * (js + 1) / nsplit;
          for (int64_t s = s0; s < s1; s++) {
            const int64_t j = s * nr;
            const int n = int(std::min<int64_t>(nr, nc - j));
            for (int64_t ir = 0; ir < mcb; ir += mr) {
              const int m = int(std::min<int64_t>(mr, mcb - ir));
              kr.fn(kc, apack.get() + ir * kc, bp + j * kc, C + (ic + ir) * ldc + jc + j, ldc, alpha, beta_k, m, n);
            }
          }
        }
      };
      if (nthreads > 1) parallel_for(mblocks * nsplit, 1, run);
      else run(0, mblocks * nsplit);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// entry points

template <typename T>
void gemm_naive_cpu(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      T acc = 0;
      for (int64_t k = 0; k < K; k++) {
        T a = transA ? A[k * lda + i] : A[i * lda + k];
        T b = transB ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      T r = alpha * acc;
      C[i * ldc + j] = beta == T(0) ? r : r + beta * C[i * ldc + j];
    }
}

template <typename T>
void gemm_cpu(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) return scale_c(M, N, beta, C, ldc);
  if (M * N * K <= kNaiveWork) return gemm_naive_cpu(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const Kernel<T>& kr = kernel_for<T>();
  if (!transA && transB && K >= 32 && (2 * N < kr.nr || 2 * M < kr.mr)) {
    // Skinny A * B^T (linear with few outputs, conv weight gradients): direct dot products,
    // split over the longer of M and N.
    const bool byRows = M >= N;
    const int64_t n = byRows ? M : N;
    const int64_t other = byRows ? N : M;
    auto run = [&](int64_t s0, int64_t s1) {
      if (byRows) kr.dot(s0, s1, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      else kr.dot(0, M, s0, s1, K, alpha, A, lda, B, ldb, beta, C, ldc);
    };
    if (M * N * K < kParallelWork) return run(0, n);
    return parallel_for(n, std::max<int64_t>(4, kParallelWork / std::max<int64_t>(1, other * K)), run);
  }
  gemm_blocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
void gemm_batched_cpu(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                      int64_t strideA, const T* B, int64_t ldb, int64_t strideB, T beta, T* C, int64_t ldc,
                      int64_t strideC, int64_t batch) {
  if (batch <= 0) return;
  auto one = [&](int64_t b) {
    gemm_cpu(transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb, beta, C + b * strideC, ldc);
  };
  const int64_t work = std::max<int64_t>(1, M * N * std::max<int64_t>(K, 1));
  // Across the batch when it feeds every thread or the matrices are too small to split (each
  // GEMM then runs inline on its thread); else one matrix at a time, each split across threads.
  if (batch >= get_num_threads() || work < 4 * kParallelWork) {
    parallel_for(batch, std::max<int64_t>(1, kParallelWork / work), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; b++) one(b);
    });
  } else {
    for (int64_t b = 0; b < batch; b++) one(b);
  }
}

const char* gemm_cpu_variant() { return kernels().name; }

#define TENSILE_INSTANTIATE(T)                                                                                  \
  template void gemm_cpu<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, \
                            T*, int64_t);                                                                      \
  template void gemm_naive_cpu<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*,       \
                                  int64_t, T, T*, int64_t);                                                    \
  template void gemm_batched_cpu<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t,      \
                                    const T*, int64_t, int64_t, T, T*, int64_t, int64_t, int64_t);
TENSILE_INSTANTIATE(float)
TENSILE_INSTANTIATE(double)
#undef TENSILE_INSTANTIATE

}  // namespace tensile
