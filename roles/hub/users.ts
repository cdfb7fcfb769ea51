/**
 * The HW5 users file and password hashing. One user per line, the password
 * kept only as a salted PBKDF2-HMAC-SHA256 hash:
 *
 * ```text
 * # socklab users: NAME:pbkdf2-sha256:ITERATIONS:SALT_BASE64:HASH_BASE64
 * alice:pbkdf2-sha256:600000:3q2+7w…==:mZ1t…=
 * ```
 *
 * Blank lines and `#` comments are ignored. The file is changed only with
 * {@linkcode setPassword} and {@linkcode removeUser} (the `passwd` role),
 * which rewrite it atomically and keep every other line as it was.
 *
 * @module
 */

import { writeFileAtomic } from "../../lib/atomic_write.ts";

/**
 * PBKDF2 iterations for new hashes: OWASP's Password Storage Cheat Sheet
 * figure for PBKDF2-HMAC-SHA256 (600,000). Each login costs this many
 * HMAC-SHA256 rounds, roughly 0.1 s on one core, and so does each guess of
 * an attacker who has the file.
 */
export const DEFAULT_ITERATIONS = 600_000;

/** Fewest iterations a users file may hold (test files use this). */
export const MIN_ITERATIONS = 1000;

/** Most iterations a users file may hold: bounds the work of one login. */
export const MAX_ITERATIONS = 10_000_000;

/** Bytes of random salt per user. */
export const SALT_BYTES = 16;

/** Bytes of derived hash per user (the SHA-256 output size). */
export const HASH_BYTES = 32;

const SCHEME = "pbkdf2-sha256";
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;
const encoder = new TextEncoder();

/** One user of the users file. */
export interface UserRecord {
  readonly name: string;
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

/** What is wrong with a users file or a change to it. */
export type UsersFileErrorCode =
  | "bad_line"
  | "bad_name"
  | "duplicate"
  | "not_found";

/**
 * A users file that cannot be used, a bad user name, or a user or file that
 * is not there. Messages name the file and line and never show a hash.
 *
 * @example
 * ```ts
 * try {
 *   parseUsers("alice:md5:1:x:y\n", "users.txt");
 * } catch (error) {
 *   if (error instanceof UsersFileError) console.log(error.code, error.line); // "bad_line" 1
 * }
 * ```
 */
export class UsersFileError extends Error {
  /** What kind of problem it is. */
  readonly code: UsersFileErrorCode;
  /** 1-based line of the problem, when it is on one line. */
  readonly line?: number;

  /**
   * Creates the error.
   *
   * @param code What kind of problem it is.
   * @param message What failed, where, and what to do.
   * @param line The 1-based line, when the problem is on one.
   */
  constructor(code: UsersFileErrorCode, message: string, line?: number) {
    super(message);
    this.name = "UsersFileError";
    this.code = code;
    if (line !== undefined) this.line = line;
  }
}

/**
 * Whether `name` may be a user name: 1–64 characters of `A–Z a–z 0–9 . _ -`,
 * not starting with `.` or `-` (so it is never a hidden file or a flag).
 *
 * @example
 * ```ts
 * validUserName("alice"); // true
 * validUserName("-rf");   // false
 * ```
 */
export function validUserName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

function _checkName(name: string): void {
  if (!validUserName(name)) {
    throw new UsersFileError(
      "bad_name",
      `Cannot use user name ${
        JSON.stringify(name)
      }: use 1 to 64 letters, digits, ".", "_" or "-", not starting with "." or "-"`,
    );
  }
}

function _checkIterations(iterations: number): void {
  if (
    !Number.isInteger(iterations) || iterations < MIN_ITERATIONS ||
    iterations > MAX_ITERATIONS
  ) {
    throw new RangeError(
      `Cannot hash with ${iterations} iterations: use a whole number from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`,
    );
  }
}

/**
 * Derives a password hash; {@linkcode UserStore} takes another one in tests
 * to count the work done.
 */
export type DeriveHash = (
  password: string,
  salt: Uint8Array,
  iterations: number,
) => Promise<Uint8Array>;

/**
 * PBKDF2-HMAC-SHA256 of `password` (NFC-normalized UTF-8) with WebCrypto,
 * {@linkcode HASH_BYTES} long.
 *
 * @example
 * ```ts
 * const hash = await pbkdf2Sha256("wonderland", salt, 1000); // 32 bytes
 * ```
 */
export async function pbkdf2Sha256(
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  // NFC: "é" typed as one code point or as e + accent is the same password.
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(password.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt.slice(), iterations },
    key,
    HASH_BYTES * 8,
  );
  return new Uint8Array(bits);
}

