/**
 * Static files from a confined root, as nginx and Deno's file server serve
 * them: Content-Type, Last-Modified and ETag, conditional GET (304), single
 * byte ranges (206/416), `index.html` for directories (or a listing), large
 * files streamed, small ones answered from a cache validated by mtime.
 *
 * @module
 */

import { ConfinedPathError, type ConfinedRoot } from "../../lib/confined_fs.ts";
import {
  escapeHtml,
  HttpError,
  type HttpRequest,
  type HttpResponse,
} from "../../lib/http_server.ts";
import {
  etagFor,
  ifRangeMatches,
  noneMatch,
  notModifiedSince,
} from "../../protocol/http/conditional.ts";
import { contentType } from "../../protocol/http/mime.ts";
import { contentRange, parseRange } from "../../protocol/http/range.ts";
import { httpDate } from "../../protocol/http/response.ts";

/** Options for {@linkcode staticFiles}. */
export interface StaticFilesOptions {
  /** List a directory that has no index.html (otherwise 404). */
  listing?: boolean;
  /** Files up to this size are kept in memory, checked against size, mtime and inode. Default 1 MiB. */
  maxCachedFile?: number;
  /** Total bytes the cache may hold. Default 32 MiB. */
  maxCacheBytes?: number;
}

/** The headers that describe a file version. */
interface FileMeta {
  type: string;
  lastModified: string;
  etag: string;
}

function describe(path: string, info: Deno.FileInfo): FileMeta {
  const mtime = info.mtime ?? new Date(0);
  return {
    type: contentType(path),
    lastModified: httpDate(mtime),
    etag: etagFor(info.size, mtime.getTime()),
  };
}

interface CachedFile {
  bytes: Uint8Array;
  mtimeMs: number;
  size: number;
  ino: number | null;
  /** Worked out once, not on every hit. */
  meta: FileMeta;
}

/**
 * How long a URL path is trusted to lead to the cached file it led to last
 * time (ms), so that a hit needs one stat instead of realPath and stat.
 */
const LOCATE_TTL_MS = 1000;
/** Most URL paths remembered for {@linkcode LOCATE_TTL_MS}. */
const MAX_LOCATED = 4096;

/**
 * A bounded cache of small files, least recently used out first. An entry
 * is used only while the file's size, mtime and inode still match.
 */
class SmallFileCache {
  #entries = new Map<string, CachedFile>();
  #bytes = 0;
  /** URL path → the real path it led to, and when that was checked. */
  #located = new Map<string, { real: string; at: number }>();
  constructor(readonly maxFile: number, readonly maxBytes: number) {}

  get(path: string, info: Deno.FileInfo): Uint8Array | undefined {
    const entry = this.#entries.get(path);
    if (entry === undefined) return undefined;
    if (!matches(entry, info)) {
      this.#delete(path, entry);
      return undefined;
    }
    // Re-insert: Map order is the recency order.
    this.#entries.delete(path);
    this.#entries.set(path, entry);
    return entry.bytes;
  }

  /** The headers of a cached file, while `info` still matches it. */
  meta(path: string, info: Deno.FileInfo): FileMeta | undefined {
    const entry = this.#entries.get(path);
    return entry !== undefined && matches(entry, info) ? entry.meta : undefined;
  }

