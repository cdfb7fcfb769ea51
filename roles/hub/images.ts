/**
 * The image service of the integrated system (HW5): images from one
 * directory by name as bulk transfers (resumable from an offset, with their
 * SHA-256), and their listing. Names come from the network and go through
 * `lib/named_files.ts`, as video names do: `campus` is `campus`, or
 * `campus.png`, `.jpg`… whichever exists first.
 *
 * @module
 */

import { DigestCache } from "../../lib/bulk.ts";
import type { ConfinedRoot } from "../../lib/confined_fs.ts";
import type { Logger } from "../../lib/log.ts";
import { findNamed, listNamed, sendNamedFile } from "../../lib/named_files.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { Message } from "../../protocol/tlv/registry.ts";

/** Extensions tried after the bare name, in order. */
export const IMAGE_EXTENSIONS = [
  "",
  ".png",
  ".jpg",
  ".jpeg",
  ".gif",
  ".webp",
  ".bmp",
  ".svg",
];

/** Whether `fileName` has one of the image extensions. */
function isImageFile(fileName: string): boolean {
  const lower = fileName.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => e !== "" && lower.endsWith(e));
}

/** What `bad_name` messages say a name is not. */
const WHAT = "an image name";

/** The image service's counters. */
export interface ImageStats {
  /** `image_get` requests received, refused ones included. */
  requests: number;
  /** Data bytes sent in transfers. */
  bytesSent: number;
  /** `image_get` requests for an image that is not there. */
  notFound: number;
}

/** Options for {@linkcode imageService}. */
export interface ImageServiceOptions {
  /** The directory of images. */
  images: ConfinedRoot;
  /** Digests of the images; share one with other services over the same files. */
  digests?: DigestCache;
  /** Where transfers are logged (at debug level). */
  log?: Logger;
}

/**
 * Creates the image service: `image_get` answered by a bulk transfer of the
 * image from `offset` (its header names the file, `campus.png`), and
 * `image_list` by `image_list_reply` with one entry per image: its file
 * name (so two images that differ only in extension are both reachable),
 * size and SHA-256. Any other message is `unexpected_message` and the
 * connection goes on.
 *
 * @param options The directory, a digest cache and a logger.
 * @returns The service, with its counters as `stats`.
 *
 * @example
 * ```ts
 * const images = imageService({ images: await ConfinedRoot.open("testdata/images") });
 * await using server = new TlvServer({ services: [images], port: 0 });
 * ```
 */
export function imageService(
  options: ImageServiceOptions,
): TlvService & { readonly stats: ImageStats } {
  const digests = options.digests ?? new DigestCache();
  const stats: ImageStats = { requests: 0, bytesSent: 0, notFound: 0 };
  return {
    name: "image",
    stats,
    async handle(message: Message, session: Session): Promise<void> {
      switch (message.type) {
        case "image_get": {
          const { id, name, offset } = message.fields;
          stats.requests++;
          const found = await findNamed(
            options.images,
            name,
            IMAGE_EXTENSIONS,
            WHAT,
          );
          // The bare name is tried so "campus.png" works as well as
          // "campus"; a file that is not an image (a README) is not served.
          if (!found || !isImageFile(found.fileName)) {
            stats.notFound++;
            // The name only: the directory's path and contents stay private.
            throw new ProtocolError("not_found", `no image named "${name}"`);
          }
          const sent = await sendNamedFile(session, {
            id,
            found,
            offset: offset ?? 0,
            digests,
          });
          stats.bytesSent += sent;
          options.log?.debug("image sent", {
            peer: session.peer,
            file: found.fileName,
            offset: offset ?? 0,
            bytes: sent,
          });
          return;
        }
        case "image_list": {
          const entries = await listNamed(
            options.images,
            IMAGE_EXTENSIONS,
            digests,
          );
          session.send("image_list_reply", {
            id: message.fields.id,
            entry: entries.map((e) => ({
              name: e.fileName,
              size: e.size,
              ...(e.digest ? { digest: e.digest } : {}),
            })),
          });
          return;
        }
        default:
          throw new ProtocolError(
            "unexpected_message",
            `the image service does not accept ${message.type}`,
          );
      }
    },
  };
}
