/**
 * The classic pinger over UDP: a `ping` every interval, each answered or
 * timed out on its own, late and duplicate answers noticed, and the counts
 * `ping` prints at the end. Printing is left to the caller (events).
 *
 * @module
 */

import { formatMs, type PingCounts } from "../../lib/ping_stats.ts";
import type { Tracer } from "../../lib/trace.ts";
import { RequestTimeoutError, UdpClient } from "../../lib/udp_client.ts";
import { MAX_DATAGRAM } from "../../lib/udp_server.ts";
import { encodeMessage } from "../../protocol/tlv/message.ts";
import { RemoteError } from "../../protocol/tlv/protocol_error.ts";
import type { MessageOf } from "../../protocol/tlv/registry.ts";

/** Largest `--size`: what a pong fits in one datagram with its id and time. */
export const MAX_PING_SIZE = MAX_DATAGRAM -
  encodeMessage("pong", { id: 0, time: 0, data: new Uint8Array() }).length;

/** Options for {@linkcode ping}. */
export interface PingOptions {
  hostname: string;
  port: number;
  /** Pings to send. */
  count: number;
  /** Time between sends (ms). */
  intervalMs: number;
  /** How long each ping waits for its answer (ms). */
  timeoutMs: number;
  /** Payload bytes per ping, up to {@linkcode MAX_PING_SIZE}. */
  size: number;
  /** Aborting stops sending; the counts so far are returned. */
  signal?: AbortSignal;
  tracer?: Tracer | undefined;
  /** Called for every answer, timeout and error as it happens. */
  onEvent?: (event: PingEvent) => void;
}

/** Something that happened to one ping. */
export type PingEvent =
  | {
    /** Answered in time; `outOfOrder` when a later ping was answered first. */
    readonly kind: "reply";
    readonly seq: number;
    readonly bytes: number;
    readonly rttMs: number;
    readonly outOfOrder: boolean;
  }
  | {
    /** Another answer to a ping already answered. */
    readonly kind: "duplicate";
    readonly seq: number;
    readonly bytes: number;
    readonly rttMs: number;
  }
  | {
    /** An answer after the ping had timed out: reported, not counted. */
    readonly kind: "late";
    readonly seq: number;
    readonly bytes: number;
    readonly rttMs: number;
  }
  | { readonly kind: "timeout"; readonly seq: number }
  | { readonly kind: "error"; readonly seq: number; readonly message: string };

/** What a run counted. */
export interface PingReport extends PingCounts {
  readonly duplicates: number;
  readonly late: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Round-trip times of the answers counted as received (ms). */
  readonly rtts: readonly number[];
}

type Outcome = "waiting" | "answered" | "timed out" | "failed";

/**
 * Pings `hostname:port` `count` times, one every `intervalMs`, the n-th
 * ping carrying id n (its sequence number), the send time and `size`
 * padding bytes.
 *
 * @returns The counts and round-trip times, once every ping is answered or
 *   timed out (or at once after `signal` aborts).
 * @example
 * ```ts
 * const report = await ping({
 *   hostname: "127.0.0.1", port, count: 3, intervalMs: 1000,
 *   timeoutMs: 1000, size: 56,
 *   onEvent: (e) => printLine(formatPingEvent(e, "127.0.0.1:9000")),
 * });
 * ```
 */
