/**
 * `--pcap-out` in process: the capture sink (`lib/pcap_out.ts`) over a
 * file double — header first, bounded buffer, whole blocks per write,
 * flush on its timer and on close, secrets masked, write failures — and
 * fed by a {@linkcode Tracer} from a real TCP and UDP exchange, where the
 * packets must be exactly the frames, with the right addresses.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { connectTlv } from "../lib/client.ts";
import { UsageError } from "../lib/flags.ts";
import { Logger } from "../lib/log.ts";
import { openPcapOut, type PcapFile, PcapOut } from "../lib/pcap_out.ts";
import { TlvServer } from "../lib/server.ts";
import { Tracer } from "../lib/trace.ts";
import { UdpClient } from "../lib/udp_client.ts";
import { UdpServer } from "../lib/udp_server.ts";
import { readPcapng } from "../protocol/pcap/_testing.ts";
import {
  decodePseudoHeader,
  PSEUDO_HEADER_LENGTH,
} from "../protocol/pcap/pseudo_header.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import type { Message } from "../protocol/tlv/registry.ts";
import { calcService } from "../roles/calc/service.ts";
import { echoService } from "../roles/echo/service.ts";
import { tempDir } from "./_util.ts";

/** A file that keeps each write, and can be told to fail. */
class MemoryFile implements PcapFile {
  readonly writes: Uint8Array[] = [];
  closed = false;
  failWith: Error | undefined;
  #onWrite: (() => void) | undefined;

  writeSync(bytes: Uint8Array): number {
    if (this.failWith) throw this.failWith;
    this.writes.push(bytes.slice());
    this.#onWrite?.();
    return bytes.length;
  }

  close(): void {
    this.closed = true;
  }

  /** Resolves at the next write. */
  nextWrite(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#onWrite = () => {
      this.#onWrite = undefined;
      resolve();
    };
    return promise;
  }

  get bytes(): Uint8Array {
    const out = new Uint8Array(
      this.writes.reduce((n, w) => n + w.length, 0),
    );
    let at = 0;
    for (const w of this.writes) {
      out.set(w, at);
      at += w.length;
    }
    return out;
  }
}

const encoder = new TextEncoder();
const route = {
  transport: "tcp" as const,
  local: { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 },
  remote: { transport: "tcp" as const, hostname: "127.0.0.1", port: 9000 },
};

/** The frames of a capture, decoded, with their pseudo-headers. */
function framesOf(file: Uint8Array) {
  return readPcapng(file).packets.map((p) => {
    const header = decodePseudoHeader(p.data);
    const frame = p.data.subarray(PSEUDO_HEADER_LENGTH);
    const decoded = decodeFrame(frame, 0);
    assert.ok(decoded && decoded.next === frame.length, "exactly one frame");
    return { header, frame, message: decodeMessage(decoded.frame) };
  });
}

function contains(haystack: Uint8Array, needle: string): boolean {
  const n = encoder.encode(needle);
  outer: for (let i = 0; i + n.length <= haystack.length; i++) {
    for (let j = 0; j < n.length; j++) {
      if (haystack[i + j] !== n[j]) continue outer;
    }
    return true;
  }
  return false;
}

Deno.test("PcapOut writes the capture header at once and the buffered frames on close", () => {
  const file = new MemoryFile();
  const pcap = new PcapOut(file, { application: "test", nowUs: () => 5 });
  assert.equal(file.writes.length, 1, "header written in the constructor");
  assert.equal(readPcapng(file.bytes).interfaces[0]?.linkType, 147);
  const ping = encodeMessage("ping", { id: 1 });
  pcap.frame("send", "127.0.0.1:9000", ping, route);
  pcap.frame("recv", "127.0.0.1:9000", encodeMessage("pong", { id: 1 }), route);
  assert.equal(file.writes.length, 1, "frames wait in the buffer");
  assert.equal(pcap.packets, 2);
  pcap.close();
  assert.ok(file.closed);
  const frames = framesOf(file.bytes);
  assert.deepEqual(frames.map((f) => f.message.type), ["ping", "pong"]);
  assert.deepEqual(frames[0]!.frame, ping);
  assert.deepEqual(frames[0]!.header, {
    direction: "send",
    transport: "tcp",
    source: { address: "127.0.0.1", port: 40000 },
    destination: { address: "127.0.0.1", port: 9000 },
  });
  assert.deepEqual(frames[1]!.header.source, {
    address: "127.0.0.1",
    port: 9000,
  });
  assert.equal(readPcapng(file.bytes).packets[0]?.timestampUs, 5);
  pcap.close(); // twice is fine
});

