/**
 * Confined file access: the one way network input may name a file. A
 * {@linkcode ConfinedRoot} maps a request's URL path (or an upload's file
 * name) to a path inside a configured directory and refuses everything else
 * with a {@linkcode ConfinedPathError} whose `reason` a server maps to its
 * protocol's reply.
 *
 * Two layers of defence: {@linkcode ConfinedRoot.resolve} refuses any name
 * that could climb out (`..`, smuggled separators, drives, bad encodings)
 * without touching the disk, and {@linkcode ConfinedRoot.locate} then asks
 * the file system where the name really leads (symlinks followed) and
 * refuses anything whose real path is not under the real root.
 *
 * @example
 * ```ts
 * const site = await ConfinedRoot.open("./public");
 * const { file, info } = await site.openFile("/docs/a%20b.txt");
 * ```
 *
 * @module
 */

import { join, sep } from "node:path";

/** Why a path was refused. */
export type ConfinedPathReason =
  /** The name climbs out or smuggles a separator (`..`, `%2f`, `\`). */
  | "traversal"
  /** Bad percent-encoding, or bytes that are not UTF-8. */
  | "encoding"
  /** A segment starts with "." and hidden files are not allowed. */
  | "hidden"
  /** A segment names a drive (`C:`). */
  | "absolute"
  /** Nothing there (or not a regular file where one is needed). */
  | "not_found"
  /** The real path, symlinks followed, is not inside the root. */
  | "outside_root"
  /** Malformed otherwise: control characters, not starting with "/", too long. */
  | "invalid";

/**
 * Why a path was refused; the web server maps `reason` to a status (e.g.
 * "not_found" and "hidden" to 404, "outside_root" to 403, the rest to 400).
 *
 * @example
 * ```ts
 * try {
 *   await site.openFile(target);
 * } catch (error) {
 *   if (error instanceof ConfinedPathError) return reply(error.reason);
 *   throw error;
 * }
 * ```
 */
export class ConfinedPathError extends Error {
  /** Why the path was refused. */
  readonly reason: ConfinedPathReason;

  /**
   * @param reason Why the path was refused.
   * @param message What failed, on what input ("Cannot ...: ...").
   * @param options `cause`: the file-system error behind "not_found".
   */
  constructor(
    reason: ConfinedPathReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ConfinedPathError";
    this.reason = reason;
  }
}

/** Options for {@linkcode ConfinedRoot.open}. */
export interface ConfinedRootOptions {
  /**
   * Allow names starting with "." (default false: dotfiles are hidden, i.e.
   * treated as not found).
   */
  allowHidden?: boolean;
}

/** Longest file name most file systems accept, in UTF-8 bytes. */
const MAX_NAME_BYTES = 255;
const WINDOWS = Deno.build.os === "windows";
const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is part of the name, not something to strip.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A directory that network input may name files in, and nothing outside it.
 *
 * @example
 * ```ts
 * const site = await ConfinedRoot.open("./public");
 * const { path, info } = await site.locate("/index.html");
 * ```
 */
export class ConfinedRoot {
  /** The root's real absolute path (symlinks resolved at open). */
  readonly root: string;
  #prefix: string;
  #allowHidden: boolean;

  private constructor(root: string, allowHidden: boolean) {
    this.root = root;
    this.#prefix = root.endsWith(sep) ? root : root + sep;
    this.#allowHidden = allowHidden;
  }

