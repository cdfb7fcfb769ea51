/**
 * Day 2 file transfer end to end: `file-server` and `file-client` run from
 * `main.ts` as subprocesses under the binary's grant, on a 200 MiB file
 * made at test time in a temp dir inside `.tmp/`. A `get` and a `put` are
 * killed (SIGKILL) at a random point and run again: they resume after the
 * verified chunks and end with the same SHA-256. Then both go through a
 * proxy in this process that cuts the connection every few MiB, and the
 * client reconnects until the file is whole. Last, the server under its own
 * permission set cannot serve a directory outside `files`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileDigest } from "../lib/bulk.ts";
import { startCutProxy } from "./_cut_proxy.ts";
import {
  listDir,
  readyPort,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  tempDir,
} from "./_util.ts";

const MiB = 1024 * 1024;

/** A temp dir inside `.tmp/` (never committed: `.tmp/` is ignored). */
function e2eDir(prefix: string) {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix });
}

/** Writes `size` random bytes to `path`, 1 MiB at a time. */
async function makeFile(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(MiB);
  for (let at = 0; at < size; at += block.length) {
    for (let i = 0; i < block.length; i += 65536) {
      crypto.getRandomValues(block.subarray(i, i + 65536));
    }
    const piece = block.subarray(0, Math.min(block.length, size - at));
    let done = 0;
    while (done < piece.length) done += await file.write(piece.subarray(done));
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(path: string): Promise<string> {
  return hex(await fileDigest(path));
}

/** Starts file-server on `root` and waits for its ready line. */
async function startServer(
  root: string,
): Promise<{ proc: RoleProcess; port: number }> {
  const proc = spawnRole("file-server", ["--port", "0", "--root", root], {
    grant: "binary",
  });
  try {
    return { proc, port: await readyPort(proc) };
  } catch (error) {
    await proc[Symbol.asyncDispose]();
    throw error;
  }
}

/** SIGTERM, then the exit: 0. */
async function stop(proc: RoleProcess): Promise<void> {
  proc.child.kill("SIGTERM");
  const status = await proc.status;
  assert.equal(status.code, 0, proc.stderr.join("\n"));
}

/**
 * Kills `proc` with SIGKILL once the file `name` in `dir` holds at least
 * `bytes`: woken by the file system's change events, not by polling.
 */
async function killWhenPast(
  proc: RoleProcess,
  dir: string,
  name: string,
  bytes: number,
): Promise<number> {
  using watcher = Deno.watchFs(dir, { recursive: false });
  const exited = proc.status.then(() => "exited" as const);
  const events = watcher[Symbol.asyncIterator]();
  for (;;) {
    const next = await Promise.race([events.next(), exited]);
    if (next === "exited") {
      throw new Error(
        `the client finished before ${bytes} bytes of ${name}:\n${
          proc.stderr.join("\n")
        }`,
      );
    }
    if (next.done) throw new Error("the watcher ended");
    let size = 0;
    try {
      size = (await Deno.stat(join(dir, name))).size;
    } catch {
      continue; // not created yet
    }
    if (size >= bytes) {
      proc.child.kill("SIGKILL");
      await proc.status;
      return size;
    }
  }
}

/** A point between 20 % and 80 % of `size`. */
function randomPoint(size: number): number {
  return Math.floor(size * (0.2 + 0.6 * Math.random()));
}

Deno.test({
  name:
    "file-client get of 200 MiB killed at a random point resumes and ends with the same SHA-256",
  async fn() {
    await using tmp = await e2eDir("e2e_file_get_");
    const root = join(tmp.path, "root");
    const local = join(tmp.path, "local");
    await Deno.mkdir(root);
    await Deno.mkdir(local);
    const size = 200 * MiB;
    await makeFile(join(root, "big.bin"), size);
    const server = await startServer(root);
    await using _server = server.proc;
    const args = [
      "--port",
      String(server.port),
      "get",
      "big.bin",
      "--out",
      join(local, "big.bin"),
    ];

    const first = spawnRole("file-client", args, { grant: "binary" });
    await using _first = first;
    const cut = randomPoint(size);
    const held = await killWhenPast(first, local, ".big.bin.part", cut);
    assert.ok(held < size, "killed before the end");
    assert.deepEqual(await listDir(local), [
      ".big.bin.ledger",
      ".big.bin.part",
    ]);

    const again = await runRole("file-client", args, { grant: "binary" });
    assert.equal(again.code, 0, again.stderr);
    const resumed = /resumed at ([\d.]+) MB/.exec(again.stdout);
    assert.ok(resumed, again.stdout);
    // The part grew a little more before the kill landed; the resume keeps
    // all of it but a torn last chunk.
    const at = Number(resumed[1]) * 1e6;
    assert.ok(
      at >= held - 2 * MiB && at < size,
      `resumed at ${at}, held ${held}`,
    );
    assert.match(again.stdout, /^got big\.bin into .*, digest verified\n$/);
    assert.equal(
      await sha256(join(local, "big.bin")),
      await sha256(join(root, "big.bin")),
    );
    assert.deepEqual(await listDir(local), ["big.bin"]);
    await stop(server.proc);
  },
});

Deno.test({
  name:
    "file-client put of 200 MiB killed at a random point resumes on the server and ends with the same SHA-256",
  async fn() {
    await using tmp = await e2eDir("e2e_file_put_");
    const root = join(tmp.path, "root");
    await Deno.mkdir(root);
    const size = 200 * MiB;
    const src = join(tmp.path, "upload.bin");
    await makeFile(src, size);
    const server = await startServer(root);
    await using _server = server.proc;
    const args = ["--port", String(server.port), "put", src];

    const first = spawnRole("file-client", args, { grant: "binary" });
    await using _first = first;
    const held = await killWhenPast(
      first,
      root,
      ".upload.bin.part",
      randomPoint(size),
    );
    assert.ok(held < size);
    // Only hidden files: nothing half-uploaded is listed or served.
    assert.deepEqual(await listDir(root), [
      ".upload.bin.ledger",
      ".upload.bin.part",
    ]);
    const list = await runRole("file-client", [
      "--port",
      String(server.port),
      "list",
    ], { grant: "binary" });
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, "");

    const again = await runRole("file-client", args, { grant: "binary" });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /resumed at [\d.]+ MB/);
    assert.match(again.stdout, /digest verified by the server\n$/);
    assert.equal(await sha256(join(root, "upload.bin")), await sha256(src));
    assert.deepEqual(await listDir(root), ["upload.bin"]);
    await stop(server.proc);
  },
});

