import assert from "node:assert/strict";
import {
  bodyless,
  formatResponseHead,
  httpDate,
  parseHttpDate,
  STATUS_TEXT,
} from "./response.ts";

const decoder = new TextDecoder();

function head(
  status: number,
  headers: readonly (readonly [string, string])[] = [],
): string {
  return decoder.decode(formatResponseHead(status, headers));
}

const RFC_EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37);

// ---- STATUS_TEXT ----

Deno.test({
  name: "STATUS_TEXT has a reason phrase for every status socklab sends",
  permissions: "none",
  fn() {
    const used = [
      100,
      200,
      201,
      204,
      206,
      301,
      304,
      400,
      403,
      404,
      405,
      408,
      411,
      412,
      413,
      414,
      415,
      416,
      422,
      431,
      500,
      501,
      503,
      505,
    ];
    for (const status of used) {
      assert.match(
        STATUS_TEXT[status] ?? "",
        /^[A-Z][A-Za-z -]+$/,
        `${status}`,
      );
    }
    assert.equal(STATUS_TEXT[413], "Content Too Large");
    assert.equal(STATUS_TEXT[431], "Request Header Fields Too Large");
    assert.ok(Object.isFrozen(STATUS_TEXT));
  },
});

// ---- formatResponseHead() ----

Deno.test({
  name: "formatResponseHead() writes the status line and headers in order",
  permissions: "none",
  fn() {
    assert.equal(
      head(200, [["Content-Type", "text/plain"], ["Content-Length", "5"]]),
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
    );
    assert.equal(head(404), "HTTP/1.1 404 Not Found\r\n\r\n");
    assert.equal(
      head(200, [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["X", ""]]),
      "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX: \r\n\r\n",
    );
  },
});

Deno.test({
  name: "formatResponseHead() leaves the reason empty for an unknown status",
  permissions: "none",
  fn() {
    assert.equal(head(299), "HTTP/1.1 299 \r\n\r\n");
  },
});

Deno.test({
  name: "formatResponseHead() encodes header values as UTF-8",
  permissions: "none",
  fn() {
    const bytes = formatResponseHead(200, [["X-Name", "한"]]);
    assert.deepEqual(
      [...bytes.subarray(25, 28)],
      [0xed, 0x95, 0x9c],
    );
    assert.equal(
      decoder.decode(bytes),
      "HTTP/1.1 200 OK\r\nX-Name: 한\r\n\r\n",
    );
  },
});

Deno.test({
  name: "formatResponseHead() throws TypeError on CR, LF or NUL in a value",
  permissions: "none",
  fn() {
    for (const value of ["a\r\nSet-Cookie: x=1", "a\rb", "a\nb", "a\0b"]) {
      assert.throws(
        () => formatResponseHead(200, [["Location", value]]),
        (error: unknown) =>
          error instanceof TypeError &&
          /^Cannot format header/.test(error.message),
      );
    }
  },
});

Deno.test({
  name: "formatResponseHead() throws TypeError on a name that is not a token",
  permissions: "none",
  fn() {
    for (const name of ["", "Bad Name", "A:B", "X\r\nY", "É"]) {
      assert.throws(() => formatResponseHead(200, [[name, "v"]]), TypeError);
    }
  },
});

Deno.test({
  name: "formatResponseHead() throws RangeError on a status outside 100–599",
  permissions: "none",
  fn() {
    for (const status of [0, 99, 600, 200.5, NaN]) {
      assert.throws(() => formatResponseHead(status, []), RangeError);
    }
  },
});

// ---- httpDate() ----

