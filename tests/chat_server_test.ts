/**
 * The chat server in process, over real sockets: 500 TCP clients in 20
 * rooms, a reader that stops reading, private messages, history on join,
 * flood control, a kick, and the UDP variant through a lossy relay.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connectTlv, type TlvClient } from "../lib/client.ts";
import { Logger } from "../lib/log.ts";
import { TlvServer } from "../lib/server.ts";
import { UdpClient } from "../lib/udp_client.ts";
import { UdpServer } from "../lib/udp_server.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import {
  type Message,
  type MessageFields,
  PROTOCOL_VERSION,
} from "../protocol/tlv/registry.ts";
import { ChatClient } from "../roles/chat/chat_client.ts";
import { ChatCore, type ChatCoreOptions } from "../roles/chat/core.ts";
import { connectChat } from "../roles/chat/link.ts";
import type { ChatScreen } from "../roles/chat/screen.ts";
import { chatService, UdpChatService } from "../roles/chat/service.ts";
import { within, writeAll } from "./_raw_peer.ts";

type ChatMessage = MessageFields<"chat_message">;

/** A TCP chat server on port 0 whose log lines the test can read. */
function tcpChat(
  options: ChatCoreOptions & { maxQueueBytes?: number } = {},
) {
  const lines: string[] = [];
  const log = new Logger({ level: "info", sink: (l) => lines.push(l) });
  const core = new ChatCore(options);
  const server = new TlvServer({
    services: [chatService(core, {
      log,
      ...(options.maxQueueBytes
        ? { maxQueueBytes: options.maxQueueBytes }
        : {}),
    })],
    port: 0,
    log,
  });
  return { core, server, lines, port: server.addr.port };
}

/** A connected client that keeps every push and can wait for a number of messages. */
class Member implements AsyncDisposable {
  readonly client: TlvClient;
  readonly messages: ChatMessage[] = [];
  readonly notices: string[] = [];
  #want = 0;
  #reached: PromiseWithResolvers<void> | undefined;

  private constructor(client: TlvClient) {
    this.client = client;
    client.onPush((m) => {
      if (m.type === "chat_message") {
        this.messages.push(m.fields);
        if (this.#reached && this.messages.length >= this.#want) {
          this.#reached.resolve();
        }
      } else if (m.type === "chat_notice") {
        this.notices.push(`${m.fields.room ?? ""}: ${m.fields.text}`);
      }
    });
  }

  static async open(
    port: number,
    nick: string,
    room?: string,
  ): Promise<Member> {
    const member = new Member(await connectTlv({ port, service: "chat" }));
    await member.client.request("chat_nick", { nick });
    if (room !== undefined) await member.client.request("chat_join", { room });
    return member;
  }

  /** Resolves once `count` messages have arrived. */
  received(count: number): Promise<void> {
    if (this.messages.length >= count) return Promise.resolve();
    this.#want = count;
    this.#reached = Promise.withResolvers<void>();
    return this.#reached.promise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.client.close();
  }
}

