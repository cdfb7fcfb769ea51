import assert from "node:assert/strict";
import { concat, item } from "./_testing.ts";
import { decodeFrame, type Frame, TlvDecodeError } from "./frame.ts";
import { decodeMessage, encodeAnyMessage, encodeMessage } from "./message.ts";
import {
  CONTAINER_BIT,
  type ErrorName,
  FIELDS,
  type FieldSpec,
  type FieldsSpec,
  type Message,
  type MessageName,
  MESSAGES,
} from "./registry.ts";

const SAMPLE_BY_KIND = {
  u8: 0xab,
  u16: 0xbeef,
  u32: 0xdeadbeef,
  u64: Number.MAX_SAFE_INTEGER,
  f64: -Math.PI,
  bool: true,
  string: "héllo ✓ 🚀",
  bytes: new Uint8Array([0, 1, 0x7f, 0x80, 0xff]),
} as const;

/** A value for every field of `spec`, or only the required ones. */
function sample(spec: FieldsSpec, all: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, presence] of Object.entries(spec)) {
    if (!all && presence !== "required") continue;
    const field: FieldSpec = FIELDS[name as keyof typeof FIELDS];
    const one = field.kind === "group"
      ? sample(field.fields ?? {}, all)
      : SAMPLE_BY_KIND[field.kind];
    out[name] = presence === "repeated" ? [one, one] : one;
  }
  return out;
}

/** Encodes by name, for loops over the registry. */
function encode(
  type: MessageName,
  fields: Record<string, unknown>,
): Uint8Array {
  return encodeAnyMessage({ type, fields } as Message);
}

function roundTrip(bytes: Uint8Array): Message {
  const decoded = decodeFrame(bytes, 0);
  assert.ok(decoded, "encodeMessage() produced an incomplete frame");
  assert.equal(decoded.next, bytes.length);
  return decodeMessage(decoded.frame);
}

// Hand-built items, independent of the encoder under test.
function frame(type: number, ...fields: Uint8Array[]): Frame {
  return { type, body: concat(...fields) };
}

function uint(n: number | bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = BigInt(n);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const ID = item(0x0001, uint(1, 4));
const EXPRESSION = item(0x0009, utf8("1+2"));

function assertRejects(f: Frame, code: ErrorName, pattern?: RegExp): void {
  assert.throws(
    () => decodeMessage(f),
    (error: unknown) => {
      assert.ok(error instanceof TlvDecodeError, `got ${error}`);
      assert.equal(error.code, code, error.message);
      if (pattern) assert.match(error.message, pattern);
      return true;
    },
  );
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip every message type",
  permissions: "none",
  fn() {
    const names = Object.keys(MESSAGES) as MessageName[];
    assert.ok(names.length >= 12);
    for (const type of names) {
      for (const all of [true, false]) {
        const fields = sample(MESSAGES[type].fields, all);
        const bytes = encode(type, fields);
        assert.equal(
          new DataView(bytes.buffer).getUint16(0),
          MESSAGES[type].code,
          type,
        );
        assert.deepEqual(roundTrip(bytes), { type, fields }, type);
      }
    }
  },
});

Deno.test({
  name: "encodeMessage() carries the limits group of hello_ok",
  permissions: "none",
  fn() {
    const full = {
      version: 1,
      service: "calc",
      agent: "socklab/0.1.0",
      limits: {
        max_frame: 1024 * 1024,
        max_fields: 256,
        max_depth: 8,
        idle_timeout: 30_000,
      },
    };
    assert.deepEqual(roundTrip(encodeMessage("hello_ok", full)), {
      type: "hello_ok",
      fields: full,
    });
    const bare = {
      version: 1,
      service: "echo",
      limits: { max_frame: 0, max_fields: 0, max_depth: 0 },
    };
    const bytes = encodeMessage("hello_ok", bare);
    assert.deepEqual(roundTrip(bytes), { type: "hello_ok", fields: bare });
    // The group is a container item (tag 0x8001) holding three fields.
    const groupAt = bytes.length - (6 + 10 + 8 + 8);
    assert.equal(hex(bytes.subarray(groupAt, groupAt + 6)), "80010000001a");
  },
});

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip unicode strings",
  permissions: "none",
  fn() {
    const strings = [
      "",
      "1+2",
      "日本語のテキスト",
      "🚀 astral plane 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
      "e\u0301 combining",
      "\u0000nul inside\u0000",
      "\uFEFFleading byte order mark",
      "\uFFFD replacement char",
      "x".repeat(70_000),
    ];
    for (const expression of strings) {
      const fields = { id: 1, expression };
      assert.deepEqual(
        roundTrip(encodeMessage("calc_request", fields)),
        { type: "calc_request", fields },
        JSON.stringify(expression.slice(0, 40)),
      );
    }
  },
});

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip empty and binary bytes",
  permissions: "none",
  fn() {
    const all = new Uint8Array(256).map((_, i) => i);
    for (const data of [new Uint8Array(0), all, all.subarray(100, 103)]) {
      const fields = { id: 0, data };
      const message = roundTrip(encodeMessage("echo_request", fields));
      assert.equal(message.type, "echo_request");
      assert.deepEqual(message.fields, { id: 0, data: data.slice() });
    }
  },
});

