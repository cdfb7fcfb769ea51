/**
 * An error that knows its wire form: a registry error code, a message, and
 * optionally the request id and a column. Services throw it; the server host
 * turns any of them into an `error` frame in one place.
 *
 * @module
 */

import { encodeMessage } from "./message.ts";
import { type ErrorName, errorName, ERRORS } from "./registry.ts";

/**
 * A failure to report to the peer as an `error` frame.
 *
 * @example
 * ```ts
 * throw new ProtocolError("calc_syntax", "unexpected ')' at column 7", { column: 7 });
 * ```
 */
export class ProtocolError extends Error {
  /** Registry error name. */
  readonly code: ErrorName;
  /** 1-based column in the request text, when the error has one. */
  readonly column: number | undefined;

  /** Creates the error. */
  constructor(
    code: ErrorName,
    message: string,
    options: { column?: number } = {},
  ) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.column = options.column;
  }

  /** Whether the connection must be closed after reporting this error. */
  get fatal(): boolean {
    return FATAL.has(this.code);
  }

  /** The `error` frame for this error, answering request `id` if given. */
  toFrame(id?: number): Uint8Array {
    return encodeMessage("error", {
      ...(id !== undefined ? { id } : {}),
      code: ERRORS[this.code].code,
      message: this.message,
      ...(this.column !== undefined ? { column: this.column } : {}),
    });
  }
}

/** Errors after which a connection cannot continue. */
const FATAL: ReadonlySet<ErrorName> = new Set<ErrorName>([
  "bad_frame",
  "frame_too_large",
  "too_many_fields",
  "too_deep",
  "hello_required",
  "version_unsupported",
  "wrong_service",
  "idle_timeout",
  "server_busy",
  "shutting_down",
]);

/**
 * Whether a connection is closed after reporting error `code`.
 *
 * @example
 * ```ts
 * isFatal("bad_frame"); // true
 * isFatal("calc_math"); // false
 * ```
 */
export function isFatal(code: ErrorName): boolean {
  return FATAL.has(code);
}

/**
 * An `error` frame received from the peer, as an exception a client can
 * throw or inspect.
 */
export class RemoteError extends Error {
  /** Numeric wire code. */
  readonly code: number;
  /** Registry name of the code, or `undefined` for a code this build does not know. */
  readonly codeName: ErrorName | undefined;
  /** Column, when the server reported one. */
  readonly column: number | undefined;

  /** Creates the error from the fields of an `error` frame. */
  constructor(fields: { code: number; message: string; column?: number }) {
    super(fields.message);
    this.name = "RemoteError";
    this.code = fields.code;
    this.codeName = errorName(fields.code);
    this.column = fields.column;
  }
}
