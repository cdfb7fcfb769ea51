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
import { prepareMessage } from "../protocol/tlv/message.ts";
import type { MessageFields, MessageName } from "../protocol/tlv/registry.ts";
import { fairShare } from "./fair_share.ts";
import type { FrameRoute, Tracer } from "./trace.ts";

/** Options for {@linkcode FrameConnection}. */
export interface FrameConnectionOptions {
  /** Decoder limits. */
  limits?: TlvLimits;
  /** Prints every frame when set. */
  tracer?: Tracer | undefined;
  /** Queued bytes above which the reader waits for the writer. 1 MiB. */
  highWaterMark?: number;
  /** Size of the reused read buffer at first. 64 KiB. */
  readBufferSize?: number;
  /**
   * Size the read buffer may grow to, doubling each time a read fills it
   * (a bulk transfer arriving): fewer, larger reads. Default: no growth.
   */
  maxReadBufferSize?: number;
}

/**
 * The writer encodes frames straight into batch buffers, each written to
 * the socket in one call, and reuses those buffers: allocating (and
 * zeroing) a fresh array per frame and again per write cost a bulk
 * transfer more CPU than the socket writes themselves.
 *
 * A small batch holds control frames; a large one four full bulk_data
 * frames (64 KiB of data plus headers). A frame larger than that is
 * written from an array of its own.
 */
const SMALL_BATCH = 16 * 1024;
const LARGE_BATCH = 4 * (64 * 1024 + 256);

/** Spare batch buffers, shared by every connection of the thread. */
const spares = { small: [] as Uint8Array[], large: [] as Uint8Array[] };
const MAX_SPARES = { small: 64, large: 4 };

type BatchSize = keyof typeof spares;

function takeBatch(size: BatchSize): Uint8Array {
  return spares[size].pop() ??
    new Uint8Array(size === "small" ? SMALL_BATCH : LARGE_BATCH);
}

function releaseBatch(size: BatchSize, buffer: Uint8Array): void {
  if (spares[size].length < MAX_SPARES[size]) spares[size].push(buffer);
}

/** Bytes waiting to be written: a batch (from the pool) or one frame. */
interface Pending {
  bytes: Uint8Array;
  pool?: BatchSize;
}

/** The batch frames are being encoded into. */
interface Filling {
  buffer: Uint8Array;
  used: number;
  pool: BatchSize;
}

/** A caller of `drained()` waiting for the queue to shrink. */
interface DrainWaiter {
  below: number;
  resolve: () => void;
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
  #route: FrameRoute;
  #highWaterMark: number;
  #readBuffer: Uint8Array;
  #minReadBuffer: number;
  #maxReadBuffer: number;
  /** Sealed writes, oldest first, from `#head` on. */
  #queue: Pending[] = [];
  #head = 0;
  #filling: Filling | undefined;
  #queued = 0;
  #corked = 0;
  #writing = false;
  #scheduled = false;
  #closed = false;
  #writeError: unknown;
  #drainWaiters: DrainWaiter[] = [];
  #closedController = new AbortController();

