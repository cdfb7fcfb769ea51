/**
 * The `passwd` role end to end: `main.ts --role passwd` run as a user would,
 * under its own permission set and under the compiled binary's grant,
 * changing a copy of `testdata/hub/users.txt`; and once at a real terminal
 * (through `script`), where the password must not be echoed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseUsers, verifyPassword } from "../roles/hub/users.ts";
import {
  denoArgs,
  type Grant,
  listDir,
  ROOT,
  runRole,
  type TempDir,
  tempDir,
} from "./_util.ts";

const TEST_USERS = join(ROOT, "testdata", "hub", "users.txt");
const FAST = ["--iterations", "1000"];

/** A temp dir inside the project (the passwd set may write only there). */
function projectTempDir(): Promise<TempDir> {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix: "e2e_passwd_" });
}

/** A copy of the test users file (alice, bob) in `dir`. */
async function copyUsers(dir: string): Promise<string> {
  const path = join(dir, "users.txt");
  await Deno.copyFile(TEST_USERS, path);
  return path;
}

/** Parses the file at `path` and checks `password` for `name`. */
async function verifies(
  path: string,
  name: string,
  password: string,
): Promise<boolean> {
  const record = parseUsers(await Deno.readTextFile(path), path).get(name);
  return record !== undefined && await verifyPassword(record, password);
}

/** Asserts one line on stderr matching `pattern`, and nothing on stdout. */
function assertOneLineError(
  result: { stdout: string; stderr: string },
  pattern: RegExp,
): void {
  const lines = result.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
  assert.equal(result.stdout, "");
}

for (const grant of ["role", "binary"] as const satisfies Grant[]) {
  const under = grant === "role" ? "-P=passwd" : "-P=binary";

  Deno.test(`passwd (${under}) adds, changes and removes a user from piped stdin, leaving the other users untouched`, async () => {
    await using tmp = await projectTempDir();
    const path = await copyUsers(tmp.path);
    const original = await Deno.readTextFile(path);

    const added = await runRole(
      "passwd",
      ["--users", path, ...FAST, "carol"],
      { grant, input: "first-pw\n" },
    );
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, `added user carol to ${path}\n`);
    assert.equal(added.stderr, "");
    const afterAdd = await Deno.readTextFile(path);
    assert.ok(afterAdd.startsWith(original), "earlier lines kept verbatim");
    assert.match(afterAdd.slice(original.length), /^carol:pbkdf2-sha256:1000:/);
    assert.equal(await verifies(path, "carol", "first-pw"), true);

    // Only the first line of stdin is the password; no trimming of spaces.
    const changed = await runRole(
      "passwd",
      ["--users", path, ...FAST, "carol"],
      { grant, input: " second pw \nignored\n" },
    );
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(
      changed.stdout,
      `changed the password of carol in ${path}\n`,
    );
    assert.equal(await verifies(path, "carol", " second pw "), true);
    assert.equal(await verifies(path, "carol", "first-pw"), false);
    assert.equal(await verifies(path, "alice", "wonderland"), true);
    assert.equal(await verifies(path, "bob", "builder"), true);

    const removed = await runRole(
      "passwd",
      ["--users", path, "--delete", "carol"],
      { grant },
    );
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, `removed user carol from ${path}\n`);
    assert.equal(await Deno.readTextFile(path), original);
    assert.deepEqual(await listDir(tmp.path), ["users.txt"], "no temp files");
  });

  Deno.test(`passwd (${under}) creates a missing users file with mode 0600`, async () => {
    await using tmp = await projectTempDir();
    const path = join(tmp.path, "new-users.txt");
    const { code, stdout, stderr } = await runRole(
      "passwd",
      ["--users", path, ...FAST, "alice"],
      { grant, input: "wonderland\n" },
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, `added user alice to ${path}\n`);
    assert.deepEqual([...parseUsers(await Deno.readTextFile(path)).keys()], [
      "alice",
    ]);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    }
  });
}

