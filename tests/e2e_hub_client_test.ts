/**
 * HW5 end to end: the integrated `client` against a `local-server` (with
 * and without `--users`) and a `global-server`, all run from `main.ts` as
 * subprocesses under their own permission sets, as a user runs them. Covers
 * the login gate (refusal, wrong and right passwords from the environment
 * and from a file), several actions on one connection with the saved files
 * checked against the originals, listings, a server without users, the
 * HW4 commands against a global-server, and the `socklab>` prompt through
 * a real terminal (`script`), the password typed without echo.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileDigest } from "../lib/bulk.ts";
import {
  denoArgs,
  type Grant,
  listDir,
  readyPort,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  tempDir,
} from "./_util.ts";

const USERS = "testdata/hub/users.txt";
const IMAGES = join(ROOT, "testdata", "images");
const VIDEOS = join(ROOT, "testdata", "video");

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(path: string): Promise<string> {
  return hex(await fileDigest(path));
}

/** A temp dir inside `.tmp/`, where the client's set may read and write. */
function e2eDir() {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix: "e2e_hub_client_" });
}

/** Starts a server role and waits for its ready line. */
async function startServer(
  role: "global-server" | "local-server",
  args: readonly string[],
  grant: Grant = "role",
): Promise<{ proc: RoleProcess; port: number }> {
  const proc = spawnRole(role, ["--port", "0", ...args], { grant });
  try {
    return { proc, port: await readyPort(proc) };
  } catch (error) {
    await proc[Symbol.asyncDispose]();
    throw error;
  }
}

/** SIGTERM, then the exit: 0. */
async function stop(proc: RoleProcess, what: string): Promise<void> {
  proc.child.kill("SIGTERM");
  const status = await proc.status;
  assert.equal(status.code, 0, `${what}: ${proc.stderr.join("\n")}`);
}

/** The client's ERROR lines; a one-line error has exactly one, no stack. */
function errorLines(stderr: string): string[] {
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  return stderr.split("\n").filter((l) => l.startsWith("ERROR"));
}

/** The image files of testdata/images, as `--list images` names them. */
async function imageNames(): Promise<string[]> {
  return (await listDir(IMAGES)).filter((n) =>
    /^[^.].*\.(png|jpe?g|gif|webp|bmp|svg)$/i.test(n)
  );
}

/** The names of a listing printed as `NAME  SIZE` lines. */
function listed(stdout: string): string[] {
  return stdout.trim().split("\n").map((l) => l.split("  ")[0]!).sort();
}

