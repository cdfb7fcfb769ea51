import assert from "node:assert/strict";
import {
  decodePseudoHeader,
  PSEUDO_HEADER_LENGTH,
  type PseudoHeader,
  PseudoHeaderError,
  writePseudoHeader,
} from "./pseudo_header.ts";

function encode(header: PseudoHeader): Uint8Array {
  const out = new Uint8Array(PSEUDO_HEADER_LENGTH);
  assert.equal(writePseudoHeader(header, out, 0), PSEUDO_HEADER_LENGTH);
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const v4: PseudoHeader = {
  direction: "recv",
  transport: "tcp",
  source: { address: "127.0.0.1", port: 50000 },
  destination: { address: "10.1.2.3", port: 9000 },
};

Deno.test({
  name:
    "writePseudoHeader() lays out version, direction, transport, family, ports and addresses big-endian",
  permissions: "none",
  fn() {
    assert.equal(
      hex(encode(v4)),
      "01010104" + "c350" + "2328" +
        "7f000001" + "00".repeat(12) +
        "0a010203" + "00".repeat(12),
    );
    assert.deepEqual(decodePseudoHeader(encode(v4)), v4);
  },
});

Deno.test({
  name: "pseudo-headers round-trip for IPv6, UDP, TLS and both directions",
  permissions: "none",
  fn() {
    const cases: PseudoHeader[] = [
      {
        direction: "send",
        transport: "udp",
        source: { address: "::1", port: 1 },
        destination: { address: "2001:db8::1", port: 65535 },
      },
      { ...v4, transport: "tls", direction: "send" },
      { ...v4, transport: "unknown" },
    ];
    for (const header of cases) {
      assert.deepEqual(decodePseudoHeader(encode(header)), header);
    }
  },
});

Deno.test({
  name:
    "writePseudoHeader() maps an IPv4 end to IPv6 beside an IPv6 one, and zeroes a name that is not an address",
  permissions: "none",
  fn() {
    const mixed = decodePseudoHeader(encode({
      ...v4,
      source: { address: "[::1]", port: 5 },
    }));
    assert.equal(mixed.source.address, "::1");
    assert.equal(mixed.destination.address, "::ffff:10.1.2.3");
    const named = decodePseudoHeader(encode({
      ...v4,
      destination: { address: "localhost", port: 9000 },
    }));
    assert.equal(named.destination.address, "0.0.0.0");
    const zoned = decodePseudoHeader(encode({
      ...v4,
      source: { address: "fe80::1%eth0", port: 5 },
    }));
    assert.equal(zoned.source.address, "fe80::1");
  },
});

Deno.test({
  name:
    "writePseudoHeader() writes at an offset inside a larger buffer and rejects a bad port",
  permissions: "none",
  fn() {
    const out = new Uint8Array(50).fill(0xff);
    writePseudoHeader(v4, out.subarray(3), 2);
    assert.deepEqual(decodePseudoHeader(out, 5), v4);
    assert.equal(out[4], 0xff);
    assert.equal(out[45], 0xff);
    assert.throws(
      () => encode({ ...v4, source: { address: "127.0.0.1", port: 70000 } }),
      RangeError,
    );
  },
});

Deno.test({
  name:
    "decodePseudoHeader() rejects short input, another version, family or direction",
  permissions: "none",
  fn() {
    assert.throws(
      () => decodePseudoHeader(new Uint8Array(39)),
      PseudoHeaderError,
    );
    for (const [at, value] of [[0, 2], [1, 9], [2, 9], [3, 5]] as const) {
      const bytes = encode(v4);
      bytes[at] = value;
      assert.throws(
        () => decodePseudoHeader(bytes),
        (e) => e instanceof PseudoHeaderError && e.offset === at,
      );
    }
  },
});
