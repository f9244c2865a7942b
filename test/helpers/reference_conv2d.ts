// Plain JS reference for conv2d: the direct 7-loop definition (n, oc, oh, ow, c, kh, kw) and its
// three gradients, in float64, with no lowering of any kind.

export interface RefConvGeometry {
  stride: [number, number];
  /** Top and left padding; the output size decides how far the bottom/right padding reaches. */
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  /** [OH, OW]; defaults to PyTorch's formula with symmetric padding. */
  outSize?: [number, number];
}

export function refOutSize(xShape: number[], wShape: number[], p: RefConvGeometry): [number, number] {
  if (p.outSize) return p.outSize;
  const [, , H, W] = xShape;
  const [, , KH, KW] = wShape;
  const oh = Math.floor((H + 2 * p.padding[0] - p.dilation[0] * (KH - 1) - 1) / p.stride[0]) + 1;
  const ow = Math.floor((W + 2 * p.padding[1] - p.dilation[1] * (KW - 1) - 1) / p.stride[1]) + 1;
  return [oh, ow];
}

// Calls visit(outIndex, inIndex, weightIndex, oc) for every product term of the convolution.
function eachTerm(xShape: number[], wShape: number[], p: RefConvGeometry, visit: (o: number, i: number, w: number, oc: number) => void): void {
  const [N, C, H, W] = xShape;
  const [OC, Cg, KH, KW] = wShape;
  const [OH, OW] = refOutSize(xShape, wShape, p);
  const OCg = OC / p.groups;
  for (let n = 0; n < N; n++)
    for (let oc = 0; oc < OC; oc++) {
      const g = Math.floor(oc / OCg);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const o = ((n * OC + oc) * OH + oh) * OW + ow;
          for (let c = 0; c < Cg; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * p.stride[0] - p.padding[0] + kh * p.dilation[0];
                const iw = ow * p.stride[1] - p.padding[1] + kw * p.dilation[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const i = ((n * C + g * Cg + c) * H + ih) * W + iw;
                const wi = ((oc * Cg + c) * KH + kh) * KW + kw;
                visit(o, i, wi, oc);
              }
        }
    }
}

/** out (N, OC, OH, OW) = conv2d(x (N, C, H, W), w (OC, C/groups, KH, KW)) + bias (OC). */
export function refConv2d(x: ArrayLike<number>, xShape: number[], w: ArrayLike<number>, wShape: number[], bias: ArrayLike<number> | null, p: RefConvGeometry): Float64Array {
  const [OH, OW] = refOutSize(xShape, wShape, p);
  const N = xShape[0];
  const OC = wShape[0];
  const out = new Float64Array(N * OC * OH * OW);
  if (bias) for (let o = 0; o < out.length; o++) out[o] = bias[Math.floor(o / (OH * OW)) % OC];
  eachTerm(xShape, wShape, p, (o, i, wi) => {
    out[o] += w[wi] * x[i];
  });
  return out;
}

/** Gradients of sum(out * g) with respect to x, w and the bias. */
export function refConv2dBackward(
  g: ArrayLike<number>, x: ArrayLike<number>, xShape: number[], w: ArrayLike<number>, wShape: number[], p: RefConvGeometry,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(wShape[0]);
  const [OH, OW] = refOutSize(xShape, wShape, p);
  const OC = wShape[0];
  for (let o = 0; o < g.length; o++) db[Math.floor(o / (OH * OW)) % OC] += g[o];
  eachTerm(xShape, wShape, p, (o, i, wi) => {
    dx[i] += g[o] * w[wi];
    dw[wi] += g[o] * x[i];
  });
  return { dx, dw, db };
}
