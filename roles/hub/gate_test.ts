/**
 * The login gate and the hub composition, in process over real loopback
 * sockets: refusal before login, wrong then right password, lockout and
 * token expiry on an injected clock, resume on a new connection, logout
 * reaching every connection of a session, serialized guessing, and secrets
 * kept out of traces and logs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connectTlv, type TlvClient } from "../../lib/client.ts";
import { Logger } from "../../lib/log.ts";
import { TlvServer, type TlvService } from "../../lib/server.ts";
import { Tracer } from "../../lib/trace.ts";
import { RemoteError } from "../../protocol/tlv/protocol_error.ts";
import { calcService } from "../calc/service.ts";
import { AuthGate, hostOf } from "./gate.ts";
import { hubServices } from "./hub.ts";
import { Lockout } from "./lockout.ts";
import type { Clock } from "./sessions.ts";
import { hashPassword, UserStore } from "./users.ts";

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

const users = UserStore.fromRecords([
  await hashPassword("alice", "wonderland", { iterations: 1000 }),
  await hashPassword("bob", "builder", { iterations: 1000 }),
]);

/** A video part that answers video_list with nothing: enough to route. */
const fakeVideo: TlvService = {
  name: "video",
  handle(message, session) {
    if (message.type === "video_list") {
      session.send("video_list_reply", { id: message.fields.id });
    }
  },
};

interface Fixture extends AsyncDisposable {
  server: TlvServer;
  gate: AuthGate;
  clock: ReturnType<typeof manualClock>;
  lines: string[];
  traced: string[];
  connect(service?: "hub" | "calc" | "auth"): Promise<TlvClient>;
}

function fixture(
  options: { lockout?: (clock: Clock) => Lockout; ttlMs?: number } = {},
): Fixture {
  const clock = manualClock();
  const lines: string[] = [];
  const traced: string[] = [];
  const log = new Logger({
    name: "local-server",
    level: "debug",
    sink: (l) => lines.push(l),
  });
  const gate = new AuthGate({
    users,
    clock,
    failureDelayMs: 5,
    sessionTtlMs: options.ttlMs ?? 60_000,
    log,
    ...(options.lockout ? { lockout: options.lockout(clock) } : {}),
  });
  const server = new TlvServer({
    services: hubServices({ calc: calcService(), video: fakeVideo, gate }),
    log,
    tracer: new Tracer("hex", (l) => traced.push(l)),
  });
  const clients: TlvClient[] = [];
  return {
    server,
    gate,
    clock,
    lines,
    traced,
    async connect(service = "hub") {
      const client = await connectTlv({ port: server.addr.port, service });
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
    },
  };
}

async function calc(client: TlvClient, expression: string): Promise<number> {
  const answer = await client.request("calc_request", { expression });
  assert.ok(answer.type === "calc_result");
  return answer.fields.value;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e) => e);
  assert.ok(error instanceof RemoteError, `expected an error, got ${error}`);
  return error.codeName ?? String(error.code);
}

async function login(client: TlvClient, user: string, password: string) {
  const answer = await client.request("login", { user, password });
  assert.ok(answer.type === "login_ok");
  return answer.fields;
}

Deno.test("every service message before login is refused, and the connection goes on", async () => {
  await using fx = fixture();
  const client = await fx.connect();
  assert.equal(await refusal(calc(client, "1+2")), "auth_required");
  assert.equal(
    await refusal(client.request("video_list", {})),
    "auth_required",
  );
  const direct = await fx.connect("calc");
  assert.equal(await refusal(calc(direct, "1+2")), "auth_required");
  const ok = await login(client, "alice", "wonderland");
  assert.equal(ok.user, "alice");
  assert.equal(ok.ttl, 60);
  assert.match(ok.token, /^[A-Za-z0-9_-]{40,}$/);
  assert.equal(await calc(client, "2*(3+4)"), 14);
  const list = await client.request("video_list", {});
  assert.equal(list.type, "video_list_reply");
  assert.equal(fx.gate.stats.refused, 3);
});

Deno.test("a wrong password is refused without saying which part was wrong; the right one then works", async () => {
  await using fx = fixture();
  const client = await fx.connect();
  const started = performance.now();
  const wrong = await client.request("login", {
    user: "alice",
    password: "looking-glass",
  }).catch((e) => e);
  assert.ok(wrong instanceof RemoteError);
  assert.equal(wrong.codeName, "bad_credentials");
  assert.equal(wrong.message.includes("alice"), false);
  assert.ok(performance.now() - started >= 3, "a failure is slowed down");
  const unknown = await client.request("login", {
    user: "mallory",
    password: "x",
  }).catch((e) => e);
  assert.ok(unknown instanceof RemoteError);
  assert.equal(unknown.message, wrong.message, "no user enumeration");
  await login(client, "alice", "wonderland");
  assert.equal(await calc(client, "1+1"), 2);
  assert.equal(fx.gate.stats.failures, 2);
});

