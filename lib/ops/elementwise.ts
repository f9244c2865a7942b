// Element-wise arithmetic with NumPy broadcasting, and its gradients. One native call per op:
// operands are read through broadcast strides, never materialised at the full shape.
import { record } from '../autograd';
import { checkOptionalNumber, checkTensor, checkTensorOrNumber } from '../check';
import { DType, DTYPE_CODE, isFloating, promoteTypes } from '../dtype';
import { DeviceError, DTypeError, ShapeError, fmtShape } from '../errors';
import { native } from '../native';
import { Tensor, empty, full, fullOf } from '../tensor';
import { sumToShape } from './reduce';

// Codes shared with native/ops/elementwise.h.
export const UNARY_OP = { neg: 0, exp: 1, log: 2, sqrt: 3, abs: 4, sign: 5, reciprocal: 6, square: 7, powScalar: 8, addScalar: 9, mulScalar: 10, rsubScalar: 11, sin: 12, cos: 13, clampMin: 14, clampMax: 15, floor: 16, ceil: 17, round: 18 } as const;
export const BINARY_OP = { add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, minimum: 6, eq: 7, ne: 8, lt: 9, le: 10, gt: 11, ge: 12 } as const;
type UnaryName = keyof typeof UNARY_OP;
type BinaryName = keyof typeof BINARY_OP;

