/**
 * The local server's video service (HW4): videos through the cache, live
 * channels relayed from the origin with one upstream subscription per
 * channel however many viewers, a listing and counters.
 *
 * @module
 */

import type { TlvClient } from "../../lib/client.ts";
import type { Logger } from "../../lib/log.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import type { VideoCache } from "./cache.ts";
import { checkName, sendLive } from "./library.ts";
import { LiveChannel } from "./live.ts";

/** Options for {@linkcode Edge}. */
export interface EdgeOptions {
  cache: VideoCache;
  /** Connects to the origin (service "video"). */
  origin: () => Promise<TlvClient>;
  log: Logger;
  /** Bytes a live viewer may fall behind before it is dropped. */
  maxViewerQueue?: number;
}

/**
 * A live channel whose source is one subscription to the origin.
 */
function relayChannel(name: string, options: EdgeOptions): LiveChannel {
  return new LiveChannel({
    name,
    log: options.log,
    ...(options.maxViewerQueue
      ? { maxViewerQueue: options.maxViewerQueue }
      : {}),
    open: async function* (signal) {
      const client = await options.origin();
      const onAbort = () => client.close();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        const frames = client.stream("live_subscribe", { name }, {
          highWaterMark: 64,
        });
        for await (const frame of frames) {
          if (signal.aborted) return;
          if (frame.type === "live_data") yield frame.fields.data;
          else if (frame.type === "live_end") return;
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        await client.close();
      }
    },
  });
}

/**
 * The local server's video service with its relays.
 *
 * @example
 * ```ts
 * const edge = new Edge({ cache, origin, log });
 * await using server = new TlvServer({ services: [edge.service] });
 * ```
 */
export class Edge implements AsyncDisposable {
  readonly service: TlvService;
  #options: EdgeOptions;
  #channels = new Map<string, LiveChannel>();

  /** Creates the service. */
  constructor(options: EdgeOptions) {
    this.#options = options;
    this.service = {
      name: "video",
      handle: (message, session) => this.#handle(message, session),
    };
  }

  /** The relay for channel `name` (created on first use). */
  channel(name: string): LiveChannel {
    checkName(name);
    let channel = this.#channels.get(name);
    if (!channel) {
      channel = relayChannel(name, this.#options);
      this.#channels.set(name, channel);
    }
    return channel;
  }

  /** Counters of the cache and the relays, as one object. */
  stats(): Record<string, unknown> {
    const live = Object.fromEntries(
      [...this.#channels].map(([n, c]) => [n, c.stats]),
    );
    return { cache: { ...this.#options.cache.stats }, live };
  }

  async #handle(message: Message, session: Session): Promise<void> {
    switch (message.type) {
      case "video_get": {
        const { id, name, offset } = message.fields;
        await this.#options.cache.serve(session, id, name, offset ?? 0);
        return;
      }
      case "video_list": {
        const cached = await this.#options.cache.list();
        let origin: { name: string; size: number }[] = [];
        try {
          const client = await this.#options.origin();
          try {
            const reply = await client.request("video_list", {});
            if (reply.type === "video_list_reply") {
              origin = reply.fields.entry ?? [];
            }
          } finally {
            await client.close();
          }
        } catch (error) {
          this.#options.log.warn(
            "origin listing failed; listing the cache only",
            { error: (error as Error).message },
          );
        }
        const names = new Map<string, number>();
        for (const e of [...origin, ...cached]) names.set(e.name, e.size);
        session.send("video_list_reply", {
          id: message.fields.id,
          entry: [...names].sort(([a], [b]) => a.localeCompare(b)).map((
            [name, size],
          ) => ({ name, size })),
        });
        return;
      }
      case "live_subscribe": {
        const { id, name } = message.fields;
        await sendLive(session, id, this.channel(name));
        return;
      }
      case "stats_request":
        session.send("stats_reply", {
          id: message.fields.id,
          json: JSON.stringify(this.stats()),
        });
        return;
      default:
        throw new ProtocolError(
          "unexpected_message",
          `the video service does not accept ${message.type}`,
        );
    }
  }

  /** Closes every relay. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.#channels.values()].map((c) => c.close()));
  }
}
