import assert from "node:assert/strict";
import { CLASS_IN, RCODE, RR_TYPE } from "./constants.ts";
import { DnsFormatError } from "./errors.ts";
import {
  decodeHeader,
  decodeMessage,
  DEFAULT_DECODE_LIMITS,
  type DnsMessage,
  type Edns,
  encodeMessage,
  fullRcode,
  maxUdpResponseSize,
  type RecordData,
  type ResourceRecord,
} from "./message.ts";
import {
  assertFormatError,
  concat,
  flags,
  hex,
  message,
  toHex,
} from "./_testing.ts";

// ---- Wire bytes, written by hand ----

/** `dig example.com A +noedns` with id 0x1234: RD set, one question. */
const QUERY = hex(
  "12 34 01 00 00 01 00 00 00 00 00 00 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 00 01 00 01",
);

/** The answer to QUERY: QR RD RA, one A record whose owner is `c0 0c`. */
const ANSWER = hex(`
  12 34 81 80 00 01 00 01 00 00 00 00
  07 'example' 03 'com' 00 00 01 00 01
  c0 0c 00 01 00 01 00 00 01 2c 00 04 5d b8 d8 22
`);

/**
 * What dig 9.18 sends for `dig example.com A` (captured): RD and AD set,
 * an OPT record with payload size 1232 and a client cookie (option 10).
 */
const DIG_QUERY = hex(`
  bb fa 01 20 00 01 00 00 00 00 00 01
  07 'example' 03 'com' 00 00 01 00 01
  00 00 29 04 d0 00 00 00 00 00 0c 00 0a 00 08 66 dc f3 ab 29 2f d9 85
`);

/**
 * A response using every section and compression inside RDATA: MX, TXT
 * (three strings: "hello", "", UTF-8 "wörld"), SOA, an additional A for the
 * MX target (a pointer to offset 0x2b, inside the MX RDATA), and an OPT
 * with DO set. Offsets: question 12, MX 29 (exchange at 43), TXT 50, SOA
 * 76, A 127, OPT 143.
 */
const RICH = hex(`
  ab cd 85 80 00 01 00 02 00 01 00 02
  07 'example' 03 'com' 00 00 0f 00 01
  c0 0c 00 0f 00 01 00 00 0e 10 00 09 00 0a 04 'mail' c0 0c
  c0 0c 00 10 00 01 00 00 00 3c 00 0e 05 'hello' 00 06 'w' c3 b6 'rld'
  c0 0c 00 06 00 01 00 00 0e 10 00 27
    03 'ns1' c0 0c 0a 'hostmaster' c0 0c
    01 02 03 04 00 00 0e 10 00 00 02 58 00 01 51 80 00 00 01 2c
  c0 2b 00 01 00 01 00 00 0e 10 00 04 c0 00 02 01
  00 00 29 10 00 00 00 80 00 00 00
`);

const RICH_MESSAGE: DnsMessage = {
  id: 0xabcd,
  flags: flags({ qr: true, aa: true, rd: true, ra: true }),
  questions: [{ name: "example.com", type: RR_TYPE.MX, class: CLASS_IN }],
  answers: [
    record("example.com", {
      type: 15,
      preference: 10,
      exchange: "mail.example.com",
    }, 3600),
    record("example.com", { type: 16, texts: ["hello", "", "wörld"] }, 60),
  ],
  authorities: [
    record("example.com", {
      type: 6,
      mname: "ns1.example.com",
      rname: "hostmaster.example.com",
      serial: 0x01020304,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 300,
    }, 3600),
  ],
  additionals: [
    record("mail.example.com", { type: 1, address: "192.0.2.1" }, 3600),
  ],
  edns: {
    udpSize: 4096,
    extendedRcode: 0,
    version: 0,
    dnssecOk: true,
    options: [],
  },
};

/** A header with id 0x002a, RD, and the given section counts. */
function header(qd: number, an = 0, ns = 0, ar = 0): Uint8Array {
  const out = hex("00 2a 01 00 00 00 00 00 00 00 00 00");
  const view = new DataView(out.buffer, out.byteOffset);
  [qd, an, ns, ar].forEach((n, i) => view.setUint16(4 + 2 * i, n));
  return out;
}

/** An empty OPT record: root owner, payload 4096, no options. */
const OPT = hex("00 00 29 10 00 00 00 00 00 00 00");

/** `count` bytes of "a" with a length byte before them. */
function label(count: number): Uint8Array {
  return concat(new Uint8Array([count]), new Uint8Array(count).fill(0x61));
}

function record(
  name: string,
  data: RecordData,
  ttl = 300,
  cls: number = CLASS_IN,
): ResourceRecord {
  return { name, type: data.type, class: cls, ttl, data };
}

/** Encodes `records` as answers, decodes, and returns what came back. */
function roundTrip(...records: ResourceRecord[]): readonly ResourceRecord[] {
  const sent = message({ id: 7, answers: records });
  const decoded = decodeMessage(encodeMessage(sent).bytes);
  assert.deepEqual(decoded, sent);
  return decoded.answers;
}

function decodeError(bytes: Uint8Array, pattern: RegExp, offset?: number) {
  return assertFormatError(() => decodeMessage(bytes), pattern, offset);
}

