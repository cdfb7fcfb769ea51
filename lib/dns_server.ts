/**
 * The server host for DNS: one port, UDP and TCP (RFC 7766), messages
 * decoded by `protocol/dns`. Malformed queries get FORMERR when their header
 * can be read and silence otherwise; responses sent to a server are dropped;
 * UDP answers are truncated to the client's EDNS size (or 512) with TC set.
 *
 * @module
 */

import { RCODE } from "../protocol/dns/constants.ts";
import {
  decodeHeader,
  decodeMessage,
  DnsFormatError,
  type DnsMessage,
  type Edns,
  encodeMessage,
} from "../protocol/dns/message.ts";
import { frameTcp, TcpMessageReader } from "../protocol/dns/tcp.ts";
import { formatAddr } from "./frame_conn.ts";
import { Logger } from "./log.ts";
import { stopOnAbort } from "./signals.ts";
import { isTransportError } from "./transport.ts";

/** The EDNS UDP payload size this host advertises and honours at most. */
export const SERVER_UDP_SIZE = 1232;
/** UDP queries answered at once; more are dropped until some finish. */
export const MAX_UDP_IN_FLIGHT = 1024;

/** The classic limit for UDP answers without EDNS (RFC 1035 §4.2.1). */
export const PLAIN_UDP_SIZE = 512;
/**
 * Queries answered at once on one TCP connection (RFC 7766 §6.2.1.1
 * pipelining); further queries wait unread in the socket until one is done.
 */
export const MAX_TCP_PIPELINE = 32;

/** Where a query came from. */
export interface QueryContext {
  readonly transport: "udp" | "tcp";
  /** `host:port` of the client. */
  readonly peer: string;
}

/**
 * Answers one well-formed query with one question. The handler builds the
 * whole response (start from {@linkcode replyTo}); the host only encodes it
 * and truncates it to what the transport allows.
 */
export type DnsHandler = (
  query: DnsMessage,
  context: QueryContext,
) => DnsMessage | Promise<DnsMessage>;

/**
 * The skeleton of a response to `query`: same id, QR set, opcode and RD
 * copied, the question echoed, and an OPT record when the query had one
 * (RFC 6891 §6.1.1: a responder that understands EDNS includes OPT).
 *
 * @example
 * ```ts
 * const reply = { ...replyTo(query, { aa: true }), answers };
 * ```
 */
export function replyTo(
  query: DnsMessage,
  flags: Partial<Pick<DnsMessage["flags"], "aa" | "ra" | "rcode" | "tc">> = {},
): DnsMessage {
  return {
    id: query.id,
    flags: {
      qr: true,
      opcode: query.flags.opcode,
      aa: flags.aa ?? false,
      tc: flags.tc ?? false,
      rd: query.flags.rd,
      ra: flags.ra ?? false,
      ad: false,
      cd: query.flags.cd,
      rcode: flags.rcode ?? RCODE.NOERROR,
    },
    questions: query.questions,
    answers: [],
    authorities: [],
    additionals: [],
    ...(query.edns ? { edns: serverEdns() } : {}),
  };
}

function serverEdns(): Edns {
  return {
    udpSize: SERVER_UDP_SIZE,
    extendedRcode: 0,
    version: 0,
    dnssecOk: false,
    options: [],
  };
}

/** Options for {@linkcode DnsServer}. */
export interface DnsServerOptions {
  handler: DnsHandler;
  /** Address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** Port for both UDP and TCP; 0 picks one free for both. */
  port?: number;
  /** A TCP connection silent this long is closed (ms). Default 10 000. */
  tcpIdleTimeoutMs?: number;
  /** TCP connections served at once. Default 256. */
  maxTcpConnections?: number;
  log?: Logger;
  signal?: AbortSignal;
}

/**
 * Serves DNS over UDP and TCP on one port. Binds in the constructor.
 *
 * @example
 * ```ts
 * await using server = new DnsServer({ handler: (q) => replyTo(q, { rcode: RCODE.REFUSED }) });
 * ```
 */
export class DnsServer implements AsyncDisposable {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #udp: Deno.DatagramConn;
  #tcp: Deno.Listener;
  #handler: DnsHandler;
  #log: Logger;
  #idleMs: number;
  #maxTcp: number;
  #conns = new Set<Deno.Conn>();
  /** UDP queries being answered. */
  #udpBusy = 0;
  /** Called when `#udpBusy` drops to 0, once the receive loop has ended. */
  #udpIdle: (() => void) | undefined;
  #closing = false;

