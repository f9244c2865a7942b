// N-API glue for native/ops/elementwise.h. Shapes and broadcasting are resolved in
// lib/ops/elementwise.ts; here we check what would otherwise read out of bounds.
#include "../ops/elementwise.h"

#include "util.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace tensile {
namespace {

// Elements a tensor of `shape` read or written through `strides` spans from its offset: the
// furthest element reachable, sum over d of (shape[d] - 1) * strides[d], plus one; 0 when empty.
// Sizes and strides must be non-negative (tensile makes no negative-stride views).
__int128 strided_extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, const char* op, const char* name) {
  __int128 last = 0;
  bool empty = false;
  for (size_t d = 0; d < shape.size(); d++) {
    TENSILE_CHECK(shape[d] >= 0 && shape[d] < kMaxSize && strides[d] >= 0 && strides[d] < kMaxSize, ValueError, op, ": ", name,
                  " shape ", shape_str(shape), " with strides ", shape_str(strides), " needs non-negative sizes and strides below 2^48");
    if (shape[d] == 0) empty = true;
    else last += __int128(shape[d] - 1) * strides[d];
  }
  return empty ? 0 : last + 1;
}

// Row-major strides of a contiguous tensor of `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> st(shape.size());
  int64_t s = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    st[d] = s;
    s *= shape[d];
  }
  return st;
}

// Elements of a contiguous tensor of `shape`.
int64_t contiguous_extent(const std::vector<int64_t>& shape, const char* op) {
  int64_t n = 1;
  for (int64_t d : shape)
    TENSILE_CHECK(d >= 0 && !__builtin_mul_overflow(n, d, &n), ValueError, op, ": shape ", shape_str(shape), " needs non-negative sizes with a product below 2^63");
  return n;
}

// An integer division by zero raises, as PyTorch's does on the CPU (on CUDA, as PyTorch's, it does
// not: the device would have to be waited for); the kernel alone would raise SIGFPE.
template <typename T>
void check_divisor(BinaryOp op, const T* b, const std::vector<int64_t>& strides, const std::vector<int64_t>& shape) {
  if constexpr (std::is_integral_v<T>) {
    if (op != BinaryOp::Div || op_on_cuda()) return;
    const int64_t at = first_zero_cpu(b, strides, shape);
    TENSILE_CHECK(at < 0, ValueError, "div: integer division by zero (the divisor's element ", at, " is 0)");
  }
}

// unary(op, out, outOff, x, xOff, n, dtype, scalar): out and x (n).
Napi::Value Unary(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0);
  TENSILE_CHECK(op >= 0 && op <= int64_t(UnaryOp::Round), ValueError, "unary: unknown op code ", op);
  int64_t n = size_arg(info, 5, "unary", "n");
  DType dt = dtype_arg(info, 6);
  double scalar = double_arg(info, 7);
  dispatch_floating(dt, "unary", [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 1, n, "unary", "output");
    const T* x = checked_ptr<T>(info, 3, n, "unary", "input");
    TENSILE_ON_DEVICE("unary", unary, <T>, UnaryOp(op), out, x, n, scalar);
  });
  return info.Env().Undefined();
}

// binary(op, out, outOff, a, aOff, aStrides, b, bOff, bStrides, shape, dtype): out contiguous
// (shape); a and b read through their (broadcast, so possibly 0) strides over shape.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0);
  TENSILE_CHECK(op >= 0 && op <= int64_t(BinaryOp::Ge), ValueError, "binary: unknown op code ", op);
  auto as = ints_arg(info, 5), bs = ints_arg(info, 8), shape = ints_arg(info, 9);
  TENSILE_CHECK(as.size() == shape.size() && bs.size() == shape.size(), ShapeError, "binary: stride ranks ", as.size(), " and ", bs.size(), " do not match shape ", shape_str(shape));
  DType dt = dtype_arg(info, 10);
  const int64_t n = contiguous_extent(shape, "binary");
  if (n == 0) return info.Env().Undefined();
  const __int128 a_extent = strided_extent(shape, as, "binary", "a"), b_extent = strided_extent(shape, bs, "binary", "b");
  dispatch_all(dt, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 1, n, "binary", "output");
    const T* a = checked_ptr<T>(info, 3, a_extent, "binary", "a");
    const T* b = checked_ptr<T>(info, 6, b_extent, "binary", "b");
    check_divisor(BinaryOp(op), b, bs, shape);
    TENSILE_ON_DEVICE("binary", binary, <T>, BinaryOp(op), out, a, as, b, bs, shape);
  }, "binary");
  return info.Env().Undefined();
}

