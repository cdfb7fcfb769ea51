/**
 * The login gate of the integrated system (HW5): a server with users
 * answers `login`, `resume` and `logout`, and refuses every other service
 * message with `auth_required` until the connection has an identity.
 *
 * - Passwords are checked against the users file's salted PBKDF2 hashes
 *   (`users.ts`), in the same time for unknown names as for known ones; a
 *   wrong one is answered only after a delay, and repeated failures for a
 *   user or from an address lock further attempts out for a while
 *   (`lockout.ts`), with the time left in the error.
 * - A login gives the connection an identity and a random token that
 *   expires (`sessions.ts`); `resume` with the token gives another
 *   connection the same identity; `logout` ends it everywhere.
 * - Nothing secret is logged: user names and peers are, passwords and
 *   tokens never (the registry marks them secret for `--trace` too).
 *
 * @module
 */

import type { Logger } from "../../lib/log.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import { type Message, MESSAGES } from "../../protocol/tlv/registry.ts";
import { formatRetry, Lockout } from "./lockout.ts";
import { type Clock, SessionTokens, systemClock } from "./sessions.ts";
import type { UserStore } from "./users.ts";

/** How long a session token lives by default: 1 hour. */
export const DEFAULT_SESSION_TTL_MS = 60 * 60 * 1000;

/** How long a wrong password waits before its answer by default. */
export const DEFAULT_FAILURE_DELAY_MS = 500;

/** Options for {@linkcode AuthGate}. */
export interface AuthGateOptions {
  /** Who may log in. */
  users: UserStore;
  /** Session token lifetime (ms). Default {@linkcode DEFAULT_SESSION_TTL_MS}. */
  sessionTtlMs?: number;
  /** Delay before a failed login is answered (ms). Default 500. */
  failureDelayMs?: number;
  /** Failed-login throttling; one with its defaults when absent. */
  lockout?: Lockout;
  /** Time source for tokens (tests inject one). */
  clock?: Clock;
  /** Logs logins, failures and lockouts (never passwords or tokens). */
  log?: Logger;
}

/** Who a connection is, once logged in. */
interface Identity {
  readonly user: string;
  readonly token: string;
  readonly expiresAt: number;
}

/** Counters of the gate. */
export interface AuthStats {
  logins: number;
  resumes: number;
  failures: number;
  lockedOut: number;
  refused: number;
}

/**
 * Guards services behind a login.
 *
 * @example
 * ```ts
 * const gate = new AuthGate({ users: await UserStore.load("users.txt") });
 * const hub = composeServices("hub", [calcService(), images, gate.service]);
 * await using server = new TlvServer({ services: [gate.guard(hub)] });
 * ```
 */
export class AuthGate {
  /** The `auth` service on its own: login, resume, logout. */
  readonly service: TlvService;
  /** What the gate has done. */
  readonly stats: AuthStats = {
    logins: 0,
    resumes: 0,
    failures: 0,
    lockedOut: 0,
    refused: 0,
  };

  #users: UserStore;
  #tokens: SessionTokens;
  #lockout: Lockout;
  #clock: Clock;
  #ttlMs: number;
  #failureDelayMs: number;
  #log: Logger | undefined;
  #identities = new WeakMap<Session, Identity>();
  /** The connections sharing each token, so a logout reaches them all. */
  #byToken = new Map<string, Set<Session>>();
  /** Logins run one at a time per connection: no parallel guessing. */
  #loginQueue = new WeakMap<Session, Promise<void>>();

