import assert from "node:assert/strict";
import { formatRetry, Lockout, type LockoutOptions } from "./lockout.ts";
import type { Clock } from "./sessions.ts";

const MIN = 60_000;

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

function setup(options: Omit<LockoutOptions, "clock"> = {}) {
  const clock = fakeClock();
  return { clock, lockout: new Lockout({ clock, ...options }) };
}

Deno.test({
  name: "the 5th failure within the window locks the user name for 5 minutes",
  permissions: "none",
  fn() {
    const { clock, lockout } = setup();
    for (let i = 0; i < 4; i++) {
      lockout.failed("alice", "192.0.2.1");
      clock.advance(1000);
      assert.deepEqual(lockout.check("alice", "192.0.2.1"), { locked: false });
    }
    lockout.failed("alice", "192.0.2.1");
    assert.deepEqual(lockout.check("alice", "192.0.2.1"), {
      locked: true,
      retryAfterMs: 5 * MIN,
      reason: "user",
    });
    // From any address: the name is what is locked.
    assert.deepEqual(lockout.check("alice", "198.51.100.9"), {
      locked: true,
      retryAfterMs: 5 * MIN,
      reason: "user",
    });
    assert.deepEqual(lockout.check("bob", "192.0.2.1"), { locked: false });
  },
});

Deno.test({
  name: "retryAfterMs counts down with the clock and the lock ends at 0",
  permissions: "none",
  fn() {
    const { clock, lockout } = setup({ maxUserFailures: 2, lockMs: 30_000 });
    lockout.failed("alice", "a");
    lockout.failed("alice", "a");
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const state = lockout.check("alice", "a");
      assert.ok(state.locked);
      waits.push(state.retryAfterMs);
      clock.advance(10_000);
    }
    assert.deepEqual(waits, [30_000, 20_000, 10_000]);
    assert.deepEqual(lockout.check("alice", "a"), { locked: false });
  },
});

Deno.test({
  name: "failures older than the window do not count",
  permissions: "none",
  fn() {
    const { clock, lockout } = setup({
      maxUserFailures: 3,
      windowMs: 10 * MIN,
    });
    lockout.failed("alice", "a");
    lockout.failed("alice", "a");
    clock.advance(10 * MIN);
    lockout.failed("alice", "a");
    assert.deepEqual(lockout.check("alice", "a"), { locked: false });
    lockout.failed("alice", "a");
    assert.deepEqual(lockout.check("alice", "a"), { locked: false });
    lockout.failed("alice", "a");
    assert.equal(lockout.check("alice", "a").locked, true);
  },
});

Deno.test({
  name:
    "after a lock ends, one more failure inside the window locks again; after the window, the full count is back",
  permissions: "none",
  fn() {
    const { clock, lockout } = setup({
      maxUserFailures: 3,
      windowMs: 15 * MIN,
      lockMs: 5 * MIN,
    });
    for (let i = 0; i < 3; i++) lockout.failed("alice", "a");
    clock.advance(5 * MIN);
    assert.deepEqual(lockout.check("alice", "a"), { locked: false });
    lockout.failed("alice", "a");
    assert.equal(lockout.check("alice", "a").locked, true);
    clock.advance(20 * MIN);
    lockout.failed("alice", "a");
    lockout.failed("alice", "a");
    assert.deepEqual(lockout.check("alice", "a"), { locked: false });
  },
});

Deno.test({
  name:
    "an address is locked after maxAddressFailures whatever names it tries, independently of the users",
  permissions: "none",
  fn() {
    const { lockout } = setup({ maxUserFailures: 5, maxAddressFailures: 4 });
    for (const user of ["u1", "u2", "u3", "u4"]) {
      lockout.failed(user, "192.0.2.66");
    }
    const state = lockout.check("carol", "192.0.2.66");
    assert.deepEqual(state, {
      locked: true,
      retryAfterMs: 5 * 60_000,
      reason: "address",
    });
    // The names it tried are not locked from elsewhere: one failure each.
    assert.deepEqual(lockout.check("u1", "198.51.100.1"), { locked: false });
    assert.deepEqual(lockout.check("carol", "198.51.100.1"), { locked: false });
  },
});

