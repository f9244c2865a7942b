// N-API glue for native/ops/elementwise.h. Shapes and broadcasting are resolved in
// lib/ops/elementwise.ts; here we check what would otherwise read out of bounds.
#include "../ops/elementwise.h"

#include "util.h"

namespace tensile {
namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// unary(op, out, outOff, x, xOff, n, dtype, scalar)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0);
  TENSILE_CHECK(op >= 0 && op <= int64_t(UnaryOp::Round), ValueError, "unary: unknown op code ", op);
  int64_t n = int_arg(info, 5);
  DType dt = dtype_arg(info, 6);
  double scalar = double_arg(info, 7);
  dispatch_floating(dt, "unary", [&](auto t) {
    using T = decltype(t);
    unary_cpu<T>(UnaryOp(op), tensor_ptr<T>(info, 1), tensor_ptr<T>(info, 3), n, scalar);
  });
  return info.Env().Undefined();
}

// binary(op, out, outOff, a, aOff, aStrides, b, bOff, bStrides, shape, dtype)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0);
  TENSILE_CHECK(op >= 0 && op <= int64_t(BinaryOp::Ge), ValueError, "binary: unknown op code ", op);
  auto as = ints_arg(info, 5), bs = ints_arg(info, 8), shape = ints_arg(info, 9);
  TENSILE_CHECK(as.size() == shape.size() && bs.size() == shape.size(), ShapeError, "binary: stride ranks ", as.size(), " and ", bs.size(), " do not match shape ", shape_str(shape));
  DType dt = dtype_arg(info, 10);
  if (numel(shape) == 0) return info.Env().Undefined();
  dispatch_all(dt, [&](auto t) {
    using T = decltype(t);
    binary_cpu<T>(BinaryOp(op), tensor_ptr<T>(info, 1), tensor_ptr<T>(info, 3), as, tensor_ptr<T>(info, 6), bs, shape);
  });
  return info.Env().Undefined();
}

// copyStrided(out, outOff, x, xOff, shape, strides, dtype[, outStrides]): x read through strides
// into out, contiguous unless outStrides is given (writes into a strided view).
Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  auto shape = ints_arg(info, 4), strides = ints_arg(info, 5);
  TENSILE_CHECK(shape.size() == strides.size(), ShapeError, "copy: shape ", shape_str(shape), " and strides ", shape_str(strides), " differ in rank");
  DType dt = dtype_arg(info, 6);
  std::vector<int64_t> out_strides;
  if (!is_null_arg(info, 7)) {
    out_strides = ints_arg(info, 7);
    TENSILE_CHECK(out_strides.size() == shape.size(), ShapeError, "copy: out strides ", shape_str(out_strides), " do not match shape ", shape_str(shape));
  }
  size_t is = dtype_size(dt);
  char* out = static_cast<char*>(storage_arg(info, 0)->data) + int_arg(info, 1) * int64_t(is);
  const char* src = static_cast<const char*>(storage_arg(info, 2)->data) + int_arg(info, 3) * int64_t(is);
  copy_strided_cpu(out, out_strides, src, is, shape, strides);
  return info.Env().Undefined();
}

// cast(out, outOff, outDtype, x, xOff, xDtype, n)
Napi::Value Cast(const Napi::CallbackInfo& info) {
  DType od = dtype_arg(info, 2), xd = dtype_arg(info, 5);
  int64_t n = int_arg(info, 6);
  char* out = static_cast<char*>(storage_arg(info, 0)->data) + int_arg(info, 1) * int64_t(dtype_size(od));
  const char* x = static_cast<const char*>(storage_arg(info, 3)->data) + int_arg(info, 4) * int64_t(dtype_size(xd));
  cast_cpu(out, od, x, xd, n);
  return info.Env().Undefined();
}

// fill(out, outOff, n, dtype, value)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  DType dt = dtype_arg(info, 3);
  char* out = static_cast<char*>(storage_arg(info, 0)->data) + int_arg(info, 1) * int64_t(dtype_size(dt));
  fill_cpu(out, dt, int_arg(info, 2), double_arg(info, 4));
  return info.Env().Undefined();
}

// Seeds arrive as two uint32 halves so that JS numbers carry all 64 bits.
uint64_t seed_arg(const Napi::CallbackInfo& info, int i) {
  return (uint64_t(uint32_t(int_arg(info, i))) << 32) | uint64_t(uint32_t(int_arg(info, i + 1)));
}

