/**
 * The message layer: typed values ⇄ frames, driven by the registry.
 *
 * @module
 */

import {
  decodeItems,
  DEFAULT_LIMITS,
  type Frame,
  hex4,
  type Item,
  TlvDecodeError,
  type TlvLimits,
  writeHeader,
} from "./frame.ts";
import {
  fieldName,
  FIELDS,
  type FieldSpec,
  type FieldsSpec,
  FIXED_SIZE,
  HEADER_LENGTH,
  type Message,
  type MessageFields,
  type MessageName,
  messageName,
  MESSAGES,
  type Presence,
} from "./registry.ts";

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is part of the value and must survive a round trip.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// Short strings are mostly ASCII: handled in JS they skip a native call and,
// when encoding, an intermediate array (~300 ns each per field on Deno 2.9).
const SHORT_STRING = 64;

/** `Object.entries` of each spec, computed once: this runs per message. */
const entriesCache = new WeakMap<FieldsSpec, [string, Presence][]>();
function entriesOf(spec: FieldsSpec): [string, Presence][] {
  let entries = entriesCache.get(spec);
  if (entries === undefined) {
    entries = Object.entries(spec);
    entriesCache.set(spec, entries);
  }
  return entries;
}

/** A field ready to be written: its spec and its encoded bytes or children. */
type Prepared =
  | { tag: number; spec: FieldSpec; scalar: unknown; length: number }
  | { tag: number; spec: FieldSpec; ascii: string; length: number }
  | { tag: number; spec: FieldSpec; bytes: Uint8Array; length: number }
  | { tag: number; spec: FieldSpec; children: Prepared[]; length: number };

/**
 * Encodes a message of the registry into one frame.
 *
 * Throws `TypeError` when a required field is missing or a value does not
 * fit its kind (a programming error, not bad input).
 *
 * @example
 * ```ts
 * const bytes = encodeMessage("calc_request", { id: 1, expression: "1+2" });
 * ```
 */
export function encodeMessage<M extends MessageName>(
  type: M,
  fields: MessageFields<M>,
): Uint8Array {
  const message = prepareMessage(type, fields);
  const out = new Uint8Array(message.length);
  message.writeTo(out, 0);
  return out;
}

/**
 * Encodes a decoded {@linkcode Message} (any type) into one frame: for
 * code that handles messages generically (tests, relays, tools).
 *
 * @example
 * ```ts
 * const message = decodeMessage(frame);
 * encodeAnyMessage(message); // the same bytes
 * ```
 */
export function encodeAnyMessage(message: Message): Uint8Array {
  // One call site with the union would ask the compiler for every type's
  // field record at once; by name it checks each message on its own.
  const encode = encodeMessage as (
    type: string,
    fields: Record<string, unknown>,
  ) => Uint8Array;
  return encode(message.type, message.fields as Record<string, unknown>);
}

/** A message checked and measured, ready to be written where the caller wants. */
export interface PreparedMessage {
  /** Length of the whole frame in bytes, header included. */
  readonly length: number;
  /** Writes the frame into `out` at `offset` (`length` bytes must fit). */
  writeTo(out: Uint8Array, offset: number): void;
}

/**
 * Checks and measures a message of the registry without writing it, so a
 * sender can encode it straight into a buffer of its own (e.g. the batch
 * of frames it writes to a socket) instead of into a fresh array.
 *
 * Throws `TypeError` like {@linkcode encodeMessage}.
 *
 * @example
 * ```ts
 * const message = prepareMessage("pong", { id: 7 });
 * const out = new Uint8Array(message.length);
 * message.writeTo(out, 0);
 * ```
 */
export function prepareMessage<M extends MessageName>(
  type: M,
  fields: MessageFields<M>,
): PreparedMessage {
  const spec = MESSAGES[type];
  const prepared = prepareFields(
    spec.fields,
    fields as Record<string, unknown>,
    type,
  );
  const bodyLength = prepared.reduce(
    (n, p) => n + HEADER_LENGTH + p.length,
    0,
  );
  return {
    length: HEADER_LENGTH + bodyLength,
    writeTo(out, offset) {
      writeHeader(out, offset, spec.code, bodyLength);
      writeFields(out, offset + HEADER_LENGTH, prepared);
    },
  };
}

