/**
 * The file service (day 2): the files of one directory by name — listed
 * with their sizes and SHA-256, downloaded as bulk transfers that resume
 * from an offset, and uploaded with `file_put` into a part file and chunk
 * ledger that survive a broken connection, so the same upload resumes
 * after its last verified chunk. Every name comes from the network and is
 * one plain file name inside the root (`lib/named_files.ts`,
 * `lib/confined_fs.ts`); an upload is renamed into place only once its
 * digest matches, so a failed one leaves no visible file.
 *
 * @module
 */

import { join } from "node:path";
import { BulkError, DIGEST_LENGTH, DigestCache } from "../../lib/bulk.ts";
import { ConfinedPathError, type ConfinedRoot } from "../../lib/confined_fs.ts";
import type { Logger } from "../../lib/log.ts";
import { checkName, findNamed, sendNamedFile } from "../../lib/named_files.ts";
import { formatBytes } from "../../lib/progress.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import { ERRORS, type Message } from "../../protocol/tlv/registry.ts";
import type { HeldPart } from "../../lib/part_file.ts";
import { Upload } from "./upload.ts";

/** Largest upload accepted by default: 1 GiB. */
export const DEFAULT_MAX_SIZE = 1024 ** 3;

/** Uploads in progress at once on one server, by default. */
export const DEFAULT_MAX_UPLOADS = 16;

/**
 * Entries per `file_list_reply`: four fields each, so a page stays well
 * under a frame's field limit (256).
 */
export const LIST_PAGE_SIZE = 50;

/** What `bad_name` messages say a name is not. */
const WHAT = "a file name";

/** `.NAME.ledger` must fit in 255 bytes too. */
const MAX_UPLOAD_NAME_BYTES = 255 - ".".length - ".ledger".length;

/** Ids of refused uploads whose frames are still dropped, per connection. */
const MAX_DROPPED_IDS = 64;

/** Stopped uploads whose resume points are remembered. */
const MAX_RESUME_POINTS = 64;

const encoder = new TextEncoder();

/** The file service's counters. */
export interface FileStats {
  /** `file_list` requests answered. */
  lists: number;
  /** `file_get` requests received, refused ones included. */
  gets: number;
  /** Data bytes sent by downloads. */
  bytesSent: number;
  /** `file_put` requests received, refused ones included. */
  puts: number;
  /** Uploads that resumed after verified chunks of an earlier one. */
  resumedPuts: number;
  /** Uploads verified and in place. */
  putsDone: number;
  /** Uploads refused for their bytes (rules broken, digest mismatch). */
  putsRejected: number;
  /** Data bytes received by uploads. */
  bytesReceived: number;
}

/** One file of the listing. */
export interface FileEntry {
  /** Its name in the directory. */
  name: string;
  /** Its size in bytes. */
  size: number;
  /** Its SHA-256. */
  digest: Uint8Array;
}

/** Options for {@linkcode fileService}. */
export interface FileServiceOptions {
  /** The directory served; uploads are written into it. */
  root: ConfinedRoot;
  /** Largest upload accepted, in bytes. Default {@linkcode DEFAULT_MAX_SIZE}. */
  maxSize?: number;
  /** Uploads in progress at once. Default {@linkcode DEFAULT_MAX_UPLOADS}. */
  maxUploads?: number;
  /** Ledger chunk size of uploads (tests use small ones). Default 1 MiB. */
  chunkSize?: number;
  /** Digests of the files; uploads add theirs. */
  digests?: DigestCache;
  /** Where uploads and refusals are logged. */
  log?: Logger;
}

/** An uploader's uploads, by request id. */
interface SessionUploads {
  readonly uploads: Map<number, Upload>;
  /** Refused uploads: their frames in flight are dropped until bulk_end. */
  readonly dropped: Set<number>;
}