Deno.test("client against a local-server with users: refused without a login, wrong and right passwords", async () => {
  await using tmp = await e2eDir();
  const origin = await startServer("global-server", []);
  await using _origin = origin.proc;
  const local = await startServer("local-server", [
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--users",
    USERS,
  ]);
  await using _local = local.proc;
  const port = ["--port", String(local.port)];

  // No login: the first action is refused, with what to do, and nothing else runs.
  const refused = await runRole("client", [...port, "--calc", "1+2"]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stdout, "");
  assert.deepEqual(errorLines(refused.stderr), [
    "ERROR client: the server requires a login: add --login NAME",
  ]);

  // A wrong password from the environment: the login fails, later actions do not run.
  const wrong = await runRole(
    "client",
    [...port, "--login", "alice", "--calc", "1+2"],
    { env: { SOCKLAB_PASSWORD: "not-wonderland" } },
  );
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.equal(wrong.stdout, "");
  assert.deepEqual(errorLines(wrong.stderr), [
    "ERROR client: login failed: wrong user name or password",
  ]);

  // The right one: logged in, then every calculation, a failed one included.
  const right = await runRole(
    "client",
    [
      ...port,
      "--login",
      "alice",
      "--calc",
      "1+2",
      "--calc",
      "1/0",
      "--calc",
      "2^10",
      "--trace",
    ],
    { env: { SOCKLAB_PASSWORD: "wonderland" } },
  );
  assert.equal(right.code, 1, "a failed calculation fails the command");
  assert.equal(
    right.stdout,
    [
      "logged in as alice (session 60 min)",
      "1+2 = 3",
      "1/0 = error: division by zero at column 2",
      "2^10 = 1024",
    ].join("\n") + "\n",
  );
  assert.match(right.stderr, /→ \S+ login id=\d+ user="alice"/);
  assert.doesNotMatch(
    right.stderr,
    /wonderland/,
    "the password is never shown",
  );

  // From a file: its first line, CR LF stripped; bob lists both kinds.
  const pw = join(tmp.path, "bob.pw");
  await Deno.writeTextFile(pw, "builder\r\nsecond line is ignored\n");
  const bob = await runRole("client", [
    ...port,
    "--login",
    "bob",
    "--password-file",
    pw,
    "--list",
    "images",
  ]);
  assert.equal(bob.code, 0, bob.stderr);
  const [greeting, ...images] = bob.stdout.trim().split("\n");
  assert.equal(greeting, "logged in as bob (session 60 min)");
  assert.deepEqual(listed(images.join("\n")), await imageNames());
  const videos = await runRole("client", [
    ...port,
    "--login",
    "bob",
    "--password-file",
    pw,
    "--list",
    "videos",
  ]);
  assert.equal(videos.code, 0, videos.stderr);
  const videoLines = videos.stdout.trim().split("\n").slice(1).join("\n");
  assert.ok(listed(videoLines).includes("video_2023"), videos.stdout);
  assert.ok(listed(videoLines).includes("video_2022"), videos.stdout);

  // A password file with a wrong password fails like the environment's.
  await Deno.writeTextFile(pw, "bricklayer\n");
  const wrongFile = await runRole("client", [
    ...port,
    "--login",
    "bob",
    "--password-file",
    pw,
    "--stats",
  ]);
  assert.equal(wrongFile.code, 1, wrongFile.stderr);
  assert.match(wrongFile.stderr, /login failed: wrong user name or password/);

  // No usable password: usage errors (exit 2) before anything is sent.
  const empty = join(tmp.path, "empty.pw");
  await Deno.writeTextFile(empty, "\nwonderland\n");
  const cases: [string[], RegExp][] = [
    [
      ["--password-file", empty],
      /Cannot use --password-file \S+empty\.pw: its first line is empty/,
    ],
    [
      ["--password-file", join(tmp.path, "missing.pw")],
      /Cannot read --password-file \S+missing\.pw: no such file/,
    ],
    [
      [],
      /--login alice needs a password: give --password-file FILE, set SOCKLAB_PASSWORD, or run at a terminal/,
    ],
  ];
  for (const [extra, message] of cases) {
    const run = await runRole("client", [
      ...port,
      "--login",
      "alice",
      ...extra,
      "--calc",
      "1",
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(errorLines(run.stderr).length, 1, run.stderr);
    assert.match(run.stderr, message);
  }

  await stop(local.proc, "local-server");
  await stop(origin.proc, "global-server");
});

Deno.test("one client command logs in, calculates twice and saves an image and a video that match the originals", async () => {
  await using tmp = await e2eDir();
  const origin = await startServer("global-server", []);
  await using _origin = origin.proc;
  // Its own cache dir (under the binary's grant): the default one belongs
  // to the HW4 test that checks what is in it.
  const local = await startServer("local-server", [
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--users",
    USERS,
    "--cache-dir",
    join(tmp.path, "cache"),
  ], "binary");
  await using _local = local.proc;
  const work = join(tmp.path, "work");
  await Deno.mkdir(work);
  await Deno.writeTextFile(join(work, "alice.pw"), "wonderland\n");

  const run = await runRole("client", [
    "--port",
    String(local.port),
    "--login",
    "alice",
    "--password-file",
    "alice.pw",
    "--calc",
    "2*(3+4)",
    "--calc",
    "sqrt(16)",
    "--image",
    "campus",
    "--video",
    "video_2023",
  ], { cwd: work });
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split("\n");
  assert.equal(lines.length, 5, run.stdout);
  assert.equal(lines[0], "logged in as alice (session 60 min)");
  assert.equal(lines[1], "2*(3+4) = 14");
  assert.equal(lines[2], "sqrt(16) = 4");
  // The image keeps the file name the server announces.
  assert.match(lines[3]!, /^campus\.png: .* digest verified$/);
  assert.match(
    lines[4]!,
    /^video_2023\.mp4: .* from the origin, digest verified$/,
  );
  assert.equal(errorLines(run.stderr).length, 0, run.stderr);
  assert.deepEqual(await listDir(work), [
    "alice.pw",
    "campus.png",
    "video_2023.mp4",
  ]);
  assert.equal(
    await sha256(join(work, "campus.png")),
    await sha256(join(IMAGES, "campus.png")),
  );
  assert.equal(
    await sha256(join(work, "video_2023.mp4")),
    await sha256(join(VIDEOS, "video_2023.mp4")),
  );

  // --out names one file: with an image and a video it is a usage error.
  const ambiguous = await runRole("client", [
    "--port",
    String(local.port),
    "--image",
    "campus",
    "--video",
    "video_2023",
    "--out",
    "x",
  ], { cwd: work });
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /--out is ambiguous with --image and --video/);

  await stop(local.proc, "local-server");
  await stop(origin.proc, "global-server");
});

Deno.test("client against a local-server without users needs no login and explains --login; HW4 commands still reach a global-server", async () => {
  const origin = await startServer("global-server", []);
  await using _origin = origin.proc;
  const local = await startServer("local-server", [
    "--upstream",
    `127.0.0.1:${origin.port}`,
  ]);
  await using _local = local.proc;
  const port = ["--port", String(local.port)];

  const open = await runRole("client", [
    ...port,
    "--calc",
    "1+2",
    "--list",
    "images",
  ]);
  assert.equal(open.code, 0, open.stderr);
  const [answer, ...images] = open.stdout.trim().split("\n");
  assert.equal(answer, "1+2 = 3");
  assert.deepEqual(listed(images.join("\n")), await imageNames());

  // --login is answered with why it is not needed; the rest still runs.
  const login = await runRole(
    "client",
    [...port, "--login", "alice", "--calc", "1+2"],
    { env: { SOCKLAB_PASSWORD: "wonderland" } },
  );
  assert.equal(login.code, 1, login.stderr);
  assert.deepEqual(errorLines(login.stderr), [
    "ERROR client: login failed: this server has no users (it was started without --users): login is not needed, every service is open",
  ]);
  assert.equal(login.stdout, "1+2 = 3\n");

  // The HW4 commands use the video service, which the global-server has too.
  const hw4 = await runRole("client", [
    "--port",
    String(origin.port),
    "--list",
    "videos",
  ]);
  assert.equal(hw4.code, 0, hw4.stderr);
  assert.ok(listed(hw4.stdout).includes("video_2023"), hw4.stdout);
  // HW5 actions need the hub, which only a local-server offers.
  const hub = await runRole("client", [
    "--port",
    String(origin.port),
    "--calc",
    "1+2",
  ]);
  assert.equal(hub.code, 1);
  assert.match(
    hub.stderr,
    /this server offers .*; the client asked for "hub" \(.* need a local-server\)/,
  );

  await stop(local.proc, "local-server");
  await stop(origin.proc, "global-server");
});

/**
 * A role run in a real terminal by `script`: type after the screen shows
 * what is expected, as a person would (a password typed before the echo is
 * off would be echoed).
 */
class Terminal implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #screen = "";
  #seen = 0;
  #changed: (() => void) | undefined;
  #reading: Promise<void>;
  #exited: Promise<number> | undefined;

  constructor(role: string, args: readonly string[]) {
    const command = [Deno.execPath(), ...denoArgs(role, args)]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(" ");
    const child = new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        this.#screen += decoder.decode(chunk, { stream: true })
          .replaceAll("\r", "");
        this.#changed?.();
      }
      this.#changed?.();
    })();
  }

  /** Everything shown so far. */
  get screen(): string {
    return this.#screen;
  }

  /** Waits until the output after the last match matches `pattern`. */
  async expect(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.#screen.slice(this.#seen));
      if (m) {
        this.#seen += m.index + m[0].length;
        return;
      }
      if (performance.now() >= deadline) {
        throw new Error(`no ${pattern} on the screen:\n${this.#screen}`);
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#changed = resolve;
      const timer = setTimeout(resolve, 200);
      await promise;
      clearTimeout(timer);
    }
  }

  /** Types `text`. */
  async type(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Closes the keyboard and waits for the exit code. */
  exit(): Promise<number> {
    this.#exited ??= (async () => {
      await this.#writer.close().catch(() => {});
      const status = await this.#child.status;
      await this.#reading;
      await this.#child.stderr.cancel();
      return status.code;
    })();
    return this.#exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.exit();
  }
}

