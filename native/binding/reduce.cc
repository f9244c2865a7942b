// N-API glue for native/ops/reduce.h.
#include "../ops/reduce.h"

#include "registry.h"
#include "util.h"

namespace tensile {
namespace {

// reduceDim(op, out, outOff, idx|null, idxOff, x, xOff, outer, r, inner, dtype)
Napi::Value ReduceDim(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0);
  TENSILE_CHECK(op >= 0 && op <= int64_t(ReduceOp::ArgMin), ValueError, "reduce: unknown op code ", op);
  int64_t outer = int_arg(info, 7), r = int_arg(info, 8), inner = int_arg(info, 9);
  TENSILE_CHECK(r > 0 || op <= int64_t(ReduceOp::Mean), ShapeError, "reduce: cannot take max/min/argmax over an empty dimension");
  bool needs_out = op != int64_t(ReduceOp::ArgMax) && op != int64_t(ReduceOp::ArgMin);
  int64_t* idx = optional_tensor_ptr<int64_t>(info, 3);
  TENSILE_CHECK(needs_out || idx, ValueError, "reduce: argmax/argmin need an index output");
  dispatch_all(dtype_arg(info, 10), [&](auto t) {
    using T = decltype(t);
    T* out = needs_out ? tensor_ptr<T>(info, 1) : nullptr;
    reduce_dim_cpu<T>(ReduceOp(op), out, idx, tensor_ptr<T>(info, 5), outer, r, inner);
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterReduce(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "reduceDim", ReduceDim);
}

}  // namespace tensile
