import assert from "node:assert/strict";
import {
  etagFor,
  ifRangeMatches,
  noneMatch,
  notModifiedSince,
} from "./conditional.ts";

const MTIME = new Date(Date.UTC(1994, 10, 6, 8, 49, 37, 500));
const DATE = "Sun, 06 Nov 1994 08:49:37 GMT";
const EARLIER = "Sun, 06 Nov 1994 08:49:36 GMT";
const LATER = "Sun, 06 Nov 1994 08:49:38 GMT";

Deno.test({
  name: "etagFor() quotes the size and mtime in hex",
  permissions: "none",
  fn() {
    assert.equal(etagFor(1000, 1700000000000), '"3e8-18bcfe56800"');
    assert.equal(etagFor(0, 0), '"0-0"');
    assert.equal(etagFor(1, 1.9), '"1-1"');
    assert.notEqual(etagFor(1000, 1), etagFor(1000, 2));
    assert.notEqual(etagFor(1000, 1), etagFor(1001, 1));
    assert.match(
      etagFor(123456789, MTIME.getTime()),
      /^"[0-9a-f]+-[0-9a-f]+"$/,
    );
  },
});

Deno.test({
  name: "noneMatch() compares entity-tags weakly",
  permissions: "none",
  fn() {
    const etag = '"3e8-1"';
    assert.equal(noneMatch('"3e8-1"', etag), true);
    assert.equal(noneMatch('W/"3e8-1"', etag), true);
    assert.equal(noneMatch('"3e8-1"', 'W/"3e8-1"'), true);
    assert.equal(noneMatch('"a", "3e8-1"', etag), true);
    assert.equal(noneMatch(' "a" ,W/"3e8-1",', etag), true);
    assert.equal(noneMatch('"a,b", "3e8-1"', etag), true);
    assert.equal(noneMatch('"3e8-2"', etag), false);
    assert.equal(noneMatch('"a", "b"', etag), false);
    assert.equal(noneMatch("3e8-1", etag), false);
    assert.equal(noneMatch('"3E8-1"', etag), false);
  },
});

Deno.test({
  name: "noneMatch() matches any representation with *",
  permissions: "none",
  fn() {
    assert.equal(noneMatch("*", '"x"'), true);
    assert.equal(noneMatch(" * ", '"x"'), true);
  },
});

Deno.test({
  name: "noneMatch() matches nothing when the header is malformed",
  permissions: "none",
  fn() {
    for (
      const header of [
        "",
        '"3e8-1',
        'w/"3e8-1"',
        '"3e8-1" "x"',
        '"3e8-1"x',
        '"a"; "3e8-1"',
        '"a\x00" , "3e8-1"',
        '*, "3e8-1"',
      ]
    ) {
      assert.equal(noneMatch(header, '"3e8-1"'), false, header);
    }
  },
});

Deno.test({
  name: "notModifiedSince() compares at one-second precision",
  permissions: "none",
  fn() {
    assert.equal(notModifiedSince(DATE, MTIME), true);
    assert.equal(notModifiedSince(LATER, MTIME), true);
    assert.equal(notModifiedSince(EARLIER, MTIME), false);
    assert.equal(
      notModifiedSince("Sunday, 06-Nov-94 08:49:37 GMT", MTIME),
      true,
    );
    assert.equal(notModifiedSince("Sun Nov  6 08:49:37 1994", MTIME), true);
  },
});

Deno.test({
  name: "notModifiedSince() ignores an invalid date",
  permissions: "none",
  fn() {
    for (
      const header of [
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        `${DATE}, ${DATE}`,
        "0",
      ]
    ) {
      assert.equal(notModifiedSince(header, MTIME), false, header);
    }
    assert.equal(notModifiedSince(DATE, new Date(NaN)), false);
  },
});

Deno.test({
  name: "ifRangeMatches() requires a strong match of the entity-tag",
  permissions: "none",
  fn() {
    const etag = '"3e8-1"';
    assert.equal(ifRangeMatches('"3e8-1"', etag, MTIME), true);
    assert.equal(ifRangeMatches(' "3e8-1" ', etag, MTIME), true);
    assert.equal(ifRangeMatches('W/"3e8-1"', etag, MTIME), false);
    assert.equal(ifRangeMatches('"3e8-1"', 'W/"3e8-1"', MTIME), false);
    assert.equal(ifRangeMatches('"3e8-2"', etag, MTIME), false);
    assert.equal(ifRangeMatches('"3e8-1", "x"', etag, MTIME), false);
    assert.equal(ifRangeMatches('"3e8-1', etag, MTIME), false);
  },
});

Deno.test({
  name: "ifRangeMatches() requires a date equal to Last-Modified",
  permissions: "none",
  fn() {
    const etag = '"3e8-1"';
    assert.equal(ifRangeMatches(DATE, etag, MTIME), true);
    assert.equal(ifRangeMatches(LATER, etag, MTIME), false);
    assert.equal(ifRangeMatches(EARLIER, etag, MTIME), false);
    assert.equal(ifRangeMatches("not a date", etag, MTIME), false);
    assert.equal(ifRangeMatches("", etag, MTIME), false);
  },
});