export function broadcastShapes(a: readonly number[], b: readonly number[], op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} are not broadcastable (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read `t` as if expanded to `shape` (0 on broadcast dims). */
export function broadcastStrides(t: Tensor, shape: readonly number[]): number[] {
  const n = shape.length;
  const st = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const j = t.ndim - n + i;
    st[i] = j < 0 || t.shape[j] === 1 ? 0 : t.strides[j];
  }
  return st;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** DeviceError `op: expected all tensors on the same device, but got cuda:0 (input) and cpu (other)`. */
export function checkSameDevice(op: string, a: Tensor, b: Tensor, aName = 'input', bName = 'other'): void {
  if (a.storage.device !== b.storage.device) throw new DeviceError(`${op}: expected all tensors on the same device, but got ${a.device} (${aName}) and ${b.device} (${bName})`);
}

/** Raw broadcasting binary op, no autograd; `dtype` is the compute (and output) dtype. */
function binaryRaw(name: BinaryName, a: Tensor, b: Tensor, dtype: DType): Tensor {
  checkSameDevice(name, a, b);
  if (a.dtype !== dtype) a = cast(a, dtype);
  if (b.dtype !== dtype) b = cast(b, dtype);
  if (sameShape(a.shape, b.shape) && a.isContiguous() && b.isContiguous()) {
    // the common case, with no stride arrays to build or read
    const out = empty(a.shape, { dtype, device: a.device });
    native.binaryContiguous(BINARY_OP[name], out.handle, 0, a.handle, a.offset, b.handle, b.offset, out.numel(), DTYPE_CODE[dtype]);
    return out;
  }
  const shape = broadcastShapes(a.shape, b.shape, name);
  const out = empty(shape, { dtype, device: a.device });
  native.binary(BINARY_OP[name], out.handle, 0, a.handle, a.offset, broadcastStrides(a, shape), b.handle, b.offset, broadcastStrides(b, shape), shape, DTYPE_CODE[dtype]);
  return out;
}

/** The entry points check x (checkTensor) before calling this. */
function unaryRaw(name: UnaryName, x: Tensor, scalar = 0): Tensor {
  if (!isFloating(x.dtype)) throw new DTypeError(`${name}: expected a float32 or float64 tensor but got ${x.dtype}`);
  const c = x.contiguous();
  const out = empty(c.shape, { dtype: c.dtype, device: c.device });
  native.unary(UNARY_OP[name], out.handle, 0, c.handle, c.offset, c.numel(), DTYPE_CODE[c.dtype], scalar);
  return out;
}

/** The operands as tensors and their compute dtype; `op` names a number that does not fit (uint8 + 300). */
function operands(a: Tensor, b: Tensor | number, op: string, keepBool = false): [Tensor, Tensor, DType] {
  checkTensor(a, op, 'input');
  checkTensorOrNumber(b, op, 'other');
  if (typeof b === 'number') {
    // A JS number is PyTorch's Python scalar: it never widens a tensor within its category (an
    // int keeps int32, a float keeps float32), a fractional number makes integer tensors float32,
    // and a bool tensor meets an integer as int64.
    const dtype: DType = isFloating(a.dtype) ? a.dtype : !Number.isInteger(b) ? 'float32' : a.dtype === 'bool' ? 'int64' : a.dtype;
    return [a, fullOf(op, [], b, { dtype, device: a.device }), dtype];
  }
  let dtype = promoteTypes(a.dtype, b.dtype);
  if (dtype === 'bool' && !keepBool) dtype = 'int64';
  return [a, b, dtype];
}

// ---------------------------------------------------------------------------------------------
// differentiable ops

/** a + alpha * b. */
export function add(a: Tensor, b: Tensor | number, alpha = 1): Tensor {
  if (typeof b === 'number') return addScalar(a, b * alpha);
  if (alpha !== 1) {
    checkTensor(b, 'add', 'other');
    return add(a, mul(b, alpha));
  }
  const [x, y, dt] = operands(a, b, 'add');
  const out = binaryRaw('add', x, y, dt);
  return record('add', out, [a, b], (g) => [sumToShape(g, a.shape), sumToShape(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return addScalar(a, -b, 'sub');
  const [x, y, dt] = operands(a, b, 'sub');
  const out = binaryRaw('sub', x, y, dt);
  return record('sub', out, [a, b], (g) => [sumToShape(g, a.shape), b.requiresGrad ? sumToShape(neg(g), b.shape) : null]);
}

export function mul(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') {
    checkTensor(a, 'mul', 'input');
    const out = isFloating(a.dtype) ? unaryRaw('mulScalar', a, b) : binaryRaw('mul', ...operands(a, b, 'mul'));
    return record('mul', out, [a], (g) => [mul(g, b)]);
  }
  const [x, y, dt] = operands(a, b, 'mul');
  const out = binaryRaw('mul', x, y, dt);
  return record('mul', out, [a, b], (g) => [
    a.requiresGrad ? sumToShape(mul(g, b), a.shape) : null,
    b.requiresGrad ? sumToShape(mul(g, a), b.shape) : null,
  ]);
}

/** True division: integer operands give float32, as in PyTorch. */
export function div(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') {
    // a true division (not a multiplication by 1/b, which is not exact: 49 * (1/49) != 1)
    const [x, y, dt0] = operands(a, b, 'div');
    const out = binaryRaw('div', x, y, isFloating(dt0) ? dt0 : 'float32');
    return record('div', out, [a], (g) => [div(g, b)]);
  }
  const [x, y, dt0] = operands(a, b, 'div');
  const dt = isFloating(dt0) ? dt0 : 'float32';
  const out = binaryRaw('div', x, y, dt);
  return record('div', out, [a, b], (g) => [
    a.requiresGrad ? sumToShape(div(g, b), a.shape) : null,
    // d(a/b)/db = -a/b^2 = -out/b
    b.requiresGrad ? sumToShape(neg(div(mul(g, out), b)), b.shape) : null,
  ]);
}

export function pow(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') {
    checkTensor(a, 'pow', 'input');
    const out = unaryRaw('powScalar', a, b);
    return record('pow', out, [a], (g) => [mul(g, mul(powScalarRaw(a, b - 1), b))]);
  }
  const [x, y, dt] = operands(a, b, 'pow');
  const out = binaryRaw('pow', x, y, dt);
  return record('pow', out, [a, b], (g) => [
    a.requiresGrad ? sumToShape(mul(g, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
    // d(a^b)/db = a^b ln a, defined as 0 where a == 0 and b >= 0 (PyTorch's masked_fill)
    b.requiresGrad ? sumToShape(where(binaryRaw('minimum', compare('eq', a, 0), compare('ge', b, 0), 'bool'), 0, mul(g, mul(out, log(a)))), b.shape) : null,
  ]);
}

function powScalarRaw(a: Tensor, p: number): Tensor {
  return p === 0 ? full(a.shape, 1, { dtype: a.dtype, device: a.device }) : pow(a, p);
}

export function addScalar(a: Tensor, s: number, op = 'add'): Tensor {
  checkTensor(a, op, 'input');
  const out = isFloating(a.dtype) ? unaryRaw('addScalar', a, s) : binaryRaw('add', ...operands(a, s, op));
  return record('add', out, [a], (g) => [g]);
}

export function neg(x: Tensor): Tensor {
  checkTensor(x, 'neg', 'input');
  const out = unaryRaw('neg', x);
  return record('neg', out, [x], (g) => [neg(g)]);
}

export function exp(x: Tensor): Tensor {
  checkTensor(x, 'exp', 'input');
  const out = unaryRaw('exp', x);
  return record('exp', out, [x], (g) => [mul(g, out)]);
}

export function log(x: Tensor): Tensor {
  checkTensor(x, 'log', 'input');
  const out = unaryRaw('log', x);
  return record('log', out, [x], (g) => [div(g, x)]);
}

export function sqrt(x: Tensor): Tensor {
  checkTensor(x, 'sqrt', 'input');
  const out = unaryRaw('sqrt', x);
  // d sqrt(x) = 1 / (2 sqrt(x))
  return record('sqrt', out, [x], (g) => [div(g, mul(out, 2))]);
}

export function abs(x: Tensor): Tensor {
  checkTensor(x, 'abs', 'input');
  const out = unaryRaw('abs', x);
  return record('abs', out, [x], (g) => [mul(g, unaryRaw('sign', x))]);
}

export function sign(x: Tensor): Tensor {
  checkTensor(x, 'sign', 'input');
  return unaryRaw('sign', x);
}

export function maximum(a: Tensor, b: Tensor): Tensor {
  return minmax('maximum', a, b);
}

export function minimum(a: Tensor, b: Tensor): Tensor {
  return minmax('minimum', a, b);
}

function minmax(name: 'maximum' | 'minimum', a: Tensor, b: Tensor): Tensor {
  checkTensor(b, name, 'other');
  const [x, y, dt] = operands(a, b, name);
  const out = binaryRaw(name, x, y, dt);
  return record(name, out, [a, b], (g) => {
    // Ties split the gradient evenly, as PyTorch does.
    const aWins = cast(binaryRaw(name === 'maximum' ? 'gt' : 'lt', x, y, dt), g.dtype);
    const tie = cast(binaryRaw('eq', x, y, dt), g.dtype);
    const wa = add(aWins, mul(tie, 0.5));
    return [a.requiresGrad ? sumToShape(mul(g, wa), a.shape) : null, b.requiresGrad ? sumToShape(mul(g, sub(onesLikeOf(wa), wa)), b.shape) : null];
  });
}

function onesLikeOf(t: Tensor): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, device: t.device });
}

