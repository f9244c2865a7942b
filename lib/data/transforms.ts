// Image transforms, torchvision's names: toTensor, normalize, compose, randomHorizontalFlip,
// randomCrop. Each is a function (image: Tensor, ctx?) => Tensor that also carries a serialisable
// `spec`, so that a dataset can run it on its raw uint8 storage in its batch path and a worker
// thread can rebuild it. The work happens in pipeline.ts (plain typed arrays).
//
// Images are [C, H, W] (or [H, W], or [..., C, H, W] where every leading image gets the same
// random decision). The built-in datasets give uint8 [1, 28, 28]: `toTensor` makes it float32 in
// [0, 1] and `normalize` on a uint8 image converts the same way first, so that
// `normalize(0.2860, 0.3530)` alone gives the usual normalised input.
//
// Randomness: inside a DataLoader each sample's draws come from (loader seed, epoch, sample index,
// transform seed, position in the pipeline), whatever thread runs them. Called by hand (no ctx), a
// random transform draws from its own counter-based stream, reproducible from its `seed`.
import { DTypeError, ValueError } from '../errors';
import { Tensor } from '../tensor';
import { wrapArray } from './collate';
import { hashSeed } from './rng';
import { PaddingMode, Pipeline, PixelArray, SampleContext, TransformSpec, checkPixelDType } from './pipeline';

export type { SampleContext, TransformSpec, PaddingMode } from './pipeline';

/** A transform: a function of the sample (and its context); built-ins also carry a `spec`. */
export interface Transform<I = Tensor, O = Tensor> {
  (x: I, ctx?: SampleContext): O;
  /** Set on built-in transforms (and compositions of them only): what workers rebuild them from. */
  readonly spec?: TransformSpec;
}

function builtin(spec: TransformSpec, name: string): Transform {
  const pipe = new Pipeline(spec);
  const fn = (x: Tensor, ctx?: SampleContext): Tensor => {
    if (!(x instanceof Tensor)) throw new DTypeError(`${name}: expected a Tensor image but received ${describe(x)}`);
    checkPixelDType(name, x.dtype);
    const out = pipe.run({ data: x.contiguous().data as PixelArray, shape: x.shape.slice() }, ctx);
    return wrapArray(out.data, out.shape, checkPixelDType(name, pixelName(out.data)));
  };
  Object.defineProperty(fn, 'spec', { value: spec, enumerable: true });
  Object.defineProperty(fn, 'name', { value: name });
  return fn as Transform;
}

