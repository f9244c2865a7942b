// Plain loops the compiler vectorises; parallel over contiguous chunks on the shared pool.
// These double as the reference implementation for the CUDA twins.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "../core/half.h"
#include "../core/thread_pool.h"
#include "elementwise.h"

namespace tensile {
namespace {

constexpr int64_t kGrain = 32768;  // below this, threading costs more than it saves

template <typename T>
inline T apply_unary(UnaryOp op, T x, T s) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Sign: return T((x > 0) - (x < 0));
    case UnaryOp::Reciprocal: return T(1) / x;
    case UnaryOp::Square: return x * x;
    case UnaryOp::PowScalar: return std::pow(x, s);
    case UnaryOp::AddScalar: return x + s;
    case UnaryOp::MulScalar: return x * s;
    case UnaryOp::RSubScalar: return s - x;
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    case UnaryOp::ClampMin: return x < s ? s : x;
    case UnaryOp::ClampMax: return x > s ? s : x;
    case UnaryOp::Floor: return std::floor(x);
    case UnaryOp::Ceil: return std::ceil(x);
    case UnaryOp::Round: return std::nearbyint(x);
  }
  return x;
}

// Integer add, sub and mul wrap around, as PyTorch's do; in C++ a signed overflow is undefined
// behaviour, so signed types go through their unsigned twin. Integer division by zero is refused
// by the binding (first_zero_cpu); should one reach here it gives 0, not SIGFPE, and INT_MIN / -1
// wraps to INT_MIN instead of trapping.
template <typename T>
inline T add_op(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) return T(std::make_unsigned_t<T>(a) + std::make_unsigned_t<T>(b));
  else return a + b;
}
template <typename T>
inline T sub_op(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) return T(std::make_unsigned_t<T>(a) - std::make_unsigned_t<T>(b));
  else return a - b;
}
template <typename T>
inline T mul_op(T a, T b) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) return T(std::make_unsigned_t<T>(a) * std::make_unsigned_t<T>(b));
  else return a * b;
}
template <typename T>
inline T div_op(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return T(0);
    if constexpr (std::is_signed_v<T>)
      if (b == T(-1)) return sub_op(T(0), a);
  }
  return a / b;
}

template <typename T>
inline T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return add_op(a, b);
    case BinaryOp::Sub: return sub_op(a, b);
    case BinaryOp::Mul: return mul_op(a, b);
    case BinaryOp::Div: return div_op(a, b);
    case BinaryOp::Pow: return std::pow(a, b);
    case BinaryOp::Maximum: return a > b ? a : b;
    case BinaryOp::Minimum: return a < b ? a : b;
    case BinaryOp::Eq: return T(a == b);
    case BinaryOp::Ne: return T(a != b);
    case BinaryOp::Lt: return T(a < b);
    case BinaryOp::Le: return T(a <= b);
    case BinaryOp::Gt: return T(a > b);
    case BinaryOp::Ge: return T(a >= b);
  }
  return a;
}

// The hot ops get their own loop so the switch is hoisted out and the loop vectorises.
template <typename T, typename F>
void map_rows(T* out, const T* a, int64_t sa, const T* b, int64_t sb, int64_t n, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    T bv = b[0];
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    T av = a[0];
    for (int64_t i = 0; i < n; i++) out[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i * sa], b[i * sb]);
  }
}

template <typename T>
void binary_row(BinaryOp op, T* out, const T* a, int64_t sa, const T* b, int64_t sb, int64_t n) {
  switch (op) {
    case BinaryOp::Add: return map_rows(out, a, sa, b, sb, n, [](T x, T y) { return add_op(x, y); });
    case BinaryOp::Sub: return map_rows(out, a, sa, b, sb, n, [](T x, T y) { return sub_op(x, y); });
    case BinaryOp::Mul: return map_rows(out, a, sa, b, sb, n, [](T x, T y) { return mul_op(x, y); });
    case BinaryOp::Div: return map_rows(out, a, sa, b, sb, n, [](T x, T y) { return div_op(x, y); });
    default: return map_rows(out, a, sa, b, sb, n, [op](T x, T y) { return apply_binary(op, x, y); });
  }
}

