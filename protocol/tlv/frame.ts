/**
 * The frame layer: `type u16 | length u32 | body`, big-endian. Pure
 * functions over `Uint8Array`; no I/O.
 *
 * @module
 */

import { CONTAINER_BIT, type ErrorName, HEADER_LENGTH } from "./registry.ts";

/** Limits a decoder enforces; each has a documented default. */
export interface TlvLimits {
  /** Largest frame body in bytes. Default {@linkcode DEFAULT_MAX_FRAME_LENGTH}. */
  readonly maxFrameLength: number;
  /** Most field items in one frame, nested ones included. Default 256. */
  readonly maxFields: number;
  /** Deepest nesting of groups; top-level fields are depth 1. Default 8. */
  readonly maxDepth: number;
}

/** 1 MiB: room for a 64 KiB data chunk many times over. */
export const DEFAULT_MAX_FRAME_LENGTH = 1024 * 1024;

/** The default limits. */
export const DEFAULT_LIMITS: TlvLimits = Object.freeze({
  maxFrameLength: DEFAULT_MAX_FRAME_LENGTH,
  maxFields: 256,
  maxDepth: 8,
});

/** Largest payload a `bulk_data` frame carries. */
export const MAX_CHUNK_LENGTH = 64 * 1024;

/**
 * Malformed TLV input. `code` is the wire error the server answers with;
 * `offset` is where in the input the problem was found.
 */
export class TlvDecodeError extends Error {
  /** The registry error name that reports this on the wire. */
  readonly code: ErrorName;
  /** Byte offset of the problem in the buffer that was decoded. */
  readonly offset: number;

  /** Creates the error; `message` says what failed, on what value. */
  constructor(code: ErrorName, message: string, offset: number) {
    super(message);
    this.name = "TlvDecodeError";
    this.code = code;
    this.offset = offset;
  }
}

/** A frame whose body is a view into the decoded buffer, not a copy. */
export interface Frame {
  /** Message type code. */
  readonly type: number;
  /** The field items; valid only while the source buffer is. */
  readonly body: Uint8Array;
  /**
   * Whether `body` lies in memory nobody writes again, so decoded values
   * may be views of it instead of copies.
   */
  readonly owned?: boolean;
}

/** One decoded field item: a scalar's bytes, or a group's children. */
export type Item =
  | { readonly tag: number; readonly value: Uint8Array }
  | { readonly tag: number; readonly items: readonly Item[] };

/**
 * Decodes one frame at `offset`.
 *
 * @param bytes Buffer holding zero or more frames.
 * @param offset Where the frame starts.
 * @param limits Only `maxFrameLength` is used here.
 * @returns The frame and the offset after it, or `undefined` when more bytes
 *   are needed. Throws {@linkcode TlvDecodeError} when the declared length is
 *   over the limit — as soon as the header is in, before waiting for the body.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array([0x01, 0x00, 0, 0, 0, 0]);
 * decodeFrame(bytes, 0); // { frame: { type: 0x0100, body: <empty> }, next: 6 }
 * ```
 */
export function decodeFrame(
  bytes: Uint8Array,
  offset: number,
  limits: Pick<TlvLimits, "maxFrameLength"> = DEFAULT_LIMITS,
): { frame: Frame; next: number } | undefined {
  if (bytes.length - offset < HEADER_LENGTH) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset);
  const type = view.getUint16(0);
  const length = view.getUint32(2);
  if (length > limits.maxFrameLength) {
    throw new TlvDecodeError(
      "frame_too_large",
      `Cannot accept frame: length ${length} is over the limit of ${limits.maxFrameLength} bytes`,
      offset + 2,
    );
  }
  if (type === 0 || (type & CONTAINER_BIT) !== 0) {
    throw new TlvDecodeError(
      "bad_frame",
      `Cannot decode frame: type 0x${hex4(type)} is not a message type`,
      offset,
    );
  }
  const end = offset + HEADER_LENGTH + length;
  if (bytes.length < end) return undefined;
  return {
    frame: { type, body: bytes.subarray(offset + HEADER_LENGTH, end) },
    next: end,
  };
}

