/**
 * In-process integration tests of the TLV server host (`lib/server.ts`)
 * over real loopback sockets: bad input, limits, idle timeout, hello
 * handshake, HTTP and unknown messages, the connection cap, graceful
 * shutdown, backpressure and `--trace`.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { connectTlv, type TlvClient } from "../lib/client.ts";
import { concat } from "../lib/frame_conn.ts";
import { Logger, type LogLevel } from "../lib/log.ts";
import { type Session, TlvServer, type TlvService } from "../lib/server.ts";
import { Tracer } from "../lib/trace.ts";
import { hexDump } from "../protocol/tlv/describe.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import {
  type ErrorName,
  ERRORS,
  type Message,
} from "../protocol/tlv/registry.ts";
import { calcService } from "../roles/calc/service.ts";
import { echoService } from "../roles/echo/service.ts";
import {
  decodeAll,
  readMessages,
  readToEnd,
  within,
  writeAll,
} from "./_raw_peer.ts";
import { HttpServer } from "../lib/http_server.ts";
import { UdpServer } from "../lib/udp_server.ts";

// ---------------------------------------------------------------- helpers

/** A logger that collects its lines and lets a test wait for one. */
class LogCollector {
  readonly lines: string[] = [];
  readonly log: Logger;
  #waiters = new Set<() => void>();

  constructor(level: LogLevel = "info") {
    this.log = new Logger({
      name: "test-server",
      level,
      sink: (line) => {
        this.lines.push(line);
        for (const w of this.#waiters) w();
      },
    });
  }

  /** Resolves with the first line matching `pattern`, seen or yet to come. */
  waitFor(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const found = () => this.lines.find((l) => pattern.test(l));
    const now = found();
    if (now !== undefined) return Promise.resolve(now);
    const { promise, resolve } = Promise.withResolvers<string>();
    const check = () => {
      const line = found();
      if (line !== undefined) resolve(line);
    };
    this.#waiters.add(check);
    return within(promise, timeoutMs, `a log line matching ${pattern}`)
      .finally(() => this.#waiters.delete(check));
  }
}

/** Asserts `message` is an error frame with code `name`; returns its fields. */
function assertError(
  message: Message | undefined,
  name: ErrorName,
): { id?: number; code: number; message: string; column?: number } {
  assert.equal(message?.type, "error", JSON.stringify(message));
  if (message?.type !== "error") throw new Error("unreachable");
  assert.equal(
    message.fields.code,
    ERRORS[name].code,
    `expected ${name}, got code ${message.fields.code}: ${message.fields.message}`,
  );
  return message.fields;
}

/** `host:port` of the local end of a connection, as the server logs it. */
function localPeer(conn: Deno.Conn): string {
  const addr = conn.localAddr as Deno.NetAddr;
  return `${addr.hostname}:${addr.port}`;
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const calcHello = () => encodeMessage("hello", { version: 1, service: "calc" });
const echoHello = () => encodeMessage("hello", { version: 1, service: "echo" });

async function assertCalcWorks(
  client: TlvClient,
  expression = "6*7",
  value = 42,
): Promise<void> {
  const answer = await client.request("calc_request", { expression });
  assert.equal(answer.type, "calc_result");
  assert.equal(answer.type === "calc_result" && answer.fields.value, value);
}

// ---------------------------------------------------------------- bad input

Deno.test("TlvServer answers garbage with bad_frame or frame_too_large and closes, while another client keeps being served", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  await using other = await connectTlv({
    port: server.addr.port,
    service: "calc",
  });
  // A first byte >= 0x80 is neither an HTTP method, a TLS record nor a
  // message type, so whatever follows, the header alone is fatal.
  const garbage = fc.uint8Array({ minLength: 6, maxLength: 64 }).map((b) => {
    b[0] = b[0]! | 0x80;
    return b;
  });
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(garbage, async (bytes) => {
      runs++;
      using conn = await Deno.connect({ port: server.addr.port });
      await writeAll(conn, bytes);
      const { messages, rest } = decodeAll(await readToEnd(conn));
      assert.equal(rest, 0);
      assert.equal(messages.length, 1);
      const error = messages[0];
      assert.equal(error?.type, "error");
      if (error?.type !== "error") return;
      assert.ok(
        error.fields.code === ERRORS.bad_frame.code ||
          error.fields.code === ERRORS.frame_too_large.code,
        `unexpected code ${error.fields.code}: ${error.fields.message}`,
      );
      assert.match(error.fields.message, /^Cannot /);
      // The well-behaved client is unaffected.
      await assertCalcWorks(other, `${runs}+1`, runs + 1);
    }),
    { numRuns: 20 },
  );
  assert.ok(logs.lines.some((l) => /closing connection .*reason=/.test(l)));
  assert.equal(server.connections, 1);
});

Deno.test("TlvServer answers an oversize length header with frame_too_large and closes without waiting for the body", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
    // Far longer than the test: only the header can have closed it.
    idleTimeoutMs: 60_000,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  await writeAll(conn, calcHello());
  const [ok] = await readMessages(conn, 1);
  assert.equal(ok?.type, "hello_ok");
  const started = performance.now();
  await writeAll(conn, new Uint8Array([0x02, 0x00, 0xff, 0xff, 0xff, 0xff]));
  const { messages, rest } = decodeAll(await readToEnd(conn, 2000));
  const elapsed = performance.now() - started;
  assert.equal(rest, 0);
  assert.equal(messages.length, 1);
  const error = assertError(messages[0], "frame_too_large");
  assert.match(error.message, /4294967295/);
  assert.match(error.message, /1048576/);
  assert.ok(elapsed < 2000, `closed after ${elapsed} ms`);
  await logs.waitFor(/closing connection .*reason=frame_too_large/);
});