function prepareFields(
  spec: FieldsSpec,
  values: Record<string, unknown>,
  owner: string,
): Prepared[] {
  const out: Prepared[] = [];
  for (const [name, presence] of entriesOf(spec)) {
    const value = values[name];
    if (value === undefined) {
      if (presence === "required") {
        throw new TypeError(
          `Cannot encode ${owner}: required field '${name}' is missing`,
        );
      }
      continue;
    }
    const field = FIELDS[name as keyof typeof FIELDS] as FieldSpec;
    const list = presence === "repeated" ? value as unknown[] : [value];
    for (const one of list) out.push(prepareOne(field, name, one));
  }
  return out;
}

function prepareOne(spec: FieldSpec, name: string, value: unknown): Prepared {
  const fixed = FIXED_SIZE[spec.kind];
  if (fixed !== undefined) {
    checkScalar(spec, name, value);
    return { tag: spec.tag, spec, scalar: value, length: fixed };
  }
  switch (spec.kind) {
    case "string": {
      if (typeof value !== "string") throw badValue(name, value);
      if (isShortAscii(value)) {
        return { tag: spec.tag, spec, ascii: value, length: value.length };
      }
      const bytes = encoder.encode(value);
      return { tag: spec.tag, spec, bytes, length: bytes.length };
    }
    case "bytes": {
      if (!(value instanceof Uint8Array)) throw badValue(name, value);
      return { tag: spec.tag, spec, bytes: value, length: value.length };
    }
    default: {
      const children = prepareFields(
        spec.fields ?? {},
        value as Record<string, unknown>,
        name,
      );
      const length = children.reduce((n, c) => n + HEADER_LENGTH + c.length, 0);
      return { tag: spec.tag, spec, children, length };
    }
  }
}

function checkScalar(spec: FieldSpec, name: string, value: unknown): void {
  if (spec.kind === "bool") {
    if (typeof value !== "boolean") throw badValue(name, value);
    return;
  }
  if (typeof value !== "number") throw badValue(name, value);
  if (spec.kind === "f64") return;
  const max = spec.kind === "u64"
    ? Number.MAX_SAFE_INTEGER
    : 2 ** (8 * (FIXED_SIZE[spec.kind] ?? 0)) - 1;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new TypeError(
      `Cannot encode field '${name}': ${value} is not a ${spec.kind}`,
    );
  }
}

