/**
 * The server host for TLV services: TCP or TLS listener, hello handshake,
 * per-connection isolation, idle timeout, connection cap, backpressure and
 * graceful shutdown. A service only sees decoded messages.
 *
 * @module
 */

import {
  DEFAULT_LIMITS,
  type Frame,
  peekId,
  TlvDecodeError,
  type TlvLimits,
} from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { ProtocolError } from "../protocol/tlv/protocol_error.ts";
import {
  type Message,
  type MessageFields,
  type MessageName,
  MESSAGES,
  type MessageSpec,
  PROTOCOL_VERSION,
  type ServiceName,
} from "../protocol/tlv/registry.ts";
import { formatAddr, FrameConnection } from "./frame_conn.ts";
import { Logger } from "./log.ts";
import type { Tracer } from "./trace.ts";
import { isTransportError } from "./transport.ts";
import { VERSION } from "./version.ts";
import { stopOnAbort } from "./signals.ts";
import { fairShare } from "./fair_share.ts";
import {
  drainConnections,
  type ListenOptions,
  listenStream,
} from "./stream_listener.ts";

/** What a service handler can do with the connection it serves. */
export interface Session {
  /** `host:port` of the peer. */
  readonly peer: string;
  /** Service the peer said hello to (UDP sessions use the only service). */
  readonly service: ServiceName;
  /** Aborted when the connection closes; long work should stop. */
  readonly signal: AbortSignal;
  /**
   * Queues a message to the peer. The fields are encoded (or copied)
   * before it returns, so the caller may reuse its buffers at once.
   */
  send<M extends MessageName>(type: M, fields: MessageFields<M>): void;
  /**
   * Resolves when at most `below` bytes (default 0: none) are queued for
   * the peer and not yet written (backpressure).
   */
  drained(below?: number): Promise<void>;
  /** Whether more is queued for the peer than it has taken (wait for `drained()`). */
  readonly congested: boolean;
  /** Bytes queued for the peer and not yet written. */
  readonly queuedBytes: number;
  /**
   * Ends the connection from the service's side (a chat client that fell
   * too far behind, or was kicked): logs `reason`, writes what is queued
   * for at most a second more, then closes. Hosts without connections (UDP)
   * leave it out.
   */
  close?(reason: string): void;
  /**
   * Stops reading from the peer until `until` settles (or the connection
   * closes): a service taking a stream of frames it cannot keep up with (an
   * upload writing to disk) lets TCP flow control slow the peer instead of
   * buffering. Hosts without a stream to pause (UDP) leave it out.
   */
  holdInput?(until: Promise<unknown>): void;
}

/** A TLV service: the logic of one system, testable without sockets. */
export interface TlvService {
  /** The name a hello asks for. */
  readonly name: ServiceName;
  /**
   * Handles one message after the hello. Throw {@linkcode ProtocolError} to
   * answer with an error frame; the request `id`, if any, is echoed.
   * Synchronous handlers keep pipelined answers in one socket write.
   */
  handle(message: Message, session: Session): void | Promise<void>;
  /** Called once when a connection's session ends. */
  closed?(session: Session): void;
  /**
   * Called by the UDP host for every datagram from a peer before it is
   * handled, pings and hellos included: a service that keeps sessions by
   * address learns that the peer is still there.
   */
  heard?(session: Session): void;
  /**
   * Whether `ping` goes to {@linkcode handle} instead of being answered by
   * the host at once (the UDP pinger delays or drops its pongs).
   */
  readonly handlesPing?: boolean;
}

/** Options for {@linkcode TlvServer}. */
export interface TlvServerOptions extends ListenOptions {
  /** Services offered on this port; a hello picks one. */
  services: readonly TlvService[];
  /** Decoder limits. */
  limits?: Partial<TlvLimits>;
  /** Close a connection silent for this long (ms). Default {@linkcode DEFAULT_IDLE_TIMEOUT_MS}. */
  idleTimeoutMs?: number;
  /** Most connections served at once. Default 1024. */
  maxConnections?: number;
  /** How long shutdown waits for in-flight work (ms). Default 5000. */
  graceMs?: number;
  /** Logger for connection events. */
  log?: Logger;
  /** `--trace` printer. */
  tracer?: Tracer | undefined;
  /** Aborting it starts a graceful shutdown. */
  signal?: AbortSignal;
}

