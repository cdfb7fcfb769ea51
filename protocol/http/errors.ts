/**
 * The one error class of the HTTP/1.1 codec. It carries the status code the
 * server answers with, so a server maps any parse failure to a reply in one
 * place.
 *
 * @module
 */

/**
 * Malformed or over-limit HTTP input.
 *
 * `status` is the response status to send (400, 413, 414, 431, 501, 505);
 * `offset` is where in the parsed input the problem was found, or 0 when the
 * problem has no single position (such as conflicting header fields).
 *
 * @example
 * ```ts
 * try {
 *   parseRequestHead(bytes, 0);
 * } catch (error) {
 *   if (error instanceof HttpParseError) reply(error.status, error.message);
 * }
 * ```
 */
export class HttpParseError extends Error {
  /** The HTTP status code that reports this error to the client. */
  readonly status: number;
  /** Byte offset of the problem in the input, or 0 when it has none. */
  readonly offset: number;

  /**
   * Creates the error.
   *
   * @param status The response status for this error.
   * @param message What failed, on what value, and the limit if one applies.
   * @param offset Where in the input the problem was found. Default 0.
   */
  constructor(status: number, message: string, offset = 0) {
    super(message);
    this.name = "HttpParseError";
    this.status = status;
    this.offset = offset;
  }
}
