/**
 * The DNS table file format of HW3: the seed's plain `name address` lines,
 * extended with TTLs, record types, `$TTL` and comments. Pure: the caller
 * reads the file and passes its text and name, so errors can say
 * `file:line: what`.
 *
 * ```text
 * # The seed's form: an address with ":" is AAAA, anything else A.
 * www.skku.edu            192.0.2.10
 * $TTL 300                # default TTL for the lines below (initially 3600)
 * www.example.com.  60 A  198.51.100.80
 * example.com       MX    10 mail.example.com
 * example.com       TXT   "v=spf1 mx -all" "second string"
 * shop.example.com  CNAME www.example.com
 * @                 NS    ns.example.com   # "@" is the origin, when given
 * ```
 *
 * @module
 */

import {
  formatIpv4,
  formatIpv6,
  parseIpv4,
  parseIpv6,
} from "../../protocol/dns/address.ts";
import {
  CLASS_IN,
  RR_TYPE,
  typeFromName,
} from "../../protocol/dns/constants.ts";
import {
  canonicalName,
  type RecordData,
  type ResourceRecord,
} from "../../protocol/dns/message.ts";

/** Default TTL in seconds before any `$TTL` line. */
export const DEFAULT_TABLE_TTL = 3600;

/** Largest TTL a table accepts: 2^31 - 1 seconds (RFC 2181 §8). */
export const MAX_TTL = 2 ** 31 - 1;

/**
 * A table file that cannot be used: the whole file is rejected. `message`
 * reads `file:line: what`, e.g.
 * `testdata/dns/global_com_dns.txt:7: unknown record type "MXX"`.
 *
 * @example
 * ```ts
 * try {
 *   parseTable("www.example.com MXX 1", "zone.txt");
 * } catch (error) {
 *   if (error instanceof TableError) console.log(error.file, error.line);
 * }
 * ```
 */
export class TableError extends Error {
  /** The file name the caller passed in. */
  readonly file: string;
  /** 1-based line of the problem. */
  readonly line: number;
  /** The problem without the `file:line: ` prefix. */
  readonly reason: string;

  /**
   * Creates the error; the message becomes `file:line: reason`.
   *
   * @example
   * ```ts
   * new TableError("local_dns.txt", 3, 'invalid IPv4 address "1.2.3"');
   * ```
   */
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = "TableError";
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

/**
 * A parsed table: every record by canonical owner name, in file order.
 *
 * @example
 * ```ts
 * const table = parseTable("www.skku.edu 192.0.2.10", "local_dns.txt");
 * table.records.get("www.skku.edu")?.[0]?.data; // { type: 1, address: "192.0.2.10" }
 * ```
 */
export interface Table {
  /** The file name the table was parsed from, for error messages. */
  readonly file: string;
  /** Records by canonical name (lowercase, no trailing dot). */
  readonly records: ReadonlyMap<string, readonly ResourceRecord[]>;
  /** The 1-based line each record (by identity) was defined on. */
  readonly lines: ReadonlyMap<ResourceRecord, number>;
  /** Number of records after identical duplicates collapsed. */
  readonly size: number;
}

/**
 * Options for {@linkcode parseTable}.
 *
 * @example
 * ```ts
 * parseTable("@ NS ns.example.com", "example.txt", { origin: "example.com" });
 * ```
 */
export interface ParseTableOptions {
  /** What `@` stands for; without it (or with "") `@` is an error. */
  origin?: string;
}

/**
 * Parses a table file. Records collapse when identical (same name, type and
 * data; the lower TTL is kept); a CNAME must be the only record at its name.
 *
 * @param text The file's contents.
 * @param file The file's name, used in error messages only.
 * @param options What `@` means.
 * @returns The records by canonical name.
 * @throws {TableError} On the first bad line; nothing of the file is used.
 *
 * @example
 * ```ts
 * const table = parseTable(
 *   "$TTL 60\nalias.example.com CNAME www.example.com\nwww.example.com 198.51.100.1\n",
 *   "com.txt",
 * );
 * table.size; // 2
 * table.records.get("alias.example.com")?.[0]?.ttl; // 60
 * ```
 */
export function parseTable(
  text: string,
  file: string,
  options: ParseTableOptions = {},
): Table {
  const origin = options.origin === undefined || options.origin === ""
    ? undefined
    : validateName(options.origin);
  const records = new Map<string, ResourceRecord[]>();
  const lines = new Map<ResourceRecord, number>();
  let size = 0;
  let defaultTtl = DEFAULT_TABLE_TTL;
  const sourceLines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let index = 0; index < sourceLines.length; index++) {
    const lineNumber = index + 1;
    const fail = (reason: string): never => {
      throw new TableError(file, lineNumber, reason);
    };
    const source = sourceLines[index] ?? "";
    const tokens = _tokenize(source, fail);
    const first = tokens[0];
    if (first === undefined) continue;
    if (first.text.startsWith("$") && !first.quoted) {
      defaultTtl = _directive(tokens, fail);
      continue;
    }
    const record = _record(source, tokens, { defaultTtl, origin }, fail);
    if (_add(records, lines, record, lineNumber, fail)) size++;
  }
  return { file, records, lines, size };
}