Deno.test("TlvServer ends a connection that disconnects mid-frame and keeps serving others", async () => {
  const logs = new LogCollector("debug");
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  await using other = await connectTlv({
    port: server.addr.port,
    service: "calc",
  });
  const conn = await Deno.connect({ port: server.addr.port });
  const peer = localPeer(conn);
  await writeAll(conn, calcHello());
  const [ok] = await readMessages(conn, 1);
  assert.equal(ok?.type, "hello_ok");
  assert.equal(server.connections, 2);
  const request = encodeMessage("calc_request", { id: 1, expression: "1+2" });
  await writeAll(conn, request.subarray(0, 10));
  conn.close();
  await logs.waitFor(
    new RegExp(`connection closed peer=${escapeRe(peer)}$`),
  );
  // A round trip on the other connection lets the host finish its
  // bookkeeping for the closed one.
  await assertCalcWorks(other);
  assert.equal(server.connections, 1);
  assert.ok(
    !logs.lines.some((l) => l.startsWith("ERROR")),
    logs.lines.join("\n"),
  );
});

// ---------------------------------------------------------------- idle timeout

Deno.test("TlvServer closes a silent connection after idleTimeoutMs with an idle_timeout error frame", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
    idleTimeoutMs: 300,
  });
  const started = performance.now();
  using conn = await Deno.connect({ port: server.addr.port });
  const { messages, rest } = decodeAll(await readToEnd(conn, 3000));
  const elapsed = performance.now() - started;
  assert.equal(rest, 0);
  assert.equal(messages.length, 1);
  const error = assertError(messages[0], "idle_timeout");
  assert.match(error.message, /300 ms/);
  assert.ok(elapsed >= 250, `closed after only ${elapsed} ms`);
  await logs.waitFor(/closing idle connection .*idle_ms=300/);
});

Deno.test("TlvServer keeps a connection open while it pings within idleTimeoutMs", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
    idleTimeoutMs: 400,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "calc",
  });
  const started = performance.now();
  // Pacing is what is under test here: ten pings 100 ms apart span well
  // over twice the idle timeout.
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pong = await client.request("ping", {});
    assert.equal(pong.type, "pong");
  }
  assert.ok(performance.now() - started > 800);
  await assertCalcWorks(client);
  assert.equal(server.connections, 1);
  assert.ok(!logs.lines.some((l) => l.includes("idle")), logs.lines.join("\n"));
});