/** How long a connection may stay silent before it is closed (ms). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

const HTTP_METHODS = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) /;
const latin1 = new TextDecoder("latin1");

/**
 * Serves TLV services on one TCP (or TLS) port. Binds in the constructor, so
 * `addr` is valid at once.
 *
 * @example
 * ```ts
 * await using server = new TlvServer({ services: [calcService()], port: 0 });
 * console.log(server.addr.port);
 * ```
 */
export class TlvServer implements AsyncDisposable {
  readonly addr: Deno.NetAddr;
  /** Resolves when the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  #listener: Deno.Listener;
  #services: Map<string, TlvService>;
  #limits: TlvLimits;
  #idleTimeoutMs: number;
  #maxConnections: number;
  #graceMs: number;
  #log: Logger;
  #tracer: Tracer | undefined;
  #connections = new Set<Connection>();
  #closing = false;
  #done = Promise.withResolvers<void>();

  /** Binds and starts accepting. */
  constructor(options: TlvServerOptions) {
    this.#services = new Map(options.services.map((s) => [s.name, s]));
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#maxConnections = options.maxConnections ?? 1024;
    this.#graceMs = options.graceMs ?? 5000;
    this.#log = options.log ?? new Logger({ name: "server" });
    this.#tracer = options.tracer;
    this.#listener = listenStream(options);
    this.addr = this.#listener.addr as Deno.NetAddr;
    this.finished = this.#done.promise;
    stopOnAbort(options.signal, () => this.shutdown(), this.finished);
    this.#acceptLoop();
  }

  /** Connections being served now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** The limits this server enforces. */
  get limits(): TlvLimits {
    return this.#limits;
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#connections.size >= this.#maxConnections) {
          this.#refuse(conn);
          continue;
        }
        const connection = new Connection(conn, this);
        this.#connections.add(connection);
        connection.run().finally(() => this.#connections.delete(connection));
      }
    } catch (error) {
      if (!this.#closing) this.#log.error("accept failed", { error });
    }
  }

  #refuse(conn: Deno.Conn): void {
    const peer = formatAddr(conn.remoteAddr);
    this.#log.warn("connection refused: at the connection limit", {
      peer,
      limit: this.#maxConnections,
    });
    const frame = new ProtocolError(
      "server_busy",
      `server is at its limit of ${this.#maxConnections} connections; try again later`,
    ).toFrame();
    conn.write(frame).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch { /* peer already gone */ }
    });
  }

  /**
   * Stops accepting, lets in-flight requests finish within the grace
   * period, then closes every connection. Idempotent.
   */
  shutdown(): Promise<void> {
    if (this.#closing) return this.finished;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    drainConnections(this.#connections, this.#graceMs).then(() =>
      this.#done.resolve()
    );
    return this.finished;
  }

  /** Same as {@linkcode shutdown}. */
  close(): Promise<void> {
    return this.shutdown();
  }

  /** Shuts down gracefully. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** @internal What connections need from their server. */
  get _ctx(): ServerContext {
    return {
      services: this.#services,
      limits: this.#limits,
      idleTimeoutMs: this.#idleTimeoutMs,
      graceMs: this.#graceMs,
      log: this.#log,
      tracer: this.#tracer,
      closing: () => this.#closing,
    };
  }
}

interface ServerContext {
  services: Map<string, TlvService>;
  limits: TlvLimits;
  idleTimeoutMs: number;
  graceMs: number;
  log: Logger;
  tracer: Tracer | undefined;
  closing: () => boolean;
}

