/**
 * Round-trip statistics and the summary `ping` prints, in iputils' words and
 * arithmetic. The echo client and the UDP pinger both use it, so every
 * client that measures round trips reads the same.
 *
 * @module
 */

/** Round-trip statistics in milliseconds, as `ping` reports them. */
export interface RttStats {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  /** Mean deviation as iputils computes it: sqrt(mean(rtt²) − mean(rtt)²). */
  readonly mdev: number;
}

/**
 * Computes min/avg/max/mdev of round-trip times.
 *
 * @param rtts Round-trip times in milliseconds.
 * @returns The statistics, or `undefined` when there are none.
 * @example
 * ```ts
 * rttStats([1, 2, 3]); // { min: 1, avg: 2, max: 3, mdev: 0.816… }
 * ```
 */
export function rttStats(rtts: readonly number[]): RttStats | undefined {
  if (rtts.length === 0) return undefined;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const rtt of rtts) {
    sum += rtt;
    if (rtt < min) min = rtt;
    if (rtt > max) max = rtt;
  }
  const avg = sum / rtts.length;
  // Despite its name, iputils' mdev is the population standard deviation,
  // sqrt(mean(rtt²) − mean(rtt)²). mean((rtt − avg)²) is the same quantity;
  // summed this way, equal samples give exactly 0 instead of the rounding
  // noise (or the root of a tiny negative: NaN) of the subtraction.
  let squares = 0;
  for (const rtt of rtts) squares += (rtt - avg) ** 2;
  const mdev = Math.sqrt(squares / rtts.length);
  return { min, avg, max, mdev };
}

/**
 * Milliseconds with three decimals, as `ping` prints its summary.
 *
 * @example
 * ```ts
 * formatMs(0.04512); // "0.045"
 * ```
 */
export function formatMs(ms: number): string {
  return ms.toFixed(3);
}

/**
 * The packet-loss percentage as iputils prints it (`%g`: at most six
 * significant digits, no trailing zeros).
 *
 * @example
 * ```ts
 * lossPercent(3, 2); // "33.3333"
 * lossPercent(10, 10); // "0"
 * ```
 */
export function lossPercent(transmitted: number, received: number): string {
  if (transmitted === 0) return "0";
  const percent = ((transmitted - received) * 100) / transmitted;
  return String(Number(percent.toPrecision(6)));
}

/** What a run of requests counted, for {@linkcode pingSummary}. */
export interface PingCounts {
  /** Requests sent. */
  readonly transmitted: number;
  /** Requests answered in time (each counted once). */
  readonly received: number;
  /** Extra answers to requests already answered. */
  readonly duplicates?: number;
  /** Answers that came after their request had timed out (not received). */
  readonly late?: number;
  /** Requests answered with an error. */
  readonly errors?: number;
  /** How long the run took, in milliseconds. */
  readonly elapsedMs?: number;
}

/**
 * The summary lines `ping` prints at the end: the counts, then min/avg/max/
 * mdev when anything was received.
 *
 * @param counts What was sent and received.
 * @param rtts Round-trip times (ms) of the answers counted as received.
 * @returns One or two lines.
 * @example
 * ```ts
 * pingSummary({ transmitted: 2, received: 1 }, [0.5]);
 * // ["2 packets transmitted, 1 received, 50% packet loss",
 * //  "rtt min/avg/max/mdev = 0.500/0.500/0.500/0.000 ms"]
 * ```
 */
export function pingSummary(
  counts: PingCounts,
  rtts: readonly number[],
): string[] {
  const parts = [
    `${counts.transmitted} packets transmitted`,
    `${counts.received} received`,
  ];
  if (counts.duplicates) parts.push(`+${counts.duplicates} duplicates`);
  if (counts.late) parts.push(`+${counts.late} late`);
  if (counts.errors) parts.push(`+${counts.errors} errors`);
  parts.push(
    `${lossPercent(counts.transmitted, counts.received)}% packet loss`,
  );
  if (counts.elapsedMs !== undefined) {
    parts.push(`time ${Math.round(counts.elapsedMs)}ms`);
  }
  const lines = [parts.join(", ")];
  const stats = rttStats(rtts);
  if (stats) {
    const { min, avg, max, mdev } = stats;
    lines.push(
      `rtt min/avg/max/mdev = ${
        [min, avg, max, mdev].map(formatMs).join("/")
      } ms`,
    );
  }
  return lines;
}
