// General matrix multiply, row-major, for float and double: the hot path of linear, matmul and
// conv2d (im2col). A cache-blocked, packed-panel GEMM with a register-blocked micro-kernel chosen
// at run time (AVX-512, AVX2+FMA or baseline SSE2); not a full BLAS (no complex, no symmetric).
//
// Dimension letters: op(A) is (M, K), op(B) is (K, N), C is (M, N). lda/ldb/ldc are row strides
// in elements of the matrices as stored: A is stored (M, lda) or, with transA, (K, lda); B is
// stored (K, ldb) or, with transB, (N, ldb); C is stored (M, ldc).
#pragma once
#include <cstdint>

namespace tensile {

// C = alpha * op(A) * op(B) + beta * C. With beta == 0 C's old contents are never read (they may
// be uninitialised or NaN). Parallel over blocks of M and N on the shared thread pool (inline when
// called from inside a pool task).
template <typename T>
void gemm_cpu(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// `batch` independent GEMMs: matrix b of A, B, C starts at A + b * strideA (and so on). A stride
// of 0 broadcasts one matrix over the batch. C's matrices must not overlap.
template <typename T>
void gemm_batched_cpu(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                      int64_t strideA, const T* B, int64_t ldb, int64_t strideB, T beta, T* C, int64_t ldc,
                      int64_t strideC, int64_t batch);

// The plain triple loop: the readable spec, the path for tiny products, and the oracle that
// bench/ compares the blocked kernel with.
template <typename T>
void gemm_naive_cpu(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Name of the micro-kernel variant picked for this CPU ("avx512", "avx2" or "baseline").
const char* gemm_cpu_variant();

}  // namespace tensile
