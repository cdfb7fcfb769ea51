/**
 * Human-readable rendering of frames for `--trace`, generated from the
 * registry. Works on any bytes: unknown types and fields are shown by number,
 * malformed bodies are shown as such.
 *
 * @module
 */

import { decodeItems, DEFAULT_LIMITS, hex4, type Item } from "./frame.ts";
import {
  errorName,
  fieldName,
  FIELDS,
  type FieldSpec,
  HEADER_LENGTH,
  messageName,
} from "./registry.ts";

const decoder = new TextDecoder();
const MAX_SHOWN_BYTES = 32;
const MAX_SHOWN_CHARS = 120;

/**
 * One line describing a frame: `calc_request id=1 expression="1+2"`.
 *
 * @example
 * ```ts
 * const { frame } = decodeFrame(encodeMessage("ping", { id: 7 }), 0)!;
 * describeFrame(frame.type, frame.body); // "ping id=7"
 * ```
 */
export function describeFrame(type: number, body: Uint8Array): string {
  const name = messageName(type) ?? `type 0x${hex4(type)}`;
  let items: Item[];
  try {
    items = decodeItems(body, DEFAULT_LIMITS);
  } catch (error) {
    return `${name} <malformed: ${(error as Error).message}>`;
  }
  const parts = describeItems(items);
  return parts.length === 0 ? name : `${name} ${parts.join(" ")}`;
}

function describeItems(items: readonly Item[]): string[] {
  return items.map((item) => {
    const name = fieldName(item.tag);
    const label = name ?? `0x${hex4(item.tag)}`;
    if ("items" in item) {
      return `${label}{${describeItems(item.items).join(" ")}}`;
    }
    const spec: FieldSpec | undefined = name && FIELDS[name];
    if (spec?.secret) return `${label}=***`;
    return `${label}=${describeValue(spec, name, item.value)}`;
  });
}

function describeValue(
  spec: FieldSpec | undefined,
  name: string | undefined,
  bytes: Uint8Array,
): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fits = (n: number) => bytes.length === n;
  switch (spec?.kind) {
    case "u8":
      if (fits(1)) return String(view.getUint8(0));
      break;
    case "bool":
      if (fits(1)) return String(view.getUint8(0) !== 0);
      break;
    case "u16": {
      if (!fits(2)) break;
      const v = view.getUint16(0);
      const err = name === "code" ? errorName(v) : undefined;
      return err ? `${v}(${err})` : String(v);
    }
    case "u32":
      if (fits(4)) return String(view.getUint32(0));
      break;
    case "u64":
      if (fits(8)) return String(view.getBigUint64(0));
      break;
    case "f64":
      if (fits(8)) return String(view.getFloat64(0));
      break;
    case "string": {
      const text = decoder.decode(bytes);
      const shown = text.length > MAX_SHOWN_CHARS
        ? `${text.slice(0, MAX_SHOWN_CHARS)}…`
        : text;
      return JSON.stringify(shown);
    }
  }
  return bytesSummary(bytes);
}

function bytesSummary(bytes: Uint8Array): string {
  const shown = hex(bytes.subarray(0, MAX_SHOWN_BYTES));
  return bytes.length > MAX_SHOWN_BYTES
    ? `<${bytes.length} bytes ${shown}…>`
    : `<${bytes.length} bytes ${shown}>`;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A copy of a whole frame (header included) with the value of every secret
 * field (password, token) overwritten by `*`, for hex dumps. Bytes that do
 * not decode are returned as they are (a copy).
 *
 * @example
 * ```ts
 * const bytes = encodeMessage("login", { id: 1, user: "ann", password: "pw" });
 * hexDump(redactSecrets(bytes)); // "…70 77…" never appears
 * ```
 */
export function redactSecrets(frame: Uint8Array): Uint8Array {
  const copy = frame.slice();
  try {
    mask(decodeItems(copy.subarray(HEADER_LENGTH), DEFAULT_LIMITS));
  } catch {
    // Malformed: nothing can be recognised as a secret field.
  }
  return copy;
}

function mask(items: readonly Item[]): void {
  for (const item of items) {
    if ("items" in item) {
      mask(item.items);
      continue;
    }
    const name = fieldName(item.tag);
    const spec: FieldSpec | undefined = name && FIELDS[name];
    if (spec?.secret) (item.value as Uint8Array).fill(0x2a);
  }
}

/**
 * A classic hex dump (offset, 16 bytes in hex, ASCII) for `--trace=hex`.
 *
 * @example
 * ```ts
 * hexDump(new Uint8Array([0x68, 0x69]));
 * // "0000  68 69                                            hi"
 * ```
 */
export function hexDump(bytes: Uint8Array, maxBytes = 4096): string {
  const lines: string[] = [];
  const shown = bytes.subarray(0, maxBytes);
  for (let at = 0; at < shown.length; at += 16) {
    const row = shown.subarray(at, at + 16);
    const hexPart = Array.from(row, (b) => b.toString(16).padStart(2, "0"))
      .join(" ")
      .padEnd(47);
    const ascii = Array.from(
      row,
      (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."),
    ).join("");
    lines.push(`${at.toString(16).padStart(4, "0")}  ${hexPart}  ${ascii}`);
  }
  if (bytes.length > shown.length) {
    lines.push(`…  (${bytes.length - shown.length} more bytes)`);
  }
  return lines.join("\n");
}