/**
 * Splits a frame body into field items, recursing into groups.
 *
 * @param body The frame body.
 * @param limits `maxFields` and `maxDepth` are enforced here.
 * @returns The items; values are views into `body`.
 */
export function decodeItems(
  body: Uint8Array,
  limits: Pick<TlvLimits, "maxFields" | "maxDepth"> = DEFAULT_LIMITS,
): Item[] {
  const counter = { count: 0 };
  return _decodeItems(body, 0, 1, limits, counter);
}

function _decodeItems(
  body: Uint8Array,
  base: number,
  depth: number,
  limits: Pick<TlvLimits, "maxFields" | "maxDepth">,
  counter: { count: number },
): Item[] {
  if (depth > limits.maxDepth) {
    throw new TlvDecodeError(
      "too_deep",
      `Cannot decode fields: nesting depth ${depth} is over the limit of ${limits.maxDepth}`,
      base,
    );
  }
  const items: Item[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  while (at < body.length) {
    if (body.length - at < HEADER_LENGTH) {
      throw new TlvDecodeError(
        "bad_frame",
        `Cannot decode field: ${
          body.length - at
        } stray bytes where a ${HEADER_LENGTH}-byte field header was expected`,
        base + at,
      );
    }
    const tag = view.getUint16(at);
    const length = view.getUint32(at + 2);
    if (length > body.length - at - HEADER_LENGTH) {
      throw new TlvDecodeError(
        "bad_frame",
        `Cannot decode field 0x${
          hex4(tag)
        }: length ${length} runs past the end of its frame (${
          body.length - at - HEADER_LENGTH
        } bytes left)`,
        base + at + 2,
      );
    }
    if (++counter.count > limits.maxFields) {
      throw new TlvDecodeError(
        "too_many_fields",
        `Cannot decode fields: more than ${limits.maxFields} fields in one frame`,
        base + at,
      );
    }
    const start = at + HEADER_LENGTH;
    const value = body.subarray(start, start + length);
    if ((tag & CONTAINER_BIT) !== 0) {
      items.push({
        tag,
        items: _decodeItems(value, base + start, depth + 1, limits, counter),
      });
    } else {
      items.push({ tag, value });
    }
    at = start + length;
  }
  return items;
}

/**
 * Writes an item header (`tag`, `length`) into `target` at `offset`.
 *
 * @returns The offset after the header.
 */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  tag: number,
  length: number,
): number {
  target[offset] = tag >>> 8;
  target[offset + 1] = tag & 0xff;
  target[offset + 2] = length >>> 24;
  target[offset + 3] = (length >>> 16) & 0xff;
  target[offset + 4] = (length >>> 8) & 0xff;
  target[offset + 5] = length & 0xff;
  return offset + HEADER_LENGTH;
}

/** `n` as four lowercase hex digits. */
export function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}

/**
 * The `id` field of a frame body, read without decoding or trusting the
 * rest (to answer a malformed request with its id, or to route a frame
 * before decoding it); `undefined` when there is none.
 *
 * @example
 * ```ts
 * const { frame } = decodeFrame(encodeMessage("ping", { id: 7 }), 0)!;
 * peekId(frame.body); // 7
 * ```
 */
export function peekId(body: Uint8Array): number | undefined {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  while (body.length - at >= HEADER_LENGTH) {
    const tag = view.getUint16(at);
    const length = view.getUint32(at + 2);
    if (length > body.length - at - HEADER_LENGTH) return undefined;
    if (tag === 0x0001 && length === 4) {
      return view.getUint32(at + HEADER_LENGTH);
    }
    at += HEADER_LENGTH + length;
  }
  return undefined;
}
