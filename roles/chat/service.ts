/**
 * The chat service over its two transports: one {@linkcode ChatCore}, and
 * a thin adapter each for TCP (a client is a connection; one that falls
 * too far behind is dropped) and UDP (a client is an address; it expires
 * after a silence).
 *
 * @module
 */

import type { Logger } from "../../lib/log.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import type { ChatCore, ChatMember, Outlet } from "./core.ts";

/** Bytes a TCP client may leave unread for long, by default. */
export const DEFAULT_MAX_QUEUE = 256 * 1024;
/** How long a client's queue may stay over its bound before it is dropped (ms). */
export const DEFAULT_STALL_MS = 1000;
/**
 * A queue this many times over its bound is dropped at once: the grace
 * period must not cost unbounded memory.
 */
export const HARD_QUEUE_FACTOR = 4;
/** Rooms or nicknames in one listing, at most (a reply fits a datagram). */
export const MAX_LISTING = 1000;
/** UDP clients at once, by default. */
export const DEFAULT_MAX_UDP_SESSIONS = 1024;

/** Who a chat request is from and where its answer goes. */
export interface ChatRequestContext {
  readonly core: ChatCore;
  readonly member: ChatMember;
  readonly session: Session;
}

/**
 * Handles one chat request from `member`: every request takes a token of
 * its flood control, then the core does the work and the answer goes back
 * on `session`.
 *
 * @throws {ProtocolError} what the core throws, or `unexpected_message`.
 */
export function handleChatRequest(
  message: Message,
  { core, member, session }: ChatRequestContext,
): void {
  switch (message.type) {
    case "chat_nick": {
      core.charge(member);
      core.setNick(member, message.fields.nick);
      session.send("chat_ok", { id: message.fields.id });
      return;
    }
    case "chat_join": {
      core.charge(member);
      const history = core.join(member, message.fields.room);
      session.send("chat_ok", { id: message.fields.id });
      // Through the member, so a replay counts towards its queue bound.
      for (const fields of history) member.deliver("chat_message", fields);
      return;
    }
    case "chat_leave": {
      core.charge(member);
      core.leave(member, message.fields.room);
      session.send("chat_ok", { id: message.fields.id });
      return;
    }
    case "chat_say": {
      core.charge(member);
      core.say(member, message.fields.room, message.fields.text);
      session.send("chat_ok", { id: message.fields.id });
      return;
    }
    case "chat_private": {
      core.charge(member);
      core.whisper(member, message.fields.to, message.fields.text);
      session.send("chat_ok", { id: message.fields.id });
      return;
    }
    case "chat_rooms": {
      core.charge(member);
      session.send("chat_rooms_reply", {
        id: message.fields.id,
        room_entry: core.rooms().slice(0, MAX_LISTING),
      });
      return;
    }
    case "chat_who": {
      core.charge(member);
      const { room, nicks } = core.who(message.fields.room);
      session.send("chat_who_reply", {
        id: message.fields.id,
        room,
        nick: nicks.slice(0, MAX_LISTING),
      });
      return;
    }
    default:
      throw new ProtocolError(
        "unexpected_message",
        `${message.type} is not a chat request`,
      );
  }
}

/** Options for {@linkcode chatService}. */
export interface ChatServiceOptions {
  log: Logger;
  /** Bytes a client may leave unread for long. Default {@linkcode DEFAULT_MAX_QUEUE}. */
  maxQueueBytes?: number;
  /** How long (ms) its queue may stay over that. Default {@linkcode DEFAULT_STALL_MS}. */
  stallMs?: number;
}

/**
 * The chat service for the TCP host: a member per connection. A member
 * whose connection still has more than `maxQueueBytes` queued and unwritten
 * `stallMs` after it first had, or at any time more than
 * {@linkcode HARD_QUEUE_FACTOR} times that, is dropped with a logged
 * reason: a reader that stalls costs the room nothing but its own
 * connection. The grace period is for a busy room: a burst handed out in
 * one turn is queued before the socket takes any of it, even for a reader
 * that keeps up.
 *
 * @example
 * ```ts
 * const core = new ChatCore();
 * await using server = new TlvServer({ services: [chatService(core, { log })], port: 0 });
 * ```
 */
export function chatService(
  core: ChatCore,
  options: ChatServiceOptions,
): TlvService {
  const { log } = options;
  const maxQueue = options.maxQueueBytes ?? DEFAULT_MAX_QUEUE;
  const hardQueue = maxQueue * HARD_QUEUE_FACTOR;
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  const members = new Map<Session, ChatMember>();
  const checks = new Map<Session, ReturnType<typeof setTimeout>>();

  function memberOf(session: Session): ChatMember {
    const known = members.get(session);
    if (known !== undefined) return known;
    const drop = (reason: string) => {
      clearTimeout(checks.get(session));
      checks.delete(session);
      log.warn("chat client dropped", {
        peer: session.peer,
        nick: member.nick,
        queued: session.queuedBytes,
        reason,
      });
      member.drop(reason);
    };
    const outlet: Outlet = {
      send(type, fields) {
        session.send(type, fields);
        const queued = session.queuedBytes;
        if (queued <= maxQueue || member.gone) return;
        if (queued > hardQueue) {
          drop(`dropped: fell more than ${hardQueue} bytes behind`);
        } else if (!checks.has(session)) {
          checks.set(
            session,
            setTimeout(() => {
              checks.delete(session);
              if (session.queuedBytes > maxQueue && !member.gone) {
                drop(
                  `dropped: more than ${maxQueue} bytes behind for ${stallMs} ms`,
                );
              }
            }, stallMs),
          );
        }
      },
      close(reason) {
        session.close?.(reason);
      },
    };
    const member = core.connect(outlet, session.peer);
    members.set(session, member);
    return member;
  }

  return {
    name: "chat",
    handle(message, session) {
      handleChatRequest(message, { core, member: memberOf(session), session });
    },
    closed(session) {
      clearTimeout(checks.get(session));
      checks.delete(session);
      const member = members.get(session);
      if (member === undefined) return;
      members.delete(session);
      core.disconnect(member);
    },
  };
}

