/**
 * The echo system end to end: `echo-server` (TCP and `--udp`) and
 * `echo-client` run from `main.ts` as separate processes under their own
 * permission sets, over loopback.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decodeFrame, decodeMessage } from "../protocol/tlv/mod.ts";
import { readyPort, runRole, spawnRole } from "./_util.ts";

const RTT = String.raw`\(\d+\.\d{3} ms\)`;
const SUMMARY = (n: number) =>
  new RegExp(
    String.raw`^${n} packets transmitted, ${n} received, 0% packet loss$`,
  );
const RTT_SUMMARY =
  /^rtt min\/avg\/max\/mdev = \d+\.\d{3}\/\d+\.\d{3}\/\d+\.\d{3}\/\d+\.\d{3} ms$/;

/**
 * Runs `fn` against an echo-server on port 0, then stops it with SIGTERM
 * and asserts it exits 0 after its stopped line.
 */
async function withEchoServer(
  args: string[],
  fn: (port: number) => Promise<void>,
): Promise<void> {
  await using server = spawnRole("echo-server", ["--port", "0", ...args]);
  const port = await readyPort(server);
  const scheme = args.includes("--udp") ? "udp" : "tcp";
  assert.match(server.stderr[0] ?? "", new RegExp(`listening on ${scheme}://`));
  await fn(port);
  server.child.kill("SIGTERM");
  const status = await server.status;
  assert.equal(status.code, 0, server.stderr.join("\n"));
  assert.equal(server.stderr.at(-1), "INFO echo-server: stopped");
}

/** Asserts each message came back, in order, with an RTT, then ping's summary. */
function assertEchoed(stdout: string, messages: string[]): void {
  const lines = stdout.split("\n");
  assert.equal(lines.pop(), "", "output ends with a newline");
  assert.equal(lines.length, messages.length + 2, stdout);
  for (const [i, message] of messages.entries()) {
    assert.match(lines[i]!, new RegExp(`^${RegExp.escape(message)}  ${RTT}$`));
  }
  assert.match(lines.at(-2)!, SUMMARY(messages.length));
  assert.match(lines.at(-1)!, RTT_SUMMARY);
}

Deno.test("echo-client over TCP echoes its arguments with RTTs and a summary", async () => {
  await withEchoServer([], async (port) => {
    const { code, stdout, stderr } = await runRole("echo-client", [
      "--port",
      String(port),
      "hello",
      "big world",
    ]);
    assert.equal(code, 0, stderr);
    assertEchoed(stdout, ["hello", "big world"]);
  });
});

Deno.test("echo-client over TCP echoes piped stdin line by line", async () => {
  await withEchoServer([], async (port) => {
    const { code, stdout, stderr } = await runRole(
      "echo-client",
      ["--port", String(port)],
      { input: "first line\nsecond  line\n안녕\n" },
    );
    assert.equal(code, 0, stderr);
    assertEchoed(stdout, ["first line", "second  line", "안녕"]);
  });
});

Deno.test("echo-client --udp echoes arguments and stdin through echo-server --udp", async () => {
  await withEchoServer(["--udp"], async (port) => {
    const [args, piped] = await Promise.all([
      runRole("echo-client", ["--udp", "--port", String(port), "ping", "pong"]),
      runRole("echo-client", ["--udp", "--port", String(port)], {
        input: "one\ntwo\nthree\n",
      }),
    ]);
    assert.equal(args.code, 0, args.stderr);
    assertEchoed(args.stdout, ["ping", "pong"]);
    assert.equal(piped.code, 0, piped.stderr);
    assertEchoed(piped.stdout, ["one", "two", "three"]);
  });
});

Deno.test("echo-client --udp prints Request timed out and exits 1 when nothing answers", async () => {
  // A socket that receives but never answers: the datagrams do arrive.
  const silent = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const { port } = silent.addr as Deno.NetAddr;
    const [one, two] = await Promise.all([
      runRole("echo-client", [
        "--udp",
        "--port",
        String(port),
        "--timeout",
        "300ms",
        "ping",
      ]),
      runRole("echo-client", [
        "--udp",
        "--port",
        String(port),
        "--timeout",
        "300ms",
        "a",
        "b",
      ]),
    ]);
    assert.equal(one.code, 1, one.stderr);
    assert.equal(one.stdout, "Request timed out\n");
    assert.equal(two.code, 1, two.stderr);
    assert.equal(
      two.stdout,
      "Request timed out\nRequest timed out\n" +
        "2 packets transmitted, 0 received, 100% packet loss\n",
    );
    // Three datagrams were sent, each one whole echo_request frame.
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [bytes] = await silent.receive();
      const decoded = decodeFrame(bytes, 0);
      assert.ok(decoded, "a whole frame per datagram");
      assert.equal(decoded.next, bytes.length, "exactly one frame");
      const message = decodeMessage(decoded.frame);
      assert.equal(message.type, "echo_request");
      if (message.type === "echo_request") {
        got.push(new TextDecoder().decode(message.fields.data));
      }
    }
    assert.deepEqual(got.sort(), ["a", "b", "ping"]);
  } finally {
    silent.close();
  }
});
