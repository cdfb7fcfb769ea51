import assert from "node:assert/strict";
import fc from "fast-check";
import {
  GopCache,
  isPat,
  NULL_PID,
  packetPayload,
  parsePacket,
  parsePmt,
  PCR_HZ,
  PCR_WRAP,
  pmtPids,
  SYNC_BYTE,
  TS_PACKET_SIZE,
  TsFormatError,
  TsPacketizer,
  TsScanner,
} from "./ts.ts";

// ---------------------------------------------------------------------------
// Test helpers: build packets and PSI sections by hand.

interface PacketSpec {
  pid: number;
  pusi?: boolean;
  cc?: number;
  randomAccess?: boolean;
  discontinuity?: boolean;
  /** PCR in 27 MHz ticks. */
  pcr?: number;
  /** Force an adaptation field even with no flags. */
  adaptation?: boolean;
  /** Omit the payload (adaptation field only); implied without `payload`. */
  noPayload?: boolean;
  payload?: Uint8Array;
}

/** One 188-byte packet; the adaptation field pads the payload to fit. */
function packet(input: PacketSpec): Uint8Array {
  // No payload given: an adaptation-only packet.
  const spec = input.payload === undefined
    ? { ...input, noPayload: true }
    : input;
  const out = new Uint8Array(TS_PACKET_SIZE);
  const payload = spec.noPayload ? new Uint8Array(0) : spec.payload!;
  assert.ok(payload.length <= 184);
  out[0] = SYNC_BYTE;
  out[1] = (spec.pusi ? 0x40 : 0) | ((spec.pid >> 8) & 0x1f);
  out[2] = spec.pid & 0xff;
  const flags = (spec.discontinuity ? 0x80 : 0) |
    (spec.randomAccess ? 0x40 : 0) | (spec.pcr !== undefined ? 0x10 : 0);
  const needsAf = spec.adaptation || flags !== 0 || spec.noPayload ||
    payload.length < 184;
  const control = (needsAf ? 0x2 : 0) | (spec.noPayload ? 0 : 0x1);
  out[3] = (control << 4) | ((spec.cc ?? 0) & 0x0f);
  if (!needsAf) {
    out.set(payload, 4);
    return out;
  }
  const afLength = spec.noPayload ? 183 : 183 - payload.length;
  assert.ok(afLength >= (spec.pcr !== undefined ? 7 : flags ? 1 : 0));
  out[4] = afLength;
  if (afLength > 0) {
    out[5] = flags;
    let at = 6;
    if (spec.pcr !== undefined) {
      const base = Math.floor(spec.pcr / 300);
      const ext = spec.pcr % 300;
      out[6] = Math.floor(base / 2 ** 25) & 0xff;
      out[7] = (base >>> 17) & 0xff;
      out[8] = (base >>> 9) & 0xff;
      out[9] = (base >>> 1) & 0xff;
      out[10] = ((base & 1) << 7) | 0x7e | ((ext >> 8) & 1);
      out[11] = ext & 0xff;
      at = 12;
    }
    out.fill(0xff, at, 5 + afLength);
  }
  out.set(payload, 5 + afLength);
  return out;
}

function crc32Mpeg2(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte << 24;
    for (let k = 0; k < 8; k++) {
      crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    }
  }
  return crc >>> 0;
}

/** A PSI section with header fields, body and CRC. */
function section(
  tableId: number,
  idExt: number,
  body: number[],
  options: { currentNext?: boolean; badCrc?: boolean } = {},
): Uint8Array {
  const length = 5 + body.length + 4;
  const bytes = [
    tableId,
    0xb0 | (length >> 8),
    length & 0xff,
    idExt >> 8,
    idExt & 0xff,
    0xc0 | (options.currentNext === false ? 0 : 1),
    0,
    0,
    ...body,
  ];
  let crc = crc32Mpeg2(new Uint8Array(bytes));
  if (options.badCrc) crc ^= 1;
  bytes.push(crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff);
  return new Uint8Array(bytes);
}

/** A payload: pointer field (with `pointer` filler bytes) then the section. */
function psi(sec: Uint8Array, pointer = 0): Uint8Array {
  const out = new Uint8Array(184).fill(0xff);
  out[0] = pointer;
  out.set(sec, 1 + pointer);
  return out;
}

function patSection(
  programs: Array<[number, number]>,
  options?: { currentNext?: boolean; badCrc?: boolean },
): Uint8Array {
  const body = programs.flatMap(([program, pid]) => [
    program >> 8,
    program & 0xff,
    0xe0 | (pid >> 8),
    pid & 0xff,
  ]);
  return section(0x00, 1, body, options);
}

function pmtSection(
  program: number,
  pcrPid: number,
  streams: Array<[number, number, number[]?]>,
  programInfo: number[] = [],
): Uint8Array {
  const body = [
    0xe0 | (pcrPid >> 8),
    pcrPid & 0xff,
    0xf0 | (programInfo.length >> 8),
    programInfo.length & 0xff,
    ...programInfo,
    ...streams.flatMap(([type, pid, info = []]) => [
      type,
      0xe0 | (pid >> 8),
      pid & 0xff,
      0xf0 | (info.length >> 8),
      info.length & 0xff,
      ...info,
    ]),
  ];
  return section(0x02, program, body);
}

