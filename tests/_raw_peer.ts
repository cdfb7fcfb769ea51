/**
 * Helpers for tests that talk to a server over a raw `Deno.Conn`, byte by
 * byte, with the real codec — the way a hand-written client would.
 *
 * @module
 */

import { concat } from "../lib/frame_conn.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage } from "../protocol/tlv/message.ts";
import type { Message } from "../protocol/tlv/registry.ts";
import { CLASS_IN, RR_TYPE } from "../protocol/dns/constants.ts";
import {
  decodeMessage as decodeDnsMessage,
  type DnsMessage,
  type Edns,
} from "../protocol/dns/message.ts";
import { TcpMessageReader } from "../protocol/dns/tcp.ts";

/** Rejects with a message naming `what` if `promise` is not settled in time. */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes every byte (a socket write may take only part). */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/**
 * Reads until the server closes the connection (a reset after the last
 * bytes counts as a close) and returns everything received.
 */
export async function readToEnd(
  conn: Deno.Conn,
  timeoutMs = 5000,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  const read = async () => {
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset) return;
        throw error;
      }
      if (n === null) return;
      chunks.push(buffer.slice(0, n));
    }
  };
  await within(read(), timeoutMs, "the server to close the connection");
  return concat(chunks);
}

/**
 * Reads until `count` messages have arrived, or the peer closes (then the
 * messages so far are returned), decoding them with the real codec.
 */
export async function readMessages(
  conn: Deno.Conn,
  count: number,
  timeoutMs = 5000,
): Promise<Message[]> {
  const messages: Message[] = [];
  let pending: Uint8Array = new Uint8Array(0);
  const buffer = new Uint8Array(64 * 1024);
  const read = async () => {
    while (messages.length < count) {
      const n = await conn.read(buffer);
      if (n === null) return;
      pending = concat([pending, buffer.subarray(0, n)]);
      const decoded = decodeAll(pending);
      messages.push(...decoded.messages);
      pending = pending.slice(pending.length - decoded.rest);
    }
  };
  await within(read(), timeoutMs, `${count} messages`);
  return messages;
}

/**
 * Decodes every whole frame in `bytes` with the real codec; returns the
 * messages and how many bytes are left over after the last whole frame.
 */
export function decodeAll(
  bytes: Uint8Array,
): { messages: Message[]; rest: number } {
  const messages: Message[] = [];
  let at = 0;
  for (;;) {
    const decoded = decodeFrame(bytes, at);
    if (decoded === undefined) break;
    messages.push(decodeMessage(decoded.frame));
    at = decoded.next;
  }
  return { messages, rest: bytes.length - at };
}

/** One HTTP response as read off a raw connection by {@linkcode HttpResponseReader}. */
export interface RawHttpResponse {
  /** The status line's version, e.g. "HTTP/1.1". */
  readonly version: string;
  readonly status: number;
  readonly reason: string;
  /** The header fields; several lines of one name are joined with ", ". */
  readonly headers: Headers;
  /** Every header line as sent (name case kept), in order. */
  readonly rawHeaders: readonly (readonly [string, string])[];
  /** The body, de-chunked when it was sent chunked. */
  readonly body: Uint8Array;
  /** How the body was delimited. */
  readonly framing: "none" | "length" | "chunked" | "close";
}

const LATIN1 = new TextDecoder("latin1");

/**
 * Reads HTTP/1.x responses off a raw connection, one at a time, with a small
 * parser of its own (independent of the server's codec): Content-Length,
 * chunked and close-delimited bodies; 1xx, 204, 304 and responses to HEAD
 * have none. A reset after the last bytes counts as the end of the stream.
 *
 * @example
 * ```ts
 * const reader = new HttpResponseReader(conn);
 * const response = await reader.read();
 * await reader.expectEnd();
 * ```
 */
export class HttpResponseReader {
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  #eof = false;
  #timeoutMs: number;
  #scratch = new Uint8Array(64 * 1024);

