/**
 * Where the client's password for `--login` comes from, in this order:
 * `--password-file FILE` (its first line), the `SOCKLAB_PASSWORD`
 * environment variable, or typed at a terminal with the echo off. The
 * password is never printed or logged; it only goes into the `login`
 * frame, which `--trace` shows as hidden.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import type { TerminalInput } from "./terminal_input.ts";

/** The environment variable a password may come from. */
export const PASSWORD_ENV = "SOCKLAB_PASSWORD";

/** Longest first line a password file may have, in bytes. */
export const MAX_PASSWORD_FILE_LINE = 4096;

/** What the client knows about the ways to get a password. */
export interface PasswordSources {
  /** `--password-file`, when given. */
  file?: string | undefined;
  /** The value of {@linkcode PASSWORD_ENV}, when set (and granted). */
  env?: string | undefined;
  /** Whether stdin is a terminal a password can be typed at. */
  terminal: boolean;
}

/**
 * The password for `user` from a file or the environment, or `undefined`
 * when it is to be typed at the terminal (ask with
 * {@linkcode promptPassword} once connected). Called before connecting,
 * so a missing password is a usage error, not a failed login.
 *
 * @throws {UsageError} when the file cannot be read or its first line is
 * empty, when the variable is set but empty, or when there is no way at
 * all (no file, no variable, stdin not a terminal).
 *
 * @example
 * ```ts
 * const preset = await presetPassword("alice", {
 *   file: flags.string("password-file"),
 *   env: ctx.env.get(PASSWORD_ENV),
 *   terminal: Deno.stdin.isTerminal(),
 * });
 * const password = preset ?? await promptPassword(input, "alice");
 * ```
 */
export async function presetPassword(
  user: string,
  sources: PasswordSources,
): Promise<string | undefined> {
  if (sources.file !== undefined) return await readPasswordFile(sources.file);
  if (sources.env !== undefined) {
    if (sources.env === "") {
      throw new UsageError(
        `${PASSWORD_ENV} is set but empty: put the password for ${user} in it, or unset it to be asked`,
      );
    }
    return sources.env;
  }
  if (!sources.terminal) {
    throw new UsageError(
      `--login ${user} needs a password: give --password-file FILE, set ${PASSWORD_ENV}, or run at a terminal to type it`,
    );
  }
  return undefined;
}

/**
 * Asks for `user`'s password on the terminal (prompt on stderr), echo off.
 *
 * @param signal Cancels the prompt (the role's shutdown signal).
 * @throws {PromptError} on Ctrl-C, Ctrl-D, the end of input or `signal`.
 */
export function promptPassword(
  input: TerminalInput,
  user: string,
  signal?: AbortSignal,
): Promise<string> {
  return input.readSecret(
    `Password for ${user}: `,
    signal !== undefined ? { signal } : {},
  );
}

/**
 * The first line of `path` without its line ending, read without loading
 * more than {@linkcode MAX_PASSWORD_FILE_LINE} bytes.
 *
 * @throws {UsageError} when the file cannot be read, its first line is
 * empty, or it is longer than the limit.
 *
 * @example
 * ```ts
 * await readPasswordFile("alice.pw"); // "wonderland"
 * ```
 */
export async function readPasswordFile(path: string): Promise<string> {
  const buffer = new Uint8Array(MAX_PASSWORD_FILE_LINE + 1);
  let length = 0;
  try {
    using file = await Deno.open(path, { read: true });
    while (length < buffer.length) {
      const n = await file.read(buffer.subarray(length));
      if (n === null) break;
      length += n;
      if (buffer.subarray(length - n, length).includes(0x0a)) break;
    }
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied
      ? "permission denied (the client reads files under the current directory only)"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (error as Error).message;
    throw new UsageError(`Cannot read --password-file ${path}: ${reason}`);
  }
  const bytes = buffer.subarray(0, length);
  const newline = bytes.indexOf(0x0a);
  if (newline < 0 && length > MAX_PASSWORD_FILE_LINE) {
    throw new UsageError(
      `Cannot use --password-file ${path}: its first line is longer than ${MAX_PASSWORD_FILE_LINE} bytes`,
    );
  }
  const line = new TextDecoder().decode(
    newline < 0 ? bytes : bytes.subarray(0, newline),
  ).replace(/\r$/, "");
  if (line === "") {
    throw new UsageError(
      `Cannot use --password-file ${path}: its first line is empty; put the password there`,
    );
  }
  return line;
}
