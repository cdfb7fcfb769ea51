/**
 * The server host for TLV services over UDP: one datagram carries exactly
 * one frame, each datagram stands alone (a hello is answered but not
 * required), and bad datagrams are answered with an error frame or dropped.
 *
 * @module
 */

import {
  decodeFrame,
  DEFAULT_LIMITS,
  TlvDecodeError,
  type TlvLimits,
} from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { ProtocolError } from "../protocol/tlv/protocol_error.ts";
import {
  type MessageFields,
  type MessageName,
  PROTOCOL_VERSION,
} from "../protocol/tlv/registry.ts";
import { formatAddr } from "./frame_conn.ts";
import { Logger } from "./log.ts";
import type { Session, TlvService } from "./server.ts";
import type { Tracer } from "./trace.ts";
import { isTransportError } from "./transport.ts";
import { VERSION } from "./version.ts";
import { stopOnAbort } from "./signals.ts";

/** Largest UDP payload over IPv4. */
export const MAX_DATAGRAM = 65_507;

/** Options for {@linkcode UdpServer}. */
export interface UdpServerOptions {
  /** The service every datagram goes to. */
  service: TlvService;
  /** Address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** Port; 0 picks a free one. */
  port?: number;
  /** Decoder limits (the frame length is also bounded by the datagram). */
  limits?: Partial<TlvLimits>;
  log?: Logger;
  tracer?: Tracer | undefined;
  /** Aborting it closes the socket. */
  signal?: AbortSignal;
}

/**
 * Serves one TLV service on a UDP port. Binds in the constructor.
 *
 * @example
 * ```ts
 * await using server = new UdpServer({ service: echoService(), port: 0 });
 * ```
 */
export class UdpServer implements AsyncDisposable {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #socket: Deno.DatagramConn;
  #service: TlvService;
  #limits: TlvLimits;
  #log: Logger;
  #tracer: Tracer | undefined;
  #closing = false;
  #abort = new AbortController();

  /** Binds and starts receiving. */
  constructor(options: UdpServerOptions) {
    this.#service = options.service;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#log = options.log ?? new Logger({ name: "udp-server" });
    this.#tracer = options.tracer;
    this.#socket = Deno.listenDatagram({
      transport: "udp",
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
    });
    this.addr = this.#socket.addr as Deno.NetAddr;
    this.finished = this.#loop();
    stopOnAbort(options.signal, () => this.shutdown(), this.finished);
  }

  async #loop(): Promise<void> {
    // One buffer for every datagram: receive() without one allocates 64 KiB each time.
    const buffer = new Uint8Array(MAX_DATAGRAM + 1);
    while (!this.#closing) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await this.#socket.receive(buffer);
      } catch (error) {
        if (this.#closing) break;
        if (isTransportError(error)) continue; // ICMP unreachable from an earlier reply
        this.#log.error("receive failed", { error });
        break;
      }
      this.#handle(data, addr as Deno.NetAddr);
    }
  }

  #handle(data: Uint8Array, addr: Deno.NetAddr): void {
    const peer = formatAddr(addr);
    const session: Session = {
      peer,
      service: this.#service.name,
      signal: this.#abort.signal,
      send: <M extends MessageName>(type: M, fields: MessageFields<M>) => {
        this.#send(encodeMessage(type, fields), addr, peer);
      },
      drained: () => Promise.resolve(),
      congested: false,
      queuedBytes: 0,
    };
    let id: number | undefined;
    try {
      const decoded = decodeFrame(data, 0, this.#limits);
      if (decoded === undefined || decoded.next !== data.length) {
        throw new TlvDecodeError(
          "bad_frame",
          `Cannot decode datagram: ${data.length} bytes do not hold exactly one frame`,
          0,
        );
      }
      this.#tracer?.frame("recv", peer, data, {
        transport: "udp",
        local: this.addr,
        remote: addr,
      });
      const message = decodeMessage(decoded.frame, this.#limits);
      id = "id" in message.fields ? message.fields.id : undefined;
      this.#service.heard?.(session);
      if (message.type === "hello") {
        session.send("hello_ok", {
          version: PROTOCOL_VERSION,
          service: this.#service.name,
          agent: `socklab/${VERSION}`,
        });
        return;
      }
      if (message.type === "ping" && !this.#service.handlesPing) {
        session.send("pong", message.fields);
        return;
      }
      const result = this.#service.handle(message, session);
      if (result instanceof Promise) {
        result.catch((error) => this.#reply(error, id, addr, peer));
      }
    } catch (error) {
      this.#reply(error, id, addr, peer);
    }
  }

  #reply(
    error: unknown,
    id: number | undefined,
    addr: Deno.NetAddr,
    peer: string,
  ) {
    let wire: ProtocolError;
    if (error instanceof ProtocolError) wire = error;
    else if (error instanceof TlvDecodeError) {
      wire = new ProtocolError(error.code, error.message);
    } else {
      this.#log.error("request failed", { peer, error });
      wire = new ProtocolError(
        "internal",
        "the server failed while handling this request",
      );
    }
    this.#log.debug("bad datagram", { peer, reason: wire.message });
    this.#send(wire.toFrame(id), addr, peer);
  }

  #send(bytes: Uint8Array, addr: Deno.NetAddr, peer: string): void {
    if (this.#closing) return;
    if (bytes.length > MAX_DATAGRAM) {
      this.#log.warn("reply too large for one datagram; dropped", {
        peer,
        bytes: bytes.length,
      });
      return;
    }
    this.#tracer?.frame("send", peer, bytes, {
      transport: "udp",
      local: this.addr,
      remote: addr,
    });
    this.#socket.send(bytes, addr).catch((error) => {
      if (!this.#closing) this.#log.debug("send failed", { peer, error });
    });
  }

  /** Closes the socket; `finished` resolves once the loop has stopped. */
  shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#abort.abort();
      try {
        this.#socket.close();
      } catch { /* already closed */ }
    }
    return this.finished;
  }

  /** Same as {@linkcode shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
