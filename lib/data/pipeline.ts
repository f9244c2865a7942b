// The image transform pipeline on plain typed arrays. Pure JS, no native code, so that worker
// threads run the very same code as the main thread. lib/data/transforms.ts wraps it into the
// user-facing transform functions (which take and return Tensors); datasets with a batch path call
// it directly on their uint8 storage, writing each sample straight into the batch buffer.
//
// A transform is described by a serialisable spec (what a worker receives); `Pipeline` compiles a
// spec into stages. Runs of point-wise stages (toTensor, normalize) fuse: on uint8 input they
// become one 256-entry lookup table per channel, computed by applying each stage in turn with
// float32 rounding, so the fused result is bit-identical to applying the stages one by one.
//
// Images are [..., C, H, W] (or [H, W]); random stages take their draws from a stream keyed by
// (loader seed, epoch, sample index, stage seed), see rng.ts.
import { ShapeError, ValueError, DTypeError, fmtShape } from '../errors';
import { Rng, SALT_NO_CONTEXT, hashSeed } from './rng';

export type PixelArray = Uint8Array | Float32Array | Float64Array;
export type PixelDType = 'uint8' | 'float32' | 'float64';

/** An image (or a stack of them) as a flat typed array with a row-major shape. */
export interface Img {
  data: PixelArray;
  shape: number[];
}

/** Where a sample's randomness comes from: the DataLoader's seed, the epoch and the dataset index. */
export interface SampleContext {
  seed: number;
  epoch: number;
  index: number;
}

export type PaddingMode = 'constant' | 'edge' | 'reflect' | 'symmetric';

export type TransformSpec =
  | { op: 'toTensor' }
  | { op: 'normalize'; mean: number[]; std: number[] }
  | { op: 'randomHorizontalFlip'; p: number; seed: number }
  | {
      op: 'randomCrop';
      size: [number, number];
      /** left, top, right, bottom */
      padding: [number, number, number, number];
      fill: number;
      paddingMode: PaddingMode;
      padIfNeeded: boolean;
      seed: number;
    }
  | { op: 'compose'; transforms: TransformSpec[] };

export function pixelDType(a: PixelArray): PixelDType {
  return a instanceof Uint8Array ? 'uint8' : a instanceof Float32Array ? 'float32' : 'float64';
}

