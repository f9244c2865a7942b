// N-API glue for native/ops/reduce.h.
#include "../ops/reduce.h"

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

// reduceDim(op, out, outOff, idx|null, idxOff, x, xOff, outer, r, inner, dtype)
// x (outer, r, inner) reduced over r into out (outer, inner) and, for max/min/argmax/argmin,
// idx (outer, inner) int64; argmax/argmin write only idx.
Napi::Value ReduceDim(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0);
  TENSILE_CHECK(op >= 0 && op <= int64_t(ReduceOp::ArgMin), ValueError, "reduce: unknown op code ", op);
  int64_t outer = int_arg(info, 7), r = int_arg(info, 8), inner = int_arg(info, 9);
  int64_t out_n = 0, in_n = 0;  // outer * inner and outer * inner * r
  TENSILE_CHECK(outer >= 0 && r >= 0 && inner >= 0 && !__builtin_mul_overflow(outer, inner, &out_n) && !__builtin_mul_overflow(out_n, r, &in_n),
                ValueError, "reduce: sizes (", outer, ", ", r, ", ", inner, ") must be non-negative with a product below 2^63");
  TENSILE_CHECK(r > 0 || op <= int64_t(ReduceOp::Mean), ShapeError, "reduce: cannot take max/min/argmax over an empty dimension");
  // An empty output: the kernel's loops over outer and inner must not run (outer = 2^47 with
  // inner = 0 passes every size check and would loop 2^47 times over nothing).
  if (out_n == 0) outer = inner = 0;
  bool needs_out = op != int64_t(ReduceOp::ArgMax) && op != int64_t(ReduceOp::ArgMin);
  int64_t* idx = optional_checked_ptr<int64_t>(info, 3, out_n, "reduce", "indices");
  TENSILE_CHECK(needs_out || idx, ValueError, "reduce: argmax/argmin need an index output");
  dispatch_all(dtype_arg(info, 10), [&](auto t) {
    using T = decltype(t);
    T* out = needs_out ? checked_ptr<T>(info, 1, out_n, "reduce", "output") : nullptr;
    const T* x = checked_ptr<T>(info, 5, in_n, "reduce", "input");
    TENSILE_ON_DEVICE("reduce", reduce_dim, <T>, ReduceOp(op), out, idx, x, outer, r, inner);
  }, "reduce");
  return info.Env().Undefined();
}

}  // namespace

void RegisterReduce(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "reduceDim", ReduceDim);
}

}  // namespace tensile
