/**
 * Nicknames and room names: what is allowed, and the key that makes two
 * spellings the same name (`Alice` and `alice` are one nickname).
 *
 * @module
 */

import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";

/** Longest nickname or room name, in characters. */
export const MAX_NAME_LENGTH = 32;

/**
 * Letters and digits of any script, `_` and `-`: a Korean nickname works,
 * while spaces, `@` (kept for `@server`) and control characters that could
 * garble a terminal do not.
 */
const NAME = /^[\p{L}\p{N}_-]+$/u;

/** Which kind of name is checked, for the error message. */
export type NameKind = "nickname" | "room name";

/**
 * Returns `name` in the form it is kept in (Unicode NFC), or throws
 * {@linkcode ProtocolError} `bad_name` saying what is allowed.
 *
 * @example
 * ```ts
 * checkName("alice", "nickname"); // "alice"
 * checkName("a b", "nickname");   // throws bad_name
 * ```
 */
export function checkName(name: string, kind: NameKind): string {
  const normal = name.normalize("NFC");
  const length = [...normal].length;
  if (length === 0 || length > MAX_NAME_LENGTH || !NAME.test(normal)) {
    throw new ProtocolError(
      "bad_name",
      `Cannot use ${
        JSON.stringify(name)
      } as a ${kind}: use 1–${MAX_NAME_LENGTH} letters, digits, _ or -`,
    );
  }
  return normal;
}

/**
 * The key two spellings of one name share: case folded, so uniqueness and
 * lookups ignore case.
 *
 * @example
 * ```ts
 * nameKey("Alice") === nameKey("ALICE"); // true
 * ```
 */
export function nameKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}
