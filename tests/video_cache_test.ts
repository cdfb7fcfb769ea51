/**
 * The HW4 video edge in process: an origin `TlvServer` (the real
 * `originService`, or a scripted fake that can stall, fail or lie) over a
 * temp copy of `testdata/video`, an edge `TlvServer` with `Edge` and
 * `VideoCache` over a temp cache dir, and clients made with `connectTlv` and
 * `downloadVideo` exactly as `--role client` makes them. Covers hits and
 * misses, relaying while the origin is still sending, one origin fetch for
 * many waiters, failed and lying origins, resume, LRU eviction, names from
 * the network and the HTTP front.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  downloadToFile,
  fileDigest,
  partLength,
  partPath,
} from "../lib/bulk.ts";
import { connectTlv, type TlvClient } from "../lib/client.ts";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { HttpServer } from "../lib/http_server.ts";
import { Logger } from "../lib/log.ts";
import { type Session, TlvServer, type TlvService } from "../lib/server.ts";
import { MAX_CHUNK_LENGTH } from "../protocol/tlv/frame.ts";
import { ProtocolError, RemoteError } from "../protocol/tlv/protocol_error.ts";
import { VideoCache } from "../roles/video/cache.ts";
import { downloadVideo } from "../roles/video/client.ts";
import { Edge } from "../roles/video/edge.ts";
import { videoHttp } from "../roles/video/http.ts";
import { originService, type OriginStats } from "../roles/video/origin.ts";
import {
  HttpResponseReader,
  type RawHttpResponse,
  within,
  writeAll,
} from "./_raw_peer.ts";
import { listDir, ROOT, tempDir } from "./_util.ts";

// ---------------------------------------------------------------- helpers

const TESTDATA = join(ROOT, "testdata", "video");
const SIZE_2022 = 127_597;
const SIZE_2023 = 214_850;
/** Bound on any single wait in these tests (ms). */
const WAIT_MS = 10_000;

const encoder = new TextEncoder();

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The SHA-256 of a file, as hex (readable in a failed assertion). */
async function digestOf(path: string): Promise<string> {
  return hex(await fileDigest(path));
}

function original(fileName: string): string {
  return join(TESTDATA, fileName);
}

function isRemote(code: string, message?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RemoteError, `not a RemoteError: ${error}`);
    assert.equal(error.codeName, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}

/** How a {@linkcode FakeOrigin} answers `video_get`. */
type FakeMode =
  /** The whole file, at once. */
  | "ok"
  /** The header and one chunk, then it waits for `release()`. */
  | "gate"
  /** The header and one chunk, then the handler throws. */
  | "fail"
  /** The whole file under a digest that is not the file's. */
  | "lie";

/**
 * A scripted origin: answers `video_get` for `NAME.mp4` in its directory by
 * hand (header, 64 KiB chunks, end) so a test can stall, break or falsify a
 * transfer at a chosen point.
 */
class FakeOrigin {
  mode: FakeMode;
  /** `video_get` requests received. */
  requests = 0;
  /** Transfers that sent their last byte. */
  completed = 0;
  readonly service: TlvService;
  #gate = Promise.withResolvers<void>();
  #videos = "";

  constructor(mode: FakeMode) {
    this.mode = mode;
    this.service = {
      name: "video",
      handle: (message, session) => {
        if (message.type !== "video_get") {
          throw new ProtocolError("unexpected_message", message.type);
        }
        return this.#send(session, message.fields.id, message.fields.name);
      },
    };
  }

  /** Where the videos are (set by the rig). */
  set videos(dir: string) {
    this.#videos = dir;
  }

  /** Lets every stalled transfer go on. */
  release(): void {
    this.#gate.resolve();
  }

