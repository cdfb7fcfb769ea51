/**
 * The chat client's logic between what the user types and the server:
 * the nickname, the rooms joined and the current one, each command as a
 * request, pushes shown as lines, and (over UDP) the sequence numbers
 * that tell what was lost or reordered.
 *
 * @module
 */

import { RemoteError } from "../../protocol/tlv/protocol_error.ts";
import type { Message, MessageName } from "../../protocol/tlv/registry.ts";
import { RequestTimeoutError } from "../../lib/udp_client.ts";
import { CHAT_HELP, type ChatCommand } from "./commands.ts";
import { formatPrivate, formatPush, safeText } from "./format.ts";
import type { ChatLink, RequestFields } from "./link.ts";
import { nameKey } from "./names.ts";
import type { ChatScreen } from "./screen.ts";
import { SeqTracker } from "./seq_tracker.ts";
import { retryAfterMs } from "./token_bucket.ts";

/** Times a request refused with rate_limited is sent again. */
export const RATE_RETRIES = 5;

/** What happened to the messages of every stream, summed. */
export interface SeqTotals {
  received: number;
  lost: number;
  reordered: number;
}

/**
 * One chat user's session.
 *
 * @example
 * ```ts
 * const client = new ChatClient(link, screen);
 * if (await client.setNick("alice")) await client.execute({ kind: "join", room: "lobby" });
 * ```
 */
export class ChatClient {
  #link: ChatLink;
  #screen: ChatScreen;
  #nick: string | undefined;
  /** Rooms joined, in the order they were joined. */
  #rooms: string[] = [];
  #current: string | undefined;
  #trackers = new Map<string, SeqTracker>();
  #retired: SeqTotals = { received: 0, lost: 0, reordered: 0 };
  /** Lines of rooms being joined, held to show after "joined ROOM". */
  #held = new Map<string, string[]>();
  #sleep: (ms: number) => Promise<void>;
  /** Commands that failed. */
  failures = 0;

