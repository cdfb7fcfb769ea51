/**
 * Live channels (HW4 scenario 3): one source per channel, opened on the
 * first viewer and closed after the last leaves, fanned out to viewers that
 * each have a bounded queue. A late joiner starts at a clean point — the
 * stream's tables and the current group of pictures from a GOP cache — so a
 * player can decode at once; a viewer that cannot keep up is dropped with a
 * reason while the others see no stall.
 *
 * @module
 */

import type { Logger } from "../../lib/log.ts";
import { GopCache, TsPacketizer } from "../../protocol/mpegts/ts.ts";
import { concat } from "../../lib/frame_conn.ts";

/** Default bytes a viewer may fall behind before it is dropped. */
export const DEFAULT_VIEWER_QUEUE = 4 * 1024 * 1024;

/** Options for {@linkcode LiveChannel}. */
export interface LiveChannelOptions {
  name: string;
  /**
   * Opens the source. Called on the first viewer (or at once when
   * `alwaysOn`); `signal` aborts when the last viewer leaves.
   */
  open: (signal: AbortSignal) => AsyncIterable<Uint8Array>;
  log: Logger;
  /** Bytes a viewer may fall behind before it is dropped. */
  maxViewerQueue?: number;
  /** Keep the source running without viewers (stdin cannot be reopened). */
  alwaysOn?: boolean;
}

/** Counters of a channel. */
export interface LiveStats {
  viewers: number;
  peakViewers: number;
  dropped: number;
  opens: number;
  bytesIn: number;
  bytesOut: number;
}

/** One viewer: the stream's bytes from a clean point on. */
export class Viewer implements AsyncIterable<Uint8Array> {
  readonly id: number;
  #channel: LiveChannel;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  /** Why the viewer was dropped or the channel ended, once it has. */
  reason: string | undefined;
  /** Whether it has had its clean starting point. */
  synced = false;

  /** @internal Use {@linkcode LiveChannel.subscribe}. */
  constructor(id: number, channel: LiveChannel) {
    this.id = id;
    this.#channel = channel;
  }

  /** Bytes waiting to be taken. */
  get queued(): number {
    return this.#queued;
  }

  /** @internal Queues bytes; false when over `max` (the viewer is then ended). */
  _offer(bytes: Uint8Array, max: number): boolean {
    if (this.#ended) return true;
    if (this.#queued + bytes.length > max) return false;
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#wake?.();
    return true;
  }

  /** @internal Ends the stream with a reason. */
  _end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.reason = reason;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.#queue.length > 0) {
          // Everything queued goes out together: fewer, larger writes.
          const parts = this.#queue;
          this.#queue = [];
          this.#queued = 0;
          yield parts.length === 1 ? parts[0]! : concat(parts);
          continue;
        }
        if (this.#ended) return;
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#wake = resolve;
        await promise;
        this.#wake = undefined;
      }
    } finally {
      this.close();
    }
  }

  /** Leaves the channel. */
  close(): void {
    this._end(this.reason ?? "left");
    this.#channel._leave(this);
  }
}

/**
 * A live channel.
 *
 * @example
 * ```ts
 * const channel = new LiveChannel({ name: "live", open: (signal) => fileLoop("live.m2t", signal), log });
 * for await (const bytes of channel.subscribe()) write(bytes);
 * ```
 */
