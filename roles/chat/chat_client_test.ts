import assert from "node:assert/strict";
import { RemoteError } from "../../protocol/tlv/protocol_error.ts";
import {
  type ErrorName,
  ERRORS,
  type Message,
} from "../../protocol/tlv/registry.ts";
import { ChatClient } from "./chat_client.ts";
import type { ChatLink } from "./link.ts";
import type { ChatScreen } from "./screen.ts";

type Answer = Message | ErrorName | ((push: (m: Message) => void) => Message);

/**
 * A link whose answers the test scripts per request type, in order, and
 * that records every request sent.
 */
function fakeLink(
  transport: "tcp" | "udp",
  answers: Record<string, Answer[]>,
) {
  const sent: string[] = [];
  let listener: (m: Message) => void = () => {};
  const link: ChatLink = {
    transport,
    lost: new Promise(() => {}),
    request(type, fields) {
      sent.push(`${type} ${JSON.stringify(fields)}`);
      const answer = answers[type]?.shift() ?? ok();
      if (typeof answer === "string") {
        return Promise.reject(
          new RemoteError({
            code: ERRORS[answer].code,
            message: answer === "rate_limited"
              ? "too many messages (10 per second, bursts of 20); go on in 7 ms"
              : answer,
          }),
        );
      }
      return Promise.resolve(
        typeof answer === "function" ? answer(listener) : answer,
      );
    },
    onPush(l) {
      listener = l;
    },
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  return { link, sent, push: (m: Message) => listener(m) };
}

function ok(): Message {
  return { type: "chat_ok", fields: { id: 1 } };
}

function roomMessage(room: string, seq: number, text = `m${seq}`): Message {
  return {
    type: "chat_message",
    fields: { room, from: "bob", text, seq, time: 0 },
  };
}

function fakeScreen(): ChatScreen & { out: string[] } {
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

Deno.test({
  name: "ChatClient waits as rate_limited says and sends again",
  permissions: "none",
  async fn() {
    const { link, sent } = fakeLink("tcp", {
      chat_say: ["rate_limited", "rate_limited", ok()],
    });
    const screen = fakeScreen();
    const slept: number[] = [];
    const client = new ChatClient(link, screen, {
      sleep: (ms) => (slept.push(ms), Promise.resolve()),
    });
    assert.ok(await client.setNick("alice"));
    assert.ok(await client.execute({ kind: "join", room: "lobby" }));
    assert.ok(await client.execute({ kind: "say", text: "hi" }));
    assert.deepEqual(slept, [7, 7]);
    assert.equal(sent.filter((s) => s.startsWith("chat_say")).length, 3);
    assert.equal(client.failures, 0);
    assert.equal(client.prompt, "[lobby] alice> ");
  },
});

Deno.test({
  name:
    "ChatClient shows a join's replayed history after 'joined', and errors as failures",
  permissions: "none",
  async fn() {
    const { link, push } = fakeLink("tcp", {
      chat_join: [(p) => {
        p(roomMessage("lobby", 4));
        p(roomMessage("lobby", 5));
        return ok();
      }],
      chat_who: ["not_found"],
    });
    const screen = fakeScreen();
    const client = new ChatClient(link, screen);
    await client.setNick("alice");
    await client.execute({ kind: "join", room: "lobby" });
    push(roomMessage("lobby", 6));
    assert.equal(await client.execute({ kind: "who", room: "dev" }), false);
    assert.equal(await client.execute({ kind: "say", text: "x" }), true);
    await client.execute({ kind: "leave" });
    assert.equal(await client.execute({ kind: "say", text: "x" }), false);
    assert.deepEqual(screen.out, [
      "* you are alice",
      "* joined lobby",
      "[lobby] bob: m4",
      "[lobby] bob: m5",
      "[lobby] bob: m6",
      "! not_found",
      "* left lobby",
      "! join a room first: /join ROOM",
    ]);
    assert.equal(client.failures, 2);
  },
});

Deno.test({
  name: "ChatClient over UDP shows missing and late messages and counts them",
  permissions: "none",
  async fn() {
    const { link, push } = fakeLink("udp", {});
    const screen = fakeScreen();
    const client = new ChatClient(link, screen);
    await client.setNick("alice");
    await client.execute({ kind: "join", room: "lobby" });
    for (const seq of [1, 2, 5, 3, 3, 6]) push(roomMessage("lobby", seq));
    assert.deepEqual(screen.out.slice(2), [
      "[lobby] bob: m1",
      "[lobby] bob: m2",
      "* [lobby] 2 messages missing (seq 3-4)",
      "[lobby] bob: m5",
      "* [lobby] seq 3 arrived out of order",
      "[lobby] bob: m3",
      "[lobby] bob: m6",
    ]);
    assert.deepEqual(client.totals(), { received: 5, lost: 1, reordered: 1 });
    // Joining again starts the room's count afresh; the totals keep the old one.
    await client.execute({ kind: "join", room: "lobby" });
    push(roomMessage("lobby", 40));
    assert.deepEqual(client.totals(), { received: 6, lost: 1, reordered: 1 });
  },
});

Deno.test({
  name:
    "ChatClient over UDP takes its nickname and rooms up again when the server forgot it",
  permissions: "none",
  async fn() {
    const { link, sent } = fakeLink("udp", { chat_say: ["nick_required"] });
    const screen = fakeScreen();
    const client = new ChatClient(link, screen);
    await client.setNick("alice");
    await client.execute({ kind: "join", room: "lobby" });
    await client.execute({ kind: "join", room: "dev" });
    sent.length = 0;
    assert.ok(await client.execute({ kind: "say", text: "still here" }));
    assert.deepEqual(sent, [
      'chat_say {"room":"dev","text":"still here"}',
      'chat_nick {"nick":"alice"}',
      'chat_join {"room":"lobby"}',
      'chat_join {"room":"dev"}',
      'chat_say {"room":"dev","text":"still here"}',
    ]);
  },
});