  put(
    path: string,
    info: Deno.FileInfo,
    bytes: Uint8Array,
    meta: FileMeta,
  ): void {
    if (bytes.length > this.maxFile) return;
    const old = this.#entries.get(path);
    if (old) this.#delete(path, old);
    this.#entries.set(path, {
      bytes,
      mtimeMs: info.mtime?.getTime() ?? 0,
      size: bytes.length,
      ino: info.ino,
      meta,
    });
    this.#bytes += bytes.length;
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#delete(key, entry);
    }
  }

  /**
   * Notes that `urlPath`, located (confined, symlinks resolved) at time
   * `at`, led to the file at `real`, if that file is cached.
   */
  remember(urlPath: string, real: string, at: number): void {
    if (!this.#entries.has(real)) return;
    this.#located.delete(urlPath);
    if (this.#located.size >= MAX_LOCATED) {
      this.#located.delete(this.#located.keys().next().value!);
    }
    this.#located.set(urlPath, { real, at });
  }

  /**
   * The cached file `urlPath` led to less than {@linkcode LOCATE_TTL_MS}
   * ago, if it is unchanged on disk; otherwise the caller locates it again.
   *
   * Only bytes read under a full `locate` are ever served from here, so a
   * symlink swapped in meanwhile cannot lead outside the root: at worst the
   * name answers with its former (inside) file until the TTL ends. A change
   * of the file itself (size, mtime, inode) is seen at once.
   *
   * The stat is synchronous: it is a lookup in the kernel's inode cache for
   * a file read moments ago, a few µs, while an async stat costs a round
   * trip through Deno's blocking thread pool per request, which was most of
   * the server's time for a small file.
   */
  lookup(urlPath: string): { path: string; info: Deno.FileInfo } | undefined {
    const hit = this.#located.get(urlPath);
    if (hit === undefined) return undefined;
    if (performance.now() - hit.at > LOCATE_TTL_MS) {
      this.#located.delete(urlPath);
      return undefined;
    }
    const entry = this.#entries.get(hit.real);
    if (entry === undefined) return undefined;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(hit.real);
    } catch {
      return undefined;
    }
    if (!info.isFile || !matches(entry, info)) return undefined;
    return { path: hit.real, info };
  }

  #delete(path: string, entry: CachedFile): void {
    this.#entries.delete(path);
    this.#bytes -= entry.bytes.length;
  }
}

function matches(entry: CachedFile, info: Deno.FileInfo): boolean {
  return entry.size === info.size &&
    entry.mtimeMs === (info.mtime?.getTime() ?? 0) &&
    entry.ino === info.ino;
}

/** Maps a refused path to the status a user should see. */
export function refusal(error: ConfinedPathError, path: string): HttpError {
  switch (error.reason) {
    case "traversal":
    case "encoding":
    case "invalid":
    case "absolute":
      return new HttpError(400, `Cannot serve ${path}: ${error.message}`);
    default:
      // Hidden files, symlinks leading out, missing files: all simply not here.
      return new HttpError(
        404,
        `There is no ${safeShow(path)} on this server.`,
      );
  }
}