export class LiveChannel {
  readonly name: string;
  #options: LiveChannelOptions;
  #viewers = new Set<Viewer>();
  #nextId = 1;
  #gop = new GopCache();
  #packetizer = new TsPacketizer();
  #abort: AbortController | undefined;
  #pump: Promise<void> | undefined;
  #closed = false;
  #stats: LiveStats = {
    viewers: 0,
    peakViewers: 0,
    dropped: 0,
    opens: 0,
    bytesIn: 0,
    bytesOut: 0,
  };

  /** Creates the channel (opened now only when `alwaysOn`). */
  constructor(options: LiveChannelOptions) {
    this.name = options.name;
    this.#options = options;
    if (options.alwaysOn) this.#start();
  }

  /** Counters. */
  get stats(): LiveStats {
    return { ...this.#stats, viewers: this.#viewers.size };
  }

  /** Whether the source is open now. */
  get open(): boolean {
    return this.#abort !== undefined;
  }

  /** Adds a viewer; the source opens if it is the first. */
  subscribe(): Viewer {
    const viewer = new Viewer(this.#nextId++, this);
    if (this.#closed) {
      viewer._end("the server is shutting down");
      return viewer;
    }
    this.#viewers.add(viewer);
    this.#stats.peakViewers = Math.max(
      this.#stats.peakViewers,
      this.#viewers.size,
    );
    // Opening first resets the GOP cache: a GOP left from a previous run of
    // the source is stale, so the viewer waits for the new run's keyframe.
    if (!this.#abort) this.#start();
    const snapshot = this.#gop.snapshot();
    if (snapshot.length > 0) {
      viewer.synced = true;
      viewer._offer(snapshot, Infinity);
    }
    return viewer;
  }

  /** @internal Called by a viewer that closed. */
  _leave(viewer: Viewer): void {
    if (!this.#viewers.delete(viewer)) return;
    if (this.#viewers.size === 0 && !this.#options.alwaysOn) {
      this.#stop("the last viewer left");
    }
  }

  #start(): void {
    const abort = new AbortController();
    this.#abort = abort;
    this.#stats.opens++;
    this.#gop = new GopCache();
    this.#packetizer = new TsPacketizer();
    this.#options.log.info("live channel opened", { channel: this.name });
    this.#pump = this.#run(abort.signal);
  }

  #stop(why: string): void {
    if (!this.#abort) return;
    this.#options.log.info("live channel closed", {
      channel: this.name,
      reason: why,
    });
    this.#abort.abort();
    this.#abort = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    let ending = "the channel ended";
    try {
      for await (const chunk of this.#options.open(signal)) {
        if (signal.aborted) return;
        this.#stats.bytesIn += chunk.length;
        const packets = this.#packetizer.push(chunk);
        if (packets.length === 0) continue;
        for (const packet of packets) this.#gop.push(packet);
        this.#deliver(packets.length === 1 ? packets[0]! : concat(packets));
      }
    } catch (error) {
      if (signal.aborted) return;
      ending = `the channel's source failed: ${(error as Error).message}`;
      this.#options.log.warn("live source failed", {
        channel: this.name,
        error: (error as Error).message,
      });
    }
    if (signal.aborted) return;
    // The source ended on its own: every viewer is told, and a later viewer reopens it.
    for (const viewer of [...this.#viewers]) viewer._end(ending);
    this.#viewers.clear();
    this.#abort = undefined;
  }

  #deliver(bytes: Uint8Array): void {
    const max = this.#options.maxViewerQueue ?? DEFAULT_VIEWER_QUEUE;
    let snapshot: Uint8Array | undefined;
    for (const viewer of [...this.#viewers]) {
      let out = bytes;
      if (!viewer.synced) {
        // A viewer that joined before any keyframe starts at the first one.
        snapshot ??= this.#gop.snapshot();
        if (snapshot.length === 0) continue;
        viewer.synced = true;
        out = snapshot;
      }
      if (viewer._offer(out, max)) {
        this.#stats.bytesOut += out.length;
        continue;
      }
      this.#stats.dropped++;
      const reason =
        `dropped: fell more than ${max} bytes behind the live stream`;
      this.#options.log.warn("live viewer dropped", {
        channel: this.name,
        viewer: viewer.id,
        reason,
      });
      viewer._end(reason);
      this._leave(viewer);
    }
  }

  /** Ends every viewer and closes the source. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const viewer of [...this.#viewers]) {
      viewer._end("the server is shutting down");
    }
    this.#viewers.clear();
    this.#stop("shutting down");
    await this.#pump;
  }
}
