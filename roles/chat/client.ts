/**
 * `socklab --role chat-client`: the day-5 chat client. At a terminal it is
 * a prompt where messages appear above the line being typed; from a
 * script it reads lines from stdin, prints what arrives as
 * `[room] nick: text`, and exits at the end of its input after a drain.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import { clientOptions, type Role } from "../role.ts";
import { ChatClient } from "./chat_client.ts";
import { CHAT_HELP, parseChatLine } from "./commands.ts";
import { connectChat } from "./link.ts";
import { checkName, type NameKind } from "./names.ts";
import { type ChatScreen, PlainScreen, TerminalScreen } from "./screen.ts";

/** How long a script's client listens after its input ends, by default. */
export const DEFAULT_DRAIN_MS = 500;

/** The chat-client role. */
export const chatClientRole: Role = {
  name: "chat-client",
  summary: "day 5: chat at a terminal prompt, or from a script's stdin " +
    "(TCP, or UDP with --udp)",
  kind: "client",
  files: "none",
  flags: [
    {
      name: "nick",
      type: "string",
      doc: "nickname (asked at a terminal when not given)",
      value: "NAME",
    },
    {
      name: "room",
      type: "string",
      doc: "room to join at start",
      value: "ROOM",
    },
    {
      name: "udp",
      type: "boolean",
      doc: "talk to a chat-server --udp; /quit shows what was lost and " +
        "reordered",
    },
    {
      name: "wait",
      type: "duration",
      doc: "with piped input: how long to listen after it ends",
      default: `${DEFAULT_DRAIN_MS}ms`,
    },
  ],
  details: () => CHAT_HELP.join("\n"),
  examples: [
    "socklab --role chat-client --port 6000 --nick alice --room lobby",
    "socklab --role chat-client --udp --port 6000 --nick alice --room lobby",
    "printf 'hello\\n/msg bob hi\\n' | socklab --role chat-client --port 6000 --nick carol --room lobby",
    "socklab --role chat-client --port 6000 --nick dave --room lobby --wait 1m < /dev/null   # listen for a minute",
  ],
  async run(ctx) {
    const { flags } = ctx;
    const options = clientOptions(ctx, "chat");
    const udp = flags.boolean("udp");
    if (udp && options.tls) {
      throw new UsageError("TLS is for TCP: leave out --udp or the TLS flags");
    }
    const interactive = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
    const nick = usableName(flags.string("nick"), {
      kind: "nickname",
      flag: "--nick",
    });
    const room = usableName(flags.string("room"), {
      kind: "room name",
      flag: "--room",
    });
    if (nick === undefined && !interactive) {
      throw new UsageError(
        "--nick is required when stdin is not a terminal",
      );
    }
    const link = await connectChat(options, { udp });
    const screen: ChatScreen = interactive
      ? new TerminalScreen(Deno.stdin)
      : new PlainScreen(ctx.log);
    const client = new ChatClient(link, screen);
    if (interactive) {
      screen.status(
        `connected to ${options.hostname ?? "127.0.0.1"}:${options.port}${
          udp ? " over UDP" : ""
        }; type /help`,
      );
    }
    // Whatever ends the session first: the server, or SIGINT/SIGTERM.
    const stopped = Promise.race([
      link.lost.then((reason) => `connection closed: ${reason}`),
      aborted(ctx.signal),
    ]);
    const untilStopped = <T>(p: Promise<T>) =>
      Promise.race([p, stopped.then(() => undefined)]);
    let stop: string | undefined;
    stopped.then((why) => (stop = why));
    try {
      if (!(await untilStopped(start(client, screen, { nick, room })))) {
        return stop === undefined ? 1 : fail(screen, stop);
      }
      screen.setPrompt(client.prompt);
      let ended = false;
      for (;;) {
        const line = await untilStopped(screen.readLine());
        if (stop !== undefined || line === undefined) break;
        if (line === null) {
          ended = true;
          break;
        }
        const command = parseChatLine(line);
        if (command.kind === "quit") break;
        await untilStopped(client.execute(command));
        screen.setPrompt(client.prompt);
      }
      if (ended && !screen.interactive && stop === undefined) {
        // What others say in reply to the last lines still gets printed.
        await untilStopped(
          sleep(flags.number("wait") ?? DEFAULT_DRAIN_MS, ctx.signal),
        );
      }
      if (stop !== undefined && !ctx.signal.aborted) return fail(screen, stop);
      if (udp) {
        const t = client.totals();
        screen.status(
          `over UDP: ${t.received} messages received, ${t.lost} lost, ${t.reordered} reordered`,
        );
      }
      return !screen.interactive && client.failures > 0 ? 1 : 0;
    } finally {
      screen.close();
      await link.close();
    }
  },
};

/** Takes the nickname (asking at a terminal until one is free) and joins the room. */
async function start(
  client: ChatClient,
  screen: ChatScreen,
  { nick, room }: { nick: string | undefined; room: string | undefined },
): Promise<boolean> {
  let taken = nick !== undefined && await client.setNick(nick);
  while (!taken) {
    if (!screen.interactive) return false;
    screen.setPrompt("nickname: ");
    const typed = await screen.readLine();
    if (typed === null) return false;
    if (typed.trim() !== "") taken = await client.setNick(typed.trim());
  }
  if (room === undefined) return true;
  return await client.execute({ kind: "join", room }) || screen.interactive;
}

/** `name` checked as the server would, a bad one being a usage error. */
function usableName(
  name: string | undefined,
  { kind, flag }: { kind: NameKind; flag: string },
): string | undefined {
  if (name === undefined) return undefined;
  try {
    return checkName(name, kind);
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new UsageError(`${flag}: ${error.message}`);
    }
    throw error;
  }
}

function fail(screen: ChatScreen, why: string): number {
  screen.error(why);
  return 1;
}

function aborted(signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve("stopped");
    else {signal.addEventListener("abort", () => resolve("stopped"), {
        once: true,
      });}
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
