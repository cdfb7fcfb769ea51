/**
 * Bulk transfers (docs/PROTOCOL.md §6): the one implementation of
 * `bulk_header`, `bulk_data`… and `bulk_end` that every system moving files,
 * images or video uses.
 *
 * - Senders: {@linkcode sendBulk} from a file, {@linkcode sendBulkStream}
 *   from a growing source (relay while downloading). Both pace themselves on
 *   the session's write queue, so a slow receiver costs at most about
 *   {@linkcode SEND_HIGH_WATER_MARK} bytes of our memory. A client uploads
 *   with them through {@linkcode clientSender}.
 * - Receivers: {@linkcode BulkChecker} holds the rules (order, bounds, size,
 *   SHA-256) for either direction; {@linkcode receiveBulk} runs a transfer's
 *   frames through it into any sink; {@linkcode downloadToFile} writes a
 *   `.NAME.part` file (with a chunk ledger when asked, `lib/part_file.ts`),
 *   keeps it for a resume when the transfer is cut short, and renames it into
 *   place only once the digest matches.
 * - Digests: {@linkcode fileDigest} hashes a file in bounded memory;
 *   {@linkcode DigestCache} saves an origin from re-hashing unchanged files.
 *
 * @example
 * ```ts
 * // server side, in a TlvService's handle()
 * const digest = await digests.digest(path);
 * await sendBulk(session, { id, file: path, size, digest, offset });
 *
 * // client side
 * const frames = client.stream("video_get", { name: "a.mp4", offset });
 * await downloadToFile(frames, "a.mp4", { resumeFrom: offset });
 * ```
 *
 * @module
 */

import { readFull, writeAll } from "./file_io.ts";
import { createHash, type Hash } from "node:crypto";
import { MAX_CHUNK_LENGTH } from "../protocol/tlv/frame.ts";
import { ProtocolError, RemoteError } from "../protocol/tlv/protocol_error.ts";
import type { Message, MessageFields } from "../protocol/tlv/registry.ts";
import {
  LEDGER_CHUNK_SIZE,
  type LedgerHeader,
  sameBytes,
  sameLedgerHeader,
} from "./chunk_ledger.ts";
import type { TlvClient } from "./client.ts";
import {
  discardPart,
  type HeldPart,
  partPath,
  PartWriter,
} from "./part_file.ts";
import type { Session } from "./server.ts";

export { partPath };

/** Length of a SHA-256 digest in bytes. */
export const DIGEST_LENGTH = 32;

/**
 * Bytes a sender queues on a session before it waits for them to be
 * written: the most a slow receiver makes us hold (plus one chunk).
 */
export const SEND_HIGH_WATER_MARK = 1024 * 1024;

const READ_BUFFER_SIZE = 256 * 1024;

/**
 * Bytes {@linkcode sendBulk} reads from its file at once (whole chunks):
 * half the high-water mark, so one block is read while the other is sent.
 */
const READ_BLOCK_SIZE = SEND_HIGH_WATER_MARK / 2;

/** Why a received transfer was refused. */
export type BulkErrorCode =
  /** A frame other than `bulk_header` came first, or a second header came. */
  | "bad_header"
  /** A `bulk_data` frame started after the end of the previous one. */
  | "gap"
  /** A `bulk_data` frame started before the end of the previous one. */
  | "overlap"
  /** A chunk over the limit, or data past the announced size. */
  | "too_large"
  /** `bulk_end` came early or named another size than the header. */
  | "size_mismatch"
  /** The SHA-256 of the bytes is not the digest the header announced. */
  | "digest_mismatch"
  /** The frames ended before `bulk_end`. */
  | "incomplete"
  /** A frame that has no place in a bulk transfer. */
  | "unexpected_message"
  /** The bytes to resume after are not there (part file too short). */
  | "bad_resume";

/**
 * A transfer whose frames break the rules of docs/PROTOCOL.md §6, or whose
 * bytes are not the announced object.
 *
 * @example
 * ```ts
 * try {
 *   await downloadToFile(frames, "a.mp4");
 * } catch (error) {
 *   if (error instanceof BulkError && error.code === "digest_mismatch") retry();
 *   else throw error;
 * }
 * ```
 */
export class BulkError extends Error {
  /** What was wrong. */
  readonly code: BulkErrorCode;

  /** Creates the error. */
  constructor(code: BulkErrorCode, message: string) {
    super(message);
    this.name = "BulkError";
    this.code = code;
  }
}

