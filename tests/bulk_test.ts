/**
 * Bulk transfers (`lib/bulk.ts`) over real loopback sockets: a TlvServer with
 * a tiny "video" service that answers `video_get` with {@linkcode sendBulk},
 * and `connectTlv` + `TlvClient.stream()` on the other side. Covers round
 * trips, resume, bad offsets, lying and broken senders, backpressure on both
 * ends, and streams sharing a connection with `request()`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BulkError,
  DigestCache,
  downloadToFile,
  fileDigest,
  partLength,
  partPath,
  receiveBulk,
  SEND_HIGH_WATER_MARK,
  sendBulk,
  sendBulkStream,
} from "../lib/bulk.ts";
import { ConnectionError, connectTlv } from "../lib/client.ts";
import { ConfinedPathError, ConfinedRoot } from "../lib/confined_fs.ts";
import { FrameConnection } from "../lib/frame_conn.ts";
import { Logger } from "../lib/log.ts";
import { type Session, TlvServer, type TlvService } from "../lib/server.ts";
import { DEFAULT_LIMITS, MAX_CHUNK_LENGTH } from "../protocol/tlv/frame.ts";
import { FrameReader } from "../protocol/tlv/frame_reader.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { ProtocolError, RemoteError } from "../protocol/tlv/protocol_error.ts";
import type {
  Message,
  MessageFields,
  MessageName,
} from "../protocol/tlv/registry.ts";
import { writeAll } from "./_raw_peer.ts";
import { listDir, tempDir } from "./_util.ts";

// ---------------------------------------------------------------- helpers

const MiB = 1024 * 1024;

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  }
  return out;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
}

/** A logger that keeps its lines instead of printing them. */
function quietLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log: new Logger({ name: "bulk-test", sink: (l) => lines.push(l) }),
  };
}

interface VideoServiceOptions {
  /** Announce a digest that is not the file's. */
  lie?: boolean;
  /** Told how many bytes each transfer sent. */
  onSent?(bytes: number): void;
  /** Wraps the session handed to sendBulk (test hooks). */
  wrap?(session: Session): Session;
}

/** The smallest video origin: files from `root` as bulk transfers. */
function videoService(
  root: ConfinedRoot,
  options: VideoServiceOptions = {},
): TlvService {
  const digests = new DigestCache();
  return {
    name: "video",
    async handle(message, session) {
      if (message.type === "video_list") {
        session.send("video_list_reply", {
          id: message.fields.id,
          entry: [{ name: "clip.bin", size: 0 }],
        });
        return;
      }
      if (message.type !== "video_get") {
        throw new ProtocolError("unexpected_message", message.type);
      }
      const { id, name, offset } = message.fields;
      let opened;
      try {
        opened = await root.openFile(`/${encodeURIComponent(name)}`);
      } catch (error) {
        if (!(error instanceof ConfinedPathError)) throw error;
        throw new ProtocolError(
          error.reason === "not_found" ? "not_found" : "bad_name",
          error.message,
        );
      }
      using file = opened.file;
      const digest = await digests.digest(opened.path, opened.info);
      if (options.lie) digest[0] = digest[0]! ^ 0xff;
      const sent = await sendBulk(options.wrap?.(session) ?? session, {
        id,
        name,
        file,
        size: opened.info.size,
        digest,
        ...(offset !== undefined ? { offset } : {}),
        source: "origin",
      });
      options.onSent?.(sent);
    },
  };
}

/** A temp dir with `src/clip.bin` (random bytes) and an empty `dst/`. */
async function fixture(size: number) {
  const tmp = await tempDir({ prefix: "socklab_bulk_" });
  const src = join(tmp.path, "src");
  const dst = join(tmp.path, "dst");
  await Deno.mkdir(src);
  await Deno.mkdir(dst);
  const bytes = randomBytes(size);
  await Deno.writeFile(join(src, "clip.bin"), bytes);
  return {
    tmp,
    src,
    dst,
    bytes,
    target: join(dst, "clip.bin"),
    root: await ConfinedRoot.open(src),
    [Symbol.asyncDispose]: () => tmp[Symbol.asyncDispose](),
  };
}

