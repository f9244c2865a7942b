// CUDA GEMM, ours (no cuBLAS): C = alpha * op(A) * op(B) + beta * C, row-major, with transposes,
// batch strides and a two-level batch for conv2d (gemm_cuda.cuh).
//
// - FMA path (float and double): a block computes a BM x BN tile of C from BK-deep slabs of op(A)
//   and op(B) staged in shared memory; each thread keeps a TM x TN register tile, its rows and
//   columns interleaved (row ty + i * BM/TM, column tx + j * BN/TN) so that shared-memory reads are
//   broadcasts or consecutive words and C writes are coalesced. The next slab is loaded into
//   registers while the current one is multiplied. 128x128x8 with 8x8 per thread for large float
//   products, 64x64x8 with 4x4 otherwise (and always for double, whose 8x8 tile would spill).
// - TF32 path (float, opt-in, sm_80+): wmma m16n16k8 tensor-core fragments, 64x64x16 block tiles,
//   four warps of 32x32; inputs rounded to TF32 when staged, float accumulation.
// - split-K: when the output has fewer tiles than the GPU has multiprocessors and K is deep (conv
//   weight gradients, linear weight gradients), K is cut into slices whose partial products go to
//   scratch and are summed in slice order by a second kernel.
// Not here: cp.async / TMA pipelines, wgmma, vectorised global loads (they need alignment
// guarantees that strided views do not give).
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <mutex>
#include <type_traits>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"
#include "gemm_cuda.cuh"

namespace tensile {
namespace cuda {

int sm_count() {
  static std::mutex mu;
  static int cached[64] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
    cudaGetLastError();
    return 80;
  }
  std::lock_guard<std::mutex> lock(mu);
  if (!cached[dev]) {
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) {
      cudaGetLastError();
      n = 80;
    }
    cached[dev] = n;
  }
  return cached[dev];
}

