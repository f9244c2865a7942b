// IDX parsing (raw and .gz), its error cases, and MNIST / FashionMNIST from IDX files in
// torchvision's layout and in a flat folder. Files are generated into a temporary folder.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tn from '../../lib';
import { FashionMNIST, MNIST, FASHION_MNIST_CLASSES, MNIST_CLASSES } from '../../lib/data/mnist';
import { encodeIdx, parseIdx, readIdx } from '../../lib/data/idx';
import { normalize } from '../../lib/data/transforms';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-idx-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function images(n: number, seed: number, h = 28, w = 28): Uint8Array {
  const g = new tn.Generator(seed);
  return Uint8Array.from({ length: n * h * w }, () => g.randint(256));
}

/** Writes an MNIST-style set of four files into dir, gzipped or not. */
function writeSet(dir: string, nTrain: number, nTest: number, gz: boolean, seed = 1): { train: [Uint8Array, Uint8Array]; test: [Uint8Array, Uint8Array] } {
  fs.mkdirSync(dir, { recursive: true });
  const out = {
    train: [images(nTrain, seed), Uint8Array.from({ length: nTrain }, (_, i) => (i * 7) % 10)] as [Uint8Array, Uint8Array],
    test: [images(nTest, seed + 1), Uint8Array.from({ length: nTest }, (_, i) => (i * 3) % 10)] as [Uint8Array, Uint8Array],
  };
  const put = (name: string, bytes: Uint8Array): void => fs.writeFileSync(path.join(dir, gz ? `${name}.gz` : name), gz ? zlib.gzipSync(bytes) : bytes);
  put('train-images-idx3-ubyte', encodeIdx('uint8', [nTrain, 28, 28], out.train[0]));
  put('train-labels-idx1-ubyte', encodeIdx('uint8', [nTrain], out.train[1]));
  put('t10k-images-idx3-ubyte', encodeIdx('uint8', [nTest, 28, 28], out.test[0]));
  put('t10k-labels-idx1-ubyte', encodeIdx('uint8', [nTest], out.test[1]));
  return out;
}

