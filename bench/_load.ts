/**
 * A closed-loop load generator for TLV and HTTP/1.1 servers over TCP and for
 * DNS servers over UDP: N connections (or UDP sockets), each keeping K
 * requests in flight, replies counted straight off the socket.
 *
 * The generator is built not to be the bottleneck: requests are encoded once
 * (a ring of {@linkcode RING} requests, stored twice in a row so any run of
 * up to `RING` consecutive requests is one `subarray`). A TLV reply is only
 * checked for its type, and a full decode-and-compare runs on every
 * {@linkcode VERIFY_EVERY}th reply. An HTTP response head is scanned as
 * bytes for its status and Content-Length (checked on every response), the
 * body is counted without copying, and every {@linkcode VERIFY_EVERY}th
 * body (the first on each connection included) is compared byte for byte
 * with the expected one. Either way, a server answering errors or garbage
 * fails the run instead of producing a number.
 *
 * Over UDP ({@linkcode DnsLoadJob}) every socket has its own block of
 * query ids, each query pre-encoded with its id; a reply counts only when
 * its id matches a query still outstanding on that socket, and its QR bit,
 * opcode, rcode, question and answer counts are checked on every reply
 * (every {@linkcode VERIFY_EVERY}th one, and the first, is decoded in full
 * and its question and records compared). A datagram can be lost: a query
 * unanswered after {@linkcode DNS_LOST_AFTER_MS} is counted lost and
 * replaced, so the load stays at K in flight and the drain ends.
 *
 * This module is also a Worker entry point ({@linkcode LoadWorker}): the
 * bench runs the generator on its own thread so servers and generator each
 * get a core instead of sharing one event loop.
 *
 * @module
 */

import { median, threadCpuSeconds, within } from "./_util.ts";
import { writeAll } from "../lib/file_io.ts";
import { Buffer } from "node:buffer";
import { concat } from "../lib/frame_conn.ts";
import { type Frame } from "../protocol/tlv/frame.ts";
import { FrameReader } from "../protocol/tlv/frame_reader.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import {
  MESSAGES,
  PROTOCOL_VERSION,
  type ServiceName,
} from "../protocol/tlv/registry.ts";
import { CLASS_IN, rcodeName, typeName } from "../protocol/dns/constants.ts";
import {
  canonicalName,
  decodeMessage as decodeDns,
  encodeMessage as encodeDns,
  type ResourceRecord,
} from "../protocol/dns/message.ts";

/** Requests in the pre-encoded ring; also the most a connection keeps in flight. */
export const RING = 16;
/** Every this many replies per connection, one is decoded and compared. */
export const VERIFY_EVERY = 1000;
/** Slices a measurement window is cut into by default. */
export const DEFAULT_SLICES = 4;
/** Query ids each UDP socket owns; far more than it keeps in flight. */
export const DNS_IDS_PER_SOCKET = 1024;
/** Most UDP sockets one DNS load opens: their id blocks fill the 16-bit id. */
export const MAX_DNS_SOCKETS = 65_536 / DNS_IDS_PER_SOCKET;
/** A UDP query unanswered this long (ms) is counted lost and replaced. */
export const DNS_LOST_AFTER_MS = 1000;

/**
 * The request mix: expressions with values worked out by hand, so a calc
 * reply is checked against something the server did not compute. The echo
 * workload sends the same bytes as its payload, so both services see
 * requests of the same sizes.
 */
export const EXPRESSIONS: readonly (readonly [string, number])[] = [
  ["1+2", 3],
  ["2*(3+4)", 14],
  ["10/4", 2.5],
  ["(1+2)*(3+4)-5", 16],
  ["2^10", 1024],
  ["100-99*2", -98],
  ["((1+2)+3)+4", 10],
  ["7/2+0.5", 4],
  ["3.5*2", 7],
  ["1+2+3+4+5+6+7+8", 36],
  ["(8-3)*(2+2)/5", 4],
  ["-(4+5)", -9],
  ["42", 42],
  ["9*9*9", 729],
  ["1000/8/5", 25],
  ["(2+3)*(4+5)*(6+7)", 585],
];

