/**
 * HW1 end to end: `calc-server` and `calc-client` run from `main.ts` as
 * separate processes, each under its own permission set (and again under the
 * compiled binary's grant), talking over loopback. The client's stdout,
 * stderr, exit code and `result.txt` are checked exactly.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  denoArgs,
  type Grant,
  listDir,
  readyPort,
  ROOT,
  runRole,
  spawnRole,
  type TempDir,
  tempDir,
} from "./_util.ts";

/** What testdata/calc/expressions.txt must produce, line for line. */
const EXPRESSIONS_RESULT = [
  "1 + 2 * 3 = 7",
  "(1 + 2) * 3 = 9",
  "2^3^2 = 512",
  "-2^2 = -4",
  "10 % 4 = 2",
  "sqrt(16) + abs(-3) = 7",
  "max(1, 7, 3) - min(4, 2) = 5",
  "pow(2, 10) / 4 = 256",
  "1 / 0 = error: division by zero at column 3",
  "(1 + 2)) = error: unexpected ')' at column 8",
].join("\n") + "\n";

/** A temp dir inside the project (the calc-client set may write only there). */
function projectTempDir(): Promise<TempDir> {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix: "e2e_calc_" });
}

/**
 * Runs `fn` against a calc-server started with `--port 0`, then stops the
 * server with SIGTERM and asserts that it exits 0 after its stopped line.
 */
async function withCalcServer(
  options: { grant?: Grant; args?: string[] },
  fn: (port: number) => Promise<void>,
): Promise<string[]> {
  await using server = spawnRole(
    "calc-server",
    ["--port", "0", ...options.args ?? []],
    { grant: options.grant ?? "role" },
  );
  const port = await readyPort(server);
  await fn(port);
  server.child.kill("SIGTERM");
  const status = await server.status;
  assert.equal(status.code, 0, server.stderr.join("\n"));
  assert.match(server.stderr.at(-1) ?? "", /stopped/);
  return server.stderr;
}

Deno.test("calc-client answers expressions given as arguments, saves result.txt atomically and exits 0", async () => {
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  // A longer old file: a non-atomic rewrite in place could leave its tail.
  await Deno.writeTextFile(out, "old content\n".repeat(100));
  await withCalcServer({}, async (port) => {
    const { code, stdout, stderr } = await runRole("calc-client", [
      "--port",
      String(port),
      "--out",
      out,
      "1+2*3",
      "2^3^2",
      "sqrt(16)",
    ]);
    const expected = "1+2*3 = 7\n2^3^2 = 512\nsqrt(16) = 4\n";
    assert.equal(code, 0, stderr);
    assert.equal(stdout, expected);
    assert.equal(
      stderr,
      `INFO calc-client: wrote ${out} expressions=3 failed=0`,
    );
    assert.equal(await Deno.readTextFile(out), expected);
    assert.deepEqual(await listDir(tmp.path), ["result.txt"]);
  });
});

Deno.test("calc-client --file answers testdata/calc/expressions.txt in order and exits 1 when one fails", async () => {
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  await withCalcServer({}, async (port) => {
    const { code, stdout, stderr } = await runRole("calc-client", [
      "--port",
      String(port),
      "--file",
      "testdata/calc/expressions.txt",
      "--out",
      out,
    ]);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, EXPRESSIONS_RESULT);
    assert.equal(await Deno.readTextFile(out), EXPRESSIONS_RESULT);
    assert.match(stderr, /expressions=10 failed=2$/);
    assert.deepEqual(await listDir(tmp.path), ["result.txt"]);
  });
});

Deno.test("calc-client reads piped stdin, skipping blank and # lines, and exits 1 on an error", async () => {
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  await withCalcServer({}, async (port) => {
    const { code, stdout, stderr } = await runRole(
      "calc-client",
      ["--port", String(port), "--out", out],
      { input: "2 * (3 + 4)\n\n# a comment\nnope(1)\n  10 / 4  \n" },
    );
    const expected = [
      "2 * (3 + 4) = 14",
      "nope(1) = error: unknown function 'nope' at column 1",
      "10 / 4 = 2.5",
    ].join("\n") + "\n";
    assert.equal(code, 1, stderr);
    assert.equal(stdout, expected);
    assert.equal(await Deno.readTextFile(out), expected);
  });
});

