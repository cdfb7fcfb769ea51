/**
 * Where the chat client shows things and reads lines: a terminal, where
 * messages appear above a prompt while the user types, or plain pipes for
 * scripts, where chat lines go to stdout and everything else to stderr.
 *
 * @module
 */

import { readLines } from "../../lib/lines.ts";
import type { TerminalSource } from "../hub/terminal_input.ts";
import type { Logger } from "../../lib/log.ts";
import { printLine } from "../../lib/log.ts";
import { displayWidth, eraseLine, LineEditor } from "./line_editor.ts";

/** What the chat client talks to. */
export interface ChatScreen {
  /** Whether a person is typing (a terminal). */
  readonly interactive: boolean;
  /** A chat line: a message or a notice. */
  show(line: string): void;
  /** What the client itself says: joined, nickname taken, counts. */
  status(line: string): void;
  /** A command that failed. */
  error(line: string): void;
  /** Sets the prompt (drawn on a terminal only). */
  setPrompt(prompt: string): void;
  /** The next line typed or piped; `null` at the end of input. */
  readLine(): Promise<string | null>;
  /** Gives the terminal back as it was. */
  close(): void;
}

/** Options for {@linkcode TerminalScreen}. */
export interface TerminalScreenOptions {
  /** Writes to the terminal. Default: stdout. */
  write?: (text: string) => void;
  /** The terminal's width in columns. Default: `Deno.consoleSize()`. */
  columns?: () => number;
}

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) at += Deno.stdout.writeSync(bytes.subarray(at));
}

function consoleColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}

/**
 * A chat screen on a terminal in raw mode. A line printed while the user
 * types erases the prompt and the typed text, prints, and draws them again
 * below it, so what is being typed is never garbled.
 *
 * @example
 * ```ts
 * const screen = new TerminalScreen(Deno.stdin);
 * screen.setPrompt("[lobby] alice> ");
 * screen.show("[lobby] bob: hi"); // appears above the prompt
 * const line = await screen.readLine();
 * screen.close();
 * ```
 */
export class TerminalScreen implements ChatScreen {
  readonly interactive = true;
  #input: TerminalSource;
  #write: (text: string) => void;
  #columns: () => number;
  #editor = new LineEditor();
  #prompt = "> ";
  /** Width of what is drawn on the input line(s) now; 0 when erased. */
  #drawn = 0;
  #lines: (string | null)[] = [];
  #waiter: ((line: string | null) => void) | undefined;
  #ended = false;
  #closed = false;

  /** Puts the terminal in raw mode and starts reading keys. */
  constructor(input: TerminalSource, options: TerminalScreenOptions = {}) {
    this.#input = input;
    this.#write = options.write ?? writeStdout;
    this.#columns = options.columns ?? consoleColumns;
    this.#input.setRaw(true);
    this.#draw();
    this.#pump();
  }

  show(line: string): void {
    this.#above(line);
  }

  status(line: string): void {
    this.#above(`* ${line}`);
  }

  error(line: string): void {
    this.#above(`! ${line}`);
  }

  setPrompt(prompt: string): void {
    if (prompt === this.#prompt) return;
    this.#prompt = prompt;
    this.#erase();
    this.#draw();
  }

  readLine(): Promise<string | null> {
    if (this.#lines.length > 0) return Promise.resolve(this.#lines.shift()!);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#erase();
    this.#input.setRaw(false);
    this.#end();
  }

  /** Prints `line` above the prompt and the text being typed. */
  #above(line: string): void {
    if (this.#closed) {
      this.#write(`${line}\n`);
      return;
    }
    this.#erase();
    // Raw mode leaves "\n" alone: the carriage return is ours to send.
    this.#write(`${line}\r\n`);
    this.#draw();
  }

  #erase(): void {
    if (this.#closed) return;
    this.#write(eraseLine(this.#drawn, this.#columns()));
    this.#drawn = 0;
  }

  #draw(): void {
    if (this.#closed) return;
    const text = this.#prompt + this.#editor.text;
    this.#write(text);
    this.#drawn = displayWidth(text);
  }

  #deliver(line: string | null): void {
    if (this.#waiter !== undefined) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter(line);
    } else this.#lines.push(line);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#deliver(null);
  }

  async #pump(): Promise<void> {
    const buffer = new Uint8Array(4096);
    try {
      while (!this.#closed) {
        const n = await this.#input.read(buffer);
        if (n === null || this.#closed) break;
        // One redraw per read: a paste of many keys is drawn once. A typed
        // line leaves the screen; what it does appears above the prompt.
        this.#erase();
        for (const event of this.#editor.feed(buffer.subarray(0, n))) {
          if (event.kind === "line") this.#deliver(event.text);
          else if (event.kind === "redraw") this.#write("\x1b[H\x1b[2J");
          else {
            this.#draw();
            this.#end();
            return;
          }
        }
        this.#draw();
      }
    } catch {
      // The terminal went away: as if the input ended.
    }
    this.#end();
  }
}

/**
 * A chat screen for scripts: lines from piped stdin, chat lines on stdout
 * exactly as `[room] nick: text`, status and errors logged on stderr.
 */
export class PlainScreen implements ChatScreen {
  readonly interactive = false;
  #log: Logger;
  #lines: AsyncGenerator<string>;

  /** Reads `input` (stdin by default) line by line. */
  constructor(
    log: Logger,
    input: ReadableStream<Uint8Array> = Deno.stdin.readable,
  ) {
    this.#log = log;
    this.#lines = readLines(input);
  }

  show(line: string): void {
    printLine(line);
  }

  status(line: string): void {
    this.#log.info(line);
  }

  error(line: string): void {
    this.#log.error(line);
  }

  setPrompt(): void {}

  async readLine(): Promise<string | null> {
    const next = await this.#lines.next();
    return next.done ? null : next.value;
  }

  close(): void {}
}
