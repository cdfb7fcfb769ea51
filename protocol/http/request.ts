/**
 * HTTP/1.1 request heads (RFC 9112 §2–§3, §5–§6, §9.3): the request line and
 * header section, body framing, persistence and the request target. Pure
 * functions over `Uint8Array`; no I/O.
 *
 * @module
 */

import {
  COLON,
  CR,
  HTAB,
  isFieldValueByte,
  isToken,
  latin1,
  LF,
  listElements,
  SP,
  TCHAR,
} from "./_syntax.ts";
import { HttpParseError } from "./errors.ts";

/** Limits {@linkcode parseRequestHead} enforces; each has a documented default. */
export interface HttpLimits {
  /**
   * Longest request line in bytes, line end excluded. Default 8192; a longer
   * one is answered 414 (URI Too Long).
   */
  readonly maxRequestLine: number;
  /**
   * Largest header section in bytes, counted from the parse offset through
   * the empty line that ends it: skipped leading empty lines, the request
   * line, the fields and every line end. Default 16384; a larger one is
   * answered 431 (Request Header Fields Too Large).
   */
  readonly maxHeaderBytes: number;
  /** Most header field lines. Default 100; more are answered 431. */
  readonly maxHeaders: number;
}

/** The default limits. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  maxRequestLine: 8192,
  maxHeaderBytes: 16384,
  maxHeaders: 100,
});

/**
 * The header fields of a message, in the order received, with names
 * lowercased. Values are strings of one char per byte (ISO-8859-1), so
 * obs-text bytes survive unchanged.
 *
 * @example
 * ```ts
 * const headers = new HeaderList([["Accept", "text/html"], ["accept", "text/plain"]]);
 * headers.get("ACCEPT"); // "text/html, text/plain"
 * headers.getAll("accept"); // ["text/html", "text/plain"]
 * headers.size; // 2
 * ```
 */
export class HeaderList {
  #entries: [string, string][];
  #byName = new Map<string, string[]>();

  /** Creates the list from `[name, value]` pairs; names are lowercased. */
  constructor(entries: [string, string][]) {
    this.#entries = entries.map(([name, value]) => [name.toLowerCase(), value]);
    for (const [name, value] of this.#entries) {
      const values = this.#byName.get(name);
      if (values === undefined) this.#byName.set(name, [value]);
      else values.push(value);
    }
  }

  /**
   * The value of field `name` (any case), or `undefined` when absent. Several
   * lines of one field are combined with `", "` (RFC 9110 §5.3), except
   * `cookie`, combined with `"; "` (RFC 6265 §5.4), and `set-cookie`, which
   * cannot be combined: its first value is returned; use
   * {@linkcode HeaderList.getAll} for all of them.
   */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    const values = this.#byName.get(key);
    if (values === undefined) return undefined;
    if (values.length === 1 || key === "set-cookie") return values[0];
    return values.join(key === "cookie" ? "; " : ", ");
  }

  /** Every value of field `name` (any case), in order; empty when absent. */
  getAll(name: string): string[] {
    return [...(this.#byName.get(name.toLowerCase()) ?? [])];
  }

  /** Whether field `name` (any case) is present. */
  has(name: string): boolean {
    return this.#byName.has(name.toLowerCase());
  }

  /** A copy of every `[name, value]` field line, in order, names lowercased. */
  entries(): [string, string][] {
    return this.#entries.map(([name, value]) => [name, value]);
  }

  /** The number of field lines (not of distinct names). */
  get size(): number {
    return this.#entries.length;
  }

  /** Shows the field lines when a HeaderList is logged or traced. */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options: unknown) => string,
    options: unknown,
  ): string {
    return `HeaderList ${inspect(this.#entries, options)}`;
  }

  /** Iterates the field lines as {@linkcode HeaderList.entries} does. */
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()[Symbol.iterator]();
  }
}