// ---------------------------------------------------------------- hello

Deno.test("TlvServer answers a first frame that is not a hello with hello_required and closes", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  await writeAll(
    conn,
    encodeMessage("calc_request", { id: 5, expression: "1+1" }),
  );
  const { messages } = decodeAll(await readToEnd(conn));
  assert.equal(messages.length, 1);
  const error = assertError(messages[0], "hello_required");
  assert.match(error.message, /calc_request/);
});

Deno.test("TlvServer answers an undecodable first frame with hello_required and closes", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  // A well-framed message of a type nobody knows, carrying an id.
  await writeAll(
    conn,
    new Uint8Array([0x77, 0x77, 0, 0, 0, 10, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9]),
  );
  const { messages } = decodeAll(await readToEnd(conn));
  assert.equal(messages.length, 1);
  const error = assertError(messages[0], "hello_required");
  assert.match(error.message, /unknown type 0x7777/);
  assert.equal(error.id, 9);
});

Deno.test("TlvServer answers a hello with protocol version 2 with version_unsupported and closes", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  await writeAll(conn, encodeMessage("hello", { version: 2, service: "calc" }));
  const { messages } = decodeAll(await readToEnd(conn));
  assert.equal(messages.length, 1);
  const error = assertError(messages[0], "version_unsupported");
  assert.match(error.message, /version 2/);
});

Deno.test("connectTlv() rejects with RemoteError wrong_service listing what the server offers", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  const error = await connectTlv({ port: server.addr.port, service: "echo" })
    .then(
      async (c) => {
        await c.close();
        assert.fail("hello to the wrong service was accepted");
      },
      (e: unknown) => e,
    );
  assert.ok(error instanceof RemoteError, String(error));
  assert.equal(error.codeName, "wrong_service");
  assert.match(error.message, /offers calc/);
  assert.match(error.message, /"echo"/);
  await logs.waitFor(/closing connection .*reason=wrong_service/);
});

// ---------------------------------------------------------------- other protocols

Deno.test("TlvServer answers an HTTP request with HTTP/1.1 400 naming the socklab TLV protocol", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  await writeAll(
    conn,
    new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
  );
  const text = new TextDecoder().decode(await readToEnd(conn));
  assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/);
  const [head = "", body = ""] = text.split("\r\n\r\n");
  const length = head.match(/\r\nContent-Length: (\d+)/i)?.[1];
  assert.equal(Number(length), new TextEncoder().encode(body).length);
  assert.match(body, /socklab TLV protocol/);
  assert.match(body, /calc/);
  await logs.waitFor(/HTTP request on a TLV port/);
});

Deno.test("TlvServer answers unknown types with unknown_type and foreign messages with unexpected_message, keeping the connection", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  const unknownWithId = encodeMessage("ping", { id: 42 });
  unknownWithId.set([0x07, 0x77], 0);
  const unknownWithoutId = encodeMessage("ping", {});
  unknownWithoutId.set([0x07, 0x78], 0);
  await writeAll(
    conn,
    concat([
      calcHello(),
      unknownWithId,
      unknownWithoutId,
      encodeMessage("echo_request", { id: 43, data: new Uint8Array([1]) }),
      encodeMessage("calc_request", { id: 44, expression: "2+2" }),
    ]),
  );
  const [ok, a, b, c, d] = await readMessages(conn, 5);
  assert.equal(ok?.type, "hello_ok");
  const unknown = assertError(a, "unknown_type");
  assert.equal(unknown.id, 42);
  assert.match(unknown.message, /0777/);
  const unknown2 = assertError(b, "unknown_type");
  assert.equal(unknown2.id, undefined);
  const unexpected = assertError(c, "unexpected_message");
  assert.equal(unexpected.id, 43);
  assert.match(unexpected.message, /echo_request/);
  assert.deepEqual(d, {
    type: "calc_result",
    fields: { id: 44, value: 4, text: "4" },
  });
  assert.equal(server.connections, 1);
});

// ---------------------------------------------------------------- connection cap

