/**
 * {@linkcode LiveChannel} without sockets: a fake source the test drives
 * step by step, yielding real packets of `testdata/video/live.m2t`. Covers
 * opening on the first viewer and closing after the last, clean starting
 * points for late and early joiners, dropping a viewer that does not read,
 * and how viewers learn that the channel ended, failed or closed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Logger } from "../../lib/log.ts";
import type { Session } from "../../lib/server.ts";
import {
  parsePacket,
  PAT_PID,
  TS_PACKET_SIZE,
  type TsPacketKind,
  TsScanner,
} from "../../protocol/mpegts/ts.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import { sendLive } from "./library.ts";
import { LiveChannel, type Viewer } from "./live.ts";
import { within } from "../../tests/_raw_peer.ts";

// ---------------------------------------------------------------- helpers

const LIVE = await Deno.readFile(
  new URL("../../testdata/video/live.m2t", import.meta.url),
);

/** Packets `from` up to (not including) `to` of the test clip. */
function packets(from: number, to: number): Uint8Array {
  return LIVE.subarray(from * TS_PACKET_SIZE, to * TS_PACKET_SIZE);
}

/** The index of the `n`th (0-based) packet of `kind` in the test clip. */
function indexOf(kind: TsPacketKind, n = 0): number {
  const scanner = new TsScanner();
  for (let at = 0; at < LIVE.length; at += TS_PACKET_SIZE) {
    if (scanner.scan(LIVE, at).kind === kind && n-- === 0) {
      return at / TS_PACKET_SIZE;
    }
  }
  throw new Error(`the test clip has no ${kind} packet #${n}`);
}

const FIRST_KEYFRAME = indexOf("video_keyframe_start", 0);
const SECOND_KEYFRAME = indexOf("video_keyframe_start", 1);

/**
 * What a viewer that syncs after packet `end - 1` gets first: the latest PAT
 * and PMT so far, then the packets from the keyframe `keyframe` on.
 */
function cleanStart(keyframe: number, end: number): Uint8Array {
  return concatBytes(
    packets(latest("pat", end), latest("pat", end) + 1),
    packets(latest("pmt", end), latest("pmt", end) + 1),
    packets(keyframe, end),
  );
}

/** The index of the last packet of `kind` before packet `end`. */
function latest(kind: TsPacketKind, end: number): number {
  const scanner = new TsScanner();
  let found = -1;
  for (let i = 0; i < end; i++) {
    if (scanner.scan(LIVE, i * TS_PACKET_SIZE).kind === kind) found = i;
  }
  assert.ok(found >= 0, `no ${kind} before packet ${end}`);
  return found;
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Asserts equal bytes with a short message (a diff of two large arrays
 * takes the assertion library minutes to print).
 */
function assertSameBytes(
  actual: Uint8Array,
  expected: Uint8Array,
  what = "bytes",
): void {
  const length = Math.min(actual.length, expected.length);
  let at = 0;
  while (at < length && actual[at] === expected[at]) at++;
  if (at === length && actual.length === expected.length) return;
  throw new assert.AssertionError({
    message: `${what}: ${actual.length} B, expected ${expected.length} B; ` +
      `first difference at byte ${at} (packet ${
        Math.floor(at / TS_PACKET_SIZE)
      })`,
  });
}

/** The kinds of the packets in `bytes`, classified from its start. */
function kinds(bytes: Uint8Array, count: number): TsPacketKind[] {
  const scanner = new TsScanner();
  const out: TsPacketKind[] = [];
  for (let at = 0; out.length < count; at += TS_PACKET_SIZE) {
    out.push(scanner.scan(bytes, at).kind);
  }
  return out;
}

type Step =
  | { kind: "data"; bytes: Uint8Array }
  | { kind: "end" }
  | { kind: "fail"; error: Error };

/** One opening of the fake source. */
interface Opening {
  readonly signal: AbortSignal;
  /** Resolves once the source's generator has finished (returned or thrown). */
  readonly finished: Promise<void>;
}

/**
 * A source the test drives: each call of `open` starts a generator that
 * yields what `push` hands it, ends on `end`, throws on `fail`, and returns
 * as soon as its signal aborts.
 */
class FakeSource {
  readonly openings: Opening[] = [];
  #steps: Step[] = [];
  #wake: (() => void) | undefined;

  open = (signal: AbortSignal): AsyncIterable<Uint8Array> => {
    const finished = Promise.withResolvers<void>();
    this.openings.push({ signal, finished: finished.promise });
    return this.#run(signal, finished.resolve);
  };

  /** The latest opening. */
  get current(): Opening {
    const opening = this.openings.at(-1);
    assert.ok(opening, "the source was never opened");
    return opening;
  }

  push(bytes: Uint8Array): void {
    this.#step({ kind: "data", bytes });
  }

  end(): void {
    this.#step({ kind: "end" });
  }

  fail(error: Error): void {
    this.#step({ kind: "fail", error });
  }

  #step(step: Step): void {
    this.#steps.push(step);
    this.#wake?.();
  }

  async *#run(
    signal: AbortSignal,
    finished: () => void,
  ): AsyncGenerator<Uint8Array> {
    let wake: (() => void) | undefined;
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        while (this.#steps.length === 0 && !signal.aborted) {
          const { promise, resolve } = Promise.withResolvers<void>();
          wake = this.#wake = resolve;
          await promise;
        }
        if (signal.aborted) return;
        const step = this.#steps.shift()!;
        if (step.kind === "end") return;
        if (step.kind === "fail") throw step.error;
        yield step.bytes;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      finished();
    }
  }
}