/** What a `bulk_header` announces. */
export interface BulkHeader {
  /** The request id. */
  readonly id: number;
  /** Name of the object, when the sender gives one. */
  readonly name?: string;
  /** Total size of the object in bytes. */
  readonly size: number;
  /** SHA-256 of the whole object. */
  readonly digest: Uint8Array;
  /** Where this transfer starts. */
  readonly offset: number;
  /** Where the bytes come from ("cache" or "origin"), when said. */
  readonly source?: string;
}

// ---------------------------------------------------------------- digests

/**
 * The SHA-256 of a file, read in 256 KiB pieces (bounded memory whatever
 * its size).
 *
 * @param path The file.
 * @returns The 32-byte digest.
 *
 * @example
 * ```ts
 * const digest = await fileDigest("testdata/video/clip.mp4");
 * ```
 */
export async function fileDigest(path: string): Promise<Uint8Array> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  await hashFrom(file, Infinity, hash);
  return digestOf(hash);
}

/** Feeds up to `length` bytes of `file` (from its position) to `hash`. */
async function hashFrom(
  file: Deno.FsFile,
  length: number,
  hash: Hash,
): Promise<number> {
  const buffer = new Uint8Array(READ_BUFFER_SIZE);
  let done = 0;
  while (done < length) {
    const n = await file.read(
      buffer.subarray(0, Math.min(buffer.length, length - done)),
    );
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
    done += n;
  }
  return done;
}

function digestOf(hash: Hash): Uint8Array {
  return new Uint8Array(hash.digest());
}

/** Options for {@linkcode DigestCache}. */
export interface DigestCacheOptions {
  /** Most files remembered; the least recently used is forgotten. Default 1024. */
  maxEntries?: number;
}

/**
 * Remembers file digests, keyed by path and checked against the file's
 * size, mtime, ctime and inode, so an origin hashes a file once, not per
 * request. Concurrent requests for one file share one hashing pass.
 *
 * @example
 * ```ts
 * const digests = new DigestCache();
 * const { file, path, info } = await root.openFile("/clip.mp4");
 * const digest = await digests.digest(path, info);
 * ```
 */
export class DigestCache {
  #entries = new Map<string, { stamp: string; digest: Promise<Uint8Array> }>();
  #maxEntries: number;

  /** Creates an empty cache. */
  constructor(options: DigestCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 1024;
  }

  /** Files remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The SHA-256 of the file at `path`, hashed only when the file changed
   * since it was last hashed.
   *
   * @param path The file.
   * @param info Its stat, when the caller already has one (saves a stat).
   * @returns The 32-byte digest.
   */
  async digest(path: string, info?: Deno.FileInfo): Promise<Uint8Array> {
    const stamp = stampOf(info ?? await Deno.stat(path));
    const hit = this.#entries.get(path);
    this.#entries.delete(path);
    if (hit !== undefined && hit.stamp === stamp) {
      this.#entries.set(path, hit);
      return hit.digest;
    }
    const entry = { stamp, digest: fileDigest(path) };
    this.#entries.set(path, entry);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
    const forget = () => {
      if (this.#entries.get(path) === entry) this.#entries.delete(path);
    };
    try {
      const digest = await entry.digest;
      // Changed while being hashed: the digest may mix two versions.
      if (stampOf(await Deno.stat(path)) !== stamp) forget();
      return digest;
    } catch (error) {
      forget();
      throw error;
    }
  }

  /**
   * Records a digest already known for the file at `path` (a download
   * verified against it), so the first request does not hash it again.
   *
   * @param path The file.
   * @param info Its stat, taken after its last change (e.g. the rename).
   * @param digest Its SHA-256.
   *
   * @example
   * ```ts
   * const result = await downloadToFile(frames, path);
   * digests.remember(path, await Deno.stat(path), result.digest);
   * ```
   */
  remember(path: string, info: Deno.FileInfo, digest: Uint8Array): void {
    this.#entries.delete(path);
    this.#entries.set(path, {
      stamp: stampOf(info),
      digest: Promise.resolve(digest),
    });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  /** Forgets every file. */
  clear(): void {
    this.#entries.clear();
  }
}

function stampOf(info: Deno.FileInfo): string {
  return `${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}:${info.ino}`;
}

// ---------------------------------------------------------------- senders

/**
 * What a sender needs of a connection: a server's {@linkcode Session}, or
 * a client's connection through {@linkcode clientSender} (an upload).
 */
export type BulkSender = Pick<
  Session,
  "signal" | "send" | "drained" | "queuedBytes"