Deno.test("TlvServer refuses connections over maxConnections with server_busy and accepts again once one closes", async () => {
  const logs = new LogCollector("debug");
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
    maxConnections: 2,
  });
  const port = server.addr.port;
  const a = await connectTlv({ port, service: "calc" });
  await using b = await connectTlv({ port, service: "calc" });
  assert.equal(server.connections, 2);

  {
    using third = await Deno.connect({ port });
    const { messages } = decodeAll(await readToEnd(third));
    assert.equal(messages.length, 1);
    const error = assertError(messages[0], "server_busy");
    assert.match(error.message, /limit of 2 connections/);
  }
  const busy = await connectTlv({ port, service: "calc" }).then(
    async (c) => {
      await c.close();
      assert.fail("a third connection was accepted");
    },
    (e: unknown) => e,
  );
  assert.ok(busy instanceof RemoteError, String(busy));
  assert.equal(busy.codeName, "server_busy");
  await logs.waitFor(/connection refused: at the connection limit/);

  const peerA = localPeer(a.fc.conn);
  await a.close();
  await logs.waitFor(new RegExp(`connection closed peer=${escapeRe(peerA)}$`));
  await using c = await connectTlv({ port, service: "calc" });
  await assertCalcWorks(c);
  await assertCalcWorks(b);
  assert.equal(server.connections, 2);
});

// ---------------------------------------------------------------- shutdown

/** An echo service whose handler waits for the test to let it answer. */
function gatedEcho(): {
  service: TlvService;
  started: Promise<void>;
  release: () => void;
} {
  const started = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  return {
    service: {
      name: "echo",
      async handle(message: Message, session: Session): Promise<void> {
        if (message.type !== "echo_request") return;
        started.resolve();
        await gate.promise;
        session.send("echo_reply", message.fields);
      },
    },
    started: started.promise,
    release: () => gate.resolve(),
  };
}

Deno.test("TlvServer.shutdown() closes idle connections, stops accepting and resolves finished", async () => {
  const logs = new LogCollector();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  const port = server.addr.port;
  await using client = await connectTlv({ port, service: "calc" });
  await assertCalcWorks(client);
  using raw = await Deno.connect({ port });
  await writeAll(raw, calcHello());
  await readMessages(raw, 1);

  let finished = false;
  server.finished.then(() => (finished = true));
  await within(server.shutdown(), 3000, "shutdown");
  assert.ok(finished);
  assert.equal(server.connections, 0);
  // The raw peer is told why, then sees the connection end.
  const last = await readToEnd(raw, 2000);
  const told = decodeFrame(last, 0);
  assert.ok(told !== undefined && told.next === last.length);
  const farewell = decodeMessage(told.frame);
  assert.equal(farewell.type, "error");
  assert.equal(
    farewell.type === "error" && farewell.fields.code,
    ERRORS.shutting_down.code,
  );
  await assertShutDown(client);
  // The listener is closed: the accept loop has ended.
  await assert.rejects(
    Deno.connect({ port }),
    Deno.errors.ConnectionRefused,
  );
  // Idempotent.
  await within(server.shutdown(), 1000, "a second shutdown");
});

Deno.test("TlvServer.shutdown() lets an in-flight async handler finish and delivers its answer before closing", async () => {
  const logs = new LogCollector();
  const gated = gatedEcho();
  await using server = new TlvServer({
    services: [gated.service],
    port: 0,
    log: logs.log,
  });
  const client = await connectTlv({ port: server.addr.port, service: "echo" });
  try {
    const data = new TextEncoder().encode("in flight");
    const answer = client.request("echo_request", { data });
    answer.catch(() => {}); // awaited below; a failure must not go unhandled
    await within(gated.started, 2000, "the handler to start");
    const shutdown = server.shutdown();
    let finished = false;
    shutdown.then(() => (finished = true));
    // New work during shutdown is refused with an error frame...
    const late = await client.request("echo_request", { data }).then(
      () => assert.fail("a request was accepted during shutdown"),
      (e: unknown) => e,
    );
    assert.ok(late instanceof RemoteError, String(late));
    assert.equal(late.codeName, "shutting_down");
    assert.equal(finished, false);
    // ...while the request already in flight still gets its answer.
    gated.release();
    const reply = await within(answer, 2000, "the in-flight answer");
    assert.equal(reply.type, "echo_reply");
    assert.deepEqual(reply.type === "echo_reply" && reply.fields.data, data);
    await within(shutdown, 3000, "shutdown");
    assert.equal(server.connections, 0);
  } finally {
    await client.close();
  }
});

