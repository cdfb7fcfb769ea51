import assert from "node:assert/strict";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import {
  ChatCore,
  type ChatCoreOptions,
  HISTORY_SIZE,
  OPERATOR_NICK,
  type Outlet,
} from "./core.ts";

/** An outlet that records what the core pushes and whether it was closed. */
interface FakeOutlet extends Outlet {
  readonly got: Message[];
  closedWith: string | undefined;
  /** Lines like "[lobby] bob: hi" / "[lobby] * bob joined" / "* text". */
  lines(): string[];
}

function fakeOutlet(): FakeOutlet {
  const got: Message[] = [];
  return {
    got,
    closedWith: undefined,
    send(type, fields) {
      got.push({ type, fields } as Message);
    },
    close(reason) {
      this.closedWith = reason;
    },
    lines() {
      return got.map((m) => {
        if (m.type === "chat_message") {
          const f = m.fields;
          return f.room !== undefined
            ? `[${f.room}] ${f.from}: ${f.text} #${f.seq}`
            : `[private] ${f.from} -> ${f.to}: ${f.text} #${f.seq}`;
        }
        if (m.type === "chat_notice") {
          const f = m.fields;
          return f.room !== undefined
            ? `[${f.room}] * ${f.text}`
            : `* ${f.text}`;
        }
        return m.type;
      });
    },
  };
}

/** A core on a clock the test moves, and a helper that connects with a nick. */
function rig(options: ChatCoreOptions = {}) {
  const clock = { now: 1_700_000_000_000 };
  const core = new ChatCore({ now: () => clock.now, ...options });
  const user = (nick?: string) => {
    const outlet = fakeOutlet();
    const member = core.connect(outlet, `127.0.0.1:${40000 + core.size}`);
    if (nick !== undefined) core.setNick(member, nick);
    return { member, outlet };
  };
  return { core, clock, user };
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e) => e instanceof ProtocolError && e.code === code);
}

Deno.test({
  name:
    "say() delivers to every member, the sender too, with the room's next seq",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const alice = user("alice");
    const bob = user("bob");
    const carol = user("carol");
    core.join(alice.member, "lobby");
    core.join(bob.member, "lobby");
    core.join(carol.member, "kitchen");
    core.say(alice.member, "lobby", "hi");
    core.say(bob.member, "lobby", "hello");
    core.say(carol.member, "kitchen", "anyone?");
    assert.deepEqual(alice.outlet.lines(), [
      "[lobby] * bob joined",
      "[lobby] alice: hi #1",
      "[lobby] bob: hello #2",
    ]);
    assert.deepEqual(bob.outlet.lines(), [
      "[lobby] alice: hi #1",
      "[lobby] bob: hello #2",
    ]);
    assert.deepEqual(carol.outlet.lines(), ["[kitchen] carol: anyone? #1"]);
  },
});

Deno.test({
  name: "nicknames are unique ignoring case, can change, and are checked",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const alice = user("Alice");
    const other = user();
    throwsCode(() => core.setNick(other.member, "alice"), "nick_taken");
    throwsCode(() => core.setNick(other.member, "ALICE"), "nick_taken");
    throwsCode(() => core.setNick(other.member, "a b"), "bad_name");
    throwsCode(() => core.setNick(other.member, "@server"), "bad_name");
    throwsCode(() => core.setNick(other.member, "x".repeat(33)), "bad_name");
    throwsCode(() => core.setNick(other.member, ""), "bad_name");
    core.setNick(other.member, "철수"); // letters of any script
    assert.equal(other.member.nick, "철수");
    // Taking one's own name again, in another case, is allowed.
    core.setNick(alice.member, "alice");
    assert.equal(alice.member.nick, "alice");
    // A changed name frees the old one.
    core.setNick(alice.member, "alicia");
    const late = user("Alice");
    assert.equal(late.member.nick, "Alice");
  },
});

Deno.test({
  name: "a nickname is required before joining, talking or whispering",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const anon = user();
    user("bob");
    throwsCode(() => core.join(anon.member, "lobby"), "nick_required");
    throwsCode(() => core.say(anon.member, "lobby", "hi"), "nick_required");
    throwsCode(() => core.whisper(anon.member, "bob", "hi"), "nick_required");
    throwsCode(() => core.leave(anon.member, "lobby"), "nick_required");
    // Listings need no nickname.
    assert.deepEqual(core.rooms(), []);
  },
});