/** A parsed request line and header section. */
export interface RequestHead {
  /** The method as sent: a case-sensitive token, not checked against a list. */
  readonly method: string;
  /** The request-target as sent; see {@linkcode parseTarget}. */
  readonly target: string;
  /** The protocol version; `HTTP/1.2` to `HTTP/1.9` are read as `HTTP/1.1`. */
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  /** The header fields. */
  readonly headers: HeaderList;
}

/**
 * Parses the request head starting at `offset`.
 *
 * Empty lines (CRLF or LF) before the request line are skipped (RFC 9112
 * §2.2); lines may end in CRLF or bare LF. Header values are trimmed of
 * leading and trailing SP/HTAB. Unknown methods are not an error here.
 *
 * Errors, as {@linkcode HttpParseError} with its status:
 * - 400: a request line without exactly two single spaces, an empty method
 *   or target, a method that is not a token, a byte other than visible ASCII
 *   in the request line, a missing or unreadable version; a field line
 *   without a colon, with whitespace before the colon, with a name that is
 *   not a token, starting with SP/HTAB (obs-fold, or whitespace before the
 *   first field); a control byte other than HTAB, or NUL, in a value; a CR
 *   not followed by LF.
 * - 414: the request line is longer than `maxRequestLine`.
 * - 431: the head is larger than `maxHeaderBytes` or has more than
 *   `maxHeaders` field lines.
 * - 505: a version `HTTP/x` or `HTTP/x.y` with major version other than 1.
 *
 * The head is validated once it is complete, except the request line, whose
 * bytes are checked as they arrive (so a TLS handshake or other garbage gets
 * 400 at once). The limits are checked as bytes arrive: 414 and 431 are
 * thrown as soon as the limit is known to be exceeded, before any line end,
 * so a slow client cannot make the caller buffer without bound. Scanning an
 * incomplete head uses native `indexOf` over at most `maxHeaderBytes` bytes.
 *
 * @param bytes Buffer holding the head, possibly followed by body bytes or
 *   further requests.
 * @param offset Where the head starts.
 * @param limits Default {@linkcode DEFAULT_HTTP_LIMITS}.
 * @returns The head and the offset just after its terminating empty line,
 *   or `undefined` when more bytes are needed.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n");
 * const { head, next } = parseRequestHead(bytes, 0)!;
 * head.method; // "GET"
 * head.headers.get("host"); // "x"
 * next; // 30
 * ```
 */
export function parseRequestHead(
  bytes: Uint8Array,
  offset: number,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
): { head: RequestHead; next: number } | undefined {
  const headLimit = offset + limits.maxHeaderBytes;
  const scanEnd = Math.min(bytes.length, headLimit);
  const incomplete = () => {
    // The head needs at least one byte beyond what is here.
    if (bytes.length >= headLimit) throw headerTooLarge(limits, headLimit);
    return undefined;
  };

  let lineStart = offset;
  for (;;) {
    if (lineStart >= scanEnd) return incomplete();
    const b = bytes[lineStart];
    if (b === LF) lineStart += 1;
    else if (b === CR) {
      if (lineStart + 1 >= scanEnd) return incomplete();
      if (bytes[lineStart + 1] !== LF) throw bareCr(lineStart);
      lineStart += 2;
    } else break;
  }

  // The request line: wait for its LF, but never beyond maxRequestLine.
  const window = bytes.subarray(
    lineStart,
    Math.min(scanEnd, lineStart + limits.maxRequestLine + 2),
  );
  const lf = window.indexOf(LF);
  if (lf < 0) {
    let known = window.length;
    if (known > 0 && window[known - 1] === CR) known -= 1;
    scanRequestLine(bytes, lineStart, lineStart + known, false);
    if (known > limits.maxRequestLine) {
      throw requestLineTooLong(limits, lineStart);
    }
    return incomplete();
  }
  let lineEnd = lineStart + lf;
  if (lf > 0 && bytes[lineEnd - 1] === CR) lineEnd -= 1;
  const spaces = scanRequestLine(bytes, lineStart, lineEnd, true)!;
  if (lineEnd - lineStart > limits.maxRequestLine) {
    throw requestLineTooLong(limits, lineStart);
  }

  // The field lines: find them all with native indexOf before parsing any.
  const lines: number[] = [];
  let at = lineStart + lf + 1;
  let next: number;
  for (;;) {
    if (at >= scanEnd) return incomplete();
    const b = bytes[at];
    if (b === LF) {
      next = at + 1;
      break;
    }
    if (b === CR) {
      if (at + 1 >= scanEnd) return incomplete();
      if (bytes[at + 1] === LF) {
        next = at + 2;
        break;
      }
    }
    // A line that is not empty is one more field, known before its LF.
    if (lines.length / 2 >= limits.maxHeaders) {
      throw new HttpParseError(
        431,
        `Cannot accept request head: more than ${limits.maxHeaders} header fields`,
        at,
      );
    }
    const end = bytes.subarray(at, scanEnd).indexOf(LF);
    if (end < 0) return incomplete();
    lines.push(at, at + end);
    at += end + 1;
  }

  const method = latin1(bytes, lineStart, spaces.sp1);
  const target = latin1(bytes, spaces.sp1 + 1, spaces.sp2);
  const version = parseVersion(bytes, spaces.sp2 + 1, lineEnd);
  const entries: [string, string][] = [];
  for (let i = 0; i < lines.length; i += 2) {
    entries.push(parseFieldLine(bytes, lines[i]!, lines[i + 1]!));
  }
  return {
    head: { method, target, version, headers: new HeaderList(entries) },
    next,
  };
}

