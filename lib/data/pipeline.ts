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
  function padForShape(h: number, w: number): [number, number, number, number] {
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
  }
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
  private metaCache = new Map<string, Meta>();

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
    const key = `${dtype}|${shape.join(',')}`;
    let m = this.metaCache.get(key);
    if (!m) {
      m = { shape: shape.slice(), dtype };
      for (const s of this.steps) m = s.meta(m);
      this.metaCache.set(key, m);
    }
    return m;
  }

  private rngFor(k: number, stage: GeomStage, ctx: SampleContext | undefined): Rng {
    // k (the stage's position) keeps two identical random stages of one pipeline independent.
    if (ctx) return new Rng(hashSeed(ctx.seed, ctx.epoch, ctx.index, stage.seed, k));
    return new Rng(hashSeed(stage.seed, this.counters[k]++, SALT_NO_CONTEXT, k));
  }

  /** Transforms one image. The result may share memory with the input when nothing changes it. */
  run(img: Img, ctx?: SampleContext): Img {
    this.meta(img.shape, pixelDType(img.data)); // validates before any work
    let cur = img;
    let m: Meta = { shape: img.shape, dtype: pixelDType(img.data) };
    this.steps.forEach((s, k) => {
      if (s instanceof PointGroup) {
        const next = s.meta(m);
        const out = newPixels(next.dtype, cur.data.length);
        s.runInto(cur, next, out, 0);
        cur = { data: out, shape: next.shape };
        m = next;
      } else {
        m = s.meta(m);
        cur = s.run(cur, this.rngFor(k, s, ctx));
      }
    });
    return cur;
  }

  /**
   * Transforms one image into out[outOff, outOff + numel(output)). The common case, point-wise
   * stages only on a uint8 image, is one table lookup per pixel with no temporary.
   */
  runInto(img: Img, out: PixelArray, outOff: number, ctx?: SampleContext): void {
    if (this.steps.length === 1 && this.steps[0] instanceof PointGroup) {
      const g = this.steps[0];
      g.runInto(img, g.meta({ shape: img.shape, dtype: pixelDType(img.data) }), out, outOff);
      return;
    }
    const r = this.run(img, ctx);
    out.set(r.data, outOff);
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
