/**
 * `--users` on a server: the gate it builds, the clear error for a bad
 * users file, and the warning when passwords would cross a network in
 * clear text.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseFlags, UsageError } from "../../lib/flags.ts";
import { Logger } from "../../lib/log.ts";
import { allFlags, type RoleContext } from "../role.ts";
import { localServerRole } from "../video/servers.ts";
import { gateFromFlags } from "./hub.ts";

const USERS = new URL("../../testdata/hub/users.txt", import.meta.url)
  .pathname;

function context(
  args: string[],
  tls?: RoleContext["tls"],
): RoleContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    name: "local-server",
    flags: parseFlags(args, allFlags(localServerRole)),
    log: new Logger({ name: "local-server", sink: (l) => lines.push(l) }),
    tracer: undefined,
    signal: new AbortController().signal,
    tls,
    clientTls: undefined,
    env: new Map(),
    lines,
  };
}

Deno.test("without --users there is no gate", async () => {
  assert.equal(await gateFromFlags(context([]), "127.0.0.1"), undefined);
});

Deno.test("--users on loopback: a gate, and no warning", async () => {
  const ctx = context(["--users", USERS]);
  const gate = await gateFromFlags(ctx, "127.0.0.1");
  assert.ok(gate);
  assert.ok(!ctx.lines.some((l) => l.includes("WARN")), ctx.lines.join("\n"));
});

Deno.test("--users beyond loopback without TLS: a warning that says what to do", async () => {
  const ctx = context(["--users", USERS]);
  assert.ok(await gateFromFlags(ctx, "0.0.0.0"));
  const warning = ctx.lines.find((l) => l.startsWith("WARN"));
  assert.match(warning ?? "", /plain TCP.*--tls-cert and --tls-key/);
  const withTls = context(["--users", USERS], { cert: "c", key: "k" });
  await gateFromFlags(withTls, "0.0.0.0");
  assert.ok(!withTls.lines.some((l) => l.startsWith("WARN")));
});

Deno.test("--users with a missing or broken file is a usage error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "nope.txt");
    await assert.rejects(
      gateFromFlags(context(["--users", missing]), "127.0.0.1"),
      (error: unknown) =>
        error instanceof UsageError && error.message.includes(missing),
    );
    const broken = join(dir, "broken.txt");
    await Deno.writeTextFile(broken, "alice:plaintext:oops\n");
    await assert.rejects(
      gateFromFlags(context(["--users", broken]), "127.0.0.1"),
      (error: unknown) =>
        error instanceof UsageError && /broken\.txt.*1/.test(error.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