function isShortAscii(value: string): boolean {
  if (value.length > SHORT_STRING) return false;
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

function badValue(name: string, value: unknown): TypeError {
  return new TypeError(
    `Cannot encode field '${name}': unexpected ${typeof value} value`,
  );
}

function writeFields(out: Uint8Array, offset: number, list: Prepared[]) {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = offset;
  for (const p of list) {
    at = writeHeader(out, at, p.tag, p.length);
    if ("children" in p) {
      writeFields(out, at, p.children);
    } else if ("bytes" in p) {
      out.set(p.bytes, at);
    } else if ("ascii" in p) {
      for (let i = 0; i < p.length; i++) out[at + i] = p.ascii.charCodeAt(i);
    } else {
      writeScalar(view, at, p.spec, p.scalar);
    }
    at += p.length;
  }
}

function writeScalar(view: DataView, at: number, spec: FieldSpec, v: unknown) {
  switch (spec.kind) {
    case "u8":
      return view.setUint8(at, v as number);
    case "bool":
      return view.setUint8(at, v ? 1 : 0);
    case "u16":
      return view.setUint16(at, v as number);
    case "u32":
      return view.setUint32(at, v as number);
    case "u64":
      return view.setBigUint64(at, BigInt(v as number));
    case "f64":
      return view.setFloat64(at, v as number);
  }
}

/**
 * Decodes a frame into a registry message. The result stays valid after
 * the frame's buffer is reused: values are copies, except `bytes` values of
 * an `owned` frame, which are views of its body (nobody writes it again).
 *
 * Unknown fields are skipped (newer peers may add fields); unknown message
 * types, missing required fields and wrong-size values throw
 * {@linkcode TlvDecodeError}.
 *
 * @example
 * ```ts
 * const { frame } = decodeFrame(encodeMessage("ping", { id: 7 }), 0)!;
 * decodeMessage(frame); // { type: "ping", fields: { id: 7 } }
 * ```
 */
export function decodeMessage(
  frame: Frame,
  limits: Pick<TlvLimits, "maxFields" | "maxDepth"> = DEFAULT_LIMITS,
): Message {
  const type = messageName(frame.type);
  if (type === undefined) {
    throw new TlvDecodeError(
      "unknown_type",
      `Cannot decode message: unknown type 0x${hex4(frame.type)}`,
      0,
    );
  }
  const items = decodeItems(frame.body, limits);
  const fields = readFields(
    MESSAGES[type].fields,
    items,
    type,
    frame.owned === true,
  );
  return { type, fields } as Message;
}

function readFields(
  spec: FieldsSpec,
  items: readonly Item[],
  owner: string,
  owned: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const name = fieldName(item.tag);
    if (name === undefined || !Object.hasOwn(spec, name)) continue;
    const field: FieldSpec = FIELDS[name];
    const value = readValue(field, name, item, owner, owned);
    if (spec[name] === "repeated") {
      ((out[name] ??= []) as unknown[]).push(value);
    } else if (Object.hasOwn(out, name)) {
      throw new TlvDecodeError(
        "bad_message",
        `Cannot decode ${owner}: field '${name}' appears more than once`,
        0,
      );
    } else {
      out[name] = value;
    }
  }
  for (const [name, presence] of entriesOf(spec)) {
    if (presence === "required" && !Object.hasOwn(out, name)) {
      throw new TlvDecodeError(
        "bad_message",
        `Cannot decode ${owner}: required field '${name}' is missing`,
        0,
      );
    }
  }
  return out;
}

function readValue(
  spec: FieldSpec,
  name: string,
  item: Item,
  owner: string,
  owned: boolean,
): unknown {
  if ("items" in item) {
    if (spec.kind !== "group") throw mismatch(owner, name, "a group");
    return readFields(spec.fields ?? {}, item.items, name, owned);
  }
  if (spec.kind === "group") throw mismatch(owner, name, "a scalar");
  const bytes = item.value;
  const fixed = FIXED_SIZE[spec.kind];
  if (fixed !== undefined && bytes.length !== fixed) {
    throw new TlvDecodeError(
      "bad_message",
      `Cannot decode ${owner}: field '${name}' (${spec.kind}) has ${bytes.length} bytes, expected ${fixed}`,
      0,
    );
  }
  // Sizes were checked above. Small integers are read without a DataView:
  // one per field was a measurable share of decoding a small message.
  switch (spec.kind) {
    case "u8":
      return bytes[0]!;
    case "bool":
      return bytes[0]! !== 0;
    case "u16":
      return (bytes[0]! << 8) | bytes[1]!;
    case "u32":
      return bytes[0]! * 0x1000000 +
        ((bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!);
    case "f64":
      return viewOf(bytes).getFloat64(0);
    case "u64": {
      const big = viewOf(bytes).getBigUint64(0);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new TlvDecodeError(
          "bad_message",
          `Cannot decode ${owner}: field '${name}' value ${big} is over 2^53-1`,
          0,
        );
      }
      return Number(big);
    }
    case "string":
      if (bytes.length <= SHORT_STRING) {
        const ascii = asciiString(bytes);
        if (ascii !== undefined) return ascii;
      }
      try {
        return decoder.decode(bytes);
      } catch {
        throw new TlvDecodeError(
          "bad_message",
          `Cannot decode ${owner}: field '${name}' is not valid UTF-8`,
          0,
        );
      }
    default:
      // A view when nobody writes the frame's memory again, else a copy.
      return owned ? bytes : bytes.slice();
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `bytes` as a string if every byte is ASCII (then UTF-8 is ASCII). */
function asciiString(bytes: Uint8Array): string | undefined {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! > 0x7f) return undefined;
  }
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

function mismatch(owner: string, name: string, what: string): TlvDecodeError {
  return new TlvDecodeError(
    "bad_message",
    `Cannot decode ${owner}: field '${name}' arrived as ${what}`,
    0,
  );
}