Deno.test("PcapOut keeps its buffer bounded and writes only whole blocks", () => {
  const file = new MemoryFile();
  using pcap = new PcapOut(file, { application: "t", bufferSize: 512 });
  const big = encodeMessage("echo_request", {
    id: 9,
    data: new Uint8Array(2000),
  });
  for (let id = 1; id <= 40; id++) {
    pcap.frame("send", "127.0.0.1:9000", encodeMessage("ping", { id }), route);
    assert.ok(pcap.buffered <= 512);
    if (id === 20) pcap.frame("send", "127.0.0.1:9000", big, route);
  }
  let written: Uint8Array = new Uint8Array();
  for (const w of file.writes.slice(1)) {
    if (w.length > 512) {
      assert.equal(framesOf(concatBytes(file.writes[0]!, w)).length, 1);
    }
    written = concatBytes(written, w);
    // Every write ends on a block boundary: a crash leaves whole packets.
    assert.equal(readPcapng(concatBytes(file.writes[0]!, written)).trailing, 0);
  }
  pcap.flush();
  assert.equal(framesOf(file.bytes).length, 41);
});

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

Deno.test("PcapOut flushes on its own shortly after a frame arrives", async () => {
  const file = new MemoryFile();
  using pcap = new PcapOut(file, { application: "t", flushDelayMs: 1 });
  const written = file.nextWrite();
  pcap.frame("send", "127.0.0.1:1", encodeMessage("ping", {}), route);
  // The flush timer is unref'd (it never keeps a role alive): this bound
  // keeps the test's event loop running until it fires.
  const bound = setTimeout(() => {}, 5000);
  await written;
  clearTimeout(bound);
  assert.equal(framesOf(file.bytes).length, 1);
  assert.equal(pcap.buffered, 0);
});

Deno.test("PcapOut masks passwords and tokens: they never reach the file", () => {
  const file = new MemoryFile();
  const pcap = new PcapOut(file, { application: "t" });
  const login = encodeMessage("login", {
    id: 1,
    user: "alice",
    password: "wonderland",
  });
  pcap.frame("send", "127.0.0.1:9200", login, route);
  pcap.frame(
    "recv",
    "127.0.0.1:9200",
    encodeMessage("login_ok", {
      id: 1,
      user: "alice",
      token: "tok-secret-123",
      ttl: 60,
    }),
    route,
  );
  pcap.close();
  assert.ok(!contains(file.bytes, "wonderland"));
  assert.ok(!contains(file.bytes, "tok-secret-123"));
  const [sent, received] = framesOf(file.bytes);
  assert.deepEqual(sent!.message.fields, {
    id: 1,
    user: "alice",
    password: "**********",
  });
  assert.equal(
    received!.message.type === "login_ok" && received!.message.fields.token,
    "**************",
  );
  assert.ok(contains(login, "wonderland"), "the caller's bytes are untouched");
});

Deno.test("PcapOut without a route reads the peer text and marks the transport unknown", () => {
  const file = new MemoryFile();
  const pcap = new PcapOut(file, { application: "t" });
  pcap.frame("recv", "[::1]:7000", encodeMessage("ping", {}), undefined);
  pcap.close();
  assert.deepEqual(framesOf(file.bytes)[0]!.header, {
    direction: "recv",
    transport: "unknown",
    source: { address: "::1", port: 7000 },
    destination: { address: "::", port: 0 },
  });
});

Deno.test("PcapOut reports a failed write once and stops capturing; the caller goes on", () => {
  const file = new MemoryFile();
  const errors: unknown[] = [];
  const pcap = new PcapOut(file, {
    application: "t",
    bufferSize: 64,
    onError: (e) => errors.push(e),
  });
  file.failWith = new Error("disk full");
  for (let id = 1; id <= 10; id++) {
    pcap.frame("send", "127.0.0.1:1", encodeMessage("ping", { id }), route);
  }
  pcap.close();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /disk full/);
  assert.ok(file.closed);
});

Deno.test("a Tracer with a capture and no mode prints nothing and captures every frame of a TCP exchange", async () => {
  const serverFile = new MemoryFile();
  const clientFile = new MemoryFile();
  const printed: string[] = [];
  const serverPcap = new PcapOut(serverFile, { application: "server" });
  const clientPcap = new PcapOut(clientFile, { application: "client" });
  {
    await using server = new TlvServer({
      services: [calcService()],
      port: 0,
      log: new Logger({ sink: () => {} }),
      tracer: new Tracer(undefined, (l) => printed.push(l), {
        capture: serverPcap,
      }),
    });
    await using client = await connectTlv({
      port: server.addr.port,
      service: "calc",
      tracer: new Tracer("frames", (l) => printed.push(l), {
        capture: clientPcap,
      }),
    });
    await client.request("calc_request", { expression: "1+2" });
    await client.request("calc_request", { expression: "1/0" }).catch(
      () => {},
    );
    const local = client.fc.conn.localAddr as Deno.NetAddr;
    serverPcap.close();
    clientPcap.close();
    const serverFrames = framesOf(serverFile.bytes);
    const clientFrames = framesOf(clientFile.bytes);
    const kinds = (frames: typeof serverFrames) =>
      frames.map((f) => `${f.header.direction} ${f.message.type}`);
    assert.deepEqual(kinds(clientFrames), [
      "send hello",
      "recv hello_ok",
      "send calc_request",
      "recv calc_result",
      "send calc_request",
      "recv error",
    ]);
    assert.deepEqual(
      kinds(serverFrames),
      kinds(clientFrames).map((k) =>
        k.replace(/^(send|recv)/, (d) => d === "send" ? "recv" : "send")
      ),
    );
    // The same bytes at both ends, and the same two sockets named.
    for (let i = 0; i < clientFrames.length; i++) {
      assert.deepEqual(serverFrames[i]!.frame, clientFrames[i]!.frame);
      assert.deepEqual(serverFrames[i]!.header.source, {
        address: "127.0.0.1",
        port: clientFrames[i]!.header.direction === "send"
          ? local.port
          : server.addr.port,
      });
      assert.deepEqual(
        serverFrames[i]!.header.source,
        clientFrames[i]!.header.source,
      );
      assert.equal(clientFrames[i]!.header.transport, "tcp");
    }
    assert.equal(printed.length, 6, "only the client's tracer prints");
  }
});

