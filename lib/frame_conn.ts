/**
 * A TLV connection over any `Deno.Conn` (TCP or TLS): a frame reader over a
 * reused read buffer, and a writer that coalesces frames queued together
 * into one socket write. Used by the server host and the client helper.
 *
 * @module
 */

import { FrameReader } from "../protocol/tlv/frame_reader.ts";
import {
  DEFAULT_LIMITS,
  type Frame,
  type TlvLimits,
} from "../protocol/tlv/frame.ts";
import { encodeMessage } from "../protocol/tlv/message.ts";
import type { MessageFields, MessageName } from "../protocol/tlv/registry.ts";
import type { Tracer } from "./trace.ts";

/** Options for {@linkcode FrameConnection}. */
export interface FrameConnectionOptions {
  /** Decoder limits. */
  limits?: TlvLimits;
  /** Prints every frame when set. */
  tracer?: Tracer | undefined;
  /** Queued bytes above which the reader waits for the writer. 1 MiB. */
  highWaterMark?: number;
  /** Size of the reused read buffer. 64 KiB. */
  readBufferSize?: number;
}

/** `host:port` of an address, IPv6 in brackets. */
export function formatAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return "path" in addr ? addr.path : String(addr.transport);
}

/**
 * Frames in, frames out, over one connection.
 *
 * @example
 * ```ts
 * const fc = new FrameConnection(await Deno.connect({ port }));
 * fc.send("hello", { version: 1, service: "calc" });
 * for await (const frames of fc.reads()) { ... }
 * ```
 */
export class FrameConnection {
  readonly conn: Deno.Conn;
  readonly peer: string;
  readonly reader: FrameReader;
  #tracer: Tracer | undefined;
  #highWaterMark: number;
  #readBuffer: Uint8Array;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #corked = 0;
  #writing = false;
  #scheduled = false;
  #closed = false;
  #writeError: unknown;
  #drainWaiters: (() => void)[] = [];
  #closedController = new AbortController();

  /** Wraps `conn`; the connection is owned and closed by this object. */
  constructor(conn: Deno.Conn, options: FrameConnectionOptions = {}) {
    this.conn = conn;
    this.peer = formatAddr(conn.remoteAddr);
    this.reader = new FrameReader(options.limits ?? DEFAULT_LIMITS);
    this.#tracer = options.tracer;
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.#readBuffer = new Uint8Array(options.readBufferSize ?? 64 * 1024);
  }

  /** Whether `close()` has been called or the peer went away. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Aborted when the connection closes (by us, by the peer, by a failed write). */
  get closedSignal(): AbortSignal {
    return this.#closedController.signal;
  }

  /** Bytes queued and not yet written. */
  get pendingBytes(): number {
    return this.#queued;
  }

  /** Whether the writer is behind by more than the high-water mark. */
  get congested(): boolean {
    return this.#queued > this.#highWaterMark;
  }

  /**
   * Reads the next chunk and returns the whole frames it completes, or
   * `null` at end of stream. Bodies are valid until the next call.
   */
  async readFrames(): Promise<Frame[] | null> {
    // Good frames that preceded a bad one were returned last time; now fail.
    if (this.reader.failure) throw this.reader.failure;
    const n = await this.conn.read(this.#readBuffer);
    if (n === null) return null;
    return this.pushFrames(this.#readBuffer.subarray(0, n));
  }

  /**
   * Feeds bytes already read (e.g. by {@linkcode readRaw}) to the frame
   * reader and returns the whole frames they complete, traced like
   * {@linkcode readFrames}.
   */
  pushFrames(chunk: Uint8Array): Frame[] {
    const frames = this.reader.push(chunk);
    if (this.#tracer) {
      for (const f of frames) this.#traceFrame("recv", f);
    }
    return frames;
  }

  /** Reads raw bytes (protocol sniffing); `null` at end of stream. */
  async readRaw(): Promise<Uint8Array | null> {
    const n = await this.conn.read(this.#readBuffer);
    return n === null ? null : this.#readBuffer.subarray(0, n);
  }

  #traceFrame(direction: "send" | "recv", frame: Frame): void {
    const whole = new Uint8Array(frame.body.length + 6);
    const view = new DataView(whole.buffer);
    view.setUint16(0, frame.type);
    view.setUint32(2, frame.body.length);
    whole.set(frame.body, 6);
    this.#tracer?.frame(direction, this.peer, whole);
  }

  /** Encodes and queues a registry message. */
  send<M extends MessageName>(type: M, fields: MessageFields<M>): void {
    this.sendBytes(encodeMessage(type, fields));
  }

  /**
   * Queues one encoded frame. Frames queued in the same turn (or while
   * corked) go out in one write.
   */
  sendBytes(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#tracer?.frame("send", this.peer, frame);
    this.#queue.push(frame);
    this.#queued += frame.length;
    if (this.#corked === 0 && !this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#pump();
      });
    }
  }

  /** Holds writes until the matching {@linkcode uncork}. */
  cork(): void {
    this.#corked++;
  }

  /** Releases a {@linkcode cork}; writes what was queued. */
  uncork(): void {
    if (this.#corked > 0 && --this.#corked === 0) this.#pump();
  }

  /** Resolves when everything queued so far has been written. */
  drained(): Promise<void> {
    if (this.#queued === 0 || this.#closed) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#drainWaiters.push(resolve);
    this.#pump();
    return promise;
  }

  async #pump(): Promise<void> {
    if (this.#writing || this.#closed || this.#corked > 0) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const parts = this.#queue;
        this.#queue = [];
        const bytes = parts.length === 1 ? parts[0]! : concat(parts);
        let at = 0;
        while (at < bytes.length) {
          at += await this.conn.write(bytes.subarray(at));
        }
        this.#queued -= bytes.length;
      }
    } catch (error) {
      this.#writeError = error;
      this.close();
    } finally {
      this.#writing = false;
    }
    if (this.#queued === 0 || this.#closed) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** The error that broke the writer, if any. */
  get writeError(): unknown {
    return this.#writeError;
  }

  /** Writes what is queued (bounded by `timeoutMs`), then closes. */
  async closeAfterFlush(timeoutMs = 5000): Promise<void> {
    if (!this.#closed && this.#queued > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.drained(),
        new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    this.close();
  }

  /** Closes now; queued frames are dropped. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedController.abort();
    this.#queue = [];
    this.#queued = 0;
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer or the runtime: nothing left to release.
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Concatenates byte arrays into one new array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
