/**
 * The video roles (HW4) measured in one run, over loopback:
 *
 * 1. Cache-hit throughput: a random 64 MiB video preloaded into the edge
 *    cache, downloaded over TLV (`video_get`, bulk frames counted) against
 *    a plain TCP copy of the same file on the same runtime (a `Deno.listen`
 *    server with a 256 KiB read/write loop, a client reading to EOF).
 * 2. Time to first byte of a cold miss (the edge fetches from the origin)
 *    against a hit of the same file once it is cached.
 * 3. The edge relaying the live channel (`testdata/video/live.m2t` at real
 *    time) to 200 viewers: CPU of the servers' thread, memory, bytes per
 *    viewer against the stream's rate, and viewers dropped.
 *
 * Where things run: the origin, the edge and the TCP baseline server on
 * this (main) thread; every client on a Worker thread (this module is also
 * the Worker's entry point), so the main thread's CPU time
 * (`process.threadCpuUsage()`) is the servers' and the clients' is not in
 * it. The process total is printed beside it, as Deno does file reads on
 * other threads.
 *
 * @module
 */

import {
  delay,
  hex,
  median,
  processCpuSeconds,
  randomBytes,
  threadCpuSeconds,
} from "./_util.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DigestCache } from "../lib/bulk.ts";
import { connectTlv } from "../lib/client.ts";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { Logger, printLine } from "../lib/log.ts";
import { TlvServer } from "../lib/server.ts";
import { PcrClock } from "../protocol/mpegts/pacing.ts";
import { parsePacket, TS_PACKET_SIZE } from "../protocol/mpegts/ts.ts";
import { VideoCache } from "../roles/video/cache.ts";
import { Edge } from "../roles/video/edge.ts";
import { originService } from "../roles/video/origin.ts";
import { originChannel } from "../roles/video/servers.ts";
import { fmt, formatRow, printHeader } from "./_table.ts";

/** The TLV/TCP cache-hit throughput ratio that passes. */
export const TARGET_RATIO = 0.7;

/** Options for {@linkcode runVideoBench}. */
export interface VideoBenchOptions {
  /** Size of the generated videos in bytes. Default 64 MiB. */
  fileBytes?: number;
  /** Timed downloads per side for the hit throughput. Default 9. */
  downloads?: number;
  /** Cold misses timed (one file each). Default 3. */
  coldFiles?: number;
  /** Live viewers. Default 200. */
  viewers?: number;
  /** Viewers connected and watching before counting (ms). Default 1000. */
  liveWarmupMs?: number;
  /** Live counting window (ms). Default 5000. */
  liveWindowMs?: number;
}

/** Everything the bench measured. */
export interface VideoBenchResult {
  /** TLV cache-hit MB/s (median of the timed downloads). */
  hitMBps: number;
  /** Plain TCP copy MB/s (median). */
  tcpMBps: number;
  /** TLV/TCP: the median of each round's ratio. */
  hitRatio: number;
  /** Cold-miss time to first byte (ms, median; origin digest known). */
  coldTtfbMs: number;
  /** Warm-hit time to first byte (ms, median). */
  hitTtfbMs: number;
  /** Live relay: servers' thread CPU share over the window (0..1). */
  liveCpuShare: number;
  /** Live viewers dropped or failed. */
  liveDropped: number;
}

const LIVE_SOURCE = fileURLToPath(
  new URL("../testdata/video/live.m2t", import.meta.url),
);
const MiB = 1024 * 1024;

/**
 * Generates the files, starts the servers, measures the three parts and
 * prints them.
 *
 * @example
 * ```ts
 * const result = await runVideoBench({ fileBytes: 8 << 20, viewers: 20 });
 * result.hitRatio; // TLV cache hit MB/s over a plain TCP copy's
 * ```
 */