Deno.test("client at a terminal opens the socklab> prompt: help, login with the password unseen, calc, list images, quit", async () => {
  const origin = await startServer("global-server", []);
  await using _origin = origin.proc;
  const local = await startServer("local-server", [
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--users",
    USERS,
  ]);
  await using _local = local.proc;

  await using term = new Terminal("client", ["--port", String(local.port)]);
  await term.expect(
    new RegExp(
      `connected to 127\\.0\\.0\\.1:${local.port} \\(hub service\\); type help\\nsocklab> $`,
    ),
  );
  await term.type("help\n");
  await term.expect(/calc EXPR .*\n(.*\n)*socklab> $/);
  await term.type("calc 1+2\n");
  await term.expect(
    /the server requires a login: type login NAME\nsocklab> $/,
  );
  await term.type("login alice\n");
  await term.expect(/Password for alice: $/);
  await term.type("wonderland\r");
  await term.expect(/\nlogged in as alice \(session 60 min\)\nsocklab> $/);
  await term.type("calc 2*(3+4)\n");
  await term.expect(/\n2\*\(3\+4\) = 14\nsocklab> $/);
  await term.type("list images\n");
  await term.expect(/\ncampus\.png {2}\S+ kB\n(.*\n)*socklab> $/);
  await term.type("nonsense\n");
  await term.expect(/unknown command "nonsense": type help\nsocklab> $/);
  await term.type("quit\n");
  const code = await term.exit();
  assert.equal(code, 0, term.screen);
  assert.doesNotMatch(term.screen, /wonderland/, "the password is not echoed");
  for (const name of await imageNames()) {
    assert.match(
      term.screen,
      new RegExp(`^${name.replace(".", "\\.")}  `, "m"),
    );
  }

  await stop(local.proc, "local-server");
  await stop(origin.proc, "global-server");
});

