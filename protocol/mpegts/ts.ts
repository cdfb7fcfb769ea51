/**
 * MPEG transport stream (ISO/IEC 13818-1) helpers for the live relay:
 * packet header parsing, PAT/PMT reading, a scanner that classifies packets
 * (tables, video, keyframe starts), a packetizer that turns arbitrary byte
 * chunks into aligned 188-byte packets, and a cache of the current group of
 * pictures so a late joiner can start decoding at once.
 *
 * Pure: no I/O, no clocks. Every parser checks a length before using it and
 * throws {@linkcode TsFormatError} on malformed input.
 *
 * @example
 * ```ts
 * const packetizer = new TsPacketizer();
 * const cache = new GopCache();
 * for (const chunk of chunks) {
 *   for (const packet of packetizer.push(chunk)) {
 *     const { kind } = cache.push(packet);
 *     if (kind === "video_keyframe_start") console.log("new GOP");
 *   }
 * }
 * const joinerFirstBytes = cache.snapshot(); // PAT, PMT, keyframe, ...
 * ```
 *
 * @module
 */

/** Size of one transport stream packet in bytes. */
export const TS_PACKET_SIZE = 188;
/** The first byte of every transport stream packet. */
export const SYNC_BYTE = 0x47;
/** The PID that carries the program association table. */
export const PAT_PID = 0x0000;
/** The PID of null (stuffing) packets. */
export const NULL_PID = 0x1fff;
/** PCR ticks per second: PCR values are in units of a 27 MHz clock. */
export const PCR_HZ = 27_000_000;
/**
 * The PCR wraps here (in 27 MHz ticks): a 33-bit 90 kHz base times 300.
 * About 26.5 hours; well below 2^53, so a `number` holds it exactly.
 */
export const PCR_WRAP = 2 ** 33 * 300;

/**
 * Stream types (PMT `stream_type`) the scanner treats as video, with a
 * human name: H.264, HEVC, MPEG-2 and MPEG-1 video.
 */
export const VIDEO_STREAM_TYPES: ReadonlyMap<number, string> = new Map([
  [0x1b, "h264"],
  [0x24, "hevc"],
  [0x02, "mpeg2"],
  [0x01, "mpeg1"],
]);

/** What went wrong, for callers that branch on it. */
export type TsFormatErrorCode =
  | "bad_sync"
  | "short_packet"
  | "bad_adaptation_field"
  | "bad_section";

/**
 * Malformed transport stream input: a missing sync byte, a truncated packet,
 * an adaptation field longer than its packet, or a bad PAT/PMT section.
 *
 * `offset` is where in the caller's buffer the problem was found.
 *
 * @example
 * ```ts
 * try {
 *   parsePacket(bytes, 0);
 * } catch (error) {
 *   if (error instanceof TsFormatError) skip(error.code, error.offset);
 *   else throw error;
 * }
 * ```
 */
export class TsFormatError extends Error {
  /** Which check failed. */
  readonly code: TsFormatErrorCode;
  /** Byte offset of the problem in the parsed buffer. */
  readonly offset: number;

  /**
   * Creates the error.
   *
   * @param code Which check failed.
   * @param message What failed, on what value, and the limit if one applies.
   * @param offset Where in the buffer the problem was found.
   */
  constructor(code: TsFormatErrorCode, message: string, offset: number) {
    super(message);
    this.name = "TsFormatError";
    this.code = code;
    this.offset = offset;
  }
}

/** The header fields of one transport stream packet. */
export interface TsPacketInfo {
  /** Packet identifier, 13 bits. */
  pid: number;
  /** `payload_unit_start_indicator`: a PES packet or PSI section starts here. */
  payloadUnitStart: boolean;
  /**
   * The adaptation field's `random_access_indicator`: the stream can be
   * decoded from here (encoders such as ffmpeg set it on keyframes).
   */
  randomAccess: boolean;
  /** The adaptation field's `discontinuity_indicator`. */
  discontinuity: boolean;
  /**
   * The program clock reference in 27 MHz ticks (`base * 300 + extension`,
   * 0 ≤ pcr < {@linkcode PCR_WRAP}), or `undefined` when the packet has none.
   * Divide by {@linkcode PCR_HZ} for seconds.
   */
  pcr: number | undefined;
  /** `continuity_counter`, 4 bits. */
  continuityCounter: number;
  /** Whether the packet carries a payload (adaptation_field_control bit 0). */
  hasPayload: boolean;
  /**
   * Where the payload starts, relative to the packet's first byte; equal to
   * {@linkcode TS_PACKET_SIZE} when there is no payload.
   */
  payloadOffset: number;
  /** `transport_error_indicator`: a demodulator flagged this packet. */
  transportError: boolean;
}

