/**
 * The Wireshark dissector end to end. `--role dissector` prints Lua that
 * names the whole registry; with tshark installed, that Lua decodes real
 * sessions captured on the loopback interface (calc and chat over TCP, a
 * TCP echo too large for one segment, echo over UDP) and `--pcap-out`
 * files, naming every frame and field exactly as the program's own codec
 * reads the same frames; and it shows secrets as `***`, every field kind,
 * and marks unknown and malformed input. Tests that need tshark, or
 * permission to capture on `lo`, are ignored with the reason in their name.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readPcapng } from "../protocol/pcap/_testing.ts";
import {
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeSectionHeader,
  LINKTYPE_USER0,
} from "../protocol/pcap/pcapng.ts";
import {
  decodePseudoHeader,
  PSEUDO_HEADER_LENGTH,
  type PseudoHeader,
  writePseudoHeader,
} from "../protocol/pcap/pseudo_header.ts";
import { item } from "../protocol/tlv/_testing.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import {
  FIELDS,
  type FieldsSpec,
  type Message,
  MESSAGES,
} from "../protocol/tlv/registry.ts";
import type { DissectorRegistry } from "../protocol/tlv/wireshark_lua.ts";
import { renderWiresharkDissector } from "../protocol/tlv/wireshark_lua.ts";
import { findRole } from "../roles/registry.ts";
import {
  readyPort,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  tempDir,
} from "./_util.ts";

// ------------------------------------------------------------ the role

Deno.test("--role dissector, with no permissions at all, prints Lua naming every message and field of the registry", async () => {
  const { code, stdout, stderr } = await runRole("dissector", []);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.match(
    stdout,
    /^-- A Wireshark dissector for the socklab TLV protocol/,
  );
  assert.match(stdout, /local socklab = Proto\("socklab", /);
  for (const [name, spec] of Object.entries(MESSAGES)) {
    const code = spec.code.toString(16).padStart(4, "0");
    assert.ok(stdout.includes(`[0x${code}] = "${name}",`), name);
  }
  for (const name of Object.keys(FIELDS)) {
    assert.ok(stdout.includes(`("socklab.${name}", "${name}"`), name);
  }
  assert.match(stdout, /local DEFAULT_PORTS = "6000,7000,9000,9100,9200,9300"/);
});

Deno.test("--role dissector --ports sets the default ports; a bad list exits 2", async () => {
  const ok = await runRole("dissector", ["--ports", "5000,6000-6002"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /local DEFAULT_PORTS = "5000,6000-6002"/);
  const bad = await runRole("dissector", ["--ports", "70000"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^ERROR socklab: --ports takes ports 1 to 65535/);
});

// ------------------------------------------------------------ tshark

async function commandWorks(name: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(name, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

const HAVE_TSHARK = await commandWorks("tshark", ["--version"]);
const NO_TSHARK = HAVE_TSHARK ? "" : " [skipped: tshark is not installed]";

/** A tshark capture on `lo` being written to a file. */
interface Capture {
  /** One line per packet written so far: `FIN,UDP SRC PORT,UDP DST PORT`. */
  readonly lines: string[];
  /** Waits until the summaries satisfy `done` (bounded). */
  until(done: (lines: string[]) => boolean, what: string): Promise<void>;
  /** Stops tshark (SIGINT) and waits for it to finish the file. */
  stop(): Promise<void>;
}

/**
 * Starts `tshark -i lo -f FILTER -w FILE -P -l` and waits until packets are
 * really being captured. `-P` prints each packet as it is written to the
 * file, so a test knows when the packets it caused are on disk.
 */
