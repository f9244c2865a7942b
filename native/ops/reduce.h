// Reductions along one dimension. The input is viewed as (outer, r, inner), contiguous, and
// reduced over r; out (and indices) are (outer, inner). Multi-dim and full reductions are
// repeated single-dim reductions (lib/ops/reduce.ts).
#pragma once
#include <cstdint>

namespace tensile {

// Codes shared with lib/ops/reduce.ts (REDUCE_OP).
enum class ReduceOp : int { Sum = 0, Mean, Max, Min, ArgMax, ArgMin };

// Sum/Mean/Max/Min write T values to out; Max/Min also write the winning index to `indices`
// when it is non-null. ArgMax/ArgMin write int64 indices to `indices` only (out unused).
// Ties resolve to the first index, as PyTorch does on CPU. Sums accumulate in double.
template <typename T>
void reduce_dim_cpu(ReduceOp op, T* out, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner);

}  // namespace tensile