function safeShow(path: string): string {
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

/**
 * Creates a GET/HEAD handler serving files under `root`.
 *
 * @example
 * ```ts
 * const files = staticFiles(await ConfinedRoot.open("www"));
 * const response = await files(request);
 * ```
 */
export function staticFiles(
  root: ConfinedRoot,
  options: StaticFilesOptions = {},
): (request: HttpRequest, path?: string) => Promise<HttpResponse> {
  const cache = new SmallFileCache(
    options.maxCachedFile ?? 1024 * 1024,
    options.maxCacheBytes ?? 32 * 1024 * 1024,
  );
  return async (request, path = request.path) => {
    const recent = cache.lookup(path);
    if (recent !== undefined) return serveFile(request, recent, cache);
    const at = performance.now();
    let located: { path: string; info: Deno.FileInfo };
    try {
      located = await root.locate(path);
    } catch (error) {
      if (error instanceof ConfinedPathError) throw refusal(error, path);
      throw error;
    }
    if (located.info.isDirectory) {
      if (!path.endsWith("/")) {
        // Relative links in the index resolve against the directory only with the slash.
        const query = request.query.size > 0 ? `?${request.query}` : "";
        return {
          status: 301,
          headers: [["location", `${path}/${query}`]],
          body: "",
        };
      }
      try {
        const index = await root.locate(`${path}index.html`);
        const response = await serveFile(request, index, cache);
        cache.remember(path, index.path, at);
        return response;
      } catch (error) {
        if (
          !(error instanceof ConfinedPathError && error.reason === "not_found")
        ) throw error;
      }
      if (!options.listing) {
        throw new HttpError(
          404,
          `There is no index of ${safeShow(path)} on this server.`,
        );
      }
      return await listing(root, located.path, path);
    }
    if (!located.info.isFile) {
      throw new HttpError(404, `There is no ${safeShow(path)} on this server.`);
    }
    const response = await serveFile(request, located, cache);
    cache.remember(path, located.path, at);
    return response;
  };
}

async function serveFile(
  request: HttpRequest,
  located: { path: string; info: Deno.FileInfo },
  cache: SmallFileCache,
): Promise<HttpResponse> {
  const { path, info } = located;
  const size = info.size;
  const mtime = info.mtime ?? new Date(0);
  const meta = cache.meta(path, info) ?? describe(path, info);
  const etag = meta.etag;
  const headers: [string, string][] = [
    ["content-type", meta.type],
    ["last-modified", meta.lastModified],
    ["etag", etag],
    ["accept-ranges", "bytes"],
  ];
  const inm = request.headers.get("if-none-match");
  const ims = request.headers.get("if-modified-since");
  if (
    inm !== undefined
      ? noneMatch(inm, etag)
      : ims !== undefined && notModifiedSince(ims, mtime)
  ) {
    return {
      status: 304,
      headers: headers.filter(([k]) => k !== "content-type"),
    };
  }
  let start = 0;
  let end = size - 1;
  let status = 200;
  const rangeHeader = request.headers.get("range");
  const ifRange = request.headers.get("if-range");
  if (
    rangeHeader !== undefined &&
    (ifRange === undefined || ifRangeMatches(ifRange, etag, mtime))
  ) {
    const range = parseRange(rangeHeader, size);
    if (range === "unsatisfiable") {
      throw new HttpError(
        416,
        `The range ${rangeHeader} is outside the ${size} bytes of this file.`,
        [
          ["content-range", `bytes */${size}`],
        ],
      );
    }
    if (range !== undefined) {
      ({ start, end } = range);
      status = 206;
      headers.push(["content-range", contentRange(start, end, size)]);
    }
  }
  const length = size === 0 ? 0 : end - start + 1;
  if (request.method === "HEAD") {
    headers.push(["content-length", String(length)]);
    return { status, headers };
  }
  let bytes = cache.get(path, info);
  if (bytes === undefined && size <= cache.maxFile) {
    const read = await Deno.readFile(path);
    // A file that changed between stat and read is streamed below instead.
    if (read.length === size) {
      cache.put(path, info, read, meta);
      bytes = read;
    }
  }
  if (bytes !== undefined) {
    return { status, headers, body: bytes.subarray(start, start + length) };
  }
  const file = await Deno.open(path, { read: true });
  return { status, headers, body: { file, start, length } };
}

async function listing(
  root: ConfinedRoot,
  dir: string,
  urlPath: string,
): Promise<HttpResponse> {
  const entries: {
    name: string;
    isDir: boolean;
    size: number;
    mtime: Date | null;
  }[] = [];
  for await (const entry of Deno.readDir(dir)) {
    // The root's own rules decide what may be named (hidden files, odd names).
    if (!nameable(root, urlPath, entry.name)) continue;
    try {
      const info = await Deno.stat(`${dir}/${entry.name}`);
      entries.push({
        name: entry.name,
        isDir: info.isDirectory,
        size: info.size,
        mtime: info.mtime,
      });
    } catch {
      // A dangling symlink or a file removed meanwhile: not listed.
    }
  }
  entries.sort((a, b) =>
    Number(b.isDir) - Number(a.isDir) || a.name.localeCompare(b.name)
  );
  const title = `Index of ${escapeHtml(decodeForTitle(urlPath))}`;
  const rows = entries.map((e) => {
    const href = encodeURIComponent(e.name) + (e.isDir ? "/" : "");
    const label = escapeHtml(e.name) + (e.isDir ? "/" : "");
    return `<tr><td><a href="${href}">${label}</a></td><td>${
      e.isDir ? "-" : e.size
    }</td><td>${e.mtime ? e.mtime.toISOString() : ""}</td></tr>`;
  });
  const parent = urlPath === "/"
    ? ""
    : `<tr><td><a href="../">../</a></td><td></td><td></td></tr>\n`;
  const body =
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1>\n` +
    `<table>\n<tr><th>name</th><th>size</th><th>modified</th></tr>\n${parent}${
      rows.join("\n")
    }\n</table>\n</body></html>\n`;
  return {
    status: 200,
    headers: [["content-type", "text/html; charset=utf-8"]],
    body,
  };
}

function nameable(root: ConfinedRoot, dir: string, name: string): boolean {
  try {
    root.resolve(`${dir}${encodeURIComponent(name)}`);
    return true;
  } catch {
    return false;
  }
}

function decodeForTitle(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
