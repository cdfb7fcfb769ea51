/**
 * What the integrated client (HW5, `socklab --role client`) does on one
 * connection: log in, calculate, get an image or a video, watch the live
 * channel, list, show the counters. Each action ends in one
 * {@linkcode ActionOutcome}: the line to print, whether it succeeded, and
 * whether later actions can still succeed. The command line
 * ({@linkcode runClientCommand}) and the prompt (`interactive.ts`) share
 * these actions, so both print the same lines.
 *
 * @module
 */

import { formatOutcome } from "../calc/client.ts";
import {
  ConnectionError,
  type ConnectOptions,
  connectTlv,
  type TlvClient,
} from "../../lib/client.ts";
import { type Flags, UsageError } from "../../lib/flags.ts";
import { PromptError } from "../../lib/hidden_prompt.ts";
import { type Logger, printLine } from "../../lib/log.ts";
import { formatBytes, Progress } from "../../lib/progress.ts";
import { isFatal, RemoteError } from "../../protocol/tlv/protocol_error.ts";
import { clientOptions, type RoleContext } from "../role.ts";
import {
  downloadNamed,
  downloadVideo,
  formatSummary,
  safeFileName,
} from "../video/download.ts";
import {
  PASSWORD_ENV,
  presetPassword,
  promptPassword,
} from "./password_input.ts";
import { TerminalInput } from "./terminal_input.ts";

/** One thing the client does, in the order {@linkcode planActions} gives. */
export type ClientAction =
  | { readonly kind: "login"; readonly user: string }
  | { readonly kind: "logout" }
  | { readonly kind: "calc"; readonly expression: string }
  | {
    readonly kind: "image";
    readonly name: string;
    /** Where to save; absent: the file name the server announces. */
    readonly out?: string;
  }
  | { readonly kind: "video"; readonly name: string; readonly out: string }
  | {
    readonly kind: "live";
    readonly channel: string;
    /** A file, or "-" for stdout. */
    readonly out: string;
    readonly durationMs?: number;
  }
  | { readonly kind: "list"; readonly what: "images" | "videos" }
  | { readonly kind: "stats" };

/** What one action did. */
export interface ActionOutcome {
  readonly ok: boolean;
  /** What to print: one line, or one per entry of a listing. */
  readonly lines: readonly string[];
  /**
   * Where the lines go: stdout for results (failed calculations too, as
   * the calc client prints them), stderr as log lines otherwise.
   */
  readonly via: "stdout" | "stderr";
  /** Later actions cannot succeed (no login, no connection): stop. */
  readonly stop: boolean;
}

/** What the actions run with. */
export interface ActionContext {
  /** The connection; the prompt puts a new one here after a reconnect. */
  client: TlvClient;
  /** The last login on this connection, for a resume after a reconnect. */
  session: { readonly user: string; readonly token: string } | undefined;
  readonly log: Logger;
  /** How to log in, for `auth_required`: "add --login NAME". */
  readonly loginHint: string;
  /** The password for a login (a file, the environment, or typed). */
  readonly password: (user: string) => Promise<string>;
  /** Show download progress on stderr. */
  readonly progress: boolean;
  /** Stops a live recording early (SIGINT). */
  readonly signal?: AbortSignal | undefined;
}

/** The actions a command line asks for, and the service they need. */
export interface ActionPlan {
  readonly actions: readonly ClientAction[];
  /** `hub` when any HW5 action is used; `video` keeps HW4 commands working against a global-server. */
  readonly service: "hub" | "video";
}

/** The usage error for a command without an action and without a terminal. */
export const NO_ACTION =
  "say what to do: --login NAME, --calc EXPR, --image NAME, --video NAME, " +
  "--live, --list images|videos or --stats (several may be combined); " +
  "without any, at a terminal, the client opens its socklab> prompt";

