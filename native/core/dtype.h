// Element types as the binding sees them. The codes are part of the JS<->native contract and
// must match DTYPE_CODE in lib/dtype.ts.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tensile {

// BFloat16 and Float16 are storage types for now (native/core/half.h): casts, fills and copies.
enum class DType : int { Float32 = 0, Float64 = 1, Int32 = 2, Int64 = 3, Uint8 = 4, Bool = 5, BFloat16 = 6, Float16 = 7 };

inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Uint8: return 1;
    case DType::Bool: return 1;
    case DType::BFloat16: return 2;
    case DType::Float16: return 2;
  }
  return 1;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Uint8: return "uint8";
    case DType::Bool: return "bool";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

}  // namespace tensile