export async function runVideoBench(
  options: VideoBenchOptions = {},
): Promise<VideoBenchResult> {
  const dir = await Deno.makeTempDir({ prefix: "socklab-video-bench-" });
  try {
    return await benchIn(dir, options);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs {@linkcode runVideoBench} with its defaults (the `bench/mod.ts` entry). */
export async function run(): Promise<void> {
  await runVideoBench();
}

async function benchIn(
  dir: string,
  options: VideoBenchOptions,
): Promise<VideoBenchResult> {
  const fileBytes = options.fileBytes ?? 64 * MiB;
  const downloads = Math.max(1, options.downloads ?? 9);
  const coldFiles = Math.max(1, options.coldFiles ?? 3);
  const viewers = options.viewers ?? 200;
  const liveWarmupMs = options.liveWarmupMs ?? 1000;
  const liveWindowMs = options.liveWindowMs ?? 5000;

  // One random file, written under every name needed: the hit source, and
  // one origin file per cold miss (cold_0 is also cold at the origin).
  const bytes = randomBytes(fileBytes);
  const expected = hex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
  );
  for (const sub of ["src", "origin", "cache"]) {
    await Deno.mkdir(join(dir, sub));
  }
  await Deno.writeFile(join(dir, "src", "hit.mp4"), bytes);
  const coldNames = Array.from(
    { length: coldFiles + 1 },
    (_, i) => `cold_${i}`,
  );
  for (const name of coldNames) {
    await Deno.writeFile(join(dir, "origin", `${name}.mp4`), bytes);
  }

  const log = new Logger({ name: "bench", level: "warn" });
  const videos = await ConfinedRoot.open(join(dir, "origin"));
  const digests = new DigestCache();
  const channel = originChannel("live", LIVE_SOURCE, log, { speed: 1 });
  try {
    await using originServer = new TlvServer({
      services: [
        originService({
          videos,
          channels: new Map([["live", channel]]),
          digests,
        }).service,
      ],
      log,
    });
    const origin = () =>
      connectTlv({
        port: originServer.addr.port,
        service: "video",
        timeoutMs: 10_000,
      });
    const cacheRoot = await ConfinedRoot.open(join(dir, "cache"));
    const cache = await VideoCache.open({
      dir: cacheRoot,
      maxBytes: 1024 ** 3,
      origin,
      log,
    });
    await cache.preload(join(dir, "src", "hit.mp4"));
    await using edge = new Edge({ cache, origin, log });
    await using edgeServer = new TlvServer({ services: [edge.service], log });
    await using tcp = plainCopyServer(join(cacheRoot.root, "hit.mp4"));
    using worker = new BenchWorker();

    printLine(
      `servers on the main thread, clients on a Worker thread; ` +
        `${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}; ` +
        `${(fileBytes / MiB).toFixed(0)} MiB random video`,
    );

    // ---- 1. cache-hit throughput
    const get = (name: string, hash = false) =>
      worker.run<GetResult>(
        { kind: "get", port: edgeServer.addr.port, name, hash },
        { timeoutMs: 60_000 },
      );
    const copy = () =>
      worker.run<TcpResult>(
        { kind: "tcp", port: tcp.port },
        { timeoutMs: 60_000 },
      );
    const checkSize = (what: string, got: number) => {
      if (got !== fileBytes) {
        throw new Error(
          `Cannot trust the ${what}: ${got} bytes arrived, not ${fileBytes}`,
        );
      }
    };
    // Warm-up: one of each; the TLV one hashed and checked.
    const verified = await get("hit", true);
    checkSize("cache hit", verified.bytes);
    if (verified.sha256 !== expected || verified.headerDigest !== expected) {
      throw new Error(
        `Cannot trust the cache hit: SHA-256 ${verified.sha256} (header says ` +
          `${verified.headerDigest}), expected ${expected}`,
      );
    }
    checkSize("TCP copy", (await copy()).bytes);
    const tlvRates: number[] = [];
    const tcpRates: number[] = [];
    // CPU ms per download: [servers' thread, client thread].
    const tlvCpu: [number, number][] = [];
    const tcpCpu: [number, number][] = [];
    for (let round = 0; round < downloads; round++) {
      // Alternating the order evens out drift between the two.
      const pair = [
        async () => {
          const before = threadCpuSeconds();
          const r = await get("hit");
          tlvCpu.push([(threadCpuSeconds() - before) * 1e3, r.cpuMs]);
          checkSize("cache hit", r.bytes);
          tlvRates.push(r.bytes / r.ms / 1e3);
        },
        async () => {
          const before = threadCpuSeconds();
          const r = await copy();
          tcpCpu.push([(threadCpuSeconds() - before) * 1e3, r.cpuMs]);
          checkSize("TCP copy", r.bytes);
          tcpRates.push(r.bytes / r.ms / 1e3);
        },
      ];
      if (round % 2 === 1) pair.reverse();
      for (const step of pair) await step();
    }
    const hitMBps = median(tlvRates);
    const tcpMBps = median(tcpRates);
    // Each round's pair ran back to back: the median of their ratios is
    // steadier than a ratio of medians when the machine's speed drifts.
    const ratio = median(tlvRates.map((rate, i) => rate / tcpRates[i]!));
    printLine("");
    printLine(
      `1. cache hit, ${downloads} downloads each after one warm-up ` +
        `(warm-up hit SHA-256 checked: ${expected.slice(0, 16)}…, correct)`,
    );
    printHeader(HIT_COLUMNS);
    printLine(formatRow(HIT_COLUMNS, [
      "64 MiB, 1 connection",
      mbps(hitMBps),
      mbps(tcpMBps),
      fmt(ratio),
      ratio >= TARGET_RATIO ? "PASS" : "BELOW TARGET",
    ]));
    printLine(
      `   per download MB/s: TLV ${tlvRates.map(mbps).join(", ")}; ` +
        `TCP ${tcpRates.map(mbps).join(", ")}; TLV/TCP is the median of ` +
        `each round's ratio`,
    );
    const cpu = (runs: [number, number][], side: 0 | 1) =>
      median(runs.map((r) => r[side])).toFixed(0);
    printLine(
      `   CPU ms per download (median): TLV server thread ${cpu(tlvCpu, 0)}, ` +
        `client thread ${cpu(tlvCpu, 1)}; TCP server thread ${
          cpu(tcpCpu, 0)
        }, client thread ${cpu(tcpCpu, 1)}`,
    );

    // ---- 2. time to first byte, cold miss vs hit
    // cold_1.. have their origin digest computed beforehand, so their first
    // byte waits only on the edge's miss path; cold_0 waits on the origin
    // hashing the file too, as a truly cold origin does.
    for (const name of coldNames.slice(1)) {
      const { path } = await videos.locate(`/${name}.mp4`);
      await digests.digest(path);
    }
    const coldMs: number[] = [];
    let coldOriginMs = 0;
    for (const [i, name] of coldNames.entries()) {
      const r = await get(name);
      checkSize("cold miss", r.bytes);
      if (r.source !== "origin") {
        throw new Error(`Cannot time a miss: ${name} came from ${r.source}`);
      }
      if (i === 0) coldOriginMs = r.firstByteMs;
      else coldMs.push(r.firstByteMs);
    }
    const firstHitMs: number[] = [];
    const hitMs: number[] = [];
    for (const name of coldNames.slice(1)) {
      for (let i = 0; i < 3; i++) {
        const r = await get(name);
        checkSize("cache hit", r.bytes);
        if (r.source !== "cache") {
          throw new Error(`Cannot time a hit: ${name} came from ${r.source}`);
        }
        (i === 0 ? firstHitMs : hitMs).push(r.firstByteMs);
      }
    }
    const coldTtfbMs = median(coldMs);
    const hitTtfbMs = median(hitMs);
    printLine("");
    printLine(
      "2. time to first bulk_data byte (request sent on a connected client); " +
        "medians",
    );
    printHeader(TTFB_COLUMNS);
    const ttfbRow = (what: string, ms: number, n: number) =>
      printLine(formatRow(TTFB_COLUMNS, [
        what,
        ms.toFixed(2),
        String(n),
        `${fmt(ms / hitTtfbMs)}×`,
      ]));
    ttfbRow("cold miss (origin digest known)", coldTtfbMs, coldMs.length);
    ttfbRow("cold miss (origin hashes first)", coldOriginMs, 1);
    ttfbRow("first hit after the miss", median(firstHitMs), coldFiles);
    ttfbRow("warm hit", hitTtfbMs, hitMs.length);
    printLine(
      `   cold miss / warm hit: ${fmt(coldTtfbMs / hitTtfbMs)}×; every ` +
        `transfer ${fileBytes} bytes, complete`,
    );

    // ---- 3. live relay to many viewers
    const rate = streamBytesPerSecond(await Deno.readFile(LIVE_SOURCE));
    const relay = edge.channel("live");
    const memBefore = Deno.memoryUsage();
    let start: Sample | undefined;
    let end: Sample | undefined;
    const sample = (): Sample => ({
      at: performance.now(),
      thread: threadCpuSeconds(),
      process: processCpuSeconds(),
      memory: Deno.memoryUsage(),
      originIn: channel.stats.bytesIn,
      relayOut: relay.stats.bytesOut,
    });
    const live = await worker.run<LiveResult>({
      kind: "live",
      port: edgeServer.addr.port,
      viewers,
      warmupMs: liveWarmupMs,
      windowMs: liveWindowMs,
    }, {
      timeoutMs: liveWarmupMs + liveWindowMs + 60_000,
      onEvent: (event) => {
        if (event === "window-start") start = sample();
        else end = sample();
      },
    });
    if (start === undefined || end === undefined) {
      throw new Error("Cannot measure the live relay: no window was reported");
    }
    const wall = (end.at - start.at) / 1000;
    const liveCpuShare = (end.thread - start.thread) / wall;
    const processShare = (end.process - start.process) / wall;
    const expectedBytes = rate * live.windowSeconds;
    const perViewer = [...live.perViewer].sort((a, b) => a - b);
    const share = (n: number) => fmt(n / expectedBytes);
    const liveDropped = live.failed.length + relay.stats.dropped;
    const originRate = (end.originIn - start.originIn) / wall;
    printLine("");
    printLine(
      `3. live relay: origin plays live.m2t at 1×, edge relays it to ` +
        `${viewers} TLV viewers (${live.started} got live_start); ` +
        `${liveWarmupMs} ms warm-up, ${live.windowSeconds.toFixed(2)} s window`,
    );
    printLine(
      `   stream rate ${kbps(rate)} kB/s from its PCRs (origin sent ` +
        `${kbps(originRate)} kB/s in the window); expected per viewer ` +
        `${Math.round(expectedBytes)} bytes`,
    );
    printLine(
      `   bytes per viewer / expected: min ${share(perViewer[0] ?? 0)}, ` +
        `median ${share(median(perViewer))}, max ${
          share(perViewer.at(-1) ?? 0)
        }; edge sent ${
          Math.round((end.relayOut - start.relayOut) / wall / 1000)
        } kB/s in all`,
    );
    printLine(
      `   CPU: servers' thread ${pct(liveCpuShare)} of a core ` +
        `(origin + edge; the origin has one subscriber), whole process ` +
        `${pct(processShare)} (viewers' thread ${
          pct(live.cpuSeconds / live.windowSeconds)
        })`,
    );
    printLine(
      `   memory: rss ${mib(memBefore.rss)} → ${mib(end.memory.rss)} MiB ` +
        `(whole process), servers' heapUsed ${mib(memBefore.heapUsed)} → ` +
        `${mib(end.memory.heapUsed)} MiB`,
    );
    printLine(
      `   viewers dropped: ${liveDropped} ${
        liveDropped === 0 ? "(PASS)" : "(FAIL)"
      }${
        live.failed.length > 0 ? `: ${live.failed.slice(0, 3).join("; ")}` : ""
      }`,
    );

    printLine("");
    printLine(
      `summary: cache hit ${mbps(hitMBps)} MB/s = ${fmt(ratio)} of a plain ` +
        `TCP copy (target ≥ ${TARGET_RATIO.toFixed(2)}): ${
          ratio >= TARGET_RATIO ? "PASS" : "BELOW TARGET"
        }; first byte cold ${coldTtfbMs.toFixed(1)} ms vs hit ` +
        `${hitTtfbMs.toFixed(1)} ms; live ×${viewers}: ${
          pct(liveCpuShare)
        } of a core, ${liveDropped} dropped`,
    );
    return {
      hitMBps,
      tcpMBps,
      hitRatio: ratio,
      coldTtfbMs,
      hitTtfbMs,
      liveCpuShare,
      liveDropped,
    };
  } finally {
    await channel.close();
  }
}

interface Sample {
  at: number;
  thread: number;
  process: number;
  memory: Deno.MemoryUsage;
  originIn: number;
  relayOut: number;
}

const HIT_COLUMNS = [
  ["cache hit", 22],
  ["TLV MB/s", 10],
  ["TCP copy MB/s", 14],
  ["TLV/TCP", 8],
  ["verdict", 14],
] as const;

const TTFB_COLUMNS = [
  ["first byte", 32],
  ["ms", 9],
  ["n", 3],
  ["/ warm hit", 11],
] as const;

/**
 * The baseline: a TCP server that copies the file to every connection in
 * 256 KiB reads and writes, then closes.
 */
function plainCopyServer(
  path: string,
): AsyncDisposable & { readonly port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Promise<void>>();
  const serve = async (conn: Deno.Conn) => {
    try {
      using file = await Deno.open(path, { read: true });
      const buffer = new Uint8Array(256 * 1024);
      for (;;) {
        const n = await file.read(buffer);
        if (n === null) break;
        let at = 0;
        while (at < n) at += await conn.write(buffer.subarray(at, n));
      }
    } catch {
      /* the client went away */
    } finally {
      conn.close();
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const done = serve(conn);
      conns.add(done);
      done.finally(() => conns.delete(done));
    }
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      await Promise.all(conns);
    },
  };
}