Deno.test({
  name: "httpDate() formats an IMF-fixdate",
  permissions: "none",
  fn() {
    assert.equal(
      httpDate(new Date(RFC_EXAMPLE)),
      "Sun, 06 Nov 1994 08:49:37 GMT",
    );
    assert.equal(
      httpDate(new Date(RFC_EXAMPLE + 999)),
      "Sun, 06 Nov 1994 08:49:37 GMT",
    );
    assert.equal(httpDate(new Date(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert.equal(
      httpDate(new Date(Date.UTC(2024, 1, 29, 23, 5, 9))),
      "Thu, 29 Feb 2024 23:05:09 GMT",
    );
    const early = new Date(0);
    early.setUTCFullYear(5, 0, 2);
    assert.equal(httpDate(early), "Sun, 02 Jan 0005 00:00:00 GMT");
  },
});

Deno.test({
  name: "httpDate() throws RangeError for an invalid date or a 5-digit year",
  permissions: "none",
  fn() {
    assert.throws(() => httpDate(new Date(NaN)), RangeError);
    assert.throws(() => httpDate(new Date(Date.UTC(10000, 0, 1))), RangeError);
    assert.throws(() => httpDate(new Date(Date.UTC(-1, 0, 1))), RangeError);
  },
});

// ---- parseHttpDate() ----

Deno.test({
  name: "parseHttpDate() reads IMF-fixdate, RFC 850 and asctime dates",
  permissions: "none",
  fn() {
    for (
      const text of [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun Nov 06 08:49:37 1994",
      ]
    ) {
      assert.equal(parseHttpDate(text)?.getTime(), RFC_EXAMPLE, text);
    }
  },
});

Deno.test({
  name:
    "parseHttpDate() places a two-digit RFC 850 year within 50 years of now",
  permissions: "none",
  fn() {
    const year = (text: string, now?: Date) =>
      parseHttpDate(text, now)?.getUTCFullYear();
    const now = new Date(Date.UTC(2025, 5, 1));
    assert.equal(year("Sunday, 06-Nov-94 08:49:37 GMT", now), 1994);
    assert.equal(year("Monday, 06-Nov-30 08:49:37 GMT", now), 2030);
    assert.equal(year("Monday, 06-Nov-75 08:49:37 GMT", now), 2075);
    assert.equal(year("Monday, 06-Nov-76 08:49:37 GMT", now), 1976);
    assert.equal(
      year("Monday, 06-Nov-94 08:49:37 GMT", new Date(Date.UTC(2060, 0))),
      2094,
    );
    // Without a clock: 70–99 are 19xx, 00–69 are 20xx.
    assert.equal(year("Sunday, 06-Nov-94 08:49:37 GMT"), 1994);
    assert.equal(year("Thursday, 01-Jan-70 00:00:00 GMT"), 1970);
    assert.equal(year("Monday, 06-Nov-69 08:49:37 GMT"), 2069);
  },
});

Deno.test({
  name: "parseHttpDate() returns undefined for invalid dates",
  permissions: "none",
  fn() {
    for (
      const text of [
        "",
        "yesterday",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        " Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "1994-11-06T08:49:37Z",
      ]
    ) {
      assert.equal(parseHttpDate(text), undefined, text);
    }
  },
});

Deno.test({
  name: "parseHttpDate() accepts a leap second and years before 100",
  permissions: "none",
  fn() {
    assert.equal(
      parseHttpDate("Sat, 31 Dec 2016 23:59:60 GMT")?.getTime(),
      Date.UTC(2017, 0, 1),
    );
    assert.equal(
      parseHttpDate("Mon, 01 Jan 0001 00:00:00 GMT")?.getUTCFullYear(),
      1,
    );
    assert.equal(
      parseHttpDate("Thu, 29 Feb 2024 00:00:00 GMT")?.getUTCDate(),
      29,
    );
    assert.equal(parseHttpDate("Thu, 29 Feb 2023 00:00:00 GMT"), undefined);
  },
});

Deno.test({
  name: "parseHttpDate() reads back what httpDate() writes",
  permissions: "none",
  fn() {
    for (let ms = -2e12; ms < 4e12; ms += 7_777_777_777) {
      const date = new Date(Math.floor(ms / 1000) * 1000);
      assert.equal(parseHttpDate(httpDate(date))?.getTime(), date.getTime());
    }
  },
});

// ---- bodyless() ----

Deno.test({
  name: "bodyless() is true for HEAD, 1xx, 204 and 304",
  permissions: "none",
  fn() {
    assert.equal(bodyless("HEAD", 200), true);
    assert.equal(bodyless("HEAD", 404), true);
    assert.equal(bodyless("GET", 100), true);
    assert.equal(bodyless("GET", 101), true);
    assert.equal(bodyless("GET", 204), true);
    assert.equal(bodyless("GET", 304), true);
    assert.equal(bodyless("GET", 200), false);
    assert.equal(bodyless("POST", 201), false);
    assert.equal(bodyless("GET", 206), false);
    assert.equal(bodyless("head", 200), false);
    assert.equal(bodyless("GET", 404), false);
  },
});
