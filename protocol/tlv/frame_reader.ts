/**
 * A streaming frame reader: TCP delivers bytes in arbitrary pieces, so it
 * keeps the leftover of each chunk and yields whole frames.
 *
 * @module
 */

import { HEADER_LENGTH } from "./registry.ts";
import {
  decodeFrame,
  DEFAULT_LIMITS,
  type Frame,
  type TlvLimits,
} from "./frame.ts";

const EMPTY = new Uint8Array(0);

/** Frames up to this size (header included) are held in reused buffers. */
const SMALL_FRAME = 4096;

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
  /** Where the bytes of an incomplete frame are held (`#end` of them). */
  #buf: Uint8Array = EMPTY;
  #end = 0;
  /** The reused buffers for small frames: at most two. */
  #smalls: Uint8Array[] = [];
  /** The small buffer a frame returned by this push lies in. */
  #lent: Uint8Array | undefined;
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
    return this.#end;
  }

  /**
   * Adds a chunk and returns every frame now complete, in order.
   *
   * A large frame that was completed from bytes held since an earlier
   * chunk is `owned`: its body is in an array of its own that the reader
   * never writes again. The other frames' bodies are views, of `chunk` or
   * of a small buffer the reader reuses, valid only until the next call and
   * while `chunk` is unchanged: decode them first. Frames in `chunk` are
   * owned when the caller says it never writes `chunk` again.
   *
   * Throws `TlvDecodeError` on a frame over the limit; the stream cannot be
   * resynchronised after that. Frames before the bad one in the same chunk
   * are still returned (pipelined requests deserve their answers); the
   * error is then kept in {@linkcode failure} and thrown by the next call.
   *
   * @param chunk The next bytes of the stream.
   * @param options `owned: true` when the caller will never write `chunk`
   * again (a fresh read buffer), so frames in it can be kept without a copy.
   */
  push(chunk: Uint8Array, options: { owned?: boolean } = {}): Frame[] {
    if (this.#failure) throw this.#failure;
    const frames: Frame[] = [];
    this.#lent = undefined;
    let at = 0;
    // First complete the frame held from earlier chunks, taking from this
    // chunk only the bytes it lacks: the rest is parsed where it lies.
    while (this.#end > 0) {
      if (at === chunk.length) return frames;
      const need = this.#lacking();
      if (need > 0) {
        const take = Math.min(need, chunk.length - at);
        this.#append(chunk.subarray(at, at + take));
        at += take;
      }
      let decoded;
      try {
        decoded = decodeFrame(
          this.#buf.subarray(0, this.#end),
          0,
          this.#limits,
        );
      } catch (error) {
        return this.#fail(error as Error, frames);
      }
      if (decoded === undefined) continue;
      if (this.#smalls.includes(this.#buf)) {
        // Lent until the next push: bytes held from now on go to the other.
        frames.push(decoded.frame);
        this.#lent = this.#buf;
      } else {
        frames.push({ ...decoded.frame, owned: true });
      }
      this.#buf = EMPTY;
      this.#end = 0;
    }
    const owned = options.owned === true;
    for (;;) {
      let decoded;
      try {
        decoded = decodeFrame(chunk, at, this.#limits);
      } catch (error) {
        return this.#fail(error as Error, frames);
      }
      if (decoded === undefined) break;
      frames.push(owned ? { ...decoded.frame, owned } : decoded.frame);
      at = decoded.next;
    }
    if (at < chunk.length) this.#append(chunk.subarray(at));
    return frames;
  }

  /** Bytes the held frame still lacks (its header first); 0 = over limit. */
  #lacking(): number {
    if (this.#end < HEADER_LENGTH) return HEADER_LENGTH - this.#end;
    const length = frameLength(this.#buf, 0);
    // Over the limit: decodeFrame reports it without anything appended.
    if (length > this.#limits.maxFrameLength) return 0;
    return HEADER_LENGTH + length - this.#end;
  }

  #fail(error: Error, frames: Frame[]): Frame[] {
    if (frames.length === 0) throw error;
    this.#failure = error;
    this.#end = 0;
    return frames;
  }

  /**
   * Holds `bytes` after those held. A small frame is held in one of two
   * reused buffers (one may be lent to a frame just returned); a large one,
   * once its header tells its size, in an array of exactly that size that
   * is handed over with the frame.
   */
  #append(bytes: Uint8Array): void {
    const held = this.#end;
    const needed = held + bytes.length;
    if (needed > this.#buf.length) {
      let size = needed;
      if (needed >= HEADER_LENGTH) {
        const header = new Uint8Array(HEADER_LENGTH);
        header.set(this.#buf.subarray(0, Math.min(held, HEADER_LENGTH)));
        if (held < HEADER_LENGTH) {
          header.set(bytes.subarray(0, HEADER_LENGTH - held), held);
        }
        const length = frameLength(header, 0);
        if (length <= this.#limits.maxFrameLength) {
          size = Math.max(needed, HEADER_LENGTH + length);
        }
      }
      const next = size <= SMALL_FRAME
        ? this.#smallBuffer()
        : new Uint8Array(size);
      next.set(this.#buf.subarray(0, held));
      this.#buf = next;
    }
    this.#buf.set(bytes, held);
    this.#end = needed;
  }

  /** The reused small buffer that is not lent to a returned frame. */
  #smallBuffer(): Uint8Array {
    const free = this.#smalls.find((b) => b !== this.#lent);
    if (free !== undefined) return free;
    const fresh = new Uint8Array(SMALL_FRAME);
    this.#smalls.push(fresh);
    return fresh;
  }
}

/** The length field of the frame header at `at` (6 bytes must be there). */
function frameLength(bytes: Uint8Array, at: number): number {
  return bytes[at + 2]! * 0x1000000 +
    ((bytes[at + 3]! << 16) | (bytes[at + 4]! << 8) | bytes[at + 5]!);
}
