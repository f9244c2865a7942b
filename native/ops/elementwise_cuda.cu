// CUDA twins of elementwise_cpu.cc: unary and broadcasting binary maps, strided copies, casts,
// fills, counter-based random fills and row gathers. Grid-stride loops with 64-bit indices; the
// switch on the op code is uniform across a launch, so it costs a branch, not divergence.
// Not here: vectorised (float4) loads, 32-bit index fast paths.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "../core/cuda_device.cuh"
#include "../core/half.h"
#include "cuda_kernels.h"

namespace tensile {
namespace {

using namespace cuda;

// ---------------------------------------------------------------------------------------------
// libdevice by type

__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return log(x); }
__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float d_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double d_abs(double x) { return fabs(x); }
__device__ __forceinline__ float d_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double d_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float d_sin(float x) { return sinf(x); }
__device__ __forceinline__ double d_sin(double x) { return sin(x); }
__device__ __forceinline__ float d_cos(float x) { return cosf(x); }
__device__ __forceinline__ double d_cos(double x) { return cos(x); }
__device__ __forceinline__ float d_floor(float x) { return floorf(x); }
__device__ __forceinline__ double d_floor(double x) { return floor(x); }
__device__ __forceinline__ float d_ceil(float x) { return ceilf(x); }
__device__ __forceinline__ double d_ceil(double x) { return ceil(x); }
// nearbyint in the default rounding mode (to nearest, ties to even), which is all CUDA has.
__device__ __forceinline__ float d_round(float x) { return rintf(x); }
__device__ __forceinline__ double d_round(double x) { return rint(x); }

// ---------------------------------------------------------------------------------------------
// unary

template <typename T>
__device__ __forceinline__ T apply_unary(UnaryOp op, T x, T s) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return d_exp(x);
    case UnaryOp::Log: return d_log(x);
    case UnaryOp::Sqrt: return d_sqrt(x);
    case UnaryOp::Abs: return d_abs(x);
    case UnaryOp::Sign: return T((x > 0) - (x < 0));
    case UnaryOp::Reciprocal: return T(1) / x;
    case UnaryOp::Square: return mul_rn(x, x);
    case UnaryOp::PowScalar: return d_pow(x, s);
    case UnaryOp::AddScalar: return x + s;
    case UnaryOp::MulScalar: return x * s;
    case UnaryOp::RSubScalar: return s - x;
    case UnaryOp::Sin: return d_sin(x);
    case UnaryOp::Cos: return d_cos(x);
    case UnaryOp::ClampMin: return x < s ? s : x;
    case UnaryOp::ClampMax: return x > s ? s : x;
    case UnaryOp::Floor: return d_floor(x);
    case UnaryOp::Ceil: return d_ceil(x);
    case UnaryOp::Round: return d_round(x);
  }
  return x;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) unary_kernel(UnaryOp op, T* out, const T* x, int64_t n, T s) {
  TENSILE_CUDA_LOOP(i, n) out[i] = apply_unary(op, x[i], s);
}

// ---------------------------------------------------------------------------------------------
// binary with broadcasting

constexpr int kMaxDims = 16;

// Shape and strides by value in the kernel's parameters; dims after collapse_dims.
struct Strided2 {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t sa[kMaxDims];
  int64_t sb[kMaxDims];
};

template <typename T>
__device__ __forceinline__ T d_pow_any(T a, T b) {
  return T(pow(double(a), double(b)));  // integers: through double, as std::pow(int, int) does
}
__device__ __forceinline__ float d_pow_any(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double d_pow_any(double a, double b) { return pow(a, b); }

template <typename T>
__device__ __forceinline__ T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return d_pow_any(a, b);
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

// Integer division by zero would be undefined on the CPU and yields garbage here; the integer
// ops of the library (labels, masks) never divide.
template <typename T>
__global__ void __launch_bounds__(kThreads) binary_kernel(BinaryOp op, T* out, const T* a, const T* b, Strided2 g,
                                                          int64_t n) {
  if (g.ndim == 1) {
    const int64_t sa = g.sa[0], sb = g.sb[0];
    TENSILE_CUDA_LOOP(i, n) out[i] = apply_binary(op, a[i * sa], b[i * sb]);
    return;
  }
  TENSILE_CUDA_LOOP(i, n) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = g.ndim - 1; d >= 0; d--) {
      const int64_t q = rem / g.shape[d], k = rem - q * g.shape[d];
      oa += k * g.sa[d];
      ob += k * g.sb[d];
      rem = q;
    }
    out[i] = apply_binary(op, a[oa], b[ob]);
  }
}

