/**
 * The decoder's cursor helpers: bounds checks, compressed names, and one
 * way to fail that carries the header. Internal to the DNS codec.
 *
 * @module
 */

import { DnsFormatError } from "./errors.ts";
import type { Flags } from "./message.ts";
import { formatLabel, MAX_NAME_LENGTH } from "./name.ts";

/** A message being decoded; every read is bounds-checked before it is made. */
export class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly maxPointerJumps: number;
  /** Set once the header is read, so later errors carry the id. */
  header: { readonly id: number; readonly flags: Flags } | undefined;

  constructor(bytes: Uint8Array, maxPointerJumps: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxPointerJumps = maxPointerJumps;
  }

  /** Throws a {@linkcode DnsFormatError} about `state` found at `offset`. */
  fail(state: string, offset: number): never {
    throw new DnsFormatError(
      `Cannot decode DNS message: ${state}`,
      offset,
      this.header,
    );
  }

  /** Fails unless `count` bytes from `at` are in the message. */
  need(at: number, count: number, what: string): void {
    const left = this.bytes.length - at;
    if (count > left) {
      this.fail(
        `${what} at offset ${at} needs ${count} bytes, but the message has ${
          Math.max(left, 0)
        } left`,
        at,
      );
    }
  }

  /**
   * Reads the name at `at`, following compression pointers (RFC 1035
   * §4.1.4).
   *
   * A pointer must point before the start of the labels that led to it —
   * before the name itself, then before each earlier target — so every jump
   * goes strictly backward and no loop is possible; `maxPointerJumps` bounds
   * the work as well. The 255-byte limit counts the labels read through
   * pointers too.
   *
   * @returns The name's text and the offset after its in-place part.
   */
  name(at: number): { name: string; next: number } {
    const bytes = this.bytes;
    const start = at;
    let floor = at;
    let next = -1;
    let jumps = 0;
    let wireLength = 1;
    let text = "";
    for (;;) {
      this.need(at, 1, "name");
      const length = bytes[at] ?? 0;
      if (length === 0) {
        return { name: text, next: next < 0 ? at + 1 : next };
      }
      const kind = length & 0xc0;
      if (kind === 0xc0) {
        this.need(at, 2, "compression pointer");
        const target = ((length & 0x3f) << 8) | (bytes[at + 1] ?? 0);
        if (target >= floor) {
          this.fail(
            `compression pointer at offset ${at} points to offset ${target}, not back before offset ${floor}`,
            at,
          );
        }
        if (++jumps > this.maxPointerJumps) {
          this.fail(
            `name at offset ${start} follows more than ${this.maxPointerJumps} compression pointers`,
            at,
          );
        }
        if (next < 0) next = at + 2;
        floor = target;
        at = target;
        continue;
      }
      if (kind !== 0) {
        this.fail(
          `label length byte 0x${
            length.toString(16)
          } uses reserved label type 0x${
            kind.toString(16)
          } (a label is at most 63 bytes)`,
          at,
        );
      }
      wireLength += length + 1;
      if (wireLength > MAX_NAME_LENGTH) {
        this.fail(
          `name at offset ${start} is over the limit of ${MAX_NAME_LENGTH} bytes`,
          at,
        );
      }
      this.need(at + 1, length, "label");
      const label = formatLabel(bytes.subarray(at + 1, at + 1 + length));
      text = text === "" ? label : `${text}.${label}`;
      at += 1 + length;
    }
  }
}
