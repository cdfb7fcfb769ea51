/**
 * The encoder's growable buffer and name compressor. Internal to the DNS
 * codec.
 *
 * @module
 */

import { formatLabel, isPlainName, parseName } from "./name.ts";

const DOT = 0x2e;
const START_SIZE = 512;

/**
 * A start buffer handed from one finished Writer to the next, so encoding
 * a message does not allocate one: encoding is synchronous, and a Writer
 * that throws before {@linkcode Writer.finish} just keeps it (the next
 * Writer allocates).
 */
let spare: { buf: Uint8Array; view: DataView } | undefined;

/** Bytes written so far, growing geometrically, with a table of names. */
export class Writer {
  #buf: Uint8Array;
  #view: DataView;
  /**
   * Suffix key → offset of its first copy. The key is the suffix's
   * {@linkcode canonicalName}, so suffixes match without regard to case.
   */
  #names = new Map<string, number>();
  /** How many bytes are written. */
  length = 0;

  constructor() {
    const start = spare;
    spare = undefined;
    this.#buf = start?.buf ?? new Uint8Array(START_SIZE);
    this.#view = start?.view ?? new DataView(this.#buf.buffer);
  }

  /** Writes one byte. */
  u8(value: number): void {
    this.#reserve(1);
    this.#buf[this.length++] = value;
  }

  /** Writes a big-endian 16-bit integer. */
  u16(value: number): void {
    this.#reserve(2);
    this.#view.setUint16(this.length, value);
    this.length += 2;
  }

  /** Writes a big-endian 32-bit integer. */
  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.length, value);
    this.length += 4;
  }

  /** Writes `bytes` as they are. */
  bytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Overwrites the 16-bit integer at `at`, such as a length written late. */
  setU16(at: number, value: number): void {
    this.#view.setUint16(at, value);
  }

  /**
   * Writes a name given as text (see {@linkcode parseName}), compressed
   * (RFC 1035 §4.1.4): the longest suffix already written becomes a
   * pointer to it. Suffixes match without regard to ASCII case (RFC 4343),
   * so a suffix takes the case of its first copy, as in BIND. Suffixes
   * written below offset 0x4000 are remembered for later names; a pointer
   * cannot reach further.
   *
   * @throws {TypeError} As {@linkcode parseName} does.
   */
  name(text: string): void {
    if (!isPlainName(text)) {
      this.#labels(parseName(text));
      return;
    }
    // A plain name's bytes are its characters: no labels to build.
    const end = text.charCodeAt(text.length - 1) === DOT
      ? text.length - 1
      : text.length;
    // Its wire length is end + 2; parseName says what is wrong with it.
    if (end + 2 > 255) parseName(text);
    const lower = text.toLowerCase();
    for (let start = 0; start < end;) {
      const key = lower.slice(start, end);
      const earlier = this.#names.get(key);
      if (earlier !== undefined) {
        this.u16(0xc000 | earlier);
        return;
      }
      let dot = text.indexOf(".", start);
      if (dot < 0 || dot > end) dot = end;
      const length = dot - start;
      if (length > 63) parseName(text);
      if (this.length < 0x4000) this.#names.set(key, this.length);
      this.#reserve(length + 1);
      const buf = this.#buf;
      buf[this.length++] = length;
      for (let i = start; i < dot; i++) buf[this.length++] = text.charCodeAt(i);
      start = dot + 1;
    }
    this.u8(0);
  }

  /** {@linkcode name} for labels that are not plain text. */
  #labels(labels: readonly Uint8Array[]): void {
    const keys = suffixKeys(labels);
    for (let i = 0; i < labels.length; i++) {
      const key = keys[i] ?? "";
      const earlier = this.#names.get(key);
      if (earlier !== undefined) {
        this.u16(0xc000 | earlier);
        return;
      }
      if (this.length < 0x4000) this.#names.set(key, this.length);
      const label = labels[i] ?? new Uint8Array(0);
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
  }

  /**
   * A copy of the bytes written. This ends the Writer: its start buffer
   * goes to the next one.
   */
  finish(): Uint8Array {
    const bytes = this.#buf.slice(0, this.length);
    if (this.#buf.length === START_SIZE) {
      spare = { buf: this.#buf, view: this.#view };
    }
    return bytes;
  }

  #reserve(count: number): void {
    if (this.length + count <= this.#buf.length) return;
    const next = new Uint8Array(
      Math.max(this.length + count, this.#buf.length * 2),
    );
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
}

/**
 * For each label position, the canonical text of the suffix starting
 * there (ASCII lowercased, escaped as {@linkcode formatLabel} does): the
 * same key {@linkcode Writer.name} takes from a plain name's text.
 */
function suffixKeys(labels: readonly Uint8Array[]): string[] {
  const keys = new Array<string>(labels.length);
  let key = "";
  for (let i = labels.length - 1; i >= 0; i--) {
    const label = labels[i] ?? new Uint8Array(0);
    const part = formatLabel(
      label.map((byte) => byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte),
    );
    key = key === "" ? part : `${part}.${key}`;
    keys[i] = key;
  }
  return keys;
}

/**
 * Throws a TypeError unless `value` is an integer from 0 to `max`.
 *
 * @param what Names the value in the message, such as `"id"`.
 */
export function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new TypeError(
      `Cannot encode DNS message: ${what} ${value} is not an integer from 0 to ${max}`,
    );
  }
}
