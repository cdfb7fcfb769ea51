/**
 * A simulated bad network for the UDP pinger: which replies are lost, how
 * long each is delayed, which are held back to arrive out of order. Pure and
 * seeded, so a run can be repeated and tests can predict it.
 *
 * @module
 */

import { seededRandom } from "./random.ts";

/** How bad the simulated network is. */
export interface SimulationOptions {
  /** Probability that a reply is lost, 0–1. Default 0. */
  readonly loss?: number;
  /** Delay added to every reply (ms). Default 0. */
  readonly delayMs?: number;
  /** The delay varies uniformly by up to this much either way (ms). Default 0. */
  readonly jitterMs?: number;
  /** Probability that a reply is held back until the next one has gone, 0–1. Default 0. */
  readonly reorder?: number;
  /** Seed of the generator (an unsigned 32-bit integer). */
  readonly seed: number;
}

/** What happens to one reply. */
export interface Fate {
  /** The reply is never sent. */
  readonly lost: boolean;
  /** How long it waits before it is sent (ms). */
  readonly delayMs: number;
  /** It is held back and sent after the next reply. */
  readonly holdBack: boolean;
}

/**
 * Decides the fate of each reply in turn.
 *
 * Every call draws exactly three numbers, whatever the settings: the loss of
 * the n-th reply then depends only on the seed, `loss` and n, so changing the
 * delay or the reordering of a run keeps the same replies lost.
 *
 * @example
 * ```ts
 * const network = new NetworkSimulation({ loss: 0.3, seed: 7 });
 * const fate = network.next(); // { lost: false, delayMs: 0, holdBack: false }
 * ```
 */
export class NetworkSimulation {
  readonly loss: number;
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly reorder: number;
  readonly seed: number;
  #random: () => number;

  /** Starts the generator at `options.seed`. */
  constructor(options: SimulationOptions) {
    this.loss = options.loss ?? 0;
    this.delayMs = options.delayMs ?? 0;
    this.jitterMs = options.jitterMs ?? 0;
    this.reorder = options.reorder ?? 0;
    this.seed = options.seed;
    this.#random = seededRandom(options.seed);
  }

  /** The fate of the next reply. */
  next(): Fate {
    const lossDraw = this.#random();
    const jitterDraw = this.#random();
    const reorderDraw = this.#random();
    const lost = lossDraw < this.loss;
    return {
      lost,
      delayMs: Math.max(
        0,
        this.delayMs + this.jitterMs * (2 * jitterDraw - 1),
      ),
      holdBack: !lost && reorderDraw < this.reorder,
    };
  }

  /** Whether this simulation changes anything (all zero: a perfect network). */
  get active(): boolean {
    return this.loss > 0 || this.delayMs > 0 || this.jitterMs > 0 ||
      this.reorder > 0;
  }
}