// ---- Golden bytes ----

Deno.test({
  name: "encodeMessage() writes the query dig sends, byte for byte",
  permissions: "none",
  fn() {
    const { bytes, truncated } = encodeMessage(message({
      id: 0x1234,
      flags: flags({ rd: true }),
      questions: [{ name: "example.com", type: RR_TYPE.A, class: CLASS_IN }],
    }));
    assert.equal(toHex(bytes), toHex(QUERY));
    assert.equal(truncated, false);
  },
});

Deno.test({
  name: "decodeMessage() reads the query dig sends",
  permissions: "none",
  fn() {
    assert.deepEqual(
      decodeMessage(QUERY),
      message({
        id: 0x1234,
        flags: flags({ rd: true }),
        questions: [{ name: "example.com", type: 1, class: 1 }],
      }),
    );
  },
});

Deno.test({
  name: "decodeMessage() reads dig's default query with EDNS and a cookie",
  permissions: "none",
  fn() {
    const query = decodeMessage(DIG_QUERY);
    assert.equal(query.id, 0xbbfa);
    assert.deepEqual(query.flags, flags({ rd: true, ad: true }));
    assert.deepEqual(query.questions, [{
      name: "example.com",
      type: 1,
      class: 1,
    }]);
    assert.deepEqual(query.additionals, []);
    assert.deepEqual(query.edns, {
      udpSize: 1232,
      extendedRcode: 0,
      version: 0,
      dnssecOk: false,
      options: [{ code: 10, data: hex("66 dc f3 ab 29 2f d9 85") }],
    });
    assert.equal(maxUdpResponseSize(query), 1232);
    assert.equal(toHex(encodeMessage(query).bytes), toHex(DIG_QUERY));
  },
});

Deno.test({
  name: "encodeMessage() compresses the answer's owner to pointer c0 0c",
  permissions: "none",
  fn() {
    const answer = message({
      id: 0x1234,
      flags: flags({ qr: true, rd: true, ra: true }),
      questions: [{ name: "example.com", type: RR_TYPE.A, class: CLASS_IN }],
      answers: [record("example.com", { type: 1, address: "93.184.216.34" })],
    });
    const { bytes } = encodeMessage(answer);
    assert.equal(toHex(bytes), toHex(ANSWER));
    assert.deepEqual(decodeMessage(ANSWER), answer);
  },
});

Deno.test({
  name:
    "decodeMessage() reads every section, compressed names in RDATA and EDNS",
  permissions: "none",
  fn() {
    assert.deepEqual(decodeMessage(RICH), RICH_MESSAGE);
  },
});

Deno.test({
  name: "encodeMessage() compresses names inside MX and SOA data as BIND does",
  permissions: "none",
  fn() {
    assert.equal(toHex(encodeMessage(RICH_MESSAGE).bytes), toHex(RICH));
  },
});

Deno.test({
  name:
    "encodeMessage() compresses between plain and escaped names, without regard to case",
  permissions: "none",
  fn() {
    // Plain question, escaped owner: "example.com" points into the question.
    const plainFirst = encodeMessage(message({
      questions: [{
        name: "WWW.Example.com",
        type: RR_TYPE.A,
        class: CLASS_IN,
      }],
      answers: [
        record("a\\.b.example.COM", { type: 5, target: "www.example.com" }),
      ],
    })).bytes;
    assert.equal(
      toHex(plainFirst.subarray(33)),
      toHex(hex("03 61 2e 62 c0 10 0005 0001 0000012c 0002 c00c")),
    );
    // Escaped question, plain owner and target.
    const escapedFirst = encodeMessage(message({
      questions: [{
        name: "a\\.b.Example.com",
        type: RR_TYPE.A,
        class: CLASS_IN,
      }],
      answers: [
        record("www.EXAMPLE.com", { type: 5, target: "A\\.B.example.com." }),
      ],
    })).bytes;
    assert.equal(
      toHex(escapedFirst.subarray(33)),
      toHex(hex("03 77 77 77 c0 10 0005 0001 0000012c 0002 c00c")),
    );
  },
});

// ---- Round trips ----

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip A, NS, CNAME and PTR",
  permissions: "none",
  fn() {
    roundTrip(
      record("a.example", { type: 1, address: "192.0.2.1" }),
      record("a.example", { type: 1, address: "0.0.0.0" }),
      record("example", { type: 2, target: "ns1.example" }),
      record("www.example", { type: 5, target: "a.example" }),
      record("1.2.0.192.in-addr.arpa", { type: 12, target: "a.example" }),
    );
  },
});