/**
 * Hashes `password` for user `name` with a fresh random salt.
 *
 * @param options `iterations` (default {@linkcode DEFAULT_ITERATIONS});
 *   `salt` ({@linkcode SALT_BYTES} bytes) only to reproduce a known hash.
 * @throws {UsersFileError} `bad_name` for a name the file cannot hold.
 * @throws {RangeError} for an empty password, a bad iteration count or salt.
 * @example
 * ```ts
 * const record = await hashPassword("alice", "wonderland");
 * await verifyPassword(record, "wonderland"); // true
 * ```
 */
export async function hashPassword(
  name: string,
  password: string,
  options: { iterations?: number; salt?: Uint8Array } = {},
): Promise<UserRecord> {
  _checkName(name);
  if (password === "") throw new RangeError("Cannot hash an empty password");
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  _checkIterations(iterations);
  const salt = options.salt?.slice() ??
    crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  if (salt.length !== SALT_BYTES) {
    throw new RangeError(
      `Cannot hash with a ${salt.length}-byte salt: it must be ${SALT_BYTES} bytes`,
    );
  }
  const hash = await pbkdf2Sha256(password, salt, iterations);
  return { name, iterations, salt, hash };
}

/**
 * Whether `password` is the one `record` was hashed from, compared in
 * constant time.
 *
 * @example
 * ```ts
 * await verifyPassword(record, "wrong"); // false
 * ```
 */
export function verifyPassword(
  record: UserRecord,
  password: string,
): Promise<boolean> {
  return _verifyWith(pbkdf2Sha256, record, password);
}

async function _verifyWith(
  derive: DeriveHash,
  record: UserRecord,
  password: string,
): Promise<boolean> {
  const hash = await derive(password, record.salt, record.iterations);
  return constantTimeEqual(hash, record.hash);
}

/**
 * Compares two byte arrays in time that depends only on the longer length:
 * no early exit at the first difference, and a length difference is folded
 * into the result instead of returned early.
 *
 * @example
 * ```ts
 * constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1]));    // false
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** A parsed user and the 0-based index of its line. */
interface _Entry {
  readonly record: UserRecord;
  readonly index: number;
}

function _decode(
  text: string,
  bytes: number,
  what: string,
  fail: (reason: string) => never,
): Uint8Array {
  if (BASE64_PATTERN.test(text)) {
    try {
      const decoded = Uint8Array.fromBase64(text, {
        lastChunkHandling: "strict",
      });
      if (decoded.length === bytes) return decoded;
    } catch {
      // Reported below, with the same words as a wrong length.
    }
  }
  return fail(`the ${what} is not ${bytes} bytes of standard base64`);
}

/** Parses every user line, remembering where each one is. */
function _parseEntries(lines: readonly string[], source: string): _Entry[] {
  const entries: _Entry[] = [];
  const seen = new Map<string, number>();
  for (const [index, raw] of lines.entries()) {
    const text = raw.trim();
    if (text === "" || text.startsWith("#")) continue;
    const line = index + 1;
    const fail = (reason: string, code: UsersFileErrorCode = "bad_line") => {
      throw new UsersFileError(code, `${source}:${line}: ${reason}`, line);
    };
    const parts = text.split(":");
    if (parts.length !== 5) {
      fail(
        `expected NAME:${SCHEME}:ITERATIONS:SALT:HASH (5 fields separated by ":"), found ${parts.length}`,
      );
    }
    const [name = "", scheme, count = "", salt = "", hash = ""] = parts;
    if (!validUserName(name)) {
      fail(
        `bad user name ${
          JSON.stringify(name.slice(0, 80))
        }: use 1 to 64 letters, digits, ".", "_" or "-", not starting with "." or "-"`,
        "bad_name",
      );
    }
    if (scheme !== SCHEME) {
      fail(
        `unknown hash scheme ${
          JSON.stringify(scheme?.slice(0, 40))
        } for ${name}: only ${SCHEME} is supported`,
      );
    }
    const iterations = /^\d{1,9}$/.test(count) ? Number(count) : NaN;
    if (!(iterations >= MIN_ITERATIONS && iterations <= MAX_ITERATIONS)) {
      fail(
        `the iteration count of ${name} must be a whole number from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`,
      );
    }
    const record: UserRecord = {
      name,
      iterations,
      salt: _decode(salt, SALT_BYTES, `salt of ${name}`, fail),
      hash: _decode(hash, HASH_BYTES, `hash of ${name}`, fail),
    };
    const first = seen.get(name);
    if (first !== undefined) {
      fail(`duplicate user ${name} (first on line ${first})`, "duplicate");
    }
    seen.set(name, line);
    entries.push({ record, index });
  }
  return entries;
}