/**
 * Checks a domain name as tables accept it and returns its canonical form
 * (lowercase, no trailing dot): labels of 1–63 bytes made of letters, digits,
 * `-` and `_`, at most 253 characters in all. Wildcards are not supported.
 *
 * @param name The name as written, with or without the trailing dot.
 * @returns The canonical name.
 * @throws {RangeError} Saying what is wrong with the name.
 *
 * @example
 * ```ts
 * validateName("WWW.Example.COM."); // "www.example.com"
 * ```
 */
export function validateName(name: string): string {
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  if (bare === "") {
    throw new RangeError(`invalid name "${name}": it has no labels`);
  }
  if (bare.length > 253) {
    throw new RangeError(
      `invalid name "${_abbreviate(name)}": ${bare.length} characters, ` +
        "the limit is 253",
    );
  }
  for (const label of bare.split(".")) {
    let problem: string | undefined;
    if (label === "") problem = "it has an empty label";
    else if (label.length > 63) {
      problem = `label "${_abbreviate(label)}" is ${label.length} bytes, ` +
        "the limit is 63";
    } else if (label.includes("*")) {
      problem = "wildcard names are not supported";
    } else if (!/^[A-Za-z0-9_-]+$/.test(label)) {
      problem = `label "${label}" may hold only letters, digits, "-" and "_"`;
    }
    if (problem !== undefined) {
      throw new RangeError(`invalid name "${_abbreviate(name)}": ${problem}`);
    }
  }
  return canonicalName(bare);
}

// ---- Lines ----

interface _Token {
  readonly text: string;
  readonly quoted: boolean;
  readonly start: number;
  readonly end: number;
}

type _Fail = (reason: string) => never;

// Splits on whitespace; "#" at the start of a token starts a comment; a token
// that starts with '"' runs to the closing quote, with \" and \\ escapes.
function _tokenize(line: string, fail: _Fail): _Token[] {
  const tokens: _Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    if (c === "#") break;
    const start = i;
    if (c === '"') {
      let text = "";
      i++;
      for (;;) {
        const d = line[i];
        if (d === undefined) fail("unterminated quoted string");
        if (d === '"') break;
        if (d === "\\") {
          const e = line[i + 1];
          if (e !== '"' && e !== "\\") {
            fail(
              `unknown escape "\\${e ?? ""}" in a quoted string ` +
                '(only \\" and \\\\ are allowed)',
            );
          }
          text += e;
          i += 2;
          continue;
        }
        text += d;
        i++;
      }
      i++;
      const after = line[i];
      if (after !== undefined && after !== " " && after !== "\t") {
        fail(`unexpected "${after}" after a closing quote`);
      }
      tokens.push({ text, quoted: true, start, end: i });
      continue;
    }
    while (i < line.length && line[i] !== " " && line[i] !== "\t") i++;
    const text = line.slice(start, i);
    if (text.includes('"')) fail(`unexpected quote in "${text}"`);
    tokens.push({ text, quoted: false, start, end: i });
  }
  return tokens;
}