/** What every measurement has: where, how much load, for how long. */
export interface LoadShape {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Connections opened (all before the warm-up starts). */
  connections: number;
  /** Requests kept in flight per connection, 1..{@linkcode RING}. */
  inFlight: number;
  /** Load before counting starts (ms). */
  warmupMs: number;
  /** Longest counting window (ms). */
  measureMs: number;
  /**
   * The window is cut into this many equal slices, each counted on its own,
   * and the median slice is reported: a neighbour process stealing the CPU
   * for part of the window moves the median far less than the total.
   * Default {@linkcode DEFAULT_SLICES}.
   */
  slices?: number;
  /** Counting also stops after this many replies. */
  maxRequests: number;
  /** Bound on connecting, the hello and the final drain (ms). Default 5000. */
  timeoutMs?: number;
}

/** A measurement of a TLV server. */
export interface TlvLoadJob extends LoadShape {
  /** Service to say hello to; also picks the workload. */
  service: Extract<ServiceName, "echo" | "calc">;
}

/** What an HTTP load asks for and expects back. */
export interface HttpWorkload {
  /** Request path, sent as `GET {path} HTTP/1.1` with a Host header. */
  path: string;
  /** The body every response must carry (status 200, this Content-Length). */
  body: Uint8Array;
}

/** A measurement of an HTTP/1.1 server over keep-alive connections. */
export interface HttpLoadJob extends LoadShape {
  http: HttpWorkload;
}

/**
 * What a UDP DNS load asks and expects back. Every query asks the same
 * question, with RD set and no EDNS, so it is the header and the question
 * only (which a minimal responder can answer by appending records).
 */
export interface DnsWorkload {
  /** The name asked, such as `"www.mit.edu"`. */
  name: string;
  /** The type asked, such as `RR_TYPE.A`. */
  type: number;
  /** The response code every reply must carry. */
  rcode: number;
  /**
   * The answer section, one `name TYPE data` string per record in any order
   * (`"www.mit.edu A 203.0.113.10"`; data is the address or target name).
   * Every reply's answer count is checked against it, sampled replies'
   * records too.
   */
  answers: readonly string[];
}

/**
 * A measurement of a DNS server over UDP: `connections` sockets, each
 * keeping `inFlight` queries outstanding.
 */
export interface DnsLoadJob extends LoadShape {
  dns: DnsWorkload;
}

/** One measurement to run. */
export type LoadJob = TlvLoadJob | HttpLoadJob | DnsLoadJob;

/** What one measurement found. */
export interface LoadResult {
  /** Replies counted in the window. */
  requests: number;
  /** Length of the window in seconds. */
  seconds: number;
  /** Median of the slice rates (`requests / seconds` if no slice completed). */
  perSecond: number;
  /** Replies per second in each completed slice, in order. */
  sliceRates: number[];
  /** Replies decoded in full and compared, over the whole run. */
  verified: number;
  /** Replies received over the whole run, warm-up and drain included. */
  replies: number;
  /**
   * Bytes counted in the window: HTTP response bodies, or everything read
   * from a TLV server.
   */
  bytes: number;
  /** Median of the slices' byte rates (`bytes / seconds` if none completed). */
  bytesPerSecond: number;
  /** Bytes per second in each completed slice, in order. */
  byteSliceRates: number[];
  /** CPU seconds the generator's own thread used over the whole run. */
  loadCpuSeconds: number;
  /**
   * UDP queries given up as lost (no reply within
   * {@linkcode DNS_LOST_AFTER_MS}) over the whole run; 0 over TCP.
   */
  lost: number;
  /**
   * UDP replies that matched no outstanding query (late replies to lost
   * queries, duplicates), not counted; 0 over TCP.
   */
  unmatched: number;
}

const encoder = new TextEncoder();
const HELLO_OK = MESSAGES.hello_ok.code;
const ERROR = MESSAGES.error.code;

interface Workload extends Ring {
  replyType: number;
  /** Throws unless `frame` is the right answer to ring entry `index`. */
  verify(frame: Frame, index: number): void;
}

function workload(service: TlvLoadJob["service"]): Workload {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 2 * RING; i++) {
    const [expression] = EXPRESSIONS[i % RING]!;
    const id = (i % RING) + 1;
    frames.push(
      service === "calc"
        ? encodeMessage("calc_request", { id, expression })
        : encodeMessage("echo_request", {
          id,
          data: encoder.encode(expression),
        }),
    );
  }
  const replyType = service === "calc"
    ? MESSAGES.calc_result.code
    : MESSAGES.echo_reply.code;
  return {
    ...ringOf(frames),
    replyType,
    verify(frame, index) {
      const [expression, value] = EXPRESSIONS[index]!;
      const { type, fields } = decodeMessage(frame);
      const wrong = (what: string) =>
        new Error(
          `Cannot trust the ${service} server: reply to request ${index + 1} (${
            JSON.stringify(expression)
          }) ${what}`,
        );
      if (!("id" in fields) || fields.id !== index + 1) {
        throw wrong(`has id ${"id" in fields ? fields.id : "none"}`);
      }
      if (type === "calc_result") {
        if (fields.value !== value) throw wrong(`is ${fields.value}`);
      } else if (type === "echo_reply") {
        const got = new TextDecoder().decode(fields.data);
        if (got !== expression) throw wrong(`echoes ${JSON.stringify(got)}`);
      } else {
        throw wrong(`is a ${type}`);
      }
    },
  };
}

