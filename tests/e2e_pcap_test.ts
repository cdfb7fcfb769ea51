/**
 * `--pcap-out` end to end: roles run from `main.ts` as subprocesses write
 * pcapng captures whose packets are exactly the frames of the session (the
 * client's sent frames are the server's received ones, byte for byte, and
 * the other way round), with both sockets named in the pseudo-header; a
 * server stopped by SIGTERM has flushed everything, one killed outright
 * leaves a readable prefix; passwords and tokens never reach a file; a role
 * whose permission set grants no writes says so.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { optionText, readPcapng } from "../protocol/pcap/_testing.ts";
import {
  decodePseudoHeader,
  PSEUDO_HEADER_LENGTH,
  type PseudoHeader,
} from "../protocol/pcap/pseudo_header.ts";
import { OPTION } from "../protocol/pcap/pcapng.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage } from "../protocol/tlv/message.ts";
import type { Message } from "../protocol/tlv/registry.ts";
import {
  readyPort,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  tempDir,
} from "./_util.ts";

interface Captured {
  readonly header: PseudoHeader;
  readonly frame: Uint8Array;
  readonly message: Message;
  readonly timestampUs: number;
}

/** Reads a capture and decodes every packet: pseudo-header, one frame. */
async function readCapture(
  path: string,
): Promise<{ application: string | undefined; frames: Captured[] }> {
  const parsed = readPcapng(await Deno.readFile(path));
  assert.equal(parsed.interfaces.length, 1);
  assert.equal(parsed.interfaces[0]!.linkType, 147);
  const frames = parsed.packets.map((p) => {
    const header = decodePseudoHeader(p.data);
    const frame = p.data.subarray(PSEUDO_HEADER_LENGTH);
    const decoded = decodeFrame(frame, 0);
    assert.ok(decoded && decoded.next === frame.length, "one whole frame");
    // epb_flags agree with the pseudo-header.
    assert.equal(p.direction, header.direction === "send" ? 2 : 1);
    return {
      header,
      frame,
      message: decodeMessage(decoded.frame),
      timestampUs: p.timestampUs,
    };
  });
  return {
    application: optionText(parsed.sectionOptions, OPTION.shbUserApplication),
    frames,
  };
}

/** A temp dir inside the project, where every permission set may write. */
function e2eDir() {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix: "e2e_pcap_" });
}

async function startCalcServer(
  args: readonly string[],
): Promise<{ proc: RoleProcess; port: number }> {
  const proc = spawnRole("calc-server", ["--port", "0", ...args], {
    grant: "binary",
  });
  return { proc, port: await readyPort(proc) };
}

const EXPRESSIONS = ["1+2", "1/0", "sqrt(2)"];

Deno.test("--pcap-out on calc-server and calc-client: the packets are exactly the frames of the session", async () => {
  await using tmp = await e2eDir();
  const serverFile = join(tmp.path, "server.pcapng");
  const clientFile = join(tmp.path, "client.pcapng");
  const startedUs = Date.now() * 1000;
  const server = await startCalcServer(["--pcap-out", serverFile]);
  await using _server = server.proc;
  const client = await runRole("calc-client", [
    "--port",
    String(server.port),
    "--out",
    join(tmp.path, "result.txt"),
    "--pcap-out",
    clientFile,
    ...EXPRESSIONS,
  ], { grant: "binary" });
  assert.equal(client.code, 1, "1/0 fails the run: " + client.stderr);
  // SIGTERM: the server flushes its capture on the way out.
  server.proc.child.kill("SIGTERM");
  assert.equal((await server.proc.status).code, 0);

  const c = await readCapture(clientFile);
  const s = await readCapture(serverFile);
  assert.match(c.application ?? "", /^socklab \S+ calc-client$/);
  assert.match(s.application ?? "", /^socklab \S+ calc-server$/);

  const sent = c.frames.filter((f) => f.header.direction === "send");
  const received = c.frames.filter((f) => f.header.direction === "recv");
  assert.deepEqual(sent.map((f) => f.message), [
    {
      type: "hello",
      fields: {
        version: 1,
        service: "calc",
        agent: (sent[0]!.message.fields as { agent: string }).agent,
      },
    },
    ...EXPRESSIONS.map((expression, i) => ({
      type: "calc_request",
      fields: { id: i + 1, expression },
    })),
  ]);
  assert.equal(received[0]!.message.type, "hello_ok");
  const answers = received.slice(1).map((f) => f.message);
  assert.equal(answers.length, 3);
  const byId = new Map(
    answers.map((m) => [(m.fields as { id: number }).id, m]),
  );
  assert.deepEqual(byId.get(1), {
    type: "calc_result",
    fields: { id: 1, value: 3, text: "3" },
  });
  assert.equal(byId.get(2)?.type, "error");
  assert.equal((byId.get(2)?.fields as { code: number }).code, 33);
  assert.equal(byId.get(3)?.type, "calc_result");

  // Each end saw the same bytes the other end recorded, in the same order.
  const flip = (d: string) => d === "send" ? "recv" : "send";
  for (const direction of ["send", "recv"] as const) {
    const mine = c.frames.filter((f) => f.header.direction === direction);
    const theirs = s.frames.filter((f) =>
      f.header.direction === flip(direction)
    );
    assert.deepEqual(theirs.map((f) => f.frame), mine.map((f) => f.frame));
  }
  assert.equal(s.frames.length, c.frames.length);

  // Both captures name the same two sockets.
  const clientPort = sent[0]!.header.source.port;
  assert.ok(clientPort > 0 && clientPort !== server.port);
  for (const f of [...c.frames, ...s.frames]) {
    assert.equal(f.header.transport, "tcp");
    const fromClient = (f.header.direction === "send") ===
      c.frames.includes(f);
    const [from, to] = fromClient
      ? [clientPort, server.port]
      : [server.port, clientPort];
    assert.deepEqual(f.header.source, { address: "127.0.0.1", port: from });
    assert.deepEqual(f.header.destination, { address: "127.0.0.1", port: to });
  }
  // Microsecond timestamps from this run, in order.
  const times = c.frames.map((f) => f.timestampUs);
  assert.ok(times[0]! >= startedUs - 1_000_000, `${times[0]} ${startedUs}`);
  assert.deepEqual(times, [...times].sort((a, b) => a - b));
});