/**
 * Creates the file service: `file_list` → `file_list_reply` pages of
 * entries (name, size, SHA-256); `file_get` → a bulk transfer from
 * `offset`; `file_put` → `file_put_ready` with the offset to send from,
 * then the client's `bulk_data`… `bulk_end` → `file_put_ok` once the file
 * is verified and in place. Uploads over `maxSize` are refused with
 * `file_too_large` before any byte is taken; bytes that break the bulk
 * rules or the digest with `bad_upload`, and nothing of them is kept. A
 * second `file_put` of a name being uploaded takes over (the first gets
 * `superseded`): it is how a client resumes when its old connection is not
 * yet known to be dead.
 *
 * @param options The directory, limits, digest cache and logger.
 * @returns The service, with its counters as `stats`.
 *
 * @example
 * ```ts
 * const files = fileService({ root: await ConfinedRoot.open("files") });
 * await using server = new TlvServer({ services: [files], port: 0 });
 * ```
 */
export function fileService(
  options: FileServiceOptions,
): TlvService & { readonly stats: FileStats; readonly uploads: number } {
  const { root, log } = options;
  const maxSize = options.maxSize ?? DEFAULT_MAX_SIZE;
  const maxUploads = options.maxUploads ?? DEFAULT_MAX_UPLOADS;
  const digests = options.digests ?? new DigestCache();
  const stats: FileStats = {
    lists: 0,
    gets: 0,
    bytesSent: 0,
    puts: 0,
    resumedPuts: 0,
    putsDone: 0,
    putsRejected: 0,
    bytesReceived: 0,
  };
  /** Uploads in progress, by file name: one at a time per name. */
  const active = new Map<string, Upload>();
  /** Where stopped uploads can resume without reading their part files. */
  const points = new Map<string, HeldPart>();
  /** Uploads whose request got its error frame. */
  const answered = new WeakSet<Upload>();
  const bySession = new WeakMap<Session, SessionUploads>();

  function uploadsOf(session: Session): SessionUploads {
    let state = bySession.get(session);
    if (state === undefined) {
      const created: SessionUploads = {
        uploads: new Map(),
        dropped: new Set(),
      };
      state = created;
      bySession.set(session, created);
      // A broken connection keeps its verified chunks for the resume.
      session.signal.addEventListener("abort", () => {
        for (const upload of created.uploads.values()) {
          upload.stop();
          forget(upload);
        }
      }, { once: true });
    }
    return state;
  }

  /**
   * Takes `upload` off its connection now, and off its name once its files
   * are closed — until then a new upload of the name waits for it — keeping
   * where a resume can start without reading the part file.
   */
  function forget(upload: Upload): void {
    bySession.get(upload.session)?.uploads.delete(upload.id);
    upload.stopped.then(() => {
      if (active.get(upload.name) !== upload) return;
      active.delete(upload.name);
      if (upload.state === "stopped" && upload.known !== undefined) {
        points.delete(upload.name);
        points.set(upload.name, upload.known);
        for (const name of points.keys()) {
          if (points.size <= MAX_RESUME_POINTS) break;
          points.delete(name);
        }
      }
    });
  }

  /** Ends `upload` with an error frame; its later frames are dropped. */
  function refuse(upload: Upload, error: ProtocolError, discard: boolean) {
    // One answer per upload: a second frame for an ended request would
    // read as a failure of the whole connection. A finishing upload is
    // verified: it completes, and a takeover waits for it.
    if (
      answered.has(upload) || upload.state === "done" ||
      upload.state === "finishing"
    ) {
      return;
    }
    answered.add(upload);
    const answer = () => {
      if (upload.session.signal.aborted) return;
      upload.session.send("error", {
        id: upload.id,
        code: ERRORS[error.code].code,
        message: error.message,
      });
    };
    const state = bySession.get(upload.session);
    if (state !== undefined) {
      state.dropped.add(upload.id);
      for (const id of state.dropped) {
        if (state.dropped.size <= MAX_DROPPED_IDS) break;
        state.dropped.delete(id);
      }
    }
    forget(upload);
    const stopped = upload.stop({ discard });
    // "Nothing was kept" is true by the time the client reads it.
    if (discard) stopped.then(answer);
    else answer();
    if (discard) stats.putsRejected++;
    log?.info("upload refused", {
      peer: upload.session.peer,
      file: upload.name,
      reason: error.code,
      detail: error.message,
    });
  }

  /** The upload a `bulk_data`/`bulk_end` belongs to; undefined: drop it. */
  function uploadFor(
    session: Session,
    id: number,
    type: string,
  ): Upload | undefined {
    const state = uploadsOf(session);
    const upload = state.uploads.get(id);
    if (upload !== undefined) return upload;
    if (state.dropped.has(id)) {
      if (type === "bulk_end") state.dropped.delete(id);
      return undefined;
    }
    throw new ProtocolError(
      "unexpected_message",
      `${type} for id ${id} belongs to no upload (send file_put and wait for file_put_ready first)`,
    );
  }

  async function put(
    fields: Extract<Message, { type: "file_put" }>["fields"],
    session: Session,
  ): Promise<void> {
    const { id, name, size, digest } = fields;
    stats.puts++;
    checkName(name, WHAT);
    if (encoder.encode(name).length > MAX_UPLOAD_NAME_BYTES) {
      throw new ProtocolError(
        "bad_name",
        `"${
          name.slice(0, 80)
        }…" is too long to upload (at most ${MAX_UPLOAD_NAME_BYTES} bytes)`,
      );
    }
    if (size > maxSize) {
      throw new ProtocolError(
        "file_too_large",
        `"${name}" is ${size} bytes (${
          formatBytes(size)
        }), over this server's upload limit of ${maxSize} bytes (${
          formatBytes(maxSize)
        })`,
      );
    }
    if (digest.length !== DIGEST_LENGTH) {
      throw new ProtocolError(
        "bad_message",
        `file_put's digest has ${digest.length} bytes; a SHA-256 has ${DIGEST_LENGTH}`,
      );
    }
    let path: string;
    try {
      path = await root.writablePath(name);
    } catch (error) {
      if (!(error instanceof ConfinedPathError)) throw error;
      throw new ProtocolError(
        "bad_name",
        `"${name}" is not ${WHAT}: ${error.message}`,
      );
    }
    // Gone while the name was checked: nobody to answer.
    if (session.signal.aborted) return;
    // From here to the registration nothing awaits: two puts of one name
    // cannot both miss each other, and the connection cannot close unseen.
    const state = uploadsOf(session);
    if (state.uploads.has(id) || state.dropped.has(id)) {
      throw new ProtocolError(
        "unexpected_message",
        `request id ${id} is already used by an upload on this connection`,
      );
    }
    const previous = active.get(name);
    if (previous === undefined && active.size >= maxUploads) {
      throw new ProtocolError(
        "server_busy",
        `this server takes ${maxUploads} uploads at once; try again later`,
      );
    }
    const upload = new Upload({
      id,
      name,
      path,
      size,
      digest,
      session,
      ...(options.chunkSize !== undefined
        ? { chunkSize: options.chunkSize }
        : {}),
    });
    active.set(name, upload);
    state.uploads.set(id, upload);
    if (previous !== undefined) {
      refuse(
        previous,
        new ProtocolError(
          "superseded",
          `another upload of "${name}" (from ${session.peer}) took over`,
        ),
        false,
      );
    }
    const known = previous === undefined ? points.get(name) : undefined;
    points.delete(name);
    let offset: number | undefined;
    try {
      offset = await upload.prepare(previous, known);
    } catch (error) {
      forget(upload);
      upload.stop();
      throw error;
    }
    // Stopped meanwhile (taken over, or the connection closed).
    if (offset === undefined) return;
    if (offset > 0) stats.resumedPuts++;
    log?.debug("upload ready", {
      peer: session.peer,
      file: name,
      size,
      offset,
    });
    session.send("file_put_ready", { id, offset });
  }

  function data(
    fields: Extract<Message, { type: "bulk_data" }>["fields"],
    session: Session,
  ): void {
    const upload = uploadFor(session, fields.id, "bulk_data");
    if (upload === undefined) return;
    let hold: Promise<unknown> | undefined;
    try {
      hold = upload.data(fields.offset, fields.data);
    } catch (error) {
      refuseFor(upload, error);
      return;
    }
    stats.bytesReceived += fields.data.length;
    if (hold !== undefined) session.holdInput?.(hold);
  }

  async function end(
    fields: Extract<Message, { type: "bulk_end" }>["fields"],
    session: Session,
  ): Promise<void> {
    const upload = uploadFor(session, fields.id, "bulk_end");
    if (upload === undefined) return;
    let result;
    try {
      result = await upload.end(fields.size);
    } catch (error) {
      refuseFor(upload, error);
      return;
    } finally {
      if (upload.state !== "receiving") forget(upload);
    }
    stats.putsDone++;
    try {
      digests.remember(
        upload.path,
        await Deno.stat(upload.path),
        result.digest,
      );
    } catch {
      // Replaced or removed already: the next request hashes it.
    }
    log?.info("upload complete", {
      peer: session.peer,
      file: upload.name,
      size: result.size,
      resumed_at: upload.offset,
    });
    session.send("file_put_ok", {
      id: upload.id,
      name: upload.name,
      size: result.size,
    });
  }

  /** Refuses `upload` for `error`: its bytes (BulkError) or the disk. */
  function refuseFor(upload: Upload, error: unknown): void {
    if (error instanceof BulkError) {
      refuse(upload, new ProtocolError("bad_upload", error.message), true);
    } else if (error instanceof ProtocolError) {
      refuse(upload, error, error.code === "bad_upload");
    } else {
      log?.error("upload failed", {
        peer: upload.session.peer,
        file: upload.name,
        error,
      });
      refuse(
        upload,
        new ProtocolError(
          "internal",
          `the server could not store "${upload.name}"; the verified part is kept for a resume`,
        ),
        false,
      );
    }
  }

  async function get(
    fields: Extract<Message, { type: "file_get" }>["fields"],
    session: Session,
  ): Promise<void> {
    const { id, name, offset } = fields;
    stats.gets++;
    const found = await findNamed(root, name, [""], WHAT);
    // The name only: the directory's path and contents stay private.
    if (!found) throw new ProtocolError("not_found", `no file named "${name}"`);
    // An upload may replace the file meanwhile: one handle sends one version.
    const sent = await sendNamedFile(session, {
      id,
      found,
      offset: offset ?? 0,
      digests,
    });
    stats.bytesSent += sent;
    log?.debug("file sent", {
      peer: session.peer,
      file: found.fileName,
      offset: offset ?? 0,
      bytes: sent,
    });
  }

  async function list(
    fields: Extract<Message, { type: "file_list" }>["fields"],
    session: Session,
  ): Promise<void> {
    stats.lists++;
    const entries = await listFiles(root, digests);
    const from = Math.min(fields.offset ?? 0, entries.length);
    session.send("file_list_reply", {
      id: fields.id,
      entry: entries.slice(from, from + LIST_PAGE_SIZE),
      count: entries.length,
    });
  }

  return {
    name: "file",
    stats,
    get uploads() {
      return active.size;
    },
    handle(message: Message, session: Session): void | Promise<void> {
      switch (message.type) {
        case "file_list":
          return list(message.fields, session);
        case "file_get":
          return get(message.fields, session);
        case "file_put":
          return put(message.fields, session);
        case "bulk_data":
          // Synchronous: the frames of one read are taken in order.
          return data(message.fields, session);
        case "bulk_end":
          return end(message.fields, session);
        default:
          throw new ProtocolError(
            "unexpected_message",
            `the file service does not accept ${message.type}`,
          );
      }
    },
  };
}

/**
 * The regular, visible files directly in `root`, sorted by name, with
 * their SHA-256 (from `digests`, so each is hashed once while unchanged).
 * Hidden files (uploads in progress, ledgers), directories and symlinks
 * are left out, and so is a file that disappears while it is listed.
 *
 * @param root The served directory.
 * @param digests Where digests are remembered.
 * @returns The entries.
 *
 * @example
 * ```ts
 * await listFiles(root, new DigestCache());
 * // [{ name: "notes.txt", size: 1234, digest: Uint8Array(32) }]
 * ```
 */
export async function listFiles(
  root: ConfinedRoot,
  digests: DigestCache,
): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  for await (const entry of Deno.readDir(root.root)) {
    if (!entry.isFile || entry.name.startsWith(".")) continue;
    const path = join(root.root, entry.name);
    try {
      const info = await Deno.lstat(path);
      if (!info.isFile) continue;
      out.push({
        name: entry.name,
        size: info.size,
        digest: await digests.digest(path, info),
      });
    } catch (error) {
      // Removed (or replaced by an upload) since readDir saw it.
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
  }
  return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
