/**
 * IP addresses in the text forms A and AAAA records carry: dotted quads and
 * RFC 4291 §2.2 IPv6 text, printed the RFC 5952 way. Pure: no I/O.
 *
 * @module
 */

const DOT = 0x2e;
const GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses a dotted quad.
 *
 * Leading zeros are refused (`"01.2.3.4"`): some parsers read them as
 * octal, so such text means different addresses to different programs.
 *
 * @param text Such as `"192.0.2.1"`.
 * @returns The 4 address bytes, or `undefined` when `text` is not a dotted
 *   quad of decimal numbers 0–255.
 *
 * @example
 * ```ts
 * parseIpv4("192.0.2.1"); // Uint8Array [192, 0, 2, 1]
 * parseIpv4("256.0.0.1"); // undefined
 * ```
 */
export function parseIpv4(text: string): Uint8Array | undefined {
  const value = parseIpv4Number(text);
  if (value === undefined) return undefined;
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/**
 * Parses a dotted quad into the address as one 32-bit number, the form an
 * encoder writes without allocating bytes. Accepts what
 * {@linkcode parseIpv4} accepts.
 *
 * @param text Such as `"192.0.2.1"`.
 * @returns The address, 0 to 2³²−1, or `undefined` when `text` is not a
 *   dotted quad of decimal numbers 0–255.
 *
 * @example
 * ```ts
 * parseIpv4Number("192.0.2.1"); // 0xc0000201
 * parseIpv4Number("1.2.3"); // undefined
 * ```
 */
export function parseIpv4Number(text: string): number | undefined {
  // A character loop, not a regular expression: every A record a server
  // sends is parsed here.
  if (text.length < 7 || text.length > 15) return undefined;
  let address = 0;
  let parts = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || parts > 3) return undefined;
      address = address * 256 + value;
      parts++;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return undefined;
      value = value * 10 + c - 0x30;
      digits++;
      if (value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return parts === 4 ? address : undefined;
}

/**
 * Formats 4 bytes as a dotted quad.
 *
 * @param bytes At least 4 bytes; the first 4 are used.
 * @returns Such as `"192.0.2.1"`.
 *
 * @example
 * ```ts
 * formatIpv4(new Uint8Array([127, 0, 0, 1])); // "127.0.0.1"
 * ```
 */
export function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * Parses IPv6 text (RFC 4291 §2.2): eight groups of 1–4 hex digits in any
 * case, at most one `::` standing for one or more zero groups, and an
 * optional dotted quad in place of the last two groups. Zone ids (`%eth0`)
 * are refused: they are not part of an address a record can hold.
 *
 * @param text Such as `"2001:db8::1"` or `"::ffff:192.0.2.1"`.
 * @returns The 16 address bytes, or `undefined` when `text` is not IPv6 text.
 *
 * @example
 * ```ts
 * parseIpv6("::1"); // 15 zero bytes, then 1
 * parseIpv6("1::2::3"); // undefined
 * ```
 */
export function parseIpv6(text: string): Uint8Array | undefined {
  let hex = text;
  if (text.includes(".")) {
    const lastColon = text.lastIndexOf(":");
    if (lastColon < 0) return undefined;
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    const high = ((v4[0] ?? 0) << 8) | (v4[1] ?? 0);
    const low = ((v4[2] ?? 0) << 8) | (v4[3] ?? 0);
    hex = `${text.slice(0, lastColon + 1)}${high.toString(16)}:${
      low.toString(16)
    }`;
  }
  const halves = hex.split("::");
  if (halves.length > 2) return undefined;
  const head = splitGroups(halves[0] ?? "");
  const tail = halves.length === 2 ? splitGroups(halves[1] ?? "") : [];
  if (head === undefined || tail === undefined) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  head.forEach((group, i) => view.setUint16(2 * i, group));
  tail.forEach((group, i) => view.setUint16(2 * (8 - tail.length + i), group));
  return out;
}

function splitGroups(part: string): number[] | undefined {
  if (part === "") return [];
  const groups: number[] = [];
  for (const group of part.split(":")) {
    if (!GROUP.test(group)) return undefined;
    groups.push(parseInt(group, 16));
  }
  return groups;
}

/**
 * Formats 16 bytes as IPv6 text the RFC 5952 way: lowercase hex without
 * leading zeros, the longest run of two or more zero groups (the first, on
 * a tie) written `::`, and IPv4-mapped addresses (`::ffff:0:0/96`) with the
 * IPv4 part as a dotted quad (RFC 5952 §5).
 *
 * @param bytes At least 16 bytes; the first 16 are used.
 * @returns Such as `"2001:db8::1"`.
 *
 * @example
 * ```ts
 * formatIpv6(parseIpv6("2001:0DB8:0:0:0:0:0:0001")!); // "2001:db8::1"
 * formatIpv6(parseIpv6("::ffff:c000:201")!); // "::ffff:192.0.2.1"
 * ```
 */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  }
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(bytes.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never shortened
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = (list: number[]) => list.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return text(groups);
  return `${text(groups.slice(0, bestStart))}::${
    text(groups.slice(bestStart + bestLength))
  }`;
}
