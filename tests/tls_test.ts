/**
 * In-process integration tests of TLS on the TLV server host and client,
 * with the test CA and server certificate in `testdata/tls/` (made by
 * `scripts/make_test_certs.sh`), and of what happens when one side speaks
 * TLS and the other does not.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConnectionError, connectTlv } from "../lib/client.ts";
import { Logger } from "../lib/log.ts";
import { TlvServer } from "../lib/server.ts";
import { calcService } from "../roles/calc/service.ts";

const TLS_DIR = new URL("../testdata/tls/", import.meta.url);

/** The test certificates; fails with a hint when they are missing. */
async function testCerts(): Promise<{ ca: string; cert: string; key: string }> {
  try {
    const [ca, cert, key] = await Promise.all(
      ["ca.pem", "server.pem", "server-key.pem"].map((name) =>
        Deno.readTextFile(new URL(name, TLS_DIR))
      ),
    );
    return { ca: ca!, cert: cert!, key: key! };
  } catch (error) {
    throw new Error(
      `Cannot read the test certificates in testdata/tls/: ${error}; ` +
        "run scripts/make_test_certs.sh",
    );
  }
}

/** A logger that collects its lines and lets a test wait for one. */
function collectingLog(): {
  log: Logger;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
} {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const log = new Logger({
    name: "tls-server",
    sink: (line) => {
      lines.push(line);
      for (const w of waiters) w();
    },
  });
  return {
    log,
    lines,
    waitFor(pattern, timeoutMs = 5000) {
      const { promise, resolve, reject } = Promise.withResolvers<string>();
      const check = () => {
        const line = lines.find((l) => pattern.test(l));
        if (line !== undefined) resolve(line);
      };
      const timer = setTimeout(
        () =>
          reject(
            new Error(`no log line matches ${pattern}:\n${lines.join("\n")}`),
          ),
        timeoutMs,
      );
      waiters.add(check);
      check();
      return promise.finally(() => {
        clearTimeout(timer);
        waiters.delete(check);
      });
    },
  };
}

Deno.test("TlvServer with tls answers a connectTlv() client that trusts the test CA", async () => {
  const { ca, cert, key } = await testCerts();
  const { log } = collectingLog();
  // Both names are in the certificate; the server binds the same name the
  // client dials, so it does not matter which address "localhost" means here.
  for (const hostname of ["localhost", "127.0.0.1"]) {
    await using server = new TlvServer({
      services: [calcService()],
      hostname,
      port: 0,
      tls: { cert, key },
      log,
    });
    await using client = await connectTlv({
      hostname,
      port: server.addr.port,
      service: "calc",
      tls: { caCerts: [ca] },
    });
    assert.equal(client.hello.service, "calc");
    const answers = await Promise.all(
      ["1+2", "2^10", "(1+2))"].map((expression) =>
        client.request("calc_request", { expression }).catch((e) => e)
      ),
    );
    assert.deepEqual(answers[0]?.fields, { id: 1, value: 3, text: "3" });
    assert.deepEqual(answers[1]?.fields, { id: 2, value: 1024, text: "1024" });
    assert.equal(answers[2]?.codeName, "calc_syntax");
    assert.equal(answers[2]?.column, 6);
  }
});

Deno.test("connectTlv() without the test CA rejects the TLS server's certificate with a ConnectionError", async () => {
  const { cert, key } = await testCerts();
  const { log } = collectingLog();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    tls: { cert, key },
    log,
  });
  const error = await connectTlv({
    port: server.addr.port,
    service: "calc",
    tls: {},
    timeoutMs: 3000,
  }).then(
    async (c) => {
      await c.close();
      assert.fail("an untrusted certificate was accepted");
    },
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(
    error.message,
    new RegExp(`127\\.0\\.0\\.1:${server.addr.port}`),
  );
  assert.match(error.message, /certificate|UnknownIssuer/i);
});

Deno.test("connectTlv() in plaintext to a TLS server fails with a ConnectionError", async () => {
  const { cert, key } = await testCerts();
  const { log } = collectingLog();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    tls: { cert, key },
    log,
  });
  const error = await connectTlv({
    port: server.addr.port,
    service: "calc",
    timeoutMs: 3000,
  }).then(
    async (c) => {
      await c.close();
      assert.fail("a plaintext hello was accepted by a TLS server");
    },
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(
    error.message,
    new RegExp(`127\\.0\\.0\\.1:${server.addr.port}`),
  );
  assert.match(error.message, /speaks TLS.*--tls/);
});

Deno.test("connectTlv() over TLS to a plaintext server fails with a ConnectionError and the server logs why", async () => {
  const { ca } = await testCerts();
  const logs = collectingLog();
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: logs.log,
  });
  const error = await connectTlv({
    port: server.addr.port,
    service: "calc",
    tls: { caCerts: [ca] },
    timeoutMs: 3000,
  }).then(
    async (c) => {
      await c.close();
      assert.fail("a TLS client got a session from a plaintext server");
    },
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(
    error.message,
    new RegExp(`127\\.0\\.0\\.1:${server.addr.port}`),
  );
  assert.match(error.message, /TLS handshake .*plaintext server/);
  await logs.waitFor(/TLS handshake on a plaintext port/);
  // The plaintext server is unharmed.
  await using client = await connectTlv({
    port: server.addr.port,
    service: "calc",
  });
  const answer = await client.request("calc_request", { expression: "2*21" });
  assert.equal(answer.type === "calc_result" && answer.fields.value, 42);
});