Deno.test("500 clients in 20 rooms: every message reaches exactly its room's members, once, in order", async () => {
  const CLIENTS = 500;
  const ROOMS = 20;
  const EACH = 4;
  await using stack = new AsyncDisposableStack();
  const chat = tcpChat();
  stack.use(chat.server);
  const members: Member[] = [];
  // In batches: 500 connects at once would overflow the listen backlog.
  for (let start = 0; start < CLIENTS; start += 50) {
    const batch = await Promise.all(
      Array.from(
        { length: 50 },
        (_, j) =>
          Member.open(chat.port, `u${start + j}`, `r${(start + j) % ROOMS}`),
      ),
    );
    for (const m of batch) members.push(stack.use(m));
  }
  assert.equal(chat.core.rooms().length, ROOMS);
  assert.ok(chat.core.rooms().every((r) => r.count === CLIENTS / ROOMS));

  // Everyone talks at once, each pipelining its messages.
  await Promise.all(members.map((m, i) =>
    Promise.all(
      Array.from({ length: EACH }, (_, k) =>
        m.client.request("chat_say", {
          room: `r${i % ROOMS}`,
          text: `u${i}:${k}`,
        })),
    )
  ));
  const perRoom = (CLIENTS / ROOMS) * EACH;
  await within(
    Promise.all(members.map((m) => m.received(perRoom))),
    15_000,
    "every member's messages",
  );

  for (const [i, m] of members.entries()) {
    const room = `r${i % ROOMS}`;
    assert.equal(m.messages.length, perRoom, `u${i} got ${m.messages.length}`);
    // In the room's order, without a gap or a repeat.
    assert.deepEqual(
      m.messages.map((x) => x.seq),
      Array.from({ length: perRoom }, (_, n) => n + 1),
    );
    assert.ok(
      m.messages.every((x) => x.room === room),
      `u${i} got another room's message`,
    );
    // From exactly the room's members, each sender's messages in its order.
    const bySender = new Map<string, string[]>();
    for (const x of m.messages) {
      bySender.set(x.from, [...bySender.get(x.from) ?? [], x.text]);
    }
    const expectedSenders = Array.from(
      { length: CLIENTS / ROOMS },
      (_, n) => `u${n * ROOMS + (i % ROOMS)}`,
    );
    assert.deepEqual([...bySender.keys()].sort(), expectedSenders.sort());
    for (const [from, texts] of bySender) {
      assert.deepEqual(
        texts,
        Array.from({ length: EACH }, (_, k) => `${from}:${k}`),
      );
    }
  }
  // All members of a room saw one and the same order.
  for (let r = 0; r < ROOMS; r++) {
    const order = members[r]!.messages.map((x) => x.text).join();
    for (let i = r; i < CLIENTS; i += ROOMS) {
      assert.equal(members[i]!.messages.map((x) => x.text).join(), order);
    }
  }
});

/** Reads frames from a raw connection until `done` says so. */
async function readFramesUntil(
  conn: Deno.Conn,
  done: (messages: Message[]) => boolean,
): Promise<Message[]> {
  const messages: Message[] = [];
  let pending = new Uint8Array(0);
  const buffer = new Uint8Array(64 * 1024);
  while (!done(messages)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("closed before the expected frames");
    const joined = new Uint8Array(pending.length + n);
    joined.set(pending);
    joined.set(buffer.subarray(0, n), pending.length);
    let at = 0;
    for (;;) {
      const decoded = decodeFrame(joined, at);
      if (decoded === undefined) break;
      messages.push(decodeMessage(decoded.frame));
      at = decoded.next;
    }
    pending = joined.slice(at);
  }
  return messages;
}

