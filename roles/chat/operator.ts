/**
 * The chat server's own console: the operator types `/say ROOM text`,
 * `/notice text`, `/kick NICK`, `/rooms` or `/who ROOM` on the server's
 * stdin, and takes part as `@server`.
 *
 * @module
 */

import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { ChatCore } from "./core.ts";

/** What the operator can type. */
export const OPERATOR_HELP: readonly string[] = [
  "operator commands:",
  "  /say ROOM TEXT     say TEXT in ROOM as @server",
  "  /notice TEXT       tell every client",
  "  /kick NICK [WHY]   disconnect a client",
  "  /rooms             rooms and how many are in each",
  "  /who ROOM          who is in ROOM",
  "  /help              this list",
];

/** One operator line, understood. */
export type OperatorCommand =
  | { readonly kind: "none" }
  | { readonly kind: "help" }
  | { readonly kind: "say"; readonly room: string; readonly text: string }
  | { readonly kind: "notice"; readonly text: string }
  | { readonly kind: "kick"; readonly nick: string; readonly why?: string }
  | { readonly kind: "rooms" }
  | { readonly kind: "who"; readonly room: string }
  | { readonly kind: "invalid"; readonly message: string };

/**
 * Parses one line of the operator's console.
 *
 * @example
 * ```ts
 * parseOperatorLine("/say lobby back in 5"); // { kind: "say", room: "lobby", text: "back in 5" }
 * parseOperatorLine("/kick bob spam"); // { kind: "kick", nick: "bob", why: "spam" }
 * ```
 */
export function parseOperatorLine(line: string): OperatorCommand {
  const text = line.trim();
  if (text === "") return { kind: "none" };
  if (!text.startsWith("/")) {
    return {
      kind: "invalid",
      message: "the console takes commands: /say ROOM TEXT (or /help)",
    };
  }
  const [word = "", first, ...rest] = text.slice(1).split(/\s+/);
  const restText = () =>
    text.slice(1 + word.length).trim().slice((first ?? "").length).trim();
  const usage = (form: string): OperatorCommand => ({
    kind: "invalid",
    message: `usage: ${form}`,
  });
  switch (word.toLowerCase()) {
    case "help":
      return { kind: "help" };
    case "say":
      return first !== undefined && rest.length > 0
        ? { kind: "say", room: first, text: restText() }
        : usage("/say ROOM TEXT");
    case "notice": {
      const all = text.slice(1 + word.length).trim();
      return all === "" ? usage("/notice TEXT") : { kind: "notice", text: all };
    }
    case "kick":
      if (first === undefined) return usage("/kick NICK [WHY]");
      return rest.length > 0
        ? { kind: "kick", nick: first, why: restText() }
        : { kind: "kick", nick: first };
    case "rooms":
      return first === undefined ? { kind: "rooms" } : usage("/rooms");
    case "who":
      return first !== undefined && rest.length === 0
        ? { kind: "who", room: first }
        : usage("/who ROOM");
    default:
      return {
        kind: "invalid",
        message: `unknown command "/${word}": type /help`,
      };
  }
}

/**
 * Carries out an operator command on `core`.
 *
 * @returns The lines to show the operator.
 */
export function runOperatorCommand(
  core: ChatCore,
  command: OperatorCommand,
): string[] {
  try {
    switch (command.kind) {
      case "none":
        return [];
      case "help":
        return [...OPERATOR_HELP];
      case "invalid":
        return [command.message];
      case "say": {
        const sent = core.operatorSay(command.room, command.text);
        return [`[${sent.room}] @server: ${sent.text}`];
      }
      case "notice": {
        const count = core.announce(command.text);
        return [`notice sent to ${count} clients`];
      }
      case "kick": {
        const reason = command.why === undefined
          ? "kicked by the operator"
          : `kicked by the operator: ${command.why}`;
        const nick = core.kick(command.nick, reason);
        return [
          nick === undefined
            ? `no one is called ${command.nick}`
            : `kicked ${nick}`,
        ];
      }
      case "rooms": {
        const rooms = core.rooms();
        if (rooms.length === 0) return ["no rooms"];
        return rooms.map((r) => `${r.room} (${r.count})`);
      }
      case "who": {
        const { room, nicks } = core.who(command.room);
        return [`${room}: ${nicks.join(" ")}`];
      }
    }
  } catch (error) {
    if (error instanceof ProtocolError) return [error.message];
    throw error;
  }
}

/**
 * Reads operator lines until they end, printing each command's result.
 *
 * @example
 * ```ts
 * await operatorConsole(core, { lines: readLines(Deno.stdin.readable), print: printLine });
 * ```
 */
export async function operatorConsole(
  core: ChatCore,
  { lines, print }: {
    lines: AsyncIterable<string>;
    print: (line: string) => void;
  },
): Promise<void> {
  for await (const line of lines) {
    for (const out of runOperatorCommand(core, parseOperatorLine(line))) {
      print(out);
    }
  }
}
