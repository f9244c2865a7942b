// Element-wise kernels: unary maps, broadcasting binary maps, strided copies (the engine of
// .contiguous() and of every view), casts, fills, seeded random fills and row gathers.
// Dimension letters: n = number of elements. Outputs are contiguous and come first.
#pragma once
#include <cstdint>
#include <vector>

#include "../core/dtype.h"

namespace tensile {

// Codes shared with lib/ops/elementwise.ts (UNARY_OP / BINARY_OP).
enum class UnaryOp : int { Neg = 0, Exp, Log, Sqrt, Abs, Sign, Reciprocal, Square, PowScalar, AddScalar, MulScalar, RSubScalar, Sin, Cos, ClampMin, ClampMax, Floor, Ceil, Round };
enum class BinaryOp : int { Add = 0, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge };

// out[i] = op(x[i], scalar); x and out are (n) and of the same floating type.
template <typename T>
void unary_cpu(UnaryOp op, T* out, const T* x, int64_t n, double scalar);

// out (shape) = op(a, b) where a and b are read through strides over `shape` (0 on broadcast
// dims). Comparison ops write 1/0 in the same type T; the binding casts when a bool is wanted.
template <typename T>
void binary_cpu(BinaryOp op, T* out, const T* a, const std::vector<int64_t>& a_strides, const T* b,
                const std::vector<int64_t>& b_strides, const std::vector<int64_t>& shape);

// The same for contiguous operands of one shape: out, a, b are (n).
template <typename T>
void binary_contiguous_cpu(BinaryOp op, T* out, const T* a, const T* b, int64_t n);

// The position (row-major over `shape`) of the first zero of x read through strides, or -1: the
// check before an integer division, which raises for a zero divisor as PyTorch does on the CPU.
template <typename T>
int64_t first_zero_cpu(const T* x, const std::vector<int64_t>& strides, const std::vector<int64_t>& shape);

// out (shape) = cond ? a : b, each operand read through its strides over `shape` (0 on broadcast
// dims); cond is uint8/bool. Selects rather than blends, so inf/NaN in the unchosen branch stay out.
template <typename T>
void where_cpu(T* out, const uint8_t* cond, const std::vector<int64_t>& c_strides, const T* a,
               const std::vector<int64_t>& a_strides, const T* b, const std::vector<int64_t>& b_strides,
               const std::vector<int64_t>& shape);

// out (read through out_strides) = x (read through x_strides), both over `shape`; any element
// type (by byte size). Empty out_strides means out is contiguous.
void copy_strided_cpu(void* out, const std::vector<int64_t>& out_strides, const void* x, size_t itemsize,
                      const std::vector<int64_t>& shape, const std::vector<int64_t>& x_strides);

// out[i] = (OutT) x[i] for every pair of dtypes.
void cast_cpu(void* out, DType out_dtype, const void* x, DType x_dtype, int64_t n);

// out[i] = value.
void fill_cpu(void* out, DType dtype, int64_t n, double value);

// Counter-based random fills: element i depends only on (seed, i), so results are the same
// whatever the thread count. Uniform in [lo, hi); normal(mean, std) by Box-Muller.
template <typename T>
void uniform_cpu(T* out, int64_t n, double lo, double hi, uint64_t seed);
template <typename T>
void normal_cpu(T* out, int64_t n, double mean, double std, uint64_t seed);

// out (k, row) = x[idx[j]] for j < k; idx already checked to lie in [0, rows).
void index_select_rows_cpu(void* out, const void* x, size_t row_bytes, const int64_t* idx, int64_t k);

// out[idx[j]] += src[j] row by row (the gradient of index_select); rows of `row` elements.
template <typename T>
void index_add_rows_cpu(T* out, const T* src, int64_t row, const int64_t* idx, int64_t k);

// Random 64-bit value for element `i` of stream `seed` (SplitMix64 over a Weyl sequence).
inline uint64_t random_bits(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform double in [0, 1) with 53 random bits.
inline double random_unit(uint64_t seed, uint64_t i) { return double(random_bits(seed, i) >> 11) * 0x1.0p-53; }

}  // namespace tensile