  /**
   * Opens `root`, resolving it with realPath now, so later checks compare
   * real paths with a real path.
   *
   * @param root The directory to serve from.
   * @param options See {@linkcode ConfinedRootOptions}.
   * @returns The confined root.
   * @throws {Deno.errors.NotFound} `root` does not exist.
   * @throws {Deno.errors.NotADirectory} `root` is not a directory.
   *
   * @example
   * ```ts
   * const uploads = await ConfinedRoot.open("./uploads", { allowHidden: false });
   * ```
   */
  static async open(
    root: string,
    options: ConfinedRootOptions = {},
  ): Promise<ConfinedRoot> {
    let real: string;
    try {
      real = await Deno.realPath(root);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(
          `Cannot open root ${quote(root)}: it does not exist`,
          { cause: error },
        );
      }
      throw error;
    }
    const info = await Deno.stat(real);
    if (!info.isDirectory) {
      throw new Deno.errors.NotADirectory(
        `Cannot open root ${quote(root)}: it is not a directory`,
      );
    }
    return new ConfinedRoot(real, options.allowHidden ?? false);
  }

  /**
   * Maps a URL path, still percent-encoded as in the request target and
   * without its query (`"/docs/a%20b.txt"`), to an absolute path inside the
   * root. Percent-escapes are decoded exactly once: `%252e%252e` is the
   * literal name `%2e%2e`. Empty segments (`//`) are collapsed. Nothing is
   * checked on disk; see {@linkcode ConfinedRoot.locate}.
   *
   * Refuses with {@linkcode ConfinedPathError}: bad percent-encoding or
   * UTF-8 → "encoding"; NUL or any control character → "invalid"; `%2f`,
   * a backslash (raw or `%5c`), or a segment `.` / `..` after decoding →
   * "traversal"; not starting with "/" → "invalid"; a drive segment (`C:`)
   * → "absolute"; a segment starting with "." → "hidden" unless allowed.
   * On Windows also names Win32 would alias or treat as devices (`NUL`,
   * `a.txt.`, `a:stream`) → "invalid".
   *
   * @param urlPath The request target's path.
   * @returns The joined path and the decoded segments.
   *
   * @example
   * ```ts
   * site.resolve("/docs/a%20b.txt");
   * // { path: `${site.root}/docs/a b.txt`, segments: ["docs", "a b.txt"] }
   * ```
   */
  resolve(urlPath: string): { path: string; segments: string[] } {
    if (!urlPath.startsWith("/")) {
      throw new ConfinedPathError(
        "invalid",
        `Cannot resolve ${quote(urlPath)}: a path must start with "/"`,
      );
    }
    const segments: string[] = [];
    for (const raw of urlPath.split("/")) {
      if (raw === "") continue;
      const segment = decodeSegment(raw, urlPath);
      this.#checkSegment(segment, `resolve ${quote(urlPath)}`);
      segments.push(segment);
    }
    return { path: this.#join(segments, urlPath), segments };
  }

  /**
   * {@linkcode ConfinedRoot.resolve}, then asks the disk where the name
   * really leads: symlinks are followed, and a real path outside the real
   * root is refused with "outside_root". With hidden files not allowed, a
   * symlink leading to a dotfile inside the root is refused as "hidden".
   *
   * @param urlPath The request target's path.
   * @returns The real path and its {@linkcode Deno.FileInfo}.
   * @throws {ConfinedPathError} "not_found" (cause: the file-system error)
   * when nothing is there, or any refusal of `resolve()`.
   *
   * @example
   * ```ts
   * const { path, info } = await site.locate("/docs/");
   * if (info.isDirectory) await listDirectory(path);
   * ```
   */
  async locate(
    urlPath: string,
  ): Promise<{ path: string; info: Deno.FileInfo }> {
    const { path } = this.resolve(urlPath);
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch (error) {
      throw notFoundOr(error, urlPath);
    }
    const relative = this.#relative(real);
    if (relative === undefined) {
      throw new ConfinedPathError(
        "outside_root",
        `Cannot locate ${quote(urlPath)}: it leads outside the root`,
      );
    }
    if (
      !this.#allowHidden &&
      relative.split(sep).some((part) => part.startsWith("."))
    ) {
      throw new ConfinedPathError(
        "hidden",
        `Cannot locate ${quote(urlPath)}: it leads to a hidden file`,
      );
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(real);
    } catch (error) {
      throw notFoundOr(error, urlPath);
    }
    return { path: real, info };
  }

  /**
   * Locates a regular file and opens it for reading. Directories, FIFOs and
   * devices are refused as "not_found" before opening (opening a FIFO would
   * block); the returned `info` comes from the open handle.
   *
   * @param urlPath The request target's path.
   * @returns The open file (the caller closes it), its real path and info.
   *
   * @example
   * ```ts
   * const { file, info } = await site.openFile("/index.html");
   * return new Response(file.readable, {
   *   headers: { "content-length": String(info.size) },
   * });
   * ```
   */
  async openFile(
    urlPath: string,
  ): Promise<{ file: Deno.FsFile; path: string; info: Deno.FileInfo }> {
    const located = await this.locate(urlPath);
    if (!located.info.isFile) throw notAFile(urlPath);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(located.path, { read: true });
    } catch (error) {
      throw notFoundOr(error, urlPath);
    }
    try {
      const info = await file.stat();
      if (!info.isFile) throw notAFile(urlPath);
      return { file, path: located.path, info };
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * A path for writing a plain file `name` directly in the root, e.g. an
   * upload, to hand to `writeFileAtomic` (lib/atomic_write.ts). `name` is already
   * decoded (no percent-escapes) and must be one segment: the refusals of
   * {@linkcode ConfinedRoot.resolve} apply, a "/" is "traversal", an empty
   * name or one over 255 UTF-8 bytes is "invalid". An existing target that
   * is a symlink is "outside_root"; one that is not a regular file is
   * "invalid". Creates nothing.
   *
   * @param name The file name.
   * @returns The absolute path in the root.
   *
   * @example
   * ```ts
   * await writeFileAtomic(await uploads.writablePath("photo.jpg"), bytes);
   * ```
   */
  async writablePath(name: string): Promise<string> {
    if (!name.isWellFormed()) {
      throw new ConfinedPathError(
        "encoding",
        `Cannot write ${quote(name)}: the name is not valid Unicode`,
      );
    }
    if (name === "") {
      throw new ConfinedPathError(
        "invalid",
        `Cannot write "": the name is empty`,
      );
    }
    if (name.includes("/")) {
      throw new ConfinedPathError(
        "traversal",
        `Cannot write ${quote(name)}: a name may not contain "/"`,
      );
    }
    this.#checkSegment(name, `write ${quote(name)}`);
    const bytes = encoder.encode(name).length;
    if (bytes > MAX_NAME_BYTES) {
      throw new ConfinedPathError(
        "invalid",
        `Cannot write ${quote(name)}: the name is ${bytes} bytes, ` +
          `over the limit of ${MAX_NAME_BYTES}`,
      );
    }
    const path = this.#join([name], name);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return path;
      throw error;
    }
    if (info.isSymlink) {
      throw new ConfinedPathError(
        "outside_root",
        `Cannot write ${quote(name)}: the target is a symlink`,
      );
    }
    if (!info.isFile) {
      throw new ConfinedPathError(
        "invalid",
        `Cannot write ${quote(name)}: the target exists and is not a file`,
      );
    }
    return path;
  }

  /** `action` completes the message: "Cannot <action>: <why>". */
  #checkSegment(segment: string, action: string): void {
    const refuse = (reason: ConfinedPathReason, why: string) =>
      new ConfinedPathError(reason, `Cannot ${action}: ${why}`);
    if (/\p{Cc}/u.test(segment)) {
      throw refuse("invalid", "it contains a control character");
    }
    if (segment.includes("/")) {
      throw refuse("traversal", 'a segment may not contain an encoded "/"');
    }
    if (segment.includes("\\")) {
      throw refuse("traversal", 'a segment may not contain "\\"');
    }
    if (segment === "." || segment === "..") {
      throw refuse("traversal", `a segment may not be ${quote(segment)}`);
    }
    if (/^[A-Za-z]:/.test(segment)) {
      throw refuse("absolute", `${quote(segment)} names a drive`);
    }
    if (WINDOWS) {
      const problem = _windowsNameProblem(segment);
      if (problem !== undefined) throw refuse("invalid", problem);
    }
    if (!this.#allowHidden && segment.startsWith(".")) {
      throw refuse("hidden", `${quote(segment)} is a hidden name`);
    }
  }

  /** Joins checked segments, and checks the result anyway. */
  #join(segments: readonly string[], input: string): string {
    const path = join(this.root, ...segments);
    if (this.#relative(path) === undefined) {
      throw new ConfinedPathError(
        "traversal",
        `Cannot resolve ${quote(input)}: it leads outside the root`,
      );
    }
    return path;
  }

  /** The part of `path` below the root ("" for the root), or undefined. */
  #relative(path: string): string | undefined {
    if (path === this.root) return "";
    if (path.startsWith(this.#prefix)) return path.slice(this.#prefix.length);
    return undefined;
  }
}

