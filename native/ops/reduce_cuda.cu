// CUDA twin of reduce_cpu.cc: reductions of an (outer, r, inner) tensor over r. Two shapes of
// kernel: with inner >= 32, one thread per output column (reads coalesced along inner); with a
// short inner, one warp per output, lanes striding over r. When the outputs alone cannot fill the
// GPU, r is also cut into `splits` slices whose partial results a second kernel combines in slice
// order, so results do not depend on scheduling.
#include <cuda_runtime.h>

#include <algorithm>

#include "../core/cuda_device.cuh"
#include "cuda_kernels.h"

namespace tensile {
namespace {

using namespace cuda;

__host__ __device__ inline bool is_sum(ReduceOp op) { return op == ReduceOp::Sum || op == ReduceOp::Mean; }
__host__ __device__ inline bool is_max(ReduceOp op) { return op == ReduceOp::Max || op == ReduceOp::ArgMax; }

// Running best of a max/min scan, (value, index), index -1 while empty. The rule is the CPU's,
// made independent of the order in which candidates arrive: NaN beats everything, a strictly
// better value beats a worse one, and among equals (or NaNs) the lower index wins.
template <typename T>
struct Best {
  T v;
  int64_t i;
};

template <typename T>
__device__ __forceinline__ void best_take(bool want_max, Best<T>& b, T v, int64_t i) {
  if (i < 0) return;
  if (b.i < 0) {
    b = {v, i};
    return;
  }
  const bool bn = is_nan(b.v), vn = is_nan(v);
  if (bn || vn) {
    if (vn && (!bn || i < b.i)) b = {v, i};
    return;
  }
  const bool better = want_max ? (v > b.v) : (v < b.v);
  if (better || (v == b.v && i < b.i)) b = {v, i};
}

template <typename T>
__device__ __forceinline__ Best<T> warp_best(bool want_max, Best<T> b) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Best<T> other{T(__shfl_xor_sync(0xffffffffu, b.v, o)), int64_t(__shfl_xor_sync(0xffffffffu, b.i, o))};
    best_take(want_max, b, other.v, other.i);
  }
  return b;
}

// Where one output's (partial) result goes: the final arrays when splits == 1, else slot
// q * splits + s of the partial arrays.
template <typename T>
struct Sink {
  ReduceOp op;
  T* out;
  int64_t* indices;
  double scale;    // 1 / r for Mean, else 1
  int64_t splits;
  double* psum;    // (Q, splits) partial sums
  T* pval;         // (Q, splits) partial bests
  int64_t* pidx;

  __device__ void put_sum(int64_t q, int64_t s, double acc) const {
    if (splits == 1) out[q] = T(acc * scale);
    else psum[q * splits + s] = acc;
  }
  __device__ void put_best(int64_t q, int64_t s, Best<T> b) const {
    if (splits == 1) {
      if (op == ReduceOp::Max || op == ReduceOp::Min) out[q] = b.v;
      if (indices) indices[q] = b.i;
    } else {
      pval[q * splits + s] = b.v;
      pidx[q * splits + s] = b.i;
    }
  }
};

// One thread per (output, slice): columns i run fastest, so loads along inner are coalesced.
template <typename T>
__global__ void __launch_bounds__(kThreads) reduce_cols_kernel(const T* x, int64_t outer, int64_t r, int64_t inner,
                                                               int64_t rchunk, Sink<T> sink) {
  const int64_t total = outer * sink.splits * inner;
  const bool sum = is_sum(sink.op), want_max = is_max(sink.op);
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t i = t % inner, rest = t / inner, s = rest % sink.splits, o = rest / sink.splits;
    const int64_t k0 = s * rchunk, k1 = min(r, k0 + rchunk);
    const T* xo = x + o * r * inner + i;
    const int64_t q = o * inner + i;
    if (sum) {
      double acc = 0;
      for (int64_t k = k0; k < k1; k++) acc += double(xo[k * inner]);
      sink.put_sum(q, s, acc);
    } else {
      Best<T> b{T(0), -1};
      for (int64_t k = k0; k < k1; k++) best_take(want_max, b, xo[k * inner], k);
      sink.put_best(q, s, b);
    }
  }
}

