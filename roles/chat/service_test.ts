import assert from "node:assert/strict";
import { Logger } from "../../lib/log.ts";
import type { Session } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import { ChatCore } from "./core.ts";
import { chatService, UdpChatService } from "./service.ts";

/** A session that records what is sent; `queued` is what it reports as unread. */
function fakeSession(peer: string) {
  const sent: Message[] = [];
  const closed: string[] = [];
  const closing = Promise.withResolvers<void>();
  const session: Session & { queued: number } = {
    peer,
    service: "chat",
    signal: new AbortController().signal,
    queued: 0,
    send(type, fields) {
      sent.push({ type, fields } as Message);
    },
    drained: () => Promise.resolve(),
    congested: false,
    get queuedBytes() {
      return this.queued;
    },
    close(reason) {
      closed.push(reason);
      closing.resolve();
    },
  };
  return { session, sent, closed, closing: closing.promise };
}

function quietLog() {
  const lines: string[] = [];
  return { log: new Logger({ sink: (l) => lines.push(l) }), lines };
}

const request = (message: Message) => message;

Deno.test({
  name: "chatService answers requests and replays history after chat_ok",
  permissions: "none",
  fn() {
    const core = new ChatCore({ now: () => 0 });
    const service = chatService(core, quietLog());
    const a = fakeSession("a:1");
    service.handle(
      request({ type: "chat_nick", fields: { id: 1, nick: "alice" } }),
      a.session,
    );
    service.handle(
      request({ type: "chat_join", fields: { id: 2, room: "lobby" } }),
      a.session,
    );
    service.handle(
      request({
        type: "chat_say",
        fields: { id: 3, room: "lobby", text: "hi" },
      }),
      a.session,
    );
    const b = fakeSession("b:1");
    service.handle(
      request({ type: "chat_nick", fields: { id: 1, nick: "bob" } }),
      b.session,
    );
    service.handle(
      request({ type: "chat_join", fields: { id: 2, room: "lobby" } }),
      b.session,
    );
    service.handle(
      request({ type: "chat_who", fields: { id: 3, room: "LOBBY" } }),
      b.session,
    );
    service.handle(
      request({ type: "chat_rooms", fields: { id: 4 } }),
      b.session,
    );
    assert.deepEqual(b.sent.map((m) => m.type), [
      "chat_ok",
      "chat_ok",
      "chat_message",
      "chat_who_reply",
      "chat_rooms_reply",
    ]);
    assert.deepEqual(b.sent[3]!.fields, {
      id: 3,
      room: "lobby",
      nick: ["alice", "bob"],
    });
    assert.deepEqual(b.sent[4]!.fields, {
      id: 4,
      room_entry: [{ room: "lobby", count: 2 }],
    });
    assert.throws(
      () =>
        service.handle(
          request({ type: "calc_request", fields: { id: 9, expression: "1" } }),
          b.session,
        ),
      (e) => e instanceof ProtocolError && e.code === "unexpected_message",
    );
    // The connection ends: the room is told.
    service.closed?.(b.session);
    assert.deepEqual(a.sent.at(-1), {
      type: "chat_notice",
      fields: { room: "lobby", text: "bob left (disconnected)", time: 0 },
    });
  },
});

Deno.test({
  name:
    "chatService drops a client whose unread queue passes the hard bound at once, logging why",
  permissions: "none",
  async fn() {
    const core = new ChatCore({ now: () => 0 });
    const { log, lines } = quietLog();
    const service = chatService(core, { log, maxQueueBytes: 1000 });
    const users = ["alice", "slow", "carol"].map((nick) => {
      const s = fakeSession(`${nick}:1`);
      service.handle(
        request({ type: "chat_nick", fields: { id: 1, nick } }),
        s.session,
      );
      service.handle(
        request({ type: "chat_join", fields: { id: 2, room: "r" } }),
        s.session,
      );
      return s;
    });
    const [alice, slow, carol] = users as [
      typeof users[0],
      typeof users[0],
      typeof users[0],
    ];
    slow.session.queued = 4001; // the peer stopped reading long ago
    service.handle(
      request({ type: "chat_say", fields: { id: 3, room: "r", text: "one" } }),
      alice.session,
    );
    service.handle(
      request({ type: "chat_say", fields: { id: 4, room: "r", text: "two" } }),
      alice.session,
    );
    await Promise.resolve();
    assert.equal(slow.sent.filter((m) => m.type === "chat_message").length, 1);
    assert.deepEqual(slow.closed, [
      "dropped: fell more than 4000 bytes behind",
    ]);
    assert.ok(
      lines.some((l) =>
        l.includes("chat client dropped") && l.includes("nick=slow")
      ),
      lines.join("\n"),
    );
    // The others got every message, then the reason the slow one left.
    assert.deepEqual(
      carol.sent.map((m) =>
        m.type === "chat_message" || m.type === "chat_notice"
          ? m.fields.text
          : m.type
      ),
      [
        "chat_ok",
        "chat_ok",
        "one",
        "two",
        "slow left (dropped: fell more than 4000 bytes behind)",
      ],
    );
  },
});

