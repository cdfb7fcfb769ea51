/**
 * Downloads of named objects for the clients: a video (HW4) or an image
 * (HW5) asked for by name, received as a bulk transfer into a file
 * (atomically, resumed from a `.part` file after an interruption, checked
 * against its digest), and the one line that sums a download up.
 *
 * @module
 */

import { basename } from "node:path";
import { BulkError, downloadToFile, partLength } from "../../lib/bulk.ts";
import type { TlvClient } from "../../lib/client.ts";
import { formatBytes, Progress } from "../../lib/progress.ts";
import type { Message } from "../../protocol/tlv/registry.ts";

/** What a download did. */
export interface DownloadSummary {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  /** Bytes this run carried (less than `size` after a resume). */
  readonly bytes: number;
  readonly offset: number;
  readonly seconds: number;
  /** Where the bytes came from ("cache", "origin"), when the server said. */
  readonly source?: string;
}

/** Options for {@linkcode downloadVideo} and {@linkcode downloadNamed}. */
export interface NamedDownloadOptions {
  /** Show a progress bar (or quarter lines) on stderr. */
  progress?: boolean;
  /** Redraw the bar in place; default: stderr is a terminal. */
  terminal?: boolean;
}

/** The requests that answer with a bulk transfer of a named object. */
export type NamedGet = "video_get" | "image_get";

/**
 * Downloads video `name` into `path`, resuming from a `.part` file if one
 * is there.
 *
 * @example
 * ```ts
 * await downloadVideo(client, "video_2022", "video_2022.mp4");
 * ```
 */
export async function downloadVideo(
  client: TlvClient,
  name: string,
  path: string,
  options: NamedDownloadOptions = {},
): Promise<DownloadSummary & { readonly source: string }> {
  const summary = await downloadNamed(client, "video_get", name, path, options);
  // A video always comes from somewhere; an old server may not say where.
  return { ...summary, source: summary.source ?? "unknown" };
}

/**
 * Asks for `name` with `request` and saves the object. `path` is where it
 * goes; when it is a function, it is called with the file name the server
 * announces in `bulk_header` (or `undefined`) and returns the path, so a
 * client can save `campus` as the `campus.png` the server has. A known path
 * resumes from its `.part` file; a path learnt from the header starts at 0.
 *
 * @param client A connection to a service that answers `request`.
 * @param request `video_get` or `image_get`.
 * @param name The name to ask for.
 * @param path Where to save, or how to choose it from the announced name.
 * @param options Progress display.
 * @returns What was downloaded, where to and how fast.
 * @throws {RemoteError} the server refused (`not_found`, `auth_required`…).
 * @throws {BulkError} the transfer broke the rules or its digest did not match.
 *
 * @example
 * ```ts
 * const s = await downloadNamed(client, "image_get", "campus", (announced) =>
 *   safeFileName(announced, "campus"));
 * formatSummary(s); // "campus.png: 48.2 kB in 0.01 s (…), digest verified"
 * ```
 */
export async function downloadNamed(
  client: TlvClient,
  request: NamedGet,
  name: string,
  path: string | ((announced: string | undefined) => string),
  options: NamedDownloadOptions = {},
): Promise<DownloadSummary> {
  const offset = typeof path === "string" ? await partLength(path) : 0;
  const started = performance.now();
  let progress: Progress | undefined;
  // Each chunk is written before the next is asked for: lent, not copied.
  await using frames = client.stream(request, { name, offset }, {
    highWaterMark: 64,
    borrow: true,
  });
  let target: string;
  let source: AsyncIterable<Message> = frames;
  if (typeof path === "string") {
    target = path;
  } else {
    // The path comes from the header, so look at it before the download.
    const first = await frames.next();
    if (first.done) {
      throw new BulkError(
        "incomplete",
        `Cannot receive ${name}: the server answered nothing`,
      );
    }
    target = path(
      first.value.type === "bulk_header" ? first.value.fields.name : undefined,
    );
    source = prepend(first.value, frames);
  }
  const result = await downloadToFile(source, target, {
    resumeFrom: offset,
    onHeader: (header) => {
      if (options.progress) {
        progress = new Progress({
          label: header.name ?? name,
          total: header.size,
          start: offset,
          ...(options.terminal !== undefined
            ? { terminal: options.terminal }
            : {}),
        });
      }
    },
    onProgress: (received) => progress?.update(received),
  });
  progress?.done();
  return {
    name,
    path: target,
    size: result.size,
    bytes: result.bytes,
    offset: result.offset,
    seconds: (performance.now() - started) / 1000,
    ...(result.source !== undefined ? { source: result.source } : {}),
  };
}

async function* prepend(
  first: Message,
  rest: AsyncIterable<Message>,
): AsyncGenerator<Message> {
  yield first;
  yield* rest;
}

/**
 * A file name that is safe to create in the current directory from a name
 * the network gave: its last path component, when that is not empty, not
 * hidden (`.x`, `..`) and free of control characters; else `fallback`
 * treated the same way, else `"download"`.
 *
 * @example
 * ```ts
 * safeFileName("campus.png", "campus"); // "campus.png"
 * safeFileName("../../etc/passwd", "x"); // "passwd"
 * safeFileName(".hidden", "campus"); // "campus"
 * ```
 */
export function safeFileName(
  announced: string | undefined,
  fallback: string,
): string {
  for (const candidate of [announced, fallback]) {
    if (candidate === undefined) continue;
    const name = basename(candidate.replaceAll("\\", "/"));
    // deno-lint-ignore no-control-regex
    if (name !== "" && !name.startsWith(".") && !/[\x00-\x1f\x7f]/.test(name)) {
      return name;
    }
  }
  return "download";
}

/**
 * One line describing a finished download.
 *
 * @example
 * ```ts
 * formatSummary(summary);
 * // "video_2023.mp4: 215 kB in 0.02 s (10.7 MB/s) from the cache, digest verified"
 * ```
 */
export function formatSummary(s: DownloadSummary): string {
  const rate = s.seconds > 0
    ? `${formatBytes(Math.round(s.bytes / s.seconds))}/s`
    : "-";
  const from = s.source !== undefined ? ` from the ${s.source}` : "";
  const resumed = s.offset > 0 ? `, resumed at ${formatBytes(s.offset)}` : "";
  return `${s.path}: ${formatBytes(s.size)} in ${
    s.seconds.toFixed(2)
  } s (${rate})${from}${resumed}, digest verified`;
}
