/**
 * The one error class of the DNS codec. It carries what a server needs to
 * answer FORMERR in one place: the rcode, and the query's id and flags when
 * the header could be read.
 *
 * @module
 */

import { RCODE } from "./constants.ts";
import type { Flags } from "./message.ts";

/**
 * A malformed DNS message, or one over a decode limit.
 *
 * `rcode` is the response code to answer with (always FORMERR); `offset`
 * is where in the message the problem was found; `id` and `header` are the
 * message's id and flags when its 12-byte header was there, so the reply
 * can echo them (RFC 1035 §4.1.1). Without them no reply can be matched to
 * the query, so a server drops the packet.
 *
 * @example
 * ```ts
 * try {
 *   decodeMessage(packet);
 * } catch (error) {
 *   if (error instanceof DnsFormatError && error.id !== undefined) {
 *     reply(error.id, error.rcode);
 *   }
 * }
 * ```
 */
export class DnsFormatError extends Error {
  /** The response code that reports this error: FORMERR. */
  readonly rcode: number = RCODE.FORMERR;
  /** Byte offset of the problem in the decoded message. */
  readonly offset: number;
  /** The message's id, if its header was readable. */
  readonly id: number | undefined;
  /** The message's flags, if its header was readable. */
  readonly header: Flags | undefined;

  /**
   * Creates the error.
   *
   * @param message What failed, on what value, and the limit if one applies.
   * @param offset Where in the message the problem was found.
   * @param header The message's id and flags, if its header was readable.
   */
  constructor(
    message: string,
    offset: number,
    header?: { readonly id: number; readonly flags: Flags },
  ) {
    super(message);
    this.name = "DnsFormatError";
    this.offset = offset;
    this.id = header?.id;
    this.header = header?.flags;
  }
}