/** Bytes per second the live file plays at, from its PCRs (one loop). */
function streamBytesPerSecond(bytes: Uint8Array): number {
  const usable = bytes.length - (bytes.length % TS_PACKET_SIZE);
  const clock = new PcrClock();
  let due = 0;
  for (let at = 0; at < usable; at += TS_PACKET_SIZE) {
    due = clock.push(parsePacket(bytes, at)) ?? due;
  }
  // Where the second loop starts is how long the first one took.
  clock.restart();
  const loopMs = clock.push(parsePacket(bytes, 0)) ?? due;
  return usable / (loopMs / 1000);
}

// ------------------------------------------------------------ the Worker

type Job =
  | { kind: "get"; port: number; name: string; hash: boolean }
  | { kind: "tcp"; port: number }
  | {
    kind: "live";
    port: number;
    viewers: number;
    warmupMs: number;
    windowMs: number;
  };

type WindowEvent = "window-start" | "window-end";

type Reply =
  | { type: "event"; event: WindowEvent }
  | { type: "done"; result: unknown }
  | { type: "error"; error: string };

interface GetResult {
  bytes: number;
  ms: number;
  /** CPU ms of the client's thread. */
  cpuMs: number;
  firstByteMs: number;
  source: string;
  headerDigest: string;
  sha256: string | undefined;
}