/** One accepted connection and its session. */
class Connection implements Session {
  readonly fc: FrameConnection;
  readonly peer: string;
  #ctx: ServerContext;
  #handler: TlvService | undefined;
  #abort = new AbortController();
  #signal: AbortSignal | undefined;
  #inFlight = 0;
  #settled: PromiseWithResolvers<void> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastInput = 0;
  #shuttingDown = false;
  #inputHold: Promise<unknown> | undefined;
  #holding = false;
  #done = Promise.withResolvers<void>();
  readonly done = this.#done.promise;

  constructor(conn: Deno.Conn, server: TlvServer) {
    this.#ctx = server._ctx;
    this.fc = new FrameConnection(conn, {
      limits: this.#ctx.limits,
      tracer: this.#ctx.tracer,
    });
    this.peer = this.fc.peer;
  }

  /** Aborted when the connection closes for any reason, or at shutdown. */
  get signal(): AbortSignal {
    return this.#signal ??= AbortSignal.any([
      this.#abort.signal,
      this.fc.closedSignal,
    ]);
  }

  get congested(): boolean {
    return this.fc.congested;
  }

  /** Handlers only ever see a session after its hello picked a service. */
  get service(): ServiceName {
    if (this.#handler === undefined) throw new Error("no service before hello");
    return this.#handler.name;
  }

  send<M extends MessageName>(type: M, fields: MessageFields<M>): void {
    this.fc.send(type, fields);
  }

  drained(below = 0): Promise<void> {
    return this.fc.drained(below);
  }

  get queuedBytes(): number {
    return this.fc.pendingBytes;
  }

  holdInput(until: Promise<unknown>): void {
    const earlier = this.#inputHold;
    this.#inputHold = earlier === undefined
      ? until
      : Promise.all([earlier, until]);
  }

  /** Waits out the holds services placed, or until the connection closes. */
  async #awaitHolds(): Promise<void> {
    const closed = Promise.withResolvers<void>();
    const onClose = () => closed.resolve();
    this.signal.addEventListener("abort", onClose, { once: true });
    this.#holding = true;
    try {
      while (this.#inputHold !== undefined && !this.signal.aborted) {
        const hold = this.#inputHold;
        this.#inputHold = undefined;
        await Promise.race([hold.then(() => {}, () => {}), closed.promise]);
      }
    } finally {
      this.#holding = false;
      this.signal.removeEventListener("abort", onClose);
    }
  }

  close(reason: string): void {
    if (this.fc.closed) return;
    this.#ctx.log.info("closing connection", { peer: this.peer, reason });
    this.fc.closeAfterFlush(1000);
  }

  async run(): Promise<void> {
    const log = this.#ctx.log;
    log.debug("connection opened", { peer: this.peer });
    this.#armIdle();
    try {
      await this.#sniff();
      while (!this.fc.closed) {
        const frames = await this.fc.readFrames();
        if (frames === null) break;
        this.#armIdle();
        this.#handleFrames(frames);
        // A peer that pipelines without reading must not grow our memory.
        if (this.fc.congested) await this.fc.drained();
        if (this.#inputHold !== undefined) await this.#awaitHolds();
      }
    } catch (error) {
      if (error instanceof TlvDecodeError) {
        this.#reject(new ProtocolError(error.code, error.message));
      } else if (isTransportError(error) || this.fc.closed) {
        // The peer is gone: handlers still running see the signal abort now.
        this.fc.close();
        log.debug("connection ended", {
          peer: this.peer,
          reason: String(error),
        });
      } else {
        log.error("connection failed", { peer: this.peer, error });
        if (log.enabled("debug")) log.debug((error as Error).stack ?? "");
      }
    } finally {
      clearTimeout(this.#idleTimer);
      await this.#settle();
      await this.fc.closeAfterFlush(1000);
      this.#abort.abort();
      if (this.#handler) {
        try {
          this.#handler.closed?.(this);
        } catch (error) {
          log.error("service cleanup failed", { peer: this.peer, error });
        }
      }
      log.debug("connection closed", { peer: this.peer });
      this.#done.resolve();
    }
  }

  /** A peer speaking HTTP or TLS to a plaintext TLV port gets told so. */
  async #sniff(): Promise<void> {
    const first = await this.fc.readRaw();
    if (first === null) return;
    const head = latin1.decode(first.subarray(0, 16));
    if (HTTP_METHODS.test(head)) {
      const body = `This port speaks the socklab TLV protocol (${
        [...this.#ctx.services.keys()].join(", ")
      }), not HTTP. See docs/PROTOCOL.md.\n`;
      this.#ctx.log.warn("HTTP request on a TLV port", { peer: this.peer });
      this.fc.sendBytes(new TextEncoder().encode(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      ));
      this.fc.cork();
      this.fc.uncork();
      await this.fc.closeAfterFlush(1000);
      return;
    }
    if (first[0] === 0x16 && first[1] === 0x03) {
      this.#ctx.log.warn(
        "TLS handshake on a plaintext port; use a plain client or start the server with --tls-cert/--tls-key",
        { peer: this.peer },
      );
      this.fc.close();
      return;
    }
    // Not sniffed away: these bytes are the start of the TLV stream.
    this.#handleFrames(this.fc.pushFrames(first));
  }

  /** Decodes and dispatches one read's frames; their answers share a write. */
  #handleFrames(frames: readonly Frame[]): void {
    this.fc.cork();
    try {
      for (const frame of frames) {
        if (this.fc.closed) break;
        let message: Message;
        try {
          message = decodeMessage(frame, this.#ctx.limits);
        } catch (error) {
          if (!(error instanceof TlvDecodeError)) throw error;
          this.#reject(
            // Before a hello there is no session to keep: close.
            this.#handler === undefined
              ? new ProtocolError(
                "hello_required",
                `expected hello as the first frame: ${error.message}`,
              )
              : new ProtocolError(error.code, error.message),
            peekId(frame.body),
          );
          continue;
        }
        this.#dispatch(message);
      }
    } finally {
      this.fc.uncork();
    }
  }

  /**
   * Notes that input arrived. The timer is not reset per read (a clear plus
   * a set costs ~1.4 µs, paid on every read of a busy connection); it
   * re-arms itself for the time left when it fires early.
   */
  #armIdle(): void {
    this.#lastInput = performance.now();
    this.#idleTimer ??= setTimeout(
      () => this.#idleCheck(),
      this.#ctx.idleTimeoutMs,
    );
  }

  #idleCheck(): void {
    // A connection busy sending (a long download, a live channel) is not idle.
    if (this.#inFlight > 0 || this.fc.pendingBytes > 0 || this.#holding) {
      this.#lastInput = performance.now();
    }
    const left = this.#lastInput + this.#ctx.idleTimeoutMs - performance.now();
    if (left > 0) {
      this.#idleTimer = setTimeout(() => this.#idleCheck(), left);
      return;
    }
    this.#ctx.log.info("closing idle connection", {
      peer: this.peer,
      idle_ms: this.#ctx.idleTimeoutMs,
    });
    this.#reject(
      new ProtocolError(
        "idle_timeout",
        `nothing received for ${this.#ctx.idleTimeoutMs} ms; closing`,
      ),
    );
  }

  #dispatch(message: Message): void {
    const id = "id" in message.fields ? message.fields.id : undefined;
    if (this.#handler === undefined) {
      this.#hello(message);
      return;
    }
    if (message.type === "ping" && !this.#handler.handlesPing) {
      this.send("pong", message.fields);
      return;
    }
    if (message.type === "hello") {
      this.#reject(
        new ProtocolError(
          "unexpected_message",
          "hello was already received on this connection",
        ),
        undefined,
      );
      return;
    }
    if (this.#shuttingDown) {
      const refusal = new ProtocolError(
        "shutting_down",
        "server is shutting down",
      );
      // Closing now would drop the answers still in flight; the close
      // follows when the last of them settles (see beginShutdown).
      if (this.#inFlight > 0) this.fc.sendBytes(refusal.toFrame(id));
      else this.#reject(refusal, id);
      return;
    }
    // Downloads and streams are not requests others should make room for.
    const spec: MessageSpec = MESSAGES[message.type];
    if (!spec.streamed) fairShare.request();
    let result: void | Promise<void>;
    try {
      result = this.#handler.handle(message, this);
    } catch (error) {
      this.#handlerError(error, id);
      return;
    }
    if (result instanceof Promise) {
      this.#inFlight++;
      result.catch((error) => this.#handlerError(error, id)).finally(() => {
        if (--this.#inFlight > 0) return;
        this.#settled?.resolve();
        if (this.#shuttingDown) this.#closeWhenIdle();
      });
    }
  }

  #hello(message: Message): void {
    if (message.type !== "hello") {
      this.#reject(
        new ProtocolError(
          "hello_required",
          `expected hello as the first frame, got ${message.type}`,
        ),
      );
      return;
    }
    const { version, service } = message.fields;
    const offered = [...this.#ctx.services.keys()];
    if (version !== PROTOCOL_VERSION) {
      this.#reject(
        new ProtocolError(
          "version_unsupported",
          `protocol version ${version} is not supported; this server speaks version ${PROTOCOL_VERSION}`,
        ),
      );
      return;
    }
    const handler = this.#ctx.services.get(service);
    if (handler === undefined) {
      this.#reject(
        new ProtocolError(
          "wrong_service",
          `this server offers ${
            offered.join(", ")
          }; the client asked for "${service}"`,
        ),
      );
      return;
    }
    this.#handler = handler;
    this.#ctx.log.debug("hello", {
      peer: this.peer,
      service,
      agent: message.fields.agent,
    });
    const limits = this.#ctx.limits;
    this.send("hello_ok", {
      version: PROTOCOL_VERSION,
      service: handler.name,
      agent: `socklab/${VERSION}`,
      limits: {
        max_frame: limits.maxFrameLength,
        max_fields: limits.maxFields,
        max_depth: limits.maxDepth,
        idle_timeout: this.#ctx.idleTimeoutMs,
      },
    });
  }

  #handlerError(error: unknown, id: number | undefined): void {
    if (error instanceof ProtocolError) {
      this.#reject(error, id);
      return;
    }
    this.#ctx.log.error("request failed", { peer: this.peer, error });
    if (this.#ctx.log.enabled("debug")) {
      this.#ctx.log.debug((error as Error).stack ?? "");
    }
    this.#reject(
      new ProtocolError(
        "internal",
        "the server failed while handling this request",
      ),
      id,
    );
  }

  /** Sends an error frame; closes after it when the error is fatal. */
  #reject(error: ProtocolError, id?: number): void {
    if (this.fc.closed) return;
    this.fc.sendBytes(error.toFrame(id));
    if (error.fatal) {
      this.#ctx.log.info("closing connection", {
        peer: this.peer,
        reason: error.code,
        detail: error.message,
      });
      this.fc.closeAfterFlush(1000);
    }
  }

  beginShutdown(): void {
    this.#shuttingDown = true;
    // An idle peer is told why it is being closed.
    if (this.#inFlight === 0) {
      this.#reject(
        new ProtocolError("shutting_down", "server is shutting down"),
      );
    }
  }

  #closeWhenIdle(): void {
    this.fc.closeAfterFlush(1000);
  }

  /**
   * Waits for async handlers still running (a half-closed peer still reads
   * their answers), bounded by the grace period.
   */
  async #settle(): Promise<void> {
    if (this.#inFlight === 0 || this.fc.closed) return;
    this.#settled = Promise.withResolvers<void>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#settled.promise,
      new Promise<void>((
        resolve,
      ) => (timer = setTimeout(resolve, this.#ctx.graceMs))),
    ]);
    clearTimeout(timer);
  }

  forceClose(): void {
    this.#abort.abort();
    this.fc.close();
  }
}

/** The ready line a server prints once it accepts connections. */
export function readyLine(
  role: string,
  scheme: string,
  addr: Deno.NetAddr,
): string {
  return `${role} listening on ${scheme}://${formatAddr(addr)}`;
}

export { encodeMessage };
