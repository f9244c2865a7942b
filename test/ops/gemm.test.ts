// gemm family: the native GEMM (every transpose combination, leading dimensions, batches,
// alpha/beta, each micro-kernel variant) against plain JS, matmul's shape rules, mm, bmm and
// linear values, float64 gradient checks, and error classes and messages.
import { execFileSync } from 'child_process';
import * as path from 'path';
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { native } from '../../lib/native';
import { bmm, linear, matmul, mm } from '../../lib/ops/gemm';
import { expectClose, gradcheck, randLeaf } from '../helpers/gradcheck';
import { Dense, randArray, refGemm, refLinear, refMatmul } from '../helpers/reference_gemm';

const F32 = 0;

/** A float32 tensor of uniform values; `values` returns the float32-rounded values as float64. */
function rand32(shape: number[], seed: number): Tensor {
  return tn.fromTypedArray(Float32Array.from(randArray(shape.reduce((a, b) => a * b, 1), seed)), shape);
}

function dense(t: Tensor): Dense {
  return { data: Float64Array.from(t.data as Float32Array | Float64Array), shape: t.shape.slice() };
}

function values(t: Tensor): number[] {
  return Array.from(t.data as Float32Array | Float64Array);
}

function transpose2d(x: Dense): Dense {
  const [r, c] = x.shape;
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x.data[i * c + j];
  return { data: out, shape: [c, r] };
}

// Runs native.gemm on float32 copies of the operands and compares with refGemm.
function checkGemm(ta: boolean, tb: boolean, M: number, N: number, K: number, opts: { alpha?: number; beta?: number; pad?: number; seed?: number } = {}): void {
  const { alpha = 1, beta = 0, pad = 0, seed = 1 } = opts;
  const lda = Math.max(1, (ta ? M : K) + pad);
  const ldb = Math.max(1, (tb ? K : N) + pad);
  const ldc = Math.max(1, N + pad);
  const aOff = 3;
  const bOff = 5;
  const cOff = 2;
  const A = Float32Array.from(randArray(aOff + (ta ? K : M) * lda, seed));
  const B = Float32Array.from(randArray(bOff + (tb ? N : K) * ldb, seed + 1));
  const C0 = Float32Array.from(randArray(cOff + M * ldc, seed + 2));
  if (beta === 0) C0.fill(NaN); // must be ignored
  const at = tn.fromTypedArray(A);
  const bt = tn.fromTypedArray(B);
  const ct = tn.fromTypedArray(C0);
  native.gemm(ta, tb, M, N, K, alpha, at.handle, aOff, lda, bt.handle, bOff, ldb, beta, ct.handle, cOff, ldc, 1, 0, 0, 0, F32);
  const expected = refGemm(ta, tb, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, Float64Array.from(C0), cOff, ldc);
  const got = ct.data as Float32Array;
  // Compare only C's (M, N) window; the padding between rows must be untouched too.
  for (let i = 0; i < got.length; i++) {
    const inside = i >= cOff && (i - cOff) % ldc < N && (i - cOff) / ldc < M;
    if (!inside && !(Number.isNaN(C0[i]) ? Number.isNaN(got[i]) : got[i] === C0[i])) throw new Error(`gemm wrote outside C at ${i}`);
  }
  const win = (arr: ArrayLike<number>): number[] => {
    const out: number[] = [];
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) out.push(arr[cOff + i * ldc + j]);
    return out;
  };
  expectClose(win(got), win(expected), 2e-4 * Math.sqrt(Math.max(K, 1)), 1e-4, `gemm ta=${ta} tb=${tb} M=${M} N=${N} K=${K}`);
}

