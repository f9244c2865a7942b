// Views and copies: reshape, permute, narrow, expand share storage with their input; contiguous,
// clone, cat and indexSelect copy. Each records the backward that undoes its index mapping.
import { record } from '../autograd';
import { checkTensor, describe } from '../check';
import { DTYPE_CODE } from '../dtype';
import { DeviceError, DTypeError, IndexError, ShapeError, ValueError, fmtShape } from '../errors';
import { native } from '../native';
import { Tensor, contiguousStrides, empty, numelOf, zeros } from '../tensor';
import { sumToShape } from './reduce';

export function normDim(dim: number, ndim: number, op: string): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new IndexError(`${op}: dimension ${dim} is out of range for a tensor with ${ndim} dimensions (expected to be in [${-n}, ${n - 1}])`);
  }
  return dim < 0 ? dim + n : dim;
}

/** A shape given as sizes or as one array (x.view(2, 3), x.view([2, 3])). */
export function shapeArgs(args: (number | number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as number[]).slice() : (args as number[]);
}

function inferShape(x: Tensor, shape: number[], op: string): number[] {
  checkTensor(x, op, 'input');
  if (!Array.isArray(shape)) throw new ValueError(`${op}: expected an array of sizes for 'shape', got ${describe(shape)}`);
  const n = x.numel();
  const out = shape.slice();
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    if (out.indexOf(-1, neg + 1) >= 0) throw new ShapeError(`${op}: only one dimension can be inferred, got ${fmtShape(shape)}`);
    const known = numelOf(out.filter((_, i) => i !== neg));
    if (known === 0 || n % known !== 0) throw new ShapeError(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${n} (shape ${fmtShape(x.shape)})`);
    out[neg] = n / known;
  }
  if (numelOf(out) !== n || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${n} (shape ${fmtShape(x.shape)})`);
  }
  return out;
}

function viewOf(x: Tensor, shape: number[], strides: number[], offset: number): Tensor {
  return new Tensor(x.storage, shape, strides, offset, x.dtype);
}

export function view(x: Tensor, shape: number[]): Tensor {
  return viewAs(x, inferShape(x, shape, 'view'));
}

/** The view of x with `out`, a shape inferShape made for it. */
function viewAs(x: Tensor, out: number[]): Tensor {
  if (!x.isContiguous()) {
    throw new ShapeError(`view: input of shape ${fmtShape(x.shape)} with strides ${fmtShape(x.strides)} is not contiguous; use reshape() (which copies) or call contiguous() first`);
  }
  const v = viewOf(x, out, contiguousStrides(out), x.offset);
  return record('view', v, [x], (g) => [reshape(g, x.shape)]);
}