async function startCapture(filter: string, file: string): Promise<Capture> {
  // "Capturing on" comes before the capture is live: a marker datagram,
  // sent to ourselves until tshark prints it, proves it is.
  const marker = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const markerAddr = marker.addr as Deno.NetAddr;
  const child = new Deno.Command("tshark", {
    args: [
      "-i",
      "lo",
      "-f",
      `(${filter}) or udp port ${markerAddr.port}`,
      "-w",
      file,
      "-P",
      "-l",
      // Fields, not the summary: a port that happens to be some other
      // protocol's changes the summary, never these.
      "-T",
      "fields",
      "-E",
      "separator=,",
      "-e",
      "tcp.flags.fin",
      "-e",
      "udp.srcport",
      "-e",
      "udp.dstport",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const errors: string[] = [];
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  let exited = false;
  const pump = async (stream: ReadableStream<Uint8Array>, into: string[]) => {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      into.push(...parts);
      notify();
    }
  };
  const pumps = Promise.all([
    pump(child.stdout, lines),
    pump(child.stderr, errors),
  ]);
  const status = child.status.then(async (s) => {
    await pumps;
    exited = true;
    notify();
    return s;
  });
  /** Last resort: tshark and its dumpcap, which holds tshark's stdout. */
  const kill = async () => {
    let children: string[] = [];
    try {
      const path = `/proc/${child.pid}/task/${child.pid}/children`;
      children = (await Deno.readTextFile(path)).split(" ").filter(Boolean);
    } catch { /* not Linux, or already gone */ }
    for (const pid of [...children.map(Number), child.pid]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  };
  const wait = (check: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`timeout: ${what}`)),
        20_000,
      );
      const finish = (error?: Error) => {
        clearTimeout(timer);
        listeners.delete(run);
        if (error) {
          reject(new Error(`${error.message}\n${errors.join("\n")}`));
        } else resolve();
      };
      const run = () => {
        if (check()) finish();
        else if (exited) finish(new Error(`tshark exited before ${what}`));
      };
      listeners.add(run);
      run();
    });
  const marked = () => lines.some((l) => udpPort(l, markerAddr.port));
  try {
    await wait(
      () => errors.some((l) => l.includes("Capturing on")),
      "capturing",
    );
    for (let tries = 0; !marked(); tries++) {
      if (tries === 100 || exited) {
        throw new Error("tshark never showed the marker datagram");
      }
      await marker.send(new Uint8Array([1]), markerAddr);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        const check = () => {
          if (marked() || exited) done();
        };
        const timer = setTimeout(done, 100);
        listeners.add(check);
      });
    }
    lines.length = 0;
  } catch (error) {
    if (!exited) await kill();
    await status;
    throw error;
  } finally {
    marker.close();
  }
  return {
    lines,
    until: (done, what) => wait(() => done(lines), what),
    async stop() {
      // A SIGINT that lands while dumpcap is still starting is lost; ask
      // again until tshark has written the file and gone.
      for (let tries = 0; !exited && tries < 10; tries++) {
        child.kill("SIGINT");
        await Promise.race([
          status,
          new Promise((resolve) => {
            const timer = setTimeout(resolve, 1000);
            status.finally(() => clearTimeout(timer));
          }),
        ]);
      }
      if (!exited) await kill();
      await status;
    },
  };
}

/**
 * Why capturing on `lo` does not work here, or undefined when it does: a
 * one-second capture that stops by itself (tshark cannot lose a stop
 * request it never gets).
 */
