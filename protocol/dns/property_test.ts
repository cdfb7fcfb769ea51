import assert from "node:assert/strict";
import fc from "fast-check";
import { formatIpv4, formatIpv6 } from "./address.ts";
import { DnsFormatError } from "./errors.ts";
import {
  decodeMessage,
  type DnsMessage,
  type Edns,
  encodeMessage,
  type Flags,
  type Question,
  type RecordData,
  type ResourceRecord,
} from "./message.ts";
import { canonicalName, formatName } from "./name.ts";

// ---- Valid messages ----

/** fc.record() making plain objects, as decodeMessage() does. */
function record<T extends Record<string, unknown>>(
  model: { [K in keyof T]: fc.Arbitrary<T[K]> },
): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

const enc = new TextEncoder();

/**
 * Labels: a few shared ones in mixed case, so that names share suffixes and
 * get compressed; short random bytes, so that escapes are exercised; and
 * the odd long one, so that the 63- and 255-byte limits are approached.
 */
const labelArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom("com", "example", "Example", "a", "WWW", "mail")
      .map((t) => enc.encode(t)),
  },
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 50, maxLength: 63 }) },
);

const nameArb: fc.Arbitrary<string> = fc
  .array(labelArb, { maxLength: 6 })
  .filter((labels) => labels.reduce((n, l) => n + l.length + 1, 1) <= 255)
  .chain((labels) =>
    fc.constantFrom(formatName(labels), `${formatName(labels)}.`)
  );

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** TXT text whose UTF-8 form is at most 4 × 60 = 240 bytes. */
const textArb = fc.string({
  unit: fc.constantFrom(
    "a",
    "Z",
    " ",
    '"',
    "\\",
    "\u0000",
    "é",
    "😀",
    "\ufeff",
  ),
  maxLength: 60,
});

const dataArb: fc.Arbitrary<RecordData> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 })
    .map((b): RecordData => ({ type: 1, address: formatIpv4(b) })),
  fc.uint8Array({ minLength: 16, maxLength: 16 })
    .map((b): RecordData => ({ type: 28, address: formatIpv6(b) })),
  record({
    type: fc.constantFrom(2 as const, 5 as const, 12 as const),
    target: nameArb,
  }),
  record({
    type: fc.constant(15 as const),
    preference: u16,
    exchange: nameArb,
  }),
  record({
    type: fc.constant(16 as const),
    texts: fc.array(textArb, { minLength: 1, maxLength: 4 }),
  }),
  record({
    type: fc.constant(6 as const),
    mname: nameArb,
    rname: nameArb,
    serial: u32,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
  }),
  record({
    type: fc.constantFrom(0, 13, 33, 65, 257, 65535),
    raw: fc.uint8Array({ maxLength: 40 }),
  }),
);

const recordArb: fc.Arbitrary<ResourceRecord> = fc
  .record({
    name: nameArb,
    data: dataArb,
    ttl: u32,
    otherClass: fc.constantFrom(1, 3, 4),
  })
  .map(({ name, data, ttl, otherClass }) => ({
    name,
    type: data.type,
    // A and AAAA are addresses in class IN only.
    class: data.type === 1 || data.type === 28 ? 1 : otherClass,
    ttl,
    data,
  }));

const questionArb: fc.Arbitrary<Question> = record({
  name: nameArb,
  type: u16,
  class: u16,
});

const flagsArb: fc.Arbitrary<Flags> = record({
  qr: fc.boolean(),
  opcode: fc.integer({ min: 0, max: 15 }),
  aa: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  ra: fc.boolean(),
  ad: fc.boolean(),
  cd: fc.boolean(),
  rcode: fc.integer({ min: 0, max: 15 }),
});

const ednsArb: fc.Arbitrary<Edns> = record({
  udpSize: u16,
  extendedRcode: fc.integer({ min: 0, max: 255 }),
  version: fc.integer({ min: 0, max: 255 }),
  dnssecOk: fc.boolean(),
  options: fc.array(
    record({ code: u16, data: fc.uint8Array({ maxLength: 12 }) }),
    { maxLength: 3 },
  ),
});

const messageArb: fc.Arbitrary<DnsMessage> = fc
  .record({
    id: u16,
    flags: flagsArb,
    questions: fc.array(questionArb, { maxLength: 4 }),
    answers: fc.array(recordArb, { maxLength: 6 }),
    authorities: fc.array(recordArb, { maxLength: 3 }),
    additionals: fc.array(recordArb, { maxLength: 3 }),
    edns: fc.option(ednsArb, { nil: undefined }),
  })
  .map(({ edns, ...rest }) => edns === undefined ? rest : { ...rest, edns });

