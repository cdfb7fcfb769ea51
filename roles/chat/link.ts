/**
 * The chat client's connection to its server, over TCP or UDP behind one
 * interface: requests answered by id, pushes to a listener, and pings that
 * keep an idle client from being timed out.
 *
 * @module
 */

import {
  type ConnectOptions,
  connectTlv,
  type TlvClient,
} from "../../lib/client.ts";
import { RequestTimeoutError, UdpClient } from "../../lib/udp_client.ts";
import type {
  Message,
  MessageFields,
  MessageName,
} from "../../protocol/tlv/registry.ts";

/** How often a UDP client pings: well inside the server's 60 s default. */
export const UDP_KEEPALIVE_MS = 10_000;
/** Tries of a request that may be repeated, over UDP. */
export const UDP_ATTEMPTS = 3;

/** Fields of a request, without the id the link adds. */
export type RequestFields<M extends MessageName> = Omit<MessageFields<M>, "id">;

/** A connection to a chat server. */
export interface ChatLink extends AsyncDisposable {
  readonly transport: "tcp" | "udp";
  /**
   * Sends a request and resolves with its answer. `repeatable`: the
   * request may be sent again when UDP loses it or its answer (joining
   * twice is joining once); saying something is never repeated.
   */
  request<M extends MessageName>(
    type: M,
    fields: RequestFields<M>,
    options?: { repeatable?: boolean },
  ): Promise<Message>;
  /** Receives the server's pushes. */
  onPush(listener: (message: Message) => void): void;
  /** Resolves with the reason once the server has ended the connection (TCP only). */
  readonly lost: Promise<string>;
  /** Closes the connection. */
  close(): Promise<void>;
}

/**
 * Connects to a chat server: TCP (hello first), or UDP (no connection; the
 * first request shows whether the server is there).
 *
 * @throws {ConnectionError} when a TCP server cannot be reached.
 * @example
 * ```ts
 * const link = await connectChat({ port, service: "chat" }, { udp: false });
 * await link.request("chat_nick", { nick: "alice" });
 * ```
 */
export async function connectChat(
  options: ConnectOptions,
  { udp }: { udp: boolean },
): Promise<ChatLink> {
  if (!udp) return new TcpLink(await connectTlv(options));
  return new UdpLink(
    new UdpClient({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
      tracer: options.tracer,
    }),
    options.timeoutMs ?? 10_000,
  );
}

class TcpLink implements ChatLink {
  readonly transport = "tcp";
  readonly lost: Promise<string>;
  #client: TlvClient;
  #timer: ReturnType<typeof setInterval>;
  #closing = false;

  constructor(client: TlvClient) {
    this.#client = client;
    // Pings at half the server's idle timeout: a client that only reads
    // is still there.
    const idle = client.hello.limits?.idle_timeout ?? 60_000;
    this.#timer = setInterval(() => {
      client.request("ping", {}).catch(() => {});
    }, Math.max(100, idle / 2));
    const { promise, resolve } = Promise.withResolvers<string>();
    this.lost = promise;
    client.fc.closedSignal.addEventListener("abort", () => {
      clearInterval(this.#timer);
      if (this.#closing) return;
      // The client keeps why it failed; a request after that rejects with it.
      setTimeout(() => {
        client.request("ping", {}).then(
          () => resolve("the server closed the connection"),
          (error: Error) => resolve(error.message),
        );
      }, 0);
    }, { once: true });
  }

  request<M extends MessageName>(
    type: M,
    fields: RequestFields<M>,
  ): Promise<Message> {
    return this.#client.request(type, fields);
  }

  onPush(listener: (message: Message) => void): void {
    this.#client.onPush(listener);
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#timer);
    await this.#client.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class UdpLink implements ChatLink {
  readonly transport = "udp";
  /** A UDP client is never disconnected: the server just stops hearing it. */
  readonly lost: Promise<string> = new Promise(() => {});
  #udp: UdpClient;
  #timeoutMs: number;
  #timer: ReturnType<typeof setInterval>;

  constructor(udp: UdpClient, timeoutMs: number) {
    this.#udp = udp;
    this.#timeoutMs = timeoutMs;
    this.#timer = setInterval(() => {
      udp.request("ping", {}, timeoutMs).catch(() => {});
    }, UDP_KEEPALIVE_MS);
  }

  async request<M extends MessageName>(
    type: M,
    fields: RequestFields<M>,
    options: { repeatable?: boolean } = {},
  ): Promise<Message> {
    const attempts = options.repeatable ? UDP_ATTEMPTS : 1;
    const each = Math.ceil(this.#timeoutMs / attempts);
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#udp.request(type, fields, each);
      } catch (error) {
        if (!(error instanceof RequestTimeoutError) || attempt >= attempts) {
          throw error;
        }
      }
    }
  }

  onPush(listener: (message: Message) => void): void {
    this.#udp.onPush(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#udp.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
