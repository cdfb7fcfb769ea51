/**
 * One upload in progress on the file server (`file_put`): the part file
 * and chunk ledger it writes (`lib/part_file.ts`), the checks every received
 * byte passes (`BulkChecker` from `lib/bulk.ts`, the same rules a download
 * is held to), and the order of its disk work. Every step — preparing the
 * files, each write, the final rename, stopping — runs on one queue, so a
 * stop never closes a file under a write and a resume never starts before
 * the upload it replaces has let go of its files.
 *
 * @module
 */

import { BulkChecker, type BulkResult } from "../../lib/bulk.ts";
import { LEDGER_CHUNK_SIZE } from "../../lib/chunk_ledger.ts";
import {
  discardPart,
  type HeldPart,
  PartWriter,
  resumePart,
} from "../../lib/part_file.ts";
import type { Session } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";

/**
 * Bytes received and not yet written at which the server stops reading
 * from the uploader until they are on disk.
 */
export const UPLOAD_HIGH_WATER_MARK = 1024 * 1024;

/** Where an upload stands. */
export type UploadState =
  /** Waiting for an earlier upload of the name to stop, opening its files. */
  | "preparing"
  /** `file_put_ready` sent: taking `bulk_data`. */
  | "receiving"
  /** `bulk_end` checked: writing the rest, syncing, renaming. */
  | "finishing"
  /** In place. */
  | "done"
  /** Stopped; the verified chunks stay for a resume. */
  | "stopped"
  /** Refused; nothing of it is kept. */
  | "failed";

/** What an upload is. */
export interface UploadOptions {
  /** The `file_put` request id; every frame of the upload carries it. */
  id: number;
  /** The file name, as announced. */
  name: string;
  /** Where the file goes (inside the served root). */
  path: string;
  /** Its size, as announced. */
  size: number;
  /** Its SHA-256, as announced. */
  digest: Uint8Array;
  /** The uploader's connection. */
  session: Session;
  /** Ledger chunk size. Default {@linkcode LEDGER_CHUNK_SIZE}. */
  chunkSize?: number;
}

/**
 * An upload's state machine. The file service creates one per `file_put`,
 * calls {@linkcode Upload.prepare}, then feeds it `bulk_data`
 * ({@linkcode Upload.data}) and `bulk_end` ({@linkcode Upload.end}).
 *
 * @example
 * ```ts
 * const upload = new Upload({ id, name, path, size, digest, session });
 * const offset = await upload.prepare();
 * session.send("file_put_ready", { id, offset });
 * // for each bulk_data: upload.data(offset, data)
 * const result = await upload.end(size);
 * ```
 */
