/**
 * Media types for file names, by extension.
 *
 * @module
 */

const TEXT = "; charset=utf-8";

/** Media type by lowercase extension. */
const TYPES: ReadonlyMap<string, string> = new Map([
  ["html", `text/html${TEXT}`],
  ["htm", `text/html${TEXT}`],
  ["css", `text/css${TEXT}`],
  ["js", `text/javascript${TEXT}`],
  ["mjs", `text/javascript${TEXT}`],
  ["json", "application/json"],
  ["map", "application/json"],
  ["txt", `text/plain${TEXT}`],
  ["md", `text/markdown${TEXT}`],
  ["csv", `text/csv${TEXT}`],
  ["vtt", `text/vtt${TEXT}`],
  ["xml", "application/xml"],
  ["svg", "image/svg+xml"],
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
  ["gif", "image/gif"],
  ["webp", "image/webp"],
  ["ico", "image/x-icon"],
  ["avif", "image/avif"],
  ["bmp", "image/bmp"],
  ["mp4", "video/mp4"],
  ["webm", "video/webm"],
  ["m4v", "video/x-m4v"],
  ["mov", "video/quicktime"],
  // In a file server, .ts is an MPEG transport stream (HLS segment).
  ["ts", "video/mp2t"],
  ["m2t", "video/mp2t"],
  ["m2ts", "video/mp2t"],
  ["m4s", "video/iso.segment"],
  ["m3u8", "application/vnd.apple.mpegurl"],
  ["mpd", "application/dash+xml"],
  ["mp3", "audio/mpeg"],
  ["m4a", "audio/mp4"],
  ["aac", "audio/aac"],
  ["wav", "audio/wav"],
  ["ogg", "audio/ogg"],
  ["pdf", "application/pdf"],
  ["wasm", "application/wasm"],
  ["woff", "font/woff"],
  ["woff2", "font/woff2"],
  ["ttf", "font/ttf"],
  ["otf", "font/otf"],
  ["zip", "application/zip"],
  ["gz", "application/gzip"],
  ["tar", "application/x-tar"],
]);

/**
 * The Content-Type for a file name or path, by its extension
 * (case-insensitive); text types carry `charset=utf-8`. A name without a
 * known extension, including a dot-file such as `.env`, is
 * `application/octet-stream`.
 *
 * @example
 * ```ts
 * contentType("index.HTML"); // "text/html; charset=utf-8"
 * contentType("/videos/seg-001.ts"); // "video/mp2t"
 * contentType("README"); // "application/octet-stream"
 * ```
 */
export function contentType(name: string): string {
  const base = name.slice(
    Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1,
  );
  const dot = base.lastIndexOf(".");
  if (dot <= 0) return "application/octet-stream";
  return TYPES.get(base.slice(dot + 1).toLowerCase()) ??
    "application/octet-stream";
}