>;

/**
 * A client connection as a {@linkcode BulkSender}, for uploads: sends on
 * it, paces on its write queue, and stops when it closes. Each frame sent
 * and each drain start the client's answer timeout again: the answer is not
 * due while the request is still going out, and a server that stops reading
 * stops the sending (the queue stays full), so the timeout still fires.
 *
 * @param client The connection to upload on.
 * @returns The sender to give {@linkcode sendBulk}.
 *
 * @example
 * ```ts
 * const ready = await frames.next(); // file_put_ready { offset }
 * await sendBulk(clientSender(client), { id, file, size, digest, offset, header: false });
 * ```
 */
export function clientSender(client: TlvClient): BulkSender {
  return {
    get signal() {
      return client.fc.closedSignal;
    },
    send: (type, fields) => {
      client.send(type, fields);
      client.extendTimeout();
    },
    drained: async (below) => {
      await client.fc.drained(below);
      client.extendTimeout();
    },
    get queuedBytes() {
      return client.fc.pendingBytes;
    },
  };
}

/** What both senders need. */
export interface BulkSendOptions {
  /** The request id the transfer answers. */
  id: number;
  /** Name of the object, sent in the header. */
  name?: string;
  /** Total size of the object in bytes. */
  size: number;
  /** SHA-256 of the whole object (32 bytes). */
  digest: Uint8Array;
  /** Where to start; beyond `size` is `bad_offset`. Default 0. */
  offset?: number;
  /** Where the bytes come from ("cache" or "origin"). */
  source?: string;
  /** Stops the transfer early; the session's own signal always does. */
  signal?: AbortSignal;
  /** Data bytes per `bulk_data` frame, at most (and by default) 64 KiB. */
  chunkSize?: number;
  /**
   * Send `bulk_header` first (default true). An upload sends none: its
   * request (`file_put`) already announced the size and digest.
   */
  header?: boolean;
  /** Called as data is queued: bytes of the object sent so far, of `size`. */
  onProgress?(sent: number, size: number): void;
}

/** Options for {@linkcode sendBulk}. */
export interface SendBulkOptions extends BulkSendOptions {
  /**
   * The object: a path (opened and closed here) or an open file (the
   * caller closes it; it is read from `offset`, whatever its position).
   */
  file: Deno.FsFile | string;
}

/** Options for {@linkcode sendBulkStream}. */
export interface SendBulkStreamOptions extends BulkSendOptions {
  /** The object's bytes from `offset` on, in pieces of any size. */
  chunks: AsyncIterable<Uint8Array>;
}

/**
 * Sends a file as a bulk transfer answering request `id`: `bulk_header`,
 * `bulk_data` frames from `offset` on, `bulk_end`. It never queues more
 * than {@linkcode SEND_HIGH_WATER_MARK} bytes on the session, so a slow
 * receiver holds up this transfer instead of our memory.
 *
 * @param session The connection to send on.
 * @param options The object and where to start.
 * @returns The data bytes sent; fewer than `size - offset` when the
 * connection closed or `signal` aborted first (nothing more is sent then).
 * @throws {ProtocolError} `bad_offset` when `offset` is beyond `size`.
 * @throws {Error} when the file is shorter than `size` (it changed).
 *
 * @example
 * ```ts
 * const { file, info, path } = await root.openFile(`/${name}`);
 * using _ = file;
 * const digest = await digests.digest(path, info);
 * await sendBulk(session, { id, name, file, size: info.size, digest, offset });
 * ```
 */
export async function sendBulk(
  session: BulkSender,
  options: SendBulkOptions,
): Promise<number> {
  const start = checkSend(options);
  const chunkSize = checkChunkSize(options.chunkSize);
  const signal = options.signal
    ? AbortSignal.any([session.signal, options.signal])
    : session.signal;
  if (signal.aborted) return 0;
  const owned = typeof options.file === "string";
  const file = typeof options.file === "string"
    ? await Deno.open(options.file, { read: true })
    : options.file;
  try {
    await file.seek(start, Deno.SeekMode.Start);
    const pacer = new Pacer(session);
    if (options.header !== false) sendHeader(session, options, start);
    let at = start;
    // Whole chunks per read; one buffer for the whole transfer, as a
    // session encodes what it is given before send() returns.
    const block = new Uint8Array(Math.min(
      chunkSize * Math.max(1, Math.floor(READ_BLOCK_SIZE / chunkSize)),
      options.size - start,
    ));
    while (at < options.size) {
      const want = Math.min(block.length, options.size - at);
      await pacer.room(want);
      if (signal.aborted) return at - start;
      const n = await readFull(file, block.subarray(0, want));
      if (signal.aborted) return at - start;
      if (n < want) {
        throw new Error(
          `Cannot send ${describe(options)}: the file ended at byte ${
            at + n
          } of ${options.size} (it changed while being sent)`,
        );
      }
      for (let i = 0; i < n; i += chunkSize) {
        const data = block.subarray(i, Math.min(i + chunkSize, n));
        session.send("bulk_data", { id: options.id, offset: at, data });
        at += data.length;
      }
      options.onProgress?.(at, options.size);
    }
    session.send("bulk_end", { id: options.id, size: options.size });
    return at - start;
  } finally {
    if (owned) file.close();
  }
}

