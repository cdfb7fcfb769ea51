/**
 * TLS for every TCP role, end to end as subprocesses: a server started with
 * `--tls-self-signed` prints its fingerprint and a client with `--pin`
 * connects; the committed test CA works with `--tls-cert`/`--ca`; a pin
 * that does not match refuses to connect; a plaintext client of a TLS
 * server and a TLS client of a plaintext server are each told what is
 * wrong. curl talks to the web server over the same self-signed TLS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  readyPort,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  tempDir,
} from "./_util.ts";

const TLS = join(ROOT, "testdata", "tls");
const CA = join(TLS, "ca.pem");

/** Starts a server and returns it with its port and printed fingerprint. */
async function start(
  role: string,
  args: readonly string[],
): Promise<{ proc: RoleProcess; port: number; fingerprint?: string }> {
  const proc = spawnRole(role, ["--port", "0", ...args], { grant: "binary" });
  try {
    const port = await readyPort(proc);
    const line = proc.stderr.find((l) => l.includes("fingerprint"));
    const fingerprint = line?.match(/fingerprint ([0-9A-F:]{95})/)?.[1];
    return { proc, port, ...(fingerprint ? { fingerprint } : {}) };
  } catch (error) {
    await proc[Symbol.asyncDispose]();
    throw error;
  }
}

const SELF_SIGNED = ["--tls-self-signed"];
const TEST_CA = [
  "--tls-cert",
  join(TLS, "server.pem"),
  "--tls-key",
  join(TLS, "server-key.pem"),
];

/** One client run per role: what to pass and what it prints on success. */
const CASES = [
  {
    server: "echo-server",
    client: "echo-client",
    args: ["hello"],
    ok: /hello/,
  },
  {
    server: "calc-server",
    client: "calc-client",
    args: ["2*21"],
    ok: /2\*21 = 42/,
  },
  {
    server: "chat-server",
    client: "chat-client",
    args: ["--nick", "tlsuser", "--room", "lobby"],
    input: "over tls\n/quit\n",
    ok: /\[lobby\] tlsuser: over tls/,
  },
  {
    server: "file-server",
    serverArgs: ["--root", join(ROOT, ".tmp", "e2e-tls-files")],
    client: "file-client",
    args: ["list"],
    ok: /^/,
  },
] as const satisfies readonly {
  server: string;
  serverArgs?: readonly string[];
  client: string;
  args: readonly string[];
  input?: string;
  ok: RegExp;
}[];

/** The server arguments a case needs besides TLS. */
function serverArgs(c: (typeof CASES)[number]): readonly string[] {
  return "serverArgs" in c ? c.serverArgs : [];
}

/** Options of one client run: its stdin text when the case has one. */
function runOptions(c: (typeof CASES)[number], cwd: string) {
  return {
    grant: "binary" as const,
    cwd,
    ...("input" in c ? { input: c.input } : { input: "" }),
  };
}