describe('IDX files', () => {
  test.each([
    ['uint8', [3, 2, 5], (i: number) => (i * 37) % 256],
    ['int8', [7], (i: number) => i - 3],
    ['int16', [4, 3], (i: number) => i * 1000 - 5000],
    ['int32', [2, 2, 2], (i: number) => i * 100000 - 300000],
    ['float32', [5], (i: number) => Math.fround(i / 3)],
    ['float64', [2, 3], (i: number) => i / 7],
  ] as const)('parse %s %j: big-endian values and dims', (type, dims, f) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const vals = Array.from({ length: n }, (_, i) => f(i));
    const bytes = encodeIdx(type, dims, vals);
    const a = parseIdx(bytes, 'mem');
    expect(a.type).toBe(type);
    expect(a.dims).toEqual(dims);
    expect(Array.from(a.data)).toEqual(vals);
    // the header is big-endian: first dim at bytes 4..7
    expect((bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | bytes[7]).toBe(dims[0]);
  });

  test('raw and .gz files read the same', () => {
    const bytes = encodeIdx('uint8', [2, 28, 28], images(2, 5));
    fs.writeFileSync(path.join(tmp, 'a-idx3-ubyte'), bytes);
    fs.writeFileSync(path.join(tmp, 'a-idx3-ubyte.gz'), zlib.gzipSync(bytes));
    const raw = readIdx(path.join(tmp, 'a-idx3-ubyte'));
    const gz = readIdx(path.join(tmp, 'a-idx3-ubyte.gz'));
    expect(gz.dims).toEqual([2, 28, 28]);
    expect(Buffer.compare(Buffer.from(raw.data as Uint8Array), Buffer.from(gz.data as Uint8Array))).toBe(0);
  });

  test('truncated, wrong magic, trailing bytes and bad gzip raise DataError naming the file', () => {
    const good = encodeIdx('uint8', [3, 28, 28], images(3, 6));
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated-idx3-ubyte', good.subarray(0, 1000), /truncated: the header says 3 x 28 x 28 uint8 values \(2368 bytes with the header\) but the file has 1000 bytes/],
      ['short-header', good.subarray(0, 10), /truncated: the header of 3 dimensions needs 16 bytes but the file has 10/],
      ['tiny', good.subarray(0, 2), /truncated: 2 bytes is too short for an IDX header/],
      ['wrong-magic', Uint8Array.from([0x12, 0x34, 0x08, 0x03, ...good.subarray(4)]), /bad magic number 0x12340803: not an IDX file/],
      ['bad-type', Uint8Array.from([0, 0, 0x07, 0x03, ...good.subarray(4)]), /bad magic number 0x00000703/],
      ['trailing', Uint8Array.from([...good, 1, 2, 3]), /3 unexpected bytes after the 3 x 28 x 28 uint8 values/],
    ];
    for (const [name, bytes, msg] of cases) {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, bytes);
      expect(() => readIdx(file)).toThrow(tn.DataError);
      expect(() => readIdx(file)).toThrow(new RegExp(`^readIdx: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${msg.source}`));
    }
    const gz = zlib.gzipSync(good);
    const cut = path.join(tmp, 'cut.gz');
    fs.writeFileSync(cut, gz.subarray(0, gz.length - 20));
    expect(() => readIdx(cut)).toThrow(tn.DataError);
    expect(() => readIdx(cut)).toThrow(`readIdx: ${cut}: corrupt or truncated gzip data`);
    const notGz = path.join(tmp, 'plain.gz');
    fs.writeFileSync(notGz, good);
    expect(() => readIdx(notGz)).toThrow(`readIdx: ${notGz}: not a gzip file`);
    expect(() => readIdx(path.join(tmp, 'missing'))).toThrow(`readIdx: ${path.join(tmp, 'missing')}: cannot read`);
  });
});