Deno.test({
  name: "join, leave and nick changes are told to the others in the room",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const alice = user("alice");
    const bob = user("bob");
    core.join(alice.member, "lobby");
    core.join(alice.member, "kitchen");
    core.join(bob.member, "lobby");
    core.setNick(bob.member, "robert");
    core.leave(bob.member, "lobby");
    assert.deepEqual(alice.outlet.lines(), [
      "[lobby] * bob joined",
      "[lobby] * bob is now known as robert",
      "[lobby] * robert left",
    ]);
    // The one who acted is told by the answer, not by a notice.
    assert.deepEqual(bob.outlet.lines(), []);
    throwsCode(() => core.leave(bob.member, "lobby"), "not_in_room");
    throwsCode(() => core.say(bob.member, "lobby", "hi"), "not_in_room");
    throwsCode(() => core.say(bob.member, "nowhere", "hi"), "not_in_room");
  },
});

Deno.test({
  name: "rooms() counts members; who() lists them; rooms match ignoring case",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const a = user("a");
    const b = user("b");
    const c = user("c");
    core.join(a.member, "Lobby");
    core.join(b.member, "lobby");
    core.join(c.member, "LOBBY");
    core.join(c.member, "dev");
    assert.deepEqual(core.rooms(), [
      { room: "Lobby", count: 3 },
      { room: "dev", count: 1 },
    ]);
    assert.deepEqual(core.who("lobby"), {
      room: "Lobby",
      nicks: ["a", "b", "c"],
    });
    core.leave(c.member, "dev");
    assert.deepEqual(core.rooms(), [{ room: "Lobby", count: 3 }]);
    throwsCode(() => core.who("dev"), "not_found");
    throwsCode(() => core.who("no such"), "bad_name");
  },
});

Deno.test({
  name:
    "join() returns the room's last 50 messages, oldest first, and only to a newcomer",
  permissions: "none",
  fn() {
    const { core, user } = rig({ rate: 1000 });
    const alice = user("alice");
    core.join(alice.member, "lobby");
    for (let n = 1; n <= 60; n++) core.say(alice.member, "lobby", `m${n}`);
    const bob = user("bob");
    const history = core.join(bob.member, "lobby");
    assert.equal(history.length, HISTORY_SIZE);
    assert.deepEqual(
      history.map((m) => [m.seq, m.text, m.from, m.room]),
      Array.from(
        { length: 50 },
        (_, i) => [i + 11, `m${i + 11}`, "alice", "lobby"],
      ),
    );
    assert.deepEqual(
      core.join(bob.member, "lobby"),
      [],
      "joining twice replays nothing",
    );
    // An emptied room keeps its history and its numbering.
    core.leave(alice.member, "lobby");
    core.leave(bob.member, "lobby");
    const again = core.join(alice.member, "lobby");
    assert.equal(again.at(-1)?.seq, 60);
    assert.equal(core.say(alice.member, "lobby", "back").seq, 61);
  },
});

Deno.test({
  name:
    "whisper() reaches only its target, numbered per receiver; unknown nicks are not_found",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const alice = user("alice");
    const bob = user("bob");
    const carol = user("carol");
    core.join(carol.member, "lobby");
    core.whisper(alice.member, "BOB", "psst");
    core.whisper(carol.member, "bob", "hey");
    assert.deepEqual(bob.outlet.lines(), [
      "[private] alice -> bob: psst #1",
      "[private] carol -> bob: hey #2",
    ]);
    assert.deepEqual(alice.outlet.lines(), []);
    assert.deepEqual(carol.outlet.lines(), []);
    throwsCode(() => core.whisper(alice.member, "dave", "hi"), "not_found");
  },
});

Deno.test({
  name: "messages over maxMessageBytes (UTF-8 bytes) are too_long",
  permissions: "none",
  fn() {
    const { core, user } = rig({ maxMessageBytes: 10 });
    const alice = user("alice");
    core.join(alice.member, "lobby");
    core.say(alice.member, "lobby", "x".repeat(10));
    throwsCode(
      () => core.say(alice.member, "lobby", "x".repeat(11)),
      "too_long",
    );
    // Four Hangul syllables are 12 bytes.
    throwsCode(() => core.say(alice.member, "lobby", "안녕하세"), "too_long");
    throwsCode(
      () => core.whisper(alice.member, "alice", "y".repeat(11)),
      "too_long",
    );
  },
});