Deno.test("a calc-server killed outright leaves a readable capture of the frames so far", async () => {
  await using tmp = await e2eDir();
  const serverFile = join(tmp.path, "server.pcapng");
  const clientFile = join(tmp.path, "client.pcapng");
  const server = await startCalcServer(["--pcap-out", serverFile]);
  await using _server = server.proc;
  const client = await runRole("calc-client", [
    "--port",
    String(server.port),
    "--out",
    join(tmp.path, "result.txt"),
    "--pcap-out",
    clientFile,
    "6*7",
  ], { grant: "binary" });
  assert.equal(client.code, 0, client.stderr);
  server.proc.child.kill("SIGKILL");
  await server.proc.status;
  // Whatever made it to disk is whole blocks: a prefix of the session.
  const s = await readCapture(serverFile);
  const c = await readCapture(clientFile);
  const mirrored = c.frames.map((f) => f.frame);
  assert.ok(s.frames.length <= mirrored.length);
  assert.deepEqual(
    s.frames.map((f) => f.frame),
    mirrored.slice(0, s.frames.length),
  );
});

Deno.test("--pcap-out on a login: the password and the session token never reach either file", async () => {
  await using tmp = await e2eDir();
  const origin = spawnRole("global-server", ["--port", "0"]);
  await using _origin = origin;
  const originPort = await readyPort(origin);
  const localFile = join(tmp.path, "local.pcapng");
  const clientFile = join(tmp.path, "client.pcapng");
  const local = spawnRole("local-server", [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${originPort}`,
    "--users",
    "testdata/hub/users.txt",
    "--pcap-out",
    localFile,
  ], { grant: "binary" });
  await using _local = local;
  const port = await readyPort(local);
  const client = await runRole("client", [
    "--port",
    String(port),
    "--login",
    "alice",
    "--calc",
    "1+2",
    "--pcap-out",
    clientFile,
  ], { grant: "binary", env: { SOCKLAB_PASSWORD: "wonderland" } });
  assert.equal(client.code, 0, client.stderr);
  local.child.kill("SIGTERM");
  assert.equal((await local.status).code, 0);
  for (const path of [localFile, clientFile]) {
    const bytes = await Deno.readFile(path);
    assert.ok(
      !new TextDecoder("latin1").decode(bytes).includes("wonderland"),
      `${path} holds no password`,
    );
    const { frames } = await readCapture(path);
    const login = frames.find((f) => f.message.type === "login");
    assert.deepEqual(login?.message.fields, {
      id: (login?.message.fields as { id: number }).id,
      user: "alice",
      password: "**********",
    });
    const ok = frames.find((f) => f.message.type === "login_ok");
    assert.match((ok?.message.fields as { token: string }).token, /^\*+$/);
    assert.ok(frames.some((f) => f.message.type === "calc_result"));
  }
});

Deno.test("--pcap-out under a role's own permission set without writes exits 2 saying write access is not granted", async () => {
  const { code, stderr, stdout } = await runRole("calc-server", [
    "--pcap-out",
    ".tmp/never.pcapng",
  ]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /^ERROR socklab: Cannot open --pcap-out \.tmp\/never\.pcapng: write access is not granted/,
  );
  assert.equal(stderr.split("\n").length, 1);
});

Deno.test("roles that speak no TLV take no --pcap-out", async () => {
  const { code, stderr } = await runRole("web-server", [
    "--pcap-out",
    ".tmp/web.pcapng",
  ]);
  assert.equal(code, 2);
  assert.match(stderr, /unknown flag --pcap-out/);
});