  /** Binds UDP and TCP to the same port. */
  constructor(options: DnsServerOptions) {
    this.#handler = options.handler;
    this.#log = options.log ?? new Logger({ name: "dns" });
    this.#idleMs = options.tcpIdleTimeoutMs ?? 10_000;
    this.#maxTcp = options.maxTcpConnections ?? 256;
    const hostname = options.hostname ?? "127.0.0.1";
    [this.#udp, this.#tcp] = bindBoth(hostname, options.port ?? 0);
    this.addr = this.#udp.addr as Deno.NetAddr;
    this.finished = Promise.all([this.#udpLoop(), this.#tcpLoop()]).then(
      () => {},
    );
    stopOnAbort(options.signal, () => this.shutdown(), this.finished);
  }

  async #udpLoop(): Promise<void> {
    // One buffer for every datagram: receive() without one allocates 64 KiB each time.
    const buffer = new Uint8Array(65_536);
    while (!this.#closing) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await this.#udp.receive(buffer);
      } catch (error) {
        if (this.#closing) break;
        if (isTransportError(error)) continue;
        this.#log.error("receive failed", { error });
        break;
      }
      const peer = addr as Deno.NetAddr;
      if (this.#udpBusy >= MAX_UDP_IN_FLIGHT) {
        // Overloaded (a slow upstream): drop, as a resolver does; the client retries.
        this.#log.debug("dropped a query: too many in flight", {
          peer: formatAddr(peer),
        });
        continue;
      }
      const context = new UdpContext(peer);
      // Read before the next receive() reuses the buffer; the decoder copies
      // what it keeps, so the datagram itself is not copied.
      let read: DnsMessage | Uint8Array | undefined;
      try {
        read = this.#read(data, context);
      } catch (error) {
        this.#log.debug("udp query failed", { peer: context.peer, error });
        continue;
      }
      if (read === undefined) continue;
      this.#udpBusy++;
      this.#serveUdp(read, context, peer);
    }
    // Queries already being answered finish before the server says it stopped.
    if (this.#udpBusy > 0) {
      const idle = Promise.withResolvers<void>();
      this.#udpIdle = idle.resolve;
      await idle.promise;
    }
  }

  /** Answers one UDP query (or sends the reply `#read` made) and counts it done. */
  async #serveUdp(
    read: DnsMessage | Uint8Array,
    context: UdpContext,
    peer: Deno.NetAddr,
  ): Promise<void> {
    try {
      const reply = read instanceof Uint8Array
        ? read
        : await this.#respond(read, context);
      if (!this.#closing) await this.#udp.send(reply, peer);
    } catch (error) {
      if (!this.#closing) {
        this.#log.debug("udp reply failed", { peer: context.peer, error });
      }
    } finally {
      if (--this.#udpBusy === 0) this.#udpIdle?.();
    }
  }

  async #tcpLoop(): Promise<void> {
    try {
      for await (const conn of this.#tcp) {
        if (this.#conns.size >= this.#maxTcp) {
          this.#log.warn("TCP connection refused: at the limit", {
            limit: this.#maxTcp,
          });
          conn.close();
          continue;
        }
        this.#conns.add(conn);
        this.#serveTcp(conn).finally(() => this.#conns.delete(conn));
      }
    } catch (error) {
      if (!this.#closing) this.#log.error("accept failed", { error });
    }
  }

  /** RFC 7766: length-prefixed messages, several per connection, answered as they complete. */
  async #serveTcp(conn: Deno.Conn): Promise<void> {
    const peer = formatAddr(conn.remoteAddr);
    const reader = new TcpMessageReader();
    const buffer = new Uint8Array(65_536);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.#log.debug("closing idle TCP connection", { peer });
        close();
      }, this.#idleMs);
    };
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      try {
        conn.close();
      } catch { /* gone */ }
    };
    // Answers complete in any order, but a write may take only part of a
    // reply: writes go one at a time, or two replies' bytes would interleave.
    let writing: Promise<void> = Promise.resolve();
    const write = (framed: Uint8Array): Promise<void> => {
      const done = writing.then(async () => {
        let at = 0;
        while (at < framed.length) at += await conn.write(framed.subarray(at));
      });
      writing = done.catch(() => {});
      return done;
    };
    // Queries being answered (and their replies written); at the limit the
    // connection is not read, so a client that never reads its answers
    // cannot make us hold more of them.
    const pending = new Set<Promise<void>>();
    try {
      arm();
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        arm();
        for (const message of reader.push(buffer.subarray(0, n))) {
          while (pending.size >= MAX_TCP_PIPELINE) await Promise.race(pending);
          const task: Promise<void> = this.#answer(message, {
            transport: "tcp",
            peer,
          }).then((reply) => {
            if (reply === undefined || closed) return;
            return write(frameTcp(reply));
          }).catch((error) => {
            if (!closed) this.#log.debug("tcp reply failed", { peer, error });
          }).finally(() => pending.delete(task));
          pending.add(task);
        }
      }
    } catch (error) {
      if (!(closed || isTransportError(error))) {
        this.#log.debug("tcp connection failed", { peer, error });
      }
    } finally {
      await Promise.all(pending);
      close();
    }
  }

  /** Decodes, answers and encodes one query; `undefined` means stay silent. */
  async #answer(
    bytes: Uint8Array,
    context: QueryContext,
  ): Promise<Uint8Array | undefined> {
    const read = this.#read(bytes, context);
    return read === undefined || read instanceof Uint8Array
      ? read
      : await this.#respond(read, context);
  }

  /**
   * Decodes a query, synchronously, so `bytes` may be reused as soon as it
   * returns: the query to answer, the bytes of an immediate reply (FORMERR),
   * or `undefined` to stay silent.
   */
  #read(
    bytes: Uint8Array,
    context: QueryContext,
  ): DnsMessage | Uint8Array | undefined {
    let query: DnsMessage | undefined;
    let failure: DnsFormatError | undefined;
    try {
      query = decodeMessage(bytes);
    } catch (error) {
      if (!(error instanceof DnsFormatError)) throw error;
      failure = error;
    }
    // A decoded message has its header; only a failed one is read for it.
    const header = query ?? decodeHeader(bytes);
    if (header === undefined) {
      this.#log.debug("dropped a packet shorter than a DNS header", {
        peer: context.peer,
        bytes: bytes.length,
      });
      return undefined;
    }
    if (header.flags.qr) {
      // A response sent to a server: answering it could start a loop.
      this.#log.debug("dropped a response packet", {
        peer: context.peer,
        id: header.id,
      });
      return undefined;
    }
    if (query === undefined) {
      this.#log.info("FORMERR", {
        peer: context.peer,
        id: header.id,
        reason: failure?.message,
      });
      return formErr(header.id, header.flags.opcode, header.flags.rd);
    }
    if (query.questions.length !== 1) {
      return encodeMessage({
        ...replyTo(query, { rcode: RCODE.FORMERR }),
        questions: [],
      }).bytes;
    }
    return query;
  }

  /** Answers a query `#read` accepted and encodes the reply to fit. */
  async #respond(
    query: DnsMessage,
    context: QueryContext,
  ): Promise<Uint8Array> {
    let reply: DnsMessage;
    try {
      reply = await this.#handler(query, context);
    } catch (error) {
      this.#log.error("query failed", { peer: context.peer, error });
      reply = replyTo(query, { rcode: RCODE.SERVFAIL });
    }
    const maxSize = context.transport === "tcp"
      ? 65_535
      : query.edns
      ? Math.min(Math.max(query.edns.udpSize, PLAIN_UDP_SIZE), SERVER_UDP_SIZE)
      : PLAIN_UDP_SIZE;
    try {
      return encodeMessage(reply, { maxSize }).bytes;
    } catch (error) {
      // A record we cannot write back (say, an upstream TXT whose bytes were
      // not UTF-8) fails this one answer, not the server.
      this.#log.error("cannot encode the answer", {
        peer: context.peer,
        error: (error as Error).message,
      });
      return encodeMessage(replyTo(query, { rcode: RCODE.SERVFAIL }), {
        maxSize,
      }).bytes;
    }
  }

  /** Closes both sockets and every TCP connection. */
  shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const close of [() => this.#udp.close(), () => this.#tcp.close()]) {
        try {
          close();
        } catch { /* closed */ }
      }
      for (const conn of this.#conns) {
        try {
          conn.close();
        } catch { /* gone */ }
      }
    }
    return this.finished;
  }

  /** Same as {@linkcode shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

/**
 * A UDP query's context. The peer's text is made when something reads it
 * (a log line), not for every query.
 */
