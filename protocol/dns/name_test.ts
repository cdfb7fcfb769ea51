import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalName,
  formatLabel,
  formatName,
  isPlainName,
  MAX_NAME_LENGTH,
  parseName,
} from "./name.ts";

const enc = new TextEncoder();

/** Characters that exercise escapes, case, dots and UTF-8 in name text. */
const nameCharArb = fc.constantFrom(
  ..."aZ09-.\\@ \u0000é😀",
);

function labels(...texts: string[]): Uint8Array[] {
  return texts.map((t) => enc.encode(t));
}

/** A name of `total` wire bytes made of 63-byte labels and one shorter one. */
function nameOfLength(total: number): string {
  const parts: string[] = [];
  let left = total - 1;
  while (left > 0) {
    const size = Math.min(63, left - 1);
    parts.push("x".repeat(size));
    left -= size + 1;
  }
  return parts.join(".");
}

Deno.test({
  name: "parseName() splits labels; the trailing dot is optional",
  permissions: "none",
  fn() {
    assert.deepEqual(
      parseName("www.example.com"),
      labels("www", "example", "com"),
    );
    assert.deepEqual(
      parseName("www.example.com."),
      labels("www", "example", "com"),
    );
    assert.deepEqual(parseName("Example.COM"), labels("Example", "COM"));
  },
});

Deno.test({
  name: "parseName() reads the root as an empty list",
  permissions: "none",
  fn() {
    assert.deepEqual(parseName(""), []);
    assert.deepEqual(parseName("."), []);
  },
});

Deno.test({
  name: "parseName() reads escapes and UTF-8",
  permissions: "none",
  fn() {
    assert.deepEqual(parseName("a\\.b.example"), labels("a.b", "example"));
    assert.deepEqual(parseName("a\\\\b"), labels("a\\b"));
    assert.deepEqual(parseName("a\\032b\\000"), [
      new Uint8Array([0x61, 0x20, 0x62, 0x00]),
    ]);
    assert.deepEqual(parseName("\\255"), [new Uint8Array([255])]);
    assert.deepEqual(parseName("\\@\\$x"), labels("@$x"));
    assert.deepEqual(parseName("café.fr"), labels("café", "fr"));
    assert.deepEqual(parseName("a\\."), labels("a."));
    assert.deepEqual(parseName("😀"), [
      new Uint8Array([0xf0, 0x9f, 0x98, 0x80]),
    ]);
  },
});

Deno.test({
  name: "parseName() accepts a 63-byte label and a 255-byte name",
  permissions: "none",
  fn() {
    assert.equal(parseName("a".repeat(63))[0]?.length, 63);
    const name = nameOfLength(MAX_NAME_LENGTH);
    const wire = parseName(name).reduce((n, l) => n + l.length + 1, 1);
    assert.equal(wire, 255);
  },
});

Deno.test({
  name: "parseName() rejects a label over 63 bytes",
  permissions: "none",
  fn() {
    assert.throws(() => parseName(`${"a".repeat(64)}.com`), {
      name: "TypeError",
      message: /label 1 is 64 bytes, over the limit of 63/,
    });
    // Counted in bytes, not characters: 32 "é" are 64 bytes.
    assert.throws(() => parseName("é".repeat(32)), TypeError);
    assert.throws(() => parseName("\\000".repeat(64)), TypeError);
  },
});

Deno.test({
  name: "parseName() rejects a name over 255 bytes",
  permissions: "none",
  fn() {
    assert.throws(() => parseName(nameOfLength(256)), {
      name: "TypeError",
      message: /over the limit of 255 bytes/,
    });
  },
});

Deno.test({
  name: "parseName() rejects empty labels and bad escapes",
  permissions: "none",
  fn() {
    for (
      const text of [
        "a..b",
        ".a",
        "..",
        "a.b..",
        "a\\",
        "\\256",
        "\\1",
        "\\12x",
        "a\\9",
      ]
    ) {
      assert.throws(() => parseName(text), TypeError, text);
    }
  },
});