type Send = <M extends MessageName>(
  type: M,
  fields: MessageFields<M>,
) => Promise<void>;

/**
 * A hand-written "video" server for one connection: it answers the hello,
 * reads one `video_get`, lets `script` write frames, then closes.
 */
function rawSender(
  script: (request: MessageFields<"video_get">, send: Send) => Promise<void>,
): { port: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const conn = await listener.accept();
    try {
      const reader = new FrameReader(DEFAULT_LIMITS);
      const buffer = new Uint8Array(65536);
      const queue: Message[] = [];
      const next = async (): Promise<Message> => {
        while (queue.length === 0) {
          const n = await conn.read(buffer);
          if (n === null) throw new Error("the client closed early");
          for (const f of reader.push(buffer.subarray(0, n))) {
            queue.push(decodeMessage(f));
          }
        }
        return queue.shift()!;
      };
      assert.equal((await next()).type, "hello");
      await writeAll(
        conn,
        encodeMessage("hello_ok", { version: 1, service: "video" }),
      );
      const request = await next();
      assert.equal(request.type, "video_get");
      await script(
        request.fields as MessageFields<"video_get">,
        (type, fields) => writeAll(conn, encodeMessage(type, fields)),
      );
    } finally {
      conn.close();
      listener.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    [Symbol.asyncDispose]: () => done,
  };
}

async function* fromArray(messages: Message[]): AsyncGenerator<Message> {
  for (const m of messages) yield m;
}

const nullSink = { write: () => Promise.resolve() };

// ---------------------------------------------------------------- digests

Deno.test("fileDigest() equals the SHA-256 of the whole file", async () => {
  await using fx = await fixture(3 * 256 * 1024 + 17);
  assert.deepEqual(
    await fileDigest(join(fx.src, "clip.bin")),
    await sha256(fx.bytes),
  );
});

Deno.test("DigestCache hashes an unchanged file once and a changed one again", async () => {
  await using fx = await fixture(100_000);
  const path = join(fx.src, "clip.bin");
  const cache = new DigestCache({ maxEntries: 1 });
  const first = await cache.digest(path);
  assert.deepEqual(first, await sha256(fx.bytes));
  // The same object back: the file was not hashed again.
  assert.equal(await cache.digest(path), first);
  const changed = randomBytes(100_000);
  await Deno.writeFile(path, changed);
  await Deno.utime(path, new Date(), new Date(Date.now() + 5000));
  assert.deepEqual(await cache.digest(path), await sha256(changed));
  await Deno.writeFile(join(fx.src, "other"), fx.bytes);
  await cache.digest(join(fx.src, "other"));
  assert.equal(cache.size, 1, "the least recently used entry is forgotten");
});

// ---------------------------------------------------------------- transfers