Deno.test("UDP servers and clients capture their datagrams with transport UDP", async () => {
  const serverFile = new MemoryFile();
  const clientFile = new MemoryFile();
  const serverPcap = new PcapOut(serverFile, { application: "server" });
  const clientPcap = new PcapOut(clientFile, { application: "client" });
  await using server = new UdpServer({
    service: echoService(),
    port: 0,
    log: new Logger({ sink: () => {} }),
    tracer: new Tracer(undefined, undefined, { capture: serverPcap }),
  });
  await using client = new UdpClient({
    port: server.addr.port,
    tracer: new Tracer(undefined, undefined, { capture: clientPcap }),
  });
  const reply: Message = await client.request("echo_request", {
    data: encoder.encode("hi"),
  }, 5000);
  assert.equal(reply.type, "echo_reply");
  serverPcap.close();
  clientPcap.close();
  const serverFrames = framesOf(serverFile.bytes);
  const clientFrames = framesOf(clientFile.bytes);
  assert.deepEqual(serverFrames.map((f) => f.message.type), [
    "echo_request",
    "echo_reply",
  ]);
  assert.deepEqual(clientFrames.map((f) => f.message.type), [
    "echo_request",
    "echo_reply",
  ]);
  for (const f of [...serverFrames, ...clientFrames]) {
    assert.equal(f.header.transport, "udp");
  }
  assert.equal(clientFrames[0]!.header.destination.port, server.addr.port);
  assert.equal(serverFrames[0]!.header.destination.port, server.addr.port);
  assert.equal(
    serverFrames[0]!.header.source.port,
    clientFrames[0]!.header.source.port,
  );
});

Deno.test("openPcapOut() truncates an old file, and names the reason when it cannot open one", async () => {
  await using tmp = await tempDir({ prefix: "pcap_out_" });
  const path = join(tmp.path, "old.pcapng");
  await Deno.writeFile(path, new Uint8Array(10_000).fill(1));
  const log = new Logger({ sink: () => {} });
  const pcap = openPcapOut(path, { application: "t", log });
  assert.ok(pcap);
  pcap.close();
  const parsed = readPcapng(await Deno.readFile(path));
  assert.equal(parsed.trailing, 0);
  assert.equal(parsed.packets.length, 0);
  assert.equal(openPcapOut(undefined, { application: "t", log }), undefined);
  assert.throws(
    () =>
      openPcapOut(join(tmp.path, "no", "x.pcapng"), { application: "t", log }),
    (e) =>
      e instanceof UsageError &&
      /^Cannot open --pcap-out .*x\.pcapng: its directory does not exist$/
        .test(e.message),
  );
  assert.throws(
    () => openPcapOut(tmp.path, { application: "t", log }),
    UsageError,
  );
});

Deno.test("frames over TLS are captured as TLS, in the clear as the roles see them", async () => {
  const dir = new URL("../testdata/tls/", import.meta.url);
  const [ca, cert, key] = await Promise.all(
    ["ca.pem", "server.pem", "server-key.pem"].map((name) =>
      Deno.readTextFile(new URL(name, dir))
    ),
  );
  const file = new MemoryFile();
  const pcap = new PcapOut(file, { application: "t" });
  {
    await using server = new TlvServer({
      services: [calcService()],
      port: 0,
      tls: { cert: cert!, key: key! },
      log: new Logger({ sink: () => {} }),
      tracer: new Tracer(undefined, undefined, { capture: pcap }),
    });
    await using client = await connectTlv({
      hostname: "localhost",
      port: server.addr.port,
      service: "calc",
      tls: { caCerts: [ca!] },
    });
    await client.request("calc_request", { expression: "6*7" });
    pcap.close();
  }
  const frames = framesOf(file.bytes);
  assert.deepEqual(frames.map((f) => f.message.type), [
    "hello",
    "hello_ok",
    "calc_request",
    "calc_result",
  ]);
  for (const f of frames) assert.equal(f.header.transport, "tls");
});