describe('MNIST and FashionMNIST from IDX files', () => {
  test('torchvision layout with .gz files: sizes, pixels, labels, both splits', () => {
    const root = path.join(tmp, 'tv');
    const want = writeSet(path.join(root, 'MNIST', 'raw'), 13, 7, true);
    const train = new MNIST({ root });
    const test = new MNIST({ root, train: false });
    expect(train.length).toBe(13);
    expect(test.length).toBe(7);
    expect(train.classes).toEqual(MNIST_CLASSES);
    const [x, y] = train.get(5);
    expect(x.shape).toEqual([1, 28, 28]);
    expect(x.dtype).toBe('uint8');
    expect(Buffer.compare(Buffer.from(x.data as Uint8Array), Buffer.from(want.train[0].subarray(5 * 784, 6 * 784)))).toBe(0);
    expect(y).toBe(want.train[1][5]);
    expect(test.get(6)[1]).toBe(want.test[1][6]);
    expect(train.data.shape).toEqual([13, 28, 28]);
    expect(train.targets.dtype).toBe('int64');
    expect(train.targets.toArray()).toEqual(Array.from(want.train[1]));
  });

  test('flat folder with raw files; FashionMNIST classes; transform applied', () => {
    const root = path.join(tmp, 'flat');
    const want = writeSet(root, 9, 4, false, 3);
    const ds = new FashionMNIST({ root, train: false, transform: normalize(0.5, 0.25) });
    expect(ds.length).toBe(4);
    expect(ds.classes).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    expect(FASHION_MNIST_CLASSES.length).toBe(10);
    expect(ds.classToIdx['Ankle boot']).toBe(9);
    const [x] = ds.get(2);
    expect(x.dtype).toBe('float32');
    const px = want.test[0].subarray(2 * 784, 3 * 784);
    const ref = Float32Array.from(px, (v) => Math.fround(Math.fround(Math.fround(v / 255) - 0.5) / 0.25));
    expect(Array.from(x.data as Float32Array)).toEqual(Array.from(ref));
  });

  test('bad files: wrong magic, mismatched counts, labels out of range, wrong image size, missing files', () => {
    const root = path.join(tmp, 'bad');
    fs.mkdirSync(root, { recursive: true });
    const img = (n: number, h = 28, w = 28): Uint8Array => encodeIdx('uint8', [n, h, w], images(n, 9, h, w));
    const lab = (vals: number[]): Uint8Array => encodeIdx('uint8', [vals.length], vals);
    const put = (a: Uint8Array, b: Uint8Array): void => {
      fs.writeFileSync(path.join(root, 'train-images-idx3-ubyte'), a);
      fs.writeFileSync(path.join(root, 'train-labels-idx1-ubyte'), b);
    };
    const imgFile = path.join(root, 'train-images-idx3-ubyte');
    const labFile = path.join(root, 'train-labels-idx1-ubyte');

    put(lab([1, 2]), lab([1, 2]));
    expect(() => new MNIST({ root })).toThrow(tn.DataError);
    expect(() => new MNIST({ root })).toThrow(`MNIST: ${imgFile}: bad magic number 0x00000801 for an image file (expected 0x00000803: uint8, 3 dimensions)`);

    put(img(3), img(3));
    expect(() => new MNIST({ root })).toThrow(`MNIST: ${labFile}: bad magic number 0x00000803 for a label file`);

    put(img(3), lab([1, 2]));
    expect(() => new MNIST({ root })).toThrow(`MNIST: ${labFile} has 2 labels but ${imgFile} has 3 images`);

    put(img(3), lab([1, 12, 2]));
    expect(() => new FashionMNIST({ root })).toThrow(`FashionMNIST: ${labFile}: label 12 at index 1 is outside [0, 10)`);

    put(img(2, 27, 27), lab([1, 2]));
    expect(() => new MNIST({ root })).toThrow(`MNIST: ${imgFile}: images are 27 x 27, expected 28 x 28`);

    put(img(3).subarray(0, 500), lab([1, 2, 3]));
    expect(() => new MNIST({ root })).toThrow(`MNIST: ${imgFile}: truncated`);

    expect(() => new MNIST({ root, train: false })).toThrow(tn.DataError);
    expect(() => new MNIST({ root, train: false })).toThrow(`MNIST: cannot find t10k-images-idx3-ubyte (or t10k-images-idx3-ubyte.gz) in ${path.join(root, 'MNIST', 'raw')}, ${path.join(root, 'raw')}, ${root}`);
    expect(() => new MNIST({} as never)).toThrow(tn.ValueError);
    expect(() => new MNIST({} as never)).toThrow('MNIST: no root given; MNIST is not bundled');
    expect(() => new FashionMNIST({ root: 3 as never })).toThrow('FashionMNIST: root must be a folder path but received number');
  });

  test('index errors and getBatch equal to default collate of get', () => {
    const root = path.join(tmp, 'flat2');
    writeSet(root, 11, 2, false, 4);
    const ds = new MNIST({ root, transform: normalize(0.1, 0.3) });
    expect(() => ds.get(11)).toThrow(tn.IndexError);
    expect(() => ds.get(11)).toThrow('MNIST: index 11 is out of range for a dataset of length 11');
    expect(() => ds.get(-1)).toThrow(tn.IndexError);
    const idx = Int32Array.from([3, 10, 0, 3]);
    const [x, y] = ds.getBatch(idx, { seed: 0, epoch: 0 }) as tn.Tensor[];
    expect(x.shape).toEqual([4, 1, 28, 28]);
    expect(y.dtype).toBe('int64');
    const xs = tn.stack(Array.from(idx, (i) => ds.get(i)[0]));
    expect(Buffer.compare(Buffer.from((x.data as Float32Array).buffer), Buffer.from((xs.data as Float32Array).buffer))).toBe(0);
    expect(y.toArray()).toEqual(Array.from(idx, (i) => ds.get(i)[1]));
  });
});
