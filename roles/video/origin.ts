/**
 * The origin (HW4's global server) as a TLV service: videos from its
 * directory as bulk transfers (resumable from an offset, with their SHA-256),
 * a listing, its live channels, and counters.
 *
 * @module
 */

import { DigestCache, sendBulk } from "../../lib/bulk.ts";
import type { ConfinedRoot } from "../../lib/confined_fs.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import { findVideo, listVideos, sendLive } from "./library.ts";
import type { LiveChannel } from "./live.ts";

/** The origin's counters. */
export interface OriginStats {
  requests: number;
  bytesSent: number;
  notFound: number;
  liveSubscriptions: number;
}

/** Options for {@linkcode originService}. */
export interface OriginOptions {
  videos: ConfinedRoot;
  channels: ReadonlyMap<string, LiveChannel>;
  digests?: DigestCache;
}

/**
 * Creates the origin service and its counters.
 *
 * @example
 * ```ts
 * const { service } = originService({ videos: await ConfinedRoot.open("testdata/video"), channels });
 * await using server = new TlvServer({ services: [service] });
 * ```
 */
export function originService(
  options: OriginOptions,
): { service: TlvService; stats: OriginStats } {
  const digests = options.digests ?? new DigestCache();
  const stats: OriginStats = {
    requests: 0,
    bytesSent: 0,
    notFound: 0,
    liveSubscriptions: 0,
  };
  const service: TlvService = {
    name: "video",
    async handle(message: Message, session: Session): Promise<void> {
      switch (message.type) {
        case "video_get": {
          const { id, name, offset } = message.fields;
          stats.requests++;
          const found = await findVideo(options.videos, name);
          if (!found) {
            stats.notFound++;
            throw new ProtocolError(
              "not_found",
              `no video named "${name}" on the origin`,
            );
          }
          const digest = await digests.digest(found.path, found.info);
          // Read the counter after the await: transfers run concurrently.
          const sent = await sendBulk(session, {
            id,
            name: found.fileName,
            file: found.path,
            size: found.info.size,
            digest,
            offset: offset ?? 0,
            source: "origin",
          });
          stats.bytesSent += sent;
          return;
        }
        case "video_list": {
          const entries = await listVideos(options.videos, digests);
          session.send("video_list_reply", {
            id: message.fields.id,
            entry: entries.map((e) => ({
              name: e.name,
              size: e.size,
              ...(e.digest ? { digest: e.digest } : {}),
            })),
          });
          return;
        }
        case "live_subscribe": {
          const { id, name } = message.fields;
          const channel = options.channels.get(name);
          if (!channel) {
            throw new ProtocolError(
              "not_found",
              `no live channel "${name}"; channels: ${
                [...options.channels.keys()].join(", ")
              }`,
            );
          }
          stats.liveSubscriptions++;
          await sendLive(session, id, channel);
          return;
        }
        case "stats_request": {
          const live = Object.fromEntries(
            [...options.channels].map(([n, c]) => [n, c.stats]),
          );
          session.send("stats_reply", {
            id: message.fields.id,
            json: JSON.stringify({ ...stats, live }),
          });
          return;
        }
        default:
          throw new ProtocolError(
            "unexpected_message",
            `the video service does not accept ${message.type}`,
          );
      }
    },
  };
  return { service, stats };
}
