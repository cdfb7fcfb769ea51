/**
 * socklab captures: a pcapng file with one interface of link type USER0
 * whose packets are a {@link ./pseudo_header.ts pseudo-header} followed by
 * one whole TLV frame, secrets overwritten. What `--pcap-out` writes and
 * what the generated Wireshark dissector reads. Pure: no I/O, no clock.
 *
 * @example
 * ```ts
 * const bytes = [
 *   captureStart("socklab 0.1.0"),
 *   encodeFrameRecord({ timestampUs, header, frame }),
 * ];
 * ```
 *
 * @module
 */

import { redactSecrets } from "../tlv/describe.ts";
import {
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeSectionHeader,
  LINKTYPE_USER0,
  MAX_SNAP_LENGTH,
} from "./pcapng.ts";
import {
  PSEUDO_HEADER_LENGTH,
  type PseudoHeader,
  writePseudoHeader,
} from "./pseudo_header.ts";

/** The interface name a socklab capture shows in Wireshark. */
export const CAPTURE_INTERFACE_NAME = "socklab";

/**
 * The first bytes of a capture file: a Section Header Block naming
 * `application`, and the Interface Description Block of the one
 * interface (USER0, microseconds, packets kept up to 256 KiB).
 *
 * @example
 * ```ts
 * await file.write(captureStart("socklab 0.1.0"));
 * ```
 */
export function captureStart(application: string): Uint8Array {
  const shb = encodeSectionHeader({ application });
  const idb = encodeInterfaceDescription({
    linkType: LINKTYPE_USER0,
    snapLength: MAX_SNAP_LENGTH,
    name: CAPTURE_INTERFACE_NAME,
  });
  const out = new Uint8Array(shb.length + idb.length);
  out.set(shb, 0);
  out.set(idb, shb.length);
  return out;
}

/** One frame to record. */
export interface FrameRecord {
  /** When it was sent or received, µs since 1970-01-01 UTC. */
  readonly timestampUs: number;
  /** Direction, transport and addresses. */
  readonly header: PseudoHeader;
  /** The whole frame, header included. Not modified. */
  readonly frame: Uint8Array;
}

/**
 * The Enhanced Packet Block for one frame: the pseudo-header, then the
 * frame with every secret field (password, token) overwritten by `*`.
 * A packet longer than 256 KiB is cut there; its original length is kept.
 *
 * @example
 * ```ts
 * encodeFrameRecord({
 *   timestampUs: Date.now() * 1000,
 *   header: { direction: "send", transport: "tcp", source, destination },
 *   frame: encodeMessage("ping", { id: 1 }),
 * });
 * ```
 */
export function encodeFrameRecord(record: FrameRecord): Uint8Array {
  const frame = redactSecrets(record.frame);
  const originalLength = PSEUDO_HEADER_LENGTH + frame.length;
  const kept = Math.min(originalLength, MAX_SNAP_LENGTH);
  const data = new Uint8Array(kept);
  writePseudoHeader(record.header, data, 0);
  data.set(
    frame.subarray(0, kept - PSEUDO_HEADER_LENGTH),
    PSEUDO_HEADER_LENGTH,
  );
  return encodeEnhancedPacket({
    timestampUs: record.timestampUs,
    data,
    originalLength,
    direction: record.header.direction === "send" ? "outbound" : "inbound",
  });
}