// The loop nest of an element-wise op over K operands: the shape with adjacent dims merged where
// they are contiguous with each other in every operand (so most broadcasts collapse to one or two
// dims), and each operand's strides. Kept on the stack up to kInline dims: these ops are mostly
// tiny, and the heap allocations of a vector-based version cost more than the arithmetic.
template <int K>
class Nest {
 public:
  // shape and K stride vectors of its rank (nullptr: the contiguous strides of shape); a rank-0
  // shape is one element.
  Nest(const std::vector<int64_t>& shape, const std::vector<int64_t>* const (&strides)[K]) {
    const size_t rank = shape.size();
    cap_ = std::max<size_t>(rank, 1);
    if (cap_ > kInline) {
      heap_.resize((K + 1) * cap_);
      p_ = heap_.data();
    }
    if (rank == 0) {
      p_[0] = 1;
      for (int k = 0; k < K; k++) st(k)[0] = 0;
      ndim_ = 1;
      return;
    }
    for (size_t d = 0; d < rank; d++) p_[d] = shape[d];
    for (int k = 0; k < K; k++) {
      int64_t* s = st(k);
      if (strides[k]) {
        for (size_t d = 0; d < rank; d++) s[d] = (*strides[k])[d];
      } else {
        int64_t step = 1;
        for (size_t d = rank; d-- > 0;) {
          s[d] = step;
          step *= shape[d];
        }
      }
    }
    // Merge in place: the write position never passes the read position.
    ndim_ = 1;
    for (size_t d = 1; d < rank; d++) {
      bool merge = true;
      for (int k = 0; k < K; k++)
        if (st(k)[ndim_ - 1] != st(k)[d] * p_[d]) merge = false;
      if (merge) {
        p_[ndim_ - 1] *= p_[d];
        for (int k = 0; k < K; k++) st(k)[ndim_ - 1] = st(k)[d];
      } else {
        p_[ndim_] = p_[d];
        for (int k = 0; k < K; k++) st(k)[ndim_] = st(k)[d];
        ndim_++;
      }
    }
  }
  Nest(const Nest&) = delete;
  Nest& operator=(const Nest&) = delete;

  // Length of the innermost dim, and the number of such rows.
  int64_t inner() const { return p_[ndim_ - 1]; }
  int64_t rows() const {
    int64_t r = 1;
    for (int d = 0; d + 1 < ndim_; d++) r *= p_[d];
    return r;
  }
  // Operand k's stride along the innermost dim.
  int64_t inner_stride(int k) const { return st(k)[ndim_ - 1]; }
  // Offset of the first element of row `row` (all dims but the last) in operand k.
  int64_t row_offset(int64_t row, int k) const {
    const int64_t* s = st(k);
    int64_t off = 0;
    for (int d = ndim_ - 2; d >= 0; d--) {
      off += (row % p_[d]) * s[d];
      row /= p_[d];
    }
    return off;
  }

 private:
  static constexpr size_t kInline = 8;
  int64_t* st(int k) { return p_ + (k + 1) * cap_; }
  const int64_t* st(int k) const { return p_ + (k + 1) * cap_; }

  int64_t inline_[(K + 1) * kInline];
  std::vector<int64_t> heap_;
  int64_t* p_ = inline_;
  size_t cap_ = 0;
  int ndim_ = 0;
};

}  // namespace

template <typename T>
void unary_cpu(UnaryOp op, T* out, const T* x, int64_t n, double scalar) {
  T s = T(scalar);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    switch (op) {
      case UnaryOp::MulScalar: for (int64_t i = b; i < e; i++) out[i] = x[i] * s; break;
      case UnaryOp::AddScalar: for (int64_t i = b; i < e; i++) out[i] = x[i] + s; break;
      case UnaryOp::Neg: for (int64_t i = b; i < e; i++) out[i] = -x[i]; break;
      default: for (int64_t i = b; i < e; i++) out[i] = apply_unary(op, x[i], s);
    }
  });
}

template <typename T>
void binary_cpu(BinaryOp op, T* out, const T* a, const std::vector<int64_t>& a_strides, const T* b,
                const std::vector<int64_t>& b_strides, const std::vector<int64_t>& shape) {
  const Nest<2> nest(shape, {&a_strides, &b_strides});
  const int64_t inner = nest.inner(), ia = nest.inner_stride(0), ib = nest.inner_stride(1);
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1));
  parallel_for(nest.rows(), grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      binary_row(op, out + r * inner, a + nest.row_offset(r, 0), ia, b + nest.row_offset(r, 1), ib, inner);
    }
  });
}

template <typename T>
void binary_contiguous_cpu(BinaryOp op, T* out, const T* a, const T* b, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { binary_row(op, out + i0, a + i0, 1, b + i0, 1, i1 - i0); });
}

template <typename T>
int64_t first_zero_cpu(const T* x, const std::vector<int64_t>& strides, const std::vector<int64_t>& shape) {
  const Nest<1> nest(shape, {&strides});
  const int64_t inner = nest.inner(), is = nest.inner_stride(0), rows = nest.rows();
  for (int64_t r = 0; r < rows; r++) {
    const T* row = x + nest.row_offset(r, 0);
    for (int64_t i = 0; i < inner; i++)
      if (row[i * is] == T(0)) return r * inner + i;
  }
  return -1;
}

