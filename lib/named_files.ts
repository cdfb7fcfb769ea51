/**
 * Files by name in a confined directory, the one implementation behind the
 * video library and the image service: `logo` is the file `logo`, or
 * `logo.png`, `logo.jpg`… — whichever of the allowed extensions exists
 * first. Names come from the network, so they must be one plain file name
 * and go through {@linkcode ConfinedRoot.locate}, which refuses anything
 * that leads out of the directory or to a hidden file.
 *
 * @example
 * ```ts
 * const images = await ConfinedRoot.open("testdata/images");
 * const found = await findNamed(images, "logo", ["", ".png", ".jpg"], "an image name");
 * const listing = await listNamed(images, [".png", ".jpg"], new DigestCache());
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { ProtocolError } from "../protocol/tlv/protocol_error.ts";
import { type DigestCache, sendBulk } from "./bulk.ts";
import type { Session } from "./server.ts";
import { ConfinedPathError, type ConfinedRoot } from "./confined_fs.ts";

/** Longest name accepted, in UTF-16 code units (as file systems allow 255 bytes). */
const MAX_NAME_LENGTH = 255;

/** A file found by {@linkcode findNamed}. */
export interface FoundFile {
  /** Its real absolute path, inside the root. */
  readonly path: string;
  /** Its name in the directory, extension included (`logo.png`). */
  readonly fileName: string;
  /** Its stat, taken when it was found. */
  readonly info: Deno.FileInfo;
}

/** One file of a {@linkcode listNamed} listing. */
export interface NamedEntry {
  /** The file name without its extension (`logo`). */
  name: string;
  /** The file name in the directory (`logo.png`). */
  fileName: string;
  /** Its size in bytes. */
  size: number;
  /** Its SHA-256, when a digest cache was given. */
  digest?: Uint8Array;
}

/**
 * Checks a name from the network: one plain file name — not empty, at
 * most 255 characters, no "/", "\\" or NUL, not starting with "." — so no
 * request can name a path, a parent or a hidden file.
 *
 * @param name The name as received.
 * @param what What a valid name is, for the message: "a video name",
 * "an image name".
 * @throws {ProtocolError} `bad_name`, saying `"<name>" is not <what>`.
 *
 * @example
 * ```ts
 * checkName("campus.png", "an image name"); // fine
 * checkName("../etc/passwd", "an image name"); // throws bad_name
 * ```
 */
export function checkName(name: string, what: string): void {
  if (
    name === "" || name.length > MAX_NAME_LENGTH || /[/\\\0]/.test(name) ||
    name.startsWith(".") || !name.isWellFormed()
  ) {
    throw new ProtocolError(
      "bad_name",
      `"${name.slice(0, 80)}" is not ${what} (one plain file name, no paths)`,
    );
  }
}

/**
 * Finds the file `name` stands for in `root`: `name` followed by each of
 * `extensions` in order ("" meaning the bare name), the first regular file
 * wins. A candidate that is a symlink leading out of the root or to a
 * hidden file is refused, not skipped: the directory holds something wrong.
 *
 * @param root The directory.
 * @param name The name from the network (checked with {@linkcode checkName}).
 * @param extensions Suffixes to try, in order; "" tries the bare name.
 * @param what What a valid name is, for messages ("an image name").
 * @returns The file, or `undefined` when none of the candidates exists.
 * @throws {ProtocolError} `bad_name` for a bad name or a refused candidate.
 *
 * @example
 * ```ts
 * await findNamed(images, "campus", ["", ".png"], "an image name");
 * // { path: ".../campus.png", fileName: "campus.png", info: { ... } }
 * ```
 */
export async function findNamed(
  root: ConfinedRoot,
  name: string,
  extensions: readonly string[],
  what: string,
): Promise<FoundFile | undefined> {
  checkName(name, what);
  for (const extension of extensions) {
    const fileName = name + extension;
    try {
      // Percent-encoded, so the name is taken literally: "%2e%2e" is that
      // name, and locate() decodes it exactly once.
      const { path, info } = await root.locate(
        `/${encodeURIComponent(fileName)}`,
      );
      if (info.isFile) return { path, fileName, info };
    } catch (error) {
      if (!(error instanceof ConfinedPathError)) throw error;
      if (error.reason !== "not_found") {
        throw new ProtocolError(
          "bad_name",
          `"${name.slice(0, 80)}" is not ${what}: ${error.message}`,
        );
      }
    }
  }
  return undefined;
}

/**
 * Lists the regular files of `root` that end in one of `extensions` (the
 * empty one is ignored: a listing names only typed files), sorted by name.
 * Hidden files (part files of downloads in progress among them),
 * directories and symlinks are left out, and so is a file that disappears
 * while it is being listed.
 *
 * @param root The directory.
 * @param extensions The suffixes that make a file part of the listing; the
 * first that matches is cut off to give its `name`.
 * @param digests When given, each entry carries its SHA-256 from it.
 * @returns The entries, by `name` (then `fileName`).
 *
 * @example
 * ```ts
 * await listNamed(images, [".png", ".gif"]);
 * // [{ name: "campus", fileName: "campus.png", size: 4310 }, ...]
 * ```
 */
export async function listNamed(
  root: ConfinedRoot,
  extensions: readonly string[],
  digests?: DigestCache,
): Promise<NamedEntry[]> {
  const out: NamedEntry[] = [];
  for await (const entry of Deno.readDir(root.root)) {
    if (!entry.isFile || entry.name.startsWith(".")) continue;
    const extension = extensions.find((e) =>
      e !== "" && entry.name.length > e.length && entry.name.endsWith(e)
    );
    if (extension === undefined) continue;
    const path = join(root.root, entry.name);
    try {
      const info = await Deno.stat(path);
      if (!info.isFile) continue;
      out.push({
        name: entry.name.slice(0, -extension.length),
        fileName: entry.name,
        size: info.size,
        ...(digests ? { digest: await digests.digest(path, info) } : {}),
      });
    } catch (error) {
      // Removed since readDir saw it (a cache evicting): not part of the list.
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
  }
  return out.sort((a, b) =>
    a.name.localeCompare(b.name) || a.fileName.localeCompare(b.fileName)
  );
}

/**
 * Sends a file found by {@linkcode findNamed} as a bulk transfer answering
 * request `id`, from `offset` on. One open handle serves the stat, the
 * digest's check and every byte sent, so a file replaced meanwhile cannot
 * pair one version's size with another's bytes.
 *
 * @returns The data bytes sent.
 *
 * @example
 * ```ts
 * const found = await findNamed(root, name, [""], "a file name");
 * if (found) await sendNamedFile(session, { id, found, offset, digests });
 * ```
 */
export async function sendNamedFile(
  session: Session,
  options: {
    id: number;
    found: FoundFile;
    offset?: number;
    digests: DigestCache;
    source?: string;
  },
): Promise<number> {
  const { found } = options;
  using file = await Deno.open(found.path, { read: true });
  const info = await file.stat();
  const digest = await options.digests.digest(found.path, info);
  return await sendBulk(session, {
    id: options.id,
    name: found.fileName,
    file,
    size: info.size,
    digest,
    offset: options.offset ?? 0,
    ...(options.source !== undefined ? { source: options.source } : {}),
  });
}
