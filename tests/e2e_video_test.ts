/**
 * HW4 end to end: `global-server`, `local-server` and `client` run from
 * `main.ts` as subprocesses, as a user runs them. The three scenarios (a
 * cached video, a video fetched from the origin, the live channel), an
 * origin killed in the middle of a transfer and restarted on its port, the
 * roles under their own permission sets, SIGTERM and `--help`. Servers under
 * the binary's grant keep their files in a temp dir inside `.tmp/`; clients
 * run under their own set and write there too.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileDigest, partLength } from "../lib/bulk.ts";
import {
  type Grant,
  listDir,
  readyPort,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  tempDir,
} from "./_util.ts";

const TESTDATA = join(ROOT, "testdata", "video");

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(path: string): Promise<string> {
  return hex(await fileDigest(path));
}

/** A temp dir inside `.tmp/`, where the client's set may write. */
function e2eDir(prefix: string) {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix });
}

/** Starts a server role and waits for its ready line. */
async function startServer(
  role: "global-server" | "local-server",
  args: readonly string[],
  grant: Grant,
): Promise<{ proc: RoleProcess; port: number }> {
  const proc = spawnRole(role, args, { grant });
  try {
    return { proc, port: await readyPort(proc) };
  } catch (error) {
    await proc[Symbol.asyncDispose]();
    throw error;
  }
}

/** SIGTERM, then the exit: 0 with a stopped line. */
async function stop(proc: RoleProcess, what: string): Promise<void> {
  proc.child.kill("SIGTERM");
  const status = await proc.status;
  assert.equal(status.code, 0, `${what}: ${proc.stderr.join("\n")}`);
  assert.ok(
    proc.stderr.some((l) => /: stopped$/.test(l)),
    `${what} printed no stopped line:\n${proc.stderr.join("\n")}`,
  );
}