Deno.test({
  name:
    "chatService gives a queue over the bound stallMs to come back, then drops the client",
  permissions: "none",
  async fn() {
    const core = new ChatCore({ now: () => 0 });
    const service = chatService(core, {
      ...quietLog(),
      maxQueueBytes: 1000,
      stallMs: 1,
    });
    const [fast, slow, talker] = ["fast", "slow", "talker"].map((nick) => {
      const s = fakeSession(`${nick}:1`);
      service.handle(
        request({ type: "chat_nick", fields: { id: 1, nick } }),
        s.session,
      );
      service.handle(
        request({ type: "chat_join", fields: { id: 2, room: "r" } }),
        s.session,
      );
      return s;
    }) as [
      ReturnType<typeof fakeSession>,
      ReturnType<typeof fakeSession>,
      ReturnType<typeof fakeSession>,
    ];
    fast.session.queued = 2000; // a burst…
    slow.session.queued = 2000;
    service.handle(
      request({
        type: "chat_say",
        fields: { id: 3, room: "r", text: "burst" },
      }),
      talker.session,
    );
    fast.session.queued = 0; // …that the fast one's socket took
    await slow.closing;
    assert.deepEqual(slow.closed, [
      "dropped: more than 1000 bytes behind for 1 ms",
    ]);
    assert.deepEqual(fast.closed, []);
    assert.deepEqual(core.who("r").nicks, ["fast", "talker"]);
    service.closed?.(fast.session);
    service.closed?.(talker.session);
  },
});

Deno.test({
  name:
    "UdpChatService keys clients by address and forgets one silent past the timeout",
  permissions: "none",
  fn() {
    const clock = { now: 0 };
    const core = new ChatCore({ now: () => clock.now });
    const { log, lines } = quietLog();
    using service = new UdpChatService(core, {
      log,
      sessionTimeoutMs: 1000,
      sweepEveryMs: 3_600_000,
      now: () => clock.now,
    });
    const a = fakeSession("127.0.0.1:1000");
    const b = fakeSession("127.0.0.1:2000");
    for (const [s, nick] of [[a, "alice"], [b, "bob"]] as const) {
      service.handle(
        request({ type: "chat_nick", fields: { id: 1, nick } }),
        s.session,
      );
      service.handle(
        request({ type: "chat_join", fields: { id: 2, room: "r" } }),
        s.session,
      );
    }
    assert.equal(service.sessions, 2);
    // A datagram from the same address is the same client, even with a new session object.
    const a2 = fakeSession("127.0.0.1:1000");
    service.handle(
      request({ type: "chat_say", fields: { id: 3, room: "r", text: "hi" } }),
      a2.session,
    );
    assert.equal(service.sessions, 2);
    clock.now = 900;
    service.heard(b.session); // bob pings
    clock.now = 1500;
    service.sweep();
    assert.equal(service.sessions, 1);
    assert.deepEqual(b.sent.at(-1)?.fields, {
      room: "r",
      text: "alice left (timed out)",
      time: 1_500_000,
    });
    assert.ok(lines.some((l) => l.includes("chat session expired")));
    // Its nickname is free again.
    const c = fakeSession("127.0.0.1:3000");
    service.handle(
      request({ type: "chat_nick", fields: { id: 1, nick: "alice" } }),
      c.session,
    );
  },
});

Deno.test({
  name: "UdpChatService refuses clients beyond maxSessions with server_busy",
  permissions: "none",
  fn() {
    const core = new ChatCore({ now: () => 0 });
    using service = new UdpChatService(core, {
      ...quietLog(),
      sessionTimeoutMs: 1000,
      maxSessions: 1,
      now: () => 0,
    });
    service.handle(
      request({ type: "chat_rooms", fields: { id: 1 } }),
      fakeSession("x:1").session,
    );
    assert.throws(
      () =>
        service.handle(
          request({ type: "chat_rooms", fields: { id: 1 } }),
          fakeSession("x:2").session,
        ),
      (e) => e instanceof ProtocolError && e.code === "server_busy",
    );
  },
});
