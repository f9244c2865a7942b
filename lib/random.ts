// The one seeded generator behind rand, randn, dropout masks, parameter init and DataLoader
// shuffles. Each native random op takes a fresh 64-bit seed from here and derives element i from
// (seed, i), so results depend on the seed and the order of calls, never on the thread count.

import { ValueError } from './errors';

const MASK64 = (1n << 64n) - 1n;

export class Generator {
  private state: bigint;

  constructor(seed: number | bigint = defaultSeed()) {
    this.state = 0n;
    this.manualSeed(seed);
  }

  manualSeed(seed: number | bigint): this {
    // checked here, or BigInt('abc') would raise a SyntaxError naming nothing of ours
    if (typeof seed !== 'bigint' && !(Number.isInteger(seed) && (seed as number) >= 0)) {
      throw new ValueError(`manualSeed: expected a non-negative integer or a bigint for 'seed', got ${typeof seed === 'number' ? seed : typeof seed === 'string' ? `string '${seed}'` : seed === null ? 'null' : typeof seed}`);
    }
    this.state = BigInt(seed) & MASK64;
    return this;
  }

  /** The generator's whole state: `new Generator(getState())` continues the same stream. */
  getState(): bigint {
    return this.state;
  }

  /** The next 64 random bits (SplitMix64). */
  nextBits(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** A seed for one native random op, as two uint32 halves. */
  nextSeed(): [number, number] {
    const b = this.nextBits();
    return [Number(b >> 32n), Number(b & 0xffffffffn)];
  }

  /** Uniform in [0, 1) with 53 bits. */
  random(): number {
    return Number(this.nextBits() >> 11n) / 2 ** 53;
  }

  /** Uniform integer in [0, n). */
  randint(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.randint(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

function defaultSeed(): bigint {
  return BigInt(Date.now()) ^ (BigInt(process.pid) << 32n);
}

export const defaultGenerator = new Generator();

/** Seeds the global generator: same seed, same numbers (PyTorch's torch.manual_seed). */
export function manualSeed(seed: number | bigint): Generator {
  return defaultGenerator.manualSeed(seed);
}
