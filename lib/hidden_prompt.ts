/**
 * Reading a password at a terminal without showing it: the terminal is put
 * in raw mode (no echo, no line editing by the kernel), keys are read one
 * at a time, and backspace, Ctrl-U, Ctrl-C and Ctrl-D are handled here.
 * The mode is restored however the read ends.
 *
 * @module
 */

/** Longest secret accepted, in bytes of UTF-8. */
export const MAX_SECRET_BYTES = 1024;

/** Why no secret was read. */
export type PromptErrorCode = "cancelled" | "too_long" | "not_utf8";

/**
 * A hidden prompt that ended without a line: Ctrl-C, Ctrl-D or the end of
 * input (`cancelled`), more than {@linkcode MAX_SECRET_BYTES} typed
 * (`too_long`), or bytes that are not UTF-8 (`not_utf8`).
 *
 * @example
 * ```ts
 * try {
 *   await promptHidden(["Password: "]);
 * } catch (error) {
 *   if (error instanceof PromptError && error.code === "cancelled") return 1;
 * }
 * ```
 */
export class PromptError extends Error {
  /** Why the prompt ended. */
  readonly code: PromptErrorCode;

  /** Creates the error; `message` says what happened. */
  constructor(code: PromptErrorCode, message: string) {
    super(message);
    this.name = "PromptError";
    this.code = code;
  }
}

/** Where keys come from: `Deno.stdin`, or a script of bytes in tests. */
export interface KeySource {
  read(p: Uint8Array): Promise<number | null>;
}

const ENTER = new Set([0x0d, 0x0a]);
const BACKSPACE = new Set([0x7f, 0x08]);
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_U = 0x15;
const ESC = 0x1b;

/**
 * Reads lines from raw key presses, echoing nothing. Keys typed ahead of a
 * prompt (a pasted "secret⏎secret⏎") are kept for the next line.
 *
 * @example
 * ```ts
 * const reader = new HiddenLineReader(Deno.stdin, (t) => log.raw(t));
 * const password = await reader.readLine("Password: ");
 * ```
 */
export class HiddenLineReader {
  #source: KeySource;
  #write: (text: string) => void;
  #maxBytes: number;
  #signal: AbortSignal | undefined;
  #pending: number[] = [];
  #afterCr = false;

  /**
   * Creates a reader over `source`.
   *
   * @param source Where keys are read from (a terminal in raw mode).
   * @param write Shows prompts and the line break after Enter (stderr).
   * @param options `maxBytes`: longest line, default
   *   {@linkcode MAX_SECRET_BYTES}; `signal`: cancels a read in progress
   *   (SIGINT/SIGTERM from outside the terminal).
   */
  constructor(
    source: KeySource,
    write: (text: string) => void,
    options: { maxBytes?: number; signal?: AbortSignal } = {},
  ) {
    this.#source = source;
    this.#write = write;
    this.#maxBytes = options.maxBytes ?? MAX_SECRET_BYTES;
    this.#signal = options.signal;
  }

  /**
   * Shows `prompt` and reads one line without echo.
   *
   * @throws {PromptError} on Ctrl-C, Ctrl-D, end of input, an aborted
   *   signal, an overlong line or bytes that are not UTF-8.
   */
  async readLine(prompt: string): Promise<string> {
    this.#write(prompt);
    const line: number[] = [];
    try {
      // 0: plain keys; 1: after ESC; 2: inside an escape sequence (arrows…).
      let escape = 0;
      for (;;) {
        const byte = await this.#next();
        if (byte === null || byte === CTRL_C || byte === CTRL_D) {
          this.#write("\n");
          throw new PromptError("cancelled", "cancelled; nothing changed");
        }
        if (this.#afterCr) {
          this.#afterCr = false;
          // "\r\n" from a terminal that sends both is one Enter.
          if (byte === 0x0a) continue;
        }
        if (escape === 1) {
          escape = byte === 0x5b || byte === 0x4f ? 2 : 0; // "[" or "O"
          continue;
        }
        if (escape === 2) {
          if (byte >= 0x40 && byte <= 0x7e) escape = 0;
          continue;
        }
        if (ENTER.has(byte)) {
          this.#afterCr = byte === 0x0d;
          this.#write("\n");
          return _decode(line);
        }
        if (BACKSPACE.has(byte)) {
          // Drop one character: its UTF-8 continuation bytes, then its lead.
          while (line.length > 0) {
            const dropped = line.pop() ?? 0;
            if ((dropped & 0xc0) !== 0x80) break;
          }
        } else if (byte === CTRL_U) {
          line.length = 0;
        } else if (byte === ESC) {
          escape = 1;
        } else if (byte >= 0x20) {
          if (line.length >= this.#maxBytes) {
            this.#write("\n");
            throw new PromptError(
              "too_long",
              `Cannot read the password: it is longer than ${this.#maxBytes} bytes`,
            );
          }
          line.push(byte);
        }
        // Other control keys (Tab, Ctrl-letters) are ignored.
      }
    } finally {
      // Only a gesture in a garbage-collected language, but a cheap one.
      line.fill(0);
    }
  }

  async #next(): Promise<number | null> {
    if (this.#signal?.aborted) return null;
    if (this.#pending.length === 0) {
      // A fresh buffer per read: a read left behind by an abort may still
      // fill its own, which nobody looks at.
      const buf = new Uint8Array(256);
      const n = await this.#readOrAbort(buf);
      if (n === null || n === 0) return null;
      this.#pending.push(...buf.subarray(0, n));
      buf.fill(0);
    }
    return this.#pending.shift() ?? null;
  }

  #readOrAbort(buf: Uint8Array): Promise<number | null> {
    const signal = this.#signal;
    if (signal === undefined) return this.#source.read(buf);
    const { promise, resolve } = Promise.withResolvers<null>();
    const onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort, { once: true });
    return Promise.race([this.#source.read(buf), promise]).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  }
}

function _decode(bytes: number[]): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(
      new Uint8Array(bytes),
    );
  } catch {
    throw new PromptError(
      "not_utf8",
      "Cannot read the password: it is not valid UTF-8",
    );
  }
}

const encoder = new TextEncoder();

function _stderrWrite(text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) at += Deno.stderr.writeSync(bytes.subarray(at));
}

/**
 * Asks each of `prompts` in turn at the terminal on stdin, with echo off,
 * prompts on stderr, and returns the lines typed. The terminal's mode is
 * restored before returning or throwing. Call it only when
 * `Deno.stdin.isTerminal()`.
 *
 * @param options `signal` cancels the prompt (the role's shutdown signal:
 *   in raw mode Ctrl-C is a key, but SIGTERM still comes from outside).
 * @throws {PromptError} when the user cancels (Ctrl-C, Ctrl-D) or the
 *   signal aborts.
 * @example
 * ```ts
 * const [password, again] = await promptHidden(["Password for alice: ", "Again: "]);
 * ```
 */
export async function promptHidden(
  prompts: readonly string[],
  options: { signal?: AbortSignal } = {},
): Promise<string[]> {
  const reader = new HiddenLineReader(Deno.stdin, _stderrWrite, options);
  Deno.stdin.setRaw(true);
  try {
    const lines: string[] = [];
    for (const prompt of prompts) lines.push(await reader.readLine(prompt));
    return lines;
  } finally {
    Deno.stdin.setRaw(false);
  }
}