async function loopbackProblem(): Promise<string | undefined> {
  if (!HAVE_TSHARK) return "tshark is not installed";
  const dir = await Deno.makeTempDir({ prefix: "socklab_probe_" });
  try {
    const out = await new Deno.Command("tshark", {
      args: [
        "-i",
        "lo",
        "-f",
        "udp port 9",
        "-a",
        "duration:1",
        "-w",
        join(dir, "p.pcapng"),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.success) return undefined;
    const text = new TextDecoder().decode(out.stderr).trim();
    return /permission|not permitted/i.test(text)
      ? "capturing on lo is not permitted for this user"
      : `cannot capture on lo: ${text.split("\n").at(-1)}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const LOOPBACK_PROBLEM = await loopbackProblem();
const NO_LOOPBACK = LOOPBACK_PROBLEM ? ` [skipped: ${LOOPBACK_PROBLEM}]` : "";

/** A field as tshark's PDML shows it. */
interface ShownField {
  readonly name: string;
  readonly show: string;
  readonly showname: string;
  readonly children: ShownField[];
}

/** One socklab frame as tshark decoded it. */
interface ShownFrame {
  /** The packet's source port (TCP, UDP or the pseudo-header's). */
  readonly srcport: number;
  readonly typeName: string;
  readonly fields: ShownField[];
  /** Expert items the dissector added (socklab.expert.*). */
  readonly experts: string[];
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, e) => {
    if (e[0] === "#") {
      return String.fromCodePoint(
        e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1)),
      );
    }
    return { quot: '"', amp: "&", lt: "<", gt: ">", apos: "'" }[
      e as "quot"
    ];
  });
}

function attr(tag: string, name: string): string {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? unescapeXml(m[1]!) : "";
}

/** The `<field>` tree of a PDML fragment. */
function parseFields(xml: string): ShownField[] {
  const root: ShownField[] = [];
  const stack: ShownField[][] = [root];
  for (const m of xml.matchAll(/<field\b[^>]*?(\/?)>|<\/field>/g)) {
    const tag = m[0];
    if (tag === "</field>") {
      stack.pop();
      continue;
    }
    const field: ShownField = {
      name: attr(tag, "name"),
      show: attr(tag, "show"),
      showname: attr(tag, "showname"),
      children: [],
    };
    stack.at(-1)!.push(field);
    if (m[1] !== "/") stack.push(field.children);
  }
  return root;
}

function walk(fields: ShownField[], visit: (f: ShownField) => void): void {
  for (const f of fields) {
    visit(f);
    walk(f.children, visit);
  }
}

/** Every socklab frame in a capture, decoded by tshark with the dissector. */
async function decodeWithDissector(
  lua: string,
  capture: string,
  decodeAs: string[] = [],
): Promise<ShownFrame[]> {
  const out = await new Deno.Command("tshark", {
    args: [
      "-X",
      `lua_script:${lua}`,
      "-r",
      capture,
      ...decodeAs.flatMap((d) => ["-d", d]),
      "-T",
      "pdml",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  assert.doesNotMatch(stderr, /Lua: Error|lua_script/i, stderr);
  const pdml = new TextDecoder().decode(out.stdout);
  const frames: ShownFrame[] = [];
  for (const packet of pdml.split("<packet>").slice(1)) {
    const port =
      /name="(?:tcp|udp|socklab_capture)\.src_?port"[^>]*show="(\d+)"/
        .exec(packet);
    for (
      const m of packet.matchAll(
        /<proto name="socklab"[^>]*>([\s\S]*?)<\/proto>/g,
      )
    ) {
      const fields = parseFields(m[1]!);
      const experts: string[] = [];
      walk(fields, (f) => {
        if (f.name.startsWith("socklab.expert.")) experts.push(f.name);
      });
      const type = fields.find((f) => f.name === "socklab.frame.type");
      assert.ok(type, "every frame shows its type");
      frames.push({
        srcport: Number(port?.[1] ?? 0),
        typeName: /^Type: (\S+) \(0x/.exec(type.showname)?.[1] ?? "?",
        fields: fields.filter((f) =>
          f.name.startsWith("socklab.") && !f.name.startsWith("socklab.frame.")
        ),
        experts,
      });
    }
  }
  return frames;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Asserts tshark showed `message` field by field: the same names in the
 * order they were sent (table order), the same values, groups as subtrees,
 * each field with its tag and length.
 */
function assertShown(
  shown: ShownFrame,
  message: Message,
  where: string,
): void {
  assert.equal(shown.typeName, message.type, where);
  const experts = shown.experts.filter((e) => e !== "socklab.expert.error");
  assert.deepEqual(experts, [], `${where}: no unknown or malformed fields`);
  assert.equal(
    shown.experts.includes("socklab.expert.error"),
    message.type === "error",
    `${where}: error frames, and only they, carry the error expert item`,
  );
  assertFields(
    shown.fields,
    MESSAGES[message.type].fields,
    message.fields as Record<string, unknown>,
    `${where} ${message.type}`,
  );
}

function assertFields(
  shown: ShownField[],
  spec: FieldsSpec,
  values: Record<string, unknown>,
  where: string,
): void {
  const expected: [string, unknown][] = [];
  for (const name of Object.keys(spec)) {
    const value = values[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      expected.push([name, v]);
    }
  }
  const named = shown.filter((f) => !f.name.startsWith("socklab.field."));
  assert.deepEqual(
    named.map((f) => f.name),
    expected.map(([n]) => `socklab.${n}`),
    `${where}: field names`,
  );
  expected.forEach(([name, value], i) => {
    const field = named[i]!;
    const at = `${where}.${name}`;
    assert.deepEqual(
      field.children.filter((c) => c.name.startsWith("socklab.field."))
        .map((c) => c.name),
      ["socklab.field.tag", "socklab.field.length"],
      `${at}: tag and length`,
    );
    const fieldSpec = FIELDS[name as keyof typeof FIELDS];
    if ("secret" in fieldSpec && fieldSpec.secret) {
      assert.equal(field.show, "***", at);
    } else if (fieldSpec.kind === "group") {
      assertFields(
        field.children,
        fieldSpec.fields,
        value as Record<string, unknown>,
        at,
      );
    } else if (fieldSpec.kind === "f64") {
      assert.ok(
        Math.abs(Number(field.show) - (value as number)) <=
          1e-12 * Math.abs(value as number),
        `${at}: ${field.show} vs ${value}`,
      );
    } else if (fieldSpec.kind === "bytes") {
      assert.equal(
        field.show.replaceAll(":", ""),
        hex(value as Uint8Array),
        at,
      );
    } else {
      assert.equal(field.show, String(value), at);
      if (name === "code") {
        assert.match(field.showname, /^code: [a-z_]+ \(\d+\)$/, at);
      }
    }
  });
}

interface PcapFrame {
  readonly header: PseudoHeader;
  readonly message: Message;
}

/** The frames of a `--pcap-out` file, by the program's own codec. */
async function pcapFrames(path: string): Promise<PcapFrame[]> {
  const parsed = readPcapng(await Deno.readFile(path));
  return parsed.packets.map((p) => {
    const decoded = decodeFrame(p.data.subarray(PSEUDO_HEADER_LENGTH), 0);
    assert.ok(decoded);
    return {
      header: decodePseudoHeader(p.data),
      message: decodeMessage(decoded.frame),
    };
  });
}

/**
 * Asserts that tshark's frames from a loopback capture are, direction by
 * direction, the frames the server recorded with `--pcap-out`.
 */
function assertSameSession(
  shown: ShownFrame[],
  recorded: PcapFrame[],
  serverPort: number,
): void {
  for (const direction of ["recv", "send"] as const) {
    const fromServer = direction === "send";
    const mine = recorded.filter((f) => f.header.direction === direction);
    const theirs = shown.filter((f) =>
      (f.srcport === serverPort) === fromServer
    );
    assert.equal(theirs.length, mine.length, `${direction}: frame count`);
    mine.forEach((f, i) =>
      assertShown(theirs[i]!, f.message, `${direction} frame ${i + 1}`)
    );
  }
}

function e2eDir() {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix: "e2e_wireshark_" });
}

/** The generated dissector, written into `dir`. */
async function writeDissector(dir: string): Promise<string> {
  const { code, stdout } = await runRole("dissector", []);
  assert.equal(code, 0);
  const path = join(dir, "socklab.lua");
  await Deno.writeTextFile(path, stdout);
  return path;
}

async function startServer(
  role: string,
  args: readonly string[],
): Promise<{ proc: RoleProcess; port: number }> {
  const proc = spawnRole(role, ["--port", "0", ...args], { grant: "binary" });
  return { proc, port: await readyPort(proc) };
}

async function stopServer(proc: RoleProcess): Promise<void> {
  proc.child.kill("SIGTERM");
  assert.equal((await proc.status).code, 0, proc.stderr.join("\n"));
}

/** Whether a captured line is a datagram from or to `port`. */
function udpPort(line: string, port: number): boolean {
  const [, src, dst] = line.split(",");
  return src === String(port) || dst === String(port);
}

/** Both FINs of a TCP connection captured: everything before them is too. */
const closed = (lines: string[]) =>
  lines.filter((l) => /^(1|True)\b/.test(l)).length >= 2;

Deno.test({
  name:
    "tshark with the dissector names every frame and field of a calc session captured on lo, and of its --pcap-out files" +
    NO_LOOPBACK,
  ignore: LOOPBACK_PROBLEM !== undefined,
  async fn() {
    await using tmp = await e2eDir();
    const lua = await writeDissector(tmp.path);
    const serverPcap = join(tmp.path, "server.pcapng");
    const clientPcap = join(tmp.path, "client.pcapng");
    const server = await startServer("calc-server", ["--pcap-out", serverPcap]);
    await using _server = server.proc;
    const onWire = join(tmp.path, "lo.pcapng");
    const capture = await startCapture(`tcp port ${server.port}`, onWire);
    const client = await runRole("calc-client", [
      "--port",
      String(server.port),
      "--out",
      join(tmp.path, "result.txt"),
      "--pcap-out",
      clientPcap,
      "1+2",
      "1/0",
      "2^0.5",
      "(1",
    ], { grant: "binary" });
    assert.equal(client.code, 1, client.stderr);
    await capture.until(closed, "the connection closed");
    await capture.stop();
    await stopServer(server.proc);

    const recorded = await pcapFrames(serverPcap);
    assert.equal(recorded.length, 10);
    const shown = await decodeWithDissector(lua, onWire, [
      `tcp.port==${server.port},socklab`,
    ]);
    assertSameSession(shown, recorded, server.port);
    const errors = shown.filter((f) => f.typeName === "error");
    assert.equal(errors.length, 2, "1/0 and (1 are error frames");

    // The --pcap-out files decode by themselves (link type USER0).
    for (const file of [serverPcap, clientPcap]) {
      const fromFile = await decodeWithDissector(lua, file);
      const frames = await pcapFrames(file);
      assert.equal(fromFile.length, frames.length);
      frames.forEach((f, i) => {
        assertShown(fromFile[i]!, f.message, `${file} frame ${i + 1}`);
        assert.equal(fromFile[i]!.srcport, f.header.source.port);
      });
    }
  },
});

Deno.test({
  name:
    "tshark with the dissector reassembles an echo frame spread over many TCP segments, and reads echo over UDP" +
    NO_LOOPBACK,
  ignore: LOOPBACK_PROBLEM !== undefined,
  async fn() {
    await using tmp = await e2eDir();
    const lua = await writeDissector(tmp.path);
    const tcpPcap = join(tmp.path, "tcp.pcapng");
    const udpPcap = join(tmp.path, "udp.pcapng");
    const tcp = await startServer("echo-server", ["--pcap-out", tcpPcap]);
    await using _tcp = tcp.proc;
    const udp = await startServer("echo-server", [
      "--udp",
      "--pcap-out",
      udpPcap,
    ]);
    await using _udp = udp.proc;
    const onWire = join(tmp.path, "lo.pcapng");
    const capture = await startCapture(
      `tcp port ${tcp.port} or udp port ${udp.port}`,
      onWire,
    );
    const big = "x".repeat(150_000); // one frame, far more than a loopback segment
    const [overTcp, overUdp] = await Promise.all([
      runRole("echo-client", ["--port", String(tcp.port)], {
        input: `small\n${big}\n`,
      }),
      runRole("echo-client", ["--udp", "--port", String(udp.port), "a", "b"]),
    ]);
    assert.equal(overTcp.code, 0, overTcp.stderr);
    assert.equal(overUdp.code, 0, overUdp.stderr);
    await capture.until(
      (lines) =>
        closed(lines) &&
        lines.filter((l) => udpPort(l, udp.port)).length >= 4,
      "the TCP connection closed and four datagrams",
    );
    await capture.stop();
    await stopServer(tcp.proc);
    await stopServer(udp.proc);

    const shown = await decodeWithDissector(lua, onWire, [
      `tcp.port==${tcp.port},socklab`,
      `udp.port==${udp.port},socklab`,
    ]);
    const tcpRecorded = await pcapFrames(tcpPcap);
    const udpRecorded = await pcapFrames(udpPcap);
    const tcpPorts = new Set(
      tcpRecorded.map((f) => f.header.source.port).concat(tcp.port),
    );
    assertSameSession(
      shown.filter((f) => tcpPorts.has(f.srcport)),
      tcpRecorded,
      tcp.port,
    );
    const bigShown = shown.find((f) =>
      f.typeName === "echo_request" &&
      f.fields.some((x) =>
        x.name === "socklab.data" &&
        x.children.some((c) =>
          c.name === "socklab.field.length" && c.show === "150000"
        )
      )
    );
    assert.ok(
      bigShown,
      "the 150 000-byte echo_request is one reassembled frame",
    );
    const udpShown = shown.filter((f) => !tcpPorts.has(f.srcport));
    assert.deepEqual(udpShown.map((f) => f.typeName), [
      "echo_request",
      "echo_reply",
      "echo_request",
      "echo_reply",
    ]);
    assertSameSession(udpShown, udpRecorded, udp.port);
  },
});

const HAVE_CHAT = findRole("chat-server") !== undefined &&
  findRole("chat-client") !== undefined;

Deno.test({
  name:
    "tshark with the dissector names every frame and field of a chat session captured on lo" +
    (HAVE_CHAT ? NO_LOOPBACK : " [skipped: the chat roles are not there]"),
  ignore: LOOPBACK_PROBLEM !== undefined || !HAVE_CHAT,
  async fn() {
    await using tmp = await e2eDir();
    const lua = await writeDissector(tmp.path);
    const serverPcap = join(tmp.path, "server.pcapng");
    const server = spawnRole("chat-server", [
      "--port",
      "0",
      "--pcap-out",
      serverPcap,
    ], { grant: "binary", stdin: "piped" });
    await using _server = server;
    const port = await readyPort(server);
    const onWire = join(tmp.path, "lo.pcapng");
    const capture = await startCapture(`tcp port ${port}`, onWire);
    const chat = await runRole("chat-client", [
      "--port",
      String(port),
      "--nick",
      "alice",
      "--room",
      "lobby",
      "--wait",
      "100ms",
    ], { input: "hello all\n/msg alice hi\n" });
    assert.equal(chat.code, 0, chat.stderr);
    await capture.until(closed, "the connection closed");
    await capture.stop();
    await stopServer(server);
    const recorded = await pcapFrames(serverPcap);
    const types = new Set(recorded.map((f) => f.message.type));
    for (const t of ["chat_nick", "chat_join", "chat_say", "chat_message"]) {
      assert.ok(types.has(t as Message["type"]), `${t} in ${[...types]}`);
    }
    const shown = await decodeWithDissector(lua, onWire, [
      `tcp.port==${port},socklab`,
    ]);
    assertSameSession(shown, recorded, port);
  },
});

// ------------------------------------------------------------ synthetic captures

/** A --pcap-out style capture of raw frames (nothing masked). */
async function writeRawCapture(
  path: string,
  frames: readonly Uint8Array[],
): Promise<void> {
  const header: PseudoHeader = {
    direction: "send",
    transport: "tcp",
    source: { address: "127.0.0.1", port: 40000 },
    destination: { address: "::1", port: 9000 },
  };
  const blocks = [
    encodeSectionHeader(),
    encodeInterfaceDescription({ linkType: LINKTYPE_USER0 }),
    ...frames.map((frame, i) => {
      const data = new Uint8Array(PSEUDO_HEADER_LENGTH + frame.length);
      writePseudoHeader(header, data, 0);
      data.set(frame, PSEUDO_HEADER_LENGTH);
      return encodeEnhancedPacket({ timestampUs: 1_000_000 + i, data });
    }),
  ];
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  await Deno.writeFile(path, out);
}

async function tsharkText(lua: string, capture: string): Promise<string> {
  const out = await new Deno.Command("tshark", {
    args: ["-X", `lua_script:${lua}`, "-r", capture, "-V"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name:
    "the dissector shows a password and a token sent in the clear as ***, and never their text" +
    NO_TSHARK,
  ignore: !HAVE_TSHARK,
  async fn() {
    await using tmp = await e2eDir();
    const lua = await writeDissector(tmp.path);
    const capture = join(tmp.path, "login.pcapng");
    await writeRawCapture(capture, [
      encodeMessage("login", { id: 1, user: "alice", password: "wonderland" }),
      encodeMessage("login_ok", {
        id: 1,
        user: "alice",
        token: "tok-secret-123",
        ttl: 3600,
      }),
    ]);
    const text = await tsharkText(lua, capture);
    assert.match(text, /^ {4}password: \*\*\*$/m);
    assert.match(text, /^ {4}token: \*\*\*$/m);
    assert.match(text, /login id=1 user="alice" password=\*\*\*/);
    assert.ok(!text.includes("wonderland"), text);
    assert.ok(!text.includes("tok-secret"), text);
    const shown = await decodeWithDissector(lua, capture);
    assert.equal(
      shown[0]!.fields.find((f) => f.name === "socklab.password")?.show,
      "***",
    );
  },
});

Deno.test({
  name:
    "a dissector generated from a registry with every field kind shows each one, and marks unknown and malformed input" +
    NO_TSHARK,
  ignore: !HAVE_TSHARK,
  async fn() {
    await using tmp = await e2eDir();
    const registry: DissectorRegistry = {
      messages: {
        sample: { code: 0x0101, service: "t", doc: "all kinds", fields: {} },
        error: { code: 0x0003, service: "core", doc: "an error", fields: {} },
      },
      fields: {
        small: { tag: 0x0001, kind: "u8", doc: "a u8" },
        flag: { tag: 0x0002, kind: "bool", doc: "a bool" },
        short: { tag: 0x0003, kind: "u16", doc: "a u16" },
        big: { tag: 0x0004, kind: "u64", doc: "a u64" },
        real: { tag: 0x0005, kind: "f64", doc: "an f64" },
        label: { tag: 0x0006, kind: "string", doc: "a string" },
        blob: { tag: 0x0007, kind: "bytes", doc: "bytes" },
        box: { tag: 0x8001, kind: "group", doc: "a group", fields: {} },
        code: { tag: 0x0008, kind: "u16", doc: "an error code" },
        message: { tag: 0x0009, kind: "string", doc: "an error message" },
      },
      errors: { oops: { code: 7, doc: "it went wrong" } },
    };
    const lua = join(tmp.path, "custom.lua");
    await Deno.writeTextFile(lua, renderWiresharkDissector({ registry }));
    const u8 = (n: number) => new Uint8Array([n]);
    const u16 = (n: number) => new Uint8Array([n >> 8, n & 0xff]);
    const f64 = new Uint8Array(8);
    new DataView(f64.buffer).setFloat64(0, 0.1);
    const text = new TextEncoder();
    const capture = join(tmp.path, "kinds.pcapng");
    await writeRawCapture(capture, [
      item(
        0x0101,
        item(0x0001, u8(200)),
        item(0x0002, u8(1)),
        item(0x0004, new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 1])),
        item(0x0005, f64),
        item(0x0006), // an empty string
        item(0x0007, new Uint8Array([0xde, 0xad])),
        item(0x8001, item(0x0003, u16(513)), item(0x8001, item(0x0001, u8(9)))),
      ),
      item(0x0101, item(0x0777, u8(1)), item(0x0003, u8(1))),
      item(0x0666),
      item(0x0003, item(0x0008, u16(7)), item(0x0009, text.encode("bad"))),
      item(0x0101, item(0x0001, u8(1))).subarray(0, 8), // cut short
    ]);
    const out = await tsharkText(lua, capture);
    for (
      const line of [
        "small: 200",
        "flag: True",
        "big: 9007199254740993",
        "real: 0.1",
        "label: ",
        "blob: dead",
        "box",
        "short: 513",
        "Unknown field 0x0777 (1 bytes)",
        "short: 1 bytes, a u16 is 2",
        "Type: Unknown (0x0666)",
        "code: oops (7)",
        "Error oops (7): bad",
        "Frame cut short: 8 of 13 bytes",
      ]
    ) {
      assert.ok(out.includes(line), `${line}\n${out}`);
    }
    assert.match(
      out,
      /sample small=200 flag=true big=9007199254740993 real=0\.1 label="" blob=<2 bytes> box\{short=513 box\{small=9\}\}/,
    );
    for (
      const expert of [
        "[Expert Info (Error/Malformed): bad_message: field short has 1 bytes, not 2]",
        "[Expert Info (Note/Undecoded): Field tag 0x0777 is not in the registry]",
        "[Expert Info (Note/Undecoded): Message type 0x0666 is not in the registry]",
        "[Expert Info (Error/Malformed): Frame cut short: 8 of 13 bytes]",
      ]
    ) {
      assert.ok(out.includes(expert), expert);
    }
  },
});