/**
 * Checks request-line bytes `start` to `end` (line end excluded). When
 * `complete` is false the line is still arriving: only what is here is
 * checked. Returns the positions of the two spaces when `complete`.
 */
function scanRequestLine(
  bytes: Uint8Array,
  start: number,
  end: number,
  complete: boolean,
): { sp1: number; sp2: number } | undefined {
  let sp1 = -1;
  let sp2 = -1;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b === SP) {
      if (sp1 < 0) {
        if (i === start) throw badLine("the method is empty", i);
        sp1 = i;
      } else if (sp2 < 0) {
        if (i === sp1 + 1) throw badLine("the target is empty", i);
        sp2 = i;
      } else {
        throw badLine("it has more than two spaces", i);
      }
    } else if (b < 0x21 || b > 0x7e) {
      if (b === CR) throw bareCr(i);
      throw badLine(`byte 0x${hex2(b)} is not allowed in it`, i);
    } else if (sp1 < 0 && TCHAR[b] === 0) {
      throw badLine(
        `method byte ${
          JSON.stringify(String.fromCharCode(b))
        } is not a token character`,
        i,
      );
    }
  }
  if (!complete) return undefined;
  if (sp1 < 0) {
    throw badLine("it has no target and no version", start);
  }
  if (sp2 < 0) throw badLine("it has no version", end);
  return { sp1, sp2 };
}

const VERSION = /^HTTP\/(\d+)(?:\.(\d+))?$/;

function parseVersion(
  bytes: Uint8Array,
  start: number,
  end: number,
): RequestHead["version"] {
  const text = latin1(bytes, start, end);
  const match = VERSION.exec(text);
  if (match !== null) {
    const [, major, minor] = match;
    if (Number(major) !== 1) {
      throw new HttpParseError(
        505,
        `Cannot serve ${
          JSON.stringify(text)
        }: only HTTP/1.0 and HTTP/1.1 are supported`,
        start,
      );
    }
    if (major === "1" && minor !== undefined && minor.length === 1) {
      // RFC 9110 §2.5: a 1.x server answers any higher 1.x as 1.1.
      return minor === "0" ? "HTTP/1.0" : "HTTP/1.1";
    }
  }
  throw badLine(`version ${JSON.stringify(text)} is not HTTP/1.x`, start);
}

