/**
 * The integrated local server (HW5) under load, in process over real
 * loopback sockets and with the real parts: an origin `TlvServer`
 * (`originService` over `testdata/video`, and the calculator), and a local
 * server whose `hubServices` mount the calculator, the video edge
 * (`VideoCache` in a temp dir with `video_2023` preloaded, `Edge`), the
 * image service over `testdata/images` and an `AuthGate` whose users were
 * hashed at the lowest iteration count.
 *
 * Covers many clients each logging in, calculating, fetching an image and
 * videos (every byte checked against the file on disk, concurrent cold
 * misses fetched from the origin once); the same over TLS; each side of a
 * TLS mismatch told so; and one client that stops reading a download while
 * others go on, with what the server queues for it bounded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  type BulkResult,
  fileDigest,
  receiveBulk,
  SEND_HIGH_WATER_MARK,
} from "../lib/bulk.ts";
import { ConnectionError, connectTlv, type TlvClient } from "../lib/client.ts";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { Logger } from "../lib/log.ts";
import { type Session, TlvServer, type TlvService } from "../lib/server.ts";
import { MAX_CHUNK_LENGTH } from "../protocol/tlv/frame.ts";
import type { Message } from "../protocol/tlv/registry.ts";
import { calcService } from "../roles/calc/service.ts";
import { AuthGate } from "../roles/hub/gate.ts";
import { hubServices } from "../roles/hub/hub.ts";
import {
  IMAGE_EXTENSIONS,
  imageService,
  type ImageStats,
} from "../roles/hub/images.ts";
import { hashPassword, UserStore } from "../roles/hub/users.ts";
import { VideoCache } from "../roles/video/cache.ts";
import { Edge } from "../roles/video/edge.ts";
import { originService, type OriginStats } from "../roles/video/origin.ts";
import { within } from "./_raw_peer.ts";
import { ROOT, tempDir } from "./_util.ts";

// ---------------------------------------------------------------- helpers

const VIDEOS = join(ROOT, "testdata", "video");
const IMAGES = join(ROOT, "testdata", "images");
const TLS = join(ROOT, "testdata", "tls");
/** Bound on any single wait for a condition in these tests (ms). */
const WAIT_MS = 10_000;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The password of user `i`: each user has their own. */
function passwordOf(i: number): string {
  return `pw-${i}-${(i * 7919) % 1000}`;
}

/**
 * Resolves once `condition()` holds, checked on every timer tick; rejects
 * naming `what` after `ms`. For counters that have no event to wait on.
 */