Deno.test({
  name:
    "encodeMessage() and decodeMessage() round-trip AAAA in every text form",
  permissions: "none",
  fn() {
    const forms: [string, string][] = [
      ["::1", "::1"],
      ["::", "::"],
      ["2001:db8::1", "2001:db8::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
      ["::FFFF:102:304", "::ffff:1.2.3.4"],
    ];
    for (const [sent, printed] of forms) {
      const { bytes } = encodeMessage(
        message({ answers: [record("x", { type: 28, address: sent })] }),
      );
      assert.deepEqual(decodeMessage(bytes).answers[0]?.data, {
        type: 28,
        address: printed,
      });
    }
    roundTrip(record("x", { type: 28, address: "2001:db8::1" }));
  },
});

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip MX and SOA",
  permissions: "none",
  fn() {
    roundTrip(
      record("example", { type: 15, preference: 0, exchange: "example" }),
      record("example", { type: 15, preference: 65535, exchange: "mx.other" }),
      record("example", {
        type: 6,
        mname: "",
        rname: "a\\.b.example",
        serial: 0xffffffff,
        refresh: 0,
        retry: 1,
        expire: 2,
        minimum: 3,
      }, 0xffffffff),
    );
  },
});

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip TXT strings",
  permissions: "none",
  fn() {
    roundTrip(
      record("t", { type: 16, texts: ["v=spf1 -all"] }),
      record("t", { type: 16, texts: ["one", "two", "three"] }),
      record("t", { type: 16, texts: [""] }),
      record("t", { type: 16, texts: ["", ""] }),
      record("t", { type: 16, texts: ["héllo wörld 😀", "\ufeffbom"] }),
      record("t", { type: 16, texts: ["x".repeat(255), "é".repeat(127)] }),
    );
  },
});

Deno.test({
  name:
    "encodeMessage() and decodeMessage() round-trip unknown types as raw bytes",
  permissions: "none",
  fn() {
    roundTrip(
      record("x", { type: 99, raw: hex("01 02 03") }),
      record("x", { type: 65, raw: new Uint8Array(0) }),
      record("x", { type: 65535, raw: new Uint8Array(300).fill(7) }, 1, 3),
    );
  },
});

Deno.test({
  name:
    "encodeMessage() and decodeMessage() round-trip the root and escaped names",
  permissions: "none",
  fn() {
    const answers = roundTrip(
      record("", { type: 2, target: "a.root-servers.net" }),
      record("a\\.b.example", { type: 5, target: "a\\.b.example" }),
      record("\\000\\032\\255.x", { type: 12, target: "\\\\\\@" }),
      record("Mixed.CASE.example", { type: 1, address: "192.0.2.9" }),
    );
    assert.equal(answers[0]?.name, "");
  },
});

Deno.test({
  name: "encodeMessage() accepts names with a trailing dot",
  permissions: "none",
  fn() {
    const { bytes } = encodeMessage(message({
      id: 0x1234,
      flags: flags({ rd: true }),
      questions: [{ name: "example.com.", type: 1, class: 1 }],
    }));
    assert.equal(toHex(bytes), toHex(QUERY));
    const root = encodeMessage(
      message({ questions: [{ name: ".", type: 2, class: 1 }] }),
    );
    assert.deepEqual(decodeMessage(root.bytes).questions[0]?.name, "");
  },
});

Deno.test({
  name: "encodeMessage() matches suffixes in any case and keeps the first case",
  permissions: "none",
  fn() {
    const { bytes } = encodeMessage(message({
      questions: [{ name: "Example.COM", type: 1, class: 1 }],
      answers: [
        record("example.com", { type: 1, address: "192.0.2.1" }),
        record("www.EXAMPLE.com", { type: 1, address: "192.0.2.2" }),
      ],
    }));
    assert.equal(toHex(bytes.subarray(29, 31)), "c0 0c");
    const decoded = decodeMessage(bytes);
    assert.deepEqual(decoded.answers.map((r) => r.name), [
      "Example.COM",
      "www.Example.COM",
    ]);
  },
});

Deno.test({
  name: "encodeMessage() points only to names that start below offset 0x4000",
  permissions: "none",
  fn() {
    const sent = message({
      answers: [
        record("a.example", { type: 99, raw: new Uint8Array(0x4000) }),
        record("b.example", { type: 1, address: "192.0.2.1" }),
        record("b.example", { type: 1, address: "192.0.2.2" }),
      ],
    });
    const { bytes } = encodeMessage(sent);
    // Past 0x4000, "b" is written in full both times; "example" is shared.
    const tail = toHex(bytes.subarray(bytes.length - 2 * 18));
    assert.equal(
      tail,
      "01 62 c0 0e 00 01 00 01 00 00 01 2c 00 04 c0 00 02 01 " +
        "01 62 c0 0e 00 01 00 01 00 00 01 2c 00 04 c0 00 02 02",
    );
    assert.deepEqual(decodeMessage(bytes), sent);
  },
});

Deno.test({
  name:
    "encodeMessage() and decodeMessage() round-trip EDNS with unknown options",
  permissions: "none",
  fn() {
    const edns: Edns = {
      udpSize: 1232,
      extendedRcode: 1,
      version: 0,
      dnssecOk: true,
      options: [
        { code: 10, data: hex("01 02 03 04 05 06 07 08") },
        { code: 65001, data: new Uint8Array(0) },
        { code: 12, data: new Uint8Array(40) },
      ],
    };
    const sent = message({
      id: 9,
      flags: flags({ qr: true, rcode: 0 }),
      additionals: [record("x", { type: 1, address: "192.0.2.1" })],
      edns,
    });
    const { bytes } = encodeMessage(sent);
    const decoded = decodeMessage(bytes);
    assert.deepEqual(decoded, sent);
    assert.equal(decodeHeader(bytes)?.arcount, 2);
    assert.equal(fullRcode(decoded), RCODE.BADVERS);
    // OPT comes last: root owner, type 41, class 1232, TTL 01 00 80 00.
    assert.equal(
      toHex(bytes.subarray(12 + 17, 12 + 17 + 9)),
      "00 00 29 04 d0 01 00 80 00",
    );
  },
});

