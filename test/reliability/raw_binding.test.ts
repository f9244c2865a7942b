// The raw binding is memory-safe against any JS caller (issue: reliability, part 2). Each case here
// killed the process or corrupted the heap before: an index or target sharing storage with the
// output (SIGSEGV; AddressSanitizer: heap-buffer-overflow), an integer division by zero (SIGFPE),
// a loop following one size of an empty tensor (2^48 iterations), a copy over overlapping bytes.
// Then the structure-aware fuzz test replays mutated argument lists of real calls; under
// `npm run test:asan` the same runs against an AddressSanitizer + UBSan build, with more calls.
import { IndexError, ValueError } from '../../lib';
import { native, Handle } from '../../lib/native';
import { runFixture } from '../helpers/fixture_child';

const F32 = 0;
const I32 = 2;
const I64 = 3;
const U8 = 4;

function storage(data: Float32Array | Int32Array | BigInt64Array | Uint8Array): Handle {
  const h = native.alloc(data.byteLength, 0);
  native.write(h, 0, data);
  return h;
}
const f32 = (h: Handle, n: number) => Array.from(new Float32Array(native.read(h, 0, 4 * n)));

describe('an index or target sharing memory with the output is refused', () => {
  test('indexSelect: output and index in one storage', () => {
    const x = storage(new Float32Array(12).fill(1));
    const shared = storage(new BigInt64Array([0n, 2n, 1n, 0n, 0n, 0n]));
    // out is (2, 3) floats = 24 bytes from offset 0; the index (2 int64) lies in the same bytes
    expect(() => native.indexSelect(shared, 0, x, 0, 4, 3, F32, shared, 0, 2, I64)).toThrow(ValueError);
    expect(() => native.indexSelect(shared, 0, x, 0, 4, 3, F32, shared, 0, 2, I64)).toThrow(/indexSelect: output and index share memory/);
  });
  test('indexAddRows: output and index in one storage', () => {
    const src = storage(new Float32Array(6).fill(1e9));
    const shared = storage(new BigInt64Array([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]));
    expect(() => native.indexAddRows(shared, 0, src, 0, 4, 3, F32, shared, 0, 2)).toThrow(/indexAdd: output and index share memory/);
  });
  test('cross_entropy forward and backward, nll_loss backward: target inside a written buffer', () => {
    const logits = storage(new Float32Array(8).fill(0.5));
    const logp = storage(new Float32Array(8));
    const tw = storage(new Float32Array(1));
    const out = storage(new BigInt64Array([1n, 0n])); // reduction none: out is (2) floats, 8 bytes
    expect(() => native.crossEntropyForward(out, 0, tw, 0, logp, 0, logits, 0, out, 0, I64, null, 0, 0, -100, 0, 2, 4, 1, F32)).toThrow(
      /cross_entropy: out and target share memory/,
    );
    const dlogits = storage(new BigInt64Array([1n, 0n, 3n, 2n]));
    const dout = storage(new Float32Array([1]));
    native.fill(tw, 0, 1, F32, 2);
    expect(() => native.crossEntropyBackward(dlogits, 0, dout, 0, logp, 0, dlogits, 0, I64, null, 0, tw, 0, 1, -100, 0, 2, 4, 1, F32)).toThrow(
      /cross_entropy_backward: dlogits and target share memory/,
    );
    expect(() => native.nllLossBackward(dlogits, 0, dout, 0, dlogits, 0, I64, null, 0, tw, 0, 1, -100, 2, 4, 1, F32)).toThrow(
      /nll_loss_backward: dlogp and target share memory/,
    );
  });
  test('max_pool2d backward: indices inside the input gradient', () => {
    const dy = storage(new Float32Array(2).fill(1));
    const shared = storage(new BigInt64Array([0n, 0n]));
    // dx is one 2x1 plane (8 bytes), the two indices (16 bytes) start at the same address
    expect(() => native.maxPool2dBackward(shared, 0, dy, 0, shared, 0, 2, 1, 1, 1, 1, F32)).toThrow(/grad_input and indices share memory/);
  });
  test('separate buffers still work (the check compares addresses, not storages alone)', () => {
    const x = storage(new Float32Array([1, 2, 3, 4, 5, 6]));
    const both = storage(new Float32Array(4)); // out in bytes 0-7, the int64 index in bytes 8-15
    native.write(both, 8, new BigInt64Array([1n]));
    native.indexSelect(both, 0, x, 0, 3, 2, F32, both, 1, 1, I64);
    expect(f32(both, 2)).toEqual([3, 4]);
  });
});

test('copyStrided from a view of its own output copies what the source held before', () => {
  const h = storage(new Float32Array([0, 1, 2, 3, 4, 5]));
  // out = elements 1..5, x = elements 0..4 of the same storage: a shift by one
  native.copyStrided(h, 1, h, 0, [5], [1], F32);
  expect(f32(h, 6)).toEqual([0, 0, 1, 2, 3, 4]);
  // exactly the same bytes: a no-op
  native.copyStrided(h, 0, h, 0, [2, 3], [3, 1], F32);
  expect(f32(h, 6)).toEqual([0, 0, 1, 2, 3, 4]);
});