// binaryContiguous(op, out, outOff, a, aOff, b, bOff, n, dtype): out, a and b (n), contiguous: the
// same-shape case of binary without its three stride and shape arrays, whose reading costs more
// than the arithmetic of a small op.
Napi::Value BinaryContiguous(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0);
  TENSILE_CHECK(op >= 0 && op <= int64_t(BinaryOp::Ge), ValueError, "binary: unknown op code ", op);
  const int64_t n = size_arg(info, 7, "binary", "n");
  DType dt = dtype_arg(info, 8);
  if (n == 0) return info.Env().Undefined();
  dispatch_all(dt, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 1, n, "binary", "output");
    const T* a = checked_ptr<T>(info, 3, n, "binary", "a");
    const T* b = checked_ptr<T>(info, 5, n, "binary", "b");
    check_divisor(BinaryOp(op), b, {1}, {n});
    on_device("binary", [&] { binary_contiguous_cpu<T>(BinaryOp(op), out, a, b, n); },
              TENSILE_CUDA(binary_cuda<T>(BinaryOp(op), out, a, {1}, b, {1}, {n}, stream)));
  }, "binary");
  return info.Env().Undefined();
}

// where(out, outOff, cond, condOff, condStrides, a, aOff, aStrides, b, bOff, bStrides, shape, dtype):
// out (contiguous, shape) = cond ? a : b with broadcast strides; cond is bool/uint8.
Napi::Value Where(const Napi::CallbackInfo& info) {
  auto cs = ints_arg(info, 4), as = ints_arg(info, 7), bs = ints_arg(info, 10), shape = ints_arg(info, 11);
  TENSILE_CHECK(cs.size() == shape.size() && as.size() == shape.size() && bs.size() == shape.size(), ShapeError,
                "where: stride ranks do not match shape ", shape_str(shape));
  DType dt = dtype_arg(info, 12);
  const int64_t n = contiguous_extent(shape, "where");
  if (n == 0) return info.Env().Undefined();
  const __int128 c_extent = strided_extent(shape, cs, "where", "condition");
  const __int128 a_extent = strided_extent(shape, as, "where", "input"), b_extent = strided_extent(shape, bs, "where", "other");
  const uint8_t* cond = checked_ptr<uint8_t>(info, 2, c_extent, "where", "condition");
  dispatch_all(dt, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, n, "where", "output");
    const T* a = checked_ptr<T>(info, 5, a_extent, "where", "input");
    const T* b = checked_ptr<T>(info, 8, b_extent, "where", "other");
    TENSILE_ON_DEVICE("where", where, <T>, out, cond, cs, a, as, b, bs, shape);
  }, "where");
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
  const __int128 out_extent = out_strides.empty() ? contiguous_extent(shape, "copy") : strided_extent(shape, out_strides, "copy", "output");
  const __int128 x_extent = strided_extent(shape, strides, "copy", "input");
  size_t is = dtype_size(dt);
  void* out = checked_data(info, 0, out_extent, is, "copy", "output");
  const void* src = checked_data(info, 2, x_extent, is, "copy", "input");
  if (out_extent == 0) return info.Env().Undefined();
  // An output that overlaps its source (x.copy_(view of x), or the same storage) is copied from a
  // snapshot of the source: the result is then what a copy of distinct tensors gives, and no
  // memcpy runs over overlapping bytes (undefined behaviour).
  std::vector<char> snapshot;
  if (!op_on_cuda() && bytes_overlap(out, out_extent * is, src, x_extent * is)) {
    snapshot.assign(static_cast<const char*>(src), static_cast<const char*>(src) + size_t(x_extent) * is);
    src = snapshot.data();
  }
  on_device("copy", [&] { copy_strided_cpu(out, out_strides, src, is, shape, strides); },
            TENSILE_CUDA(copy_strided_cuda(out, out_strides.empty() ? contiguous_strides(shape) : out_strides, src, is, shape, strides, stream)));
  return info.Env().Undefined();
}

