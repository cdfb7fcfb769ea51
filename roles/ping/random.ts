/**
 * A small seeded pseudo-random generator, so a simulated network run can be
 * repeated exactly: the same seed gives the same losses and delays.
 *
 * @module
 */

/** Largest seed; seeds are unsigned 32-bit integers. */
export const MAX_SEED = 0xffff_ffff;

/**
 * Mulberry32: 32 bits of state, fast, and good enough to decide the fate of
 * datagrams (it is not for secrets — `crypto` is).
 *
 * @param seed An integer from 0 to {@linkcode MAX_SEED}.
 * @returns A function giving numbers in [0, 1), the same sequence for the same seed.
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random(); // 0.6011037519201636, every time
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b_79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A fresh seed from the system's randomness, for a run that did not ask for
 * one (it is logged, so the run can still be repeated).
 */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