describe('integer arithmetic', () => {
  test.each([
    ['int32', I32, (v: number[]) => new Int32Array(v)],
    ['uint8', U8, (v: number[]) => new Uint8Array(v)],
  ] as const)('%s division by zero raises, as PyTorch on the CPU', (_name, dt, make) => {
    const a = storage(make([6, 7, 8]));
    const b = storage(make([3, 0, 2]));
    const out = storage(make([0, 0, 0]));
    expect(() => native.binaryContiguous(3, out, 0, a, 0, b, 0, 3, dt)).toThrow(ValueError);
    expect(() => native.binaryContiguous(3, out, 0, a, 0, b, 0, 3, dt)).toThrow(/div: integer division by zero \(the divisor's element 1 is 0\)/);
    // broadcast divisor read through a stride of 0
    expect(() => native.binary(3, out, 0, a, 0, [1], b, 1, [0], [3], dt)).toThrow(/integer division by zero/);
    native.binary(3, out, 0, a, 0, [1], b, 0, [0], [3], dt);
    expect(Array.from(new Uint8Array(native.read(out, 0, 3 * (dt === U8 ? 1 : 4))).slice(0, 1))).toEqual([2]);
  });
  test('int64 INT_MIN / -1 and overflowing sums wrap around instead of trapping', () => {
    const min = -(2n ** 63n);
    const a = storage(new BigInt64Array([min, 2n ** 62n]));
    const b = storage(new BigInt64Array([-1n, 2n ** 62n]));
    const out = storage(new BigInt64Array(2));
    native.binaryContiguous(3, out, 0, a, 0, b, 0, 1, I64);
    expect(new BigInt64Array(native.read(out, 0, 8))[0]).toBe(min);
    native.binaryContiguous(0, out, 0, a, 1, b, 1, 1, I64); // 2^62 + 2^62 wraps to -2^63
    expect(new BigInt64Array(native.read(out, 0, 8))[0]).toBe(min);
  });
});

describe('loops follow the checked sizes', () => {
  // Each passed every size check (the tensors are empty) and then looped ~2^48 times.
  const empty = native.alloc(0, 0);
  test('reduceDim over (2^48 - 1, 3, 0)', () => {
    native.reduceDim(0, empty, 0, null, 0, empty, 0, 2 ** 48 - 1, 3, 0, F32);
  });
  test('softmax and cross_entropy over an empty (outer, inner)', () => {
    native.softmaxForward(empty, 0, empty, 0, 2 ** 47, 3, 0, F32);
    const tw = native.alloc(4, 0);
    native.crossEntropyForward(empty, 0, tw, 0, empty, 0, empty, 0, empty, 0, I64, null, 0, 0, -100, 0, 2 ** 47, 5, 0, F32);
  });
  test('batch_norm with N = 2^47 and no element per sample', () => {
    const c = native.alloc(4, 0);
    native.batchNormForward(empty, 0, c, 0, c, 0, null, 0, null, 0, empty, 0, null, 0, null, 0, 2 ** 47, 1, 0, true, 0.1, 1e-5, F32);
  });
  test('gemm of a 0-row matrix in a batch of 2^47', () => {
    native.gemm(false, false, 0, 4, 4, 1, empty, 0, 4, empty, 0, 4, 0, empty, 0, 4, 2 ** 47, 0, 0, 0, F32);
  });
});

describe('arguments of the wrong kind', () => {
  test('a non-finite or huge number where an integer is expected', () => {
    const h = native.alloc(16, 0);
    for (const bad of [NaN, Infinity, 2 ** 64]) expect(() => native.fill(h, 0, bad, F32, 0)).toThrow(/must be a finite integer/);
  });
  test('a getter that throws inside an array argument surfaces its own error', () => {
    const x = native.alloc(16, 0);
    const out = native.alloc(16, 0);
    const shape = [4];
    Object.defineProperty(shape, 0, {
      get() {
        throw new RangeError('from the getter');
      },
    });
    expect(() => native.copyStrided(out, 0, x, 0, shape, [1], F32)).toThrow(/from the getter/);
    expect(() => native.copyStrided(out, 0, x, 0, [4], [1], F32)).not.toThrow();
  });
  test('an out-of-range index is still an IndexError', () => {
    const x = storage(new Float32Array(4));
    const idx = storage(new BigInt64Array([5n]));
    const out = native.alloc(8, 0);
    expect(() => native.indexSelect(out, 0, x, 0, 2, 2, F32, idx, 0, 1, I64)).toThrow(IndexError);
  });
});

test('structure-aware fuzzing of the raw binding: mutated argument lists of real calls never crash or hang', () => {
  const calls = process.env.TENSILE_FUZZ_CALLS ?? '4000';
  const r = runFixture('binding_fuzz.js', [calls, '1'], 600_000);
  expect(r.report).toMatch(new RegExp(`${calls} mutated calls: \\d+ returned, \\d+ threw`));
  expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
}, 620_000);