/** A video PES start whose elementary stream begins with these NAL bytes. */
function pes(nals: number[]): Uint8Array {
  return new Uint8Array([
    0,
    0,
    1,
    0xe0,
    0,
    0,
    0x80,
    0x80,
    5,
    0x21,
    0,
    1,
    0,
    1, // PTS
    ...nals,
  ]);
}

const AUD = [0, 0, 0, 1, 0x09, 0xf0];
const SPS = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x0d];
const IDR = [0, 0, 1, 0x65, 0x88, 0x84];
const NON_IDR = [0, 0, 1, 0x41, 0x9a, 0x02];

const PMT_PID = 0x1000;
const VIDEO_PID = 0x100;
const AUDIO_PID = 0x101;

const PAT = packet({
  pid: 0,
  pusi: true,
  payload: psi(patSection([[1, PMT_PID]])),
});
const PMT = packet({
  pid: PMT_PID,
  pusi: true,
  payload: psi(
    pmtSection(1, VIDEO_PID, [[0x1b, VIDEO_PID], [0x0f, AUDIO_PID]]),
  ),
});

function keyframe(cc = 0, pcr = 0): Uint8Array {
  return packet({
    pid: VIDEO_PID,
    pusi: true,
    randomAccess: true,
    pcr,
    cc,
    payload: pes([...AUD, ...SPS, ...IDR]),
  });
}

function video(cc: number, fill = cc): Uint8Array {
  return packet({
    pid: VIDEO_PID,
    cc,
    payload: new Uint8Array(184).fill(fill),
  });
}

function audio(cc: number): Uint8Array {
  return packet({ pid: AUDIO_PID, pusi: true, cc, payload: pes([0xff, 0xf1]) });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function splitEvery(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    out.push(bytes.subarray(i, i + size));
  }
  return out;
}

function packetizeAll(
  chunks: Iterable<Uint8Array>,
  packetizer = new TsPacketizer(),
): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) out.push(...packetizer.push(chunk));
  out.push(...packetizer.flush());
  return out;
}

function throwsCode(fn: () => unknown, code: string, offset?: number): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TsFormatError, String(error));
    assert.equal(error.code, code);
    if (offset !== undefined) assert.equal(error.offset, offset);
    return true;
  });
}

// ---------------------------------------------------------------------------
// parsePacket()

Deno.test({
  name: "parsePacket() reads the header of a plain payload packet",
  permissions: "none",
  fn() {
    const bytes = packet({
      pid: 0x1abc,
      pusi: true,
      cc: 9,
      payload: new Uint8Array(184).fill(7),
    });
    assert.deepEqual(parsePacket(bytes, 0), {
      pid: 0x1abc,
      payloadUnitStart: true,
      randomAccess: false,
      discontinuity: false,
      pcr: undefined,
      continuityCounter: 9,
      hasPayload: true,
      payloadOffset: 4,
      transportError: false,
    });
    assert.deepEqual(
      packetPayload(bytes, 0, parsePacket(bytes)),
      new Uint8Array(184).fill(7),
    );
  },
});

Deno.test({
  name: "parsePacket() reads PCR, random access and discontinuity flags",
  permissions: "none",
  fn() {
    const pcr = 123_456_789 * 300 + 299;
    const bytes = packet({
      pid: 256,
      pusi: true,
      randomAccess: true,
      discontinuity: true,
      pcr,
      payload: new Uint8Array([1, 2, 3]),
    });
    const info = parsePacket(bytes);
    assert.equal(info.pcr, pcr);
    assert.equal(info.randomAccess, true);
    assert.equal(info.discontinuity, true);
    assert.equal(info.payloadOffset, 185);
    assert.deepEqual(packetPayload(bytes, 0, info), new Uint8Array([1, 2, 3]));
  },
});

Deno.test({
  name: "parsePacket() reads the largest PCR exactly",
  permissions: "none",
  fn() {
    const pcr = PCR_WRAP - 1; // base 2^33 - 1, extension 299
    assert.equal(parsePacket(packet({ pid: 1, pcr })).pcr, pcr);
    assert.equal(parsePacket(packet({ pid: 1, pcr: 0 })).pcr, 0);
  },
});

Deno.test({
  name: "parsePacket() reads an adaptation-only packet as having no payload",
  permissions: "none",
  fn() {
    const bytes = packet({ pid: 256, noPayload: true, pcr: 27_000_000 });
    const info = parsePacket(bytes);
    assert.equal(info.hasPayload, false);
    assert.equal(info.payloadOffset, TS_PACKET_SIZE);
    assert.equal(info.pcr, 27_000_000);
    assert.equal(packetPayload(bytes, 0, info).length, 0);
  },
});

Deno.test({
  name: "parsePacket() reads a zero-length adaptation field and a packet " +
    "at an offset",
  permissions: "none",
  fn() {
    const bytes = packet({
      pid: 33,
      adaptation: true,
      payload: new Uint8Array(183),
    });
    assert.equal(bytes[4], 0);
    const buffer = concat([new Uint8Array(5), bytes]);
    const info = parsePacket(buffer, 5);
    assert.equal(info.pid, 33);
    assert.equal(info.payloadOffset, 5);
    assert.equal(info.randomAccess, false);
    assert.equal(packetPayload(buffer, 5, info).length, 183);
  },
});

