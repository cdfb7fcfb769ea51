/**
 * What the file client does, as functions a test can call in process:
 * {@linkcode getFile} (a download that resumes after the verified chunks of
 * its ledger), {@linkcode putFile} (an upload that sends from the offset
 * the server gives), {@linkcode listFiles} (every page of the listing), and
 * the reconnecting loop both transfers run in, so a connection that drops
 * every few megabytes still ends in a verified file.
 *
 * @module
 */

import {
  BulkError,
  clientSender,
  downloadToFile,
  fileDigest,
  sendBulk,
} from "../../lib/bulk.ts";
import { ConnectionError, type TlvClient } from "../../lib/client.ts";
import type { Logger } from "../../lib/log.ts";
import { type HeldPart, resumePart } from "../../lib/part_file.ts";
import { formatBytes, Progress } from "../../lib/progress.ts";
import { RemoteError } from "../../protocol/tlv/protocol_error.ts";

/** What a finished transfer did. */
export interface TransferSummary {
  /** Which way the file went. */
  readonly direction: "get" | "put";
  /** The file's name on the server. */
  readonly name: string;
  /** The local file. */
  readonly path: string;
  /** Its size. */
  readonly size: number;
  /** Its SHA-256, verified by the receiver. */
  readonly digest: Uint8Array;
  /** Data bytes this run carried, over every connection. */
  readonly bytes: number;
  /** Where the first connection started: more than 0 resumed an earlier run. */
  readonly resumedAt: number;
  /** Connections made after the first broke. */
  readonly reconnects: number;
  /** Seconds from the start to the verified end. */
  readonly seconds: number;
}

/** Options for {@linkcode getFile} and {@linkcode putFile}. */
export interface TransferOptions {
  /** Opens a connection to the file service (called again to reconnect). */
  connect(): Promise<TlvClient>;
  /**
   * Failed connections in a row without progress before giving up; a
   * connection after which the transfer resumes further on starts the
   * count again. Default 3; 0 never reconnects.
   */
  retries?: number;
  /** Show a progress bar (or quarter lines) on stderr. */
  progress?: boolean;
  /** Redraw the bar in place; default: stderr is a terminal. */
  terminal?: boolean;
  /** Where reconnects are logged. */
  log?: Logger;
  /** Stops waiting between reconnects. */
  signal?: AbortSignal;
}

/** Where a try of a transfer got to. */
interface Attempt {
  /** Where this connection started (the verified offset). */
  start?: number;
  /** Data bytes it carried. */
  bytes: number;
}

/**
 * Downloads `name` into `out`. The bytes go to `.OUT.part` with a chunk
 * ledger beside it; after an interruption (this run's or an earlier one's)
 * the verified chunks are kept, the rest is cut off, and the download asks
 * for what follows. `out` appears only once the whole file's SHA-256
 * matches.
 *
 * @param name The file's name on the server.
 * @param out Where to save it.
 * @param options How to connect, retries, progress.
 * @returns What was transferred.
 * @throws {RemoteError} the server refused (`not_found`, `bad_name`…).
 * @throws {BulkError} the bytes broke the rules or their digest.
 * @throws {ConnectionError} the connection failed more often than `retries`.
 *
 * @example
 * ```ts
 * const summary = await getFile("report.pdf", "report.pdf", {
 *   connect: () => connectTlv({ port, service: "file" }),
 * });
 * formatTransferSummary(summary);
 * ```
 */
