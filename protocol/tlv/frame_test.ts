import assert from "node:assert/strict";
import { concat, item } from "./_testing.ts";
import {
  decodeFrame,
  decodeItems,
  DEFAULT_LIMITS,
  type Item,
  TlvDecodeError,
  writeHeader,
} from "./frame.ts";
import type { ErrorName } from "./registry.ts";

// Bytes are built by hand here and in ./_testing.ts, not with writeHeader, so
// a bug in writeHeader cannot hide a bug in the decoder.
function header(tag: number, length: number): Uint8Array {
  const out = new Uint8Array(6);
  const view = new DataView(out.buffer);
  view.setUint16(0, tag);
  view.setUint32(2, length);
  return out;
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** `depth` containers of tag 0x8fff, each holding the next; `inner` inside. */
function nested(
  depth: number,
  inner: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(6 * depth + inner.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < depth; i++) {
    view.setUint16(6 * i, 0x8fff);
    view.setUint32(6 * i + 2, out.length - 6 * (i + 1));
  }
  out.set(inner, 6 * depth);
  return out;
}

function assertDecodeError(
  fn: () => unknown,
  code: ErrorName,
  offset?: number,
): TlvDecodeError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof TlvDecodeError,
    `expected TlvDecodeError, got ${caught}`,
  );
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.name, "TlvDecodeError");
  if (offset !== undefined) assert.equal(caught.offset, offset, caught.message);
  return caught;
}

/** Items with values copied out, for deepEqual. */
function plain(items: readonly Item[]): unknown[] {
  return items.map((i) =>
    "items" in i
      ? { tag: i.tag, items: plain(i.items) }
      : { tag: i.tag, value: Array.from(i.value) }
  );
}

const CALC_BODY = concat(
  item(0x0001, u32(1)),
  item(0x0009, ascii("1+2")),
);
const CALC_FRAME = item(0x0200, CALC_BODY);

Deno.test({
  name: "decodeFrame() returns undefined for every proper prefix of a frame",
  permissions: "none",
  fn() {
    for (let n = 0; n < CALC_FRAME.length; n++) {
      assert.equal(
        decodeFrame(CALC_FRAME.subarray(0, n), 0),
        undefined,
        `prefix ${n}`,
      );
    }
    const whole = decodeFrame(CALC_FRAME, 0);
    assert.ok(whole);
    assert.equal(whole.frame.type, 0x0200);
    assert.deepEqual(Array.from(whole.frame.body), Array.from(CALC_BODY));
    assert.equal(whole.next, CALC_FRAME.length);
  },
});

Deno.test({
  name: "decodeFrame() waits for the body when only the header is in",
  permissions: "none",
  fn() {
    assert.equal(decodeFrame(header(0x0200, 10), 0), undefined);
    assert.equal(decodeFrame(header(0x0200, 1), 0), undefined);
  },
});

Deno.test({
  name: "decodeFrame() decodes a frame with an empty body",
  permissions: "none",
  fn() {
    const decoded = decodeFrame(header(0x0004, 0), 0);
    assert.ok(decoded);
    assert.equal(decoded.frame.type, 0x0004);
    assert.equal(decoded.frame.body.length, 0);
    assert.equal(decoded.next, 6);
  },
});

Deno.test({
  name: "decodeFrame() returns the offset just after the frame as next",
  permissions: "none",
  fn() {
    const second = item(0x0005, item(0x0001, u32(9)));
    const bytes = concat(CALC_FRAME, second);
    const first = decodeFrame(bytes, 0);
    assert.ok(first);
    assert.equal(first.next, CALC_FRAME.length);
    const next = decodeFrame(bytes, first.next);
    assert.ok(next);
    assert.equal(next.frame.type, 0x0005);
    assert.deepEqual(
      Array.from(next.frame.body),
      Array.from(second.subarray(6)),
    );
    assert.equal(next.next, bytes.length);
    assert.equal(decodeFrame(bytes, next.next), undefined);
  },
});

Deno.test({
  name: "decodeFrame() decodes a frame at a non-zero offset of a view",
  permissions: "none",
  fn() {
    // A view whose byteOffset is not 0, with the frame not at its start
    // either: both offsets must be honoured.
    const backing = concat(
      new Uint8Array([0xee, 0xee, 0xee]),
      new Uint8Array([1, 2]),
      CALC_FRAME,
    );
    const view = backing.subarray(3);
    const decoded = decodeFrame(view, 2);
    assert.ok(decoded);
    assert.equal(decoded.frame.type, 0x0200);
    assert.deepEqual(Array.from(decoded.frame.body), Array.from(CALC_BODY));
    assert.equal(decoded.next, 2 + CALC_FRAME.length);
    // The body is a view into the input, not a copy.
    assert.equal(decoded.frame.body.buffer, backing.buffer);
    assert.equal(decoded.frame.body.byteOffset, backing.byteOffset + 3 + 2 + 6);
  },
});