export class Upload {
  readonly id: number;
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly digest: Uint8Array;
  readonly session: Session;
  /** Resolves once the upload ended (any way) and its files are closed. */
  readonly stopped: Promise<void>;
  #chunkSize: number;
  #state: UploadState = "preparing";
  #checker: BulkChecker | undefined;
  #writer: PartWriter | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #queued = 0;
  #writeError: unknown;
  #offset = 0;
  /** The latest point a resume can start from without re-reading. */
  #known: HeldPart | undefined;
  /** Digest states taken at chunks' ends, waiting for their bytes to be written. */
  #pendingPoints: {
    length: number;
    hash: ReturnType<BulkChecker["copyHash"]>;
  }[] = [];
  #stopped = Promise.withResolvers<void>();

  /** Creates the upload in state "preparing"; nothing is opened yet. */
  constructor(options: UploadOptions) {
    this.id = options.id;
    this.name = options.name;
    this.path = options.path;
    this.size = options.size;
    this.digest = options.digest;
    this.session = options.session;
    this.#chunkSize = options.chunkSize ?? LEDGER_CHUNK_SIZE;
    this.stopped = this.#stopped.promise;
  }

  /** Where it stands. */
  get state(): UploadState {
    return this.#state;
  }

  /** Where the client was told to send from (0 before it was told). */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes of the file on disk or on their way there. */
  get received(): number {
    return this.#checker?.received ?? 0;
  }

  /**
   * Where the next upload of this file can resume without reading the
   * part file again: the end of the last chunk written and recorded, with
   * the digest state there. Undefined before one.
   */
  get known(): HeldPart | undefined {
    return this.#known;
  }

  /**
   * Opens the part file and ledger, after `previous` (an upload of the
   * same name this one takes over) has let go of them: continues after the
   * chunks a ledger for this very file (same size and digest) vouches for,
   * else starts afresh.
   *
   * @param previous The upload this one replaces, if any; its
   * {@linkcode Upload.known} point saves reading the part file.
   * @param known A point an earlier upload of the name left.
   * @returns The offset to send in `file_put_ready`, or `undefined` when
   * the upload was stopped meanwhile (its answer is already sent).
   */
  prepare(
    previous?: Upload,
    known?: HeldPart,
  ): Promise<number | undefined> {
    return this.#run(async () => {
      await previous?.stopped;
      if (this.#state !== "preparing") return undefined;
      const point = previous?.known ?? known;
      const held = await resumePart(this.path, {
        expect: { size: this.size, digest: this.digest },
        chunkSize: this.#chunkSize,
        ...(point !== undefined ? { known: point } : {}),
      });
      this.#writer = await PartWriter.open(this.path, {
        chunkSize: this.#chunkSize,
        size: this.size,
        digest: this.digest,
      }, held);
      this.#offset = this.#writer.length;
      this.#checker = new BulkChecker({
        id: this.id,
        name: this.name,
        size: this.size,
        digest: this.digest,
        offset: this.#offset,
      }, held.hash);
      this.#state = "receiving";
      return this.#offset;
    });
  }

  /**
   * Takes one `bulk_data` frame: checks it at once (so a bad frame is
   * refused before anything after it is written) and queues its bytes
   * for the disk.
   *
   * @returns A promise to hold the connection's input on while too much is
   * queued ({@linkcode UPLOAD_HIGH_WATER_MARK}), else `undefined`.
   * @throws {BulkError} `gap`, `overlap` or `too_large`.
   * @throws {ProtocolError} `bad_upload` when data comes before
   * `file_put_ready` or after `bulk_end`; the disk error of an earlier
   * write.
   */
  data(offset: number, data: Uint8Array): Promise<unknown> | undefined {
    const checker = this.#expect("bulk_data");
    checker.accept(offset, data);
    const writer = this.#writer!;
    const end = checker.received;
    // The digest state at a chunk's end, kept once its bytes are written.
    if (end % this.#chunkSize === 0 || end === this.size) {
      this.#pendingPoints.push({ length: end, hash: checker.copyHash() });
    }
    this.#queued += data.length;
    this.#run(async () => {
      // A stopped upload still writes what it took (more to resume
      // after); a refused one does not.
      if (this.#writeError !== undefined || this.#state === "failed") return;
      try {
        await writer.write(data, offset);
        const points = this.#pendingPoints;
        while (points.length > 0 && points[0]!.length <= writer.length) {
          const point = points.shift()!;
          if (point.length === writer.length) {
            this.#known = writer.heldAt(point.hash) ?? this.#known;
          }
        }
      } catch (error) {
        this.#writeError ??= error;
      } finally {
        this.#queued -= data.length;
      }
    });
    return this.#queued > UPLOAD_HIGH_WATER_MARK ? this.#queue : undefined;
  }

  /**
   * Takes `bulk_end`: checks that every byte came and the digest matches,
   * then writes what is queued, syncs, renames the part file into place
   * and removes the ledger.
   *
   * @throws {BulkError} `size_mismatch` or `digest_mismatch` (checked at
   * once, before the wait for the disk).
   * @throws {Error} when a write, the sync or the rename failed (the
   * verified chunks are kept).
   */
  end(size: number): Promise<BulkResult> {
    const result = this.#expect("bulk_end").finish(size);
    this.#state = "finishing";
    return this.#run(async () => {
      try {
        if (this.#writeError !== undefined) throw this.#writeError;
        await this.#writer!.commit();
        this.#state = "done";
        return result;
      } catch (error) {
        this.#writer!.close();
        this.#state = "stopped";
        throw error;
      } finally {
        this.#stopped.resolve();
      }
    });
  }

  /**
   * Stops the upload: `discard` removes its part file and ledger (a refused
   * upload), else they stay for a resume. An upload that is finishing is
   * let finish. Idempotent.
   *
   * @returns When its files are closed (and removed).
   */
  stop(options: { discard?: boolean } = {}): Promise<void> {
    if (this.#state === "finishing" || this.#ended()) return this.stopped;
    const discard = options.discard === true;
    this.#state = discard ? "failed" : "stopped";
    this.#run(async () => {
      if (this.#writer !== undefined) {
        if (discard) await this.#writer.discard();
        else this.#writer.close();
      } else if (discard) {
        await discardPart(this.path);
      }
    }).catch(() => {
      // A part file that cannot be removed is hidden and is replaced or
      // resumed by the next upload of the name; nothing else waits on it.
    }).finally(() => this.#stopped.resolve());
    return this.stopped;
  }

  #ended(): boolean {
    return this.#state === "done" || this.#state === "stopped" ||
      this.#state === "failed";
  }

  /** The checker, when `frame` may come now. */
  #expect(frame: "bulk_data" | "bulk_end"): BulkChecker {
    if (this.#state !== "receiving" || this.#checker === undefined) {
      throw new ProtocolError(
        "bad_upload",
        `Cannot accept ${frame} for the upload of "${this.name}": ${
          this.#state === "preparing"
            ? "file_put_ready has not been sent yet"
            : "bulk_end already came"
        }`,
      );
    }
    if (this.#writeError !== undefined) {
      throw new Error(
        `Cannot write the upload of "${this.name}": ${
          (this.#writeError as Error).message
        }`,
      );
    }
    return this.#checker;
  }

  /** Runs `step` after every step queued before it. */
  #run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(step);
    this.#queue = result.catch(() => {});
    return result;
  }
}