export function reshape(x: Tensor, shape: number[]): Tensor {
  const out = inferShape(x, shape, 'reshape');
  return viewAs(x.isContiguous() ? x : contiguous(x), out);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor(x, 'flatten', 'input');
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim(startDim, x.ndim, 'flatten');
  const e = normDim(endDim, x.ndim, 'flatten');
  if (s > e) throw new IndexError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const shape = [...x.shape.slice(0, s), numelOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function permute(x: Tensor, dims: number[]): Tensor {
  checkTensor(x, 'permute', 'input');
  if (dims.length !== x.ndim) throw new ShapeError(`permute: got ${dims.length} dims ${fmtShape(dims)} for a tensor of shape ${fmtShape(x.shape)}`);
  const d = dims.map((v) => normDim(v, x.ndim, 'permute'));
  if (new Set(d).size !== d.length) throw new ShapeError(`permute: repeated dimension in ${fmtShape(dims)}`);
  const v = viewOf(x, d.map((i) => x.shape[i]), d.map((i) => x.strides[i]), x.offset);
  const inverse = new Array<number>(d.length);
  d.forEach((src, i) => (inverse[src] = i));
  return record('permute', v, [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  checkTensor(x, 'transpose', 'input');
  const dims = x.shape.map((_, i) => i);
  const a = normDim(d0, x.ndim, 'transpose');
  const b = normDim(d1, x.ndim, 'transpose');
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  checkTensor(x, 'narrow', 'input');
  const d = normDim(dim, x.ndim, 'narrow');
  if (start < 0) start += x.shape[d];
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > x.shape[d]) {
    throw new IndexError(`narrow: start ${start} and length ${length} exceed dimension ${d} of size ${x.shape[d]} (shape ${fmtShape(x.shape)})`);
  }
  const shape = x.shape.slice();
  shape[d] = length;
  const v = viewOf(x, shape, x.strides.slice(), x.offset + start * x.strides[d]);
  return record('narrow', v, [x], (g) => {
    const gx = zeros(x.shape, { dtype: g.dtype, device: g.device });
    copyInto(narrowRaw(gx, d, start, length), g);
    return [gx];
  });
}

function narrowRaw(x: Tensor, d: number, start: number, length: number): Tensor {
  const shape = x.shape.slice();
  shape[d] = length;
  return viewOf(x, shape, x.strides.slice(), x.offset + start * x.strides[d]);
}

/** Writes src's values into the (possibly strided) view dst, which must not require grad. */
export function copyInto(dst: Tensor, src: Tensor): void {
  native.copyStrided(dst.handle, dst.offset, src.handle, src.offset, src.shape, src.strides, DTYPE_CODE[src.dtype], dst.strides);
}

export function select(x: Tensor, dim: number, index: number): Tensor {
  checkTensor(x, 'select', 'input');
  const d = normDim(dim, x.ndim, 'select');
  const i = index < 0 ? index + x.shape[d] : index;
  if (i < 0 || i >= x.shape[d]) throw new IndexError(`select: index ${index} is out of range for dimension ${d} of size ${x.shape[d]}`);
  return squeeze(narrow(x, d, i, 1), d);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  checkTensor(x, 'squeeze', 'input');
  let keep: number[];
  if (dim === undefined) keep = x.shape.map((_, i) => i).filter((i) => x.shape[i] !== 1);
  else {
    const d = normDim(dim, x.ndim, 'squeeze');
    keep = x.shape.map((_, i) => i).filter((i) => i !== d || x.shape[i] !== 1);
  }
  const v = viewOf(x, keep.map((i) => x.shape[i]), keep.map((i) => x.strides[i]), x.offset);
  return record('squeeze', v, [x], (g) => [reshape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  checkTensor(x, 'unsqueeze', 'input');
  const d = normDim(dim, x.ndim + 1, 'unsqueeze');
  const shape = x.shape.slice();
  const strides = x.strides.slice();
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d] * x.shape[d] : 1);
  const v = viewOf(x, shape, strides, x.offset);
  return record('unsqueeze', v, [x], (g) => [reshape(g, x.shape)]);
}

/** A broadcast view (stride 0 on expanded dims); -1 keeps a size. */
export function expand(x: Tensor, shape: number[]): Tensor {
  checkTensor(x, 'expand', 'input');
  if (!Array.isArray(shape)) throw new ValueError(`expand: expected an array of sizes for 'shape', got ${describe(shape)}`);
  if (shape.length < x.ndim) throw new ShapeError(`expand: target shape ${fmtShape(shape)} has fewer dimensions than input ${fmtShape(x.shape)}`);
  const lead = shape.length - x.ndim;
  // PyTorch's rules: -1 keeps an existing size but has none to keep in a new leading dimension;
  // any other size must be a non-negative integer (else the view's shape would hold it as is)
  for (let i = 0; i < shape.length; i++) {
    const s = shape[i];
    if (s === -1 && i < lead) throw new ShapeError(`expand: -1 is not allowed in a leading, non-existing dimension (dimension ${i} of target ${fmtShape(shape)}, input ${fmtShape(x.shape)})`);
    if (s !== -1 && !(Number.isInteger(s) && s >= 0)) throw new ShapeError(`expand: invalid size ${describe(s)} at dimension ${i} of target ${fmtShape(shape)}: sizes must be non-negative integers or -1`);
  }
  const outShape = shape.map((s, i) => (i >= lead && s === -1 ? x.shape[i - lead] : s));
  const strides = outShape.map((s, i) => {
    if (i < lead) return 0;
    const src = x.shape[i - lead];
    if (src === s) return x.strides[i - lead];
    if (src === 1) return 0;
    throw new ShapeError(`expand: the expanded size ${s} must match the existing size ${src} at dimension ${i} (input ${fmtShape(x.shape)}, target ${fmtShape(shape)})`);
  });
  const v = viewOf(x, outShape, strides, x.offset);
  return record('expand', v, [x], (g) => [sumToShape(g, x.shape)]);
}

export function contiguous(x: Tensor): Tensor {
  checkTensor(x, 'contiguous', 'input');
  const out = empty(x.shape, { dtype: x.dtype, device: x.device });
  native.copyStrided(out.handle, 0, x.handle, x.offset, x.shape, x.strides, DTYPE_CODE[x.dtype]);
  return record('contiguous', out, [x], (g) => [g]);
}

export function clone(x: Tensor): Tensor {
  checkTensor(x, 'clone', 'input');
  const out = empty(x.shape, { dtype: x.dtype, device: x.device });
  native.copyStrided(out.handle, 0, x.handle, x.offset, x.shape, x.strides, DTYPE_CODE[x.dtype]);
  return record('clone', out, [x], (g) => [g]);
}

/** Rows of x picked by an int64/int32 index along `dim` (the DataLoader batches with dim 0). */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkTensor(x, 'indexSelect', 'input');
  checkTensor(index, 'indexSelect', 'index');
  const d = normDim(dim, x.ndim, 'indexSelect');
  if (d !== 0) return transpose(indexSelect(transpose(x, 0, d), 0, index), 0, d);
  if (index.dtype !== 'int64' && index.dtype !== 'int32') throw new DTypeError(`indexSelect: index must be int64 or int32 but got ${index.dtype}`);
  if (index.ndim > 1) throw new ShapeError(`indexSelect: index must be 1-D but got shape ${fmtShape(index.shape)}`);
  if (index.storage.device !== x.storage.device) throw new DeviceError(`indexSelect: expected all tensors on the same device, but got ${x.device} (input) and ${index.device} (index)`);
  const xc = x.contiguous();
  const idx = index.contiguous();
  const k = idx.numel();
  const rowElems = numelOf(x.shape.slice(1));
  const out = empty([k, ...x.shape.slice(1)], { dtype: x.dtype, device: x.device });
  native.indexSelect(out.handle, 0, xc.handle, xc.offset, x.shape[0], rowElems, DTYPE_CODE[x.dtype], idx.handle, idx.offset, k, DTYPE_CODE[idx.dtype]);
  return record('indexSelect', out, [x], (g) => {
    const gx = zeros(x.shape, { dtype: g.dtype, device: g.device });
    const gc = g.contiguous();
    const i64 = idx.dtype === 'int64' ? idx : idx.to('int64');
    native.indexAddRows(gx.handle, 0, gc.handle, gc.offset, x.shape[0], rowElems, DTYPE_CODE[g.dtype], i64.handle, i64.offset, k);
    return [gx];
  });
}

/** A non-empty array of (undisposed) tensors. */
function checkTensorList(tensors: unknown, op: string): void {
  if (!Array.isArray(tensors)) throw new ValueError(`${op}: expected an array of tensors for 'tensors', got ${describe(tensors)}`);
  if (tensors.length === 0) throw new ShapeError(`${op}: expected a non-empty list of tensors`);
  for (let i = 0; i < tensors.length; i++) checkTensor(tensors[i], op, `tensors[${i}]`);
}

/** Concatenates along an existing dimension. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  checkTensorList(tensors, 'cat');
  const first = tensors[0];
  const d = normDim(dim, first.ndim, 'cat');
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new ShapeError(`cat: sizes of tensors must match except in dimension ${d}, but got ${fmtShape(first.shape)} and ${fmtShape(t.shape)}`);
    }
    if (t.dtype !== first.dtype) throw new DTypeError(`cat: expected all tensors to be ${first.dtype} but got ${t.dtype}`);
    if (t.storage.device !== first.storage.device) throw new DeviceError(`cat: expected all tensors on the same device, but got ${first.device} (tensor 0) and ${t.device} (tensor ${tensors.indexOf(t)})`);
  }
  const shape = first.shape.slice();
  shape[d] = tensors.reduce((s, t) => s + t.shape[d], 0);
  const out = empty(shape, { dtype: first.dtype, device: first.device });
  let pos = 0;
  for (const t of tensors) {
    copyInto(narrowRaw(out, d, pos, t.shape[d]), t);
    pos += t.shape[d];
  }
  const sizes = tensors.map((t) => t.shape[d]);
  return record('cat', out, tensors, (g) => {
    let p = 0;
    return sizes.map((n) => {
      const part = narrowRaw(g, d, p, n).contiguous();
      p += n;
      return part;
    });
  });
}

/** Stacks along a new dimension. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  checkTensorList(tensors, 'stack');
  const d = normDim(dim, tensors[0].ndim + 1, 'stack');
  for (let i = 1; i < tensors.length; i++) {
    if (tensors[i].storage.device !== tensors[0].storage.device) throw new DeviceError(`stack: expected all tensors on the same device, but got ${tensors[0].device} (tensor 0) and ${tensors[i].device} (tensor ${i})`);
  }
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}