/** Percent-decodes one raw segment, exactly once, as UTF-8. */
function decodeSegment(raw: string, input: string): string {
  if (!raw.isWellFormed()) {
    throw new ConfinedPathError(
      "encoding",
      `Cannot resolve ${quote(input)}: it is not valid Unicode`,
    );
  }
  if (!raw.includes("%")) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length;) {
    if (raw[i] === "%") {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new ConfinedPathError(
          "encoding",
          `Cannot resolve ${quote(input)}: ${
            quote(raw.slice(i, i + 3))
          } is not a percent-escape`,
        );
      }
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      const end = raw.indexOf("%", i);
      const plain = raw.slice(i, end === -1 ? raw.length : end);
      bytes.push(...encoder.encode(plain));
      i += plain.length;
    }
  }
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch (error) {
    throw new ConfinedPathError(
      "encoding",
      `Cannot resolve ${quote(input)}: the decoded bytes are not UTF-8`,
      { cause: error },
    );
  }
}

/**
 * Why Win32 would not open `name` as the plain file it spells, or
 * undefined. Win32 drops trailing dots and spaces (`a.txt.` opens `a.txt`),
 * reads `a:b` as an alternate data stream, and opens device names (`NUL`,
 * `CON.txt`) as devices — reading `CON` would wait on the console forever.
 * Checked on Windows only; exported for tests.
 */
export function _windowsNameProblem(name: string): string | undefined {
  if (/[<>:"|?*]/.test(name)) {
    return `${quote(name)} contains a character Windows reserves`;
  }
  if (/[. ]$/.test(name)) {
    return `${quote(name)} ends with a dot or space, which Windows drops`;
  }
  const stem = name.split(".")[0]!.trimEnd();
  if (/^(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9¹²³])$/i.test(stem)) {
    return `${quote(name)} is a Windows device name`;
  }
  return undefined;
}

function notAFile(urlPath: string): ConfinedPathError {
  return new ConfinedPathError(
    "not_found",
    `Cannot open ${quote(urlPath)}: it is not a regular file`,
  );
}

/** File-system errors that mean "no such file" become "not_found". */
function notFoundOr(error: unknown, urlPath: string): unknown {
  if (
    error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.NotADirectory ||
    error instanceof Deno.errors.FilesystemLoop ||
    (error instanceof Error && "code" in error &&
      error.code === "ENAMETOOLONG")
  ) {
    return new ConfinedPathError(
      "not_found",
      `Cannot locate ${quote(urlPath)}: nothing is there`,
      { cause: error },
    );
  }
  return error;
}

/** Quotes a value for a message: escaped, and cut short if long. */
function quote(value: string): string {
  return JSON.stringify(
    value.length > 200 ? `${value.slice(0, 200)}…` : value,
  );
}