Deno.test("TlvServer[Symbol.asyncDispose]() shuts the server down", async () => {
  const logs = new LogCollector();
  let port: number;
  let finished = false;
  let client: TlvClient;
  {
    await using server = new TlvServer({
      services: [calcService()],
      port: 0,
      log: logs.log,
    });
    port = server.addr.port;
    server.finished.then(() => (finished = true));
    client = await connectTlv({ port, service: "calc" });
    await assertCalcWorks(client);
  }
  try {
    assert.ok(finished);
    await assertShutDown(client);
    await assert.rejects(
      Deno.connect({ port }),
      Deno.errors.ConnectionRefused,
    );
  } finally {
    await client.close();
  }
});

Deno.test("TlvServer shuts down when its signal is aborted", async () => {
  const logs = new LogCollector();
  const controller = new AbortController();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
    signal: controller.signal,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "calc",
  });
  await assertCalcWorks(client);
  controller.abort();
  await within(server.finished, 3000, "finished after abort");
  assert.equal(server.connections, 0);
  await assertShutDown(client);
});

/** A client of a server that shut down was told so, and can send no more. */
async function assertShutDown(client: TlvClient): Promise<void> {
  await assert.rejects(
    client.request("calc_request", { expression: "1" }),
    (e) => e instanceof RemoteError && e.codeName === "shutting_down",
  );
}

// ---------------------------------------------------------------- backpressure

