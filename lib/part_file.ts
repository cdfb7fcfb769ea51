/**
 * A resumable file being received: `.NAME.part` with its chunk ledger
 * (`lib/chunk_ledger.ts`) beside the final `NAME`. Used by both directions
 * of the file service — the client's `get` (through `downloadToFile`) and
 * the server's `file_put` — so the resume rules are written once:
 *
 * - {@linkcode resumePart} finds what an interrupted transfer left: it reads
 *   the held bytes once, checking each chunk against its ledger entry while
 *   feeding the whole-object SHA-256 (which has to see every byte anyway),
 *   keeps the verified chunks and cuts off the rest — a torn last chunk, a
 *   corrupt one and everything after it.
 * - {@linkcode PartWriter} appends the transfer's bytes to the part file and
 *   records a ledger entry as each chunk is written whole, then renames the
 *   part into place ({@linkcode PartWriter.commit}), keeps it for a resume
 *   ({@linkcode PartWriter.close}) or throws it away
 *   ({@linkcode PartWriter.discard}).
 *
 * @example
 * ```ts
 * const held = await resumePart("big.iso", { expect: { size, digest } });
 * const writer = await PartWriter.open("big.iso", { chunkSize: LEDGER_CHUNK_SIZE, size, digest }, held);
 * await writer.write(bytes, held.length);
 * await writer.commit(); // big.iso is there; .big.iso.part and .big.iso.ledger are gone
 * ```
 *
 * @module
 */