/** Options for {@linkcode UdpChatService}. */
export interface UdpChatServiceOptions {
  log: Logger;
  /** A client silent this long (ms) is forgotten: it leaves its rooms. */
  sessionTimeoutMs: number;
  /** Clients at once; more are refused with `server_busy`. Default {@linkcode DEFAULT_MAX_UDP_SESSIONS}. */
  maxSessions?: number;
  /** Clock (ms) for expiry; tests inject one. */
  now?: () => number;
  /** How often expired sessions are looked for (ms). Default a quarter of the timeout, 5 s at most. */
  sweepEveryMs?: number;
}

interface UdpEntry {
  readonly member: ChatMember;
  /** The latest datagram's session: sends go to the client's address. */
  session: Session;
  heard: number;
}

/**
 * The chat service for the UDP host: a member per client address, kept
 * while datagrams keep coming (a ping is enough) and forgotten after
 * `sessionTimeoutMs` of silence. Pushes are single datagrams with `seq`,
 * so a client can count what was lost or reordered.
 *
 * @example
 * ```ts
 * using chat = new UdpChatService(core, { log, sessionTimeoutMs: 60_000 });
 * await using server = new UdpServer({ service: chat, port: 0 });
 * ```
 */
export class UdpChatService implements TlvService, Disposable {
  readonly name = "chat" as const;
  #core: ChatCore;
  #log: Logger;
  #timeoutMs: number;
  #maxSessions: number;
  #now: () => number;
  #peers = new Map<string, UdpEntry>();
  #timer: ReturnType<typeof setInterval>;

  /** Starts the expiry sweep; {@linkcode close} stops it. */
  constructor(core: ChatCore, options: UdpChatServiceOptions) {
    this.#core = core;
    this.#log = options.log;
    this.#timeoutMs = options.sessionTimeoutMs;
    this.#maxSessions = options.maxSessions ?? DEFAULT_MAX_UDP_SESSIONS;
    this.#now = options.now ?? (() => performance.now());
    const every = options.sweepEveryMs ??
      Math.min(5000, Math.max(50, this.#timeoutMs / 4));
    this.#timer = setInterval(() => this.sweep(), every);
  }

  /** Client addresses with a session now. */
  get sessions(): number {
    return this.#peers.size;
  }

  /** Handles one datagram's chat request. */
  handle(message: Message, session: Session): void {
    const entry = this.#entry(session);
    entry.session = session;
    entry.heard = this.#now();
    handleChatRequest(message, {
      core: this.#core,
      member: entry.member,
      session,
    });
  }

  /** Any datagram (a ping too) keeps the address's session alive. */
  heard(session: Session): void {
    const entry = this.#peers.get(session.peer);
    if (entry !== undefined) entry.heard = this.#now();
  }

  /** Forgets the sessions silent for longer than the timeout. */
  sweep(): void {
    const limit = this.#now() - this.#timeoutMs;
    for (const [peer, entry] of this.#peers) {
      if (entry.heard > limit) continue;
      this.#peers.delete(peer);
      this.#log.info("chat session expired", {
        peer,
        nick: entry.member.nick,
        silent_ms: this.#timeoutMs,
      });
      this.#core.disconnect(entry.member, "timed out");
    }
  }

  /** Stops the sweep and forgets every session. */
  close(): void {
    clearInterval(this.#timer);
    for (const entry of this.#peers.values()) {
      this.#core.disconnect(entry.member, "server stopped");
    }
    this.#peers.clear();
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #entry(session: Session): UdpEntry {
    const peer = session.peer;
    const known = this.#peers.get(peer);
    if (known !== undefined) return known;
    if (this.#peers.size >= this.#maxSessions) this.sweep();
    if (this.#peers.size >= this.#maxSessions) {
      throw new ProtocolError(
        "server_busy",
        `This server has its limit of ${this.#maxSessions} chat clients; try again later`,
      );
    }
    const outlet: Outlet = {
      send: (type, fields) => entry.session.send(type, fields),
      close: () => {
        // Kicked: a later datagram from the address starts afresh.
        if (this.#peers.get(peer) === entry) this.#peers.delete(peer);
      },
    };
    const entry: UdpEntry = {
      member: this.#core.connect(outlet, peer),
      session,
      heard: this.#now(),
    };
    this.#peers.set(peer, entry);
    return entry;
  }
}
