/**
 * The integrated client's prompt (HW5): `socklab --role client --port N`
 * at a terminal with no action flags connects to the hub service and reads
 * commands (`login alice`, `calc 1+2`, `image campus`, `list images`…) until
 * `quit` or Ctrl-D. Each command prints the same line as its flag does;
 * an error prints one line and the prompt comes back. When the server
 * closes the connection (its idle timeout), the next command reconnects and
 * resumes the session with its token.
 *
 * @module
 */

import type { TlvClient } from "../../lib/client.ts";
import { parseDuration } from "../../lib/flags.ts";
import { printLine } from "../../lib/log.ts";
import { RemoteError } from "../../protocol/tlv/protocol_error.ts";
import { clientOptions, type RoleContext } from "../role.ts";
import {
  type ActionContext,
  type ActionOutcome,
  type ClientAction,
  connectFor,
  runAction,
  videoFile,
} from "./client_actions.ts";
import {
  PASSWORD_ENV,
  presetPassword,
  promptPassword,
} from "./password_input.ts";
import { LineTooLongError, TerminalInput } from "./terminal_input.ts";

/** The prompt shown before each command. */
export const PROMPT = "socklab> ";

/** How long `live` records at the prompt when no SECONDS are given. */
export const DEFAULT_LIVE_SECONDS = 10;

/** The `help` text. */
export const HELP: readonly string[] = [
  "commands:",
  "  login NAME             log in (password from --password-file, SOCKLAB_PASSWORD, or typed unseen)",
  "  logout                 end the session",
  "  calc EXPR              evaluate an expression, e.g. calc 2*(3+4)",
  "  image NAME [FILE]      save an image (default: the server's file name, e.g. campus.png)",
  "  video NAME [FILE]      save a video (default NAME.mp4)",
  `  live [SECONDS] [FILE]  record the live channel (default ${DEFAULT_LIVE_SECONDS} s into CHANNEL.ts)`,
  "  list images|videos     what the server has",
  "  stats                  the server's counters (JSON)",
  "  help                   this list",
  "  quit, exit, Ctrl-D     leave",
];

/** A line typed at the prompt, understood. */
export type PromptCommand =
  | { readonly kind: "none" }
  | { readonly kind: "help" }
  | { readonly kind: "quit" }
  | { readonly kind: "action"; readonly action: ClientAction }
  | { readonly kind: "invalid"; readonly message: string };

/**
 * Parses one line typed at the prompt. Words are split on spaces, except
 * that `calc` takes the rest of the line as its expression.
 *
 * @param line The line, without its newline.
 * @param options `channel`: the live channel `live` records.
 *
 * @example
 * ```ts
 * parseCommand("calc 2 * (3 + 4)");
 * // { kind: "action", action: { kind: "calc", expression: "2 * (3 + 4)" } }
 * parseCommand("fly"); // { kind: "invalid", message: 'unknown command "fly": type help' }
 * ```
 */
export function parseCommand(
  line: string,
  options: { channel?: string } = {},
): PromptCommand {
  const text = line.trim();
  if (text === "" || text.startsWith("#")) return { kind: "none" };
  const [word = "", ...args] = text.split(/\s+/);
  const command = word.toLowerCase();
  const action = (a: ClientAction): PromptCommand => ({
    kind: "action",
    action: a,
  });
  const usage = (form: string): PromptCommand => ({
    kind: "invalid",
    message: `usage: ${form}`,
  });
  switch (command) {
    case "help":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
      return { kind: "quit" };
    case "login":
      return args.length === 1
        ? action({ kind: "login", user: args[0]! })
        : usage("login NAME");
    case "logout":
      return args.length === 0 ? action({ kind: "logout" }) : usage("logout");
    case "calc": {
      const expression = text.slice(word.length).trim();
      return expression === ""
        ? usage("calc EXPR")
        : action({ kind: "calc", expression });
    }
    case "image": {
      const [name, out, ...rest] = args;
      if (name === undefined || rest.length > 0) {
        return usage("image NAME [FILE]");
      }
      return action({
        kind: "image",
        name,
        ...(out !== undefined ? { out } : {}),
      });
    }
    case "video": {
      const [name, out, ...rest] = args;
      if (name === undefined || rest.length > 0) {
        return usage("video NAME [FILE]");
      }
      return action({ kind: "video", name, out: out ?? videoFile(name) });
    }
    case "live": {
      const channel = options.channel ?? "live";
      let rest = args;
      let durationMs = DEFAULT_LIVE_SECONDS * 1000;
      const seconds = rest[0] === undefined
        ? undefined
        : parseDuration(rest[0]);
      if (seconds !== undefined) {
        durationMs = seconds;
        rest = rest.slice(1);
      }
      const [out = `${channel}.ts`, ...extra] = rest;
      if (extra.length > 0 || durationMs <= 0) {
        return usage("live [SECONDS] [FILE]");
      }
      if (out === "-") {
        return {
          kind: "invalid",
          message:
            "live at the prompt records to a file (the stream would garble the terminal): give a FILE, or use --live --out - outside the prompt",
        };
      }
      return action({ kind: "live", channel, out, durationMs });
    }
    case "list": {
      const [what = "videos", ...rest] = args;
      if ((what !== "images" && what !== "videos") || rest.length > 0) {
        return usage("list images|videos");
      }
      return action({ kind: "list", what });
    }
    case "stats":
      return args.length === 0 ? action({ kind: "stats" }) : usage("stats");
    default:
      return {
        kind: "invalid",
        message: `unknown command "${word}": type help`,
      };
  }
}