void copy_strided_cpu(void* out, const std::vector<int64_t>& out_strides_in, const void* x, size_t itemsize,
                      const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t acc = 1;
  for (int64_t d : shape) acc *= d;
  if (acc == 0) return;
  // A contiguous output unless strides are given.
  const std::vector<int64_t>* out_strides = out_strides_in.empty() ? nullptr : &out_strides_in;
  const Nest<2> nest(shape, {&strides, out_strides});
  const int64_t inner = nest.inner(), rows = acc / inner, is = nest.inner_stride(0), os = nest.inner_stride(1);
  auto* o = static_cast<char*>(out);
  auto* src = static_cast<const char*>(x);
  const int64_t isz = int64_t(itemsize);
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      char* dst = o + nest.row_offset(r, 1) * isz;
      const char* s = src + nest.row_offset(r, 0) * isz;
      if (is == 1 && os == 1) {
        std::memcpy(dst, s, size_t(inner) * itemsize);
      } else if (itemsize == 4) {
        for (int64_t i = 0; i < inner; i++) *reinterpret_cast<uint32_t*>(dst + i * os * 4) = *reinterpret_cast<const uint32_t*>(s + i * is * 4);
      } else if (itemsize == 8) {
        for (int64_t i = 0; i < inner; i++) *reinterpret_cast<uint64_t*>(dst + i * os * 8) = *reinterpret_cast<const uint64_t*>(s + i * is * 8);
      } else {
        for (int64_t i = 0; i < inner; i++) std::memcpy(dst + i * os * isz, s + i * is * isz, itemsize);
      }
    }
  });
}

template <typename T>
void where_cpu(T* out, const uint8_t* cond, const std::vector<int64_t>& c_strides, const T* a,
               const std::vector<int64_t>& a_strides, const T* b, const std::vector<int64_t>& b_strides,
               const std::vector<int64_t>& shape) {
  const Nest<3> nest(shape, {&c_strides, &a_strides, &b_strides});
  const int64_t inner = nest.inner(), ic = nest.inner_stride(0), ia = nest.inner_stride(1), ib = nest.inner_stride(2);
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1));
  parallel_for(nest.rows(), grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const uint8_t* c = cond + nest.row_offset(r, 0);
      const T* pa = a + nest.row_offset(r, 1);
      const T* pb = b + nest.row_offset(r, 2);
      T* o = out + r * inner;
      for (int64_t i = 0; i < inner; i++) o[i] = c[i * ic] ? pa[i * ia] : pb[i * ib];
    }
  });
}

template <typename T>
void index_add_rows_cpu(T* out, const T* src, int64_t row, const int64_t* idx, int64_t k) {
  // Serial over j: two indices may name the same row.
  for (int64_t j = 0; j < k; j++) {
    T* o = out + idx[j] * row;
    const T* s = src + j * row;
    for (int64_t i = 0; i < row; i++) o[i] += s[i];
  }
}

namespace {
template <typename O, typename I>
void cast_loop(O* out, const I* x, int64_t n, bool to_bool) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (to_bool)
      for (int64_t i = b; i < e; i++) out[i] = O(x[i] != I(0));
    else
      for (int64_t i = b; i < e; i++) out[i] = O(x[i]);
  });
}

template <typename Fn>
void with_type(DType d, Fn&& fn) {
  switch (d) {
    case DType::Float32: fn(float{}); return;
    case DType::Float64: fn(double{}); return;
    case DType::Int32: fn(int32_t{}); return;
    case DType::Int64: fn(int64_t{}); return;
    case DType::Uint8:
    case DType::Bool: fn(uint8_t{}); return;
    case DType::BFloat16: fn(BFloat16{}); return;
    case DType::Float16: fn(Float16{}); return;
  }
}
}  // namespace

void cast_cpu(void* out, DType out_dtype, const void* x, DType x_dtype, int64_t n) {
  with_type(out_dtype, [&](auto o) {
    using O = decltype(o);
    with_type(x_dtype, [&](auto i) {
      using I = decltype(i);
      cast_loop(static_cast<O*>(out), static_cast<const I*>(x), n, out_dtype == DType::Bool);
    });
  });
}

void fill_cpu(void* out, DType dtype, int64_t n, double value) {
  with_type(dtype, [&](auto t) {
    using T = decltype(t);
    T v = dtype == DType::Bool ? T(value != 0) : T(value);
    T* o = static_cast<T*>(out);
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) o[i] = v;
    });
  });
}

