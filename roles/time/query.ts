/**
 * The time client's two ways of asking: samples NTP style (the one with the
 * smallest delay wins), and a subscription to the server's ticks kept alive
 * by heartbeats.
 *
 * @module
 */

import type { UdpClient } from "../../lib/udp_client.ts";
import type { MessageOf } from "../../protocol/tlv/registry.ts";
import type { Clock } from "./clock.ts";
import { type TimeSample, timeSample } from "./ntp.ts";

/** Why a subscription ended other than by the client's own wish. */
export type SubscriptionErrorCode = "expired" | "silent";

/** A subscription ended by the server, or by its silence. */
export class SubscriptionError extends Error {
  /** `expired`: the server dropped us; `silent`: no tick came for too long. */
  readonly code: SubscriptionErrorCode;

  /** Creates the error. */
  constructor(code: SubscriptionErrorCode, message: string) {
    super(message);
    this.name = "SubscriptionError";
    this.code = code;
  }
}

/**
 * Takes one sample: sends `time_request` with t1, and reads t2 and t3 from
 * the reply and t4 from `clock` when it arrives.
 *
 * @throws {RequestTimeoutError} When no reply comes within `timeoutMs`
 *   (from `lib/udp_client.ts`).
 * @example
 * ```ts
 * const { offset, delay } = await requestTime(udp, systemClock(), 1000);
 * ```
 */
export async function requestTime(
  udp: UdpClient,
  clock: Clock,
  timeoutMs: number,
): Promise<TimeSample> {
  const t1 = clock();
  const reply = await udp.request("time_request", { t1 }, timeoutMs);
  const t4 = clock();
  if (reply.type !== "time_reply") {
    throw new Error(`${udp.peer} answered time_request with ${reply.type}`);
  }
  // Our own t1, not the echoed one: a server cannot move our clock.
  return timeSample({ t1, t2: reply.fields.t2, t3: reply.fields.t3, t4 });
}

/** One tick as the client saw it. */
export interface Tick {
  readonly seq: number;
  /** The server's time in the tick (µs). */
  readonly time: number;
  /** Our clock when it arrived (µs). */
  readonly receivedAt: number;
  /** Ticks skipped since the previous one (lost on the way). */
  readonly missed: number;
}

/** Options for {@linkcode watchTicks}. */
export interface WatchOptions {
  clock: Clock;
  /** Bound on the subscribe request and each heartbeat (ms). */
  timeoutMs: number;
  /** Time between heartbeat pings (ms). */
  heartbeatMs: number;
  /** The subscription counts as lost after this long without a tick (ms). */
  silenceMs: number;
  /** Stop after this long (ms); without it, only `signal` stops. */
  durationMs?: number | undefined;
  signal?: AbortSignal;
  onTick: (tick: Tick) => void;
}

/** What a subscription received. */
export interface WatchReport {
  readonly ticks: number;
  readonly missed: number;
}

/**
 * Subscribes to the server's ticks and reports each one until `durationMs`
 * passes or `signal` aborts, then unsubscribes. A `ping` every
 * `heartbeatMs` keeps the subscription alive on the server.
 *
 * @throws {SubscriptionError} When the server ends the subscription or
 *   falls silent; `RequestTimeoutError` or a `RemoteError`
 *   (server_busy) when the subscription is not taken.
 * @example
 * ```ts
 * await watchTicks(udp, {
 *   clock: systemClock(), timeoutMs: 1000, heartbeatMs: 3000,
 *   silenceMs: 5000, durationMs: 5000, onTick: (t) => printLine(String(t.seq)),
 * });
 * ```
 */
export async function watchTicks(
  udp: UdpClient,
  options: WatchOptions,
): Promise<WatchReport> {
  const { clock, signal } = options;
  let ticks = 0;
  let missed = 0;
  let lastSeq = 0;
  const ended = Promise.withResolvers<void>();
  let silence: ReturnType<typeof setTimeout> | undefined;
  const quiet = () => {
    clearTimeout(silence);
    silence = setTimeout(() => {
      ended.reject(
        new SubscriptionError(
          "silent",
          `no tick from ${udp.peer} for ${options.silenceMs} ms; the server is gone`,
        ),
      );
    }, options.silenceMs);
  };
  const seen = (tick: MessageOf<"time_tick">) => {
    const { seq, time } = tick.fields;
    if (seq <= lastSeq) return; // a duplicate, or overtaken by a newer one
    const skipped = lastSeq === 0 ? 0 : seq - lastSeq - 1;
    lastSeq = seq;
    ticks++;
    missed += skipped;
    quiet();
    options.onTick({ seq, time, receivedAt: clock(), missed: skipped });
  };

  if (signal?.aborted) return { ticks, missed };
  const first = await udp.request("time_subscribe", {}, options.timeoutMs);
  if (first.type !== "time_tick") {
    throw new Error(`${udp.peer} answered time_subscribe with ${first.type}`);
  }
  const id = first.fields.id;
  udp.onStray((message) => {
    if (message.type === "time_tick" && message.fields.id === id) {
      seen(message);
    } else if (message.type === "error" && message.fields.id === id) {
      ended.reject(
        new SubscriptionError(
          "expired",
          `${udp.peer} ended the subscription: ${message.fields.message}`,
        ),
      );
    }
  });
  const heartbeat = setInterval(() => {
    // A lost heartbeat is not fatal: the server allows several.
    udp.request("ping", {}, options.timeoutMs).catch(() => {});
  }, options.heartbeatMs);
  const stop = () => ended.resolve();
  const deadline = options.durationMs === undefined
    ? undefined
    : setTimeout(stop, options.durationMs);
  signal?.addEventListener("abort", stop, { once: true });
  try {
    seen(first);
    await ended.promise;
    udp.send("time_unsubscribe", { id });
  } finally {
    clearInterval(heartbeat);
    clearTimeout(deadline);
    clearTimeout(silence);
    signal?.removeEventListener("abort", stop);
  }
  return { ticks, missed };
}