/** Parses the field line from `start` to the LF at `lf`. */
function parseFieldLine(
  bytes: Uint8Array,
  start: number,
  lf: number,
): [string, string] {
  const end = lf > start && bytes[lf - 1] === CR ? lf - 1 : lf;
  const first = bytes[start]!;
  if (first === SP || first === HTAB) {
    throw new HttpParseError(
      400,
      "Cannot parse header field: a line starts with whitespace (obsolete line folding is not accepted)",
      start,
    );
  }
  let colon = start;
  while (colon < end && TCHAR[bytes[colon]!] === 1) colon++;
  if (colon === end) {
    throw new HttpParseError(
      400,
      `Cannot parse header field ${quoted(bytes, start, end)}: it has no colon`,
      start,
    );
  }
  const stop = bytes[colon]!;
  if (stop !== COLON) {
    const why = stop === SP || stop === HTAB
      ? "whitespace between the name and the colon"
      : stop === CR
      ? "a CR not followed by LF"
      : `byte 0x${hex2(stop)} in its name`;
    throw new HttpParseError(
      400,
      `Cannot parse header field ${quoted(bytes, start, end)}: ${why}`,
      colon,
    );
  }
  if (colon === start) {
    throw new HttpParseError(
      400,
      "Cannot parse header field: the name is empty",
      start,
    );
  }
  let valueStart = colon + 1;
  let valueEnd = end;
  for (let i = valueStart; i < valueEnd; i++) {
    const b = bytes[i]!;
    if (!isFieldValueByte(b)) {
      const name = latin1(bytes, start, colon);
      throw new HttpParseError(
        400,
        b === CR
          ? `Cannot parse header field ${
            JSON.stringify(name)
          }: a CR not followed by LF`
          : `Cannot parse header field ${
            JSON.stringify(name)
          }: control byte 0x${hex2(b)} in its value`,
        i,
      );
    }
  }
  while (
    valueStart < valueEnd &&
    (bytes[valueStart] === SP || bytes[valueStart] === HTAB)
  ) valueStart++;
  while (
    valueEnd > valueStart &&
    (bytes[valueEnd - 1] === SP || bytes[valueEnd - 1] === HTAB)
  ) valueEnd--;
  return [latin1(bytes, start, colon), latin1(bytes, valueStart, valueEnd)];
}

/** How a request's body is delimited (RFC 9112 §6.3). */
export type BodyFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

const DIGITS = /^\d+$/;

/**
 * Decides how the request body is delimited (RFC 9112 §6).
 *
 * - No Transfer-Encoding and no Content-Length: `{ kind: "none" }`.
 * - Content-Length (its values, in one or several lines, all the same
 *   number): `{ kind: "length", length }`, also when the length is 0.
 * - Transfer-Encoding ending in `chunked`: `{ kind: "chunked" }`.
 *
 * Errors, as {@linkcode HttpParseError}:
 * - 400: Transfer-Encoding together with Content-Length (request
 *   smuggling); Transfer-Encoding in an HTTP/1.0 request; Content-Length
 *   values that differ, are empty or not all digits, or are above
 *   `Number.MAX_SAFE_INTEGER`; a Transfer-Encoding that is empty, not a list
 *   of tokens, whose final coding is not `chunked` (the length cannot be
 *   determined), or that applies `chunked` twice.
 * - 501: a coding other than `chunked` before the final `chunked`
 *   (`gzip, chunked`): socklab decodes no other transfer coding.
 *
 * @example
 * ```ts
 * bodyFraming(head); // { kind: "length", length: 42 } for "Content-Length: 42"
 * ```
 */