Deno.test({
  name: "parsePacket() reads transport_error_indicator; isPat() is PID 0",
  permissions: "none",
  fn() {
    const bytes = packet({ pid: 0, payload: new Uint8Array(184) });
    bytes[1]! |= 0x80;
    const info = parsePacket(bytes);
    assert.equal(info.transportError, true);
    assert.equal(isPat(info), true);
    assert.equal(isPat({ pid: 1 }), false);
  },
});

Deno.test({
  name: "parsePacket() rejects a bad sync byte with its offset",
  permissions: "none",
  fn() {
    const buffer = concat([new Uint8Array(10), packet({ pid: 1 })]);
    buffer[10] = 0x48;
    throwsCode(() => parsePacket(buffer, 10), "bad_sync", 10);
  },
});

Deno.test({
  name: "parsePacket() rejects a truncated packet",
  permissions: "none",
  fn() {
    const bytes = packet({ pid: 1 });
    throwsCode(() => parsePacket(bytes.subarray(0, 187)), "short_packet", 0);
    throwsCode(() => parsePacket(bytes, 1), "short_packet", 1);
    throwsCode(() => parsePacket(new Uint8Array(0)), "short_packet", 0);
  },
});

Deno.test({
  name: "parsePacket() rejects an adaptation field longer than its packet",
  permissions: "none",
  fn() {
    const withPayload = packet({ pid: 1, payload: new Uint8Array(1) });
    withPayload[4] = 183; // leaves no room for the payload it claims
    throwsCode(() => parsePacket(withPayload), "bad_adaptation_field", 4);
    const only = packet({ pid: 1, noPayload: true });
    only[4] = 184;
    throwsCode(() => parsePacket(only), "bad_adaptation_field", 4);
    only[4] = 183;
    assert.equal(parsePacket(only).hasPayload, false);
  },
});

Deno.test({
  name: "parsePacket() rejects a PCR flag in a too-short adaptation field",
  permissions: "none",
  fn() {
    const bytes = packet({
      pid: 1,
      randomAccess: true,
      payload: new Uint8Array(182),
    });
    assert.equal(bytes[4], 1);
    bytes[5] = 0x10;
    throwsCode(() => parsePacket(bytes), "bad_adaptation_field", 4);
  },
});

// ---------------------------------------------------------------------------
// pmtPids() and parsePmt()

Deno.test({
  name: "pmtPids() reads PMT PIDs, skips the network PID, honours the " +
    "pointer field",
  permissions: "none",
  fn() {
    const sec = patSection([[0, 0x10], [1, 0x1000], [2, 0x1001]]);
    assert.deepEqual(pmtPids(psi(sec)), [0x1000, 0x1001]);
    assert.deepEqual(pmtPids(psi(sec, 3)), [0x1000, 0x1001]);
  },
});

Deno.test({
  name: "pmtPids() ignores a section marked not yet applicable",
  permissions: "none",
  fn() {
    const sec = patSection([[1, 0x1000]], { currentNext: false });
    assert.deepEqual(pmtPids(psi(sec)), []);
  },
});

Deno.test({
  name: "pmtPids() rejects a bad CRC, a wrong table id and a section that " +
    "does not fit",
  permissions: "none",
  fn() {
    throwsCode(
      () => pmtPids(psi(patSection([[1, 0x1000]], { badCrc: true }))),
      "bad_section",
    );
    throwsCode(
      () => pmtPids(psi(pmtSection(1, 256, [[0x1b, 256]]))),
      "bad_section",
    );
    const sec = patSection([[1, 0x1000]]);
    throwsCode(() => pmtPids(psi(sec).subarray(0, sec.length)), "bad_section");
    throwsCode(() => pmtPids(new Uint8Array(0)), "bad_section");
    const pointerPastEnd = new Uint8Array(184);
    pointerPastEnd[0] = 200;
    throwsCode(() => pmtPids(pointerPastEnd), "bad_section");
    const noSyntax = psi(sec);
    noSyntax[2]! &= 0x7f;
    throwsCode(() => pmtPids(noSyntax), "bad_section", 2);
    const tooShort = psi(sec);
    tooShort[2] = 0xb0;
    tooShort[3] = 8;
    throwsCode(() => pmtPids(tooShort), "bad_section");
  },
});

Deno.test({
  name: "parsePmt() reads PCR PID and streams, skipping descriptors",
  permissions: "none",
  fn() {
    const sec = pmtSection(
      7,
      0x100,
      [[0x1b, 0x100, [0x28, 2, 0, 0]], [0x0f, 0x101], [0x06, 0x102, [1]]],
      [0x1d, 1, 0],
    );
    assert.deepEqual(parsePmt(psi(sec)), {
      programNumber: 7,
      pcrPid: 0x100,
      streams: [
        { streamType: 0x1b, pid: 0x100 },
        { streamType: 0x0f, pid: 0x101 },
        { streamType: 0x06, pid: 0x102 },
      ],
    });
  },
});

Deno.test({
  name: "parsePmt() rejects lengths that overrun the section",
  permissions: "none",
  fn() {
    // program_info_length beyond the section.
    const info = pmtSection(1, 256, [], [1, 2]);
    const badInfo = info.slice();
    badInfo[11] = 40;
    throwsCode(() => parsePmt(psi(reCrc(badInfo))), "bad_section", 11);
    // ES_info_length beyond the section.
    const es = pmtSection(1, 256, [[0x1b, 256, [1, 2]]]);
    const badEs = es.slice();
    badEs[16] = 30;
    throwsCode(() => parsePmt(psi(reCrc(badEs))), "bad_section");
    // A stream entry cut short.
    const cut = section(0x02, 1, [0xe1, 0, 0xf0, 0, 0x1b, 0xe1]);
    throwsCode(() => parsePmt(psi(cut)), "bad_section");
    // Too short for the PMT header.
    throwsCode(() => parsePmt(psi(section(0x02, 1, [0xe1]))), "bad_section");
  },
});

