/**
 * A streaming frame reader: TCP delivers bytes in arbitrary pieces, so it
 * keeps the leftover of each chunk and yields whole frames.
 *
 * @module
 */

import {
  decodeFrame,
  DEFAULT_LIMITS,
  type Frame,
  type TlvLimits,
} from "./frame.ts";

const EMPTY = new Uint8Array(0);
const RETAIN_LIMIT = 256 * 1024;

/**
 * Splits a byte stream into frames. Memory is bounded by one frame
 * (`maxFrameLength` plus header) plus one chunk.
 *
 * @example
 * ```ts
 * const reader = new FrameReader();
 * for (const chunk of chunks) {
 *   for (const frame of reader.push(chunk)) handle(frame);
 * }
 * ```
 */
export class FrameReader {
  #limits: Pick<TlvLimits, "maxFrameLength">;
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #failure: Error | undefined;

  /** Creates a reader enforcing `limits.maxFrameLength`. */
  constructor(limits: Pick<TlvLimits, "maxFrameLength"> = DEFAULT_LIMITS) {
    this.#limits = limits;
  }

  /**
   * The error that broke the stream, when it came after good frames in the
   * same chunk: those frames were returned first, and the next `push`
   * throws this.
   */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Bytes held that do not yet make a whole frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Adds a chunk and returns every frame now complete, in order.
   *
   * The returned frames' bodies are views that stay valid only until the next
   * call to `push` and only while `chunk` is unchanged: decode them first.
   * Throws `TlvDecodeError` on a frame over the limit; the stream cannot be
   * resynchronised after that. Frames before the bad one in the same chunk
   * are still returned (pipelined requests deserve their answers); the
   * error is then kept in {@linkcode failure} and thrown by the next call.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#failure) throw this.#failure;
    const frames: Frame[] = [];
    let data: Uint8Array;
    let at: number;
    if (this.#end === this.#start) {
      // Nothing pending: parse the caller's chunk in place, copy only the tail.
      data = chunk;
      at = 0;
    } else {
      this.#append(chunk);
      data = this.#buf.subarray(0, this.#end);
      at = this.#start;
    }
    for (;;) {
      let decoded;
      try {
        decoded = decodeFrame(data, at, this.#limits);
      } catch (error) {
        if (frames.length === 0) throw error;
        this.#failure = error as Error;
        this.#start = this.#end = 0;
        return frames;
      }
      if (decoded === undefined) break;
      frames.push(decoded.frame);
      at = decoded.next;
    }
    if (data === chunk) {
      this.#start = 0;
      this.#end = 0;
      if (at < chunk.length) this.#append(chunk.subarray(at));
    } else {
      this.#start = at;
      if (this.#start === this.#end) {
        this.#start = this.#end = 0;
        // One large frame must not pin its buffer for the connection's life.
        if (this.#buf.length > RETAIN_LIMIT) this.#buf = EMPTY;
      }
    }
    return frames;
  }

  #append(bytes: Uint8Array): void {
    const pending = this.#end - this.#start;
    const needed = pending + bytes.length;
    if (this.#end + bytes.length > this.#buf.length) {
      if (needed > this.#buf.length || this.#start === 0) {
        // Grow geometrically so a large frame in many pieces costs O(n).
        const next = new Uint8Array(
          Math.max(needed, this.#buf.length * 2, 4096),
        );
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      } else {
        // Frames handed out by the previous push are dead now; reuse space.
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = pending;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }
}
