/**
 * IP addresses in the text forms A and AAAA records carry: dotted quads and
 * RFC 4291 §2.2 IPv6 text, printed the RFC 5952 way. Pure: no I/O.
 *
 * @module
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
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
  const match = IPV4.exec(text);
  if (match === null) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = match[i + 1] ?? "";
    if (part.length > 1 && part.startsWith("0")) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
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