/** Recomputes the CRC of an edited section. */
function reCrc(sec: Uint8Array): Uint8Array {
  const out = sec.slice();
  const crc = crc32Mpeg2(out.subarray(0, out.length - 4));
  new DataView(out.buffer).setUint32(out.length - 4, crc);
  return out;
}

// ---------------------------------------------------------------------------
// TsScanner

Deno.test({
  name: "TsScanner learns PMT and video PIDs and classifies packets",
  permissions: "none",
  fn() {
    const scanner = new TsScanner();
    assert.equal(scanner.scan(keyframe()).kind, "other"); // PID not known yet
    assert.equal(scanner.scan(PAT).kind, "pat");
    assert.deepEqual(scanner.pmtPids, [PMT_PID]);
    assert.equal(scanner.videoPid, undefined);
    assert.equal(scanner.scan(PMT).kind, "pmt");
    assert.equal(scanner.videoPid, VIDEO_PID);
    assert.equal(scanner.videoStreamType, 0x1b);
    assert.equal(scanner.pcrPid, VIDEO_PID);
    const kf = scanner.scan(keyframe(0, 27_000_000));
    assert.equal(kf.kind, "video_keyframe_start");
    assert.equal(kf.pcr, 27_000_000);
    assert.equal(scanner.scan(video(1)).kind, "video");
    assert.equal(scanner.scan(audio(0)).kind, "other");
    const plain = scanner.scan(
      packet({
        pid: VIDEO_PID,
        pusi: true,
        payload: pes([...AUD, ...NON_IDR]),
      }),
    );
    assert.equal(plain.kind, "video");
    assert.equal("pcr" in plain, false);
    // A continuation packet with the flag is not a start.
    assert.equal(
      scanner.scan(packet({ pid: VIDEO_PID, randomAccess: true })).kind,
      "video",
    );
    assert.equal(scanner.scan(packet({ pid: NULL_PID })).kind, "other");
  },
});

Deno.test({
  name: "TsScanner falls back to an IDR NAL unit when random access is unset",
  permissions: "none",
  fn() {
    const idrOnly = packet({
      pid: VIDEO_PID,
      pusi: true,
      payload: pes([...AUD, ...SPS, ...IDR]),
    });
    const scanner = new TsScanner();
    scanner.scan(PAT);
    scanner.scan(PMT);
    assert.equal(scanner.scan(idrOnly).kind, "video_keyframe_start");
    const strict = new TsScanner({ detectKeyframeNal: false });
    strict.scan(PAT);
    strict.scan(PMT);
    assert.equal(strict.scan(idrOnly).kind, "video");
  },
});

Deno.test({
  name: "TsScanner recognises HEVC IRAP and MPEG-2 sequence headers",
  permissions: "none",
  fn() {
    for (
      const [type, keyNal, otherNal] of [
        [0x24, [0, 0, 1, 19 << 1, 1], [0, 0, 1, 1 << 1, 1]], // IDR_W_RADL / TRAIL_R
        [0x02, [0, 0, 1, 0xb3, 0], [0, 0, 1, 0x00, 0]], // sequence / picture
      ] as const
    ) {
      const scanner = new TsScanner();
      scanner.scan(PAT);
      scanner.scan(
        packet({
          pid: PMT_PID,
          pusi: true,
          payload: psi(pmtSection(1, 300, [[0x0f, 301], [type, 300]])),
        }),
      );
      assert.equal(scanner.videoPid, 300);
      const start = (nal: readonly number[]) =>
        scanner.scan(packet({ pid: 300, pusi: true, payload: pes([...nal]) }))
          .kind;
      assert.equal(start(keyNal), "video_keyframe_start");
      assert.equal(start(otherNal), "video");
    }
  },
});

Deno.test({
  name: "TsScanner throws TsFormatError on a bad PAT and stays usable",
  permissions: "none",
  fn() {
    const scanner = new TsScanner();
    const bad = packet({
      pid: 0,
      pusi: true,
      payload: psi(patSection([[1, PMT_PID]], { badCrc: true })),
    });
    throwsCode(() => scanner.scan(bad), "bad_section");
    assert.deepEqual(scanner.pmtPids, []);
    scanner.scan(PAT);
    scanner.scan(PMT);
    assert.equal(scanner.scan(keyframe()).kind, "video_keyframe_start");
  },
});

Deno.test({
  name: "TsScanner keeps the video PID of the first PMT that names one",
  permissions: "none",
  fn() {
    const scanner = new TsScanner();
    scanner.scan(
      packet({
        pid: 0,
        pusi: true,
        payload: psi(patSection([[1, 0x1000], [2, 0x1001]])),
      }),
    );
    const pmt = (pid: number, program: number, video: number) =>
      packet({
        pid,
        pusi: true,
        payload: psi(pmtSection(program, video, [[0x1b, video]])),
      });
    scanner.scan(pmt(0x1001, 2, 0x200));
    scanner.scan(pmt(0x1000, 1, 0x100));
    assert.equal(scanner.videoPid, 0x200);
    scanner.scan(pmt(0x1001, 2, 0x201)); // a new version of the same PMT
    assert.equal(scanner.videoPid, 0x201);
  },
});