/**
 * The actions of a command line, in the order they run: `--login`, each
 * `--calc`, `--image`, `--video`, `--live`, `--list`, `--stats`.
 *
 * @throws {UsageError} when `--out` would name two files, when `--live`
 * would write to the stdout other actions print on, or when
 * `--password-file` has no `--login` to go with.
 *
 * @example
 * ```ts
 * planActions(parseFlags(["--login", "alice", "--calc", "1+2"], specs));
 * // { actions: [{ kind: "login", user: "alice" }, { kind: "calc", expression: "1+2" }], service: "hub" }
 * ```
 */
export function planActions(flags: Flags): ActionPlan {
  const user = flags.string("login");
  const expressions = flags.list("calc");
  const image = flags.string("image");
  const video = flags.string("video");
  const live = flags.boolean("live");
  const list = flags.string("list") as "images" | "videos" | undefined;
  const out = flags.string("out");

  if (user === "") throw new UsageError("--login needs a user name");
  const writers = [
    ...(image !== undefined ? ["--image"] : []),
    ...(video !== undefined ? ["--video"] : []),
    ...(live ? ["--live"] : []),
  ];
  if (out !== undefined && writers.length > 1) {
    throw new UsageError(
      `--out is ambiguous with ${
        writers.join(" and ")
      }: give them in separate commands, or leave --out off (an image keeps the server's file name, a video is saved as NAME.mp4)`,
    );
  }
  const actions: ClientAction[] = [];
  if (user !== undefined) actions.push({ kind: "login", user });
  for (const expression of expressions) {
    actions.push({ kind: "calc", expression });
  }
  if (image !== undefined) {
    actions.push({
      kind: "image",
      name: image,
      ...(out !== undefined ? { out } : {}),
    });
  }
  if (video !== undefined) {
    actions.push({ kind: "video", name: video, out: out ?? videoFile(video) });
  }
  if (live) {
    const duration = flags.number("duration");
    actions.push({
      kind: "live",
      channel: flags.string("channel") ?? "live",
      out: out ?? "-",
      ...(duration !== undefined ? { durationMs: duration } : {}),
    });
  }
  if (list !== undefined) actions.push({ kind: "list", what: list });
  if (flags.boolean("stats")) actions.push({ kind: "stats" });

  if (live && (out ?? "-") === "-" && actions.length > 1) {
    throw new UsageError(
      "--live without --out writes the stream to stdout, where the other actions print their lines: record it with --out FILE, or watch it in a command of its own",
    );
  }
  if (flags.string("password-file") !== undefined && user === undefined) {
    throw new UsageError("--password-file goes with --login NAME");
  }
  const hub = actions.some((a) =>
    a.kind === "login" || a.kind === "calc" || a.kind === "image" ||
    (a.kind === "list" && a.what === "images")
  );
  return { actions, service: hub ? "hub" : "video" };
}

/**
 * The default file for video `name`: the name itself when it has an
 * extension, else `NAME.mp4`.
 *
 * @example
 * ```ts
 * videoFile("video_2023"); // "video_2023.mp4"
 * ```
 */
export function videoFile(name: string): string {
  return /\.[a-z0-9]+$/i.test(name) ? name : `${name}.mp4`;
}

/**
 * Connects with the command line's options, explaining a server that does
 * not offer `service` (a global-server has no `hub`).
 *
 * @throws {ConnectionError} when the server cannot be reached, or does
 * not offer the hub.
 * @throws {RemoteError} when it refuses the hello otherwise (busy, version).
 */