function _lines(text: string): string[] {
  return text.split(/\r?\n/);
}

/**
 * Parses a users file. The whole file is rejected at its first bad line.
 *
 * @param source The file name for error messages. Default "users file".
 * @throws {UsersFileError} `bad_line`, `bad_name` or `duplicate`, with the
 *   line number: wrong field count, unknown scheme, iterations outside
 *   {@linkcode MIN_ITERATIONS}–{@linkcode MAX_ITERATIONS}, a salt or hash
 *   that is not standard base64 of the right length, a name used twice.
 * @example
 * ```ts
 * const users = parseUsers(await Deno.readTextFile("users.txt"), "users.txt");
 * users.get("alice")?.iterations; // 600000
 * ```
 */
export function parseUsers(
  text: string,
  source = "users file",
): Map<string, UserRecord> {
  return new Map(
    _parseEntries(_lines(text), source).map((e) => [e.record.name, e.record]),
  );
}

const HEADER = [
  `# socklab users, one a line: NAME:${SCHEME}:ITERATIONS:SALT_BASE64:HASH_BASE64`,
  "# (a PBKDF2-HMAC-SHA256 hash of the password with a random salt; blank",
  "# lines and # comments are ignored). Change it with",
  "# socklab --role passwd --users FILE NAME",
];

function _formatLine(record: UserRecord): string {
  return [
    record.name,
    SCHEME,
    record.iterations,
    record.salt.toBase64(),
    record.hash.toBase64(),
  ].join(":");
}

/**
 * Formats users as a users file: a comment explaining the format, then one
 * line per user.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("users.txt", formatUsers([await hashPassword("alice", "wonderland")]));
 * ```
 */
export function formatUsers(users: Iterable<UserRecord>): string {
  return [...HEADER, ...[...users].map(_formatLine)].join("\n") + "\n";
}

/** Options for {@linkcode UserStore}. */
export interface UserStoreOptions {
  /** How hashes are derived. Default {@linkcode pbkdf2Sha256}; for tests. */
  derive?: DeriveHash;
}

/**
 * The users a server accepts, checked in the same time whether or not the
 * name exists.
 *
 * @example
 * ```ts
 * const users = await UserStore.load("testdata/hub/users.txt");
 * await users.verify("alice", "wonderland"); // true
 * await users.verify("mallory", "x");        // false, after the same work
 * ```
 */
export class UserStore {
  #users: Map<string, UserRecord>;
  #derive: DeriveHash;
  /** What an unknown name is checked against, so it costs what a known one does. */
  #dummy: UserRecord;

  private constructor(
    users: Map<string, UserRecord>,
    options: UserStoreOptions,
  ) {
    this.#users = users;
    this.#derive = options.derive ?? pbkdf2Sha256;
    const first = users.values().next().value;
    this.#dummy = {
      name: "",
      iterations: first?.iterations ?? DEFAULT_ITERATIONS,
      salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
      hash: new Uint8Array(HASH_BYTES),
    };
  }

  /**
   * Reads and parses the users file at `path`.
   *
   * @throws {UsersFileError} `not_found` when there is no such file (the
   *   message says how to create it), or a parse error.
   */
  static async load(
    path: string,
    options: UserStoreOptions = {},
  ): Promise<UserStore> {
    const text = await _readUsersFile(path);
    if (text === undefined) {
      throw new UsersFileError(
        "not_found",
        `Cannot read users file ${path}: no such file; create it with socklab --role passwd --users ${path} NAME`,
      );
    }
    return new UserStore(parseUsers(text, path), options);
  }

  /**
   * A store of the given users.
   *
   * @throws {UsersFileError} `duplicate` when a name is given twice.
   * @example
   * ```ts
   * const users = UserStore.fromRecords([await hashPassword("bob", "builder")]);
   * ```
   */
  static fromRecords(
    records: Iterable<UserRecord>,
    options: UserStoreOptions = {},
  ): UserStore {
    const users = new Map<string, UserRecord>();
    for (const record of records) {
      if (users.has(record.name)) {
        throw new UsersFileError(
          "duplicate",
          `Cannot add user ${record.name} twice`,
        );
      }
      users.set(record.name, record);
    }
    return new UserStore(users, options);
  }

  /** How many users there are. */
  get size(): number {
    return this.#users.size;
  }

  /** Whether `name` is a user. */
  has(name: string): boolean {
    return this.#users.has(name);
  }

  /** The user names, in file order. */
  names(): string[] {
    return [...this.#users.keys()];
  }

  /**
   * Whether `name` exists and `password` is theirs. An unknown name is
   * checked against a dummy record with as many iterations as the first
   * user's, so the answer takes as long either way and does not tell which
   * names exist.
   */
  async verify(name: string, password: string): Promise<boolean> {
    const record = this.#users.get(name);
    const ok = await _verifyWith(
      this.#derive,
      record ?? this.#dummy,
      password,
    );
    return ok && record !== undefined;
  }
}

