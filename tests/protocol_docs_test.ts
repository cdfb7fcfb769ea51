/**
 * docs/PROTOCOL.md is generated from the registry; these tests keep it so:
 * the committed file must equal the generator's output, be stable under
 * `deno fmt`, show the bytes a real server really sends, and carry a Python
 * client that really works.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Logger } from "../lib/log.ts";
import { TlvServer } from "../lib/server.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { calcService } from "../roles/calc/service.ts";
import { echoService } from "../roles/echo/service.ts";
import {
  calcExample,
  DOC_PATH,
  echoExample,
  type ExampleFrame,
  PYTHON_CLIENT_MARKER,
  renderProtocolDoc,
} from "../scripts/gen_protocol_docs.ts";
import { ROOT } from "./_util.ts";
import { writeAll } from "./_raw_peer.ts";

const quiet = () => new Logger({ sink: () => {} });

Deno.test("docs/PROTOCOL.md is what renderProtocolDoc() generates", async () => {
  const onDisk = await Deno.readTextFile(`${ROOT}${DOC_PATH}`).catch(
    () => "",
  );
  const expected = renderProtocolDoc();
  if (onDisk === expected) return;
  const a = onDisk.split("\n");
  const b = expected.split("\n");
  let line = 0;
  while (line < a.length && a[line] === b[line]) line++;
  assert.fail(
    `${DOC_PATH} is out of date with the registry: run \`deno task docs\`.\n` +
      `First difference at line ${line + 1}:\n` +
      `  on disk:   ${JSON.stringify(a[line] ?? "<end of file>")}\n` +
      `  generated: ${JSON.stringify(b[line] ?? "<end of file>")}`,
  );
});

Deno.test("renderProtocolDoc() output is left unchanged by deno fmt", async () => {
  const text = renderProtocolDoc();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await writeAndClose(child.stdin, text);
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `deno fmt failed: ${stderr}`);
  const formatted = new TextDecoder().decode(out.stdout);
  assert.equal(formatted, text, "the generator must emit deno fmt's layout");
});

Deno.test("the worked examples are the bytes a real server exchanges", async () => {
  await using server = new TlvServer({
    services: [echoService(), calcService()],
    port: 0,
    log: quiet(),
  });
  for (const example of [echoExample(), calcExample()]) {
    await replay(server.addr.port, example);
  }
});

Deno.test("the Python client in docs/PROTOCOL.md computes 1+2 and reports 1/0", async () => {
  const script = pythonClient(renderProtocolDoc());
  await using server = new TlvServer({
    services: [calcService()],
    port: 0,
    log: quiet(),
  });
  const port = String(server.addr.port);

  const ok = await runPython(script, [port, "1+2"]);
  assert.equal(ok.code, 0, `the client failed: ${ok.stderr}`);
  assert.equal(ok.stdout, "3\n");

  const bad = await runPython(script, [port, "1/0"]);
  assert.equal(bad.code, 1, `1/0 must fail; stdout: ${bad.stdout}`);
  assert.match(bad.stderr, /server error 33 \(column 2\): division by zero/);
});

/** Sends the client frames of a conversation and checks each server frame. */
async function replay(port: number, frames: readonly ExampleFrame[]) {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new FrameStream(conn);
  for (const [i, frame] of frames.entries()) {
    if (frame.from === "client") {
      await writeAll(conn, frame.bytes);
    } else {
      const got = await reader.next();
      assert.deepEqual(
        hex(got),
        hex(frame.bytes),
        `frame ${i + 1} of the example differs from what the server sent`,
      );
    }
  }
}

/** Whole frames read from a connection, as the raw bytes that carried them. */
class FrameStream {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async next(): Promise<Uint8Array> {
    for (;;) {
      const decoded = decodeFrame(this.#buf, 0);
      if (decoded !== undefined) {
        const frame = this.#buf.slice(0, decoded.next);
        this.#buf = this.#buf.slice(decoded.next);
        return frame;
      }
      const chunk = new Uint8Array(4096);
      const n = await this.#conn.read(chunk);
      if (n === null) throw new Error("the server closed the connection");
      const joined = new Uint8Array(this.#buf.length + n);
      joined.set(this.#buf);
      joined.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = joined;
    }
  }
}

function pythonClient(doc: string): string {
  const start = doc.indexOf(`\`\`\`python\n${PYTHON_CLIENT_MARKER}\n`);
  assert.ok(
    start >= 0,
    `no python block starting with ${PYTHON_CLIENT_MARKER}`,
  );
  const body = doc.indexOf("\n", start) + 1;
  const end = doc.indexOf("\n```", body);
  assert.ok(end > body, "the python block is not closed");
  return doc.slice(body, end + 1);
}

async function runPython(
  script: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("python3", {
      args: ["-", ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "python3 is not on PATH: install it (CI installs it) to test the " +
          "Python client of docs/PROTOCOL.md",
      );
    }
    throw error;
  }
  await writeAndClose(child.stdin, script);
  const out = await child.output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

async function writeAndClose(
  stream: WritableStream<Uint8Array>,
  text: string,
): Promise<void> {
  const writer = stream.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}