Deno.test({
  name:
    "file-client get and put through a proxy that cuts the connection every few MiB reconnect until the digest matches",
  async fn() {
    await using tmp = await e2eDir("e2e_file_proxy_");
    const root = join(tmp.path, "root");
    const local = join(tmp.path, "local");
    await Deno.mkdir(root);
    await Deno.mkdir(local);
    const size = 48 * MiB;
    await makeFile(join(root, "down.bin"), size);
    const src = join(local, "up.bin");
    await makeFile(src, size);
    const server = await startServer(root);
    await using _server = server.proc;
    await using proxy = startCutProxy({
      targetPort: server.port,
      cutAfter: () => (2 + 4 * Math.random()) * MiB,
    });
    const port = String(proxy.port);

    const [get, put] = await Promise.all([
      runRole("file-client", [
        "--port",
        port,
        "get",
        "down.bin",
        "--out",
        join(local, "down.bin"),
      ], { grant: "binary" }),
      runRole("file-client", ["--port", port, "put", src], {
        grant: "binary",
      }),
    ]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(put.code, 0, put.stderr);
    assert.match(get.stdout, /, \d+ reconnects, digest verified\n$/);
    assert.match(put.stdout, /, \d+ reconnects, digest verified by the server/);
    assert.match(
      get.stderr,
      /WARN file-client: get down\.bin: .*; reconnecting/,
    );
    assert.ok(proxy.cuts >= 10, `${proxy.cuts} cuts`);
    assert.equal(
      await sha256(join(local, "down.bin")),
      await sha256(join(root, "down.bin")),
    );
    assert.equal(await sha256(join(root, "up.bin")), await sha256(src));
    assert.deepEqual(await listDir(local), ["down.bin", "up.bin"]);
    assert.deepEqual(await listDir(root), ["down.bin", "up.bin"]);
    await stop(server.proc);
  },
});

Deno.test("file-server under its own permission set serves only ./files: another --root is a usage error", async () => {
  await using tmp = await e2eDir("e2e_file_perm_");
  const run = await runRole("file-server", [
    "--port",
    "0",
    "--root",
    join(tmp.path, "elsewhere"),
  ]);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /Cannot serve --root .*: permission denied/);
  assert.deepEqual(await listDir(tmp.path), []);
});

Deno.test("file-client exits 2 on usage errors and 1 on a refused request, one line each", async () => {
  await using tmp = await e2eDir("e2e_file_cli_");
  const server = await startServer(tmp.path);
  await using _server = server.proc;
  const port = String(server.port);
  const usage = [
    [],
    ["fetch", "x"],
    ["get"],
    ["get", "a", "b"],
    ["list", "--out", "x"],
    ["put", join(tmp.path, "missing.bin")],
    ["list", "--retries", "-1"],
    ["get", "a.bin", "--out", join(tmp.path, "no", "such", "a.bin")],
  ];
  for (const args of usage) {
    const run = await runRole("file-client", ["--port", port, ...args], {
      grant: "binary",
    });
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.equal(run.stderr.split("\n").length, 1, run.stderr);
  }
  const missing = await runRole("file-client", [
    "--port",
    port,
    "get",
    "missing.bin",
    "--out",
    join(tmp.path, "missing.bin"),
  ], { grant: "binary" });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'ERROR socklab: no file named "missing.bin"');
  assert.deepEqual(await listDir(tmp.path), []);
  await stop(server.proc);
});
