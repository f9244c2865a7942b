// tensile's error classes. Native code throws these too: lib/native.ts hands the constructors to
// the addon once (`initialize`), as better-sqlite3 does with SqliteError.

export class TensileError extends Error {
  constructor(message: string) {
    super(message);
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false, configurable: true });
    if (Error.captureStackTrace) Error.captureStackTrace(this, new.target);
  }
}

/** Shapes that do not fit together: broadcasting, matmul, channels, reshape sizes. */
export class ShapeError extends TensileError {}
/** An operand of the wrong element type (a float label, an int tensor where float is needed). */
export class DTypeError extends TensileError {}
/** Tensors on different devices, or a device that is not available. */
export class DeviceError extends TensileError {}
/** An index or label out of range. */
export class IndexError extends TensileError {}
/** A dataset or checkpoint file that is missing, truncated or corrupt. */
export class DataError extends TensileError {}
/** The allocator could not satisfy a request even after freeing its cache. */
export class OutOfMemoryError extends TensileError {}
/** A bad argument value: a negative learning rate, p outside [0, 1], an unknown option. */
export class ValueError extends TensileError {}
/** Misuse of autograd: backward on a non-scalar without a gradient, a freed graph. */
export class AutogradError extends TensileError {}

export const ERROR_CLASSES = { Error: TensileError, ShapeError, DTypeError, DeviceError, IndexError, DataError, OutOfMemoryError, ValueError };

/** Formats a shape the way messages print it: [20, 3, 28, 28]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
