/**
 * In-process integration tests of the calc service on the TLV server host,
 * over real loopback sockets: many pipelining clients at once, error frames
 * that name the request and the column, and hand-written raw clients that
 * send many frames in one write or one frame in many writes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connectTlv } from "../lib/client.ts";
import { concat } from "../lib/frame_conn.ts";
import { Logger } from "../lib/log.ts";
import { TlvServer } from "../lib/server.ts";
import { encodeMessage } from "../protocol/tlv/message.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import { ERRORS } from "../protocol/tlv/registry.ts";
import { calcService } from "../roles/calc/service.ts";
import { readMessages, writeAll } from "./_raw_peer.ts";

/** A quiet logger whose lines a test can read. */
function collectingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: new Logger({ name: "calc-server", sink: (l) => lines.push(l) }),
    lines,
  };
}

const hello = () => encodeMessage("hello", { version: 1, service: "calc" });

Deno.test("calcService() on TlvServer answers 100 clients pipelining 100 requests each, every answer matched to its id", async () => {
  const { log } = collectingLog();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log,
  });
  const clients = await Promise.all(
    Array.from(
      { length: 100 },
      () => connectTlv({ port: server.addr.port, service: "calc" }),
    ),
  );
  try {
    assert.equal(server.connections, 100);
    await Promise.all(clients.map(async (client, i) => {
      // All 100 requests are sent before the first answer is awaited.
      const answers = Array.from(
        { length: 100 },
        (_, j) => client.request("calc_request", { expression: `${i}*${j}+1` }),
      );
      assert.equal(client.pending, 100);
      const results = await Promise.all(answers);
      results.forEach((answer, j) => {
        assert.equal(answer.type, "calc_result");
        if (answer.type !== "calc_result") return;
        // The client numbers requests from 1 in the order they were made.
        assert.equal(answer.fields.id, j + 1);
        assert.equal(answer.fields.value, i * j + 1);
        assert.equal(answer.fields.text, String(i * j + 1));
      });
    }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

Deno.test("calcService() on TlvServer answers bad expressions with error frames carrying the code and column, and keeps the connection", async () => {
  const { log } = collectingLog();
  await using server = new TlvServer({
    services: [calcService({ maxLength: 64, maxDepth: 8 })],
    port: 0,
    log,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "calc",
  });
  const cases: {
    expression: string;
    codeName: string;
    column: number | undefined;
  }[] = [
    { expression: "(1+2))", codeName: "calc_syntax", column: 6 },
    { expression: "1+", codeName: "calc_syntax", column: 3 },
    { expression: "2 $ 3", codeName: "calc_syntax", column: 3 },
    { expression: "1/0", codeName: "calc_math", column: 2 },
    { expression: "1".repeat(65), codeName: "calc_limit", column: undefined },
    {
      expression: "(".repeat(20) + "1" + ")".repeat(20),
      codeName: "calc_limit",
      column: 9,
    },
  ];
  for (const c of cases) {
    const error = await client.request("calc_request", {
      expression: c.expression,
    }).then(
      (m) => assert.fail(`${c.expression} answered ${JSON.stringify(m)}`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RemoteError, String(error));
    assert.equal(error.codeName, c.codeName, `${c.expression}: ${error}`);
    assert.equal(
      error.code,
      ERRORS[c.codeName as keyof typeof ERRORS].code,
    );
    assert.equal(error.column, c.column, `${c.expression}: ${error.message}`);
    assert.ok(error.message.length > 0);
    // Still usable after every error.
    const ok = await client.request("calc_request", { expression: "6*7" });
    assert.equal(ok.type, "calc_result");
    assert.equal(ok.type === "calc_result" && ok.fields.value, 42);
  }
  assert.equal(server.connections, 1);
});

Deno.test("calcService() on TlvServer echoes the request id in error frames among pipelined requests", async () => {
  const { log } = collectingLog();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  await writeAll(
    conn,
    concat([
      hello(),
      encodeMessage("calc_request", { id: 10, expression: "1+1" }),
      encodeMessage("calc_request", { id: 11, expression: "(1+2))" }),
      encodeMessage("calc_request", { id: 12, expression: "2^10" }),
    ]),
  );
  const [ok, a, b, c] = await readMessages(conn, 4);
  assert.equal(ok?.type, "hello_ok");
  assert.deepEqual(a, {
    type: "calc_result",
    fields: { id: 10, value: 2, text: "2" },
  });
  assert.equal(b?.type, "error");
  if (b?.type === "error") {
    assert.equal(b.fields.id, 11);
    assert.equal(b.fields.code, ERRORS.calc_syntax.code);
    assert.equal(b.fields.column, 6);
    assert.match(b.fields.message, /column 6/);
  }
  assert.deepEqual(c, {
    type: "calc_result",
    fields: { id: 12, value: 1024, text: "1024" },
  });
});

Deno.test("calcService() on TlvServer answers a raw client that pipelines hello and five requests in one write", async () => {
  const { log } = collectingLog();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  const expressions = ["1+2", "2*3", "10/4", "2^0.5", "-(3-5)"];
  const expected = [3, 6, 2.5, Math.SQRT2, 2];
  const frames = [
    hello(),
    ...expressions.map((expression, i) =>
      encodeMessage("calc_request", { id: 100 + i, expression })
    ),
  ];
  // One write for all six frames: the server must split them itself.
  const bytes = concat(frames);
  assert.equal(await conn.write(bytes), bytes.length);
  const messages = await readMessages(conn, 6);
  const [first, ...results] = messages;
  assert.equal(first?.type, "hello_ok");
  if (first?.type === "hello_ok") assert.equal(first.fields.service, "calc");
  assert.equal(results.length, expressions.length);
  results.forEach((m, i) => {
    assert.equal(m.type, "calc_result");
    if (m.type !== "calc_result") return;
    assert.equal(m.fields.id, 100 + i);
    assert.ok(Math.abs(m.fields.value - expected[i]!) < 1e-12);
  });
});

Deno.test("calcService() on TlvServer answers a raw client that sends its frames one byte per write", async () => {
  const { log } = collectingLog();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log,
  });
  using conn = await Deno.connect({ port: server.addr.port });
  // Without Nagle every one-byte write leaves as its own segment.
  conn.setNoDelay(true);
  const bytes = concat([
    hello(),
    encodeMessage("calc_request", { id: 7, expression: "(1+2)*(3+4)" }),
  ]);
  for (let i = 0; i < bytes.length; i++) {
    assert.equal(await conn.write(bytes.subarray(i, i + 1)), 1);
  }
  const [first, answer] = await readMessages(conn, 2);
  assert.equal(first?.type, "hello_ok");
  assert.deepEqual(answer, {
    type: "calc_result",
    fields: { id: 7, value: 21, text: "21" },
  });
});
