// The GEMM driver behind gemm_cuda / gemm_batched_cuda, shared with conv2d_cuda.cu, which needs
// a two-level batch (image, group) that the public launchers do not expose. Included only by .cu
// files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace tensile {
namespace cuda {

// C = alpha * op(A) * op(B) + beta * C for every matrix z of a (batch1, batch2) batch: matrix
// z = z1 * batch2 + z2 of X starts at X + z1 * sX1 + z2 * sX2. Row-major, lda/ldb/ldc as in
// gemm.h. beta == 0 never reads C. C's matrices must not overlap.
template <typename T>
struct GemmProblem {
  bool transA, transB;
  int64_t M, N, K;
  T alpha;
  const T* A;
  int64_t lda, sA1, sA2;
  const T* B;
  int64_t ldb, sB1, sB2;
  T beta;
  T* C;
  int64_t ldc, sC1, sC2;
  int64_t batch1, batch2;
};

// Picks the kernel (TF32 tensor cores when allow_tf32 and T is float on sm_80+, else the FMA
// tile of a size that suits the problem), splits K when the output has too few tiles to fill the
// GPU (partials in scratch, summed in a fixed order), and launches on `stream`.
template <typename T>
int gemm_run(const GemmProblem<T>& p, bool allow_tf32, cudaStream_t stream);

// Multiprocessors of the current device (cached per device).
int sm_count();

}  // namespace cuda
}  // namespace tensile