// cast(out, outOff, outDtype, x, xOff, xDtype, n): out (n) of outDtype, x (n) of xDtype.
Napi::Value Cast(const Napi::CallbackInfo& info) {
  DType od = dtype_arg(info, 2), xd = dtype_arg(info, 5);
  int64_t n = size_arg(info, 6, "cast", "n");
  void* out = checked_data(info, 0, n, dtype_size(od), "cast", "output");
  const void* x = checked_data(info, 3, n, dtype_size(xd), "cast", "input");
  TENSILE_ON_DEVICE("cast", cast, , out, od, x, xd, n);
  return info.Env().Undefined();
}

// fill(out, outOff, n, dtype, value): out (n).
Napi::Value Fill(const Napi::CallbackInfo& info) {
  DType dt = dtype_arg(info, 3);
  int64_t n = size_arg(info, 2, "fill", "n");
  void* out = checked_data(info, 0, n, dtype_size(dt), "fill", "output");
  const double value = double_arg(info, 4);
  TENSILE_ON_DEVICE("fill", fill, , out, dt, n, value);
  return info.Env().Undefined();
}

// uniform(out, outOff, n, dtype, lo, hi, seedHi, seedLo): out (n).
Napi::Value Uniform(const Napi::CallbackInfo& info) {
  int64_t n = size_arg(info, 2, "rand", "n");
  dispatch_floating(dtype_arg(info, 3), "rand", [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, n, "rand", "output");
    const double lo = double_arg(info, 4), hi = double_arg(info, 5);
    const uint64_t seed = seed_arg(info, 6);
    TENSILE_ON_DEVICE("rand", uniform, <T>, out, n, lo, hi, seed);
  });
  return info.Env().Undefined();
}

// normal(out, outOff, n, dtype, mean, std, seedHi, seedLo): out (n).
Napi::Value Normal(const Napi::CallbackInfo& info) {
  int64_t n = size_arg(info, 2, "randn", "n");
  dispatch_floating(dtype_arg(info, 3), "randn", [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, n, "randn", "output");
    const double mean = double_arg(info, 4), std = double_arg(info, 5);
    const uint64_t seed = seed_arg(info, 6);
    TENSILE_ON_DEVICE("randn", normal, <T>, out, n, mean, std, seed);
  });
  return info.Env().Undefined();
}

// Raises an IndexError for the first of the k row indices outside [0, rows).
void check_row_indices(const int64_t* idx, int64_t k, int64_t rows, const char* op) {
  for (int64_t j = 0; j < k; j++)
    TENSILE_CHECK(idx[j] >= 0 && idx[j] < rows, IndexError, op, ": index ", idx[j], " at position ", j, " is out of range for dimension 0 of size ", rows);
}

