/**
 * Encoders for the pcapng capture format (draft-ietf-opsawg-pcapng): the
 * three blocks a one-interface capture needs — a Section Header Block, an
 * Interface Description Block and one Enhanced Packet Block per packet.
 * Pure: the caller brings the timestamps and writes the bytes somewhere.
 *
 * Every block is `type u32 | total length u32 | body | total length u32`,
 * bodies and option values padded to 32 bits. The byte order of a whole
 * section is the writer's choice, told to readers by the byte-order magic
 * in the section header; these encoders write little-endian (as dumpcap
 * does on the usual machines) unless asked otherwise.
 *
 * @example
 * ```ts
 * const file = concat([
 *   encodeSectionHeader({ application: "socklab 0.1.0" }),
 *   encodeInterfaceDescription({ linkType: LINKTYPE_USER0 }),
 *   encodeEnhancedPacket({ timestampUs: Date.now() * 1000, data }),
 * ]);
 * ```
 *
 * @module
 */

/** Block type of a Section Header Block (the same in either byte order). */
export const SHB_TYPE = 0x0a0d0d0a;
/** Block type of an Interface Description Block. */
export const IDB_TYPE = 0x00000001;
/** Block type of an Enhanced Packet Block. */
export const EPB_TYPE = 0x00000006;
/** Written in the writer's byte order: a reader learns the order from it. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/**
 * LINKTYPE_USER0 (DLT 147): a link type reserved for private use. Wireshark
 * hands its packets to whatever dissector is registered for WTAP_ENCAP_USER0.
 */
export const LINKTYPE_USER0 = 147;

/**
 * The largest packet Wireshark reads without complaint (its
 * WTAP_MAX_PACKET_SIZE_STANDARD); longer packets are truncated to it, their
 * original length kept.
 */
export const MAX_SNAP_LENGTH = 262_144;

/** Option codes used here (pcapng §3.5, §4.1, §4.2, §4.3). */
export const OPTION = {
  endOfOptions: 0,
  comment: 1,
  shbUserApplication: 4,
  ifName: 2,
  ifTsResolution: 9,
  epbFlags: 2,
} as const;

/** Byte order of the blocks an encoder writes. */
export interface ByteOrderOptions {
  /** Little-endian (default) or big-endian; one section uses one order. */
  littleEndian?: boolean;
}

/** One option of a block: its code and its raw value bytes. */
export interface PcapngOption {
  readonly code: number;
  readonly value: Uint8Array;
}

const encoder = new TextEncoder();

/** `n` rounded up to a multiple of 4. */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}

function optionsLength(options: readonly PcapngOption[]): number {
  if (options.length === 0) return 0;
  let length = 4; // opt_endofopt
  for (const o of options) length += 4 + pad4(o.value.length);
  return length;
}

function writeOptions(
  view: DataView,
  out: Uint8Array,
  at: number,
  options: readonly PcapngOption[],
  le: boolean,
): number {
  if (options.length === 0) return at;
  for (const o of options) {
    if (o.value.length > 0xffff) {
      throw new RangeError(
        `Cannot encode pcapng option ${o.code}: ${o.value.length} bytes is over 65535`,
      );
    }
    view.setUint16(at, o.code, le);
    view.setUint16(at + 2, o.value.length, le);
    out.set(o.value, at + 4);
    at += 4 + pad4(o.value.length);
  }
  view.setUint32(at, 0, le); // opt_endofopt, length 0
  return at + 4;
}

/**
 * A whole block: type, total length, `fixed` body bytes (already in order),
 * options, total length again.
 */
function block(
  type: number,
  fixedLength: number,
  fill: (view: DataView, out: Uint8Array, at: number) => void,
  options: readonly PcapngOption[],
  le: boolean,
): Uint8Array {
  const total = 12 + pad4(fixedLength) + optionsLength(options);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, le);
  view.setUint32(4, total, le);
  fill(view, out, 8);
  writeOptions(view, out, 8 + pad4(fixedLength), options, le);
  view.setUint32(total - 4, total, le);
  return out;
}

/** A UTF-8 text option (comments, names). */
export function textOption(code: number, text: string): PcapngOption {
  return { code, value: encoder.encode(text) };
}

/**
 * A Section Header Block: starts a capture file (or a new section of one).
 * Version 1.0, section length unknown (-1).
 *
 * @param options `application` names the writer (shb_userappl).
 * @returns The block's bytes.
 *
 * @example
 * ```ts
 * const shb = encodeSectionHeader({ application: "socklab 0.1.0" });
 * new DataView(shb.buffer).getUint32(8, true); // 0x1a2b3c4d
 * ```
 */
