/**
 * How the chat client shows what the server pushes: one plain line each,
 * `[room] nick: text`, with anything that could drive the terminal taken
 * out first (a message is text from strangers).
 *
 * @module
 */

import type { Message } from "../../protocol/tlv/registry.ts";

/**
 * Control characters (C0, DEL, C1) and the bidirectional overrides that
 * can make a line read differently from what it holds.
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character shown as `�` (tabs and line breaks
 * as a space), so an escape sequence in a message cannot move the cursor,
 * clear the screen or retitle the terminal.
 *
 * @example
 * ```ts
 * safeText("hi\x1b[2Jthere"); // "hi�[2Jthere"
 * ```
 */
export function safeText(text: string): string {
  return text.replace(
    UNSAFE,
    (c) => c === "\t" || c === "\n" || c === "\r" ? " " : "\ufffd",
  );
}

/**
 * The line for a pushed chat_message or chat_notice, or `undefined` for
 * anything else.
 *
 * @example
 * ```ts
 * formatPush({ type: "chat_message", fields: { room: "lobby", from: "bob", text: "hi", seq: 1, time: 0 } });
 * // "[lobby] bob: hi"
 * formatPush({ type: "chat_notice", fields: { room: "lobby", text: "carol joined", time: 0 } });
 * // "[lobby] * carol joined"
 * ```
 */
export function formatPush(message: Message): string | undefined {
  if (message.type === "chat_message") {
    const { room, to, from, text } = message.fields;
    if (room !== undefined) {
      return `[${safeText(room)}] ${safeText(from)}: ${safeText(text)}`;
    }
    return formatPrivate({ from, to: to ?? "", text });
  }
  if (message.type === "chat_notice") {
    const { room, text } = message.fields;
    return room !== undefined
      ? `[${safeText(room)}] * ${safeText(text)}`
      : `* ${safeText(text)}`;
  }
  return undefined;
}

/**
 * The line for a private message, sent or received.
 *
 * @example
 * ```ts
 * formatPrivate({ from: "alice", to: "bob", text: "psst" }); // "[private] alice -> bob: psst"
 * ```
 */
export function formatPrivate(
  { from, to, text }: { from: string; to: string; text: string },
): string {
  return `[private] ${safeText(from)} -> ${safeText(to)}: ${safeText(text)}`;
}