// out = cond ? a : b, each read through its strides (a select: the other branch is never read
// into the result, so inf/NaN there stay out).
struct Strided3 {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t sc[kMaxDims];
  int64_t sa[kMaxDims];
  int64_t sb[kMaxDims];
};

template <typename T>
__global__ void __launch_bounds__(kThreads) where_kernel(T* out, const uint8_t* cond, const T* a, const T* b,
                                                         Strided3 g, int64_t n) {
  TENSILE_CUDA_LOOP(i, n) {
    int64_t rem = i, oc = 0, oa = 0, ob = 0;
    for (int d = g.ndim - 1; d >= 0; d--) {
      const int64_t q = rem / g.shape[d], k = rem - q * g.shape[d];
      oc += k * g.sc[d];
      oa += k * g.sa[d];
      ob += k * g.sb[d];
      rem = q;
    }
    out[i] = cond[oc] ? a[oa] : b[ob];
  }
}

// Merges adjacent dims that are contiguous with each other in every operand (the CPU's rule).
void collapse_dims(std::vector<int64_t>& shape, std::vector<std::vector<int64_t>*> strides) {
  if (shape.empty()) {
    shape.push_back(1);
    for (auto* s : strides) s->push_back(0);
    return;
  }
  std::vector<int64_t> ns{shape[0]};
  std::vector<std::vector<int64_t>> nst;
  for (auto* s : strides) nst.push_back({(*s)[0]});
  for (size_t d = 1; d < shape.size(); d++) {
    bool merge = true;
    for (size_t k = 0; k < strides.size(); k++)
      if (nst[k].back() != (*strides[k])[d] * shape[d]) merge = false;
    if (merge) {
      ns.back() *= shape[d];
      for (size_t k = 0; k < strides.size(); k++) nst[k].back() = (*strides[k])[d];
    } else {
      ns.push_back(shape[d]);
      for (size_t k = 0; k < strides.size(); k++) nst[k].push_back((*strides[k])[d]);
    }
  }
  shape = ns;
  for (size_t k = 0; k < strides.size(); k++) *strides[k] = nst[k];
}

// ---------------------------------------------------------------------------------------------
// strided copy, any element size

template <typename W>
__global__ void __launch_bounds__(kThreads) copy_strided_kernel(W* out, const W* x, Strided2 g, int64_t n) {
  // sa: source strides, sb: destination strides (elements).
  TENSILE_CUDA_LOOP(i, n) {
    int64_t rem = i, oi = 0, oo = 0;
    for (int d = g.ndim - 1; d >= 0; d--) {
      const int64_t q = rem / g.shape[d], k = rem - q * g.shape[d];
      oi += k * g.sa[d];
      oo += k * g.sb[d];
      rem = q;
    }
    out[oo] = x[oi];
  }
}

// Element sizes other than 1, 2, 4, 8: byte by byte.
__global__ void __launch_bounds__(kThreads) copy_strided_bytes_kernel(char* out, const char* x, int64_t isz, Strided2 g,
                                                                      int64_t n) {
  TENSILE_CUDA_LOOP(i, n) {
    int64_t rem = i, oi = 0, oo = 0;
    for (int d = g.ndim - 1; d >= 0; d--) {
      const int64_t q = rem / g.shape[d], k = rem - q * g.shape[d];
      oi += k * g.sa[d];
      oo += k * g.sb[d];
      rem = q;
    }
    for (int64_t b = 0; b < isz; b++) out[oo * isz + b] = x[oi * isz + b];
  }
}

// ---------------------------------------------------------------------------------------------
// casts and fills