  /** Creates the gate. */
  constructor(options: AuthGateOptions) {
    this.#users = options.users;
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.#tokens = new SessionTokens({
      ttlMs: this.#ttlMs,
      clock: this.#clock,
    });
    this.#lockout = options.lockout ?? new Lockout({ clock: this.#clock });
    this.#failureDelayMs = options.failureDelayMs ?? DEFAULT_FAILURE_DELAY_MS;
    this.#log = options.log;
    this.service = {
      name: "auth",
      handle: (message, session) => this.#handleAuth(message, session),
      closed: (session) => this.#forget(session),
    };
  }

  /** The user a connection is logged in as, if any. */
  userOf(session: Session): string | undefined {
    return this.#current(session)?.user;
  }

  /**
   * `service`, refusing its messages with `auth_required` until the
   * connection has logged in (or resumed); auth messages are answered on
   * it too, so a client logs in on the connection it uses.
   */
  guard(service: TlvService): TlvService {
    return {
      name: service.name,
      handle: (message, session) => {
        if (MESSAGES[message.type].service === "auth") {
          return this.#handleAuth(message, session);
        }
        if (this.#current(session) === undefined) {
          this.stats.refused++;
          throw new ProtocolError(
            "auth_required",
            `log in first: this server has users, and ${message.type} needs a session (send login, or resume with a token)`,
          );
        }
        return service.handle(message, session);
      },
      closed: (session) => {
        this.#forget(session);
        service.closed?.(session);
      },
    };
  }

  /** The connection's identity while its token lives. */
  #current(session: Session): Identity | undefined {
    const identity = this.#identities.get(session);
    if (identity === undefined) return undefined;
    if (this.#clock.now() < identity.expiresAt) return identity;
    this.#unbind(session, identity);
    return undefined;
  }

  #handleAuth(message: Message, session: Session): Promise<void> | void {
    switch (message.type) {
      case "login":
        return this.#serialized(session, () => this.#login(message, session));
      case "resume":
        return this.#resume(message, session);
      case "logout":
        return this.#logout(message, session);
      default:
        throw new ProtocolError(
          "unexpected_message",
          `the auth service does not accept ${message.type}`,
        );
    }
  }

  /** Runs `work` after this connection's earlier logins have finished. */
  #serialized(session: Session, work: () => Promise<void>): Promise<void> {
    const before = this.#loginQueue.get(session) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.then(() => {}, () => {});
    this.#loginQueue.set(session, settled);
    return run;
  }

  async #login(
    message: Extract<Message, { type: "login" }>,
    session: Session,
  ): Promise<void> {
    const { id, user, password } = message.fields;
    const address = hostOf(session.peer);
    const lock = this.#lockout.check(user, address);
    if (lock.locked) {
      this.stats.lockedOut++;
      this.#log?.warn("login refused: locked out", {
        user,
        peer: session.peer,
        by: lock.reason,
      });
      throw new ProtocolError(
        "locked_out",
        `too many failed logins ${
          lock.reason === "user" ? `for "${user}"` : `from ${address}`
        }; ${formatRetry(lock.retryAfterMs)}`,
      );
    }
    const ok = await this.#users.verify(user, password);
    if (!ok) {
      this.#lockout.failed(user, address);
      this.stats.failures++;
      this.#log?.warn("login failed", { user, peer: session.peer });
      // Slow down guessing; the jitter hides how long verification took.
      await delay(this.#failureDelayMs * (0.75 + Math.random() * 0.5));
      throw new ProtocolError(
        "bad_credentials",
        "wrong user name or password",
      );
    }
    this.#lockout.succeeded(user, address);
    const { token, expiresAt } = this.#tokens.issue(user);
    this.#bind(session, { user, token, expiresAt });
    this.stats.logins++;
    this.#log?.info("login", { user, peer: session.peer });
    if (session.signal.aborted) return;
    session.send("login_ok", {
      id,
      user,
      token,
      ttl: Math.ceil((expiresAt - this.#clock.now()) / 1000),
    });
  }

  #resume(
    message: Extract<Message, { type: "resume" }>,
    session: Session,
  ): void {
    const { id, token } = message.fields;
    const found = this.#tokens.lookup(token);
    if (found === undefined) {
      this.#log?.info("resume refused", { peer: session.peer });
      throw new ProtocolError(
        "bad_token",
        "the session token is unknown or expired: log in again",
      );
    }
    this.#bind(session, {
      user: found.user,
      token,
      expiresAt: found.expiresAt,
    });
    this.stats.resumes++;
    this.#log?.info("session resumed", {
      user: found.user,
      peer: session.peer,
    });
    session.send("login_ok", {
      id,
      user: found.user,
      token,
      ttl: Math.max(0, Math.ceil((found.expiresAt - this.#clock.now()) / 1000)),
    });
  }

  #logout(
    message: Extract<Message, { type: "logout" }>,
    session: Session,
  ): void {
    const identity = this.#current(session);
    if (identity !== undefined) {
      this.#tokens.revoke(identity.token);
      for (const other of this.#byToken.get(identity.token) ?? []) {
        this.#identities.delete(other);
      }
      this.#byToken.delete(identity.token);
      this.#log?.info("logout", { user: identity.user, peer: session.peer });
    }
    session.send("logout_ok", { id: message.fields.id });
  }

  #bind(session: Session, identity: Identity): void {
    const old = this.#identities.get(session);
    if (old !== undefined) this.#unbind(session, old);
    this.#identities.set(session, identity);
    let sharing = this.#byToken.get(identity.token);
    if (sharing === undefined) {
      sharing = new Set();
      this.#byToken.set(identity.token, sharing);
    }
    sharing.add(session);
  }

  #unbind(session: Session, identity: Identity): void {
    this.#identities.delete(session);
    const sharing = this.#byToken.get(identity.token);
    sharing?.delete(session);
    if (sharing?.size === 0) this.#byToken.delete(identity.token);
  }

  #forget(session: Session): void {
    const identity = this.#identities.get(session);
    if (identity !== undefined) this.#unbind(session, identity);
  }
}

/** The host part of a `host:port` peer (IPv6 without its brackets). */
export function hostOf(peer: string): string {
  const colon = peer.lastIndexOf(":");
  const host = colon === -1 ? peer : peer.slice(0, colon);
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
