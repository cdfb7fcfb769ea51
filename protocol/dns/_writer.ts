/**
 * The encoder's growable buffer and name compressor. Internal to the DNS
 * codec.
 *
 * @module
 */

/** Bytes written so far, growing geometrically, with a table of names. */
export class Writer {
  #buf = new Uint8Array(512);
  #view = new DataView(this.#buf.buffer);
  /** Suffix key (see {@linkcode suffixKeys}) → offset of its first copy. */
  #names = new Map<string, number>();
  /** How many bytes are written. */
  length = 0;

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
   * Writes a name, compressed (RFC 1035 §4.1.4): the longest suffix already
   * written becomes a pointer to it. Suffixes match without regard to ASCII
   * case (RFC 4343), so a suffix takes the case of its first copy, as in
   * BIND. Suffixes written below offset 0x4000 are remembered for later
   * names; a pointer cannot reach further.
   */
  name(labels: readonly Uint8Array[]): void {
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

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.length);
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
 * For each label position, a string that identifies the suffix starting
 * there: each label's length as one char, then its bytes lowercased, one
 * char per byte.
 */
function suffixKeys(labels: readonly Uint8Array[]): string[] {
  const keys = new Array<string>(labels.length);
  let key = "";
  for (let i = labels.length - 1; i >= 0; i--) {
    const label = labels[i] ?? new Uint8Array(0);
    let part = String.fromCharCode(label.length);
    for (const byte of label) {
      part += String.fromCharCode(
        byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte,
      );
    }
    key = part + key;
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
