/**
 * Input typed at a terminal: command lines (bounded, as every reader here
 * is) and secrets read with the echo off (by `lib/hidden_prompt.ts`). Both
 * come from one buffer over stdin, so a password typed after `login alice`
 * is never swallowed by a line reader that read ahead, and keys typed
 * after the password's Enter are kept for the next command.
 *
 * @module
 */

import { HiddenLineReader, type KeySource } from "../../lib/hidden_prompt.ts";
import { MAX_LINE } from "../../lib/lines.ts";

/** What {@linkcode TerminalInput} reads from: `Deno.stdin` or a test double. */
export interface TerminalSource {
  /** Reads some bytes; `null` at end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Raw mode: no echo, no line editing, every key as it is typed. */
  setRaw(mode: boolean): void;
}

/** A line longer than the reader's limit. */
export class LineTooLongError extends Error {
  /** The limit, in bytes. */
  readonly maxLine: number;

  /** Creates the error. */
  constructor(maxLine: number) {
    super(`Cannot read input: a line is longer than ${maxLine} bytes`);
    this.name = "LineTooLongError";
    this.maxLine = maxLine;
  }
}

/** Options for {@linkcode TerminalInput}. */
export interface TerminalInputOptions {
  /** Longest line accepted, in bytes. Default {@linkcode MAX_LINE}. */
  maxLine?: number;
  /** Where prompts and the newline after a secret go. Default stderr. */
  write?: (text: string) => void;
}

const ENTER_CR = 0x0d;
const ENTER_LF = 0x0a;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Lines and secrets from a terminal.
 *
 * @example
 * ```ts
 * const input = new TerminalInput(Deno.stdin);
 * const line = await input.readLine(); // "login alice"
 * const password = await input.readSecret("Password for alice: ");
 * ```
 */
export class TerminalInput {
  #source: TerminalSource;
  #maxLine: number;
  #write: (text: string) => void;
  /** Bytes read from the source and not yet taken. */
  #held: Uint8Array = new Uint8Array(0);
  #ended = false;

  /** Reads from `source` (stdin by default). */
  constructor(
    source: TerminalSource = Deno.stdin,
    options: TerminalInputOptions = {},
  ) {
    this.#source = source;
    this.#maxLine = options.maxLine ?? MAX_LINE;
    this.#write = options.write ??
      ((text) => Deno.stderr.writeSync(encoder.encode(text)));
  }

  /**
   * The next line without its `\n` or `\r\n`; `null` at the end of input.
   *
   * @throws {LineTooLongError} when no newline comes within `maxLine` bytes.
   */
  async readLine(): Promise<string | null> {
    let searched = 0;
    for (;;) {
      const at = this.#held.indexOf(ENTER_LF, searched);
      if (at >= 0) {
        const line = this.#take(at + 1).subarray(0, at);
        return decoder.decode(line).replace(/\r$/, "");
      }
      searched = this.#held.length;
      if (this.#held.length > this.#maxLine) {
        this.#held = new Uint8Array(0);
        throw new LineTooLongError(this.#maxLine);
      }
      if (!(await this.#fill())) {
        if (this.#held.length === 0) return null;
        return decoder.decode(this.#take(this.#held.length)).replace(
          /\r$/,
          "",
        );
      }
    }
  }

  /**
   * Shows `prompt` and reads a secret with the echo off, up to Enter, with
   * the keys {@linkcode HiddenLineReader} knows (backspace, Ctrl-U, Ctrl-C
   * and Ctrl-D cancel). The terminal's mode is restored whatever happens.
   *
   * @param options `signal` cancels the read (SIGTERM from outside).
   * @throws {PromptError} when cancelled, too long or not UTF-8.
   */
  async readSecret(
    prompt: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    let last: number | undefined;
    // One key per read: the hidden reader then holds nothing back, and what
    // was typed after Enter stays here for readLine().
    const keys: KeySource = {
      read: async (buffer) => {
        const byte = await this.#nextByte();
        if (byte === undefined) return null;
        buffer[0] = last = byte;
        return 1;
      },
    };
    const reader = new HiddenLineReader(keys, this.#write, options);
    this.#source.setRaw(true);
    try {
      return await reader.readLine(prompt);
    } finally {
      this.#source.setRaw(false);
      // A terminal that sends CR LF: the LF is part of the same Enter.
      if (last === ENTER_CR && this.#held[0] === ENTER_LF) this.#take(1);
    }
  }

  /** Takes the first `n` held bytes. */
  #take(n: number): Uint8Array {
    const taken = this.#held.subarray(0, n);
    this.#held = this.#held.subarray(n);
    return taken;
  }

  /** The next byte, reading when none is held; `undefined` at the end. */
  async #nextByte(): Promise<number | undefined> {
    if (this.#held.length === 0 && !(await this.#fill())) return undefined;
    return this.#take(1)[0];
  }

  /** Reads once more into the held bytes; false at the end of input. */
  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    const buffer = new Uint8Array(4096);
    const n = await this.#source.read(buffer);
    if (n === null) {
      this.#ended = true;
      return false;
    }
    const held = new Uint8Array(this.#held.length + n);
    held.set(this.#held);
    held.set(buffer.subarray(0, n), this.#held.length);
    this.#held = held;
    return true;
  }
}