Deno.test("a client that stops reading is dropped with a logged reason while its room keeps flowing", async () => {
  // Loopback TCP hides a few MiB in socket buffers before a reader that
  // stopped pushes back, so the room carries 16 MB: the slow one's queue on
  // the server passes its 256 KiB bound well before the end.
  const COUNT = 4000;
  const text = "x".repeat(4000);
  const maxQueueBytes = 256 * 1024;
  await using stack = new AsyncDisposableStack();
  const chat = tcpChat({ rate: 1e6, maxQueueBytes });
  stack.use(chat.server);

  const slow = await Deno.connect({ hostname: "127.0.0.1", port: chat.port });
  stack.defer(() => {
    try {
      slow.close();
    } catch { /* closed by the server */ }
  });
  await writeAll(
    slow,
    new Uint8Array([
      ...encodeMessage("hello", { version: PROTOCOL_VERSION, service: "chat" }),
      ...encodeMessage("chat_nick", { id: 1, nick: "slow" }),
      ...encodeMessage("chat_join", { id: 2, room: "busy" }),
    ]),
  );
  await within(
    readFramesUntil(
      slow,
      (ms) => ms.filter((m) => m.type === "chat_ok").length === 2,
    ),
    5000,
    "the slow client's join",
  );
  // From here on the slow client reads nothing.

  const sender = stack.use(await Member.open(chat.port, "sender", "busy"));
  const watchers = [];
  for (const nick of ["w1", "w2", "w3"]) {
    watchers.push(stack.use(await Member.open(chat.port, nick, "busy")));
  }
  let droppedAt: number | undefined;
  for (let start = 0; start < COUNT; start += 100) {
    await Promise.all(
      Array.from(
        { length: 100 },
        (_, k) =>
          sender.client.request("chat_say", {
            room: "busy",
            text: `${start + k} ${text}`,
          }),
      ),
    );
    if (
      droppedAt === undefined && !chat.core.who("busy").nicks.includes("slow")
    ) {
      droppedAt = start;
    }
  }
  await within(
    Promise.all(watchers.map((w) => w.received(COUNT))),
    20_000,
    "every watcher's messages",
  );

  assert.ok(
    droppedAt !== undefined && droppedAt < COUNT - 100,
    `dropped at ${droppedAt}`,
  );
  assert.deepEqual(chat.core.who("busy").nicks, ["sender", "w1", "w2", "w3"]);
  assert.ok(
    chat.lines.some((l) =>
      l.includes("chat client dropped") && l.includes("nick=slow")
    ),
    chat.lines.join("\n"),
  );
  for (const w of watchers) {
    assert.deepEqual(
      w.messages.map((m) => m.seq),
      Array.from({ length: COUNT }, (_, n) => n + 1),
    );
    assert.ok(
      w.notices.some((n) => /^busy: slow left \(dropped: /.test(n)),
      w.notices.join("\n"),
    );
  }
});

Deno.test("private messages reach only their target; an unknown nickname is not_found", async () => {
  await using stack = new AsyncDisposableStack();
  const chat = tcpChat();
  stack.use(chat.server);
  const alice = stack.use(await Member.open(chat.port, "alice", "lobby"));
  const bob = stack.use(await Member.open(chat.port, "bob", "lobby"));
  const carol = stack.use(await Member.open(chat.port, "carol", "lobby"));
  await alice.client.request("chat_private", { to: "BOB", text: "psst" });
  await bob.received(1);
  assert.deepEqual(
    bob.messages.map(({ to, from, text, seq, room }) => ({
      to,
      from,
      text,
      seq,
      room,
    })),
    [{ to: "bob", from: "alice", text: "psst", seq: 1, room: undefined }],
  );
  await assert.rejects(
    alice.client.request("chat_private", { to: "dave", text: "hi" }),
    (e) => e instanceof RemoteError && e.codeName === "not_found",
  );
  // A room message after it shows the others had nothing before it.
  await alice.client.request("chat_say", { room: "lobby", text: "public" });
  await carol.received(1);
  await alice.received(1);
  assert.deepEqual(carol.messages.map((m) => m.text), ["public"]);
  assert.deepEqual(alice.messages.map((m) => m.text), ["public"]);
});

Deno.test("joining replays the room's last 50 messages right after chat_ok, before new ones", async () => {
  await using stack = new AsyncDisposableStack();
  const chat = tcpChat({ rate: 1000 });
  stack.use(chat.server);
  const alice = stack.use(await Member.open(chat.port, "alice", "lobby"));
  await Promise.all(
    Array.from(
      { length: 60 },
      (_, n) =>
        alice.client.request("chat_say", { room: "lobby", text: `m${n + 1}` }),
    ),
  );
  // Byte by byte on a raw connection: the order on the wire is what counts.
  const bob = await Deno.connect({ hostname: "127.0.0.1", port: chat.port });
  stack.defer(() => bob.close());
  await writeAll(
    bob,
    new Uint8Array([
      ...encodeMessage("hello", { version: PROTOCOL_VERSION, service: "chat" }),
      ...encodeMessage("chat_nick", { id: 1, nick: "bob" }),
      ...encodeMessage("chat_join", { id: 2, room: "lobby" }),
    ]),
  );
  const got = await within(
    readFramesUntil(
      bob,
      (ms) => ms.filter((m) => m.type === "chat_message").length === 50,
    ),
    5000,
    "the replay",
  );
  const seen = got.map((m) =>
    m.type === "chat_message" ? `${m.fields.seq} ${m.fields.text}` : m.type
  );
  assert.deepEqual(seen, [
    "hello_ok",
    "chat_ok",
    "chat_ok",
    ...Array.from({ length: 50 }, (_, n) => `${n + 11} m${n + 11}`),
  ]);
  await alice.client.request("chat_say", { room: "lobby", text: "new" });
  const next = await within(
    readFramesUntil(bob, (ms) => ms.some((m) => m.type === "chat_message")),
    5000,
    "the next message",
  );
  assert.deepEqual(
    next.map((m) =>
      m.type === "chat_message" ? `${m.fields.seq} ${m.fields.text}` : m.type
    ),
    ["61 new"],
  );
});

Deno.test("flood control and the size limit answer over the wire; the connection goes on", async () => {
  await using stack = new AsyncDisposableStack();
  const chat = tcpChat({ rate: 10, burst: 20, maxMessageBytes: 100 });
  stack.use(chat.server);
  const alice = stack.use(await Member.open(chat.port, "alice", "lobby"));
  // The nickname and the join took 2 of the 20 tokens.
  const results = await Promise.allSettled(
    Array.from(
      { length: 25 },
      (_, n) =>
        alice.client.request("chat_say", { room: "lobby", text: `m${n}` }),
    ),
  );
  const ok = results.filter((r) => r.status === "fulfilled").length;
  const limited =
    results.filter((r) =>
      r.status === "rejected" && r.reason instanceof RemoteError &&
      r.reason.codeName === "rate_limited" &&
      /go on in \d+ ms/.test(r.reason.message)
    ).length;
  assert.ok(ok >= 18 && ok <= 19, `${ok} passed`);
  assert.equal(ok + limited, 25);
  await alice.received(ok);
  assert.deepEqual(
    alice.messages.map((m) => m.text),
    Array.from({ length: ok }, (_, n) => `m${n}`),
  );

  const bob = stack.use(await Member.open(chat.port, "bob", "lobby"));
  await assert.rejects(
    bob.client.request("chat_say", { room: "lobby", text: "y".repeat(101) }),
    (e) => e instanceof RemoteError && e.codeName === "too_long",
  );
  await bob.client.request("chat_say", {
    room: "lobby",
    text: "y".repeat(100),
  });
});

Deno.test("a kicked client is told why and its connection is closed", async () => {
  await using stack = new AsyncDisposableStack();
  const chat = tcpChat();
  stack.use(chat.server);
  const alice = stack.use(await Member.open(chat.port, "alice", "lobby"));
  const bob = stack.use(await Member.open(chat.port, "bob", "lobby"));
  const closed = new Promise<void>((resolve) =>
    bob.client.fc.closedSignal.addEventListener("abort", () => resolve())
  );
  assert.equal(chat.core.kick("bob"), "bob");
  await within(closed, 5000, "the kicked client's connection to close");
  assert.ok(
    bob.notices.includes(": You were kicked by the operator"),
    bob.notices.join("\n"),
  );
  await alice.client.request("chat_who", { room: "lobby" }).then((reply) => {
    assert.ok(reply.type === "chat_who_reply");
    assert.deepEqual(reply.fields.nick, ["alice"]);
  });
  assert.ok(alice.notices.includes("lobby: bob left (kicked by the operator)"));
});

/**
 * A UDP relay between one client and the server that drops the chat
 * messages numbered in `drop` and holds back the ones in `hold` until the
 * next message has gone through.
 */
function lossyRelay(
  serverPort: number,
  options: { drop: Set<number>; hold: Set<number> },
) {
  const outer = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const inner = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const server: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: serverPort,
  };
  let client: Deno.Addr | undefined;
  const toServer = (async () => {
    try {
      for await (const [data, from] of outer) {
        client = from;
        await inner.send(data, server);
      }
    } catch { /* closed */ }
  })();
  const toClient = (async () => {
    let held: Uint8Array[] = [];
    try {
      for await (const [data] of inner) {
        if (client === undefined) continue;
        const frame = decodeFrame(data, 0);
        const m = frame && decodeMessage(frame.frame);
        if (m?.type === "chat_message" && m.fields.room !== undefined) {
          if (options.drop.has(m.fields.seq)) continue;
          if (options.hold.has(m.fields.seq)) {
            held.push(data.slice());
            continue;
          }
          await outer.send(data, client);
          for (const late of held) await outer.send(late, client);
          held = [];
          continue;
        }
        await outer.send(data, client);
      }
    } catch { /* closed */ }
  })();
  return {
    port: (outer.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      outer.close();
      inner.close();
      await Promise.all([toServer, toClient]);
    },
  };
}

