import assert from "node:assert/strict";
import {
  type Clock,
  type Session,
  SessionTokens,
  systemClock,
  tokenKey,
} from "./sessions.ts";

/** A clock that moves only when told to. */
function fakeClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

Deno.test({
  name:
    "issue() gives a 43-character base64url token that lookup() maps to its user until it expires",
  permissions: "none",
  fn() {
    const clock = fakeClock();
    const sessions = new SessionTokens({ ttlMs: 60_000, clock });
    const { token, expiresAt } = sessions.issue("alice");
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresAt, clock.now() + 60_000);
    assert.deepEqual(sessions.lookup(token), { user: "alice", expiresAt });
    clock.advance(59_999);
    assert.deepEqual(sessions.lookup(token), { user: "alice", expiresAt });
    assert.equal(sessions.size, 1);
    clock.advance(1);
    assert.equal(sessions.lookup(token), undefined);
    assert.equal(sessions.size, 0, "an expired session is removed on lookup");
  },
});

Deno.test({
  name: "issue() gives a different token each time, even for the same user",
  permissions: "none",
  fn() {
    const sessions = new SessionTokens({ ttlMs: 60_000 });
    const tokens = new Set(
      Array.from({ length: 100 }, () => sessions.issue("alice").token),
    );
    assert.equal(tokens.size, 100);
    assert.equal(sessions.size, 100);
  },
});

Deno.test({
  name: "lookup() of an unknown, malformed or altered token is undefined",
  permissions: "none",
  fn() {
    const sessions = new SessionTokens({ ttlMs: 60_000 });
    const { token } = sessions.issue("alice");
    const altered = (token[0] === "A" ? "B" : "A") + token.slice(1);
    for (
      const bad of [
        "",
        "x",
        altered,
        token + "A",
        token.slice(1),
        tokenKey(token),
      ]
    ) {
      assert.equal(sessions.lookup(bad), undefined, bad);
    }
    assert.equal(sessions.lookup(token)?.user, "alice");
  },
});

Deno.test({
  name: "revoke() ends one session and says whether there was one",
  permissions: "none",
  fn() {
    const sessions = new SessionTokens({ ttlMs: 60_000 });
    const a = sessions.issue("alice");
    const b = sessions.issue("alice");
    assert.equal(sessions.revoke(a.token), true);
    assert.equal(sessions.revoke(a.token), false);
    assert.equal(sessions.revoke("no-such-token"), false);
    assert.equal(sessions.lookup(a.token), undefined);
    assert.equal(sessions.lookup(b.token)?.user, "alice");
  },
});

Deno.test({
  name: "revokeUser() ends every session of one user and no others",
  permissions: "none",
  fn() {
    const sessions = new SessionTokens({ ttlMs: 60_000 });
    const alice = [sessions.issue("alice"), sessions.issue("alice")];
    const bob = sessions.issue("bob");
    assert.equal(sessions.revokeUser("alice"), 2);
    assert.equal(sessions.revokeUser("alice"), 0);
    assert.equal(sessions.revokeUser("carol"), 0);
    for (const { token } of alice) {
      assert.equal(sessions.lookup(token), undefined);
    }
    assert.equal(sessions.lookup(bob.token)?.user, "bob");
    assert.equal(sessions.size, 1);
  },
});

Deno.test({
  name:
    "at maxSessions, issue() drops the session closest to expiry and keeps the rest",
  permissions: "none",
  fn() {
    const clock = fakeClock();
    const sessions = new SessionTokens({
      ttlMs: 60_000,
      clock,
      maxSessions: 3,
    });
    const issued = ["a", "b", "c", "d", "e"].map((user) => {
      clock.advance(1000);
      return sessions.issue(user);
    });
    assert.equal(sessions.size, 3);
    assert.deepEqual(
      issued.map(({ token }) => sessions.lookup(token)?.user),
      [undefined, undefined, "c", "d", "e"],
    );
  },
});

Deno.test({
  name: "issue() sweeps expired sessions, so memory follows live sessions only",
  permissions: "none",
  fn() {
    const clock = fakeClock();
    const sessions = new SessionTokens({ ttlMs: 10_000, clock });
    for (let i = 0; i < 50; i++) sessions.issue(`user${i}`);
    assert.equal(sessions.size, 50);
    clock.advance(5_000);
    const live = sessions.issue("late");
    assert.equal(sessions.size, 51, "nothing has expired yet");
    clock.advance(5_000);
    sessions.issue("later");
    assert.equal(sessions.size, 2, "the first 50 expired and were swept");
    assert.equal(sessions.lookup(live.token)?.user, "late");
  },
});

Deno.test({
  name:
    "the session map holds only SHA-256 digests of tokens, never a token itself",
  permissions: "none",
  fn() {
    const map = new Map<string, Session>();
    const sessions = new SessionTokens({ ttlMs: 60_000, map });
    const tokens = ["alice", "bob", "alice"].map((u) =>
      sessions.issue(u).token
    );
    assert.equal(map.size, 3);
    for (const token of tokens) {
      assert.equal(map.has(token), false);
      assert.ok(map.has(tokenKey(token)));
    }
    for (const [key, value] of map) {
      assert.match(key, /^[0-9a-f]{64}$/);
      const everything = key + JSON.stringify(value);
      for (const token of tokens) {
        assert.ok(!everything.includes(token), "no token in the map");
        assert.ok(!everything.includes(token.slice(0, 16)), "nor part of one");
      }
    }
  },
});

Deno.test({
  name: "tokenKey() is the SHA-256 of the token in hex",
  permissions: "none",
  fn() {
    assert.equal(
      tokenKey("abc"),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  },
});

Deno.test({
  name: "SessionTokens refuses a ttlMs or maxSessions that is not above 0",
  permissions: "none",
  fn() {
    assert.throws(() => new SessionTokens({ ttlMs: 0 }), RangeError);
    assert.throws(() => new SessionTokens({ ttlMs: NaN }), RangeError);
    assert.throws(
      () => new SessionTokens({ ttlMs: 1000, maxSessions: 0 }),
      RangeError,
    );
    assert.equal(new SessionTokens({ ttlMs: 1 }).maxSessions, 100_000);
  },
});

Deno.test({
  name: "systemClock reads Date.now()",
  permissions: "none",
  fn() {
    const before = Date.now();
    const now = systemClock.now();
    assert.ok(now >= before && now <= Date.now());
  },
});
