/**
 * The local server's video cache (HW4 scenarios 1 and 2), as an edge cache
 * does it: hits are served from disk; a miss starts one origin fetch however
 * many clients ask, every waiting client is streamed the bytes as they
 * arrive, and the entry is written to a temporary file, checked against the
 * origin's digest and only then renamed into place. An origin that fails,
 * closes early or lies about the digest leaves no entry. The cache is kept
 * under `maxBytes` by evicting the least recently used entries that nobody
 * is reading.
 *
 * @module
 */

import { dirname, join } from "node:path";
import {
  DigestCache,
  downloadToFile,
  partPath,
  sendBulk,
  sendBulkStream,
} from "../../lib/bulk.ts";
import type { TlvClient } from "../../lib/client.ts";
import type { ConfinedRoot } from "../../lib/confined_fs.ts";
import type { Logger } from "../../lib/log.ts";
import type { Session } from "../../lib/server.ts";
import {
  ProtocolError,
  RemoteError,
} from "../../protocol/tlv/protocol_error.ts";
import {
  checkName,
  findVideo,
  listVideos,
  VIDEO_EXTENSIONS,
} from "./library.ts";

/** The cache's counters. */
export interface CacheStats {
  hits: number;
  misses: number;
  originFetches: number;
  failedFetches: number;
  bytesFromCache: number;
  bytesFromOrigin: number;
  evictions: number;
  entries: number;
  bytes: number;
}

/** Options for {@linkcode VideoCache}. */
export interface VideoCacheOptions {
  dir: ConfinedRoot;
  /** Evict least recently used entries beyond this many bytes. */
  maxBytes: number;
  /** Connects to the origin (service "video"). */
  origin: () => Promise<TlvClient>;
  log: Logger;
  digests?: DigestCache;
}

/** What a waiting client needs from a fetch in progress. */
interface FetchHeader {
  fileName: string;
  size: number;
  digest: Uint8Array;
}

/** One origin fetch, tailed by any number of readers. */
class Fetch {
  readonly name: string;
  readonly staging: string;
  header: FetchHeader | undefined;
  received = 0;
  done = false;
  error: Error | undefined;
  readonly finished: Promise<void>;
  #headerReady = Promise.withResolvers<FetchHeader>();
  #waiters: (() => void)[] = [];