namespace {

// Compute capability major of the current device (cached per device).
int cc_major() {
  static std::mutex mu;
  static int cached[64] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
    cudaGetLastError();
    return 0;
  }
  std::lock_guard<std::mutex> lock(mu);
  if (!cached[dev]) {
    int m = 0;
    if (cudaDeviceGetAttribute(&m, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) cudaGetLastError();
    cached[dev] = m > 0 ? m : -1;
  }
  return cached[dev];
}

// What every kernel needs besides the problem: how the batch index z is cut into (matrix, slice).
template <typename T>
struct GemmLaunch {
  GemmProblem<T> p;
  int64_t splits;  // K slices; 1 = no split
  int64_t kchunk;  // depth of a slice, a multiple of the kernel's BK
  T* work;         // splits > 1: (batch, splits, M, N) partial products alpha * op(A) op(B)
  int64_t z0, y0;  // this launch covers batch-slice indices z0 + blockIdx.z and M tiles y0 + blockIdx.y
};

// Offsets of matrix b = z1 * batch2 + z2.
template <typename T>
struct Mats {
  const T* A;
  const T* B;
  T* C;
};
template <typename T>
__device__ __forceinline__ Mats<T> mats_of(const GemmProblem<T>& p, int64_t b) {
  const int64_t z1 = b / p.batch2, z2 = b - z1 * p.batch2;
  return {p.A + z1 * p.sA1 + z2 * p.sA2, p.B + z1 * p.sB1 + z2 * p.sB2, p.C + z1 * p.sC1 + z2 * p.sC2};
}

// Element (m, k) of op(A) and (k, n) of op(B) as stored.
template <typename T>
__device__ __forceinline__ T load_a(const T* A, int64_t lda, bool trans, int64_t m, int64_t k) {
  return trans ? A[k * lda + m] : A[m * lda + k];
}
template <typename T>
__device__ __forceinline__ T load_b(const T* B, int64_t ldb, bool trans, int64_t k, int64_t n) {
  return trans ? B[n * ldb + k] : B[k * ldb + n];
}

// Writes one finished element: to C with the epilogue, or to the slice's partial.
template <typename T>
__device__ __forceinline__ void store_c(const GemmLaunch<T>& L, T* C, int64_t b, int64_t s, int64_t m, int64_t n, T acc) {
  const GemmProblem<T>& p = L.p;
  const T v = p.alpha * acc;
  if (L.splits == 1) {
    T* c = C + m * p.ldc + n;
    *c = p.beta == T(0) ? v : v + p.beta * *c;
  } else {
    L.work[((b * L.splits + s) * p.M + m) * p.N + n] = v;
  }
}

// ---------------------------------------------------------------------------------------------
// FMA tile kernel

// MINB blocks per multiprocessor caps the registers per thread (65536 / (threads * MINB)).
template <typename T, int BM, int BN, int BK, int TM, int TN, int MINB>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), MINB) gemm_fma_kernel(GemmLaunch<T> L) {
  constexpr int RM = BM / TM, RN = BN / TN;  // threads along M and N; thread (ty, tx)
  constexpr int NT = RM * RN;
  constexpr int A_PER = BM * BK / NT, B_PER = BK * BN / NT;
  static_assert(BM * BK % NT == 0 && BK * BN % NT == 0, "tile must split evenly over the threads");
  // The +4 pad spreads the k-fastest stores (non-transposed A, transposed B) over all 32 banks.
  __shared__ T As[BK][BM + 4];
  __shared__ T Bs[BK][BN + 4];

  const GemmProblem<T>& p = L.p;
  const int tid = threadIdx.x, tx = tid % RN, ty = tid / RN;

  // Which elements of a slab this thread loads: load r of op(A) is (am + r * adm, ak + r * adk).
  // Threads walk along whichever index is contiguous in memory, so a warp's loads coalesce; the
  // other index steps with r. Likewise (bk + r * bdk, bn + r * bdn) of op(B).
  static_assert(NT % BK == 0 && NT % BM == 0 && NT % BN == 0, "thread count must tile the slab");
  const bool tA = p.transA, tB = p.transB;
  const int am = tA ? tid % BM : tid / BK, ak = tA ? tid / BM : tid % BK;
  const int adm = tA ? 0 : NT / BK, adk = tA ? NT / BM : 0;
  const int bn_ = tB ? tid / BK : tid % BN, bk = tB ? tid % BK : tid / BN;
  const int bdn = tB ? NT / BK : 0, bdk = tB ? 0 : NT / BN;
  const int64_t a_rstep = tA ? adk * p.lda : adm * p.lda, a_kstep = tA ? BK * p.lda : BK;
  const int64_t b_rstep = tB ? bdn * p.ldb : bdk * p.ldb, b_kstep = tB ? BK : BK * p.ldb;

  const int64_t z = L.z0 + blockIdx.z, bm = L.y0 + blockIdx.y, bnt = blockIdx.x;
  const int64_t s = z % L.splits, b = z / L.splits;
  const Mats<T> mt = mats_of(p, b);
  const int64_t kbeg = s * L.kchunk, kend = min(p.K, kbeg + L.kchunk);
  const int64_t m0 = bm * BM, n0 = bnt * BN;

  // Pointers to load 0 of the first slab (only dereferenced where in range).
  const T* pa = tA ? mt.A + (kbeg + ak) * p.lda + (m0 + am) : mt.A + (m0 + am) * p.lda + (kbeg + ak);
  const T* pb = tB ? mt.B + (n0 + bn_) * p.ldb + (kbeg + bk) : mt.B + (kbeg + bk) * p.ldb + (n0 + bn_);
  // Bit r: load r lies inside M (for A) or N (for B); fixed for the whole tile.
  unsigned a_in = 0, b_in = 0;
#pragma unroll
  for (int r = 0; r < A_PER; r++) a_in |= unsigned(m0 + am + r * adm < p.M) << r;
#pragma unroll
  for (int r = 0; r < B_PER; r++) b_in |= unsigned(n0 + bn_ + r * bdn < p.N) << r;
  T ra[A_PER], rb[B_PER];
  // Loads slab [k0, k0 + BK) into registers; elements past M, N or kend read as 0.
  auto load_slab = [&](int64_t k0) {
    const int krem = int(min(int64_t(BK), kend - k0));  // depth left in this slice
#pragma unroll
    for (int r = 0; r < A_PER; r++) {
      const bool ok = ((a_in >> r) & 1) && ak + r * adk < krem;
      ra[r] = ok ? pa[r * a_rstep] : T(0);
    }
#pragma unroll
    for (int r = 0; r < B_PER; r++) {
      const bool ok = ((b_in >> r) & 1) && bk + r * bdk < krem;
      rb[r] = ok ? pb[r * b_rstep] : T(0);
    }
    pa += a_kstep;
    pb += b_kstep;
  };

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++) acc[i][j] = T(0);

  if (kbeg < kend) load_slab(kbeg);
  for (int64_t k0 = kbeg; k0 < kend; k0 += BK) {
    __syncthreads();  // the previous slab has been read by everyone
#pragma unroll
    for (int r = 0; r < A_PER; r++) As[ak + r * adk][am + r * adm] = ra[r];
#pragma unroll
    for (int r = 0; r < B_PER; r++) Bs[bk + r * bdk][bn_ + r * bdn] = rb[r];
    __syncthreads();
    if (k0 + BK < kend) load_slab(k0 + BK);  // in flight while we multiply
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      T a[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; i++) a[i] = As[kk][ty + i * RM];
#pragma unroll
      for (int j = 0; j < TN; j++) bv[j] = Bs[kk][tx + j * RN];
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] += a[i] * bv[j];
    }
  }