import { readFull, writeAll } from "./file_io.ts";
import { createHash, type Hash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import {
  chunkLength,
  coveredLength,
  LEDGER_CHUNK_SIZE,
  type LedgerHeader,
  ledgerPath,
  LedgerWriter,
  readLedger,
  sameBytes,
  sameLedgerHeader,
} from "./chunk_ledger.ts";

/**
 * The hidden file beside `path` that holds a transfer in progress:
 * `dir/.NAME.part` (the same name `lib/bulk.ts` uses).
 *
 * @example
 * ```ts
 * partPath("files/big.iso"); // "files/.big.iso.part"
 * ```
 */
export function partPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.part`);
}

/** What an interrupted transfer left that can be trusted. */
export interface HeldPart {
  /** Verified bytes at the start of the part file: the offset to resume at. */
  readonly length: number;
  /** Ledger entries kept (chunks covering `length`). */
  readonly chunks: number;
  /**
   * A SHA-256 already fed with those `length` bytes: continue it with the
   * rest to get the whole object's digest.
   */
  readonly hash: Hash;
  /** The kept ledger's header, when something is held. */
  readonly header?: LedgerHeader;
}

/** Options for {@linkcode resumePart}. */
export interface ResumePartOptions {
  /**
   * The object the caller will receive, when known (an upload announces
   * it): a ledger for another size or digest is discarded without reading
   * the part file.
   */
  expect?: { size: number; digest: Uint8Array };
  /** The chunk size the caller's ledger uses. Default {@linkcode LEDGER_CHUNK_SIZE}. */
  chunkSize?: number;
  /**
   * A resume point this process recorded while writing the part file
   * ({@linkcode PartWriter.heldAt}): when the ledger still holds its
   * chunks and the part file its bytes, the transfer resumes there without
   * reading the part file again (a reconnect within one run). Else the
   * part file is verified as usual.
   */
  known?: HeldPart;
}

/**
 * Finds what an interrupted transfer to `path` left and keeps only what
 * its ledger vouches for. The part file's chunks are read in order, each
 * checked against its ledger entry while the whole-object hash is fed; the
 * first chunk that is short or differs ends the verified prefix, and the
 * part file and ledger are cut back to it. Without a ledger, with an
 * unreadable one, with one for another object or chunk size, or with
 * nothing verified, both files are removed and the transfer starts at 0.
 *
 * @param path Where the finished object goes.
 * @param options The expected object and chunk size.
 * @returns The verified length (the offset to ask for) and its hash.
 *
 * @example
 * ```ts
 * const held = await resumePart("big.iso");
 * const frames = client.stream("file_get", { name: "big.iso", offset: held.length });
 * ```
 */
export async function resumePart(
  path: string,
  options: ResumePartOptions = {},
): Promise<HeldPart> {
  const part = partPath(path);
  const ledgerFile = ledgerPath(path);
  const fresh = async (): Promise<HeldPart> => {
    await removeIfThere(part);
    await removeIfThere(ledgerFile);
    return { length: 0, chunks: 0, hash: createHash("sha256") };
  };
  const ledger = await readLedger(ledgerFile);
  if (ledger === undefined) return await fresh();
  const { header } = ledger;
  const expect = options.expect;
  if (
    header.chunkSize !== (options.chunkSize ?? LEDGER_CHUNK_SIZE) ||
    (expect !== undefined &&
      (expect.size !== header.size || !sameBytes(expect.digest, header.digest)))
  ) {
    return await fresh();
  }
  const known = options.known;
  if (
    known !== undefined && known.length > 0 && known.header !== undefined &&
    sameLedgerHeader(known.header, header) &&
    ledger.chunks.length >= known.chunks &&
    await sizeOf(part) >= known.length
  ) {
    // Written by this process: the bytes and entries are the ones hashed.
    await truncateTo(part, known.length);
    (await LedgerWriter.resume(ledgerFile, header, known.chunks)).close();
    return { ...known, hash: known.hash.copy() };
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(part, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return await fresh();
    throw error;
  }
  const total = createHash("sha256");
  let good = 0;
  try {
    const buffer = new Uint8Array(
      Math.min(header.chunkSize, Math.max(header.size, 1)),
    );
    for (const expected of ledger.chunks) {
      const length = chunkLength(header, good);
      const chunk = buffer.subarray(0, length);
      if (await readFull(file, chunk) < length) break;
      const digest = new Uint8Array(
        createHash("sha256").update(chunk).digest(),
      );
      if (!sameBytes(digest, expected)) break;
      total.update(chunk);
      good++;
    }
    if (good === 0) {
      file.close();
      return await fresh();
    }
    // The unverified tail goes before anything is appended after the prefix.
    await file.truncate(coveredLength(header, good));
  } catch (error) {
    file.close();
    throw error;
  }
  file.close();
  const writer = await LedgerWriter.resume(ledgerFile, header, good);
  writer.close();
  return {
    length: coveredLength(header, good),
    chunks: good,
    hash: total,
    header,
  };
}

/**
 * Removes the part file and the ledger of a transfer to `path`, if there.
 *
 * @example
 * ```ts
 * await discardPart("big.iso"); // no .big.iso.part, no .big.iso.ledger
 * ```
 */
export async function discardPart(path: string): Promise<void> {
  await removeIfThere(partPath(path));
  await removeIfThere(ledgerPath(path));
}

/**
 * Writes a transfer's bytes to `.NAME.part` and its ledger, in order.
 *
 * @example
 * ```ts
 * const writer = await PartWriter.open(path, header, held);
 * for (const [offset, data] of chunks) await writer.write(data, offset);
 * await writer.commit();
 * ```
 */
export class PartWriter implements Disposable {
  /** Where the finished object goes. */
  readonly path: string;
  /** The hidden part file. */
  readonly part: string;
  /** The ledger's header: chunk size and the object. */
  readonly header: LedgerHeader;
  #file: Deno.FsFile;
  #ledger: LedgerWriter;
  #length: number;
  #chunk = createHash("sha256");
  #filled = 0;
  #broken: Error | undefined;
  #closed = false;

  private constructor(
    path: string,
    header: LedgerHeader,
    file: Deno.FsFile,
    ledger: LedgerWriter,
    length: number,
  ) {
    this.path = path;
    this.part = partPath(path);
    this.header = header;
    this.#file = file;
    this.#ledger = ledger;
    this.#length = length;
  }

  /**
   * Opens the part file and ledger of a transfer to `path`: after what
   * {@linkcode resumePart} kept when it kept something of this object,
   * afresh (both files replaced) otherwise.
   *
   * @param path Where the finished object goes.
   * @param header The chunk size and the object being received.
   * @param held What `resumePart` returned.
   * @returns The writer; its `length` is where the transfer must start.
   */
  static async open(
    path: string,
    header: LedgerHeader,
    held: HeldPart,
  ): Promise<PartWriter> {
    const resume = held.length > 0 && held.header !== undefined &&
      sameLedgerHeader(held.header, header);
    const part = partPath(path);
    const file = await Deno.open(part, {
      write: true,
      create: true,
      truncate: !resume,
    });
    try {
      const start = resume ? held.length : 0;
      if (resume) {
        // Whatever lies past the verified bytes is rewritten, never kept.
        await file.truncate(start);
        await file.seek(start, Deno.SeekMode.Start);
      }
      const ledger = resume
        ? await LedgerWriter.resume(ledgerPath(path), header, held.chunks)
        : await LedgerWriter.create(ledgerPath(path), header);
      return new PartWriter(path, header, file, ledger, start);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Bytes of the object in the part file. */
  get length(): number {
    return this.#length;
  }

  /** Chunks recorded in the ledger. */
  get chunks(): number {
    return this.#ledger.chunks;
  }

  /**
   * A resume point at the end of what is written, for
   * {@linkcode ResumePartOptions.known}: when the bytes written end a
   * chunk the ledger recorded, and `hash` is the whole object's SHA-256
   * fed with exactly those bytes (copied here), else `undefined`.
   *
   * @example
   * ```ts
   * await writer.write(data, offset);
   * known = writer.heldAt(checker.copyHash()) ?? known;
   * ```
   */
  heldAt(hash: Hash, length = this.#length): HeldPart | undefined {
    if (
      this.#broken || length !== this.#length ||
      coveredLength(this.header, this.#ledger.chunks) !== length
    ) {
      return undefined;
    }
    return {
      length,
      chunks: this.#ledger.chunks,
      hash: hash.copy(),
      header: this.header,
    };
  }

  /**
   * Appends `chunk`, the object's bytes at `offset` (which must be
   * {@linkcode length}), and records every chunk it completes. A failed
   * write leaves the writer unusable: the ledger stays as it was.
   */
  async write(chunk: Uint8Array, offset: number): Promise<void> {
    if (this.#broken) throw this.#broken;
    if (offset !== this.#length || chunk.length > this.header.size - offset) {
      throw new RangeError(
        `Cannot write ${chunk.length} bytes at offset ${offset} of ${this.part}: it holds ${this.#length} of ${this.header.size}`,
      );
    }
    const completed: Uint8Array[] = [];
    for (let at = 0; at < chunk.length;) {
      const want =
        chunkLength(this.header, this.#ledger.chunks + completed.length) -
        this.#filled;
      const take = Math.min(want, chunk.length - at);
      this.#chunk.update(chunk.subarray(at, at + take));
      this.#filled += take;
      at += take;
      if (take === want) {
        completed.push(new Uint8Array(this.#chunk.digest()));
        this.#chunk = createHash("sha256");
        this.#filled = 0;
      }
    }
    try {
      await writeAll(this.#file, chunk);
      this.#length += chunk.length;
      // Only after the bytes are written: an entry vouches for them.
      for (const digest of completed) await this.#ledger.append(digest);
    } catch (error) {
      this.#broken = error as Error;
      throw error;
    }
  }

  /**
   * Finishes a verified transfer: flushes the part file to disk, renames
   * it to `path` (atomically replacing what was there) and removes the
   * ledger.
   *
   * @throws {RangeError} when the part file does not hold the whole object.
   */
  async commit(): Promise<void> {
    if (this.#broken) throw this.#broken;
    if (this.#length !== this.header.size) {
      throw new RangeError(
        `Cannot finish ${this.path}: ${this.part} holds ${this.#length} of ${this.header.size} bytes`,
      );
    }
    await this.#file.sync();
    this.close();
    await Deno.rename(this.part, this.path);
    await removeIfThere(ledgerPath(this.path));
  }

  /** Closes both files and keeps them, for a resume. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } catch {
      // Already closed.
    }
    this.#ledger.close();
  }

  /** Closes both files and removes them: nothing of the transfer is kept. */
  async discard(): Promise<void> {
    this.close();
    await discardPart(this.path);
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return -1;
    throw error;
  }
}

async function truncateTo(path: string, length: number): Promise<void> {
  using file = await Deno.open(path, { write: true });
  await file.truncate(length);
}

async function removeIfThere(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
