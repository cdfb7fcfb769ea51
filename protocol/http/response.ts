/**
 * HTTP/1.1 responses: reason phrases, the serialized status line and header
 * section (RFC 9112 §4–§5), HTTP dates (RFC 9110 §5.6.7), and which
 * responses carry no body. Pure: dates are passed in, no clock is read.
 *
 * @module
 */

import { isToken } from "./_syntax.ts";

/**
 * Reason phrases of the status codes registered by RFC 9110 §15 and a few
 * common extensions (RFC 6585 and others): every code socklab sends is here.
 *
 * @example
 * ```ts
 * STATUS_TEXT[404]; // "Not Found"
 * ```
 */
export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  100: "Continue",
  101: "Switching Protocols",
  103: "Early Hints",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
});

const ENCODER = new TextEncoder();

/**
 * Serializes a status line and header section, ending with the empty line:
 * `"HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n"`. The reason phrase
 * comes from {@linkcode STATUS_TEXT} (empty for unknown codes, which RFC 9112
 * §4 allows). Headers are written in the order given, names as given;
 * values are encoded as UTF-8 (ASCII is unchanged).
 *
 * Throws `RangeError` for a status that is not an integer from 100 to 599,
 * and `TypeError` for a header name that is not a token or a value holding
 * CR, LF or NUL: response splitting is a programming error, not input.
 *
 * @example
 * ```ts
 * formatResponseHead(204, [["Server", "socklab"]]);
 * // bytes of "HTTP/1.1 204 No Content\r\nServer: socklab\r\n\r\n"
 * ```
 */
