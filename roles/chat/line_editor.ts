/**
 * The line being typed at the chat prompt, edited from raw key presses.
 * The terminal is in raw mode because the chat prints messages while the
 * user types: only a program that holds the typed text itself can clear
 * the line, print a message above it and draw the prompt and the text
 * again. Pure: bytes in, events and text out; the screen does the I/O.
 *
 * @module
 */

/** Longest line, in characters: keys beyond it are ignored. */
export const MAX_EDIT_LENGTH = 4096;

/** What a batch of keys did, besides editing the text. */
export type EditorEvent =
  /** Enter: a line was typed (the editor is empty again). */
  | { readonly kind: "line"; readonly text: string }
  /** Ctrl-D on an empty line. */
  | { readonly kind: "eof" }
  /** Ctrl-C. */
  | { readonly kind: "interrupt" }
  /** Ctrl-L: draw the screen again. */
  | { readonly kind: "redraw" };

const BACKSPACE = new Set(["\x7f", "\b"]);
const CTRL_C = "\x03";
const CTRL_D = "\x04";
const CTRL_L = "\x0c";
const CTRL_U = "\x15";
const CTRL_W = "\x17";
const ESC = "\x1b";

/**
 * A one-line editor over raw terminal input: printable characters (any
 * script), Backspace, Ctrl-U (clear), Ctrl-W (delete a word), Enter,
 * Ctrl-C, Ctrl-D, Ctrl-L. Escape sequences (arrow keys) are read and
 * ignored; other control keys are ignored.
 *
 * @example
 * ```ts
 * const editor = new LineEditor();
 * editor.feed(new TextEncoder().encode("hel")); // []
 * editor.text; // "hel"
 * editor.feed(new TextEncoder().encode("lo\r")); // [{ kind: "line", text: "hello" }]
 * ```
 */
export class LineEditor {
  #chars: string[] = [];
  #decoder = new TextDecoder();
  /** 0: plain keys; 1: after ESC; 2: inside a CSI/SS3 sequence. */
  #escape = 0;
  #afterCr = false;
  #maxLength: number;

  /** An empty line; `maxLength` bounds it (default {@linkcode MAX_EDIT_LENGTH}). */
  constructor(options: { maxLength?: number } = {}) {
    this.#maxLength = options.maxLength ?? MAX_EDIT_LENGTH;
  }

  /** The text typed so far. */
  get text(): string {
    return this.#chars.join("");
  }

  /**
   * Takes keys as the terminal sent them (UTF-8, possibly a character
   * split across reads) and edits the line.
   *
   * @returns What happened besides editing, in order.
   */
  feed(bytes: Uint8Array): EditorEvent[] {
    const events: EditorEvent[] = [];
    for (const key of this.#decoder.decode(bytes, { stream: true })) {
      const afterCr = this.#afterCr;
      this.#afterCr = false;
      if (this.#escape === 1) {
        this.#escape = key === "[" || key === "O" ? 2 : 0;
        continue;
      }
      if (this.#escape === 2) {
        const code = key.codePointAt(0)!;
        if (code >= 0x40 && code <= 0x7e) this.#escape = 0;
        continue;
      }
      if (key === "\r" || key === "\n") {
        // "\r\n" from a terminal that sends both is one Enter.
        if (key === "\n" && afterCr) continue;
        this.#afterCr = key === "\r";
        events.push({ kind: "line", text: this.text });
        this.#chars = [];
      } else if (BACKSPACE.has(key)) {
        this.#chars.pop();
      } else if (key === CTRL_U) {
        this.#chars = [];
      } else if (key === CTRL_W) {
        while (this.#chars.at(-1) === " ") this.#chars.pop();
        while (this.#chars.length > 0 && this.#chars.at(-1) !== " ") {
          this.#chars.pop();
        }
      } else if (key === CTRL_C) {
        events.push({ kind: "interrupt" });
      } else if (key === CTRL_D) {
        if (this.#chars.length === 0) events.push({ kind: "eof" });
      } else if (key === CTRL_L) {
        events.push({ kind: "redraw" });
      } else if (key === ESC) {
        this.#escape = 1;
      } else if (key === "\t") {
        this.#insert(" ");
      } else if (isPrintable(key)) {
        this.#insert(key);
      }
    }
    return events;
  }

  #insert(key: string): void {
    if (this.#chars.length < this.#maxLength) this.#chars.push(key);
  }
}

function isPrintable(key: string): boolean {
  const code = key.codePointAt(0)!;
  return code >= 0x20 && !(code >= 0x7f && code <= 0x9f);
}

/**
 * Columns a string takes on a terminal: East Asian wide characters and
 * most emoji take two, combining marks none. An approximation of
 * `wcwidth` good enough to know how many rows a typed line wraps onto.
 *
 * @example
 * ```ts
 * displayWidth("abc"); // 3
 * displayWidth("안녕"); // 4
 * ```
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += charWidth(char.codePointAt(0)!);
  return width;
}

const COMBINING = /\p{M}/u;

function charWidth(code: number): number {
  if (code < 0x300) return 1;
  if (COMBINING.test(String.fromCodePoint(code))) return 0;
  const wide = (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd);
  return wide ? 2 : 1;
}

/**
 * The escape codes that erase an input line drawn `width` columns wide on
 * a terminal `columns` wide, the cursor being at its end: up to the row
 * it started on, to its first column, and clear to the end of the screen.
 *
 * @example
 * ```ts
 * eraseLine(10, 80);  // "\r\x1b[J"
 * eraseLine(170, 80); // "\x1b[2A\r\x1b[J"
 * ```
 */
export function eraseLine(width: number, columns: number): string {
  const up = width > 0 && columns > 0 ? Math.floor((width - 1) / columns) : 0;
  return `${up > 0 ? `\x1b[${up}A` : ""}\r\x1b[J`;
}
