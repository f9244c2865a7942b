// conv2d: forward and all three backward kernels (float32) against the direct 7-loop JS
// reference over stride, padding ('same' included), dilation, groups, depthwise, 1x1 and 5x5
// kernels and odd sizes; shapes at the edges of the direct path's tiles; every kernel variant
// (AVX-512, AVX2, baseline, im2col) in child processes; float64 gradient checks; errors from the
// TS op and from the binding.
import { execFileSync } from 'child_process';
import * as path from 'path';
import * as tn from '../../lib';
import { Tensor } from '../../lib';
import { native } from '../../lib/native';
import { Conv2dOptions, conv2d, conv2dReluMaxPool2d } from '../../lib/ops/conv2d';
import { MaxPool2dOptions } from '../../lib/ops/pool2d';
import { expectClose, gradcheck, randLeaf } from '../helpers/gradcheck';
import { randArray } from '../helpers/reference_gemm';
import { RefConvGeometry, refConv2d, refConv2dBackward, refOutSize } from '../helpers/reference_conv2d';

function rand32(shape: number[], seed: number): Tensor {
  return tn.fromTypedArray(Float32Array.from(randArray(shape.reduce((a, b) => a * b, 1), seed)), shape);
}

function values(t: Tensor): Float64Array {
  return Float64Array.from(t.data as Float32Array | Float64Array);
}

interface Case {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  opts: Conv2dOptions;
  ref: Partial<RefConvGeometry>;
}