// indexSelect(out, outOff, x, xOff, rows, rowElems, dtype, idx, idxOff, k, idxDtype): rows of x
// (rows, rowElems) gathered by idx (k) of int32 or int64 into out (k, rowElems). On CUDA the index
// stays on the device (reading it here would wait for the device every step): the kernel gives
// zeros for an index out of range and counts it, and the next read of device memory raises an
// IndexError naming the first (DeferredCheck), as the class targets of the losses.
Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  const char* op = "indexSelect";
  DType dt = dtype_arg(info, 6), idt = dtype_arg(info, 10);
  int64_t rows = size_arg(info, 4, op, "rows"), row = size_arg(info, 5, op, "rowElems"), k = size_arg(info, 9, op, "k");
  TENSILE_CHECK(idt == DType::Int64 || idt == DType::Int32, DTypeError, "indexSelect: index must be int64 or int32 but got ", dtype_name(idt));
  size_t is = dtype_size(dt);
  const void* idx = checked_data(info, 7, k, dtype_size(idt), op, "index");
  // On the CPU: an int64 index is checked where it lies; an int32 one is widened first (the kernel's type).
  std::vector<int64_t> widened;
  const int64_t* cpu_idx = static_cast<const int64_t*>(idx);
  if (!op_on_cuda()) {
    if (idt == DType::Int32) {
      widened.assign(static_cast<const int32_t*>(idx), static_cast<const int32_t*>(idx) + k);
      cpu_idx = widened.data();
    }
    check_row_indices(cpu_idx, k, rows, op);
  }
  void* out = checked_data(info, 0, __int128(k) * row, is, op, "output");
  const void* x = checked_data(info, 2, __int128(rows) * row, is, op, "input");
  check_no_overlap(out, __int128(k) * row * is, idx, __int128(k) * dtype_size(idt), op, "output", "index");
  if (!op_on_cuda()) {
    if (k > 0 && row > 0) index_select_rows_cpu(out, x, size_t(row) * is, cpu_idx, k);
    return info.Env().Undefined();
  }
#ifdef TENSILE_HAVE_CUDA
  if (k == 0) return info.Env().Undefined();
  const size_t row_bytes = size_t(row) * is;
  queue_deferred_check(op, DeferredCheck::Kind::RowIndex, rows, k, [&](int64_t* bad, cudaStream_t stream) {
    return idt == DType::Int64
               ? index_select_rows_cuda<int64_t>(out, x, row_bytes, static_cast<const int64_t*>(idx), k, rows, bad, stream)
               : index_select_rows_cuda<int32_t>(out, x, row_bytes, static_cast<const int32_t*>(idx), k, rows, bad, stream);
  });
#endif
  return info.Env().Undefined();
}

// indexAddRows(out, outOff, src, srcOff, rows, rowElems, dtype, idx, idxOff, k): out (rows,
// rowElems) += src (k, rowElems) scattered by idx (int64, k). On CUDA the index stays on the device
// and rows out of range are skipped (this is indexSelect's backward: its forward reported them).
Napi::Value IndexAddRows(const Napi::CallbackInfo& info) {
  const char* op = "indexAdd";
  int64_t rows = size_arg(info, 4, op, "rows"), row = size_arg(info, 5, op, "rowElems"), k = size_arg(info, 9, op, "k");
  const int64_t* idx = checked_ptr<int64_t>(info, 7, k, op, "index");
  if (!op_on_cuda()) check_row_indices(idx, k, rows, op);
  dispatch_floating(dtype_arg(info, 6), op, [&](auto t) {
    using T = decltype(t);
    T* out = checked_ptr<T>(info, 0, __int128(rows) * row, op, "output");
    const T* src = checked_ptr<T>(info, 2, __int128(k) * row, op, "source");
    check_no_overlap(out, __int128(rows) * row * sizeof(T), idx, __int128(k) * 8, op, "output", "index");
    if (k == 0 || row == 0) return;
    on_device(op, [&] { index_add_rows_cpu<T>(out, src, row, idx, k); },
              TENSILE_CUDA(index_add_rows_cuda<T>(out, src, row, idx, k, rows, stream)));
  });
  return info.Env().Undefined();
}

}  // namespace

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  TENSILE_EXPORT(exports, "unary", Unary);
  TENSILE_EXPORT(exports, "binary", Binary);
  TENSILE_EXPORT(exports, "binaryContiguous", BinaryContiguous);
  TENSILE_EXPORT(exports, "where", Where);
  TENSILE_EXPORT(exports, "copyStrided", CopyStrided);
  TENSILE_EXPORT(exports, "cast", Cast);
  TENSILE_EXPORT(exports, "fill", Fill);
  TENSILE_EXPORT(exports, "uniform", Uniform);
  TENSILE_EXPORT(exports, "normal", Normal);
  TENSILE_EXPORT(exports, "indexSelect", IndexSelect);
  TENSILE_EXPORT(exports, "indexAddRows", IndexAddRows);
}

}  // namespace tensile