/**
 * Sends a bulk transfer whose bytes arrive while it is being sent (a cache
 * relaying an object it is still downloading). `chunks` yields the object's
 * bytes from `offset` on; the announced `digest` is passed on unchecked, the
 * receiver checks it. Paced like {@linkcode sendBulk}.
 *
 * @param session The connection to send on.
 * @param options The object, its bytes and where they start.
 * @returns The data bytes sent; fewer when the connection closed or
 * `signal` aborted first.
 * @throws {ProtocolError} `bad_offset` when `offset` is beyond `size`;
 * `upstream_failed` when `chunks` throws, ends early or yields too much.
 *
 * @example
 * ```ts
 * await sendBulkStream(session, {
 *   id, name, size, digest, offset, source: "origin",
 *   chunks: download.bytesFrom(offset),
 * });
 * ```
 */
export async function sendBulkStream(
  session: BulkSender,
  options: SendBulkStreamOptions,
): Promise<number> {
  const start = checkSend(options);
  const chunkSize = checkChunkSize(options.chunkSize);
  const signal = options.signal
    ? AbortSignal.any([session.signal, options.signal])
    : session.signal;
  if (signal.aborted) return 0;
  const pacer = new Pacer(session);
  if (options.header !== false) sendHeader(session, options, start);
  let at = start;
  try {
    for await (const chunk of options.chunks) {
      if (chunk.length > options.size - at) {
        throw new ProtocolError(
          "upstream_failed",
          `Cannot relay ${
            describe(options)
          }: the source gave more than the announced ${options.size} bytes`,
        );
      }
      for (let i = 0; i < chunk.length; i += chunkSize) {
        const data = chunk.subarray(i, i + chunkSize);
        session.send("bulk_data", { id: options.id, offset: at, data });
        at += data.length;
      }
      options.onProgress?.(at, options.size);
      // The next piece's size is unknown: keep half the mark free for it.
      await pacer.room(SEND_HIGH_WATER_MARK / 2);
      if (signal.aborted) return at - start;
    }
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(
      "upstream_failed",
      `Cannot relay ${
        describe(options)
      }: the source failed at byte ${at} of ${options.size}: ${
        (error as Error).message
      }`,
    );
  }
  if (at !== options.size) {
    throw new ProtocolError(
      "upstream_failed",
      `Cannot relay ${
        describe(options)
      }: the source ended at byte ${at} of ${options.size}`,
    );
  }
  session.send("bulk_end", { id: options.id, size: options.size });
  return at - start;
}

/**
 * Keeps a session's queue under the high-water mark without letting it
 * run dry: a sender waits only until the next piece fits, so the socket
 * has the rest to write while that piece is read (waiting for an empty
 * queue left it idle during every read).
 */
class Pacer {
  #session: BulkSender;

  constructor(session: BulkSender) {
    this.#session = session;
  }

