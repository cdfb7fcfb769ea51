/**
 * Videos by name in a confined directory, shared by the origin and the
 * cache: `video_2022` is the file `video_2022`, or `video_2022.mp4`, `.m2t`,
 * `.ts`, `.webm` — whichever exists. Names come from the network, so they go
 * through `lib/named_files.ts` (shared with the image service) and the
 * confined-root helper, and may not leave the directory.
 *
 * @module
 */

import { DigestCache } from "../../lib/bulk.ts";
import type { ConfinedRoot } from "../../lib/confined_fs.ts";
import {
  checkName as checkFileName,
  findNamed,
  type FoundFile,
  listNamed,
} from "../../lib/named_files.ts";
import type { Session } from "../../lib/server.ts";
import type { LiveChannel } from "./live.ts";

/** Extensions tried after the bare name, in order. */
export const VIDEO_EXTENSIONS = ["", ".mp4", ".m2t", ".ts", ".webm", ".mkv"];

/** What `bad_name` messages say a name is not. */
const WHAT = "a video name";

/** A video found on disk. */
export type FoundVideo = FoundFile;

/**
 * Checks a name from the network: one segment, no path tricks.
 *
 * @example
 * ```ts
 * checkName("video_2023"); // fine
 * checkName("../video_2023"); // throws bad_name: "is not a video name"
 * ```
 */
export function checkName(name: string): void {
  checkFileName(name, WHAT);
}

/**
 * Finds `name` in `root`, or `undefined` when it is not there.
 *
 * @example
 * ```ts
 * await findVideo(root, "video_2023"); // { path: ".../video_2023.mp4", fileName: "video_2023.mp4", ... }
 * ```
 */
export function findVideo(
  root: ConfinedRoot,
  name: string,
): Promise<FoundVideo | undefined> {
  return findNamed(root, name, VIDEO_EXTENSIONS, WHAT);
}

/**
 * The videos in `root`, for `video_list`: names without their extension.
 *
 * @example
 * ```ts
 * await listVideos(root, digests); // [{ name: "video_2022", size: 127597, digest }, ...]
 * ```
 */
export function listVideos(
  root: ConfinedRoot,
  digests?: DigestCache,
): Promise<{ name: string; size: number; digest?: Uint8Array }[]> {
  return listNamed(root, VIDEO_EXTENSIONS, digests);
}

/** The shared digest cache type, re-exported for the services. */
export { DigestCache };

/**
 * Streams a live channel to one TLV session: `live_start`, then `live_data`
 * frames, then `live_end` with the reason the viewer stopped (the channel
 * ended, or it could not keep up). Waits for the peer to take its bytes, so
 * a slow peer backs up into its bounded viewer queue and is dropped there.
 */
export async function sendLive(
  session: Session,
  id: number,
  channel: LiveChannel,
): Promise<void> {
  const viewer = channel.subscribe();
  const onClose = () => viewer.close();
  session.signal.addEventListener("abort", onClose, { once: true });
  try {
    session.send("live_start", { id, name: channel.name });
    for await (const bytes of viewer) {
      if (session.signal.aborted) return;
      for (let at = 0; at < bytes.length; at += 64 * 1024) {
        session.send("live_data", {
          id,
          data: bytes.subarray(at, at + 64 * 1024),
        });
      }
      // Every batch, not only past the session's 1 MiB congestion mark: a
      // peer's backlog must build up in the viewer queue, whose bound
      // (`maxViewerQueue`) is the one that drops it.
      await session.drained();
    }
    if (!session.signal.aborted) {
      session.send("live_end", {
        id,
        message: viewer.reason ?? "the channel ended",
      });
    }
  } finally {
    session.signal.removeEventListener("abort", onClose);
    viewer.close();
  }
}
