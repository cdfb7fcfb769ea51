import assert from "node:assert/strict";
import fc from "fast-check";
import { concat, item, split } from "./_testing.ts";
import { describeFrame } from "./describe.ts";
import { decodeFrame, TlvDecodeError } from "./frame.ts";
import { FrameReader } from "./frame_reader.ts";
import { decodeMessage, encodeAnyMessage } from "./message.ts";
import {
  CONTAINER_BIT,
  ERRORS,
  type FieldKind,
  FIELDS,
  type FieldSpec,
  type FieldsSpec,
  type Message,
  type MessageName,
  MESSAGES,
} from "./registry.ts";

// ---- Valid messages, generated from the registry ----

const KIND: Record<Exclude<FieldKind, "group">, fc.Arbitrary<unknown>> = {
  u8: fc.integer({ min: 0, max: 0xff }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  u32: fc.integer({ min: 0, max: 0xffffffff }),
  u64: fc.oneof(fc.maxSafeNat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  f64: fc.double(), // includes NaN, ±Infinity and -0
  bool: fc.boolean(),
  // Whole code points only: a lone surrogate has no UTF-8 form.
  string: fc.string({ unit: "binary", maxLength: 24 }),
  bytes: fc.uint8Array({ maxLength: 48 }),
};

function fieldsArb(spec: FieldsSpec): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const requiredKeys: string[] = [];
  for (const [name, presence] of Object.entries(spec)) {
    const field: FieldSpec = FIELDS[name as keyof typeof FIELDS];
    const one = field.kind === "group"
      ? fieldsArb(field.fields ?? {})
      : KIND[field.kind];
    model[name] = presence === "repeated"
      ? fc.array(one, { minLength: 1, maxLength: 3 })
      : one;
    if (presence === "required") requiredKeys.push(name);
  }
  return fc.record(model, { requiredKeys, noNullPrototype: true });
}

const messageArb: fc.Arbitrary<Message> = fc.oneof(
  ...(Object.keys(MESSAGES) as MessageName[]).map((type) =>
    fieldsArb(MESSAGES[type].fields).map((fields) =>
      ({ type, fields }) as Message
    )
  ),
);

function encode(message: Message): Uint8Array {
  return encodeAnyMessage(message);
}

// ---- Plausible but arbitrary TLV, to get past the frame layer ----

type Tree = { tag: number; value: Uint8Array } | {
  tag: number;
  children: Tree[];
};

const KNOWN_SCALAR_TAGS = Object.values(FIELDS as Record<string, FieldSpec>)
  .filter((f) => f.kind !== "group").map((f) => f.tag);
const KNOWN_CODES = Object.values(MESSAGES).map((m) => m.code);

const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({
      tag: fc.oneof(
        fc.constantFrom(...KNOWN_SCALAR_TAGS),
        fc.integer({ min: 0, max: 0x7fff }),
      ),
      value: fc.oneof(
        fc.uint8Array({ maxLength: 12 }),
        fc.constantFrom(1, 2, 4, 8).chain((n) =>
          fc.uint8Array({ minLength: n, maxLength: n })
        ),
      ),
    }),
    fc.record({
      tag: fc.oneof(
        fc.constant(0x8001),
        fc.integer({ min: 0, max: 0x7fff }).map((t) => t | CONTAINER_BIT),
      ),
      children: fc.array(tie("tree"), { maxLength: 4 }),
    }),
  ),
}));

function serialize(items: readonly Tree[]): Uint8Array {
  const parts = items.map((t) => {
    const value = "value" in t ? t.value : serialize(t.children);
    return item(t.tag, value);
  });
  return concat(...parts);
}

const bodyArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.array(tree, { maxLength: 6 }).map(serialize),
);

const typeArb = fc.oneof(
  fc.constantFrom(...KNOWN_CODES),
  fc.integer({ min: 0, max: 0xffff }),
);

/** Random bytes, framed TLV with random contents, and valid messages, mixed. */
const streamArb = fc.array(
  fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 16 }),
    fc.tuple(typeArb, bodyArb).map(([type, body]) => item(type, body)),
    messageArb.map(encode),
  ),
  { maxLength: 8 },
).map((parts) => concat(...parts));

