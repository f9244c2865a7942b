// bfloat16 and float16 storage types: 16 bits each, converted to and from float with round to
// nearest even (NaN stays NaN, a finite value past the largest rounds to infinity, float16 keeps
// its subnormals). Any other type converts through float, as PyTorch's c10::BFloat16 and c10::Half
// do. Usable from host code and CUDA kernels alike.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TENSILE_HD __host__ __device__ __forceinline__
#else
#define TENSILE_HD inline
#endif

namespace tensile {

TENSILE_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

TENSILE_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// bfloat16 is float's upper half: rounding adds half an ulp of the kept part, plus one when the kept
// part is odd (ties to even). A NaN keeps its sign and top bits and is made quiet, so that rounding
// cannot turn it into infinity.
TENSILE_HD uint16_t float_to_bf16_bits(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

TENSILE_HD float bf16_bits_to_float(uint16_t b) { return bits_float(uint32_t(b) << 16); }

// float -> IEEE half, round to nearest even, after FP16 (Maratyszcza): the float arithmetic does the
// rounding. Scaling by 2^112 then 2^-110 saturates values past the half range to infinity and
// leaves the rest unchanged; adding a power of two chosen from the exponent (at least 2^-14, the
// smallest normal half) makes the float unit round the mantissa to the half's 10 bits, subnormals
// included. Needs IEEE float arithmetic without flush-to-zero (the default for C++ and nvcc).
TENSILE_HD uint16_t float_to_f16_bits(float f) {
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  const uint32_t w = float_bits(f);
  float base = ((w & 0x7fffffffu) > 0x7f800000u ? 0.0f : (f < 0 ? -f : f)) * scale_to_inf * scale_to_zero;
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xff000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = bits_float((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = float_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007c00u;
  const uint32_t mantissa_bits = bits & 0x00000fffu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return uint16_t((sign >> 16) | (shl1_w > 0xff000000u ? 0x7e00u : nonsign));
}

// IEEE half -> float, exact: normals by rebiasing the exponent (a multiply by 2^-112 fixes what the
// shift leaves), subnormals as the mantissa over a magic float, minus that float.
TENSILE_HD float f16_bits_to_float(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = bits_float((two_w >> 4) + (0xe0u << 23)) * 0x1.0p-112f;
  const float denormalized = bits_float((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t result = sign | (two_w < (1u << 27) ? float_bits(denormalized) : float_bits(normalized));
  return bits_float(result);
}

// The storage types. Arithmetic happens in float: every conversion goes through it.
struct BFloat16 {
  uint16_t bits;
  BFloat16() = default;
  template <typename T>
  TENSILE_HD explicit BFloat16(T v) : bits(float_to_bf16_bits(float(v))) {}
  TENSILE_HD operator float() const { return bf16_bits_to_float(bits); }
};

struct Float16 {
  uint16_t bits;
  Float16() = default;
  template <typename T>
  TENSILE_HD explicit Float16(T v) : bits(float_to_f16_bits(float(v))) {}
  TENSILE_HD operator float() const { return f16_bits_to_float(bits); }
};

}  // namespace tensile