async function until(
  condition: () => boolean,
  what: string,
  ms = WAIT_MS,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** An image of `testdata/images`: its request name, file name and SHA-256. */
interface ImageFile {
  name: string;
  fileName: string;
  sha256: string;
}

async function imageFiles(): Promise<ImageFile[]> {
  const out: ImageFile[] = [];
  for await (const entry of Deno.readDir(IMAGES)) {
    const dot = entry.name.lastIndexOf(".");
    if (
      !entry.isFile || dot <= 0 ||
      !IMAGE_EXTENSIONS.includes(entry.name.slice(dot))
    ) continue;
    out.push({
      name: entry.name.slice(0, dot),
      fileName: entry.name,
      sha256: hex(await fileDigest(join(IMAGES, entry.name))),
    });
  }
  assert.ok(out.length > 0, `no images in ${IMAGES}`);
  return out.sort((a, b) => a.fileName.localeCompare(b.fileName));
}

/** The test certificates of `testdata/tls/`. */
async function testCerts(): Promise<{ ca: string; cert: string; key: string }> {
  const [ca, cert, key] = await Promise.all(
    ["ca.pem", "server.pem", "server-key.pem"].map((name) =>
      Deno.readTextFile(join(TLS, name))
    ),
  );
  return { ca: ca!, cert: cert!, key: key! };
}

/**
 * A session that counts the `bulk_data` bytes a sender queues on it and
 * the most it ever had queued, so a test sees what the server holds for a
 * peer that stopped reading.
 */
class WatchedSession implements Session {
  readonly #inner: Session;
  /** Data bytes queued so far. */
  sent = 0;
  /** Most bytes queued for the peer, seen after each send. */
  maxQueued = 0;

  constructor(inner: Session) {
    this.#inner = inner;
  }

  get peer(): string {
    return this.#inner.peer;
  }
  get service(): Session["service"] {
    return this.#inner.service;
  }
  get signal(): AbortSignal {
    return this.#inner.signal;
  }
  get congested(): boolean {
    return this.#inner.congested;
  }
  get queuedBytes(): number {
    return this.#inner.queuedBytes;
  }

  send: Session["send"] = (type, fields) => {
    if (type === "bulk_data") {
      this.sent += (fields as unknown as { data: Uint8Array }).data.length;
    }
    this.#inner.send(type, fields);
    this.maxQueued = Math.max(this.maxQueued, this.#inner.queuedBytes);
  };

  drained(below?: number): Promise<void> {
    return this.#inner.drained(below);
  }
}

/** Options for {@linkcode hubRig}. */
interface RigOptions {
  /** Serve the hub over TLS with the test certificate. */
  tls?: boolean;
  /** Users `user0`… with passwords {@linkcode passwordOf}. Default 200. */
  users?: number;
  /**
   * Hold the origin's answer to `video_get` until the cache has counted
   * this many misses, so that many requests for a cold video are sure to
   * be waiting on one fetch at once.
   */
  holdOriginUntilMisses?: number;
  /** Also preload a generated video `big` of this many bytes. */
  bigVideoBytes?: number;
}

/** The servers of one test and what they count. */
interface HubRig extends AsyncDisposable {
  readonly hub: TlvServer;
  readonly gate: AuthGate;
  readonly cache: VideoCache;
  readonly origin: OriginStats;
  readonly images: ImageStats;
  /** SHA-256 of the generated `big` video, when there is one. */
  readonly bigSha256?: string;
  /** Sessions of `video_get` requests for `big`, in arrival order. */
  readonly bigSessions: WatchedSession[];
  /** The CA a TLS client trusts. */
  readonly ca: string;
  /** A client of the hub (over TLS when the rig is), closed with the rig. */
  connect(
    options?: { tls?: boolean; service?: "hub" | "calc" },
  ): Promise<TlvClient>;
}

async function hubRig(options: RigOptions = {}): Promise<HubRig> {
  const log = new Logger({ name: "hub-load", level: "error" });
  const cleanups: (() => PromiseLike<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step();
  };
  try {
    const tmp = await tempDir({ prefix: "socklab_hub_load_" });
    cleanups.push(() => tmp[Symbol.asyncDispose]());
    const certs = await testCerts();

    // The edge's cache, with video_2023 already in it; its origin below.
    await Deno.mkdir(join(tmp.path, "cache"));
    const connectOrigin = () =>
      connectTlv({
        port: originServer.addr.port,
        service: "video",
        timeoutMs: WAIT_MS,
      });
    const cache = await VideoCache.open({
      dir: await ConfinedRoot.open(join(tmp.path, "cache")),
      maxBytes: 1024 ** 3,
      origin: connectOrigin,
      log,
    });
    await cache.preload(join(VIDEOS, "video_2023.mp4"));

    // The origin: the real service, optionally held until enough misses.
    const origin = originService({
      videos: await ConfinedRoot.open(VIDEOS),
      channels: new Map(),
    });
    const hold = options.holdOriginUntilMisses;
    const originVideo: TlvService = hold === undefined ? origin.service : {
      name: "video",
      async handle(message, session) {
        if (message.type === "video_get") {
          await until(
            () => cache.stats.misses >= hold,
            `${hold} cache misses`,
          );
        }
        return origin.service.handle(message, session);
      },
    };
    const originServer = new TlvServer({
      services: [originVideo, calcService()],
      log,
    });
    cleanups.push(() => originServer.close());

    let bigSha256: string | undefined;
    if (options.bigVideoBytes !== undefined) {
      const bytes = patternBytes(options.bigVideoBytes);
      bigSha256 = hex(
        new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
      );
      const path = join(tmp.path, "big.mp4");
      await Deno.writeFile(path, bytes);
      await cache.preload(path);
    }
    const edge = new Edge({ cache, origin: connectOrigin, log });
    cleanups.push(() => edge[Symbol.asyncDispose]());
    const bigSessions: WatchedSession[] = [];
    const video: TlvService = {
      name: "video",
      handle(message: Message, session: Session) {
        if (message.type === "video_get" && message.fields.name === "big") {
          const watched = new WatchedSession(session);
          bigSessions.push(watched);
          return edge.service.handle(message, watched);
        }
        return edge.service.handle(message, session);
      },
    };

    const users = UserStore.fromRecords(
      await Promise.all(
        Array.from(
          { length: options.users ?? 200 },
          (_, i) =>
            hashPassword(`user${i}`, passwordOf(i), { iterations: 1000 }),
        ),
      ),
    );
    const gate = new AuthGate({ users, log });
    const images = imageService({
      images: await ConfinedRoot.open(IMAGES),
      log,
    });
    const hub = new TlvServer({
      services: hubServices({
        calc: calcService(),
        video,
        image: images,
        gate,
        log,
      }),
      ...(options.tls ? { tls: { cert: certs.cert, key: certs.key } } : {}),
      log,
    });
    cleanups.push(() => hub.close());

    const clients: TlvClient[] = [];
    cleanups.push(async () => {
      await Promise.all(clients.map((c) => c.close()));
    });
    return {
      hub,
      gate,
      cache,
      origin: origin.stats,
      images: images.stats,
      ...(bigSha256 !== undefined ? { bigSha256 } : {}),
      bigSessions,
      ca: certs.ca,
      async connect(connect = {}) {
        const tls = connect.tls ?? options.tls ?? false;
        const client = await connectTlv({
          port: hub.addr.port,
          service: connect.service ?? "hub",
          timeoutMs: WAIT_MS,
          ...(tls ? { tls: { caCerts: [certs.ca] } } : {}),
        });
        clients.push(client);
        return client;
      },
      [Symbol.asyncDispose]: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** `length` bytes that differ from chunk to chunk (cheap to make, not zeros). */
function patternBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  for (let at = 0; at + 4 <= length; at += 4) {
    view.setUint32(at, Math.imul(at, 2654435761) >>> 0);
  }
  return bytes;
}

async function login(client: TlvClient, i: number): Promise<void> {
  const answer = await client.request("login", {
    user: `user${i}`,
    password: passwordOf(i),
  });
  assert.ok(answer.type === "login_ok", answer.type);
  assert.equal(answer.fields.user, `user${i}`);
}

/** Five expressions of client `i` with their values worked out here. */
function expressionsOf(i: number): [string, number][] {
  return [
    [`${i}+1`, i + 1],
    [`${i}*3-7`, i * 3 - 7],
    [`(${i}+2)*(${i}-2)`, (i + 2) * (i - 2)],
    [`2^${i % 20}`, 2 ** (i % 20)],
    [`${i}/4`, i / 4],
  ];
}

async function calc(client: TlvClient, expression: string): Promise<number> {
  const answer = await client.request("calc_request", { expression });
  assert.ok(answer.type === "calc_result", answer.type);
  return answer.fields.value;
}

/** Receives a bulk transfer, hashing it as it comes; its SHA-256 in hex. */
async function fetchHashed(
  frames: AsyncIterable<Message>,
): Promise<{ result: BulkResult; sha256: string }> {
  const hash = createHash("sha256");
  const result = await receiveBulk(frames, {
    write(chunk) {
      hash.update(chunk);
      return Promise.resolve();
    },
  });
  return { result, sha256: hash.digest("hex") };
}

/** Receives a bulk transfer into memory; the bytes and the header's facts. */
async function fetchWhole(
  frames: AsyncIterable<Message>,
): Promise<{ result: BulkResult; bytes: Uint8Array }> {
  const parts: Uint8Array[] = [];
  const result = await receiveBulk(frames, {
    write(chunk) {
      parts.push(chunk.slice());
      return Promise.resolve();
    },
  });
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return { result, bytes };
}

/** What the originals hash to. */
interface Expected {
  images: ImageFile[];
  video2022: string;
  video2023: string;
}

async function expected(): Promise<Expected> {
  return {
    images: await imageFiles(),
    video2022: hex(await fileDigest(join(VIDEOS, "video_2022.mp4"))),
    video2023: hex(await fileDigest(join(VIDEOS, "video_2023.mp4"))),
  };
}

/**
 * One client's session on the hub: log in, five calculations, an image
 * into memory, video_2023 (a hit), and video_2022 when `cold`; every
 * answer and every digest checked.
 */
async function clientFlow(
  rig: HubRig,
  i: number,
  want: Expected,
  cold: boolean,
): Promise<void> {
  const client = await rig.connect();
  await login(client, i);
  const exprs = expressionsOf(i);
  const values = await Promise.all(exprs.map(([e]) => calc(client, e)));
  assert.deepEqual(
    values,
    exprs.map(([, v]) => v),
    `client ${i}: calc results`,
  );

  const image = want.images[i % want.images.length]!;
  const got = await fetchWhole(
    client.stream("image_get", { name: image.name }),
  );
  assert.equal(got.result.name, image.fileName, `client ${i}: image name`);
  const imageSha = hex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", got.bytes.slice())),
  );
  assert.equal(imageSha, image.sha256, `client ${i}: ${image.fileName}`);

  const hit = await fetchHashed(
    client.stream("video_get", { name: "video_2023" }),
  );
  assert.equal(hit.sha256, want.video2023, `client ${i}: video_2023`);
  assert.equal(hit.result.source, "cache", `client ${i}: video_2023 source`);
  assert.equal(hit.result.name, "video_2023.mp4");

  if (cold) {
    const miss = await fetchHashed(
      client.stream("video_get", { name: "video_2022" }),
    );
    assert.equal(miss.sha256, want.video2022, `client ${i}: video_2022`);
    assert.equal(miss.result.source, "origin", `client ${i}: video_2022`);
  }
  await client.close();
}

/** Runs `clients` client flows at once over the rig and checks the counters. */
async function manyClients(rig: HubRig, clients: number, coldEvery: number) {
  const want = await expected();
  const cold = (i: number) => i % coldEvery === 0;
  const colds = Array.from({ length: clients }, (_, i) => i).filter(cold);
  const results = await Promise.allSettled(
    Array.from(
      { length: clients },
      (_, i) => clientFlow(rig, i, want, cold(i)),
    ),
  );
  const failed = results.flatMap((r, i) =>
    r.status === "rejected" ? [`client ${i}: ${r.reason}`] : []
  );
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} clients failed`);

  assert.equal(rig.gate.stats.logins, clients);
  assert.equal(rig.gate.stats.failures, 0);
  assert.equal(rig.gate.stats.refused, 0);
  assert.equal(rig.images.requests, clients);
  assert.equal(rig.images.notFound, 0);
  // Every cold request waited on the same one fetch from the origin.
  assert.equal(rig.origin.requests, 1, "origin video_get requests");
  assert.equal(rig.cache.stats.originFetches, 1);
  assert.equal(rig.cache.stats.failedFetches, 0);
  assert.equal(rig.cache.stats.misses, colds.length);
  assert.equal(rig.cache.stats.hits, clients);
  assert.equal(rig.origin.bytesSent, 127_597, "the origin sent it once");
  // Counted after each transfer's await: concurrent transfers all count.
  assert.equal(rig.cache.stats.bytesFromOrigin, colds.length * 127_597);
  assert.equal(rig.cache.stats.bytesFromCache, clients * 214_850);
  assert.ok(await rig.cache.has("video_2022"), "video_2022 is now cached");
}

// ---------------------------------------------------------------- tests

Deno.test("200 clients on the hub at once: logins, calculations, images and videos all correct, one origin fetch for the cold video", async () => {
  const clients = 200;
  const coldEvery = 20;
  await using rig = await hubRig({
    users: clients,
    holdOriginUntilMisses: clients / coldEvery,
  });
  await within(
    manyClients(rig, clients, coldEvery),
    20_000,
    `${clients} hub clients`,
  );
  // Every client closed its connection; the hub lets go of each of them.
  await until(
    () => rig.hub.connections === 0,
    "the hub to let go of every closed connection",
  );
});

Deno.test("50 clients on the hub over TLS: the same session, every byte checked", async () => {
  const clients = 50;
  const coldEvery = 20;
  await using rig = await hubRig({
    tls: true,
    users: clients,
    holdOriginUntilMisses: Math.ceil(clients / coldEvery),
  });
  await within(
    manyClients(rig, clients, coldEvery),
    20_000,
    `${clients} TLS hub clients`,
  );
});

Deno.test("a plaintext client of the TLS hub and a TLS client of the plaintext hub are each told what is wrong", async () => {
  await within(
    (async () => {
      {
        await using rig = await hubRig({ tls: true, users: 2 });
        const error = await rig.connect({ tls: false }).then(
          () => assert.fail("a plaintext hello was accepted by the TLS hub"),
          (e: unknown) => e,
        );
        assert.ok(error instanceof ConnectionError, String(error));
        assert.match(error.message, /speaks TLS.*--tls/);
        assert.match(error.message, new RegExp(`:${rig.hub.addr.port}`));
        // The hub is unharmed and its TLS clients log in.
        const client = await rig.connect();
        await login(client, 1);
        assert.equal(await calc(client, "6*7"), 42);
        assert.equal(rig.gate.stats.logins, 1);
      }
      {
        await using rig = await hubRig({ users: 2 });
        const error = await rig.connect({ tls: true }).then(
          () => assert.fail("a TLS client got a session from a plaintext hub"),
          (e: unknown) => e,
        );
        assert.ok(error instanceof ConnectionError, String(error));
        assert.match(error.message, /TLS handshake .*plaintext server/);
        const client = await rig.connect();
        await login(client, 0);
        assert.equal(await calc(client, "2^10"), 1024);
      }
    })(),
    15_000,
    "both mismatches",
  );
});

Deno.test("one client that stops reading a download holds back no one, and the server queues a bounded amount for it", async () => {
  const bigBytes = 32 * 1024 * 1024;
  await using rig = await hubRig({ users: 22, bigVideoBytes: bigBytes });
  const want = await expected();
  await within(
    (async () => {
      const stalled = await rig.connect();
      await login(stalled, 21);
      const frames = stalled.stream("video_get", { name: "big" }, {
        highWaterMark: 1,
      });
      // The client has stopped reading its socket: its consumer is behind.
      await until(
        () => frames.buffered >= frames.highWaterMark,
        "the stalled download's first frames",
      );
      const session = rig.bigSessions[0];
      assert.ok(session !== undefined, "the edge got the request");

      // Meanwhile 20 others calculate, and one more downloads a video whole.
      const calculators = Array.from({ length: 20 }, async (_, i) => {
        const client = await rig.connect();
        await login(client, i);
        for (let n = 0; n < 50; n++) {
          assert.equal(await calc(client, `${i}*100+${n}`), i * 100 + n);
        }
      });
      const downloader = (async () => {
        const client = await rig.connect();
        await login(client, 20);
        const { sha256 } = await fetchHashed(
          client.stream("video_get", { name: "video_2023" }),
        );
        assert.equal(sha256, want.video2023);
      })();
      await Promise.all([...calculators, downloader]);

      // The stalled transfer is still stalled, and bounded on both ends.
      assert.ok(
        session.sent < bigBytes,
        `the server queued all ${session.sent} bytes for a peer that reads nothing`,
      );
      assert.ok(
        session.maxQueued <= SEND_HIGH_WATER_MARK + MAX_CHUNK_LENGTH + 1024,
        `the server once queued ${session.maxQueued} bytes for one peer`,
      );
      const perRead = (256 * 1024) / MAX_CHUNK_LENGTH;
      assert.ok(
        frames.buffered <= frames.highWaterMark + perRead,
        `the client holds ${frames.buffered} frames for a consumer that is behind`,
      );

      // Once its consumer reads again, the transfer completes intact.
      const { result, sha256 } = await fetchHashed(frames);
      assert.equal(result.size, bigBytes);
      assert.equal(sha256, rig.bigSha256);
      assert.equal(session.sent, bigBytes);
    })(),
    15_000,
    "the calculators beside a stalled download",
  );
});