/**
 * Parses the header and adaptation field of the packet at `offset`.
 *
 * @param bytes A buffer holding at least one packet from `offset`.
 * @param offset Where the packet starts.
 * @returns The packet's header fields.
 * @throws {TsFormatError} `short_packet` when fewer than 188 bytes remain,
 *   `bad_sync` when the first byte is not 0x47, `bad_adaptation_field` when
 *   the adaptation field is longer than the packet or too short for its PCR.
 *
 * @example
 * ```ts
 * const info = parsePacket(packet, 0);
 * if (info.pid === PAT_PID) readPat(packetPayload(packet, 0, info));
 * ```
 */
export function parsePacket(bytes: Uint8Array, offset = 0): TsPacketInfo {
  if (offset < 0 || bytes.length - offset < TS_PACKET_SIZE) {
    throw new TsFormatError(
      "short_packet",
      `Cannot parse TS packet: ${
        Math.max(0, bytes.length - offset)
      } bytes at offset ${offset}, need ${TS_PACKET_SIZE}`,
      offset,
    );
  }
  const b0 = bytes[offset]!;
  if (b0 !== SYNC_BYTE) {
    throw new TsFormatError(
      "bad_sync",
      `Cannot parse TS packet: sync byte is 0x${
        hex2(b0)
      } at offset ${offset}, ` +
        `expected 0x47`,
      offset,
    );
  }
  const b1 = bytes[offset + 1]!;
  const b2 = bytes[offset + 2]!;
  const b3 = bytes[offset + 3]!;
  const control = (b3 >> 4) & 0x3;
  const hasAdaptation = (control & 0x2) !== 0;
  const hasPayload = (control & 0x1) !== 0;
  let randomAccess = false;
  let discontinuity = false;
  let pcr: number | undefined;
  let payloadOffset = 4;
  if (hasAdaptation) {
    const length = bytes[offset + 4]!;
    // Adaptation only: it fills the packet (183). With a payload: at most 182.
    const max = hasPayload ? 182 : 183;
    if (length > max) {
      throw new TsFormatError(
        "bad_adaptation_field",
        `Cannot parse TS packet: adaptation field length ${length} at offset ${
          offset + 4
        } exceeds ${max}`,
        offset + 4,
      );
    }
    if (length > 0) {
      const flags = bytes[offset + 5]!;
      discontinuity = (flags & 0x80) !== 0;
      randomAccess = (flags & 0x40) !== 0;
      if (flags & 0x10) {
        if (length < 7) {
          throw new TsFormatError(
            "bad_adaptation_field",
            `Cannot parse TS packet: adaptation field length ${length} at ` +
              `offset ${offset + 4} is too short for its PCR (need 7)`,
            offset + 4,
          );
        }
        pcr = readPcr(bytes, offset + 6);
      }
    }
    payloadOffset = 5 + length;
  }
  return {
    pid: ((b1 & 0x1f) << 8) | b2,
    payloadUnitStart: (b1 & 0x40) !== 0,
    randomAccess,
    discontinuity,
    pcr,
    continuityCounter: b3 & 0x0f,
    hasPayload,
    payloadOffset: hasPayload ? payloadOffset : TS_PACKET_SIZE,
    transportError: (b1 & 0x80) !== 0,
  };
}

/**
 * The payload of a parsed packet, as a view (no copy).
 *
 * @param bytes The buffer the packet was parsed from.
 * @param offset Where the packet starts.
 * @param info What {@linkcode parsePacket} returned for it.
 * @returns The payload bytes; empty when the packet has none.
 *
 * @example
 * ```ts
 * const info = parsePacket(packet);
 * const payload = packetPayload(packet, 0, info);
 * ```
 */
