import assert from "node:assert/strict";
import { displayWidth, eraseLine, LineEditor } from "./line_editor.ts";

const encoder = new TextEncoder();
const keys = (text: string) => encoder.encode(text);

Deno.test({
  name:
    "LineEditor edits with Backspace, Ctrl-U and Ctrl-W, and gives a line on Enter",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    assert.deepEqual(editor.feed(keys("helo\x7flo wor")), []);
    assert.equal(editor.text, "hello wor");
    editor.feed(keys("\x17"));
    assert.equal(editor.text, "hello ");
    editor.feed(keys("\x15abc"));
    assert.equal(editor.text, "abc");
    assert.deepEqual(editor.feed(keys("\rnext")), [{
      kind: "line",
      text: "abc",
    }]);
    assert.equal(editor.text, "next");
  },
});

Deno.test({
  name: "LineEditor takes CR LF as one Enter and several lines from one read",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    assert.deepEqual(editor.feed(keys("a\r\nb\n\nc\r")), [
      { kind: "line", text: "a" },
      { kind: "line", text: "b" },
      { kind: "line", text: "" },
      { kind: "line", text: "c" },
    ]);
  },
});

Deno.test({
  name: "LineEditor joins a character split across reads and deletes it whole",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    const bytes = keys("안녕");
    editor.feed(bytes.subarray(0, 2));
    editor.feed(bytes.subarray(2, 4));
    editor.feed(bytes.subarray(4));
    assert.equal(editor.text, "안녕");
    editor.feed(keys("\x7f"));
    assert.equal(editor.text, "안");
  },
});

Deno.test({
  name:
    "LineEditor ignores arrow keys and other control keys, and reports Ctrl-C, Ctrl-D, Ctrl-L",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    assert.deepEqual(editor.feed(keys("a\x1b[A\x1b[1;5Cb\x1bOPc\x01\x02")), []);
    assert.equal(editor.text, "abc");
    // Ctrl-D on a non-empty line does nothing; on an empty one it ends input.
    assert.deepEqual(editor.feed(keys("\x04")), []);
    assert.deepEqual(editor.feed(keys("\x0c")), [{ kind: "redraw" }]);
    editor.feed(keys("\x15"));
    assert.deepEqual(editor.feed(keys("\x04")), [{ kind: "eof" }]);
    assert.deepEqual(editor.feed(keys("\x03")), [{ kind: "interrupt" }]);
  },
});

Deno.test({
  name: "LineEditor keeps at most maxLength characters",
  permissions: "none",
  fn() {
    const editor = new LineEditor({ maxLength: 3 });
    editor.feed(keys("abcdef"));
    assert.equal(editor.text, "abc");
  },
});

Deno.test({
  name:
    "displayWidth() counts wide characters twice, and eraseLine() climbs the rows a line wrapped onto",
  permissions: "none",
  fn() {
    assert.equal(displayWidth("abc"), 3);
    assert.equal(displayWidth("안녕"), 4);
    assert.equal(displayWidth("e\u0301"), 1);
    assert.equal(eraseLine(0, 80), "\r\x1b[J");
    assert.equal(eraseLine(80, 80), "\r\x1b[J");
    assert.equal(eraseLine(81, 80), "\x1b[1A\r\x1b[J");
    assert.equal(eraseLine(170, 80), "\x1b[2A\r\x1b[J");
  },
});
