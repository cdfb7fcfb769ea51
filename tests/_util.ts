/**
 * Test helpers: run `main.ts` exactly as a user (or the compiled binary)
 * would, and wait for its ready line instead of sleeping; plus the small
 * temp-dir, directory-listing and port helpers several test files share.
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
    / listening on (?:tcp|udp|tls|http|https):\/\/\S+:(\d+)(?: |$)/,
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

/** A temporary directory that removes itself, contents and all, on dispose. */
export interface TempDir extends AsyncDisposable {
  /** Absolute path of the directory. */
  readonly path: string;
}

/**
 * Makes a temporary directory, in `options.dir` (created first if missing)
 * or else the system's temp dir, named with `options.prefix`.
 *
 * @example
 * ```ts
 * await using tmp = await tempDir({ prefix: "socklab_" });
 * await Deno.writeTextFile(`${tmp.path}/a.txt`, "a");
 * ```
 */
export async function tempDir(
  options: Deno.MakeTempOptions = {},
): Promise<TempDir> {
  if (options.dir !== undefined) {
    await Deno.mkdir(options.dir, { recursive: true });
  }
  const path = await Deno.makeTempDir(options);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/** The names of the entries in the directory `path`, sorted. */
export async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

/** A loopback port on which nothing listens (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * Runs `deno run SCRIPT ARGS…` to completion with the project's deno.json,
 * under the compiled binary's one grant (`-P=binary`), from the project root
 * with no stdin, and returns its exit code and output. `options.env` is added
 * to the inherited environment.
 */
export async function runScript(
  script: string,
  args: readonly string[],
  options: { env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      "-P=binary",
      script,
      ...args,
    ],
    cwd: ROOT,
    stdin: "null",
    env: options.env ?? {},
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
