/**
 * A small pcapng reader for the tests, written from the format's
 * description and not from the encoder, so a bug in one is not hidden by
 * the same bug in the other. It checks what a reader relies on: the
 * byte-order magic, both copies of every block length, 32-bit alignment,
 * option padding. Pure: no Deno APIs, as everywhere in protocol/.
 *
 * @module
 */

/** One parsed option. */
export interface ParsedOption {
  readonly code: number;
  readonly value: Uint8Array;
}

/** One Interface Description Block. */
export interface ParsedInterface {
  readonly linkType: number;
  readonly snapLength: number;
  readonly options: ParsedOption[];
}

/** One Enhanced Packet Block. */
export interface ParsedPacket {
  readonly interfaceId: number;
  readonly timestampUs: number;
  readonly originalLength: number;
  readonly data: Uint8Array;
  readonly options: ParsedOption[];
  /** epb_flags bits 0-1: 1 inbound, 2 outbound, 0 unknown. */
  readonly direction: number;
}

/** A whole file (one section). */
export interface ParsedCapture {
  readonly littleEndian: boolean;
  readonly version: string;
  readonly sectionOptions: ParsedOption[];
  readonly interfaces: ParsedInterface[];
  readonly packets: ParsedPacket[];
  /** Bytes after the last whole block (a capture cut short). */
  readonly trailing: number;
}

function parseOptions(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  end: number,
  le: boolean,
): ParsedOption[] {
  const options: ParsedOption[] = [];
  while (at + 4 <= end) {
    const code = view.getUint16(at, le);
    const length = view.getUint16(at + 2, le);
    if (code === 0) {
      if (length !== 0) throw new Error("opt_endofopt with a length");
      return options;
    }
    const padded = (length + 3) & ~3;
    if (at + 4 + padded > end) {
      throw new Error(`option ${code} at ${at} runs past its block`);
    }
    for (let i = at + 4 + length; i < at + 4 + padded; i++) {
      if (bytes[i] !== 0) throw new Error(`option ${code} padding not zero`);
    }
    options.push({ code, value: bytes.slice(at + 4, at + 4 + length) });
    at += 4 + padded;
  }
  return options;
}

/**
 * Parses a pcapng file of one section. Throws on anything malformed;
 * a last block cut short is counted in `trailing` instead.
 */
export function readPcapng(bytes: Uint8Array): ParsedCapture {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 28 || view.getUint32(0) !== 0x0a0d0d0a) {
    throw new Error("not a pcapng file: no section header block");
  }
  const magic = view.getUint32(8, false);
  const le = magic === 0x4d3c2b1a;
  if (!le && magic !== 0x1a2b3c4d) {
    throw new Error(`bad byte-order magic 0x${magic.toString(16)}`);
  }
  const version = `${view.getUint16(12, le)}.${view.getUint16(14, le)}`;
  let sectionOptions: ParsedOption[] = [];
  const interfaces: ParsedInterface[] = [];
  const packets: ParsedPacket[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 12) break;
    const type = view.getUint32(at, le);
    const total = view.getUint32(at + 4, le);
    if (total % 4 !== 0 || total < 12) {
      throw new Error(`block at ${at}: total length ${total} not aligned`);
    }
    if (at + total > bytes.length) break;
    if (view.getUint32(at + total - 4, le) !== total) {
      throw new Error(`block at ${at}: trailing length differs`);
    }
    const end = at + total - 4;
    if (type === 0x0a0d0d0a) {
      if (at !== 0) throw new Error("a second section is not expected");
      if (view.getBigInt64(at + 16, le) !== -1n) {
        throw new Error("section length is not -1");
      }
      sectionOptions = parseOptions(bytes, view, at + 24, end, le);
    } else if (type === 1) {
      interfaces.push({
        linkType: view.getUint16(at + 8, le),
        snapLength: view.getUint32(at + 12, le),
        options: parseOptions(bytes, view, at + 16, end, le),
      });
    } else if (type === 6) {
      const captured = view.getUint32(at + 20, le);
      const padded = (captured + 3) & ~3;
      if (at + 28 + padded > end) {
        throw new Error(`packet at ${at}: data runs past its block`);
      }
      const options = parseOptions(bytes, view, at + 28 + padded, end, le);
      const flags = options.find((o) => o.code === 2);
      packets.push({
        interfaceId: view.getUint32(at + 8, le),
        timestampUs: view.getUint32(at + 12, le) * 2 ** 32 +
          view.getUint32(at + 16, le),
        originalLength: view.getUint32(at + 24, le),
        data: bytes.slice(at + 28, at + 28 + captured),
        options,
        direction: flags
          ? new DataView(flags.value.buffer).getUint32(0, le) & 3
          : 0,
      });
    } else {
      throw new Error(`unexpected block type 0x${type.toString(16)}`);
    }
    at += total;
  }
  return {
    littleEndian: le,
    version,
    sectionOptions,
    interfaces,
    packets,
    trailing: bytes.length - at,
  };
}

/** The text of option `code`, or undefined. */
export function optionText(
  options: readonly ParsedOption[],
  code: number,
): string | undefined {
  const option = options.find((o) => o.code === code);
  return option && new TextDecoder().decode(option.value);
}
