/**
 * Helpers shared by the DNS codec tests. Wire bytes in tests are written as
 * hex by hand, not produced by the encoder, so a bug in the encoder cannot
 * hide a bug in the decoder. Pure: no Deno APIs, as everywhere in protocol/.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DnsFormatError } from "./errors.ts";
import type { DnsMessage, Flags } from "./message.ts";

/**
 * Bytes from hex text; whitespace is ignored, and `'…'` spans are ASCII
 * (`"07 'example' 03 'com' 00"`). The result is a view at byteOffset 3 of
 * a larger buffer, so code under test that ignores byteOffset fails.
 */
export function hex(text: string): Uint8Array {
  const out: number[] = [];
  const parts = text.split("'");
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      for (const char of part) out.push(char.charCodeAt(0));
      return;
    }
    const digits = part.replace(/\s+/g, "");
    if (!/^([0-9a-fA-F]{2})*$/.test(digits)) {
      throw new TypeError(`Cannot read hex: "${part}"`);
    }
    for (let j = 0; j < digits.length; j += 2) {
      out.push(parseInt(digits.slice(j, j + 2), 16));
    }
  });
  const buffer = new Uint8Array(out.length + 3);
  buffer.set(out, 3);
  return buffer.subarray(3);
}

/** `bytes` as spaced lowercase hex, for readable assertion failures. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** `parts` joined into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Flags all false and zero, with `overrides` applied. */
export function flags(overrides: Partial<Flags> = {}): Flags {
  return {
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    ...overrides,
  };
}

/** A message with empty sections and all flags clear, with `overrides`. */
export function message(overrides: Partial<DnsMessage> = {}): DnsMessage {
  return {
    id: 0,
    flags: flags(),
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
    ...overrides,
  };
}

/**
 * Runs `fn` and asserts it throws a {@linkcode DnsFormatError} whose message
 * matches `pattern`, at `offset` when given.
 */
export function assertFormatError(
  fn: () => unknown,
  pattern: RegExp,
  offset?: number,
): DnsFormatError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof DnsFormatError,
    `expected DnsFormatError, got ${caught}`,
  );
  assert.match(caught.message, pattern);
  assert.equal(caught.name, "DnsFormatError");
  assert.equal(caught.rcode, 1);
  if (offset !== undefined) assert.equal(caught.offset, offset, caught.message);
  return caught;
}
