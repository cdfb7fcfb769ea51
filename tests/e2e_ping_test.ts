/**
 * The UDP pinger end to end: `udp-ping-server` and `udp-ping-client` run
 * from `main.ts` as separate processes under their own permission sets,
 * over loopback.
 *
 * @module
 */

import assert from "node:assert/strict";
import { NetworkSimulation } from "../roles/ping/simulation.ts";
import { readyPort, type RoleProcess, runRole, spawnRole } from "./_util.ts";

/** Runs `fn` against a udp-ping-server, then stops it and checks it exits 0. */
async function withPingServer(
  args: string[],
  fn: (port: number, server: RoleProcess) => Promise<void>,
): Promise<void> {
  await using server = spawnRole("udp-ping-server", ["--port", "0", ...args]);
  const port = await readyPort(server);
  await fn(port, server);
  server.child.kill("SIGTERM");
  const status = await server.status;
  assert.equal(status.code, 0, server.stderr.join("\n"));
  assert.equal(server.stderr.at(-1), "INFO udp-ping-server: stopped");
}

function pingClient(port: number, args: string[]) {
  return runRole("udp-ping-client", ["--port", String(port), ...args]);
}

const TIME = String.raw`time=\d+\.\d{3} ms`;

Deno.test("udp-ping-client prints a line per reply and ping's summary", async () => {
  await withPingServer([], async (port, server) => {
    assert.equal(
      server.stderr[0],
      `udp-ping-server listening on udp://127.0.0.1:${port}`,
    );
    const peer = `127.0.0.1:${port}`;
    const { code, stdout, stderr } = await pingClient(port, [
      "--count",
      "3",
      "--interval",
      "50ms",
      "--size",
      "100",
    ]);
    assert.equal(code, 0, stderr);
    const lines = stdout.split("\n");
    assert.equal(lines.pop(), "");
    assert.equal(lines[0], `PING ${peer}: 100 data bytes`);
    for (let seq = 1; seq <= 3; seq++) {
      assert.match(
        lines[seq]!,
        new RegExp(
          `^136 bytes from ${RegExp.escape(peer)}: seq=${seq} ${TIME}$`,
        ),
      );
    }
    assert.deepEqual(lines.slice(4, 6), [
      "",
      `--- ${peer} ping statistics ---`,
    ]);
    assert.match(
      lines[6]!,
      /^3 packets transmitted, 3 received, 0% packet loss, time \d+ms$/,
    );
    assert.match(
      lines[7]!,
      /^rtt min\/avg\/max\/mdev = (\d+\.\d{3}\/){3}\d+\.\d{3} ms$/,
    );
    assert.equal(lines.length, 8, stdout);
  });
});

Deno.test("udp-ping-server --loss with a seed loses the same seqs on every run", async () => {
  const args = ["--loss", "0.4", "--seed", "31337"];
  const network = new NetworkSimulation({ loss: 0.4, seed: 31337 });
  const expected = Array.from({ length: 10 }, (_, i) => i + 1)
    .filter(() => network.next().lost);
  assert.ok(expected.length > 0 && expected.length < 10, String(expected));
  const runs: string[] = [];
  for (let run = 0; run < 2; run++) {
    await withPingServer(args, async (port, server) => {
      assert.ok(
        server.stderr.some((l) => /simulating.*loss=0\.4.*seed=31337/.test(l)),
        server.stderr.join("\n"),
      );
      const { code, stdout, stderr } = await pingClient(port, [
        "-c",
        "10",
        "-i",
        "20ms",
        "--timeout",
        "300ms",
      ]);
      assert.equal(code, 0, stderr);
      runs.push(stdout);
    });
  }
  for (const stdout of runs) {
    const lost = [...stdout.matchAll(/^Request timed out \(seq=(\d+)\)$/gm)]
      .map((m) => Number(m[1])).sort((a, b) => a - b);
    assert.deepEqual(lost, expected);
    const received = 10 - expected.length;
    assert.match(
      stdout,
      new RegExp(
        `^10 packets transmitted, ${received} received, ${
          expected.length * 10
        }% packet loss, time \\d+ms$`,
        "m",
      ),
    );
  }
});

Deno.test("udp-ping-client exits 1 when every ping was lost, like ping", async () => {
  await withPingServer(["--loss", "1"], async (port) => {
    const { code, stdout, stderr } = await pingClient(port, [
      "--count",
      "3",
      "--interval",
      "20ms",
      "--timeout",
      "200ms",
    ]);
    assert.equal(code, 1, stderr);
    assert.equal(stderr, "");
    const lines = stdout.trimEnd().split("\n");
    assert.deepEqual(lines.slice(1, 4), [
      "Request timed out (seq=1)",
      "Request timed out (seq=2)",
      "Request timed out (seq=3)",
    ]);
    assert.match(
      lines.at(-1)!,
      /^3 packets transmitted, 0 received, 100% packet loss, time \d+ms$/,
    );
    assert.doesNotMatch(stdout, /rtt/);
  });
});

Deno.test("udp-ping roles reject bad flags with exit 2 and one line", async () => {
  const [loss, seed, count, size] = await Promise.all([
    runRole("udp-ping-server", ["--loss", "1.5"]),
    runRole("udp-ping-server", ["--seed=-1"]),
    runRole("udp-ping-client", ["--port", "9", "--count", "0"]),
    runRole("udp-ping-client", ["--port", "9", "--size", "70000"]),
  ]);
  assert.equal(loss.code, 2);
  assert.match(loss.stderr, /^ERROR socklab: --loss must be from 0 to 1/);
  assert.equal(seed.code, 2);
  assert.match(
    seed.stderr,
    /--seed must be a whole number from 0 to 4294967295/,
  );
  assert.equal(count.code, 2);
  assert.match(count.stderr, /--count must be a whole number above 0/);
  assert.equal(size.code, 2);
  assert.match(size.stderr, /--size must be a whole number from 0 to 65471/);
  for (const r of [loss, seed, count, size]) {
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