class UdpContext implements QueryContext {
  readonly transport = "udp" as const;
  #addr: Deno.NetAddr;
  #peer: string | undefined;

  constructor(addr: Deno.NetAddr) {
    this.#addr = addr;
  }

  get peer(): string {
    return this.#peer ??= formatAddr(this.#addr);
  }
}

function formErr(id: number, opcode: number, rd: boolean): Uint8Array {
  return encodeMessage({
    id,
    flags: {
      qr: true,
      opcode,
      aa: false,
      tc: false,
      rd,
      ra: false,
      ad: false,
      cd: false,
      rcode: RCODE.FORMERR,
    },
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  }).bytes;
}

/**
 * Binds UDP and TCP on one port. With port 0 the UDP port is picked first
 * and TCP follows it; if TCP cannot have that port, try again.
 */
function bindBoth(
  hostname: string,
  port: number,
): [Deno.DatagramConn, Deno.Listener] {
  for (let attempt = 0;; attempt++) {
    const udp = Deno.listenDatagram({ transport: "udp", hostname, port });
    const chosen = (udp.addr as Deno.NetAddr).port;
    try {
      return [udp, Deno.listen({ hostname, port: chosen })];
    } catch (error) {
      udp.close();
      if (
        port !== 0 || attempt >= 20 || !(error instanceof Deno.errors.AddrInUse)
      ) throw error;
    }
  }
}