  constructor(name: string, dir: string, run: (fetch: Fetch) => Promise<void>) {
    this.name = name;
    this.staging = join(dir, `${name}.download`);
    this.#headerReady.promise.catch(() => {});
    this.finished = run(this).then(
      () => {
        this.done = true;
      },
      (error: Error) => {
        this.error = error;
        this.done = true;
        this.#headerReady.reject(error);
      },
    ).finally(() => this.#notify());
  }

  headerReady(): Promise<FetchHeader> {
    return this.#headerReady.promise;
  }

  setHeader(header: FetchHeader): void {
    this.header = header;
    this.#headerReady.resolve(header);
  }

  progress(received: number): void {
    this.received = received;
    this.#notify();
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #changed(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push(resolve);
    return promise;
  }

  /**
   * The object's bytes from `offset`, read from the part file as they land,
   * ending only once the whole object has been verified.
   */
  async *read(offset: number): AsyncGenerator<Uint8Array> {
    const { size, fileName } = await this.headerReady();
    let file: Deno.FsFile;
    try {
      file = await Deno.open(partPath(this.staging), { read: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      // A late joiner: the part file was already verified and renamed into
      // place, so the bytes are in the entry (or the fetch failed).
      await this.finished;
      if (this.error) throw this.error;
      file = await Deno.open(join(dirname(this.staging), fileName), {
        read: true,
      });
    }
    try {
      const buffer = new Uint8Array(256 * 1024);
      let at = offset;
      while (at < size) {
        if (at >= this.received) {
          if (this.error) throw this.error;
          await this.#changed();
          continue;
        }
        await file.seek(at, Deno.SeekMode.Start);
        const n = await file.read(
          buffer.subarray(0, Math.min(buffer.length, this.received - at)),
        );
        if (n === null) {
          throw new Error("the part file is shorter than what was received");
        }
        yield buffer.slice(0, n);
        at += n;
      }
      // The last byte is out; the transfer ends only if the digest matched.
      await this.finished;
      if (this.error) throw this.error;
    } finally {
      file.close();
    }
  }
}

/**
 * The cache.
 *
 * @example
 * ```ts
 * const cache = await VideoCache.open({ dir, maxBytes: 1 << 30, origin: connectOrigin, log });
 * await cache.serve(session, id, "video_2022", 0);
 * ```
 */
export class VideoCache {
  readonly stats: CacheStats = {
    hits: 0,
    misses: 0,
    originFetches: 0,
    failedFetches: 0,
    bytesFromCache: 0,
    bytesFromOrigin: 0,
    evictions: 0,
    entries: 0,
    bytes: 0,
  };
  #options: VideoCacheOptions;
  #digests: DigestCache;
  #fetches = new Map<string, Fetch>();
  #readers = new Map<string, number>();
  #used = new Map<string, number>();

  private constructor(options: VideoCacheOptions) {
    this.#options = options;
    this.#digests = options.digests ?? new DigestCache();
  }

  /** Opens the cache directory, removing leftovers of interrupted fetches. */
  static async open(options: VideoCacheOptions): Promise<VideoCache> {
    const cache = new VideoCache(options);
    for await (const entry of Deno.readDir(options.dir.root)) {
      if (
        entry.isFile &&
        (entry.name.endsWith(".download") || entry.name.endsWith(".part"))
      ) {
        // Never served, never resumed: a fetch that did not finish is refetched.
        await Deno.remove(join(options.dir.root, entry.name)).catch(() => {});
      }
    }
    await cache.#recount();
    return cache;
  }

  /** Copies a file into the cache (how `video_2023` gets there first). */
  async preload(path: string): Promise<string> {
    const fileName = path.split(/[\\/]/).pop()!;
    checkName(fileName);
    const target = join(this.#options.dir.root, fileName);
    const temp = join(this.#options.dir.root, `.${fileName}.preload`);
    await Deno.copyFile(path, temp);
    await Deno.rename(temp, target);
    await this.#recount();
    this.#options.log.info("preloaded into the cache", { file: fileName });
    return fileName;
  }

  /** Whether `name` is in the cache now. */
  async has(name: string): Promise<boolean> {
    return (await findVideo(this.#options.dir, name)) !== undefined;
  }

  /** The cached entries. */
  list(): ReturnType<typeof listVideos> {
    return listVideos(this.#options.dir);
  }

  /**
   * Answers `video_get`: from disk on a hit, else from the one fetch of
   * `name` in progress (started if there is none).
   */
  async serve(
    session: Session,
    id: number,
    name: string,
    offset: number,
  ): Promise<void> {
    const found = await findVideo(this.#options.dir, name);
    if (found) {
      this.stats.hits++;
      this.#touch(found.fileName);
      this.#reading(found.fileName, +1);
      try {
        const digest = await this.#digests.digest(found.path, found.info);
        // Read the counter after the await: transfers run concurrently.
        const sent = await sendBulk(session, {
          id,
          name: found.fileName,
          file: found.path,
          size: found.info.size,
          digest,
          offset,
          source: "cache",
        });
        this.stats.bytesFromCache += sent;
      } finally {
        this.#reading(found.fileName, -1);
      }
      return;
    }
    this.stats.misses++;
    const fetch = this.#fetch(name);
    let header: FetchHeader;
    try {
      header = await fetch.headerReady();
    } catch (error) {
      throw asProtocolError(error, name);
    }
    if (offset > header.size) {
      throw new ProtocolError(
        "bad_offset",
        `offset ${offset} is beyond the ${header.size} bytes of "${name}"`,
      );
    }
    try {
      // Read the counter after the await: transfers run concurrently.
      const sent = await sendBulkStream(session, {
        id,
        name: header.fileName,
        size: header.size,
        digest: header.digest,
        offset,
        source: "origin",
        chunks: fetch.read(offset),
      });
      this.stats.bytesFromOrigin += sent;
    } catch (error) {
      throw asProtocolError(error, name);
    }
  }

  /** Waits for `name` to be cached (fetching it if needed); its file name. */
  async ensure(name: string): Promise<string> {
    const found = await findVideo(this.#options.dir, name);
    if (found) {
      this.stats.hits++;
      this.#touch(found.fileName);
      return found.fileName;
    }
    this.stats.misses++;
    const fetch = this.#fetch(name);
    await fetch.finished;
    if (fetch.error) throw asProtocolError(fetch.error, name);
    return fetch.header!.fileName;
  }

  /** Marks an entry as being read (it is not evicted meanwhile). */
  hold(fileName: string): Disposable {
    this.#reading(fileName, +1);
    this.#touch(fileName);
    return { [Symbol.dispose]: () => this.#reading(fileName, -1) };
  }

  #fetch(name: string): Fetch {
    checkName(name);
    const running = this.#fetches.get(name);
    if (running) return running;
    this.stats.originFetches++;
    const fetch = new Fetch(
      name,
      this.#options.dir.root,
      (f) => this.#download(f),
    );
    this.#fetches.set(name, fetch);
    fetch.finished.finally(() => this.#fetches.delete(name));
    return fetch;
  }

  async #download(fetch: Fetch): Promise<void> {
    const { log } = this.#options;
    const started = performance.now();
    let client: TlvClient;
    try {
      client = await this.#options.origin();
    } catch (error) {
      this.stats.failedFetches++;
      throw new ProtocolError(
        "upstream_failed",
        `cannot reach the origin: ${(error as Error).message}`,
      );
    }
    try {
      const frames = client.stream("video_get", {
        name: fetch.name,
        offset: 0,
      });
      const result = await downloadToFile(frames, fetch.staging, {
        onHeader: (header) => {
          const fileName = header.name ?? fetch.name;
          checkName(fileName);
          if (
            !VIDEO_EXTENSIONS.some((e) => e !== "" && fileName.endsWith(e)) &&
            fileName !== fetch.name
          ) {
            throw new ProtocolError(
              "upstream_failed",
              `the origin named the file "${fileName}", not a video`,
            );
          }
          fetch.setHeader({
            fileName,
            size: header.size,
            digest: header.digest,
          });
        },
        onProgress: (received) => fetch.progress(received),
      });
      const fileName = fetch.header!.fileName;
      const entry = join(this.#options.dir.root, fileName);
      await Deno.rename(fetch.staging, entry);
      // Verified against this digest: the first hit need not hash it again.
      this.#digests.remember(entry, await Deno.stat(entry), result.digest);
      this.#touch(fileName);
      log.info("cached from the origin", {
        video: fileName,
        bytes: result.size,
        ms: Math.round(performance.now() - started),
      });
      await this.#recount();
      await this.#evict(fileName);
    } catch (error) {
      this.stats.failedFetches++;
      await Deno.remove(partPath(fetch.staging)).catch(() => {});
      await Deno.remove(fetch.staging).catch(() => {});
      log.warn("origin fetch failed; nothing cached", {
        video: fetch.name,
        error: (error as Error).message,
      });
      throw error;
    } finally {
      await client.close();
    }
  }

  #touch(fileName: string): void {
    this.#used.set(fileName, performance.now());
  }

  #reading(fileName: string, delta: number): void {
    const n = (this.#readers.get(fileName) ?? 0) + delta;
    if (n <= 0) this.#readers.delete(fileName);
    else this.#readers.set(fileName, n);
  }

  async #entries(): Promise<
    { fileName: string; size: number; mtime: number }[]
  > {
    const out: { fileName: string; size: number; mtime: number }[] = [];
    for await (const entry of Deno.readDir(this.#options.dir.root)) {
      if (
        !entry.isFile || entry.name.startsWith(".") ||
        entry.name.endsWith(".download")
      ) continue;
      const info = await Deno.stat(join(this.#options.dir.root, entry.name))
        .catch(() => undefined);
      if (info) {
        out.push({
          fileName: entry.name,
          size: info.size,
          mtime: info.mtime?.getTime() ?? 0,
        });
      }
    }
    return out;
  }

  async #recount(): Promise<void> {
    const entries = await this.#entries();
    this.stats.entries = entries.length;
    this.stats.bytes = entries.reduce((n, e) => n + e.size, 0);
  }

  /** Evicts least recently used entries nobody is reading until under the limit. */
  async #evict(keep: string): Promise<void> {
    const entries = await this.#entries();
    let total = entries.reduce((n, e) => n + e.size, 0);
    if (total <= this.#options.maxBytes) return;
    // Never used since start: older files first (mtime), then by last use.
    entries.sort((a, b) =>
      (this.#used.get(a.fileName) ?? a.mtime - 1e15) -
      (this.#used.get(b.fileName) ?? b.mtime - 1e15)
    );
    for (const entry of entries) {
      if (total <= this.#options.maxBytes) break;
      if (entry.fileName === keep || this.#readers.has(entry.fileName)) {
        continue;
      }
      await Deno.remove(join(this.#options.dir.root, entry.fileName)).catch(
        () => {},
      );
      this.#used.delete(entry.fileName);
      total -= entry.size;
      this.stats.evictions++;
      this.#options.log.info("evicted from the cache", {
        video: entry.fileName,
        bytes: entry.size,
      });
    }
    await this.#recount();
  }
}

function asProtocolError(error: unknown, name: string): ProtocolError {
  if (error instanceof ProtocolError) return error;
  if (error instanceof RemoteError) {
    return new ProtocolError(
      error.codeName === "not_found" ? "not_found" : "upstream_failed",
      error.codeName === "not_found"
        ? `no video named "${name}" on the origin`
        : `the origin failed: ${error.message}`,
    );
  }
  return new ProtocolError(
    "upstream_failed",
    `fetching "${name}" from the origin failed: ${(error as Error).message}`,
  );
}