Deno.test({
  name:
    "encodeMessage() and decodeMessage() round-trip EDNS version and payload size",
  permissions: "none",
  fn() {
    for (const udpSize of [0, 512, 65535]) {
      const sent = message({
        edns: {
          udpSize,
          extendedRcode: 255,
          version: 255,
          dnssecOk: false,
          options: [],
        },
      });
      assert.deepEqual(decodeMessage(encodeMessage(sent).bytes), sent);
    }
  },
});

Deno.test({
  name: "encodeMessage() and decodeMessage() round-trip every header flag",
  permissions: "none",
  fn() {
    const bits: [keyof ReturnType<typeof flags>, number][] = [
      ["qr", 0x8000],
      ["aa", 0x0400],
      ["tc", 0x0200],
      ["rd", 0x0100],
      ["ra", 0x0080],
      ["ad", 0x0020],
      ["cd", 0x0010],
    ];
    for (const [key, bit] of bits) {
      const sent = message({ id: 0xffff, flags: flags({ [key]: true }) });
      const { bytes } = encodeMessage(sent);
      assert.equal(new DataView(bytes.buffer).getUint16(2), bit, key);
      assert.deepEqual(decodeMessage(bytes), sent);
    }
    const sent = message({ flags: flags({ opcode: 15, rcode: 15 }) });
    const { bytes } = encodeMessage(sent);
    assert.equal(toHex(bytes.subarray(2, 4)), "78 0f");
    assert.deepEqual(decodeMessage(bytes), sent);
  },
});

// ---- decodeHeader() ----

Deno.test({
  name: "decodeHeader() reads id, flags and counts",
  permissions: "none",
  fn() {
    assert.deepEqual(decodeHeader(RICH), {
      id: 0xabcd,
      flags: flags({ qr: true, aa: true, rd: true, ra: true }),
      qdcount: 1,
      ancount: 2,
      nscount: 1,
      arcount: 2,
    });
    // The header alone is enough, even when the counts lie.
    assert.equal(decodeHeader(header(9, 9, 9, 9))?.qdcount, 9);
  },
});

Deno.test({
  name: "decodeHeader() returns undefined for fewer than 12 bytes",
  permissions: "none",
  fn() {
    for (let n = 0; n < 12; n++) {
      assert.equal(decodeHeader(QUERY.subarray(0, n)), undefined);
    }
  },
});

// ---- decodeMessage(): what it keeps opaque, and copies ----

Deno.test({
  name: "decodeMessage() keeps A data outside class IN opaque",
  permissions: "none",
  fn() {
    const bytes = concat(
      header(0, 1),
      hex("00 00 01 00 03 00 00 00 00 00 05 01 'a' 00 00 01"),
    );
    assert.deepEqual(decodeMessage(bytes).answers[0], {
      name: "",
      type: 1,
      class: 3,
      ttl: 0,
      data: { type: 1, raw: hex("01 61 00 00 01") },
    });
  },
});

Deno.test({
  name: "decodeMessage() keeps empty RDATA in class ANY or NONE opaque",
  permissions: "none",
  fn() {
    for (const cls of ["00 ff", "00 fe"]) {
      const bytes = concat(
        header(0, 0, 1),
        hex(`00 00 01 ${cls} 00 00 00 00 00 00`),
      );
      assert.deepEqual(decodeMessage(bytes).authorities[0]?.data, {
        type: 1,
        raw: new Uint8Array(0),
      });
    }
  },
});

Deno.test({
  name:
    "decodeMessage() copies data: the result does not share the input's memory",
  permissions: "none",
  fn() {
    const bytes = concat(
      header(0, 0, 0, 2),
      hex("00 00 63 00 01 00 00 00 00 00 02 aa bb"),
      hex("00 00 29 10 00 00 00 00 00 00 05 00 0a 00 01 cc"),
    );
    const decoded = decodeMessage(bytes);
    bytes.fill(0);
    assert.deepEqual(decoded.additionals[0]?.data, {
      type: 99,
      raw: hex("aa bb"),
    });
    assert.deepEqual(decoded.edns?.options, [{ code: 10, data: hex("cc") }]);
  },
});

Deno.test({
  name: "decodeMessage() follows a chain of pointers up to maxPointerJumps",
  permissions: "none",
  fn() {
    // example.com at 12, a.example.com at 29 (→12), b.a.example.com at 37 (→29).
    const bytes = concat(
      header(3),
      hex("07 'example' 03 'com' 00 00 01 00 01"),
      hex("01 'a' c0 0c 00 01 00 01"),
      hex("01 'b' c0 1d 00 01 00 01"),
    );
    assert.deepEqual(
      decodeMessage(bytes).questions.map((q) => q.name),
      ["example.com", "a.example.com", "b.a.example.com"],
    );
    assertFormatError(
      () => decodeMessage(bytes, { maxPointerJumps: 1 }),
      /name at offset 37 follows more than 1 compression pointers/,
      31, // the second pointer, met inside "a.example.com"
    );
  },
});