function _directive(tokens: readonly _Token[], fail: _Fail): number {
  const [directive, value, extra] = tokens;
  const name = directive?.text.toUpperCase() ?? "";
  if (name !== "$TTL") {
    fail(`unknown directive "${directive?.text}" (only $TTL is supported)`);
  }
  if (value === undefined) fail("$TTL needs a value, e.g. $TTL 3600");
  if (extra !== undefined) fail(`unexpected "${extra.text}" after $TTL`);
  return _ttl(value, fail);
}

function _ttl(token: _Token, fail: _Fail): number {
  if (token.quoted || !/^[0-9]+$/.test(token.text)) {
    fail(`TTL "${token.text}" is not a non-negative integer`);
  }
  const ttl = Number(token.text);
  if (ttl > MAX_TTL) fail(`TTL ${token.text} exceeds ${MAX_TTL}`);
  return ttl;
}

const _SUPPORTED: ReadonlyMap<string, number> = new Map([
  ["A", RR_TYPE.A],
  ["AAAA", RR_TYPE.AAAA],
  ["CNAME", RR_TYPE.CNAME],
  ["MX", RR_TYPE.MX],
  ["NS", RR_TYPE.NS],
  ["TXT", RR_TYPE.TXT],
]);

const _SUPPORTED_LIST = [..._SUPPORTED.keys()].sort().join(", ");

function _record(
  source: string,
  tokens: readonly _Token[],
  context: { readonly defaultTtl: number; readonly origin: string | undefined },
  fail: _Fail,
): ResourceRecord {
  const [owner] = tokens;
  if (owner === undefined) return fail("empty line");
  for (const token of tokens.slice(0, 2)) {
    if (token.quoted) fail("quoted strings are only allowed in TXT values");
  }
  let name: string;
  if (owner.text === "@") {
    if (context.origin === undefined) {
      fail('"@" needs a zone origin, and this table has none');
    }
    name = context.origin;
  } else {
    name = _name(owner.text, fail);
  }
  let i = 1;
  let ttl = context.defaultTtl;
  const maybeTtl = tokens[i];
  if (
    maybeTtl !== undefined && tokens.length > i + 1 &&
    /^[0-9]+$/.test(maybeTtl.text)
  ) {
    ttl = _ttl(maybeTtl, fail);
    i++;
  }
  // The class is optional and IN is the only one, as in dig's output.
  if (tokens[i]?.text.toUpperCase() === "IN" && tokens.length > i + 1) i++;
  const rest = tokens.slice(i);
  const head = rest[0];
  if (head === undefined) return fail(`missing address for "${owner.text}"`);
  if (head.quoted) fail("quoted strings are only allowed in TXT values");
  const typeName = head.text.toUpperCase();
  const type = _SUPPORTED.get(typeName);
  let data: RecordData;
  if (type !== undefined) {
    data = _data(source, typeName, rest.slice(1), fail);
  } else if (typeFromName(typeName) !== undefined) {
    return fail(
      `unsupported record type "${head.text}" (tables hold ${_SUPPORTED_LIST})`,
    );
  } else if (rest.length === 1) {
    data = head.text.includes(":")
      ? _data(source, "AAAA", rest, fail)
      : _data(source, "A", rest, fail);
  } else if (parseIpv4(head.text) ?? parseIpv6(head.text)) {
    return fail(
      `unexpected "${rest[1]?.text}" after the address "${head.text}"`,
    );
  } else {
    return fail(`unknown record type "${head.text}"`);
  }
  return { name, type: data.type, class: CLASS_IN, ttl, data };
}

