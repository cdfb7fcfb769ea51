import assert from "node:assert/strict";
import { optionText, readPcapng } from "./_testing.ts";
import {
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeSectionHeader,
  LINKTYPE_USER0,
  OPTION,
  pad4,
} from "./pcapng.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test({
  name:
    "encodeSectionHeader() writes the block type, byte-order magic, version 1.0 and length -1",
  permissions: "none",
  fn() {
    const shb = encodeSectionHeader({ application: "socklab 1" });
    // type, total length 48, magic (LE), 1.0, -1, shb_userappl "socklab 1"
    // (9 bytes, padded to 12), opt_endofopt, total length again.
    assert.equal(
      hex(shb),
      [
        "0a 0d 0d 0a",
        "30 00 00 00",
        "4d 3c 2b 1a",
        "01 00 00 00",
        "ff ff ff ff ff ff ff ff",
        "04 00 09 00",
        "73 6f 63 6b 6c 61 62 20 31 00 00 00",
        "00 00 00 00",
        "30 00 00 00",
      ].join(" "),
    );
    const parsed = readPcapng(shb);
    assert.equal(parsed.littleEndian, true);
    assert.equal(parsed.version, "1.0");
    assert.equal(
      optionText(parsed.sectionOptions, OPTION.shbUserApplication),
      "socklab 1",
    );
  },
});

Deno.test({
  name:
    "encodeSectionHeader() in big-endian order writes the magic as 1a 2b 3c 4d, and a reader follows it",
  permissions: "none",
  fn() {
    const be = { littleEndian: false };
    const shb = encodeSectionHeader(be);
    assert.equal(
      hex(shb.subarray(0, 12)),
      "0a 0d 0d 0a 00 00 00 1c 1a 2b 3c 4d",
    );
    const file = join(
      shb,
      encodeInterfaceDescription({ ...be, linkType: LINKTYPE_USER0 }),
      encodeEnhancedPacket({
        ...be,
        timestampUs: 2 ** 32 + 7,
        data: new Uint8Array([1, 2, 3]),
        direction: "outbound",
      }),
    );
    const parsed = readPcapng(file);
    assert.equal(parsed.littleEndian, false);
    assert.equal(parsed.interfaces[0]?.linkType, 147);
    assert.equal(parsed.packets[0]?.timestampUs, 2 ** 32 + 7);
    assert.deepEqual(parsed.packets[0]?.data, new Uint8Array([1, 2, 3]));
    assert.equal(parsed.packets[0]?.direction, 2);
  },
});

Deno.test({
  name:
    "encodeInterfaceDescription() writes the link type, snap length, name and microsecond resolution",
  permissions: "none",
  fn() {
    const idb = encodeInterfaceDescription({
      linkType: LINKTYPE_USER0,
      snapLength: 262144,
      name: "socklab",
    });
    assert.equal(
      hex(idb),
      [
        "01 00 00 00",
        "2c 00 00 00",
        "93 00 00 00", // link type 147, reserved
        "00 00 04 00", // snap length 262144
        "02 00 07 00 73 6f 63 6b 6c 61 62 00", // if_name "socklab", padded
        "09 00 01 00 06 00 00 00", // if_tsresol 6
        "00 00 00 00",
        "2c 00 00 00",
      ].join(" "),
    );
  },
});

Deno.test({
  name:
    "encodeEnhancedPacket() pads packet data to 32 bits with zeros, for every length mod 4",
  permissions: "none",
  fn() {
    for (let n = 0; n <= 9; n++) {
      const data = new Uint8Array(n).fill(0xee);
      const epb = encodeEnhancedPacket({ timestampUs: 1, data });
      assert.equal(epb.length % 4, 0);
      assert.equal(epb.length, 32 + pad4(n));
      const view = new DataView(epb.buffer);
      assert.equal(view.getUint32(4, true), epb.length);
      assert.equal(view.getUint32(epb.length - 4, true), epb.length);
      assert.equal(view.getUint32(20, true), n, "captured length");
      assert.equal(view.getUint32(24, true), n, "original length");
      for (let i = 28 + n; i < 28 + pad4(n); i++) assert.equal(epb[i], 0);
      assert.deepEqual(
        readPcapng(join(encodeSectionHeader(), epb)).packets[0]?.data,
        data,
      );
    }
  },
});

Deno.test({
  name:
    "encodeEnhancedPacket() splits a microsecond timestamp into high and low words and records direction",
  permissions: "none",
  fn() {
    const t = 1_750_000_000_123_456; // 2025, in µs
    const epb = encodeEnhancedPacket({
      timestampUs: t,
      data: new Uint8Array(4),
      originalLength: 100,
      direction: "inbound",
      comment: "hi",
    });
    const view = new DataView(epb.buffer);
    assert.equal(view.getUint32(12, true), Math.floor(t / 2 ** 32));
    assert.equal(view.getUint32(16, true), t % 2 ** 32);
    const [packet] = readPcapng(join(encodeSectionHeader(), epb)).packets;
    assert.equal(packet?.timestampUs, t);
    assert.equal(packet?.originalLength, 100);
    assert.equal(packet?.direction, 1);
    assert.equal(optionText(packet?.options ?? [], OPTION.comment), "hi");
  },
});

Deno.test({
  name:
    "encodeEnhancedPacket() rejects a timestamp that is negative, fractional or beyond 2^53",
  permissions: "none",
  fn() {
    for (const timestampUs of [-1, 1.5, 2 ** 53, NaN]) {
      assert.throws(
        () => encodeEnhancedPacket({ timestampUs, data: new Uint8Array() }),
        RangeError,
      );
    }
  },
});

Deno.test({
  name:
    "the test reader rejects a block whose trailing length differs and counts a cut-short block as trailing",
  permissions: "none",
  fn() {
    const file = join(
      encodeSectionHeader(),
      encodeInterfaceDescription({ linkType: LINKTYPE_USER0 }),
      encodeEnhancedPacket({ timestampUs: 1, data: new Uint8Array(10) }),
    );
    const cut = file.subarray(0, file.length - 3);
    const parsed = readPcapng(cut);
    assert.equal(parsed.packets.length, 0);
    assert.ok(parsed.trailing > 0);
    const broken = file.slice();
    broken[broken.length - 4] = 0;
    assert.throws(() => readPcapng(broken), /trailing length/);
  },
});