Deno.test("client against a local-server with users: five wrong passwords lock the user out, with the time left", async () => {
  const origin = await startServer("global-server", []);
  await using _origin = origin.proc;
  const local = await startServer("local-server", [
    "--upstream",
    `127.0.0.1:${origin.port}`,
    "--users",
    USERS,
  ]);
  await using _local = local.proc;
  const login = (password: string) =>
    runRole(
      "client",
      ["--port", String(local.port), "--login", "bob", "--calc", "1+1"],
      { env: { SOCKLAB_PASSWORD: password } },
    );
  for (let i = 0; i < 5; i++) {
    const wrong = await login(`guess-${i}`);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.deepEqual(errorLines(wrong.stderr), [
      "ERROR client: login failed: wrong user name or password",
    ]);
  }
  // Now even the right password is refused, and the error says for how long.
  const locked = await login("builder");
  assert.equal(locked.code, 1, locked.stderr);
  const [line] = errorLines(locked.stderr);
  assert.match(
    line ?? "",
    /too many failed logins for "bob"; try again in 5 min/,
  );
  assert.equal(locked.stdout, "");
  // Another user is not locked by bob's failures... from this address it
  // has 5 of 20 failures, so alice still logs in.
  const alice = await runRole(
    "client",
    ["--port", String(local.port), "--login", "alice", "--calc", "6*7"],
    { env: { SOCKLAB_PASSWORD: "wonderland" } },
  );
  assert.equal(alice.code, 0, alice.stderr);
  assert.match(alice.stdout, /6\*7 = 42/);
});