export function packetPayload(
  bytes: Uint8Array,
  offset: number,
  info: Pick<TsPacketInfo, "payloadOffset">,
): Uint8Array {
  return bytes.subarray(
    offset + info.payloadOffset,
    offset + TS_PACKET_SIZE,
  );
}

/**
 * Whether a packet belongs to the program association table (PID 0).
 *
 * @param info A parsed packet header.
 * @returns `true` for PID 0.
 *
 * @example
 * ```ts
 * if (isPat(parsePacket(packet))) latestPat = packet.slice();
 * ```
 */
export function isPat(info: Pick<TsPacketInfo, "pid">): boolean {
  return info.pid === PAT_PID;
}

/** One elementary stream of a program, from its PMT. */
export interface PmtStream {
  /** `stream_type`, e.g. 0x1b for H.264, 0x0f for AAC. */
  streamType: number;
  /** The PID that carries the stream. */
  pid: number;
}

/** A program map table section. */
export interface Pmt {
  /** The program this table describes. */
  programNumber: number;
  /** The PID whose packets carry this program's PCR. */
  pcrPid: number;
  /** The program's elementary streams, in table order. */
  streams: PmtStream[];
}

/**
 * Reads the PMT PIDs from the payload of a PAT packet that starts a section
 * (`payloadUnitStart` set). The network PID (program 0) is left out.
 *
 * Only sections that fit in one packet are read (a PAT this long holds 40
 * programs; real streams carry one or a few).
 *
 * @param payload The packet payload, starting with the pointer field.
 * @returns The PMT PIDs, in table order.
 * @throws {TsFormatError} `bad_section` when the section is not a PAT, does
 *   not fit in the payload, or fails its CRC.
 *
 * @example
 * ```ts
 * const info = parsePacket(packet);
 * if (isPat(info) && info.payloadUnitStart) {
 *   pmtPids(packetPayload(packet, 0, info)); // [4096]
 * }
 * ```
 */
export function pmtPids(payload: Uint8Array): number[] {
  const section = readSection(payload, 0x00, "PAT");
  if (section === undefined) return [];
  const pids: number[] = [];
  // 8-byte header, then 4-byte entries, then the 4-byte CRC.
  for (let i = 8; i + 4 <= section.length - 4; i += 4) {
    const program = (section[i]! << 8) | section[i + 1]!;
    const pid = ((section[i + 2]! & 0x1f) << 8) | section[i + 3]!;
    if (program !== 0 && !pids.includes(pid)) pids.push(pid);
  }
  return pids;
}

/**
 * Reads a program map table from the payload of a packet that starts a
 * section (`payloadUnitStart` set) on a PMT PID.
 *
 * @param payload The packet payload, starting with the pointer field.
 * @returns The table, or `undefined` for a section marked not yet
 *   applicable (`current_next_indicator` 0).
 * @throws {TsFormatError} `bad_section` when the section is not a PMT, its
 *   lengths overrun it, it does not fit in the payload, or it fails its CRC.
 *
 * @example
 * ```ts
 * const pmt = parsePmt(packetPayload(packet, 0, parsePacket(packet)));
 * pmt?.streams.find((s) => s.streamType === 0x1b)?.pid; // 256
 * ```
 */
export function parsePmt(payload: Uint8Array): Pmt | undefined {
  const section = readSection(payload, 0x02, "PMT");
  if (section === undefined) return undefined;
  const end = section.length - 4; // the CRC
  if (end < 12) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read PMT: section of ${section.length} bytes is shorter than ` +
        `its 16-byte minimum`,
      0,
    );
  }
  const programNumber = (section[3]! << 8) | section[4]!;
  const pcrPid = ((section[8]! & 0x1f) << 8) | section[9]!;
  const infoLength = ((section[10]! & 0x0f) << 8) | section[11]!;
  let at = 12 + infoLength;
  if (at > end) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read PMT: program_info_length ${infoLength} overruns the ` +
        `section (${end - 12} bytes left)`,
      11,
    );
  }
  const streams: PmtStream[] = [];
  while (at < end) {
    if (end - at < 5) {
      throw new TsFormatError(
        "bad_section",
        `Cannot read PMT: ${end - at} bytes left for a 5-byte stream entry`,
        at,
      );
    }
    const streamType = section[at]!;
    const pid = ((section[at + 1]! & 0x1f) << 8) | section[at + 2]!;
    const esInfoLength = ((section[at + 3]! & 0x0f) << 8) | section[at + 4]!;
    at += 5 + esInfoLength;
    if (at > end) {
      throw new TsFormatError(
        "bad_section",
        `Cannot read PMT: ES_info_length ${esInfoLength} of PID ${pid} ` +
          `overruns the section`,
        at,
      );
    }
    streams.push({ streamType, pid });
  }
  return { programNumber, pcrPid, streams };
}

