/**
 * What a chat user types: `/join ROOM`, `/msg NICK text`, … or plain text
 * for the current room.
 *
 * @module
 */

/** The `/help` text. */
export const CHAT_HELP: readonly string[] = [
  "commands:",
  "  /join ROOM        join (or create) ROOM and make it the current room",
  "  /leave [ROOM]     leave ROOM (default: the current room)",
  "  /nick NAME        change your nickname",
  "  /msg NICK TEXT    send TEXT to NICK only",
  "  /who [ROOM]       who is in ROOM (default: the current room)",
  "  /rooms            rooms and how many are in each",
  "  /quit             leave (also Ctrl-D)",
  "  TEXT              say TEXT in the current room (//TEXT says /TEXT)",
];

/** One line typed, understood. */
export type ChatCommand =
  | { readonly kind: "none" }
  | { readonly kind: "help" }
  | { readonly kind: "quit" }
  | { readonly kind: "say"; readonly text: string }
  | { readonly kind: "join"; readonly room: string }
  | { readonly kind: "leave"; readonly room?: string }
  | { readonly kind: "nick"; readonly nick: string }
  | { readonly kind: "msg"; readonly to: string; readonly text: string }
  | { readonly kind: "who"; readonly room?: string }
  | { readonly kind: "rooms" }
  | { readonly kind: "invalid"; readonly message: string };

/**
 * Parses one line. Text that does not start with `/` is said as it is
 * (spaces kept); `//` says a line that starts with `/`.
 *
 * @example
 * ```ts
 * parseChatLine("/msg bob see you"); // { kind: "msg", to: "bob", text: "see you" }
 * parseChatLine("hello there");      // { kind: "say", text: "hello there" }
 * parseChatLine("/dance");           // { kind: "invalid", message: 'unknown command "/dance": type /help' }
 * ```
 */
export function parseChatLine(line: string): ChatCommand {
  if (line.trim() === "") return { kind: "none" };
  if (line.startsWith("//")) return { kind: "say", text: line.slice(1) };
  if (!line.startsWith("/")) return { kind: "say", text: line };
  const body = line.slice(1).trim();
  const [word = "", ...args] = body.split(/\s+/);
  const usage = (form: string): ChatCommand => ({
    kind: "invalid",
    message: `usage: ${form}`,
  });
  switch (word.toLowerCase()) {
    case "help":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
      return { kind: "quit" };
    case "join":
      return args.length === 1
        ? { kind: "join", room: args[0]! }
        : usage("/join ROOM");
    case "leave":
    case "part":
      if (args.length > 1) return usage("/leave [ROOM]");
      return args[0] === undefined
        ? { kind: "leave" }
        : { kind: "leave", room: args[0] };
    case "nick":
      return args.length === 1
        ? { kind: "nick", nick: args[0]! }
        : usage("/nick NAME");
    case "msg": {
      const to = args[0];
      // The text keeps its own spacing: everything after the nickname.
      const text = to === undefined
        ? ""
        : body.slice(word.length).trimStart().slice(to.length).trimStart();
      return to !== undefined && text !== ""
        ? { kind: "msg", to, text }
        : usage("/msg NICK TEXT");
    }
    case "who":
      if (args.length > 1) return usage("/who [ROOM]");
      return args[0] === undefined
        ? { kind: "who" }
        : { kind: "who", room: args[0] };
    case "rooms":
    case "list":
      return args.length === 0 ? { kind: "rooms" } : usage("/rooms");
    default:
      return {
        kind: "invalid",
        message: `unknown command "/${word}": type /help`,
      };
  }
}