#pragma unroll
  for (int i = 0; i < TM; i++) {
    const int64_t gm = m0 + ty + i * RM;
    if (gm >= p.M) continue;
#pragma unroll
    for (int j = 0; j < TN; j++) {
      const int64_t gn = n0 + tx + j * RN;
      if (gn < p.N) store_c(L, mt.C, b, s, gm, gn, acc[i][j]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TF32 tensor-core kernel (float)

namespace wmma = nvcuda::wmma;

constexpr int kTcBM = 64, kTcBN = 64, kTcBK = 16, kTcThreads = 128;
constexpr int kTcLdA = kTcBK + 8, kTcLdB = kTcBN + 8, kTcLdC = kTcBN + 8;  // multiples of 4 floats, rows 32-byte aligned

__global__ void __launch_bounds__(kTcThreads) gemm_tf32_kernel(GemmLaunch<float> L) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  __shared__ __align__(128) float As[kTcBM * kTcLdA];  // (m, k) row-major
  __shared__ __align__(128) float Bs[kTcBK * kTcLdB];  // (k, n) row-major
  __shared__ __align__(128) float Cs[kTcBM * kTcLdC];  // the finished tile, for a bounds-checked epilogue

  const GemmProblem<float>& p = L.p;
  const int tid = threadIdx.x, warp = tid >> 5;
  const int wm = warp >> 1, wn = warp & 1;  // this warp's 32x32 quarter of the tile

  const int64_t z = L.z0 + blockIdx.z, bm = L.y0 + blockIdx.y, bn = blockIdx.x;
  const int64_t s = z % L.splits, b = z / L.splits;
  const Mats<float> mt = mats_of(p, b);
  const int64_t kbeg = s * L.kchunk, kend = min(p.K, kbeg + L.kchunk);
  const int64_t m0 = bm * kTcBM, n0 = bn * kTcBN;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = kbeg; k0 < kend; k0 += kTcBK) {
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kTcBM * kTcBK / kTcThreads; r++) {
      const int e = tid + r * kTcThreads;
      const int mm = p.transA ? e % kTcBM : e / kTcBK, kk = p.transA ? e / kTcBM : e % kTcBK;
      const int64_t gm = m0 + mm, gk = k0 + kk;
      const float v = (gm < p.M && gk < kend) ? load_a(mt.A, p.lda, p.transA, gm, gk) : 0.0f;
      As[mm * kTcLdA + kk] = wmma::__float_to_tf32(v);
    }
#pragma unroll
    for (int r = 0; r < kTcBK * kTcBN / kTcThreads; r++) {
      const int e = tid + r * kTcThreads;
      const int nn = p.transB ? e / kTcBK : e % kTcBN, kk = p.transB ? e % kTcBK : e / kTcBN;
      const int64_t gn = n0 + nn, gk = k0 + kk;
      const float v = (gn < p.N && gk < kend) ? load_b(mt.B, p.ldb, p.transB, gk, gn) : 0.0f;
      Bs[kk * kTcLdB + nn] = wmma::__float_to_tf32(v);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTcBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], As + (wm * 32 + i * 16) * kTcLdA + kk, kTcLdA);
#pragma unroll
      for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], Bs + kk * kTcLdB + wn * 32 + j * 16, kTcLdB);
