import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { concat, split } from "./_testing.ts";
import { DEFAULT_LIMITS, TlvDecodeError } from "./frame.ts";
import { FrameReader } from "./frame_reader.ts";
import { decodeMessage, encodeAnyMessage, encodeMessage } from "./message.ts";
import type { Message } from "./registry.ts";

/** A mix of small, empty, grouped and larger-than-a-chunk messages. */
function mixedMessages(count: number): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < count; i++) {
    switch (i % 6) {
      case 0:
        out.push({ type: "ping", fields: {} });
        break;
      case 1:
        out.push({
          type: "calc_request",
          fields: { id: i, expression: `${i}*(${i}+1) ✓` },
        });
        break;
      case 2:
        out.push({
          type: "echo_request",
          fields: {
            id: i,
            data: new Uint8Array((i * 37) % 300).map((_, j) => (i + j) & 0xff),
          },
        });
        break;
      case 3:
        out.push({
          type: "hello_ok",
          fields: {
            version: 1,
            service: "calc",
            limits: { max_frame: i, max_fields: 256, max_depth: 8 },
          },
        });
        break;
      case 4:
        out.push({
          type: "error",
          fields: { id: i, code: 32, message: "unexpected ')'", column: i },
        });
        break;
      default:
        out.push({
          type: "bulk_data",
          fields: {
            id: i,
            offset: i * 1000,
            data: new Uint8Array(i % 2 === 0 ? 0 : 200).fill(i & 0xff),
          },
        });
    }
  }
  return out;
}

function encodeAll(messages: readonly Message[]): Uint8Array {
  return concat(
    ...messages.map((m) => encodeAnyMessage(m)),
  );
}

/**
 * Feeds every chunk and decodes each frame the moment it is returned, as the
 * bodies are only valid until the next push. Each chunk is copied into one
 * reused scratch buffer first, as a socket read loop does, so a reader that
 * kept views into the caller's chunk would see the bytes change under it.
 */
function feed(reader: FrameReader, chunks: readonly Uint8Array[]): Message[] {
  const scratch = new Uint8Array(
    Math.max(1, ...chunks.map((c) => c.length)),
  );
  const out: Message[] = [];
  for (const chunk of chunks) {
    scratch.set(chunk);
    for (const frame of reader.push(scratch.subarray(0, chunk.length))) {
      out.push(decodeMessage(frame));
    }
    scratch.fill(0xee);
  }
  return out;
}

const MESSAGES = mixedMessages(120);
const STREAM = encodeAll(MESSAGES);

Deno.test({
  name: "FrameReader.push() yields every frame of a stream pushed whole",
  permissions: "none",
  fn() {
    const reader = new FrameReader();
    assert.deepEqual(feed(reader, [STREAM]), MESSAGES);
    assert.equal(reader.buffered, 0);
  },
});

Deno.test({
  name:
    "FrameReader.push() yields every frame of a stream pushed one byte at a time",
  permissions: "none",
  fn() {
    const reader = new FrameReader();
    assert.deepEqual(feed(reader, split(STREAM, [1])), MESSAGES);
    assert.equal(reader.buffered, 0);
  },
});

Deno.test({
  name:
    "FrameReader.push() yields every frame of a stream in random chunk sizes",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 20 }),
        (sizes) => {
          const reader = new FrameReader();
          assert.deepEqual(feed(reader, split(STREAM, sizes)), MESSAGES);
          assert.equal(reader.buffered, 0);
        },
      ),
      { numRuns: 60 },
    );
  },
});

Deno.test({
  name: "FrameReader.push() returns many frames from one chunk without copying",
  permissions: "none",
  fn() {
    const messages = Array.from(
      { length: 1000 },
      (_, id): Message => ({ type: "ping", fields: { id } }),
    );
    const bytes = encodeAll(messages);
    const reader = new FrameReader();
    const frames = reader.push(bytes);
    assert.equal(frames.length, 1000);
    assert.equal(reader.buffered, 0);
    // With nothing pending, whole frames are parsed in place.
    for (const frame of frames) assert.equal(frame.body.buffer, bytes.buffer);
    assert.deepEqual(frames.map((f) => decodeMessage(f)), messages);
  },
});