export function bodyFraming(head: RequestHead): BodyFraming {
  const { headers } = head;
  if (headers.has("transfer-encoding")) {
    if (head.version === "HTTP/1.0") {
      throw new HttpParseError(
        400,
        "Cannot determine body length: Transfer-Encoding is not allowed in an HTTP/1.0 request",
      );
    }
    if (headers.has("content-length")) {
      throw new HttpParseError(
        400,
        "Cannot determine body length: the request has both Transfer-Encoding and Content-Length",
      );
    }
    const raw = headers.getAll("transfer-encoding");
    const codings = listElements(raw).map((element) => {
      const semicolon = element.indexOf(";");
      const name = (semicolon < 0 ? element : element.slice(0, semicolon))
        .trimEnd();
      if (!isToken(name)) {
        throw new HttpParseError(
          400,
          `Cannot parse Transfer-Encoding ${JSON.stringify(raw.join(", "))}: ${
            JSON.stringify(element)
          } is not a transfer coding`,
        );
      }
      return name.toLowerCase();
    });
    const shown = JSON.stringify(raw.join(", "));
    if (codings.at(-1) !== "chunked") {
      throw new HttpParseError(
        400,
        `Cannot determine body length: Transfer-Encoding ${shown} does not end in "chunked"`,
      );
    }
    const other = codings.find((coding) => coding !== "chunked");
    if (other !== undefined) {
      throw new HttpParseError(
        501,
        `Cannot decode Transfer-Encoding ${shown}: transfer coding ${
          JSON.stringify(other)
        } is not supported`,
      );
    }
    if (codings.length > 1) {
      throw new HttpParseError(
        400,
        `Cannot determine body length: Transfer-Encoding ${shown} applies "chunked" more than once`,
      );
    }
    return { kind: "chunked" };
  }
  const raw = headers.getAll("content-length");
  if (raw.length === 0) return { kind: "none" };
  const shown = JSON.stringify(raw.join(", "));
  let digits: string | undefined;
  for (const value of raw) {
    for (const part of value.split(",")) {
      const element = part.trim();
      if (!DIGITS.test(element)) {
        throw new HttpParseError(
          400,
          `Cannot parse Content-Length ${shown}: ${
            JSON.stringify(element)
          } is not a decimal number`,
        );
      }
      const normal = element.replace(/^0+(?=\d)/, "");
      if (digits !== undefined && digits !== normal) {
        throw new HttpParseError(
          400,
          `Cannot determine body length: Content-Length values ${shown} differ`,
        );
      }
      digits = normal;
    }
  }
  const length = Number(digits);
  if (digits!.length > 16 || length > Number.MAX_SAFE_INTEGER) {
    throw new HttpParseError(
      400,
      `Cannot accept Content-Length ${shown}: it is above ${Number.MAX_SAFE_INTEGER}`,
    );
  }
  return { kind: "length", length };
}

/**
 * Whether the connection stays open after this request (RFC 9112 §9.3):
 * for HTTP/1.1 unless Connection lists `close`; for HTTP/1.0 only when
 * Connection lists `keep-alive` (and not `close`). Tokens compare
 * case-insensitively.
 *
 * @example
 * ```ts
 * keepAlive(head); // false for "HTTP/1.1" with "Connection: Upgrade, close"
 * ```
 */
export function keepAlive(head: RequestHead): boolean {
  const tokens = listElements(head.headers.getAll("connection")).map((t) =>
    t.toLowerCase()
  );
  if (tokens.includes("close")) return false;
  return head.version === "HTTP/1.1" || tokens.includes("keep-alive");
}

/** The path and query of a request target. */
export interface RequestTarget {
  /** The path, still percent-encoded as sent; starts with "/", or is "*". */
  readonly path: string;
  /** The query without its "?", or "" when there is none. */
  readonly query: string;
  /**
   * The authority (`host[:port]`) of an absolute-form target, which takes
   * precedence over the Host field (RFC 9112 §3.2.2); absent otherwise.
   */
  readonly authority?: string;
}

const ABSOLUTE = /^(https?):\/\/([^/?]*)([^?]*)(?:\?(.*))?$/is;

/**
 * Splits a request-target (RFC 9112 §3.2) into path and query.
 *
 * Accepts origin-form (`/a/b?x=1`), absolute-form with an `http` or
 * `https` scheme (`http://host:port/a?x`: its path is taken, "/" when
 * empty), and asterisk-form (`*`) with method OPTIONS. Throws
 * {@linkcode HttpParseError} 400 for anything else: `*` with another method,
 * authority-form, other schemes, an empty authority or one with userinfo, a
 * fragment (`#`), or a byte other than visible ASCII.
 *
 * @example
 * ```ts
 * parseTarget("/a/b%20c?x=1", "GET"); // { path: "/a/b%20c", query: "x=1" }
 * parseTarget("http://h:8080/a", "GET"); // { path: "/a", query: "", authority: "h:8080" }
 * ```
 */