Deno.test({
  name: "decodeMessage() returns copies that outlive the frame's buffer",
  permissions: "none",
  fn() {
    const bytes = encodeMessage("echo_request", {
      id: 5,
      data: new Uint8Array([1, 2, 3]),
    });
    const message = roundTrip(bytes);
    bytes.fill(0);
    assert.deepEqual(message.fields, {
      id: 5,
      data: new Uint8Array([1, 2, 3]),
    });
  },
});

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip u64 up to 2^53-1",
  permissions: "none",
  fn() {
    for (
      const size of [
        0,
        1,
        0xffffffff,
        2 ** 32,
        2 ** 52 + 1,
        Number.MAX_SAFE_INTEGER,
      ]
    ) {
      const fields = { id: 1, size };
      assert.deepEqual(
        roundTrip(encodeMessage("bulk_end", fields)),
        { type: "bulk_end", fields },
        String(size),
      );
    }
    const bytes = encodeMessage("bulk_end", {
      id: 1,
      size: Number.MAX_SAFE_INTEGER,
    });
    assert.equal(hex(bytes.subarray(-8)), "001fffffffffffff");
  },
});

Deno.test({
  name:
    "encodeMessage() and decodeMessage() round-trip f64 NaN, infinities and -0",
  permissions: "none",
  fn() {
    const values = [
      Number.NaN,
      Infinity,
      -Infinity,
      -0,
      0,
      Number.MIN_VALUE,
      -Number.MAX_VALUE,
      0.1 + 0.2,
    ];
    for (const value of values) {
      const message = roundTrip(
        encodeMessage("calc_result", { id: 1, value, text: String(value) }),
      );
      assert.equal(message.type, "calc_result");
      assert.ok(
        message.type === "calc_result" &&
          Object.is(message.fields.value, value),
        `${value} came back as ${message.fields}`,
      );
    }
  },
});

Deno.test({
  name: "encodeMessage() matches the golden calc_request bytes",
  permissions: "none",
  fn() {
    // type 0x0200, body 19 bytes = id (6 + 4) + expression (6 + 3).
    const golden = "0200" + "00000013" +
      "0001" + "00000004" + "00000001" +
      "0009" + "00000003" + "312b32";
    const bytes = encodeMessage("calc_request", { id: 1, expression: "1+2" });
    assert.equal(hex(bytes), golden);
    assert.equal(bytes.length, 25);
    assert.deepEqual(roundTrip(bytes), {
      type: "calc_request",
      fields: { id: 1, expression: "1+2" },
    });
  },
});