/** Collects what a viewer yields, for tests that wait on byte counts. */
class Reader {
  readonly viewer: Viewer;
  readonly chunks: Uint8Array[] = [];
  received = 0;
  /** Resolves when the viewer's iteration has ended. */
  readonly done: Promise<void>;
  #waiters: { bytes: number; resolve: () => void }[] = [];

  constructor(viewer: Viewer) {
    this.viewer = viewer;
    this.done = this.#read();
  }

  get bytes(): Uint8Array {
    return concatBytes(...this.chunks);
  }

  /** Waits (bounded) until at least `bytes` have arrived. */
  receivedAtLeast(bytes: number): Promise<void> {
    if (this.received >= bytes) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ bytes, resolve });
    return within(
      promise,
      2000,
      `viewer ${this.viewer.id} to receive ${bytes} B`,
    );
  }

  async #read(): Promise<void> {
    for await (const chunk of this.viewer) {
      this.chunks.push(chunk.slice());
      this.received += chunk.length;
      this.#waiters = this.#waiters.filter((w) => {
        if (this.received < w.bytes) return true;
        w.resolve();
        return false;
      });
    }
  }
}

/** Polls `condition` (bounded) between macrotasks. */
async function until(
  condition: () => boolean,
  what: string,
  ms = 2000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Feeds packets `0` to `end` to a channel whose only viewer so far is
 * `reader` (joined before any data), in two chunks so that it syncs at the
 * first keyframe, and waits until the reader has them all.
 */
async function feedFromStart(
  source: FakeSource,
  reader: Reader,
  end: number,
): Promise<void> {
  const first = FIRST_KEYFRAME + 1;
  source.push(packets(0, first));
  source.push(packets(first, end));
  await reader.receivedAtLeast((2 + end - FIRST_KEYFRAME) * TS_PACKET_SIZE);
}

/** A channel over a fake source, closed when the test ends. */
function setup(
  options: { maxViewerQueue?: number } = {},
): {
  channel: LiveChannel;
  source: FakeSource;
  lines: string[];
} & AsyncDisposable {
  const source = new FakeSource();
  const lines: string[] = [];
  const channel = new LiveChannel({
    name: "test",
    open: source.open,
    log: new Logger({ sink: (line) => lines.push(line) }),
    ...options,
  });
  return {
    channel,
    source,
    lines,
    [Symbol.asyncDispose]: () => channel.close(),
  };
}

// ---------------------------------------------------------------- tests

Deno.test("LiveChannel opens its source on the first viewer and closes it after the last leaves", async () => {
  await using t = setup();
  const { channel, source } = t;
  assert.equal(source.openings.length, 0);
  assert.equal(channel.open, false);

  const a = channel.subscribe();
  const b = channel.subscribe();
  assert.equal(source.openings.length, 1, "one source for two viewers");
  assert.equal(channel.open, true);
  assert.equal(channel.stats.viewers, 2);

  a.close();
  assert.equal(source.current.signal.aborted, false, "b still watches");
  b.close();
  assert.equal(source.current.signal.aborted, true);
  await within(source.current.finished, 2000, "the source to finish");
  assert.equal(channel.open, false);
  assert.equal(channel.stats.viewers, 0);
  assert.equal(channel.stats.peakViewers, 2);
});

Deno.test("LiveChannel reopens its source for a later viewer, which starts from the new source", async () => {
  await using t = setup();
  const { channel, source } = t;
  const first = new Reader(channel.subscribe());
  // Two keyframes pass, so the GOP cache holds the second GOP.
  const upTo = SECOND_KEYFRAME + 20;
  await feedFromStart(source, first, upTo);
  first.viewer.close();
  await within(source.current.finished, 2000, "the first opening to finish");

  const viewer = channel.subscribe();
  assert.equal(source.openings.length, 2);
  assert.equal(channel.stats.opens, 2);
  assert.equal(source.current.signal.aborted, false);
  // Nothing left over from the last run: it waits for the new source.
  assert.equal(viewer.synced, false);
  assert.equal(viewer.queued, 0);
  const later = new Reader(viewer);
  // The new run starts over at the clip's beginning.
  source.push(packets(0, FIRST_KEYFRAME + 10));
  const expected = cleanStart(FIRST_KEYFRAME, FIRST_KEYFRAME + 10);
  await later.receivedAtLeast(expected.length);
  assertSameBytes(later.bytes, expected);
});

Deno.test("LiveChannel starts a late joiner at the PAT, the PMT and the current keyframe", async () => {
  await using t = setup();
  const { channel, source } = t;
  const early = new Reader(channel.subscribe());
  const fed = SECOND_KEYFRAME + 30;
  await feedFromStart(source, early, fed);

  const late = channel.subscribe();
  assert.equal(late.synced, true);
  const reader = new Reader(late);
  // Odd-sized chunks: the channel only ever hands out whole packets.
  const end = SECOND_KEYFRAME + 100;
  const split = (fed + 40) * TS_PACKET_SIZE + 77;
  source.push(LIVE.subarray(fed * TS_PACKET_SIZE, split));
  source.push(LIVE.subarray(split, end * TS_PACKET_SIZE));
  const expected = concatBytes(
    cleanStart(SECOND_KEYFRAME, fed),
    packets(fed, end),
  );
  await reader.receivedAtLeast(expected.length);

  const bytes = reader.bytes;
  assert.equal(bytes[0], 0x47);
  assert.equal(parsePacket(bytes, 0).pid, PAT_PID);
  assert.deepEqual(kinds(bytes, 3), ["pat", "pmt", "video_keyframe_start"]);
  assertSameBytes(bytes, expected, "then every packet after it, in order");
  assert.equal(reader.chunks[0]!.length % TS_PACKET_SIZE, 0);
});

Deno.test("LiveChannel holds a viewer that joined before any keyframe until the first one", async () => {
  await using t = setup();
  const { channel, source } = t;
  const viewer = channel.subscribe();
  const reader = new Reader(viewer);
  // The tables (and an SDT) come before the first keyframe.
  source.push(packets(0, FIRST_KEYFRAME));
  await until(
    () => channel.stats.bytesIn === FIRST_KEYFRAME * TS_PACKET_SIZE,
    "the channel to take the tables",
  );
  assert.equal(viewer.synced, false);
  assert.equal(viewer.queued, 0);
  assert.equal(reader.received, 0);

  source.push(packets(FIRST_KEYFRAME, FIRST_KEYFRAME + 50));
  const expected = cleanStart(FIRST_KEYFRAME, FIRST_KEYFRAME + 50);
  await reader.receivedAtLeast(expected.length);
  assert.deepEqual(kinds(reader.chunks[0]!, 3), [
    "pat",
    "pmt",
    "video_keyframe_start",
  ]);
  assertSameBytes(reader.bytes, expected);
});

Deno.test("LiveChannel drops a viewer that stops reading while the others keep receiving", async () => {
  const max = 64 * 1024;
  await using t = setup({ maxViewerQueue: max });
  const { channel, source, lines } = t;
  const reader = new Reader(channel.subscribe());
  const idle = channel.subscribe(); // never iterated until the end

  const total = LIVE.length / TS_PACKET_SIZE;
  // The first chunk holding a keyframe syncs the reader; then every packet.
  const CHUNK = 5;
  const synced = Math.ceil((FIRST_KEYFRAME + 1) / CHUNK) * CHUNK;
  const expected = concatBytes(
    cleanStart(FIRST_KEYFRAME, synced),
    packets(synced, total),
  );
  // About 20 ms of stream per chunk, each taken by the reader before the next.
  for (let at = 0; at < total; at += CHUNK) {
    const sent = Math.min(total, at + CHUNK);
    source.push(packets(at, sent));
    if (sent > FIRST_KEYFRAME) {
      await reader.receivedAtLeast(
        (2 + sent - FIRST_KEYFRAME) * TS_PACKET_SIZE,
      );
    }
    assert.ok(idle.queued <= max, `queued ${idle.queued} B`);
  }

  assert.equal(channel.stats.dropped, 1);
  assert.equal(channel.stats.viewers, 1);
  assert.match(
    idle.reason ?? "",
    /^dropped: fell more than 65536 bytes behind/,
  );
  assert.ok(
    lines.some((l) => l.includes("live viewer dropped")),
    "the drop is logged",
  );
  assertSameBytes(reader.bytes, expected, "every byte, in order");
  assert.equal(reader.viewer.reason, undefined);

  // What the idle viewer had queued is still a clean prefix; then it ends.
  const slow = new Reader(idle);
  await within(slow.done, 2000, "the dropped viewer's iteration to end");
  assert.ok(slow.received > 0 && slow.received <= max);
  assertSameBytes(slow.bytes, expected.subarray(0, slow.received));
});

Deno.test("LiveChannel ends every viewer with 'the channel ended' when its source ends", async () => {
  await using t = setup();
  const { channel, source } = t;
  const a = new Reader(channel.subscribe());
  const b = new Reader(channel.subscribe());
  source.push(packets(0, FIRST_KEYFRAME + 10));
  await a.receivedAtLeast(12 * TS_PACKET_SIZE);
  source.end();
  await within(Promise.all([a.done, b.done]), 2000, "both viewers to end");
  assert.equal(a.viewer.reason, "the channel ended");
  assert.equal(b.viewer.reason, "the channel ended");
  assert.equal(channel.stats.viewers, 0);
  assert.equal(channel.open, false);

  // A later viewer opens it again.
  const c = channel.subscribe();
  assert.equal(source.openings.length, 2);
  c.close();
});

Deno.test("LiveChannel ends every viewer with the reason its source failed", async () => {
  await using t = setup();
  const { channel, source, lines } = t;
  const a = new Reader(channel.subscribe());
  const b = new Reader(channel.subscribe());
  source.push(packets(0, FIRST_KEYFRAME + 10));
  await b.receivedAtLeast(12 * TS_PACKET_SIZE);
  source.fail(new Error("camera unplugged"));
  await within(Promise.all([a.done, b.done]), 2000, "both viewers to end");
  for (const reader of [a, b]) {
    assert.match(reader.viewer.reason ?? "", /failed: camera unplugged/);
  }
  assert.ok(lines.some((l) => l.includes("camera unplugged")));
  assert.equal(channel.open, false);
});

Deno.test("LiveChannel.close() ends every viewer and closes the source", async () => {
  await using t = setup();
  const { channel, source } = t;
  const a = new Reader(channel.subscribe());
  const b = new Reader(channel.subscribe());
  source.push(packets(0, FIRST_KEYFRAME + 10));
  await a.receivedAtLeast(12 * TS_PACKET_SIZE);

  await within(channel.close(), 2000, "close()");
  await within(Promise.all([a.done, b.done]), 2000, "both viewers to end");
  assert.equal(a.viewer.reason, "the server is shutting down");
  assert.equal(b.viewer.reason, "the server is shutting down");
  assert.equal(source.current.signal.aborted, true);
  await within(source.current.finished, 2000, "the source to finish");
  assert.equal(channel.open, false);

  const late = channel.subscribe();
  assert.equal(late.reason, "the server is shutting down");
  assert.equal(source.openings.length, 1, "a closed channel stays closed");
});

Deno.test("sendLive() keeps a stalled peer's backlog in its viewer queue, drops it there and tells it why", async () => {
  const max = 64 * 1024;
  await using t = setup({ maxViewerQueue: max });
  const { channel, source } = t;
  // A session whose peer takes nothing until `release` resolves.
  const sent: Message[] = [];
  let unsent = 0;
  const release = Promise.withResolvers<void>();
  const closed = new AbortController();
  const session: Session = {
    peer: "127.0.0.1:1",
    service: "video",
    signal: closed.signal,
    send(type, fields) {
      const message = { type, fields } as Message;
      sent.push(message);
      if (message.type === "live_data") unsent += message.fields.data.length;
    },
    drained: () => unsent === 0 ? Promise.resolve() : release.promise,
    // As FrameConnection: congested beyond 1 MiB queued.
    get congested() {
      return unsent > 1024 * 1024;
    },
    get queuedBytes() {
      return unsent;
    },
  };
  const sending = sendLive(session, 7, channel);

  // Six times round the clip, 20 ms or so at a time: more than the viewer
  // queue and the 1 MiB at which the session reports congestion together.
  const CHUNK = 5;
  const stream = concatBytes(...Array.from({ length: 6 }, () => LIVE));
  for (let at = 0; at < stream.length; at += CHUNK * TS_PACKET_SIZE) {
    source.push(stream.subarray(at, at + CHUNK * TS_PACKET_SIZE));
  }
  // The dropped viewer was the last: its leaving closes the source.
  await within(source.current.finished, 2000, "the viewer to be dropped");
  assert.equal(channel.stats.dropped, 1);
  // Not a MiB in the session's send queue beyond the viewer queue: what
  // the peer has not taken is at most one batch plus the bounded queue.
  assert.ok(unsent <= 2 * max, `${unsent} B were queued on the session`);

  unsent = 0;
  release.resolve();
  await within(sending, 2000, "sendLive() to finish");
  assert.equal(sent[0]?.type, "live_start");
  const last = sent.at(-1);
  assert.equal(last?.type, "live_end");
  assert.match(
    last.fields.message ?? "",
    /^dropped: fell more than 65536 bytes behind/,
  );
  const data = concatBytes(
    ...sent.flatMap((m) => m.type === "live_data" ? [m.fields.data] : []),
  );
  const expected = concatBytes(
    cleanStart(FIRST_KEYFRAME, CHUNK),
    stream.subarray(CHUNK * TS_PACKET_SIZE),
  );
  assert.ok(data.length > 0);
  assertSameBytes(data, expected.subarray(0, data.length), "what it was sent");
  assert.equal(channel.stats.viewers, 0);
});
