/**
 * The time service: answers `time_request` with its receive and send times
 * (NTP's t2 and t3), and sends subscribers a `time_tick` every second for
 * as long as they keep sending heartbeats.
 *
 * @module
 */

import { Logger } from "../../lib/log.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import { ERRORS } from "../../protocol/tlv/registry.ts";
import { type Clock, systemClock } from "./clock.ts";

/** Time between ticks (ms), by default. */
export const DEFAULT_TICK_MS = 1000;
/** How long a subscriber may stay silent before it is dropped (ms), by default. */
export const DEFAULT_SUBSCRIBER_TIMEOUT_MS = 10_000;
/** Most subscribers at once, by default. */
export const DEFAULT_MAX_SUBSCRIBERS = 256;

/** Options for {@linkcode timeService}. */
export interface TimeServiceOptions {
  /** The server's clock. Default: the system clock. */
  clock?: Clock;
  /** Time between ticks (ms). Default {@linkcode DEFAULT_TICK_MS}. */
  tickMs?: number;
  /**
   * A subscriber from whose address nothing (no heartbeat `ping`, no
   * request) arrived for this long is dropped (ms). Default
   * {@linkcode DEFAULT_SUBSCRIBER_TIMEOUT_MS}.
   */
  subscriberTimeoutMs?: number;
  /** Most subscriptions at once; more are refused with server_busy. Default {@linkcode DEFAULT_MAX_SUBSCRIBERS}. */
  maxSubscribers?: number;
  /** Monotonic milliseconds for expiry. Default `performance.now`. */
  now?: () => number;
  log?: Logger;
}

/** The time service, with what tests and logs need to see. */
export interface TimeService extends TlvService {
  /** Subscriptions now. */
  readonly subscribers: number;
  /** Ends every subscription and stops ticking (the host's shutdown does it too). */
  close(): void;
}

interface Subscription {
  readonly session: Session;
  readonly id: number;
  seq: number;
}

/**
 * Creates the time service.
 *
 * @example
 * ```ts
 * await using server = new UdpServer({
 *   service: timeService({ clock: systemClock(250) }), // 250 ms ahead
 * });
 * ```
 */
export function timeService(options: TimeServiceOptions = {}): TimeService {
  const clock = options.clock ?? systemClock();
  const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
  const timeoutMs = options.subscriberTimeoutMs ??
    DEFAULT_SUBSCRIBER_TIMEOUT_MS;
  const maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
  const now = options.now ?? (() => performance.now());
  const log = options.log ?? new Logger({ name: "time" });
  // By peer address, then subscription id: a heartbeat keeps all of a
  // peer's subscriptions, since it names none.
  const peers = new Map<
    string,
    { lastHeard: number; subs: Map<number, Subscription> }
  >();
  const watched = new WeakSet<AbortSignal>();
  let count = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;

  function tick(sub: Subscription): void {
    sub.seq++;
    sub.session.send("time_tick", { id: sub.id, seq: sub.seq, time: clock() });
  }

  function everyTick(): void {
    const at = now();
    for (const [peer, entry] of peers) {
      if (at - entry.lastHeard > timeoutMs) {
        for (const sub of entry.subs.values()) {
          // The error tells a client that is still there why the ticks stop.
          sub.session.send("error", {
            id: sub.id,
            code: ERRORS.idle_timeout.code,
            message: `no heartbeat for ${timeoutMs} ms`,
          });
        }
        log.info("subscriber expired", {
          peer,
          subscriptions: entry.subs.size,
        });
        remove(peer);
        continue;
      }
      for (const sub of entry.subs.values()) tick(sub);
    }
  }

  function remove(peer: string, id?: number): void {
    const entry = peers.get(peer);
    if (entry === undefined) return;
    if (id === undefined) {
      count -= entry.subs.size;
      peers.delete(peer);
    } else if (entry.subs.delete(id)) {
      count--;
      if (entry.subs.size === 0) peers.delete(peer);
    }
    // No timer while nobody listens: an idle server holds nothing.
    if (count === 0 && ticker !== undefined) {
      clearInterval(ticker);
      ticker = undefined;
    }
  }

  function close(): void {
    peers.clear();
    count = 0;
    if (ticker !== undefined) clearInterval(ticker);
    ticker = undefined;
  }

  function subscribe(session: Session, id: number): void {
    const entry = peers.get(session.peer) ??
      { lastHeard: now(), subs: new Map<number, Subscription>() };
    let sub = entry.subs.get(id);
    if (sub === undefined) {
      if (count >= maxSubscribers) {
        throw new ProtocolError(
          "server_busy",
          `the server has its limit of ${maxSubscribers} subscribers; try again later`,
        );
      }
      sub = { session, id, seq: 0 };
      entry.subs.set(id, sub);
      peers.set(session.peer, entry);
      count++;
      log.debug("subscribed", { peer: session.peer, id });
    }
    // The first tick at once answers the request: the client knows it is on.
    tick(sub);
    ticker ??= setInterval(everyTick, tickMs);
  }

  return {
    name: "time",
    get subscribers() {
      return count;
    },
    close,
    heard(session) {
      const entry = peers.get(session.peer);
      if (entry) entry.lastHeard = now();
    },
    handle(message, session) {
      if (!watched.has(session.signal)) {
        watched.add(session.signal);
        session.signal.addEventListener("abort", close, { once: true });
      }
      switch (message.type) {
        case "time_request": {
          const t2 = clock();
          const { id, t1 } = message.fields;
          session.send("time_reply", { id, t1, t2, t3: clock() });
          return;
        }
        case "time_subscribe":
          subscribe(session, message.fields.id);
          return;
        case "time_unsubscribe":
          remove(session.peer, message.fields.id);
          return;
        default:
          throw new ProtocolError(
            "unexpected_message",
            `the time service does not accept ${message.type}`,
          );
      }
    },
  };
}
