/**
 * NTP's on-wire arithmetic (RFC 5905 §8): from the four timestamps of one
 * request and reply, the offset of the server's clock from ours and the
 * round-trip delay; and the clock filter's choice among several samples.
 *
 * @module
 */

/** The four timestamps of one exchange, in microseconds. */
export interface Timestamps {
  /** Client clock: the request left. */
  readonly t1: number;
  /** Server clock: the request arrived. */
  readonly t2: number;
  /** Server clock: the reply left. */
  readonly t3: number;
  /** Client clock: the reply arrived. */
  readonly t4: number;
}

/** One measurement: its timestamps, offset and delay (µs). */
export interface TimeSample extends Timestamps {
  /** How far the server's clock is ahead of ours: ((t2 − t1) + (t3 − t4)) / 2. */
  readonly offset: number;
  /** Time on the network, the server's own time taken out: (t4 − t1) − (t3 − t2). */
  readonly delay: number;
}

/**
 * Offset and delay of one exchange, RFC 5905 style. The offset is exact
 * when the way there and the way back take equally long; otherwise it is
 * off by at most half the delay.
 *
 * @example
 * ```ts
 * // The server is 1 s ahead; 10 ms each way; 2 ms spent in the server.
 * timeSample({ t1: 0, t2: 1_010_000, t3: 1_012_000, t4: 22_000 });
 * // { ..., offset: 1_000_000, delay: 20_000 }
 * ```
 */
export function timeSample(stamps: Timestamps): TimeSample {
  const { t1, t2, t3, t4 } = stamps;
  return {
    t1,
    t2,
    t3,
    t4,
    offset: ((t2 - t1) + (t3 - t4)) / 2,
    delay: (t4 - t1) - (t3 - t2),
  };
}

/**
 * The sample to trust: the one with the smallest delay, as NTP's clock
 * filter picks — the least time in queues means the least room for an
 * asymmetric path to skew the offset. The earliest wins a tie.
 *
 * @returns The best sample, or `undefined` when there are none.
 * @example
 * ```ts
 * bestSample([slow, fast, slower]); // fast
 * ```
 */
export function bestSample<S extends TimeSample>(
  samples: readonly S[],
): S | undefined {
  let best: S | undefined;
  for (const sample of samples) {
    if (best === undefined || sample.delay < best.delay) best = sample;
  }
  return best;
}
