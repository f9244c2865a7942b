// bfloat16 and float16 storage (native/core/half.h): every bit pattern decodes to its value, and
// float32 values round to nearest even, ties included, with NaN, infinities, overflow and
// subnormals; casts from the other dtypes, fills, safetensors BF16/F16 bit for bit. Arithmetic on
// them is refused with the op's name (storage only for now).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import { float16ToNumber, promoteTypes } from '../../lib/dtype';
import { native } from '../../lib/native';

type Half = 'bfloat16' | 'float16';

/** A tensor of the given dtype holding these raw 16-bit patterns. */
function fromBits(bits: Uint16Array, dtype: Half): tn.Tensor {
  const t = tn.empty([bits.length], { dtype });
  native.write(t.handle, 0, bits);
  return t;
}
const bitsOf = (t: tn.Tensor): Uint16Array => new Uint16Array(native.read(t.handle, t.offset * 2, t.numel() * 2));

// The value of a bit pattern, computed independently of the library.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bf16Value = (b: number): number => ((u32[0] = b << 16), f32[0]);
const VALUE: Record<Half, (b: number) => number> = { bfloat16: bf16Value, float16: float16ToNumber };
const isNaNBits: Record<Half, (b: number) => boolean> = {
  bfloat16: (b) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0,
  float16: (b) => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0,
};

const ALL = Uint16Array.from({ length: 65536 }, (_, i) => i);

