import assert from "node:assert/strict";
import {
  bitString,
  context,
  ecdsaSignature,
  int,
  oid,
  pem,
  seq,
  tlv,
  utcTime,
  utf8,
} from "./der.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");

Deno.test({
  name: "DER lengths: short form below 128, long form above",
  permissions: "none",
  fn() {
    assert.equal(hex(tlv(0x04, new Uint8Array(3))), "04 03 00 00 00");
    assert.equal(
      hex(tlv(0x04, new Uint8Array(200)).subarray(0, 3)),
      "04 81 c8",
    );
    assert.equal(
      hex(tlv(0x04, new Uint8Array(300)).subarray(0, 4)),
      "04 82 01 2c",
    );
  },
});

Deno.test({
  name: "DER INTEGER: minimal, positive, with a zero before a set top bit",
  permissions: "none",
  fn() {
    assert.equal(hex(int(0)), "02 01 00");
    assert.equal(hex(int(2)), "02 01 02");
    assert.equal(hex(int(128)), "02 02 00 80");
    assert.equal(hex(int(65537)), "02 03 01 00 01");
    assert.equal(hex(int(Uint8Array.of(0, 0, 0x7f))), "02 01 7f");
    assert.equal(hex(int(Uint8Array.of(0xff))), "02 02 00 ff");
    assert.throws(() => int(-1), RangeError);
  },
});

Deno.test({
  name: "DER OID, strings, time, context tags and PEM as X.509 uses them",
  permissions: "none",
  fn() {
    // ecdsa-with-SHA256 and commonName, as every certificate carries them.
    assert.equal(
      hex(oid("1.2.840.10045.4.3.2")),
      "06 08 2a 86 48 ce 3d 04 03 02",
    );
    assert.equal(hex(oid("2.5.4.3")), "06 03 55 04 03");
    assert.equal(hex(utf8("hi")), "0c 02 68 69");
    assert.equal(
      new TextDecoder().decode(
        utcTime(new Date(Date.UTC(2026, 10, 21, 9, 5, 7))).subarray(2),
      ),
      "261121090507Z",
    );
    assert.equal(hex(context(0, int(2))), "a0 03 02 01 02");
    assert.equal(
      hex(context(7, Uint8Array.of(127, 0, 0, 1), false)),
      "87 04 7f 00 00 01",
    );
    assert.equal(hex(bitString(Uint8Array.of(0xab))), "03 02 00 ab");
    assert.equal(hex(seq()), "30 00");
    assert.match(
      pem("CERTIFICATE", Uint8Array.of(1, 2, 3)),
      /^-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n$/,
    );
  },
});

Deno.test({
  name:
    "ecdsaSignature() turns raw r||s into SEQUENCE { r, s } with positive integers",
  permissions: "none",
  fn() {
    const raw = new Uint8Array(64);
    raw[0] = 0x80; // r's top bit set: needs a leading zero
    raw[63] = 1;
    const der = ecdsaSignature(raw);
    assert.equal(der[0], 0x30);
    assert.equal(hex(der.subarray(2, 5)), "02 21 00");
    assert.equal(hex(der.subarray(-3)), "02 01 01");
  },
});