/** How {@linkcode TsScanner} classifies a packet. */
export type TsPacketKind =
  | "pat"
  | "pmt"
  | "video_keyframe_start"
  | "video"
  | "other";

/** A packet's class and header, as returned by {@linkcode TsScanner.scan}. */
export interface ScannedPacket {
  /** What the packet is. */
  kind: TsPacketKind;
  /** The packet's PCR in 27 MHz ticks, when it has one (same as `info.pcr`). */
  pcr?: number;
  /** The parsed header. */
  info: TsPacketInfo;
}

/** Options of {@linkcode TsScanner}. */
export interface TsScannerOptions {
  /**
   * Also call a video packet a keyframe start when its PES payload shows an
   * H.264 IDR picture (NAL type 5), an HEVC IRAP picture (NAL types 16–21)
   * or an MPEG-1/2 sequence header in the same packet, even without the
   * random access indicator. Only the first packet of the PES is searched.
   * Default `true`.
   */
  detectKeyframeNal?: boolean;
}

/**
 * Classifies packets of one transport stream. It learns the PMT PIDs from
 * the PAT, and the video PID (the first video stream in a PMT) from the
 * PMT, so it must see every packet in order.
 *
 * A keyframe start is a packet on the video PID that starts a PES packet
 * (`payloadUnitStart`) and either has the random access indicator set or,
 * as a fallback, shows a keyframe NAL unit (see
 * {@linkcode TsScannerOptions.detectKeyframeNal}).
 *
 * PAT and PMT sections must fit in one packet, which they do in practice;
 * continuation packets on those PIDs are still classified but not read.
 *
 * @example
 * ```ts
 * const scanner = new TsScanner();
 * for (const packet of packets) {
 *   const { kind } = scanner.scan(packet);
 *   if (kind === "video_keyframe_start") markJoinPoint();
 * }
 * scanner.videoPid; // 256
 * ```
 */
export class TsScanner {
  #detectNal: boolean;
  #pmtPids: number[] = [];
  #videoPid: number | undefined;
  #videoStreamType: number | undefined;
  #videoPmtPid: number | undefined;
  #pcrPid: number | undefined;

  /** Creates a scanner that knows nothing about the stream yet. */
  constructor(options: TsScannerOptions = {}) {
    this.#detectNal = options.detectKeyframeNal ?? true;
  }

  /** The PMT PIDs learned from the latest PAT. */
  get pmtPids(): readonly number[] {
    return this.#pmtPids;
  }

  /** The video PID learned from a PMT, if any yet. */
  get videoPid(): number | undefined {
    return this.#videoPid;
  }

  /** The video's PMT `stream_type` (0x1b, 0x24, 0x02, 0x01), if known. */
  get videoStreamType(): number | undefined {
    return this.#videoStreamType;
  }

  /** The PCR PID of the PMT that named the video PID, if known. */
  get pcrPid(): number | undefined {
    return this.#pcrPid;
  }

  /**
   * Parses and classifies the packet at `offset`, learning from PAT and PMT
   * sections as they pass.
   *
   * @param bytes A buffer holding at least one packet from `offset`.
   * @param offset Where the packet starts.
   * @returns The packet's kind, its PCR if any, and its header.
   * @throws {TsFormatError} On a malformed packet or PAT/PMT section. The
   *   scanner stays usable: skip the packet and go on.
   */
  scan(bytes: Uint8Array, offset = 0): ScannedPacket {
    const info = parsePacket(bytes, offset);
    const kind = this.#classify(bytes, offset, info);
    return info.pcr === undefined
      ? { kind, info }
      : { kind, pcr: info.pcr, info };
  }