const encoder = new TextEncoder();

/**
 * Runs the prompt until `quit`, `exit`, Ctrl-D or SIGINT, on one hub
 * connection (reopened when the server closes it).
 *
 * @returns The exit code: 0.
 * @throws {UsageError} when a `--password-file` cannot be read.
 * @throws {ConnectionError} when the first connection cannot be made.
 */
export async function runInteractive(ctx: RoleContext): Promise<number> {
  const options = clientOptions(ctx, "hub");
  const address = `${options.hostname ?? "127.0.0.1"}:${options.port}`;
  const input = new TerminalInput(Deno.stdin);
  const file = ctx.flags.string("password-file");
  const env = ctx.env.get(PASSWORD_ENV);
  // Read once, up front: a bad --password-file is a usage error at start.
  const preset = file !== undefined || env !== undefined
    ? await presetPassword("NAME", { file, env, terminal: true })
    : undefined;
  const actx: ActionContext = {
    client: await connectFor(options),
    session: undefined,
    log: ctx.log,
    loginHint: "type login NAME",
    password: (user) =>
      preset !== undefined
        ? Promise.resolve(preset)
        : promptPassword(input, user, ctx.signal),
    progress: true,
    signal: ctx.signal,
  };
  try {
    printLine(`connected to ${address} (hub service); type help`);
    for (;;) {
      Deno.stdout.writeSync(encoder.encode(PROMPT));
      let line: string | null;
      try {
        line = await untilAborted(input.readLine(), ctx.signal);
      } catch (error) {
        if (!(error instanceof LineTooLongError)) throw error;
        ctx.log.error(error.message);
        continue;
      }
      if (line === null) {
        // Ctrl-D (or SIGINT) leaves the cursor after the prompt.
        printLine("");
        break;
      }
      const command = parseCommand(line, {
        channel: ctx.flags.string("channel") ?? "live",
      });
      if (command.kind === "quit") break;
      if (command.kind === "none") continue;
      if (command.kind === "help") {
        for (const l of HELP) printLine(l);
        continue;
      }
      if (command.kind === "invalid") {
        ctx.log.error(command.message);
        continue;
      }
      if (!(await reconnectIfClosed(ctx, actx, options, address))) continue;
      show(ctx, await runAction(actx, command.action));
    }
  } finally {
    await actx.client.close();
  }
  return 0;
}

/** At the prompt every success and every result goes to stdout. */
function show(ctx: RoleContext, outcome: ActionOutcome): void {
  for (const line of outcome.lines) {
    if (outcome.ok || outcome.via === "stdout") printLine(line);
    else ctx.log.error(line);
  }
}

/**
 * Opens a new connection when the server has closed the last one (idle
 * timeout, restart) and resumes the session on it with its token.
 *
 * @returns Whether there is a connection to use.
 */
async function reconnectIfClosed(
  ctx: RoleContext,
  actx: ActionContext,
  options: Parameters<typeof connectFor>[0],
  address: string,
): Promise<boolean> {
  if (!actx.client.fc.closed) return true;
  await actx.client.close();
  let client: TlvClient;
  try {
    client = await connectFor(options);
  } catch (error) {
    ctx.log.error(
      `Cannot reconnect to ${address}: ${(error as Error).message}`,
    );
    return false;
  }
  actx.client = client;
  const session = actx.session;
  if (session === undefined) {
    printLine(`reconnected to ${address}`);
    return true;
  }
  try {
    await client.request("resume", { token: session.token });
    printLine(`reconnected to ${address}; session of ${session.user} resumed`);
  } catch (error) {
    actx.session = undefined;
    const why = error instanceof RemoteError ? error.message : String(error);
    printLine(
      `reconnected to ${address}; the session of ${session.user} could not be resumed (${why}): type login NAME`,
    );
  }
  return true;
}

/** `promise`, or `null` once `signal` aborts (the read is left behind). */
function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T | null> {
  if (signal.aborted) return Promise.resolve(null);
  const { promise: aborted, resolve } = Promise.withResolvers<null>();
  const onAbort = () => resolve(null);
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([promise, aborted]).finally(() =>
    signal.removeEventListener("abort", onAbort)
  );
}
