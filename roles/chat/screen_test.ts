import assert from "node:assert/strict";
import type { TerminalSource } from "../hub/terminal_input.ts";
import { TerminalScreen } from "./screen.ts";

const encoder = new TextEncoder();

/** A terminal whose keys the test types, one read per `type()`. */
function fakeTerminal() {
  const modes: boolean[] = [];
  let pending: ((bytes: Uint8Array | null) => void) | undefined;
  const queue: (Uint8Array | null)[] = [];
  const source: TerminalSource = {
    read(buffer) {
      const give = (bytes: Uint8Array | null) => {
        if (bytes === null) return null;
        buffer.set(bytes);
        return bytes.length;
      };
      const next = queue.shift();
      if (next !== undefined) return Promise.resolve(give(next));
      return new Promise((resolve) => {
        pending = (bytes) => resolve(give(bytes));
      });
    },
    setRaw(mode) {
      modes.push(mode);
    },
  };
  const type = async (text: string | null) => {
    const bytes = text === null ? null : encoder.encode(text);
    if (pending) {
      const p = pending;
      pending = undefined;
      p(bytes);
    } else queue.push(bytes);
    // Let the screen's reader take it.
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { source, modes, type };
}

/** What a terminal would show: applies CR, LF, "erase to end" and "up". */
function render(output: string): string[] {
  const rows: string[] = [""];
  let row = 0;
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const c = output[i]!;
    if (c === "\x1b") {
      const m = /^.\[(\d*)([A-Za-z])/.exec(output.slice(i))!;
      if (m[2] === "J") {
        rows[row] = rows[row]!.slice(0, col);
        rows.length = row + 1;
      } else if (m[2] === "A") row -= Number(m[1] || 1);
      i += m[0].length - 1;
    } else if (c === "\r") col = 0;
    else if (c === "\n") {
      row++;
      rows[row] ??= "";
      col = 0;
    } else {
      const line = rows[row]!;
      rows[row] = line.slice(0, col) + c + line.slice(col + 1);
      col++;
    }
  }
  return rows;
}

Deno.test("TerminalScreen prints a message above the prompt and keeps the half-typed line", async () => {
  const terminal = fakeTerminal();
  let out = "";
  const screen = new TerminalScreen(terminal.source, {
    write: (text) => (out += text),
    columns: () => 80,
  });
  screen.setPrompt("[lobby] alice> ");
  await terminal.type("hel");
  screen.show("[lobby] bob: hi");
  await terminal.type("lo");
  screen.status("joined dev");
  assert.deepEqual(render(out), [
    "[lobby] bob: hi",
    "* joined dev",
    "[lobby] alice> hello",
  ]);
  await terminal.type("\r");
  assert.equal(await screen.readLine(), "hello");
  assert.deepEqual(render(out).at(-1), "[lobby] alice> ");
  await terminal.type("\x04");
  assert.equal(await screen.readLine(), null);
  screen.close();
  assert.deepEqual(terminal.modes, [true, false]);
});

Deno.test("TerminalScreen redraws a typed line that wrapped onto several rows", async () => {
  const terminal = fakeTerminal();
  let out = "";
  const screen = new TerminalScreen(terminal.source, {
    write: (text) => (out += text),
    columns: () => 10,
  });
  screen.setPrompt("> ");
  await terminal.type("abcdefghijklmnop");
  screen.show("msg");
  // The 18 columns of the input were on two rows: both are redrawn below "msg".
  const text = out.slice(out.lastIndexOf("msg"));
  assert.ok(text.startsWith("msg\r\n> abcdefghijklmnop"), JSON.stringify(text));
  assert.ok(out.includes("\x1b[1A\r\x1b[J"), "climbs to the first row");
  screen.close();
  await terminal.type(null);
});
