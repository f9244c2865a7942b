// Element types: names as PyTorch spells them (without the `torch.` prefix), codes shared with
// native/core/dtype.h, and the typed arrays that carry each one across the boundary.

// bfloat16 and float16 are storage dtypes for now: casts both ways (round to nearest even), fills,
// copies, moves and safetensors BF16/F16; their elements read back as float32 numbers. Arithmetic
// on them raises a DTypeError naming the op (cast to float32 first).
export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool' | 'bfloat16' | 'float16';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool', 'bfloat16', 'float16'];

export const DTYPE_CODE: Record<DType, number> = { float32: 0, float64: 1, int32: 2, int64: 3, uint8: 4, bool: 5, bfloat16: 6, float16: 7 };

export const ITEM_SIZE: Record<DType, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, bool: 1, bfloat16: 2, float16: 2 };

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export const TYPED_ARRAY: Record<DType, { new (buf: ArrayBufferLike, off?: number, len?: number): TypedArray; new (n: number): TypedArray }> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  // the raw 16-bit patterns (Tensor.data converts them to float32 numbers)
  bfloat16: Uint16Array,
  float16: Uint16Array,
};

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'bfloat16' || d === 'float16';
}

/** The 16-bit floating dtypes (storage only for now). */
export function isHalf(d: DType): boolean {
  return d === 'bfloat16' || d === 'float16';
}

const PROMOTION_RANK: Record<DType, number> = { bool: 0, uint8: 1, int32: 2, int64: 3, bfloat16: 4, float16: 4, float32: 5, float64: 6 };

// The dtype PyTorch's type promotion gives two operands (ignoring 0-dim special cases): bfloat16
// with float16 gives float32, as in PyTorch.
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if (isHalf(a) && isHalf(b)) return 'float32';
  return PROMOTION_RANK[a] > PROMOTION_RANK[b] ? a : b;
}

/** The value of an IEEE half-precision bit pattern (exact in float32). */
export function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 values of bfloat16 (top halves of float32) or float16 bit patterns. */
export function halfBitsToFloat32(bits: Uint16Array, dtype: 'bfloat16' | 'float16'): Float32Array {
  if (dtype === 'bfloat16') {
    const wide = new Uint32Array(bits.length);
    for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
    return new Float32Array(wide.buffer);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16ToNumber(bits[i]);
  return out;
}

export function dtypeOfTypedArray(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array) return 'uint8';
  throw new TypeError(`Expected a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array but received ${a.constructor.name}`);
}