  /** Shows `link`'s pushes on `screen` from now on. */
  constructor(
    link: ChatLink,
    screen: ChatScreen,
    options: { sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.#link = link;
    this.#screen = screen;
    this.#sleep = options.sleep ??
      ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    link.onPush((message) => this.#onPush(message));
  }

  /** The nickname, once taken. */
  get nick(): string | undefined {
    return this.#nick;
  }

  /** The room plain text goes to. */
  get current(): string | undefined {
    return this.#current;
  }

  /** The prompt for the current state: `[lobby] alice> `. */
  get prompt(): string {
    const room = this.#current === undefined ? "" : `[${this.#current}] `;
    return `${room}${this.#nick ?? ""}> `;
  }

  /**
   * Takes nickname `nick`.
   *
   * @returns Whether the server gave it (else the reason was shown).
   */
  async setNick(nick: string): Promise<boolean> {
    return await this.#attempt(async () => {
      await this.#call("chat_nick", { nick }, true);
      const first = this.#nick === undefined;
      this.#nick = nick;
      this.#screen.status(
        first ? `you are ${nick}` : `you are now known as ${nick}`,
      );
    });
  }

  /**
   * Carries out one command. Failures are shown and counted, not thrown;
   * a broken TCP connection is thrown (nothing more can be done).
   *
   * @returns Whether it succeeded.
   */
  execute(command: ChatCommand): Promise<boolean> {
    switch (command.kind) {
      case "none":
      case "quit":
        return Promise.resolve(true);
      case "help":
        for (const line of CHAT_HELP) this.#screen.show(line);
        return Promise.resolve(true);
      case "invalid":
        return this.#fail(command.message);
      case "nick":
        return this.setNick(command.nick);
      case "join":
        return this.#join(command.room);
      case "leave":
        return this.#leave(command.room);
      case "say":
        return this.#say(command.text);
      case "msg":
        return this.#attempt(async () => {
          await this.#call("chat_private", {
            to: command.to,
            text: command.text,
          }, false);
          this.#screen.show(
            formatPrivate({
              from: this.#nick ?? "",
              to: command.to,
              text: command.text,
            }),
          );
        });
      case "who":
        return this.#who(command.room);
      case "rooms":
        return this.#attempt(async () => {
          const reply = await this.#call("chat_rooms", {}, true);
          if (reply.type !== "chat_rooms_reply") return;
          const rooms = reply.fields.room_entry ?? [];
          this.#screen.status(
            rooms.length === 0
              ? "no rooms"
              : `rooms: ${
                rooms.map((r) => `${safeText(r.room)} (${r.count})`).join(", ")
              }`,
          );
        });
    }
  }

  /** Sums of every stream's counts (over UDP: what was lost or reordered). */
  totals(): SeqTotals {
    const sum = { ...this.#retired };
    for (const t of this.#trackers.values()) {
      sum.received += t.received;
      sum.lost += t.lost;
      sum.reordered += t.reordered;
    }
    return sum;
  }

  #join(room: string): Promise<boolean> {
    return this.#attempt(async () => {
      const key = `room:${nameKey(room)}`;
      // The replay that follows the answer starts the room's count afresh.
      this.#retire(key);
      this.#held.set(key, []);
      try {
        await this.#call("chat_join", { room }, true);
        if (!this.#rooms.some((r) => nameKey(r) === nameKey(room))) {
          this.#rooms.push(room);
        }
        this.#current = room;
        this.#screen.status(`joined ${room}`);
      } finally {
        const held = this.#held.get(key) ?? [];
        this.#held.delete(key);
        for (const line of held) this.#screen.show(line);
      }
    });
  }

  #leave(room = this.#current): Promise<boolean> {
    if (room === undefined) return this.#fail("no current room: /leave ROOM");
    return this.#attempt(async () => {
      await this.#call("chat_leave", { room }, true);
      this.#rooms = this.#rooms.filter((r) => nameKey(r) !== nameKey(room));
      if (
        this.#current !== undefined && nameKey(this.#current) === nameKey(room)
      ) {
        this.#current = this.#rooms.at(-1);
      }
      this.#screen.status(`left ${room}`);
    });
  }

  #say(text: string): Promise<boolean> {
    const room = this.#current;
    if (room === undefined) return this.#fail("join a room first: /join ROOM");
    // The server sends the message back to every member, this one too.
    return this.#attempt(() => this.#call("chat_say", { room, text }, false));
  }

  #who(room = this.#current): Promise<boolean> {
    if (room === undefined) return this.#fail("no current room: /who ROOM");
    return this.#attempt(async () => {
      const reply = await this.#call("chat_who", { room }, true);
      if (reply.type !== "chat_who_reply") return;
      this.#screen.status(
        `in ${safeText(reply.fields.room)}: ${
          (reply.fields.nick ?? []).map(safeText).join(", ")
        }`,
      );
    });
  }

  /**
   * Sends a request; one refused with rate_limited is sent again when the
   * server says to, and over UDP a session the server forgot (a long
   * silence) is taken up again: nickname, then rooms.
   */
  async #call<M extends MessageName>(
    type: M,
    fields: RequestFields<M>,
    repeatable: boolean,
  ): Promise<Message> {
    for (let retry = 0;; retry++) {
      try {
        return await this.#link.request(type, fields, { repeatable });
      } catch (error) {
        if (!(error instanceof RemoteError) || retry >= RATE_RETRIES) {
          throw error;
        }
        if (error.codeName === "rate_limited") {
          await this.#sleep(retryAfterMs(error.message) ?? 1000);
        } else if (
          error.codeName === "nick_required" &&
          this.#link.transport === "udp" &&
          this.#nick !== undefined && type !== "chat_nick"
        ) {
          await this.#resume();
        } else throw error;
      }
    }
  }

  async #resume(): Promise<void> {
    this.#screen.status("the server forgot this client; taking up again");
    await this.#link.request("chat_nick", { nick: this.#nick! }, {
      repeatable: true,
    });
    for (const room of this.#rooms) {
      this.#retire(`room:${nameKey(room)}`);
      await this.#link.request("chat_join", { room }, { repeatable: true });
    }
  }

  /** Runs `work`; shows and counts its failure unless the connection broke. */
  async #attempt(work: () => Promise<unknown>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (error) {
      if (error instanceof RemoteError) return this.#fail(error.message);
      if (error instanceof RequestTimeoutError) {
        return this.#fail(`${error.message} (lost over UDP?)`);
      }
      throw error;
    }
  }

  #fail(message: string): Promise<boolean> {
    this.failures++;
    this.#screen.error(message);
    return Promise.resolve(false);
  }

  /** Starts a stream's count afresh, keeping what it counted in the totals. */
  #retire(key: string): void {
    const old = this.#trackers.get(key);
    if (old === undefined) return;
    this.#retired.received += old.received;
    this.#retired.lost += old.lost;
    this.#retired.reordered += old.reordered;
    this.#trackers.delete(key);
  }

  #onPush(message: Message): void {
    if (message.type === "error") {
      this.#screen.error(`server: ${message.fields.message}`);
      return;
    }
    const line = formatPush(message);
    if (line === undefined) return;
    const room =
      message.type === "chat_message" || message.type === "chat_notice"
        ? message.fields.room
        : undefined;
    const key = room === undefined ? "private" : `room:${nameKey(room)}`;
    // Its history arrives with the answer to a join, before "joined" is shown.
    const show = (text: string) => {
      const held = room === undefined ? undefined : this.#held.get(key);
      if (held !== undefined) held.push(text);
      else this.#screen.show(text);
    };
    if (message.type === "chat_message") {
      const { seq } = message.fields;
      let tracker = this.#trackers.get(key);
      if (tracker === undefined) {
        tracker = new SeqTracker();
        this.#trackers.set(key, tracker);
      }
      const event = tracker.observe(seq);
      // TCP loses and reorders nothing: only UDP has something to show.
      if (this.#link.transport === "udp") {
        const where = room === undefined ? "[private]" : `[${safeText(room)}]`;
        if (event.kind === "gap") {
          const count = event.to - event.from + 1;
          this.#screen.status(
            `${where} ${count} message${count === 1 ? "" : "s"} missing (seq ${
              count === 1 ? event.from : `${event.from}-${event.to}`
            })`,
          );
        } else if (event.kind === "late") {
          this.#screen.status(`${where} seq ${seq} arrived out of order`);
        } else if (event.kind === "duplicate") return;
      }
    }
    show(line);
  }
}
