/**
 * Test helpers: run `main.ts` exactly as a user (or the compiled binary)
 * would, and wait for its ready line instead of sleeping.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";

/** The project root (where deno.json is). */
export const ROOT: string = fromFileUrl(new URL("../", import.meta.url));
/** Path of main.ts. */
export const MAIN: string = fromFileUrl(new URL("../main.ts", import.meta.url));

/** How a spawned role is granted permissions. */
export type Grant =
  /** `-P=<role name>`: the role's own permission set from deno.json. */
  | "role"
  /** `-P=binary`: the one grant the compiled binary embeds. */
  | "binary"
  /** `-P=<name>`: any named set. */
  | { set: string };

/** Options for {@linkcode spawnRole}. */
export interface SpawnOptions {
  grant?: Grant;
  cwd?: string;
  stdin?: "piped" | "null";
  env?: Record<string, string>;
}

/** The `deno run` arguments for a role under a grant. */
export function denoArgs(
  role: string,
  args: readonly string[],
  grant: Grant = "role",
): string[] {
  const set = grant === "role"
    ? role
    : grant === "binary"
    ? "binary"
    : grant.set;
  return [
    "run",
    "--quiet",
    `--config=${ROOT}deno.json`,
    `-P=${set}`,
    MAIN,
    "--role",
    role,
    ...args,
  ];
}

/** A running role process. */
export interface RoleProcess extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Lines read from stderr so far (ready line included). */
  readonly stderr: string[];
  /** Resolves to all stdout text once the process has exited. */
  readonly stdout: Promise<string>;
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Waits for a stderr line matching `pattern` (bounded by `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Writes to stdin and closes it. */
  input(text: string): Promise<void>;
}

/**
 * Starts `main.ts --role ROLE ARGS…` as a subprocess.
 *
 * @example
 * ```ts
 * await using server = spawnRole("calc-server", ["--port", "0"]);
 * const port = await readyPort(server);
 * ```
 */
export function spawnRole(
  role: string,
  args: readonly string[],
  options: SpawnOptions = {},
): RoleProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs(role, args, options.grant),
    cwd: options.cwd ?? ROOT,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).spawn();
  const stderr: string[] = [];
  const listeners = new Set<() => void>();
  const stderrDone = (async () => {
    for await (
      const line of child.stderr.pipeThrough(new TextDecoderStream())
        .pipeThrough(splitLines())
    ) {
      stderr.push(line);
      for (const l of listeners) l();
    }
    for (const l of listeners) l();
  })();
  let exited = false;
  const stdout = new Response(child.stdout).text();
  const status = child.status.then(async (s) => {
    exited = true;
    await stderrDone;
    for (const l of listeners) l();
    return s;
  });
  return {
    child,
    stderr,
    stdout,
    status,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of stderr) {
            const m = line.match(pattern);
            if (m) {
              done();
              resolve(m);
              return;
            }
          }
          if (exited) {
            done();
            reject(
              new Error(
                `${role} exited before printing ${pattern}; stderr:\n${
                  stderr.join("\n")
                }`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `${role} did not print ${pattern} within ${timeoutMs} ms; stderr:\n${
                stderr.join("\n")
              }`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async input(text) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(text));
      await writer.close();
    },
    async [Symbol.asyncDispose]() {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await status;
      await stdout;
    },
  };
}

/** Waits for the ready line and returns the port it names. */
export async function readyPort(proc: RoleProcess): Promise<number> {
  const m = await proc.waitFor(
    / listening on (?:tcp|udp|tls):\/\/[^ ]+:(\d+)$/,
  );
  return Number(m[1]);
}

/**
 * Runs a role to completion and returns its exit code and output.
 */
export async function runRole(
  role: string,
  args: readonly string[],
  options: SpawnOptions & { input?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdin = options.input !== undefined ? "piped" : "null";
  await using proc = spawnRole(role, args, { ...options, stdin });
  if (options.input !== undefined) await proc.input(options.input);
  const status = await proc.status;
  return {
    code: status.code,
    stdout: await proc.stdout,
    stderr: proc.stderr.join("\n"),
  };
}

function splitLines(): TransformStream<string, string> {
  let pending = "";
  return new TransformStream({
    transform(chunk, controller) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) controller.enqueue(line);
    },
    flush(controller) {
      if (pending) controller.enqueue(pending);
    },
  });
}