  async #send(session: Session, id: number, name: string): Promise<void> {
    this.requests++;
    const fileName = `${name}.mp4`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(join(this.#videos, fileName));
    } catch {
      throw new ProtocolError("not_found", `no video named "${name}"`);
    }
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
    );
    const mode = this.mode;
    if (mode === "lie") digest[0] = digest[0]! ^ 0xff;
    session.send("bulk_header", {
      id,
      name: fileName,
      size: bytes.length,
      digest,
      offset: 0,
      source: "origin",
    });
    let at = 0;
    const chunk = () => {
      const data = bytes.slice(at, at + MAX_CHUNK_LENGTH);
      session.send("bulk_data", { id, offset: at, data });
      at += data.length;
    };
    chunk();
    if (mode === "fail") throw new Error("the origin's disk failed");
    if (mode === "gate") {
      await session.drained();
      await this.#gate.promise;
    }
    while (at < bytes.length) chunk();
    session.send("bulk_end", { id, size: bytes.length });
    this.completed++;
  }
}

interface RigOptions {
  /** The edge cache's byte limit. Default 1 GiB. */
  maxBytes?: number;
  /** Files of testdata/video preloaded into the cache. */
  preload?: string[];
  /** A scripted origin instead of the real `originService`. */
  fake?: FakeOrigin;
  /** More files for the origin's directory. */
  extra?: Record<string, Uint8Array>;
  /** Sees (and may patch) every client the edge opens to the origin. */
  onOriginClient?(client: TlvClient): void;
}

/** An origin, an edge with its cache, and a downloads dir, all disposable. */
interface Rig extends AsyncDisposable {
  readonly videos: string;
  readonly cacheDir: string;
  readonly cacheRoot: ConfinedRoot;
  readonly downloads: string;
  readonly cache: VideoCache;
  readonly edge: Edge;
  /** The real origin's counters (all NaN with a fake, which counts its own). */
  readonly originStats: OriginStats;
  /** Log lines of every server. */
  readonly lines: string[];
  /** A client of the edge, as `--role client` connects. */
  connect(): Promise<TlvClient>;
  /** A path in the downloads dir. */
  out(fileName: string): string;
}

