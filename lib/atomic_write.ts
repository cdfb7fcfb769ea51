/**
 * Atomic file writes: write a temporary file beside the target, flush it,
 * then rename over the target. An interrupted run leaves either the old file
 * or the new one, never half of one.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Options for {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Use `.NAME.tmp` beside the file as the temporary file instead of a
   * random name (still hidden, so a file server never serves it half-written).
   * For a single writer whose permission grant names exactly the file and
   * its `.tmp` (a role allowed to write `Result.html` and nothing else).
   */
  fixedTemp?: boolean;
  /**
   * Permission bits of the new file (before the umask), e.g. `0o600` for a
   * file of password hashes. Set on the temporary file when it is created,
   * so the file is never readable by others, not even between write and
   * rename. Ignored on Windows.
   */
  mode?: number;
}

/**
 * Writes `data` to `path` atomically.
 *
 * @example
 * ```ts
 * await writeFileAtomic("result.txt", "1+2 = 3\n");
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  const temp = options.fixedTemp
    ? join(dirname(path), `.${basename(path)}.tmp`)
    : join(
      dirname(path),
      `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`,
    );
  try {
    using file = await Deno.open(
      temp,
      {
        ...(options.fixedTemp
          ? { write: true, create: true, truncate: true }
          : { write: true, createNew: true }),
        ...(options.mode !== undefined ? { mode: options.mode } : {}),
      },
    );
    let at = 0;
    while (at < bytes.length) at += await file.write(bytes.subarray(at));
    await file.sync();
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  try {
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