Deno.test({
  name: "FrameReader.buffered counts the bytes of incomplete frames",
  permissions: "none",
  fn() {
    const a = encodeMessage("calc_request", { id: 1, expression: "1+2" }); // 25
    const b = encodeMessage("ping", { id: 2 }); // 16
    const reader = new FrameReader();
    assert.equal(reader.buffered, 0);
    assert.deepEqual(reader.push(a.subarray(0, 4)), []);
    assert.equal(reader.buffered, 4);
    assert.deepEqual(reader.push(a.subarray(4, 20)), []);
    assert.equal(reader.buffered, 20);
    // Completes `a` and starts `b` in the same chunk.
    const mixed = new Uint8Array(5 + 10);
    mixed.set(a.subarray(20));
    mixed.set(b.subarray(0, 10), 5);
    const frames = reader.push(mixed);
    assert.deepEqual(frames.map((f) => decodeMessage(f)), [
      { type: "calc_request", fields: { id: 1, expression: "1+2" } },
    ]);
    assert.equal(reader.buffered, 10);
    assert.deepEqual(reader.push(new Uint8Array(0)), []);
    assert.equal(reader.buffered, 10);
    assert.deepEqual(reader.push(b.subarray(10)).map((f) => decodeMessage(f)), [
      { type: "ping", fields: { id: 2 } },
    ]);
    assert.equal(reader.buffered, 0);
  },
});

Deno.test({
  name: "FrameReader.push() reassembles a 1 MiB frame from 64 KiB pieces",
  permissions: "none",
  fn() {
    // id (10) + data header (6) + data: a body of exactly maxFrameLength.
    const data = new Uint8Array(DEFAULT_LIMITS.maxFrameLength - 16).map(
      (_, i) => (i * 7 + (i >> 8)) & 0xff,
    );
    const bytes = encodeMessage("echo_request", { id: 9, data });
    assert.equal(bytes.length, 6 + DEFAULT_LIMITS.maxFrameLength);
    const reader = new FrameReader();
    const pieces = split(bytes, [64 * 1024]);
    let pushed = 0;
    let message: Message | undefined;
    for (const [i, piece] of pieces.entries()) {
      const frames = reader.push(piece);
      pushed += piece.length;
      if (i < pieces.length - 1) {
        assert.equal(frames.length, 0);
        assert.equal(reader.buffered, pushed);
      } else {
        assert.equal(frames.length, 1);
        message = decodeMessage(frames[0]!);
      }
    }
    assert.equal(reader.buffered, 0);
    assert.ok(message?.type === "echo_request");
    assert.equal(message.fields.id, 9);
    assert.ok(
      Buffer.compare(message.fields.data, data) === 0,
      "data differs",
    );

    // The large buffer is let go once nothing is pending: the next frame
    // that needs buffering lands in a small one.
    const small = encodeMessage("ping", { id: 1 });
    assert.deepEqual(reader.push(small.subarray(0, 3)), []);
    const [frame] = reader.push(small.subarray(3));
    assert.ok(frame);
    assert.ok(
      frame.body.buffer.byteLength < 64 * 1024,
      `still holding ${frame.body.buffer.byteLength} bytes`,
    );
    assert.deepEqual(decodeMessage(frame), { type: "ping", fields: { id: 1 } });
  },
});

Deno.test({
  name:
    "FrameReader reuses two small buffers for a stream of fragmented frames",
  permissions: "none",
  fn() {
    const reader = new FrameReader();
    const buffers = new Set<ArrayBufferLike>();
    let count = 0;
    for (const chunk of split(STREAM, [1, 7, 3])) {
      for (const frame of reader.push(chunk)) {
        // Frames whole inside one chunk are views into the chunk itself.
        if (frame.body.buffer !== STREAM.buffer) buffers.add(frame.body.buffer);
        count++;
      }
    }
    assert.equal(count, MESSAGES.length);
    assert.ok(
      buffers.size <= 2,
      `the reader allocated ${buffers.size} buffers`,
    );
    for (const buffer of buffers) assert.ok(buffer.byteLength <= 64 * 1024);
  },
});

Deno.test({
  name:
    "FrameReader.push() rejects an oversize length without buffering the body",
  permissions: "none",
  fn() {
    const header = new Uint8Array([0x01, 0x00, 0xff, 0xff, 0xff, 0xff]);
    // Nothing pending: the chunk holding the header is enough.
    const first = new FrameReader();
    const withSomeBody = new Uint8Array(64);
    withSomeBody.set(header);
    assert.throws(
      () => first.push(withSomeBody),
      (e: unknown) =>
        e instanceof TlvDecodeError && e.code === "frame_too_large" &&
        e.offset === 2,
    );

    // A header split across pushes is rejected when its last byte arrives.
    const limits = { maxFrameLength: 100 };
    const second = new FrameReader(limits);
    assert.deepEqual(second.push(encodeMessage("ping", { id: 1 })).length, 1);
    const over = new Uint8Array([0x00, 0x04, 0x00, 0x00, 0x00, 101]);
    assert.deepEqual(second.push(over.subarray(0, 3)), []);
    assert.equal(second.buffered, 3);
    assert.throws(
      () => second.push(over.subarray(3)),
      (e: unknown) =>
        e instanceof TlvDecodeError && e.code === "frame_too_large",
    );

    // Exactly at the limit is waited for, not rejected.
    const third = new FrameReader(limits);
    assert.deepEqual(third.push(new Uint8Array([0, 4, 0, 0, 0, 100])), []);
    assert.equal(third.buffered, 6);
  },
});

