import assert from "node:assert/strict";
import fc from "fast-check";
import { DnsFormatError } from "./errors.ts";
import { frameTcp, MAX_TCP_MESSAGE, TcpMessageReader } from "./tcp.ts";
import { concat, hex, toHex } from "./_testing.ts";

const QUERY = hex(
  "12 34 01 00 00 01 00 00 00 00 00 00 07 'example' 03 'com' 00 00 01 00 01",
);

/** Messages of assorted sizes: empty, one byte, a query, one over 256 bytes. */
const MESSAGES = [
  QUERY,
  new Uint8Array(0),
  hex("ff"),
  new Uint8Array(300).map((_, i) => i & 0xff),
  QUERY,
];

/** Feeds `chunks` and collects every message, copied out at once. */
function feed(reader: TcpMessageReader, chunks: Uint8Array[]): string[] {
  return chunks.flatMap((chunk) => reader.push(chunk)).map(toHex);
}

function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    out.push(bytes.subarray(at, at + size));
  }
  return out;
}

Deno.test({
  name: "frameTcp() prefixes the 2-byte big-endian length",
  permissions: "none",
  fn() {
    assert.equal(toHex(frameTcp(hex("aa bb"))), "00 02 aa bb");
    assert.equal(toHex(frameTcp(new Uint8Array(0))), "00 00");
    const big = frameTcp(new Uint8Array(MAX_TCP_MESSAGE));
    assert.equal(toHex(big.subarray(0, 2)), "ff ff");
    assert.equal(big.length, 65537);
  },
});

Deno.test({
  name: "frameTcp() rejects a message over 65535 bytes",
  permissions: "none",
  fn() {
    assert.throws(() => frameTcp(new Uint8Array(65536)), {
      name: "RangeError",
      message: /65536 bytes, over the limit of 65535/,
    });
  },
});

Deno.test({
  name: "TcpMessageReader.push() returns whole messages fed 1 byte at a time",
  permissions: "none",
  fn() {
    const reader = new TcpMessageReader();
    const stream = concat(...MESSAGES.map(frameTcp));
    const seen: string[] = [];
    for (let at = 0; at < stream.length; at++) {
      seen.push(...feed(reader, [stream.subarray(at, at + 1)]));
      // Nothing is held once a message is out; at most one is in progress.
      assert.ok(reader.buffered <= 302);
    }
    assert.deepEqual(seen, MESSAGES.map(toHex));
    assert.equal(reader.buffered, 0);
  },
});

Deno.test({
  name: "TcpMessageReader.push() returns many messages from one chunk",
  permissions: "none",
  fn() {
    const reader = new TcpMessageReader();
    const stream = concat(...MESSAGES.map(frameTcp), hex("00 05 01 02"));
    assert.deepEqual(feed(reader, [stream]), MESSAGES.map(toHex));
    assert.equal(reader.buffered, 4);
    assert.deepEqual(feed(reader, [hex("03 04 05 00")]), ["01 02 03 04 05"]);
    assert.equal(reader.buffered, 1);
  },
});

Deno.test({
  name: "TcpMessageReader.push() returns the same messages for every split",
  permissions: "none",
  fn() {
    const stream = concat(...MESSAGES.map(frameTcp));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: stream.length }), (size) => {
        const reader = new TcpMessageReader();
        assert.deepEqual(
          feed(reader, pieces(stream, size)),
          MESSAGES.map(toHex),
        );
        assert.equal(reader.buffered, 0);
      }),
    );
  },
});

Deno.test({
  name:
    "TcpMessageReader.push() returns copies the caller's buffer cannot change",
  permissions: "none",
  fn() {
    // A read loop reuses one buffer: the reader must copy what it keeps.
    const reader = new TcpMessageReader();
    const stream = frameTcp(QUERY);
    const scratch = new Uint8Array(stream.length);
    scratch.set(stream.subarray(0, 10));
    assert.deepEqual(reader.push(scratch.subarray(0, 10)), []);
    scratch.fill(0xee);
    scratch.set(stream.subarray(10));
    const messages = reader.push(scratch.subarray(0, stream.length - 10));
    scratch.fill(0xee);
    assert.deepEqual(messages.map(toHex), [toHex(QUERY)]);
  },
});

Deno.test({
  name:
    "TcpMessageReader.push() rejects a length over maxMessage as soon as it is in",
  permissions: "none",
  fn() {
    const reader = new TcpMessageReader(512);
    assert.deepEqual(reader.push(hex("02")), []);
    let caught: unknown;
    try {
      reader.push(hex("01"));
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof DnsFormatError);
    assert.match(caught.message, /length 513 is over the limit of 512 bytes/);
    assert.equal(caught.offset, 0);
    assert.equal(caught.id, undefined);
  },
});

Deno.test({
  name:
    "TcpMessageReader.push() returns messages before a bad length, then throws",
  permissions: "none",
  fn() {
    const reader = new TcpMessageReader(100);
    const stream = concat(frameTcp(QUERY), frameTcp(QUERY), hex("ff ff 00"));
    assert.deepEqual(feed(reader, [stream]), [toHex(QUERY), toHex(QUERY)]);
    assert.ok(reader.failure instanceof DnsFormatError);
    assert.equal(reader.failure.offset, 62);
    assert.throws(() => reader.push(frameTcp(QUERY)), DnsFormatError);
    assert.throws(() => reader.push(new Uint8Array(0)), DnsFormatError);
  },
});

Deno.test({
  name:
    "TcpMessageReader() accepts every length by default and rejects a bad maxMessage",
  permissions: "none",
  fn() {
    const reader = new TcpMessageReader();
    const [message] = reader.push(frameTcp(new Uint8Array(65535)));
    assert.equal(message?.length, 65535);
    assert.throws(() => new TcpMessageReader(-1), TypeError);
    assert.throws(() => new TcpMessageReader(1.5), TypeError);
  },
});
