/**
 * The socklab pseudo-header: 40 bytes in front of every TLV frame in a
 * `--pcap-out` capture (link type USER0), saying which way the frame went,
 * between which addresses and ports, over which transport. A role sees
 * frames, not packets, so this stands in for the IP and TCP/UDP headers
 * a real capture would have. Big-endian, like the TLV protocol.
 *
 * ```text
 * byte  0        1          2          3
 *     +--------+----------+----------+--------+
 *   0 | version| direction| transport| family |
 *     +--------+----------+----------+--------+
 *   4 |  source port      | destination port  |
 *     +-------------------+-------------------+
 *   8 |  source address (16 bytes; IPv4 in the first 4, rest zero)
 *  24 |  destination address (16 bytes)
 *  40 |  the whole TLV frame: type u16, length u32, body
 * ```
 *
 * - version: 1.
 * - direction: 0 sent by the role that wrote the file, 1 received by it.
 * - transport: 0 unknown, 1 TCP, 2 UDP, 3 TLS (the frame as it travels
 *   inside the TLS connection, decrypted).
 * - family: 4 (IPv4) or 6 (IPv6) for both addresses; an IPv4 peer of an
 *   IPv6 socket is written IPv4-mapped. A host name that is not an address
 *   is written as the unspecified address (all zero).
 *
 * Pure: no I/O.
 *
 * @module
 */

import {
  formatIpv4,
  formatIpv6,
  parseIpv4,
  parseIpv6,
} from "../dns/address.ts";

/** Bytes of the pseudo-header. */
export const PSEUDO_HEADER_LENGTH = 40;
/** The version this module writes and reads. */
export const PSEUDO_HEADER_VERSION = 1;

/** Wire values of the direction byte. */
export const DIRECTION_CODES = { send: 0, recv: 1 } as const;
/** Wire values of the transport byte. */
export const TRANSPORT_CODES = { unknown: 0, tcp: 1, udp: 2, tls: 3 } as const;

/** Which way a frame went, seen from the role that wrote the capture. */
export type Direction = keyof typeof DIRECTION_CODES;
/** What carried the frame. */
export type CaptureTransport = keyof typeof TRANSPORT_CODES;

/** An address and port, the address as text (`"127.0.0.1"`, `"::1"`). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** The values of one pseudo-header. */
export interface PseudoHeader {
  readonly direction: Direction;
  readonly transport: CaptureTransport;
  readonly source: Endpoint;
  readonly destination: Endpoint;
}

/** Decoding failed: too few bytes or values this version does not know. */
export class PseudoHeaderError extends Error {
  /** Offset of the offending byte. */
  readonly offset: number;
  /** Creates the error. */
  constructor(message: string, offset: number) {
    super(message);
    this.name = "PseudoHeaderError";
    this.offset = offset;
  }
}

/** An address's bytes and whether they are IPv6 (none: unspecified). */
interface Parsed {
  readonly v6: boolean;
  readonly bytes: Uint8Array | undefined;
}

/** The address bytes of address text. */
function addressBytes(text: string): Parsed {
  // A zone ("fe80::1%eth0") names the interface, not the address.
  const bare = text.replace(/%.*$/, "").replace(/^\[(.*)\]$/, "$1");
  const v4 = parseIpv4(bare);
  if (v4 !== undefined) return { v6: false, bytes: v4 };
  const v6 = parseIpv6(bare);
  if (v6 !== undefined) return { v6: true, bytes: v6 };
  return { v6: false, bytes: undefined };
}

/** IPv4 bytes as an IPv4-mapped IPv6 address. */
function mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

/**
 * Writes a pseudo-header into `out` at `offset`.
 *
 * @returns The offset after it (`offset + 40`).
 * @throws {RangeError} For a port outside 0–65535.
 *
 * @example
 * ```ts
 * const out = new Uint8Array(PSEUDO_HEADER_LENGTH);
 * writePseudoHeader({
 *   direction: "send",
 *   transport: "tcp",
 *   source: { address: "127.0.0.1", port: 50000 },
 *   destination: { address: "127.0.0.1", port: 9000 },
 * }, out, 0); // 40
 * ```
 */
export function writePseudoHeader(
  header: PseudoHeader,
  out: Uint8Array,
  offset: number,
): number {
  for (const { port } of [header.source, header.destination]) {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new RangeError(`Cannot encode port ${port}: not 0 to 65535`);
    }
  }
  const source = addressBytes(header.source.address);
  const destination = addressBytes(header.destination.address);
  const v6 = source.v6 || destination.v6;
  const view = new DataView(out.buffer, out.byteOffset + offset, 40);
  view.setUint8(0, PSEUDO_HEADER_VERSION);
  view.setUint8(1, DIRECTION_CODES[header.direction]);
  view.setUint8(2, TRANSPORT_CODES[header.transport]);
  view.setUint8(3, v6 ? 6 : 4);
  view.setUint16(4, header.source.port);
  view.setUint16(6, header.destination.port);
  const place = (a: Parsed, at: number) => {
    out.fill(0, offset + at, offset + at + 16);
    if (a.bytes === undefined) return; // unspecified: all zero
    out.set(v6 && !a.v6 ? mapped(a.bytes) : a.bytes, offset + at);
  };
  place(source, 8);
  place(destination, 24);
  return offset + PSEUDO_HEADER_LENGTH;
}

/**
 * Reads a pseudo-header from `bytes` at `offset`.
 *
 * @throws {PseudoHeaderError} When fewer than 40 bytes remain or a byte
 *   holds a value this version does not define.
 *
 * @example
 * ```ts
 * decodePseudoHeader(packet, 0).destination; // { address: "127.0.0.1", port: 9000 }
 * ```
 */
export function decodePseudoHeader(
  bytes: Uint8Array,
  offset = 0,
): PseudoHeader {
  if (bytes.length - offset < PSEUDO_HEADER_LENGTH) {
    throw new PseudoHeaderError(
      `Cannot decode pseudo-header: ${
        bytes.length - offset
      } bytes, it needs ${PSEUDO_HEADER_LENGTH}`,
      offset,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 40);
  const code = <T extends string>(
    table: Readonly<Record<T, number>>,
    at: number,
    what: string,
  ): T => {
    const value = view.getUint8(at);
    const name = (Object.keys(table) as T[]).find((k) => table[k] === value);
    if (name === undefined) {
      throw new PseudoHeaderError(
        `Cannot decode pseudo-header: ${what} ${value} is not defined`,
        offset + at,
      );
    }
    return name;
  };
  const version = view.getUint8(0);
  if (version !== PSEUDO_HEADER_VERSION) {
    throw new PseudoHeaderError(
      `Cannot decode pseudo-header: version ${version}, not ${PSEUDO_HEADER_VERSION}`,
      offset,
    );
  }
  const family = view.getUint8(3);
  if (family !== 4 && family !== 6) {
    throw new PseudoHeaderError(
      `Cannot decode pseudo-header: address family ${family} is not 4 or 6`,
      offset + 3,
    );
  }
  const address = (at: number) =>
    family === 4
      ? formatIpv4(bytes.subarray(offset + at, offset + at + 4))
      : formatIpv6(bytes.subarray(offset + at, offset + at + 16));
  return {
    direction: code(DIRECTION_CODES, 1, "direction"),
    transport: code(TRANSPORT_CODES, 2, "transport"),
    source: { address: address(8), port: view.getUint16(4) },
    destination: { address: address(24), port: view.getUint16(6) },
  };
}
