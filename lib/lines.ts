/**
 * Line input for clients: files, piped stdin and an interactive prompt, each
 * line bounded so a stream without newlines cannot grow memory forever.
 *
 * @module
 */

import { UsageError } from "./flags.ts";

/** Longest line accepted, in characters. */
export const MAX_LINE = 1024 * 1024;

const encoder = new TextEncoder();

/**
 * Splits a byte stream into lines (`\n` or `\r\n`), without the newline.
 * Throws when a line is longer than `maxLine` characters.
 *
 * @example
 * ```ts
 * for await (const line of readLines(Deno.stdin.readable)) console.log(line);
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxLine = MAX_LINE,
): AsyncGenerator<string> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let at: number;
    while ((at = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, at).replace(/\r$/, "");
      pending = pending.slice(at + 1);
    }
    if (pending.length > maxLine) {
      throw new UsageError(
        `Cannot read input: a line is longer than ${maxLine} characters`,
      );
    }
  }
  if (pending.length > 0) yield pending.replace(/\r$/, "");
}

/**
 * Lines typed at a prompt when stdin is a terminal, else lines of stdin.
 * The prompt goes to stdout before each line; the generator ends at EOF.
 */
export async function* promptLines(prompt: string): AsyncGenerator<string> {
  const tty = Deno.stdin.isTerminal();
  const show = () => {
    if (tty) Deno.stdout.writeSync(encoder.encode(prompt));
  };
  show();
  for await (const line of readLines(Deno.stdin.readable)) {
    yield line;
    show();
  }
  if (tty) Deno.stdout.writeSync(encoder.encode("\n"));
}

/**
 * Reads a text file's lines, skipping blank lines and `#` comments, with a
 * one-line error that names the file when it cannot be read.
 */
export async function readListFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`Cannot read ${path}: no such file`);
    }
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      throw new UsageError(`Cannot read ${path}: permission denied`);
    }
    throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
}