export function parseTarget(target: string, method: string): RequestTarget {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x23) {
      throw new HttpParseError(
        400,
        c === 0x23
          ? `Cannot parse request target ${
            JSON.stringify(target)
          }: a fragment ("#") is not allowed`
          : `Cannot parse request target ${
            JSON.stringify(target)
          }: character U+${c.toString(16).padStart(4, "0")} is not allowed`,
        i,
      );
    }
  }
  if (target.startsWith("/")) return splitQuery(target);
  if (target === "*") {
    if (method === "OPTIONS") return { path: "*", query: "" };
    throw new HttpParseError(
      400,
      `Cannot parse request target "*": it is allowed only with OPTIONS, not ${
        JSON.stringify(method)
      }`,
    );
  }
  const match = ABSOLUTE.exec(target);
  if (match === null) {
    throw new HttpParseError(
      400,
      `Cannot parse request target ${
        JSON.stringify(target)
      }: it is neither a path starting with "/" nor an http(s) URI`,
    );
  }
  const [, , authority = "", path = "", query] = match;
  if (authority === "" || authority.includes("@")) {
    throw new HttpParseError(
      400,
      `Cannot parse request target ${JSON.stringify(target)}: ${
        authority === "" ? "the host is empty" : "userinfo is not allowed"
      }`,
    );
  }
  return { path: path === "" ? "/" : path, query: query ?? "", authority };
}

function splitQuery(target: string): RequestTarget {
  const q = target.indexOf("?");
  return q < 0
    ? { path: target, query: "" }
    : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/**
 * The Host of a request, checked as RFC 9112 §3.2 requires: an HTTP/1.1
 * request without Host, any request with more than one Host line, or a Host
 * value with whitespace, "/", "?", "#" or "@" throws
 * {@linkcode HttpParseError} 400. {@linkcode parseRequestHead} leaves this
 * check to the server so it can decide how strict to be.
 *
 * @returns The Host value, or "" for an HTTP/1.0 request without one.
 *
 * @example
 * ```ts
 * requireHost(head); // "example.com:8080"
 * ```
 */
export function requireHost(head: RequestHead): string {
  const hosts = head.headers.getAll("host");
  if (hosts.length > 1) {
    throw new HttpParseError(
      400,
      `Cannot accept request: it has ${hosts.length} Host fields`,
    );
  }
  const host = hosts[0];
  if (host === undefined) {
    if (head.version === "HTTP/1.0") return "";
    throw new HttpParseError(
      400,
      "Cannot accept HTTP/1.1 request: it has no Host field",
    );
  }
  if (!/^[!$&'()*+,\-.0-9:;=A-Z[\]_a-z~%]*$/.test(host)) {
    throw new HttpParseError(
      400,
      `Cannot accept request: Host ${
        JSON.stringify(host)
      } is not a host[:port]`,
    );
  }
  return host;
}

function badLine(why: string, offset: number): HttpParseError {
  return new HttpParseError(
    400,
    `Cannot parse request line: ${why}`,
    offset,
  );
}

function bareCr(offset: number): HttpParseError {
  return new HttpParseError(
    400,
    "Cannot parse request head: a CR is not followed by LF",
    offset,
  );
}

function requestLineTooLong(
  limits: HttpLimits,
  offset: number,
): HttpParseError {
  return new HttpParseError(
    414,
    `Cannot accept request line: it is longer than the limit of ${limits.maxRequestLine} bytes`,
    offset,
  );
}

function headerTooLarge(limits: HttpLimits, offset: number): HttpParseError {
  return new HttpParseError(
    431,
    `Cannot accept request head: it is larger than the limit of ${limits.maxHeaderBytes} bytes`,
    offset,
  );
}

function quoted(bytes: Uint8Array, start: number, end: number): string {
  const text = latin1(bytes, start, Math.min(end, start + 40));
  return JSON.stringify(end - start > 40 ? `${text}…` : text);
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}