  #classify(
    bytes: Uint8Array,
    offset: number,
    info: TsPacketInfo,
  ): TsPacketKind {
    const { pid } = info;
    if (pid === PAT_PID) {
      if (info.payloadUnitStart && info.hasPayload) {
        const pids = pmtPids(packetPayload(bytes, offset, info));
        if (pids.length > 0) this.#pmtPids = pids;
      }
      return "pat";
    }
    if (this.#pmtPids.includes(pid)) {
      if (info.payloadUnitStart && info.hasPayload) {
        const pmt = parsePmt(packetPayload(bytes, offset, info));
        if (pmt) this.#learn(pid, pmt);
      }
      return "pmt";
    }
    if (pid !== this.#videoPid || pid === NULL_PID) return "other";
    if (!info.payloadUnitStart || !info.hasPayload) return "video";
    if (info.randomAccess) return "video_keyframe_start";
    if (
      this.#detectNal &&
      hasKeyframeNal(packetPayload(bytes, offset, info), this.#videoStreamType)
    ) {
      return "video_keyframe_start";
    }
    return "video";
  }

  #learn(pmtPid: number, pmt: Pmt): void {
    // The first PMT that names a video stream owns the video PID; only a new
    // version of that same PMT may change it.
    if (this.#videoPmtPid !== undefined && this.#videoPmtPid !== pmtPid) {
      return;
    }
    const video = pmt.streams.find((s) => VIDEO_STREAM_TYPES.has(s.streamType));
    if (!video) return;
    this.#videoPmtPid = pmtPid;
    this.#videoPid = video.pid;
    this.#videoStreamType = video.streamType;
    this.#pcrPid = pmt.pcrPid;
  }
}

/** Options of {@linkcode TsPacketizer}. */
export interface TsPacketizerOptions {
  /**
   * How many packets in a row must start with a sync byte, 188 bytes apart,
   * before the packetizer trusts a new alignment after garbage. The stream's
   * very first byte is trusted at once when it is a sync byte. Default 2.
   */
  confirmations?: number;
}

/**
 * Turns a byte stream cut into arbitrary chunks into whole, aligned 188-byte
 * packets. After garbage (a byte where a sync byte should be) it drops bytes
 * until it finds `confirmations` sync bytes 188 apart, and goes on from the
 * first of them.
 *
 * Memory is bounded: it holds at most `confirmations × 188` bytes between
 * calls, whatever the chunk sizes.
 *
 * Once aligned it checks only each packet's first byte, as demuxers do: a
 * transport stream has no checksum, so bytes lost or inserted inside a
 * packet pass with that packet and are noticed at the next sync byte.
 * Call {@linkcode TsPacketizer.flush} when the stream ends.
 *
 * @example
 * ```ts
 * const packetizer = new TsPacketizer();
 * for await (const chunk of conn.readable) {
 *   for (const packet of packetizer.push(chunk)) relay(packet);
 * }
 * packetizer.skippedBytes; // garbage dropped so far
 * ```
 */
export class TsPacketizer {
  #confirmations: number;
  #pending: Uint8Array = new Uint8Array(0);
  #synced = true;
  #started = false;
  #skipped = 0;
  #resyncs = 0;

  /** Creates a packetizer; see {@linkcode TsPacketizerOptions}. */
  constructor(options: TsPacketizerOptions = {}) {
    const confirmations = options.confirmations ?? 2;
    if (
      !Number.isInteger(confirmations) || confirmations < 1 ||
      confirmations > 16
    ) {
      throw new RangeError(
        `Cannot create TsPacketizer: confirmations ${confirmations} is not ` +
          `an integer from 1 to 16`,
      );
    }
    this.#confirmations = confirmations;
  }

  /** Bytes dropped so far because they were not part of an aligned packet. */
  get skippedBytes(): number {
    return this.#skipped;
  }

  /** How many times the packetizer lost alignment. */
  get resyncs(): number {
    return this.#resyncs;
  }

  /** Bytes held that do not yet make a whole (or confirmed) packet. */
  get buffered(): number {
    return this.#pending.length;
  }