/** Shared counters of one run. */
class Tally {
  /** Replies completed. */
  total = 0;
  /** Bytes counted (see {@linkcode LoadResult.bytes}). */
  bytes = 0;
  verified = 0;
  /** UDP queries given up as lost. */
  lost = 0;
  /** UDP replies matching no outstanding query. */
  unmatched = 0;
  stopping = false;
  #limit = Infinity;
  #onLimit: (() => void) | undefined;

  /** Calls `onLimit` once `total` reaches `limit`. */
  watch(limit: number, onLimit: () => void): void {
    this.#limit = limit;
    this.#onLimit = onLimit;
  }

  add(n: number): void {
    this.total += n;
    if (this.total >= this.#limit) {
      this.#limit = Infinity;
      this.#onLimit?.();
    }
  }
}

/** Pre-encoded requests: the ring, twice; request `i` starts at `offsets[i]`. */
interface Ring {
  bytes: Uint8Array;
  offsets: number[];
}

function ringOf(requests: readonly Uint8Array[]): Ring {
  const offsets = [0];
  for (const r of requests) offsets.push(offsets.at(-1)! + r.length);
  const bytes = new Uint8Array(offsets.at(-1)!);
  requests.forEach((r, i) => bytes.set(r, offsets[i]!));
  return { bytes, offsets };
}

/** One connection or socket of the generator, as the run drives it. */
interface LoadClient {
  /** Whatever must happen before the load starts (a hello, a first query). */
  open(): Promise<void>;
  /** Keeps `inFlight` requests outstanding until the tally says stop. */
  drive(inFlight: number): Promise<void>;
  /** Closes it; never throws. */
  close(): void;
}

/**
 * One client connection of the generator: keeps requests in flight and
 * hands what it reads to the protocol's {@linkcode LoadConnection.consume}.
 */
abstract class LoadConnection implements LoadClient {
  readonly conn: Deno.TcpConn;
  protected readonly tally: Tally;
  /** Replies completed on this connection. */
  protected received = 0;
  #ring: Ring;
  #buf: Uint8Array;
  /** Requests committed to the wire (written or about to be). */
  #issued = 0;
  /** Requests owed to the writer. */
  #owed = 0;
  /** Ring position of the next request to write. */
  #next = 0;
  #writing = false;
  #writeFailed: unknown;

  constructor(conn: Deno.TcpConn, ring: Ring, tally: Tally, readSize: number) {
    this.conn = conn;
    this.#ring = ring;
    this.tally = tally;
    this.#buf = new Uint8Array(readSize);
  }

  /** Whatever must happen before the load starts (a hello). */
  open(): Promise<void> {
    return Promise.resolve();
  }

  /** Closes the connection; never throws. */
  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /**
   * Takes the next bytes read; counts bytes and verified replies on the
   * tally; returns how many replies they completed. Throws on a wrong reply.
   */
  protected abstract consume(chunk: Uint8Array): number;