template <typename O, typename I>
__global__ void __launch_bounds__(kThreads) cast_kernel(O* out, const I* x, int64_t n, bool to_bool) {
  if (to_bool) {
    TENSILE_CUDA_LOOP(i, n) out[i] = O(x[i] != I(0));
  } else {
    TENSILE_CUDA_LOOP(i, n) out[i] = O(x[i]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) fill_kernel(T* out, int64_t n, T v) {
  TENSILE_CUDA_LOOP(i, n) out[i] = v;
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

// ---------------------------------------------------------------------------------------------
// random fills (the CPU's formulas, with products and sums kept unfused so that uniform values
// match the CPU's bit for bit)

template <typename T>
__global__ void __launch_bounds__(kThreads) uniform_kernel(T* out, int64_t n, double lo, double span, uint64_t seed) {
  TENSILE_CUDA_LOOP(i, n) out[i] = T(add_rn(lo, mul_rn(span, random_unit_hd(seed, uint64_t(i)))));
}

template <typename T>
__global__ void __launch_bounds__(kThreads) normal_kernel(T* out, int64_t n, double mean, double std, uint64_t seed) {
  const int64_t pairs = (n + 1) / 2;
  TENSILE_CUDA_LOOP(k, pairs) {
    const double u1 = 1.0 - random_unit_hd(seed, uint64_t(2 * k));  // (0, 1]
    const double u2 = random_unit_hd(seed, uint64_t(2 * k + 1));
    const double r = sqrt(-2.0 * log(u1));
    const double a = mul_rn(2 * M_PI, u2), sr = mul_rn(std, r);
    out[2 * k] = T(add_rn(mean, mul_rn(sr, cos(a))));
    if (2 * k + 1 < n) out[2 * k + 1] = T(add_rn(mean, mul_rn(sr, sin(a))));
  }
}

// ---------------------------------------------------------------------------------------------
// row gathers and scatters

// A row index outside [0, rows) reads nothing and gives a row of zeros; the first word of its row
// notes it in `bad` (note_offender), for the binding to raise at the next synchronisation.
template <typename W, typename TI>
__global__ void __launch_bounds__(kThreads) index_select_kernel(W* out, const W* x, int64_t words, const TI* idx,
                                                                int64_t rows, int64_t k, int64_t total,
                                                                unsigned long long* bad) {
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t j = t / words, e = t - j * words;
    const int64_t r = int64_t(idx[j]);
    if (r >= 0 && r < rows) {
      out[t] = x[r * words + e];
    } else {
      out[t] = W(0);
      if (e == 0) note_offender(bad, k, j);
    }
  }
}

// The same count where rows are empty (nothing to gather, the indices still checked).
template <typename TI>
__global__ void __launch_bounds__(kThreads) index_range_kernel(const TI* idx, int64_t rows, int64_t k,
                                                               unsigned long long* bad) {
  TENSILE_CUDA_LOOP(j, k) {
    const int64_t r = int64_t(idx[j]);
    if (r < 0 || r >= rows) note_offender(bad, k, j);
  }
}

// Out-of-range rows are skipped: indexSelect's forward reported them already.
template <typename T>
__global__ void __launch_bounds__(kThreads) index_add_kernel(T* out, const T* src, int64_t row, const int64_t* idx,
                                                             int64_t rows, int64_t total) {
  TENSILE_CUDA_LOOP(t, total) {
    const int64_t j = t / row, e = t - j * row;
    const int64_t r = idx[j];
    if (r >= 0 && r < rows) atomicAdd(out + r * row + e, src[t]);
  }
}

inline bool aligned(const void* p, size_t w) { return (reinterpret_cast<uintptr_t>(p) % w) == 0; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// launchers

template <typename T>
int unary_cuda(UnaryOp op, T* out, const T* x, int64_t n, double scalar, cudaStream_t stream) {
  if (n <= 0) return 0;
  unary_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(op, out, x, n, T(scalar));
  return launch_status();
}

template <typename T>
int binary_cuda(BinaryOp op, T* out, const T* a, const std::vector<int64_t>& a_strides, const T* b,
                const std::vector<int64_t>& b_strides, const std::vector<int64_t>& shape_in, cudaStream_t stream) {
  int64_t n = 1;
  for (int64_t d : shape_in) n *= d;
  if (n <= 0) return 0;
  std::vector<int64_t> shape = shape_in, sa = a_strides, sb = b_strides;
  collapse_dims(shape, {&sa, &sb});
  if (shape.size() > size_t(kMaxDims)) return int(cudaErrorInvalidValue);
  Strided2 g{};
  g.ndim = int(shape.size());
  for (int d = 0; d < g.ndim; d++) {
    g.shape[d] = shape[d];
    g.sa[d] = sa[d];
    g.sb[d] = sb[d];
  }
  binary_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(op, out, a, b, g, n);
  return launch_status();
}

template <typename T>
int where_cuda(T* out, const uint8_t* cond, const std::vector<int64_t>& c_strides, const T* a,
               const std::vector<int64_t>& a_strides, const T* b, const std::vector<int64_t>& b_strides,
               const std::vector<int64_t>& shape_in, cudaStream_t stream) {
  int64_t n = 1;
  for (int64_t d : shape_in) n *= d;
  if (n <= 0) return 0;
  std::vector<int64_t> shape = shape_in, sc = c_strides, sa = a_strides, sb = b_strides;
  collapse_dims(shape, {&sc, &sa, &sb});
  if (shape.size() > size_t(kMaxDims)) return int(cudaErrorInvalidValue);
  Strided3 g{};
  g.ndim = int(shape.size());
  for (int d = 0; d < g.ndim; d++) {
    g.shape[d] = shape[d];
    g.sc[d] = sc[d];
    g.sa[d] = sa[d];
    g.sb[d] = sb[d];
  }
  where_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(out, cond, a, b, g, n);
  return launch_status();
}

int copy_strided_cuda(void* out, const std::vector<int64_t>& out_strides_in, const void* x, size_t itemsize,
                      const std::vector<int64_t>& shape_in, const std::vector<int64_t>& strides_in,
                      cudaStream_t stream) {
  std::vector<int64_t> shape = shape_in, st = strides_in, out_st = out_strides_in;
  int64_t n = 1;
  if (out_st.empty()) {
    out_st.resize(shape.size());
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; d--) {
      out_st[d] = n;
      n *= shape[d];
    }
  } else {
    for (int64_t d : shape) n *= d;
  }
  if (n <= 0) return 0;
  collapse_dims(shape, {&st, &out_st});
  if (shape.size() == 1 && st[0] == 1 && out_st[0] == 1) {
    cudaError_t e = cudaMemcpyAsync(out, x, size_t(n) * itemsize, cudaMemcpyDeviceToDevice, stream);
    if (e != cudaSuccess) cudaGetLastError();
    return int(e);
  }
  if (shape.size() > size_t(kMaxDims)) return int(cudaErrorInvalidValue);
  Strided2 g{};
  g.ndim = int(shape.size());
  for (int d = 0; d < g.ndim; d++) {
    g.shape[d] = shape[d];
    g.sa[d] = st[d];
    g.sb[d] = out_st[d];
  }
  const unsigned grid = grid_for(n);
  switch (itemsize) {
    case 1: copy_strided_kernel<uint8_t><<<grid, kThreads, 0, stream>>>(static_cast<uint8_t*>(out), static_cast<const uint8_t*>(x), g, n); break;
    case 2: copy_strided_kernel<uint16_t><<<grid, kThreads, 0, stream>>>(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(x), g, n); break;
    case 4: copy_strided_kernel<uint32_t><<<grid, kThreads, 0, stream>>>(static_cast<uint32_t*>(out), static_cast<const uint32_t*>(x), g, n); break;
    case 8: copy_strided_kernel<uint64_t><<<grid, kThreads, 0, stream>>>(static_cast<uint64_t*>(out), static_cast<const uint64_t*>(x), g, n); break;
    default:
      copy_strided_bytes_kernel<<<grid, kThreads, 0, stream>>>(static_cast<char*>(out), static_cast<const char*>(x),
                                                               int64_t(itemsize), g, n);
  }
  return launch_status();
}

int cast_cuda(void* out, DType out_dtype, const void* x, DType x_dtype, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0;
  with_type(out_dtype, [&](auto o) {
    using O = decltype(o);
    with_type(x_dtype, [&](auto i) {
      using I = decltype(i);
      cast_kernel<O, I><<<grid_for(n), kThreads, 0, stream>>>(static_cast<O*>(out), static_cast<const I*>(x), n,
                                                              out_dtype == DType::Bool);
    });
  });
  return launch_status();
}

int fill_cuda(void* out, DType dtype, int64_t n, double value, cudaStream_t stream) {
  if (n <= 0) return 0;
  with_type(dtype, [&](auto t) {
    using T = decltype(t);
    const T v = dtype == DType::Bool ? T(value != 0) : T(value);
    fill_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(static_cast<T*>(out), n, v);
  });
  return launch_status();
}

template <typename T>
int uniform_cuda(T* out, int64_t n, double lo, double hi, uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return 0;
  uniform_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(out, n, lo, hi - lo, seed);
  return launch_status();
}

template <typename T>
int normal_cuda(T* out, int64_t n, double mean, double std, uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return 0;
  normal_kernel<T><<<grid_for((n + 1) / 2), kThreads, 0, stream>>>(out, n, mean, std, seed);
  return launch_status();
}

template <typename TI>
int index_select_rows_cuda(void* out, const void* x, size_t row_bytes, const TI* idx, int64_t k, int64_t rows,
                           int64_t* bad, cudaStream_t stream) {
  if (k > 0 && row_bytes == 0)
    index_range_kernel<TI><<<grid_for(k), kThreads, 0, stream>>>(idx, rows, k, reinterpret_cast<unsigned long long*>(bad));
  if (k > 0 && row_bytes > 0) {
    // The widest word that divides the row and both base addresses.
    size_t w = 8;
    while (w > 1 && (row_bytes % w || !aligned(out, w) || !aligned(x, w))) w /= 2;
    const int64_t words = int64_t(row_bytes / w), total = words * k;
    const unsigned grid = grid_for(total);
    auto* b = reinterpret_cast<unsigned long long*>(bad);
    switch (w) {
      case 8: index_select_kernel<uint64_t, TI><<<grid, kThreads, 0, stream>>>(static_cast<uint64_t*>(out), static_cast<const uint64_t*>(x), words, idx, rows, k, total, b); break;
      case 4: index_select_kernel<uint32_t, TI><<<grid, kThreads, 0, stream>>>(static_cast<uint32_t*>(out), static_cast<const uint32_t*>(x), words, idx, rows, k, total, b); break;
      case 2: index_select_kernel<uint16_t, TI><<<grid, kThreads, 0, stream>>>(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(x), words, idx, rows, k, total, b); break;
      default: index_select_kernel<uint8_t, TI><<<grid, kThreads, 0, stream>>>(static_cast<uint8_t*>(out), static_cast<const uint8_t*>(x), words, idx, rows, k, total, b);
    }
  }
  return launch_status();
}
template int index_select_rows_cuda<int64_t>(void*, const void*, size_t, const int64_t*, int64_t, int64_t, int64_t*, cudaStream_t);
template int index_select_rows_cuda<int32_t>(void*, const void*, size_t, const int32_t*, int64_t, int64_t, int64_t*, cudaStream_t);

template <typename T>
int index_add_rows_cuda(T* out, const T* src, int64_t row, const int64_t* idx, int64_t k, int64_t rows, cudaStream_t stream) {
  if (k <= 0 || row <= 0) return 0;
  const int64_t total = k * row;
  index_add_kernel<T><<<grid_for(total), kThreads, 0, stream>>>(out, src, row, idx, rows, total);
  return launch_status();
}

#define INSTANTIATE(T)                                                                                          \
  template int unary_cuda<T>(UnaryOp, T*, const T*, int64_t, double, cudaStream_t);                             \
  template int uniform_cuda<T>(T*, int64_t, double, double, uint64_t, cudaStream_t);                            \
  template int normal_cuda<T>(T*, int64_t, double, double, uint64_t, cudaStream_t);                             \
  template int index_add_rows_cuda<T>(T*, const T*, int64_t, const int64_t*, int64_t, int64_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

#define INSTANTIATE_BINARY(T)                                                                                   \
  template int binary_cuda<T>(BinaryOp, T*, const T*, const std::vector<int64_t>&, const T*,                    \
                              const std::vector<int64_t>&, const std::vector<int64_t>&, cudaStream_t);     \
  template int where_cuda<T>(T*, const uint8_t*, const std::vector<int64_t>&, const T*, const std::vector<int64_t>&, \
                             const T*, const std::vector<int64_t>&, const std::vector<int64_t>&, cudaStream_t);
INSTANTIATE_BINARY(float)
INSTANTIATE_BINARY(double)
INSTANTIATE_BINARY(int32_t)
INSTANTIATE_BINARY(int64_t)
INSTANTIATE_BINARY(uint8_t)
#undef INSTANTIATE_BINARY

}  // namespace tensile