/** `message` with every name in its canonical form. */
function canonical(message: DnsMessage): DnsMessage {
  const data = (d: RecordData): RecordData => {
    if ("target" in d) return { ...d, target: canonicalName(d.target) };
    if ("exchange" in d) return { ...d, exchange: canonicalName(d.exchange) };
    if ("mname" in d) {
      return {
        ...d,
        mname: canonicalName(d.mname),
        rname: canonicalName(d.rname),
      };
    }
    return d;
  };
  const records = (list: readonly ResourceRecord[]) =>
    list.map((r) => ({
      ...r,
      name: canonicalName(r.name),
      data: data(r.data),
    }));
  return {
    ...message,
    questions: message.questions.map((q) => ({
      ...q,
      name: canonicalName(q.name),
    })),
    answers: records(message.answers),
    authorities: records(message.authorities),
    additionals: records(message.additionals),
  };
}

/** Decodes, and fails the property on any error but DnsFormatError. */
function decodeOrFormatError(bytes: Uint8Array): DnsMessage | DnsFormatError {
  try {
    return decodeMessage(bytes);
  } catch (error) {
    if (error instanceof DnsFormatError) return error;
    throw error;
  }
}

// ---- Properties ----

Deno.test({
  name: "decodeMessage() reads back what encodeMessage() writes",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(messageArb, (sent) => {
        const { bytes, truncated } = encodeMessage(sent);
        assert.equal(truncated, false);
        const decoded = decodeMessage(bytes);
        // Names compare as names: compression may give a suffix another case.
        assert.deepEqual(canonical(decoded), canonical(sent));
        // And the decoded message encodes to the very same bytes.
        assert.deepEqual(encodeMessage(decoded).bytes, bytes);
      }),
    );
  },
});

Deno.test({
  name: "encodeMessage() with maxSize stays within it and stays decodable",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        messageArb,
        fc.integer({ min: 12, max: 1500 }),
        (sent, maxSize) => {
          const whole = encodeMessage(sent).bytes;
          const { bytes, truncated } = encodeMessage(sent, { maxSize });
          assert.ok(bytes.length <= maxSize);
          assert.equal(truncated, whole.length > maxSize);
          const decoded = decodeMessage(bytes);
          if (truncated) {
            assert.equal(decoded.flags.tc, true);
            assert.equal(
              decoded.answers.length + decoded.authorities.length +
                decoded.additionals.length,
              0,
            );
          } else {
            assert.deepEqual(bytes, whole);
          }
        },
      ),
    );
  },
});

Deno.test({
  name: "decodeMessage() throws only DnsFormatError for random bytes",
  permissions: "none",
  fn() {
    // Plain noise, and noise behind a plausible header with small counts so
    // that the decoder gets past the header into names and records.
    const headed = fc
      .tuple(
        u16,
        u16,
        fc.array(fc.integer({ min: 0, max: 3 }), {
          minLength: 4,
          maxLength: 4,
        }),
        fc.uint8Array({ maxLength: 200 }),
      )
      .map(([id, word, counts, body]) => {
        const out = new Uint8Array(12 + body.length);
        const view = new DataView(out.buffer);
        view.setUint16(0, id);
        view.setUint16(2, word);
        counts.forEach((n, i) => view.setUint16(4 + 2 * i, n));
        out.set(body, 12);
        return out;
      });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 600 }), headed),
        (bytes) => {
          const result = decodeOrFormatError(bytes);
          if (result instanceof DnsFormatError) {
            assert.ok(result.offset >= 0 && result.offset <= bytes.length);
            assert.equal(result.id === undefined, bytes.length < 12);
          }
        },
      ),
      { numRuns: 300 },
    );
  },
});

Deno.test({
  name:
    "decodeMessage() returns a message or DnsFormatError when one byte of a valid one changes",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        messageArb,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (sent, index, value) => {
          const bytes = encodeMessage(sent).bytes.slice();
          bytes[index % bytes.length] = value;
          const result = decodeOrFormatError(bytes);
          if (!(result instanceof DnsFormatError)) {
            // Whatever decoded encodes again, except a TXT string that grew
            // past 255 bytes as bad UTF-8 became U+FFFD: a TypeError.
            try {
              encodeMessage(result);
            } catch (error) {
              assert.ok(error instanceof TypeError, String(error));
              assert.match(error.message, /TXT string of \d+ bytes/);
            }
          }
        },
      ),
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects every proper prefix of a valid message",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(messageArb, fc.nat(), (sent, cut) => {
        const bytes = encodeMessage(sent).bytes;
        const prefix = bytes.subarray(0, cut % bytes.length);
        assert.ok(decodeOrFormatError(prefix) instanceof DnsFormatError);
      }),
    );
  },
});