  /**
   * Adds a chunk and returns every packet now complete, in order.
   *
   * The packets are views into one fresh buffer per call, never reused, so
   * they may be kept. Never throws.
   *
   * @param chunk The next bytes of the stream, of any length.
   * @returns Whole 188-byte packets, each starting with 0x47.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length === 0) return [];
    let data = chunk;
    if (this.#pending.length > 0) {
      data = new Uint8Array(this.#pending.length + chunk.length);
      data.set(this.#pending, 0);
      data.set(chunk, this.#pending.length);
    }
    if (!this.#started) {
      this.#started = true;
      this.#synced = data[0] === SYNC_BYTE;
    }
    const starts: number[] = [];
    const len = data.length;
    let at = 0;
    for (;;) {
      if (this.#synced) {
        if (at >= len) break;
        if (data[at] !== SYNC_BYTE) {
          this.#synced = false;
          this.#resyncs++;
          continue;
        }
        if (len - at < TS_PACKET_SIZE) break;
        starts.push(at);
        at += TS_PACKET_SIZE;
        continue;
      }
      const found = data.indexOf(SYNC_BYTE, at);
      if (found < 0) {
        this.#skipped += len - at;
        at = len;
        break;
      }
      this.#skipped += found - at;
      at = found;
      const verdict = this.#confirm(data, at);
      if (verdict === "wait") break;
      if (verdict === "yes") {
        this.#synced = true;
      } else {
        this.#skipped++;
        at++;
      }
    }
    this.#pending = data.slice(at);
    if (starts.length === 0) return [];
    const block = new Uint8Array(starts.length * TS_PACKET_SIZE);
    const packets: Uint8Array[] = [];
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      block.set(
        data.subarray(start, start + TS_PACKET_SIZE),
        i * TS_PACKET_SIZE,
      );
      packets.push(
        block.subarray(i * TS_PACKET_SIZE, (i + 1) * TS_PACKET_SIZE),
      );
    }
    return packets;
  }

  /**
   * Ends the stream: returns the whole packets still held for want of a
   * confirming sync byte (only after garbage, the last packets of a stream
   * wait for one), drops any partial packet, and resets the packetizer to
   * its initial state for a new stream.
   *
   * @returns The held packets that start with a sync byte, in order.
   */
  flush(): Uint8Array[] {
    const pending = this.#pending;
    this.#pending = new Uint8Array(0);
    this.#started = false;
    this.#synced = true;
    const packets: Uint8Array[] = [];
    let at = 0;
    while (
      pending.length - at >= TS_PACKET_SIZE && pending[at] === SYNC_BYTE
    ) {
      packets.push(pending.slice(at, at + TS_PACKET_SIZE));
      at += TS_PACKET_SIZE;
    }
    this.#skipped += pending.length - at;
    return packets;
  }

  /** Whether `at` starts an alignment confirmed by the following packets. */
  #confirm(data: Uint8Array, at: number): "yes" | "no" | "wait" {
    for (let k = 1; k < this.#confirmations; k++) {
      const next = at + k * TS_PACKET_SIZE;
      if (next >= data.length) return "wait";
      if (data[next] !== SYNC_BYTE) return "no";
    }
    return "yes";
  }
}

/** Options of {@linkcode GopCache}. */
export interface GopCacheOptions {
  /**
   * The most bytes of one group of pictures to keep. A GOP that grows past
   * it is dropped, and the cache waits for the next keyframe. Default 4 MiB.
   */
  maxBytes?: number;
  /** Keyframe detection options for the cache's own scanner. */
  scanner?: TsScannerOptions;
}

const DEFAULT_GOP_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Keeps what a late joiner of a live stream needs to start decoding at
 * once: the latest PAT, the latest PMT of each program, and every packet
 * since the latest keyframe start.
 *
 * It runs its own {@linkcode TsScanner}; {@linkcode push} returns the
 * scanner's verdict so the caller need not scan twice.
 *
 * @example
 * ```ts
 * const cache = new GopCache({ maxBytes: 2 * 1024 * 1024 });
 * for (const packet of packetizer.push(chunk)) {
 *   cache.push(packet);
 *   for (const viewer of viewers) viewer.send(packet);
 * }
 * // A new viewer: first the cache, then live packets.
 * newViewer.send(cache.snapshot());
 * ```
 */
