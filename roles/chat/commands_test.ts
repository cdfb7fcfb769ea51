import assert from "node:assert/strict";
import { parseChatLine } from "./commands.ts";

Deno.test({
  name: "parseChatLine() reads every command and says plain text",
  permissions: "none",
  fn() {
    assert.deepEqual(parseChatLine("/join lobby"), {
      kind: "join",
      room: "lobby",
    });
    assert.deepEqual(parseChatLine("/leave"), { kind: "leave" });
    assert.deepEqual(parseChatLine("/leave dev"), {
      kind: "leave",
      room: "dev",
    });
    assert.deepEqual(parseChatLine("/nick bob"), { kind: "nick", nick: "bob" });
    assert.deepEqual(parseChatLine("/msg bob  see  you "), {
      kind: "msg",
      to: "bob",
      text: "see  you",
    });
    assert.deepEqual(parseChatLine("/who"), { kind: "who" });
    assert.deepEqual(parseChatLine("/who dev"), { kind: "who", room: "dev" });
    assert.deepEqual(parseChatLine("/rooms"), { kind: "rooms" });
    assert.deepEqual(parseChatLine("/QUIT"), { kind: "quit" });
    assert.deepEqual(parseChatLine("/help"), { kind: "help" });
    assert.deepEqual(parseChatLine("  hello  world"), {
      kind: "say",
      text: "  hello  world",
    });
    assert.deepEqual(parseChatLine("//etc/passwd is a file"), {
      kind: "say",
      text: "/etc/passwd is a file",
    });
    assert.deepEqual(parseChatLine("   "), { kind: "none" });
  },
});

Deno.test({
  name: "parseChatLine() answers a wrong command with its usage",
  permissions: "none",
  fn() {
    assert.deepEqual(parseChatLine("/join"), {
      kind: "invalid",
      message: "usage: /join ROOM",
    });
    assert.deepEqual(parseChatLine("/join a b"), {
      kind: "invalid",
      message: "usage: /join ROOM",
    });
    assert.deepEqual(parseChatLine("/msg bob"), {
      kind: "invalid",
      message: "usage: /msg NICK TEXT",
    });
    assert.deepEqual(parseChatLine("/dance"), {
      kind: "invalid",
      message: 'unknown command "/dance": type /help',
    });
  },
});