/** The file's text, or `undefined` when it does not exist. */
async function _readUsersFile(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      throw new Error(`Cannot read users file ${path}: permission denied`);
    }
    throw new Error(
      `Cannot read users file ${path}: ${(error as Error).message}`,
    );
  }
}

/** The mode to write with: the old file's, minus access for others. */
async function _modeFor(path: string, exists: boolean): Promise<number> {
  if (!exists) return 0o600;
  try {
    const { mode } = await Deno.stat(path);
    // Keep owner and group (a server may read the file through its group),
    // never world access: the hashes are slow to crack, not impossible.
    return mode === null ? 0o600 : (mode & 0o770) | 0o600;
  } catch {
    return 0o600;
  }
}

async function _writeUsersFile(
  path: string,
  lines: readonly string[],
  exists: boolean,
): Promise<void> {
  const text = lines.join("\n").replace(/\n*$/, "\n");
  try {
    await writeFileAtomic(path, text, { mode: await _modeFor(path, exists) });
  } catch (error) {
    const reason = error instanceof Deno.errors.NotCapable ||
        error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Deno.errors.NotFound
      ? "its directory does not exist"
      : (error as Error).message;
    throw new Error(`Cannot write users file ${path}: ${reason}`);
  }
}

/**
 * Adds user `name` to the users file at `path`, or changes their password.
 * The file is created (mode 0600) when missing; every other line is kept as
 * it was; the new file replaces the old atomically.
 *
 * @param options `iterations`, default {@linkcode DEFAULT_ITERATIONS}.
 * @returns Whether the user was added or changed.
 * @throws {UsersFileError} `bad_name`, or a parse error of the existing file
 *   (which is then left alone).
 * @example
 * ```ts
 * await setPassword("users.txt", "alice", "wonderland"); // "added"
 * await setPassword("users.txt", "alice", "looking-glass"); // "changed"
 * ```
 */
export async function setPassword(
  path: string,
  name: string,
  password: string,
  options: { iterations?: number } = {},
): Promise<"added" | "changed"> {
  _checkName(name);
  const text = await _readUsersFile(path);
  const lines = text === undefined ? [...HEADER] : _lines(text);
  const entries = _parseEntries(lines, path);
  const record = await hashPassword(name, password, options);
  const old = entries.find((e) => e.record.name === name);
  if (old !== undefined) {
    lines[old.index] = _formatLine(record);
  } else {
    while (lines.length > 0 && lines.at(-1)?.trim() === "") lines.pop();
    lines.push(_formatLine(record));
  }
  await _writeUsersFile(path, lines, text !== undefined);
  return old !== undefined ? "changed" : "added";
}

/**
 * Removes user `name` from the users file at `path`, keeping every other
 * line; the new file replaces the old atomically.
 *
 * @throws {UsersFileError} `not_found` when the file or the user is not
 *   there, `bad_name`, or a parse error of the file.
 * @example
 * ```ts
 * await removeUser("users.txt", "bob");
 * ```
 */
export async function removeUser(path: string, name: string): Promise<void> {
  _checkName(name);
  const text = await _readUsersFile(path);
  if (text === undefined) {
    throw new UsersFileError(
      "not_found",
      `Cannot remove user ${name}: no users file ${path}`,
    );
  }
  const lines = _lines(text);
  const old = _parseEntries(lines, path).find((e) => e.record.name === name);
  if (old === undefined) {
    throw new UsersFileError(
      "not_found",
      `Cannot remove user ${name}: there is no such user in ${path}`,
    );
  }
  lines.splice(old.index, 1);
  await _writeUsersFile(path, lines, true);
}
