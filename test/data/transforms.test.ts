// Transforms against plain JS references: toTensor, normalize, flips and crops (every padding
// mode), compose; seeded reproducibility; error cases by class and message.
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { compose, normalize, randomCrop, randomHorizontalFlip, toTensor } from '../../lib/data/transforms';
import { Pipeline } from '../../lib/data/pipeline';

// ---------------------------------------------------------------------------------------------
// plain references

function randU8(n: number, seed: number): Uint8Array {
  const g = new tn.Generator(seed);
  return Uint8Array.from({ length: n }, () => g.randint(256));
}

function refToTensor(px: Uint8Array): Float32Array {
  return Float32Array.from(px, (v) => v / 255);
}

/** torchvision's float32 arithmetic: (x - mean) / std, each step rounded to float32. */
function refNormalize(x: Float32Array, shape: number[], mean: number[], std: number[]): Float32Array {
  const hw = shape[shape.length - 1] * shape[shape.length - 2];
  const c = shape.length >= 3 ? shape[shape.length - 3] : 1;
  return Float32Array.from(x, (v, i) => {
    const ch = Math.floor(i / hw) % c;
    const m = Math.fround(mean[mean.length === 1 ? 0 : ch]);
    const s = Math.fround(std[std.length === 1 ? 0 : ch]);
    return Math.fround(Math.fround(v - m) / s);
  });
}

function refFlip(x: ArrayLike<number>, shape: number[]): number[] {
  const w = shape[shape.length - 1];
  const out = new Array<number>(x.length);
  for (let i = 0; i < x.length; i++) {
    const r = Math.floor(i / w);
    out[i] = x[r * w + (w - 1 - (i % w))];
  }
  return out;
}

/** Pads [C, H, W] by [l, t, r, b] in a torchvision padding mode. */
function refPad(x: ArrayLike<number>, shape: number[], pad: number[], mode: string, fill: number): { data: number[]; shape: number[] } {
  const [c, h, w] = shape;
  const [l, t, r, b] = pad;
  const hp = h + t + b;
  const wp = w + l + r;
  const idx = (s: number, n: number): number => {
    if (s >= 0 && s < n) return s;
    if (mode === 'edge') return s < 0 ? 0 : n - 1;
    if (mode === 'reflect') return s < 0 ? -s : 2 * (n - 1) - s;
    return s < 0 ? -s - 1 : 2 * n - 1 - s;
  };
  const out: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < hp; y++) {
      for (let xx = 0; xx < wp; xx++) {
        const sy = y - t;
        const sx = xx - l;
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        if (mode === 'constant' && !inside) out.push(fill);
        else out.push(x[ch * h * w + idx(sy, h) * w + idx(sx, w)]);
      }
    }
  }
  return { data: out, shape: [c, hp, wp] };
}

/** Every window of size th x tw of a padded image, keyed "i,j". */
function allCrops(p: { data: number[]; shape: number[] }, th: number, tw: number): Map<string, number[]> {
  const [c, hp, wp] = p.shape;
  const out = new Map<string, number[]>();
  for (let i = 0; i + th <= hp; i++) {
    for (let j = 0; j + tw <= wp; j++) {
      const win: number[] = [];
      for (let ch = 0; ch < c; ch++) for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) win.push(p.data[ch * hp * wp + (i + y) * wp + j + x]);
      out.set(`${i},${j}`, win);
    }
  }
  return out;
}

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const u8 = (data: Uint8Array, shape: number[]): Tensor => tn.fromTypedArray(data, shape);

// ---------------------------------------------------------------------------------------------