  /** Reads once; throws at end of stream. */
  protected async read(what: string): Promise<Uint8Array> {
    const n = await this.conn.read(this.#buf);
    if (n === null) throw new Error(`Cannot benchmark: server closed ${what}`);
    return this.#buf.subarray(0, n);
  }

  /** Keeps `inFlight` requests outstanding until the tally says stop. */
  async drive(inFlight: number): Promise<void> {
    this.#send(inFlight);
    const tally = this.tally;
    for (;;) {
      if (this.#writeFailed !== undefined) throw this.#writeFailed;
      if (tally.stopping && this.received === this.#issued) return;
      const done = this.consume(await this.read("early"));
      if (done === 0) continue;
      this.received += done;
      tally.add(done);
      if (!tally.stopping) this.#send(done);
    }
  }

  #send(n: number): void {
    this.#owed += n;
    this.#issued += n;
    if (!this.#writing) this.#pump();
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#owed > 0) {
        const n = Math.min(this.#owed, RING);
        const { bytes, offsets } = this.#ring;
        const chunk = bytes.subarray(
          offsets[this.#next]!,
          offsets[this.#next + n]!,
        );
        this.#owed -= n;
        this.#next = (this.#next + n) % RING;
        await writeAll(this.conn, chunk);
      }
    } catch (error) {
      this.#writeFailed = error;
    } finally {
      this.#writing = false;
    }
  }
}

/** A TLV connection: hello first, then frames counted off the reader. */
class TlvLoadConnection extends LoadConnection {
  #w: Workload;
  #service: string;
  #reader = new FrameReader();

  constructor(conn: Deno.TcpConn, job: TlvLoadJob, tally: Tally) {
    const w = workload(job.service);
    super(conn, w, tally, 64 * 1024);
    this.#w = w;
    this.#service = job.service;
  }

  /** Says hello and waits for hello_ok. */
  override async open(): Promise<void> {
    await writeAll(
      this.conn,
      encodeMessage("hello", {
        version: PROTOCOL_VERSION,
        service: this.#service,
      }),
    );
    for (;;) {
      const frames = this.#reader.push(await this.read("on hello"));
      if (frames.length === 0) continue;
      if (frames[0]!.type !== HELLO_OK) {
        throw unexpected(frames[0]!, this.#service);
      }
      return;
    }
  }

  protected override consume(chunk: Uint8Array): number {
    const w = this.#w;
    this.tally.bytes += chunk.length;
    const frames = this.#reader.push(chunk);
    let index = this.received;
    for (const frame of frames) {
      if (frame.type !== w.replyType) throw unexpected(frame, "load");
      if (index % VERIFY_EVERY === 0) {
        w.verify(frame, index % RING);
        this.tally.verified++;
      }
      index++;
    }
    return frames.length;
  }
}

/** Longest HTTP response head the generator accepts. */
const MAX_RESPONSE_HEAD = 16 * 1024;
const STATUS_200 = encoder.encode("HTTP/1.1 200 ");
const CONTENT_LENGTH = encoder.encode("content-length:");
const TRANSFER_ENCODING = encoder.encode("transfer-encoding:");
const CONNECTION_CLOSE = encoder.encode("connection: close");

/**
 * An HTTP/1.1 connection: the same GET over and over, responses split by
 * their Content-Length, bodies counted as they pass.
 */
class HttpLoadConnection extends LoadConnection {
  #expected: Buffer;
  /** Start of a head cut by the end of the last read. */
  #pending: Uint8Array | undefined;
  /** Body bytes still due for the current response; -1 while in a head. */
  #left = -1;
  /** Body bytes of the current response seen so far. */
  #seen = 0;
  /** Whether the current body is being compared. */
  #verifying = false;

  constructor(conn: Deno.TcpConn, job: HttpLoadJob, tally: Tally) {
    const request = encoder.encode(
      `GET ${job.http.path} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    super(
      conn,
      ringOf(Array.from({ length: 2 * RING }, () => request)),
      tally,
      256 * 1024,
    );
    const { body } = job.http;
    this.#expected = Buffer.from(body.buffer, body.byteOffset, body.length);
  }

  protected override consume(chunk: Uint8Array): number {
    let data = chunk;
    if (this.#pending !== undefined) {
      data = concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    let done = 0;
    let at = 0;
    while (at < data.length) {
      if (this.#left < 0) {
        const end = headEnd(data, at);
        if (end < 0) {
          if (data.length - at > MAX_RESPONSE_HEAD) {
            throw new Error(
              `Cannot benchmark: a response head is over ${MAX_RESPONSE_HEAD} bytes`,
            );
          }
          this.#pending = data.slice(at);
          break;
        }
        const length = responseLength(data, at, end);
        if (length !== this.#expected.length) {
          throw new Error(
            `Cannot trust the HTTP server: Content-Length ${length}, expected ${this.#expected.length}`,
          );
        }
        at = end;
        this.#left = length;
        this.#seen = 0;
        this.#verifying = (this.received + done) % VERIFY_EVERY === 0;
      }
      const n = Math.min(this.#left, data.length - at);
      if (this.#verifying && n > 0) this.#compare(data, at, n);
      this.#seen += n;
      this.#left -= n;
      this.tally.bytes += n;
      at += n;
      if (this.#left === 0) {
        this.#left = -1;
        if (this.#verifying) this.tally.verified++;
        done++;
      }
    }
    return done;
  }

  #compare(data: Uint8Array, at: number, n: number): void {
    const got = Buffer.from(data.buffer, data.byteOffset + at, n);
    const want = this.#expected.subarray(this.#seen, this.#seen + n);
    if (!got.equals(want)) {
      throw new Error(
        `Cannot trust the HTTP server: response ${
          this.received + 1
        } differs from the file within bytes ${this.#seen}..${this.#seen + n}`,
      );
    }
  }
}

/** The offset just past the CRLFCRLF ending a head at `from`, or -1. */
function headEnd(data: Uint8Array, from: number): number {
  for (
    let i = data.indexOf(0x0d, from);
    i >= 0;
    i = data.indexOf(0x0d, i + 1)
  ) {
    if (i + 3 >= data.length) return -1;
    if (data[i + 1] === 0x0a && data[i + 2] === 0x0d && data[i + 3] === 0x0a) {
      return i + 4;
    }
  }
  return -1;
}

/**
 * Checks a response head in `data[start, end)` for status 200 and returns
 * its Content-Length; throws on anything the generator cannot count.
 */
function responseLength(data: Uint8Array, start: number, end: number): number {
  const head = () => new TextDecoder().decode(data.subarray(start, end));
  if (!startsWith(data, start, STATUS_200, false)) {
    throw new Error(
      `Cannot benchmark: expected "HTTP/1.1 200", got ${
        JSON.stringify(head().split("\r\n")[0])
      }`,
    );
  }
  let length = -1;
  let line = data.indexOf(0x0a, start) + 1;
  while (line < end - 2) {
    const next = data.indexOf(0x0a, line) + 1;
    if (startsWith(data, line, CONTENT_LENGTH, true)) {
      length = 0;
      for (let i = line + CONTENT_LENGTH.length; i < next - 2; i++) {
        const c = data[i]!;
        if (c >= 0x30 && c <= 0x39) length = length * 10 + c - 0x30;
        else if (c !== 0x20 && c !== 0x09) {
          throw new Error(`Cannot benchmark: bad Content-Length in ${head()}`);
        }
      }
    } else if (
      startsWith(data, line, TRANSFER_ENCODING, true) ||
      startsWith(data, line, CONNECTION_CLOSE, true)
    ) {
      throw new Error(
        `Cannot benchmark: need Content-Length over a kept-alive connection, got ${
          JSON.stringify(head())
        }`,
      );
    }
    line = next;
  }
  if (length < 0) {
    throw new Error(`Cannot benchmark: no Content-Length in ${head()}`);
  }
  return length;
}

/** Whether `data` at `at` starts with `prefix` (ASCII case folded if `fold`). */
function startsWith(
  data: Uint8Array,
  at: number,
  prefix: Uint8Array,
  fold: boolean,
): boolean {
  if (at + prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const c = fold ? data[at + i]! | 0x20 : data[at + i]!;
    if (c !== prefix[i]) return false;
  }
  return true;
}

/**
 * A UDP socket of the generator: keeps `inFlight` DNS queries outstanding
 * against one server, matching replies to queries by id.
 */
class DnsLoadSocket implements LoadClient {
  #sock: Deno.DatagramConn;
  #server: Deno.NetAddr;
  #w: DnsWorkload;
  #tally: Tally;
  /** The socket's pre-encoded queries; query `i` carries id `#firstId + i`. */
  #queries: Uint8Array[];
  #firstId: number;
  /** When query `i` was sent (ms), 0 when it is not outstanding. */
  #sentAt = new Float64Array(DNS_IDS_PER_SOCKET);
  /** Index of the next query to send. */
  #next = 0;
  #outstanding = 0;
  /** Replies counted on this socket. */
  #received = 0;
  /** Every datagram is read into this one buffer. */
  #buf = new Uint8Array(65_536);
  #failed: unknown;
  #closed = false;

  constructor(job: DnsLoadJob, index: number, tally: Tally) {
    this.#w = job.dns;
    this.#tally = tally;
    this.#server = { transport: "udp", hostname: "127.0.0.1", port: job.port };
    this.#firstId = index * DNS_IDS_PER_SOCKET;
    const template = encodeDns({
      id: 0,
      flags: {
        qr: false,
        opcode: 0,
        aa: false,
        tc: false,
        rd: true,
        ra: false,
        ad: false,
        cd: false,
        rcode: 0,
      },
      questions: [{ name: job.dns.name, type: job.dns.type, class: CLASS_IN }],
      answers: [],
      authorities: [],
      additionals: [],
    }).bytes;
    const all = new Uint8Array(DNS_IDS_PER_SOCKET * template.length);
    this.#queries = [];
    for (let i = 0; i < DNS_IDS_PER_SOCKET; i++) {
      const query = all.subarray(
        i * template.length,
        (i + 1) * template.length,
      );
      query.set(template);
      query[0] = (this.#firstId + i) >> 8;
      query[1] = (this.#firstId + i) & 0xff;
      this.#queries.push(query);
    }
    this.#sock = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
  }

  /** Asks once (re-sending every 250 ms) and checks the reply in full. */
  async open(): Promise<void> {
    const reply = this.#sock.receive(this.#buf);
    reply.catch(() => {});
    for (let attempt = 0; attempt < 8; attempt++) {
      this.#sendQuery();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = await Promise.race([
        reply,
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), 250);
        }),
      ]).finally(() => clearTimeout(timer));
      if (got === undefined) continue;
      const [data] = got;
      const slot = this.#slotOf(data);
      if (slot < 0) {
        throw new Error(
          `Cannot trust the DNS server on port ${this.#server.port}: its first reply has an id no query had`,
        );
      }
      this.#settle(slot);
      this.#check(data, true);
      return;
    }
    throw new Error(
      `Cannot benchmark: no reply from the DNS server on udp://127.0.0.1:${this.#server.port} in 2 s`,
    );
  }

  async drive(inFlight: number): Promise<void> {
    const tally = this.#tally;
    for (let i = 0; i < inFlight; i++) this.#sendQuery();
    const sweeper = setInterval(() => this.#sweep(), DNS_LOST_AFTER_MS / 4);
    try {
      for (;;) {
        if (this.#failed !== undefined) throw this.#failed;
        if (tally.stopping && this.#outstanding === 0) return;
        let data: Uint8Array;
        try {
          [data] = await this.#sock.receive(this.#buf);
        } catch (error) {
          // The sweeper closes the socket once every query left is lost.
          if (this.#closed && this.#failed === undefined) return;
          throw this.#failed ?? error;
        }
        const slot = this.#slotOf(data);
        if (slot < 0) {
          tally.unmatched++;
          continue;
        }
        this.#check(data, this.#received % VERIFY_EVERY === 0);
        this.#settle(slot);
        this.#received++;
        tally.bytes += data.length;
        tally.add(1);
        if (!tally.stopping) this.#sendQuery();
      }
    } finally {
      clearInterval(sweeper);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#sock.close();
    } catch { /* already closed */ }
  }

  #sendQuery(): void {
    const slot = this.#next;
    this.#next = (slot + 1) % DNS_IDS_PER_SOCKET;
    if (this.#sentAt[slot] !== 0) {
      // A query sent 1024 queries ago still waits: it is lost by now.
      this.#sentAt[slot] = 0;
      this.#outstanding--;
      this.#tally.lost++;
    }
    this.#sentAt[slot] = performance.now();
    this.#outstanding++;
    this.#sock.send(this.#queries[slot]!, this.#server).catch((error) => {
      this.#failed ??= new Error(
        `Cannot benchmark: sending to udp://127.0.0.1:${this.#server.port} failed: ${error.message}`,
      );
      this.close();
    });
  }

  /** The query index a reply answers, or -1 when none is outstanding. */
  #slotOf(data: Uint8Array): number {
    if (data.length < 2) return -1;
    const slot = ((data[0]! << 8) | data[1]!) - this.#firstId;
    return slot >= 0 && slot < DNS_IDS_PER_SOCKET && this.#sentAt[slot] !== 0
      ? slot
      : -1;
  }