Deno.test({
  name:
    "encodeMessage() writes fields in registry order and omits absent optionals",
  permissions: "none",
  fn() {
    assert.equal(hex(encodeMessage("ping", {})), "000400000000");
    // Key order in the object does not matter; the registry's order does.
    const a = encodeMessage("error", { message: "m", code: 6, id: 2 });
    const b = encodeMessage("error", { id: 2, code: 6, message: "m" });
    assert.equal(hex(a), hex(b));
    assert.equal(
      hex(a),
      // body 25 bytes = id (6 + 4) + code (6 + 2) + message (6 + 1)
      "0003" + "00000019" +
        "0001" + "00000004" + "00000002" +
        "0005" + "00000002" + "0006" +
        "0006" + "00000001" + "6d",
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects an unknown message type",
  permissions: "none",
  fn() {
    for (const type of [0x0006, 0x0102, 0x7fff]) {
      assertRejects(frame(type), "unknown_type", new RegExp(type.toString(16)));
    }
  },
});

Deno.test({
  name: "decodeMessage() rejects a missing required field by name",
  permissions: "none",
  fn() {
    assertRejects(frame(0x0200, ID), "bad_message", /'expression'/);
    assertRejects(frame(0x0200, EXPRESSION), "bad_message", /'id'/);
    assertRejects(frame(0x0201), "bad_message", /required field/);
    // Required fields inside a group are checked as well.
    const limits = item(
      0x8001,
      item(0x0010, uint(1, 4)),
      item(0x0011, uint(1, 2)),
    );
    assertRejects(
      frame(
        0x0002,
        item(0x0002, uint(1, 2)),
        item(0x0003, utf8("calc")),
        limits,
      ),
      "bad_message",
      /'max_depth'/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a fixed-size field of the wrong size",
  permissions: "none",
  fn() {
    for (const size of [0, 3, 5, 8]) {
      assertRejects(
        frame(0x0200, item(0x0001, new Uint8Array(size)), EXPRESSION),
        "bad_message",
        new RegExp(`'id' \\(u32\\) has ${size} bytes, expected 4`),
      );
    }
    assertRejects(
      frame(0x0001, item(0x0002, uint(1, 1)), item(0x0003, utf8("calc"))),
      "bad_message",
      /'version'/,
    );
    assertRejects(
      frame(
        0x0201,
        ID,
        item(0x000a, new Uint8Array(4)),
        item(0x000b, utf8("0")),
      ),
      "bad_message",
      /'value'/,
    );
    assertRejects(
      frame(0x0302, ID, item(0x000d, new Uint8Array(7))),
      "bad_message",
      /'size'/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a duplicate non-repeated field",
  permissions: "none",
  fn() {
    assertRejects(
      frame(0x0200, ID, EXPRESSION, ID),
      "bad_message",
      /'id' appears more than once/,
    );
    const limits = item(
      0x8001,
      item(0x0010, uint(1, 4)),
      item(0x0011, uint(1, 2)),
      item(0x0012, uint(1, 2)),
    );
    const hello = [item(0x0002, uint(1, 2)), item(0x0003, utf8("calc"))];
    assert.equal(
      decodeMessage(frame(0x0002, ...hello, limits)).type,
      "hello_ok",
    );
    assertRejects(
      frame(0x0002, ...hello, limits, limits),
      "bad_message",
      /'limits' appears more than once/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects invalid UTF-8 in a string field",
  permissions: "none",
  fn() {
    const invalid = [
      [0xff],
      [0xc3], // truncated two-byte sequence
      [0xc0, 0xaf], // overlong '/'
      [0xed, 0xa0, 0x80], // an encoded surrogate half
      [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
      [0x31, 0x2b, 0x80],
    ];
    for (const bytes of invalid) {
      assertRejects(
        frame(0x0200, ID, item(0x0009, new Uint8Array(bytes))),
        "bad_message",
        /'expression' is not valid UTF-8/,
      );
    }
  },
});

Deno.test({
  name: "decodeMessage() rejects a u64 above 2^53-1",
  permissions: "none",
  fn() {
    const ok = frame(0x0302, ID, item(0x000d, uint(2n ** 53n - 1n, 8)));
    assert.deepEqual(decodeMessage(ok).fields, {
      id: 1,
      size: Number.MAX_SAFE_INTEGER,
    });
    for (const big of [2n ** 53n, 2n ** 64n - 1n]) {
      assertRejects(
        frame(0x0302, ID, item(0x000d, uint(big, 8))),
        "bad_message",
        new RegExp(`'size' value ${big}`),
      );
    }
  },
});

Deno.test({
  name: "registry group fields, and only they, carry the container bit",
  permissions: "none",
  fn() {
    // decodeItems decides group-or-scalar from the tag's container bit and
    // decodeMessage looks the field up by that same tag, so a group arriving
    // where a scalar is expected (or the reverse) is impossible exactly as
    // long as this holds.
    for (
      const [name, spec] of Object.entries(FIELDS) as [string, FieldSpec][]
    ) {
      assert.equal(
        (spec.tag & CONTAINER_BIT) !== 0,
        spec.kind === "group",
        name,
      );
    }
    // A scalar tag with the container bit added is a different field: the
    // decoder skips it as unknown instead of misreading it, and the real
    // field is then missing.
    assertRejects(
      frame(0x0200, item(0x0001 | CONTAINER_BIT), EXPRESSION),
      "bad_message",
      /'id'/,
    );
    // limits (0x8001) without its container bit is an unknown scalar tag.
    const hello = [item(0x0002, uint(1, 2)), item(0x0003, utf8("calc"))];
    assert.deepEqual(
      decodeMessage(frame(0x0002, ...hello, item(0x0001, uint(1, 4)))).fields,
      { version: 1, service: "calc" },
    );
  },
});

Deno.test({
  name: "decodeMessage() skips unknown fields for forward compatibility",
  permissions: "none",
  fn() {
    const expected = {
      type: "calc_request",
      fields: { id: 1, expression: "1+2" },
    };
    const unknownScalar = item(0x0777, new Uint8Array([1, 2, 3]));
    const unknownGroup = item(
      0x8777,
      item(0x0001, new Uint8Array(9)),
      item(0x8778),
    );
    const foreignField = item(0x0008, new Uint8Array([9])); // data, not in calc_request
    assert.deepEqual(
      decodeMessage(
        frame(
          0x0200,
          unknownScalar,
          ID,
          unknownGroup,
          foreignField,
          EXPRESSION,
        ),
      ),
      expected,
    );
    // Inside a group too.
    const limits = item(
      0x8001,
      item(0x0010, uint(10, 4)),
      unknownScalar,
      item(0x0011, uint(11, 2)),
      item(0x0012, uint(12, 2)),
      unknownGroup,
    );
    const hello = [item(0x0002, uint(1, 2)), item(0x0003, utf8("calc"))];
    assert.deepEqual(decodeMessage(frame(0x0002, ...hello, limits)).fields, {
      version: 1,
      service: "calc",
      limits: { max_frame: 10, max_fields: 11, max_depth: 12 },
    });
  },
});

Deno.test({
  name: "decodeMessage() enforces maxFields and maxDepth",
  permissions: "none",
  fn() {
    const f = frame(0x0200, ID, EXPRESSION);
    assert.throws(
      () => decodeMessage(f, { maxFields: 1, maxDepth: 8 }),
      (e: unknown) =>
        e instanceof TlvDecodeError && e.code === "too_many_fields",
    );
    const hello = encodeMessage("hello_ok", {
      version: 1,
      service: "calc",
      limits: { max_frame: 1, max_fields: 1, max_depth: 1 },
    });
    const decoded = decodeFrame(hello, 0);
    assert.ok(decoded);
    assert.throws(
      () => decodeMessage(decoded.frame, { maxFields: 100, maxDepth: 1 }),
      (e: unknown) => e instanceof TlvDecodeError && e.code === "too_deep",
    );
  },
});

Deno.test({
  name: "encodeMessage() throws TypeError for a missing required field",
  permissions: "none",
  fn() {
    assert.throws(
      () => encodeMessage("calc_request", { id: 1 } as never),
      { name: "TypeError", message: /calc_request.*'expression'/ },
    );
    assert.throws(
      () =>
        encodeMessage("hello_ok", {
          version: 1,
          service: "calc",
          limits: { max_fields: 1, max_depth: 1 },
        } as never),
      { name: "TypeError", message: /limits.*'max_frame'/ },
    );
  },
});

Deno.test({
  name: "encodeMessage() throws TypeError for out-of-range or mistyped values",
  permissions: "none",
  fn() {
    const badIds = [-1, 2 ** 32, 1.5, Number.NaN, Infinity];
    for (const id of badIds) {
      assert.throws(
        () => encodeMessage("ping", { id }),
        { name: "TypeError", message: /'id'/ },
        String(id),
      );
    }
    for (const version of [-1, 65_536]) {
      assert.throws(
        () => encodeMessage("hello", { version, service: "calc" }),
        TypeError,
      );
    }
    for (const size of [-1, 2 ** 53, 2 ** 64]) {
      assert.throws(
        () => encodeMessage("bulk_end", { id: 1, size }),
        TypeError,
      );
    }
    assert.throws(
      () => encodeMessage("calc_request", { id: 1, expression: 42 } as never),
      TypeError,
    );
    assert.throws(
      () => encodeMessage("echo_request", { id: 1, data: "abc" } as never),
      TypeError,
    );
    assert.throws(
      () => encodeMessage("ping", { id: "1" } as never),
      TypeError,
    );
    // The boundaries themselves are accepted.
    encodeMessage("ping", { id: 0 });
    encodeMessage("ping", { id: 2 ** 32 - 1 });
    encodeMessage("hello", { version: 65_535, service: "" });
  },
});
