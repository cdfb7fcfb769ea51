/**
 * Day 5 end to end: `chat-server` and `chat-client` run from `main.ts` as
 * separate processes under their own permission sets. One client reads
 * lines from piped stdin, another prints what arrives; over TCP (with the
 * server's operator console) and over UDP; and once at a real terminal
 * through `script`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { denoArgs, readyPort, ROOT, runRole, spawnRole } from "./_util.ts";

/** The lines a listening client must print, in this order, first. */
const HEARD = [
  "[lobby] * alice joined",
  "[lobby] alice: hello everyone",
  "[private] alice -> bob: just for you",
  "[lobby] alice: bye",
];

/**
 * Runs bob (listening, stdin kept open) and alice (lines piped in) against
 * a chat server started with `serverArgs`; `whileBobListens` runs after
 * alice is done.
 */
async function twoClients(
  serverArgs: string[],
  clientArgs: string[],
  whileBobListens: (server: ReturnType<typeof spawnRole>) => Promise<void> =
    () => Promise.resolve(),
) {
  await using server = spawnRole(
    "chat-server",
    ["--port", "0", ...serverArgs],
    {
      stdin: serverArgs.includes("--console") ? "piped" : "null",
    },
  );
  const port = String(await readyPort(server));
  await using bob = spawnRole(
    "chat-client",
    // A second after its input ends: what the server still sends gets in.
    [
      "--port",
      port,
      "--nick",
      "bob",
      "--room",
      "lobby",
      "--wait",
      "1s",
      ...clientArgs,
    ],
    { stdin: "piped" },
  );
  await bob.waitFor(/joined lobby/);
  const alice = await runRole(
    "chat-client",
    ["--port", port, "--nick", "alice", "--room", "lobby", ...clientArgs],
    { input: "hello everyone\n/msg bob just for you\n/who\nbye\n" },
  );
  await whileBobListens(server);
  await bob.input(""); // end of bob's input: it drains, then exits
  const bobStatus = await bob.status;
  server.child.kill("SIGTERM");
  const serverStatus = await server.status;
  return {
    alice,
    bob: {
      code: bobStatus.code,
      stdout: await bob.stdout,
      stderr: bob.stderr.join("\n"),
    },
    server: {
      code: serverStatus.code,
      stdout: await server.stdout,
      stderr: server.stderr.join("\n"),
    },
  };
}

Deno.test("chat-client from piped stdin talks to another over TCP; the server's console speaks as @server", async () => {
  const { alice, bob, server } = await twoClients(
    ["--console"],
    [],
    async (server) => {
      await server.input("/rooms\n/say lobby maintenance at noon\n");
    },
  );
  assert.equal(alice.code, 0, alice.stderr);
  assert.equal(
    alice.stdout,
    [
      "[lobby] alice: hello everyone",
      "[private] alice -> bob: just for you",
      "[lobby] alice: bye",
    ].join("\n") + "\n",
  );
  assert.match(alice.stderr, /in lobby: alice, bob/);
  assert.equal(bob.code, 0, bob.stderr);
  const lines = bob.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, HEARD.length), HEARD);
  assert.ok(lines.includes("[lobby] @server: maintenance at noon"), bob.stdout);
  assert.ok(lines.includes("[lobby] * alice left (disconnected)"), bob.stdout);
  assert.equal(server.code, 0, server.stderr);
  // Whether alice's leaving reached the server before /rooms is a race.
  assert.match(
    server.stdout,
    /^lobby \([12]\)\n\[lobby\] @server: maintenance at noon\n$/,
  );
});

Deno.test("chat-client --udp talks to chat-server --udp and counts what was lost on the way", async () => {
  const { alice, bob, server } = await twoClients(["--udp"], ["--udp"]);
  assert.equal(alice.code, 0, alice.stderr);
  assert.match(
    alice.stderr,
    /over UDP: 2 messages received, 0 lost, 0 reordered/,
  );
  assert.equal(bob.code, 0, bob.stderr);
  assert.deepEqual(bob.stdout.trimEnd().split("\n"), HEARD);
  assert.match(
    bob.stderr,
    /over UDP: 3 messages received, 0 lost, 0 reordered/,
  );
  assert.equal(server.code, 0, server.stderr);
  assert.match(
    server.stderr,
    /^chat-server listening on udp:\/\/127\.0\.0\.1:\d+$/m,
  );
});

Deno.test("chat-client at a terminal joins, says a line others hear, and quits", async () => {
  // `script` (util-linux) gives the client a real pty.
  await using server = spawnRole("chat-server", ["--port", "0"]);
  const port = String(await readyPort(server));
  await using bob = spawnRole(
    "chat-client",
    ["--port", port, "--nick", "bob", "--room", "lobby"],
    { stdin: "piped" },
  );
  await bob.waitFor(/joined lobby/);
  const command = [
    Deno.execPath(),
    ...denoArgs("chat-client", ["--port", port, "--nick", "carol"]),
  ].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", COLUMNS: "80" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode("/join lobby\nhello from a terminal\n/quit\n"),
  );
  await writer.close();
  const { code, stdout } = await child.output();
  const screen = new TextDecoder().decode(stdout);
  assert.equal(code, 0, screen);
  // Each line printed above the prompt: erased, printed, prompt drawn again.
  const shown = screen.replaceAll("\x1b", "ESC");
  assert.match(shown, /\rESC\[J\* joined lobby\r\r?\n/);
  assert.match(
    shown,
    /\rESC\[J\[lobby\] carol: hello from a terminal\r\r?\n\[lobby\] carol> /,
  );
  await bob.input("");
  assert.equal((await bob.status).code, 0);
  const heard = (await bob.stdout).split("\n");
  assert.ok(
    heard.includes("[lobby] carol: hello from a terminal"),
    heard.join("\n"),
  );
  server.child.kill("SIGTERM");
  assert.equal((await server.status).code, 0);
});

Deno.test("chat-client refuses to start without --nick when nobody can be asked, or with a bad one", async () => {
  const missing = await runRole("chat-client", ["--port", "1"], { input: "" });
  assert.equal(missing.code, 2);
  assert.match(
    missing.stderr,
    /--nick is required when stdin is not a terminal/,
  );
  const bad = await runRole("chat-client", ["--port", "1", "--nick", "a b"], {
    input: "",
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--nick: Cannot use "a b" as a nickname/);
});
