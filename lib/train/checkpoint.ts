// Training checkpoints: everything needed to continue a run as if it had never stopped, in one
// safetensors file that PyTorch can open too.
//
//   tensors        "model.<key>"      the model's state dict (parameters and buffers)
//                  "optimizer.<path>" each tensor of the optimizer's state dict, e.g.
//                                     "optimizer.state.0.momentum_buffer"
//                  "scheduler.<path>" tensors of the scheduler's state, if it has any
//   __metadata__   "tensile.checkpoint"  format version ("1")
//                  "epoch"               epochs completed
//                  "seed"                the run's seed, when known
//                  "optimizer", "scheduler", "loader", "rng", "history", "config": JSON. Tensors
//                  inside are {"$tensor": "<key>"}; non-finite numbers {"$number": "Infinity"};
//                  bigints {"$bigint": "..."} (the global generator's 64-bit state)
//                  "tensile.crc32c"      each tensor's checksum, written and checked by
//                                        lib/io/safetensors.ts (loadFile does not return it)
//
// Writes are atomic (lib/io/atomic.ts), so a crash mid-save leaves the previous checkpoint intact.
import { DataError, ValueError } from '../errors';
import { LoadOptions, loadFile, save } from '../io/safetensors';
import { Tensor } from '../tensor';

export const CHECKPOINT_VERSION = '1';

export interface Checkpoint {
  /** The model's state dict. */
  model: Record<string, Tensor>;
  /** optimizer.stateDict(), tensors and all. */
  optimizer?: unknown;
  /** scheduler.stateDict(). */
  scheduler?: unknown;
  /** Epochs completed. */
  epoch: number;
  seed?: number | null;
  /** Random state: the global generator's and anything else that decides the next epoch. */
  rng?: unknown;
  /** The training loader's shuffle state (its seed and epoch). */
  loader?: unknown;
  /** The history so far (History.toJSON()). */
  history?: unknown;
  /** Free-form settings of the run (the CLI's model name, batch size, ...). */
  config?: Record<string, unknown>;
}

const JSON_FIELDS = ['optimizer', 'scheduler', 'rng', 'loader', 'history', 'config'] as const;

/** Writes a checkpoint atomically. */
export function saveCheckpoint(file: string, ckpt: Checkpoint): void {
  if (!Number.isInteger(ckpt.epoch) || ckpt.epoch < 0) throw new ValueError(`saveCheckpoint: epoch must be a non-negative integer but received ${ckpt.epoch}`);
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(ckpt.model)) tensors[`model.${k}`] = t;
  const metadata: Record<string, string> = { 'tensile.checkpoint': CHECKPOINT_VERSION, epoch: String(ckpt.epoch) };
  if (ckpt.seed !== undefined && ckpt.seed !== null) metadata.seed = String(ckpt.seed);
  for (const field of JSON_FIELDS) {
    const v = ckpt[field];
    if (v !== undefined) metadata[field] = JSON.stringify(encodeState(v, field, tensors));
  }
  save(tensors, file, { metadata });
}

/**
 * Reads a checkpoint written by saveCheckpoint; a file that is not one, or whose tensors fail their
 * checksums (unless `verify` is false), is a DataError naming it.
 */
export function loadCheckpoint(file: string, options: LoadOptions = {}): Checkpoint {
  const { tensors, metadata } = loadFile(file, options);
  if (metadata['tensile.checkpoint'] === undefined) {
    throw new DataError(`loadCheckpoint: ${file} is a safetensors file but not a tensile checkpoint (no "tensile.checkpoint" in its metadata); load plain weights with tn.load`);
  }
  if (metadata['tensile.checkpoint'] !== CHECKPOINT_VERSION) {
    throw new DataError(`loadCheckpoint: ${file} has checkpoint format ${metadata['tensile.checkpoint']}, this tensile reads format ${CHECKPOINT_VERSION}`);
  }
  const epoch = Number(metadata.epoch);
  if (!Number.isInteger(epoch) || epoch < 0) throw new DataError(`loadCheckpoint: ${file}: corrupt metadata: epoch is '${metadata.epoch}'`);
  const model: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) if (k.startsWith('model.')) model[k.slice('model.'.length)] = t;
  const ckpt: Checkpoint = { model, epoch };
  if (metadata.seed !== undefined) ckpt.seed = Number(metadata.seed);
  for (const field of JSON_FIELDS) {
    if (metadata[field] === undefined) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata[field]);
    } catch (e) {
      throw new DataError(`loadCheckpoint: ${file}: corrupt metadata: "${field}" is not JSON (${(e as Error).message})`);
    }
    (ckpt as unknown as Record<string, unknown>)[field] = decodeState(parsed, tensors, file);
  }
  return ckpt;
}

// ---------------------------------------------------------------------------------------------
// state objects <-> JSON plus named tensors

/**
 * A JSON-safe copy of `v` in which every tensor is moved into `tensors` under `prefix.<path>`
 * and replaced by a reference to that key.
 */
export function encodeState(v: unknown, prefix: string, tensors: Record<string, Tensor>): unknown {
  if (v instanceof Tensor) {
    if (prefix in tensors) throw new ValueError(`saveCheckpoint: two state entries map to the tensor key '${prefix}'`);
    tensors[prefix] = v;
    return { $tensor: prefix };
  }
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $number: String(v) };
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map((x, i) => encodeState(x, `${prefix}.${i}`, tensors));
  if (v instanceof Map) throw new ValueError(`saveCheckpoint: cannot store a Map at '${prefix}' (use a plain object)`);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined && typeof x !== 'function') out[k] = encodeState(x, `${prefix}.${k}`, tensors);
    return out;
  }
  throw new ValueError(`saveCheckpoint: cannot store a ${typeof v} at '${prefix}'`);
}

/** The inverse of encodeState. */
export function decodeState(v: unknown, tensors: Record<string, Tensor>, file = '<checkpoint>'): unknown {
  if (Array.isArray(v)) return v.map((x) => decodeState(x, tensors, file));
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o.$tensor === 'string') {
      const t = tensors[o.$tensor];
      if (!t) throw new DataError(`loadCheckpoint: ${file}: corrupt checkpoint: metadata refers to tensor '${o.$tensor}', which the file does not hold`);
      return t;
    }
    if (keys.length === 1 && typeof o.$number === 'string') return Number(o.$number);
    if (keys.length === 1 && typeof o.$bigint === 'string') return BigInt(o.$bigint);
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decodeState(o[k], tensors, file);
    return out;
  }
  return v;
}
