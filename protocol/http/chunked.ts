/**
 * The chunked transfer coding (RFC 9112 §7.1), decoded incrementally: a
 * state machine over bytes that keeps no input between calls, so it needs no
 * buffer of its own however the body is split.
 *
 * @module
 */

import { CR, HTAB, isFieldValueByte, LF, SP, TCHAR } from "./_syntax.ts";
import { HttpParseError } from "./errors.ts";

/** Options of {@linkcode ChunkedDecoder}; each has a documented default. */
export interface ChunkedDecoderOptions {
  /**
   * Most body bytes (chunk data, summed). Default `Infinity`. A chunk size
   * that would go beyond it throws {@linkcode HttpParseError} 413 as soon
   * as its size line is read, before its data arrives.
   */
  maxBodyBytes?: number;
  /**
   * Longest chunk-size line (extensions included) or trailer field line, in
   * bytes without the line end. Default 4096; a longer one throws 400.
   */
  maxLineBytes?: number;
  /**
   * Largest trailer section in bytes, line ends included. Default 16384; a
   * larger one throws 431 (Request Header Fields Too Large).
   */
  maxTrailerBytes?: number;
}

const enum State {
  /** Hex digits of a chunk size; at least one seen when `#digits > 0`. */
  Size,
  /** After BWS following the size: only ";" may come. */
  SizeSpace,
  /** Inside chunk extensions, which are skipped. */
  Extension,
  /** CR of a size line seen; LF must follow. */
  SizeLf,
  /** Inside chunk data. */
  Data,
  /** After chunk data: CRLF or LF must follow. */
  DataEnd,
  /** CR after chunk data seen; LF must follow. */
  DataLf,
  /** At the start of a trailer line or of the final empty line. */
  TrailerStart,
  /** Inside a trailer field name. */
  TrailerName,
  /** Inside a trailer field value. */
  TrailerValue,
  /** CR of a trailer line seen; LF must follow. */
  TrailerLf,
  /** CR of the final empty line seen; LF must follow. */
  FinalLf,
  /** The body is complete. */
  Done,
}

/**
 * Decodes a chunked request body fed in pieces of any size: chunk-size in
 * hex with optional `;extensions` (ignored), line end, data, line end, and
 * so on up to the last chunk (size 0), optional trailer fields (checked for
 * syntax and size, then ignored), and the final empty line. Line ends may be
 * CRLF or bare LF.
 *
 * Errors are {@linkcode HttpParseError}s with `offset` counted from the
 * first byte ever pushed: 400 for malformed input or an over-long line, 413
 * when the body would exceed `maxBodyBytes` (or 2^53 − 1), 431 when the
 * trailer section exceeds `maxTrailerBytes`. After an error the decoder is
 * broken: every later `push` throws the same error.
 *
 * @example
 * ```ts
 * const decoder = new ChunkedDecoder({ maxBodyBytes: 1 << 20 });
 * const bytes = new TextEncoder().encode("5\r\nhello\r\n0\r\n\r\nGET /next");
 * const { data, consumed, done } = decoder.push(bytes);
 * // data: [ "hello" ], consumed: 15, done: true; bytes 15.. are the next request
 * ```
 */
export class ChunkedDecoder {
  #maxBodyBytes: number;
  #maxLineBytes: number;
  #maxTrailerBytes: number;
  #state: State = State.Size;
  #digits = 0;
  #size = 0;
  #remaining = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  #bodyBytes = 0;
  #position = 0;
  #failure: HttpParseError | undefined;

  /** Creates a decoder with the given limits. */
  constructor(options: ChunkedDecoderOptions = {}) {
    this.#maxBodyBytes = options.maxBodyBytes ?? Infinity;
    this.#maxLineBytes = options.maxLineBytes ?? 4096;
    this.#maxTrailerBytes = options.maxTrailerBytes ?? 16384;
  }

  /** Body bytes decoded so far. */
  get bodyBytes(): number {
    return this.#bodyBytes;
  }