  /** Waits until `bytes` more fit under {@linkcode SEND_HIGH_WATER_MARK}. */
  async room(bytes: number): Promise<void> {
    if (this.#session.queuedBytes + bytes <= SEND_HIGH_WATER_MARK) return;
    await this.#session.drained(Math.max(0, SEND_HIGH_WATER_MARK - bytes));
  }
}

/** Validates a send's options; returns the start offset. */
function checkSend(options: BulkSendOptions): number {
  const start = options.offset ?? 0;
  if (!Number.isSafeInteger(options.size) || options.size < 0) {
    throw new RangeError(
      `Cannot send ${
        describe(options)
      }: size ${options.size} is not a byte count`,
    );
  }
  if (options.digest.length !== DIGEST_LENGTH) {
    throw new RangeError(
      `Cannot send ${
        describe(options)
      }: the digest has ${options.digest.length} bytes, not ${DIGEST_LENGTH}`,
    );
  }
  if (!Number.isSafeInteger(start) || start < 0 || start > options.size) {
    throw new ProtocolError(
      "bad_offset",
      `offset ${start} is beyond the end of ${
        describe(options)
      } (${options.size} bytes)`,
    );
  }
  return start;
}

function checkChunkSize(chunkSize = MAX_CHUNK_LENGTH): number {
  if (
    !Number.isSafeInteger(chunkSize) || chunkSize < 1 ||
    chunkSize > MAX_CHUNK_LENGTH
  ) {
    throw new RangeError(
      `Cannot send a bulk transfer: chunkSize ${chunkSize} is not between 1 and ${MAX_CHUNK_LENGTH}`,
    );
  }
  return chunkSize;
}

function sendHeader(
  session: BulkSender,
  options: BulkSendOptions,
  offset: number,
): void {
  // `source` goes out once the registry lists it for bulk_header; the
  // encoder writes only the fields a message's spec names.
  const header: MessageFields<"bulk_header"> & { source?: string } = {
    id: options.id,
    ...(options.name !== undefined ? { name: options.name } : {}),
    size: options.size,
    digest: options.digest,
    offset,
    ...(options.source !== undefined ? { source: options.source } : {}),
  };
  session.send("bulk_header", header);
}

function describe(options: { id: number; name?: string }): string {
  return options.name !== undefined
    ? JSON.stringify(options.name)
    : `transfer ${options.id}`;
}

// ---------------------------------------------------------------- receivers

/** Where {@linkcode receiveBulk} puts the bytes. */
export interface BulkSink {
  /** Takes `chunk`, the object's bytes from `offset`; chunks come in order. */
  write(chunk: Uint8Array, offset: number): Promise<void>;
}

/** Options for {@linkcode receiveBulk}. */
export interface ReceiveBulkOptions {
  /**
   * The bytes of the object already held, `length` bytes at the start of
   * the file at `path`: they are hashed first, so the digest covers the
   * whole object, and the transfer must start at `length` (else at 0).
   */
  resumeFrom?: { path: string; length: number };
  /**
   * The bytes of the object already held and already hashed (what
   * `resumePart()` in `lib/part_file.ts` verified): `hash` has seen the
   * first `length` bytes, and the transfer must start at `length`.
   * Instead of `resumeFrom`.
   */
  held?: { length: number; hash: Hash };
  /**
   * Called with the header, before any data; a promise it returns is
   * awaited. Throwing (or rejecting) refuses the transfer (e.g. not the
   * object a resume expects).
   */
  onHeader?(header: BulkHeader): unknown;
  /** Called after each chunk: bytes of the object held, of `size`. */
  onProgress?(received: number, size: number): void;
}

/** What a verified transfer delivered. */
export interface BulkResult {
  /** Name from the header, when given. */
  name?: string;
  /** Total size of the object. */
  size: number;
  /** Its SHA-256, checked. */
  digest: Uint8Array;
  /** Where the bytes came from, when the sender said. */
  source?: string;
  /** Where this transfer started. */
  offset: number;
  /** Data bytes this transfer carried (`size - offset`). */
  bytes: number;
}

/**
 * The rules every received transfer is checked against, in either
 * direction: the data is contiguous from the start offset, no chunk is over
 * the limit or past the announced size, the end comes at the announced size,
 * and the SHA-256 of the whole object is the announced digest.
 * {@linkcode receiveBulk} runs downloads through it; an upload's receiver
 * (the file service) feeds it the client's frames itself.
 *
 * @example
 * ```ts
 * const checker = new BulkChecker({ id, size, digest, offset: 0 });
 * checker.accept(0, data);              // throws BulkError "gap", "overlap", "too_large"
 * const result = checker.finish(size);  // throws "size_mismatch", "digest_mismatch"
 * ```
 */
export class BulkChecker {
  /** What the transfer announced. */
  readonly header: BulkHeader;
  #hash: Hash;
  #at: number;

  /**
   * @param header The announced object and the offset the data starts at.
   * @param held A SHA-256 already fed with the object's first
   * `header.offset` bytes; required when the offset is not 0.
   */
  constructor(header: BulkHeader, held?: Hash) {
    if (header.offset > 0 && held === undefined) {
      throw new RangeError(
        `Cannot check transfer ${header.id} from offset ${header.offset}: the digest needs the hash of the bytes before it`,
      );
    }
    this.header = header;
    this.#hash = held ?? createHash("sha256");
    this.#at = header.offset;
  }

