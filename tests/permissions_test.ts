/**
 * Each role runs with only what it needs: under its deno.json permission
 * set a role cannot leave its scope, and under the compiled binary's one
 * grant `dropPermissions` takes away what the role's `files` level excludes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import config from "../deno.json" with { type: "json" };
import { ROLES } from "../roles/registry.ts";
import {
  closedPort,
  listDir,
  readyPort,
  ROOT,
  runRole,
  runScript,
  spawnRole,
  type TempDir,
  tempDir,
} from "./_util.ts";

const PROBE = join(ROOT, "tests", "fixtures", "drop_probe.ts");
const PERMISSIONS: Record<string, Record<string, unknown>> = config.permissions;

/** A temp dir outside the project root, removed on dispose. */
async function outsideTempDir(): Promise<TempDir> {
  const tmp = await tempDir({ prefix: "socklab_perm_" });
  assert.ok(!tmp.path.startsWith(ROOT), `${tmp.path} is outside ${ROOT}`);
  return tmp;
}

Deno.test("calc-client under its permission set cannot write --out outside the project root", async () => {
  await using denied = await outsideTempDir();
  await using control = await outsideTempDir();
  await using server = spawnRole("calc-server", ["--port", "0"]);
  const port = String(await readyPort(server));
  const out = join(denied.path, "result.txt");
  const [own, binary] = await Promise.all([
    runRole("calc-client", ["--port", port, "--out", out, "1+2"]),
    // Control: the same write under the binary's grant succeeds, so the
    // failure above is the permission set and nothing else.
    runRole(
      "calc-client",
      ["--port", port, "--out", join(control.path, "result.txt"), "1+2"],
      { grant: "binary" },
    ),
  ]);
  assert.equal(own.code, 1, own.stderr);
  assert.match(
    own.stderr,
    new RegExp(`^ERROR .*Cannot write ${out}: permission denied$`, "m"),
  );
  assert.deepEqual(await listDir(denied.path), [], "nothing was created");
  assert.equal(binary.code, 0, binary.stderr);
  assert.deepEqual(await listDir(control.path), ["result.txt"]);
});

Deno.test("calc-client under its permission set cannot read --file outside the project root", async () => {
  await using tmp = await outsideTempDir();
  const file = join(tmp.path, "expressions.txt");
  await Deno.writeTextFile(file, "1+1\n");
  const port = String(closedPort());
  const [own, etc, binary] = await Promise.all([
    runRole("calc-client", ["--port", port, "--file", file]),
    runRole("calc-client", ["--port", port, "--file", "/etc/hostname"]),
    // Control: under the binary's grant the file is read and the client goes
    // on to connect (and fails there, with 1).
    runRole("calc-client", ["--port", port, "--file", file], {
      grant: "binary",
    }),
  ]);
  assert.equal(own.code, 2, own.stderr);
  assert.equal(
    own.stderr,
    `ERROR socklab: Cannot read ${file}: permission denied`,
  );
  assert.equal(etc.code, 2, etc.stderr);
  assert.match(etc.stderr, /Cannot read \/etc\/hostname: permission denied$/);
  assert.equal(binary.code, 1, binary.stderr);
  assert.match(binary.stderr, /connection refused/);
});

Deno.test("dropPermissions() under the binary grant: none denies read and write, read denies write, read-write allows both", async () => {
  await using tmp = await outsideTempDir();
  const readable = join(tmp.path, "readable.txt");
  await Deno.writeTextFile(readable, "probe\n");
  const levels = ["none", "read", "read-write"] as const;
  const results = await Promise.all(levels.map(async (level) => {
    const dir = join(tmp.path, level);
    await Deno.mkdir(dir);
    const { code, stdout, stderr } = await runScript(PROBE, [
      level,
      readable,
      dir,
    ]);
    assert.equal(code, 0, `${level}: ${stderr}`);
    const report = JSON.parse(stdout);
    return { level, report, written: await listDir(dir) };
  }));
  assert.deepEqual(results, [
    {
      level: "none",
      report: { read: "denied", write: "denied", net: "granted" },
      written: [],
    },
    {
      level: "read",
      report: { read: "allowed", write: "denied", net: "granted" },
      written: [],
    },
    {
      level: "read-write",
      report: { read: "allowed", write: "allowed", net: "granted" },
      written: ["written.txt"],
    },
  ]);
});

Deno.test("dropPermissions() with network: false also revokes net (the passwd role)", async () => {
  await using tmp = await outsideTempDir();
  const readable = join(tmp.path, "readable.txt");
  await Deno.writeTextFile(readable, "probe\n");
  const { code, stdout, stderr } = await runScript(PROBE, [
    "read-write",
    readable,
    tmp.path,
    "offline",
  ]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    read: "allowed",
    write: "allowed",
    net: "prompt",
  });
});

Deno.test("deno.json has a permission set named after every role, with no more file or network access than the role declares", () => {
  for (const role of ROLES) {
    const set = PERMISSIONS[role.name];
    assert.ok(set, `deno.json "permissions" has a "${role.name}" set`);
    if (role.network === false) {
      assert.ok(!set.net, `${role.name} (network: false) has no net`);
    } else {
      assert.ok(set.net, `${role.name} may use the network`);
    }
    for (const never of ["run", "ffi", "sys", "import"]) {
      assert.ok(!set[never], `${role.name} set grants no ${never}`);
    }
    // Environment variables: exactly those the role declares it reads.
    assert.deepEqual(
      set.env ?? [],
      [...(role.env ?? [])],
      `${role.name} set grants env for what the role reads, nothing more`,
    );
    if (role.files !== "read-write") {
      assert.ok(!set.write, `${role.name} (files: ${role.files}) has no write`);
    }
    if (role.files === "none") {
      assert.ok(!set.read, `${role.name} (files: none) has no read`);
    }
  }
});

Deno.test("the compile task embeds the binary grant that tests run roles under", () => {
  // Every variable some role reads (read at start, then env is revoked).
  const env = [...new Set(ROLES.flatMap((role) => role.env ?? []))].sort();
  assert.deepEqual(PERMISSIONS.binary, {
    net: true,
    read: true,
    write: true,
    ...(env.length > 0 ? { env } : {}),
  });
  const compile = config.tasks.compile;
  assert.match(compile, /(^|\s)-P=binary(\s|$)/);
  assert.match(compile, /(^|\s)main\.ts(\s|$)/);
});