export function formatResponseHead(
  status: number,
  headers: readonly (readonly [string, string])[],
): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(
      `Cannot format status line: status ${status} is not an integer from 100 to 599`,
    );
  }
  let text = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}\r\n`;
  for (const [name, value] of headers) {
    if (!isToken(name)) {
      throw new TypeError(
        `Cannot format header: name ${JSON.stringify(name)} is not a token`,
      );
    }
    if (/[\r\n\0]/.test(value)) {
      throw new TypeError(
        `Cannot format header ${JSON.stringify(name)}: value ${
          JSON.stringify(value)
        } contains CR, LF or NUL`,
      );
    }
    text += `${canonicalName(name)}: ${value}\r\n`;
  }
  return ENCODER.encode(`${text}\r\n`);
}

const SPECIAL_NAMES: Readonly<Record<string, string>> = {
  etag: "ETag",
  "www-authenticate": "WWW-Authenticate",
  "content-md5": "Content-MD5",
  te: "TE",
};

/**
 * The conventional spelling of a header name (`content-type` →
 * `Content-Type`, `etag` → `ETag`). Names are case-insensitive on the wire;
 * this is for people reading traces and `curl -i`.
 *
 * @example
 * ```ts
 * canonicalName("last-modified"); // "Last-Modified"
 * ```
 */
export function canonicalName(name: string): string {
  let canonical = CANONICAL.get(name);
  if (canonical === undefined) {
    const lower = name.toLowerCase();
    canonical = SPECIAL_NAMES[lower] ??
      lower.replace(
        /(^|-)([a-z])/g,
        (_, dash: string, c: string) => dash + c.toUpperCase(),
      );
    if (CANONICAL.size < MAX_CANONICAL) CANONICAL.set(name, canonical);
  }
  return canonical;
}

/**
 * Names already spelled: a server sends the same few names in every
 * response, and the regex replace was most of the cost of a response head.
 * Bounded, as names may come from anywhere; past the bound they are spelled
 * each time.
 */
const CANONICAL = new Map<string, string>();
const MAX_CANONICAL = 512;

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS = [
  "Sunday",
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
];
const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/**
 * Formats `date` as an IMF-fixdate (RFC 9110 §5.6.7), truncated to the
 * second. Throws `RangeError` for an invalid date or a year outside
 * 0000–9999, which the format cannot express.
 *
 * @example
 * ```ts
 * httpDate(new Date(Date.UTC(1994, 10, 6, 8, 49, 37))); // "Sun, 06 Nov 1994 08:49:37 GMT"
 * ```
 */
export function httpDate(date: Date): string {
  const year = date.getUTCFullYear();
  if (Number.isNaN(year) || year < 0 || year > 9999) {
    throw new RangeError(
      `Cannot format HTTP date: ${
        Number.isNaN(year)
          ? "the date is invalid"
          : `year ${year} is not 0000–9999`
      }`,
    );
  }
  return `${DAYS[date.getUTCDay()]}, ${pad(date.getUTCDate(), 2)} ${
    MONTHS[date.getUTCMonth()]
  } ${pad(year, 4)} ${pad(date.getUTCHours(), 2)}:${
    pad(date.getUTCMinutes(), 2)
  }:${pad(date.getUTCSeconds(), 2)} GMT`;
}

const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d\\d):(\\d\\d):(\\d\\d)";
const IMF_FIXDATE = new RegExp(
  `^(?:${DAYS.join("|")}), (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`,
);
const RFC850_DATE = new RegExp(
  `^(?:${LONG_DAYS.join("|")}), (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(
  `^(?:${DAYS.join("|")}) ${MONTH} (\\d\\d| \\d) ${TIME} (\\d{4})$`,
);

/**
 * Parses an HTTP date in any of the three forms RFC 9110 §5.6.7 requires
 * recipients to accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
 * RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
 * (`Sun Nov  6 08:49:37 1994`). Names are case-sensitive, as the grammar
 * says; the day name is not checked against the date.
 *
 * An RFC 850 two-digit year is placed, as RFC 9110 requires, in the most
 * recent matching year not more than 50 years after `now`'s year; without
 * `now` (no clock is read here) years 70–99 are 19xx and 00–69 are 20xx.
 *
 * @returns The date, or `undefined` when `text` is not a valid HTTP date
 *   (wrong form, or a day, hour, minute or second out of range).
 *
 * @example
 * ```ts
 * parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")?.getTime(); // 784111777000
 * parseHttpDate("yesterday"); // undefined
 * ```
 */
export function parseHttpDate(text: string, now?: Date): Date | undefined {
  let match = IMF_FIXDATE.exec(text);
  if (match !== null) {
    const [, day, month, year, h, m, s] = match;
    return makeDate(Number(year), month!, Number(day), h!, m!, s!);
  }
  match = RFC850_DATE.exec(text);
  if (match !== null) {
    const [, day, month, yy, h, m, s] = match;
    return makeDate(
      twoDigitYear(Number(yy), now),
      month!,
      Number(day),
      h!,
      m!,
      s!,
    );
  }
  match = ASCTIME_DATE.exec(text);
  if (match !== null) {
    const [, month, day, h, m, s, year] = match;
    return makeDate(Number(year), month!, Number(day), h!, m!, s!);
  }
  return undefined;
}

function twoDigitYear(yy: number, now: Date | undefined): number {
  const nowYear = now?.getUTCFullYear();
  if (nowYear === undefined || Number.isNaN(nowYear)) {
    return yy >= 70 ? 1900 + yy : 2000 + yy;
  }
  let year = nowYear - (nowYear % 100) + yy;
  if (year > nowYear + 50) year -= 100;
  return year;
}

function makeDate(
  year: number,
  monthName: string,
  day: number,
  hour: string,
  minute: string,
  second: string,
): Date | undefined {
  const month = MONTHS.indexOf(monthName);
  const h = Number(hour);
  const m = Number(minute);
  const s = Number(second);
  // The grammar allows second 60 for a leap second; it rolls over here.
  if (day < 1 || h > 23 || m > 59 || s > 60) return undefined;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC, which maps years 0–99 to 1900–1999.
  date.setUTCFullYear(year, month, day);
  if (date.getUTCDate() !== day) return undefined;
  date.setUTCHours(h, m, s, 0);
  return date;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * Whether a response with `status` to a request with `method` has no body
 * (RFC 9112 §6.3): any response to HEAD, and every 1xx, 204 and 304.
 *
 * @example
 * ```ts
 * bodyless("HEAD", 200); // true
 * bodyless("GET", 304); // true
 * bodyless("GET", 200); // false
 * ```
 */
export function bodyless(method: string, status: number): boolean {
  return method === "HEAD" || (status >= 100 && status < 200) ||
    status === 204 || status === 304;
}