Deno.test({
  name: "when both are locked, check() reports the longer wait",
  permissions: "none",
  fn() {
    const { clock, lockout } = setup({
      maxUserFailures: 2,
      maxAddressFailures: 3,
    });
    lockout.failed("alice", "a");
    lockout.failed("bob", "a");
    lockout.failed("alice", "b");
    clock.advance(60_000);
    lockout.failed("carol", "a");
    const state = lockout.check("alice", "a");
    assert.deepEqual(state, {
      locked: true,
      retryAfterMs: 5 * MIN,
      reason: "address",
    });
    clock.advance(5 * MIN);
    assert.deepEqual(lockout.check("alice", "c"), { locked: false });
  },
});

Deno.test({
  name: "succeeded() clears the user's failures but not the address's",
  permissions: "none",
  fn() {
    const { lockout } = setup({ maxUserFailures: 3, maxAddressFailures: 5 });
    lockout.failed("alice", "a");
    lockout.failed("alice", "a");
    lockout.failed("alice", "a");
    assert.equal(lockout.check("alice", "a").locked, true);
    lockout.succeeded("alice", "a");
    assert.deepEqual(lockout.check("alice", "a"), { locked: false });
    lockout.failed("alice", "a");
    assert.deepEqual(lockout.check("alice", "a"), { locked: false });
    // The address's 5th failure: alice's success did not reset its count.
    lockout.failed("bob", "a");
    assert.deepEqual(lockout.check("bob", "a"), {
      locked: true,
      retryAfterMs: 5 * MIN,
      reason: "address",
    });
  },
});

Deno.test({
  name:
    "an unknown user name is locked exactly like a known one (no user enumeration)",
  permissions: "none",
  fn() {
    const { lockout } = setup();
    for (let i = 0; i < 5; i++) {
      lockout.failed("alice", "a");
      lockout.failed("no-such-user", "b");
    }
    assert.deepEqual(
      lockout.check("no-such-user", "c"),
      lockout.check("alice", "c"),
    );
  },
});

Deno.test({
  name:
    "memory is bounded by maxKeys: idle keys go first, then the least recently failed",
  permissions: "none",
  fn() {
    const { clock, lockout } = setup({
      maxKeys: 6,
      maxUserFailures: 2,
      windowMs: MIN,
      lockMs: MIN,
    });
    // Two keys per failure: the user and the address.
    lockout.failed("idle", "10.0.0.1");
    clock.advance(2 * MIN);
    lockout.failed("locked", "10.0.0.2");
    lockout.failed("locked", "10.0.0.2");
    lockout.failed("recent", "10.0.0.3");
    assert.equal(lockout.size, 6);
    // Room for the next two is made from the idle pair.
    lockout.failed("newer", "10.0.0.4");
    assert.equal(lockout.size, 6);
    assert.equal(lockout.check("locked", "x").locked, true);
    // Nothing idle left: the least recently failed keys go.
    for (let i = 0; i < 20; i++) lockout.failed(`spray${i}`, `10.1.0.${i}`);
    assert.equal(lockout.size, 6);
    assert.equal(lockout.check("locked", "x").locked, false);
  },
});

Deno.test({
  name: "Lockout has the documented defaults and refuses non-positive options",
  permissions: "none",
  fn() {
    const lockout = new Lockout();
    assert.deepEqual(
      {
        maxUserFailures: lockout.maxUserFailures,
        maxAddressFailures: lockout.maxAddressFailures,
        windowMs: lockout.windowMs,
        lockMs: lockout.lockMs,
        maxKeys: lockout.maxKeys,
      },
      {
        maxUserFailures: 5,
        maxAddressFailures: 20,
        windowMs: 15 * MIN,
        lockMs: 5 * MIN,
        maxKeys: 10_000,
      },
    );
    assert.throws(() => new Lockout({ maxUserFailures: 0 }), RangeError);
    assert.throws(() => new Lockout({ lockMs: -1 }), /lockMs -1/);
  },
});

Deno.test({
  name: "formatRetry() says minutes and seconds, rounding up to a second",
  permissions: "none",
  fn() {
    assert.equal(formatRetry(250_000), "try again in 4 min 10 s");
    assert.equal(formatRetry(12_000), "try again in 12 s");
    assert.equal(formatRetry(11_001), "try again in 12 s");
    assert.equal(formatRetry(300_000), "try again in 5 min");
    assert.equal(formatRetry(59_999), "try again in 1 min");
    assert.equal(formatRetry(1), "try again in 1 s");
    assert.equal(formatRetry(0), "try again in 1 s");
  },
});
