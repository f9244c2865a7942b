// Element types: names as PyTorch spells them (without the `torch.` prefix), codes shared with
// native/core/dtype.h, and the typed arrays that carry each one across the boundary.

export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'];

export const DTYPE_CODE: Record<DType, number> = { float32: 0, float64: 1, int32: 2, int64: 3, uint8: 4, bool: 5 };

export const ITEM_SIZE: Record<DType, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, bool: 1 };

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export const TYPED_ARRAY: Record<DType, { new (buf: ArrayBufferLike, off?: number, len?: number): TypedArray; new (n: number): TypedArray }> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

// The dtype PyTorch's type promotion gives two operands (ignoring 0-dim special cases).
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const order: DType[] = ['bool', 'uint8', 'int32', 'int64', 'float32', 'float64'];
  return order.indexOf(a) > order.indexOf(b) ? a : b;
}

export function dtypeOfTypedArray(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array) return 'uint8';
  throw new TypeError(`Expected a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array but received ${a.constructor.name}`);
}
