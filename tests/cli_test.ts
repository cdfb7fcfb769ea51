/**
 * The command line as a user meets it: `main.ts` run as a subprocess under
 * the compiled binary's grant or the role's own permission set, checking
 * help, version, exit codes and one-line errors.
 *
 * @module
 */

import assert from "node:assert/strict";
import config from "../deno.json" with { type: "json" };
import { ROLES } from "../roles/registry.ts";
import { allFlags } from "../roles/role.ts";
import { closedPort, MAIN, runRole, runScript } from "./_util.ts";

/** Runs `main.ts ARGS…` (no `--role` added) as the binary would. */
function runMain(
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runScript(MAIN, args, { env: { NO_COLOR: "1" } });
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

/** Asserts a usage or runtime error: one line on stderr, no stack trace. */
function assertOneLineError(stderr: string, pattern: RegExp): void {
  const got = lines(stderr);
  assert.equal(got.length, 1, `expected one stderr line, got:\n${stderr}`);
  assert.match(got[0]!, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
}

Deno.test("main.ts --help lists every role with its summary and exits 0", async () => {
  const { code, stdout, stderr } = await runMain(["--help"]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  const roleLines = lines(stdout.split("Roles:\n")[1] ?? "");
  assert.equal(roleLines.length, ROLES.length, stdout);
  for (const [i, role] of ROLES.entries()) {
    const line = roleLines[i]!;
    assert.match(line, new RegExp(`^\\s+${role.name}\\s+`));
    assert.ok(line.endsWith(role.summary), `${role.name}: ${line}`);
  }
});

Deno.test("main.ts --version prints the version from deno.json", async () => {
  const { code, stdout } = await runMain(["--version"]);
  assert.equal(code, 0);
  assert.equal(stdout, `socklab ${config.version}\n`);
});

Deno.test("main.ts without arguments prints help and exits 2", async () => {
  const { code, stdout } = await runMain([]);
  assert.equal(code, 2);
  assert.match(stdout, /^Usage:/m);
  for (const role of ROLES) assert.ok(stdout.includes(role.name), role.name);
});

Deno.test("main.ts --role with an unknown role exits 2 naming it and pointing to --help", async () => {
  const { code, stdout, stderr } = await runRole("no-such-role", [], {
    grant: "binary",
  });
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assertOneLineError(stderr, /"no-such-role".*--help/);
});

Deno.test("--role NAME --help shows every flag with its default and examples, for every role", async () => {
  await Promise.all(ROLES.map(async (role) => {
    const { code, stdout, stderr } = await runRole(role.name, ["--help"]);
    assert.equal(code, 0, `${role.name}: ${stderr}`);
    assert.ok(stdout.includes(role.summary), role.name);
    const [flagPart = "", examplePart = ""] = stdout.split("\nExamples:\n");
    assert.ok(examplePart, `${role.name} --help has an Examples: section`);
    assert.ok(role.examples.length > 0, `${role.name} has examples`);
    for (const example of role.examples) {
      assert.ok(examplePart.includes(example), `${role.name}: ${example}`);
    }
    const flagLines = lines(flagPart);
    for (const flag of allFlags(role)) {
      const line = flagLines.find((l) =>
        new RegExp(`(^|\\s)--${flag.name}(\\s|$|\\[)`).test(l)
      );
      assert.ok(line, `${role.name} --help lists --${flag.name}`);
      if (flag.default !== undefined && flag.default !== false) {
        assert.ok(
          line.includes(`(default ${flag.default})`),
          `${role.name} --${flag.name} shows its default: ${line}`,
        );
      }
    }
  }));
});

Deno.test("an unknown flag exits 2 with a one-line error", async () => {
  const { code, stderr } = await runRole("calc-server", ["--bogus"]);
  assert.equal(code, 2);
  assertOneLineError(stderr, /unknown flag --bogus/);
});

Deno.test("--port abc and --log-level loud exit 2 with a one-line error", async () => {
  const [port, level] = await Promise.all([
    runRole("calc-server", ["--port", "abc"]),
    runRole("echo-server", ["--log-level", "loud"]),
  ]);
  assert.equal(port.code, 2);
  assertOneLineError(port.stderr, /--port.*"abc"/);
  assert.equal(level.code, 2);
  assertOneLineError(level.stderr, /--log-level.*"loud"/);
});

Deno.test("calc-client without --port exits 2 saying --port is required", async () => {
  const { code, stderr } = await runRole("calc-client", ["1+2"]);
  assert.equal(code, 2);
  assertOneLineError(stderr, /--port is required/);
});

Deno.test("a client connecting where nothing listens exits 1 with a one-line connection refused", async () => {
  const port = closedPort();
  const [echo, calc] = await Promise.all([
    runRole("echo-client", ["--port", String(port), "hi"]),
    runRole("calc-client", ["--port", String(port), "--out", ".tmp/x", "1"]),
  ]);
  for (const result of [echo, calc]) {
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assertOneLineError(
      result.stderr,
      new RegExp(`127\\.0\\.0\\.1:${port}: connection refused`),
    );
  }
});

Deno.test("--log-format json makes every log line JSON, errors included", async () => {
  const port = closedPort();
  const { code, stderr } = await runRole("echo-client", [
    "--log-format",
    "json",
    "--port",
    String(port),
    "hi",
  ]);
  assert.equal(code, 1);
  const got = lines(stderr);
  assert.equal(got.length, 1, stderr);
  const entry = JSON.parse(got[0]!);
  assert.equal(entry.level, "error");
  assert.match(entry.msg, /connection refused/);
  assert.ok(!Number.isNaN(Date.parse(entry.time)), "time is a timestamp");
});

Deno.test("demo role exits 0 and reports every part ok", async () => {
  const { code, stdout, stderr } = await runRole("demo", []);
  assert.equal(code, 0, stderr);
  const reports = lines(stdout).filter((l) => /^(ok|FAIL)\s/.test(l));
  assert.ok(reports.length >= 3, stdout);
  for (const line of reports) assert.match(line, /^ok\s/);
  assert.match(stdout, /^all parts worked$/m);
});
