// A small binary cache file for data sets converted once (the bundled FashionMNIST): a checked
// header and byte sections that load straight into SharedArrayBuffers (worker threads share them
// without a copy). Writes are atomic: temporary file, fsync, rename, so a crash never leaves a
// half-written cache under the real name. Loads check the magic, version, key, every size and a
// CRC-32 of the header and of each section read.
//
// Layout (little-endian):
//   0    magic, 8 ASCII bytes           8   u32 format version      12  u32 section count (<= 8)
//   16   key, 64 bytes (UTF-8, zero-padded): what the data was made from
//   80   per section: u32 byte length, u32 CRC-32 (8 sections, unused ones zero)
//   144  u32 CRC-32 of bytes [0, 144)   148 reserved (zero) up to 160
//   160  the sections, back to back
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

const HEADER = 160;
const MAX_SECTIONS = 8;

export interface CacheFormat {
  /** 8 ASCII characters */
  magic: string;
  version: number;
  /** What the data was made from; a different key means a stale cache. At most 64 bytes. */
  key: string;
}

/** Thrown (internally) for a cache file that exists but cannot be used; the caller rebuilds it. */
export class InvalidCacheError extends Error {}

/**
 * The folder for tensile's caches: the option if given, else TENSILE_CACHE_DIR, else
 * $XDG_CACHE_HOME/tensile, else ~/.cache/tensile.
 */
export function cacheDir(option?: string | null): string {
  if (option) return path.resolve(option);
  if (process.env.TENSILE_CACHE_DIR) return path.resolve(process.env.TENSILE_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'tensile');
}

function crc32(data: Uint8Array, value = 0): number {
  return zlib.crc32(data, value) >>> 0;
}

function header(format: CacheFormat, sections: readonly Uint8Array[]): Buffer {
  const h = Buffer.alloc(HEADER);
  if (format.magic.length !== 8) throw new Error(`cache: magic must be 8 characters, got '${format.magic}'`);
  if (sections.length > MAX_SECTIONS) throw new Error(`cache: at most ${MAX_SECTIONS} sections`);
  h.write(format.magic, 0, 'latin1');
  h.writeUInt32LE(format.version, 8);
  h.writeUInt32LE(sections.length, 12);
  const key = Buffer.from(format.key, 'utf8');
  if (key.length > 64) throw new Error('cache: key longer than 64 bytes');
  key.copy(h, 16);
  sections.forEach((s, i) => {
    h.writeUInt32LE(s.length, 80 + 8 * i);
    h.writeUInt32LE(crc32(s), 84 + 8 * i);
  });
  h.writeUInt32LE(crc32(h.subarray(0, 144)), 144);
  return h;
}

/** Writes the cache atomically (temp file in the same folder, fsync, rename, fsync folder). */
export function writeCacheFile(file: string, format: CacheFormat, sections: readonly Uint8Array[]): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.${Math.floor(Math.random() * 1e9)}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    const write = (b: Uint8Array): void => {
      let off = 0;
      while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
    };
    write(header(format, sections));
    for (const s of sections) write(s);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    // Makes the rename itself durable; not possible on every platform, and harmless to skip.
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* best effort */
  }
}

/**
 * Reads the sections `want` of a cache file into SharedArrayBuffer-backed arrays, checking
 * everything. Returns null when the file does not exist; throws InvalidCacheError (with the
 * reason) when it exists but is wrong in any way. `lengths` gives the expected size of every
 * section.
 */
export function readCacheFile(file: string, format: CacheFormat, lengths: readonly number[], want: readonly number[]): Uint8Array[] | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new InvalidCacheError(`cannot open: ${(e as Error).message}`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const expected = HEADER + lengths.reduce((a, b) => a + b, 0);
    if (size !== expected) throw new InvalidCacheError(`size ${size} bytes, expected ${expected}`);
    const h = Buffer.alloc(HEADER);
    readFully(fd, h, 0);
    if (h.toString('latin1', 0, 8) !== format.magic) throw new InvalidCacheError(`bad magic '${h.toString('latin1', 0, 8)}'`);
    if (h.readUInt32LE(144) !== crc32(h.subarray(0, 144))) throw new InvalidCacheError('header checksum mismatch');
    if (h.readUInt32LE(8) !== format.version) throw new InvalidCacheError(`format version ${h.readUInt32LE(8)}, expected ${format.version}`);
    const key = h.toString('utf8', 16, 80).replace(/\0+$/, '');
    if (key !== format.key) throw new InvalidCacheError(`made from '${key}', expected '${format.key}'`);
    if (h.readUInt32LE(12) !== lengths.length) throw new InvalidCacheError(`${h.readUInt32LE(12)} sections, expected ${lengths.length}`);
    const offsets: number[] = [];
    let off = HEADER;
    lengths.forEach((len, i) => {
      if (h.readUInt32LE(80 + 8 * i) !== len) throw new InvalidCacheError(`section ${i} has ${h.readUInt32LE(80 + 8 * i)} bytes, expected ${len}`);
      offsets.push(off);
      off += len;
    });
    return want.map((i) => {
      const out = new Uint8Array(new SharedArrayBuffer(lengths[i]));
      readFully(fd, out, offsets[i]);
      if (crc32(out) !== h.readUInt32LE(84 + 8 * i)) throw new InvalidCacheError(`section ${i} checksum mismatch`);
      return out;
    });
  } finally {
    fs.closeSync(fd);
  }
}

function readFully(fd: number, out: Uint8Array, position: number): void {
  let done = 0;
  while (done < out.length) {
    const n = fs.readSync(fd, out, done, out.length - done, position + done);
    if (n === 0) throw new InvalidCacheError('unexpected end of file');
    done += n;
  }
}