export async function ping(options: PingOptions): Promise<PingReport> {
  const { signal } = options;
  const data = new Uint8Array(options.size).map((_, i) => i & 0xff);
  const sentAt: number[] = [];
  const outcome: Outcome[] = [];
  const rtts: number[] = [];
  let transmitted = 0;
  let received = 0;
  let duplicates = 0;
  let late = 0;
  let errors = 0;
  let highest = 0;
  const emit = (event: PingEvent) => options.onEvent?.(event);

  const udp = new UdpClient({
    hostname: options.hostname,
    port: options.port,
    tracer: options.tracer,
  });
  // Answers nobody waits for any more: the ping was answered or timed out.
  udp.onStray((message) => {
    if (message.type !== "pong" || message.fields.id === undefined) return;
    const seq = message.fields.id;
    const at = sentAt[seq];
    if (at === undefined) return; // not one of ours
    const rttMs = performance.now() - at;
    const bytes = encodedLength(message);
    if (outcome[seq] === "answered") {
      duplicates++;
      emit({ kind: "duplicate", seq, bytes, rttMs });
    } else if (outcome[seq] === "timed out") {
      late++;
      emit({ kind: "late", seq, bytes, rttMs });
    }
  });

  async function one(seq: number): Promise<void> {
    outcome[seq] = "waiting";
    sentAt[seq] = performance.now();
    try {
      const reply = await udp.request(
        "ping",
        { id: seq, time: wallClockMicros(), data },
        options.timeoutMs,
      );
      const rttMs = performance.now() - sentAt[seq]!;
      outcome[seq] = "answered";
      if (reply.type !== "pong") {
        errors++;
        emit({ kind: "error", seq, message: `answered with ${reply.type}` });
        return;
      }
      received++;
      rtts.push(rttMs);
      const outOfOrder = seq < highest;
      highest = Math.max(highest, seq);
      emit({
        kind: "reply",
        seq,
        bytes: encodedLength(reply),
        rttMs,
        outOfOrder,
      });
    } catch (error) {
      if (error instanceof RequestTimeoutError) {
        outcome[seq] = "timed out";
        emit({ kind: "timeout", seq });
        return;
      }
      outcome[seq] = "failed";
      if (signal?.aborted) return; // closed under it: stopped, not failed
      errors++;
      const message = error instanceof RemoteError
        ? `error ${error.codeName ?? error.code}: ${error.message}`
        : (error as Error).message;
      emit({ kind: "error", seq, message });
    }
  }

  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  try {
    for (let seq = 1; seq <= options.count && !signal?.aborted; seq++) {
      transmitted++;
      inFlight.push(one(seq));
      if (seq < options.count) await pause(options.intervalMs, signal);
    }
    await untilAborted(Promise.all(inFlight), signal);
  } finally {
    // After an abort this rejects the pings still waiting.
    await udp.close();
    await Promise.all(inFlight);
  }
  return {
    transmitted,
    received,
    duplicates,
    late,
    errors,
    elapsedMs: performance.now() - started,
    rtts,
  };
}

/**
 * One line of `ping` output for an event.
 *
 * @example
 * ```ts
 * formatPingEvent({ kind: "timeout", seq: 3 }, "127.0.0.1:9000");
 * // "Request timed out (seq=3)"
 * ```
 */
export function formatPingEvent(event: PingEvent, peer: string): string {
  switch (event.kind) {
    case "timeout":
      return `Request timed out (seq=${event.seq})`;
    case "error":
      return `From ${peer}: seq=${event.seq} ${event.message}`;
    default: {
      const head = `${event.bytes} bytes from ${peer}: seq=${event.seq} ` +
        `time=${formatMs(event.rttMs)} ms`;
      if (event.kind === "duplicate") return `${head} (DUP!)`;
      if (event.kind === "late") return `${head} (late, not counted)`;
      return event.outOfOrder ? `${head} (out of order)` : head;
    }
  }
}

/** Microseconds since 1970, finer than `Date.now()`. */
function wallClockMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Bytes the message took on the wire (the codec is deterministic). */
function encodedLength(message: MessageOf<"pong">): number {
  return encodeMessage("pong", message.fields).length;
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves when `work` settles or `signal` aborts, whichever is first. */
function untilAborted(
  work: Promise<unknown>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (signal === undefined) return work.then(() => {});
  if (signal.aborted) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  const onAbort = () => resolve();
  signal.addEventListener("abort", onAbort, { once: true });
  work.then(() => resolve(), () => resolve());
  return promise.finally(() => signal.removeEventListener("abort", onAbort));
}
