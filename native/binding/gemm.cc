// N-API glue for native/ops/gemm.h. lib/ops/gemm.ts validates shapes; here every matrix's extent
// (offset, leading dimension, batch stride) is checked against its storage before the kernel runs,
// because the binding is callable directly.
#include "../ops/gemm.h"

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

// tn.backends.cuda.allowTF32: TF32 tensor-core products for float32 GEMMs on CUDA (off by default,
// as torch.backends.cuda.matmul.allow_tf32).
bool allow_tf32 = false;

// Elements spanned by `batch` matrices of (rows, cols) with row stride ld, `stride` apart.
__int128 matrix_extent(int64_t batch, int64_t rows, int64_t cols, int64_t ld, int64_t stride) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  return __int128(batch - 1) * stride + __int128(rows - 1) * ld + cols;
}

// gemm(transA, transB, M, N, K, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc,
//      batch, strideA, strideB, strideC, dtype)
// For each of `batch` matrices: C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, all
// row-major; A is stored (M, lda) or transposed (K, lda), B (K, ldb) or transposed (N, ldb).
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  bool ta = bool_arg(info, 0), tb = bool_arg(info, 1);
  int64_t M = int_arg(info, 2), N = int_arg(info, 3), K = int_arg(info, 4);
  int64_t lda = int_arg(info, 8), ldb = int_arg(info, 11), ldc = int_arg(info, 15);
  int64_t batch = int_arg(info, 16), sa = int_arg(info, 17), sb = int_arg(info, 18), sc = int_arg(info, 19);
  double alpha = double_arg(info, 5), beta = double_arg(info, 12);
  DType dt = dtype_arg(info, 20);

  constexpr int64_t kMax = int64_t(1) << 48;
  for (int64_t v : {M, N, K, batch})
    TENSILE_CHECK(v >= 0 && v < kMax, ValueError, "gemm: sizes must be non-negative, got M=", M, " N=", N, " K=", K, " batch=", batch);
  for (int64_t v : {sa, sb, sc})
    TENSILE_CHECK(v >= 0 && v < kMax, ValueError, "gemm: batch strides must be non-negative, got ", sa, ", ", sb, ", ", sc);
  const int64_t aRows = ta ? K : M, aCols = ta ? M : K;
  const int64_t bRows = tb ? N : K, bCols = tb ? K : N;
  TENSILE_CHECK(lda >= std::max<int64_t>(1, aCols) && lda < kMax, ValueError, "gemm: lda ", lda, " is smaller than A's row length ", aCols);
  TENSILE_CHECK(ldb >= std::max<int64_t>(1, bCols) && ldb < kMax, ValueError, "gemm: ldb ", ldb, " is smaller than B's row length ", bCols);
  TENSILE_CHECK(ldc >= std::max<int64_t>(1, N) && ldc < kMax, ValueError, "gemm: ldc ", ldc, " is smaller than C's row length ", N);
  // Output matrices written in parallel must not overlap.
  TENSILE_CHECK(batch <= 1 || M == 0 || N == 0 || __int128(sc) >= matrix_extent(1, M, N, ldc, 0), ValueError,
                "gemm: strideC ", sc, " makes the ", batch, " output matrices of [", M, ", ", N, "] overlap");

  dispatch_floating(dt, "gemm", [&](auto t) {
    using T = decltype(t);
    const bool reads = M > 0 && N > 0 && K > 0;
    const T* a = checked_ptr<T>(info, 6, reads ? matrix_extent(batch, aRows, aCols, lda, sa) : 0, "gemm", "A");
    const T* b = checked_ptr<T>(info, 9, reads ? matrix_extent(batch, bRows, bCols, ldb, sb) : 0, "gemm", "B");
    T* c = checked_ptr<T>(info, 13, matrix_extent(batch, M, N, ldc, sc), "gemm", "C");
    // No output element: nothing to do, however large the batch (its loop would follow no data).
    if (M == 0 || N == 0 || batch == 0) return;
    on_device("gemm", [&] { gemm_batched_cpu<T>(ta, tb, M, N, K, T(alpha), a, lda, sa, b, ldb, sb, T(beta), c, ldc, sc, batch); },
              TENSILE_CUDA(gemm_batched_cuda<T>(ta, tb, M, N, K, T(alpha), a, lda, sa, b, ldb, sb, T(beta), c, ldc, sc, batch,
                                                allow_tf32, stream)));
  });
  return info.Env().Undefined();
}

// gemmKernel() -> 'avx512' | 'avx2' | 'baseline': the micro-kernel variant in use.
Napi::Value GemmKernel(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gemm_cpu_variant());
}

// setAllowTF32(flag)
Napi::Value SetAllowTF32(const Napi::CallbackInfo& info) {
  allow_tf32 = bool_arg(info, 0);
  return info.Env().Undefined();
}

}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "gemm", Gemm);
  TENSILE_EXPORT(exports, "gemmKernel", GemmKernel);
  TENSILE_EXPORT(exports, "setAllowTF32", SetAllowTF32);
}

}  // namespace tensile