interface TcpResult {
  bytes: number;
  ms: number;
  /** CPU ms of the client's thread. */
  cpuMs: number;
}

interface LiveResult {
  started: number;
  windowSeconds: number;
  /** Bytes each viewer got in the window. */
  perViewer: number[];
  /** Viewers that ended or failed before the window closed, and why. */
  failed: string[];
  /** CPU seconds of the viewers' thread over the window. */
  cpuSeconds: number;
}

/** Runs client jobs on a Worker thread, one at a time. */
class BenchWorker implements Disposable {
  #worker = new Worker(import.meta.url, { type: "module" });

  run<R>(
    job: Job,
    options: { timeoutMs: number; onEvent?: (event: WindowEvent) => void },
  ): Promise<R> {
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `Cannot finish the ${job.kind} job: over ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    );
    this.#worker.onmessage = (event: MessageEvent<Reply>) => {
      const reply = event.data;
      if (reply.type === "event") options.onEvent?.(reply.event);
      else if (reply.type === "done") resolve(reply.result as R);
      else reject(new Error(reply.error));
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      reject(new Error(`Cannot run the bench worker: ${event.message}`));
    };
    this.#worker.postMessage(job);
    return promise.finally(() => clearTimeout(timer));
  }

  [Symbol.dispose](): void {
    this.#worker.terminate();
  }
}

async function runJob(
  job: Job,
  emit: (event: WindowEvent) => void,
): Promise<unknown> {
  switch (job.kind) {
    case "get":
      return await getVideo(job.port, job.name, job.hash);
    case "tcp":
      return await tcpCopy(job.port);
    case "live":
      return await watchLive(job, emit);
  }
}

async function getVideo(
  port: number,
  name: string,
  hash: boolean,
): Promise<GetResult> {
  await using client = await connectTlv({
    port,
    service: "video",
    timeoutMs: 20_000,
  });
  const hasher = hash ? createHash("sha256") : undefined;
  let bytes = 0;
  let firstByteMs: number | undefined;
  let source = "unknown";
  let headerDigest = "";
  let endSize: number | undefined;
  const cpuBefore = threadCpuSeconds();
  const started = performance.now();
  // Counted and hashed before the next frame: lent, as a download does.
  const frames = client.stream("video_get", { name, offset: 0 }, {
    highWaterMark: 64,
    borrow: true,
  });
  for await (const frame of frames) {
    if (frame.type === "bulk_data") {
      firstByteMs ??= performance.now() - started;
      if (Number(frame.fields.offset) !== bytes) {
        throw new Error(
          `Cannot trust ${name}: a chunk at ${frame.fields.offset}, expected ${bytes}`,
        );
      }
      bytes += frame.fields.data.length;
      hasher?.update(frame.fields.data);
    } else if (frame.type === "bulk_header") {
      source = frame.fields.source ?? "unknown";
      headerDigest = hex(frame.fields.digest);
    } else if (frame.type === "bulk_end") {
      endSize = Number(frame.fields.size);
    }
  }
  const ms = performance.now() - started;
  if (endSize !== bytes) {
    throw new Error(
      `Cannot trust ${name}: bulk_end says ${endSize}, ${bytes} bytes came`,
    );
  }
  return {
    bytes,
    ms,
    cpuMs: (threadCpuSeconds() - cpuBefore) * 1e3,
    firstByteMs: firstByteMs ?? ms,
    source,
    headerDigest,
    sha256: hasher?.digest("hex"),
  };
}

async function tcpCopy(port: number): Promise<TcpResult> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(256 * 1024);
  let bytes = 0;
  const cpuBefore = threadCpuSeconds();
  const started = performance.now();
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    bytes += n;
  }
  const ms = performance.now() - started;
  return { bytes, ms, cpuMs: (threadCpuSeconds() - cpuBefore) * 1e3 };
}

async function watchLive(
  job: Extract<Job, { kind: "live" }>,
  emit: (event: WindowEvent) => void,
): Promise<LiveResult> {
  const clients = await Promise.all(
    Array.from(
      { length: job.viewers },
      () => connectTlv({ port: job.port, service: "video", timeoutMs: 10_000 }),
    ),
  );
  const perViewer = clients.map(() => 0);
  const failed: string[] = [];
  let started = 0;
  let counting = false;
  let stopping = false;
  const watching = clients.map(async (client, i) => {
    try {
      const frames = client.stream("live_subscribe", { name: "live" }, {
        highWaterMark: 64,
      });
      for await (const frame of frames) {
        if (frame.type === "live_data") {
          if (counting) perViewer[i]! += frame.fields.data.length;
        } else if (frame.type === "live_start") started++;
        else if (frame.type === "live_end" && !stopping) {
          failed.push(`viewer ${i}: ${frame.fields.message ?? "live_end"}`);
        }
      }
      if (!stopping) failed.push(`viewer ${i}: the stream ended`);
    } catch (error) {
      if (!stopping) failed.push(`viewer ${i}: ${(error as Error).message}`);
    }
  });
  try {
    await delay(job.warmupMs);
    const cpuBefore = threadCpuSeconds();
    counting = true;
    emit("window-start");
    const windowStart = performance.now();
    await delay(job.windowMs);
    counting = false;
    const windowSeconds = (performance.now() - windowStart) / 1000;
    emit("window-end");
    const cpuSeconds = threadCpuSeconds() - cpuBefore;
    return { started, windowSeconds, perViewer, failed, cpuSeconds };
  } finally {
    stopping = true;
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(watching);
  }
}

// ------------------------------------------------------------ helpers

function mbps(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function kbps(bytesPerSecond: number): string {
  return (bytesPerSecond / 1000).toFixed(1);
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

// ------------------------------------------------------------ entry points

interface WorkerScope {
  onmessage: ((event: MessageEvent<Job>) => void) | null;
  postMessage(message: Reply): void;
}

const scope = globalThis as unknown as {
  WorkerGlobalScope?: abstract new () => unknown;
};
const inWorker = scope.WorkerGlobalScope !== undefined &&
  globalThis instanceof scope.WorkerGlobalScope;

if (import.meta.main && inWorker) {
  const self = globalThis as unknown as WorkerScope;
  self.onmessage = (event) => {
    runJob(event.data, (e) => self.postMessage({ type: "event", event: e }))
      .then(
        (result) => self.postMessage({ type: "done", result }),
        (error) =>
          self.postMessage({
            type: "error",
            error: String(error?.message ?? error),
          }),
      );
  };
} else if (import.meta.main) {
  try {
    await run();
  } catch (error) {
    new Logger({ name: "bench" }).error((error as Error).message);
    Deno.exit(1);
  }
}