Deno.test("repeated failures lock a user out, with the time left, until the lock ends", async () => {
  await using fx = fixture({
    lockout: (clock) =>
      new Lockout({ clock, maxUserFailures: 3, lockMs: 60_000 }),
  });
  const client = await fx.connect();
  for (let i = 0; i < 3; i++) {
    assert.equal(
      await refusal(client.request("login", { user: "bob", password: "no" })),
      "bad_credentials",
    );
  }
  const locked = await client.request("login", {
    user: "bob",
    password: "builder",
  }).catch((e) => e);
  assert.ok(locked instanceof RemoteError);
  assert.equal(locked.codeName, "locked_out");
  assert.match(locked.message, /"bob".*try again in 1 min/);
  // Another user from the same address is not locked by bob's failures.
  await login(client, "alice", "wonderland");
  fx.clock.advance(61_000);
  const other = await fx.connect();
  await login(other, "bob", "builder");
  assert.ok(fx.lines.some((l) => l.includes("locked out")));
});

Deno.test("logins on one connection run one at a time: pipelined guesses hit the lockout", async () => {
  await using fx = fixture({
    lockout: (clock) => new Lockout({ clock, maxUserFailures: 3 }),
  });
  const client = await fx.connect();
  const answers = await Promise.all(
    Array.from(
      { length: 6 },
      (_, i) =>
        refusal(client.request("login", { user: "bob", password: `g${i}` })),
    ),
  );
  assert.deepEqual(answers, [
    "bad_credentials",
    "bad_credentials",
    "bad_credentials",
    "locked_out",
    "locked_out",
    "locked_out",
  ]);
});

Deno.test("a token resumes the session on a new connection until it expires", async () => {
  await using fx = fixture({ ttlMs: 30_000 });
  const first = await fx.connect();
  const { token } = await login(first, "alice", "wonderland");
  const second = await fx.connect("calc");
  assert.equal(
    await refusal(second.request("resume", { token: "not-a-token" })),
    "bad_token",
  );
  const resumed = await second.request("resume", { token });
  assert.ok(resumed.type === "login_ok");
  assert.equal(resumed.fields.user, "alice");
  assert.equal(await calc(second, "6*7"), 42);
  fx.clock.advance(30_001);
  assert.equal(await refusal(calc(first, "1")), "auth_required");
  assert.equal(await refusal(calc(second, "1")), "auth_required");
  const third = await fx.connect();
  assert.equal(
    await refusal(third.request("resume", { token })),
    "bad_token",
  );
});

Deno.test("logout ends the session on every connection that shares its token", async () => {
  await using fx = fixture();
  const first = await fx.connect();
  const { token } = await login(first, "alice", "wonderland");
  const second = await fx.connect();
  await second.request("resume", { token });
  assert.equal(await calc(second, "1+1"), 2);
  const bye = await first.request("logout", {});
  assert.equal(bye.type, "logout_ok");
  assert.equal(await refusal(calc(first, "1")), "auth_required");
  assert.equal(await refusal(calc(second, "1")), "auth_required");
  assert.equal(
    await refusal(second.request("resume", { token })),
    "bad_token",
  );
});

Deno.test("passwords and tokens never reach the log or the trace, not even in hex", async () => {
  await using fx = fixture();
  const client = await fx.connect();
  const { token } = await login(client, "alice", "wonderland");
  await refusal(
    client.request("login", { user: "alice", password: "hunter2" }),
  );
  const other = await fx.connect();
  await other.request("resume", { token });
  const everything = [...fx.lines, ...fx.traced].join("\n");
  for (const secret of ["wonderland", "hunter2", token]) {
    assert.equal(everything.includes(secret), false, `${secret} leaked`);
    const hex = Array.from(
      new TextEncoder().encode(secret.slice(0, 6)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join(" ");
    assert.equal(everything.includes(hex), false, `${secret} leaked in hex`);
  }
  assert.ok(fx.traced.some((l) => l.includes("password=***")));
  assert.ok(fx.traced.some((l) => l.includes("token=***")));
  assert.ok(fx.lines.some((l) => l.includes("login") && l.includes("alice")));
});

Deno.test("without users the hub is open, and a login says none is needed", async () => {
  await using server = new TlvServer({
    services: hubServices({ calc: calcService(), video: fakeVideo }),
    log: new Logger({ name: "t", level: "error" }),
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "hub",
  });
  assert.equal(await calc(client, "2^10"), 1024);
  const error = await client.request("login", {
    user: "alice",
    password: "wonderland",
  }).catch((e) => e);
  assert.ok(error instanceof RemoteError);
  assert.equal(error.codeName, "unexpected_message");
  assert.match(error.message, /no users/);
  // A message of a service the hub lacks (no image directory).
  const image = await client.request("image_list", {}).catch((e) => e);
  assert.ok(image instanceof RemoteError);
  assert.equal(image.codeName, "unexpected_message");
  assert.equal(await calc(client, "1+1"), 2, "the connection goes on");
});

Deno.test("hostOf() takes the host out of a peer address", () => {
  assert.equal(hostOf("127.0.0.1:4000"), "127.0.0.1");
  assert.equal(hostOf("[::1]:4000"), "::1");
  assert.equal(hostOf("example"), "example");
});