export async function getFile(
  name: string,
  out: string,
  options: TransferOptions,
): Promise<TransferSummary> {
  const started = performance.now();
  // Where a reconnect resumes without reading the part file again.
  let known: HeldPart | undefined;
  const run = await retrying(
    "get " + name,
    options,
    async (client, attempt) => {
      const held = await resumePart(out, known ? { known } : {});
      known = undefined;
      attempt.start = held.length;
      let progress: Progress | undefined;
      await using frames = client.stream(
        "file_get",
        { name, offset: held.length },
        { highWaterMark: 64 },
      );
      try {
        return await downloadToFile(frames, out, {
          held,
          onVerified: (point) => known = point,
          onHeader: (header) => {
            if (options.progress) {
              progress = new Progress({
                label: name,
                total: header.size,
                start: held.length,
                ...(options.terminal !== undefined
                  ? { terminal: options.terminal }
                  : {}),
              });
            }
          },
          onProgress: (received) => {
            attempt.bytes = received - held.length;
            progress?.update(received);
          },
        });
      } finally {
        progress?.done();
      }
    },
  );
  return {
    direction: "get",
    name,
    path: out,
    size: run.result.size,
    digest: run.result.digest,
    bytes: run.bytes,
    resumedAt: run.firstStart,
    reconnects: run.attempts - 1,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Uploads the file at `path` as `name`: announces its size and SHA-256
 * with `file_put`, sends from the offset the server answers (after the
 * chunks it verified of an earlier upload of the same file), and returns
 * once the server has checked the digest and put the file in place.
 *
 * @param path The local file.
 * @param name Its name on the server.
 * @param options How to connect, retries, progress.
 * @returns What was transferred.
 * @throws {RemoteError} the server refused (`file_too_large`,
 * `bad_upload`, `bad_name`, `superseded`…).
 * @throws {ConnectionError} the connection failed more often than `retries`.
 *
 * @example
 * ```ts
 * const summary = await putFile("report.pdf", "report.pdf", {
 *   connect: () => connectTlv({ port, service: "file" }),
 * });
 * ```
 */
export async function putFile(
  path: string,
  name: string,
  options: TransferOptions,
): Promise<TransferSummary> {
  const started = performance.now();
  const size = (await Deno.stat(path)).size;
  const digest = await fileDigest(path);
  const run = await retrying(
    "put " + name,
    options,
    async (client, attempt) => {
      await using answers = client.stream("file_put", { name, size, digest });
      const ready = await answers.next();
      if (ready.done || ready.value.type !== "file_put_ready") {
        throw new ConnectionError(
          `the server answered file_put with ${
            ready.done ? "nothing" : ready.value.type
          }, not file_put_ready`,
        );
      }
      const offset = ready.value.fields.offset;
      if (offset > size) {
        throw new Error(
          `Cannot upload ${path}: the server asked for bytes from ${offset}, past its end (${size})`,
        );
      }
      attempt.start = offset;
      // The answer comes after bulk_end, or early as an error: stop sending then.
      const answer = answers.next();
      const stop = new AbortController();
      answer.then(() => stop.abort(), () => stop.abort());
      const progress = options.progress
        ? new Progress({
          label: name,
          total: size,
          start: offset,
          ...(options.terminal !== undefined
            ? { terminal: options.terminal }
            : {}),
        })
        : undefined;
      try {
        await sendBulk(clientSender(client), {
          id: answers.id,
          file: path,
          size,
          digest,
          offset,
          header: false,
          signal: stop.signal,
          onProgress: (sent) => {
            attempt.bytes = sent - offset;
            progress?.update(sent);
          },
        });
        const ok = await answer;
        if (ok.done || ok.value.type !== "file_put_ok") {
          throw new ConnectionError(
            `the server answered the upload with ${
              ok.done ? "nothing" : ok.value.type
            }, not file_put_ok`,
          );
        }
        return { size, digest };
      } finally {
        progress?.done();
        // Settled either way; its failure is what the awaits above threw.
        answer.catch(() => {});
      }
    },
  );
  return {
    direction: "put",
    name,
    path,
    size,
    digest,
    bytes: run.bytes,
    resumedAt: run.firstStart,
    reconnects: run.attempts - 1,
    seconds: (performance.now() - started) / 1000,
  };
}

/** What {@linkcode retrying} ran. */
interface RetriedRun<T> {
  readonly result: T;
  /** Connections used. */
  readonly attempts: number;
  /** Where the first connection started. */
  readonly firstStart: number;
  /** Data bytes over every connection. */
  readonly bytes: number;
}

/**
 * Runs `attempt` on a fresh connection until it succeeds, reconnecting
 * after a broken connection. A failure counts against `retries` unless the
 * attempt started further on than the one before (progress); after a
 * failure without progress it waits 0.5 s, 1 s, 2 s… (at most 5 s).
 */
async function retrying<T>(
  what: string,
  options: TransferOptions,
  attempt: (client: TlvClient, state: Attempt) => Promise<T>,
): Promise<RetriedRun<T>> {
  const retries = options.retries ?? 3;
  let failures = 0;
  let attempts = 0;
  let bytes = 0;
  let firstStart: number | undefined;
  let reached = -1;
  for (;;) {
    attempts++;
    const state: Attempt = { bytes: 0 };
    try {
      const client = await options.connect();
      // Ctrl-C: the connection closes, the transfer stops where it is.
      const interrupt = () => client.fc.close();
      options.signal?.addEventListener("abort", interrupt, { once: true });
      try {
        const result = await attempt(client, state);
        return {
          result,
          attempts,
          firstStart: firstStart ?? state.start ?? 0,
          bytes: bytes + state.bytes,
        };
      } finally {
        options.signal?.removeEventListener("abort", interrupt);
        firstStart ??= state.start;
        await client.close();
      }
    } catch (error) {
      bytes += state.bytes;
      if (options.signal?.aborted) {
        throw new Error(
          `${what} interrupted${
            state.start !== undefined
              ? ` at ${formatBytes(state.start + state.bytes)}`
              : ""
          }; the same command resumes it`,
        );
      }
      // The held bytes were of another version and are gone: start over.
      if (
        (error instanceof BulkError && error.code === "bad_resume") ||
        (error instanceof RemoteError && error.codeName === "bad_offset" &&
          (state.start ?? 0) > 0)
      ) {
        continue;
      }
      if (!retryable(error)) throw error;
      const start = state.start ?? -1;
      const progressed = start > reached;
      reached = Math.max(reached, start);
      failures = progressed ? 1 : failures + 1;
      if (failures > retries) throw error;
      options.log?.warn(`${what}: ${(error as Error).message}; reconnecting`, {
        attempt: attempts + 1,
        ...(state.start !== undefined
          ? { from: state.start + state.bytes }
          : {}),
      });
      if (!progressed) {
        await delay(Math.min(5000, 500 * 2 ** (failures - 1)), options.signal);
      }
    }
  }
}

/** Whether another connection may get further than this failure. */
function retryable(error: unknown): boolean {
  if (error instanceof ConnectionError) return true;
  // Frames that stopped short are a connection that broke mid-transfer.
  if (error instanceof BulkError) return error.code === "incomplete";
  if (error instanceof RemoteError) {
    return error.codeName === "server_busy" ||
      error.codeName === "shutting_down" || error.codeName === "idle_timeout";
  }
  return false;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Every file the server lists, page by page.
 *
 * @param client A connection to the file service.
 * @returns The entries, by name.
 *
 * @example
 * ```ts
 * for (const e of await listFiles(client)) printLine(formatEntry(e));
 * ```
 */
export async function listFiles(
  client: TlvClient,
): Promise<{ name: string; size: number; digest?: Uint8Array }[]> {
  const out: { name: string; size: number; digest?: Uint8Array }[] = [];
  for (;;) {
    const reply = await client.request("file_list", { offset: out.length });
    if (reply.type !== "file_list_reply") {
      throw new ConnectionError(
        `the server answered file_list with ${reply.type}`,
      );
    }
    const page = reply.fields.entry ?? [];
    out.push(...page);
    // A server without pages (no count) sends everything at once.
    const count = reply.fields.count ?? out.length;
    if (page.length === 0 || out.length >= count) return out;
  }
}

/**
 * One line of the listing: the name, the size in bytes, the SHA-256.
 *
 * @example
 * ```ts
 * formatEntry({ name: "notes.txt", size: 1234, digest });
 * // "notes.txt  1234  9f86d081884c7d65…"
 * ```
 */
export function formatEntry(
  entry: { name: string; size: number; digest?: Uint8Array },
): string {
  const hex = entry.digest
    ? Array.from(entry.digest, (b) => b.toString(16).padStart(2, "0")).join("")
    : "-";
  return `${entry.name}  ${entry.size}  ${hex}`;
}

/**
 * The one line that sums up a transfer.
 *
 * @example
 * ```ts
 * formatTransferSummary(summary);
 * // "got big.bin into big.bin: 209.7 MB (104.9 MB this run) in 0.81 s (129 MB/s), resumed at 104.9 MB, digest verified"
 * ```
 */
export function formatTransferSummary(s: TransferSummary): string {
  const what = s.direction === "get"
    ? `got ${s.name} into ${s.path}`
    : `put ${s.path} as ${s.name}`;
  const carried = s.bytes !== s.size
    ? ` (${formatBytes(s.bytes)} this run)`
    : "";
  const rate = s.seconds > 0
    ? `${formatBytes(Math.round(s.bytes / s.seconds))}/s`
    : "-";
  const resumed = s.resumedAt > 0
    ? `resumed at ${formatBytes(s.resumedAt)}`
    : "from the start";
  const reconnects = s.reconnects > 0
    ? `, ${s.reconnects} reconnect${s.reconnects === 1 ? "" : "s"}`
    : "";
  const verified = s.direction === "get"
    ? "digest verified"
    : "digest verified by the server";
  return `${what}: ${formatBytes(s.size)}${carried} in ${
    s.seconds.toFixed(2)
  } s (${rate}), ${resumed}${reconnects}, ${verified}`;
}