// ---------------------------------------------------------------------------
// TsPacketizer

const STREAM = [PAT, PMT, keyframe(0, 0), video(1), audio(0), video(2)];

Deno.test({
  name: "TsPacketizer yields the packets of an aligned stream in one chunk",
  permissions: "none",
  fn() {
    const packetizer = new TsPacketizer();
    const packets = packetizer.push(concat(STREAM));
    assert.deepEqual(packets, STREAM);
    assert.equal(packetizer.buffered, 0);
    assert.equal(packetizer.skippedBytes, 0);
    assert.deepEqual(packetizer.flush(), []);
  },
});

Deno.test({
  name: "TsPacketizer yields the same packets from 1-byte chunks",
  permissions: "none",
  fn() {
    const packetizer = new TsPacketizer();
    const out: Uint8Array[] = [];
    for (const chunk of splitEvery(concat(STREAM), 1)) {
      out.push(...packetizer.push(chunk));
      assert.ok(packetizer.buffered < TS_PACKET_SIZE);
    }
    // Aligned from the first byte: nothing waits for a flush.
    assert.deepEqual(out, STREAM);
    assert.deepEqual(packetizer.flush(), []);
  },
});

Deno.test({
  name: "TsPacketizer resynchronises after garbage between packets",
  permissions: "none",
  fn() {
    const garbage = new Uint8Array([1, 2, SYNC_BYTE, 3, 4, 5, SYNC_BYTE]);
    const input = concat([
      garbage, // leading garbage, with sync bytes in it
      STREAM[0]!,
      STREAM[1]!,
      garbage,
      STREAM[2]!,
      STREAM[3]!,
      new Uint8Array(500).fill(0x11), // a long run, no sync bytes
      STREAM[4]!,
      STREAM[5]!,
    ]);
    for (const size of [1, 7, 188, 189, input.length]) {
      const packetizer = new TsPacketizer();
      const out = packetizeAll(splitEvery(input, size), packetizer);
      assert.deepEqual(out, STREAM, `chunk size ${size}`);
      assert.equal(packetizer.skippedBytes, 2 * garbage.length + 500);
      assert.equal(packetizer.resyncs, 2);
    }
  },
});

Deno.test({
  name: "TsPacketizer holds the last packet after garbage until flush()",
  permissions: "none",
  fn() {
    const packetizer = new TsPacketizer();
    assert.deepEqual(packetizer.push(new Uint8Array([9, 9, 9])), []);
    assert.deepEqual(packetizer.push(PAT), []); // no second sync byte yet
    assert.equal(packetizer.buffered, TS_PACKET_SIZE);
    assert.deepEqual(packetizer.flush(), [PAT]);
    assert.equal(packetizer.buffered, 0);
    // After flush() it starts afresh: an aligned stream passes at once.
    assert.deepEqual(packetizer.push(PMT), [PMT]);
  },
});

Deno.test({
  name: "TsPacketizer flush() drops a partial packet",
  permissions: "none",
  fn() {
    const packetizer = new TsPacketizer();
    assert.deepEqual(packetizer.push(concat([PAT, PMT.subarray(0, 100)])), [
      PAT,
    ]);
    assert.deepEqual(packetizer.flush(), []);
    assert.equal(packetizer.skippedBytes, 100);
  },
});

Deno.test({
  name: "TsPacketizer packets survive reuse of the caller's buffer",
  permissions: "none",
  fn() {
    const packetizer = new TsPacketizer();
    const buffer = new Uint8Array(TS_PACKET_SIZE);
    buffer.set(video(1, 0xaa));
    const [first] = packetizer.push(buffer);
    buffer.set(video(2, 0xbb));
    const [second] = packetizer.push(buffer);
    assert.deepEqual(first, video(1, 0xaa));
    assert.deepEqual(second, video(2, 0xbb));
  },
});

Deno.test({
  name: "TsPacketizer needs more confirmations when asked; rejects bad options",
  permissions: "none",
  fn() {
    // Two stray sync bytes 188 apart in garbage fool 2 confirmations (two
    // bogus packets come out) but not 3.
    const garbage = new Uint8Array(400).fill(0x22);
    garbage[0] = 0x10;
    garbage[1] = SYNC_BYTE;
    garbage[189] = SYNC_BYTE;
    const input = concat([garbage, ...STREAM]);
    const lenient = packetizeAll([input], new TsPacketizer());
    assert.equal(lenient.length, STREAM.length + 2);
    assert.deepEqual(lenient.slice(2), STREAM);
    const strict = packetizeAll(
      [input],
      new TsPacketizer({ confirmations: 3 }),
    );
    assert.deepEqual(strict, STREAM);
    for (const confirmations of [0, 1.5, 17, NaN]) {
      assert.throws(() => new TsPacketizer({ confirmations }), RangeError);
    }
  },
});

