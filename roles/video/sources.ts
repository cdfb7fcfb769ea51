/**
 * Where the origin's live channel comes from: an MPEG-TS file played in a
 * loop at real-time pace (timed by its PCRs), or a stream on stdin such as
 * `ffmpeg … -f mpegts - | socklab --role global-server --live-source -`.
 *
 * @module
 */

import { PcrClock } from "../../protocol/mpegts/pacing.ts";
import { parsePacket, TS_PACKET_SIZE } from "../../protocol/mpegts/ts.ts";

/** Packets sent together when they are due within this long of each other (ms). */
const BATCH_MS = 20;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Plays an MPEG-TS file in a loop at real-time pace until `signal` aborts.
 * The file is read once into memory (live clips are small; a long one would
 * want streaming reads).
 *
 * @example
 * ```ts
 * for await (const bytes of loopFile("testdata/video/live.m2t", signal)) relay(bytes);
 * ```
 */
export async function* loopFile(
  path: string,
  signal: AbortSignal,
  options: { speed?: number } = {},
): AsyncGenerator<Uint8Array> {
  const bytes = await Deno.readFile(path);
  const usable = bytes.length - (bytes.length % TS_PACKET_SIZE);
  if (usable === 0) {
    throw new Error(`Cannot play ${path}: it holds no whole MPEG-TS packet`);
  }
  const speed = options.speed ?? 1;
  const clock = new PcrClock();
  const started = performance.now();
  let due = 0;
  while (!signal.aborted) {
    let batchStart = 0;
    for (let at = 0; at < usable; at += TS_PACKET_SIZE) {
      const time = clock.push(parsePacket(bytes, at));
      if (time !== undefined) due = time;
      const wait = due / speed - (performance.now() - started);
      if (wait > BATCH_MS) {
        // Send what is due, then wait for this packet's time.
        if (at > batchStart) yield bytes.subarray(batchStart, at);
        batchStart = at;
        await sleep(wait, signal);
        if (signal.aborted) return;
      }
    }
    if (usable > batchStart) yield bytes.subarray(batchStart, usable);
    clock.restart();
  }
}

/**
 * The bytes of stdin as they arrive (the producer paces them, e.g. ffmpeg
 * with `-re`). Ends at EOF or when `signal` aborts.
 */
export async function* readStdin(
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const reader = Deno.stdin.readable.getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || signal.aborted) return;
      yield value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}
