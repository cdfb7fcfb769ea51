/**
 * The chat core (day 5): nicknames, rooms, history, private messages,
 * notices, flood control and the operator's commands, with no sockets.
 * The TCP and UDP transports (`service.ts`) only map frames to these calls
 * and give each client an {@linkcode Outlet}; tests drive it directly with
 * an injected clock.
 *
 * Delivery never waits: a message to a room is handed to every member's
 * outlet in one synchronous loop, so one slow member cannot hold the room
 * back. An outlet that cannot keep up calls {@linkcode ChatMember.drop}.
 *
 * @module
 */

import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { MessageFields } from "../../protocol/tlv/registry.ts";
import { checkName, nameKey } from "./names.ts";
import { rateLimitMessage, TokenBucket } from "./token_bucket.ts";

/** How many messages of a room are kept and replayed on join. */
export const HISTORY_SIZE = 50;
/** Longest message text by default, in bytes of UTF-8. */
export const DEFAULT_MAX_MESSAGE = 4096;
/** Default flood control: messages per second per client. */
export const DEFAULT_RATE = 10;
/** Rooms one client may be in at once by default. */
export const DEFAULT_MAX_ROOMS_PER_MEMBER = 32;
/** Empty rooms kept (for their history) before the oldest is forgotten. */
export const DEFAULT_MAX_IDLE_ROOMS = 1000;
/** The name the operator's messages come from (not a valid nickname). */
export const OPERATOR_NICK = "@server";

/** The fields of a chat_message. */
export type ChatMessage = MessageFields<"chat_message">;
/** The fields of a chat_notice. */
export type ChatNotice = MessageFields<"chat_notice">;

/** The messages the core pushes to clients. */
export type ChatPush = "chat_message" | "chat_notice";

/** Where the core sends a client's messages; given by the transport. */
export interface Outlet {
  /** Queues a push to the client. Must not wait. */
  send<M extends ChatPush>(type: M, fields: MessageFields<M>): void;
  /** Ends the client's connection (kicked, or too slow). */
  close(reason: string): void;
}

/** Options for {@linkcode ChatCore}. */
export interface ChatCoreOptions {
  /** Longest message text, in bytes. Default {@linkcode DEFAULT_MAX_MESSAGE}. */
  maxMessageBytes?: number;
  /** Messages per second per client. Default {@linkcode DEFAULT_RATE}. */
  rate?: number;
  /** Messages a client may send at once. Default twice the rate. */
  burst?: number;
  /** Rooms one client may be in. Default {@linkcode DEFAULT_MAX_ROOMS_PER_MEMBER}. */
  maxRoomsPerMember?: number;
  /** Empty rooms kept for their history. Default {@linkcode DEFAULT_MAX_IDLE_ROOMS}. */
  maxIdleRooms?: number;
  /** Clock in milliseconds since 1970; tests inject one. */
  now?: () => number;
}

/** A room of a listing. */
export interface RoomEntry {
  readonly room: string;
  readonly count: number;
}

const encoder = new TextEncoder();

/** One connected client, made by {@linkcode ChatCore.connect}. */
export class ChatMember {
  /** `host:port` of the client, for logs. */
  readonly peer: string;
  /** @internal */
  readonly _outlet: Outlet;
  /** @internal The rooms the client is in. */
  readonly _rooms = new Set<Room>();
  /** @internal */
  readonly _bucket: TokenBucket;
  /** @internal Private messages received, numbered like a room's. */
  _privateSeq = 0;
  /** @internal */
  _nick: string | undefined;
  #core: ChatCore;
  #gone = false;

  /** @internal Use {@linkcode ChatCore.connect}. */
  constructor(
    core: ChatCore,
    parts: { outlet: Outlet; peer: string; bucket: TokenBucket },
  ) {
    this.#core = core;
    this._outlet = parts.outlet;
    this.peer = parts.peer;
    this._bucket = parts.bucket;
  }

  /** The client's nickname, once it has one. */
  get nick(): string | undefined {
    return this._nick;
  }

  /** Names of the rooms the client is in. */
  get rooms(): string[] {
    return [...this._rooms].map((r) => r.name);
  }

