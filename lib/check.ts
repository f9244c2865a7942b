// Argument checks shared by the public entry points, so that every op words a bad argument the
// same way: `add: expected a Tensor or a number for 'other', got string`. What runs on every call
// is a typeof or instanceof test and a field read (no allocation, nothing built); the message is
// only made when a check fails.
import { DTYPES, DType, ITEM_SIZE } from './dtype';
import { DTypeError, ShapeError, TensileError, ValueError, fmtShape } from './errors';
import { Tensor } from './tensor';

/** How a value reads in a message: string, null, an array, a Float32Array, NaN, a disposed Tensor of shape [2, 3]. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Tensor) return `${v.isDisposed ? 'a disposed' : 'a'} Tensor of shape ${fmtShape(v.shape)}`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name;
    return name && name !== 'Object' ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}` : 'an object';
  }
  return typeof v; // string, undefined, function, symbol
}

/** The error for a tensor argument used after dispose() (its memory may already serve another tensor). */
export function disposedError(op: string, t: Tensor, arg?: string): ValueError {
  return new ValueError(`${op}: ${arg ? `'${arg}' (a tensor of shape ${fmtShape(t.shape)})` : `a tensor of shape ${fmtShape(t.shape)}`} was used after dispose()`);
}

function badTensor(v: unknown, op: string, arg: string, expected: string): TensileError {
  return v instanceof Tensor ? disposedError(op, v, arg) : new ValueError(`${op}: expected ${expected} for '${arg}', got ${describe(v)}`);
}

/** A Tensor that was not disposed. */
export function checkTensor(v: unknown, op: string, arg: string): asserts v is Tensor {
  if (!(v instanceof Tensor) || v.isDisposed) throw badTensor(v, op, arg, 'a Tensor');
}

/** A Tensor that was not disposed, or a JS number (PyTorch's Python scalar). */
export function checkTensorOrNumber(v: unknown, op: string, arg: string): asserts v is Tensor | number {
  if (typeof v !== 'number' && (!(v instanceof Tensor) || v.isDisposed)) throw badTensor(v, op, arg, 'a Tensor or a number');
}

/** null, undefined, or a Tensor that was not disposed (an optional bias, weight, gradient). */
export function checkOptionalTensor(v: unknown, op: string, arg: string): asserts v is Tensor | null | undefined {
  if (v !== null && v !== undefined && (!(v instanceof Tensor) || v.isDisposed)) throw badTensor(v, op, arg, 'a Tensor or null');
}

/** A trailing options object: catches PyTorch-style positional options (`F.dropout(x, 0.2)`), which would otherwise be ignored. */
export function checkOptions(v: unknown, op: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValueError(`${op}: expected an options object for 'options', got ${describe(v)}`);
}

/** A JS function (tidy, noGrad): says so before the call fails with "fn is not a function". */
export function checkFunction(v: unknown, op: string, arg: string): void {
  if (typeof v !== 'function') throw new ValueError(`${op}: expected a function for '${arg}', got ${describe(v)}`);
}

/** null, undefined or a number (clamp's bounds). */
export function checkOptionalNumber(v: unknown, op: string, arg: string): void {
  if (v !== null && v !== undefined && typeof v !== 'number') throw new ValueError(`${op}: expected a number or null for '${arg}', got ${describe(v)}`);
}

/** A finite number. */
export function checkFinite(v: unknown, op: string, arg: string): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${op}: expected a finite number for '${arg}', got ${describe(v)}`);
}

/** An integer that a double holds exactly, at least `min`. */
export function checkInteger(v: unknown, op: string, arg: string, min = -Infinity): asserts v is number {
  if (!Number.isSafeInteger(v) || (v as number) < min) {
    const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : 'an integer';
    throw new ValueError(`${op}: expected ${what} for '${arg}', got ${describe(v)}`);
  }
}

/** A dtype name tensile knows: a DTypeError listing them otherwise ('float16', a typo, a PyTorch name). */
export function checkDType(v: unknown, op: string): asserts v is DType {
  // typeof, not `in`: ITEM_SIZE inherits 'toString' and friends from Object.prototype
  if (typeof ITEM_SIZE[v as DType] !== 'number') {
    throw new DTypeError(`${op}: unknown dtype ${typeof v === 'string' ? `'${v}'` : describe(v)} (expected one of ${DTYPES.map((d) => `'${d}'`).join(', ')})`);
  }
}

/**
 * The most elements a tensor may have: the native kernels take sizes below 2^48 (kMaxSize in
 * native/binding/util.h), and below it the byte count is exact in a double. Past it the native
 * allocator used to see an overflowed size ("alloc: negative size -9223372036854775808").
 */
export const MAX_NUMEL = 2 ** 48;

/** `shape` is an array of non-negative integers with fewer than MAX_NUMEL elements; `what` names it. */
export function checkShape(shape: unknown, op: string, what = 'shape'): asserts shape is number[] {
  if (!Array.isArray(shape)) throw new ValueError(`${op}: expected an array of sizes for '${what}', got ${describe(shape)}`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${op}: invalid ${what} ${fmtShape(shape)}: sizes must be non-negative integers`);
  }
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  if (!(n < MAX_NUMEL)) throw tooLargeError(shape, op, what);
}

/**
 * The error for a shape of MAX_NUMEL elements or more; ops whose output shape comes from options (a
 * convolution's padding) say which shape (`what`) and where it came from (`context`).
 */
export function tooLargeError(shape: readonly number[], op: string, what: string, context = ''): ValueError {
  const exact = shape.reduce((a, d) => a * BigInt(d), 1n);
  return new ValueError(`${op}: ${what} ${fmtShape(shape)} is too large: ${exact} elements, more than the limit of 2^48 (${MAX_NUMEL})${context}`);
}

// Each integer dtype's range, as PyTorch checks a fill value (c10's checked_convert): a value
// outside it (NaN and infinities included) cannot be stored without overflow. int64's upper end
// is the largest double below 2^63.
const INT_RANGE: Partial<Record<DType, readonly [number, number]>> = { int32: [-(2 ** 31), 2 ** 31 - 1], int64: [-(2 ** 63), 2 ** 63 - 1024], uint8: [0, 255] };
// The largest finite value of each floating dtype that checks a scalar (float64 takes any number).
const FLOAT_MAX: Partial<Record<DType, number>> = { float32: 3.4028234663852886e38, bfloat16: 3.3895313892515355e38, float16: 65504 };

/**
 * A scalar that fits `dtype` (full, fill_, a number operand, randint's bounds): a ValueError as
 * PyTorch's "value cannot be converted to type int32 without overflow" otherwise. Fractions are
 * truncated toward zero into integer dtypes, as in PyTorch; bool takes any number (nonzero is
 * true); float32 takes infinities and NaN but not finite values past its range. `dtype` must be
 * known (checkDType). Returns the value as a number (booleans become 0 or 1).
 */
export function checkScalar(v: unknown, dtype: DType, op: string, arg = 'value'): number {
  if (typeof v !== 'number') {
    if (typeof v === 'boolean') return v ? 1 : 0;
    throw new ValueError(`${op}: expected a number for '${arg}', got ${describe(v)}`);
  }
  const range = INT_RANGE[dtype];
  const max = FLOAT_MAX[dtype];
  const fits = range ? v >= range[0] && v <= range[1] : max === undefined || !(Math.abs(v) > max) || !Number.isFinite(v);
  if (fits) return v;
  throw new ValueError(`${op}: value ${v}${arg === 'value' ? '' : ` (${arg})`} cannot be converted to type ${dtype} without overflow`);
}