Deno.test({
  name:
    "decodeFrame() rejects a length beyond maxFrameLength as soon as the header is in",
  permissions: "none",
  fn() {
    const limits = { maxFrameLength: 100 };
    // Exactly at the limit is fine: it waits for the body.
    assert.equal(decodeFrame(header(0x0200, 100), 0, limits), undefined);
    const error = assertDecodeError(
      () => decodeFrame(header(0x0200, 101), 0, limits),
      "frame_too_large",
      2,
    );
    assert.match(error.message, /101/);
    assert.match(error.message, /100/);
    // At a non-zero offset the error points at that frame's length field.
    assertDecodeError(
      () =>
        decodeFrame(
          concat(CALC_FRAME, header(0x0200, 101)),
          CALC_FRAME.length,
          limits,
        ),
      "frame_too_large",
      CALC_FRAME.length + 2,
    );
    // The default limit, with a length no peer could ever send in full.
    assertDecodeError(
      () => decodeFrame(header(0x0200, 0xffffffff), 0),
      "frame_too_large",
      2,
    );
    assertDecodeError(
      () => decodeFrame(header(0x0200, DEFAULT_LIMITS.maxFrameLength + 1), 0),
      "frame_too_large",
    );
    assert.equal(
      decodeFrame(header(0x0200, DEFAULT_LIMITS.maxFrameLength), 0),
      undefined,
    );
  },
});

Deno.test({
  name: "decodeFrame() rejects type 0 and container-bit types as bad_frame",
  permissions: "none",
  fn() {
    for (const type of [0x0000, 0x8000, 0x8001, 0x8200, 0xffff]) {
      assertDecodeError(() => decodeFrame(header(type, 0), 0), "bad_frame", 0);
      // Rejected from the header alone, before the body arrives.
      assertDecodeError(() => decodeFrame(header(type, 50), 0), "bad_frame", 0);
      assertDecodeError(
        () =>
          decodeFrame(concat(CALC_FRAME, header(type, 0)), CALC_FRAME.length),
        "bad_frame",
        CALC_FRAME.length,
      );
    }
    // The whole message type range decodes at this layer, known or not.
    for (const type of [0x0001, 0x7abc, 0x7fff]) {
      assert.equal(decodeFrame(header(type, 0), 0)?.frame.type, type);
    }
  },
});

Deno.test({
  name: "decodeItems() splits scalars and nested groups into views",
  permissions: "none",
  fn() {
    const body = concat(
      item(0x0001, u32(7)),
      item(
        0x8001,
        item(0x0010, u32(1024)),
        item(0x8002, item(0x0008, new Uint8Array([1, 2, 3]))),
        item(0x8003),
      ),
      item(0x000b, ascii("ok")),
      item(0x0008),
    );
    const items = decodeItems(body);
    assert.deepEqual(plain(items), [
      { tag: 0x0001, value: [0, 0, 0, 7] },
      {
        tag: 0x8001,
        items: [
          { tag: 0x0010, value: [0, 0, 4, 0] },
          { tag: 0x8002, items: [{ tag: 0x0008, value: [1, 2, 3] }] },
          { tag: 0x8003, items: [] },
        ],
      },
      { tag: 0x000b, value: [0x6f, 0x6b] },
      { tag: 0x0008, value: [] },
    ]);
    const first = items[0];
    assert.ok(first && "value" in first);
    assert.equal(first.value.buffer, body.buffer);
    assert.deepEqual(decodeItems(new Uint8Array(0)), []);
  },
});

Deno.test({
  name: "decodeItems() rejects a field length running past its frame",
  permissions: "none",
  fn() {
    const body = concat(item(0x0001, u32(1)), header(0x0009, 5), ascii("1+2"));
    const error = assertDecodeError(
      () => decodeItems(body),
      "bad_frame",
      10 + 2,
    );
    assert.match(error.message, /0x0009/);
    // Inside a group, the group's end is the bound, not the frame's.
    const group = item(0x8001, header(0x0010, 8), u32(1));
    const padded = concat(group, item(0x000b, ascii("padding")));
    assertDecodeError(() => decodeItems(padded), "bad_frame", 6 + 2);
    // A length that would overflow 32-bit arithmetic.
    assertDecodeError(
      () => decodeItems(header(0x0001, 0xffffffff)),
      "bad_frame",
      2,
    );
  },
});

