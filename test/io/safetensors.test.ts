// safetensors: byte-exact files (hand-written here, and the reference writer's layout), round
// trips of every dtype, truncated or corrupt files, each of which must be a DataError that names
// the file, and the per-tensor CRC32C checksums in "__metadata__".
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import { save, load, loadFile, serialize, deserialize } from '../../lib/io';
import { CHECKSUM_KEY } from '../../lib/io/safetensors';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-st-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');

// ---------------------------------------------------------------------------------------------
// byte-level fixtures

describe('byte-exact files', () => {
  // A tiny file written out by hand: 8-byte little-endian header length (200 = 0xc8), the JSON
  // header padded with spaces to a multiple of 8 (194 + 6), then the data in header order.
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]},' +
    '"m":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]}}' +
    '      ';
  const expected = Buffer.concat([
    hex('c800000000000000'),
    ascii(header),
    hex('0000803f 000000c0'), // w = [1, -2] as float32 LE
    hex('0700000000000000'), // n = 7 as int64 LE
    hex('01 00'), // m = [true, false]
  ]);

  const tensors = () => ({
    w: tn.tensor([1, -2], { dtype: 'float32' }),
    n: tn.tensor(7, { dtype: 'int64' }),
    m: tn.tensor([true, false]),
  });

  // (checksum: false throughout: these are the plain layout; checksums are tested further down)
  test('we write exactly the hand-written bytes', () => {
    expect(header.length).toBe(200);
    const out = serialize(tensors(), { format: 'pt' }, { checksum: false });
    expect(out.toString('hex')).toBe(expected.toString('hex'));
    // save() writes the same bytes to disk
    const file = path.join(dir, 'tiny.safetensors');
    save(tensors(), file, { metadata: { format: 'pt' }, checksum: false });
    expect(fs.readFileSync(file).equals(expected)).toBe(true);
  });

  test('we parse the hand-written bytes', () => {
    const { tensors: t, metadata } = deserialize(expected, 'tiny');
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(t)).toEqual(['w', 'n', 'm']);
    expect(t.w.dtype).toBe('float32');
    expect(t.w.shape).toEqual([2]);
    expect(t.w.toArray()).toEqual([1, -2]);
    expect(t.n.dtype).toBe('int64');
    expect(t.n.shape).toEqual([]);
    expect(t.n.item()).toBe(7);
    expect(t.m.dtype).toBe('bool');
    expect(t.m.toArray()).toEqual([true, false]);
  });

  test('one F32 tensor and an empty file lay out as the reference writer lays them out', () => {
    // {"attn0": F32 [1, 1, 2, 3] = 0..5}: a 65-byte header padded to 72 so the data is aligned.
    const attn = tn.arange(0, 6, 1, { dtype: 'float32' }).reshape([1, 1, 2, 3]);
    const want = Buffer.concat([
      hex('4800000000000000'),
      ascii('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       '),
      hex('00000000 0000803f 00000040 00004040 00008040 0000a040'),
    ]);
    expect(serialize({ attn0: attn }, {}, { checksum: false }).toString('hex')).toBe(want.toString('hex'));
    // no tensors: "{}" and six spaces; with metadata only the metadata (no checksum key, even by
    // default: there is nothing to check)
    expect(serialize({}).toString('hex')).toBe(Buffer.concat([hex('0800000000000000'), ascii('{}      ')]).toString('hex'));
    expect(serialize({}, { framework: 'pt' }).toString('hex')).toBe(
      Buffer.concat([hex('2800000000000000'), ascii('{"__metadata__":{"framework":"pt"}}     ')]).toString('hex'),
    );
  });

  test('reads a file in the reference writer\'s order (dtype-sorted, fixture on disk)', () => {
    const file = path.join(__dirname, '..', 'fixtures', 'reference_layout.safetensors');
    const { tensors: t, metadata } = loadFile(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(t)).toEqual(['num_batches_tracked', 'bias', 'weight', 'mask']);
    expect(t.num_batches_tracked.dtype).toBe('int64');
    expect((t.num_batches_tracked.data as BigInt64Array)[0]).toBe(1234567890123n);
    expect(t.bias.toArray()).toEqual([0.5, -1.5]);
    expect(t.weight.shape).toEqual([2, 3]);
    expect(t.weight.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(t.mask.toArray()).toEqual([true, false, true]);
    // and writing those tensors back in that order gives the same bytes
    expect(serialize(t, metadata, { checksum: false }).equals(fs.readFileSync(file))).toBe(true);
  });

  test('reads F16 and BF16 as float16 and bfloat16, and widens I8/I16 to int32 on load', () => {
    const h = '{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"i":{"dtype":"I8","shape":[2],"data_offsets":[12,14]},"s":{"dtype":"I16","shape":[1],"data_offsets":[14,16]}}';
    const padded = h + ' '.repeat((8 - (h.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(padded.length));
    const bytes = Buffer.concat([
      len,
      ascii(padded),
      hex('003c 00c0 0100 007c'), // F16: 1, -2, 2^-24 (smallest subnormal), +inf
      hex('c03f 2040'), // BF16: 1.5, 2.5
      hex('ff 7f'), // I8: -1, 127
      hex('00 80'), // I16: -32768
    ]);
    const t = deserialize(bytes).tensors;
    expect(t.h.dtype).toBe('float16');
    expect(t.b.dtype).toBe('bfloat16');
    expect(Array.from(t.h.data as Float32Array)).toEqual([1, -2, Math.fround(2 ** -24), Infinity]);
    expect(t.b.toArray()).toEqual([1.5, 2.5]);
    expect(t.i.dtype).toBe('int32');
    expect(t.i.toArray()).toEqual([-1, 127]);
    expect(t.s.toArray()).toEqual([-32768]);
  });
});

// ---------------------------------------------------------------------------------------------
// round trips

describe('round trip through a file', () => {
  const shapes: number[][] = [[], [0], [7], [3, 5], [2, 3, 5]];

  function sample(dtype: tn.DType, shape: number[], seed: number): tn.Tensor {
    const g = new tn.Generator(seed);
    const n = shape.reduce((a, b) => a * b, 1);
    switch (dtype) {
      case 'float32':
      case 'float64': {
        const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
        for (let i = 0; i < n; i++) a[i] = (g.random() - 0.5) * 1e3;
        // specials survive bit for bit
        const specials = [NaN, -0, Infinity, -Infinity, 1e-40];
        for (let i = 0; i < Math.min(n, specials.length); i++) a[i] = specials[i];
        return tn.fromTypedArray(a, shape);
      }
      case 'int32': {
        const a = new Int32Array(n);
        for (let i = 0; i < n; i++) a[i] = (Number(g.nextBits() & 0xffffffffn) | 0);
        return tn.fromTypedArray(a, shape);
      }
      case 'int64': {
        const a = new BigInt64Array(n);
        for (let i = 0; i < n; i++) a[i] = BigInt.asIntN(64, g.nextBits()); // beyond 2^53 on purpose
        return tn.fromTypedArray(a, shape);
      }
      case 'uint8': {
        const a = new Uint8Array(n);
        for (let i = 0; i < n; i++) a[i] = g.randint(256);
        return tn.fromTypedArray(a, shape);
      }
      case 'bool': {
        const a = new Uint8Array(n);
        for (let i = 0; i < n; i++) a[i] = g.randint(2);
        return tn.fromTypedArray(a, shape, { dtype: 'bool' });
      }
      default:
        throw new Error(`no sample for ${dtype}`);
    }
  }

  const bytesOf = (t: tn.Tensor): Buffer => {
    const d = t.data;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  };

  test.each(['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'] as tn.DType[])('%s: every shape, bit for bit', (dtype) => {
    const tensors: Record<string, tn.Tensor> = {};
    shapes.forEach((s, i) => (tensors[`t${i}.${dtype}`] = sample(dtype, s, 100 + i)));
    const file = path.join(dir, `${dtype}.safetensors`);
    save(tensors, file);
    const back = load(file);
    expect(Object.keys(back)).toEqual(Object.keys(tensors));
    for (const [k, t] of Object.entries(tensors)) {
      expect(back[k].dtype).toBe(dtype);
      expect(back[k].shape).toEqual(t.shape);
      expect(bytesOf(back[k]).equals(bytesOf(t))).toBe(true);
    }
  });

  test('mixed dtypes in one file: the data follows the header order, integer-like names included', () => {
    const tensors: Record<string, tn.Tensor> = {};
    const order = ['z.weight', '10', 'a', '2'];
    const values = [sample('float64', [2, 3], 1), sample('uint8', [5], 2), sample('int32', [3], 3), sample('bool', [4], 4)];
    order.forEach((k, i) => (tensors[k] = values[i]));
    const buf = serialize(tensors);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const names = Object.keys(header).filter((k) => k !== '__metadata__'); // the checksums are there
    const byOffset = [...names].sort((x, y) => header[x].data_offsets[0] - header[y].data_offsets[0]);
    expect(byOffset).toEqual(Object.keys(tensors)); // the order JS iterates the object in
    expect(names).toEqual(Object.keys(tensors));
    const back = deserialize(buf).tensors;
    for (const k of order) expect(bytesOf(back[k]).equals(bytesOf(tensors[k]))).toBe(true);
  });

  test('a non-contiguous view is written row-major', () => {
    const x = tn.arange(0, 6, 1, { dtype: 'float32' }).reshape([2, 3]).transpose(0, 1);
    const back = deserialize(serialize({ x })).tensors.x;
    expect(back.shape).toEqual([3, 2]);
    expect(back.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
  });

  test('a model state dict with an integer buffer loads back into a fresh model', () => {
    const sd: Record<string, tn.Tensor> = {
      '0.weight': tn.randn([4, 3]),
      '0.bias': tn.randn([4]),
      '1.running_mean': tn.zeros([4]),
      '1.num_batches_tracked': tn.tensor(5, { dtype: 'int64' }),
    };
    const file = path.join(dir, 'model.safetensors');
    save(sd, file);
    const back = load(file);
    expect(Object.keys(back)).toEqual(Object.keys(sd));
    expect(back['0.weight'].toArray()).toEqual(sd['0.weight'].toArray());
    expect(back['1.num_batches_tracked'].item()).toBe(5);
  });
});

// ---------------------------------------------------------------------------------------------
// errors

describe('errors', () => {
  const good = (): Buffer => serialize({ w: tn.tensor([[1, 2], [3, 4]], { dtype: 'float32' }), b: tn.tensor([5], { dtype: 'int64' }) }, { k: 'v' });

  function expectDataError(bytes: Buffer, pattern: RegExp): void {
    const file = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(file, bytes);
    let err: unknown;
    try {
      load(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(tn.DataError);
    const msg = (err as Error).message;
    expect(msg.startsWith(`load: ${file}: `)).toBe(true);
    expect(msg).toMatch(pattern);
  }

  test('every truncation of a valid file is a DataError naming the file', () => {
    const bytes = good();
    for (let cut = 0; cut < bytes.length; cut++) expectDataError(bytes.subarray(0, cut), /truncated|corrupt/);
    expectDataError(bytes.subarray(0, 5), /truncated file: 5 bytes/);
    expectDataError(bytes.subarray(0, 20), /truncated file: the header needs \d+ bytes/);
    expectDataError(bytes.subarray(0, bytes.length - 1), /truncated file: tensor data needs 24 bytes after the header but the file has 23/);
  });

  test('corrupt headers and offsets', () => {
    const withHeader = (h: string, data = Buffer.alloc(0)): Buffer => {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      return Buffer.concat([len, ascii(h), data]);
    };
    expectDataError(withHeader('{"w": {"dtype": "F32", '), /corrupt header: /);
    expectDataError(withHeader('[1, 2]'), /corrupt header: not a JSON object/);
    expectDataError(hex('ffffffffffffff7f 7b7d'), /header length \d+ is over the 100000000-byte limit/);
    expectDataError(withHeader('{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}', Buffer.alloc(8)), /unsupported dtype 'C64' for 'w'/);
    expectDataError(withHeader('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', Buffer.alloc(8)), /'w' is F32 \[3\] \(12 bytes\) but its data_offsets \[0, 8\] span 8 bytes/);
    expectDataError(withHeader('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', Buffer.alloc(4)), /'w' has an invalid shape \[-1\]/);
    expectDataError(withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}}', Buffer.alloc(4)), /'w' has invalid data_offsets \[4\]/);
    expectDataError(withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', Buffer.alloc(8)), /'w' data starts at byte 4, expected 0/);
    expectDataError(withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', Buffer.alloc(6)), /corrupt file: 2 bytes after the last tensor's data/);
    expectDataError(withHeader('{"__metadata__":{"epoch":3}}'), /"__metadata__" value for 'epoch' is not a string/);
    expectDataError(Buffer.concat([hex('0400000000000000'), hex('7bff fe7d')]), /corrupt header: /); // invalid UTF-8
  });

  test('a missing file is a DataError naming it', () => {
    const file = path.join(dir, 'nope.safetensors');
    expect(() => load(file)).toThrow(tn.DataError);
    expect(() => load(file)).toThrow(`load: cannot read ${file}: no such file`);
  });

  test('bad arguments to save are ValueErrors', () => {
    const file = path.join(dir, 'x.safetensors');
    expect(() => save({ w: [1, 2] as unknown as tn.Tensor }, file)).toThrow(tn.ValueError);
    expect(() => save({ w: [1, 2] as unknown as tn.Tensor }, file)).toThrow("save: 'w' is not a Tensor (found an array)");
    expect(() => save({ __metadata__: tn.zeros([1]) }, file)).toThrow("save: invalid tensor name '__metadata__'");
    expect(() => save({ w: tn.zeros([1]) }, file, { metadata: { epoch: 3 as unknown as string } })).toThrow("save: metadata values must be strings, but 'epoch' is number");
    const d = tn.zeros([2]);
    d.dispose();
    expect(() => save({ d }, file)).toThrow("save: 'd' has been disposed");
    expect(fs.existsSync(file)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// checksums

describe('checksums', () => {
  const tensors = (): Record<string, tn.Tensor> => ({
    w: tn.tensor([1, -2], { dtype: 'float32' }),
    '10': tn.arange(0, 100, 1, { dtype: 'float64' }),
    mask: tn.tensor([true, false, true]),
  });

  // The byte range of each tensor's data in a file.
  function dataRanges(bytes: Buffer): Record<string, [number, number]> {
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    const out: Record<string, [number, number]> = {};
    for (const [k, v] of Object.entries(header)) if (k !== '__metadata__') out[k] = (v as { data_offsets: [number, number] }).data_offsets.map((o) => 8 + n + o) as [number, number];
    return out;
  }

  function loadError(file: string, options?: { verify?: boolean }): Error {
    try {
      load(file, options);
    } catch (e) {
      return e as Error;
    }
    throw new Error(`${file} loaded`);
  }

  test('each tensor\'s CRC32C goes into "__metadata__" under one key, in data order', () => {
    const buf = serialize({ w: tn.tensor([1, -2], { dtype: 'float32' }), b: tn.tensor([7], { dtype: 'int64' }) }, { format: 'pt' });
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    // CRC32C of 0000803f000000c0 and of 0700000000000000, from a bit-at-a-time CRC32C in Python
    expect(header.__metadata__).toEqual({ format: 'pt', [CHECKSUM_KEY]: '{"w":"aa36f2c9","b":"7671b78e"}' });
    // save() writes the header with placeholders first and the checksums over it at the end
    const file = path.join(dir, 'two.safetensors');
    save({ w: tn.tensor([1, -2], { dtype: 'float32' }), b: tn.tensor([7], { dtype: 'int64' }) }, file, { metadata: { format: 'pt' } });
    expect(fs.readFileSync(file).equals(buf)).toBe(true);
  });

  test('a flipped bit in any tensor\'s data is a DataError naming the tensor and the file', () => {
    const file = path.join(dir, 'm.safetensors');
    save(tensors(), file);
    const good = fs.readFileSync(file);
    for (const [name, [begin, end]] of Object.entries(dataRanges(good))) {
      for (const at of [begin, end - 1, (begin + end) >> 1]) {
        const bad = Buffer.from(good);
        bad[at] ^= 1 << (at % 8);
        fs.writeFileSync(file, bad);
        const err = loadError(file);
        expect(err).toBeInstanceOf(tn.DataError);
        expect(err.message.startsWith(`load: ${file}: checksum mismatch in tensor '${name}': `)).toBe(true);
      }
    }
  });

  test('verify: false loads a corrupt file as it is', () => {
    const file = path.join(dir, 'm.safetensors');
    save(tensors(), file);
    const bytes = fs.readFileSync(file);
    bytes[dataRanges(bytes).w[0] + 3] ^= 0x80; // the sign of w[0]
    fs.writeFileSync(file, bytes);
    expect(loadError(file)).toBeInstanceOf(tn.DataError);
    expect(load(file, { verify: false }).w.toArray()).toEqual([-1, -2]);
    expect(deserialize(bytes, 'buf', { verify: false }).tensors.w.toArray()).toEqual([-1, -2]);
    expect(() => deserialize(bytes, 'buf')).toThrow("load: buf: checksum mismatch in tensor 'w'");
  });

  test('files without checksums load as before', () => {
    const file = path.join(dir, 'plain.safetensors');
    save(tensors(), file, { checksum: false });
    expect(fs.readFileSync(file).includes(CHECKSUM_KEY)).toBe(false);
    expect(load(file).w.toArray()).toEqual([1, -2]);
    // the fixture written by PyTorch's safetensors (also read in 'byte-exact files')
    expect(load(path.join(__dirname, '..', 'fixtures', 'reference_layout.safetensors')).bias.toArray()).toEqual([0.5, -1.5]);
  });

  test('user metadata round-trips as is, without the checksum key, and can be saved again', () => {
    const file = path.join(dir, 'm.safetensors');
    const metadata = { format: 'pt', epoch: '3', note: '{"json": true}' };
    save(tensors(), file, { metadata });
    const back = loadFile(file);
    expect(back.metadata).toEqual(metadata);
    expect(loadFile(file, { verify: false }).metadata).toEqual(metadata);
    // what loadFile returns is valid input to save, and the new file has checksums of its own
    const again = path.join(dir, 'again.safetensors');
    save(back.tensors, again, { metadata: back.metadata });
    expect(fs.readFileSync(again).equals(fs.readFileSync(file))).toBe(true);
    expect(() => save(tensors(), file, { metadata: { [CHECKSUM_KEY]: '{}' } })).toThrow(tn.ValueError);
    expect(() => save(tensors(), file, { metadata: { [CHECKSUM_KEY]: '{}' } })).toThrow(`save: the metadata key '${CHECKSUM_KEY}' is tensile's own`);
  });

  test('a damaged checksum entry is a DataError (unless verify is false)', () => {
    const file = path.join(dir, 'm.safetensors');
    save({ w: tn.tensor([1, -2], { dtype: 'float32' }) }, file);
    const good = fs.readFileSync(file).toString('latin1');
    const cases: [string, string, RegExp][] = [
      ['{\\"w\\":\\"aa36f2c9\\"}', '{\\"w\\":\\"aa36f2c9\\"?', /corrupt header: "tensile.crc32c" is not JSON/],
      ['{\\"w\\":\\"aa36f2c9\\"}', '{\\"v\\":\\"aa36f2c9\\"}', /"tensile.crc32c" has a checksum for 'v', which the file does not hold/],
      ['{\\"w\\":\\"aa36f2c9\\"}', '{\\"w\\":\\"aa36f2cg\\"}', /"tensile.crc32c" has no valid checksum for 'w'/],
    ];
    for (const [from, to, pattern] of cases) {
      expect(good.includes(from)).toBe(true);
      fs.writeFileSync(file, Buffer.from(good.replace(from, to), 'latin1'));
      const err = loadError(file);
      expect(err).toBeInstanceOf(tn.DataError);
      expect(err.message.startsWith(`load: ${file}: `)).toBe(true);
      expect(err.message).toMatch(pattern);
      expect(load(file, { verify: false }).w.toArray()).toEqual([1, -2]);
    }
  });
});