export async function connectFor(
  options: ConnectOptions,
): Promise<TlvClient> {
  try {
    return await connectTlv(options);
  } catch (error) {
    if (
      error instanceof RemoteError && error.codeName === "wrong_service" &&
      options.service === "hub"
    ) {
      throw new ConnectionError(
        `Cannot use ${
          options.hostname ?? "127.0.0.1"
        }:${options.port}: ${error.message} (--login, --calc, --image, --list images and the prompt need a local-server)`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Runs the actions of a command line on one connection and returns the
 * exit code: 0 when every action succeeded, 1 when one failed. A failed
 * calculation does not stop the others; a failed login, a refusal for want
 * of one, or a lost connection does, since every later action would fail
 * the same way.
 *
 * @throws {UsageError} when the password cannot be had (see
 * `password_input.ts`), before connecting.
 */
export async function runClientCommand(
  ctx: RoleContext,
  plan: ActionPlan,
): Promise<number> {
  const login = plan.actions.find((a) => a.kind === "login");
  const terminal = Deno.stdin.isTerminal();
  // A missing password is a usage error, found before connecting.
  const preset = login === undefined ? undefined : await presetPassword(
    login.user,
    {
      file: ctx.flags.string("password-file"),
      env: ctx.env.get(PASSWORD_ENV),
      terminal,
    },
  );
  const input = terminal ? new TerminalInput(Deno.stdin) : undefined;
  await using client = await connectFor(clientOptions(ctx, plan.service));
  const actx: ActionContext = {
    client,
    session: undefined,
    log: ctx.log,
    loginHint: "add --login NAME",
    password: (user) =>
      preset !== undefined
        ? Promise.resolve(preset)
        : promptPassword(input!, user, ctx.signal),
    progress: true,
    signal: ctx.signal,
  };
  return await runActions(actx, plan.actions, (o) => report(ctx.log, o));
}

/**
 * Runs `actions` in order, consecutive calculations pipelined, and reports
 * each outcome. Stops at the first outcome that says so.
 *
 * @returns 0 when every action succeeded, else 1.
 */
export async function runActions(
  ctx: ActionContext,
  actions: readonly ClientAction[],
  report: (outcome: ActionOutcome) => void,
): Promise<number> {
  let failed = false;
  for (let i = 0; i < actions.length;) {
    let pending: Promise<ActionOutcome>[];
    if (actions[i]!.kind === "calc") {
      // Sent at once, answered in order: one round trip for them all.
      pending = [];
      for (; i < actions.length && actions[i]!.kind === "calc"; i++) {
        pending.push(runAction(ctx, actions[i]!));
      }
    } else {
      pending = [runAction(ctx, actions[i++]!)];
    }
    for (const p of pending) {
      const outcome = await p;
      report(outcome);
      if (!outcome.ok) failed = true;
      if (outcome.stop) {
        // The rest are refused the same way; they are not worth reporting.
        await Promise.allSettled(pending);
        return 1;
      }
    }
  }
  return failed ? 1 : 0;
}

/**
 * Prints an outcome as the command line does: results on stdout, the rest
 * as log lines (info when it succeeded, error when not).
 */
export function report(log: Logger, outcome: ActionOutcome): void {
  for (const line of outcome.lines) {
    if (outcome.via === "stdout") printLine(line);
    else if (outcome.ok) log.info(line);
    else log.error(line);
  }
}

/** Runs one action; never throws for what the server or the network did. */
export async function runAction(
  ctx: ActionContext,
  action: ClientAction,
): Promise<ActionOutcome> {
  switch (action.kind) {
    case "login":
      return await login(ctx, action.user);
    case "logout":
      return await logout(ctx);
    case "calc":
      return await calc(ctx, action.expression);
    case "image":
      return await attempt(ctx, `Cannot get image ${action.name}`, async () => {
        const summary = await downloadNamed(
          ctx.client,
          "image_get",
          action.name,
          action.out ?? ((announced) => safeFileName(announced, action.name)),
          { progress: ctx.progress },
        );
        return done(formatSummary(summary));
      });
    case "video":
      return await attempt(ctx, `Cannot get video ${action.name}`, async () => {
        const summary = await downloadVideo(
          ctx.client,
          action.name,
          action.out,
          { progress: ctx.progress },
        );
        return done(formatSummary(summary));
      });
    case "live":
      return await attempt(
        ctx,
        `Cannot watch live channel ${action.channel}`,
        () => watchLive(ctx, action),
      );
    case "list":
      return await attempt(ctx, `Cannot list ${action.what}`, async () => {
        const reply = await ctx.client.request(
          action.what === "images" ? "image_list" : "video_list",
          {},
        );
        if (
          reply.type !== "image_list_reply" && reply.type !== "video_list_reply"
        ) {
          throw new Error(`the server answered ${reply.type}`);
        }
        const entries = reply.fields.entry ?? [];
        return {
          ok: true,
          lines: entries.length === 0
            ? [`no ${action.what}`]
            : entries.map((e) => `${e.name}  ${formatBytes(e.size)}`),
          via: "stdout",
          stop: false,
        };
      });
    case "stats":
      return await attempt(ctx, "Cannot get the counters", async () => {
        const reply = await ctx.client.request("stats_request", {});
        if (reply.type !== "stats_reply") {
          throw new Error(`the server answered ${reply.type}`);
        }
        return done(reply.fields.json);
      });
  }
}

/** A successful action's line, on stdout. */
function done(line: string): ActionOutcome {
  return { ok: true, lines: [line], via: "stdout", stop: false };
}

/** A failed action's line, on stderr. */
function failed(line: string, stop: boolean): ActionOutcome {
  return { ok: false, lines: [line], via: "stderr", stop };
}

/** Runs `work`, turning what it throws into a failed outcome. */
async function attempt(
  ctx: ActionContext,
  what: string,
  work: () => Promise<ActionOutcome>,
): Promise<ActionOutcome> {
  try {
    return await work();
  } catch (error) {
    return failure(ctx, what, error);
  }
}

/** The outcome of an error: `auth_required` and lost connections stop. */
function failure(
  ctx: ActionContext,
  what: string,
  error: unknown,
): ActionOutcome {
  if (error instanceof RemoteError && error.codeName === "auth_required") {
    return failed(`the server requires a login: ${ctx.loginHint}`, true);
  }
  return failed(`${what}: ${describe(error)}`, connectionLost(error));
}

/** Whether the connection cannot carry another request after `error`. */
function connectionLost(error: unknown): boolean {
  return error instanceof ConnectionError ||
    (error instanceof RemoteError && error.codeName !== undefined &&
      isFatal(error.codeName));
}

/** A one-line reason, with file errors in words. */
function describe(error: unknown): string {
  if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    return "permission denied (the client writes files under the current directory only)";
  }
  if (error instanceof Deno.errors.NotFound) {
    return "the directory to save in does not exist";
  }
  return error instanceof Error ? error.message : String(error);
}

async function login(ctx: ActionContext, user: string): Promise<ActionOutcome> {
  let password: string;
  try {
    password = await ctx.password(user);
  } catch (error) {
    if (error instanceof PromptError) {
      return failed(
        error.code === "cancelled" ? "login cancelled" : error.message,
        true,
      );
    }
    throw error;
  }
  try {
    const reply = await ctx.client.request("login", { user, password });
    if (reply.type !== "login_ok") {
      return failed(`login failed: the server answered ${reply.type}`, true);
    }
    ctx.session = { user: reply.fields.user, token: reply.fields.token };
    return done(
      `logged in as ${reply.fields.user} (session ${
        formatTtl(reply.fields.ttl)
      })`,
    );
  } catch (error) {
    if (error instanceof RemoteError) {
      switch (error.codeName) {
        case "bad_credentials":
          return failed("login failed: wrong user name or password", true);
        case "locked_out":
          // The server's message says for how long.
          return failed(`login failed: ${error.message}`, true);
        case "unexpected_message":
          // A server without users: nothing will be refused for want of a login.
          return failed(`login failed: ${error.message}`, false);
      }
    }
    return failed(`login failed: ${describe(error)}`, true);
  }
}

async function logout(ctx: ActionContext): Promise<ActionOutcome> {
  try {
    await ctx.client.request("logout", {});
    const user = ctx.session?.user;
    ctx.session = undefined;
    return done(user === undefined ? "logged out" : `logged out ${user}`);
  } catch (error) {
    return failed(`logout failed: ${describe(error)}`, connectionLost(error));
  }
}

async function calc(
  ctx: ActionContext,
  expression: string,
): Promise<ActionOutcome> {
  try {
    const reply = await ctx.client.request("calc_request", { expression });
    if (reply.type !== "calc_result") {
      throw new Error(`unexpected ${reply.type} from server`);
    }
    return done(
      formatOutcome({ expression, ok: true, text: reply.fields.text }),
    );
  } catch (error) {
    if (
      (error instanceof RemoteError && error.codeName === "auth_required") ||
      connectionLost(error)
    ) {
      return failure(ctx, `Cannot calculate ${expression}`, error);
    }
    // Like calc-client: a wrong expression is a result, on stdout.
    return {
      ok: false,
      lines: [formatOutcome({ expression, ok: false, error: describe(error) })],
      via: "stdout",
      stop: false,
    };
  }
}

/**
 * A session lifetime in words.
 *
 * @example
 * ```ts
 * formatTtl(3600); // "60 min"
 * formatTtl(45); // "45 s"
 * ```
 */
export function formatTtl(seconds: number): string {
  return seconds >= 60 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
}

/**
 * Records (or, to "-", pipes) a live channel until it ends, `durationMs`
 * has passed, or `ctx.signal` aborts. Its summary is a log line on stderr,
 * as stdout may be the stream itself.
 */
async function watchLive(
  ctx: ActionContext,
  action: Extract<ClientAction, { kind: "live" }>,
): Promise<ActionOutcome> {
  const { channel, out, durationMs } = action;
  const deadline = durationMs === undefined
    ? undefined
    : performance.now() + durationMs;
  const file = out === "-"
    ? undefined
    : await Deno.open(out, { write: true, create: true, truncate: true });
  const sink = file ?? Deno.stdout;
  const stream = ctx.client.stream("live_subscribe", { name: channel }, {
    highWaterMark: 64,
  });
  let bytes = 0;
  let reason = "stopped";
  const progress = out === "-" ? undefined : new Progress({
    label: `live ${channel}`,
  });
  // A live channel has no end of its own: a timer or SIGINT stops it even
  // while no frame comes.
  let stoppedBy: "time" | "signal" | undefined;
  const stop = (by: "time" | "signal") => {
    stoppedBy ??= by;
    stream.return();
  };
  const timer = durationMs === undefined
    ? undefined
    : setTimeout(() => stop("time"), durationMs);
  const onSignal = () => stop("signal");
  ctx.signal?.addEventListener("abort", onSignal, { once: true });
  try {
    for await (const frame of stream) {
      if (frame.type === "live_data") {
        let at = 0;
        while (at < frame.fields.data.length) {
          at += await sink.write(frame.fields.data.subarray(at));
        }
        bytes += frame.fields.data.length;
        progress?.update(bytes);
      } else if (frame.type === "live_end") {
        reason = frame.fields.message ?? "the channel ended";
      }
      if (deadline !== undefined && performance.now() >= deadline) {
        stop("time");
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener("abort", onSignal);
    await stream[Symbol.asyncDispose]();
    file?.close();
    progress?.done();
  }
  if (stoppedBy === "time") {
    reason = `stopped after ${(durationMs! / 1000).toFixed(1)} s`;
  } else if (stoppedBy === "signal") {
    reason = "interrupted";
  }
  const line = `live ${channel}: ${formatBytes(bytes)} ${
    out === "-" ? "to stdout" : `to ${out}`
  }; ${reason}`;
  return { ok: bytes > 0, lines: [line], via: "stderr", stop: false };
}
