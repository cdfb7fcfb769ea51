/**
 * Live streaming (HW4 scenario 3) on real sockets: `loopFile()` pacing the
 * test clip in real time, an origin and an edge in process with fifty TLV
 * viewers (one of which stops reading), and `/live/NAME` over HTTP.
 *
 * Real-time pace is what these tests check, so they measure wall time over
 * short windows; everything else waits on conditions, bounded.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  connectTlv,
  type MessageStream,
  type TlvClient,
} from "../lib/client.ts";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { HttpServer } from "../lib/http_server.ts";
import { Logger } from "../lib/log.ts";
import { TlvServer } from "../lib/server.ts";
import {
  parsePacket,
  PAT_PID,
  PCR_HZ,
  TS_PACKET_SIZE,
  TsScanner,
} from "../protocol/mpegts/ts.ts";
import type { Message } from "../protocol/tlv/registry.ts";
import { VideoCache } from "../roles/video/cache.ts";
import { Edge } from "../roles/video/edge.ts";
import { videoHttp } from "../roles/video/http.ts";
import type { LiveChannel, LiveStats } from "../roles/video/live.ts";
import { originService, type OriginStats } from "../roles/video/origin.ts";
import { originChannel } from "../roles/video/servers.ts";
import { loopFile } from "../roles/video/sources.ts";
import { ROOT, tempDir } from "./_util.ts";
import { within } from "./_raw_peer.ts";

// ---------------------------------------------------------------- helpers

const VIDEOS = `${ROOT}testdata/video`;
const LIVE_PATH = `${VIDEOS}/live.m2t`;
const LIVE = await Deno.readFile(LIVE_PATH);
const KiB = 1024;

/**
 * How long one loop of the clip lasts at speed 1, from its PCRs: the span
 * between the first and the last, stretched to every packet of the file.
 */
function clipSeconds(bytes: Uint8Array): number {
  let pid: number | undefined;
  let first: { pcr: number; packet: number } | undefined;
  let last: { pcr: number; packet: number } | undefined;
  for (let at = 0; at < bytes.length; at += TS_PACKET_SIZE) {
    const info = parsePacket(bytes, at);
    if (info.pcr === undefined) continue;
    pid ??= info.pid;
    if (info.pid !== pid) continue;
    const mark = { pcr: info.pcr, packet: at / TS_PACKET_SIZE };
    first ??= mark;
    last = mark;
  }
  assert.ok(first && last && last.packet > first.packet, "the clip has PCRs");
  const span = (last.pcr - first.pcr) / PCR_HZ;
  return span * (bytes.length / TS_PACKET_SIZE) / (last.packet - first.packet);
}

const CLIP_SECONDS = clipSeconds(LIVE);
/** The clip's average byte rate at speed 1. */
const BYTES_PER_SECOND = LIVE.length / CLIP_SECONDS;

