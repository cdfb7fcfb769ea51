/**
 * Byte builders shared by the TLV codec tests. Bytes are built by hand here,
 * not with `writeHeader` or `encodeMessage`, so a bug in the encoder cannot
 * hide a bug in the decoder. Pure: no Deno APIs, as everywhere in protocol/.
 *
 * @module
 */

/**
 * A raw TLV item: the 2-byte `tag`, the 4-byte big-endian length of all
 * `parts` together, then the parts one after another.
 *
 * @example
 * ```ts
 * item(0x0001, new Uint8Array([0, 0, 0, 7])); // 00 01 00 00 00 04 00 00 00 07
 * item(0x8001, item(0x0001), item(0x0008));   // a group holding two items
 * ```
 */
export function item(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(6 + length);
  const view = new DataView(out.buffer);
  view.setUint16(0, tag);
  view.setUint32(2, length);
  let at = 6;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * `parts` joined into one array, such as the items of a frame body or the
 * frames of a stream. The result is a view at byteOffset 6 of a larger
 * buffer, never at 0, so code under test that ignores byteOffset fails.
 */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return item(0, ...parts).subarray(6);
}

/**
 * `bytes` cut into pieces whose sizes cycle through `sizes` (the last piece
 * may be shorter). The pieces are views into `bytes`, not copies; an empty
 * `sizes` gives `bytes` whole.
 */
export function split(
  bytes: Uint8Array,
  sizes: readonly number[],
): Uint8Array[] {
  if (sizes.length === 0) return [bytes];
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}
