/**
 * Real-time pacing of a transport stream from its program clock references:
 * a file played "live" must be sent no faster than it would be broadcast.
 *
 * Pure: the clock never reads the time. It turns PCRs into send times (ms
 * since the start), and the caller waits until each one.
 *
 * @example
 * ```ts
 * const clock = new PcrClock();
 * const start = performance.now();
 * for (const packet of packets) {
 *   const at = clock.push(parsePacket(packet));
 *   if (at !== undefined) await sleepUntil(start + at);
 *   send(packet);
 * }
 * ```
 *
 * @module
 */

import { PCR_HZ, PCR_WRAP, TS_PACKET_SIZE, type TsPacketInfo } from "./ts.ts";

const TICKS_PER_MS = PCR_HZ / 1000;

/** Options of {@linkcode PcrClock}. */
export interface PcrClockOptions {
  /**
   * The byte rate assumed until PCRs have measured one, used to time
   * packets when the stream has no (or has lost its) PCR. Default 250 000
   * bytes per second (2 Mbit/s).
   */
  fallbackBytesPerSecond?: number;
  /**
   * A PCR step forwards larger than this, or any step backwards that is not
   * a wrap of the 33-bit base, starts a new epoch that goes on from the last
   * send time instead of jumping. Default 2000 ms.
   */
  maxPcrJumpMs?: number;
  /**
   * How long (in stream time, at the measured byte rate) packets may go
   * without a PCR before the clock times them by byte count instead.
   * Default 500 ms; ISO/IEC 13818-1 asks for a PCR at least every 100 ms.
   */
  pcrTimeoutMs?: number;
  /** Follow only this PID's PCRs. Default: the first PID seen with one. */
  pcrPid?: number;
}

/** The header fields {@linkcode PcrClock.push} reads. */
export type PcrClockInput =
  & Pick<TsPacketInfo, "pid" | "pcr">
  & Partial<Pick<TsPacketInfo, "discontinuity">>;

/**
 * Turns a transport stream's PCRs into send times, in milliseconds since
 * the first packet, so that sending each packet at its time plays the
 * stream at real-time pace. A packet's time is when its first byte should
 * go out; the first packet's is 0.
 *
 * - A packet carrying a PCR (on the followed PID) gets a time from the PCR
 *   difference to the previous one: PCR-accurate pacing.
 * - A packet without one gets `undefined`: send it right after the previous
 *   packet. While no PCR has been seen in the current epoch, or none for
 *   `pcrTimeoutMs`, every packet instead gets a time from the byte count and
 *   the byte rate (measured between PCRs, or `fallbackBytesPerSecond`).
 * - The 33-bit PCR base wraps (every 26.5 h) without a jump in time. A PCR
 *   that goes backwards otherwise (a file starting over in a loop), jumps
 *   forward by more than `maxPcrJumpMs`, or carries the discontinuity
 *   indicator opens a new epoch that goes on from the last time plus the
 *   bytes since it at the measured rate. {@linkcode restart} does so
 *   explicitly.
 *
 * Times never decrease.
 *
 * @example
 * ```ts
 * const clock = new PcrClock();
 * clock.push({ pid: 256, pcr: 27_000_000 }); // 0
 * clock.push({ pid: 257, pcr: undefined }); // undefined: send right after
 * clock.push({ pid: 256, pcr: 27_000_000 + 2_700_000 }); // 100 (0.1 s later)
 * ```
 */
export class PcrClock {
  #fallbackRate: number;
  #maxJumpTicks: number;
  #timeoutMs: number;
  #pcrPid: number | undefined;
  #fixedPid: boolean;

  /** The last time returned (ms). */
  #time = 0;
  /** Bytes from the start of the packet that got `#time` to this packet. */
  #bytesSinceTime = 0;
  /** The last followed PCR in this epoch, in 27 MHz ticks, and its time. */
  #lastPcr: number | undefined;
  #lastPcrTime = 0;
  /** Bytes from the start of the last followed PCR's packet to this one. */
  #bytesSincePcr = 0;
  /** Totals over PCR-to-PCR intervals, for the byte rate. */
  #rateBytes = 0;
  #rateMs = 0;
  #epochs = 0;