export class GopCache {
  #maxBytes: number;
  #scanner: TsScanner;
  #pat: Uint8Array | undefined;
  #pmts = new Map<number, Uint8Array>();
  #gop: Uint8Array | undefined;
  #gopLength = 0;
  #dropped = 0;

  /** Creates an empty cache; see {@linkcode GopCacheOptions}. */
  constructor(options: GopCacheOptions = {}) {
    const maxBytes = options.maxBytes ?? DEFAULT_GOP_MAX_BYTES;
    if (!Number.isInteger(maxBytes) || maxBytes < TS_PACKET_SIZE) {
      throw new RangeError(
        `Cannot create GopCache: maxBytes ${maxBytes} is not an integer of ` +
          `at least ${TS_PACKET_SIZE}`,
      );
    }
    this.#maxBytes = maxBytes;
    this.#scanner = new TsScanner(options.scanner);
  }

  /** The scanner the cache classifies packets with. */
  get scanner(): TsScanner {
    return this.#scanner;
  }

  /** Bytes of the current group of pictures held (0 when none). */
  get gopBytes(): number {
    return this.#gopLength;
  }

  /** How many groups of pictures were dropped for exceeding `maxBytes`. */
  get droppedGops(): number {
    return this.#dropped;
  }

  /**
   * Adds the next packet of the stream (copying what it keeps).
   *
   * @param packet One 188-byte packet, e.g. from {@linkcode TsPacketizer}.
   * @returns The scanner's classification of the packet.
   * @throws {TsFormatError} On a malformed packet, which is not kept.
   */
  push(packet: Uint8Array): ScannedPacket {
    const scanned = this.#scanner.scan(packet, 0);
    const bytes = packet.subarray(0, TS_PACKET_SIZE);
    switch (scanned.kind) {
      case "pat":
        if (scanned.info.payloadUnitStart) this.#pat = bytes.slice();
        break;
      case "pmt":
        if (scanned.info.payloadUnitStart) {
          this.#pmts.set(scanned.info.pid, bytes.slice());
        }
        break;
      case "video_keyframe_start":
        this.#gopLength = 0;
        this.#gop ??= new Uint8Array(
          Math.min(this.#maxBytes, 64 * TS_PACKET_SIZE),
        );
        break;
    }
    if (this.#gop) this.#append(bytes);
    return scanned;
  }

  /**
   * What a joiner should receive first: the latest PAT, the latest PMTs and
   * the current group of pictures, so its first byte is a sync byte, its
   * first packet the PAT, and its first video packet a keyframe start.
   *
   * @returns A fresh copy, or an empty array while no PAT, PMT or keyframe
   *   has been seen (or the current GOP was dropped for size).
   */
  snapshot(): Uint8Array {
    if (!this.#gop || !this.#pat) return new Uint8Array(0);
    // Only the PMTs the latest PAT names, in its order.
    const pmts = this.#scanner.pmtPids
      .map((pid) => this.#pmts.get(pid))
      .filter((p): p is Uint8Array => p !== undefined);
    if (pmts.length === 0) return new Uint8Array(0);
    const out = new Uint8Array(
      TS_PACKET_SIZE * (1 + pmts.length) + this.#gopLength,
    );
    out.set(this.#pat, 0);
    let at = TS_PACKET_SIZE;
    for (const pmt of pmts) {
      out.set(pmt, at);
      at += TS_PACKET_SIZE;
    }
    out.set(this.#gop.subarray(0, this.#gopLength), at);
    return out;
  }

  #append(bytes: Uint8Array): void {
    const gop = this.#gop!;
    const needed = this.#gopLength + bytes.length;
    if (needed > this.#maxBytes) {
      // Too big to be worth sending a joiner: wait for the next keyframe.
      this.#gop = undefined;
      this.#gopLength = 0;
      this.#dropped++;
      return;
    }
    if (needed > gop.length) {
      const grown = new Uint8Array(
        Math.min(this.#maxBytes, Math.max(needed, gop.length * 2)),
      );
      grown.set(gop.subarray(0, this.#gopLength), 0);
      this.#gop = grown;
    }
    this.#gop!.set(bytes, this.#gopLength);
    this.#gopLength = needed;
  }
}

// ---------------------------------------------------------------------------
// Private helpers

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** The 42-bit PCR at `at` (6 bytes) in 27 MHz ticks. */
function readPcr(bytes: Uint8Array, at: number): number {
  const base = bytes[at]! * 2 ** 25 + (bytes[at + 1]! << 17) +
    (bytes[at + 2]! << 9) + (bytes[at + 3]! << 1) + (bytes[at + 4]! >> 7);
  const extension = ((bytes[at + 4]! & 0x01) << 8) | bytes[at + 5]!;
  return base * 300 + extension;
}

/**
 * The PSI section a payload starts (after the pointer field), checked for
 * table id, syntax, length and CRC; `undefined` when it is marked not yet
 * applicable.
 */
function readSection(
  payload: Uint8Array,
  tableId: number,
  name: string,
): Uint8Array | undefined {
  if (payload.length < 1) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read ${name}: empty payload`,
      0,
    );
  }
  const start = 1 + payload[0]!;
  if (payload.length - start < 3) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read ${name}: pointer field ${payload[0]} leaves ${
        Math.max(0, payload.length - start)
      } bytes, need 3 for the section header`,
      0,
    );
  }
  const id = payload[start]!;
  if (id !== tableId) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read ${name}: table_id is 0x${hex2(id)}, expected 0x${
        hex2(tableId)
      }`,
      start,
    );
  }
  const flags = payload[start + 1]!;
  if ((flags & 0x80) === 0) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read ${name}: section_syntax_indicator is 0`,
      start + 1,
    );
  }
  const sectionLength = ((flags & 0x0f) << 8) | payload[start + 2]!;
  // 5 bytes of extended header and 4 of CRC at least; at most 1021 (PSI).
  if (sectionLength < 9 || sectionLength > 1021) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read ${name}: section_length ${sectionLength} is outside 9..1021`,
      start + 1,
    );
  }
  const total = 3 + sectionLength;
  if (payload.length - start < total) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read ${name}: section of ${total} bytes does not fit in the ` +
        `${
          payload.length - start
        } bytes left in the packet (sections spanning packets are not read)`,
      start,
    );
  }
  const section = payload.subarray(start, start + total);
  if (crc32Mpeg2(section) !== 0) {
    throw new TsFormatError(
      "bad_section",
      `Cannot read ${name}: CRC_32 mismatch`,
      start + total - 4,
    );
  }
  const currentNext = (section[5]! & 0x01) !== 0;
  return currentNext ? section : undefined;
}

let crcTable: Uint32Array | undefined;

/**
 * CRC-32/MPEG-2 (polynomial 0x04C11DB7, not reflected, initial 0xFFFFFFFF,
 * no final XOR). Over a whole section including its CRC it is 0.
 */
function crc32Mpeg2(bytes: Uint8Array): number {
  crcTable ??= makeCrcTable();
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = (crc << 8) ^ crcTable[((crc >>> 24) ^ bytes[i]!) & 0xff]!;
  }
  return crc >>> 0;
}

function makeCrcTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) {
      c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    }
    table[i] = c >>> 0;
  }
  return table;
}

/**
 * Whether the start of a PES packet shows a keyframe: an H.264 IDR slice,
 * an HEVC IRAP picture, or an MPEG-1/2 sequence header. Only the bytes in
 * this packet are searched.
 */
function hasKeyframeNal(
  pes: Uint8Array,
  streamType: number | undefined,
): boolean {
  // PES header: start code prefix, stream id, length, then for video the
  // optional header whose length is at byte 8.
  if (pes.length < 9 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1) {
    return false;
  }
  const es = pes.subarray(9 + pes[8]!);
  for (let i = 0; i + 3 < es.length; i++) {
    if (es[i] !== 0 || es[i + 1] !== 0 || es[i + 2] !== 1) continue;
    const b = es[i + 3]!;
    switch (streamType) {
      case 0x1b:
        if ((b & 0x1f) === 5) return true;
        break;
      case 0x24: {
        const type = (b >> 1) & 0x3f;
        if (type >= 16 && type <= 21) return true;
        break;
      }
      case 0x01:
      case 0x02:
        if (b === 0xb3) return true;
        break;
    }
  }
  return false;
}
