// Device-side helpers shared by the CUDA kernel files (native/ops/*_cuda.cu): launch shapes,
// the launch-status check, warp and block reductions, non-contracted arithmetic for results that
// must match the CPU bit for bit, and the device copy of the counter-based random numbers.
// Included only by .cu files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_runtime.h"

namespace tensile {
namespace cuda {

// ---------------------------------------------------------------------------------------------
// launch shapes and statuses

constexpr int kThreads = 256;           // default block size of the element-wise kernels
constexpr int64_t kMaxGrid = 1 << 16;   // grid-stride loops cover the rest

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over n items, one item per thread per pass.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = ceil_div(n, threads);
  return unsigned(b < 1 ? 1 : (b > kMaxGrid ? kMaxGrid : b));
}

// The status of the launches just issued: 0, or the cudaError_t of a bad configuration (or of an
// earlier asynchronous failure, which is sticky). Clears non-sticky errors.
inline int launch_status() { return int(cudaGetLastError()); }

#define TENSILE_CUDA_TRY(expr)         \
  do {                                 \
    int tensile_status_ = (expr);      \
    if (tensile_status_) return tensile_status_; \
  } while (0)

// Grid-stride loop over [0, n) with 64-bit indices.
#define TENSILE_CUDA_LOOP(i, n)                                                     \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);        \
       i += int64_t(blockDim.x) * gridDim.x)

// Offenders a kernel finds for the host to raise later (DeferredCheck in native/binding/util.h):
// counts[0] counts them, counts[1] keeps max(n - j) over offending positions j of n, from which the
// host recovers the first (n - counts[1]). Zeroed before the kernel runs (queue_deferred_check).
__device__ __forceinline__ void note_offender(unsigned long long* counts, int64_t n, int64_t j) {
  atomicAdd(counts, 1ull);
  atomicMax(counts + 1, (unsigned long long)(n - j));
}

// ---------------------------------------------------------------------------------------------
// arithmetic that the compiler may not fuse into FMAs: the CPU build (baseline x86-64) rounds
// every product and sum, and the kernels that promise CPU-identical results use these.

__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  return v != v;  // false for integers
}

// ---------------------------------------------------------------------------------------------
// counter-based random numbers: the same SplitMix64 over a Weyl sequence as random_bits() and
// random_unit() in native/ops/elementwise.h, so that element i of a CUDA fill or dropout mask
// equals element i of the CPU one for the same seed. Keep the two in step.

__host__ __device__ inline uint64_t random_bits_hd(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform double in [0, 1) with 53 random bits (the product by 2^-53 is exact).
__host__ __device__ inline double random_unit_hd(uint64_t seed, uint64_t i) {
  return double(random_bits_hd(seed, i) >> 11) * 0x1.0p-53;
}

// ---------------------------------------------------------------------------------------------
// reductions

__device__ __forceinline__ double2 operator+(double2 a, double2 b) { return make_double2(a.x + b.x, a.y + b.y); }

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double2 warp_sum(double2 v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    v.x += __shfl_xor_sync(0xffffffffu, v.x, o);
    v.y += __shfl_xor_sync(0xffffffffu, v.y, o);
  }
  return v;
}

// Max that ignores NaN (a NaN never wins, as in the CPU softmax loops); -inf for all-NaN.
__device__ __forceinline__ double warp_max(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    double w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// The order of additions depends only on blockDim, so results are reproducible run to run.
// `shared` must hold 32 values; the function synchronises the block.
template <typename V>
__device__ V block_sum(V v, V* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  V r = shared[0];
  for (int w = 1; w < warps; w++) r = r + shared[w];
  return r;
}

}  // namespace cuda
}  // namespace tensile