Deno.test("sendBulk() and downloadToFile() carry a 5 MiB file whole", async () => {
  await using fx = await fixture(5 * MiB);
  const { log, lines } = quietLog();
  const sent: number[] = [];
  await using server = new TlvServer({
    services: [videoService(fx.root, { onSent: (n) => sent.push(n) })],
    log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  let announced: number | undefined;
  let progress = 0;
  const result = await downloadToFile(
    client.stream("video_get", { name: "clip.bin" }),
    fx.target,
    {
      onHeader: (h) => (announced = h.size),
      onProgress: (received, size) => {
        assert.equal(size, 5 * MiB);
        assert.ok(received > progress);
        progress = received;
      },
    },
  );
  assert.equal(announced, 5 * MiB);
  assert.equal(progress, 5 * MiB);
  assert.deepEqual(result.digest, await sha256(fx.bytes));
  assert.equal(result.bytes, 5 * MiB);
  assert.equal(result.name, "clip.bin");
  assert.deepEqual(await Deno.readFile(fx.target), fx.bytes);
  assert.deepEqual(await listDir(fx.dst), ["clip.bin"], "no part file left");
  assert.deepEqual(sent, [5 * MiB]);
  assert.equal(client.pending, 0);
  assert.deepEqual(lines.filter((l) => l.startsWith("ERROR")), []);
});

Deno.test("downloadToFile() resumes from the kept part file and fetches only the rest", async () => {
  await using fx = await fixture(5 * MiB);
  const sent: number[] = [];
  await using server = new TlvServer({
    services: [videoService(fx.root, { onSent: (n) => sent.push(n) })],
    log: quietLog().log,
  });
  {
    await using first = await connectTlv({
      port: server.addr.port,
      service: "video",
    });
    let closing: Promise<void> | undefined;
    await assert.rejects(
      downloadToFile(
        first.stream("video_get", { name: "clip.bin" }),
        fx.target,
        {
          onProgress: (received) => {
            if (received >= MiB) closing ??= first.close();
          },
        },
      ),
      ConnectionError,
    );
    await closing;
  }
  const held = await partLength(fx.target);
  assert.ok(held >= MiB && held < 5 * MiB, `part holds ${held} bytes`);
  assert.deepEqual(
    await Deno.readFile(partPath(fx.target)),
    fx.bytes.subarray(0, held),
  );
  await assert.rejects(Deno.stat(fx.target), Deno.errors.NotFound);

  await using second = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  const result = await downloadToFile(
    second.stream("video_get", { name: "clip.bin", offset: held }),
    fx.target,
    { resumeFrom: held },
  );
  assert.equal(result.offset, held);
  assert.equal(result.bytes, 5 * MiB - held, "only the rest was transferred");
  assert.equal(sent.at(-1), 5 * MiB - held);
  assert.deepEqual(result.digest, await sha256(fx.bytes));
  assert.deepEqual(await Deno.readFile(fx.target), fx.bytes);
  assert.deepEqual(await listDir(fx.dst), ["clip.bin"]);
});

Deno.test("an offset beyond the size is answered with bad_offset", async () => {
  await using fx = await fixture(1000);
  await using server = new TlvServer({
    services: [videoService(fx.root)],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  await Deno.writeFile(partPath(fx.target), randomBytes(1001));
  const error = await downloadToFile(
    client.stream("video_get", { name: "clip.bin", offset: 1001 }),
    fx.target,
    { resumeFrom: 1001 },
  ).catch((e) => e);
  assert.ok(error instanceof RemoteError);
  assert.equal(error.codeName, "bad_offset");
  assert.match(error.message, /offset 1001 is beyond the end of "clip\.bin"/);
  assert.deepEqual(await listDir(fx.dst), [], "an unusable part is removed");
  // Holding the whole object already is a valid, empty transfer.
  await Deno.copyFile(join(fx.src, "clip.bin"), partPath(fx.target));
  const result = await downloadToFile(
    client.stream("video_get", { name: "clip.bin", offset: 1000 }),
    fx.target,
    { resumeFrom: 1000 },
  );
  assert.equal(result.bytes, 0);
  assert.deepEqual(await Deno.readFile(fx.target), fx.bytes);
});

Deno.test("a sender that lies about the digest leaves neither file nor part", async () => {
  await using fx = await fixture(300_000);
  await using server = new TlvServer({
    services: [videoService(fx.root, { lie: true })],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  const error = await downloadToFile(
    client.stream("video_get", { name: "clip.bin" }),
    fx.target,
  ).catch((e) => e);
  assert.ok(error instanceof BulkError);
  assert.equal(error.code, "digest_mismatch");
  assert.match(error.message, /^digest mismatch: /);
  assert.deepEqual(await listDir(fx.dst), []);
});

Deno.test("a sender that closes mid-transfer leaves a part that a resume completes", async () => {
  await using fx = await fixture(1 * MiB);
  const digest = await sha256(fx.bytes);
  let raw;
  {
    await using sender = rawSender(async (request, send) => {
      await send("bulk_header", {
        id: request.id,
        size: fx.bytes.length,
        digest,
        offset: 0,
      });
      for (let at = 0; at < 3 * 65536; at += 65536) {
        const data = fx.bytes.subarray(at, at + 65536);
        await send("bulk_data", { id: request.id, offset: at, data });
      }
    });
    await using client = await connectTlv({
      port: sender.port,
      service: "video",
    });
    raw = await downloadToFile(
      client.stream("video_get", { name: "clip.bin" }),
      fx.target,
    ).catch((e) => e);
  }
  assert.ok(raw instanceof ConnectionError, String(raw));
  await assert.rejects(Deno.stat(fx.target), Deno.errors.NotFound);
  assert.equal(await partLength(fx.target), 3 * 65536);

  await using server = new TlvServer({
    services: [videoService(fx.root)],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  const result = await downloadToFile(
    client.stream("video_get", { name: "clip.bin", offset: 3 * 65536 }),
    fx.target,
    { resumeFrom: 3 * 65536 },
  );
  assert.equal(result.bytes, MiB - 3 * 65536);
  assert.deepEqual(await Deno.readFile(fx.target), fx.bytes);
});

Deno.test("a gap in the offsets is a BulkError and the part is dropped", async () => {
  await using fx = await fixture(10_000);
  await using sender = rawSender(async (request, send) => {
    const { id } = request;
    await send("bulk_header", {
      id,
      size: fx.bytes.length,
      digest: await sha256(fx.bytes),
      offset: 0,
    });
    await send("bulk_data", {
      id,
      offset: 0,
      data: fx.bytes.subarray(0, 1000),
    });
    await send("bulk_data", {
      id,
      offset: 2000,
      data: fx.bytes.subarray(2000, 3000),
    });
  });
  await using client = await connectTlv({
    port: sender.port,
    service: "video",
  });
  const error = await downloadToFile(
    client.stream("video_get", { name: "clip.bin" }),
    fx.target,
  ).catch((e) => e);
  assert.ok(error instanceof BulkError, String(error));
  assert.equal(error.code, "gap");
  assert.match(
    error.message,
    /offset 2000: .*reached 1000, so 1000 bytes are missing/,
  );
  assert.deepEqual(await listDir(fx.dst), []);
});

Deno.test("receiveBulk() refuses frames that break the transfer's rules", async () => {
  const bytes = randomBytes(5000);
  const digest = await sha256(bytes);
  const header = (fields: Partial<MessageFields<"bulk_header">> = {}) =>
    ({
      type: "bulk_header",
      fields: { id: 1, size: 5000, digest, offset: 0, ...fields },
    }) as Message;
  const data = (offset: number, length: number) =>
    ({
      type: "bulk_data",
      fields: { id: 1, offset, data: bytes.subarray(offset, offset + length) },
    }) as Message;
  const end = (size = 5000) =>
    ({ type: "bulk_end", fields: { id: 1, size } }) as Message;
  const cases: [string, Message[], string][] = [
    ["data first", [data(0, 10)], "bad_header"],
    ["two headers", [header(), data(0, 10), header()], "bad_header"],
    ["overlap", [header(), data(0, 100), data(50, 100)], "overlap"],
    [
      "past the size",
      [header({ size: 4500 }), data(0, 4000), data(4000, 1000)],
      "too_large",
    ],
    ["end too early", [header(), data(0, 4000), end()], "size_mismatch"],
    [
      "end of another size",
      [header(), data(0, 5000), end(4000)],
      "size_mismatch",
    ],
    ["no end", [header(), data(0, 5000)], "incomplete"],
    ["nothing", [], "incomplete"],
    [
      "short digest",
      [header({ digest: digest.subarray(0, 31) })],
      "bad_header",
    ],
    ["unasked offset", [header({ offset: 100 })], "bad_header"],
    [
      "foreign frame",
      [header(), { type: "pong", fields: { id: 1 } } as Message],
      "unexpected_message",
    ],
  ];
  for (const [what, frames, code] of cases) {
    const error = await receiveBulk(fromArray(frames), nullSink).catch((e) =>
      e
    );
    assert.ok(error instanceof BulkError, `${what}: ${error}`);
    assert.equal(error.code, code, what);
  }
  const chunk = new Uint8Array(MAX_CHUNK_LENGTH + 1);
  const tooBig = await receiveBulk(
    fromArray([
      header({ size: chunk.length }),
      { type: "bulk_data", fields: { id: 1, offset: 0, data: chunk } },
    ]),
    nullSink,
  ).catch((e) => e);
  assert.equal(tooBig.code, "too_large");
  await assert.rejects(
    receiveBulk(
      fromArray([
        header(),
        { type: "error", fields: { id: 1, code: 50, message: "origin gone" } },
      ]),
      nullSink,
    ),
    (e) => e instanceof RemoteError && e.codeName === "upstream_failed",
  );
  const whole = await receiveBulk(
    fromArray([header(), data(0, 3000), data(3000, 2000), end()]),
    nullSink,
  );
  assert.equal(whole.bytes, 5000);
});

// ---------------------------------------------------------------- backpressure

/** A session that records what is sent; a write "finishes" at drained(). */
function fakeSession(signal = new AbortController().signal) {
  const sent: Message[] = [];
  const state = { queued: 0, peak: 0, drains: 0 };
  const session: Session = {
    peer: "fake:0",
    service: "video",
    signal,
    send(type, fields) {
      // A session encodes before send() returns: keep a copy, as it would.
      const message = structuredClone({ type, fields }) as Message;
      sent.push(message);
      if (message.type === "bulk_data") {
        state.queued += message.fields.data.length;
        state.peak = Math.max(state.peak, state.queued);
      }
    },
    async drained() {
      await Promise.resolve();
      state.drains++;
      state.queued = 0;
    },
    get congested() {
      return state.queued > 0;
    },
    get queuedBytes() {
      return state.queued;
    },
  };
  return { session, sent, state };
}

Deno.test("sendBulk() never queues more than the high-water mark", async () => {
  await using fx = await fixture(5 * MiB + 123);
  const path = join(fx.src, "clip.bin");
  const { session, sent, state } = fakeSession();
  const bytes = await sendBulk(session, {
    id: 9,
    file: path,
    size: fx.bytes.length,
    digest: await fileDigest(path),
    offset: 1000,
    chunkSize: 50_000,
  });
  assert.equal(bytes, fx.bytes.length - 1000);
  assert.ok(state.drains >= 4, `${state.drains} drains`);
  assert.ok(state.peak <= SEND_HIGH_WATER_MARK, `${state.peak}`);
  assert.equal(sent[0]?.type, "bulk_header");
  assert.deepEqual(sent.at(-1), {
    type: "bulk_end",
    fields: { id: 9, size: fx.bytes.length },
  });
  const result = await receiveBulk(fromArray(sent.slice(1)), nullSink, {
    resumeFrom: { path, length: 1000 },
  }).catch((e) => e);
  assert.ok(result instanceof BulkError, "the header was left out");
  const whole = await receiveBulk(fromArray(sent), nullSink, {
    resumeFrom: { path, length: 1000 },
  });
  assert.equal(whole.bytes, fx.bytes.length - 1000);
});

Deno.test("sendBulk() stops when the session's signal aborts", async () => {
  await using fx = await fixture(3 * MiB);
  const path = join(fx.src, "clip.bin");
  const closed = new AbortController();
  const { session, sent, state } = fakeSession(closed.signal);
  const drained = session.drained;
  session.drained = async () => {
    await drained();
    closed.abort();
  };
  const bytes = await sendBulk(session, {
    id: 1,
    file: path,
    size: fx.bytes.length,
    digest: await fileDigest(path),
  });
  assert.equal(state.drains, 1);
  assert.ok(bytes >= SEND_HIGH_WATER_MARK && bytes < fx.bytes.length);
  assert.notEqual(sent.at(-1)?.type, "bulk_end");
  await assert.rejects(
    sendBulk(session, {
      id: 2,
      file: path,
      size: 10,
      digest: new Uint8Array(32),
      chunkSize: MAX_CHUNK_LENGTH + 1,
    }),
    RangeError,
  );
});

Deno.test("a slow receiver bounds both the server's queue and the client's buffer", async () => {
  await using fx = await fixture(8 * MiB);
  let peak = 0;
  const watch = (session: Session): Session => {
    // Test hook: the host's session is its Connection, which owns `fc`.
    const fc = (session as unknown as { fc: FrameConnection }).fc;
    assert.ok(fc instanceof FrameConnection);
    return {
      peer: session.peer,
      service: session.service,
      signal: session.signal,
      send(type, fields) {
        session.send(type, fields);
        peak = Math.max(peak, fc.pendingBytes);
      },
      drained: (below) => session.drained(below),
      get congested() {
        return session.congested;
      },
      get queuedBytes() {
        return session.queuedBytes;
      },
    };
  };
  await using server = new TlvServer({
    services: [videoService(fx.root, { wrap: watch })],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  const frames = client.stream("video_get", { name: "clip.bin" }, {
    highWaterMark: 4,
  });
  let buffered = 0;
  let written = 0;
  const result = await receiveBulk(frames, {
    async write(chunk) {
      buffered = Math.max(buffered, frames.buffered);
      written += chunk.length;
      // A slow disk: about a millisecond per 64 KiB.
      await new Promise((resolve) => setTimeout(resolve, 1));
    },
  });
  assert.equal(written, 8 * MiB);
  assert.deepEqual(result.digest, await sha256(fx.bytes));
  assert.ok(peak > 0 && peak <= 2 * MiB, `server queued ${peak} bytes`);
  assert.ok(peak <= SEND_HIGH_WATER_MARK, `server queued ${peak} bytes`);
  assert.ok(buffered >= 3, `the consumer fell behind (${buffered} frames)`);
  assert.ok(buffered <= 4 + 2, `client buffered ${buffered} frames`);
});

// ---------------------------------------------------------------- streams

Deno.test("a borrowing stream lends each frame until the next is asked for, and the bytes add up", async () => {
  await using fx = await fixture(6 * MiB + 777);
  await using server = new TlvServer({
    services: [videoService(fx.root)],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  const frames = client.stream("video_get", { name: "clip.bin" }, {
    borrow: true,
  });
  let at = 0;
  let lent = 0;
  for await (const frame of frames) {
    if (frame.type !== "bulk_data") continue;
    const { data, offset } = frame.fields;
    const copy = data.slice();
    // While the consumer holds the frame (a slow disk), the client must not
    // read into the buffer under it.
    await new Promise((resolve) => setTimeout(resolve, 1));
    assert.deepEqual(data, copy, `the bytes at ${offset} changed while lent`);
    assert.deepEqual(
      copy,
      fx.bytes.subarray(offset, offset + copy.length),
      `bytes at ${offset}`,
    );
    assert.ok(frames.buffered <= 8, `${frames.buffered} frames read ahead`);
    if (data.buffer.byteLength > data.length) lent++;
    at += data.length;
  }
  assert.equal(at, fx.bytes.length);
  assert.ok(lent > 0, "frames were views of a shared read buffer");
  // The connection goes on for other requests afterwards.
  const list = await client.request("video_list", {});
  assert.equal(list.type, "video_list_reply");
});

Deno.test("downloadToFile() through a borrowing stream verifies the digest", async () => {
  await using fx = await fixture(3 * MiB + 5);
  await using server = new TlvServer({
    services: [videoService(fx.root)],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  const result = await downloadToFile(
    client.stream("video_get", { name: "clip.bin" }, { borrow: true }),
    fx.target,
  );
  assert.equal(result.size, fx.bytes.length);
  assert.deepEqual(await Deno.readFile(fx.target), fx.bytes);
});

Deno.test("stream() yields one id's frames while request() answers another", async () => {
  const bytes = randomBytes(300_000);
  const digest = await sha256(bytes);
  const gate = Promise.withResolvers<void>();
  const service: TlvService = {
    name: "video",
    async handle(message, session) {
      if (message.type === "video_list") {
        session.send("video_list_reply", { id: message.fields.id });
        return;
      }
      if (message.type !== "video_get") return;
      async function* chunks() {
        await gate.promise;
        // Pieces over 64 KiB are split; small ones go as they are.
        for (let at = 0; at < bytes.length; at += 100_000) {
          yield bytes.subarray(at, at + 100_000);
        }
      }
      await sendBulkStream(session, {
        id: message.fields.id,
        size: bytes.length,
        digest,
        chunks: chunks(),
      });
    },
  };
  await using server = new TlvServer({
    services: [service],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  const frames = client.stream("video_get", { name: "live.bin" });
  const first = await frames.next();
  assert.equal(first.value?.type, "bulk_header");
  // The transfer is held at the gate; another request still gets through.
  const reply = await client.request("video_list", {});
  assert.equal(reply.type, "video_list_reply");
  assert.equal(client.pending, 1, "the stream is still open");
  gate.resolve();
  const offsets: number[] = [];
  let ended = false;
  for await (const m of frames) {
    if (m.type === "bulk_data") offsets.push(m.fields.offset);
    if (m.type === "bulk_end") ended = true;
  }
  assert.ok(ended);
  assert.deepEqual(
    offsets,
    [0, 65536, 100_000, 165_536, 200_000, 265_536],
  );
  assert.equal(client.pending, 0);
});

Deno.test("a stream stopped early drops its frames and the connection carries on", async () => {
  await using fx = await fixture(2 * MiB);
  await using server = new TlvServer({
    services: [videoService(fx.root)],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  for await (const m of client.stream("video_get", { name: "clip.bin" })) {
    assert.equal(m.type, "bulk_header");
    break;
  }
  const [list, result] = await Promise.all([
    client.request("video_list", {}),
    downloadToFile(
      client.stream("video_get", { name: "clip.bin" }),
      fx.target,
    ),
  ]);
  assert.equal(list.type, "video_list_reply");
  assert.deepEqual(result.digest, await sha256(fx.bytes));
  assert.deepEqual(await Deno.readFile(fx.target), fx.bytes);
  const missing = await downloadToFile(
    client.stream("video_get", { name: "nope.bin" }),
    join(fx.dst, "nope.bin"),
  ).catch((e) => e);
  assert.ok(missing instanceof RemoteError);
  assert.equal(missing.codeName, "not_found");
  assert.equal(client.pending, 0);
});

Deno.test("sendBulkStream() reports a source that ends early as upstream_failed", async () => {
  const bytes = randomBytes(200_000);
  const service: TlvService = {
    name: "video",
    async handle(message, session) {
      if (message.type !== "video_get") return;
      async function* chunks() {
        yield bytes.subarray(0, 150_000);
      }
      await sendBulkStream(session, {
        id: message.fields.id,
        size: bytes.length,
        digest: await sha256(bytes),
        chunks: chunks(),
      });
    },
  };
  await using server = new TlvServer({
    services: [service],
    log: quietLog().log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "video",
  });
  await using tmp = await tempDir({ prefix: "socklab_bulk_" });
  const target = join(tmp.path, "relay.bin");
  const error = await downloadToFile(
    client.stream("video_get", { name: "relay.bin" }),
    target,
  ).catch((e) => e);
  assert.ok(error instanceof RemoteError, String(error));
  assert.equal(error.codeName, "upstream_failed");
  assert.match(error.message, /ended at byte 150000 of 200000/);
  assert.equal(await partLength(target), 150_000, "kept for a resume");
});
