/**
 * Helpers shared by the HTTP codec tests. Pure: no Deno APIs, as everywhere
 * in protocol/.
 *
 * @module
 */

import assert from "node:assert/strict";
import { HttpParseError } from "./errors.ts";

/**
 * `text` as bytes, one byte per char (ISO-8859-1), so tests can write any
 * byte, obs-text included, as `"\x80"`. Throws on a char above U+00FF.
 *
 * @example
 * ```ts
 * bytes("GET / HTTP/1.1\r\n\r\n");
 * ```
 */
export function bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new RangeError(`char U+${code.toString(16)}`);
    out[i] = code;
  }
  return out;
}

/**
 * `parts` joined into one array at byteOffset 3 of a larger buffer, never
 * at 0, so code under test that ignores byteOffset fails.
 */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(3 + length);
  let at = 3;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.subarray(3);
}

/**
 * `data` cut into pieces whose sizes cycle through `sizes` (the last piece
 * may be shorter); an empty `sizes` gives `data` whole. Pieces are views.
 */
export function split(
  data: Uint8Array,
  sizes: readonly number[],
): Uint8Array[] {
  if (sizes.length === 0) return [data];
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    out.push(data.subarray(at, at + size));
    at += size;
  }
  return out;
}

/**
 * Asserts that `fn` throws an {@linkcode HttpParseError} with `status`
 * (and `offset`, when given), and returns it.
 */
export function assertHttpError(
  fn: () => unknown,
  status: number,
  offset?: number,
): HttpParseError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof HttpParseError,
    `expected HttpParseError ${status}, got ${caught}`,
  );
  assert.equal(caught.status, status, caught.message);
  assert.equal(caught.name, "HttpParseError");
  assert.match(caught.message, /^Cannot /);
  if (offset !== undefined) assert.equal(caught.offset, offset, caught.message);
  return caught;
}
