// The IDX format of MNIST-style files (http://yann.lecun.com/exdb/mnist/), raw or gzip-compressed:
//   bytes 0-1  zero;  byte 2  element type (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
//   0x0D float, 0x0E double);  byte 3  number of dimensions;  then one big-endian uint32 per
//   dimension;  then the elements, big-endian, row-major.
// Every problem is a DataError naming the file and what is wrong with it.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DataError } from '../errors';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

const TYPES: Record<number, [IdxType, number]> = {
  0x08: ['uint8', 1],
  0x09: ['int8', 1],
  0x0b: ['int16', 2],
  0x0c: ['int32', 4],
  0x0d: ['float32', 4],
  0x0e: ['float64', 8],
};

export interface IdxArray {
  type: IdxType;
  dims: number[];
  /** The elements in row-major order (a view into the file's bytes for uint8). */
  data: IdxData;
  /** The 32-bit magic number, e.g. 0x00000803 for a uint8 3-d array. */
  magic: number;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** Parses IDX bytes. `file` and `op` only name the source in error messages. */
export function parseIdx(buf: Uint8Array, file = '<buffer>', op = 'readIdx'): IdxArray {
  const fail = (what: string): never => {
    throw new DataError(`${op}: ${file}: ${what}`);
  };
  if (buf.length < 4) fail(`truncated: ${buf.length} bytes is too short for an IDX header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  const t = TYPES[buf[2]];
  if (buf[0] !== 0 || buf[1] !== 0 || !t) fail(`bad magic number ${hex(magic)}: not an IDX file (expected 0x000008NN to 0x00000eNN)`);
  const [type, size] = t;
  const ndim = buf[3];
  if (ndim === 0) fail(`bad magic number ${hex(magic)}: an IDX file needs at least one dimension`);
  const header = 4 + 4 * ndim;
  if (buf.length < header) fail(`truncated: the header of ${ndim} dimensions needs ${header} bytes but the file has ${buf.length}`);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    dims.push(view.getUint32(4 + 4 * d));
    count *= dims[d];
  }
  const expected = header + count * size;
  if (buf.length < expected) {
    fail(`truncated: the header says ${dims.join(' x ')} ${type} values (${expected} bytes with the header) but the file has ${buf.length} bytes`);
  }
  if (buf.length > expected) fail(`${buf.length - expected} unexpected bytes after the ${dims.join(' x ')} ${type} values (expected ${expected} bytes, found ${buf.length})`);
  let data: IdxData;
  if (type === 'uint8') data = buf.subarray(header, expected);
  else if (type === 'int8') data = new Int8Array(buf.buffer, buf.byteOffset + header, count);
  else {
    // Multi-byte elements are big-endian: read them one by one.
    const Ctor = type === 'int16' ? Int16Array : type === 'int32' ? Int32Array : type === 'float32' ? Float32Array : Float64Array;
    const out = new Ctor(count);
    for (let i = 0; i < count; i++) {
      const o = header + i * size;
      out[i] = type === 'int16' ? view.getInt16(o) : type === 'int32' ? view.getInt32(o) : type === 'float32' ? view.getFloat32(o) : view.getFloat64(o);
    }
    data = out;
  }
  return { type, dims, data, magic };
}

/** True for gzip data (magic 1f 8b). */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Reads a file's bytes, gunzipping `.gz` (or any gzip-magic) files. */
export function readMaybeGzip(file: string, op = 'readIdx'): Buffer {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new DataError(`${op}: ${file}: cannot read: ${(e as Error).message}`);
  }
  if (!isGzip(raw)) {
    if (file.endsWith('.gz')) throw new DataError(`${op}: ${file}: not a gzip file (it does not start with 1f 8b)`);
    return raw;
  }
  try {
    return zlib.gunzipSync(raw);
  } catch (e) {
    throw new DataError(`${op}: ${file}: corrupt or truncated gzip data: ${(e as Error).message}`);
  }
}

/** Reads and parses an IDX file, raw or `.gz`. */
export function readIdx(file: string, op = 'readIdx'): IdxArray {
  return parseIdx(readMaybeGzip(file, op), file, op);
}

/** Builds IDX bytes (big-endian), the inverse of parseIdx: for tests and for exporting data. */
export function encodeIdx(type: IdxType, dims: readonly number[], data: ArrayLike<number>): Uint8Array {
  const code = Number(Object.keys(TYPES).find((k) => TYPES[Number(k)][0] === type));
  const size = TYPES[code][1];
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length * size);
  const view = new DataView(out.buffer);
  view.setUint32(0, (code << 8) | dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  for (let i = 0; i < data.length; i++) {
    const o = header + i * size;
    const v = data[i];
    if (type === 'uint8') out[o] = v;
    else if (type === 'int8') view.setInt8(o, v);
    else if (type === 'int16') view.setInt16(o, v);
    else if (type === 'int32') view.setInt32(o, v);
    else if (type === 'float32') view.setFloat32(o, v);
    else view.setFloat64(o, v);
  }
  return out;
}
