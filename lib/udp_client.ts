/**
 * A TLV client over UDP: one request per datagram, answers matched by id,
 * a timeout per request (UDP loses datagrams; nobody retransmits for us).
 *
 * @module
 */

import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import type {
  Message,
  MessageFields,
  MessageName,
} from "../protocol/tlv/registry.ts";
import { formatAddr } from "./frame_conn.ts";
import type { FrameRoute, Tracer } from "./trace.ts";
import { MAX_DATAGRAM } from "./udp_server.ts";

/** No answer arrived within the timeout. */
export class RequestTimeoutError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "RequestTimeoutError";
  }
}

interface Waiter {
  resolve(m: Message): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Sends TLV requests as datagrams to one server.
 *
 * @example
 * ```ts
 * await using udp = new UdpClient({ hostname: "127.0.0.1", port });
 * const reply = await udp.request("echo_request", { data }, 1000);
 * ```
 */
export class UdpClient implements AsyncDisposable {
  readonly peer: string;
  #socket: Deno.DatagramConn;
  #target: Deno.NetAddr;
  #tracer: Tracer | undefined;
  #route: FrameRoute;
  #nextId = 1;
  #waiters = new Map<number, Waiter>();
  #closed = false;
  #loop: Promise<void>;
  #onPush: ((message: Message) => void) | undefined;
  #onStray: ((message: Message) => void) | undefined;

  /** Opens a socket on an ephemeral local port. */
  constructor(
    options: { hostname?: string; port: number; tracer?: Tracer | undefined },
  ) {
    const hostname = options.hostname ?? "127.0.0.1";
    this.#target = { transport: "udp", hostname, port: options.port };
    this.peer = formatAddr(this.#target);
    this.#tracer = options.tracer;
    this.#socket = Deno.listenDatagram({
      transport: "udp",
      hostname: localBindAddress(hostname),
      port: 0,
    });
    this.#route = {
      transport: "udp",
      local: this.#socket.addr,
      remote: this.#target,
    };
    this.#loop = this.#receive();
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(MAX_DATAGRAM + 1);
    while (!this.#closed) {
      let data: Uint8Array;
      try {
        [data] = await this.#socket.receive(buffer);
      } catch {
        // Closed, or an ICMP error for an earlier datagram: timeouts report it.
        if (this.#closed) return;
        continue;
      }
      const decoded = decodeFrame(data, 0);
      if (decoded === undefined || decoded.next !== data.length) continue;
      this.#tracer?.frame("recv", this.peer, data, this.#route);
      let message: Message;
      try {
        message = decodeMessage(decoded.frame);
      } catch {
        continue;
      }
      const id = "id" in message.fields ? message.fields.id : undefined;
      if (id === undefined) {
        // Sent by the server on its own (a chat message): not an answer.
        this.#onPush?.(message);
        continue;
      }
      const waiter = this.#waiters.get(id);
      if (!waiter) {
        this.#onStray?.(message);
        continue;
      }
      this.#waiters.delete(id);
      clearTimeout(waiter.timer);
      if (message.type === "error") {
        waiter.reject(new RemoteError(message.fields));
      } else waiter.resolve(message);
    }
  }

  /**
   * Receives messages without an id: those the server sends on its own
   * (pushes). Without a listener they are dropped.
   */
  onPush(listener: (message: Message) => void): void {
    this.#onPush = listener;
  }

  /**
   * Receives messages whose id answers no pending request: a late or
   * duplicate answer (the pinger reports them), or one the server sends on
   * its own under a request's id (time ticks). Without a listener they are
   * dropped.
   */
  onStray(listener: (message: Message) => void): void {
    this.#onStray = listener;
  }

  /**
   * Sends one request; rejects with {@linkcode RequestTimeoutError} after
   * `timeoutMs`. The id is the next of the client's own unless `fields.id`
   * names one (the pinger's sequence numbers); an id already waiting throws.
   */
  request<M extends MessageName>(
    type: M,
    fields: Omit<MessageFields<M>, "id"> & { id?: number },
    timeoutMs: number,
  ): Promise<Message> {
    const id = fields.id ?? this.#nextId++;
    if (this.#waiters.has(id)) {
      throw new Error(`Cannot send request ${id}: that id is still waiting`);
    }
    const bytes = encodeMessage(
      type,
      { ...fields, id } as unknown as MessageFields<M>,
    );
    const { promise, resolve, reject } = Promise.withResolvers<Message>();
    const timer = setTimeout(() => {
      this.#waiters.delete(id);
      reject(
        new RequestTimeoutError(
          `no answer from ${this.peer} within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    this.#waiters.set(id, { resolve, reject, timer });
    this.#tracer?.frame("send", this.peer, bytes, this.#route);
    this.#socket.send(bytes, this.#target).catch((error) => {
      const waiter = this.#waiters.get(id);
      if (!waiter) return;
      this.#waiters.delete(id);
      clearTimeout(waiter.timer);
      reject(
        new Error(`cannot send to ${this.peer}: ${(error as Error).message}`),
      );
    });
    return promise;
  }

  /**
   * Sends one message that expects no answer (time_unsubscribe); a failure
   * to send is ignored, as a lost datagram would be.
   */
  send<M extends MessageName>(type: M, fields: MessageFields<M>): void {
    if (this.#closed) return;
    const bytes = encodeMessage(type, fields);
    this.#tracer?.frame("send", this.peer, bytes, this.#route);
    this.#socket.send(bytes, this.#target).catch(() => {});
  }

  /** Closes the socket; pending requests are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.values()) {
      clearTimeout(w.timer);
      w.reject(new Error("client closed"));
    }
    this.#waiters.clear();
    this.#socket.close();
    await this.#loop;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Binds loopback for a loopback server (so loopback-only grants suffice), any address otherwise. */
function localBindAddress(server: string): string {
  if (server === "localhost" || server.startsWith("127.")) return "127.0.0.1";
  if (server === "::1") return "::1";
  return server.includes(":") ? "::" : "0.0.0.0";
}
