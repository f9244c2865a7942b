// safetensors, Hugging Face's tensor file format, so that weights move between tensile and PyTorch
// (`safetensors.torch.load_file` reads what `save` writes, and `load` reads what `save_file` writes).
//
//   8 bytes   N, the header length, an unsigned 64-bit little-endian integer
//   N bytes   a UTF-8 JSON object: {"__metadata__": {str: str}, "<name>": {"dtype": "F32",
//             "shape": [2, 3], "data_offsets": [begin, end]}, ...}, padded with spaces to a
//             multiple of 8 (as the reference writer does, so the data starts 8-byte aligned)
//   the rest  each tensor's elements, row-major and little-endian, back to back in header order;
//             data_offsets count from the first byte after the header
//
// Checksums: safetensors has none, so a bit flip in tensor data would load silently. We write the
// CRC32C of each tensor's bytes (as stored in the file) into "__metadata__" under one key,
//   "tensile.crc32c": "{\"<name>\": \"<8 hex digits>\", ...}"   (a JSON object as a string)
// and check them on load when the key is there. One key rather than one per tensor: the metadata
// map stays the user's (a tensor named like a user key cannot collide with it), and other readers
// (PyTorch, safetensors) see one string they ignore. Files without the key (PyTorch's, older
// tensile's) load as before. The key is tensile's, not the user's: save refuses it in user
// metadata and loadFile leaves it out of the metadata it returns, so a loaded file's metadata can
// be saved again (with checksums of the tensors then saved).
//
// This file only encodes and decodes; lib/io/atomic.ts makes the writes atomic and
// lib/train/checkpoint.ts builds training checkpoints on top.
import * as fs from 'fs';
import * as os from 'os';
import { DType, ITEM_SIZE } from '../dtype';
import { DataError, ValueError, fmtShape } from '../errors';
import { native } from '../native';
import { describe } from '../check';
import { Tensor, empty, fromTypedArray, hostBytes } from '../tensor';
import { PatchChunk, writeFileAtomic } from './atomic';
import { crc32c } from './crc32c';

/** The spec's names for tensile's dtypes. */
export const SAFETENSORS_DTYPE: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32', int64: 'I64', uint8: 'U8', bool: 'BOOL', bfloat16: 'BF16', float16: 'F16' };

const NATIVE_DTYPE: Record<string, DType> = Object.fromEntries(Object.entries(SAFETENSORS_DTYPE).map(([d, name]) => [name, d as DType]));

// dtypes we have no tensor type for, widened on load.
const WIDENED: Record<string, { to: DType; size: number; get: (v: DataView, at: number) => number }> = {
  I8: { to: 'int32', size: 1, get: (v, at) => v.getInt8(at) },
  I16: { to: 'int32', size: 2, get: (v, at) => v.getInt16(at, true) },
  U16: { to: 'int32', size: 2, get: (v, at) => v.getUint16(at, true) },
  U32: { to: 'int64', size: 4, get: (v, at) => v.getUint32(at, true) },
};

// The reference reader refuses headers above 100 MB; so do we (a corrupt length is usually huge).
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';
export const CHECKSUM_KEY = 'tensile.crc32c';

export interface SafetensorsContents {
  /** Tensors in the order of their data in the file. */
  tensors: Record<string, Tensor>;
  /** The header's "__metadata__" string map ({} when absent). */
  metadata: Record<string, string>;
}

export interface SaveOptions {
  /** Free-form strings stored under "__metadata__" (e.g. {"format": "pt"}). */
  metadata?: Record<string, string>;
  /** Store each tensor's CRC32C, checked on load (default true; false writes the plain layout). */
  checksum?: boolean;
}

export interface LoadOptions {
  /** Check the tensors' CRC32C where the file has them (default true). */
  verify?: boolean;
}

// ---------------------------------------------------------------------------------------------
// writing

/**
 * The file as a sequence of byte chunks: the length, the header, then one chunk per tensor. Each
 * tensor is copied to host memory only when its chunk is taken, so saving a large model does not
 * hold a second copy of all of it.
 *
 * With `checksum`, the header (which comes first) holds CRCs of data not yet seen: it goes out
 * with "00000000" in their place, each tensor is checksummed as its chunk is taken, and a last
 * PatchChunk writes the header again, complete, over the first (the same length: a CRC is always
 * 8 hex digits). Checksumming every tensor before the header instead would copy each tensor out
 * twice; that copy costs as much as the CRC (and is a second transfer for a GPU tensor).
 */
export function encodeChunks(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, op = 'save', checksum = true): Iterable<Uint8Array | PatchChunk> {
  const entries = checkTensors(tensors, op);
  checkMetadata(metadata, op);
  const withSums = checksum && entries.length > 0;
  const crcs = entries.map(() => '00000000');
  const header = (): Buffer => {
    const meta = withSums ? { ...metadata, [CHECKSUM_KEY]: `{${entries.map(([name], i) => `${JSON.stringify(name)}:"${crcs[i]}"`).join(',')}}` } : metadata;
    return encodeHeader(entries, meta);
  };
  const first = header();
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(first.length));
  return (function* () {
    yield length;
    yield first;
    for (const [i, [, t]] of entries.entries()) {
      const bytes = tensorBytes(t);
      if (withSums) crcs[i] = crc32c(bytes).toString(16).padStart(8, '0');
      yield bytes;
    }
    if (withSums) yield { at: 8, bytes: header() };
  })();
}