template <typename T>
void uniform_cpu(T* out, int64_t n, double lo, double hi, uint64_t seed) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) out[i] = T(lo + (hi - lo) * random_unit(seed, uint64_t(i)));
  });
}

template <typename T>
void normal_cpu(T* out, int64_t n, double mean, double std, uint64_t seed) {
  // Pairs (2k, 2k+1) come from one Box-Muller draw, so an element depends only on its index.
  parallel_for((n + 1) / 2, kGrain / 2, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; k++) {
      double u1 = 1.0 - random_unit(seed, uint64_t(2 * k));  // (0, 1]
      double u2 = random_unit(seed, uint64_t(2 * k + 1));
      double r = std::sqrt(-2.0 * std::log(u1));
      out[2 * k] = T(mean + std * r * std::cos(2 * M_PI * u2));
      if (2 * k + 1 < n) out[2 * k + 1] = T(mean + std * r * std::sin(2 * M_PI * u2));
    }
  });
}

void index_select_rows_cpu(void* out, const void* x, size_t row_bytes, const int64_t* idx, int64_t k) {
  auto* o = static_cast<char*>(out);
  auto* src = static_cast<const char*>(x);
  int64_t grain = std::max<int64_t>(1, int64_t(kGrain * 4 / std::max<size_t>(row_bytes, 1)));
  parallel_for(k, grain, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; j++) std::memcpy(o + size_t(j) * row_bytes, src + size_t(idx[j]) * row_bytes, row_bytes);
  });
}

#define INSTANTIATE(T)                                                                                  \
  template void unary_cpu<T>(UnaryOp, T*, const T*, int64_t, double);                                  \
  template void binary_cpu<T>(BinaryOp, T*, const T*, const std::vector<int64_t>&, const T*,          \
                              const std::vector<int64_t>&, const std::vector<int64_t>&);               \
  template void binary_contiguous_cpu<T>(BinaryOp, T*, const T*, const T*, int64_t);                   \
  template void uniform_cpu<T>(T*, int64_t, double, double, uint64_t);                                 \
  template void normal_cpu<T>(T*, int64_t, double, double, uint64_t);                                  \
  template void index_add_rows_cpu<T>(T*, const T*, int64_t, const int64_t*, int64_t);            \
  template void where_cpu<T>(T*, const uint8_t*, const std::vector<int64_t>&, const T*, const std::vector<int64_t>&, \
                             const T*, const std::vector<int64_t>&, const std::vector<int64_t>&);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace tensile

namespace tensile {
// Comparisons and arithmetic on integer tensors (labels, argmax results, masks).
template void binary_cpu<int32_t>(BinaryOp, int32_t*, const int32_t*, const std::vector<int64_t>&, const int32_t*,
                                  const std::vector<int64_t>&, const std::vector<int64_t>&);
template void binary_cpu<int64_t>(BinaryOp, int64_t*, const int64_t*, const std::vector<int64_t>&, const int64_t*,
                                  const std::vector<int64_t>&, const std::vector<int64_t>&);
template void binary_cpu<uint8_t>(BinaryOp, uint8_t*, const uint8_t*, const std::vector<int64_t>&, const uint8_t*,
                                  const std::vector<int64_t>&, const std::vector<int64_t>&);
template void binary_contiguous_cpu<int32_t>(BinaryOp, int32_t*, const int32_t*, const int32_t*, int64_t);
template void binary_contiguous_cpu<int64_t>(BinaryOp, int64_t*, const int64_t*, const int64_t*, int64_t);
template void binary_contiguous_cpu<uint8_t>(BinaryOp, uint8_t*, const uint8_t*, const uint8_t*, int64_t);
template int64_t first_zero_cpu<int32_t>(const int32_t*, const std::vector<int64_t>&, const std::vector<int64_t>&);
template int64_t first_zero_cpu<int64_t>(const int64_t*, const std::vector<int64_t>&, const std::vector<int64_t>&);
template int64_t first_zero_cpu<uint8_t>(const uint8_t*, const std::vector<int64_t>&, const std::vector<int64_t>&);
#define INSTANTIATE_WHERE(T)                                                                            \
  template void where_cpu<T>(T*, const uint8_t*, const std::vector<int64_t>&, const T*, const std::vector<int64_t>&, \
                             const T*, const std::vector<int64_t>&, const std::vector<int64_t>&);
INSTANTIATE_WHERE(int32_t)
INSTANTIATE_WHERE(int64_t)
INSTANTIATE_WHERE(uint8_t)
#undef INSTANTIATE_WHERE
}  // namespace tensile
