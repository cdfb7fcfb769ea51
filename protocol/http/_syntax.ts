/**
 * Character classes of RFC 9110 §5.6 shared by the HTTP codec modules.
 * Private to `protocol/http`: not re-exported from `mod.ts`.
 *
 * @module
 */

/** Byte values of the delimiters the codec looks for. */
export const HTAB = 0x09;
/** Line feed. */
export const LF = 0x0a;
/** Carriage return. */
export const CR = 0x0d;
/** Space. */
export const SP = 0x20;
/** `:` */
export const COLON = 0x3a;

/**
 * `TCHAR[b]` is 1 when byte `b` may appear in a token (RFC 9110 §5.6.2):
 * ALPHA, DIGIT and ``!#$%&'*+-.^_`|~``.
 */
export const TCHAR: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let b = 0x30; b <= 0x39; b++) table[b] = 1;
  for (let b = 0x41; b <= 0x5a; b++) table[b] = 1;
  for (let b = 0x61; b <= 0x7a; b++) table[b] = 1;
  for (const c of "!#$%&'*+-.^_`|~") table[c.charCodeAt(0)] = 1;
  return table;
})();

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `text` is a non-empty token (RFC 9110 §5.6.2). */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/**
 * Whether byte `b` may appear inside a field value (RFC 9110 §5.5): HTAB,
 * SP, visible ASCII and obs-text; not NUL, CR, LF, other controls or DEL.
 */
export function isFieldValueByte(b: number): boolean {
  return b === HTAB || (b >= 0x20 && b !== 0x7f);
}

/**
 * Bytes `start` to `end` of `bytes` as a string of one char per byte
 * (ISO-8859-1), so any byte sequence round-trips. Not `TextDecoder("latin1")`,
 * which is windows-1252 and remaps 0x80–0x9f.
 */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  let out = "";
  // Bounded slices keep the argument count of fromCharCode small. `apply`
  // takes the typed array as it is; a spread would run the iterator
  // protocol byte by byte (5× slower, and this runs on every header).
  for (let at = start; at < end; at += 4096) {
    out += String.fromCharCode.apply(
      null,
      bytes.subarray(at, Math.min(end, at + 4096)) as unknown as number[],
    );
  }
  return out;
}

/** `text` without leading and trailing SP and HTAB (optional whitespace). */
export function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isOws(code: number): boolean {
  return code === SP || code === HTAB;
}

/**
 * The non-empty elements of a comma-separated list field (RFC 9110 §5.6.1),
 * each trimmed of optional whitespace. Recipients must accept empty elements,
 * so `"a, , b,"` gives `["a", "b"]`.
 */
export function listElements(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const part of value.split(",")) {
      const element = trimOws(part);
      if (element !== "") out.push(element);
    }
  }
  return out;
}
