/**
 * Failed-login throttling for HW5: too many wrong passwords for one user
 * name, or from one address, within a window lock that name or address for
 * a while. Names are counted whether or not they exist, so a lock says
 * nothing about which users there are.
 *
 * @module
 */

import { type Clock, systemClock } from "./sessions.ts";

/** Options for {@linkcode Lockout}. */
export interface LockoutOptions {
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /** Failures within `windowMs` that lock a user name. Default 5. */
  maxUserFailures?: number;
  /**
   * Failures within `windowMs` that lock an address, whatever names it
   * tries (password spraying). Default 20.
   */
  maxAddressFailures?: number;
  /** How far back failures count, in milliseconds. Default 15 minutes. */
  windowMs?: number;
  /** How long a lock lasts after the failure that set it. Default 5 minutes. */
  lockMs?: number;
  /** Most names and addresses remembered; beyond it the oldest is dropped. Default 10,000. */
  maxKeys?: number;
}

/** The answer of {@linkcode Lockout.check}. */
export type LockoutState =
  | { locked: false }
  | { locked: true; retryAfterMs: number; reason: "user" | "address" };

/** Failures of one user name or address. */
interface _Tally {
  /** Times of the most recent failures, oldest first, at most the maximum. */
  failures: number[];
  /** When the lock ends; 0 when never locked. */
  lockedUntil: number;
}

/**
 * Counts failed logins per user name and per address.
 *
 * @example
 * ```ts
 * const lockout = new Lockout();
 * const state = lockout.check("alice", "192.0.2.7");
 * if (state.locked) reply(`too many failed logins; ${formatRetry(state.retryAfterMs)}`);
 * else if (await users.verify("alice", password)) lockout.succeeded("alice", "192.0.2.7");
 * else lockout.failed("alice", "192.0.2.7");
 * ```
 */
export class Lockout {
  readonly maxUserFailures: number;
  readonly maxAddressFailures: number;
  readonly windowMs: number;
  readonly lockMs: number;
  readonly maxKeys: number;
  #clock: Clock;
  // Least recently failed first: a failure moves its key to the end.
  #tallies = new Map<string, _Tally>();

  /** Creates an empty lockout table; see {@linkcode LockoutOptions}. */
  constructor(options: LockoutOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.maxUserFailures = _positive(
      options.maxUserFailures ?? 5,
      "maxUserFailures",
    );
    this.maxAddressFailures = _positive(
      options.maxAddressFailures ?? 20,
      "maxAddressFailures",
    );
    this.windowMs = _positive(options.windowMs ?? 15 * 60_000, "windowMs");
    this.lockMs = _positive(options.lockMs ?? 5 * 60_000, "lockMs");
    this.maxKeys = _positive(options.maxKeys ?? 10_000, "maxKeys");
  }

  /** How many names and addresses are remembered. */
  get size(): number {
    return this.#tallies.size;
  }

  /**
   * Whether a login as `user` from `address` must be refused now. When both
   * are locked, the longer wait is reported.
   */
  check(user: string, address: string): LockoutState {
    const now = this.#clock.now();
    const userWait = this.#wait(_userKey(user), now);
    const addressWait = this.#wait(_addressKey(address), now);
    if (userWait === 0 && addressWait === 0) return { locked: false };
    return userWait >= addressWait
      ? { locked: true, retryAfterMs: userWait, reason: "user" }
      : { locked: true, retryAfterMs: addressWait, reason: "address" };
  }

  /**
   * Records a failed login. A name or address that reaches its maximum
   * within the window is locked for `lockMs` from now; while its earlier
   * failures are still in the window, each further failure locks it again.
   */
  failed(user: string, address: string): void {
    const now = this.#clock.now();
    this.#fail(_userKey(user), this.maxUserFailures, now);
    this.#fail(_addressKey(address), this.maxAddressFailures, now);
  }

  /**
   * Records a successful login: the user's failures are forgotten. The
   * address's are not, so one good account does not reset a sprayer.
   */
  succeeded(user: string, _address: string): void {
    this.#tallies.delete(_userKey(user));
  }

  #wait(key: string, now: number): number {
    const tally = this.#tallies.get(key);
    return tally !== undefined && tally.lockedUntil > now
      ? tally.lockedUntil - now
      : 0;
  }

  #fail(key: string, max: number, now: number): void {
    const tally = this.#tallies.get(key) ?? { failures: [], lockedUntil: 0 };
    this.#tallies.delete(key);
    if (this.#tallies.size >= this.maxKeys) this.#evict(now);
    tally.failures = tally.failures.filter((t) => t > now - this.windowMs);
    tally.failures.push(now);
    // Only the last `max` failures can ever matter.
    if (tally.failures.length > max) tally.failures.shift();
    if (tally.failures.length >= max) tally.lockedUntil = now + this.lockMs;
    this.#tallies.set(key, tally);
  }

  /**
   * Makes room for one key: forgets keys with nothing left to count, and if
   * none, the least recently failed.
   */
  #evict(now: number): void {
    for (const [key, tally] of this.#tallies) {
      const recent = tally.failures.at(-1) ?? 0;
      if (tally.lockedUntil <= now && recent <= now - this.windowMs) {
        this.#tallies.delete(key);
      }
    }
    while (this.#tallies.size >= this.maxKeys) {
      const oldest = this.#tallies.keys().next();
      if (oldest.done) break;
      this.#tallies.delete(oldest.value);
    }
  }
}

// Separate namespaces: a user named like an address is still a user.
function _userKey(user: string): string {
  return `user:${user}`;
}

function _addressKey(address: string): string {
  return `addr:${address}`;
}

function _positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `Cannot use ${name} ${n}: it must be a whole number above 0`,
    );
  }
  return n;
}

/**
 * How long to wait, for an error message: whole seconds, rounded up.
 *
 * @example
 * ```ts
 * formatRetry(250_000); // "try again in 4 min 10 s"
 * formatRetry(11_200);  // "try again in 12 s"
 * ```
 */
export function formatRetry(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  if (minutes === 0) return `try again in ${rest} s`;
  return rest === 0
    ? `try again in ${minutes} min`
    : `try again in ${minutes} min ${rest} s`;
}
