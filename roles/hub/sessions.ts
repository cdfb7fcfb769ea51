/**
 * HW5 session tokens: after a login the client gets a random token that
 * resumes its session on a new connection until it expires. Only the
 * SHA-256 of each token is kept, so a heap dump or a debug print of the
 * table holds nothing a client could present.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A source of the current time in milliseconds; tests inject one. */
export interface Clock {
  /** Milliseconds since the epoch (or any fixed origin). */
  now(): number;
}

/** The real clock: `Date.now()`. */
export const systemClock: Clock = { now: () => Date.now() };

/** Random bytes in a token: 256 bits, far beyond guessing. */
export const TOKEN_BYTES = 32;

/** Length of a token: 32 bytes in unpadded base64url. */
const TOKEN_LENGTH = Math.ceil(TOKEN_BYTES * 4 / 3);

/** One live session. */
export interface Session {
  readonly user: string;
  /** When the token stops working, in the clock's milliseconds. */
  readonly expiresAt: number;
}

/** Options for {@linkcode SessionTokens}. */
export interface SessionTokensOptions {
  /** How long a token lives after it is issued, in milliseconds. */
  ttlMs: number;
  /** Default {@linkcode systemClock}. */
  clock?: Clock;
  /** Most live sessions; beyond it the one closest to expiry is dropped. Default 100,000. */
  maxSessions?: number;
  /**
   * The map sessions are kept in, keyed by the token's SHA-256 (hex). Only
   * for tests that check what is kept; the class owns it.
   */
  map?: Map<string, Session>;
}

/**
 * The key a token is stored under: its SHA-256 in hex.
 *
 * @example
 * ```ts
 * tokenKey("abc"); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
 * ```
 */
export function tokenKey(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Issues, looks up and revokes session tokens. Memory is bounded: expired
 * sessions are swept when a token is issued, and at most `maxSessions` are
 * kept.
 *
 * @example
 * ```ts
 * const sessions = new SessionTokens({ ttlMs: 60 * 60_000 });
 * const { token } = sessions.issue("alice");
 * sessions.lookup(token)?.user; // "alice"
 * sessions.revoke(token);       // true
 * ```
 */
export class SessionTokens {
  readonly ttlMs: number;
  readonly maxSessions: number;
  #clock: Clock;
  // Insertion order is expiry order (every token gets the same TTL), which
  // lets issue() sweep from the front and drop the first when full.
  #sessions: Map<string, Session>;

  /** Creates an empty table; see {@linkcode SessionTokensOptions}. */
  constructor(options: SessionTokensOptions) {
    if (!(options.ttlMs > 0)) {
      throw new RangeError(
        `Cannot keep sessions for ${options.ttlMs} ms: ttlMs must be above 0`,
      );
    }
    const max = options.maxSessions ?? 100_000;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot keep ${max} sessions: maxSessions must be a whole number above 0`,
      );
    }
    this.ttlMs = options.ttlMs;
    this.maxSessions = max;
    this.#clock = options.clock ?? systemClock;
    this.#sessions = options.map ?? new Map();
  }

  /** How many sessions are kept (expired ones not yet swept included). */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Starts a session for `user`.
   *
   * @returns The token (32 random bytes, base64url without padding), to be
   *   given to the client once, and when it expires.
   */
  issue(user: string): { token: string; expiresAt: number } {
    const now = this.#clock.now();
    this.#sweep(now);
    while (this.#sessions.size >= this.maxSessions) {
      const oldest = this.#sessions.keys().next();
      if (oldest.done) break;
      this.#sessions.delete(oldest.value);
    }
    const token = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES))
      .toBase64({ alphabet: "base64url", omitPadding: true });
    const expiresAt = now + this.ttlMs;
    this.#sessions.set(tokenKey(token), { user, expiresAt });
    return { token, expiresAt };
  }

  /**
   * The session of `token`, or `undefined` when it is unknown, revoked or
   * expired (an expired one is removed).
   */
  lookup(token: string): { user: string; expiresAt: number } | undefined {
    // Not a token we could have issued: no need to hash it.
    if (token.length !== TOKEN_LENGTH) return undefined;
    const key = tokenKey(token);
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.#clock.now()) {
      this.#sessions.delete(key);
      return undefined;
    }
    return { user: session.user, expiresAt: session.expiresAt };
  }

  /** Ends the session of `token`; whether there was one. */
  revoke(token: string): boolean {
    return this.#sessions.delete(tokenKey(token));
  }

  /**
   * Ends every session of `user` (after a password change or removal).
   *
   * @returns How many were ended.
   */
  revokeUser(user: string): number {
    let count = 0;
    for (const [key, session] of this.#sessions) {
      if (session.user === user) {
        this.#sessions.delete(key);
        count++;
      }
    }
    return count;
  }

  /** Drops expired sessions from the front, stopping at the first live one. */
  #sweep(now: number): void {
    for (const [key, session] of this.#sessions) {
      if (session.expiresAt > now) break;
      this.#sessions.delete(key);
    }
  }
}