Deno.test({
  name: "TsPacketizer: packets cut anywhere, with sync-free garbage before " +
    "runs of 2+ packets, come out whole (property)",
  permissions: "none",
  fn() {
    // After garbage a packet is trusted only once the next one confirms it,
    // so each garbage run is followed by at least two packets.
    const garbageArb = fc.uint8Array({ maxLength: 400 }).map((g) =>
      g.map((b) => (b === SYNC_BYTE ? 0 : b))
    );
    const runArb = fc.array(fc.constantFrom(...STREAM), {
      minLength: 2,
      maxLength: 5,
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(garbageArb, runArb), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 600 }), {
          minLength: 1,
          maxLength: 20,
        }),
        (groups, cuts) => {
          const input = concat(groups.flatMap(([g, run]) => [g, ...run]));
          const chunks: Uint8Array[] = [];
          for (let at = 0, i = 0; at < input.length; i++) {
            const size = cuts[i % cuts.length]!;
            chunks.push(input.subarray(at, at + size));
            at += size;
          }
          const packetizer = new TsPacketizer();
          const out = packetizeAll(chunks, packetizer);
          assert.deepEqual(out, groups.flatMap(([, run]) => run));
          assert.equal(
            packetizer.skippedBytes,
            groups.reduce((n, [g]) => n + g.length, 0),
          );
        },
      ),
      { numRuns: 300 },
    );
  },
});

// ---------------------------------------------------------------------------
// GopCache

/** Splits a snapshot into packets and returns their PIDs. */
function pids(bytes: Uint8Array): number[] {
  return splitEvery(bytes, TS_PACKET_SIZE).map((p) => parsePacket(p).pid);
}

Deno.test({
  name: "GopCache snapshot() is empty until PAT, PMT and a keyframe arrive",
  permissions: "none",
  fn() {
    const cache = new GopCache();
    assert.equal(cache.snapshot().length, 0);
    cache.push(keyframe()); // before the tables: not recognised as video
    cache.push(PAT);
    cache.push(PMT);
    cache.push(video(1));
    assert.equal(cache.snapshot().length, 0);
    assert.equal(cache.push(keyframe(2)).kind, "video_keyframe_start");
    assert.equal(cache.snapshot().length, 3 * TS_PACKET_SIZE);
  },
});

Deno.test({
  name: "GopCache snapshot() is PAT, PMT, then everything since the latest " +
    "keyframe",
  permissions: "none",
  fn() {
    const cache = new GopCache();
    const stream = [
      PAT,
      PMT,
      keyframe(0, 0),
      video(1),
      audio(0),
      PAT,
      PMT,
      keyframe(2, 27_000_000),
      video(3),
      audio(1),
    ];
    for (const p of stream) cache.push(p);
    const snap = cache.snapshot();
    assert.equal(snap[0], SYNC_BYTE);
    assert.deepEqual(splitEvery(snap, TS_PACKET_SIZE), [
      PAT,
      PMT,
      keyframe(2, 27_000_000),
      video(3),
      audio(1),
    ]);
    assert.equal(cache.gopBytes, 3 * TS_PACKET_SIZE);
    // Tables inside the GOP stay where they were.
    cache.push(PAT);
    cache.push(video(4));
    assert.deepEqual(pids(cache.snapshot()), [
      0,
      PMT_PID,
      VIDEO_PID,
      VIDEO_PID,
      AUDIO_PID,
      0,
      VIDEO_PID,
    ]);
  },
});

Deno.test({
  name: "GopCache copies what it keeps",
  permissions: "none",
  fn() {
    const cache = new GopCache();
    const kf = keyframe();
    for (const p of [PAT, PMT, kf]) cache.push(p);
    kf.fill(0);
    assert.deepEqual(
      splitEvery(cache.snapshot(), TS_PACKET_SIZE)[2],
      keyframe(),
    );
  },
});

Deno.test({
  name: "GopCache drops a GOP beyond maxBytes and waits for the next keyframe",
  permissions: "none",
  fn() {
    const cache = new GopCache({ maxBytes: 4 * TS_PACKET_SIZE });
    for (const p of [PAT, PMT, keyframe(0), video(1), video(2), video(3)]) {
      cache.push(p);
    }
    assert.equal(cache.gopBytes, 4 * TS_PACKET_SIZE);
    assert.equal(cache.snapshot().length, 6 * TS_PACKET_SIZE);
    cache.push(video(4)); // the fifth packet: over the limit
    assert.equal(cache.droppedGops, 1);
    assert.equal(cache.gopBytes, 0);
    assert.equal(cache.snapshot().length, 0);
    cache.push(video(5));
    assert.equal(cache.snapshot().length, 0);
    cache.push(keyframe(6));
    assert.deepEqual(pids(cache.snapshot()), [0, PMT_PID, VIDEO_PID]);
    assert.throws(() => new GopCache({ maxBytes: 100 }), RangeError);
  },
});

Deno.test({
  name: "GopCache grows its buffer past the initial size",
  permissions: "none",
  fn() {
    const cache = new GopCache();
    for (const p of [PAT, PMT, keyframe(0)]) cache.push(p);
    for (let i = 1; i <= 500; i++) cache.push(video(i & 15, i & 0xff));
    const packets = splitEvery(cache.snapshot(), TS_PACKET_SIZE);
    assert.equal(packets.length, 503);
    assert.deepEqual(packets[502], video(500 & 15, 500 & 0xff));
  },
});