/** `client --stats` against `port`, parsed. */
async function stats(port: number): Promise<Record<string, unknown>> {
  const run = await runRole("client", ["--port", String(port), "--stats"]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** The client's error lines; a one-line error has exactly one, no stack. */
function errorLines(stderr: string): string[] {
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  return stderr.split("\n").filter((l) => l.startsWith("ERROR"));
}

Deno.test("global-server, local-server and client run the three HW4 scenarios end to end", async () => {
  await using tmp = await e2eDir("e2e_video_");
  const cache = join(tmp.path, "cache");
  const origin = await startServer("global-server", ["--port", "0"], "role");
  await using _origin = origin.proc;
  const local = await startServer("local-server", [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--cache-dir",
    cache,
    "--preload",
    "testdata/video/video_2023.mp4",
    "--http-port",
    "0",
  ], "binary");
  await using _local = local.proc;
  // The HTTP line comes before the ready line, so a reader of one sees both.
  const http = local.proc.stderr.findIndex((l) =>
    /^INFO local-server: HTTP url=http:\/\/127\.0\.0\.1:\d+\/$/.test(l)
  );
  const ready = local.proc.stderr.findIndex((l) =>
    / listening on tcp:\/\//.test(l)
  );
  assert.ok(http >= 0 && http < ready, local.proc.stderr.join("\n"));

  const port = String(local.port);
  const out = (f: string) => join(tmp.path, f);
  // Scenario 3 runs alongside: two seconds of the live channel.
  const live = runRole("client", [
    "--port",
    port,
    "--live",
    "--duration",
    "2s",
    "--out",
    out("live.m2t"),
  ]);
  const [s1, s2] = await Promise.all([
    runRole("client", [
      "--port",
      port,
      "--video",
      "video_2023",
      "--out",
      out("s1.mp4"),
    ]),
    runRole("client", [
      "--port",
      port,
      "--video",
      "video_2022",
      "--out",
      out("s2.mp4"),
    ]),
  ]);
  assert.equal(s1.code, 0, s1.stderr);
  assert.match(s1.stdout, /s1\.mp4: .* from the cache, digest verified/);
  assert.equal(s2.code, 0, s2.stderr);
  assert.match(s2.stdout, /s2\.mp4: .* from the origin, digest verified/);
  assert.equal(
    await sha256(out("s1.mp4")),
    await sha256(join(TESTDATA, "video_2023.mp4")),
  );
  assert.equal(
    await sha256(out("s2.mp4")),
    await sha256(join(TESTDATA, "video_2022.mp4")),
  );

  const edge = (await stats(local.port)).cache as Record<string, number>;
  assert.equal(edge.hits, 1);
  assert.equal(edge.misses, 1);
  assert.equal(edge.originFetches, 1);
  assert.equal(edge.entries, 2);
  assert.equal((await stats(origin.port)).requests, 1);
  assert.deepEqual(await listDir(cache), ["video_2022.mp4", "video_2023.mp4"]);

  const watched = await live;
  assert.equal(watched.code, 0, watched.stderr);
  assert.match(
    watched.stderr,
    /live live: .* to .*live\.m2t; stopped after 2\.0 s/,
  );
  const ts = await Deno.readFile(out("live.m2t"));
  assert.ok(ts.length > 0);
  assert.equal(ts.length % 188, 0, "whole MPEG-TS packets");
  assert.equal(ts[0], 0x47, "sync byte");
  assert.equal(
    ((ts[1]! & 0x1f) << 8) | ts[2]!,
    0,
    "the first packet is the PAT",
  );
  const liveStats = (await stats(origin.port)).live as Record<
    string,
    { opens: number }
  >;
  assert.equal(liveStats.live?.opens, 1);

  await stop(local.proc, "local-server");
  await stop(origin.proc, "global-server");
});

/** Starts global-server on `port`, retrying (bounded) while the port is still taken. */
async function restartOn(
  port: number,
  args: readonly string[],
): Promise<RoleProcess> {
  for (let attempt = 1;; attempt++) {
    const proc = spawnRole(
      "global-server",
      ["--port", String(port), ...args],
      { grant: "binary" },
    );
    try {
      assert.equal(await readyPort(proc), port);
      return proc;
    } catch (error) {
      await proc[Symbol.asyncDispose]();
      if (attempt === 5) throw error;
    }
  }
}

Deno.test("an origin killed mid-transfer leaves no cache entry, and the retry after its restart succeeds", async () => {
  await using tmp = await e2eDir("e2e_video_");
  const videos = join(tmp.path, "videos");
  const cache = join(tmp.path, "cache");
  await Deno.mkdir(videos);
  const big = join(videos, "video_big.mp4");
  {
    using file = await Deno.open(big, { write: true, create: true });
    const piece = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 20; i++) {
      for (let at = 0; at < piece.length; at += 65536) {
        crypto.getRandomValues(piece.subarray(at, at + 65536));
      }
      let at = 0;
      while (at < piece.length) at += await file.write(piece.subarray(at));
    }
  }
  const want = await sha256(big);
  const originArgs = ["--videos", videos];
  // --trace shows each frame as the origin sends it: the kill lands mid-transfer.
  const first = await startServer("global-server", [
    "--port",
    "0",
    ...originArgs,
    "--trace",
  ], "binary");
  await using origin = first.proc;
  const local = await startServer("local-server", [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${first.port}`,
    "--cache-dir",
    cache,
  ], "binary");
  await using _local = local.proc;
  const out = join(tmp.path, "big.mp4");
  const args = [
    "--port",
    String(local.port),
    "--video",
    "video_big",
    "--out",
    out,
  ];

  {
    await using client = spawnRole("client", args);
    await origin.waitFor(/bulk_data id=\d+ offset=/);
    origin.child.kill("SIGKILL");
    const killed = await origin.status;
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(
      !origin.stderr.some((l) => / bulk_end /.test(l)),
      "the origin died before it sent the whole video",
    );
    const status = await client.status;
    const stderr = client.stderr.join("\n");
    assert.equal(status.code, 1, stderr);
    const errors = errorLines(stderr);
    assert.equal(errors.length, 1, stderr);
    assert.match(errors[0]!, /video_big/);
  }
  assert.deepEqual(await listDir(cache), [], "no entry and no leftovers");
  assert.ok(!(await listDir(tmp.path)).includes("big.mp4"));

  // What the client got before the failure is kept for a resume.
  const held = await partLength(out);

  await using restarted = await restartOn(first.port, originArgs);
  const retry = await runRole("client", args);
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /big\.mp4: .* from the origin/);
  if (held > 0) assert.match(retry.stdout, /resumed at/);
  else assert.doesNotMatch(retry.stdout, /resumed/);
  assert.equal(await sha256(out), want);
  assert.deepEqual(await listDir(cache), ["video_big.mp4"]);
  const edge = (await stats(local.port)).cache as Record<string, number>;
  assert.equal(edge.failedFetches, 1);
  assert.equal(edge.originFetches, 2);
  assert.equal(edge.entries, 1);

  await stop(local.proc, "local-server");
  await stop(restarted, "global-server");
});

Deno.test("local-server under its own permission set caches in .cache/videos and cannot be pointed outside", async () => {
  const defaultCache = join(ROOT, ".cache", "videos");
  await Deno.remove(defaultCache, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await using _clean = {
    [Symbol.asyncDispose]: () =>
      Deno.remove(defaultCache, { recursive: true }).catch(() => {}),
  };
  await using tmp = await e2eDir("e2e_video_");
  const origin = await startServer("global-server", ["--port", "0"], "role");
  await using _origin = origin.proc;
  const local = await startServer("local-server", [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--preload",
    "testdata/video/video_2023.mp4",
  ], "role");
  await using _local = local.proc;
  const port = String(local.port);
  const s1 = await runRole("client", [
    "--port",
    port,
    "--video",
    "video_2023",
    "--out",
    join(tmp.path, "s1.mp4"),
  ]);
  assert.equal(s1.code, 0, s1.stderr);
  assert.match(s1.stdout, /from the cache, digest verified/);
  assert.equal(
    await sha256(join(tmp.path, "s1.mp4")),
    await sha256(join(TESTDATA, "video_2023.mp4")),
  );
  const s2 = await runRole("client", [
    "--port",
    port,
    "--video",
    "video_2022",
    "--out",
    join(tmp.path, "s2.mp4"),
  ]);
  assert.equal(s2.code, 0, s2.stderr);
  assert.match(s2.stdout, /from the origin, digest verified/);
  assert.deepEqual(await listDir(defaultCache), [
    "video_2022.mp4",
    "video_2023.mp4",
  ]);
  await stop(local.proc, "local-server");
  await stop(origin.proc, "global-server");

  const outside = `/tmp/socklab_e2e_video_${crypto.randomUUID()}`;
  const refused = await runRole("local-server", [
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--cache-dir",
    outside,
  ]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(`Cannot use --cache-dir ${outside}: permission denied`),
  );
  await assert.rejects(Deno.stat(outside), Deno.errors.NotFound);
});

Deno.test("global-server under its own permission set cannot serve --videos /etc", async () => {
  const refused = await runRole("global-server", ["--videos", "/etc"]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.equal(
    refused.stderr.trim(),
    "ERROR socklab: Cannot use --videos /etc: permission denied",
  );
});

Deno.test("--help describes global-server, local-server and client", async () => {
  const expected: Record<string, RegExp[]> = {
    "global-server": [/--videos DIR/, /--live-source/, /--channel NAME/],
    "local-server": [/--upstream HOST:PORT/, /--cache-dir DIR/, /--preload/],
    "client": [/--video NAME/, /--live/, /--duration/, /--stats/],
  };
  const runs = await Promise.all(
    Object.keys(expected).map((role) => runRole(role, ["--help"])),
  );
  for (const [i, [role, patterns]] of Object.entries(expected).entries()) {
    const run = runs[i]!;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`socklab ${role}: HW4`));
    assert.match(run.stdout, /Examples:/);
    for (const pattern of patterns) assert.match(run.stdout, pattern, role);
  }
});