#pragma unroll
      for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }

#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 2; j++)
      wmma::store_matrix_sync(Cs + (wm * 32 + i * 16) * kTcLdC + wn * 32 + j * 16, acc[i][j], kTcLdC,
                              wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < kTcBM * kTcBN; e += kTcThreads) {
    const int mm = e / kTcBN, nn = e % kTcBN;
    const int64_t gm = m0 + mm, gn = n0 + nn;
    if (gm < p.M && gn < p.N) store_c(L, mt.C, b, s, gm, gn, Cs[mm * kTcLdC + nn]);
  }
#endif
}

// ---------------------------------------------------------------------------------------------
// split-K reduction, beta-only scaling, and the naive oracle

// C = sum over slices (in order) + beta * C, for every element of every matrix.
template <typename T>
__global__ void __launch_bounds__(kThreads) gemm_splitk_reduce_kernel(GemmLaunch<T> L) {
  const GemmProblem<T>& p = L.p;
  const int64_t mn = p.M * p.N, total = p.batch1 * p.batch2 * mn;
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t b = t / mn, e = t - b * mn, m = e / p.N, n = e - m * p.N;
    const T* w = L.work + b * L.splits * mn + e;
    T sum = w[0];
    for (int64_t s = 1; s < L.splits; s++) sum += w[s * mn];
    T* c = mats_of(p, b).C + m * p.ldc + n;
    *c = p.beta == T(0) ? sum : sum + p.beta * *c;
  }
}

// C = beta * C (0 when beta == 0, whatever C held): K == 0 or alpha == 0, where A and B are not read.
template <typename T>
__global__ void __launch_bounds__(kThreads) gemm_scale_kernel(GemmProblem<T> p) {
  const int64_t mn = p.M * p.N, total = p.batch1 * p.batch2 * mn;
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t b = t / mn, e = t - b * mn, m = e / p.N, n = e - m * p.N;
    T* c = mats_of(p, b).C + m * p.ldc + n;
    *c = p.beta == T(0) ? T(0) : *c * p.beta;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) gemm_naive_kernel(bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                                                              T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
                                                              T beta, T* C, int64_t ldc) {
  TENSILE_CUDA_LOOP(t, M * N) {
    const int64_t i = t / N, j = t - i * N;
    T acc = 0;
    for (int64_t k = 0; k < K; k++) acc += load_a(A, lda, transA, i, k) * load_b(B, ldb, transB, k, j);
    const T r = alpha * acc;
    C[i * ldc + j] = beta == T(0) ? r : r + beta * C[i * ldc + j];
  }
}

// Launches one tile kernel over the problem, with split-K decided here.
template <typename T, typename Kernel>
int launch_tiles(const GemmProblem<T>& p, Kernel kernel, int BM, int BN, int BK, int threads, cudaStream_t stream) {
  const int64_t batch = p.batch1 * p.batch2;
  const int64_t tilesM = ceil_div(p.M, BM), tilesN = ceil_div(p.N, BN), tiles = tilesM * tilesN * batch;
  const int64_t sms = sm_count();
  // Split K when the tiles cannot occupy every multiprocessor and each slice still has >= 256 of
  // depth; partials are capped at 32M elements of scratch.
  int64_t splits = 1;
  if (tiles < sms && p.K >= 512) {
    splits = std::min<int64_t>({ceil_div(2 * sms, tiles), p.K / 256, 64});
    const int64_t cap = (int64_t(1) << 25) / std::max<int64_t>(1, batch * p.M * p.N);
    splits = std::max<int64_t>(1, std::min(splits, cap));
  }
  int64_t kchunk = ceil_div(ceil_div(p.K, splits), BK) * BK;
  splits = std::max<int64_t>(1, ceil_div(p.K, kchunk));
  if (splits == 1) kchunk = std::max<int64_t>(p.K, 1);

  CudaScratch work(splits > 1 ? size_t(batch * splits * p.M * p.N) * sizeof(T) : 0);
  if (splits > 1) TENSILE_CUDA_TRY(work.status());
  GemmLaunch<T> L{p, splits, kchunk, splits > 1 ? work.as<T>() : nullptr, 0, 0};

  // One output tile per block: N tiles along x, M tiles along y and (matrix, slice) along z, the
  // last two in launches of at most 65535 (the grid's limit there).
  const int64_t nz = batch * splits;
  if (tilesN > 0x7fffffff) return int(cudaErrorInvalidValue);
  for (L.z0 = 0; L.z0 < nz; L.z0 += 65535)
    for (L.y0 = 0; L.y0 < tilesM; L.y0 += 65535) {
      const dim3 grid(unsigned(tilesN), unsigned(std::min<int64_t>(tilesM - L.y0, 65535)),
                      unsigned(std::min<int64_t>(nz - L.z0, 65535)));
      kernel<<<grid, threads, 0, stream>>>(L);
    }
  if (splits > 1) gemm_splitk_reduce_kernel<T><<<grid_for(batch * p.M * p.N), kThreads, 0, stream>>>(L);
  return launch_status();
}

}  // namespace

