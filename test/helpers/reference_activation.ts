// Plain JS activation and dropout references in double precision. dropoutMaskRef re-derives the
// native counter-based generator (SplitMix64 over a Weyl sequence, native/ops/elementwise.h) with
// BigInt, so that the mask of a given seed can be checked bit for bit.

export const reluRef = (x: number): number => (x < 0 ? 0 : x);
export const leakyReluRef = (x: number, slope: number): number => (x > 0 ? x : x * slope);
export const sigmoidRef = (x: number): number => 1 / (1 + Math.exp(-x));
export const tanhRef = (x: number): number => Math.tanh(x);

// Derivatives with respect to the input, as functions of the input.
export const reluGradRef = (x: number): number => (x > 0 ? 1 : 0);
export const leakyReluGradRef = (x: number, slope: number): number => (x > 0 ? 1 : slope);
export const sigmoidGradRef = (x: number): number => sigmoidRef(x) * (1 - sigmoidRef(x));
export const tanhGradRef = (x: number): number => 1 - Math.tanh(x) ** 2;

const MASK64 = (1n << 64n) - 1n;

/** random_unit(seed, i): a uniform double in [0, 1) from 53 bits of SplitMix64. */
export function randomUnitRef(seed: bigint, i: number): number {
  let z = (seed + 0x9e3779b97f4a7c15n * BigInt(i + 1)) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  z = z ^ (z >> 31n);
  return Number(z >> 11n) * 2 ** -53;
}

/** The keep-mask of dropout(p) for the seed halves [hi, lo]: element i is kept when random_unit >= p. */
export function dropoutMaskRef(seedHalves: [number, number], n: number, p: number): Uint8Array {
  const seed = (BigInt(seedHalves[0] >>> 0) << 32n) | BigInt(seedHalves[1] >>> 0);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = randomUnitRef(seed, i) >= p ? 1 : 0;
  return mask;
}