for (const c of CASES) {
  Deno.test(`${c.server} --tls-self-signed: ${c.client} --pin connects, a wrong pin and a plaintext client are refused clearly`, async () => {
    await using tmp = await tempDir({ dir: join(ROOT, ".tmp") });
    const server = await start(c.server, [...SELF_SIGNED, ...serverArgs(c)]);
    await using _server = server.proc;
    assert.ok(server.fingerprint, server.proc.stderr.join("\n"));
    const port = ["--port", String(server.port)];
    const pinned = await runRole(
      c.client,
      [...port, "--pin", server.fingerprint!, ...c.args],
      runOptions(c, tmp.path),
    );
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stdout + pinned.stderr, c.ok);

    // The same fingerprint typed in lower case without colons.
    const typed = server.fingerprint!.replaceAll(":", "").toLowerCase();
    const lower = await runRole(
      c.client,
      [...port, "--pin", typed, ...c.args],
      {
        grant: "binary",
        cwd: tmp.path,
      },
    );
    assert.equal(lower.code, 0, lower.stderr);

    const wrongPin = "00" + server.fingerprint!.slice(2);
    const wrong = await runRole(
      c.client,
      [...port, "--pin", wrongPin, ...c.args],
      runOptions(c, tmp.path),
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /has SHA-256 .* not the pinned .*refusing/);
    assert.doesNotMatch(wrong.stderr, /^\s+at /m);

    const plain = await runRole(
      c.client,
      [...port, ...c.args],
      runOptions(c, tmp.path),
    );
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /speaks TLS.*--tls.*--pin/);
  });

  Deno.test(`${c.server} with the test CA's certificate: ${c.client} --tls --ca connects; --tls against plaintext is told so`, async () => {
    await using tmp = await tempDir({ dir: join(ROOT, ".tmp") });
    const server = await start(c.server, [...TEST_CA, ...serverArgs(c)]);
    await using _server = server.proc;
    const port = ["--port", String(server.port)];
    const ok = await runRole(
      c.client,
      [...port, "--tls", "--ca", CA, ...c.args],
      runOptions(c, tmp.path),
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout + ok.stderr, c.ok);

    const plainServer = await start(c.server, serverArgs(c));
    await using _plain = plainServer.proc;
    const mismatch = await runRole(
      c.client,
      ["--port", String(plainServer.port), "--tls", "--ca", CA, ...c.args],
      runOptions(c, tmp.path),
    );
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /TLS handshake .* failed|plaintext/i);
    assert.doesNotMatch(mismatch.stderr, /^\s+at /m);
  });
}

Deno.test("local-server --tls-self-signed: client --pin logs in and gets a video; global-server over TLS too", async () => {
  await using tmp = await tempDir({ dir: join(ROOT, ".tmp") });
  const origin = await start("global-server", SELF_SIGNED);
  await using _origin = origin.proc;
  const local = await start("local-server", [
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--upstream-pin",
    origin.fingerprint!,
    "--cache-dir",
    join(tmp.path, "cache"),
    "--users",
    join(ROOT, "testdata", "hub", "users.txt"),
    ...SELF_SIGNED,
  ]);
  await using _local = local.proc;
  const run = await runRole(
    "client",
    [
      "--port",
      String(local.port),
      "--pin",
      local.fingerprint!,
      "--login",
      "alice",
      "--calc",
      "6*7",
      "--video",
      "video_2022",
      "--out",
      join(tmp.path, "v.mp4"),
    ],
    { grant: "binary", cwd: tmp.path, env: { SOCKLAB_PASSWORD: "wonderland" } },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /6\*7 = 42/);
  assert.match(run.stdout, /from the origin/);
  const original = await Deno.readFile(
    join(ROOT, "testdata", "video", "video_2022.mp4"),
  );
  assert.deepEqual(await Deno.readFile(join(tmp.path, "v.mp4")), original);
});

Deno.test("web-server --tls-self-signed serves HTTPS that curl accepts with the certificate it pins", async () => {
  const curl = await new Deno.Command("curl", { args: ["--version"] }).output()
    .catch(() => undefined);
  if (!curl?.success) {
    throw new Error("curl is required for this test (apt-get install curl)");
  }
  const server = await start("web-server", SELF_SIGNED);
  await using _server = server.proc;
  const url = `https://localhost:${server.port}/Result.html`;
  // Without trust: curl refuses, as it should for a self-signed certificate.
  const refused = await new Deno.Command("curl", {
    args: ["-sS", "-o", "/dev/null", url],
  }).output();
  assert.notEqual(refused.code, 0);
  // -k with a check of the fingerprint curl saw.
  const seen = await new Deno.Command("curl", {
    args: ["-sk", "-o", "/dev/null", "-w", "%{http_code} %{certs}", url],
  }).output();
  const text = new TextDecoder().decode(seen.stdout);
  assert.match(text, /^200 /);
  const pem = text.match(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/,
  )?.[0];
  assert.ok(pem, "curl printed the server certificate");
  const der = Uint8Array.from(
    atob(pem.replace(/-----[A-Z ]+-----|\s/g, "")),
    (c) => c.charCodeAt(0),
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  const fingerprint = Array.from(
    digest,
    (b) => b.toString(16).padStart(2, "0").toUpperCase(),
  ).join(":");
  assert.equal(fingerprint, server.fingerprint);
});