function pixelName(a: PixelArray): string {
  return a instanceof Uint8Array ? 'uint8' : a instanceof Float32Array ? 'float32' : 'float64';
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'object'}` : `${typeof v} ${String(v)}`;
}

function checkSeed(op: string, seed: unknown): number {
  if (seed === undefined) return 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw new ValueError(`${op}: expected a non-negative integer for seed but received ${String(seed)}`);
  return seed;
}

/** uint8 [0, 255] -> float32 [0, 1]; [H, W] becomes [1, H, W]. Float images pass through. */
export function toTensor(): Transform {
  return builtin({ op: 'toTensor' }, 'toTensor');
}

/**
 * (x - mean[c]) / std[c] per channel c (dim -3), in float32 arithmetic as torchvision does. mean
 * and std are one number (all channels) or one per channel. A uint8 image is first converted as
 * `toTensor` does.
 */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): Transform {
  const m = typeof mean === 'number' ? [mean] : Array.from(mean);
  const s = typeof std === 'number' ? [std] : Array.from(std);
  if (m.length === 0 || s.length === 0) throw new ValueError('normalize: mean and std need at least one value each');
  for (const v of [...m, ...s]) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`normalize: expected finite numbers for mean and std but received ${String(v)}`);
  }
  if (s.some((v) => Math.fround(v) === 0)) throw new ValueError(`normalize: std ${JSON.stringify(s)} has a zero, which would divide by zero`);
  if (m.length !== 1 && s.length !== 1 && m.length !== s.length) throw new ValueError(`normalize: mean has ${m.length} values but std has ${s.length}`);
  return builtin({ op: 'normalize', mean: m, std: s }, 'normalize');
}

/** Mirrors the image left-right with probability p. */
export function randomHorizontalFlip(p: number | { p?: number; seed?: number } = 0.5, options: { seed?: number } = {}): Transform {
  const o = typeof p === 'object' ? p : { p, seed: options.seed };
  const prob = o.p ?? 0.5;
  if (typeof prob !== 'number' || !(prob >= 0 && prob <= 1)) throw new ValueError(`randomHorizontalFlip: p must be in [0, 1] but got ${String(prob)}`);
  return builtin({ op: 'randomHorizontalFlip', p: prob, seed: checkSeed('randomHorizontalFlip', o.seed) }, 'randomHorizontalFlip');
}

export interface RandomCropOptions {
  /** One number (all sides), [left/right, top/bottom] or [left, top, right, bottom]; default 0. */
  padding?: number | readonly number[];
  /** Pad the image when it is smaller than the crop (torchvision's pad_if_needed). */
  padIfNeeded?: boolean;
  /** Value of constant padding (in the image's own units: 0..255 for uint8). */
  fill?: number;
  paddingMode?: PaddingMode;
  seed?: number;
}

/** Pads (optionally), then crops a random size[0] x size[1] window. */
export function randomCrop(size: number | readonly number[], options: RandomCropOptions = {}): Transform {
  const sz = typeof size === 'number' ? [size, size] : Array.from(size);
  if (sz.length === 1) sz.push(sz[0]);
  if (sz.length !== 2 || sz.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new ValueError(`randomCrop: size must be a positive integer or a pair of them but got ${JSON.stringify(size)}`);
  }
  const pad = options.padding ?? 0;
  const p = typeof pad === 'number' ? [pad, pad, pad, pad] : Array.from(pad);
  const padding = p.length === 1 ? [p[0], p[0], p[0], p[0]] : p.length === 2 ? [p[0], p[1], p[0], p[1]] : p;
  if (padding.length !== 4 || padding.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ValueError(`randomCrop: padding must be a non-negative integer or a list of 1, 2 or 4 of them but got ${JSON.stringify(pad)}`);
  }
  const mode = options.paddingMode ?? 'constant';
  if (!['constant', 'edge', 'reflect', 'symmetric'].includes(mode)) {
    throw new ValueError(`randomCrop: paddingMode must be 'constant', 'edge', 'reflect' or 'symmetric' but got '${String(mode)}'`);
  }
  const fill = options.fill ?? 0;
  if (typeof fill !== 'number' || !Number.isFinite(fill)) throw new ValueError(`randomCrop: fill must be a finite number but got ${String(fill)}`);
  return builtin(
    {
      op: 'randomCrop',
      size: [sz[0], sz[1]],
      padding: padding as [number, number, number, number],
      fill,
      paddingMode: mode,
      padIfNeeded: !!options.padIfNeeded,
      seed: checkSeed('randomCrop', options.seed),
    },
    'randomCrop',
  );
}

/**
 * Applies transforms in order. A composition of built-ins is itself a built-in (it runs fused in
 * batch paths and in workers); with a user function in it, it runs step by step on tensors.
 */
export function compose<T = Tensor>(transforms: readonly Transform<any, any>[]): Transform<T, any> {
  if (!Array.isArray(transforms)) throw new ValueError(`compose: expected an array of transforms but received ${describe(transforms)}`);
  transforms.forEach((t, i) => {
    if (typeof t !== 'function') throw new ValueError(`compose: transform ${i} is ${describe(t)}, not a function`);
  });
  if (transforms.every((t) => t.spec)) return builtin({ op: 'compose', transforms: transforms.map((t) => t.spec!) }, 'compose') as unknown as Transform<T, any>;
  const list = transforms.slice();
  const fn = (x: T, ctx?: SampleContext): unknown => {
    let v: unknown = x;
    // Each position gets its own stream, so two identical random transforms do not move together.
    list.forEach((t, k) => (v = t(v, ctx ? { seed: hashSeed(ctx.seed, k), epoch: ctx.epoch, index: ctx.index } : undefined)));
    return v;
  };
  return fn as Transform<T, any>;
}