Deno.test({
  name: "FrameReader.push() rejects a non-message frame type",
  permissions: "none",
  fn() {
    const reader = new FrameReader();
    assert.deepEqual(reader.push(new Uint8Array([0x80])), []);
    assert.throws(
      () => reader.push(new Uint8Array([0x01, 0, 0, 0, 0])),
      (e: unknown) => e instanceof TlvDecodeError && e.code === "bad_frame",
    );
  },
});

Deno.test({
  name:
    "FrameReader.push() returns good frames before a bad header, then throws",
  permissions: "none",
  fn() {
    const reader = new FrameReader();
    const good = encodeMessage("ping", { id: 1 });
    const bad = new Uint8Array([0x02, 0x00, 0xff, 0xff, 0xff, 0xff]);
    const chunk = new Uint8Array(good.length * 2 + bad.length);
    chunk.set(good, 0);
    chunk.set(good, good.length);
    chunk.set(bad, good.length * 2);
    const frames = reader.push(chunk);
    assert.equal(frames.length, 2);
    assert.deepEqual(decodeMessage(frames[1]!), {
      type: "ping",
      fields: { id: 1 },
    });
    assert.ok(reader.failure instanceof TlvDecodeError);
    assert.throws(
      () => reader.push(good),
      (e) => e instanceof TlvDecodeError && e.code === "frame_too_large",
    );
  },
});

Deno.test({
  name:
    "FrameReader hands a large frame held across chunks over in an array of its own",
  permissions: "none",
  fn() {
    const data = new Uint8Array(50_000).map((_, i) => (i * 7) & 0xff);
    const big = encodeMessage("bulk_data", { id: 3, offset: 0, data });
    const small = encodeMessage("ping", { id: 9 });
    const reader = new FrameReader();
    // One reused read buffer, as a connection has: every push overwrites it.
    const readBuffer = new Uint8Array(16 * 1024);
    const stream = Buffer.concat([big, small, big]);
    const frames = [];
    for (let at = 0; at < stream.length; at += readBuffer.length) {
      const piece = stream.subarray(at, at + readBuffer.length);
      readBuffer.set(piece);
      for (const frame of reader.push(readBuffer.subarray(0, piece.length))) {
        if (frame.body.length > 4096) {
          assert.equal(frame.owned, true);
          assert.equal(frame.body.buffer.byteLength, big.length);
        }
        frames.push(
          frame.owned ? frame : { ...frame, body: frame.body.slice() },
        );
      }
      readBuffer.fill(0xee);
    }
    assert.equal(frames.length, 3);
    const [first, ping, last] = frames.map((f) => decodeMessage(f!));
    assert.deepEqual(ping, { type: "ping", fields: { id: 9 } });
    for (const message of [first, last]) {
      assert.equal(message?.type, "bulk_data");
      if (message?.type !== "bulk_data") continue;
      assert.deepEqual(message.fields.data, data);
    }
  },
});

Deno.test({
  name:
    "decodeMessage() copies bytes out of a reused buffer, keeps views of an owned one",
  permissions: "none",
  fn() {
    const data = new Uint8Array([1, 2, 3, 4]);
    const bytes = encodeMessage("echo_request", { id: 1, data });
    const reused = new FrameReader().push(bytes)[0]!;
    const owned = new FrameReader().push(bytes, { owned: true })[0]!;
    assert.notEqual(reused.owned, true);
    assert.equal(owned.owned, true);
    const copy = decodeMessage(reused);
    const view = decodeMessage(owned);
    bytes.fill(0);
    assert.deepEqual(
      copy.type === "echo_request" ? [...copy.fields.data] : [],
      [1, 2, 3, 4],
    );
    assert.deepEqual(
      view.type === "echo_request" ? [...view.fields.data] : [],
      [0, 0, 0, 0],
      "an owned frame's bytes are a view, not a copy",
    );
  },
});
