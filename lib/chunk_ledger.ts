/**
 * The chunk ledger: a small text file beside a transfer's `.NAME.part` that
 * records the SHA-256 of every chunk (1 MiB by default) known to be written
 * whole. It says which bytes of a part file can be trusted after an
 * interruption, so a resumed transfer continues after the last verified
 * chunk and drops a torn or corrupt tail (docs/DECISIONS.md, "Files").
 *
 * The file is `.NAME.ledger` beside `NAME`, one header line and one line
 * per chunk, in order, appended as each chunk is written:
 *
 * ```text
 * socklab-ledger 1 chunk=1048576 size=209715200 sha256=<64 hex digits>
 * <64 hex digits: SHA-256 of bytes 0 … 1048575>
 * <64 hex digits: SHA-256 of bytes 1048576 … 2097151>
 * ```
 *
 * The header names the object (its size and whole SHA-256): a ledger for
 * another version of the file is discarded, not trusted. A last line cut
 * short by a crash is ignored. This module reads and writes the format;
 * `lib/part_file.ts` pairs it with the part file.
 *
 * @example
 * ```ts
 * const writer = await LedgerWriter.create(ledgerPath("big.iso"), {
 *   chunkSize: LEDGER_CHUNK_SIZE, size, digest,
 * });
 * await writer.append(chunkDigest);
 * writer.close();
 * const ledger = await readLedger(ledgerPath("big.iso")); // { header, chunks: [chunkDigest] }
 * ```
 *
 * @module
 */

import { writeAll } from "./file_io.ts";
import { basename, dirname, join } from "node:path";

/** Bytes per ledger chunk by default: 1 MiB (65 ledger bytes per MiB). */
export const LEDGER_CHUNK_SIZE = 1024 * 1024;

/** Largest chunk size a ledger may name (so a chunk buffer stays small). */
export const MAX_LEDGER_CHUNK_SIZE = 64 * 1024 * 1024;

const MAGIC = "socklab-ledger";
const VERSION = 1;
/** One entry: 64 hex digits and a newline. */
export const LEDGER_ENTRY_LENGTH = 65;
/** A header line is far shorter; more is not a ledger. */
const MAX_HEADER_LENGTH = 256;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a ledger is about: the chunk size and the object it belongs to. */
export interface LedgerHeader {
  /** Bytes per chunk; the last chunk may be shorter. */
  readonly chunkSize: number;
  /** Size of the whole object in bytes. */
  readonly size: number;
  /** SHA-256 of the whole object (32 bytes). */
  readonly digest: Uint8Array;
}

/** A parsed ledger. */
export interface Ledger {
  readonly header: LedgerHeader;
  /** SHA-256 of each verified chunk, from chunk 0 on. */
  readonly chunks: readonly Uint8Array[];
  /** Length in bytes of the header line, newline included. */
  readonly headerLength: number;
}

/**
 * The ledger file beside `path`: `dir/.NAME.ledger` (hidden, like the
 * `.NAME.part` it describes, so no file server lists or serves it).
 *
 * @example
 * ```ts
 * ledgerPath("files/big.iso"); // "files/.big.iso.ledger"
 * ```
 */