// ---- decodeMessage(): errors ----

Deno.test({
  name: "decodeMessage() rejects fewer than 12 bytes without an id",
  permissions: "none",
  fn() {
    for (let n = 0; n < 12; n++) {
      const error = decodeError(
        QUERY.subarray(0, n),
        /shorter than the 12-byte header/,
      );
      assert.equal(error.id, undefined);
      assert.equal(error.header, undefined);
    }
  },
});

Deno.test({
  name: "decodeMessage() rejects a message truncated at every offset",
  permissions: "none",
  fn() {
    for (const whole of [QUERY, ANSWER, DIG_QUERY, RICH]) {
      const id = decodeHeader(whole)?.id;
      for (let n = 0; n < whole.length; n++) {
        const error = decodeError(whole.subarray(0, n), /./);
        assert.equal(error.id, n < 12 ? undefined : id, `at ${n}`);
      }
    }
  },
});

Deno.test({
  name: "decodeMessage() errors carry the id, flags, rcode and offset",
  permissions: "none",
  fn() {
    const error = decodeError(
      concat(QUERY, hex("00")),
      /1 bytes follow the last record/,
      29,
    );
    assert.equal(error.id, 0x1234);
    assert.deepEqual(error.header, flags({ rd: true }));
    assert.equal(error.rcode, RCODE.FORMERR);
    assert.ok(error instanceof Error);
  },
});

