// Matrix products: matmul (PyTorch's rules: dot, matrix-vector, 1-D promotion, batched with
// broadcast batch dims), mm, bmm and linear. Each is one native GEMM call forward and one per
// input gradient backward. Operands that are transposed views of contiguous memory (`w.T`) go to
// the GEMM as transposed instead of being copied; other layouts are made contiguous.
import { record } from '../autograd';
import { checkOptionalTensor, checkTensor } from '../check';
import { DType, DTYPE_CODE, isFloating } from '../dtype';
import { DTypeError, ShapeError, fmtShape } from '../errors';
import { native } from '../native';
import { Tensor, empty, numelOf } from '../tensor';
import { checkSameDevice } from './elementwise';
import { sum, sumToShape } from './reduce';
import { expand, reshape, transpose } from './shape';

// ---------------------------------------------------------------------------------------------
// operands as the GEMM sees them

/** A matrix (or batch of matrices) of logical shape [..., rows, cols] as stored in memory. */
interface GemmOperand {
  t: Tensor; // the tensor whose handle/offset is passed
  trans: boolean; // memory holds [..., cols, rows] row-major (a transposed view)
  ld: number; // row stride of the stored matrix
  stride: number; // elements between consecutive matrices of the batch (0: broadcast)
}

function isRowMajor(shape: readonly number[], strides: readonly number[]): boolean {
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== acc) return false;
    acc *= shape[d];
  }
  return true;
}

/**
 * x [..., rows, cols] (ndim >= 2) read as matrices whose batch matches `batch` (x's own batch
 * dims, broadcast to it: a single matrix is broadcast with stride 0, anything else expanded).
 */
function gemmOperand(x: Tensor, batch: readonly number[]): GemmOperand {
  const r = x.shape[x.ndim - 2];
  const c = x.shape[x.ndim - 1];
  const own = numelOf(x.shape.slice(0, -2));
  let t = x;
  if (own !== 1 && own !== numelOf(batch)) t = expand(x, [...batch, r, c]);
  const stride = own === 1 ? 0 : r * c;
  if (t.isContiguous()) return { t, trans: false, ld: Math.max(1, c), stride };
  const sh = t.shape.slice();
  const st = t.strides.slice();
  const n = sh.length;
  [sh[n - 2], sh[n - 1]] = [sh[n - 1], sh[n - 2]];
  [st[n - 2], st[n - 1]] = [st[n - 1], st[n - 2]];
  if (isRowMajor(sh, st)) return { t, trans: true, ld: Math.max(1, r), stride };
  return { t: t.contiguous(), trans: false, ld: Math.max(1, c), stride };
}

function checkOperands(op: string, a: Tensor, b: Tensor, bName = 'other'): void {
  checkTensor(a, op, 'input');
  checkTensor(b, op, bName);
  if (a.dtype !== b.dtype) throw new DTypeError(`${op}: expected both operands to have the same dtype, but got ${a.dtype} and ${b.dtype}`);
  if (!isFloating(a.dtype)) throw new DTypeError(`${op}: expected float32 or float64 tensors but got ${a.dtype}`);
  checkSameDevice(op, a, b, 'input', bName);
}