Deno.test({
  name: "GopCache snapshot() leaves out PMTs the latest PAT no longer names",
  permissions: "none",
  fn() {
    const cache = new GopCache();
    for (const p of [PAT, PMT, keyframe(0)]) cache.push(p);
    cache.push(
      packet({ pid: 0, pusi: true, payload: psi(patSection([[1, 0x1234]])) }),
    );
    assert.equal(cache.snapshot().length, 0);
  },
});

// ---------------------------------------------------------------------------
// Random input

Deno.test({
  name: "TsPacketizer, TsScanner and GopCache throw only TsFormatError on " +
    "random bytes (property)",
  permissions: "none",
  fn() {
    // Random bytes seeded with sync bytes every 188, so packets come out.
    const chunkArb = fc.uint8Array({ minLength: 0, maxLength: 600 });
    fc.assert(
      fc.property(
        fc.array(chunkArb, { maxLength: 12 }),
        fc.boolean(),
        (chunks, aligned) => {
          const packetizer = new TsPacketizer();
          const cache = new GopCache({ maxBytes: 2 * TS_PACKET_SIZE });
          let count = 0;
          const feed = (packets: Uint8Array[]) => {
            for (const p of packets) {
              assert.equal(p.length, TS_PACKET_SIZE);
              assert.equal(p[0], SYNC_BYTE);
              count++;
              try {
                cache.push(p);
              } catch (error) {
                if (!(error instanceof TsFormatError)) throw error;
              }
            }
          };
          for (const raw of chunks) {
            const chunk = raw.slice();
            if (aligned) {
              for (let i = 0; i < chunk.length; i += TS_PACKET_SIZE) {
                chunk[i] = SYNC_BYTE;
              }
            }
            feed(packetizer.push(chunk));
            assert.ok(packetizer.buffered <= 2 * TS_PACKET_SIZE);
          }
          feed(packetizer.flush());
          const snap = cache.snapshot();
          assert.equal(snap.length % TS_PACKET_SIZE, 0);
          if (snap.length > 0) assert.equal(pids(snap)[0], 0);
          assert.ok(count <= chunks.length * 4);
        },
      ),
      { numRuns: 500 },
    );
  },
});

Deno.test({
  name: "TsScanner throws only TsFormatError on random packets behind " +
    "valid tables (property)",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(0, PMT_PID, VIDEO_PID, AUDIO_PID),
            fc.uint8Array({ minLength: 185, maxLength: 185 }),
          ),
          { maxLength: 30 },
        ),
        (items) => {
          const scanner = new TsScanner();
          scanner.scan(PAT);
          scanner.scan(PMT);
          for (const [pid, rest] of items) {
            const p = new Uint8Array(TS_PACKET_SIZE);
            p[0] = SYNC_BYTE;
            p.set(rest, 3);
            p[1] = (rest[0]! & 0xe0) | (pid >> 8);
            p[2] = pid & 0xff;
            try {
              const { kind } = scanner.scan(p);
              assert.ok(
                ["pat", "pmt", "video_keyframe_start", "video", "other"]
                  .includes(kind),
              );
            } catch (error) {
              if (!(error instanceof TsFormatError)) throw error;
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  },
});

// ---------------------------------------------------------------------------
// The real test clip (testdata/video/live.m2t, made by scripts/make_testdata.sh)

const LIVE_TS = new URL("../../testdata/video/live.m2t", import.meta.url);

interface Walk {
  packets: Uint8Array[];
  kinds: Map<string, number>;
  keyframeSeconds: number[];
  scanner: TsScanner;
}

/** Scans every packet, noting the PCR time of each keyframe start. */
function walk(packets: Uint8Array[], scanner = new TsScanner()): Walk {
  const kinds = new Map<string, number>();
  const keyframeSeconds: number[] = [];
  let lastPcr: number | undefined;
  for (const p of packets) {
    const { kind, pcr } = scanner.scan(p);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    if (pcr !== undefined) lastPcr = pcr;
    if (kind === "video_keyframe_start") {
      assert.notEqual(lastPcr, undefined, "a PCR precedes the first keyframe");
      keyframeSeconds.push(lastPcr! / PCR_HZ);
    }
  }
  return { packets, kinds, keyframeSeconds, scanner };
}

Deno.test({
  name: "live.m2t: aligned packets, PAT/PMT, H.264 video PID, a keyframe " +
    "every second",
  permissions: { read: true },
  async fn() {
    const data = await Deno.readFile(LIVE_TS);
    assert.ok(data.length > 50_000, `live.m2t is only ${data.length} bytes`);
    assert.equal(data.length % TS_PACKET_SIZE, 0);
    const packetizer = new TsPacketizer();
    const packets = packetizeAll([data], packetizer);
    assert.equal(packetizer.skippedBytes, 0);
    assert.equal(packets.length, data.length / TS_PACKET_SIZE);
    for (let i = 0; i < data.length; i += TS_PACKET_SIZE) {
      assert.equal(data[i], SYNC_BYTE, `packet at ${i}`);
    }
    const { kinds, keyframeSeconds, scanner } = walk(packets);
    assert.ok((kinds.get("pat") ?? 0) > 0);
    assert.ok((kinds.get("pmt") ?? 0) > 0);
    assert.ok((kinds.get("video") ?? 0) > 0);
    assert.ok((kinds.get("other") ?? 0) > 0, "the audio stream");
    assert.equal(scanner.pmtPids.length, 1);
    assert.equal(scanner.videoStreamType, 0x1b);
    assert.notEqual(scanner.videoPid, undefined);
    assert.equal(scanner.pcrPid, scanner.videoPid);
    // ~6 s clip, one keyframe per second.
    assert.ok(
      keyframeSeconds.length >= 5 && keyframeSeconds.length <= 7,
      `keyframes at ${keyframeSeconds}`,
    );
    for (let i = 1; i < keyframeSeconds.length; i++) {
      const gap = keyframeSeconds[i]! - keyframeSeconds[i - 1]!;
      assert.ok(Math.abs(gap - 1) <= 0.2, `keyframe gap ${gap} s at #${i}`);
    }
  },
});