describe('toTensor and normalize', () => {
  test.each([[[1, 28, 28]], [[3, 5, 7]], [[9, 4]], [[2, 3, 1, 5]]])('toTensor on uint8 %j gives float32 / 255', (shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const px = randU8(n, 1);
    const y = toTensor()(u8(px, shape));
    expect(y.dtype).toBe('float32');
    expect(y.shape).toEqual(shape.length === 2 ? [1, ...shape] : shape);
    expect(same(y.data as Float32Array, refToTensor(px))).toBe(true);
    const vals = y.data as Float32Array;
    expect(Math.min(...vals)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...vals)).toBeLessThanOrEqual(1);
  });

  test.each([
    [[1, 28, 28], [0.286], [0.353]],
    [[3, 5, 7], [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]],
    [[2, 3, 4, 3], [0.5], [0.25, 0.5, 2]],
  ])('normalize %j matches float32 (x - mean) / std exactly', (shape, mean, std) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const px = randU8(n, 2);
    const x = toTensor()(u8(px, shape));
    const want = refNormalize(refToTensor(px), shape, mean, std);
    expect(same(normalize(mean, std)(x).data as Float32Array, want)).toBe(true);
    // the fused uint8 path (lookup table) gives the same bits as the two steps
    expect(same(compose([toTensor(), normalize(mean, std)])(u8(px, shape)).data as Float32Array, want)).toBe(true);
    // and normalize alone on a uint8 image converts first (DESIGN.md's `transform: normalize(...)`)
    expect(same(normalize(mean, std)(u8(px, shape)).data as Float32Array, want)).toBe(true);
  });

  test('normalize keeps float64 in float64 arithmetic', () => {
    const x = tn.fromTypedArray(Float64Array.from({ length: 12 }, (_, i) => i / 7), [1, 3, 4]);
    const y = normalize(0.5, 0.25)(x);
    expect(y.dtype).toBe('float64');
    expect(Array.from(y.data as Float64Array)).toEqual(Array.from({ length: 12 }, (_, i) => (i / 7 - 0.5) / 0.25));
  });

  test('errors: bad std, mismatched channels, wrong dtype, not a tensor', () => {
    expect(() => normalize(0.5, 0)).toThrow(tn.ValueError);
    expect(() => normalize(0.5, 0)).toThrow(/^normalize: std \[0\] has a zero/);
    expect(() => normalize([0.5, 0.5], [1, 1, 1])).toThrow('normalize: mean has 2 values but std has 3');
    expect(() => normalize([0.1, 0.2], [1, 1])(tn.zeros([3, 4, 4]))).toThrow(tn.ShapeError);
    expect(() => normalize([0.1, 0.2], [1, 1])(tn.zeros([3, 4, 4]))).toThrow('normalize: mean has 2 and std 2 values but the image [3, 4, 4] has 3 channels');
    expect(() => toTensor()(tn.zeros([2, 2], { dtype: 'int64' }))).toThrow(tn.DTypeError);
    expect(() => toTensor()(tn.zeros([2, 2], { dtype: 'int64' }))).toThrow('toTensor: expected a uint8, float32 or float64 image but got int64');
    expect(() => toTensor()(tn.zeros([5]))).toThrow('toTensor: expected an image of shape [..., H, W] but got [5]');
    expect(() => (normalize(0, 1) as (x: unknown) => Tensor)([1, 2])).toThrow('normalize: expected a Tensor image but received an array');
  });
});