// uniform(out, outOff, n, dtype, lo, hi, seedHi, seedLo)
Napi::Value Uniform(const Napi::CallbackInfo& info) {
  int64_t n = int_arg(info, 2);
  dispatch_floating(dtype_arg(info, 3), "rand", [&](auto t) {
    using T = decltype(t);
    uniform_cpu<T>(tensor_ptr<T>(info, 0), n, double_arg(info, 4), double_arg(info, 5), seed_arg(info, 6));
  });
  return info.Env().Undefined();
}

// normal(out, outOff, n, dtype, mean, std, seedHi, seedLo)
Napi::Value Normal(const Napi::CallbackInfo& info) {
  int64_t n = int_arg(info, 2);
  dispatch_floating(dtype_arg(info, 3), "randn", [&](auto t) {
    using T = decltype(t);
    normal_cpu<T>(tensor_ptr<T>(info, 0), n, double_arg(info, 4), double_arg(info, 5), seed_arg(info, 6));
  });
  return info.Env().Undefined();
}

// indexSelect(out, outOff, x, xOff, rows, rowElems, dtype, idx, idxOff, k, idxDtype): rows of x
// (rows, rowElems) gathered by idx (k) of int32 or int64.
Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  DType dt = dtype_arg(info, 6), idt = dtype_arg(info, 10);
  int64_t rows = int_arg(info, 4), row = int_arg(info, 5), k = int_arg(info, 9);
  TENSILE_CHECK(idt == DType::Int64 || idt == DType::Int32, DTypeError, "indexSelect: index must be int64 or int32 but got ", dtype_name(idt));
  size_t is = dtype_size(dt);
  std::vector<int64_t> idx(static_cast<size_t>(k));
  if (idt == DType::Int64) {
    const int64_t* p = tensor_ptr<int64_t>(info, 7);
    idx.assign(p, p + k);
  } else {
    const int32_t* p = tensor_ptr<int32_t>(info, 7);
    idx.assign(p, p + k);
  }
  for (int64_t j = 0; j < k; j++)
    TENSILE_CHECK(idx[j] >= 0 && idx[j] < rows, IndexError, "indexSelect: index ", idx[j], " at position ", j, " is out of range for dimension 0 of size ", rows);
  char* out = static_cast<char*>(storage_arg(info, 0)->data) + int_arg(info, 1) * int64_t(is);
  const char* x = static_cast<const char*>(storage_arg(info, 2)->data) + int_arg(info, 3) * int64_t(is);
  index_select_rows_cpu(out, x, size_t(row) * is, idx.data(), k);
  return info.Env().Undefined();
}

// indexAddRows(out, outOff, src, srcOff, rows, rowElems, dtype, idx, idxOff, k): out (rows,
// rowElems) += src (k, rowElems) scattered by idx (int64, k).
Napi::Value IndexAddRows(const Napi::CallbackInfo& info) {
  int64_t rows = int_arg(info, 4), row = int_arg(info, 5), k = int_arg(info, 9);
  const int64_t* idx = tensor_ptr<int64_t>(info, 7);
  for (int64_t j = 0; j < k; j++)
    TENSILE_CHECK(idx[j] >= 0 && idx[j] < rows, IndexError, "indexAdd: index ", idx[j], " is out of range for dimension 0 of size ", rows);
  dispatch_floating(dtype_arg(info, 6), "indexAdd", [&](auto t) {
    using T = decltype(t);
    index_add_rows_cpu<T>(tensor_ptr<T>(info, 0), tensor_ptr<T>(info, 2), row, idx, k);
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "unary", Unary);
  TENSILE_EXPORT(exports, "binary", Binary);
  TENSILE_EXPORT(exports, "copyStrided", CopyStrided);
  TENSILE_EXPORT(exports, "cast", Cast);
  TENSILE_EXPORT(exports, "fill", Fill);
  TENSILE_EXPORT(exports, "uniform", Uniform);
  TENSILE_EXPORT(exports, "normal", Normal);
  TENSILE_EXPORT(exports, "indexSelect", IndexSelect);
  TENSILE_EXPORT(exports, "indexAddRows", IndexAddRows);
}

}  // namespace tensile
