/**
 * Byte ranges (RFC 9110 §14): the Range request field and the
 * Content-Range response field, for single-range requests.
 *
 * @module
 */

import { trimOws } from "./_syntax.ts";

const RANGE_SPEC = /^(\d*)[ \t]*-[ \t]*(\d*)$/;

/**
 * Reads a Range header for a representation of `size` bytes.
 *
 * Accepts one byte range: `bytes=0-99`, `bytes=100-` (to the end) or
 * `bytes=-500` (the last 500 bytes). The unit is case-insensitive and empty
 * list elements are ignored (`bytes=0-99,`).
 *
 * @returns
 * - `{ start, end }` (end inclusive, clamped to `size - 1`) for a
 *   satisfiable range: answer 206 with {@linkcode contentRange}.
 * - `"unsatisfiable"` when the first byte is at or past `size`, the suffix
 *   length is 0, or `size` is 0: answer 416 with
 *   {@linkcode unsatisfiedRange}.
 * - `undefined` when the header must be ignored and the whole
 *   representation sent with 200: another unit, a malformed value, a range
 *   whose last byte is before its first, or several ranges (sending the
 *   whole representation instead is allowed by RFC 9110 §14.2).
 *
 * @example
 * ```ts
 * parseRange("bytes=0-99", 1000); // { start: 0, end: 99 }
 * parseRange("bytes=-500", 100); // { start: 0, end: 99 }
 * parseRange("bytes=1000-", 1000); // "unsatisfiable"
 * parseRange("bytes=0-1,5-6", 1000); // undefined
 * ```
 */
export function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const text = trimOws(header);
  const eq = text.indexOf("=");
  if (eq < 0 || trimOws(text.slice(0, eq)).toLowerCase() !== "bytes") {
    return undefined;
  }
  const specs = text.slice(eq + 1).split(",").map(trimOws).filter((s) =>
    s !== ""
  );
  if (specs.length !== 1) return undefined;
  const match = RANGE_SPEC.exec(specs[0]!);
  if (match === null) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "") {
    if (last === "") return undefined;
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return { start, end };
}

/**
 * The Content-Range value of a 206 response (RFC 9110 §14.4).
 *
 * @param start First byte sent.
 * @param end Last byte sent, inclusive.
 * @param size Length of the whole representation.
 *
 * @example
 * ```ts
 * contentRange(0, 99, 1000); // "bytes 0-99/1000"
 * ```
 */
export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}

/**
 * The Content-Range value of a 416 response (RFC 9110 §14.4).
 *
 * @example
 * ```ts
 * unsatisfiedRange(1000); // "bytes *\/1000"
 * ```
 */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}