describe('native gemm (float32) against the JS reference', () => {
  const sizes = [1, 7, 33, 65, 130];
  test.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('transA=%s transB=%s, every M, N, K in {1, 7, 33, 65, 130}', (ta, tb) => {
    let seed = 10;
    for (const M of sizes) for (const N of sizes) for (const K of sizes) checkGemm(ta, tb, M, N, K, { pad: (M + N + K) % 3, seed: seed++ });
  });

  test('alpha and beta, padded leading dimensions', () => {
    for (const [ta, tb] of [[false, false], [true, true], [false, true], [true, false]] as const) {
      checkGemm(ta, tb, 33, 65, 7, { alpha: 1.5, beta: 0.5, pad: 4 });
      checkGemm(ta, tb, 130, 7, 65, { alpha: -0.25, beta: -1, pad: 1 });
      checkGemm(ta, tb, 5, 3, 1, { alpha: 2, beta: 1 });
    }
  });

  test('blocking edges: K deeper than one slab, N wider than one block, M over several blocks', () => {
    checkGemm(false, false, 70, 50, 1000, { beta: 0.5 });
    checkGemm(true, true, 45, 37, 777);
    checkGemm(false, true, 13, 3200, 20);
    checkGemm(false, false, 500, 40, 30, { pad: 2 });
    checkGemm(true, false, 301, 257, 129);
  });

  test('skinny A @ B^T products (the dot-product path) in every shape around its thresholds', () => {
    for (const [M, N, K] of [[20, 10, 500], [10, 9, 676], [3, 200, 70], [200, 3, 70], [1, 1, 33], [5, 15, 31], [5, 15, 32], [33, 7, 129]]) {
      checkGemm(false, true, M, N, K, { pad: 1, seed: M + N + K });
      checkGemm(false, true, M, N, K, { alpha: 0.5, beta: 2, seed: M * N });
    }
  });

  test('K = 0 scales C by beta (zero when beta is 0, even over NaN); M = 0 or N = 0 is a no-op', () => {
    checkGemm(false, false, 4, 5, 0);
    checkGemm(false, false, 4, 5, 0, { beta: 0.5 });
    checkGemm(true, false, 0, 5, 3);
    checkGemm(false, true, 4, 0, 3);
  });

  test('batched: strided, broadcast (stride 0) and gapped matrices', () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      for (const [batch, M, N, K] of [[4, 33, 7, 65], [3, 65, 130, 33], [7, 5, 6, 7]]) {
        const lda = (ta ? M : K) + 1;
        const ldb = tb ? K : N;
        const ldc = N + 2;
        const sA = 0; // one A for every batch entry
        const sB = (tb ? N : K) * ldb + 11;
        const sC = M * ldc + 3;
        const A = Float32Array.from(randArray((ta ? K : M) * lda, batch));
        const B = Float32Array.from(randArray(batch * sB, batch + 1));
        const C = new Float32Array(batch * sC).fill(NaN);
        const ct = tn.fromTypedArray(C);
        native.gemm(ta, tb, M, N, K, 1, tn.fromTypedArray(A).handle, 0, lda, tn.fromTypedArray(B).handle, 0, ldb, 0, ct.handle, 0, ldc, batch, sA, sB, sC, F32);
        const got = ct.data as Float32Array;
        const expected = Float64Array.from(C);
        for (let b = 0; b < batch; b++) refGemm(ta, tb, M, N, K, 1, A, b * sA, lda, B, b * sB, ldb, 0, expected, b * sC, ldc);
        for (let b = 0; b < batch; b++) {
          const g: number[] = [];
          const e: number[] = [];
          for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
            g.push(got[b * sC + i * ldc + j]);
            e.push(expected[b * sC + i * ldc + j]);
          }
          expectClose(g, e, 2e-3, 1e-4, `batched ta=${ta} tb=${tb} [${batch}, ${M}, ${N}, ${K}] entry ${b}`);
        }
      }
    }
  });

  test('float64 matches the reference to double precision (whole and partial A panels, odd K tails)', () => {
    // K = 301: a 256-deep slab, then 45, whose last column the 2 x 2 packing transposes leave to the
    // scalar tail; 12 x 40 x 9: one whole panel, above the naive path's size
    for (const [M, N, K] of [[37, 41, 300], [25, 13, 301], [12, 40, 9]]) {
      const A = randArray(M * K, 3);
      const B = randArray(K * N, 4);
      const ct = tn.zeros([M * N], { dtype: 'float64' });
      native.gemm(false, false, M, N, K, 1, tn.fromTypedArray(A).handle, 0, K, tn.fromTypedArray(B).handle, 0, N, 0, ct.handle, 0, N, 1, 0, 0, 0, 1);
      expectClose(ct.data as Float64Array, refGemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, new Float64Array(M * N), 0, N), 1e-12, 1e-12, `float64 gemm ${M}x${N}x${K}`);
    }
  });

  test('every micro-kernel variant (TENSILE_GEMM_KERNEL) agrees with the reference', () => {
    expect(['avx512', 'avx2', 'baseline']).toContain(native.gemmKernel());
    const root = path.join(__dirname, '..', '..');
    // A child process per variant: the choice is made once per process.
    const script = `
      const path = require('path');
      const n = process.env.TENSILE_NATIVE ? require(path.resolve(process.env.TENSILE_NATIVE)) : require('node-gyp-build')(${JSON.stringify(root)});
      let seed = 7;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
      let worst = 0;
      for (const [dt, Arr] of [[0, Float32Array], [1, Float64Array]]) {
        for (const [ta, tb, M, N, K] of [[false, false, 37, 70, 45], [true, false, 37, 70, 45], [false, true, 37, 70, 45], [true, true, 37, 70, 45], [false, true, 37, 3, 45], [false, true, 1, 40, 64]]) {
          const A = Arr.from({ length: M * K }, rnd), B = Arr.from({ length: K * N }, rnd);
          const size = Arr.BYTES_PER_ELEMENT;
          const ha = n.alloc(A.length * size, 0), hb = n.alloc(B.length * size, 0), hc = n.alloc(M * N * size, 0);
          n.write(ha, 0, A); n.write(hb, 0, B);
          n.gemm(ta, tb, M, N, K, 1, ha, 0, ta ? M : K, hb, 0, tb ? K : N, 0, hc, 0, N, 1, 0, 0, 0, dt);
          const C = new Arr(n.read(hc, 0, M * N * size));
          for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
            let acc = 0;
            for (let k = 0; k < K; k++) acc += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            worst = Math.max(worst, Math.abs(acc - C[i * N + j]));
          }
        }
      }
      process.stdout.write(JSON.stringify({ kernel: n.gemmKernel(), worst }));`;
    for (const want of ['baseline', 'avx2']) {
      const out = execFileSync(process.execPath, ['-e', script], { cwd: root, env: { ...process.env, TENSILE_GEMM_KERNEL: want }, encoding: 'utf8' });
      const r = JSON.parse(out) as { kernel: string; worst: number };
      if (want === 'baseline') expect(r.kernel).toBe('baseline');
      else expect(['avx2', 'baseline']).toContain(r.kernel);
      expect(r.worst).toBeLessThan(1e-4);
    }
  });

  test('the binding checks extents, leading dimensions, sizes and dtype', () => {
    const a = tn.zeros([15]);
    const b = tn.zeros([16]);
    const c = tn.zeros([16]);
    const call = (o: Partial<{ a: Tensor; aOff: number; lda: number; M: number; batch: number; sC: number; dtype: number }> = {}) => () =>
      native.gemm(false, false, o.M ?? 4, 4, 4, 1, (o.a ?? b).handle, o.aOff ?? 0, o.lda ?? 4, b.handle, 0, 4, 0, c.handle, 0, 4, o.batch ?? 1, 0, 0, o.sC ?? 0, o.dtype ?? F32);
    expect(call()).not.toThrow();
    expect(call({ a })).toThrow(tn.IndexError);
    expect(call({ a })).toThrow('gemm: A needs 16 elements from offset 0 but its storage holds 15');
    expect(call({ aOff: 1 })).toThrow(tn.IndexError);
    expect(call({ aOff: -1 })).toThrow(tn.IndexError);
    expect(call({ lda: 3 })).toThrow(tn.ValueError);
    expect(call({ lda: 3 })).toThrow("gemm: lda 3 is smaller than A's row length 4");
    expect(call({ M: -1 })).toThrow(tn.ValueError);
    expect(call({ batch: 2, sC: 16 })).toThrow(tn.IndexError); // C would need 32 elements
    expect(call({ batch: 2, sC: 8 })).toThrow('gemm: strideC 8 makes the 2 output matrices of [4, 4] overlap');
    expect(call({ dtype: 2 })).toThrow(tn.DTypeError);
    expect(call({ dtype: 2 })).toThrow('gemm: expected a float32 or float64 tensor but got int32');
  });
});