  /** Bytes of the object held: where the next `bulk_data` must start. */
  get received(): number {
    return this.#at;
  }

  /**
   * A copy of the digest state: the SHA-256 of the object's first
   * {@linkcode received} bytes, to continue later (a resume point) without
   * hashing them again.
   */
  copyHash(): Hash {
    return this.#hash.copy();
  }

  /**
   * Checks one `bulk_data` frame and feeds its bytes to the digest.
   *
   * @throws {BulkError} `gap`, `overlap` or `too_large`.
   */
  accept(offset: number, data: Uint8Array): void {
    const at = this.#at;
    if (offset !== at) {
      throw new BulkError(
        offset > at ? "gap" : "overlap",
        `Cannot accept bulk_data at offset ${offset}: the transfer has reached ${at}, so ${
          offset > at
            ? `${offset - at} bytes are missing`
            : `${at - offset} bytes would arrive twice`
        }`,
      );
    }
    if (data.length > MAX_CHUNK_LENGTH) {
      throw new BulkError(
        "too_large",
        `Cannot accept bulk_data at offset ${offset}: ${data.length} bytes is over the limit of ${MAX_CHUNK_LENGTH}`,
      );
    }
    if (data.length > this.header.size - at) {
      throw new BulkError(
        "too_large",
        `Cannot accept bulk_data at offset ${offset}: ${data.length} bytes run past the announced size ${this.header.size}`,
      );
    }
    this.#hash.update(data);
    this.#at += data.length;
  }

