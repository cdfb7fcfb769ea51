/**
 * The two loops every file reader and writer needs: `read()` and `write()`
 * may move fewer bytes than asked, so whole buffers take a loop.
 *
 * @module
 */

/** Something bytes can be read from (a file, a connection). */
export interface ByteReader {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Something bytes can be written to (a file, a connection). */
export interface ByteWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Reads until `buffer` is full or the source ends.
 *
 * @returns The bytes read: less than `buffer.length` only at the end.
 *
 * @example
 * ```ts
 * using file = await Deno.open("clip.mp4");
 * const n = await readFull(file, new Uint8Array(65536));
 * ```
 */
export async function readFull(
  source: ByteReader,
  buffer: Uint8Array,
): Promise<number> {
  let at = 0;
  while (at < buffer.length) {
    const n = await source.read(buffer.subarray(at));
    if (n === null) break;
    at += n;
  }
  return at;
}

/**
 * Writes all of `bytes`.
 *
 * @example
 * ```ts
 * using file = await Deno.open("out.bin", { write: true, create: true });
 * await writeAll(file, bytes);
 * ```
 */
export async function writeAll(
  sink: ByteWriter,
  bytes: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await sink.write(bytes.subarray(at));
}
