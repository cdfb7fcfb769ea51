/**
 * Wall-clock time in microseconds, the unit of the time service's fields,
 * optionally shifted (the time server's `--clock-offset`, for demos and
 * tests of the offset the client computes).
 *
 * @module
 */

/** A clock: microseconds since 1970-01-01 UTC. */
export type Clock = () => number;

/**
 * The system clock, shifted by `offsetMs`, read with sub-millisecond
 * resolution (`Date.now()` has whole milliseconds only).
 *
 * @example
 * ```ts
 * const ahead = systemClock(250); // a quarter second ahead
 * ahead() - systemClock()(); // about 250 000
 * ```
 */
export function systemClock(offsetMs = 0): Clock {
  return () =>
    Math.max(
      0,
      Math.round(
        (performance.timeOrigin + performance.now() + offsetMs) * 1000,
      ),
    );
}

/**
 * A time as ISO 8601 with microseconds.
 *
 * @example
 * ```ts
 * formatMicros(1_700_000_000_123_456); // "2023-11-14T22:13:20.123456Z"
 * ```
 */
export function formatMicros(micros: number): string {
  const us = Math.round(micros);
  const ms = Math.floor(us / 1000);
  const extra = String(us - ms * 1000).padStart(3, "0");
  return new Date(ms).toISOString().replace("Z", `${extra}Z`);
}