  /** `timeoutMs` bounds each wait for bytes (default 5000). */
  constructor(conn: Deno.Conn, options: { timeoutMs?: number } = {}) {
    this.#conn = conn;
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Whether the peer has closed (seen by a read returning end of stream). */
  get ended(): boolean {
    return this.#eof;
  }

  /** Reads one whole response; `head: true` when it answers a HEAD request. */
  async read(options: { head?: boolean } = {}): Promise<RawHttpResponse> {
    let end: number;
    while ((end = indexOfCrlfCrlf(this.#buf)) < 0) {
      if (!(await this.#fill())) {
        throw new Error(
          `the connection ended inside a response head (${this.#buf.length} bytes: ${
            JSON.stringify(LATIN1.decode(this.#buf.subarray(0, 200)))
          })`,
        );
      }
    }
    const lines = LATIN1.decode(this.#buf.subarray(0, end)).split("\r\n");
    this.#buf = this.#buf.subarray(end + 4);
    const statusLine = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(lines[0] ?? "");
    if (statusLine === null) {
      throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    }
    const rawHeaders: [string, string][] = [];
    const headers = new Headers();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) {
        throw new Error(`bad header line ${JSON.stringify(line)}`);
      }
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      rawHeaders.push([name, value]);
      headers.append(name, value);
    }
    const status = Number(statusLine[2]);
    const base = {
      version: statusLine[1]!,
      status,
      reason: statusLine[3]!,
      headers,
      rawHeaders,
    };
    if (
      options.head || status < 200 || status === 204 || status === 304
    ) {
      return { ...base, body: new Uint8Array(0), framing: "none" };
    }
    if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) {
      return { ...base, body: await this.#readChunked(), framing: "chunked" };
    }
    const length = headers.get("content-length");
    if (length !== null) {
      if (!/^\d+$/.test(length)) {
        throw new Error(`bad Content-Length ${JSON.stringify(length)}`);
      }
      return {
        ...base,
        body: await this.#take(Number(length)),
        framing: "length",
      };
    }
    return { ...base, body: await this.readEnd(), framing: "close" };
  }

  /**
   * Reads until the peer closes and returns the bytes that came after the
   * last response read (usually none).
   */
  async readEnd(): Promise<Uint8Array> {
    const parts = [this.#buf];
    this.#buf = new Uint8Array(0);
    for (;;) {
      const n = await this.#readInto(this.#scratch);
      if (n === null) return concat(parts);
      parts.push(this.#scratch.slice(0, n));
    }
  }

  /** Waits for the peer to close; throws if any further bytes arrive. */
  async expectEnd(): Promise<void> {
    const rest = await this.readEnd();
    if (rest.length > 0) {
      throw new Error(
        `expected the connection to close, but ${rest.length} more bytes came: ${
          JSON.stringify(LATIN1.decode(rest.subarray(0, 200)))
        }`,
      );
    }
  }

  async #take(n: number): Promise<Uint8Array> {
    // Straight into the result: a multi-MiB body is never re-copied.
    const out = new Uint8Array(n);
    let have = Math.min(n, this.#buf.length);
    out.set(this.#buf.subarray(0, have));
    this.#buf = this.#buf.subarray(have);
    while (have < n) {
      const got = await this.#readInto(out.subarray(have));
      if (got === null) {
        throw new Error(
          `the connection ended after ${have} of ${n} body bytes`,
        );
      }
      have += got;
    }
    return out;
  }

  async #line(): Promise<string> {
    let lf: number;
    while ((lf = this.#buf.indexOf(0x0a)) < 0) {
      if (!(await this.#fill())) {
        throw new Error("the connection ended inside a chunked body");
      }
    }
    const line = LATIN1.decode(this.#buf.subarray(0, lf));
    this.#buf = this.#buf.subarray(lf + 1);
    if (!line.endsWith("\r")) {
      throw new Error(
        `chunk line ${JSON.stringify(line)} does not end in CRLF`,
      );
    }
    return line.slice(0, -1);
  }

  async #readChunked(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (;;) {
      const sizeLine = await this.#line();
      const size = /^([0-9a-fA-F]+)(?:;.*)?$/.exec(sizeLine);
      if (size === null) {
        throw new Error(`bad chunk size line ${JSON.stringify(sizeLine)}`);
      }
      const n = parseInt(size[1]!, 16);
      if (n === 0) break;
      parts.push(await this.#take(n));
      const end = await this.#take(2);
      if (end[0] !== 0x0d || end[1] !== 0x0a) {
        throw new Error("chunk data is not followed by CRLF");
      }
    }
    while ((await this.#line()) !== ""); // trailer fields, then the empty line
    return concat(parts);
  }

  async #fill(): Promise<boolean> {
    const n = await this.#readInto(this.#scratch);
    if (n === null) return false;
    this.#buf = concat([this.#buf, this.#scratch.subarray(0, n)]);
    return true;
  }

  async #readInto(target: Uint8Array): Promise<number | null> {
    if (this.#eof) return null;
    let n: number | null;
    try {
      n = await within(
        this.#conn.read(target),
        this.#timeoutMs,
        "bytes of an HTTP response",
      );
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) n = null;
      else throw error;
    }
    if (n === null) this.#eof = true;
    return n;
  }
}

function indexOfCrlfCrlf(bytes: Uint8Array): number {
  for (
    let at = bytes.indexOf(0x0d);
    at >= 0;
    at = bytes.indexOf(0x0d, at + 1)
  ) {
    if (
      bytes[at + 1] === 0x0a && bytes[at + 2] === 0x0d && bytes[at + 3] === 0x0a
    ) return at;
  }
  return -1;
}

/** A datagram socket on loopback, port 0, closed on dispose. */
export function openUdp(): Deno.DatagramConn & Disposable {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  return Object.assign(socket, {
    [Symbol.dispose]: () => {
      try {
        socket.close();
      } catch { /* closed */ }
    },
  });
}

/**
 * Receives one datagram on `socket`, or rejects naming `what` after
 * `timeoutMs`. The receive left pending by a timeout ends when the socket
 * closes; its rejection is handled here.
 */
export function receiveWithin(
  socket: Deno.DatagramConn,
  timeoutMs: number,
  what: string,
): Promise<[Uint8Array, Deno.NetAddr]> {
  const receiving = socket.receive();
  receiving.catch(() => {});
  return within(receiving, timeoutMs, what).then((
    [data, addr],
  ) => [data, addr as Deno.NetAddr]);
}

/**
 * A DNS query of one question, class IN, RD set unless `rd: false`; with
 * `edns`, an OPT record (UDP size 1232 unless given, no options).
 */
export function dnsQuery(
  id: number,
  name: string,
  type: number = RR_TYPE.A,
  options: { rd?: boolean; edns?: Partial<Edns> } = {},
): DnsMessage {
  return {
    id,
    flags: {
      qr: false,
      opcode: 0,
      aa: false,
      tc: false,
      rd: options.rd ?? true,
      ra: false,
      ad: false,
      cd: false,
      rcode: 0,
    },
    questions: [{ name, type, class: CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
    ...(options.edns
      ? {
        edns: {
          udpSize: 1232,
          extendedRcode: 0,
          version: 0,
          dnssecOk: false,
          options: [],
          ...options.edns,
        },
      }
      : {}),
  };
}

/**
 * Reads `count` length-prefixed DNS messages (RFC 1035 §4.2.2) off `conn`
 * and decodes them; rejects if the peer closes first or time runs out.
 */
export async function readDnsMessages(
  conn: Deno.Conn,
  count: number,
  timeoutMs = 5000,
): Promise<DnsMessage[]> {
  const reader = new TcpMessageReader();
  const buffer = new Uint8Array(65_536);
  const messages: DnsMessage[] = [];
  const read = async () => {
    while (messages.length < count) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("the peer closed the connection");
      for (const bytes of reader.push(buffer.subarray(0, n))) {
        messages.push(decodeDnsMessage(bytes));
      }
    }
  };
  await within(read(), timeoutMs, `${count} DNS messages over TCP`);
  return messages;
}