const cases: Case[] = [
  { name: 'plain 3x3', x: [2, 3, 7, 9], w: [4, 3, 3, 3], bias: true, opts: {}, ref: {} },
  { name: 'stride 2, padding 1, odd sizes', x: [3, 2, 11, 10], w: [5, 2, 3, 5], bias: true, opts: { stride: 2, padding: 1 }, ref: { stride: [2, 2], padding: [1, 1] } },
  { name: 'dilation 2, padding 2', x: [2, 3, 9, 8], w: [4, 3, 3, 3], bias: false, opts: { dilation: 2, padding: 2 }, ref: { dilation: [2, 2], padding: [2, 2] } },
  { name: 'groups 2', x: [2, 4, 8, 7], w: [6, 2, 3, 3], bias: true, opts: { groups: 2, padding: 1 }, ref: { groups: 2, padding: [1, 1] } },
  { name: 'depthwise, stride 2', x: [2, 5, 9, 9], w: [5, 1, 3, 3], bias: true, opts: { groups: 5, stride: 2, padding: 1 }, ref: { groups: 5, stride: [2, 2], padding: [1, 1] } },
  { name: 'depthwise with channel multiplier 2', x: [1, 3, 6, 6], w: [6, 1, 3, 3], bias: false, opts: { groups: 3 }, ref: { groups: 3 } },
  { name: '1x1 (no im2col)', x: [3, 6, 5, 7], w: [7, 6, 1, 1], bias: true, opts: {}, ref: {} },
  { name: '1x1 stride 2', x: [2, 6, 7, 7], w: [4, 6, 1, 1], bias: false, opts: { stride: 2 }, ref: { stride: [2, 2] } },
  { name: '1x1 with padding', x: [1, 3, 4, 4], w: [2, 3, 1, 1], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: '5x5, padding 2', x: [2, 3, 13, 13], w: [4, 3, 5, 5], bias: true, opts: { padding: 2 }, ref: { padding: [2, 2] } },
  { name: '[h, w] pairs', x: [2, 3, 10, 9], w: [4, 3, 3, 2], bias: true, opts: { stride: [2, 1], padding: [0, 2], dilation: [1, 2] }, ref: { stride: [2, 1], padding: [0, 2], dilation: [1, 2] } },
  { name: "padding 'same', odd kernel", x: [2, 2, 6, 7], w: [3, 2, 3, 3], bias: true, opts: { padding: 'same' }, ref: { padding: [1, 1], outSize: [6, 7] } },
  { name: "padding 'same', even kernel (extra bottom/right)", x: [2, 2, 6, 7], w: [3, 2, 4, 2], bias: true, opts: { padding: 'same' }, ref: { padding: [1, 0], outSize: [6, 7] } },
  { name: "padding 'same', even kernel dilated 2", x: [1, 2, 5, 6], w: [3, 2, 2, 2], bias: false, opts: { padding: 'same', dilation: 2 }, ref: { padding: [1, 1], dilation: [2, 2], outSize: [5, 6] } },
  { name: "padding 'valid'", x: [1, 2, 5, 5], w: [2, 2, 3, 3], bias: true, opts: { padding: 'valid' }, ref: {} },
  { name: 'kernel as large as the padded input', x: [1, 1, 3, 3], w: [1, 1, 5, 5], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'more images than threads', x: [5, 3, 8, 8], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'large: im2col in bands', x: [1, 64, 64, 64], w: [8, 64, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
];

function geometry(c: Case): RefConvGeometry {
  return { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...c.ref };
}

// Forward and the three gradients of one case against the reference.
function checkCase(c: Case): void {
  const x = rand32(c.x, 1).requiresGrad_();
  const w = rand32(c.w, 2).requiresGrad_();
  const b = c.bias ? rand32([c.w[0]], 3).requiresGrad_() : null;
  const geo = geometry(c);
  const [OH, OW] = refOutSize(c.x, c.w, geo);
  const out = conv2d(x, w, b, c.opts);
  expect(out.shape).toEqual([c.x[0], c.w[0], OH, OW]);
  const xv = values(x);
  const wv = values(w);
  const tol = 1e-5 * Math.sqrt(c.w[1] * c.w[2] * c.w[3]);
  expectClose(values(out), refConv2d(xv, c.x, wv, c.w, b ? values(b) : null, geo), tol, 1e-4, `${c.name}: forward`);

  const g = rand32(out.shape, 4);
  out.backward(g);
  const ref = refConv2dBackward(values(g), xv, c.x, wv, c.w, geo);
  const tolB = 1e-5 * Math.sqrt(c.x[0] * c.w[0] * OH * OW);
  expectClose(values(x.grad!), ref.dx, tolB, 1e-4, `${c.name}: input gradient`);
  expectClose(values(w.grad!), ref.dw, tolB, 1e-4, `${c.name}: weight gradient`);
  if (b) expectClose(values(b.grad!), ref.db, tolB, 1e-4, `${c.name}: bias gradient`);
}

// Shapes at the edges of the direct path (native/ops/conv2d_cpu.cc): AVX-512 tiles of up to 14
// pixels x 32 channels forward and 6 taps x 64 channels for the weight gradient, so widths and
// channel counts that leave partial tiles, kernels of 1 and 5, row strides, groups, cropped
// padding (the input gradient of a padded 1x1), and batches that split the weight gradient by
// images (N >= 2 x threads) or by taps (fewer).
const edgeCases: Case[] = [
  { name: 'width 15 (two runs of 8 and 7), 17 channels (a 1-lane vector)', x: [2, 5, 6, 15], w: [17, 5, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'width 29, 33 output channels, 7 taps per channel tail', x: [3, 7, 5, 29], w: [33, 7, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'width 1 and height 1', x: [2, 8, 1, 1], w: [9, 8, 1, 1], bias: true, opts: {}, ref: {} },
  { name: '1x1, 20 -> 24 channels', x: [3, 20, 9, 11], w: [24, 20, 1, 1], bias: true, opts: {}, ref: {} },
  { name: '1x1 with padding 1 (input gradient crops)', x: [2, 6, 5, 4], w: [8, 6, 1, 1], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: '5x5, padding 2, 16 -> 20 channels', x: [2, 16, 12, 13], w: [20, 16, 5, 5], bias: true, opts: { padding: 2 }, ref: { padding: [2, 2] } },
  { name: '5x5, no padding', x: [2, 4, 9, 10], w: [6, 4, 5, 5], bias: false, opts: {}, ref: {} },
  { name: 'stride 2 with 16 channels', x: [3, 8, 11, 12], w: [16, 8, 3, 3], bias: true, opts: { stride: 2, padding: 1 }, ref: { stride: [2, 2], padding: [1, 1] } },
  { name: 'row stride 2 only (direct forward, im2col input gradient)', x: [2, 6, 11, 9], w: [10, 6, 3, 3], bias: true, opts: { stride: [2, 1], padding: 1 }, ref: { stride: [2, 1], padding: [1, 1] } },
  { name: 'column stride 2 only', x: [2, 6, 9, 11], w: [10, 6, 3, 3], bias: false, opts: { stride: [1, 2], padding: [0, 1] }, ref: { stride: [1, 2], padding: [0, 1] } },
  { name: 'groups 2 of 8 -> 8 channels', x: [2, 16, 7, 9], w: [16, 8, 3, 3], bias: true, opts: { groups: 2, padding: 1 }, ref: { groups: 2, padding: [1, 1] } },
  { name: 'groups 3 of 4 -> 6 channels, dilation 2', x: [3, 12, 9, 9], w: [18, 4, 3, 3], bias: true, opts: { groups: 3, padding: 2, dilation: 2 }, ref: { groups: 3, padding: [2, 2], dilation: [2, 2] } },
  { name: "'same' with an even kernel and 12 channels", x: [2, 12, 8, 9], w: [12, 12, 4, 2], bias: true, opts: { padding: 'same' }, ref: { padding: [1, 0], outSize: [8, 9] } },
  { name: 'batch 1', x: [1, 32, 14, 14], w: [64, 32, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'odd batch 5', x: [5, 8, 10, 10], w: [16, 8, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'the standard model conv1 (1 -> 32, 28x28)', x: [4, 1, 28, 28], w: [32, 1, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'the standard model conv2 (32 -> 64, 14x14)', x: [4, 32, 14, 14], w: [64, 32, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'the classic model convs (1 -> 10, 10 -> 20, no padding)', x: [6, 10, 13, 13], w: [20, 10, 3, 3], bias: true, opts: {}, ref: {} },
  // Pixel-vector tiles: <= 16 taps per output and output channels that do not fill vectors.
  { name: 'pixels: the classic model first layer (1 -> 10, 28x28)', x: [4, 1, 28, 28], w: [10, 1, 3, 3], bias: true, opts: {}, ref: {} },
  { name: 'pixels: rows of 40 (two runs), 26 channels (three groups)', x: [2, 1, 9, 40], w: [26, 1, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'pixels: rows of exactly 16, 12 taps', x: [3, 2, 7, 18], w: [5, 2, 2, 3], bias: true, opts: { padding: [0, 0] }, ref: {} },
  { name: 'pixels: rows of 17', x: [2, 1, 8, 19], w: [13, 1, 3, 3], bias: false, opts: {}, ref: {} },
  { name: "pixels: 16 taps (4x4 'same')", x: [2, 1, 9, 9], w: [6, 1, 4, 4], bias: true, opts: { padding: 'same' }, ref: { padding: [1, 1], outSize: [9, 9] } },
  { name: 'pixels: row stride 2 and column dilation 2', x: [3, 1, 11, 12], w: [7, 1, 3, 3], bias: true, opts: { stride: [2, 1], dilation: [1, 2] }, ref: { stride: [2, 1], dilation: [1, 2] } },
  { name: 'pixels: groups 2 of 1 -> 3 channels', x: [2, 2, 8, 8], w: [6, 1, 3, 3], bias: true, opts: { groups: 2, padding: 1 }, ref: { groups: 2, padding: [1, 1] } },
  // Wide rows (a plane as one row of stride W + left padding): channel counts that leave vectors
  // partly empty, the wasted columns dropped as the tiles store (AVX-512) or compacted.
  { name: 'wide: the classic second layer at batch 20 (2 wasted columns per row)', x: [20, 10, 13, 13], w: [20, 10, 3, 3], bias: true, opts: {}, ref: {} },
  { name: 'wide: padding 1, 10 -> 20 channels (1 wasted column, input gradient too)', x: [3, 10, 13, 13], w: [20, 10, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
  { name: 'wide: 1x1, 6 -> 10 channels, 5x7 (no wasted column)', x: [2, 6, 5, 7], w: [10, 6, 1, 1], bias: true, opts: {}, ref: {} },
  { name: 'wide: 5x5, padding 2, 6 -> 10 channels, 21 wide', x: [2, 6, 6, 21], w: [10, 6, 5, 5], bias: true, opts: { padding: 2 }, ref: { padding: [2, 2] } },
  { name: 'wide: groups 2 of 4 -> 10 channels', x: [2, 8, 9, 9], w: [20, 4, 3, 3], bias: true, opts: { groups: 2 }, ref: { groups: 2 } },
  // Winograd F(2x2, 3x3): 3x3, stride 1, >= 32 channels summed into >= 16, >= 2 images.
  { name: 'Winograd: odd output 13x11, no padding, no bias', x: [3, 32, 15, 13], w: [32, 32, 3, 3], bias: false, opts: {}, ref: {} },
  { name: 'Winograd: padding 2 (output larger than the input)', x: [2, 32, 6, 7], w: [32, 32, 3, 3], bias: true, opts: { padding: 2 }, ref: { padding: [2, 2] } },
  { name: 'Winograd: padding [3, 1] (input gradient crops rows)', x: [2, 33, 5, 6], w: [40, 33, 3, 3], bias: true, opts: { padding: [3, 1] }, ref: { padding: [3, 1] } },
  { name: 'Winograd: groups 2 of 32 -> 32 channels', x: [2, 64, 8, 9], w: [64, 32, 3, 3], bias: true, opts: { groups: 2, padding: 1 }, ref: { groups: 2, padding: [1, 1] } },
  { name: 'Winograd: one partial tile (1x1 output)', x: [2, 32, 3, 3], w: [32, 32, 3, 3], bias: true, opts: {}, ref: {} },
  { name: 'Winograd: 40 wide (tile rows longer than a vector)', x: [2, 32, 5, 40], w: [36, 32, 3, 3], bias: true, opts: { padding: 1 }, ref: { padding: [1, 1] } },
];

describe('conv2d kernels (float32) against the direct 7-loop reference', () => {
  test.each(cases.map((c) => [c.name, c] as [string, Case]))('%s', (_, c) => checkCase(c));
  test.each(edgeCases.map((c) => [c.name, c] as [string, Case]))('edge: %s', (_, c) => checkCase(c));

  test('unbatched [C, H, W] input gives [OC, OH, OW] and a gradient of the input shape', () => {
    const x = rand32([3, 7, 8], 5).requiresGrad_();
    const w = rand32([4, 3, 3, 3], 6);
    const out = conv2d(x, w, null, { padding: 1, stride: 2 });
    expect(out.shape).toEqual([4, 4, 4]);
    const geo: RefConvGeometry = { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1 };
    expectClose(values(out), refConv2d(values(x), [1, 3, 7, 8], values(w), [4, 3, 3, 3], null, geo), 1e-5, 1e-4, 'unbatched');
    out.sum().backward();
    expect(x.grad!.shape).toEqual([3, 7, 8]);
  });

  test('non-contiguous input and weight are read correctly', () => {
    const xt = rand32([2, 9, 3, 8], 7); // permuted to [2, 3, 9, 8]
    const x = xt.permute(0, 2, 1, 3);
    const w = rand32([3, 3, 4, 4], 8).narrow(3, 1, 3); // [3, 3, 4, 3], row stride 4
    const geo: RefConvGeometry = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
    expectClose(values(conv2d(x, w, null, { padding: 1 })), refConv2d(values(x.contiguous()), [2, 3, 9, 8], values(w.contiguous()), [3, 3, 4, 3], null, geo), 1e-5, 1e-4, 'strided');
  });

  test('float64 forward matches the reference to double precision', () => {
    const x = randLeaf([2, 4, 9, 8], 9);
    const w = randLeaf([6, 2, 3, 3], 10);
    const b = randLeaf([6], 11);
    const geo: RefConvGeometry = { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 };
    const out = conv2d(x, w, b, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 });
    expectClose(values(out), refConv2d(values(x), x.shape, values(w), w.shape, values(b), geo), 1e-12, 1e-12, 'float64');
  });
});

describe('conv2d kernel variants', () => {
  // Each variant is chosen once per process, so each runs in a child process that calls the
  // binding on seeded data and returns its inputs and results for the reference to check here.
  // Shapes reach partial tiles of every variant's width (AVX2 6 pixels x 16 channels, baseline
  // 4 x 8), groups, dilation, a row stride, float64, the pixel-vector tiles and Winograd.
  const shapes: { x: number[]; w: number[]; geo: RefConvGeometry; dt: number }[] = [
    { x: [3, 8, 9, 10], w: [12, 8, 3, 3], geo: { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }, dt: 0 },
    { x: [2, 6, 7, 13], w: [10, 3, 3, 2], geo: { stride: [1, 1], padding: [1, 1], dilation: [1, 2], groups: 2 }, dt: 0 },
    { x: [1, 5, 8, 7], w: [7, 5, 1, 3], geo: { stride: [2, 1], padding: [0, 1], dilation: [1, 1], groups: 1 }, dt: 0 },
    { x: [2, 4, 6, 9], w: [6, 4, 3, 3], geo: { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }, dt: 1 },
    // pixel-vector tiles, float32 and float64
    { x: [2, 1, 9, 21], w: [10, 1, 3, 3], geo: { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }, dt: 0 },
    { x: [3, 2, 6, 11], w: [5, 2, 2, 3], geo: { stride: [1, 1], padding: [1, 0], dilation: [1, 1], groups: 1 }, dt: 1 },
    // wide rows: compacted (AVX2, baseline) or packed as stored (AVX-512), float32 and float64
    { x: [2, 5, 7, 11], w: [10, 5, 3, 3], geo: { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }, dt: 0 },
    { x: [2, 5, 7, 11], w: [10, 5, 3, 3], geo: { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }, dt: 1 },
    // Winograd forward and input gradient, float32 and float64
    { x: [2, 32, 9, 7], w: [32, 32, 3, 3], geo: { stride: [1, 1], padding: [1, 0], dilation: [1, 1], groups: 1 }, dt: 0 },
    { x: [3, 32, 6, 5], w: [34, 32, 3, 3], geo: { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }, dt: 1 },
  ];
  const script = `
    const path = require('path');
    const n = process.env.TENSILE_NATIVE ? require(path.resolve(process.env.TENSILE_NATIVE)) : require('node-gyp-build')(process.cwd());
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const results = [];
    for (const { params, dt } of JSON.parse(process.argv[1])) {
      const [N, C, H, W, OC, KH, KW, OH, OW, , , , , , , G] = params;
      const Arr = dt === 0 ? Float32Array : Float64Array, size = Arr.BYTES_PER_ELEMENT;
      const make = (len) => { const a = Arr.from({ length: len }, rnd); const h = n.alloc(len * size, 0); n.write(h, 0, a); return [a, h]; };
      const [x, hx] = make(N * C * H * W), [w, hw] = make(OC * (C / G) * KH * KW), [b, hb] = make(OC), [g, hg] = make(N * OC * OH * OW);
      const ho = n.alloc(g.length * size, 0), hdx = n.alloc(x.length * size, 0), hdw = n.alloc(w.length * size, 0);
      n.conv2dForward(ho, 0, hx, 0, hw, 0, hb, 0, params, dt);
      n.conv2dBackwardInput(hdx, 0, hg, 0, hw, 0, params, dt);
      n.conv2dBackwardWeight(hdw, 0, hg, 0, hx, 0, params, dt);
      const rd = (h, len) => Array.from(new Arr(n.read(h, 0, len * size)));
      results.push({ x: Array.from(x), w: Array.from(w), b: Array.from(b), g: Array.from(g), out: rd(ho, g.length), dx: rd(hdx, x.length), dw: rd(hdw, w.length) });
    }
    process.stdout.write(JSON.stringify({ kernel: n.gemmKernel(), results }));`;

  test.each([
    ['AVX2', { TENSILE_GEMM_KERNEL: 'avx2' }],
    ['baseline (SSE2)', { TENSILE_GEMM_KERNEL: 'baseline' }],
    ['im2col + GEMM', { TENSILE_CONV_KERNEL: 'im2col' }],
    ['default', {}],
  ] as [string, Record<string, string>][])('%s agrees with the reference', (_, env) => {
    const root = path.join(__dirname, '..', '..');
    const jobs = shapes.map(({ x, w, geo, dt }) => {
      const [OH, OW] = refOutSize(x, w, geo);
      return { params: [x[0], x[1], x[2], x[3], w[0], w[2], w[3], OH, OW, ...geo.stride, ...geo.padding, ...geo.dilation, geo.groups], dt };
    });
    const childEnv: Record<string, string | undefined> = { ...process.env, TENSILE_GEMM_KERNEL: undefined, TENSILE_CONV_KERNEL: undefined, ...env };
    const out = execFileSync(process.execPath, ['-e', script, JSON.stringify(jobs)], { cwd: root, env: childEnv as NodeJS.ProcessEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
    const { results } = JSON.parse(out) as { results: Record<'x' | 'w' | 'b' | 'g' | 'out' | 'dx' | 'dw', number[]>[] };
    shapes.forEach(({ x, w, geo, dt }, i) => {
      const r = results[i];
      const tol = dt === 0 ? 1e-4 : 1e-11;
      const label = `${_} case ${i}`;
      expectClose(r.out, refConv2d(r.x, x, r.w, w, r.b, geo), tol, tol, `${label}: forward`);
      const ref = refConv2dBackward(r.g, r.x, x, r.w, w, geo);
      expectClose(r.dx, ref.dx, tol, tol, `${label}: input gradient`);
      expectClose(r.dw, ref.dw, tol, tol, `${label}: weight gradient`);
    });
  });
});

describe('conv2d gradients (float64 central differences)', () => {
  const configs: [string, number[], number[], boolean, Conv2dOptions][] = [
    ['padding 1, 3x2 kernel', [2, 2, 5, 4], [3, 2, 3, 2], true, { padding: 1 }],
    ['stride 2, padding [1, 0]', [1, 2, 7, 6], [2, 2, 3, 3], true, { stride: 2, padding: [1, 0] }],
    ['dilation 2', [1, 2, 7, 7], [2, 2, 2, 3], false, { dilation: 2, padding: 1 }],
    ['groups 2, stride 2', [2, 4, 5, 5], [4, 2, 3, 3], true, { groups: 2, stride: 2, padding: 1 }],
    ['depthwise', [1, 3, 6, 5], [3, 1, 3, 3], true, { groups: 3, padding: 1 }],
    ["'same' with an even kernel", [1, 2, 5, 6], [2, 2, 2, 3], true, { padding: 'same' }],
    ['1x1', [2, 3, 4, 3], [2, 3, 1, 1], true, {}],
    ['unbatched', [2, 5, 5], [3, 2, 3, 3], true, { stride: [1, 2] }],
  ];
  test.each(configs)('%s: input %j weight %j bias %s', (_, xs, ws, withBias, opts) => {
    const inputs = [randLeaf(xs, 1), randLeaf(ws, 2)];
    if (withBias) inputs.push(randLeaf([ws[0]], 3));
    gradcheck((x, w, b) => conv2d(x, w, b ?? null, opts), inputs);
  });
});

describe('conv2d errors', () => {
  const x = (shape: number[], dtype: tn.DType = 'float32') => tn.zeros(shape, { dtype });

  test('channel mismatch, with and without groups', () => {
    expect(() => conv2d(x([20, 3, 28, 28]), x([10, 1, 3, 3]))).toThrow(tn.ShapeError);
    expect(() => conv2d(x([20, 3, 28, 28]), x([10, 1, 3, 3]))).toThrow('conv2d: input [20, 3, 28, 28] has 3 channels but weight [10, 1, 3, 3] expects 1');
    expect(() => conv2d(x([2, 4, 5, 5]), x([6, 1, 3, 3]), null, { groups: 2 })).toThrow('conv2d: input [2, 4, 5, 5] has 4 channels but weight [6, 1, 3, 3] expects 2 (1 per group x groups=2)');
    expect(() => conv2d(x([3, 5, 5]), x([6, 2, 3, 3]))).toThrow('conv2d: input [3, 5, 5] has 3 channels but weight [6, 2, 3, 3] expects 2');
  });

  test('channels not divisible by groups', () => {
    expect(() => conv2d(x([1, 3, 8, 8]), x([4, 1, 3, 3]), null, { groups: 2 })).toThrow('conv2d: input [1, 3, 8, 8] has 3 channels, which is not divisible by groups=2');
    expect(() => conv2d(x([1, 4, 8, 8]), x([5, 2, 3, 3]), null, { groups: 2 })).toThrow('conv2d: weight [5, 2, 3, 3] has 5 output channels, which is not divisible by groups=2');
  });

  test('ranks of weight and input', () => {
    expect(() => conv2d(x([1, 3, 8, 8]), x([10, 3, 3]))).toThrow('conv2d: weight must be 4-D [out_channels, in_channels/groups, kH, kW] but got [10, 3, 3]');
    expect(() => conv2d(x([8, 8]), x([1, 1, 3, 3]))).toThrow('conv2d: expected 3-D (unbatched) or 4-D (batched) input but got [8, 8]');
    expect(() => conv2d(x([1, 1, 2, 8, 8]), x([1, 1, 3, 3]))).toThrow(tn.ShapeError);
  });

  test('kernel larger than the padded input', () => {
    expect(() => conv2d(x([1, 1, 4, 4]), x([1, 1, 5, 5]))).toThrow(tn.ShapeError);
    expect(() => conv2d(x([1, 1, 4, 4]), x([1, 1, 5, 5]))).toThrow('conv2d: the (dilated) kernel [5, 5] is larger than the padded input [4, 4] (input [1, 1, 4, 4], weight [1, 1, 5, 5], padding [0, 0], dilation [1, 1])');
    expect(() => conv2d(x([1, 1, 5, 5]), x([1, 1, 3, 3]), null, { dilation: 3 })).toThrow('conv2d: the (dilated) kernel [7, 7] is larger than the padded input [5, 5]');
    expect(() => conv2d(x([1, 1, 5, 5]), x([1, 1, 3, 3]), null, { dilation: 3, padding: 1 })).not.toThrow();
  });

  test('bias shape', () => {
    expect(() => conv2d(x([1, 3, 8, 8]), x([10, 3, 3, 3]), x([5]))).toThrow(tn.ShapeError);
    expect(() => conv2d(x([1, 3, 8, 8]), x([10, 3, 3, 3]), x([5]))).toThrow('conv2d: bias [5] does not match weight [10, 3, 3, 3]; expected [10]');
    expect(() => conv2d(x([1, 3, 8, 8]), x([10, 3, 3, 3]), x([10, 1]))).toThrow('conv2d: bias [10, 1] does not match weight [10, 3, 3, 3]; expected [10]');
  });

  test('stride, dilation, padding and groups values', () => {
    const call = (opts: Conv2dOptions) => () => conv2d(x([1, 1, 8, 8]), x([1, 1, 3, 3]), null, opts);
    expect(call({ stride: 0 })).toThrow(tn.ValueError);
    expect(call({ stride: 0 })).toThrow('conv2d: stride must be positive but got [0, 0]');
    expect(call({ stride: [1, -1] })).toThrow('conv2d: stride must be positive but got [1, -1]');
    expect(call({ dilation: 0 })).toThrow('conv2d: dilation must be positive but got [0, 0]');
    expect(call({ stride: 1.5 })).toThrow('conv2d: stride must be an integer or a pair of integers [h, w] but got 1.5');
    expect(call({ stride: [1, 2, 3] as unknown as [number, number] })).toThrow(tn.ValueError);
    expect(call({ padding: -1 })).toThrow('conv2d: padding must be non-negative but got [-1, -1]');
    expect(call({ padding: 'full' as 'same' })).toThrow("conv2d: padding must be 'valid', 'same', an integer or a pair of integers but got 'full'");
    expect(call({ padding: 'same', stride: 2 })).toThrow("conv2d: padding='same' is not supported for strided convolutions (stride [2, 2])");
    expect(call({ groups: 0 })).toThrow('conv2d: groups must be a positive integer but got 0');
    expect(call({ groups: 1.5 })).toThrow(tn.ValueError);
  });

  test('dtypes', () => {
    expect(() => conv2d(x([1, 1, 5, 5], 'int64'), x([1, 1, 3, 3], 'int64'))).toThrow(tn.DTypeError);
    expect(() => conv2d(x([1, 1, 5, 5], 'int64'), x([1, 1, 3, 3], 'int64'))).toThrow('conv2d: expected a float32 or float64 input but got int64');
    expect(() => conv2d(x([1, 1, 5, 5]), x([1, 1, 3, 3], 'float64'))).toThrow('conv2d: input (float32) and weight (float64) must have the same dtype');
    expect(() => conv2d(x([1, 1, 5, 5]), x([1, 1, 3, 3]), x([1], 'float64'))).toThrow(tn.DTypeError);
  });

  test('the binding checks the geometry and every extent', () => {
    const xi = x([1, 2, 5, 5]);
    const w = x([3, 2, 3, 3]);
    const out = x([1, 3, 3, 3]);
    const params = [1, 2, 5, 5, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1];
    const fwd = (p: number[], o: Tensor = out, xx: Tensor = xi) => () => native.conv2dForward(o.handle, 0, xx.handle, 0, w.handle, 0, null, 0, p, 0);
    expect(fwd(params)).not.toThrow();
    expect(fwd(params.slice(0, 15))).toThrow(tn.ValueError);
    expect(fwd([1, 2, 5, 5, 3, 3, 3, 5, 3, 1, 1, 0, 0, 1, 1, 1])).toThrow('conv2d: output height 5 does not follow from input 5, padding 0, dilation 1, kernel 3 and stride 1');
    expect(fwd([1, 2, 5, 5, 3, 3, 3, 3, 3, 0, 1, 0, 0, 1, 1, 1])).toThrow(tn.ValueError);
    expect(fwd([1, 2, 5, 5, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 2])).toThrow('conv2d: groups=2 must divide both the input channels 2 and the output channels 3');
    expect(fwd(params, x([1, 3, 3, 2]))).toThrow(tn.IndexError);
    expect(fwd(params, out, x([1, 2, 5, 4]))).toThrow('conv2d: input needs 50 elements from offset 0 but its storage holds 40');
    expect(() => native.conv2dBackwardBias(x([2]).handle, 0, out.handle, 0, params, 0)).toThrow('conv2d: bias gradient needs 3 elements from offset 0 but its storage holds 2');
    expect(() => native.conv2dBackwardWeight(w.handle, 0, out.handle, 0, xi.handle, 0, params, 2)).toThrow(tn.DTypeError);
  });
});

describe('conv2dReluMaxPool2d: Conv2d -> ReLU -> MaxPool2d as one op', () => {
  // [label, input, weight, conv options, pool kernel, pool options]. They reach: a one-channel
  // input (weight gradient through the dense kernel), patch rows of 1-2 vectors (rows fused in the
  // row kernels) and of 12 (two column blocks), padding, stride, 5x5, an overlapping 3x3 pool with
  // padding, dilation and ceil mode, groups, 'same', a non-square pool, unbatched input, N = 1.
  type Case = [string, number[], number[], Conv2dOptions, number | number[], MaxPool2dOptions];
  const cases: Case[] = [
    ['classic conv1', [4, 1, 28, 28], [10, 1, 3, 3], {}, 2, {}],
    ['classic conv2', [5, 10, 13, 13], [20, 10, 3, 3], {}, 2, {}],
    ['standard conv2', [3, 32, 14, 14], [16, 32, 3, 3], { padding: 1 }, 2, {}],
    ['two column blocks', [2, 64, 8, 9], [6, 64, 3, 3], { padding: 1 }, 2, {}],
    ['5x5 stride 2, 3x3 pool stride 2 padding 1', [3, 5, 17, 15], [7, 5, 5, 5], { padding: 2, stride: 2 }, 3, { stride: 2, padding: 1 }],
    ['dilation 2, ceil mode', [3, 6, 17, 15], [8, 6, 3, 3], { dilation: 2, padding: 1 }, 2, { ceilMode: true }],
    ['groups 2', [3, 6, 11, 10], [8, 3, 3, 3], { groups: 2, padding: 1 }, 2, {}],
    ["'same', pool [2, 3]", [2, 8, 9, 9], [6, 8, 2, 3], { padding: 'same' }, [2, 3], {}],
    ['unbatched', [6, 12, 12], [8, 6, 3, 3], { padding: 1 }, 2, {}],
    ['one image', [1, 16, 10, 10], [4, 16, 3, 3], {}, 2, {}],
  ];
  // The three ops with their own backwards: mul(1) (exact) keeps the pool from taking the
  // convolution's fused backward (see 'a forward written op by op' below).
  const composed = (x: Tensor, w: Tensor, b: Tensor | null, copt: Conv2dOptions, k: number | number[], popt: object) =>
    tn.nn.functional.maxPool2d(tn.nn.functional.relu(conv2d(x, w, b, copt).mul(1)), k, popt) as Tensor;

  // Values and all three gradients of the fused op against the three ops, in float64.
  function fusedAgainstComposed(xs: number[], ws: number[], copt: Conv2dOptions, k: number | number[], popt: object, seed: number) {
    const x = randLeaf(xs, seed), w = randLeaf(ws, seed + 1), b = randLeaf([ws[0]], seed + 2);
    const fused = conv2dReluMaxPool2d(x, w, b, copt, k, popt);
    const ref = composed(x, w, b, copt, k, popt);
    expect(fused.shape).toEqual(ref.shape);
    const gout = randLeaf(ref.shape, seed + 3).detach();
    fused.backward(gout);
    const got = [x.grad!, w.grad!, b.grad!].map(values);
    x.grad = w.grad = b.grad = null;
    ref.backward(gout);
    return { out: [values(fused), values(ref)], grads: got.map((g, i) => [g, values([x, w, b][i].grad!)]) };
  }

  test.each(cases)('%s: values and gradients are those of the three ops (float64)', (label, xs, ws, copt, k, popt) => {
    const r = fusedAgainstComposed(xs, ws, copt, k, popt, 7);
    // Each thread convolves its share of the images, which may take another kernel than the whole batch.
    expectClose(r.out[0], r.out[1], 1e-12, 1e-12, `${label}: output`);
    r.grads.forEach(([a, e], i) => expectClose(a, e, 1e-12, 1e-10, `${label}: gradient ${['input', 'weight', 'bias'][i]}`));
  });

  test('float32: classic and standard shapes within float rounding', () => {
    for (const [xs, ws, copt] of [[[20, 10, 13, 13], [20, 10, 3, 3], {}], [[4, 32, 14, 14], [64, 32, 3, 3], { padding: 1 }]] as [number[], number[], Conv2dOptions][]) {
      const x = randLeaf(xs, 3).to('float32').detach().requiresGrad_(), w = randLeaf(ws, 4).to('float32').detach().requiresGrad_();
      const b = randLeaf([ws[0]], 5).to('float32').detach().requiresGrad_();
      const y = conv2dReluMaxPool2d(x, w, b, copt, 2);
      const ref = composed(x, w, b, copt, 2, {});
      expectClose(values(y), values(ref), 1e-5, 1e-5, 'float32 output');
      y.sum().backward();
      const got = [x.grad!, w.grad!, b.grad!].map(values);
      x.grad = w.grad = b.grad = null;
      ref.sum().backward();
      got.forEach((g, i) => expectClose(g, values([x, w, b][i].grad!), 1e-4, 1e-4, `float32 gradient ${i}`));
    }
  });

  test('float64 central differences', () => {
    const inputs = [randLeaf([2, 16, 6, 6], 21), randLeaf([3, 16, 3, 3], 22), randLeaf([3], 23)];
    gradcheck((x, w, b) => conv2dReluMaxPool2d(x, w, b, { padding: 1 }, 2), inputs);
    const thin = [randLeaf([2, 1, 7, 7], 24), randLeaf([2, 1, 3, 3], 25), randLeaf([2], 26)];
    gradcheck((x, w, b) => conv2dReluMaxPool2d(x, w, b, {}, 2, { stride: 1 }), thin);
  });

  test('only the wanted gradients; no graph under noGrad', () => {
    const x = randLeaf([2, 16, 6, 6], 31).detach(), w = randLeaf([3, 16, 3, 3], 32), b = randLeaf([3], 33).detach();
    conv2dReluMaxPool2d(x, w, b, {}, 2).sum().backward();
    expect(x.grad).toBeNull();
    expect(b.grad).toBeNull();
    expect(w.grad!.shape).toEqual([3, 16, 3, 3]);
    const y = tn.noGrad(() => conv2dReluMaxPool2d(x, w, b, {}, 2));
    expect(y.gradFn).toBeNull();
  });

  test('errors name the op that failed', () => {
    const w = tn.zeros([4, 3, 3, 3]);
    expect(() => conv2dReluMaxPool2d(tn.zeros([1, 2, 8, 8]), w, null, {}, 2)).toThrow('conv2d: input [1, 2, 8, 8] has 2 channels but weight [4, 3, 3, 3] expects 3');
    expect(() => conv2dReluMaxPool2d(tn.zeros([1, 3, 4, 4]), w, null, {}, 3)).toThrow(tn.ShapeError);
    expect(() => conv2dReluMaxPool2d(tn.zeros([1, 3, 4, 4]), w, null, {}, 3)).toThrow('max_pool2d: input [1, 4, 2, 2] is too small');
    expect(() => conv2dReluMaxPool2d(tn.zeros([1, 3, 8, 8]), w, null, {}, 2, { padding: 2 })).toThrow('max_pool2d: padding should be at most half of kernel size');
  });

  test('the binding checks the pool geometry and the indices', () => {
    const params = [1, 16, 6, 6, 3, 3, 3, 4, 4, 1, 1, 0, 0, 1, 1, 1];
    const x = tn.randn([1, 16, 6, 6]), w = tn.randn([3, 16, 3, 3]), g = tn.ones([1, 3, 2, 2]);
    const idx = tn.zeros([1, 3, 2, 2], { dtype: 'int64' });
    const bwd = (i: Tensor, win = [2, 2, 2, 2, 0, 0, 1, 1], PH = 2) => () =>
      native.conv2dReluMaxPool2dBackward(null, 0, w.handle, 0, null, 0, g.handle, 0, i.handle, 0, x.handle, 0, w.handle, 0, params, win, PH, 2, 0);
    expect(bwd(idx)).not.toThrow();
    expect(bwd(tn.full([1, 3, 2, 2], 16, { dtype: 'int64' }))).toThrow(tn.IndexError);
    expect(bwd(tn.full([1, 3, 2, 2], 16, { dtype: 'int64' }))).toThrow('conv2d_relu_max_pool2d_backward: index 16 at position 0 is out of range for an output plane of 4x4');
    expect(bwd(idx, [2, 2, 2, 2, 0, 0, 1])).toThrow(tn.ValueError);
    expect(bwd(idx, [2, 2, 2, 2, 0, 0, 1, 1], 3)).toThrow('conv2d_relu_max_pool2d_backward: a pooled output of 3x2 does not fit a 4x4 plane');
  });

  test('the dense weight path (TENSILE_CONV_POOL_WEIGHT=dense) agrees with the default one', () => {
    // The path is chosen once per process: a child runs the native op on seeded data both ways.
    const script = `
      const path = require('path');
      const n = process.env.TENSILE_NATIVE ? require(path.resolve(process.env.TENSILE_NATIVE)) : require('node-gyp-build')(process.cwd());
      let seed = 5;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
      const [N, C, H, W, OC] = [4, 10, 13, 13, 20], params = [N, C, H, W, OC, 3, 3, 11, 11, 1, 1, 0, 0, 1, 1, 1], win = [2, 2, 2, 2, 0, 0, 1, 1];
      const make = (len) => { const a = Float64Array.from({ length: len }, rnd); const h = n.alloc(len * 8, 0); n.write(h, 0, a); return h; };
      const x = make(N * C * H * W), w = make(OC * C * 9), b = make(OC), g = make(N * OC * 25);
      const out = n.alloc(N * OC * 25 * 8, 0), idx = n.alloc(N * OC * 25 * 8, 0), dx = n.alloc(N * C * H * W * 8, 0), dw = n.alloc(OC * C * 9 * 8, 0), db = n.alloc(OC * 8, 0);
      n.conv2dReluMaxPool2dForward(out, 0, idx, 0, x, 0, w, 0, b, 0, params, win, 5, 5, 1);
      n.conv2dReluMaxPool2dBackward(dx, 0, dw, 0, db, 0, g, 0, idx, 0, x, 0, w, 0, params, win, 5, 5, 1);
      const rd = (h, len) => Array.from(new Float64Array(n.read(h, 0, len * 8)));
      process.stdout.write(JSON.stringify([rd(dx, N * C * H * W), rd(dw, OC * C * 9), rd(db, OC)]));`;
    const root = path.join(__dirname, '..', '..');
    const run = (env: Record<string, string | undefined>) =>
      JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, env: { ...process.env, TENSILE_CONV_POOL_WEIGHT: undefined, ...env } as NodeJS.ProcessEnv, encoding: 'utf8' })) as number[][];
    const dense = run({ TENSILE_CONV_POOL_WEIGHT: 'dense' });
    const dflt = run({});
    ['input', 'weight', 'bias'].forEach((name, i) => expectClose(dflt[i], dense[i], 1e-12, 1e-10, `${name} gradient`));
    expect(dense[1].some((v) => v !== 0)).toBe(true);
  });
});

describe('a forward written op by op: maxPool2d(relu(conv2d(x))) takes the fused backward', () => {
  // A Module subclass calling conv, F.relu and the pool one by one (the seed lesson's net): the
  // pool's node stands on the convolution's inputs and runs the fused op's backward, with the
  // gradient masked where the pooled value is not positive (where relu passes none).
  const F = tn.nn.functional;
  type Case = [string, number[], number[], Conv2dOptions, number | number[], MaxPool2dOptions];
  const cases: Case[] = [
    ['classic conv1', [4, 1, 28, 28], [10, 1, 3, 3], {}, 2, {}],
    ['classic conv2', [5, 10, 13, 13], [20, 10, 3, 3], {}, 2, {}],
    ['overlapping 3x3 pool stride 2 padding 1, conv stride 2', [3, 5, 17, 15], [7, 5, 5, 5], { padding: 2, stride: 2 }, 3, { stride: 2, padding: 1 }],
    ['dilation 2, ceil mode', [3, 6, 17, 15], [8, 6, 3, 3], { dilation: 2, padding: 1 }, 2, { ceilMode: true }],
    ['groups 2, 3x3 pool stride 1', [3, 6, 11, 10], [8, 3, 3, 3], { groups: 2, padding: 1 }, 3, { stride: 1 }],
  ];
  const byOps = (x: Tensor, w: Tensor, b: Tensor, copt: Conv2dOptions, k: number | number[], popt: object) => F.maxPool2d(F.relu(conv2d(x, w, b, copt)), k, popt) as Tensor;
  const unfused = (x: Tensor, w: Tensor, b: Tensor, copt: Conv2dOptions, k: number | number[], popt: object) =>
    F.maxPool2d(F.relu(conv2d(x, w, b, copt).mul(1)), k, popt) as Tensor;

  function grads(f: typeof byOps, xs: number[], ws: number[], copt: Conv2dOptions, k: number | number[], popt: object, extra: boolean) {
    const x = randLeaf(xs, 31), w = randLeaf(ws, 32), b = randLeaf([ws[0]], 33);
    const y = f(x, w, b, copt, k, popt);
    const gout = randLeaf(y.shape, 34).detach();
    let loss = y.mul(gout).sum();
    // the relu output used again: its own path adds to the same gradients
    if (extra) loss = loss.add(F.relu(conv2d(x, w, b, copt)).mul(0.5).sum());
    loss.backward();
    return { node: y.gradFn!.name, out: values(y), grads: [x.grad!, w.grad!, b.grad!].map(values) };
  }

  test.each(cases)('%s: the fused node, and the gradients of the three ops (float64)', (label, xs, ws, copt, k, popt) => {
    for (const extra of [false, true]) {
      const got = grads(byOps, xs, ws, copt, k, popt, extra);
      const ref = grads(unfused, xs, ws, copt, k, popt, extra);
      expect(got.node).toBe('conv2d_relu_max_pool2d');
      expect(ref.node).toBe('max_pool2d');
      expectClose(got.out, ref.out, 0, 0, `${label}: output`);
      got.grads.forEach((g, i) => expectClose(g, ref.grads[i], 1e-12, 1e-10, `${label}${extra ? ' (relu output reused)' : ''}: gradient ${['input', 'weight', 'bias'][i]}`));
    }
  });

  test('float64 central differences through the fused backward', () => {
    const inputs = [randLeaf([2, 4, 7, 7], 41), randLeaf([3, 4, 3, 3], 42), randLeaf([3], 43)];
    gradcheck((x, w, b) => byOps(x, w, b, { padding: 1 }, 2, {}), inputs);
  });

  test('not taken for a view of the relu output, a relu of a view of the conv output, or without gradients', () => {
    const x = randLeaf([2, 3, 8, 8], 51), w = randLeaf([4, 3, 3, 3], 52), b = randLeaf([4], 53);
    expect((F.maxPool2d(F.relu(conv2d(x, w, b)).view([2, 4, 6, 6]), 2) as Tensor).gradFn!.name).toBe('max_pool2d');
    expect((F.maxPool2d(F.relu(conv2d(x, w, b).view([2, 4, 6, 6])), 2) as Tensor).gradFn!.name).toBe('max_pool2d');
    expect((tn.noGrad(() => F.maxPool2d(F.relu(conv2d(x, w, b)), 2)) as Tensor).gradFn).toBeNull();
  });
});