Deno.test({
  name: "decodeItems() rejects stray bytes shorter than a field header",
  permissions: "none",
  fn() {
    const field = item(0x0001, u32(1));
    for (let stray = 1; stray < 6; stray++) {
      const body = concat(field, new Uint8Array(stray));
      const error = assertDecodeError(
        () => decodeItems(body),
        "bad_frame",
        field.length,
      );
      assert.match(error.message, new RegExp(`${stray} stray bytes`));
    }
    // Stray bytes at the end of a group's value are just as malformed.
    const group = item(0x8001, item(0x0010, u32(1)), new Uint8Array(2));
    assertDecodeError(() => decodeItems(group), "bad_frame", 6 + 10);
  },
});

Deno.test({
  name:
    "decodeItems() rejects more than maxFields fields, nested ones included",
  permissions: "none",
  fn() {
    const limits = { maxFields: 4, maxDepth: 8 };
    const atLimit = concat(
      item(0x0001, u32(1)),
      item(0x8001, item(0x0010, u32(1)), item(0x0011)),
    );
    assert.equal(decodeItems(atLimit, limits).length, 2);
    const overNested = concat(
      item(0x0001, u32(1)),
      item(0x8001, item(0x0010, u32(1)), item(0x0011), item(0x0012)),
    );
    // The fifth item, 0x0012, starts after id (10), the group header (6),
    // 0x0010 (10) and 0x0011 (6).
    const error = assertDecodeError(
      () => decodeItems(overNested, limits),
      "too_many_fields",
      10 + 6 + 10 + 6,
    );
    assert.match(error.message, /4/);
    const flat = concat(...Array.from({ length: 5 }, () => item(0x0001)));
    assertDecodeError(() => decodeItems(flat, limits), "too_many_fields", 24);
    // The default limit counts every item across the frame.
    const many = concat(
      ...Array.from(
        { length: DEFAULT_LIMITS.maxFields + 1 },
        () => item(0x0001),
      ),
    );
    assertDecodeError(() => decodeItems(many), "too_many_fields");
    assert.equal(
      decodeItems(many.subarray(6)).length,
      DEFAULT_LIMITS.maxFields,
    );
  },
});

Deno.test({
  name:
    "decodeItems() rejects nesting beyond maxDepth without overflowing the stack",
  permissions: "none",
  fn() {
    // Groups open at depth 1..8; the ninth level is refused where it starts.
    const error = assertDecodeError(
      () => decodeItems(nested(100)),
      "too_deep",
      6 * 8,
    );
    assert.match(error.message, /8/);
    // Far deeper than any stack could recurse: still a TlvDecodeError.
    assertDecodeError(() => decodeItems(nested(200_000)), "too_deep");
    assertDecodeError(
      () => decodeItems(nested(100), { maxFields: 1000, maxDepth: 50 }),
      "too_deep",
      6 * 50,
    );
  },
});

Deno.test({
  name: "decodeItems() accepts nesting exactly at maxDepth",
  permissions: "none",
  fn() {
    const leaf = item(0x0001, u32(3));
    // Seven groups put the leaf at depth 8, the default limit.
    let items: readonly Item[] = decodeItems(nested(7, leaf));
    for (let depth = 1; depth < 8; depth++) {
      const only = items[0];
      assert.ok(
        only && "items" in only && items.length === 1,
        `depth ${depth}`,
      );
      items = only.items;
    }
    assert.deepEqual(plain(items), [{ tag: 0x0001, value: [0, 0, 0, 3] }]);
    assertDecodeError(() => decodeItems(nested(8, leaf)), "too_deep");
    // maxDepth 1 allows top-level scalars and no groups at all.
    const flatOnly = { maxFields: 10, maxDepth: 1 };
    assert.equal(decodeItems(leaf, flatOnly).length, 1);
    assertDecodeError(
      () => decodeItems(nested(1, leaf), flatOnly),
      "too_deep",
      6,
    );
  },
});

Deno.test({
  name: "writeHeader() writes a big-endian tag and length at the offset",
  permissions: "none",
  fn() {
    const target = new Uint8Array(10).fill(0xaa);
    assert.equal(writeHeader(target, 2, 0x0200, 0x0000000d), 8);
    assert.deepEqual(
      Array.from(target),
      [0xaa, 0xaa, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0d, 0xaa, 0xaa],
    );
    const max = new Uint8Array(6);
    writeHeader(max, 0, 0xffff, 0xffffffff);
    assert.deepEqual(Array.from(max), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    writeHeader(max, 0, 0x8001, 0x01020304);
    assert.deepEqual(Array.from(max), [0x80, 0x01, 0x01, 0x02, 0x03, 0x04]);
    // What it writes, decodeFrame reads back.
    const frame = new Uint8Array(6 + 3);
    writeHeader(frame, 0, 0x7fff, 3);
    frame.set([1, 2, 3], 6);
    const decoded = decodeFrame(frame, 0);
    assert.equal(decoded?.frame.type, 0x7fff);
    assert.deepEqual(Array.from(decoded?.frame.body ?? []), [1, 2, 3]);
  },
});