// ---------------------------------------------------------------------------------------------

describe('matmul, mm, bmm: shapes and values (float32)', () => {
  const cases: [number[], number[], number[]][] = [
    [[3], [3], []],
    [[2, 3], [3], [2]],
    [[3], [3, 4], [4]],
    [[2, 3], [3, 4], [2, 4]],
    [[5, 2, 3], [3, 4], [5, 2, 4]],
    [[2, 3], [5, 3, 4], [5, 2, 4]],
    [[5, 1, 2, 3], [4, 3, 2], [5, 4, 2, 2]],
    [[3], [2, 3, 4], [2, 4]],
    [[2, 1, 3], [3], [2, 1]],
    [[2, 5, 3], [2, 3, 7], [2, 5, 7]],
    [[1, 33, 65], [3, 65, 7], [3, 33, 7]],
    [[130, 65], [65, 33], [130, 33]],
    [[4, 0], [0, 3], [4, 3]],
    [[0, 2, 3], [3, 4], [0, 2, 4]],
  ];
  test.each(cases)('%j @ %j -> %j', (sa, sb, so) => {
    const a = rand32(sa, 1);
    const b = rand32(sb, 2);
    const out = matmul(a, b);
    expect(out.shape).toEqual(so);
    expect(out.dtype).toBe('float32');
    const ref = refMatmul(dense(a), dense(b));
    expect(ref.shape).toEqual(so);
    expectClose(values(out), ref.data, 1e-4, 1e-4, 'matmul');
  });

  test('transposed and non-contiguous operands', () => {
    const a = rand32([7, 5], 3);
    const w = rand32([6, 5], 4);
    const ref = refMatmul(dense(a), transpose2d(dense(w)));
    expectClose(values(matmul(a, w.T)), ref.data, 1e-5, 1e-4, 'a @ w.T');
    expectClose(values(matmul(a.T.contiguous().T, w.T)), ref.data, 1e-5, 1e-4, 'a.T.T @ w.T');
    const big = rand32([7, 9], 5);
    const sliced = big.narrow(1, 2, 5); // row stride 9, not contiguous
    expectClose(values(matmul(sliced, w.T)), refMatmul(dense(sliced.contiguous()), transpose2d(dense(w))).data, 1e-5, 1e-4, 'narrowed');
    const p = rand32([5, 2, 3], 6).permute(1, 0, 2); // [2, 5, 3] batch-strided
    const q = rand32([3, 4], 7);
    expectClose(values(matmul(p, q)), refMatmul(dense(p.contiguous()), dense(q)).data, 1e-5, 1e-4, 'permuted');
  });

  test('mm and bmm', () => {
    const a = rand32([7, 33], 8);
    const b = rand32([33, 65], 9);
    expectClose(values(mm(a, b)), refMatmul(dense(a), dense(b)).data, 1e-4, 1e-4, 'mm');
    const x = rand32([3, 7, 5], 10);
    const y = rand32([3, 5, 2], 11);
    const out = bmm(x, y);
    expect(out.shape).toEqual([3, 7, 2]);
    expectClose(values(out), refMatmul(dense(x), dense(y)).data, 1e-5, 1e-4, 'bmm');
  });

  test('Tensor.matmul and tn.matmul are this matmul', () => {
    const a = rand32([2, 3], 12);
    const b = rand32([3, 2], 13);
    const ref = refMatmul(dense(a), dense(b)).data;
    expectClose(values(a.matmul(b)), ref, 1e-6, 1e-5, 'Tensor.matmul');
    expectClose(values(tn.matmul(a, b)), ref, 1e-6, 1e-5, 'tn.matmul');
  });

  test('float32 backward of a batch-broadcast matmul matches the reference products', () => {
    const a = rand32([3, 4, 5], 14).requiresGrad_();
    const b = rand32([5, 6], 15).requiresGrad_();
    const g = rand32([3, 4, 6], 16);
    matmul(a, b).backward(g);
    // dA = g @ b^T; dB = a^T @ g summed over the batch = (a as [12, 5])^T @ (g as [12, 6])
    expectClose(values(a.grad!), refMatmul(dense(g), transpose2d(dense(b))).data, 1e-5, 1e-4, 'dA');
    const a2: Dense = { data: dense(a).data, shape: [12, 5] };
    const g2: Dense = { data: dense(g).data, shape: [12, 6] };
    expectClose(values(b.grad!), refMatmul(transpose2d(a2), g2).data, 1e-5, 1e-4, 'dB');
  });
});

