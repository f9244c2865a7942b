// Small, fast, seeded random streams for data loading. Pure JS (no native code): worker threads
// load this file too. Every random draw of the data pipeline comes from a stream keyed by
// (seed, epoch, sample index, salt), never from which thread or worker ran it, so a DataLoader
// with workers yields exactly the batches of one without.
//
// Not the global generator (lib/random.ts): that one is a BigInt SplitMix64, fine for one seed
// per op but too slow for a draw per sample.

/** MurmurHash3's 32-bit finaliser: a cheap bijection with good avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes a list of non-negative integers (each below 2^53) into one 32-bit seed. */
export function hashSeed(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    const lo = w >>> 0;
    const hi = Math.floor(w / 4294967296) >>> 0;
    h = fmix32((h ^ lo) + 0x7f4a7c15);
    h = fmix32((h ^ hi) + 0x165667b1);
  }
  return h;
}

/**
 * mulberry32: one 32-bit word of state. This is the exact function of
 * /work/shared/reference/make_fmnist_idx.js (the bundled FashionMNIST order depends on it).
 */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return function () {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates in place, drawing j = floor(rand() * (i + 1)) from i = n-1 down (the reference's order). */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(arr: T, rand: () => number): T {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = arr[i];
    arr[i] = arr[j];
    arr[j] = t;
  }
  return arr;
}

/** A seeded stream: uniform floats and unbiased-enough integers (53-bit resolution). */
export class Rng {
  private readonly next32: () => number;
  constructor(seed: number) {
    this.next32 = mulberry32(seed);
  }
  /** Uniform in [0, 1), 32-bit resolution (flip decisions). */
  random(): number {
    return this.next32();
  }
  /** Uniform integer in [0, n) from 53 random bits. */
  below(n: number): number {
    const hi = Math.floor(this.next32() * 2097152); // 21 bits
    const lo = Math.floor(this.next32() * 4294967296); // 32 bits
    return Math.floor(((hi * 4294967296 + lo) / 9007199254740992) * n);
  }
}

// Salts keep the streams of different uses apart.
export const SALT_SHUFFLE = 0x5348;
export const SALT_NO_CONTEXT = 0x4e4f;

/** The permutation of 0..n-1 that a DataLoader with this seed uses in this epoch. */
export function epochPermutation(n: number, seed: number, epoch: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = new Rng(hashSeed(seed, epoch, SALT_SHUFFLE));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
