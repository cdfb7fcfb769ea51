/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766 §8): each message is preceded by
 * its length as a 2-byte big-endian integer. Pure: no I/O.
 *
 * @module
 */

import { DnsFormatError } from "./errors.ts";

/** The largest message a 2-byte length can frame. */
export const MAX_TCP_MESSAGE = 0xffff;

/**
 * Splits a TCP byte stream into DNS messages. It holds at most one
 * unfinished message (`maxMessage` + 2 bytes) plus the chunk being pushed.
 *
 * @example
 * ```ts
 * const reader = new TcpMessageReader();
 * for await (const chunk of conn.readable) {
 *   for (const message of reader.push(chunk)) answer(message);
 * }
 * ```
 */
export class TcpMessageReader {
  #max: number;
  #buf = new Uint8Array(0);
  #length = 0;
  /** Stream offset of `#buf[0]`, for error offsets. */
  #consumed = 0;
  #failure: DnsFormatError | undefined;

  /**
   * Creates a reader.
   *
   * @param maxMessage Largest message accepted, in bytes. Default 65535,
   *   which is every length the prefix can express.
   */
  constructor(maxMessage: number = MAX_TCP_MESSAGE) {
    if (!Number.isInteger(maxMessage) || maxMessage < 0) {
      throw new TypeError(
        `Cannot create TcpMessageReader: maxMessage ${maxMessage} is not a non-negative integer`,
      );
    }
    this.#max = maxMessage;
  }

  /** Bytes held that do not yet make a whole message. */
  get buffered(): number {
    return this.#length;
  }

  /**
   * The error that broke the stream, when it came after whole messages in
   * the same chunk: those were returned first, and the next `push` throws
   * this.
   */
  get failure(): DnsFormatError | undefined {
    return this.#failure;
  }

  /**
   * Adds a chunk and returns every message now complete, in order, each a
   * copy that stays valid after later pushes. Leftover bytes are kept for
   * the next push.
   *
   * Throws {@linkcode DnsFormatError} when a length prefix is over
   * `maxMessage`, as soon as the prefix is in: the stream cannot be
   * resynchronised after that, so the connection should close. Messages
   * before the bad prefix in the same chunk are returned first (pipelined
   * queries deserve their answers, RFC 7766 §6.2.1.1); the error is kept in
   * {@linkcode failure} and thrown by the next call.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure !== undefined) throw this.#failure;
    this.#append(chunk);
    const buf = this.#buf;
    const messages: Uint8Array[] = [];
    let at = 0;
    while (this.#length - at >= 2) {
      const size = ((buf[at] ?? 0) << 8) | (buf[at + 1] ?? 0);
      if (size > this.#max) {
        const error = new DnsFormatError(
          `Cannot read DNS message over TCP: length ${size} is over the limit of ${this.#max} bytes`,
          this.#consumed + at,
        );
        this.#buf = new Uint8Array(0);
        this.#length = 0;
        if (messages.length === 0) throw error;
        this.#failure = error;
        return messages;
      }
      if (this.#length - at - 2 < size) break;
      messages.push(buf.slice(at + 2, at + 2 + size));
      at += 2 + size;
    }
    if (at > 0) {
      buf.copyWithin(0, at, this.#length);
      this.#length -= at;
      this.#consumed += at;
    }
    return messages;
  }

  #append(chunk: Uint8Array): void {
    const needed = this.#length + chunk.length;
    if (needed > this.#buf.length) {
      // Grow geometrically so a message arriving byte by byte costs O(n).
      const next = new Uint8Array(Math.max(needed, this.#buf.length * 2, 512));
      next.set(this.#buf.subarray(0, this.#length));
      this.#buf = next;
    }
    this.#buf.set(chunk, this.#length);
    this.#length = needed;
  }
}

/**
 * Prefixes a message with its 2-byte big-endian length for TCP.
 *
 * @param message An encoded message.
 * @returns A new array: the length, then the message.
 * @throws {RangeError} When the message is over 65535 bytes; encode it
 *   with `maxSize: 65535` to stay within.
 *
 * @example
 * ```ts
 * frameTcp(new Uint8Array(29)).subarray(0, 2); // Uint8Array [0, 29]
 * ```
 */
export function frameTcp(message: Uint8Array): Uint8Array {
  if (message.length > MAX_TCP_MESSAGE) {
    throw new RangeError(
      `Cannot frame DNS message for TCP: it is ${message.length} bytes, over the limit of ${MAX_TCP_MESSAGE}`,
    );
  }
  const out = new Uint8Array(2 + message.length);
  out[0] = message.length >>> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}
