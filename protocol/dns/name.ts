/**
 * Domain names in text form (RFC 1035 §5.1, as `dig` prints them) and as
 * label lists. Pure: no I/O.
 *
 * A name's text is its labels joined by `"."`, with no trailing dot (`""`
 * is the root). Bytes that cannot stand for themselves are escaped as BIND
 * does: `\.`, `\\`, `\"`, `\(`, `\)`, `\;`, `\@`, `\$` and `\DDD` (three
 * decimal digits) for spaces, control bytes and bytes above 0x7e.
 *
 * @module
 */

/** Longest label in bytes (RFC 1035 §2.3.4). */
export const MAX_LABEL_LENGTH = 63;

/**
 * Longest name in wire bytes, length octets and the final zero included
 * (RFC 1035 §2.3.4).
 */
export const MAX_NAME_LENGTH = 255;

const BACKSLASH = 0x5c;
const DOT = 0x2e;
const encoder = new TextEncoder();

/**
 * Text whose every byte stands for itself: printable ASCII that
 * {@linkcode formatLabel} does not escape, in non-empty labels, with an
 * optional trailing dot. Almost every name on the wire is such text, and
 * for it parsing and canonicalizing need no escape handling.
 */
const PLAIN_NAME =
  /^[!#%&'*+,\-/0-9:<=>?A-Z\[\]^_`a-z{|}~]+(?:\.[!#%&'*+,\-/0-9:<=>?A-Z\[\]^_`a-z{|}~]+)*\.?$/;

/**
 * Parses a name's text into its labels.
 *
 * A trailing dot is optional, so `"example.com"` and `"example.com."` are
 * the same name, and both `""` and `"."` are the root. Characters outside
 * ASCII become their UTF-8 bytes; escapes are read as BIND reads them.
 *
 * @param text Such as `"www.example.com"` or `"a\\.b.example"`.
 * @returns The labels, most specific first; empty for the root.
 * @throws {TypeError} On an empty label (`"a..b"`, `".a"`), a label over
 *   {@linkcode MAX_LABEL_LENGTH} bytes, a name over
 *   {@linkcode MAX_NAME_LENGTH} wire bytes, or a bad escape (`\256`, `\1x`,
 *   a lone `\` at the end).
 *
 * @example
 * ```ts
 * parseName("a\\.b.example."); // [bytes of "a.b", bytes of "example"]
 * parseName(""); // []
 * ```
 */
export function parseName(text: string): Uint8Array[] {
  return (PLAIN_NAME.test(text) ? plainLabels(text) : undefined) ??
    splitLabels(text, true);
}

/**
 * Whether every character of `text` stands for its own byte: printable
 * ASCII that needs no escape, in non-empty labels, with an optional
 * trailing dot. Such a name's labels are its text split at dots, and its
 * {@linkcode canonicalName} is its text in lower case; lengths are not
 * checked.
 *
 * @param text A name's text.
 * @returns Whether it is plain.
 *
 * @example
 * ```ts
 * isPlainName("www.Example.com."); // true
 * isPlainName("a\\.b.example"); // false: an escape
 * isPlainName(""); // false: the root has no labels to split
 * ```
 */
export function isPlainName(text: string): boolean {
  return PLAIN_NAME.test(text);
}

/**
 * The labels of a {@linkcode PLAIN_NAME}, one byte per character; or
 * `undefined` when a length limit is broken, for `splitLabels` to say how.
 */
function plainLabels(text: string): Uint8Array[] | undefined {
  const end = text.charCodeAt(text.length - 1) === DOT
    ? text.length - 1
    : text.length;
  const labels: Uint8Array[] = [];
  let wireLength = 1;
  for (let start = 0; start < end;) {
    let dot = text.indexOf(".", start);
    if (dot < 0 || dot > end) dot = end;
    const length = dot - start;
    wireLength += length + 1;
    if (length > MAX_LABEL_LENGTH || wireLength > MAX_NAME_LENGTH) {
      return undefined;
    }
    const label = new Uint8Array(length);
    for (let i = 0; i < length; i++) label[i] = text.charCodeAt(start + i);
    labels.push(label);
    start = dot + 1;
  }
  return labels;
}

/**
 * Formats labels as a name's text, escaping as BIND does.
 *
 * @param labels The labels, most specific first.
 * @returns The text without a trailing dot; `""` for the root.
 *
 * @example
 * ```ts
 * const enc = new TextEncoder();
 * formatName([enc.encode("a.b"), enc.encode("example")]); // "a\\.b.example"
 * ```
 */
export function formatName(labels: readonly Uint8Array[]): string {
  return labels.map(formatLabel).join(".");
}

/**
 * Formats one label's bytes, escaping as BIND does.
 *
 * @param label The label's bytes.
 * @returns Its text, such as `"www"`, `"a\\.b"` or `"caf\\195\\169"`.
 *
 * @example
 * ```ts
 * formatLabel(new Uint8Array([0x61, 0x20, 0x2e])); // "a\\032\\."
 * ```
 */
export function formatLabel(label: Uint8Array): string {
  let out = "";
  for (const byte of label) {
    switch (byte) {
      case 0x22: // "
      case 0x24: // $
      case 0x28: // (
      case 0x29: // )
      case DOT:
      case 0x3b: // ;
      case 0x40: // @
      case BACKSLASH:
        out += `\\${String.fromCharCode(byte)}`;
        break;
      default:
        out += byte > 0x20 && byte < 0x7f
          ? String.fromCharCode(byte)
          : `\\${byte.toString().padStart(3, "0")}`;
    }
  }
  return out;
}

/**
 * The key under which names compare equal the DNS way (RFC 4343): ASCII
 * letters lowercased, no trailing dot, escapes in one spelling. Never
 * throws; text that {@linkcode parseName} would refuse still gets a key
 * (empty labels are dropped, lone backslashes and bad escapes read as
 * themselves, lengths are not checked).
 *
 * @param name A name's text, with or without a trailing dot.
 * @returns The key, such as `"example.com"`; `""` for the root.
 *
 * @example
 * ```ts
 * canonicalName("WWW.Example.COM."); // "www.example.com"
 * canonicalName("a\\046b.x") === canonicalName("A\\.B.x"); // true
 * ```
 */
export function canonicalName(name: string): string {
  if (PLAIN_NAME.test(name)) {
    // Every character is ASCII, so toLowerCase changes only A–Z.
    const lower = name.toLowerCase();
    return lower.charCodeAt(lower.length - 1) === DOT
      ? lower.slice(0, -1)
      : lower;
  }
  return formatName(splitLabels(name, false).map(lowerAscii));
}

function lowerAscii(label: Uint8Array): Uint8Array {
  return label.map((byte) => byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
}

/** Splits `text` into labels; `strict` throws where lenient mode carries on. */
function splitLabels(text: string, strict: boolean): Uint8Array[] {
  if (text === "" || text === ".") return [];
  const labels: Uint8Array[] = [];
  let current: number[] = [];
  let wireLength = 1;
  const fail = (state: string): never => {
    throw new TypeError(`Cannot parse name "${text}": ${state}`);
  };
  const endLabel = () => {
    // A key for text with empty labels drops them, so keys are names too.
    if (!strict && current.length === 0) return;
    if (strict) {
      if (current.length === 0) fail("it has an empty label");
      if (current.length > MAX_LABEL_LENGTH) {
        fail(
          `label ${
            labels.length + 1
          } is ${current.length} bytes, over the limit of ${MAX_LABEL_LENGTH}`,
        );
      }
      wireLength += current.length + 1;
      if (wireLength > MAX_NAME_LENGTH) {
        fail(`it is over the limit of ${MAX_NAME_LENGTH} bytes on the wire`);
      }
    }
    labels.push(Uint8Array.from(current));
    current = [];
  };
  const pushChar = (at: number): number => {
    const code = text.codePointAt(at) ?? 0;
    if (code < 0x80) {
      current.push(code);
      return 1;
    }
    const char = String.fromCodePoint(code);
    for (const byte of encoder.encode(char)) current.push(byte);
    return char.length;
  };
  for (let i = 0; i < text.length;) {
    const code = text.charCodeAt(i);
    if (code === DOT) {
      endLabel();
      i += 1;
      if (i === text.length) return labels;
    } else if (code !== BACKSLASH) {
      i += pushChar(i);
    } else if (i + 1 === text.length) {
      if (strict) fail("it ends in a lone backslash");
      current.push(BACKSLASH);
      i += 1;
    } else if (isDigit(text.charCodeAt(i + 1))) {
      const digits = /^\d{1,3}/.exec(text.slice(i + 1, i + 4))?.[0] ?? "";
      const value = Number(digits);
      if (digits.length === 3 && value <= 255) {
        current.push(value);
        i += 4;
      } else {
        if (strict) {
          fail(`escape "\\${digits}" is not \\DDD with DDD from 000 to 255`);
        }
        current.push(BACKSLASH);
        i += 1;
      }
    } else {
      i += 1 + pushChar(i + 1);
    }
  }
  endLabel();
  return labels;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}