  /**
   * Checks the `bulk_end` frame: all the bytes came and their SHA-256 is
   * the announced digest.
   *
   * @param size The size `bulk_end` names.
   * @returns What the verified transfer delivered.
   * @throws {BulkError} `size_mismatch` or `digest_mismatch`.
   */
  finish(size: number): BulkResult {
    const { header } = this;
    if (size !== header.size || this.#at !== header.size) {
      throw new BulkError(
        "size_mismatch",
        `Cannot finish transfer ${header.id}: bulk_end says ${size} bytes, the header announced ${header.size} and ${this.#at} arrived`,
      );
    }
    if (!sameBytes(digestOf(this.#hash), header.digest)) {
      throw new BulkError(
        "digest_mismatch",
        "digest mismatch: the bytes received are not the object the server announced",
      );
    }
    return {
      ...(header.name !== undefined ? { name: header.name } : {}),
      size: header.size,
      digest: header.digest,
      ...(header.source !== undefined ? { source: header.source } : {}),
      offset: header.offset,
      bytes: this.#at - header.offset,
    };
  }
}

/**
 * Receives one bulk transfer from `frames` (e.g. `client.stream(...)`) into
 * `sink`, checking that the header comes first, that the data is contiguous
 * from the header's offset, that `bulk_end` comes at the announced size and
 * that the SHA-256 of the whole object matches the header's digest
 * ({@linkcode BulkChecker}).
 *
 * @param frames The frames answering the request, in order.
 * @param sink Takes the data.
 * @param options Resume and progress.
 * @returns The verified object's size and digest.
 * @throws {BulkError} when the frames break the rules or the digest differs.
 * @throws {RemoteError} when the sender answers with an `error` frame.
 *
 * @example
 * ```ts
 * const parts: Uint8Array[] = [];
 * const result = await receiveBulk(
 *   client.stream("video_get", { name: "clip.mp4" }),
 *   { write: async (chunk) => void parts.push(chunk) },
 * );
 * ```
 */
export async function receiveBulk(
  frames: AsyncIterable<Message>,
  sink: BulkSink,
  options: ReceiveBulkOptions = {},
): Promise<BulkResult> {
  let hash = options.held?.hash;
  let expectOffset = options.held?.length ?? 0;
  const resume = options.resumeFrom;
  if (options.held === undefined && resume !== undefined && resume.length > 0) {
    hash = createHash("sha256");
    using file = await Deno.open(resume.path, { read: true });
    const held = await hashFrom(file, resume.length, hash);
    if (held < resume.length) {
      throw new BulkError(
        "bad_resume",
        `Cannot resume after byte ${resume.length}: ${resume.path} holds only ${held} bytes`,
      );
    }
    // The digest covers the whole object, so only a hashed prefix may be skipped.
    expectOffset = resume.length;
  }
  let checker: BulkChecker | undefined;
  for await (const message of frames) {
    if (message.type === "error") throw new RemoteError(message.fields);
    if (message.type === "bulk_header") {
      if (checker !== undefined) {
        throw new BulkError(
          "bad_header",
          `Cannot receive transfer ${checker.header.id}: a second bulk_header arrived after byte ${checker.received}`,
        );
      }
      const header = checkHeader(message.fields, expectOffset);
      await options.onHeader?.(header);
      checker = new BulkChecker(header, hash);
      continue;
    }
    if (checker === undefined) {
      throw new BulkError(
        "bad_header",
        `Cannot receive a transfer: ${message.type} arrived before bulk_header`,
      );
    }
    if (message.type === "bulk_data") {
      const { offset, data } = message.fields;
      checker.accept(offset, data);
      await sink.write(data, offset);
      options.onProgress?.(checker.received, checker.header.size);
      continue;
    }
    if (message.type === "bulk_end") return checker.finish(message.fields.size);
    throw new BulkError(
      "unexpected_message",
      `Cannot receive transfer ${checker.header.id}: ${message.type} has no place in a bulk transfer`,
    );
  }
  throw new BulkError(
    "incomplete",
    checker === undefined
      ? "Cannot receive a transfer: the frames ended before bulk_header"
      : `Cannot receive transfer ${checker.header.id}: the frames ended after byte ${checker.received} of ${checker.header.size}, before bulk_end`,
  );
}

function checkHeader(
  fields: MessageFields<"bulk_header">,
  expectOffset: number,
): BulkHeader {
  const offset = fields.offset ?? 0;
  const source = (fields as { source?: string }).source;
  if (fields.digest.length !== DIGEST_LENGTH) {
    throw new BulkError(
      "bad_header",
      `Cannot receive transfer ${fields.id}: the digest has ${fields.digest.length} bytes, not ${DIGEST_LENGTH}`,
    );
  }
  if (offset !== expectOffset || offset > fields.size) {
    throw new BulkError(
      "bad_header",
      `Cannot receive transfer ${fields.id}: it starts at offset ${offset} of ${fields.size}, but offset ${expectOffset} was asked for`,
    );
  }
  return {
    id: fields.id,
    ...(fields.name !== undefined ? { name: fields.name } : {}),
    size: fields.size,
    // A copy: a lent frame's bytes are reused once the next one is read.
    digest: fields.digest.slice(),
    offset,
    ...(source !== undefined ? { source } : {}),
  };
}

/**
 * How many bytes of an interrupted download of `path` are held (the
 * `offset` to ask for), 0 when there is none.
 *
 * @example
 * ```ts
 * const offset = await partLength("clip.mp4");
 * await downloadToFile(client.stream("video_get", { name, offset }), "clip.mp4", { resumeFrom: offset });
 * ```
 */
export async function partLength(path: string): Promise<number> {
  try {
    const info = await Deno.stat(partPath(path));
    return info.isFile ? info.size : 0;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/** Options for {@linkcode downloadToFile}. */
export interface DownloadOptions
  extends Omit<ReceiveBulkOptions, "resumeFrom" | "held"> {
  /**
   * Keep this many bytes of the `.NAME.part` file and append after them;
   * the request must have asked for this offset. Default 0: start afresh.
   */
  resumeFrom?: number;
  /**
   * Keep a chunk ledger (`.NAME.ledger`) beside the part file, and resume
   * after what `resumePart()` (`lib/part_file.ts`) verified: the request
   * must have asked for `held.length`. Instead of `resumeFrom`. When the
   * header announces another object than the ledger describes, the held
   * bytes are thrown away and a {@linkcode BulkError} `bad_resume` asks
   * the caller to start again from 0.
   */
  held?: HeldPart;
  /**
   * With `held`: called each time the part file ends a chunk the ledger
   * recorded, with the resume point there — pass it to `resumePart()` as
   * `known` to reconnect without reading the part file again.
   */
  onVerified?(point: HeldPart): void;
}

/**
 * Receives a bulk transfer into `path`: the bytes go to `.NAME.part` beside
 * it, which is synced and renamed into place once the digest matches, so
 * `path` is never a partial or wrong object.
 *
 * When the transfer is cut short (the connection broke, the sender failed)
 * the part file is kept; ask again with `offset` = {@linkcode partLength}
 * and pass the same number as `resumeFrom`. When the sender breaks the
 * rules or the digest does not match, the part file is deleted: those bytes
 * cannot be trusted to resume after. A `bad_offset` answer deletes it too
 * (the object is now shorter than what is held), and so does any failure
 * while it is still empty (a `not_found` leaves no `.NAME.part` behind).
 *
 * @param frames The frames answering the request.
 * @param path Where the verified object goes.
 * @param options Resume and progress.
 * @returns The verified object's size and digest.
 * @throws {BulkError} the frames break the rules, or "digest mismatch".
 * @throws {RemoteError} the sender answered with an error.
 *
 * @example
 * ```ts
 * const offset = await partLength("clip.mp4");
 * const frames = client.stream("video_get", { name: "clip.mp4", offset });
 * await downloadToFile(frames, "clip.mp4", { resumeFrom: offset });
 * ```
 */
export async function downloadToFile(
  frames: AsyncIterable<Message>,
  path: string,
  options: DownloadOptions = {},
): Promise<BulkResult> {
  if (options.held !== undefined) {
    const { held, resumeFrom: _, onVerified, ...rest } = options;
    return await downloadWithLedger(frames, path, held, rest, onVerified);
  }
  const { resumeFrom = 0, onVerified: _, ...rest } = options;
  const part = partPath(path);
  let file: Deno.FsFile | undefined;
  let opened = false;
  let partBytes = resumeFrom;
  try {
    file = await Deno.open(part, {
      write: true,
      create: true,
      truncate: resumeFrom === 0,
    });
    opened = true;
    if (resumeFrom > 0) {
      const held = (await file.stat()).size;
      if (held < resumeFrom) {
        throw new BulkError(
          "bad_resume",
          `Cannot resume after byte ${resumeFrom}: ${part} holds only ${held} bytes`,
        );
      }
      // Bytes past the resume point (a write cut in half) are dropped.
      await file.truncate(resumeFrom);
      await file.seek(resumeFrom, Deno.SeekMode.Start);
    }
    const out = file;
    const result = await receiveBulk(frames, {
      write: async (chunk) => {
        await writeAll(out, chunk);
        partBytes += chunk.length;
      },
    }, {
      ...rest,
      ...(resumeFrom > 0
        ? { resumeFrom: { path: part, length: resumeFrom } }
        : {}),
    });
    await file.sync();
    file.close();
    file = undefined;
    await Deno.rename(part, path);
    return result;
  } catch (error) {
    file?.close();
    if (
      error instanceof BulkError ||
      (error instanceof RemoteError && error.codeName === "bad_offset") ||
      // Nothing to resume after (e.g. not_found): no empty part is left behind.
      (opened && partBytes === 0)
    ) {
      await Deno.remove(part).catch(() => {});
    }
    throw error;
  }
}

/** {@linkcode downloadToFile} with a chunk ledger beside the part file. */
async function downloadWithLedger(
  frames: AsyncIterable<Message>,
  path: string,
  held: HeldPart,
  options: Omit<ReceiveBulkOptions, "resumeFrom" | "held">,
  onVerified: ((point: HeldPart) => void) | undefined,
): Promise<BulkResult> {
  let writer: PartWriter | undefined;
  try {
    const result = await receiveBulk(frames, {
      write: async (chunk, offset) => {
        await writer!.write(chunk, offset);
        // receiveBulk waits for each write, so `held.hash` (the checker's)
        // has seen exactly the bytes written.
        if (onVerified !== undefined) {
          const point = writer!.heldAt(held.hash);
          if (point !== undefined) onVerified(point);
        }
      },
    }, {
      ...options,
      held,
      onHeader: async (header) => {
        const object: LedgerHeader = {
          chunkSize: held.header?.chunkSize ?? LEDGER_CHUNK_SIZE,
          size: header.size,
          digest: header.digest,
        };
        if (
          held.length > 0 &&
          (held.header === undefined || !sameLedgerHeader(held.header, object))
        ) {
          throw new BulkError(
            "bad_resume",
            `Cannot resume ${path} after byte ${held.length}: the sender's object changed since (now ${header.size} bytes, another digest); start again from 0`,
          );
        }
        writer = await PartWriter.open(path, object, held);
        await options.onHeader?.(header);
      },
    });
    await writer!.commit();
    return result;
  } catch (error) {
    writer?.close();
    if (
      // Frames that merely stopped short leave verified chunks to resume after.
      (error instanceof BulkError && error.code !== "incomplete") ||
      (error instanceof RemoteError && error.codeName === "bad_offset") ||
      // Nothing to resume after (e.g. not_found): no empty files are left.
      (writer === undefined ? held.length === 0 : writer.length === 0)
    ) {
      await discardPart(path);
    }
    throw error;
  }
}