Deno.test({
  name: "live.m2t: packetizing 1-byte chunks and garbage-laced chunks gives " +
    "the same packets",
  permissions: { read: true },
  async fn() {
    const data = (await Deno.readFile(LIVE_TS)).subarray(
      0,
      200 * TS_PACKET_SIZE,
    );
    const expected = splitEvery(data, TS_PACKET_SIZE);
    assert.deepEqual(packetizeAll(splitEvery(data, 1)), expected);
    // Garbage (no sync byte) after every 17th packet.
    const parts: Uint8Array[] = [];
    expected.forEach((p, i) => {
      parts.push(p);
      if (i % 17 === 5) parts.push(new Uint8Array(i % 50 + 1).fill(i % 0x40));
    });
    assert.deepEqual(
      packetizeAll(splitEvery(concat(parts), 1000)),
      expected,
    );
  },
});

Deno.test({
  name: "live.m2t: a GopCache snapshot starts with PAT and PMT and holds a " +
    "keyframe start a fresh scanner sees first",
  permissions: { read: true },
  async fn() {
    const data = await Deno.readFile(LIVE_TS);
    const cache = new GopCache();
    let snapshots = 0;
    for (const p of splitEvery(data, TS_PACKET_SIZE)) {
      const { kind } = cache.push(p);
      if (kind !== "video" || snapshots >= 3) continue;
      const snap = cache.snapshot();
      if (snap.length === 0) continue;
      snapshots++;
      // A joiner's view: its first packet is the PAT, its first video packet
      // a keyframe start.
      const packets = splitEvery(snap, TS_PACKET_SIZE);
      assert.equal(snap[0], SYNC_BYTE);
      const first = parsePacket(packets[0]!);
      assert.equal(first.pid, 0);
      assert.equal(first.payloadUnitStart, true);
      const joiner = new TsScanner();
      const kinds = packets.map((q) => joiner.scan(q).kind);
      assert.deepEqual(kinds.slice(0, 2), ["pat", "pmt"]);
      assert.equal(
        kinds.find((k) => k === "video" || k === "video_keyframe_start"),
        "video_keyframe_start",
      );
    }
    assert.equal(snapshots, 3);
    const final = splitEvery(cache.snapshot(), TS_PACKET_SIZE);
    assert.ok(final.length > 3);
    assert.ok(cache.gopBytes < 1024 * 1024, "one second of video");
    assert.equal(
      walk(final).keyframeSeconds.length,
      1,
      "exactly one keyframe in a one-GOP snapshot",
    );
  },
});

Deno.test({
  name: "live.m2t: without random access flags, the IDR fallback still finds " +
    "keyframes",
  permissions: { read: true },
  async fn() {
    const data = (await Deno.readFile(LIVE_TS)).slice();
    const packets = splitEvery(data, TS_PACKET_SIZE);
    let cleared = 0;
    for (const p of packets) {
      const info = parsePacket(p);
      if (info.randomAccess) {
        p[5]! &= ~0x40;
        cleared++;
      }
    }
    assert.ok(cleared > 0);
    const flagged = walk(splitEvery(
      await Deno.readFile(LIVE_TS),
      TS_PACKET_SIZE,
    )).keyframeSeconds;
    const fallback = walk(packets).keyframeSeconds;
    // Every keyframe whose IDR slice starts in its PES's first packet; the
    // first one may carry a long encoder SEI before it.
    assert.ok(
      fallback.length >= flagged.length - 1,
      `fallback ${fallback} vs flagged ${flagged}`,
    );
    for (const t of fallback) assert.ok(flagged.includes(t));
    assert.equal(
      walk(packets, new TsScanner({ detectKeyframeNal: false }))
        .keyframeSeconds.length,
      0,
    );
  },
});

Deno.test({
  name: "live.m2t: corrupted bytes only ever raise TsFormatError (property)",
  permissions: { read: true },
  async fn() {
    const original = (await Deno.readFile(LIVE_TS)).subarray(
      0,
      400 * TS_PACKET_SIZE,
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(original.length - 1), fc.nat(255)), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 5000 }),
        (edits, chunkSize) => {
          const data = original.slice();
          for (const [at, value] of edits) data[at] = value;
          const packetizer = new TsPacketizer();
          const cache = new GopCache();
          const feed = (packets: Uint8Array[]) => {
            for (const p of packets) {
              try {
                cache.push(p);
              } catch (error) {
                if (!(error instanceof TsFormatError)) throw error;
              }
            }
          };
          for (const chunk of splitEvery(data, chunkSize)) {
            feed(packetizer.push(chunk));
          }
          feed(packetizer.flush());
          assert.equal(cache.snapshot().length % TS_PACKET_SIZE, 0);
        },
      ),
      { numRuns: 60 },
    );
  },
});
