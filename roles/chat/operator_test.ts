import assert from "node:assert/strict";
import { ChatCore, type Outlet } from "./core.ts";
import { parseOperatorLine, runOperatorCommand } from "./operator.ts";

Deno.test({
  name: "parseOperatorLine() reads the console's commands",
  permissions: "none",
  fn() {
    assert.deepEqual(parseOperatorLine("/say lobby back in  5"), {
      kind: "say",
      room: "lobby",
      text: "back in  5",
    });
    assert.deepEqual(parseOperatorLine("/kick bob"), {
      kind: "kick",
      nick: "bob",
    });
    assert.deepEqual(parseOperatorLine("/kick bob too loud"), {
      kind: "kick",
      nick: "bob",
      why: "too loud",
    });
    assert.deepEqual(parseOperatorLine("/notice all good"), {
      kind: "notice",
      text: "all good",
    });
    assert.deepEqual(parseOperatorLine("/rooms"), { kind: "rooms" });
    assert.deepEqual(parseOperatorLine("/who dev"), {
      kind: "who",
      room: "dev",
    });
    assert.deepEqual(parseOperatorLine(""), { kind: "none" });
    assert.equal(parseOperatorLine("/say lobby").kind, "invalid");
    assert.equal(parseOperatorLine("hello").kind, "invalid");
    assert.equal(parseOperatorLine("/fly").kind, "invalid");
  },
});

Deno.test({
  name: "runOperatorCommand() acts on the core and reports, errors included",
  permissions: "none",
  fn() {
    const core = new ChatCore({ now: () => 0 });
    const closed: string[] = [];
    const outlet: Outlet = { send() {}, close: (why) => closed.push(why) };
    const bob = core.connect(outlet, "p");
    core.setNick(bob, "bob");
    core.join(bob, "lobby");
    const run = (line: string) =>
      runOperatorCommand(core, parseOperatorLine(line));
    assert.deepEqual(run("/say lobby hi all"), ["[lobby] @server: hi all"]);
    assert.deepEqual(run("/say nowhere hi"), ['There is no room "nowhere"']);
    assert.deepEqual(run("/rooms"), ["lobby (1)"]);
    assert.deepEqual(run("/who lobby"), ["lobby: bob"]);
    assert.deepEqual(run("/notice hello"), ["notice sent to 1 clients"]);
    assert.deepEqual(run("/kick bob spam"), ["kicked bob"]);
    assert.deepEqual(closed, ["kicked by the operator: spam"]);
    assert.deepEqual(run("/kick bob"), ["no one is called bob"]);
    assert.deepEqual(run("/rooms"), ["no rooms"]);
  },
});