Deno.test("calc-client at a terminal prompts, answers each line as typed and stops at quit", async () => {
  // `script` (util-linux, on every Debian) gives the client a real pty.
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  await withCalcServer({}, async (port) => {
    const command = [
      Deno.execPath(),
      ...denoArgs("calc-client", ["--port", String(port), "--out", out]),
    ]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(" ");
    const child = new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("1+2\n2^10\nquit\n"));
    await writer.close();
    const { code, stdout } = await child.output();
    const screen = new TextDecoder().decode(stdout).replaceAll("\r", "");
    assert.equal(code, 0, screen);
    assert.match(screen, /calc> 1\+2 = 3\ncalc> 2\^10 = 1024\ncalc> /);
    assert.equal(await Deno.readTextFile(out), "1+2 = 3\n2^10 = 1024\n");
  });
});

Deno.test("calc-client leaves an existing result.txt untouched when it cannot connect", async () => {
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  await Deno.writeTextFile(out, "1 = 1\n");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const { code } = await runRole("calc-client", [
    "--port",
    String(port),
    "--out",
    out,
    "2+2",
  ]);
  assert.equal(code, 1);
  assert.equal(await Deno.readTextFile(out), "1 = 1\n");
  assert.deepEqual(await listDir(tmp.path), ["result.txt"]);
});

Deno.test("calc-client --trace prints every calc_request sent and answer received on stderr", async () => {
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  await withCalcServer({}, async (port) => {
    const { code, stderr } = await runRole("calc-client", [
      "--port",
      String(port),
      "--out",
      out,
      "--trace",
      "1+2",
      "1/0",
    ]);
    assert.equal(code, 1);
    const peer = `127.0.0.1:${port}`;
    const trace = stderr.split("\n");
    for (
      const line of [
        `→ ${peer} hello version=1 service="calc" agent="socklab/`,
        `→ ${peer} calc_request id=1 expression="1+2"`,
        `→ ${peer} calc_request id=2 expression="1/0"`,
        `← ${peer} calc_result id=1 value=3 text="3"`,
        `← ${peer} error id=2 code=`,
      ]
    ) {
      assert.ok(trace.some((l) => l.startsWith(line)), `${line}\n${stderr}`);
    }
  });
});

Deno.test("--log-format json: calc-server and calc-client log JSON lines", async () => {
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  const serverLines = await withCalcServer(
    { args: ["--log-format", "json"] },
    async (port) => {
      const { code, stderr } = await runRole("calc-client", [
        "--port",
        String(port),
        "--out",
        out,
        "--log-format",
        "json",
        "6*7",
      ]);
      assert.equal(code, 0, stderr);
      const entry = JSON.parse(stderr);
      assert.equal(entry.level, "info");
      assert.equal(entry.role, "calc-client");
      assert.equal(entry.msg, `wrote ${out}`);
      assert.equal(entry.expressions, 1);
      assert.equal(entry.failed, 0);
    },
  );
  // The ready line is for humans and tests; every other line is a log line.
  const [ready, ...logs] = serverLines;
  assert.match(ready ?? "", /^calc-server listening on tcp:/);
  assert.ok(logs.length > 0);
  const entries = logs.map((l) => JSON.parse(l));
  assert.deepEqual(
    { role: entries.at(-1).role, msg: entries.at(-1).msg },
    { role: "calc-server", msg: "stopped" },
  );
});

Deno.test("SIGTERM stops calc-server: it prints its stopped line and exits 0", async () => {
  const stderr = await withCalcServer({}, () => Promise.resolve());
  assert.match(
    stderr[0] ?? "",
    /^calc-server listening on tcp:\/\/127\.0\.0\.1:\d+$/,
  );
  assert.equal(stderr.at(-1), "INFO calc-server: stopped");
});

Deno.test("calc-server and calc-client work the same under the compiled binary's grant", async () => {
  await using tmp = await projectTempDir();
  const out = join(tmp.path, "result.txt");
  await withCalcServer({ grant: "binary" }, async (port) => {
    const { code, stdout, stderr } = await runRole("calc-client", [
      "--port",
      String(port),
      "--file",
      "testdata/calc/expressions.txt",
      "--out",
      out,
    ], { grant: "binary" });
    assert.equal(code, 1, stderr);
    assert.equal(stdout, EXPRESSIONS_RESULT);
    assert.equal(await Deno.readTextFile(out), EXPRESSIONS_RESULT);
    assert.deepEqual(await listDir(tmp.path), ["result.txt"]);
  });
});