Deno.test({
  name:
    "charge() allows a burst, then refuses with when to go on, refilling at the rate",
  permissions: "none",
  fn() {
    const { core, clock, user } = rig({ rate: 10, burst: 20 });
    const alice = user("alice");
    for (let n = 0; n < 20; n++) core.charge(alice.member);
    assert.throws(
      () => core.charge(alice.member),
      (e) =>
        e instanceof ProtocolError && e.code === "rate_limited" &&
        /\(10 per second, bursts of 20\); go on in 100 ms$/.test(e.message),
    );
    clock.now += 99;
    throwsCode(() => core.charge(alice.member), "rate_limited");
    clock.now += 1;
    core.charge(alice.member);
    throwsCode(() => core.charge(alice.member), "rate_limited");
    // Another client has its own bucket.
    const bob = user("bob");
    core.charge(bob.member);
    // Refilled to the burst, never beyond it.
    clock.now += 60_000;
    for (let n = 0; n < 20; n++) core.charge(alice.member);
    throwsCode(() => core.charge(alice.member), "rate_limited");
  },
});

Deno.test({
  name:
    "disconnect() leaves every room with a reason and frees the nickname, once",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const alice = user("alice");
    const bob = user("bob");
    core.join(alice.member, "lobby");
    core.join(alice.member, "dev");
    core.join(bob.member, "lobby");
    core.join(bob.member, "dev");
    core.disconnect(bob.member, "quit");
    core.disconnect(bob.member, "again");
    assert.deepEqual(alice.outlet.lines().slice(2), [
      "[lobby] * bob left (quit)",
      "[dev] * bob left (quit)",
    ]);
    assert.equal(core.size, 1);
    user("bob");
  },
});

Deno.test({
  name:
    "drop() stops delivery at once and removes the member after the delivery in progress",
  permissions: "none",
  async fn() {
    const { core, user } = rig();
    const alice = user("alice");
    const bob = user("bob");
    const carol = user("carol");
    for (const u of [alice, bob, carol]) core.join(u.member, "lobby");
    // bob's outlet drops him while the room's message is being handed out.
    const send = bob.outlet.send.bind(bob.outlet);
    bob.outlet.send = (type, fields) => {
      send(type, fields);
      if (type === "chat_message") bob.member.drop("too slow");
    };
    core.say(alice.member, "lobby", "one");
    core.say(alice.member, "lobby", "two");
    assert.deepEqual(bob.outlet.lines().filter((l) => l.includes(":")), [
      "[lobby] alice: one #1",
    ]);
    await Promise.resolve();
    assert.equal(bob.outlet.closedWith, "too slow");
    assert.deepEqual(carol.outlet.lines().slice(-3), [
      "[lobby] alice: one #1",
      "[lobby] alice: two #2",
      "[lobby] * bob left (too slow)",
    ]);
    assert.deepEqual(core.who("lobby").nicks, ["alice", "carol"]);
  },
});

Deno.test({
  name: "the operator says things as @server, announces to all, and kicks",
  permissions: "none",
  fn() {
    const { core, user } = rig();
    const alice = user("alice");
    const bob = user("bob");
    core.join(alice.member, "lobby");
    core.join(bob.member, "lobby");
    const sent = core.operatorSay("LOBBY", "maintenance at noon");
    assert.equal(sent.from, OPERATOR_NICK);
    throwsCode(() => core.operatorSay("nowhere", "hi"), "not_found");
    assert.equal(core.announce("restarting soon"), 2);
    assert.equal(core.kick("BOB", "kicked by the operator"), "bob");
    assert.equal(core.kick("nobody"), undefined);
    assert.equal(bob.outlet.closedWith, "kicked by the operator");
    assert.deepEqual(bob.outlet.lines().slice(-3), [
      "[lobby] @server: maintenance at noon #1",
      "* restarting soon",
      "* You were kicked by the operator",
    ]);
    assert.deepEqual(alice.outlet.lines().slice(-1), [
      "[lobby] * bob left (kicked by the operator)",
    ]);
    // The history has the operator's message for the next one to join.
    const carol = user("carol");
    assert.deepEqual(core.join(carol.member, "lobby").map((m) => m.from), [
      OPERATOR_NICK,
    ]);
  },
});

Deno.test({
  name:
    "a member's rooms are capped (too_many_rooms) and emptied rooms are forgotten beyond maxIdleRooms",
  permissions: "none",
  fn() {
    const { core, user } = rig({ maxRoomsPerMember: 2, maxIdleRooms: 1 });
    const alice = user("alice");
    core.join(alice.member, "r1");
    core.join(alice.member, "r2");
    throwsCode(() => core.join(alice.member, "r3"), "too_many_rooms");
    core.say(alice.member, "r1", "in r1");
    core.say(alice.member, "r2", "in r2");
    core.leave(alice.member, "r1");
    core.leave(alice.member, "r2"); // r1 is now the oldest empty room: forgotten
    assert.deepEqual(core.join(alice.member, "r1"), []);
    assert.equal(core.join(alice.member, "r2").length, 1);
  },
});