describe.each(['bfloat16', 'float16'] as Half[])('%s', (dtype) => {
  test('every bit pattern reads back as its value, through data and through a cast to float32', () => {
    const t = fromBits(ALL, dtype);
    const viaData = t.data as Float32Array;
    const viaCast = t.to('float32').data as Float32Array;
    for (let b = 0; b < 65536; b++) {
      const want = VALUE[dtype](b);
      if (Number.isNaN(want)) {
        expect([b, Number.isNaN(viaData[b]), Number.isNaN(viaCast[b])]).toEqual([b, true, true]);
      } else if (viaData[b] !== want || viaCast[b] !== want || Object.is(want, -0) !== Object.is(viaCast[b], -0)) {
        throw new Error(`${dtype} pattern 0x${b.toString(16)}: want ${want}, data ${viaData[b]}, cast ${viaCast[b]}`);
      }
    }
  });

  test('float32 values round to nearest, ties to even; NaN stays NaN, overflow goes to infinity', () => {
    // Every finite non-negative pattern b and the next one: their values, the midpoint (a tie) and
    // the floats just below and above the midpoint.
    const inputs: number[] = [];
    const expected: number[] = [];
    const maxFinite = dtype === 'bfloat16' ? 0x7f7f : 0x7bff;
    for (let b = 0; b <= maxFinite; b++) {
      const lo = VALUE[dtype](b);
      const hi = VALUE[dtype](b + 1); // b + 1 = infinity after the largest finite value
      const mid = Number.isFinite(hi) ? Math.fround((lo + hi) / 2) : lo + (lo - VALUE[dtype](b - 1)) / 2;
      expect(Math.fround(mid)).toBe(mid); // exact in float32
      const below = nextFloat32(mid, -1);
      const above = nextFloat32(mid, 1);
      inputs.push(lo, below, mid, above, -lo);
      expected.push(b, b, b % 2 === 0 ? b : b + 1, b + 1, b | 0x8000);
    }
    inputs.push(Infinity, -Infinity, 3.4028234663852886e38);
    expected.push(dtype === 'bfloat16' ? 0x7f80 : 0x7c00, dtype === 'bfloat16' ? 0xff80 : 0xfc00, dtype === 'bfloat16' ? 0x7f80 : 0x7c00);
    const got = bitsOf(tn.fromTypedArray(Float32Array.from(inputs)).to(dtype));
    for (let i = 0; i < inputs.length; i++) {
      if (got[i] !== expected[i]) throw new Error(`${dtype}: ${inputs[i]} rounded to 0x${got[i].toString(16)}, expected 0x${expected[i].toString(16)}`);
    }
    const nan = bitsOf(tn.fromTypedArray(Float32Array.from([NaN, -NaN])).to(dtype));
    expect(Array.from(nan).map(isNaNBits[dtype])).toEqual([true, true]);
  });

  test('casts from the integer dtypes and float64 go through float32, as PyTorch; back to int truncates', () => {
    const ints = tn.tensor([1, 2049, -3, 300], { dtype: 'int32' }).to(dtype);
    // 2049 is a tie between 2048 and 2050 in float16 (to the even 2048); bfloat16 keeps 8 bits: 2048, 300 -> 300
    expect(ints.toArray()).toEqual(dtype === 'float16' ? [1, 2048, -3, 300] : [1, 2048, -3, 300]);
    expect(tn.tensor([2.75, -1.5], { dtype: 'float64' }).to(dtype).to('int64').toArray()).toEqual([2, -1]);
    expect(tn.tensor([true, false], { dtype: 'bool' }).to(dtype).toArray()).toEqual([1, 0]);
  });

  test('factories fill with the rounded value and refuse values past the range', () => {
    expect(tn.full([2], 0.1, { dtype }).toArray()).toEqual([VALUE[dtype](bitsOf(tn.tensor([0.1]).to(dtype))[0]), VALUE[dtype](bitsOf(tn.tensor([0.1]).to(dtype))[0])]);
    expect(tn.zeros([3], { dtype }).toArray()).toEqual([0, 0, 0]);
    expect(tn.tensor([[1.5, -2]], { dtype }).toArray()).toEqual([[1.5, -2]]);
    if (dtype === 'float16') expect(() => tn.full([2], 1e5, { dtype })).toThrow('full: value 100000 cannot be converted to type float16 without overflow');
  });

  test('views, copies and contiguous work on the storage; arithmetic is refused, naming the op', () => {
    const t = tn.tensor([[1, 2], [3, 4]]).to(dtype);
    expect(t.t().contiguous().toArray()).toEqual([[1, 3], [2, 4]]);
    expect(tn.cat([t, t], 0).shape).toEqual([4, 2]);
    expect(() => t.add(t)).toThrow(tn.DTypeError);
    expect(() => t.add(t)).toThrow(/binary: (bfloat16|float16) tensors are storage only for now/);
    expect(() => t.sum()).toThrow(tn.DTypeError);
  });

  test('safetensors stores it as BF16 / F16, bit for bit', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-half-')), 'h.safetensors');
    const t = fromBits(Uint16Array.from([0, 0x8000, 0x3c00, 0x7f80, 0x0001, 0x7bff, 0xfc00, 0x1234]), dtype);
    tn.save({ t }, file);
    const header = JSON.parse(fs.readFileSync(file).subarray(8, 8 + Number(fs.readFileSync(file).readBigUInt64LE(0))).toString('utf8'));
    expect(header.t.dtype).toBe(dtype === 'bfloat16' ? 'BF16' : 'F16');
    const back = tn.load(file).t;
    expect(back.dtype).toBe(dtype);
    expect(Array.from(bitsOf(back))).toEqual(Array.from(bitsOf(t)));
  });
});

test('promotion: a 16-bit float with an integer keeps it, with float32 gives float32, bfloat16 with float16 gives float32', () => {
  expect(promoteTypes('bfloat16', 'int64')).toBe('bfloat16');
  expect(promoteTypes('float16', 'float32')).toBe('float32');
  expect(promoteTypes('bfloat16', 'float16')).toBe('float32');
  expect(promoteTypes('uint8', 'float16')).toBe('float16');
});

/** The float32 next to x (exact in float32) in direction dir. */
function nextFloat32(x: number, dir: 1 | -1): number {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  if (x === 0) return dir * 2 ** -149;
  u[0] += (x > 0 ? 1 : -1) * dir;
  return f[0];
}
