import assert from "node:assert/strict";
import { formatPrivate, formatPush, safeText } from "./format.ts";

Deno.test({
  name:
    "formatPush() writes room messages, private messages and notices as one plain line",
  permissions: "none",
  fn() {
    assert.equal(
      formatPush({
        type: "chat_message",
        fields: { room: "lobby", from: "bob", text: "hi", seq: 1, time: 0 },
      }),
      "[lobby] bob: hi",
    );
    assert.equal(
      formatPush({
        type: "chat_message",
        fields: { to: "alice", from: "bob", text: "psst", seq: 1, time: 0 },
      }),
      "[private] bob -> alice: psst",
    );
    assert.equal(
      formatPush({
        type: "chat_notice",
        fields: { room: "lobby", text: "carol joined", time: 0 },
      }),
      "[lobby] * carol joined",
    );
    assert.equal(
      formatPush({ type: "chat_notice", fields: { text: "restart", time: 0 } }),
      "* restart",
    );
    assert.equal(formatPush({ type: "pong", fields: {} }), undefined);
    assert.equal(
      formatPrivate({ from: "a", to: "b", text: "c" }),
      "[private] a -> b: c",
    );
  },
});

Deno.test({
  name:
    "safeText() takes out what could drive a terminal and keeps every script",
  permissions: "none",
  fn() {
    assert.equal(
      safeText("a\x1b[2Jb\x07c\u009bd"),
      "a\ufffd[2Jb\ufffdc\ufffdd",
    );
    assert.equal(safeText("one\ntwo\tthree\r"), "one two three ");
    assert.equal(safeText("evil\u202etxt.exe"), "evil\ufffdtxt.exe");
    assert.equal(safeText("안녕 😀 ça"), "안녕 😀 ça");
  },
});
