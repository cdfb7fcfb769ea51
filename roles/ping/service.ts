/**
 * The ping service: every `ping` is answered with a `pong` echoing its id,
 * time and data — through a simulated bad network when asked (loss, delay,
 * jitter, reordering), with a bound on the replies waiting to go out.
 *
 * @module
 */

import { Logger } from "../../lib/log.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { MessageFields } from "../../protocol/tlv/registry.ts";
import type { NetworkSimulation } from "./simulation.ts";

/** Most replies waiting for their delay or held back, by default. */
export const DEFAULT_MAX_PENDING = 256;

/** Longest a held-back reply waits for another to overtake it (ms), by default. */
export const DEFAULT_HOLD_MS = 1000;

/** Options for {@linkcode pingService}. */
export interface PingServiceOptions {
  /** The network to simulate; without one every ping is answered at once. */
  simulation?: NetworkSimulation | undefined;
  /**
   * Most replies waiting at once (delayed or held back); beyond it replies
   * are dropped, as a router's full queue drops packets. Default
   * {@linkcode DEFAULT_MAX_PENDING}.
   */
  maxPending?: number;
  /** Longest a held-back reply waits for another to overtake it (ms). Default {@linkcode DEFAULT_HOLD_MS}. */
  holdMs?: number;
  log?: Logger;
}

/** The ping service, with counters for tests and logs. */
export interface PingService extends TlvService {
  /** Replies waiting for their delay or held back now. */
  readonly pending: number;
  /** Replies dropped because {@linkcode PingServiceOptions.maxPending} were waiting. */
  readonly overflowed: number;
  /** Cancels every waiting reply (the host's shutdown does it too). */
  close(): void;
}

interface Reply {
  readonly session: Session;
  readonly fields: MessageFields<"pong">;
}

/**
 * Creates the ping service. It answers pings itself (`handlesPing`), so the
 * host does not answer them at once.
 *
 * @example
 * ```ts
 * const simulation = new NetworkSimulation({ loss: 0.3, seed: 7 });
 * await using server = new UdpServer({ service: pingService({ simulation }) });
 * ```
 */
export function pingService(options: PingServiceOptions = {}): PingService {
  const simulation = options.simulation;
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  const holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
  const log = options.log ?? new Logger({ name: "ping" });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  // One held-back reply per peer: reordering happens within a flow.
  const held = new Map<
    string,
    { reply: Reply; timer: ReturnType<typeof setTimeout> }
  >();
  const watched = new WeakSet<AbortSignal>();
  let overflowed = 0;
  let full = false;

  const pending = () => timers.size + held.size;

  function close(): void {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const { timer } of held.values()) clearTimeout(timer);
    held.clear();
  }

  function later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  }

  /** Sends `reply`, then the one held back for its peer: they swap places. */
  function release(reply: Reply, holdBack: boolean): void {
    const peer = reply.session.peer;
    const waiting = held.get(peer);
    if (holdBack && waiting === undefined) {
      const timer = setTimeout(() => {
        // Nothing overtook it in time: it goes out late, not never.
        held.delete(peer);
        reply.session.send("pong", reply.fields);
      }, holdMs);
      held.set(peer, { reply, timer });
      return;
    }
    reply.session.send("pong", reply.fields);
    if (waiting !== undefined) {
      clearTimeout(waiting.timer);
      held.delete(peer);
      waiting.reply.session.send("pong", waiting.reply.fields);
    }
  }

  return {
    name: "ping",
    handlesPing: true,
    get pending() {
      return pending();
    },
    get overflowed() {
      return overflowed;
    },
    close,
    handle(message, session) {
      if (message.type !== "ping") {
        throw new ProtocolError(
          "unexpected_message",
          `the ping service does not accept ${message.type}`,
        );
      }
      if (!watched.has(session.signal)) {
        watched.add(session.signal);
        session.signal.addEventListener("abort", close, { once: true });
      }
      const fate = simulation?.next();
      if (fate === undefined) {
        session.send("pong", message.fields);
        return;
      }
      const { id } = message.fields;
      if (fate.lost) {
        log.debug("reply lost (simulated)", { peer: session.peer, id });
        return;
      }
      if (fate.delayMs === 0 && !fate.holdBack) {
        release({ session, fields: message.fields }, false);
        return;
      }
      if (pending() >= maxPending) {
        overflowed++;
        if (!full) {
          full = true;
          log.warn("too many replies waiting; dropping more until some go", {
            pending: maxPending,
          });
        }
        return;
      }
      if (full && pending() < maxPending / 2) full = false;
      // The host reuses its receive buffer: keep a copy of the data.
      const fields = {
        ...message.fields,
        ...(message.fields.data ? { data: message.fields.data.slice() } : {}),
      };
      const reply = { session, fields };
      if (fate.delayMs === 0) release(reply, true);
      else later(fate.delayMs, () => release(reply, fate.holdBack));
    },
  };
}