function recordingScreen(): ChatScreen & { out: string[] } {
  const out: string[] = [];
  return {
    out,
    interactive: false,
    show: (line) => out.push(line),
    status: (line) => out.push(`* ${line}`),
    error: (line) => out.push(`! ${line}`),
    setPrompt() {},
    readLine: () => Promise.resolve(null),
    close() {},
  };
}

Deno.test("over UDP, messages carry the room's seq and the client counts what was lost and reordered", async () => {
  await using stack = new AsyncDisposableStack();
  const log = new Logger({ level: "warn", sink: () => {} });
  const core = new ChatCore();
  const chat = stack.use(
    new UdpChatService(core, { log, sessionTimeoutMs: 60_000 }),
  );
  const server = stack.use(new UdpServer({ service: chat, port: 0, log }));
  // Over the relay bob loses message 4, and 6 arrives after 7.
  const relay = stack.use(
    lossyRelay(server.addr.port, { drop: new Set([4]), hold: new Set([6]) }),
  );

  const alice = new ChatClient(
    stack.use(
      await connectChat({ port: server.addr.port, service: "chat" }, {
        udp: true,
      }),
    ),
    recordingScreen(),
  );
  const bobScreen = recordingScreen();
  const bob = new ChatClient(
    stack.use(
      await connectChat(
        { port: relay.port, service: "chat", timeoutMs: 2000 },
        { udp: true },
      ),
    ),
    bobScreen,
  );
  const carolScreen = recordingScreen();
  const carol = new ChatClient(
    stack.use(
      await connectChat({ port: server.addr.port, service: "chat" }, {
        udp: true,
      }),
    ),
    carolScreen,
  );
  for (
    const [client, nick] of [[alice, "alice"], [bob, "bob"], [
      carol,
      "carol",
    ]] as const
  ) {
    assert.ok(await client.setNick(nick));
    assert.ok(await client.execute({ kind: "join", room: "lobby" }));
  }
  for (let n = 1; n <= 8; n++) {
    assert.ok(await alice.execute({ kind: "say", text: `m${n}` }));
  }
  assert.equal(chat.sessions, 3);
  const lines = (screen: { out: string[] }) =>
    screen.out.filter((l) => l.startsWith("[lobby] alice:"));
  await within(
    (async () => {
      while (lines(bobScreen).length < 7 || lines(carolScreen).length < 8) {
        await new Promise((r) => setTimeout(r, 10));
      }
    })(),
    5000,
    "the messages over UDP",
  );
  assert.deepEqual(
    lines(carolScreen),
    Array.from({ length: 8 }, (_, n) => `[lobby] alice: m${n + 1}`),
  );
  assert.deepEqual(carol.totals(), { received: 8, lost: 0, reordered: 0 });
  assert.deepEqual(
    bobScreen.out.slice(-10),
    [
      "[lobby] alice: m1",
      "[lobby] alice: m2",
      "[lobby] alice: m3",
      "* [lobby] 1 message missing (seq 4)",
      "[lobby] alice: m5",
      "* [lobby] 1 message missing (seq 6)",
      "[lobby] alice: m7",
      "* [lobby] seq 6 arrived out of order",
      "[lobby] alice: m6",
      "[lobby] alice: m8",
    ],
  );
  assert.deepEqual(bob.totals(), { received: 7, lost: 1, reordered: 1 });
});

Deno.test("over UDP a ping keeps a client's session; silence ends it", async () => {
  await using stack = new AsyncDisposableStack();
  const clock = { now: 0 };
  const log = new Logger({ level: "warn", sink: () => {} });
  const core = new ChatCore({ now: () => clock.now });
  const chat = stack.use(
    new UdpChatService(core, {
      log,
      sessionTimeoutMs: 1000,
      sweepEveryMs: 3_600_000,
      now: () => clock.now,
    }),
  );
  const server = stack.use(new UdpServer({ service: chat, port: 0, log }));
  const udp = stack.use(new UdpClient({ port: server.addr.port }));
  await udp.request("chat_nick", { nick: "alice" }, 2000);
  assert.equal(chat.sessions, 1);
  clock.now = 900;
  // The host answers the ping itself; the service hears of it all the same.
  assert.equal((await udp.request("ping", {}, 2000)).type, "pong");
  clock.now = 1800;
  chat.sweep();
  assert.equal(chat.sessions, 1);
  clock.now = 2000;
  chat.sweep();
  assert.equal(chat.sessions, 0);
  await assert.rejects(
    udp.request("chat_join", { room: "lobby" }, 2000),
    (e) => e instanceof RemoteError && e.codeName === "nick_required",
  );
});