/** clamp(x, min, max); the gradient passes where min <= x <= max. */
export function clamp(x: Tensor, min: number | null, max: number | null): Tensor {
  checkTensor(x, 'clamp', 'input');
  checkOptionalNumber(min, 'clamp', 'min');
  checkOptionalNumber(max, 'clamp', 'max');
  let out = x;
  if (min !== null) out = unaryRaw('clampMin', out, min);
  if (max !== null) out = unaryRaw('clampMax', out, max);
  if (out === x) out = unaryRaw('mulScalar', x, 1);
  return record('clamp', out, [x], (g) => {
    let mask = full(x.shape, 1, { dtype: g.dtype, device: g.device });
    if (min !== null) mask = mul(mask, cast(compare('ge', x, min), g.dtype));
    if (max !== null) mask = mul(mask, cast(compare('le', x, max), g.dtype));
    return [mul(g, mask)];
  });
}

export function compare(name: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Tensor, b: Tensor | number): Tensor {
  const [x, y, dt] = operands(a, b, name, true);
  return cast(binaryRaw(name, x, y, dt), 'bool');
}

/** Type conversion; differentiable between floating types. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const c = x.contiguous();
  const out = empty(c.shape, { dtype, device: c.device });
  native.cast(out.handle, 0, DTYPE_CODE[dtype], c.handle, c.offset, DTYPE_CODE[c.dtype], c.numel());
  if (!isFloating(dtype)) return out;
  return record('cast', out, [x], (g) => [cast(g, x.dtype)]);
}

/**
 * where(cond, a, b): elements of a where cond is true, else of b, all three broadcast together.
 * It selects (an inf or NaN in the branch not taken never leaks); differentiable in a and b.
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  checkTensor(cond, 'where', 'condition');
  checkTensorOrNumber(a, 'where', 'input');
  checkTensorOrNumber(b, 'where', 'other');
  if (cond.dtype !== 'bool' && cond.dtype !== 'uint8') throw new DTypeError(`where: expected a bool condition but got ${cond.dtype}`);
  const like = typeof a === 'number' ? (typeof b === 'number' ? null : b) : a;
  const dtype: DType = like ? (typeof a !== 'number' && typeof b !== 'number' ? promoteTypes(a.dtype, b.dtype) : like.dtype) : 'float32';
  const device = like ? like.device : cond.device;
  const at = typeof a === 'number' ? fullOf('where', [], a, { dtype, device }) : a;
  const bt = typeof b === 'number' ? fullOf('where', [], b, { dtype, device }) : b;
  checkSameDevice('where', cond, at, 'condition', typeof a === 'number' ? 'other' : 'input');
  checkSameDevice('where', at, bt);
  const x = at.dtype === dtype ? at : cast(at, dtype);
  const y = bt.dtype === dtype ? bt : cast(bt, dtype);
  const shape = broadcastShapes(broadcastShapes(cond.shape, x.shape, 'where'), y.shape, 'where');
  const out = empty(shape, { dtype, device });
  native.where(out.handle, 0, cond.handle, cond.offset, broadcastStrides(cond, shape), x.handle, x.offset, broadcastStrides(x, shape), y.handle, y.offset, broadcastStrides(y, shape), shape, DTYPE_CODE[dtype]);
  return record('where', out, [at, bt], (g) => [
    at.requiresGrad ? sumToShape(where(cond, g, 0), at.shape) : null,
    bt.requiresGrad ? sumToShape(where(cond, 0, g), bt.shape) : null,
  ]);
}