Deno.test("passwd usage errors exit 2 with one line and change nothing", async () => {
  await using tmp = await projectTempDir();
  const path = await copyUsers(tmp.path);
  const original = await Deno.readTextFile(path);
  const cases: [string[], RegExp][] = [
    [["alice"], /--users is required/],
    [["--users", path], /give the user's NAME: socklab --role passwd --users /],
    [["--users", path, ".alice"], /bad user name "\.alice": use 1 to 64/],
    [["--users", path, "a:b"], /bad user name "a:b"/],
    [["--users", path, "x".repeat(65)], /bad user name/],
    [["--users", path, "alice", "bob"], /give one user NAME, not 2/],
    [
      ["--users", path, "--iterations", "999", "alice"],
      /--iterations must be a whole number from 1000 to 10000000, not 999/,
    ],
    [
      ["--users", path, "--iterations", "lots", "alice"],
      /--iterations needs a number/,
    ],
    [["--users", path, "--bogus", "alice"], /unknown flag --bogus/],
  ];
  const results = await Promise.all(
    cases.map(([args]) => runRole("passwd", args, { input: "pw\n" })),
  );
  for (const [i, result] of results.entries()) {
    const [args, pattern] = cases[i]!;
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assertOneLineError(result, pattern);
  }
  assert.equal(await Deno.readTextFile(path), original);
  assert.deepEqual(await listDir(tmp.path), ["users.txt"]);
});

Deno.test("passwd runtime errors exit 1 with one line and change nothing", async () => {
  await using tmp = await projectTempDir();
  const path = await copyUsers(tmp.path);
  const original = await Deno.readTextFile(path);
  const broken = join(tmp.path, "broken.txt");
  await Deno.writeTextFile(
    broken,
    "# users\nalice:pbkdf2-sha256:10:AA==:AA==\n",
  );
  const missing = join(tmp.path, "missing.txt");
  const [unknown, noFile, empty, noInput, bad] = await Promise.all([
    runRole("passwd", ["--users", path, "--delete", "carol"]),
    runRole("passwd", ["--users", missing, "--delete", "carol"]),
    runRole("passwd", ["--users", path, ...FAST, "carol"], { input: "\n" }),
    runRole("passwd", ["--users", path, ...FAST, "carol"]),
    runRole("passwd", ["--users", broken, ...FAST, "carol"], { input: "pw\n" }),
  ]);
  const expected: [typeof unknown, RegExp][] = [
    [
      unknown,
      /Cannot remove user carol: there is no such user in .*users\.txt$/,
    ],
    [noFile, /Cannot remove user carol: no users file .*missing\.txt$/],
    [empty, /Cannot use an empty password; nothing changed$/],
    [
      noInput,
      /no password on stdin: pipe it as one line, or run at a terminal/,
    ],
    [bad, /.*broken\.txt:2: the iteration count of alice must be/],
  ];
  for (const [result, pattern] of expected) {
    assert.equal(result.code, 1, result.stderr);
    assertOneLineError(result, new RegExp(`^ERROR socklab: ${pattern.source}`));
  }
  assert.equal(await Deno.readTextFile(path), original);
  assert.deepEqual(await listDir(tmp.path), ["broken.txt", "users.txt"]);
});

Deno.test("passwd under its permission set cannot write a users file outside the project", async () => {
  await using outside = await tempDir({ prefix: "socklab_passwd_" });
  assert.ok(!outside.path.startsWith(ROOT));
  const path = join(outside.path, "users.txt");
  const result = await runRole(
    "passwd",
    ["--users", path, ...FAST, "alice"],
    { input: "wonderland\n" },
  );
  assert.equal(result.code, 1, result.stderr);
  assertOneLineError(
    result,
    /Cannot read users file .*users\.txt: permission denied$/,
  );
  assert.deepEqual(await listDir(outside.path), []);
});

/** Reads a child's stdout as text, letting a test wait for a string in it. */
function screenOf(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const waiters = new Set<() => void>();
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const w of waiters) w();
    }
    for (const w of waiters) w();
  })();
  let ended = false;
  done.then(() => (ended = true));
  return {
    get text() {
      return text;
    },
    done,
    /** Resolves once `needle` has appeared after `from`. */
    waitFor(needle: string, from = 0, timeoutMs = 20_000): Promise<number> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${JSON.stringify(needle)} in:\n${text}`));
        }, timeoutMs);
        const check = () => {
          const at = text.indexOf(needle, from);
          if (at >= 0 || ended) {
            clearTimeout(timer);
            waiters.delete(check);
            if (at >= 0) resolve(at + needle.length);
            else reject(new Error(`ended without ${needle}:\n${text}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Quotes `args` for `sh -c`. */
function shellQuote(args: readonly string[]): string {
  return args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
}

/**
 * Runs the shell `command` at a pseudo-terminal (`script`, util-linux), with
 * a way to type into it and to wait for what it shows.
 */
function atTerminal(command: string) {
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const screen = screenOf(child.stdout);
  const writer = child.stdin.getWriter();
  return {
    screen,
    type: (text: string) => writer.write(new TextEncoder().encode(text)),
    /** Closes stdin, waits for the exit, and returns the screen without CRs. */
    async finish(): Promise<{ code: number; text: string }> {
      await writer.close();
      const { code } = await child.status;
      await screen.done;
      return { code, text: screen.text.replaceAll("\r", "") };
    },
  };
}

Deno.test("passwd at a terminal asks twice with echo off and saves the password", async () => {
  // Each password is typed only after its prompt is on the screen: typed
  // earlier, the terminal would echo it before the role turned echo off.
  await using tmp = await projectTempDir();
  const path = await copyUsers(tmp.path);
  const password = "Tea-Party-42";
  const term = atTerminal(shellQuote([
    Deno.execPath(),
    ...denoArgs("passwd", ["--users", path, ...FAST, "carol"]),
  ]));
  const afterFirst = await term.screen.waitFor("Password for carol: ");
  await term.type(`${password}\r`);
  await term.screen.waitFor("Again: ", afterFirst);
  await term.type(`${password}\r`);
  await term.screen.waitFor(`added user carol to ${path}`);
  const { code, text } = await term.finish();
  assert.equal(code, 0, text);
  assert.equal(
    text,
    `Password for carol: \nAgain: \nadded user carol to ${path}\n`,
  );
  assert.ok(!text.includes(password), "the password is not echoed");
  assert.equal(await verifies(path, "carol", password), true);
  assert.equal(await verifies(path, "alice", "wonderland"), true);
});

Deno.test("passwd at a terminal refuses two different passwords, changes nothing and leaves echo on", async () => {
  await using tmp = await projectTempDir();
  const path = await copyUsers(tmp.path);
  const original = await Deno.readTextFile(path);
  // After the role exits, the same terminal reports its echo setting: what
  // the user is left with (Deno resets a raw terminal at exit as well, so
  // this holds even if the role's own restore were skipped).
  const term = atTerminal(
    `${
      shellQuote([
        Deno.execPath(),
        ...denoArgs("passwd", ["--users", path, ...FAST, "alice"]),
      ])
    }; echo "exit=$?"; stty -a`,
  );
  const afterFirst = await term.screen.waitFor("Password for alice: ");
  await term.type("first-try\r");
  await term.screen.waitFor("Again: ", afterFirst);
  await term.type("second-try\r");
  await term.screen.waitFor("exit=");
  const { text } = await term.finish();
  assert.match(
    text,
    /Again: \nERROR socklab: the passwords do not match; nothing changed\nexit=1\n/,
  );
  assert.ok(!text.includes("first-try") && !text.includes("second-try"));
  assert.match(text, /(^|[\s;])echo(\s|;|$)/m, "echo is on again");
  assert.doesNotMatch(text, /(^|\s)-echo(\s|;|$)/m);
  assert.match(text, /(^|\s)icanon(\s|;|$)/m, "line editing is back");
  assert.equal(await Deno.readTextFile(path), original);
});
