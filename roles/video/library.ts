/**
 * Videos by name in a confined directory, shared by the origin and the
 * cache: `video_2022` is the file `video_2022`, or `video_2022.mp4`, `.m2t`,
 * `.ts`, `.webm` — whichever exists. Names come from the network, so they go
 * through the confined-root helper and may not leave the directory.
 *
 * @module
 */

import { DigestCache } from "../../lib/bulk.ts";
import { ConfinedPathError, type ConfinedRoot } from "../../lib/confined_fs.ts";
import type { Session } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { LiveChannel } from "./live.ts";

/** Extensions tried after the bare name, in order. */
export const VIDEO_EXTENSIONS = ["", ".mp4", ".m2t", ".ts", ".webm", ".mkv"];

/** A video found on disk. */
export interface FoundVideo {
  readonly path: string;
  readonly fileName: string;
  readonly info: Deno.FileInfo;
}

/** Checks a name from the network: one segment, no path tricks. */
export function checkName(name: string): void {
  if (
    name === "" || name.length > 255 || /[/\\\0]/.test(name) ||
    name.startsWith(".")
  ) {
    throw new ProtocolError(
      "bad_name",
      `"${
        name.slice(0, 80)
      }" is not a video name (one plain file name, no paths)`,
    );
  }
}

/**
 * Finds `name` in `root`, or `undefined` when it is not there.
 *
 * @example
 * ```ts
 * await findVideo(root, "video_2023"); // { path: ".../video_2023.mp4", fileName: "video_2023.mp4", ... }
 * ```
 */
export async function findVideo(
  root: ConfinedRoot,
  name: string,
): Promise<FoundVideo | undefined> {
  checkName(name);
  for (const extension of VIDEO_EXTENSIONS) {
    const fileName = name + extension;
    try {
      const { path, info } = await root.locate(
        `/${encodeURIComponent(fileName)}`,
      );
      if (info.isFile) return { path, fileName, info };
    } catch (error) {
      if (!(error instanceof ConfinedPathError)) throw error;
      if (error.reason !== "not_found") {
        throw new ProtocolError(
          "bad_name",
          `"${name.slice(0, 80)}" is not a video name: ${error.message}`,
        );
      }
    }
  }
  return undefined;
}

/** The videos in `root`, for `video_list`. */
export async function listVideos(
  root: ConfinedRoot,
  digests?: DigestCache,
): Promise<{ name: string; size: number; digest?: Uint8Array }[]> {
  const out: { name: string; size: number; digest?: Uint8Array }[] = [];
  for await (const entry of Deno.readDir(root.root)) {
    if (!entry.isFile || entry.name.startsWith(".")) continue;
    const extension = VIDEO_EXTENSIONS.find((e) =>
      e !== "" && entry.name.endsWith(e)
    );
    if (extension === undefined) continue;
    const path = `${root.root}/${entry.name}`;
    const info = await Deno.stat(path);
    const name = entry.name.slice(0, -extension.length);
    out.push({
      name,
      size: info.size,
      ...(digests ? { digest: await digests.digest(path) } : {}),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
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