describe('linear: values (float32)', () => {
  test.each([
    [[4, 5], [3, 5], true],
    [[2, 3, 5], [7, 5], true],
    [[5], [3, 5], true],
    [[33, 65], [7, 65], false],
    [[0, 5], [3, 5], true],
  ] as [number[], number[], boolean][])('input %j weight %j bias %s', (si, sw, withBias) => {
    const x = rand32(si, 20);
    const w = rand32(sw, 21);
    const b = withBias ? rand32([sw[0]], 22) : null;
    const out = linear(x, w, b);
    const ref = refLinear(dense(x), dense(w), b ? dense(b).data : null);
    expect(out.shape).toEqual(ref.shape);
    expectClose(values(out), ref.data, 1e-5, 1e-4, 'linear');
  });

  test('a transposed weight view is used in place', () => {
    const x = rand32([4, 5], 23);
    const wt = rand32([5, 3], 24); // weight = wt.T, [3, 5], not contiguous
    const b = rand32([3], 25);
    const ref = refLinear(dense(x), transpose2d(dense(wt)), dense(b).data);
    expectClose(values(linear(x, wt.T, b)), ref.data, 1e-5, 1e-4, 'linear with w.T');
  });

  test('float32 backward matches the reference products', () => {
    const x = rand32([6, 5], 26).requiresGrad_();
    const w = rand32([4, 5], 27).requiresGrad_();
    const b = rand32([4], 28).requiresGrad_();
    const g = rand32([6, 4], 29);
    linear(x, w, b).backward(g);
    expectClose(values(x.grad!), refMatmul(dense(g), dense(w)).data, 1e-5, 1e-4, 'dx');
    expectClose(values(w.grad!), refMatmul(transpose2d(dense(g)), dense(x)).data, 1e-5, 1e-4, 'dw');
    const gd = dense(g).data;
    const db = [0, 1, 2, 3].map((o) => [0, 1, 2, 3, 4, 5].reduce((s, r) => s + gd[r * 4 + o], 0));
    expectClose(values(b.grad!), db, 1e-5, 1e-4, 'db');
  });
});