function _data(
  source: string,
  typeName: string,
  value: readonly _Token[],
  fail: _Fail,
): RecordData {
  if (value.length === 0) fail(`missing value for the ${typeName} record`);
  if (typeName === "TXT") {
    return { type: 16, texts: _texts(source, value, fail) };
  }
  for (const token of value) {
    if (token.quoted) fail("quoted strings are only allowed in TXT values");
  }
  const expected = typeName === "MX" ? 2 : 1;
  const extra = value[expected];
  if (extra !== undefined) {
    fail(`unexpected "${extra.text}" after the ${typeName} value`);
  }
  const text = value[0]?.text ?? "";
  switch (typeName) {
    case "A": {
      const bytes = parseIpv4(text);
      if (bytes === undefined) return fail(`invalid IPv4 address "${text}"`);
      return { type: 1, address: formatIpv4(bytes) };
    }
    case "AAAA": {
      // The RFC 5952 form, so equal addresses written differently collapse.
      const bytes = parseIpv6(text);
      if (bytes === undefined) return fail(`invalid IPv6 address "${text}"`);
      return { type: 28, address: formatIpv6(bytes) };
    }
    case "MX": {
      const exchange = value[1];
      if (exchange === undefined) {
        return fail('an MX value is "PREFERENCE exchange", e.g. 10 mail.x.com');
      }
      if (!/^[0-9]+$/.test(text) || Number(text) > 0xffff) {
        fail(`MX preference "${text}" is not an integer from 0 to 65535`);
      }
      return {
        type: 15,
        preference: Number(text),
        exchange: _name(exchange.text, fail),
      };
    }
    case "CNAME":
      return { type: 5, target: _name(text, fail) };
    default:
      return { type: 2, target: _name(text, fail) };
  }
}

function _texts(
  source: string,
  value: readonly _Token[],
  fail: _Fail,
): string[] {
  const quoted = value.filter((token) => token.quoted).length;
  if (quoted !== 0 && quoted !== value.length) {
    fail("a TXT value mixes quoted and unquoted text; quote every string");
  }
  const first = value[0];
  const last = value[value.length - 1];
  // Unquoted: the rest of the line, inner spacing kept, is one string.
  const texts = quoted === 0 && first !== undefined && last !== undefined
    ? [source.slice(first.start, last.end)]
    : value.map((token) => token.text);
  const encoder = new TextEncoder();
  for (const text of texts) {
    const bytes = encoder.encode(text).length;
    if (bytes > 255) {
      fail(
        `a TXT string is ${bytes} bytes, the limit is 255 ` +
          "(split it into several quoted strings)",
      );
    }
  }
  return texts;
}

// Adds `record` unless an identical one is there (then the lower TTL wins,
// on the line first seen). Returns whether a record was added.
function _add(
  records: Map<string, ResourceRecord[]>,
  lines: Map<ResourceRecord, number>,
  record: ResourceRecord,
  line: number,
  fail: _Fail,
): boolean {
  const existing = records.get(record.name) ?? [];
  const key = _dataKey(record);
  const index = existing.findIndex((other) => _dataKey(other) === key);
  const old = existing[index];
  if (old !== undefined) {
    if (record.ttl < old.ttl) {
      const kept = { ...old, ttl: record.ttl };
      existing[index] = kept;
      lines.set(kept, lines.get(old) ?? line);
      lines.delete(old);
    }
    return false;
  }
  const conflict = existing.find((other) =>
    record.type === RR_TYPE.CNAME || other.type === RR_TYPE.CNAME
  );
  if (conflict !== undefined) {
    fail(
      `${_typeLabel(record.type)} at "${record.name}" conflicts with the ` +
        `${_typeLabel(conflict.type)} on line ${lines.get(conflict)}: ` +
        "a CNAME must be the only record at its name (RFC 1034 §3.6.2)",
    );
  }
  records.set(record.name, [...existing, record]);
  lines.set(record, line);
  return true;
}

function _name(text: string, fail: _Fail): string {
  try {
    return validateName(text);
  } catch (error) {
    if (error instanceof RangeError) return fail(error.message);
    throw error;
  }
}

// ---- Helpers ----

function _dataKey(record: ResourceRecord): string {
  return `${record.type} ${JSON.stringify(record.data)}`;
}

function _typeLabel(type: number): string {
  for (const [name, value] of _SUPPORTED) {
    if (value === type) return name === "CNAME" ? "CNAME" : `${name} record`;
  }
  return `type ${type} record`;
}

function _abbreviate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