  /** Whether the final empty line has been read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /**
   * Feeds `bytes` and decodes as far as they go.
   *
   * @returns `data`: the body bytes found, as copies (the caller may reuse
   *   `bytes` at once); `consumed`: how many bytes of `bytes` belong to the
   *   chunked body; `done`: whether the body is complete. When `done`, the
   *   bytes after `consumed` belong to the next request; otherwise all of
   *   `bytes` was consumed. Once done, `push` consumes nothing.
   */
  push(
    bytes: Uint8Array,
  ): { data: Uint8Array[]; consumed: number; done: boolean } {
    if (this.#failure !== undefined) throw this.#failure;
    const data: Uint8Array[] = [];
    let i = 0;
    try {
      while (i < bytes.length && this.#state !== State.Done) {
        if (this.#state === State.Data) {
          const n = Math.min(this.#remaining, bytes.length - i);
          data.push(bytes.slice(i, i + n));
          this.#remaining -= n;
          this.#bodyBytes += n;
          i += n;
          if (this.#remaining === 0) this.#state = State.DataEnd;
        } else {
          this.#step(bytes[i]!, i);
          i++;
        }
      }
    } catch (error) {
      this.#failure = error as HttpParseError;
      throw error;
    }
    this.#position += i;
    return { data, consumed: i, done: this.#state === State.Done };
  }

  #step(b: number, i: number): void {
    switch (this.#state) {
      case State.Size: {
        const digit = hexValue(b);
        if (digit >= 0) {
          this.#line(i);
          this.#digits++;
          this.#size = this.#size * 16 + digit;
          if (this.#bodyBytes + this.#size > this.#maxBodyBytes) {
            throw this.#error(
              413,
              `Cannot accept chunked body: a chunk of ${
                this.#size > Number.MAX_SAFE_INTEGER ? "over 2^53" : this.#size
              } bytes after ${this.#bodyBytes} would exceed the limit of ${this.#maxBodyBytes} bytes`,
              i,
            );
          }
          if (this.#size > Number.MAX_SAFE_INTEGER) {
            throw this.#error(
              413,
              "Cannot accept chunked body: a chunk size is over 2^53 bytes",
              i,
            );
          }
          return;
        }
        if (this.#digits === 0) {
          throw this.#error(
            400,
            `Cannot parse chunk size: ${
              describe(b)
            } where a hex digit was expected`,
            i,
          );
        }
        if (b === SP || b === HTAB) {
          this.#line(i);
          this.#state = State.SizeSpace;
        } else if (b === 0x3b) {
          this.#line(i);
          this.#state = State.Extension;
        } else this.#sizeLineEnd(b, i);
        return;
      }
      case State.SizeSpace:
        this.#line(i);
        if (b === 0x3b) this.#state = State.Extension;
        else if (b !== SP && b !== HTAB) {
          throw this.#error(
            400,
            `Cannot parse chunk size: ${
              describe(b)
            } after the size, where ";" was expected`,
            i,
          );
        }
        return;
      case State.Extension:
        if (b === CR || b === LF) this.#sizeLineEnd(b, i);
        else if (isFieldValueByte(b)) this.#line(i);
        else {
          throw this.#error(
            400,
            `Cannot parse chunk extension: control byte 0x${hex2(b)}`,
            i,
          );
        }
        return;
      case State.SizeLf:
        if (b !== LF) throw this.#bareCr(i - 1);
        this.#chunkStart();
        return;
      case State.DataEnd:
        if (b === CR) this.#state = State.DataLf;
        else if (b === LF) this.#state = State.Size;
        else {
          throw this.#error(
            400,
            `Cannot parse chunked body: ${
              describe(b)
            } after chunk data, where a line end was expected`,
            i,
          );
        }
        return;
      case State.DataLf:
        if (b !== LF) throw this.#bareCr(i - 1);
        this.#state = State.Size;
        return;
      case State.TrailerStart:
        if (b === LF) this.#state = State.Done;
        else if (b === CR) this.#state = State.FinalLf;
        else if (b === SP || b === HTAB) {
          throw this.#error(
            400,
            "Cannot parse trailer field: a line starts with whitespace (obsolete line folding is not accepted)",
            i,
          );
        } else {
          this.#state = State.TrailerName;
          this.#step(b, i);
        }
        return;
      case State.TrailerName:
        this.#trailer(i);
        if (TCHAR[b] === 1) return;
        if (b === 0x3a && this.#lineBytes > 1) {
          this.#state = State.TrailerValue;
          return;
        }
        throw this.#error(
          400,
          `Cannot parse trailer field: ${
            b === 0x3a
              ? "the name is empty"
              : b === CR || b === LF
              ? "it has no colon"
              : `${describe(b)} in its name`
          }`,
          i,
        );
      case State.TrailerValue:
        if (b === CR || b === LF) {
          this.#trailerBytes++;
          if (b === CR) this.#state = State.TrailerLf;
          else this.#trailerLineEnd();
        } else if (isFieldValueByte(b)) this.#trailer(i);
        else {
          throw this.#error(
            400,
            `Cannot parse trailer field: control byte 0x${
              hex2(b)
            } in its value`,
            i,
          );
        }
        return;
      case State.TrailerLf:
        this.#trailerBytes++;
        if (b !== LF) throw this.#bareCr(i - 1);
        this.#trailerLineEnd();
        return;
      case State.FinalLf:
        if (b !== LF) throw this.#bareCr(i - 1);
        this.#state = State.Done;
        return;
    }
  }

  /** Counts one byte of a size line against `maxLineBytes`. */
  #line(i: number): void {
    if (++this.#lineBytes > this.#maxLineBytes) {
      throw this.#error(
        400,
        `Cannot parse chunk size line: it is longer than the limit of ${this.#maxLineBytes} bytes`,
        i,
      );
    }
  }

  /** Counts one byte of a trailer line against both limits. */
  #trailer(i: number): void {
    if (++this.#trailerBytes > this.#maxTrailerBytes) {
      throw this.#error(
        431,
        `Cannot accept trailer fields: they are larger than the limit of ${this.#maxTrailerBytes} bytes`,
        i,
      );
    }
    if (++this.#lineBytes > this.#maxLineBytes) {
      throw this.#error(
        400,
        `Cannot parse trailer field: its line is longer than the limit of ${this.#maxLineBytes} bytes`,
        i,
      );
    }
  }

  #sizeLineEnd(b: number, i: number): void {
    if (b === CR) this.#state = State.SizeLf;
    else if (b === LF) this.#chunkStart();
    else {
      throw this.#error(
        400,
        `Cannot parse chunk size: ${describe(b)} after the size`,
        i,
      );
    }
  }

  #chunkStart(): void {
    this.#lineBytes = 0;
    if (this.#size === 0) {
      this.#state = State.TrailerStart;
    } else {
      this.#remaining = this.#size;
      this.#state = State.Data;
    }
    this.#size = 0;
    this.#digits = 0;
  }

  #trailerLineEnd(): void {
    this.#lineBytes = 0;
    this.#state = State.TrailerStart;
  }

  #bareCr(i: number): HttpParseError {
    return this.#error(
      400,
      "Cannot parse chunked body: a CR is not followed by LF",
      i,
    );
  }

  #error(status: number, message: string, i: number): HttpParseError {
    return new HttpParseError(status, message, this.#position + i);
  }
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

function describe(b: number): string {
  return b >= 0x21 && b <= 0x7e
    ? JSON.stringify(String.fromCharCode(b))
    : `byte 0x${hex2(b)}`;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}