// One warp per (output, slice), lanes striding over r.
template <typename T>
__global__ void __launch_bounds__(kThreads) reduce_warp_kernel(const T* x, int64_t outer, int64_t r, int64_t inner,
                                                               int64_t rchunk, Sink<T> sink) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  const int64_t total = outer * inner * sink.splits;
  const bool sum = is_sum(sink.op), want_max = is_max(sink.op);
  for (int64_t w = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); w < total; w += warps) {
    const int64_t s = w % sink.splits, q = w / sink.splits, o = q / inner, i = q % inner;
    const int64_t k0 = s * rchunk, k1 = min(r, k0 + rchunk);
    const T* xo = x + o * r * inner + i;
    if (sum) {
      double acc = 0;
      for (int64_t k = k0 + lane; k < k1; k += 32) acc += double(xo[k * inner]);
      acc = warp_sum(acc);
      if (lane == 0) sink.put_sum(q, s, acc);
    } else {
      Best<T> b{T(0), -1};
      for (int64_t k = k0 + lane; k < k1; k += 32) best_take(want_max, b, xo[k * inner], k);
      b = warp_best(want_max, b);
      if (lane == 0) sink.put_best(q, s, b);
    }
  }
}

// Combines the slices of each output in slice order.
template <typename T>
__global__ void __launch_bounds__(kThreads) reduce_combine_kernel(int64_t Q, Sink<T> sink) {
  const bool sum = is_sum(sink.op), want_max = is_max(sink.op);
  Sink<T> final_sink = sink;
  final_sink.splits = 1;
  TENSILE_CUDA_LOOP(q, Q) {
    if (sum) {
      double acc = 0;
      for (int64_t s = 0; s < sink.splits; s++) acc += sink.psum[q * sink.splits + s];
      final_sink.put_sum(q, 0, acc);
    } else {
      Best<T> b{T(0), -1};
      for (int64_t s = 0; s < sink.splits; s++) best_take(want_max, b, sink.pval[q * sink.splits + s], sink.pidx[q * sink.splits + s]);
      final_sink.put_best(q, 0, b);
    }
  }
}

}  // namespace

template <typename T>
int reduce_dim_cuda(ReduceOp op, T* out, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner,
                    cudaStream_t stream) {
  const int64_t Q = outer * inner;
  if (Q <= 0) return 0;
  if (!is_sum(op) && r <= 0) return 0;  // no element to pick (the binding refuses this)
  Sink<T> sink{op, out, indices, op == ReduceOp::Mean ? 1.0 / double(r) : 1.0, 1, nullptr, nullptr, nullptr};

  // Slices of r when the outputs are too few to fill the GPU: aim for ~64K threads (column
  // kernel) or ~8K warps, with slices of at least 1024 elements.
  const bool cols = inner >= 32;
  const int64_t want = cols ? 65536 : 8192;
  int64_t splits = 1;
  if (Q < want && r >= 2048) splits = std::min<int64_t>({ceil_div(want, Q), r / 1024, 1024});
  splits = std::max<int64_t>(splits, 1);
  const int64_t rchunk = ceil_div(std::max<int64_t>(r, 1), splits);
  splits = ceil_div(std::max<int64_t>(r, 1), rchunk);  // no empty slice

  CudaScratch scratch(splits > 1 ? size_t(Q * splits) * (is_sum(op) ? sizeof(double) : sizeof(T) + sizeof(int64_t)) : 0);
  if (splits > 1) {
    TENSILE_CUDA_TRY(scratch.status());
    sink.splits = splits;
    if (is_sum(op)) {
      sink.psum = scratch.as<double>();
    } else {
      sink.pidx = scratch.as<int64_t>();
      sink.pval = reinterpret_cast<T*>(sink.pidx + Q * splits);
    }
  }
  if (cols) {
    reduce_cols_kernel<T><<<grid_for(Q * splits), kThreads, 0, stream>>>(x, outer, r, inner, rchunk, sink);
  } else {
    reduce_warp_kernel<T><<<grid_for(Q * splits * 32), kThreads, 0, stream>>>(x, outer, r, inner, rchunk, sink);
  }
  if (splits > 1) reduce_combine_kernel<T><<<grid_for(Q), kThreads, 0, stream>>>(Q, sink);
  return launch_status();
}

template int reduce_dim_cuda<float>(ReduceOp, float*, int64_t*, const float*, int64_t, int64_t, int64_t, cudaStream_t);
template int reduce_dim_cuda<double>(ReduceOp, double*, int64_t*, const double*, int64_t, int64_t, int64_t, cudaStream_t);
template int reduce_dim_cuda<int32_t>(ReduceOp, int32_t*, int64_t*, const int32_t*, int64_t, int64_t, int64_t, cudaStream_t);
template int reduce_dim_cuda<int64_t>(ReduceOp, int64_t*, int64_t*, const int64_t*, int64_t, int64_t, int64_t, cudaStream_t);
template int reduce_dim_cuda<uint8_t>(ReduceOp, uint8_t*, int64_t*, const uint8_t*, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace tensile