Deno.test("TlvServer stops reading from a client that pipelines without reading its answers", async () => {
  const logs = new LogCollector();
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const total = 1024; // 64 MiB of requests: more than every socket buffer on the path
  let handled = 0;
  let quietTimer: ReturnType<typeof setTimeout> | undefined;
  const quiet = Promise.withResolvers<void>();
  const rearm = () => {
    clearTimeout(quietTimer);
    quietTimer = setTimeout(quiet.resolve, 300);
  };
  const echo = echoService();
  const counting: TlvService = {
    name: "echo",
    handle(message, session) {
      handled++;
      rearm();
      return echo.handle(message, session);
    },
  };
  await using server = new TlvServer({
    services: [counting],
    port: 0,
    log: logs.log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  const frame = encodeMessage("echo_request", { id: 1, data: chunk });
  const payload = new Uint8Array(echoHello().length + frame.length * total);
  payload.set(echoHello(), 0);
  for (let i = 0; i < total; i++) {
    frame.set([0, 0, (i + 1) >>> 8, (i + 1) & 0xff], 12); // the id field's value
    payload.set(frame, echoHello().length + i * frame.length);
  }
  let allWritten = false;
  rearm();
  const writing = writeAll(conn, payload).then(() => (allWritten = true));
  try {
    // Wait until the server has stopped handling requests for a while (or
    // the client managed to write everything, which would be the bug).
    await within(
      Promise.race([quiet.promise, writing]),
      20_000,
      "the server to stop reading",
    );
    const stalledAt = handled;
    assert.equal(
      allWritten,
      false,
      `the server took all ${payload.length} bytes without them being read back`,
    );
    assert.ok(
      stalledAt < total / 2,
      `the server handled ${stalledAt} of ${total} requests before any answer was read`,
    );
    // Now read: everything flows again and every request is answered once.
    const buffer = new Uint8Array(256 * 1024);
    let pending: Uint8Array = new Uint8Array(0);
    let replies = 0;
    let sawHello = false;
    const drain = async () => {
      while (replies < total) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error(`closed after ${replies} replies`);
        pending = pending.length === 0
          ? buffer.subarray(0, n)
          : concat([pending, buffer.subarray(0, n)]);
        let at = 0;
        for (;;) {
          const decoded = decodeFrame(pending, at);
          if (decoded === undefined) break;
          const message = decodeMessage(decoded.frame);
          at = decoded.next;
          if (message.type === "hello_ok") {
            sawHello = true;
            continue;
          }
          assert.equal(message.type, "echo_reply");
          if (message.type !== "echo_reply") continue;
          assert.equal(message.fields.id, ++replies);
          assert.equal(message.fields.data.length, chunk.length);
        }
        pending = pending.slice(at);
      }
    };
    await within(drain(), 20_000, "all replies");
    await writing;
    assert.ok(sawHello);
    assert.equal(handled, total);
  } finally {
    clearTimeout(quietTimer);
  }
});

// ---------------------------------------------------------------- trace

Deno.test("Tracer on TlvServer and connectTlv() prints every frame sent and received", async () => {
  const logs = new LogCollector();
  const serverTrace: string[] = [];
  const clientTrace: string[] = [];
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
    tracer: new Tracer("frames", (l) => serverTrace.push(l)),
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "calc",
    tracer: new Tracer("frames", (l) => clientTrace.push(l)),
  });
  await assertCalcWorks(client, "1+2", 3);
  const peer = escapeRe(localPeer(client.fc.conn));
  const serverAddr = escapeRe(`127.0.0.1:${server.addr.port}`);
  const expectLines = (lines: string[], patterns: RegExp[]) => {
    for (const p of patterns) {
      assert.ok(
        lines.some((l) => p.test(l)),
        `no line matches ${p}:\n${lines.join("\n")}`,
      );
    }
  };
  expectLines(serverTrace, [
    new RegExp(`^← ${peer} hello version=1 service="calc" agent="socklab/`),
    new RegExp(`^→ ${peer} hello_ok version=1 service="calc" .*limits\\{`),
    new RegExp(`^← ${peer} calc_request id=1 expression="1\\+2"$`),
    new RegExp(`^→ ${peer} calc_result id=1 value=3 text="3"$`),
  ]);
  expectLines(clientTrace, [
    new RegExp(`^→ ${serverAddr} hello version=1 service="calc"`),
    new RegExp(`^← ${serverAddr} hello_ok `),
    new RegExp(`^→ ${serverAddr} calc_request id=1 expression="1\\+2"$`),
    new RegExp(`^← ${serverAddr} calc_result id=1 value=3 text="3"$`),
  ]);
  assert.ok(serverTrace.every((l) => !l.includes("\n")));
});

Deno.test("Tracer in hex mode adds a hex dump of each frame", async () => {
  const logs = new LogCollector();
  const trace: string[] = [];
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
    tracer: new Tracer("hex", (l) => trace.push(l)),
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "calc",
  });
  await assertCalcWorks(client, "1+2", 3);
  const request = trace.find((l) => l.includes(" calc_request id=1 "));
  assert.ok(request, trace.join("\n"));
  const [summary, ...dump] = request.split("\n");
  assert.match(summary!, /^← .* calc_request id=1 expression="1\+2"$/);
  const bytes = encodeMessage("calc_request", { id: 1, expression: "1+2" });
  assert.equal(dump.join("\n"), hexDump(bytes));
  assert.match(
    dump[0]!,
    /^0000 {2}02 00 00 00 00 13 00 01 00 00 00 04 00 00 00 01/,
  );
});

Deno.test("TlvServer, HttpServer and UdpServer stop at once when their signal is already aborted", async () => {
  const logs = new LogCollector();
  const signal = AbortSignal.abort();
  const servers = [
    new TlvServer({
      services: [calcService()],
      port: 0,
      log: logs.log,
      signal,
    }),
    new HttpServer({ handler: () => ({ status: 204 }), log: logs.log, signal }),
    new UdpServer({ service: echoService(), log: logs.log, signal }),
  ];
  await within(
    Promise.all(servers.map((s) => s.finished)),
    2000,
    "every server to stop",
  );
  await assert.rejects(
    Deno.connect({ port: servers[0]!.addr.port }),
    Deno.errors.ConnectionRefused,
  );
});
