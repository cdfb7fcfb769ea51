/**
 * `--pcap-out FILE`: every frame a role sends and receives, written to a
 * pcapng capture Wireshark opens (with the dissector from `socklab --role
 * dissector`). Each packet is the socklab pseudo-header and the whole frame,
 * secrets overwritten (see `protocol/pcap/`).
 *
 * Writes go through one bounded buffer, flushed when it is full, shortly
 * after the first frame that lands in an empty buffer, and on close, always
 * in whole blocks: a crash loses at most the last moments, and what is on
 * disk is a readable capture (the file header is written at once).
 *
 * @module
 */

import {
  captureStart,
  encodeFrameRecord,
} from "../protocol/pcap/frame_capture.ts";
import type { Endpoint } from "../protocol/pcap/pseudo_header.ts";
import { UsageError } from "./flags.ts";
import type { Logger } from "./log.ts";
import type { FrameCapture, FrameRoute } from "./trace.ts";

/** What {@linkcode PcapOut} writes to: an open file, or a test double. */
export interface PcapFile {
  writeSync(bytes: Uint8Array): number;
  close(): void;
}

/** Options for {@linkcode PcapOut}. */
export interface PcapOutOptions {
  /** Names the writer in the file's section header. */
  application: string;
  /** Bytes buffered before a write. Default 256 KiB. */
  bufferSize?: number;
  /** Longest a buffered frame waits for its write, in ms. Default 200. */
  flushDelayMs?: number;
  /** The clock, µs since 1970; tests inject one. */
  nowUs?: () => number;
  /** Told once when a write fails; capturing stops, the role goes on. */
  onError?: (error: unknown) => void;
  /** Called once the file is closed. */
  onClose?: () => void;
}

/** An end not known: written as the unspecified address of the family. */
const UNKNOWN: Endpoint = { address: "", port: 0 };

/** The wall clock in microseconds, finer than `Date.now()`. */
function wallClockUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Address and port of a socket address; unknown ends are all zero. */
function endpoint(addr: Deno.Addr | undefined): Endpoint {
  if (addr === undefined || !("hostname" in addr)) return UNKNOWN;
  return { address: addr.hostname, port: addr.port };
}

/** `host:port` or `[v6]:port` back into an endpoint (frames traced without a route). */
function parsePeer(peer: string): Endpoint {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(peer);
  return m ? { address: m[1]!, port: Number(m[2]) } : UNKNOWN;
}

/**
 * Writes frames to a pcapng file. Pass it to a {@linkcode Tracer} as its
 * capture.
 *
 * @example
 * ```ts
 * using pcap = new PcapOut(Deno.openSync("calc.pcapng", { write: true, create: true }), {
 *   application: "socklab 0.1.0",
 * });
 * const tracer = new Tracer(undefined, undefined, { capture: pcap });
 * ```
 */
export class PcapOut implements FrameCapture, Disposable {
  #file: PcapFile;
  #buffer: Uint8Array;
  #used = 0;
  #flushDelayMs: number;
  #nowUs: () => number;
  #onError: (error: unknown) => void;
  #onClose: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #failed = false;
  #packets = 0;

  /** Takes ownership of `file` and writes the capture's header to it now. */
  constructor(file: PcapFile, options: PcapOutOptions) {
    this.#file = file;
    this.#buffer = new Uint8Array(options.bufferSize ?? 256 * 1024);
    this.#flushDelayMs = options.flushDelayMs ?? 200;
    this.#nowUs = options.nowUs ?? wallClockUs;
    this.#onError = options.onError ?? (() => {});
    this.#onClose = options.onClose;
    // At once: even a role that dies at start leaves a valid (empty) capture.
    this.#write(captureStart(options.application));
  }

  /** Frames recorded so far (written or buffered). */
  get packets(): number {
    return this.#packets;
  }

  /** Bytes waiting in the buffer. */
  get buffered(): number {
    return this.#used;
  }

  /** Records one frame; see {@linkcode FrameCapture.frame}. */
  frame(
    direction: "send" | "recv",
    peer: string,
    bytes: Uint8Array,
    route: FrameRoute | undefined,
  ): void {
    if (this.#closed || this.#failed) return;
    const remote = route ? endpoint(route.remote) : parsePeer(peer);
    const local = route ? endpoint(route.local) : UNKNOWN;
    const block = encodeFrameRecord({
      timestampUs: this.#nowUs(),
      header: {
        direction,
        transport: route?.transport ?? "unknown",
        source: direction === "send" ? local : remote,
        destination: direction === "send" ? remote : local,
      },
      frame: bytes,
    });
    this.#packets++;
    if (this.#used + block.length > this.#buffer.length) this.flush();
    if (block.length > this.#buffer.length) {
      this.#write(block);
      return;
    }
    this.#buffer.set(block, this.#used);
    this.#used += block.length;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#flushDelayMs);
      // Waiting to flush never keeps a finished role alive; close() flushes.
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Writes what is buffered, synchronously (safe in an unload handler). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#used === 0) return;
    const bytes = this.#buffer.subarray(0, this.#used);
    this.#used = 0;
    this.#write(bytes);
  }

  /** Flushes and closes the file. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    try {
      this.#file.close();
    } catch {
      // Already closed (the runtime is exiting): nothing left to release.
    }
    this.#onClose?.();
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #write(bytes: Uint8Array): void {
    if (this.#failed) return;
    try {
      let at = 0;
      while (at < bytes.length) {
        at += this.#file.writeSync(bytes.subarray(at));
      }
    } catch (error) {
      // A full disk must not take the role down: stop capturing, say so once.
      this.#failed = true;
      this.#used = 0;
      this.#onError(error);
    }
  }
}

/**
 * Opens `path` for `--pcap-out` (created, or truncated like `tcpdump -w`)
 * and starts a capture in it. Call it before permissions are dropped: the
 * role keeps only this open file, even one that may write no file at all.
 * The capture is also flushed when the process exits through `Deno.exit`
 * (a second Ctrl-C), not only when it is closed.
 *
 * @returns The capture, or `undefined` when `path` is `undefined`.
 * @throws {UsageError} When the file cannot be opened, saying why.
 *
 * @example
 * ```ts
 * using pcap = openPcapOut(flags.string("pcap-out"), { application: "socklab", log });
 * ```
 */
export function openPcapOut(
  path: string | undefined,
  options: Omit<PcapOutOptions, "onError" | "onClose"> & { log: Logger },
): PcapOut | undefined {
  if (path === undefined) return undefined;
  if (path === "") throw new UsageError("--pcap-out needs a file name");
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { write: true, create: true, truncate: true });
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "its directory does not exist"
      : error instanceof Deno.errors.NotCapable
      ? "write access is not granted (the binary has it; under deno run " +
        "add --allow-write=" + path + ")"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new UsageError(`Cannot open --pcap-out ${path}: ${why}`);
  }
  const { log, ...rest } = options;
  const pcap = new PcapOut(file, {
    ...rest,
    onClose: () => globalThis.removeEventListener("unload", onUnload),
    onError(error) {
      log.warn("cannot write --pcap-out; capturing stopped", {
        file: path,
        error: (error as Error).message,
      });
    },
  });
  const onUnload = () => pcap.close();
  globalThis.addEventListener("unload", onUnload);
  return pcap;
}