export function encodeSectionHeader(
  options: ByteOrderOptions & { application?: string } = {},
): Uint8Array {
  const le = options.littleEndian ?? true;
  const opts = options.application === undefined
    ? []
    : [textOption(OPTION.shbUserApplication, options.application)];
  return block(
    SHB_TYPE,
    16,
    (view, _out, at) => {
      view.setUint32(at, BYTE_ORDER_MAGIC, le);
      view.setUint16(at + 4, 1, le); // major version
      view.setUint16(at + 6, 0, le); // minor version
      view.setBigInt64(at + 8, -1n, le); // section length: not known
    },
    opts,
    le,
  );
}

/** What {@linkcode encodeInterfaceDescription} writes. */
export interface InterfaceDescription extends ByteOrderOptions {
  /** A LINKTYPE_* value, e.g. {@linkcode LINKTYPE_USER0}. */
  readonly linkType: number;
  /** Longest packet kept whole; 0 means no limit. */
  readonly snapLength?: number;
  /** if_name, shown by Wireshark as the interface. */
  readonly name?: string;
}

/**
 * An Interface Description Block. Timestamps of its packets are in
 * microseconds (if_tsresol 6), written out although it is the default, so
 * no reader has to remember that.
 *
 * @returns The block's bytes.
 *
 * @example
 * ```ts
 * encodeInterfaceDescription({ linkType: LINKTYPE_USER0, name: "socklab" });
 * ```
 */
export function encodeInterfaceDescription(
  description: InterfaceDescription,
): Uint8Array {
  const le = description.littleEndian ?? true;
  const opts: PcapngOption[] = [];
  if (description.name !== undefined) {
    opts.push(textOption(OPTION.ifName, description.name));
  }
  opts.push({ code: OPTION.ifTsResolution, value: new Uint8Array([6]) });
  return block(
    IDB_TYPE,
    8,
    (view, _out, at) => {
      view.setUint16(at, description.linkType, le);
      view.setUint16(at + 2, 0, le); // reserved
      view.setUint32(at + 4, description.snapLength ?? 0, le);
    },
    opts,
    le,
  );
}

/** Which way a packet went, as epb_flags records it. */
export type PacketDirection = "inbound" | "outbound";

/** What {@linkcode encodeEnhancedPacket} writes. */
export interface EnhancedPacket extends ByteOrderOptions {
  /** Index of the interface (its IDB's position in the section). Default 0. */
  readonly interfaceId?: number;
  /** Microseconds since 1970-01-01 UTC, a whole number. */
  readonly timestampUs: number;
  /** The packet bytes as captured (at most the snap length). */
  readonly data: Uint8Array;
  /** Length before truncation; default `data.length`. */
  readonly originalLength?: number;
  /** Recorded in epb_flags when given. */
  readonly direction?: PacketDirection;
  /** opt_comment. */
  readonly comment?: string;
}

/**
 * An Enhanced Packet Block: one packet with its timestamp.
 *
 * @returns The block's bytes.
 * @throws {RangeError} When the timestamp is not a whole number of
 *   microseconds from 0 to 2^53-1.
 *
 * @example
 * ```ts
 * const epb = encodeEnhancedPacket({ timestampUs: 1, data: new Uint8Array(5) });
 * epb.length; // 28 header bytes + 8 (5 padded) + 4
 * ```
 */
export function encodeEnhancedPacket(packet: EnhancedPacket): Uint8Array {
  const le = packet.littleEndian ?? true;
  const t = packet.timestampUs;
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new RangeError(
      `Cannot encode pcapng timestamp ${t}: not a whole number of microseconds from 0 to 2^53-1`,
    );
  }
  const data = packet.data;
  const opts: PcapngOption[] = [];
  if (packet.direction !== undefined) {
    const flags = new Uint8Array(4);
    // Bits 0-1 of epb_flags: 01 inbound, 10 outbound.
    new DataView(flags.buffer).setUint32(
      0,
      packet.direction === "inbound" ? 1 : 2,
      le,
    );
    opts.push({ code: OPTION.epbFlags, value: flags });
  }
  if (packet.comment !== undefined) {
    opts.push(textOption(OPTION.comment, packet.comment));
  }
  return block(
    EPB_TYPE,
    20 + data.length,
    (view, out, at) => {
      view.setUint32(at, packet.interfaceId ?? 0, le);
      view.setUint32(at + 4, Math.floor(t / 2 ** 32), le);
      view.setUint32(at + 8, t % 2 ** 32, le);
      view.setUint32(at + 12, data.length, le);
      view.setUint32(at + 16, packet.originalLength ?? data.length, le);
      out.set(data, at + 20);
    },
    opts,
    le,
  );
}