/** Polls `condition` (bounded) between macrotasks. */
async function until(
  condition: () => boolean,
  what: string,
  ms = 5000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Whether `bytes` start with a whole PAT packet. */
function startsWithPat(bytes: Uint8Array): boolean {
  return bytes.length >= TS_PACKET_SIZE && bytes[0] === 0x47 &&
    parsePacket(bytes, 0).pid === PAT_PID;
}

/** An origin with the clip as channel "live", and an edge in front of it. */
interface Rig {
  /** The origin's channel. */
  channel: LiveChannel;
  originStats: OriginStats;
  edge: Edge;
  edgePort: number;
  cache: VideoCache;
  cacheDir: ConfinedRoot;
  /** What every part logged. */
  lines: string[];
  /** The edge's relay counters for "live". */
  relay(): LiveStats;
}

/** Builds a {@linkcode Rig} whose parts `stack` disposes. */
async function rig(
  stack: AsyncDisposableStack,
  options: { speed: number; maxViewerQueue?: number },
): Promise<Rig> {
  const lines: string[] = [];
  const log = new Logger({ sink: (line) => lines.push(line) });
  const tmp = stack.use(await tempDir({ prefix: "socklab_live_" }));
  const channel = originChannel("live", LIVE_PATH, log, {
    speed: options.speed,
  });
  stack.defer(() => channel.close());
  const origin = originService({
    videos: await ConfinedRoot.open(VIDEOS),
    channels: new Map([["live", channel]]),
  });
  const originServer = stack.use(
    new TlvServer({ services: [origin.service], log }),
  );
  const connect = () =>
    connectTlv({ port: originServer.addr.port, service: "video" });
  const cacheDir = await ConfinedRoot.open(tmp.path);
  const cache = await VideoCache.open({
    dir: cacheDir,
    maxBytes: 64 * 1024 * 1024,
    origin: connect,
    log,
  });
  const edge = stack.use(
    new Edge({
      cache,
      origin: connect,
      log,
      ...(options.maxViewerQueue !== undefined
        ? { maxViewerQueue: options.maxViewerQueue }
        : {}),
    }),
  );
  const edgeServer = stack.use(
    new TlvServer({ services: [edge.service], log }),
  );
  return {
    channel,
    originStats: origin.stats,
    edge,
    edgePort: edgeServer.addr.port,
    cache,
    cacheDir,
    lines,
    relay: () => edge.channel("live").stats,
  };
}

/** A TLV viewer of channel "live" that counts the bytes it receives. */
class Watcher implements AsyncDisposable {
  readonly client: TlvClient;
  readonly stream: MessageStream;
  received = 0;
  /** Whether the stream has ended. */
  ended = false;
  /** The first `live_data` payload. */
  readonly first: Promise<Uint8Array>;
  /** Resolves when the stream ends (with the error that ended it, if any). */
  readonly done: Promise<unknown>;
  #first = Promise.withResolvers<Uint8Array>();

  constructor(client: TlvClient) {
    this.client = client;
    this.stream = client.stream("live_subscribe", { name: "live" });
    this.first = this.#first.promise;
    this.done = this.#read().then(() => undefined, (error) => error)
      .finally(() => (this.ended = true));
  }

  static async open(port: number): Promise<Watcher> {
    return new Watcher(await connectTlv({ port, service: "video" }));
  }

  async #read(): Promise<void> {
    for await (const message of this.stream) {
      if (message.type !== "live_data") continue;
      if (this.received === 0) this.#first.resolve(message.fields.data.slice());
      this.received += message.fields.data.length;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stream.return();
    await this.client.close();
    await this.done;
  }
}

// ---------------------------------------------------------------- tests

Deno.test("loopFile() plays live.m2t at real-time pace and goes on into the next loop without a jump", async () => {
  const speed = 4;
  const loopMs = CLIP_SECONDS * 1000 / speed;
  const controller = new AbortController();
  const loopEnds: number[] = [];
  let total = 0;
  let maxAhead = -Infinity;
  let maxBehind = -Infinity;
  const start = performance.now();
  for await (
    const chunk of loopFile(LIVE_PATH, controller.signal, { speed })
  ) {
    total += chunk.length;
    const elapsed = performance.now() - start;
    // Where a steady byte rate would be: a burst runs ahead, a jump behind.
    const due = total / LIVE.length * loopMs;
    maxAhead = Math.max(maxAhead, due - elapsed);
    maxBehind = Math.max(maxBehind, elapsed - due);
    if (total >= (loopEnds.length + 1) * LIVE.length) loopEnds.push(elapsed);
    if (loopEnds.length === 2) break;
  }
  controller.abort();

  const [first, second] = loopEnds as [number, number];
  const near = (ms: number) => ms > 0.7 * loopMs && ms < 1.3 * loopMs;
  assert.equal(total, 2 * LIVE.length, "whole loops, loop after loop");
  assert.ok(near(first), `first loop ${first} ms, expected ~${loopMs} ms`);
  assert.ok(
    near(second - first),
    `second loop ${second - first} ms, expected ~${loopMs} ms`,
  );
  // Neither a burst at the start of the second loop nor a stall before it.
  assert.ok(maxAhead < 0.25 * loopMs, `ran ${maxAhead} ms ahead`);
  assert.ok(maxBehind < 0.25 * loopMs, `fell ${maxBehind} ms behind`);
});

Deno.test("an edge relays one origin subscription to 50 viewers and drops the one that stops reading", async () => {
  // Loopback TCP hides about 4 MiB in socket buffers before a peer that
  // stops reading pushes back (Linux autotunes the send buffer to
  // tcp_wmem's maximum), so the stream is played fast enough for that and
  // the viewer queue to fill within seconds; at speed 2 it would take ~50 s.
  const speed = 32;
  const maxViewerQueue = 256 * KiB;
  await using stack = new AsyncDisposableStack();
  const r = await rig(stack, { speed, maxViewerQueue });

  const watchers = await Promise.all(
    Array.from({ length: 49 }, () => Watcher.open(r.edgePort)),
  );
  for (const w of watchers) stack.use(w);
  // The slow one takes one frame at a time, and stops after its first data.
  const slowClient = stack.use(
    await connectTlv({ port: r.edgePort, service: "video" }),
  );
  const slow = slowClient.stream("live_subscribe", { name: "live" }, {
    highWaterMark: 1,
  });
  assert.equal((await slow.next()).value?.type, "live_start");
  const slowFirst = (await slow.next()).value;
  assert.equal(slowFirst?.type, "live_data");

  const firsts = await within(
    Promise.all(watchers.map((w) => w.first)),
    5000,
    "every viewer's first bytes",
  );
  for (const bytes of firsts) {
    assert.ok(startsWithPat(bytes), "a viewer starts at the PAT");
  }

  // While the slow one's backlog builds up, the others go on at full pace.
  const t1 = performance.now();
  const before = watchers.map((w) => w.received);
  await until(
    () => r.relay().dropped > 0 && performance.now() - t1 >= 2500,
    "the slow viewer to be dropped",
    15_000,
  );
  const seconds = (performance.now() - t1) / 1000;
  const expected = BYTES_PER_SECOND * speed;
  for (const [i, w] of watchers.entries()) {
    const rate = (w.received - before[i]!) / seconds;
    assert.ok(
      rate >= 0.7 * expected,
      `viewer ${i} got ${Math.round(rate)} B/s over ${seconds} s, ` +
        `expected ~${Math.round(expected)} B/s`,
    );
  }
  assert.equal(r.relay().dropped, 1);
  assert.equal(r.relay().viewers, 49);
  assert.equal(r.relay().opens, 1);
  assert.equal(r.originStats.liveSubscriptions, 1, "one upstream for all");
  assert.equal(r.channel.stats.viewers, 1);
  assert.ok(r.lines.some((l) => l.includes("live viewer dropped")));

  // Reading again, the slow one gets its backlog and then the reason.
  let last: Message | undefined;
  for await (const message of slow) last = message;
  assert.equal(last?.type, "live_end");
  assert.match(
    last.fields.message ?? "",
    /^dropped: fell more than 262144 bytes behind/,
  );
  assert.ok(watchers.every((w) => !w.ended), "the others still watch");

  // Everyone leaves: the edge closes its one upstream, the origin its source.
  await Promise.all(watchers.map((w) => w[Symbol.asyncDispose]()));
  await slowClient.close();
  await until(
    () =>
      r.relay().viewers === 0 && !r.edge.channel("live").open &&
      r.channel.stats.viewers === 0 && !r.channel.open,
    "the relay and the origin's channel to close",
  );
  assert.equal(r.originStats.liveSubscriptions, 1);
});

Deno.test("GET /live/live on the edge streams MPEG-TS from the PAT and leaves when the client cancels", async () => {
  await using stack = new AsyncDisposableStack();
  const r = await rig(stack, { speed: 4 });
  const http = stack.use(
    new HttpServer({
      handler: videoHttp({ cache: r.cache, dir: r.cacheDir, edge: r.edge }),
      log: new Logger({ sink: (line) => r.lines.push(line) }),
    }),
  );

  const response = await fetch(`http://127.0.0.1:${http.addr.port}/live/live`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "video/mp2t");
  const reader = response.body!.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  while (received < 64 * KiB) {
    const { value, done } = await within(
      reader.read(),
      5000,
      "the stream's bytes",
    );
    assert.equal(done, false, "the live stream does not end by itself");
    chunks.push(value);
    received += value.length;
  }
  assert.equal(r.relay().viewers, 1);
  await reader.cancel();

  const bytes = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  assert.ok(startsWithPat(bytes));
  const scanner = new TsScanner();
  const kinds = [0, 1, 2].map((i) =>
    scanner.scan(bytes, i * TS_PACKET_SIZE).kind
  );
  assert.deepEqual(kinds, ["pat", "pmt", "video_keyframe_start"]);
  for (let p = 0; p + TS_PACKET_SIZE <= received; p += TS_PACKET_SIZE) {
    assert.equal(bytes[p], 0x47, `packet at ${p} is aligned`);
  }

  await until(
    () => r.relay().viewers === 0 && r.channel.stats.viewers === 0,
    "the viewer to leave",
  );
  assert.equal(r.originStats.liveSubscriptions, 1);
});