  #settle(slot: number): void {
    this.#sentAt[slot] = 0;
    this.#outstanding--;
  }

  /** Counts queries waiting too long as lost and sends others instead. */
  #sweep(): void {
    const limit = performance.now() - DNS_LOST_AFTER_MS;
    let lost = 0;
    for (let i = 0; i < DNS_IDS_PER_SOCKET; i++) {
      const at = this.#sentAt[i]!;
      if (at !== 0 && at < limit) {
        this.#sentAt[i] = 0;
        lost++;
      }
    }
    if (lost === 0) return;
    this.#outstanding -= lost;
    this.#tally.lost += lost;
    if (!this.#tally.stopping) {
      for (let i = 0; i < lost; i++) this.#sendQuery();
    } else if (this.#outstanding === 0) {
      this.close();
    }
  }

  /**
   * Throws unless `data` is a NOERROR-or-expected reply with the expected
   * counts; with `full`, decodes it and compares question and records.
   */
  #check(data: Uint8Array, full: boolean): void {
    const w = this.#w;
    const wrong = (what: string) =>
      new Error(
        `Cannot trust the DNS server on port ${this.#server.port}: the reply to ${w.name} ${
          typeName(w.type)
        } ${what}`,
      );
    if (data.length < 12) throw wrong(`is ${data.length} bytes`);
    const flags = (data[2]! << 8) | data[3]!;
    if ((flags & 0x8000) === 0) throw wrong("has QR clear");
    if ((flags & 0x7800) !== 0) throw wrong("has a non-zero opcode");
    if ((flags & 0x0200) !== 0) throw wrong("is truncated");
    if ((flags & 0xf) !== w.rcode) {
      throw wrong(
        `has rcode ${rcodeName(flags & 0xf)}, expected ${rcodeName(w.rcode)}`,
      );
    }
    const qdcount = (data[4]! << 8) | data[5]!;
    const ancount = (data[6]! << 8) | data[7]!;
    if (qdcount !== 1 || ancount !== w.answers.length) {
      throw wrong(
        `has ${qdcount} questions and ${ancount} answers, expected 1 and ${w.answers.length}`,
      );
    }
    if (!full) return;
    const reply = decodeDns(data);
    const question = reply.questions[0]!;
    if (
      canonicalName(question.name) !== canonicalName(w.name) ||
      question.type !== w.type
    ) {
      throw wrong(`asks ${question.name} ${typeName(question.type)}`);
    }
    const got = reply.answers.map(recordText).sort();
    const want = [...w.answers].map((a) => a.toLowerCase()).sort();
    if (got.join("\n") !== want.join("\n")) {
      throw wrong(
        `answers ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
      );
    }
    this.#tally.verified++;
  }
}

/** `name TYPE data` in lower case, as {@linkcode DnsWorkload.answers} spells it. */
function recordText(record: ResourceRecord): string {
  const data = record.data;
  const value = "address" in data
    ? data.address
    : "target" in data
    ? data.target
    : JSON.stringify(data);
  return `${canonicalName(record.name)} ${typeName(record.type)} ${value}`
    .toLowerCase();
}

function unexpected(frame: Frame, what: string): Error {
  let detail = `type 0x${frame.type.toString(16).padStart(4, "0")}`;
  if (frame.type === ERROR) {
    try {
      const { fields } = decodeMessage(frame);
      if ("message" in fields) detail = `error: ${fields.message}`;
    } catch { /* keep the type */ }
  }
  return new Error(`Cannot benchmark (${what}): server answered ${detail}`);
}

/**
 * Runs one measurement on the current thread.
 *
 * @example
 * ```ts
 * const r = await runLoad({
 *   port, service: "echo", connections: 50, inFlight: 16,
 *   warmupMs: 500, measureMs: 2000, maxRequests: 5_000_000,
 * });
 * r.perSecond;
 * const web = await runLoad({
 *   port: webPort, http: { path: "/small.bin", body: bytes },
 *   connections: 50, inFlight: 1,
 *   warmupMs: 500, measureMs: 2000, maxRequests: 5_000_000,
 * });
 * web.bytesPerSecond;
 * const dns = await runLoad({
 *   port: dnsPort,
 *   dns: { name: "www.mit.edu", type: 1, rcode: 0, answers: ["www.mit.edu A 203.0.113.10"] },
 *   connections: 8, inFlight: 8,
 *   warmupMs: 300, measureMs: 1000, maxRequests: 5_000_000,
 * });
 * dns.perSecond;
 * ```
 */
export async function runLoad(job: LoadJob): Promise<LoadResult> {
  if (job.inFlight < 1 || job.inFlight > RING) {
    throw new RangeError(
      `Cannot load: inFlight ${job.inFlight} is not in 1..${RING}`,
    );
  }
  if ("dns" in job && job.connections > MAX_DNS_SOCKETS) {
    throw new RangeError(
      `Cannot load: ${job.connections} UDP sockets, over the limit of ${MAX_DNS_SOCKETS}`,
    );
  }
  const cpu0 = threadCpuSeconds();
  const timeoutMs = job.timeoutMs ?? 5000;
  const tally = new Tally();
  const conns: LoadClient[] = [];
  try {
    await within(
      (async () => {
        for (let i = 0; i < job.connections; i++) {
          if ("dns" in job) {
            conns.push(new DnsLoadSocket(job, i, tally));
            continue;
          }
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: job.port,
          }).catch((error) => {
            throw new Error(
              `Cannot benchmark: cannot connect to 127.0.0.1:${job.port}: ${error.message}`,
            );
          });
          conn.setNoDelay(true);
          conns.push(
            "http" in job
              ? new HttpLoadConnection(conn, job, tally)
              : new TlvLoadConnection(conn, job, tally),
          );
        }
        await Promise.all(conns.map((c) => c.open()));
      })(),
      timeoutMs,
      "connecting",
    );

    const driving = Promise.all(conns.map((c) => c.drive(job.inFlight)));
    // A failing connection must end the run now, not after the timers.
    const failed = driving.then(() => new Promise<never>(() => {}));
    failed.catch(() => {});
    await Promise.race([sleep(job.warmupMs), failed]);
    const c0 = tally.total;
    const b0 = tally.bytes;
    const t0 = performance.now();
    const limitHit = Promise.withResolvers<"limit">();
    tally.watch(c0 + job.maxRequests, () => limitHit.resolve("limit"));
    const sliceRates: number[] = [];
    const byteRates: number[] = [];
    const slices = Math.max(1, job.slices ?? DEFAULT_SLICES);
    let [cs, bs, ts] = [c0, b0, t0];
    for (let i = 1; i <= slices; i++) {
      // Timers fire late under load: aim each slice end at the schedule.
      const wait = t0 + (job.measureMs * i) / slices - performance.now();
      const ended = await Promise.race([
        sleep(Math.max(0, wait)),
        limitHit.promise,
        failed,
      ]);
      const [c, b, t] = [tally.total, tally.bytes, performance.now()];
      if (ended === "limit") break;
      sliceRates.push((c - cs) / ((t - ts) / 1000));
      byteRates.push((b - bs) / ((t - ts) / 1000));
      [cs, bs, ts] = [c, b, t];
    }
    const c1 = tally.total;
    const b1 = tally.bytes;
    const t1 = performance.now();
    tally.stopping = true;
    await within(driving, timeoutMs, "draining the last replies");
    const seconds = (t1 - t0) / 1000;
    return {
      requests: c1 - c0,
      seconds,
      perSecond: sliceRates.length > 0
        ? median(sliceRates)
        : (c1 - c0) / seconds,
      sliceRates,
      verified: tally.verified,
      replies: tally.total,
      bytes: b1 - b0,
      bytesPerSecond: byteRates.length > 0
        ? median(byteRates)
        : (b1 - b0) / seconds,
      byteSliceRates: byteRates,
      loadCpuSeconds: threadCpuSeconds() - cpu0,
      lost: tally.lost,
      unmatched: tally.unmatched,
    };
  } finally {
    for (const c of conns) c.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Reply = { ok: true; result: LoadResult } | { ok: false; error: string };

/**
 * Runs {@linkcode runLoad} on a Worker thread, one job at a time.
 *
 * @example
 * ```ts
 * using worker = new LoadWorker();
 * const result = await worker.run(job);
 * ```
 */
export class LoadWorker implements Disposable {
  #worker = new Worker(import.meta.url, { type: "module" });
  #busy: Promise<unknown> = Promise.resolve();

  /** Runs `job` on the worker; jobs queue behind each other. */
  run(job: LoadJob): Promise<LoadResult> {
    const next = this.#busy.then(() => {
      const { promise, resolve, reject } = Promise.withResolvers<LoadResult>();
      this.#worker.onmessage = (event: MessageEvent<Reply>) => {
        if (event.data.ok) resolve(event.data.result);
        else reject(new Error(event.data.error));
      };
      this.#worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        reject(new Error(`Cannot run the load worker: ${event.message}`));
      };
      this.#worker.postMessage(job);
      return promise;
    });
    this.#busy = next.catch(() => {});
    return next;
  }

  /** Stops the worker thread. */
  terminate(): void {
    this.#worker.terminate();
  }

  /** Same as {@linkcode terminate}. */
  [Symbol.dispose](): void {
    this.terminate();
  }
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<LoadJob>) => void) | null;
  postMessage(message: Reply): void;
}

const scope = globalThis as unknown as {
  WorkerGlobalScope?: abstract new () => unknown;
};
if (
  import.meta.main && scope.WorkerGlobalScope !== undefined &&
  globalThis instanceof scope.WorkerGlobalScope
) {
  const self = globalThis as unknown as WorkerScope;
  self.onmessage = (event) => {
    runLoad(event.data).then(
      (result) => self.postMessage({ ok: true, result }),
      (error) =>
        self.postMessage({ ok: false, error: String(error?.message ?? error) }),
    );
  };
}
