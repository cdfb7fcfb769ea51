/**
 * The connection writer and reader under the server host and client:
 * frames encoded into reused batch buffers come out whole and in order,
 * whatever mix of sizes, and a grown read buffer hands its frames over.
 */

import assert from "node:assert/strict";
import { FrameConnection } from "../lib/frame_conn.ts";
import { decodeMessage } from "../protocol/tlv/message.ts";
import type { Message } from "../protocol/tlv/registry.ts";

/** A connected pair of TCP connections on loopback. */
async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn] & AsyncDisposable> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  return Object.assign([a, b] as [Deno.TcpConn, Deno.TcpConn], {
    async [Symbol.asyncDispose]() {
      for (const c of [a, b]) {
        try {
          c.close();
        } catch {
          // closed by the FrameConnection already
        }
      }
      await Promise.resolve();
    },
  });
}

function pattern(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => (i * 31 + seed) & 0xff);
}

/** Reads messages until `count` have arrived. */
async function receive(fc: FrameConnection, count: number): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < count) {
    const frames = await fc.readFrames();
    assert.ok(frames !== null, `the stream ended after ${out.length}`);
    for (const frame of frames) out.push(decodeMessage(frame));
  }
  return out;
}

Deno.test("frames of every size leave in order and whole, batched or alone", async () => {
  await using conns = await pair();
  const sender = new FrameConnection(conns[0]);
  const receiver = new FrameConnection(conns[1], {
    maxReadBufferSize: 256 * 1024,
  });
  // Small, batch-sized and over-a-batch frames, interleaved, some queued
  // in one turn and some after the writer has started.
  const sizes = [0, 10, 4000, 5000, 65_536, 3, 300_000, 65_536, 65_536, 1];
  const sent: Uint8Array[] = [];
  for (const [i, size] of sizes.entries()) {
    const data = pattern(size, i);
    sent.push(data);
    sender.send("echo_request", { id: i, data });
    if (i % 3 === 2) await Promise.resolve();
  }
  sender.send("ping", { id: 99 });
  const scratch = new Uint8Array(70_000);
  // The caller may reuse its buffer as soon as send() returns.
  for (let i = 0; i < 20; i++) {
    scratch.fill(i);
    sender.send("echo_request", { id: 100 + i, data: scratch });
    scratch.fill(0xff);
  }
  const got = await receive(receiver, sizes.length + 21);
  for (const [i, data] of sent.entries()) {
    const message = got[i]!;
    assert.equal(message.type, "echo_request");
    if (message.type !== "echo_request") continue;
    assert.equal(message.fields.id, i);
    assert.deepEqual(message.fields.data, data, `frame ${i}`);
  }
  assert.deepEqual(got[sizes.length], { type: "ping", fields: { id: 99 } });
  for (let i = 0; i < 20; i++) {
    const message = got[sizes.length + 1 + i]!;
    assert.ok(message.type === "echo_request");
    assert.equal(message.fields.id, 100 + i);
    assert.ok(message.fields.data.every((b) => b === i), `copy ${i}`);
  }
  await sender.drained();
  assert.equal(sender.pendingBytes, 0);
  sender.close();
  receiver.close();
});

Deno.test("drained(below) resolves once the queue is that small", async () => {
  await using conns = await pair();
  const sender = new FrameConnection(conns[0]);
  const receiver = new FrameConnection(conns[1]);
  // 32 MiB: more than the kernel's socket buffers take without a reader.
  const data = pattern(65_536, 1);
  for (let i = 0; i < 512; i++) sender.send("echo_request", { id: i, data });
  const queued = sender.pendingBytes;
  const below = queued / 4;
  // Resolving early would find more than `below` still queued.
  const waiting = sender.drained(below).then(() => {
    assert.ok(sender.pendingBytes <= below, `${sender.pendingBytes} queued`);
  });
  assert.ok(sender.pendingBytes > below, "nothing can be written yet");
  const reading = receive(receiver, 512);
  await waiting;
  await sender.drained();
  assert.equal((await reading).length, 512);
  sender.close();
  receiver.close();
});

Deno.test("a TCP connection is set to no-delay (frames are coalesced here)", () => {
  const calls: boolean[] = [];
  const fake = {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    setNoDelay(on: boolean) {
      calls.push(on);
    },
    close() {},
  } as unknown as Deno.Conn;
  const fc = new FrameConnection(fake);
  assert.deepEqual(calls, [true]);
  fc.close();
});
