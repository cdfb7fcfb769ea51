import assert from "node:assert/strict";
import { concat, item } from "./_testing.ts";
import { describeFrame, hexDump } from "./describe.ts";
import { decodeFrame } from "./frame.ts";
import { encodeAnyMessage } from "./message.ts";
import type { Message } from "./registry.ts";

function describe(message: Message): string {
  const decoded = decodeFrame(encodeAnyMessage(message), 0);
  assert.ok(decoded);
  return describeFrame(decoded.frame.type, decoded.frame.body);
}

Deno.test({
  name: "describeFrame() shows a calc_request with its fields",
  permissions: "none",
  fn() {
    assert.equal(
      describe({ type: "calc_request", fields: { id: 1, expression: "1+2" } }),
      'calc_request id=1 expression="1+2"',
    );
    assert.equal(describe({ type: "ping", fields: {} }), "ping");
    assert.equal(
      describe({
        type: "calc_result",
        fields: { id: 4294967295, value: 0.5, text: "0.5" },
      }),
      'calc_result id=4294967295 value=0.5 text="0.5"',
    );
  },
});

Deno.test({
  name: "describeFrame() shows an error code with its name",
  permissions: "none",
  fn() {
    assert.equal(
      describe({
        type: "error",
        fields: { id: 3, code: 32, message: "unexpected ')'", column: 7 },
      }),
      `error id=3 code=32(calc_syntax) message="unexpected ')'" column=7`,
    );
    assert.equal(
      describe({ type: "error", fields: { code: 7, message: "say hello" } }),
      'error code=7(hello_required) message="say hello"',
    );
    // A code this build does not know is shown as a bare number.
    assert.equal(
      describe({ type: "error", fields: { code: 999, message: "new" } }),
      'error code=999 message="new"',
    );
  },
});

Deno.test({
  name: "describeFrame() shows groups, u64, bytes and escaped strings",
  permissions: "none",
  fn() {
    assert.equal(
      describe({
        type: "hello_ok",
        fields: {
          version: 1,
          service: "calc",
          limits: { max_frame: 1048576, max_fields: 256, max_depth: 8 },
        },
      }),
      'hello_ok version=1 service="calc" ' +
        "limits{max_frame=1048576 max_fields=256 max_depth=8}",
    );
    assert.equal(
      describe({
        type: "bulk_end",
        fields: { id: 1, size: Number.MAX_SAFE_INTEGER },
      }),
      "bulk_end id=1 size=9007199254740991",
    );
    assert.equal(
      describe({
        type: "echo_request",
        fields: { id: 2, data: new Uint8Array([0x61, 0x00, 0xff]) },
      }),
      "echo_request id=2 data=<3 bytes 6100ff>",
    );
    assert.equal(
      describe({
        type: "calc_request",
        fields: { id: 1, expression: 'say "hi"\nbye' },
      }),
      String.raw`calc_request id=1 expression="say \"hi\"\nbye"`,
    );
  },
});

Deno.test({
  name: "describeFrame() shows unknown types and fields by hex",
  permissions: "none",
  fn() {
    assert.equal(describeFrame(0x7abc, new Uint8Array(0)), "type 0x7abc");
    assert.equal(
      describeFrame(
        0x7abc,
        concat(
          item(0x0001, new Uint8Array([0, 0, 0, 5])),
          item(0x0777, new Uint8Array([1, 2, 3])),
          item(0x8777, item(0x0001, new Uint8Array([0, 0, 0, 6]))),
        ),
      ),
      "type 0x7abc id=5 0x0777=<3 bytes 010203> 0x8777{id=6}",
    );
    // A known field of the wrong size is shown as bytes, not misread.
    assert.equal(
      describeFrame(0x0004, concat(item(0x0001, new Uint8Array([0, 9])))),
      "ping id=<2 bytes 0009>",
    );
  },
});

Deno.test({
  name: "describeFrame() shows a malformed body as such",
  permissions: "none",
  fn() {
    const runsPast = describeFrame(
      0x0200,
      new Uint8Array([0, 1, 0, 0, 0, 9, 1, 2]),
    );
    assert.equal(
      runsPast,
      "calc_request <malformed: Cannot decode field 0x0001: length 9 runs " +
        "past the end of its frame (2 bytes left)>",
    );
    const stray = describeFrame(0x7abc, new Uint8Array([1, 2, 3]));
    assert.match(stray, /^type 0x7abc <malformed: .*3 stray bytes.*>$/);
    const deep = new Uint8Array(6 * 50);
    for (let i = 0; i < 50; i++) {
      new DataView(deep.buffer).setUint16(6 * i, 0x8fff);
      new DataView(deep.buffer).setUint32(6 * i + 2, deep.length - 6 * (i + 1));
    }
    assert.match(describeFrame(0x0004, deep), /^ping <malformed: .*depth.*>$/);
  },
});

Deno.test({
  name: "describeFrame() truncates long strings and bytes",
  permissions: "none",
  fn() {
    const long = describe({
      type: "calc_request",
      fields: { id: 1, expression: "a".repeat(200) },
    });
    assert.equal(long, `calc_request id=1 expression="${"a".repeat(120)}…"`);
    const data = new Uint8Array(100).fill(0xab);
    assert.equal(
      describe({ type: "echo_reply", fields: { id: 1, data } }),
      `echo_reply id=1 data=<100 bytes ${"ab".repeat(32)}…>`,
    );
    // Exactly 32 bytes are shown whole.
    assert.equal(
      describe({
        type: "echo_reply",
        fields: { id: 1, data: data.subarray(0, 32) },
      }),
      `echo_reply id=1 data=<32 bytes ${"ab".repeat(32)}>`,
    );
  },
});

Deno.test({
  name: "hexDump() lays out offset, 16 hex bytes and ASCII per line",
  permissions: "none",
  fn() {
    assert.equal(hexDump(new Uint8Array(0)), "");
    assert.equal(
      hexDump(new Uint8Array([0x68, 0x69])),
      "0000  68 69" + " ".repeat(44) + "hi",
    );
    const bytes = new Uint8Array(18).map((_, i) => 0x20 + i * 6);
    bytes[0] = 0x00;
    bytes[1] = 0x7f;
    bytes[2] = 0x7e;
    assert.equal(
      hexDump(bytes),
      "0000  00 7f 7e 32 38 3e 44 4a 50 56 5c 62 68 6e 74 7a  ..~28>DJPV\\bhntz\n" +
        "0010  80 86" + " ".repeat(44) + "..",
    );
    // Every line puts its ASCII column at the same place.
    const lines = hexDump(new Uint8Array(40)).split("\n");
    assert.deepEqual(lines.map((l) => l.slice(0, 4)), ["0000", "0010", "0020"]);
    for (const line of lines) assert.equal(line.slice(53, 55), "  ", line);
    assert.deepEqual(lines.map((l) => l.length), [55 + 16, 55 + 16, 55 + 8]);
    assert.equal(
      lines[2],
      "0020  " + "00 ".repeat(7) + "00" + " ".repeat(24) + "  ........",
    );
  },
});

Deno.test({
  name: "hexDump() stops at maxBytes and says how much it left out",
  permissions: "none",
  fn() {
    const dump = hexDump(new Uint8Array(40).fill(0x41), 16);
    assert.equal(
      dump,
      "0000  " + "41 ".repeat(15) + "41  " + "A".repeat(16) +
        "\n…  (24 more bytes)",
    );
    assert.equal(hexDump(new Uint8Array(16), 16).split("\n").length, 1);
  },
});