/** The JSON header, padded with spaces to a multiple of 8 bytes. */
function encodeHeader(entries: [string, Tensor][], metadata: Record<string, string>): Buffer {
  // Built by hand rather than with JSON.stringify(object): JS objects put integer-like keys ("0",
  // "1") first, and the header order must be the data order (the checksum map's order too).
  const parts: string[] = [];
  if (Object.keys(metadata).length) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const [name, t] of entries) {
    const nbytes = t.numel() * ITEM_SIZE[t.dtype];
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: SAFETENSORS_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, offset + nbytes] })}`);
    offset += nbytes;
  }
  const header = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const pad = (8 - (header.length % 8)) % 8;
  return pad ? Buffer.concat([header, Buffer.alloc(pad, 0x20)]) : header;
}

/** The whole file in one buffer. */
export function serialize(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, options: Pick<SaveOptions, 'checksum'> = {}): Buffer {
  const chunks = [...encodeChunks(tensors, metadata, 'serialize', options.checksum ?? true)];
  const out = Buffer.concat(chunks.filter((c): c is Uint8Array => c instanceof Uint8Array));
  for (const c of chunks) if (!(c instanceof Uint8Array)) out.set(c.bytes, c.at);
  return out;
}

/**
 * Writes tensors to `path` in the safetensors format, atomically (temporary file in the same
 * folder, fsync, rename, fsync of the folder): PyTorch's `safetensors.torch.save_file`.
 */
export function save(tensors: Record<string, Tensor>, path: string, options: SaveOptions = {}): void {
  if (typeof path !== 'string' || path === '') throw new ValueError(`save: expected a file path but received ${String(path)}`);
  writeFileAtomic(path, encodeChunks(tensors, options.metadata ?? {}, 'save', options.checksum ?? true));
}

function checkTensors(tensors: Record<string, Tensor>, op: string): [string, Tensor][] {
  if (!tensors || typeof tensors !== 'object') throw new ValueError(`${op}: expected an object of named tensors but received ${String(tensors)}`);
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '' || name === '__metadata__') throw new ValueError(`${op}: invalid tensor name '${name}'`);
    if (!(t instanceof Tensor)) throw new ValueError(`${op}: '${name}' is not a Tensor (found ${describe(t)})`);
    if (t.isDisposed) throw new ValueError(`${op}: '${name}' has been disposed`);
  }
  return entries;
}

function checkMetadata(metadata: Record<string, string>, op: string): void {
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) throw new ValueError(`${op}: metadata must be an object of strings`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new ValueError(`${op}: metadata values must be strings, but '${k}' is ${typeof v}`);
  }
  if (CHECKSUM_KEY in metadata) throw new ValueError(`${op}: the metadata key '${CHECKSUM_KEY}' is tensile's own (the tensors' checksums); choose another`);
}

function tensorBytes(t: Tensor): Uint8Array {
  const bytes = hostBytes(t.device === 'cpu' ? t : t.to('cpu'));
  return LITTLE_ENDIAN_HOST ? bytes : swapBytes(bytes, ITEM_SIZE[t.dtype]);
}

// ---------------------------------------------------------------------------------------------
// reading

/**
 * Reads the tensors of a safetensors file: PyTorch's `safetensors.torch.load_file`. Tensors whose
 * checksum the file holds are verified (a mismatch is a DataError naming the tensor and the file)
 * unless `verify` is false.
 */
export function load(path: string, options: LoadOptions = {}): Record<string, Tensor> {
  return loadFile(path, options).tensors;
}

/** Reads the tensors and the "__metadata__" map (less tensile's checksum key) of a safetensors file. */
export function loadFile(path: string, options: LoadOptions = {}): SafetensorsContents {
  if (typeof path !== 'string' || path === '') throw new ValueError(`load: expected a file path but received ${String(path)}`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new DataError(`load: cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  return deserialize(bytes, path, options);
}

interface HeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses a whole safetensors file held in memory. `source` names it in errors: every problem (a
 * truncated file, a corrupt header, offsets that do not match the shapes) is a DataError that
 * starts with "load: <source>: ".
 */
