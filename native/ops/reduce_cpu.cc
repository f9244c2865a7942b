#include <cmath>
#include <vector>

#include "../core/thread_pool.h"
#include "reduce.h"

namespace tensile {

template <typename T>
void reduce_dim_cpu(ReduceOp op, T* out, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner) {
  int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(r * inner, 1));
  parallel_for(outer, grain, [&](int64_t o0, int64_t o1) {
    std::vector<double> acc(static_cast<size_t>(inner));
    
    for (int64_t o = o0; o < o1; o++) {
      const T* xo = x + o * r * inner;
      if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t k = 0; k < r; k++)
          for (int64_t i = 0; i < inner; i++) acc[i] += double(xo[k * inner + i]);
        double scale = op == ReduceOp::Mean ? 1.0 / double(r) : 1.0;
        for (int64_t i = 0; i < inner; i++) out[o * inner + i] = T(acc[i] * scale);
        continue;
      }
      bool is_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
      for (int64_t i = 0; i < inner; i++) {
        T b = xo[i];
        int64_t bi = 0;
        for (int64_t k = 1; k < r; k++) {
          T v = xo[k * inner + i];
          // NaN wins, as in PyTorch: once the best is NaN nothing replaces it.
          bool better = is_max ? (v > b) : (v < b);
          if (!(b != b) && (better || v != v)) {
            b = v;
            bi = k;
          }
        }
        if (op == ReduceOp::Max || op == ReduceOp::Min) out[o * inner + i] = b;
        if (indices) indices[o * inner + i] = bi;
      }
    }
  });
}

template void reduce_dim_cpu<float>(ReduceOp, float*, int64_t*, const float*, int64_t, int64_t, int64_t);
template void reduce_dim_cpu<double>(ReduceOp, double*, int64_t*, const double*, int64_t, int64_t, int64_t);
template void reduce_dim_cpu<int32_t>(ReduceOp, int32_t*, int64_t*, const int32_t*, int64_t, int64_t, int64_t);
template void reduce_dim_cpu<int64_t>(ReduceOp, int64_t*, int64_t*, const int64_t*, int64_t, int64_t, int64_t);
template void reduce_dim_cpu<uint8_t>(ReduceOp, uint8_t*, int64_t*, const uint8_t*, int64_t, int64_t, int64_t);

}  // namespace tensile
