/**
 * Flood control: a token bucket per client. Each request takes a token;
 * tokens come back at a steady rate up to a burst, so a person typing is
 * never limited while a script that floods a room is.
 *
 * @module
 */

/**
 * A token bucket over an injected clock (milliseconds), so tests need no
 * waiting.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ rate: 10, burst: 20 }, 0);
 * bucket.take(0); // 0: taken
 * // …after 20 takes at time 0:
 * bucket.take(0); // 100: the next token comes in 100 ms
 * ```
 */
export class TokenBucket {
  /** Tokens added per second. */
  readonly rate: number;
  /** Most tokens held. */
  readonly burst: number;
  #tokens: number;
  #at: number;

  /** A full bucket at time `now` (ms). */
  constructor(options: { rate: number; burst: number }, now: number) {
    if (!(options.rate > 0) || !(options.burst >= 1)) {
      throw new RangeError(
        `Cannot make a token bucket: rate ${options.rate} must be above 0 and burst ${options.burst} at least 1`,
      );
    }
    this.rate = options.rate;
    this.burst = options.burst;
    this.#tokens = options.burst;
    this.#at = now;
  }

  /**
   * Takes one token at time `now` (ms).
   *
   * @returns 0 when a token was taken, else the milliseconds until one
   *   will be there (nothing is taken then).
   */
  take(now: number): number {
    // A clock that steps back must not mint tokens.
    const elapsed = Math.max(0, now - this.#at);
    this.#tokens = Math.min(
      this.burst,
      this.#tokens + (elapsed * this.rate) / 1000,
    );
    this.#at = Math.max(this.#at, now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.rate);
  }
}

/**
 * The `rate_limited` error message: what the limit is and when to go on.
 * {@linkcode retryAfterMs} reads it back.
 *
 * @example
 * ```ts
 * rateLimitMessage({ rate: 10, burst: 20, waitMs: 100 }); // "too many messages (10 per second, bursts of 20); go on in 100 ms"
 * ```
 */
export function rateLimitMessage(
  { rate, burst, waitMs }: { rate: number; burst: number; waitMs: number },
): string {
  return `too many messages (${rate} per second, bursts of ${burst}); go on in ${waitMs} ms`;
}

/**
 * How long a `rate_limited` message says to wait, or `undefined` when it
 * does not say (a server of another build).
 *
 * @example
 * ```ts
 * retryAfterMs("too many messages …; go on in 100 ms"); // 100
 * ```
 */
export function retryAfterMs(message: string): number | undefined {
  const match = /go on in (\d+) ms/.exec(message);
  return match ? Number(match[1]) : undefined;
}