  /** Creates a clock at time 0; see {@linkcode PcrClockOptions}. */
  constructor(options: PcrClockOptions = {}) {
    this.#fallbackRate = positive(
      "fallbackBytesPerSecond",
      options.fallbackBytesPerSecond ?? 250_000,
    );
    this.#maxJumpTicks =
      positive("maxPcrJumpMs", options.maxPcrJumpMs ?? 2000) *
      TICKS_PER_MS;
    this.#timeoutMs = positive("pcrTimeoutMs", options.pcrTimeoutMs ?? 500);
    this.#pcrPid = options.pcrPid;
    this.#fixedPid = options.pcrPid !== undefined;
  }

  /** How many epochs the clock has timed so far (1 after the first PCR). */
  get epochs(): number {
    return this.#epochs;
  }

  /**
   * The byte rate the clock uses for packets it cannot time by PCR: the
   * average between PCRs seen so far, or `fallbackBytesPerSecond`.
   */
  get bytesPerSecond(): number {
    return this.#rateMs > 0
      ? this.#rateBytes / this.#rateMs * 1000
      : this.#fallbackRate;
  }

  /** The PID whose PCRs the clock follows, once known. */
  get pcrPid(): number | undefined {
    return this.#pcrPid;
  }

  /**
   * Accounts for the next packet and says when to send it.
   *
   * @param info The packet's header fields (from `parsePacket`).
   * @param size The packet's size in bytes; default 188.
   * @returns The send time in ms since the start, or `undefined` to send it
   *   right after the previous packet.
   */
  push(info: PcrClockInput, size: number = TS_PACKET_SIZE): number | undefined {
    const at = this.#timeOf(info);
    this.#bytesSinceTime += size;
    this.#bytesSincePcr += size;
    return at;
  }

  /**
   * Starts a new epoch: the next PCR goes on from the last time instead of
   * being compared with the previous PCR. Call it when the source starts
   * over (a file played in a loop); the clock also notices on its own.
   */
  restart(): void {
    this.#lastPcr = undefined;
    if (!this.#fixedPid) this.#pcrPid = undefined;
  }

  #timeOf(info: PcrClockInput): number | undefined {
    const pcr = info.pcr;
    if (pcr !== undefined && this.#pcrPid === undefined) {
      this.#pcrPid = info.pid;
    }
    if (pcr !== undefined && info.pid === this.#pcrPid) {
      return this.#onPcr(pcr, info.discontinuity === true);
    }
    if (this.#lastPcr !== undefined) {
      const quietMs = this.#bytesSincePcr / this.bytesPerSecond * 1000;
      if (quietMs <= this.#timeoutMs) return undefined;
    }
    return this.#mark(this.#byByteRate());
  }

  #onPcr(pcr: number, discontinuity: boolean): number {
    const last = this.#lastPcr;
    let time: number;
    if (last === undefined || discontinuity) {
      time = this.#byByteRate();
      this.#epochs++;
    } else {
      let delta = pcr - last;
      if (delta < 0) delta += PCR_WRAP;
      if (delta > this.#maxJumpTicks) {
        // A loop restart or a jump: go on from where we are.
        time = this.#byByteRate();
        this.#epochs++;
      } else {
        const ms = delta / TICKS_PER_MS;
        time = this.#lastPcrTime + ms;
        if (ms > 0) {
          this.#rateBytes += this.#bytesSincePcr;
          this.#rateMs += ms;
        }
      }
    }
    this.#lastPcr = pcr;
    this.#bytesSincePcr = 0;
    this.#lastPcrTime = this.#mark(time);
    return this.#lastPcrTime;
  }

  /** The time of the current packet from the bytes sent since the last. */
  #byByteRate(): number {
    return this.#time + this.#bytesSinceTime / this.bytesPerSecond * 1000;
  }

  #mark(time: number): number {
    this.#time = Math.max(this.#time, time);
    this.#bytesSinceTime = 0;
    return this.#time;
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot create PcrClock: ${name} ${value} is not a positive number`,
    );
  }
  return value;
}