async function rig(options: RigOptions = {}): Promise<Rig> {
  await using stack = new AsyncDisposableStack();
  const tmp = stack.use(await tempDir({ prefix: "socklab_video_" }));
  const videos = join(tmp.path, "videos");
  const cacheDir = join(tmp.path, "cache");
  const downloads = join(tmp.path, "downloads");
  for (const dir of [videos, cacheDir, downloads]) await Deno.mkdir(dir);
  for (const f of ["video_2022.mp4", "video_2023.mp4"]) {
    await Deno.copyFile(original(f), join(videos, f));
  }
  for (const [f, bytes] of Object.entries(options.extra ?? {})) {
    await Deno.writeFile(join(videos, f), bytes);
  }
  const lines: string[] = [];
  const log = new Logger({ name: "video-test", sink: (l) => lines.push(l) });
  let service: TlvService;
  let originStats: OriginStats = {
    requests: NaN,
    bytesSent: NaN,
    notFound: NaN,
    liveSubscriptions: NaN,
  };
  if (options.fake) {
    options.fake.videos = videos;
    service = options.fake.service;
  } else {
    ({ service, stats: originStats } = originService({
      videos: await ConfinedRoot.open(videos),
      channels: new Map(),
    }));
  }
  const origin = stack.use(new TlvServer({ services: [service], log }));
  const connectOrigin = async () => {
    const client = await connectTlv({
      port: origin.addr.port,
      service: "video",
      timeoutMs: WAIT_MS,
    });
    options.onOriginClient?.(client);
    return client;
  };
  const cacheRoot = await ConfinedRoot.open(cacheDir);
  const cache = await VideoCache.open({
    dir: cacheRoot,
    maxBytes: options.maxBytes ?? 1024 ** 3,
    origin: connectOrigin,
    log,
  });
  for (const f of options.preload ?? []) await cache.preload(original(f));
  const edge = stack.use(new Edge({ cache, origin: connectOrigin, log }));
  const server = stack.use(new TlvServer({ services: [edge.service], log }));
  // Disposed first: a stalled fake must not hold up the servers' shutdown.
  const fake = options.fake;
  if (fake) stack.defer(() => fake.release());
  const owned = stack.move();
  return {
    videos,
    cacheDir,
    cacheRoot,
    downloads,
    cache,
    edge,
    originStats,
    lines,
    connect: () =>
      connectTlv({ port: server.addr.port, service: "video", timeoutMs: 5000 }),
    out: (fileName) => join(downloads, fileName),
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

/**
 * What `downloadVideo` does, with hooks: `video_get` from `offset` 0 into
 * `path` through `downloadToFile`.
 */
function download(
  client: TlvClient,
  name: string,
  path: string,
  hooks: { onHeader?(): void; onProgress?(received: number): void } = {},
) {
  return downloadToFile(
    client.stream("video_get", { name, offset: 0 }, { highWaterMark: 64 }),
    path,
    {
      ...(hooks.onHeader ? { onHeader: hooks.onHeader } : {}),
      ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    },
  );
}

// ---------------------------------------------------------------- tests

Deno.test("local-server serves video_2023 from its cache without asking the origin", async () => {
  await using r = await rig({ preload: ["video_2023.mp4"] });
  await using client = await r.connect();
  const summary = await downloadVideo(
    client,
    "video_2023",
    r.out("video_2023.mp4"),
  );
  assert.equal(summary.source, "cache");
  assert.equal(summary.size, SIZE_2023);
  assert.equal(summary.bytes, SIZE_2023);
  assert.equal(
    await digestOf(r.out("video_2023.mp4")),
    await digestOf(original("video_2023.mp4")),
  );
  assert.equal(r.originStats.requests, 0);
  assert.equal(r.cache.stats.hits, 1);
  assert.equal(r.cache.stats.misses, 0);
  assert.equal(r.cache.stats.bytesFromCache, SIZE_2023);
});

Deno.test("local-server fetches video_2022 from the origin once, then serves it from its cache", async () => {
  await using r = await rig({ preload: ["video_2023.mp4"] });
  const want = await digestOf(original("video_2022.mp4"));
  {
    await using client = await r.connect();
    const first = await downloadVideo(client, "video_2022", r.out("a.mp4"));
    assert.equal(first.source, "origin");
    assert.equal(first.size, SIZE_2022);
    assert.equal(await digestOf(r.out("a.mp4")), want);
    assert.equal(r.originStats.requests, 1);
  }
  {
    await using client = await r.connect();
    const second = await downloadVideo(client, "video_2022", r.out("b.mp4"));
    assert.equal(second.source, "cache");
    assert.equal(await digestOf(r.out("b.mp4")), want);
  }
  assert.equal(r.originStats.requests, 1);
  assert.deepEqual(
    { ...r.cache.stats },
    {
      hits: 1,
      misses: 1,
      originFetches: 1,
      failedFetches: 0,
      bytesFromCache: SIZE_2022,
      bytesFromOrigin: SIZE_2022,
      evictions: 0,
      entries: 2,
      bytes: SIZE_2022 + SIZE_2023,
    },
  );
  assert.deepEqual(await listDir(r.cacheDir), [
    "video_2022.mp4",
    "video_2023.mp4",
  ]);
  assert.equal(
    await digestOf(join(r.cacheDir, "video_2022.mp4")),
    want,
    "the cache entry is the whole, verified video",
  );
  assert.deepEqual(await listDir(r.downloads), ["a.mp4", "b.mp4"]);
});

Deno.test("VideoCache.open() removes leftovers of interrupted fetches and keeps the entries", async () => {
  await using tmp = await tempDir({ prefix: "socklab_video_" });
  await Deno.copyFile(
    original("video_2023.mp4"),
    join(tmp.path, "video_2023.mp4"),
  );
  await Deno.writeFile(
    join(tmp.path, "video_2022.download"),
    new Uint8Array(9),
  );
  await Deno.writeFile(
    join(tmp.path, ".video_2022.download.part"),
    new Uint8Array(5),
  );
  const cache = await VideoCache.open({
    dir: await ConfinedRoot.open(tmp.path),
    maxBytes: 1024 ** 3,
    origin: () => Promise.reject(new Error("no origin in this test")),
    log: new Logger({ sink: () => {} }),
  });
  assert.deepEqual(await listDir(tmp.path), ["video_2023.mp4"]);
  assert.equal(cache.stats.entries, 1);
  assert.equal(cache.stats.bytes, SIZE_2023);
  assert.equal(await cache.has("video_2023"), true);
  assert.equal(await cache.has("video_2022"), false);
});

Deno.test("local-server relays a miss to the client while the origin is still sending it", async () => {
  const fake = new FakeOrigin("gate");
  await using r = await rig({ fake });
  await using client = await r.connect();
  const firstBytes = Promise.withResolvers<number>();
  const done = download(client, "video_2022", r.out("v.mp4"), {
    onProgress: (received) => firstBytes.resolve(received),
  });
  const received = await within(
    firstBytes.promise,
    WAIT_MS,
    "the client's first relayed bytes",
  );
  // The origin is stalled after its first chunk: these bytes were relayed
  // from the part file, before the origin finished and before verification.
  assert.ok(received > 0 && received <= MAX_CHUNK_LENGTH, `${received}`);
  assert.equal(fake.completed, 0);
  assert.deepEqual(
    (await listDir(r.cacheDir)).filter((f) => !f.startsWith(".")),
    [],
    "no entry before the whole video is verified",
  );
  fake.release();
  const result = await done;
  assert.equal(result.source, "origin");
  assert.equal(fake.completed, 1);
  assert.equal(fake.requests, 1);
  assert.equal(
    await digestOf(r.out("v.mp4")),
    await digestOf(original("video_2022.mp4")),
  );
  assert.deepEqual(await listDir(r.cacheDir), ["video_2022.mp4"]);
});

Deno.test("local-server makes one origin fetch for ten concurrent misses of the same video", async () => {
  const fake = new FakeOrigin("gate");
  await using r = await rig({ fake });
  await using stack = new AsyncDisposableStack();
  const clients = await Promise.all(
    Array.from({ length: 10 }, () => r.connect()),
  );
  for (const c of clients) stack.use(c);
  const headers = clients.map(() => Promise.withResolvers<void>());
  const downloads = clients.map((client, i) =>
    download(client, "video_2022", r.out(`v${i}.mp4`), {
      onHeader: () => headers[i]!.resolve(),
    })
  );
  // Every client has its header while the one fetch is stalled: all ten joined it.
  await within(
    Promise.all(headers.map((h) => h.promise)),
    WAIT_MS,
    "ten headers",
  );
  assert.equal(fake.completed, 0);
  assert.equal(r.cache.stats.misses, 10);
  assert.equal(r.cache.stats.originFetches, 1);
  fake.release();
  const results = await Promise.all(downloads);
  assert.ok(results.every((res) => res.source === "origin"));
  assert.equal(fake.requests, 1);
  const want = await digestOf(original("video_2022.mp4"));
  for (let i = 0; i < 10; i++) {
    assert.equal(await digestOf(r.out(`v${i}.mp4`)), want, `client ${i}`);
  }
  assert.deepEqual(await listDir(r.cacheDir), ["video_2022.mp4"]);
});

Deno.test("local-server serves a request that joins a fetch just as it is renamed into place", async () => {
  // The interleaving: B looks in the cache (a miss) while A's fetch runs;
  // the fetch is verified and renamed; only then does B join it.
  const fake = new FakeOrigin("gate");
  const closing = Promise.withResolvers<void>();
  const closeGate = Promise.withResolvers<void>();
  await using r = await rig({
    fake,
    onOriginClient(client) {
      // The fetch stays in progress (joinable) until its origin client closes.
      const close = client.close.bind(client);
      client.close = async () => {
        closing.resolve();
        await closeGate.promise;
        await close();
      };
    },
  });
  using _open = { [Symbol.dispose]: () => closeGate.resolve() };
  await using a = await r.connect();
  const aHeader = Promise.withResolvers<void>();
  const aDone = download(a, "video_2022", r.out("a.mp4"), {
    onHeader: () => aHeader.resolve(),
  });
  await within(aHeader.promise, WAIT_MS, "A's header");

  const root = r.cacheRoot;
  const locate = root.locate.bind(root);
  const bLooked = Promise.withResolvers<void>();
  const bGo = Promise.withResolvers<void>();
  root.locate = async (urlPath) => {
    const seen = locate(urlPath).then(
      (found) => ({ found }),
      (error: unknown) => ({ error }),
    );
    const result = await seen;
    if (urlPath === "/video_2022.mp4") {
      bLooked.resolve();
      await bGo.promise;
    }
    if ("error" in result) throw result.error;
    return result.found;
  };
  await using b = await r.connect();
  const bHeader = Promise.withResolvers<void>();
  const bDone = download(b, "video_2022", r.out("b.mp4"), {
    onHeader: () => bHeader.resolve(),
  });
  await within(bLooked.promise, WAIT_MS, "B's look into the cache");

  fake.release();
  await within(closing.promise, WAIT_MS, "the fetch to be renamed into place");
  assert.deepEqual(await listDir(r.cacheDir), ["video_2022.mp4"]);
  bGo.resolve();
  // B has joined the fetch (its header came from it) after the part file
  // was renamed away; the fetch ends once its origin client closes.
  await within(bHeader.promise, WAIT_MS, "B's header");
  closeGate.resolve();
  const [resultA, resultB] = await Promise.all([aDone, bDone]);
  assert.equal(resultA.source, "origin");
  assert.equal(resultB.source, "origin");
  const want = await digestOf(original("video_2022.mp4"));
  assert.equal(await digestOf(r.out("a.mp4")), want);
  assert.equal(await digestOf(r.out("b.mp4")), want);
  assert.equal(r.cache.stats.misses, 2);
  assert.equal(r.cache.stats.originFetches, 1);
  assert.equal(fake.requests, 1);
});

Deno.test("local-server reports an origin that fails mid-transfer as upstream_failed and caches nothing", async () => {
  const fake = new FakeOrigin("fail");
  await using r = await rig({ fake });
  {
    await using client = await r.connect();
    await assert.rejects(
      downloadVideo(client, "video_2022", r.out("v.mp4")),
      isRemote("upstream_failed", /video_2022/),
    );
  }
  assert.equal(fake.requests, 1);
  assert.deepEqual(await listDir(r.cacheDir), [], "no entry, no leftovers");
  assert.equal(await r.cache.has("video_2022"), false);
  assert.equal(r.cache.stats.failedFetches, 1);
  assert.equal(r.cache.stats.entries, 0);
  assert.ok(
    r.lines.some((l) => /origin fetch failed; nothing cached/.test(l)),
    r.lines.join("\n"),
  );
  // The origin recovers: the next request fetches again, and it sticks.
  fake.mode = "ok";
  {
    await using client = await r.connect();
    const summary = await downloadVideo(client, "video_2022", r.out("v.mp4"));
    assert.equal(summary.source, "origin");
  }
  assert.equal(fake.requests, 2);
  assert.equal(
    await digestOf(r.out("v.mp4")),
    await digestOf(original("video_2022.mp4")),
  );
  assert.deepEqual(await listDir(r.cacheDir), ["video_2022.mp4"]);
  assert.equal(r.cache.stats.failedFetches, 1);
  assert.equal(r.cache.stats.entries, 1);
});

Deno.test("local-server refuses a video whose digest is not the one the origin announced", async () => {
  const fake = new FakeOrigin("lie");
  await using r = await rig({ fake });
  {
    await using client = await r.connect();
    await assert.rejects(
      downloadVideo(client, "video_2022", r.out("v.mp4")),
      isRemote("upstream_failed", /digest/),
    );
  }
  assert.equal(fake.completed, 1, "the origin sent every byte");
  assert.deepEqual(await listDir(r.cacheDir), [], "no entry, no leftovers");
  assert.equal(r.cache.stats.failedFetches, 1);
  assert.equal(r.cache.stats.entries, 0);
  // The client never got bulk_end, so it has no file, only its part.
  assert.deepEqual(await listDir(r.downloads), [".v.mp4.part"]);
});

Deno.test("client resumes an interrupted download from its part file", async () => {
  await using r = await rig({ preload: ["video_2023.mp4"] });
  const out = r.out("video_2023.mp4");
  {
    // Cut short after the first chunk, as a killed client would be.
    await using client = await r.connect();
    await assert.rejects(
      download(client, "video_2023", out, {
        onProgress: () => {
          throw new Error("interrupted");
        },
      }),
      /interrupted/,
    );
  }
  const held = await partLength(out);
  assert.ok(held > 0 && held < SIZE_2023, `${held}`);
  {
    await using client = await r.connect();
    const summary = await downloadVideo(client, "video_2023", out);
    assert.equal(summary.offset, held);
    assert.equal(summary.bytes, SIZE_2023 - held);
    assert.equal(summary.source, "cache");
  }
  assert.equal(await digestOf(out), await digestOf(original("video_2023.mp4")));
  assert.equal(await partLength(out), 0, "the part file became the file");
});

Deno.test("client resumes through a cache miss: the edge relays the fetch from the asked offset", async () => {
  await using r = await rig();
  const out = r.out("video_2022.mp4");
  const held = 100_000;
  const bytes = await Deno.readFile(original("video_2022.mp4"));
  await Deno.writeFile(partPath(out), bytes.subarray(0, held));
  {
    await using client = await r.connect();
    const summary = await downloadVideo(client, "video_2022", out);
    assert.equal(summary.offset, held);
    assert.equal(summary.bytes, SIZE_2022 - held);
    assert.equal(summary.source, "origin");
  }
  assert.equal(await digestOf(out), await digestOf(original("video_2022.mp4")));
  assert.equal(r.originStats.requests, 1);
  assert.equal(r.cache.stats.bytesFromOrigin, SIZE_2022 - held);
  assert.deepEqual(await listDir(r.cacheDir), ["video_2022.mp4"]);
});

Deno.test("local-server evicts video_2023 when video_2022 pushes the cache over its limit", async () => {
  await using r = await rig({
    preload: ["video_2023.mp4"],
    maxBytes: SIZE_2022 + SIZE_2023 - 1,
  });
  await using client = await r.connect();
  await downloadVideo(client, "video_2022", r.out("v.mp4"));
  assert.equal(r.cache.stats.evictions, 1);
  assert.deepEqual(await listDir(r.cacheDir), ["video_2022.mp4"]);
  assert.equal(r.cache.stats.entries, 1);
  assert.equal(r.cache.stats.bytes, SIZE_2022);
  assert.equal(await r.cache.has("video_2023"), false);
});

Deno.test("local-server does not evict an entry while it is being read", async () => {
  await using r = await rig({
    preload: ["video_2023.mp4"],
    maxBytes: SIZE_2022 + SIZE_2023 - 1,
  });
  await using client = await r.connect();
  {
    using _reading = r.cache.hold("video_2023.mp4");
    await downloadVideo(client, "video_2022", r.out("v.mp4"));
    assert.equal(r.cache.stats.evictions, 0);
    assert.deepEqual(await listDir(r.cacheDir), [
      "video_2022.mp4",
      "video_2023.mp4",
    ]);
  }
  // Released and still whole: served as a hit.
  const summary = await downloadVideo(client, "video_2023", r.out("w.mp4"));
  assert.equal(summary.source, "cache");
  assert.equal(
    await digestOf(r.out("w.mp4")),
    await digestOf(original("video_2023.mp4")),
  );
});

Deno.test("local-server evicts the least recently used entry, not the oldest file", async () => {
  const extra = new Uint8Array(50_000);
  crypto.getRandomValues(extra);
  await using r = await rig({
    preload: ["video_2023.mp4"],
    extra: { "video_2024.mp4": extra },
    maxBytes: SIZE_2022 + SIZE_2023 + extra.length - 1,
  });
  await using client = await r.connect();
  await downloadVideo(client, "video_2022", r.out("a.mp4")); // miss
  const hit = await downloadVideo(client, "video_2023", r.out("b.mp4"));
  assert.equal(hit.source, "cache"); // video_2023 is now the most recently used
  await downloadVideo(client, "video_2024", r.out("c.mp4")); // over the limit
  assert.equal(r.cache.stats.evictions, 1);
  assert.deepEqual(await listDir(r.cacheDir), [
    "video_2023.mp4",
    "video_2024.mp4",
  ]);
});

Deno.test("local-server refuses names from the network that are not one plain file name", async () => {
  await using r = await rig();
  await using client = await r.connect();
  for (const name of ["../etc/passwd", ".hidden", "a/b", "a\\b", "..", ""]) {
    await assert.rejects(
      downloadVideo(client, name, r.out("x.mp4")),
      isRemote("bad_name"),
      JSON.stringify(name),
    );
  }
  assert.equal(r.originStats.requests, 0, "no bad name reached the origin");
  // Names are never percent-decoded: "%2e%2e" is that literal name, not "..".
  await assert.rejects(
    downloadVideo(client, "%2e%2e", r.out("x.mp4")),
    isRemote("not_found", /%2e%2e/),
  );
  await assert.rejects(
    downloadVideo(client, "nope", r.out("x.mp4")),
    isRemote("not_found", /nope/),
  );
  assert.equal(r.originStats.requests, 2);
  assert.equal(r.originStats.notFound, 2);
  assert.deepEqual(await listDir(r.cacheDir), []);
  assert.deepEqual(await listDir(r.downloads), []);
});

/** One GET on a fresh connection, read with an independent parser. */
async function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawHttpResponse> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  await writeAll(
    conn,
    encoder.encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`,
    ),
  );
  return await new HttpResponseReader(conn).read();
}

Deno.test("local-server over HTTP serves byte ranges of a fetched video, its stats and 404s", async () => {
  await using r = await rig();
  await using http = new HttpServer({
    handler: videoHttp({ cache: r.cache, dir: r.cacheRoot, edge: r.edge }),
    log: new Logger({ sink: (l) => r.lines.push(l) }),
  });
  const port = http.addr.port;
  const bytes = await Deno.readFile(original("video_2022.mp4"));

  const range = await httpGet(port, "/videos/video_2022", {
    Range: "bytes=100-199",
  });
  assert.equal(range.status, 206);
  assert.equal(
    range.headers.get("content-range"),
    `bytes 100-199/${SIZE_2022}`,
  );
  assert.deepEqual(range.body, bytes.subarray(100, 200));

  const whole = await httpGet(port, "/videos/video_2022");
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get("content-type"), "video/mp4");
  assert.deepEqual(whole.body, bytes);

  const stats = await httpGet(port, "/stats");
  assert.equal(stats.status, 200);
  const json = JSON.parse(new TextDecoder().decode(stats.body));
  assert.equal(json.cache.misses, 1);
  assert.equal(json.cache.hits, 1);
  assert.equal(json.cache.originFetches, 1);
  assert.equal(json.cache.entries, 1);
  assert.equal(r.originStats.requests, 1);

  assert.equal((await httpGet(port, "/videos/nope")).status, 404);
  assert.equal((await httpGet(port, "/videos/%2e%2e")).status, 400);
  assert.equal((await httpGet(port, "/videos/..%2fetc%2fpasswd")).status, 400);
  assert.equal((await httpGet(port, "/videos/%2ehidden")).status, 400);
  assert.equal(r.originStats.requests, 2, "only /videos/nope asked the origin");
});