export function ledgerPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.ledger`);
}

/**
 * How many chunks an object of `header.size` bytes has.
 *
 * @example
 * ```ts
 * chunkCount({ chunkSize: 4, size: 10, digest }); // 3
 * ```
 */
export function chunkCount(header: LedgerHeader): number {
  return Math.ceil(header.size / header.chunkSize);
}

/**
 * Length of chunk `index` (the last one may be short).
 *
 * @example
 * ```ts
 * chunkLength({ chunkSize: 4, size: 10, digest }, 2); // 2
 * ```
 */
export function chunkLength(header: LedgerHeader, index: number): number {
  return Math.max(
    0,
    Math.min(header.chunkSize, header.size - index * header.chunkSize),
  );
}

/**
 * Bytes covered by the first `chunks` chunks: where a resume starts.
 *
 * @example
 * ```ts
 * coveredLength({ chunkSize: 4, size: 10, digest }, 3); // 10
 * ```
 */
export function coveredLength(header: LedgerHeader, chunks: number): number {
  return Math.min(header.size, chunks * header.chunkSize);
}

/**
 * The header line, newline included.
 *
 * @example
 * ```ts
 * formatLedgerHeader({ chunkSize: 1048576, size: 5, digest });
 * // "socklab-ledger 1 chunk=1048576 size=5 sha256=2cf24d…\n"
 * ```
 */
export function formatLedgerHeader(header: LedgerHeader): string {
  checkHeader(header);
  return `${MAGIC} ${VERSION} chunk=${header.chunkSize} size=${header.size} sha256=${
    toHex(header.digest)
  }\n`;
}

/**
 * One entry line: the chunk's SHA-256 in hex, newline included.
 *
 * @example
 * ```ts
 * formatLedgerEntry(chunkDigest); // "9f86d0…\n" (65 characters)
 * ```
 */
export function formatLedgerEntry(digest: Uint8Array): string {
  if (digest.length !== 32) {
    throw new RangeError(
      `Cannot format a ledger entry: the digest has ${digest.length} bytes, not 32`,
    );
  }
  return `${toHex(digest)}\n`;
}

/**
 * Parses a ledger file's bytes. Entries are read up to the first line that
 * is not a whole 64-digit entry (a torn tail is ignored, not an error);
 * entries beyond the object's chunk count are ignored too.
 *
 * @param bytes The file's contents.
 * @returns The ledger, or `undefined` when the header is not a ledger
 * header of this version (such a file is discarded, never trusted).
 *
 * @example
 * ```ts
 * const ledger = parseLedger(await Deno.readFile(".big.iso.ledger"));
 * ledger?.chunks.length; // chunks verified so far
 * ```
 */
export function parseLedger(bytes: Uint8Array): Ledger | undefined {
  const newline = bytes.subarray(0, MAX_HEADER_LENGTH).indexOf(0x0a);
  if (newline < 0) return undefined;
  const header = parseHeaderLine(decoder.decode(bytes.subarray(0, newline)));
  if (header === undefined) return undefined;
  const headerLength = newline + 1;
  const most = chunkCount(header);
  const chunks: Uint8Array[] = [];
  for (
    let at = headerLength;
    at + LEDGER_ENTRY_LENGTH <= bytes.length && chunks.length < most;
    at += LEDGER_ENTRY_LENGTH
  ) {
    if (bytes[at + 64] !== 0x0a) break;
    const digest = fromHex(decoder.decode(bytes.subarray(at, at + 64)));
    if (digest === undefined) break;
    chunks.push(digest);
  }
  return { header, chunks, headerLength };
}

function parseHeaderLine(line: string): LedgerHeader | undefined {
  const match =
    /^socklab-ledger (\d+) chunk=(\d{1,10}) size=(\d{1,16}) sha256=([0-9a-f]{64})$/
      .exec(line);
  if (!match || Number(match[1]) !== VERSION) return undefined;
  const chunkSize = Number(match[2]);
  const size = Number(match[3]);
  const digest = fromHex(match[4]!);
  if (
    digest === undefined || !Number.isSafeInteger(size) || chunkSize < 1 ||
    chunkSize > MAX_LEDGER_CHUNK_SIZE
  ) {
    return undefined;
  }
  return { chunkSize, size, digest };
}

/**
 * Reads the ledger at `path` (only as many bytes as its header allows).
 *
 * @returns The ledger, or `undefined` when there is none or it is not a
 * ledger.
 *
 * @example
 * ```ts
 * const ledger = await readLedger(ledgerPath("big.iso"));
 * if (ledger === undefined) startAfresh();
 * ```
 */
export async function readLedger(path: string): Promise<Ledger | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  using _ = file;
  const head = await readUpTo(file, MAX_HEADER_LENGTH);
  const newline = head.indexOf(0x0a);
  const header = newline < 0
    ? undefined
    : parseHeaderLine(decoder.decode(head.subarray(0, newline)));
  if (header === undefined) return undefined;
  // Bounded by the header: a huge or garbled file costs no more than this.
  const most = newline + 1 + chunkCount(header) * LEDGER_ENTRY_LENGTH;
  const rest = await readUpTo(file, Math.max(0, most - head.length));
  const all = new Uint8Array(head.length + rest.length);
  all.set(head);
  all.set(rest, head.length);
  return parseLedger(all);
}

async function readUpTo(
  file: Deno.FsFile,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = await file.read(out.subarray(at));
    if (n === null) break;
    at += n;
  }
  return out.subarray(0, at);
}

/**
 * Appends entries to a ledger file. Open it with {@linkcode LedgerWriter.create}
 * (a new ledger) or {@linkcode LedgerWriter.resume} (after the entries a
 * resume kept).
 *
 * @example
 * ```ts
 * const writer = await LedgerWriter.create(".big.iso.ledger", header);
 * await writer.append(chunkDigest);
 * writer.close();
 * ```
 */
export class LedgerWriter implements Disposable {
  /** The ledger's header. */
  readonly header: LedgerHeader;
  #file: Deno.FsFile;
  #chunks: number;

  private constructor(file: Deno.FsFile, header: LedgerHeader, chunks: number) {
    this.#file = file;
    this.header = header;
    this.#chunks = chunks;
  }

  /**
   * Creates (or replaces) the ledger at `path` with just its header.
   *
   * @param path The ledger file.
   * @param header The chunk size and the object.
   * @returns A writer positioned after the header.
   */
  static async create(
    path: string,
    header: LedgerHeader,
  ): Promise<LedgerWriter> {
    const text = encoder.encode(formatLedgerHeader(header));
    const file = await Deno.open(path, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      await writeAll(file, text);
    } catch (error) {
      file.close();
      throw error;
    }
    return new LedgerWriter(file, header, 0);
  }

  /**
   * Opens the ledger at `path` to append after its first `chunks` entries;
   * anything after them (a torn line, entries a resume dropped) is cut off.
   *
   * @param path The ledger file, whose header is `header`.
   * @param header Its header, as read.
   * @param chunks Entries to keep.
   * @returns A writer positioned after the kept entries.
   */
  static async resume(
    path: string,
    header: LedgerHeader,
    chunks: number,
  ): Promise<LedgerWriter> {
    const keep = encoder.encode(formatLedgerHeader(header)).length +
      chunks * LEDGER_ENTRY_LENGTH;
    const file = await Deno.open(path, { write: true });
    try {
      await file.truncate(keep);
      await file.seek(keep, Deno.SeekMode.Start);
    } catch (error) {
      file.close();
      throw error;
    }
    return new LedgerWriter(file, header, chunks);
  }

  /** Entries in the ledger. */
  get chunks(): number {
    return this.#chunks;
  }

  /**
   * Records the SHA-256 of the next chunk. Call it only once the chunk's
   * bytes are written: an entry promises the bytes are there.
   */
  async append(digest: Uint8Array): Promise<void> {
    if (this.#chunks >= chunkCount(this.header)) {
      throw new RangeError(
        `Cannot append to the ledger: it already holds all ${this.#chunks} chunks`,
      );
    }
    await writeAll(this.#file, encoder.encode(formatLedgerEntry(digest)));
    this.#chunks++;
  }

  /** Closes the file. Idempotent. */
  close(): void {
    try {
      this.#file.close();
    } catch {
      // Already closed.
    }
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function checkHeader(header: LedgerHeader): void {
  if (
    !Number.isSafeInteger(header.chunkSize) || header.chunkSize < 1 ||
    header.chunkSize > MAX_LEDGER_CHUNK_SIZE
  ) {
    throw new RangeError(
      `Cannot use a ledger: chunk size ${header.chunkSize} is not between 1 and ${MAX_LEDGER_CHUNK_SIZE}`,
    );
  }
  if (!Number.isSafeInteger(header.size) || header.size < 0) {
    throw new RangeError(
      `Cannot use a ledger: size ${header.size} is not a byte count`,
    );
  }
  if (header.digest.length !== 32) {
    throw new RangeError(
      `Cannot use a ledger: the digest has ${header.digest.length} bytes, not 32`,
    );
  }
}

/**
 * Whether two headers describe the same chunks of the same object.
 *
 * @example
 * ```ts
 * sameLedgerHeader(ledger.header, { chunkSize, size, digest }); // resume?
 * ```
 */
export function sameLedgerHeader(a: LedgerHeader, b: LedgerHeader): boolean {
  return a.chunkSize === b.chunkSize && a.size === b.size &&
    sameBytes(a.digest, b.digest);
}

/** Whether two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Lower-case hex of `bytes`.
 *
 * @example
 * ```ts
 * toHex(new Uint8Array([0, 255])); // "00ff"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function fromHex(text: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}