// ---------------------------------------------------------------------------------------------

describe('gradients (float64 central differences)', () => {
  test('matmul 2-D', () => {
    gradcheck((a, b) => matmul(a, b), [randLeaf([3, 5], 1), randLeaf([5, 4], 2)]);
  });

  test('matmul batched with broadcasting batch dims', () => {
    gradcheck((a, b) => matmul(a, b), [randLeaf([2, 1, 3, 4], 3), randLeaf([3, 4, 2], 4)]);
    gradcheck((a, b) => matmul(a, b), [randLeaf([3, 2, 5], 5), randLeaf([5, 3], 6)]); // shared b
    gradcheck((a, b) => matmul(a, b), [randLeaf([2, 3], 7), randLeaf([4, 3, 5], 8)]); // shared a
  });

  test('matmul with 1-D operands', () => {
    gradcheck((a, b) => matmul(a, b), [randLeaf([5], 9), randLeaf([5], 10)]);
    gradcheck((a, b) => matmul(a, b), [randLeaf([3, 5], 11), randLeaf([5], 12)]);
    gradcheck((a, b) => matmul(a, b), [randLeaf([5], 13), randLeaf([2, 5, 3], 14)]);
  });

  test('matmul of transposed views, mm and bmm', () => {
    gradcheck((a, b) => matmul(a.T, b.T), [randLeaf([5, 3], 15), randLeaf([4, 5], 16)]);
    gradcheck((a, b) => mm(a, b), [randLeaf([3, 7], 17), randLeaf([7, 2], 18)]);
    gradcheck((a, b) => bmm(a, b), [randLeaf([2, 3, 4], 19), randLeaf([2, 4, 3], 20)]);
  });

  test('linear with and without bias, batched and 1-D input, transposed weight', () => {
    gradcheck((x, w, b) => linear(x, w, b), [randLeaf([4, 5], 21), randLeaf([3, 5], 22), randLeaf([3], 23)]);
    gradcheck((x, w) => linear(x, w), [randLeaf([2, 3, 5], 24), randLeaf([3, 5], 25)]);
    gradcheck((x, w, b) => linear(x, w, b), [randLeaf([5], 26), randLeaf([3, 5], 27), randLeaf([3], 28)]);
    gradcheck((x, wt, b) => linear(x, wt.T, b), [randLeaf([3, 5], 29), randLeaf([5, 4], 30), randLeaf([4], 31)]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('errors', () => {
  test('matmul shape errors', () => {
    expect(() => matmul(tn.zeros([2, 3]), tn.zeros([4, 5]))).toThrow(tn.ShapeError);
    expect(() => matmul(tn.zeros([2, 3]), tn.zeros([4, 5]))).toThrow('matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)');
    expect(() => matmul(tn.zeros([3]), tn.zeros([4]))).toThrow('matmul: shapes [3] and [4] cannot be multiplied (3 != 4)');
    expect(() => matmul(tn.zeros([]), tn.zeros([3]))).toThrow('matmul: both arguments need at least 1 dimension, but got shapes [] and [3]');
    expect(() => matmul(tn.zeros([2, 3, 4]), tn.zeros([5, 4, 6]))).toThrow(tn.ShapeError);
    expect(() => matmul(tn.zeros([2, 3, 4]), tn.zeros([5, 4, 6]))).toThrow('matmul: batch dimensions of [2, 3, 4] and [5, 4, 6] cannot be broadcast (2 vs 5 at batch dimension 0)');
  });

  test('matmul dtype errors', () => {
    expect(() => matmul(tn.zeros([2, 3]), tn.zeros([3, 2], { dtype: 'float64' }))).toThrow(tn.DTypeError);
    expect(() => matmul(tn.zeros([2, 3]), tn.zeros([3, 2], { dtype: 'float64' }))).toThrow('matmul: expected both operands to have the same dtype, but got float32 and float64');
    expect(() => matmul(tn.zeros([2, 3], { dtype: 'int64' }), tn.zeros([3, 2], { dtype: 'int64' }))).toThrow('matmul: expected float32 or float64 tensors but got int64');
  });

  test('mm and bmm errors', () => {
    expect(() => mm(tn.zeros([2, 3, 4]), tn.zeros([4, 5]))).toThrow('mm: expected 2-D tensors but got shapes [2, 3, 4] and [4, 5]');
    expect(() => mm(tn.zeros([2, 3]), tn.zeros([4, 5]))).toThrow('mm: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)');
    expect(() => bmm(tn.zeros([2, 3, 4]), tn.zeros([3, 4, 5]))).toThrow('bmm: batch sizes of [2, 3, 4] and [3, 4, 5] differ (2 != 3)');
    expect(() => bmm(tn.zeros([2, 3, 4]), tn.zeros([2, 5, 5]))).toThrow('bmm: shapes [2, 3, 4] and [2, 5, 5] cannot be multiplied (4 != 5)');
    expect(() => bmm(tn.zeros([3, 4]), tn.zeros([4, 5]))).toThrow(tn.ShapeError);
  });

  test('linear errors', () => {
    expect(() => linear(tn.zeros([8, 5]), tn.zeros([10, 4]))).toThrow(tn.ShapeError);
    expect(() => linear(tn.zeros([8, 5]), tn.zeros([10, 4]))).toThrow('linear: input [8, 5] has 5 features but weight [10, 4] expects 4');
    expect(() => linear(tn.zeros([8, 4]), tn.zeros([10, 4, 1]))).toThrow('linear: weight must be 2-D [out_features, in_features] but got [10, 4, 1]');
    expect(() => linear(tn.zeros([8, 4]), tn.zeros([10, 4]), tn.zeros([9]))).toThrow('linear: bias [9] does not match weight [10, 4]; expected [10]');
    expect(() => linear(tn.zeros([]), tn.zeros([10, 4]))).toThrow(tn.ShapeError);
    expect(() => linear(tn.zeros([8, 4]), tn.zeros([10, 4], { dtype: 'float64' }))).toThrow(tn.DTypeError);
    expect(() => linear(tn.zeros([8, 4]), tn.zeros([10, 4]), tn.zeros([10], { dtype: 'float64' }))).toThrow('linear: bias has dtype float64 but input has float32');
  });
});
