/**
 * In-process integration tests of the UDP host and client over loopback:
 * one datagram is one frame, each stands alone, bad datagrams are answered
 * with an error frame and the server keeps serving.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Logger } from "../lib/log.ts";
import { RequestTimeoutError, UdpClient } from "../lib/udp_client.ts";
import { UdpServer } from "../lib/udp_server.ts";
import { concat } from "../lib/frame_conn.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import { ERRORS, type Message } from "../protocol/tlv/registry.ts";
import { echoService } from "../roles/echo/service.ts";

function quietLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: new Logger({ name: "udp-server", sink: (l) => lines.push(l) }),
    lines,
  };
}

/** A raw datagram socket on loopback, for sending hand-made datagrams. */
function rawSocket(): Deno.DatagramConn & Disposable {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  return Object.assign(socket, {
    [Symbol.dispose]: () => socket.close(),
  });
}

/**
 * Sends `bytes` to `port` and returns the one datagram that comes back,
 * decoded. Rejects if nothing arrives within `timeoutMs`.
 */
async function exchange(
  socket: Deno.DatagramConn,
  port: number,
  bytes: Uint8Array,
  timeoutMs = 2000,
): Promise<Message> {
  await socket.send(bytes, { transport: "udp", hostname: "127.0.0.1", port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const receiving = socket.receive();
    receiving.catch(() => {}); // after a timeout it rejects when the socket closes
    const [data, from] = await Promise.race([receiving, late]);
    assert.equal((from as Deno.NetAddr).port, port);
    const decoded = decodeFrame(data, 0);
    assert.ok(decoded, "the reply holds a whole frame");
    assert.equal(
      decoded.next,
      data.length,
      "the reply holds exactly one frame",
    );
    return decodeMessage(decoded.frame);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("UdpClient.request() gets an echo_reply from UdpServer with the echo service", async () => {
  const { log } = quietLog();
  await using server = new UdpServer({ service: echoService(), port: 0, log });
  await using client = new UdpClient({ port: server.addr.port });
  const payloads = ["hello", "", "x".repeat(1000)].map((s) =>
    new TextEncoder().encode(s)
  );
  const replies = await Promise.all(
    payloads.map((data) => client.request("echo_request", { data }, 2000)),
  );
  replies.forEach((reply, i) => {
    assert.equal(reply.type, "echo_reply");
    if (reply.type !== "echo_reply") return;
    assert.equal(reply.fields.id, i + 1);
    assert.deepEqual(reply.fields.data, payloads[i]);
  });
});

Deno.test("UdpServer answers a hello datagram with hello_ok and a ping with pong", async () => {
  const { log } = quietLog();
  await using server = new UdpServer({ service: echoService(), port: 0, log });
  using socket = rawSocket();
  const ok = await exchange(
    socket,
    server.addr.port,
    encodeMessage("hello", { version: 1, service: "echo" }),
  );
  assert.equal(ok.type, "hello_ok");
  if (ok.type === "hello_ok") {
    assert.equal(ok.fields.version, 1);
    assert.equal(ok.fields.service, "echo");
    assert.match(ok.fields.agent ?? "", /^socklab\//);
  }
  const pong = await exchange(
    socket,
    server.addr.port,
    encodeMessage("ping", { id: 9 }),
  );
  assert.deepEqual(pong, { type: "pong", fields: { id: 9 } });
});

Deno.test("UdpServer answers garbage datagrams with an error frame and keeps serving", async () => {
  const { log } = quietLog();
  await using server = new UdpServer({ service: echoService(), port: 0, log });
  await using client = new UdpClient({ port: server.addr.port });
  using socket = rawSocket();
  // A first byte >= 0x80 makes the header itself invalid, whatever follows;
  // shorter than a header (even empty) is never a frame either.
  const garbage = fc.oneof(
    fc.uint8Array({ minLength: 6, maxLength: 512 }).map((b) => {
      b[0] = b[0]! | 0x80;
      return b;
    }),
    fc.uint8Array({ minLength: 0, maxLength: 5 }),
  );
  const empty = await exchange(socket, server.addr.port, new Uint8Array(0));
  assert.equal(
    empty.type === "error" && empty.fields.code,
    ERRORS.bad_frame.code,
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(garbage, async (bytes) => {
      runs++;
      const reply = await exchange(socket, server.addr.port, bytes);
      assert.equal(reply.type, "error");
      if (reply.type !== "error") return;
      assert.ok(
        reply.fields.code === ERRORS.bad_frame.code ||
          reply.fields.code === ERRORS.frame_too_large.code,
        `unexpected code ${reply.fields.code}: ${reply.fields.message}`,
      );
      assert.match(reply.fields.message, /^Cannot /);
      const data = new TextEncoder().encode(`still here ${runs}`);
      const echo = await client.request("echo_request", { data }, 2000);
      assert.deepEqual(echo.type === "echo_reply" && echo.fields.data, data);
    }),
    { numRuns: 20 },
  );
});

Deno.test("UdpServer answers a datagram holding two frames with bad_frame", async () => {
  const { log } = quietLog();
  await using server = new UdpServer({ service: echoService(), port: 0, log });
  using socket = rawSocket();
  const one = encodeMessage("echo_request", {
    id: 1,
    data: new Uint8Array([1, 2, 3]),
  });
  const two = encodeMessage("echo_request", {
    id: 2,
    data: new Uint8Array([4]),
  });
  const reply = await exchange(socket, server.addr.port, concat([one, two]));
  assert.equal(reply.type, "error");
  if (reply.type === "error") {
    assert.equal(reply.fields.code, ERRORS.bad_frame.code);
    assert.match(reply.fields.message, /exactly one frame/);
  }
  // Each frame alone is fine.
  const echo = await exchange(socket, server.addr.port, one);
  assert.deepEqual(echo, {
    type: "echo_reply",
    fields: { id: 1, data: new Uint8Array([1, 2, 3]) },
  });
});

Deno.test("UdpClient.request() rejects with RemoteError when the service refuses the message", async () => {
  const { log } = quietLog();
  await using server = new UdpServer({ service: echoService(), port: 0, log });
  await using client = new UdpClient({ port: server.addr.port });
  const error = await client.request(
    "calc_request",
    { expression: "1+1" },
    2000,
  )
    .then(
      (m) => assert.fail(`answered ${JSON.stringify(m)}`),
      (e: unknown) => e,
    );
  assert.ok(error instanceof RemoteError, String(error));
  assert.equal(error.codeName, "unexpected_message");
});

Deno.test("UdpClient.request() rejects with RequestTimeoutError when nothing listens", async () => {
  // Bind to learn a free port, then free it: nothing listens there now.
  const probe = rawSocket();
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await using client = new UdpClient({ port });
  const started = performance.now();
  await assert.rejects(
    client.request("echo_request", { data: new Uint8Array([1]) }, 200),
    (error: unknown) => {
      assert.ok(error instanceof RequestTimeoutError, String(error));
      assert.match(error.message, /within 200 ms/);
      return true;
    },
  );
  assert.ok(performance.now() - started >= 150);
});

Deno.test("UdpServer.shutdown() closes the socket and resolves finished", async () => {
  const { log } = quietLog();
  const server = new UdpServer({ service: echoService(), port: 0, log });
  await using client = new UdpClient({ port: server.addr.port });
  const ok = await client.request(
    "echo_request",
    { data: new Uint8Array() },
    2000,
  );
  assert.equal(ok.type, "echo_reply");
  let finished = false;
  server.finished.then(() => (finished = true));
  await server.shutdown();
  assert.ok(finished);
  await assert.rejects(
    client.request("echo_request", { data: new Uint8Array() }, 200),
    RequestTimeoutError,
  );
});