template <typename T>
int gemm_run(const GemmProblem<T>& p, bool allow_tf32, cudaStream_t stream) {
  const int64_t batch = p.batch1 * p.batch2;
  if (p.M <= 0 || p.N <= 0 || batch <= 0) return 0;
  if (p.K <= 0 || p.alpha == T(0)) {
    gemm_scale_kernel<T><<<grid_for(batch * p.M * p.N), kThreads, 0, stream>>>(p);
    return launch_status();
  }
  if constexpr (std::is_same<T, float>::value) {
    if (allow_tf32 && cc_major() >= 8)
      return launch_tiles<T>(p, gemm_tf32_kernel, kTcBM, kTcBN, kTcBK, kTcThreads, stream);
    // The big tile only when there are enough of them to go round.
    if (p.M >= 128 && p.N >= 128 && ceil_div(p.M, 128) * ceil_div(p.N, 128) * batch >= sm_count())
      return launch_tiles<T>(p, gemm_fma_kernel<float, 128, 128, 8, 8, 8, 2>, 128, 128, 8, 256, stream);
  }
  return launch_tiles<T>(p, gemm_fma_kernel<T, 64, 64, 8, 4, 4, sizeof(T) == 8 ? 2 : 3>, 64, 64, 8, 256, stream);
}

template int gemm_run<float>(const GemmProblem<float>&, bool, cudaStream_t);
template int gemm_run<double>(const GemmProblem<double>&, bool, cudaStream_t);

}  // namespace cuda

// ---------------------------------------------------------------------------------------------
// launchers

template <typename T>
int gemm_batched_cuda(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                      int64_t strideA, const T* B, int64_t ldb, int64_t strideB, T beta, T* C, int64_t ldc,
                      int64_t strideC, int64_t batch, bool allow_tf32, cudaStream_t stream) {
  cuda::GemmProblem<T> p{transA, transB, M, N, K, alpha, A, lda, strideA, 0, B, ldb, strideB, 0,
                         beta, C, ldc, strideC, 0, batch, 1};
  return cuda::gemm_run(p, allow_tf32, stream);
}

template <typename T>
int gemm_cuda(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc, bool allow_tf32, cudaStream_t stream) {
  return gemm_batched_cuda(transA, transB, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, allow_tf32,
                           stream);
}

template <typename T>
int gemm_naive_cuda(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return 0;
  cuda::gemm_naive_kernel<T><<<cuda::grid_for(M * N), cuda::kThreads, 0, stream>>>(transA, transB, M, N, K, alpha, A,
                                                                                   lda, B, ldb, beta, C, ldc);
  return cuda::launch_status();
}

#define INSTANTIATE(T)                                                                                              \
  template int gemm_cuda<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                            int64_t, bool, cudaStream_t);                                                          \
  template int gemm_batched_cuda<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, const T*, \
                                    int64_t, int64_t, T, T*, int64_t, int64_t, int64_t, bool, cudaStream_t);       \
  template int gemm_naive_cuda<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, \
                                  T*, int64_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile
