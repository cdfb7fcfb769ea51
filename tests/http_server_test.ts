/**
 * In-process integration tests of the HTTP/1.1 server host
 * (`lib/http_server.ts`) over real loopback sockets. Clients are raw
 * `Deno.connect` sockets, so every test sends exactly the bytes it means,
 * and responses are read by the test's own parser (`HttpResponseReader`),
 * not by the server's codec; `fetch` is used only for TLS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { concat } from "../lib/frame_conn.ts";
import {
  type AccessEntry,
  HttpError,
  type HttpHandler,
  HttpServer,
  type HttpServerOptions,
} from "../lib/http_server.ts";
import { Logger } from "../lib/log.ts";
import { combinedLogLine } from "../roles/web/server.ts";
import {
  HttpResponseReader,
  type RawHttpResponse,
  within,
  writeAll,
} from "./_raw_peer.ts";
import { ROOT, tempDir } from "./_util.ts";

// ---------------------------------------------------------------- helpers

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A logger that keeps its lines instead of writing to stderr. */
function collectingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: new Logger({ name: "http-test", sink: (line) => lines.push(line) }),
    lines,
  };
}

/**
 * The handler most tests use: records `METHOD target` of every request it
 * sees; `/echo` answers with the request body, `/ignore` never reads the
 * body, anything else answers `METHOD target`.
 */
function basicHandler(seen: string[] = []): HttpHandler {
  return async (request) => {
    seen.push(`${request.method} ${request.target}`);
    if (request.path === "/echo") {
      return { status: 200, body: await request.bytes() };
    }
    return {
      status: 200,
      headers: [["content-type", "text/plain; charset=utf-8"]],
      body: `${request.method} ${request.target}`,
    };
  };
}

/** A server on a free loopback port with a quiet log. */
function serve(
  options: Partial<HttpServerOptions> = {},
  seen: string[] = [],
): HttpServer {
  return new HttpServer({
    handler: basicHandler(seen),
    log: collectingLog().log,
    ...options,
  });
}

/** A raw socket client with a response reader; closes itself on dispose. */
class RawClient implements Disposable {
  readonly conn: Deno.TcpConn;
  readonly reader: HttpResponseReader;

  private constructor(conn: Deno.TcpConn, timeoutMs: number) {
    this.conn = conn;
    this.reader = new HttpResponseReader(conn, { timeoutMs });
  }

  static async connect(
    server: { addr: Deno.NetAddr },
    timeoutMs = 5000,
  ): Promise<RawClient> {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    return new RawClient(conn, timeoutMs);
  }

  send(data: string | Uint8Array): Promise<void> {
    return writeAll(
      this.conn,
      typeof data === "string" ? encoder.encode(data) : data,
    );
  }

  read(options: { head?: boolean } = {}): Promise<RawHttpResponse> {
    return this.reader.read(options);
  }

  expectEnd(): Promise<void> {
    return this.reader.expectEnd();
  }

  [Symbol.dispose](): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** An HTTP/1.1 GET for `path` with Host and any `extra` header lines. */
function get(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
}

function text(response: RawHttpResponse): string {
  return decoder.decode(response.body);
}

/** Resolves after `ms`: only for pacing a client whose slowness is under test. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Proves the server still answers: a fresh client gets 200 for GET /ok. */
async function assertStillServes(server: HttpServer): Promise<void> {
  using client = await RawClient.connect(server);
  await client.send(get("/ok", "Connection: close\r\n"));
  const response = await client.read();
  assert.equal(response.status, 200);
  assert.equal(text(response), "GET /ok");
  await client.expectEnd();
}

/** Bytes whose every 4-byte word is its own index: misplaced bytes show. */
function pattern(size: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = i;
  return new Uint8Array(words.buffer, 0, size);
}

// ------------------------------------------------- persistent connections

Deno.test("HttpServer answers two requests in turn on one kept-alive connection", async () => {
  const seen: string[] = [];
  await using server = serve({}, seen);
  using client = await RawClient.connect(server);
  await client.send(get("/first"));
  const first = await client.read();
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("connection"), null);
  assert.equal(text(first), "GET /first");
  await client.send(get("/second"));
  const second = await client.read();
  assert.equal(second.status, 200);
  assert.equal(text(second), "GET /second");
  assert.deepEqual(seen, ["GET /first", "GET /second"]);
});

Deno.test("HttpServer answers three pipelined requests sent in one write in order", async () => {
  await using server = serve();
  using client = await RawClient.connect(server);
  await client.send(get("/1") + get("/2") + get("/3", "Connection: close\r\n"));
  const bodies = [];
  for (let i = 0; i < 3; i++) bodies.push(text(await client.read()));
  assert.deepEqual(bodies, ["GET /1", "GET /2", "GET /3"]);
  await client.expectEnd();
});

Deno.test("HttpServer honours Connection: close by saying so and closing after the response", async () => {
  const seen: string[] = [];
  await using server = serve({}, seen);
  using client = await RawClient.connect(server);
  // The request after the one asking to close must never be answered.
  await client.send(get("/bye", "Connection: close\r\n") + get("/never"));
  const response = await client.read();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("connection"), "close");
  await client.expectEnd();
  assert.deepEqual(seen, ["GET /bye"]);
});

Deno.test("HttpServer closes an HTTP/1.0 connection by default and keeps it with Connection: keep-alive", async () => {
  await using server = serve();
  {
    using client = await RawClient.connect(server);
    await client.send("GET /old HTTP/1.0\r\n\r\n");
    const response = await client.read();
    assert.equal(response.status, 200);
    assert.equal(text(response), "GET /old");
    assert.equal(response.headers.get("connection"), "close");
    await client.expectEnd();
  }
  using client = await RawClient.connect(server);
  await client.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const first = await client.read();
  assert.equal(first.headers.get("connection"), "keep-alive");
  assert.equal(text(first), "GET /a");
  await client.send("GET /b HTTP/1.0\r\n\r\n");
  const second = await client.read();
  assert.equal(text(second), "GET /b");
  assert.equal(second.headers.get("connection"), "close");
  await client.expectEnd();
});

Deno.test("HttpServer answers HEAD with the headers of GET, Content-Length included, and no body", async () => {
  await using server = serve({
    handler: () => ({
      status: 200,
      headers: [["content-type", "text/plain"]],
      body: "twelve bytes",
    }),
  });
  using client = await RawClient.connect(server);
  // A GET right behind the HEAD: a stray body would be read as its response.
  await client.send(
    `HEAD /x HTTP/1.1\r\nHost: test\r\n\r\n` +
      get("/x", "Connection: close\r\n"),
  );
  const head = await client.read({ head: true });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "12");
  assert.equal(head.headers.get("content-type"), "text/plain");
  const body = await client.read();
  assert.equal(body.status, 200);
  assert.equal(text(body), "twelve bytes");
  await client.expectEnd();
});

Deno.test("HttpServer answers an HTTP/1.1 request without Host with 400 and closes", async () => {
  const seen: string[] = [];
  await using server = serve({}, seen);
  using client = await RawClient.connect(server);
  await client.send("GET / HTTP/1.1\r\n\r\n");
  const response = await client.read();
  assert.equal(response.status, 400);
  assert.match(text(response), /Host/);
  await client.expectEnd();
  assert.deepEqual(seen, []);
});

// ---------------------------------------------------------------- bad input

const BAD_INPUT: {
  name: string;
  options?: Partial<HttpServerOptions>;
  request: string;
  status: number;
}[] = [
  {
    name: "a malformed request line with 400",
    request: "GET  / HTTP/1.1\r\nHost: test\r\n\r\n",
    status: 400,
  },
  {
    name: "an unknown method (BREW) with 501",
    request: "BREW /pot HTTP/1.1\r\nHost: test\r\n\r\n",
    status: 501,
  },
  {
    name: "HTTP/2.0 with 505",
    request: "GET / HTTP/2.0\r\nHost: test\r\n\r\n",
    status: 505,
  },
  {
    name: "HTTP/3 with 505",
    request: "GET / HTTP/3\r\nHost: test\r\n\r\n",
    status: 505,
  },
  {
    name: "a header section over the limit with 431",
    options: { limits: { maxHeaderBytes: 1024 } },
    request: `GET / HTTP/1.1\r\nHost: test\r\nX-Big: ${
      "a".repeat(2000)
    }\r\n\r\n`,
    status: 431,
  },
  {
    name: "a request line over the limit with 414",
    options: { limits: { maxRequestLine: 256 } },
    request: `GET /${"a".repeat(1000)} HTTP/1.1\r\nHost: test\r\n\r\n`,
    status: 414,
  },
  {
    // The body is not sent: the answer must not wait for it.
    name: "a Content-Length over maxBodyBytes with 413",
    options: { maxBodyBytes: 1000 },
    request:
      "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5000\r\n\r\n",
    status: 413,
  },
  {
    name: "conflicting Content-Length values with 400",
    request:
      "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    status: 400,
  },
];

for (const { name, options, request, status } of BAD_INPUT) {
  Deno.test(`HttpServer answers ${name}, closes, and keeps serving others`, async () => {
    const seen: string[] = [];
    await using server = serve(options, seen);
    {
      using client = await RawClient.connect(server);
      await client.send(request);
      const response = await client.read();
      assert.equal(response.status, status, text(response));
      assert.equal(response.headers.get("connection"), "close");
      assert.match(response.headers.get("content-type") ?? "", /text\/html/);
      await client.expectEnd();
    }
    assert.deepEqual(seen, [], "the handler must not see a refused request");
    await assertStillServes(server);
  });
}

Deno.test("HttpServer answers Content-Length with Transfer-Encoding with 400 and never answers a request smuggled in the body", async () => {
  const seen: string[] = [];
  await using server = serve({}, seen);
  {
    using client = await RawClient.connect(server);
    const smuggled = "GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n";
    const chunked = `0\r\n\r\n${smuggled}`;
    await client.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\n" +
        `Content-Length: ${chunked.length}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        chunked,
    );
    const response = await client.read();
    assert.equal(response.status, 400);
    assert.equal(response.headers.get("connection"), "close");
    // Nothing after the one 400: no response to the smuggled GET.
    await client.expectEnd();
  }
  assert.deepEqual(seen, []);
  await assertStillServes(server);
});

Deno.test("HttpServer decodes a chunked request body sent one byte per write, then answers the next request", async () => {
  await using server = serve();
  using client = await RawClient.connect(server);
  const request = "POST /echo HTTP/1.1\r\nHost: test\r\n" +
    "Transfer-Encoding: chunked\r\n\r\n" +
    "5;note=first\r\nhello\r\n1\r\n \r\nA\r\nworld, 10!\r\n" +
    "0\r\nX-Trailer: ignored\r\n\r\n" +
    get("/after", "Connection: close\r\n");
  const bytes = encoder.encode(request);
  for (let i = 0; i < bytes.length; i++) {
    await client.send(bytes.subarray(i, i + 1));
  }
  const echoed = await client.read();
  assert.equal(echoed.status, 200);
  assert.equal(text(echoed), "hello world, 10!");
  const after = await client.read();
  assert.equal(text(after), "GET /after");
  await client.expectEnd();
});

Deno.test("HttpServer answers a chunked body that grows over maxBodyBytes with 413 and closes", async () => {
  await using server = serve({ maxBodyBytes: 100 });
  using client = await RawClient.connect(server);
  await client.send(
    "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
      `50\r\n${"a".repeat(80)}\r\n50\r\n${"b".repeat(80)}\r\n0\r\n\r\n`,
  );
  const response = await client.read();
  assert.equal(response.status, 413);
  assert.equal(response.headers.get("connection"), "close");
  await client.expectEnd();
  await assertStillServes(server);
});

Deno.test("HttpServer answers a request head trickling in slower than headerTimeoutMs with 408 and closes", async () => {
  await using server = serve({ headerTimeoutMs: 300, idleTimeoutMs: 10_000 });
  using client = await RawClient.connect(server);
  const started = performance.now();
  const answer = client.read();
  // A few bytes every 40 ms: a head of this size would take seconds.
  const trickle = (async () => {
    const head = encoder.encode(get("/slow", `X-Pad: ${"a".repeat(200)}\r\n`));
    for (let at = 0; at < head.length; at += 3) {
      if (client.reader.ended) return;
      try {
        await client.send(head.subarray(at, at + 3));
      } catch {
        return; // the server hung up, as it should
      }
      await pause(40);
    }
  })();
  const response = await answer;
  assert.equal(response.status, 408);
  assert.equal(response.headers.get("connection"), "close");
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 250, `408 after only ${elapsed} ms`);
  await client.expectEnd();
  await within(trickle, 15_000, "the trickling writer to stop");
  await assertStillServes(server);
});

Deno.test("HttpServer times a request head from its first byte, not from the end of the previous response", async () => {
  await using server = serve({ headerTimeoutMs: 300, idleTimeoutMs: 5000 });
  using client = await RawClient.connect(server);
  await client.send(get("/first"));
  assert.equal((await client.read()).status, 200);
  // Idle for longer than the header timeout (but well within the idle one),
  // then a head in two parts, the second well within the header timeout.
  await pause(400);
  await client.send("GET /second HTTP/1.1\r\n");
  await pause(50);
  await client.send("Host: test\r\n\r\n");
  const second = await client.read();
  assert.equal(second.status, 200, text(second));
  assert.equal(text(second), "GET /second");
});

Deno.test("HttpServer closes an idle kept-alive connection after idleTimeoutMs without a response", async () => {
  await using server = serve({ idleTimeoutMs: 300 });
  using client = await RawClient.connect(server);
  await client.send(get("/once"));
  assert.equal((await client.read()).status, 200);
  const idleSince = performance.now();
  await client.expectEnd();
  const idle = performance.now() - idleSince;
  assert.ok(idle >= 250, `closed after only ${idle} ms idle`);
  assert.equal(server.connections, 0);
});

Deno.test("HttpServer answers a request body that stalls midway with 408 and closes", async () => {
  await using server = serve({ headerTimeoutMs: 300 });
  using client = await RawClient.connect(server);
  const started = performance.now();
  await client.send(
    "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" +
      "x".repeat(50),
  );
  const response = await client.read();
  assert.equal(response.status, 408);
  assert.equal(response.headers.get("connection"), "close");
  assert.ok(performance.now() - started >= 250);
  await client.expectEnd();
  await assertStillServes(server);
});

// ---------------------------------------------------------- 100-continue

Deno.test("HttpServer sends 100 Continue when the handler reads an Expect: 100-continue body, then the response", async () => {
  await using server = serve();
  using client = await RawClient.connect(server);
  await client.send(
    "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n" +
      "Expect: 100-continue\r\n\r\n",
  );
  const interim = await client.read();
  assert.equal(interim.status, 100);
  assert.equal(interim.version, "HTTP/1.1");
  await client.send("hello");
  const response = await client.read();
  assert.equal(response.status, 200);
  assert.equal(text(response), "hello");
  // The connection is still good for another request.
  await client.send(get("/next", "Connection: close\r\n"));
  assert.equal(text(await client.read()), "GET /next");
  await client.expectEnd();
});

Deno.test("HttpServer sends no 100 Continue when the handler refuses the body unread with 413, and closes", async () => {
  await using server = serve({
    handler: async (request) => ({
      status: 200,
      body: await request.bytes(10), // throws 413 before reading a byte
    }),
  });
  using client = await RawClient.connect(server);
  await client.send(
    "PUT /big HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n" +
      "Expect: 100-continue\r\n\r\n",
  );
  const response = await client.read();
  assert.equal(response.status, 413);
  assert.equal(response.headers.get("connection"), "close");
  await client.expectEnd();
});

// ------------------------------------------------------ unread request bodies

Deno.test("HttpServer drains a small unread request body and answers the next pipelined request", async () => {
  const seen: string[] = [];
  await using server = serve({}, seen);
  using client = await RawClient.connect(server);
  await client.send(
    "POST /ignore HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n" +
      "0123456789" + get("/next", "Connection: close\r\n"),
  );
  const first = await client.read();
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("connection"), null);
  assert.equal(text(await client.read()), "GET /next");
  await client.expectEnd();
  assert.deepEqual(seen, ["POST /ignore", "GET /next"]);
});

Deno.test("HttpServer closes the connection after answering a request whose big body went unread", async () => {
  await using server = serve();
  using client = await RawClient.connect(server);
  const size = 1024 * 1024;
  await client.send(
    `POST /ignore HTTP/1.1\r\nHost: test\r\nContent-Length: ${size}\r\n\r\n`,
  );
  // The body goes out meanwhile; the server may hang up before it is all sent.
  const sending = client.send(new Uint8Array(size)).catch(() => {});
  const response = await client.read();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("connection"), "close");
  await client.expectEnd();
  await within(sending, 5000, "the body writer to stop");
  await assertStillServes(server);
});

// ----------------------------------------------------------------- responses

Deno.test("HttpServer streams a FileBody region of a multi-MiB file byte for byte and closes the file", async () => {
  await using tmp = await tempDir({ prefix: "socklab_http_" });
  const path = join(tmp.path, "big.bin");
  const data = pattern(5 * 1024 * 1024 + 3);
  await Deno.writeFile(path, data);
  await using server = serve({
    handler: async (request) => {
      const start = Number(request.query.get("start") ?? 0);
      const length = Number(request.query.get("length") ?? data.length);
      const file = await Deno.open(path, { read: true });
      return { status: 200, body: { file, start, length } };
    },
  });
  using client = await RawClient.connect(server);
  await client.send(get("/whole"));
  const whole = await client.read();
  assert.equal(whole.headers.get("content-length"), String(data.length));
  assert.ok(whole.body.length === data.length);
  assert.ok(whole.body.every((b, i) => b === data[i]), "whole file differs");
  const start = 1_234_567;
  const length = 2 * 1024 * 1024 + 1;
  await client.send(
    get(`/part?start=${start}&length=${length}`, "Connection: close\r\n"),
  );
  const part = await client.read();
  assert.equal(part.body.length, length);
  assert.ok(
    part.body.every((b, i) => b === data[start + i]),
    "file region differs",
  );
  await client.expectEnd();
});

Deno.test("HttpServer sends an AsyncIterable body chunked to HTTP/1.1 and close-delimited to HTTP/1.0", async () => {
  const pieces = ["alpha ", "", "beta ", "gamma"];
  await using server = serve({
    handler: () => ({
      status: 200,
      body: (async function* () {
        for (const piece of pieces) yield encoder.encode(piece);
      })(),
    }),
  });
  {
    using client = await RawClient.connect(server);
    await client.send(get("/stream"));
    const response = await client.read();
    assert.equal(response.framing, "chunked");
    assert.equal(response.headers.get("transfer-encoding"), "chunked");
    assert.equal(response.headers.get("content-length"), null);
    assert.equal(text(response), "alpha beta gamma");
    // Still persistent: the chunked body ended where it said.
    await client.send(get("/stream", "Connection: close\r\n"));
    assert.equal(text(await client.read()), "alpha beta gamma");
    await client.expectEnd();
  }
  using client = await RawClient.connect(server);
  await client.send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const old = await client.read();
  assert.equal(old.framing, "close");
  assert.equal(old.headers.get("connection"), "close");
  assert.equal(old.headers.get("transfer-encoding"), null);
  assert.equal(text(old), "alpha beta gamma");
});

Deno.test("HttpServer answers a handler that throws with a 500 page, logs it, and keeps serving", async () => {
  const { log, lines } = collectingLog();
  await using server = new HttpServer({
    log,
    handler: (request) => {
      if (request.path === "/boom") throw new TypeError("secret detail");
      return { status: 200, body: "fine" };
    },
  });
  using client = await RawClient.connect(server);
  await client.send(get("/boom"));
  const response = await client.read();
  assert.equal(response.status, 500);
  assert.match(text(response), /500 Internal Server Error/);
  assert.doesNotMatch(text(response), /secret detail/);
  // The same connection goes on.
  await client.send(get("/fine", "Connection: close\r\n"));
  assert.equal(text(await client.read()), "fine");
  await client.expectEnd();
  assert.ok(
    lines.some((l) => /handler failed/.test(l) && /secret detail/.test(l)),
    lines.join("\n"),
  );
});

Deno.test("HttpServer answers an HttpError with its status, its extra headers and an escaped page", async () => {
  await using server = serve({
    handler: () => {
      throw new HttpError(429, "Slow down <now>", [["retry-after", "7"]]);
    },
  });
  using client = await RawClient.connect(server);
  await client.send(get("/limited", "Connection: close\r\n"));
  const response = await client.read();
  assert.equal(response.status, 429);
  assert.equal(response.reason, "Too Many Requests");
  assert.equal(response.headers.get("retry-after"), "7");
  assert.match(text(response), /Slow down &lt;now&gt;/);
  await client.expectEnd();
});

Deno.test("HttpServer delivers a 32 MiB FileBody intact to a client that reads slowly", async () => {
  await using tmp = await tempDir({ prefix: "socklab_http_" });
  const path = join(tmp.path, "huge.bin");
  const data = pattern(32 * 1024 * 1024);
  await Deno.writeFile(path, data);
  await using server = serve({
    handler: async () => {
      const file = await Deno.open(path, { read: true });
      return { status: 200, body: { file, start: 0, length: data.length } };
    },
  });
  using client = await RawClient.connect(server);
  await client.send(get("/huge", "Connection: close\r\n"));
  // Read by hand, 16 KiB at a time, pausing every MiB.
  const buffer = new Uint8Array(16 * 1024);
  let head = "";
  let pending: Uint8Array = new Uint8Array(0);
  let received = 0;
  let mismatch = -1;
  let sincePause = 0;
  const consume = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length && mismatch < 0; i++) {
      if (bytes[i] !== data[received + i]) mismatch = received + i;
    }
    received += bytes.length;
  };
  await within(
    (async () => {
      for (;;) {
        const n = await client.conn.read(buffer);
        if (n === null) return;
        let chunk: Uint8Array = buffer.subarray(0, n);
        if (head === "") {
          pending = concat([pending, chunk]);
          const end = decoder.decode(pending).indexOf("\r\n\r\n");
          if (end < 0) continue; // the head is ASCII: chars are bytes
          head = decoder.decode(pending.subarray(0, end + 4));
          chunk = pending.subarray(end + 4);
        }
        consume(chunk);
        sincePause += chunk.length;
        if (sincePause >= 1024 * 1024) {
          sincePause = 0;
          await pause(5);
        }
      }
    })(),
    20_000,
    "the 32 MiB body",
  );
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head, new RegExp(`\r\nContent-Length: ${data.length}\r\n`));
  assert.equal(mismatch, -1, `first wrong byte at ${mismatch}`);
  assert.equal(received, data.length);
});

// ------------------------------------------------------ serial and concurrent

Deno.test("HttpServer with serial: true answers a second connection only after the first one closes", async () => {
  const seen: string[] = [];
  await using server = serve({ serial: true }, seen);
  using a = await RawClient.connect(server);
  await a.send(get("/a1"));
  assert.equal(text(await a.read()), "GET /a1");
  using b = await RawClient.connect(server);
  await b.send(get("/b1", "Connection: close\r\n"));
  const bAnswered = b.read();
  // A round trip on the first connection after B's request was sent: a
  // concurrent server would have seen /b1 by now.
  await a.send(get("/a2"));
  assert.equal(text(await a.read()), "GET /a2");
  assert.deepEqual(seen, ["GET /a1", "GET /a2"]);
  a.conn.close();
  const response = await bAnswered;
  assert.equal(text(response), "GET /b1");
  assert.deepEqual(seen, ["GET /a1", "GET /a2", "GET /b1"]);
  await b.expectEnd();
});

Deno.test("HttpServer by default answers a second connection while the first one stays open", async () => {
  const seen: string[] = [];
  await using server = serve({}, seen);
  using a = await RawClient.connect(server);
  await a.send(get("/a1"));
  assert.equal(text(await a.read()), "GET /a1");
  using b = await RawClient.connect(server);
  await b.send(get("/b1"));
  assert.equal(text(await b.read()), "GET /b1");
  assert.equal(server.connections, 2);
  await a.send(get("/a2"));
  assert.equal(text(await a.read()), "GET /a2");
});

// ------------------------------------------------- limits and shutdown

Deno.test("HttpServer with maxConnections: 1 answers a second connection with 503 and closes it", async () => {
  await using server = serve({ maxConnections: 1 });
  using a = await RawClient.connect(server);
  await a.send(get("/a1"));
  assert.equal((await a.read()).status, 200);
  {
    using b = await RawClient.connect(server);
    const refused = await b.read();
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("connection"), "close");
    assert.equal(refused.headers.get("retry-after"), "1");
    await b.expectEnd();
  }
  await a.send(get("/a2"));
  assert.equal(text(await a.read()), "GET /a2");
});

Deno.test("HttpServer.shutdown() closes idle connections, delivers the response in flight, then resolves finished", async () => {
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  await using server = serve({
    handler: async (request) => {
      if (request.path === "/slow") {
        started.resolve();
        await release.promise;
        return { status: 200, body: "slow done" };
      }
      return { status: 200, body: "quick" };
    },
  });
  using idle = await RawClient.connect(server);
  await idle.send(get("/quick"));
  assert.equal(text(await idle.read()), "quick");
  using busy = await RawClient.connect(server);
  await busy.send(get("/slow"));
  await started.promise;

  const shutdown = server.shutdown();
  await idle.expectEnd(); // no response, just closed
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
    Deno.errors.ConnectionRefused,
  );
  release.resolve();
  const response = await busy.read();
  assert.equal(response.status, 200);
  assert.equal(text(response), "slow done");
  assert.equal(response.headers.get("connection"), "close");
  await busy.expectEnd();
  await within(shutdown, 5000, "shutdown()");
  await within(server.finished, 5000, "finished");
  assert.equal(server.connections, 0);
});

Deno.test("HttpServer.shutdown() closes a connection whose handler outlives graceMs, and resolves once the handler returns", async () => {
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  await using server = serve({
    graceMs: 100,
    handler: async () => {
      started.resolve();
      await release.promise;
      return { status: 200, body: "too late" };
    },
  });
  using client = await RawClient.connect(server);
  await client.send(get("/stuck"));
  await started.promise;
  const shutdown = server.shutdown();
  const since = performance.now();
  await client.expectEnd(); // cut off at the grace period, no response
  assert.ok(performance.now() - since >= 80);
  release.resolve();
  await within(shutdown, 5000, "shutdown()");
  assert.equal(server.connections, 0);
});

Deno.test("HttpServer shuts down when its signal is aborted", async () => {
  const controller = new AbortController();
  await using server = serve({ signal: controller.signal });
  using client = await RawClient.connect(server);
  await client.send(get("/one"));
  assert.equal((await client.read()).status, 200);
  controller.abort();
  await within(server.finished, 5000, "finished after abort");
  await client.expectEnd();
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
    Deno.errors.ConnectionRefused,
  );
});

// ---------------------------------------------------------------- access log

Deno.test("HttpServer logs one AccessEntry per request with method, target, status and body bytes", async () => {
  const entries: AccessEntry[] = [];
  const now = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  await using server = serve({
    accessLog: (entry) => entries.push(entry),
    now: () => now,
    handler: async (request) => {
      if (request.path === "/missing") {
        throw new HttpError(404, "not here");
      }
      const body = await request.bytes();
      return {
        status: request.method === "POST" ? 201 : 200,
        body: body.length > 0 ? body : "hello",
      };
    },
  });
  using client = await RawClient.connect(server);
  await client.send(
    get("/a?x=1", "User-Agent: raw/1\r\nReferer: http://r/\r\n") +
      "POST /b HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc" +
      get("/missing", "Connection: close\r\n"),
  );
  const a = await client.read();
  const b = await client.read();
  const missing = await client.read();
  await client.expectEnd();
  let badBytes = -1;
  {
    using bad = await RawClient.connect(server);
    await bad.send("GET / HTTP/9.9\r\n\r\n");
    const refused = await bad.read();
    assert.equal(refused.status, 505);
    badBytes = refused.body.length;
    await bad.expectEnd();
  }
  await server.shutdown(); // every entry is written by now
  const summary = entries.map((e) => [e.method, e.target, e.status, e.bytes]);
  assert.deepEqual(summary.slice(0, 3), [
    ["GET", "/a?x=1", 200, a.body.length],
    ["POST", "/b", 201, b.body.length],
    ["GET", "/missing", 404, missing.body.length],
  ]);
  // A request refused before it was parsed: no method or target to show.
  assert.deepEqual(summary.slice(3), [["-", "-", 505, badBytes]]);
  assert.equal(entries[0]!.userAgent, "raw/1");
  assert.equal(entries[0]!.referer, "http://r/");
  assert.equal(entries[0]!.version, "HTTP/1.1");
  assert.equal(entries[0]!.time, now);
  assert.equal(
    entries[0]!.peer,
    `127.0.0.1:${(client.conn.localAddr as Deno.NetAddr).port}`,
  );
});

Deno.test("combinedLogLine() writes the combined log format with quotes escaped and - for missing fields", () => {
  const entry: AccessEntry = {
    peer: "127.0.0.1:40123",
    method: "GET",
    target: '/a"b',
    version: "HTTP/1.1",
    status: 200,
    bytes: 612,
    referer: undefined,
    userAgent: 'curl/8.5.0 "x"',
    ms: 1.5,
    time: new Date(Date.UTC(2026, 10, 21, 8, 4, 52)),
  };
  assert.equal(
    combinedLogLine(entry),
    '127.0.0.1 - - [21/Nov/2026:08:04:52 +0000] "GET /a\\"b HTTP/1.1" 200 612 "-" "curl/8.5.0 \\"x\\""',
  );
  assert.match(
    combinedLogLine({ ...entry, peer: "[::1]:5000" }),
    /^::1 - - \[/,
  );
});

// ----------------------------------------------------------------------- TLS

Deno.test("HttpServer with tls answers fetch() from a client that trusts the test CA", async () => {
  const tls = join(ROOT, "testdata/tls");
  const [ca, cert, key] = await Promise.all(
    ["ca.pem", "server.pem", "server-key.pem"].map((name) =>
      Deno.readTextFile(join(tls, name))
    ),
  );
  await using server = serve({ tls: { cert: cert!, key: key! } });
  using client = Deno.createHttpClient({ caCerts: [ca!] });
  const response = await fetch(
    `https://127.0.0.1:${server.addr.port}/secure?x=1`,
    { client },
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "GET /secure?x=1");
});