function assertDecodeError(error: unknown): void {
  if (!(error instanceof TlvDecodeError)) throw error;
  assert.ok(Object.hasOwn(ERRORS, error.code), error.code);
  assert.ok(Number.isInteger(error.offset) && error.offset >= 0);
  assert.ok(error.message.length > 0);
}

/** Whatever decodes must survive a re-encode unchanged. */
function assertStable(message: Message): void {
  assert.ok(Object.hasOwn(MESSAGES, message.type));
  const again = decodeFrame(encode(message), 0);
  assert.ok(again);
  assert.deepEqual(decodeMessage(again.frame), message);
}

Deno.test({
  name:
    "FrameReader and decodeMessage() throw only TlvDecodeError on any bytes",
  permissions: "none",
  fn() {
    const seen = { decoded: 0, rejected: 0, streamErrors: 0 };
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
        (stream, sizes) => {
          const reader = new FrameReader({ maxFrameLength: 4096 });
          // One pass over a finite list of chunks: it must terminate.
          for (const chunk of split(stream, sizes)) {
            let frames;
            try {
              frames = reader.push(chunk);
            } catch (error) {
              assertDecodeError(error);
              seen.streamErrors++;
              return; // The stream cannot be resynchronised.
            }
            for (const frame of frames) {
              try {
                assertStable(decodeMessage(frame));
                seen.decoded++;
              } catch (error) {
                assertDecodeError(error);
                seen.rejected++;
              }
            }
          }
          assert.ok(reader.buffered <= stream.length);
        },
      ),
      { numRuns: 1000 },
    );
    // The generator reaches every layer, so the property is not vacuous.
    assert.ok(seen.decoded > 0, JSON.stringify(seen));
    assert.ok(seen.rejected > 0, JSON.stringify(seen));
    assert.ok(seen.streamErrors > 0, JSON.stringify(seen));
  },
});

Deno.test({
  name:
    "encodeMessage() then decodeMessage() returns any valid message unchanged",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(messageArb, (message) => {
        const bytes = encode(message);
        const decoded = decodeFrame(bytes, 0);
        assert.ok(decoded);
        assert.equal(decoded.next, bytes.length);
        assert.equal(decoded.frame.type, MESSAGES[message.type].code);
        assert.deepEqual(decodeMessage(decoded.frame), message);
      }),
      { numRuns: 1000 },
    );
  },
});

Deno.test({
  name:
    "describeFrame() never throws and returns one line for any type and body",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(typeArb, bodyArb, (type, body) => {
        const line = describeFrame(type, body);
        assert.equal(typeof line, "string");
        assert.ok(!line.includes("\n"), line);
        const name = Object.entries(MESSAGES).find(([, m]) => m.code === type)
          ?.[0];
        assert.ok(
          line.startsWith(
            name ?? `type 0x${type.toString(16).padStart(4, "0")}`,
          ),
          line,
        );
      }),
      { numRuns: 1000 },
    );
  },
});

Deno.test({
  name:
    "decodeMessage() of a frame with one byte changed decodes or throws TlvDecodeError",
  permissions: "none",
  fn() {
    const seen = { decoded: 0, rejected: 0, incomplete: 0 };
    fc.assert(
      fc.property(
        messageArb,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (message, index, flip) => {
          const bytes = encode(message);
          const at = index % bytes.length;
          bytes[at] = (bytes[at] ?? 0) ^ flip;
          try {
            const decoded = decodeFrame(bytes, 0);
            if (decoded === undefined) {
              seen.incomplete++; // the length grew: a reader would wait
              return;
            }
            assert.ok(decoded.next <= bytes.length);
            assertStable(decodeMessage(decoded.frame));
            seen.decoded++;
          } catch (error) {
            assertDecodeError(error);
            seen.rejected++;
          }
        },
      ),
      { numRuns: 1500 },
    );
    assert.ok(seen.decoded > 0, JSON.stringify(seen));
    assert.ok(seen.rejected > 0, JSON.stringify(seen));
  },
});
