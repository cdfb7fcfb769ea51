/**
 * A minimal ASN.1 DER writer (ITU-T X.690): just what an X.509 certificate
 * needs, so `--tls-self-signed` can make one with WebCrypto alone. Pure:
 * values in, bytes out.
 *
 * @example
 * ```ts
 * const name = seq(set(seq(oid("2.5.4.3"), utf8("localhost"))));
 * ```
 *
 * @module
 */

/** The DER encoding of a tag, a definite length and `content`. */
export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const length = lengthBytes(content.length);
  const out = new Uint8Array(1 + length.length + content.length);
  out[0] = tag;
  out.set(length, 1);
  out.set(content, 1 + length.length);
  return out;
}

function lengthBytes(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

function join(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** SEQUENCE of the given encodings. */
export function seq(...items: Uint8Array[]): Uint8Array {
  return tlv(0x30, join(items));
}

/** SET of the given encodings (in the order given: callers pass one item). */
export function set(...items: Uint8Array[]): Uint8Array {
  return tlv(0x31, join(items));
}

/**
 * INTEGER from a non-negative number or big-endian unsigned bytes; a
 * leading zero is added when the top bit is set, extra zeros removed.
 */
export function int(value: number | Uint8Array): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Cannot encode INTEGER ${value}`);
    }
    const list: number[] = [];
    for (let n = value; n > 0; n = Math.floor(n / 256)) list.unshift(n & 0xff);
    bytes = Uint8Array.from(list.length === 0 ? [0] : list);
  } else {
    let start = 0;
    while (start < value.length - 1 && value[start] === 0) start++;
    bytes = value.subarray(start);
  }
  if (bytes.length === 0) bytes = Uint8Array.of(0);
  if (bytes[0]! & 0x80) bytes = join([Uint8Array.of(0), bytes]);
  return tlv(0x02, bytes);
}

/** OBJECT IDENTIFIER from its dotted form, e.g. "1.2.840.10045.4.3.2". */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((a) => Number(a));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new RangeError(`Cannot encode OID "${dotted}"`);
  }
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) {
      chunk.unshift((n & 0x7f) | 0x80);
    }
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** NULL. */
export function nul(): Uint8Array {
  return Uint8Array.of(0x05, 0x00);
}

/** BOOLEAN. */
export function bool(value: boolean): Uint8Array {
  return Uint8Array.of(0x01, 0x01, value ? 0xff : 0x00);
}

/** BIT STRING of whole bytes (no unused bits). */
export function bitString(bytes: Uint8Array): Uint8Array {
  return tlv(0x03, join([Uint8Array.of(0), bytes]));
}

/** OCTET STRING. */
export function octetString(bytes: Uint8Array): Uint8Array {
  return tlv(0x04, bytes);
}

/** UTF8String. */
export function utf8(text: string): Uint8Array {
  return tlv(0x0c, new TextEncoder().encode(text));
}

/** UTCTime (years 1950–2049), as X.509 requires for those years. */
export function utcTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) {
    throw new RangeError(`Cannot encode ${year} as UTCTime`);
  }
  const two = (n: number) => String(n).padStart(2, "0");
  const text = `${two(year % 100)}${two(date.getUTCMonth() + 1)}${
    two(date.getUTCDate())
  }${two(date.getUTCHours())}${two(date.getUTCMinutes())}${
    two(date.getUTCSeconds())
  }Z`;
  return tlv(0x17, new TextEncoder().encode(text));
}

/** A context-specific tag `[n]`: constructed (explicit) or primitive (implicit). */
export function context(
  n: number,
  content: Uint8Array,
  constructed = true,
): Uint8Array {
  return tlv((constructed ? 0xa0 : 0x80) | n, content);
}

/**
 * An ECDSA signature in the DER form X.509 carries
 * (`SEQUENCE { r INTEGER, s INTEGER }`) from WebCrypto's raw `r || s`.
 */
export function ecdsaSignature(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return seq(int(raw.subarray(0, half)), int(raw.subarray(half)));
}

/** Base64 PEM armour around DER bytes. */
export function pem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${
    lines.join("\n")
  }\n-----END ${label}-----\n`;
}