function newPixels(dtype: PixelDType, n: number): PixelArray {
  return dtype === 'uint8' ? new Uint8Array(n) : dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Channels of an image for per-channel ops: dim -3 of [..., C, H, W], 1 for [H, W]. */
function channelsOf(shape: readonly number[]): number {
  return shape.length >= 3 ? shape[shape.length - 3] : 1;
}

function checkImageShape(op: string, shape: readonly number[]): void {
  if (shape.length < 2) throw new ShapeError(`${op}: expected an image of shape [..., H, W] but got ${fmtShape(shape)}`);
}

// ---------------------------------------------------------------------------------------------
// stages

interface Meta {
  shape: number[];
  dtype: PixelDType;
}

/** A point-wise stage: out = f(x, channel), applied element by element. */
interface PointStage {
  kind: 'point';
  op: string;
  /** Validates the input and gives the output's shape and dtype. */
  meta(m: Meta): Meta;
  /** The output dtype for an input dtype. */
  outDtype(d: PixelDType): PixelDType;
  /** One element, with the rounding of the output dtype. */
  scalar(x: number, c: number, inDtype: PixelDType): number;
}

/** A stage that moves pixels around (random flips and crops). */
interface GeomStage {
  kind: 'geom';
  op: string;
  seed: number;
  meta(m: Meta): Meta;
  run(img: Img, rng: Rng): Img;
}

type Stage = PointStage | GeomStage;

const f32 = Math.fround;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const toFloat = (d: PixelDType): PixelDType => (d === 'uint8' ? 'float32' : d);

function toTensorStage(): PointStage {
  return {
    kind: 'point',
    op: 'toTensor',
    outDtype: toFloat,
    meta(m) {
      // [H, W] gains a channel dim, as torchvision's ToTensor gives [1, H, W].
      const shape = m.shape.length === 2 ? [1, ...m.shape] : m.shape.slice();
      checkImageShape('toTensor', m.shape);
      return { shape, dtype: toFloat(m.dtype) };
    },
    scalar(x, _c, inDtype) {
      // uint8 [0, 255] -> float32 [0, 1]; float images pass through unchanged.
      return inDtype === 'uint8' ? f32(x / 255) : x;
    },
  };
}

function normalizeStage(mean: number[], std: number[]): PointStage {
  const m32 = mean.map(f32);
  const s32 = std.map(f32);
  return {
    kind: 'point',
    op: 'normalize',
    outDtype: toFloat,
    meta(m) {
      checkImageShape('normalize', m.shape);
      const c = channelsOf(m.shape);
      if ((mean.length !== 1 && mean.length !== c) || (std.length !== 1 && std.length !== c)) {
        throw new ShapeError(`normalize: mean has ${mean.length} and std ${std.length} values but the image ${fmtShape(m.shape)} has ${c} channel${c === 1 ? '' : 's'}`);
      }
      return { shape: m.shape.slice(), dtype: toFloat(m.dtype) };
    },
    scalar(x, c, inDtype) {
      const mi = mean.length === 1 ? 0 : c;
      const si = std.length === 1 ? 0 : c;
      if (inDtype === 'float64') return (x - mean[mi]) / std[si];
      // uint8 input is converted as toTensor would first (so `normalize` alone works on raw images).
      const v = inDtype === 'uint8' ? f32(x / 255) : x;
      // float32 arithmetic, as torchvision's tensor.sub_(mean).div_(std).
      return f32(f32(v - m32[mi]) / s32[si]);
    },
  };
}

function flipStage(p: number, seed: number): GeomStage {
  return {
    kind: 'geom',
    op: 'randomHorizontalFlip',
    seed,
    meta(m) {
      checkImageShape('randomHorizontalFlip', m.shape);
      return { shape: m.shape.slice(), dtype: m.dtype };
    },
    run(img, rng) {
      if (!(rng.random() < p)) return img;
      return hflip(img);
    },
  };
}

/** Mirrors the last dimension. */
export function hflip(img: Img): Img {
  const w = img.shape[img.shape.length - 1];
  const src = img.data;
  const out = newPixels(pixelDType(src), src.length);
  for (let r = 0; r < src.length; r += w) {
    for (let k = 0; k < w; k++) out[r + w - 1 - k] = src[r + k];
  }
  return { data: out, shape: img.shape.slice() };
}

/** Maps a coordinate of the padded image back into [0, n) for the non-constant padding modes. */
function padIndex(s: number, n: number, mode: PaddingMode): number {
  if (s >= 0 && s < n) return s;
  switch (mode) {
    case 'edge':
      return s < 0 ? 0 : n - 1;
    case 'reflect': // ... 2 1 | 0 1 2 ... (edge not repeated)
      return s < 0 ? -s : 2 * (n - 1) - s;
    default: // symmetric: ... 1 0 | 0 1 2 ... (edge repeated)
      return s < 0 ? -s - 1 : 2 * n - 1 - s;
  }
}

function cropStage(spec: Extract<TransformSpec, { op: 'randomCrop' }>): GeomStage {
  const [th, tw] = spec.size;
  const [pl, pt, pr, pb] = spec.padding;
  // Padding per side for an h x w image: the fixed padding, plus pad_if_needed's shortfall
  // (torchvision pads both sides by it).
  const padForShape = (h: number, w: number): [number, number, number, number] => {
    let [l, t, r, b] = [pl, pt, pr, pb];
    if (spec.padIfNeeded && h + t + b < th) {
      const d = th - (h + t + b);
      t += d;
      b += d;
    }
    if (spec.padIfNeeded && w + l + r < tw) {
      const d = tw - (w + l + r);
      l += d;
      r += d;
    }
    return [l, t, r, b];
  };
  return {
    kind: 'geom',
    op: 'randomCrop',
    seed: spec.seed,
    meta(m) {
      checkImageShape('randomCrop', m.shape);
      const h = m.shape[m.shape.length - 2];
      const w = m.shape[m.shape.length - 1];
      const [l, t, r, b] = padForShape(h, w);
      if (spec.paddingMode === 'reflect' || spec.paddingMode === 'symmetric') {
        const lim = spec.paddingMode === 'reflect' ? 1 : 0;
        if (Math.max(t, b) > h - lim || Math.max(l, r) > w - lim) {
          throw new ValueError(`randomCrop: padding ${fmtShape([l, t, r, b])} is too large for ${spec.paddingMode} padding of an image ${fmtShape(m.shape)}`);
        }
      }
      if (m.dtype === 'uint8' && spec.paddingMode === 'constant' && !(Number.isInteger(spec.fill) && spec.fill >= 0 && spec.fill <= 255)) {
        throw new ValueError(`randomCrop: fill ${spec.fill} does not fit a uint8 image; use an integer in [0, 255] or crop after toTensor`);
      }
      if (h + t + b < th || w + l + r < tw) {
        throw new ShapeError(`randomCrop: crop size ${fmtShape([th, tw])} is larger than the padded image ${fmtShape([h + t + b, w + l + r])} (input ${fmtShape(m.shape)})`);
      }
      return { shape: [...m.shape.slice(0, -2), th, tw], dtype: m.dtype };
    },
    run(img, rng) {
      const h = img.shape[img.shape.length - 2];
      const w = img.shape[img.shape.length - 1];
      const [l, t, r, b] = padForShape(h, w);
      const hp = h + t + b;
      const wp = w + l + r;
      // torchvision's RandomCrop.get_params: no draw when the crop is the whole image.
      const i = hp === th && wp === tw ? 0 : rng.below(hp - th + 1);
      const j = hp === th && wp === tw ? 0 : rng.below(wp - tw + 1);
      const src = img.data;
      const planes = src.length / (h * w);
      const out = newPixels(pixelDType(src), planes * th * tw);
      const constant = spec.paddingMode === 'constant';
      for (let c = 0; c < planes; c++) {
        const sBase = c * h * w;
        const oBase = c * th * tw;
        for (let y = 0; y < th; y++) {
          let sy = i + y - t;
          const rowIn = sy >= 0 && sy < h;
          if (!rowIn && !constant) sy = padIndex(sy, h, spec.paddingMode);
          for (let x = 0; x < tw; x++) {
            let sx = j + x - l;
            const colIn = sx >= 0 && sx < w;
            if (rowIn && colIn) {
              out[oBase + y * tw + x] = src[sBase + sy * w + sx];
            } else if (constant) {
              out[oBase + y * tw + x] = spec.fill;
            } else {
              if (!colIn) sx = padIndex(sx, w, spec.paddingMode);
              out[oBase + y * tw + x] = src[sBase + sy * w + sx];
            }
          }
        }
      }
      return { data: out, shape: [...img.shape.slice(0, -2), th, tw] };
    },
  };
}

function flattenSpec(spec: TransformSpec, out: Stage[]): Stage[] {
  switch (spec.op) {
    case 'compose':
      for (const s of spec.transforms) flattenSpec(s, out);
      break;
    case 'toTensor':
      out.push(toTensorStage());
      break;
    case 'normalize':
      out.push(normalizeStage(spec.mean, spec.std));
      break;
    case 'randomHorizontalFlip':
      out.push(flipStage(spec.p, spec.seed));
      break;
    case 'randomCrop':
      out.push(cropStage(spec));
      break;
    default:
      throw new ValueError(`transform: unknown transform spec ${JSON.stringify(spec)}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// compiled pipeline

/** A run of point-wise stages, applied as one pass (a lookup table on uint8 input). */
class PointGroup {
  private luts = new Map<string, PixelArray>();
  constructor(readonly stages: PointStage[]) {}

  meta(m: Meta): Meta {
    for (const s of this.stages) m = s.meta(m);
    return m;
  }

  /** The input dtype of each stage, for an input of `dtype`. */
  private inDtypes(dtype: PixelDType): PixelDType[] {
    const out: PixelDType[] = [];
    for (const s of this.stages) {
      out.push(dtype);
      dtype = s.outDtype(dtype);
    }
    return out;
  }

  /** One value through every stage, each rounding to its output dtype. */
  private chain(x: number, c: number, dts: PixelDType[]): number {
    for (let i = 0; i < this.stages.length; i++) x = this.stages[i].scalar(x, c, dts[i]);
    return x;
  }

  /** Per-channel 256-entry table for uint8 input (C * 256 entries of the output dtype). */
  lut(shape: number[], outDtype: PixelDType): PixelArray {
    const c = channelsOf(shape);
    const key = `${c}`;
    let t = this.luts.get(key);
    if (!t) {
      t = newPixels(outDtype, c * 256);
      const dts = this.inDtypes('uint8');
      for (let ch = 0; ch < c; ch++) for (let v = 0; v < 256; v++) t[ch * 256 + v] = this.chain(v, ch, dts);
      this.luts.set(key, t);
    }
    return t;
  }

  /**
   * Two pixels per lookup: entry a | b << 8 holds the float32 results of pixels a and b side by
   * side, read and written as one float64 slot (little-endian hosts, float32 output, finite
   * values only: a float64 NaN could lose its bits in a register). Null when that does not hold.
   * 512 KiB per channel, built on first use.
   */
  pairLut(shape: number[], outDtype: PixelDType): Float64Array | null {
    if (outDtype !== 'float32' || !LITTLE_ENDIAN) return null;
    const c = channelsOf(shape);
    if (this.pairs.has(c)) return this.pairs.get(c)!;
    const lut = this.lut(shape, outDtype) as Float32Array;
    let table: Float64Array | null = null;
    if (lut.every((v) => Number.isFinite(v))) {
      const f32 = new Float32Array(c * 65536 * 2);
      for (let ch = 0; ch < c; ch++) {
        for (let b = 0; b < 256; b++) {
          for (let a = 0; a < 256; a++) {
            const k = 2 * (ch * 65536 + (a | (b << 8)));
            f32[k] = lut[ch * 256 + a];
            f32[k + 1] = lut[ch * 256 + b];
          }
        }
      }
      table = new Float64Array(f32.buffer);
    }
    this.pairs.set(c, table);
    return table;
  }
  private pairs = new Map<number, Float64Array | null>();

  /** Applies the group writing into out[outOff ...]. */
  runInto(img: Img, m: Meta, out: PixelArray, outOff: number): void {
    const src = img.data;
    const hw = img.shape[img.shape.length - 1] * img.shape[img.shape.length - 2];
    const c = channelsOf(img.shape);
    const inDtype = pixelDType(src);
    const lut = inDtype === 'uint8' ? this.lut(img.shape, m.dtype) : null;
    const dts = lut ? [] : this.inDtypes(inDtype);
    for (let p = 0, base = 0; base < src.length; p++, base += hw) {
      const ch = p % c;
      const o = outOff + base;
      if (lut) {
        const l = ch * 256;
        for (let k = 0; k < hw; k++) out[o + k] = lut[l + src[base + k]];
      } else {
        for (let k = 0; k < hw; k++) out[o + k] = this.chain(src[base + k], ch, dts);
      }
    }
  }
}

type Step = PointGroup | GeomStage;

/**
 * A compiled transform spec. `run` maps one image; `runInto` writes the result into a batch
 * buffer. Without a SampleContext (a transform called by hand), random stages draw from a per-stage
 * call counter, so the sequence is still reproducible from the transform's seed.
 */
export class Pipeline {
  readonly steps: Step[] = [];
  private counters: number[] = [];

  constructor(readonly spec: TransformSpec | null) {
    const stages = spec ? flattenSpec(spec, []) : [];
    let run: PointStage[] = [];
    for (const s of stages) {
      if (s.kind === 'point') run.push(s);
      else {
        if (run.length) this.steps.push(new PointGroup(run));
        run = [];
        this.steps.push(s);
      }
    }
    if (run.length) this.steps.push(new PointGroup(run));
    this.counters = this.steps.map(() => 0);
  }

  get isIdentity(): boolean {
    return this.steps.length === 0;
  }

  /** Output shape and dtype for an input shape and dtype (validates, throwing typed errors). */
  meta(shape: readonly number[], dtype: PixelDType): Meta {
    return this.plan(shape, dtype)[this.steps.length];
  }

  private rngFor(k: number, stage: GeomStage, ctx: SampleContext | undefined): Rng {
    // k (the stage's position) keeps two identical random stages of one pipeline independent.
    if (ctx) return new Rng(hashSeed(ctx.seed, ctx.epoch, ctx.index, stage.seed, k));
    return new Rng(hashSeed(stage.seed, this.counters[k]++, SALT_NO_CONTEXT, k));
  }

  /** Transforms one image. The result may share memory with the input when nothing changes it. */
  run(img: Img, ctx?: SampleContext): Img {
    return this.runSteps(img, ctx, null, 0);
  }

  /** The input meta of every step and the output meta, for an input (cached per shape/dtype). */
  private plan(shape: readonly number[], dtype: PixelDType): Meta[] {
    const key = `${dtype}|${shape.join(',')}`;
    let p = this.plans.get(key);
    if (!p) {
      p = [{ shape: shape.slice(), dtype }];
      for (const s of this.steps) p.push(s.meta(p[p.length - 1]));
      this.plans.set(key, p);
    }
    return p;
  }
  private plans = new Map<string, Meta[]>();

  /** Runs every step; with `out`, a final point-wise step writes straight into it. */
  private runSteps(img: Img, ctx: SampleContext | undefined, out: PixelArray | null, outOff: number): Img {
    const plan = this.plan(img.shape, pixelDType(img.data)); // validates before any work
    let cur = img;
    for (let k = 0; k < this.steps.length; k++) {
      const s = this.steps[k];
      if (s instanceof PointGroup) {
        const next = plan[k + 1];
        const last = k === this.steps.length - 1 && out !== null;
        const dst = last ? out! : newPixels(next.dtype, cur.data.length);
        s.runInto(cur, next, dst, last ? outOff : 0);
        cur = { data: dst, shape: next.shape };
        if (last) return cur;
      } else {
        cur = s.run(cur, this.rngFor(k, s, ctx));
      }
    }
    if (out) out.set(cur.data, outOff);
    return cur;
  }

  /**
   * A batch of uint8 images stored back to back (`per` pixels each) into out, sample j at
   * j * numel(output): the DataLoader's batch path. `check` validates each index first.
   */
  batchInto(images: Uint8Array, shape: number[], indices: ArrayLike<number>, out: PixelArray, ctx: { seed: number; epoch: number }, check: (i: number) => void): void {
    const per = numel(shape);
    const m = this.meta(shape, 'uint8');
    const outPer = numel(m.shape);
    const g = this.steps.length === 1 && this.steps[0] instanceof PointGroup ? this.steps[0] : null;
    const hw = shape[shape.length - 1] * shape[shape.length - 2];
    const pairs = g && hw % 2 === 0 && images.byteOffset % 2 === 0 && out.byteOffset % 8 === 0 ? g.pairLut(shape, m.dtype) : null;
    if (g && pairs) {
      // The hot loop of an epoch: one float64 load and store per two pixels.
      const src = new Uint16Array(images.buffer, images.byteOffset, images.length >> 1);
      const dst = new Float64Array(out.buffer, out.byteOffset, out.length >> 1);
      const c = channelsOf(shape);
      const half = hw >> 1;
      for (let j = 0; j < indices.length; j++) {
        const i = indices[j];
        check(i);
        for (let p = 0, s = (i * per) / 2, o = (j * per) / 2; p < per / hw; p++, s += half, o += half) {
          const l = (p % c) * 65536;
          for (let k = 0; k < half; k++) dst[o + k] = pairs[l + src[s + k]];
        }
      }
      return;
    }
    const sctx: SampleContext = { seed: ctx.seed, epoch: ctx.epoch, index: 0 };
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      check(i);
      sctx.index = i;
      const img: Img = { data: images.subarray(i * per, (i + 1) * per), shape };
      if (this.isIdentity) out.set(img.data, j * outPer);
      else this.runInto(img, out, j * outPer, sctx);
    }
  }

  /**
   * Transforms one image into out[outOff, outOff + numel(output)). The common case, point-wise
   * stages only on a uint8 image, is one table lookup per pixel with no temporary.
   */
  runInto(img: Img, out: PixelArray, outOff: number, ctx?: SampleContext): void {
    this.runSteps(img, ctx, out, outOff);
  }
}

export function newPixelArray(dtype: PixelDType, n: number): PixelArray {
  return newPixels(dtype, n);
}

export function checkPixelDType(op: string, dtype: string): PixelDType {
  if (dtype !== 'uint8' && dtype !== 'float32' && dtype !== 'float64') {
    throw new DTypeError(`${op}: expected a uint8, float32 or float64 image but got ${dtype}`);
  }
  return dtype;
}

export { numel as numelOfShape };
