import assert from "node:assert/strict";
import { contentRange, parseRange, unsatisfiedRange } from "./range.ts";

Deno.test({
  name: "parseRange() reads a first-last range, clamping the end",
  permissions: "none",
  fn() {
    assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=0-0", 1000), { start: 0, end: 0 });
    assert.deepEqual(parseRange("bytes=500-999", 1000), {
      start: 500,
      end: 999,
    });
    assert.deepEqual(parseRange("bytes=500-5000", 1000), {
      start: 500,
      end: 999,
    });
    assert.deepEqual(parseRange("bytes=999-999", 1000), {
      start: 999,
      end: 999,
    });
    assert.deepEqual(
      parseRange("bytes=0-99999999999999999999999", 10),
      { start: 0, end: 9 },
    );
  },
});

Deno.test({
  name: "parseRange() reads an open range to the end",
  permissions: "none",
  fn() {
    assert.deepEqual(parseRange("bytes=100-", 1000), { start: 100, end: 999 });
    assert.deepEqual(parseRange("bytes=0-", 1), { start: 0, end: 0 });
  },
});

Deno.test({
  name: "parseRange() reads a suffix range",
  permissions: "none",
  fn() {
    assert.deepEqual(parseRange("bytes=-500", 1000), { start: 500, end: 999 });
    assert.deepEqual(parseRange("bytes=-500", 100), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=-1", 1), { start: 0, end: 0 });
  },
});

Deno.test({
  name:
    "parseRange() accepts any case of the unit, whitespace and empty elements",
  permissions: "none",
  fn() {
    for (
      const header of [
        "Bytes=0-9",
        "BYTES=0-9",
        " bytes=0-9 ",
        "bytes = 0-9",
        "bytes= 0 - 9",
        "bytes=0-9,",
        "bytes=, 0-9 ,,",
      ]
    ) {
      assert.deepEqual(parseRange(header, 100), { start: 0, end: 9 }, header);
    }
  },
});

Deno.test({
  name: "parseRange() reports unsatisfiable ranges",
  permissions: "none",
  fn() {
    assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
    assert.equal(parseRange("bytes=1000-2000", 1000), "unsatisfiable");
    assert.equal(
      parseRange("bytes=99999999999999999999-", 1000),
      "unsatisfiable",
    );
    assert.equal(parseRange("bytes=-0", 1000), "unsatisfiable");
    assert.equal(parseRange("bytes=0-", 0), "unsatisfiable");
    assert.equal(parseRange("bytes=-5", 0), "unsatisfiable");
    assert.equal(parseRange("bytes=0-0", 0), "unsatisfiable");
  },
});

Deno.test({
  name: "parseRange() ignores other units, malformed values and several ranges",
  permissions: "none",
  fn() {
    for (
      const header of [
        "",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=1-2-3",
        "bytes=5-1",
        "bytes=+1-2",
        "bytes=0x1-2",
        "bytes=1.5-2",
        "bytes=--1",
        "bytes 0-9",
        "items=0-9",
        "bytesx=0-9",
        "bytes=0-9;x",
        "bytes=0-9, 20-29",
        "bytes=0-9,-5",
        "bytes=0-9,0-9",
      ]
    ) {
      assert.equal(parseRange(header, 100), undefined, header);
    }
  },
});

Deno.test({
  name: "contentRange() and unsatisfiedRange() format Content-Range",
  permissions: "none",
  fn() {
    assert.equal(contentRange(0, 99, 1000), "bytes 0-99/1000");
    assert.equal(contentRange(999, 999, 1000), "bytes 999-999/1000");
    assert.equal(unsatisfiedRange(1000), "bytes */1000");
    assert.equal(unsatisfiedRange(0), "bytes */0");
  },
});