describe('random flips and crops', () => {
  test.each([[[1, 6, 5]], [[3, 4, 7]], [[5, 3]]])('randomHorizontalFlip %j: p = 1 flips, p = 0 keeps, p = 0.5 does both', (shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const px = randU8(n, 3);
    const x = u8(px, shape);
    expect(Array.from(randomHorizontalFlip(1)(x).data as Uint8Array)).toEqual(refFlip(px, shape));
    expect(Array.from(randomHorizontalFlip(0)(x).data as Uint8Array)).toEqual(Array.from(px));
    const flip = randomHorizontalFlip(0.5, { seed: 7 });
    let flipped = 0;
    for (let index = 0; index < 200; index++) {
      const y = Array.from(flip(x, { seed: 1, epoch: 0, index }).data as Uint8Array);
      if (same(y, refFlip(px, shape))) flipped++;
      else expect(y).toEqual(Array.from(px));
    }
    expect(flipped).toBeGreaterThan(70);
    expect(flipped).toBeLessThan(130);
  });

  test.each([
    ['constant', [1, 7, 9], [5, 6], 2],
    ['constant', [3, 5, 5], [5, 5], [1, 2]],
    ['edge', [2, 6, 5], [4, 7], [1, 2, 3, 0]],
    ['reflect', [1, 8, 8], [8, 8], 3],
    ['symmetric', [1, 6, 7], [6, 7], 2],
  ] as [string, number[], number[], number | number[]][])('randomCrop %s %j size %j padding %j matches a window of the padded reference', (mode, shape, size, padding) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const px = randU8(n, 4);
    const p = typeof padding === 'number' ? [padding, padding, padding, padding] : padding.length === 2 ? [padding[0], padding[1], padding[0], padding[1]] : padding;
    const windows = allCrops(refPad(px, shape, p, mode, 17), size[0], size[1]);
    const crop = randomCrop(size, { padding, paddingMode: mode as 'constant', fill: 17, seed: 3 });
    const seen = new Set<string>();
    for (let index = 0; index < 60; index++) {
      const y = crop(u8(px, shape), { seed: 5, epoch: 1, index });
      expect(y.shape).toEqual([shape[0], ...size]);
      const got = Array.from(y.data as Uint8Array);
      const at = [...windows].find(([, w]) => same(w, got));
      expect(at).toBeDefined();
      seen.add(at![0]);
    }
    // many different windows are used
    expect(seen.size).toBeGreaterThan(Math.min(5, windows.size - 1));
  });

  test('randomCrop with padIfNeeded pads a small image by the shortfall on both sides; float images too', () => {
    const px = Float32Array.from({ length: 12 }, (_, i) => i + 1);
    const windows = allCrops(refPad(px, [1, 3, 4], [2, 2, 2, 2], 'constant', 0), 5, 6);
    const crop = randomCrop([5, 6], { padIfNeeded: true, seed: 1 });
    for (let index = 0; index < 20; index++) {
      const y = crop(tn.fromTypedArray(px, [1, 3, 4]), { seed: 0, epoch: 0, index });
      expect(y.shape).toEqual([1, 5, 6]);
      expect(y.dtype).toBe('float32');
      const got = Array.from(y.data as Float32Array);
      expect([...windows.values()].some((w) => same(w, got))).toBe(true);
    }
  });

  test('seeded: same (seed, epoch, index) gives the same output, other indices and epochs differ', () => {
    const px = randU8(3 * 12 * 12, 5);
    const x = u8(px, [3, 12, 12]);
    const t = compose([randomCrop(10, { padding: 2, seed: 1 }), randomHorizontalFlip(0.5, { seed: 2 }), toTensor()]);
    const t2 = compose([randomCrop(10, { padding: 2, seed: 1 }), randomHorizontalFlip(0.5, { seed: 2 }), toTensor()]);
    const a = t(x, { seed: 9, epoch: 0, index: 4 }).data;
    expect(same(t2(x, { seed: 9, epoch: 0, index: 4 }).data as Float32Array, a as Float32Array)).toBe(true);
    const others = [
      { seed: 9, epoch: 0, index: 5 },
      { seed: 9, epoch: 1, index: 4 },
      { seed: 10, epoch: 0, index: 4 },
    ];
    for (const ctx of others) {
      // some of 20 neighbouring contexts must differ (a crop has 25 positions x 2 flips)
      let differs = false;
      for (let k = 0; k < 20 && !differs; k++) differs = !same(t(x, { ...ctx, index: ctx.index + k }).data as Float32Array, a as Float32Array);
      expect(differs).toBe(true);
    }
    // called by hand (no ctx): a stream reproducible from the transform's seed
    const c1 = randomCrop(10, { padding: 2, seed: 4 });
    const c2 = randomCrop(10, { padding: 2, seed: 4 });
    const s1 = Array.from({ length: 8 }, () => Array.from(c1(x).data as Uint8Array).join());
    const s2 = Array.from({ length: 8 }, () => Array.from(c2(x).data as Uint8Array).join());
    expect(s1).toEqual(s2);
    expect(new Set(s1).size).toBeGreaterThan(1);
  });

  test('the batch path (Pipeline.runInto) equals calling the transform on a tensor', () => {
    const px = randU8(1 * 9 * 9, 6);
    const t = compose([randomCrop(7, { padding: 1, paddingMode: 'reflect' }), randomHorizontalFlip(), normalize(0.3, 0.4)]);
    const pipe = new Pipeline(t.spec!);
    for (let index = 0; index < 10; index++) {
      const ctx = { seed: 2, epoch: 3, index };
      const out = new Float32Array(49);
      pipe.runInto({ data: px, shape: [1, 9, 9] }, out, 0, ctx);
      expect(same(out, t(u8(px, [1, 9, 9]), ctx).data as Float32Array)).toBe(true);
    }
  });

  test('compose with a user function runs step by step and has no spec', () => {
    const double = (x: Tensor): Tensor => x.mul(2);
    const t = compose([toTensor(), double, normalize(0.5, 0.5)]);
    expect(t.spec).toBeUndefined();
    const px = Uint8Array.from([0, 51, 102, 255]);
    const y = t(u8(px, [1, 2, 2]));
    expect(Array.from(y.data as Float32Array)).toEqual(Array.from(refNormalize(Float32Array.from(refToTensor(px), (v) => Math.fround(v * 2)), [1, 2, 2], [0.5], [0.5])));
  });

  test('errors by class and message', () => {
    expect(() => randomHorizontalFlip(1.5)).toThrow(tn.ValueError);
    expect(() => randomHorizontalFlip(1.5)).toThrow('randomHorizontalFlip: p must be in [0, 1] but got 1.5');
    expect(() => randomCrop(0)).toThrow('randomCrop: size must be a positive integer or a pair of them but got 0');
    expect(() => randomCrop(3, { padding: [1, 2, 3] })).toThrow('randomCrop: padding must be a non-negative integer or a list of 1, 2 or 4 of them but got [1,2,3]');
    expect(() => randomCrop(3, { paddingMode: 'wrap' as 'edge' })).toThrow("randomCrop: paddingMode must be 'constant', 'edge', 'reflect' or 'symmetric' but got 'wrap'");
    expect(() => randomCrop(3, { seed: -1 })).toThrow('randomCrop: expected a non-negative integer for seed but received -1');
    expect(() => randomCrop(30)(tn.zeros([1, 28, 28]))).toThrow(tn.ShapeError);
    expect(() => randomCrop(30)(tn.zeros([1, 28, 28]))).toThrow('randomCrop: crop size [30, 30] is larger than the padded image [28, 28] (input [1, 28, 28])');
    expect(() => randomCrop(4, { padding: 4, paddingMode: 'reflect' })(tn.zeros([1, 4, 4]))).toThrow('randomCrop: padding [4, 4, 4, 4] is too large for reflect padding of an image [1, 4, 4]');
    expect(() => randomCrop(4, { padding: 1, fill: 0.5 })(u8(new Uint8Array(16), [1, 4, 4]))).toThrow('randomCrop: fill 0.5 does not fit a uint8 image');
    expect(() => compose([toTensor(), 3 as unknown as typeof toTensor])).toThrow('compose: transform 1 is number 3, not a function');
  });
});