Deno.test({
  name: "formatLabel() escapes the way dig prints",
  permissions: "none",
  fn() {
    assert.equal(formatLabel(enc.encode("www-1_x")), "www-1_x");
    assert.equal(formatLabel(enc.encode("a.b")), "a\\.b");
    assert.equal(formatLabel(enc.encode('\\"();@$')), '\\\\\\"\\(\\)\\;\\@\\$');
    assert.equal(
      formatLabel(new Uint8Array([0x20, 0x00, 0x7f, 0xff])),
      "\\032\\000\\127\\255",
    );
    assert.equal(formatLabel(enc.encode("é")), "\\195\\169");
  },
});

Deno.test({
  name: "formatName() joins labels; the root is empty",
  permissions: "none",
  fn() {
    assert.equal(formatName([]), "");
    assert.equal(formatName(labels("a.b", "example")), "a\\.b.example");
  },
});

Deno.test({
  name: "canonicalName() lowercases ASCII only and drops the trailing dot",
  permissions: "none",
  fn() {
    assert.equal(canonicalName("WWW.Example.COM."), "www.example.com");
    assert.equal(canonicalName("example.com"), "example.com");
    assert.equal(canonicalName("."), "");
    assert.equal(canonicalName(""), "");
    assert.equal(canonicalName("É.x"), "\\195\\137.x"); // not lowercased to é
  },
});

Deno.test({
  name: "canonicalName() spells every escape of a name the same",
  permissions: "none",
  fn() {
    const key = canonicalName("a\\.b.x");
    assert.equal(key, "a\\.b.x");
    assert.equal(canonicalName("A\\046B.X."), key);
    assert.equal(canonicalName("a@b"), canonicalName("a\\@b"));
    assert.equal(canonicalName("a\\098"), "ab");
  },
});

Deno.test({
  name: "canonicalName() never throws, even for text parseName() refuses",
  permissions: "none",
  fn() {
    for (const text of ["a..b", "a\\", "\\999", "x".repeat(300), "\\1x"]) {
      assert.equal(typeof canonicalName(text), "string", text);
    }
    fc.assert(
      fc.property(fc.string({ unit: nameCharArb, maxLength: 40 }), (text) => {
        const key = canonicalName(text);
        assert.equal(canonicalName(key), key);
      }),
    );
  },
});

Deno.test({
  name: "parseName() reads back what formatName() writes",
  permissions: "none",
  fn() {
    const labelArb = fc.uint8Array({ minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(fc.array(labelArb, { maxLength: 10 }), (list) => {
        assert.deepEqual(parseName(formatName(list)), list);
        assert.deepEqual(parseName(`${formatName(list)}.`), list);
      }),
    );
  },
});

Deno.test({
  name: "isPlainName() accepts only text whose characters are its bytes",
  permissions: "none",
  fn() {
    for (
      const text of ["www.example.com", "WWW.Example.COM.", "_sip._udp.x", "a"]
    ) {
      assert.equal(isPlainName(text), true, text);
    }
    for (
      const text of [
        "",
        ".",
        "a..b",
        ".a",
        "a\\.b",
        "a b",
        "café.fr",
        "a@b",
        "a(b",
      ]
    ) {
      assert.equal(isPlainName(text), false, text);
    }
  },
});

Deno.test({
  name:
    "parseName() and canonicalName() agree on plain and escaped spellings of a name",
  permissions: "none",
  fn() {
    const plainChar = fc.constantFrom(..."aZ09-_*.");
    fc.assert(
      fc.property(fc.string({ unit: plainChar, maxLength: 70 }), (text) => {
        // \DDD for every byte but the dots: the same name, the general path.
        const escaped = text.replace(
          /[^.]/g,
          (c) => `\\${c.charCodeAt(0).toString().padStart(3, "0")}`,
        );
        assert.equal(canonicalName(text), canonicalName(escaped));
        const parse = (t: string) => {
          try {
            return parseName(t);
          } catch (error) {
            return (error as Error).constructor;
          }
        };
        assert.deepEqual(parse(text), parse(escaped));
      }),
    );
  },
});
