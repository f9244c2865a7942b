// Reductions: sum, mean, max/min (values and indices), argmax/argmin, and sumToShape, the
// backward of broadcasting. The native kernel reduces one dim of an (outer, r, inner) view.
import { record } from '../autograd';
import { checkTensor } from '../check';
import { DTYPE_CODE, isFloating } from '../dtype';
import { native } from '../native';
import { Tensor, empty, numelOf } from '../tensor';
import { cast, compare, div, mul } from './elementwise';
import { clone, expand, normDim, reshape, unsqueeze } from './shape';

export const REDUCE_OP = { sum: 0, mean: 1, max: 2, min: 3, argmax: 4, argmin: 5 } as const;
type ReduceName = keyof typeof REDUCE_OP;

function normDims(x: Tensor, dim: number | number[] | undefined, op: string): number[] {
  checkTensor(x, op, 'input');
  // no dim, or an empty list, reduces over every dim (PyTorch's sum(dim=[]))
  if (dim === undefined || (Array.isArray(dim) && dim.length === 0)) return x.shape.map((_, i) => i);
  const dims = (Array.isArray(dim) ? dim : [dim]).map((d) => normDim(d, x.ndim, op));
  return [...new Set(dims)].sort((a, b) => a - b);
}

/** One native reduction of dim d; keeps d as size 1. */
function reduceOne(op: ReduceName, x: Tensor, d: number, withIndices: boolean): { out: Tensor | null; idx: Tensor | null } {
  const c = x.contiguous();
  const outer = numelOf(c.shape.slice(0, d));
  const r = c.shape[d] ?? 1;
  const inner = numelOf(c.shape.slice(d + 1));
  const shape = c.shape.slice();
  if (shape.length) shape[d] = 1;
  const isArg = op === 'argmax' || op === 'argmin';
  const out = isArg ? null : empty(shape, { dtype: c.dtype, device: c.device });
  const idx = withIndices || isArg ? empty(shape, { dtype: 'int64', device: c.device }) : null;
  native.reduceDim(REDUCE_OP[op], out ? out.handle : idx!.handle, 0, idx ? idx.handle : null, 0, c.handle, c.offset, outer, r, inner, DTYPE_CODE[c.dtype]);
  return { out, idx };
}

function dropDims(shape: number[], dims: number[]): number[] {
  return shape.filter((_, i) => !dims.includes(i));
}

function sumRaw(x: Tensor, dims: number[], keepdim: boolean): Tensor {
  let t = x;
  for (let k = dims.length - 1; k >= 0; k--) t = reduceOne('sum', t, dims[k], false).out!;
  // a reduction always returns a new tensor, even over no dims (a 0-d input)
  if (t === x) t = clone(x);
  return keepdim ? t : reshape(t, dropDims(x.shape, dims));
}

/** Gradient of a reduction: g (reduced shape) broadcast back over the reduced dims of `shape`. */
function expandBack(g: Tensor, shape: number[], dims: number[], keepdim: boolean): Tensor {
  let t = g;
  if (!keepdim) for (const d of dims) t = unsqueeze(t, d);
  return expand(t, shape);
}

export function sum(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  const dims = normDims(x, dim, 'sum');
  const src = isFloating(x.dtype) ? x : cast(x, 'int64');
  const out = sumRaw(src, dims, keepdim);
  return record('sum', out, [x], (g) => [expandBack(g, x.shape, dims, keepdim)]);
}

export function mean(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  const dims = normDims(x, dim, 'mean');
  const n = numelOf(dims.map((d) => x.shape[d]));
  const src = isFloating(x.dtype) ? x : cast(x, 'float32');
  const out = mul(sumRaw(src, dims, keepdim), 1 / n);
  return record('mean', out, [x], (g) => [expandBack(mul(g, 1 / n), x.shape, dims, keepdim)]);
}

/** Global max/min; the gradient is shared evenly among tied maxima (PyTorch's amax rule). */
function extremeAll(x: Tensor, op: 'max' | 'min'): Tensor {
  checkTensor(x, op, 'input');
  const flat = reshape(x, [x.numel()]);
  const out = reshape(reduceOne(op, flat, 0, false).out!, []);
  return record(op, out, [x], (g) => {
    const mask = cast(compare('eq', x, out), g.dtype);
    return [mul(div(mask, sum(mask)), g)];
  });
}

export function maxAll(x: Tensor): Tensor {
  return extremeAll(x, 'max');
}

export function minAll(x: Tensor): Tensor {
  return extremeAll(x, 'min');
}

/** max/min along dim: values and int64 indices; the gradient goes to the selected index. */
export function maxDim(x: Tensor, dim: number, keepdim: boolean, op: 'max' | 'min'): { values: Tensor; indices: Tensor } {
  checkTensor(x, op, 'input');
  const d = normDim(dim, x.ndim, op);
  const { out, idx } = reduceOne(op, x, d, true);
  const shape = keepdim ? out!.shape : dropDims(out!.shape, [d]);
  const values = reshape(out!, shape);
  const indices = reshape(idx!, shape);
  record(op, values, [x], (g) => {
    const positions = reshape(arangeLike(x.shape[d], x.device), x.shape.map((_, i) => (i === d ? x.shape[d] : 1)));
    const picked = keepdim ? idx! : unsqueeze(indices, d);
    const onehot = cast(compare('eq', positions, picked), g.dtype);
    return [mul(onehot, keepdim ? g : unsqueeze(g, d))];
  });
  return { values, indices };
}

function arangeLike(n: number, device: Tensor['device']): Tensor {
  const t = empty([n], { dtype: 'int64', device });
  const buf = new BigInt64Array(n);
  for (let i = 0; i < n; i++) buf[i] = BigInt(i);
  native.write(t.handle, 0, buf);
  return t;
}

export function argmax(x: Tensor, dim: number | undefined, keepdim: boolean, op: 'argmax' | 'argmin'): Tensor {
  checkTensor(x, op, 'input');
  if (dim === undefined) {
    const r = reduceOne(op, reshape(x, [x.numel()]), 0, true).idx!;
    return keepdim ? reshape(r, x.shape.map(() => 1)) : reshape(r, []);
  }
  const d = normDim(dim, x.ndim, op);
  const idx = reduceOne(op, x, d, true).idx!;
  return keepdim ? idx : reshape(idx, dropDims(idx.shape, [d]));
}

/** Sums g over the dims that broadcasting expanded, giving a tensor of `shape`. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((s, i) => s === shape[i])) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  const s = dims.length ? sum(g, dims, true) : g;
  return reshape(s, shape.slice());
}