Deno.test({
  name: "decodeMessage() rejects a question count that lies",
  permissions: "none",
  fn() {
    const bytes = QUERY.slice();
    bytes[5] = 2;
    decodeError(
      bytes,
      /name at offset 29 needs 1 bytes, but the message has 0 left/,
      29,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a record count that lies",
  permissions: "none",
  fn() {
    for (const countAt of [7, 9, 11]) {
      const bytes = QUERY.slice();
      bytes[countAt] = 1;
      decodeError(bytes, /name at offset 29 needs 1 bytes/, 29);
    }
    const bytes = ANSWER.slice();
    bytes[7] = 2;
    decodeError(bytes, /offset 45/, 45);
  },
});

Deno.test({
  name: "decodeMessage() rejects more questions than maxQuestions",
  permissions: "none",
  fn() {
    decodeError(header(5), /question count 5 is over the limit of 4/, 4);
    assertFormatError(
      () => decodeMessage(QUERY, { maxQuestions: 0 }),
      /question count 1 is over the limit of 0/,
    );
    assert.equal(DEFAULT_DECODE_LIMITS.maxQuestions, 4);
  },
});

Deno.test({
  name: "decodeMessage() rejects more records than maxRecords",
  permissions: "none",
  fn() {
    decodeError(
      header(0, 1000, 24, 1),
      /record count 1025 is over the limit of 1024/,
      6,
    );
    assertFormatError(
      () => decodeMessage(ANSWER, { maxRecords: 0 }),
      /record count 1 is over the limit of 0/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a compression pointer to itself",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(1), hex("c0 0c 00 01 00 01")),
      /pointer at offset 12 points to offset 12, not back before offset 12/,
      12,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects two compression pointers to each other",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(2), hex("c0 12 00 01 00 01 c0 0c 00 01 00 01")),
      /pointer at offset 12 points to offset 18/,
      12,
    );
    // The same loop, met from the second name first.
    decodeError(
      concat(header(0, 2), hex("c0 18 00 01 00 01 00 00 00 00 00 00 c0 0c")),
      /pointer at offset 12 points to offset 24/,
      12,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a forward compression pointer",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(2), hex("c0 12 00 01 00 01 01 'a' 00 00 01 00 01")),
      /points to offset 18, not back before offset 12/,
      12,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a pointer back into its own name",
  permissions: "none",
  fn() {
    // "a" then a pointer to the "a": backward, yet a loop.
    decodeError(
      concat(header(1), hex("01 'a' c0 0c 00 01 00 01")),
      /pointer at offset 14 points to offset 12, not back before offset 12/,
      14,
    );
    // After a jump, the next pointer must go back before the jump's target.
    decodeError(
      concat(
        header(2),
        hex("01 'a' 01 'b' c0 0e 00 01 00 01"), // name 1 loops on itself
        hex("c0 0c 00 01 00 01"),
      ),
      /pointer at offset 16 points to offset 14/,
      16,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a 64-byte label as a reserved label type",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(1), label(64), hex("00 00 01 00 01")),
      /label length byte 0x40 uses reserved label type 0x40/,
      12,
    );
    assert.equal(
      decodeMessage(concat(header(1), label(63), hex("00 00 01 00 01")))
        .questions[0]?.name.length,
      63,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects the reserved label type 0x80",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(1), hex("01 'a' 81 'a' 00 00 01 00 01")),
      /label length byte 0x81 uses reserved label type 0x80/,
      14,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a name of 256 bytes made of labels",
  permissions: "none",
  fn() {
    const name = (last: number) =>
      concat(label(63), label(63), label(63), label(last), hex("00"));
    const ok = decodeMessage(concat(header(1), name(61), hex("00 01 00 01")));
    assert.equal(ok.questions[0]?.name.length, 3 * 64 + 61);
    decodeError(
      concat(header(1), name(62), hex("00 01 00 01")),
      /name at offset 12 is over the limit of 255 bytes/,
      12 + 3 * 64,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects a name of 256 bytes reached through pointers",
  permissions: "none",
  fn() {
    // Question 1 at 12 is 3 × 63-byte labels (193 wire bytes); question 2
    // adds one label and points to it from 209 = 12 + 193 + 4.
    const first = concat(
      label(63),
      label(63),
      label(63),
      hex("00 00 01 00 01"),
    );
    const second = (size: number) =>
      concat(label(size), hex("c0 0c 00 01 00 01"));
    const ok = decodeMessage(concat(header(2), first, second(61)));
    assert.equal(ok.questions[1]?.name.length, 61 + 1 + 3 * 64 - 1);
    decodeError(
      concat(header(2), first, second(62)),
      /name at offset 209 is over the limit of 255 bytes/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects A RDATA that is not 4 bytes",
  permissions: "none",
  fn() {
    decodeError(
      concat(
        header(0, 1),
        hex("00 00 01 00 01 00 00 00 00 00 05 01 02 03 04 05"),
      ),
      /A RDATA at offset 23 is 5 bytes, not 4/,
      23,
    );
    decodeError(
      concat(header(0, 1), hex("00 00 01 00 01 00 00 00 00 00 03 01 02 03")),
      /A RDATA at offset 23 is 3 bytes, not 4/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects AAAA RDATA that is not 16 bytes",
  permissions: "none",
  fn() {
    decodeError(
      concat(
        header(0, 1),
        hex("00 00 1c 00 01 00 00 00 00 00 0f"),
        new Uint8Array(15),
      ),
      /AAAA RDATA at offset 23 is 15 bytes, not 16/,
    );
  },
});

Deno.test({
  name:
    "decodeMessage() rejects NS, CNAME and PTR RDATA longer or shorter than the name",
  permissions: "none",
  fn() {
    for (const type of ["02", "05", "0c"]) {
      decodeError(
        concat(
          header(0, 1),
          hex(`00 00 ${type} 00 01 00 00 00 00 00 04 01 'a' 00 ff`),
        ),
        /RDATA at offset 23 is 4 bytes, but its name's bytes take 3/,
        23,
      );
      decodeError(
        concat(
          header(0, 1, 0, 1),
          hex(`00 00 ${type} 00 01 00 00 00 00 00 02 01 'a' 00`),
          OPT,
        ),
        /RDATA at offset 23 is 2 bytes, but its name's bytes take 3/,
      );
    }
  },
});

Deno.test({
  name: "decodeMessage() rejects malformed MX RDATA",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(0, 1), hex("00 00 0f 00 01 00 00 00 00 00 02 00 0a")),
      /MX RDATA at offset 23 is 2 bytes, too short for a preference and a name/,
    );
    decodeError(
      concat(header(0, 1), hex("00 00 0f 00 01 00 00 00 00 00 04 00 0a 00 00")),
      /MX RDATA at offset 23 is 4 bytes, but its preference and name take 3/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects malformed SOA RDATA",
  permissions: "none",
  fn() {
    const numbers = new Uint8Array(20);
    decodeError(
      concat(
        header(0, 1),
        hex("00 00 06 00 01 00 00 00 00 00 12 00 00"),
        numbers.subarray(4),
      ),
      /SOA RDATA at offset 23 is 18 bytes, but its two names and five 32-bit numbers take 22/,
    );
    decodeError(
      concat(
        header(0, 1),
        hex("00 00 06 00 01 00 00 00 00 00 17 00 00"),
        numbers,
        hex("00"),
      ),
      /SOA RDATA at offset 23 is 23 bytes/,
    );
    assert.ok(decodeMessage(
      concat(
        header(0, 1),
        hex("00 00 06 00 01 00 00 00 00 00 16 00 00"),
        numbers,
      ),
    ));
  },
});

Deno.test({
  name: "decodeMessage() rejects a TXT string overrunning its RDATA",
  permissions: "none",
  fn() {
    decodeError(
      concat(
        header(0, 1, 0, 1),
        hex("00 00 10 00 01 00 00 00 00 00 03 05 'ab'"),
        OPT,
      ),
      /TXT string at offset 23 of 5 bytes runs past the end of its RDATA at offset 26/,
      23,
    );
    decodeError(
      concat(header(0, 1), hex("00 00 10 00 01 00 00 00 00 00 03 01 'a' 01")),
      /TXT string at offset 25 of 1 bytes runs past/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects TXT RDATA with no string",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(0, 1), hex("00 00 10 00 01 00 00 00 00 00 00")),
      /TXT RDATA at offset 23 is 0 bytes, but TXT needs at least one string/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects two OPT records",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(0, 0, 0, 2), OPT, OPT),
      /second OPT record at offset 23/,
      23,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects an OPT record outside the additional section",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(0, 1), OPT),
      /OPT record at offset 12 is in the answer section/,
      12,
    );
    decodeError(
      concat(header(0, 0, 1), OPT),
      /is in the authority section/,
      12,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects an OPT record not owned by the root",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(0, 0, 0, 1), hex("01 'a' 00"), OPT.subarray(1)),
      /OPT record at offset 12 is owned by "a", not the root/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects an EDNS option overrunning the OPT record",
  permissions: "none",
  fn() {
    decodeError(
      concat(
        header(0, 0, 0, 1),
        hex("00 00 29 10 00 00 00 00 00 00 04 00 0a 00 08"),
      ),
      /EDNS option at offset 23 runs past the end of its OPT record at offset 27/,
      23,
    );
    decodeError(
      concat(header(0, 0, 0, 1), hex("00 00 29 10 00 00 00 00 00 00 02 00 0a")),
      /EDNS option at offset 23 runs past/,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects RDATA running past the end of the message",
  permissions: "none",
  fn() {
    decodeError(
      concat(header(0, 1), hex("00 00 63 00 01 00 00 00 00 00 09 01")),
      /RDATA of answer record 1 at offset 23 needs 9 bytes, but the message has 1 left/,
      23,
    );
  },
});

Deno.test({
  name: "decodeMessage() rejects trailing bytes after the last record",
  permissions: "none",
  fn() {
    decodeError(
      concat(ANSWER, hex("00 00")),
      /2 bytes follow the last record at offset 45/,
      45,
    );
    decodeError(concat(header(0), hex("00")), /1 bytes follow/, 12);
  },
});

// ---- encodeMessage(): invalid input ----

Deno.test({
  name: "encodeMessage() rejects names with no wire form",
  permissions: "none",
  fn() {
    const long = Array.from({ length: 4 }, () => "x".repeat(63)).join(".");
    for (const name of ["a".repeat(64), long, "a..b", "\\256"]) {
      assert.throws(
        () =>
          encodeMessage(message({ questions: [{ name, type: 1, class: 1 }] })),
        TypeError,
        name,
      );
      assert.throws(
        () =>
          encodeMessage(
            message({ answers: [record("x", { type: 5, target: name })] }),
          ),
        TypeError,
        name,
      );
    }
  },
});

Deno.test({
  name: "encodeMessage() rejects bad address text",
  permissions: "none",
  fn() {
    for (
      const data of [
        { type: 1, address: "1.2.3" },
        { type: 1, address: "::1" },
        { type: 28, address: "1.2.3.4" },
        { type: 28, address: "1::2::3" },
      ] as const
    ) {
      assert.throws(
        () => encodeMessage(message({ answers: [record("x", data)] })),
        {
          name: "TypeError",
          message: /Cannot encode answer record 1 \("x"\): address/,
        },
      );
    }
  },
});

Deno.test({
  name:
    "encodeMessage() rejects a TXT string over 255 bytes and TXT with no string",
  permissions: "none",
  fn() {
    assert.throws(
      () =>
        encodeMessage(
          message({
            answers: [record("x", { type: 16, texts: ["é".repeat(128)] })],
          }),
        ),
      {
        name: "TypeError",
        message: /TXT string of 256 bytes is over the limit of 255/,
      },
    );
    assert.throws(
      () =>
        encodeMessage(
          message({ answers: [record("x", { type: 16, texts: [] })] }),
        ),
      { name: "TypeError", message: /TXT data needs at least one string/ },
    );
  },
});

Deno.test({
  name: "encodeMessage() rejects numbers out of their field's range",
  permissions: "none",
  fn() {
    const bad: DnsMessage[] = [
      message({ id: 65536 }),
      message({ id: -1 }),
      message({ id: 1.5 }),
      message({ flags: flags({ rcode: 16 }) }),
      message({ flags: flags({ opcode: 16 }) }),
      message({ questions: [{ name: "x", type: 65536, class: 1 }] }),
      message({
        answers: [{
          ...record("x", { type: 1, address: "1.2.3.4" }),
          ttl: 2 ** 32,
        }],
      }),
      message({
        answers: [record("x", { type: 15, preference: -1, exchange: "x" })],
      }),
      message({
        edns: {
          udpSize: 65536,
          extendedRcode: 0,
          version: 0,
          dnssecOk: false,
          options: [],
        },
      }),
      message({
        edns: {
          udpSize: 512,
          extendedRcode: 256,
          version: 0,
          dnssecOk: false,
          options: [],
        },
      }),
      message({
        edns: {
          udpSize: 512,
          extendedRcode: 0,
          version: 0,
          dnssecOk: false,
          options: [{ code: -1, data: new Uint8Array(0) }],
        },
      }),
    ];
    for (const m of bad) {
      assert.throws(() => encodeMessage(m), {
        name: "TypeError",
        message: /is not an integer from 0 to/,
      });
    }
  },
});

Deno.test({
  name: "encodeMessage() rejects a record whose type is not its data's type",
  permissions: "none",
  fn() {
    assert.throws(
      () =>
        encodeMessage(message({
          answers: [{
            name: "x",
            type: 5,
            class: 1,
            ttl: 0,
            data: { type: 1, address: "1.2.3.4" },
          }],
        })),
      { name: "TypeError", message: /its type 5 is not its data's type 1/ },
    );
  },
});

Deno.test({
  name: "encodeMessage() rejects an OPT record in a section",
  permissions: "none",
  fn() {
    assert.throws(
      () =>
        encodeMessage(
          message({
            additionals: [record("", { type: 41, raw: new Uint8Array(0) })],
          }),
        ),
      { name: "TypeError", message: /an OPT record goes in edns/ },
    );
  },
});

Deno.test({
  name:
    "encodeMessage() rejects known types without their fields and RDATA over 65535 bytes",
  permissions: "none",
  fn() {
    const fake = { type: 99 } as unknown as RecordData;
    assert.throws(
      () => encodeMessage(message({ answers: [record("x", fake)] })),
      { name: "TypeError", message: /data of type TYPE99 needs raw bytes/ },
    );
    assert.throws(
      () =>
        encodeMessage(
          message({
            answers: [record("x", { type: 99, raw: new Uint8Array(65536) })],
          }),
        ),
      {
        name: "TypeError",
        message: /RDATA is 65536 bytes, over the limit of 65535/,
      },
    );
  },
});

Deno.test({
  name: "encodeMessage() rejects a maxSize under 12",
  permissions: "none",
  fn() {
    for (const maxSize of [11, 0, 512.5, NaN]) {
      assert.throws(() => encodeMessage(message(), { maxSize }), TypeError);
    }
  },
});

// ---- encodeMessage(): truncation ----

function sixtyA(edns?: Edns): DnsMessage {
  const answers = Array.from(
    { length: 60 },
    (_, i) => record("many.example", { type: 1, address: `192.0.2.${i}` }),
  );
  return message({
    id: 0x4242,
    flags: flags({ qr: true, aa: true, rd: true }),
    questions: [{ name: "many.example", type: 1, class: 1 }],
    answers,
    authorities: [record("example", { type: 2, target: "ns.example" })],
    additionals: [record("ns.example", { type: 1, address: "192.0.2.53" })],
    ...(edns === undefined ? {} : { edns }),
  });
}

Deno.test({
  name:
    "encodeMessage() truncates to maxSize: TC set, sections emptied, question kept",
  permissions: "none",
  fn() {
    const sent = sixtyA();
    const { bytes, truncated } = encodeMessage(sent, { maxSize: 512 });
    assert.equal(truncated, true);
    assert.ok(bytes.length <= 512);
    const decoded = decodeMessage(bytes);
    assert.deepEqual(decoded, {
      ...sent,
      flags: { ...sent.flags, tc: true },
      answers: [],
      authorities: [],
      additionals: [],
    });
  },
});

Deno.test({
  name: "encodeMessage() keeps the OPT record when it truncates",
  permissions: "none",
  fn() {
    const edns: Edns = {
      udpSize: 1232,
      extendedRcode: 0,
      version: 0,
      dnssecOk: false,
      options: [],
    };
    const { bytes, truncated } = encodeMessage(sixtyA(edns), { maxSize: 512 });
    assert.equal(truncated, true);
    const decoded = decodeMessage(bytes);
    assert.deepEqual(decoded.edns, edns);
    assert.equal(decoded.questions.length, 1);
  },
});

Deno.test({
  name: "encodeMessage() without maxSize writes every record",
  permissions: "none",
  fn() {
    const sent = sixtyA();
    const { bytes, truncated } = encodeMessage(sent);
    assert.equal(truncated, false);
    assert.ok(bytes.length > 512);
    assert.deepEqual(decodeMessage(bytes), sent);
    // A limit it fits under changes nothing.
    assert.deepEqual(encodeMessage(sent, { maxSize: bytes.length }), {
      bytes,
      truncated: false,
    });
  },
});

Deno.test({
  name:
    "encodeMessage() drops the question, then the OPT record, when even they do not fit",
  permissions: "none",
  fn() {
    const edns: Edns = {
      udpSize: 512,
      extendedRcode: 0,
      version: 0,
      dnssecOk: false,
      options: [],
    };
    const sent = sixtyA(edns); // question 18 bytes, OPT 11
    const noQuestion = encodeMessage(sent, { maxSize: 30 });
    assert.equal(noQuestion.truncated, true);
    assert.equal(noQuestion.bytes.length, 23);
    assert.deepEqual(decodeMessage(noQuestion.bytes).edns, edns);
    assert.deepEqual(decodeMessage(noQuestion.bytes).questions, []);
    const bare = encodeMessage(sent, { maxSize: 12 });
    assert.equal(toHex(bare.bytes), "42 42 87 00 00 00 00 00 00 00 00 00");
  },
});

Deno.test({
  name: "maxUdpResponseSize() is 512 without EDNS and at least 512 with it",
  permissions: "none",
  fn() {
    const edns = (udpSize: number): Edns => ({
      udpSize,
      extendedRcode: 0,
      version: 0,
      dnssecOk: false,
      options: [],
    });
    assert.equal(maxUdpResponseSize(message()), 512);
    assert.equal(maxUdpResponseSize(message({ edns: edns(100) })), 512);
    assert.equal(maxUdpResponseSize(message({ edns: edns(4096) })), 4096);
  },
});

Deno.test({
  name:
    "DnsFormatError is what decodeMessage() throws, named and with an rcode",
  permissions: "none",
  fn() {
    const error = new DnsFormatError("Cannot decode DNS message: test", 3);
    assert.equal(error.rcode, RCODE.FORMERR);
    assert.equal(error.offset, 3);
    assert.equal(error.id, undefined);
    assert.equal(error.name, "DnsFormatError");
  },
});