export function deserialize(bytes: Uint8Array, source = '<buffer>', options: LoadOptions = {}): SafetensorsContents {
  const fail: (what: string) => never = (what) => {
    throw new DataError(`load: ${source}: ${what}`);
  };
  if (bytes.byteLength < 8) fail(`truncated file: ${bytes.byteLength} bytes, but a safetensors file starts with an 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`corrupt header: header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.byteLength) fail(`truncated file: the header needs ${headerLen} bytes but only ${bytes.byteLength - 8} follow the length`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`corrupt header: ${(e as Error).message}`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('corrupt header: not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!info || typeof info !== 'object' || Array.isArray(info)) fail('corrupt header: "__metadata__" is not an object of strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`corrupt header: "__metadata__" value for '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    entries.push(parseEntry(name, info, fail));
  }

  // Data must be back to back from offset 0 up to the end of the file, as the spec requires.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  let expect = 0;
  for (const e of entries) {
    if (e.begin !== expect) fail(`corrupt header: '${e.name}' data starts at byte ${e.begin}, expected ${expect} (tensors must be stored back to back)`);
    expect = e.end;
  }
  if (expect > dataLen) fail(`truncated file: tensor data needs ${expect} bytes after the header but the file has ${dataLen}`);
  if (expect < dataLen) fail(`corrupt file: ${dataLen - expect} bytes after the last tensor's data`);

  const sums = metadata[CHECKSUM_KEY];
  delete metadata[CHECKSUM_KEY];
  if (sums !== undefined && options.verify !== false) verifyChecksums(sums, entries, bytes.subarray(dataStart), fail);

  const tensors: Record<string, Tensor> = {};
  // defineProperty: a tensor named "__proto__" must be an entry, not the object's prototype
  for (const e of entries) {
    Object.defineProperty(tensors, e.name, { value: decodeTensor(e, bytes.subarray(dataStart + e.begin, dataStart + e.end)), enumerable: true, writable: true, configurable: true });
  }
  return { tensors, metadata };
}

function parseEntry(name: string, info: unknown, fail: (what: string) => never): HeaderEntry {
  if (!info || typeof info !== 'object' || Array.isArray(info)) fail(`corrupt header: entry '${name}' is not an object`);
  const { dtype, shape, data_offsets: offsets } = info as { dtype: unknown; shape: unknown; data_offsets: unknown };
  if (typeof dtype !== 'string') fail(`corrupt header: '${name}' has no dtype`);
  const itemSize = (dtype as string) in NATIVE_DTYPE ? ITEM_SIZE[NATIVE_DTYPE[dtype as string]] : WIDENED[dtype as string]?.size;
  if (!itemSize) fail(`unsupported dtype '${String(dtype)}' for '${name}' (tensile reads ${[...Object.keys(NATIVE_DTYPE), ...Object.keys(WIDENED)].join(', ')})`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`corrupt header: '${name}' has an invalid shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    fail(`corrupt header: '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const [begin, end] = offsets as number[];
  if ((end - begin) !== numel * itemSize!) {
    fail(`corrupt header: '${name}' is ${dtype} ${fmtShape(shape as number[])} (${numel * itemSize!} bytes) but its data_offsets [${begin}, ${end}] span ${end - begin} bytes`);
  }
  return { name, dtype: dtype as string, shape: shape as number[], begin, end };
}

/** Checks each tensor's bytes against the CRC32C the header holds for it. */
function verifyChecksums(sums: string, entries: HeaderEntry[], data: Uint8Array, fail: (what: string) => never): void {
  let want: unknown;
  try {
    want = JSON.parse(sums);
  } catch (e) {
    fail(`corrupt header: "${CHECKSUM_KEY}" is not JSON (${(e as Error).message})`);
  }
  if (!want || typeof want !== 'object' || Array.isArray(want)) fail(`corrupt header: "${CHECKSUM_KEY}" is not an object`);
  const crcs = want as Record<string, unknown>;
  // Every tensor listed and nothing else: a flipped bit in a name shows up here.
  const names = new Set(entries.map((e) => e.name));
  for (const name of Object.keys(crcs)) if (!names.has(name)) fail(`corrupt header: "${CHECKSUM_KEY}" has a checksum for '${name}', which the file does not hold`);
  for (const e of entries) {
    const hex = Object.prototype.hasOwnProperty.call(crcs, e.name) ? crcs[e.name] : undefined;
    if (typeof hex !== 'string' || !/^[0-9a-f]{8}$/.test(hex)) fail(`corrupt header: "${CHECKSUM_KEY}" has no valid checksum for '${e.name}'`);
    const got = crc32c(data.subarray(e.begin, e.end)).toString(16).padStart(8, '0');
    if (got !== hex) {
      fail(`checksum mismatch in tensor '${e.name}': its data has CRC32C ${got} but the file recorded ${hex} (the file is corrupt; load it with { verify: false } to read it anyway)`);
    }
  }
}

function decodeTensor(e: HeaderEntry, bytes: Uint8Array): Tensor {
  const dtype = NATIVE_DTYPE[e.dtype];
  if (dtype) {
    const t = empty(e.shape, { dtype });
    if (bytes.byteLength) native.write(t.handle, 0, LITTLE_ENDIAN_HOST ? bytes : swapBytes(bytes, ITEM_SIZE[dtype]));
    return t;
  }
  const w = WIDENED[e.dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / w.size;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = w.get(view, i * w.size);
  return fromTypedArray(out, e.shape, { dtype: w.to });
}

// ---------------------------------------------------------------------------------------------
// helpers

function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += size) for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j];
  return out;
}