  /** Whether the client has been disconnected, dropped or kicked. */
  get gone(): boolean {
    return this.#gone;
  }

  /** @internal Marks the member gone; false if it already was. */
  _leave(): boolean {
    if (this.#gone) return false;
    this.#gone = true;
    return true;
  }

  /** Hands a push to the client's outlet, unless it is gone. */
  deliver<M extends ChatPush>(type: M, fields: MessageFields<M>): void {
    if (this.#gone) return;
    this._outlet.send(type, fields);
  }

  /**
   * Drops a client that cannot keep up: it stops receiving at once, and
   * leaves its rooms (with a notice) and loses its connection just after
   * the delivery in progress, which is never interrupted.
   */
  drop(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    queueMicrotask(() => {
      this.#core._remove(this, reason);
      this._outlet.close(reason);
    });
  }
}

/** @internal A room: members, its sequence counter and its history. */
class Room {
  readonly name: string;
  readonly key: string;
  readonly members = new Set<ChatMember>();
  readonly history: ChatMessage[] = [];
  seq = 0;

  constructor(name: string) {
    this.name = name;
    this.key = nameKey(name);
  }
}

/**
 * The chat rooms of one server.
 *
 * @example
 * ```ts
 * const core = new ChatCore();
 * const alice = core.connect(outlet, "127.0.0.1:5000");
 * core.setNick(alice, "alice");
 * core.join(alice, "lobby"); // [] (no history yet)
 * core.say(alice, "lobby", "hi"); // every member's outlet gets chat_message seq 1
 * ```
 */
export class ChatCore {
  readonly maxMessageBytes: number;
  readonly rate: number;
  readonly burst: number;
  readonly maxRoomsPerMember: number;
  readonly maxIdleRooms: number;
  #now: () => number;
  #members = new Set<ChatMember>();
  #nicks = new Map<string, ChatMember>();
  #rooms = new Map<string, Room>();
  /** Empty rooms, least recently emptied first. */
  #idle = new Set<Room>();

  /** Creates an empty server; see {@linkcode ChatCoreOptions}. */
  constructor(options: ChatCoreOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    this.rate = options.rate ?? DEFAULT_RATE;
    this.burst = options.burst ?? 2 * this.rate;
    this.maxRoomsPerMember = options.maxRoomsPerMember ??
      DEFAULT_MAX_ROOMS_PER_MEMBER;
    this.maxIdleRooms = options.maxIdleRooms ?? DEFAULT_MAX_IDLE_ROOMS;
    this.#now = options.now ?? Date.now;
  }

  /** Clients connected now. */
  get size(): number {
    return this.#members.size;
  }

  /** A new client without a nickname. */
  connect(outlet: Outlet, peer: string): ChatMember {
    const member = new ChatMember(this, {
      outlet,
      peer,
      bucket: new TokenBucket(
        { rate: this.rate, burst: this.burst },
        this.#now(),
      ),
    });
    this.#members.add(member);
    return member;
  }

  /**
   * A client's connection ended: it leaves its rooms, each told why, and
   * its nickname is free again. Calling it again does nothing.
   */
  disconnect(member: ChatMember, reason = "disconnected"): void {
    member._leave();
    this._remove(member, reason);
  }

  /** @internal Removes a member that is marked gone. */
  _remove(member: ChatMember, reason: string): void {
    if (!this.#members.delete(member)) return;
    const nick = member._nick;
    for (const room of member._rooms) {
      this.#part(room, member);
      this.#notice(room, `${nick} left (${reason})`);
    }
    member._rooms.clear();
    if (nick !== undefined) this.#nicks.delete(nameKey(nick));
  }

  /**
   * Takes one token of the client's flood control.
   *
   * @throws {ProtocolError} `rate_limited`, saying when to go on.
   */
  charge(member: ChatMember): void {
    const wait = member._bucket.take(this.#now());
    if (wait > 0) {
      throw new ProtocolError(
        "rate_limited",
        rateLimitMessage({ rate: this.rate, burst: this.burst, waitMs: wait }),
      );
    }
  }

  /**
   * Gives the client nickname `nick`, or changes it (every room it is in is
   * told). Taking the name one already has is allowed, in any case.
   *
   * @throws {ProtocolError} `bad_name` or `nick_taken`.
   */
  setNick(member: ChatMember, nick: string): void {
    const name = checkName(nick, "nickname");
    const key = nameKey(name);
    const owner = this.#nicks.get(key);
    if (owner !== undefined && owner !== member) {
      throw new ProtocolError(
        "nick_taken",
        `The nickname ${JSON.stringify(owner._nick)} is taken; choose another`,
      );
    }
    const old = member._nick;
    if (old === name) return;
    if (old !== undefined) this.#nicks.delete(nameKey(old));
    this.#nicks.set(key, member);
    member._nick = name;
    if (old === undefined) return;
    for (const room of member._rooms) {
      this.#notice(room, `${old} is now known as ${name}`, member);
    }
  }

  /**
   * Joins `room`, creating it if new; the others in it are told.
   *
   * @returns The room's last messages (at most {@linkcode HISTORY_SIZE}),
   *   oldest first, for the transport to replay after its answer; none
   *   when the client was in the room already.
   * @throws {ProtocolError} `nick_required`, `bad_name`, `too_many_rooms`.
   */
  join(member: ChatMember, room: string): ChatMessage[] {
    const nick = this.#nickOf(member);
    const name = checkName(room, "room name");
    const key = nameKey(name);
    let target = this.#rooms.get(key);
    if (target?.members.has(member)) return [];
    if (member._rooms.size >= this.maxRoomsPerMember) {
      throw new ProtocolError(
        "too_many_rooms",
        `You are in ${member._rooms.size} rooms, the most this server allows; leave one first`,
      );
    }
    if (target === undefined) {
      target = new Room(name);
      this.#rooms.set(key, target);
    }
    this.#idle.delete(target);
    this.#notice(target, `${nick} joined`);
    target.members.add(member);
    member._rooms.add(target);
    return [...target.history];
  }

  /**
   * Leaves `room`; the others in it are told.
   *
   * @throws {ProtocolError} `nick_required`, `not_in_room`.
   */
  leave(member: ChatMember, room: string): void {
    const nick = this.#nickOf(member);
    const target = this.#memberRoom(member, room);
    this.#part(target, member);
    member._rooms.delete(target);
    this.#notice(target, `${nick} left`);
  }

  /**
   * Says `text` in `room`: every member gets it (the sender too), numbered
   * with the room's next `seq`, and it joins the room's history.
   *
   * @returns The message as delivered.
   * @throws {ProtocolError} `nick_required`, `too_long`, `not_in_room`.
   */
  say(member: ChatMember, room: string, text: string): ChatMessage {
    const nick = this.#nickOf(member);
    this.#checkLength(text);
    return this.#post(this.#memberRoom(member, room), nick, text);
  }

  /**
   * Sends `text` to the client called `to` only.
   *
   * @returns The message as delivered (`seq` counts the receiver's
   *   private messages).
   * @throws {ProtocolError} `nick_required`, `too_long`, `not_found`.
   */
  whisper(member: ChatMember, to: string, text: string): ChatMessage {
    const from = this.#nickOf(member);
    this.#checkLength(text);
    const target = this.#nicks.get(nameKey(to));
    if (target === undefined) {
      throw new ProtocolError(
        "not_found",
        `No one is called ${JSON.stringify(to)} here`,
      );
    }
    const fields: ChatMessage = {
      to: target._nick!,
      from,
      text,
      seq: ++target._privateSeq,
      time: this.#micros(),
    };
    target.deliver("chat_message", fields);
    return fields;
  }

  /** The rooms someone is in, with how many, by name. */
  rooms(): RoomEntry[] {
    return [...this.#rooms.values()]
      .filter((r) => r.members.size > 0)
      .map((r) => ({ room: r.name, count: r.members.size }))
      .sort((a, b) => a.room < b.room ? -1 : a.room > b.room ? 1 : 0);
  }

  /**
   * The room's name as created and the nicknames in it, sorted.
   *
   * @throws {ProtocolError} `bad_name`, `not_found` (nobody is in it).
   */
  who(room: string): { room: string; nicks: string[] } {
    const target = this.#rooms.get(nameKey(checkName(room, "room name")));
    if (target === undefined || target.members.size === 0) {
      throw new ProtocolError(
        "not_found",
        `No one is in the room ${JSON.stringify(room)}`,
      );
    }
    const nicks = [...target.members].map((m) => m._nick!).sort();
    return { room: target.name, nicks };
  }

  /**
   * The operator says `text` in `room`, as {@linkcode OPERATOR_NICK}; the
   * room must exist. No flood control or length limit applies.
   *
   * @throws {ProtocolError} `bad_name`, `not_found`.
   */
  operatorSay(room: string, text: string): ChatMessage {
    const target = this.#rooms.get(nameKey(checkName(room, "room name")));
    if (target === undefined) {
      throw new ProtocolError(
        "not_found",
        `There is no room ${JSON.stringify(room)}`,
      );
    }
    return this.#post(target, OPERATOR_NICK, text);
  }

  /** The operator tells every client `text` (a notice without a room). */
  announce(text: string): number {
    const fields: ChatNotice = { text, time: this.#micros() };
    for (const member of this.#members) member.deliver("chat_notice", fields);
    return this.#members.size;
  }

  /**
   * Disconnects the client called `nick`: it is told why, its rooms are
   * told it was kicked, and its connection is closed.
   *
   * @returns The nickname as taken, or `undefined` when nobody has it.
   */
  kick(nick: string, reason = "kicked by the operator"): string | undefined {
    const member = this.#nicks.get(nameKey(nick));
    if (member === undefined) return undefined;
    member.deliver("chat_notice", {
      text: `You were ${reason}`,
      time: this.#micros(),
    });
    this.disconnect(member, reason);
    member._outlet.close(reason);
    return member._nick;
  }

  #post(room: Room, from: string, text: string): ChatMessage {
    const fields: ChatMessage = {
      room: room.name,
      from,
      text,
      seq: ++room.seq,
      time: this.#micros(),
    };
    room.history.push(fields);
    if (room.history.length > HISTORY_SIZE) room.history.shift();
    for (const member of room.members) member.deliver("chat_message", fields);
    return fields;
  }

  /** A notice to the members of `room`, but `except`. */
  #notice(room: Room, text: string, except?: ChatMember): void {
    const fields: ChatNotice = {
      room: room.name,
      text,
      time: this.#micros(),
    };
    for (const member of room.members) {
      if (member !== except) member.deliver("chat_notice", fields);
    }
  }

  /** Takes `member` out of `room`; an emptied room is kept a while for its history. */
  #part(room: Room, member: ChatMember): void {
    room.members.delete(member);
    if (room.members.size > 0) return;
    this.#idle.add(room);
    if (this.#idle.size > this.maxIdleRooms) {
      const oldest = this.#idle.values().next().value!;
      this.#idle.delete(oldest);
      this.#rooms.delete(oldest.key);
    }
  }

  #nickOf(member: ChatMember): string {
    if (member._nick === undefined) {
      throw new ProtocolError(
        "nick_required",
        "Take a nickname first (chat_nick)",
      );
    }
    return member._nick;
  }

  #memberRoom(member: ChatMember, room: string): Room {
    const target = this.#rooms.get(nameKey(room));
    if (target === undefined || !target.members.has(member)) {
      throw new ProtocolError(
        "not_in_room",
        `You are not in the room ${JSON.stringify(room)}; join it first`,
      );
    }
    return target;
  }

  #checkLength(text: string): void {
    // Characters are at most 3 bytes in UTF-16 → UTF-8; only long texts are encoded.
    if (text.length * 3 <= this.maxMessageBytes) return;
    const bytes = encoder.encode(text).length;
    if (bytes > this.maxMessageBytes) {
      throw new ProtocolError(
        "too_long",
        `The message is ${bytes} bytes; this server takes at most ${this.maxMessageBytes}`,
      );
    }
  }

  #micros(): number {
    return Math.round(this.#now() * 1000);
  }
}