  /** Wraps `conn`; the connection is owned and closed by this object. */
  constructor(conn: Deno.Conn, options: FrameConnectionOptions = {}) {
    this.conn = conn;
    this.peer = formatAddr(conn.remoteAddr);
    // Frames are coalesced here, so Nagle's algorithm only adds delay: a
    // small frame after a large write (a bulk_end) would wait for an ACK
    // the peer delays by up to 40 ms.
    if ("setNoDelay" in conn && typeof conn.setNoDelay === "function") {
      try {
        conn.setNoDelay(true);
      } catch {
        // Not a TCP socket underneath (or already closed): nothing to tune.
      }
    }
    this.reader = new FrameReader(options.limits ?? DEFAULT_LIMITS);
    this.#tracer = options.tracer;
    // For --pcap-out: a TLS connection is the one with a handshake.
    this.#route = {
      transport: "handshake" in conn ? "tls" : "tcp",
      local: conn.localAddr,
      remote: conn.remoteAddr,
    };
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.#readBuffer = new Uint8Array(options.readBufferSize ?? 64 * 1024);
    this.#minReadBuffer = this.#readBuffer.length;
    this.#maxReadBuffer = Math.max(
      this.#readBuffer.length,
      options.maxReadBufferSize ?? 0,
    );
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
   *
   * @param options `lend: true` when the caller is done with every frame
   * before it reads again: the read buffer, grown for a download, is then
   * reused instead of handed to the frames (no allocation per read).
   */
  async readFrames(
    options: { lend?: boolean } = {},
  ): Promise<Frame[] | null> {
    // Good frames that preceded a bad one were returned last time; now fail.
    if (this.reader.failure) throw this.reader.failure;
    const buffer = this.#readBuffer;
    const n = await this.conn.read(buffer);
    if (n === null) return null;
    // A grown buffer is given to the frames it holds and replaced: their
    // data is then kept without a copy (a download's bulk_data).
    const grown = buffer.length > this.#minReadBuffer;
    const handOver = grown && options.lend !== true;
    const frames = this.pushFrames(buffer.subarray(0, n), handOver);
    if (handOver) {
      // Back to the small reused buffer once reads are small again.
      this.#readBuffer = new Uint8Array(
        n * 4 < buffer.length ? this.#minReadBuffer : buffer.length,
      );
    } else if (n === buffer.length && buffer.length < this.#maxReadBuffer) {
      this.#readBuffer = new Uint8Array(
        Math.min(buffer.length * 2, this.#maxReadBuffer),
      );
    }
    return frames;
  }

  /**
   * Feeds bytes already read (e.g. by {@linkcode readRaw}) to the frame
   * reader and returns the whole frames they complete, traced like
   * {@linkcode readFrames}.
   */
  pushFrames(chunk: Uint8Array, owned = false): Frame[] {
    const frames = this.reader.push(chunk, { owned });
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
    this.#tracer?.frame(direction, this.peer, whole, this.#route);
  }

  /**
   * Encodes and queues a registry message. The fields are encoded before
   * this returns: the caller may reuse its buffers at once.
   */
  send<M extends MessageName>(type: M, fields: MessageFields<M>): void {
    if (this.#closed) return;
    const message = prepareMessage(type, fields);
    const length = message.length;
    if (length > LARGE_BATCH) {
      const bytes = new Uint8Array(length);
      message.writeTo(bytes, 0);
      this.#enqueue(bytes);
      return;
    }
    const filling = this.#fillingFor(length);
    message.writeTo(filling.buffer, filling.used);
    this.#added(filling.buffer.subarray(filling.used, filling.used + length));
    filling.used += length;
  }

  /**
   * Queues one encoded frame (copied when it joins a batch). Frames queued
   * in the same turn (or while corked) go out in one write.
   */
  sendBytes(frame: Uint8Array): void {
    if (this.#closed) return;
    if (frame.length > LARGE_BATCH) {
      this.#enqueue(frame);
      return;
    }
    const filling = this.#fillingFor(frame.length);
    filling.buffer.set(frame, filling.used);
    this.#added(
      filling.buffer.subarray(filling.used, filling.used + frame.length),
    );
    filling.used += frame.length;
  }

  /** The batch with room for `length` more bytes, started when needed. */
  #fillingFor(length: number): Filling {
    const filling = this.#filling;
    if (
      filling !== undefined && filling.used + length <= filling.buffer.length
    ) {
      return filling;
    }
    this.#seal();
    const pool: BatchSize = length <= SMALL_BATCH ? "small" : "large";
    return this.#filling = { buffer: takeBatch(pool), used: 0, pool };
  }

  /** Moves the batch being filled to the queue. */
  #seal(): void {
    const filling = this.#filling;
    if (filling === undefined) return;
    this.#filling = undefined;
    this.#queue.push({
      bytes: filling.buffer.subarray(0, filling.used),
      pool: filling.pool,
    });
  }

  /** Queues a frame that is written from its own array. */
  #enqueue(frame: Uint8Array): void {
    this.#seal();
    this.#queue.push({ bytes: frame });
    this.#added(frame);
  }

  /** Counts a queued frame, traces it and schedules the writer. */
  #added(frame: Uint8Array): void {
    this.#tracer?.frame("send", this.peer, frame, this.#route);
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

  /**
   * Resolves when at most `below` bytes are queued and unwritten: by
   * default when everything queued so far has been written. A sender that
   * waits for half its high-water mark keeps the socket busy while it
   * prepares the next bytes.
   */
  drained(below = 0): Promise<void> {
    if (this.#queued <= below || this.#closed) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#drainWaiters.push({ below, resolve });
    this.#pump();
    return promise;
  }

  async #pump(): Promise<void> {
    if (this.#writing || this.#closed || this.#corked > 0) return;
    this.#writing = true;
    try {
      for (;;) {
        if (this.#head === this.#queue.length) this.#seal();
        if (this.#head === this.#queue.length || this.#closed) break;
        const next = this.#queue[this.#head++]!;
        if (this.#head === this.#queue.length) {
          this.#queue = [];
          this.#head = 0;
        }
        const bytes = next.bytes;
        // Large writes take turns with other connections' requests.
        if (next.pool === "large" || bytes.length > SMALL_BATCH) {
          const turn = fairShare.turn(bytes.length);
          if (turn !== undefined) await turn;
          if (this.#closed) break;
        }
        let at = 0;
        while (at < bytes.length) {
          at += await this.conn.write(bytes.subarray(at));
        }
        if (next.pool !== undefined) {
          releaseBatch(next.pool, new Uint8Array(bytes.buffer));
        }
        this.#queued -= bytes.length;
        this.#wakeDrainWaiters();
      }
    } catch (error) {
      this.#writeError = error;
      this.close();
    } finally {
      this.#writing = false;
    }
    this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters(): void {
    if (this.#drainWaiters.length === 0) return;
    const waiting: DrainWaiter[] = [];
    for (const waiter of this.#drainWaiters) {
      if (this.#queued <= waiter.below || this.#closed) waiter.resolve();
      else waiting.push(waiter);
    }
    this.#drainWaiters = waiting;
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
    this.#head = 0;
    this.#filling = undefined;
    this.#queued = 0;
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer or the runtime: nothing left to release.
    }
    this.#wakeDrainWaiters();
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