function broadcastBatch(op: string, a: Tensor, b: Tensor): number[] {
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const n = Math.max(ba.length, bb.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = ba[ba.length - n + i] ?? 1;
    const db = bb[bb.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: batch dimensions of ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be broadcast (${da} vs ${db} at batch dimension ${i})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the one native product

/** out [...batch, n, m] = a [..., n, k] @ b [..., k, m] (ndim >= 2 each, shapes checked); no autograd. */
function matmulRaw(a: Tensor, b: Tensor, op = 'matmul'): Tensor {
  const n = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const m = b.shape[b.ndim - 1];
  const batch = broadcastBatch(op, a, b);
  const nb = numelOf(batch);
  const dtype: DType = a.dtype;
  const out = empty([...batch, n, m], { dtype, device: a.device });
  if (nb === 0 || n === 0 || m === 0) return out;
  const A = gemmOperand(a, batch);
  const B = gemmOperand(b, batch);
  if (B.stride === 0 && A.stride !== 0 && !A.trans) {
    // One matrix B for a batch of contiguous A: a single GEMM with M = batch * n.
    native.gemm(false, B.trans, nb * n, m, k, 1, A.t.handle, A.t.offset, A.ld, B.t.handle, B.t.offset, B.ld, 0, out.handle, 0, m, 1, 0, 0, 0, DTYPE_CODE[dtype]);
  } else {
    native.gemm(A.trans, B.trans, n, m, k, 1, A.t.handle, A.t.offset, A.ld, B.t.handle, B.t.offset, B.ld, 0, out.handle, 0, m, nb, A.stride, B.stride, n * m, DTYPE_CODE[dtype]);
  }
  return out;
}

/** Differentiable a @ b for ndim >= 2 operands; gradients are summed over broadcast batch dims. */
function batchedMatmul(a: Tensor, b: Tensor, op: string): Tensor {
  const out = matmulRaw(a, b, op);
  return record(op, out, [a, b], (g) => [a.requiresGrad ? matmulGradA(g, a, b) : null, b.requiresGrad ? matmulGradB(g, a, b) : null]);
}

// dL/da = g @ b^T, summed to a's shape.
function matmulGradA(g: Tensor, a: Tensor, b: Tensor): Tensor {
  return sumToShape(matmulRaw(g, transpose(b, -1, -2)), a.shape);
}

// dL/db = a^T @ g, summed to b's shape. A plain matrix b shared by a batch of a is one GEMM over
// the stacked rows: [k, batch * n] @ [batch * n, m].
function matmulGradB(g: Tensor, a: Tensor, b: Tensor): Tensor {
  if (b.ndim === 2 && a.ndim > 2) {
    const k = a.shape[a.ndim - 1];
    const m = g.shape[g.ndim - 1];
    return matmulRaw(transpose(reshape(a, [-1, k]), 0, 1), reshape(g, [-1, m]));
  }
  return sumToShape(matmulRaw(transpose(a, -1, -2), g), b.shape);
}

// ---------------------------------------------------------------------------------------------
// public ops

/**
 * Matrix product with PyTorch's rules: 1-D x 1-D is a dot product ([]); a 1-D first operand is
 * a row vector and a 1-D second operand a column vector (the added dim is removed again); 2-D x
 * 2-D is mm; otherwise the leading dims are batch dims and broadcast.
 *
 * Shape: a [*, n, k] (or [k]), b [*, k, m] (or [k]) -> [*, n, m].
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkOperands('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(`matmul: both arguments need at least 1 dimension, but got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const ka = a.shape[a.ndim - 1];
  const kb = b.shape[b.ndim === 1 ? 0 : b.ndim - 2];
  if (ka !== kb) throw new ShapeError(`matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${ka} != ${kb})`);
  const a2 = a.ndim === 1 ? reshape(a, [1, ka]) : a;
  const b2 = b.ndim === 1 ? reshape(b, [kb, 1]) : b;
  broadcastBatch('matmul', a2, b2);
  const out = batchedMatmul(a2, b2, 'matmul');
  if (a.ndim > 1 && b.ndim > 1) return out;
  const shape = out.shape.slice();
  if (b.ndim === 1) shape.splice(shape.length - 1, 1);
  if (a.ndim === 1) shape.splice(shape.length - (b.ndim === 1 ? 1 : 2), 1);
  return reshape(out, shape);
}

/** Matrix product of two 2-D tensors: a [n, k] @ b [k, m] -> [n, m]. */
export function mm(a: Tensor, b: Tensor): Tensor {
  checkOperands('mm', a, b);
  if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`mm: expected 2-D tensors but got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.shape[1] !== b.shape[0]) throw new ShapeError(`mm: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${a.shape[1]} != ${b.shape[0]})`);
  return batchedMatmul(a, b, 'mm');
}

/** Batched matrix product without broadcasting: a [B, n, k] @ b [B, k, m] -> [B, n, m]. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  checkOperands('bmm', a, b);
  if (a.ndim !== 3 || b.ndim !== 3) throw new ShapeError(`bmm: expected 3-D tensors but got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.shape[0] !== b.shape[0]) throw new ShapeError(`bmm: batch sizes of ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ (${a.shape[0]} != ${b.shape[0]})`);
  if (a.shape[2] !== b.shape[1]) throw new ShapeError(`bmm: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${a.shape[2]} != ${b.shape[1]})`);
  return batchedMatmul(a, b, 'bmm');
}

/**
 * y = x W^T + b.
 *
 * Shape: input [*, in_features], weight [out_features, in_features], bias [out_features]
 * -> [*, out_features].
 */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  checkOperands('linear', input, weight, 'weight');
  checkOptionalTensor(bias, 'linear', 'bias');
  if (bias) {
    if (bias.dtype !== input.dtype) throw new DTypeError(`linear: bias has dtype ${bias.dtype} but input has ${input.dtype}`);
    checkSameDevice('linear', input, bias, 'input', 'bias');
  }
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-D [out_features, in_features] but got ${fmtShape(weight.shape)}`);
  if (input.ndim === 0) throw new ShapeError(`linear: input must have at least 1 dimension (the features) but got shape ${fmtShape(input.shape)}`);
  const [outF, inF] = weight.shape;
  const feats = input.shape[input.ndim - 1];
  if (feats !== inF) throw new ShapeError(`linear: input ${fmtShape(input.shape)} has ${feats} features but weight ${fmtShape(weight.shape)} expects ${inF}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) {
    throw new ShapeError(`linear: bias ${fmtShape(bias.shape)} does not match weight ${fmtShape(weight.shape)}; expected [${outF}]`);
  }

  const dt = DTYPE_CODE[input.dtype];
  const rows = numelOf(input.shape.slice(0, -1));
  const x = input.contiguous(); // (rows, inF)
  const W = gemmOperand(weight, []); // stored (outF, inF), or (inF, outF) when trans
  const out = empty([...input.shape.slice(0, -1), outF], { dtype: input.dtype, device: input.device });
  if (rows > 0 && outF > 0) {
    let beta = 0;
    if (bias) {
      // Rows of out start as the bias; the GEMM then accumulates onto them.
      const bc = bias.contiguous();
      native.copyStrided(out.handle, 0, bc.handle, bc.offset, [rows, outF], [0, 1], dt);
      beta = 1;
    }
    native.gemm(false, !W.trans, rows, outF, inF, 1, x.handle, x.offset, Math.max(1, inF), W.t.handle, W.t.offset, W.ld, beta, out.handle, 0, outF, 1, 0, 0, 0, dt);
  }

  return record('linear', out, [input, weight, bias], (g) => {
    const gc = g.contiguous(); // (rows, outF)
    let gInput: Tensor | null = null;
    let gWeight: Tensor | null = null;
    let gBias: Tensor | null = null;
    if (input.requiresGrad) {
      // (rows, inF) = g (rows, outF) @ W (outF, inF)
      gInput = empty(input.shape, { dtype: input.dtype, device: input.device });
      if (rows > 0 && inF > 0) native.gemm(false, W.trans, rows, inF, outF, 1, gc.handle, gc.offset, Math.max(1, outF), W.t.handle, W.t.offset, W.ld, 0, gInput.handle, 0, inF, 1, 0, 0, 0, dt);
    }
    if (weight.requiresGrad) {
      // (outF, inF) = g^T (outF, rows) @ x (rows, inF)
      gWeight = empty([outF, inF], { dtype: weight.dtype, device: weight.device });
      if (outF > 0 && inF > 0) native.gemm(true, false, outF, inF, rows, 1, gc.handle, gc.offset, Math.max(1, outF), x.handle, x.offset, Math.max(1, inF), 0, gWeight.handle, 0, inF, 1, 0, 0, 0, dt);
    }
    if (bias && bias.requiresGrad) gBias = sum(reshape(gc, [rows, outF]), 0);
    return [gInput, gWeight, gBias];
  });
}
