import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatIpv4,
  formatIpv6,
  parseIpv4,
  parseIpv4Number,
  parseIpv6,
} from "./address.ts";
import { hex } from "./_testing.ts";

Deno.test({
  name: "parseIpv4() reads dotted quads",
  permissions: "none",
  fn() {
    assert.deepEqual(parseIpv4("192.0.2.1"), hex("c0 00 02 01"));
    assert.deepEqual(parseIpv4("0.0.0.0"), hex("00 00 00 00"));
    assert.deepEqual(parseIpv4("255.255.255.255"), hex("ff ff ff ff"));
  },
});

Deno.test({
  name: "parseIpv4() rejects anything but four decimal numbers 0-255",
  permissions: "none",
  fn() {
    for (
      const text of [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "01.2.3.4",
        "1.2.3.00",
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.-4",
        "1.2.3.0x4",
        "1..3.4",
        "1.2.3.4.",
        "::1",
      ]
    ) {
      assert.equal(parseIpv4(text), undefined, text);
    }
  },
});

Deno.test({
  name: "parseIpv4Number() reads what parseIpv4() reads, as one number",
  permissions: "none",
  fn() {
    assert.equal(parseIpv4Number("192.0.2.1"), 0xc0000201);
    assert.equal(parseIpv4Number("0.0.0.0"), 0);
    assert.equal(parseIpv4Number("255.255.255.255"), 0xffffffff);
    for (
      const text of ["1.2.3", "256.0.0.1", "01.2.3.4", "1.2.3.4.", "a.b.c.d"]
    ) {
      assert.equal(parseIpv4Number(text), undefined, text);
    }
  },
});

Deno.test({
  name: "parseIpv6() reads every RFC 4291 text form",
  permissions: "none",
  fn() {
    const cases: [string, string][] = [
      ["::1", "00000000000000000000000000000001"],
      ["::", "00000000000000000000000000000000"],
      ["2001:db8::1", "20010db8000000000000000000000001"],
      [
        "2001:0DB8:0000:0000:0000:0000:0000:0001",
        "20010db8000000000000000000000001",
      ],
      ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
      ["1::", "00010000000000000000000000000000"],
      ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
      ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
      ["::ffff:1.2.3.4", "00000000000000000000ffff01020304"],
      ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
      ["::1.2.3.4", "00000000000000000000000001020304"],
    ];
    for (const [text, bytes] of cases) {
      assert.deepEqual(parseIpv6(text), hex(bytes), text);
    }
  },
});

Deno.test({
  name: "parseIpv6() rejects malformed text",
  permissions: "none",
  fn() {
    for (
      const text of [
        "",
        ":",
        ":::",
        "1::2::3",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7::8",
        "1:2:3:4:5:6:7:8::",
        ":1::",
        "1::2:",
        ":1:2:3:4:5:6:7:8",
        "12345::",
        "g::",
        "fe80::1%eth0",
        "1.2.3.4",
        "::1.2.3.4:1",
        "::ffff:256.1.1.1",
        "1:2:3:4:5:6:7:1.2.3.4",
        " ::1",
      ]
    ) {
      assert.equal(parseIpv6(text), undefined, text);
    }
  },
});

Deno.test({
  name: "formatIpv6() writes the RFC 5952 form",
  permissions: "none",
  fn() {
    const cases: [string, string][] = [
      ["00000000000000000000000000000001", "::1"],
      ["00000000000000000000000000000000", "::"],
      ["20010db8000000000000000000000001", "2001:db8::1"],
      ["20010DB8000000000001000000000001", "2001:db8::1:0:0:1"], // first of equal runs
      ["20010db8000000010000000000000001", "2001:db8:0:1::1"], // longest run
      ["20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"], // one zero group stays
      ["00010002000300040005000600070008", "1:2:3:4:5:6:7:8"],
      ["00010000000000000000000000000000", "1::"],
      ["00000000000000000000ffff01020304", "::ffff:1.2.3.4"],
      ["00000000000000000000ffff00000000", "::ffff:0.0.0.0"],
      ["00000000000000000000000001020304", "::102:304"], // not IPv4-mapped
      ["abcd000000000000000000000000ef01", "abcd::ef01"],
    ];
    for (const [bytes, text] of cases) {
      assert.equal(formatIpv6(hex(bytes)), text, bytes);
    }
  },
});

Deno.test({
  name: "formatIpv4() writes a dotted quad",
  permissions: "none",
  fn() {
    assert.equal(formatIpv4(hex("7f 00 00 01")), "127.0.0.1");
    assert.equal(formatIpv4(hex("ff ff ff ff")), "255.255.255.255");
  },
});

Deno.test({
  name: "formatIpv6() and parseIpv6() round-trip every address",
  permissions: "none",
  fn() {
    const sparse = fc.array(
      fc.constantFrom(0, 0, 0, 1, 0xffff, 0xabcd),
      { minLength: 8, maxLength: 8 },
    ).map((groups) => {
      const out = new Uint8Array(16);
      groups.forEach((g, i) => new DataView(out.buffer).setUint16(2 * i, g));
      return out;
    });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), sparse),
        (bytes) => {
          const text = formatIpv6(bytes);
          assert.deepEqual(parseIpv6(text), bytes);
          assert.equal(text, text.toLowerCase());
          assert.ok(!/(^|:)0[0-9a-f]/.test(text), text);
        },
      ),
    );
  },
});
