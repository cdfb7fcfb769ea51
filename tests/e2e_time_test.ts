/**
 * The time service end to end: `time-server` and `time-client` run from
 * `main.ts` as separate processes under their own permission sets, over
 * loopback.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readyPort, type RoleProcess, runRole, spawnRole } from "./_util.ts";

/** Runs `fn` against a time-server, then stops it and checks it exits 0. */
async function withTimeServer(
  args: string[],
  fn: (port: number, server: RoleProcess) => Promise<void>,
): Promise<void> {
  await using server = spawnRole("time-server", ["--port", "0", ...args]);
  const port = await readyPort(server);
  await fn(port, server);
  server.child.kill("SIGTERM");
  const status = await server.status;
  assert.equal(status.code, 0, server.stderr.join("\n"));
  assert.equal(server.stderr.at(-1), "INFO time-server: stopped");
}

function timeClient(port: number, args: string[]) {
  return runRole("time-client", ["--port", String(port), ...args]);
}

const MS = String.raw`\d+\.\d{3}`;

const OFFSETS = [
  { args: ["--clock-offset", "250ms"], offsetMs: 250 },
  { args: ["--clock-offset=-2s"], offsetMs: -2000 },
];
for (const { args, offsetMs } of OFFSETS) {
  Deno.test(`time-client reports the offset of time-server ${args.join(" ")}`, async () => {
    await withTimeServer(args, async (port, server) => {
      assert.match(
        server.stderr.join("\n"),
        /listening on udp:\/\/127\.0\.0\.1:/,
      );
      const { code, stdout, stderr } = await timeClient(port, [
        "--samples",
        "3",
      ]);
      assert.equal(code, 0, stderr);
      const lines = stdout.trimEnd().split("\n");
      assert.equal(lines.length, 6, stdout);
      for (let n = 1; n <= 3; n++) {
        assert.match(
          lines[n - 1]!,
          new RegExp(`^sample ${n}: offset [+-]${MS} ms, delay ${MS} ms$`),
        );
      }
      assert.match(
        lines[3]!,
        /^server time \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
      );
      const offset = new RegExp(
        `^offset ([+-]${MS}) ms \\(sample ([123]) of 3, the smallest delay\\)$`,
      ).exec(lines[4]!);
      assert.ok(offset, lines[4]);
      const delay = new RegExp(`^delay (${MS}) ms$`).exec(lines[5]!);
      assert.ok(delay, lines[5]);
      // Two processes read one system clock: the error is the path's
      // asymmetry (at most half the delay) plus how each process reads it.
      const error = Math.abs(Number(offset[1]) - offsetMs);
      assert.ok(error <= Number(delay[1]) / 2 + 2, `${lines[4]}, ${lines[5]}`);
      // The best sample is the one with the smallest delay.
      const delays = lines.slice(0, 3).map((l) =>
        Number(/delay (\S+) ms/.exec(l)![1])
      );
      assert.equal(Number(delay[1]), Math.min(...delays));
      assert.equal(delays[Number(offset[2]) - 1], Math.min(...delays));
    });
  });
}

Deno.test("time-client --subscribe prints a tick a second until --duration, then exits 0", async () => {
  await withTimeServer([], async (port) => {
    const { code, stdout, stderr } = await timeClient(port, [
      "--subscribe",
      "--duration",
      "2500ms",
    ]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    const ticks = lines.slice(0, -1);
    assert.equal(ticks.length, 3, stdout); // at 0, 1 and 2 s
    ticks.forEach((line, i) =>
      assert.match(
        line,
        new RegExp(
          `^tick seq=${
            i + 1
          } \\d{4}-\\S+Z \\(server - local = [+-]${MS} ms\\)$`,
        ),
      )
    );
    assert.equal(lines.at(-1), "3 ticks, 0 missed");
  });
});

Deno.test("time-client --subscribe without heartbeats is expired by --subscriber-timeout and exits 1", async () => {
  await withTimeServer(
    ["--subscriber-timeout", "500ms"],
    async (port, server) => {
      const { code, stdout, stderr } = await timeClient(port, [
        "--subscribe",
        "--heartbeat",
        "1m",
      ]);
      assert.equal(code, 1, stderr);
      assert.match(stdout, /^tick seq=1 /);
      assert.match(
        stderr,
        /^ERROR socklab: 127\.0\.0\.1:\d+ ended the subscription: no heartbeat for 500 ms$/,
      );
      assert.ok(
        server.stderr.some((l) => /subscriber expired/.test(l)),
        server.stderr.join("\n"),
      );
    },
  );
});

Deno.test("time-client exits 1 when nothing answers", async () => {
  // Receives but never answers: the datagrams arrive.
  const silent = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const { port } = silent.addr as Deno.NetAddr;
    const { code, stdout, stderr } = await timeClient(port, [
      "--samples",
      "2",
      "--timeout",
      "200ms",
    ]);
    assert.equal(code, 1, stderr);
    assert.equal(
      stdout,
      "sample 1: Request timed out\nsample 2: Request timed out\n" +
        `no answer from 127.0.0.1:${port}\n`,
    );
  } finally {
    silent.close();
  }
});

Deno.test("time roles reject bad flags with exit 2 and one line", async () => {
  const [dash, offset, samples, duration] = await Promise.all([
    runRole("time-server", ["--clock-offset", "-2s"]),
    runRole("time-server", ["--clock-offset", "soon"]),
    runRole("time-client", ["--port", "9", "--samples", "0"]),
    runRole("time-client", ["--port", "9", "--duration", "5s"]),
  ]);
  assert.equal(dash.code, 2);
  assert.match(dash.stderr, /--clock-offset=-VALUE/);
  assert.equal(offset.code, 2);
  assert.match(offset.stderr, /--clock-offset needs a duration .*"soon"/);
  assert.equal(samples.code, 2);
  assert.match(samples.stderr, /--samples must be a whole number above 0/);
  assert.equal(duration.code, 2);
  assert.match(duration.stderr, /--duration goes with --subscribe/);
  for (const r of [dash, offset, samples, duration]) {
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
