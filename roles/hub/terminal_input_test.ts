import assert from "node:assert/strict";
import { PromptError } from "../../lib/hidden_prompt.ts";
import {
  LineTooLongError,
  TerminalInput,
  type TerminalSource,
} from "./terminal_input.ts";

const encoder = new TextEncoder();

/**
 * A terminal that hands out `chunks` one read at a time (then the end of
 * input) and records every raw-mode switch.
 */
function fakeTerminal(
  chunks: (string | Uint8Array)[],
): TerminalSource & { modes: boolean[] } {
  const queue = chunks.map((c) =>
    typeof c === "string" ? encoder.encode(c) : c
  );
  const modes: boolean[] = [];
  return {
    modes,
    read(buffer) {
      const next = queue.shift();
      if (next === undefined) return Promise.resolve(null);
      const n = Math.min(buffer.length, next.length);
      buffer.set(next.subarray(0, n));
      if (n < next.length) queue.unshift(next.subarray(n));
      return Promise.resolve(n);
    },
    setRaw(mode) {
      modes.push(mode);
    },
  };
}

function input(
  chunks: (string | Uint8Array)[],
  options: { maxLine?: number } = {},
) {
  const terminal = fakeTerminal(chunks);
  const written: string[] = [];
  const reader = new TerminalInput(terminal, {
    ...options,
    write: (text) => written.push(text),
  });
  return { reader, terminal, written };
}

Deno.test({
  name:
    "readLine() splits lines across reads and within one, strips \\r, and returns null at the end",
  permissions: "none",
  async fn() {
    const { reader } = input(["log", "in alice\r\ncalc 1", "+2\nlast"]);
    assert.equal(await reader.readLine(), "login alice");
    assert.equal(await reader.readLine(), "calc 1+2");
    assert.equal(await reader.readLine(), "last");
    assert.equal(await reader.readLine(), null);
    assert.equal(await reader.readLine(), null);
  },
});

Deno.test({
  name:
    "readLine() throws LineTooLongError when no newline comes within maxLine",
  permissions: "none",
  async fn() {
    const { reader } = input(["x".repeat(20), "y".repeat(20), "\nnext\n"], {
      maxLine: 16,
    });
    await assert.rejects(reader.readLine(), LineTooLongError);
  },
});

Deno.test({
  name:
    "readSecret() reads in raw mode, prompts once raw, and restores the mode and ends the line",
  permissions: "none",
  async fn() {
    const { reader, terminal, written } = input(["wonder", "land\r"]);
    assert.equal(await reader.readSecret("Password for alice: "), "wonderland");
    assert.deepEqual(terminal.modes, [true, false]);
    assert.deepEqual(written, ["Password for alice: ", "\n"]);
  },
});

Deno.test({
  name:
    "readSecret() handles backspace (multi-byte too), Ctrl-U, arrow keys and control bytes",
  permissions: "none",
  async fn() {
    const { reader } = input([
      "wrong\x15", // Ctrl-U clears the entry
      "pässx\x7f", // DEL removes "x"
      "é\x08", // BS removes the two-byte "é"
      "\x1b[D\x1bOA", // arrows are ignored
      "\x01w\r",
    ]);
    assert.equal(await reader.readSecret("? "), "pässw");
  },
});

Deno.test({
  name:
    "readSecret() keeps what was typed after Enter for the next readLine(), CR LF being one Enter",
  permissions: "none",
  async fn() {
    const { reader } = input(["login alice\nsecret\r\ncalc 1+2\n"]);
    assert.equal(await reader.readLine(), "login alice");
    assert.equal(await reader.readSecret("? "), "secret");
    assert.equal(await reader.readLine(), "calc 1+2");
  },
});

Deno.test({
  name:
    "readSecret() is cancelled by Ctrl-C, Ctrl-D and the end of input, restoring the mode each time",
  permissions: "none",
  async fn() {
    for (const typed of ["abc\x03def\r", "abc\x04", "abc"]) {
      const { reader, terminal, written } = input([typed]);
      await assert.rejects(
        reader.readSecret("? "),
        (error: unknown) =>
          error instanceof PromptError && error.code === "cancelled",
      );
      assert.deepEqual(terminal.modes, [true, false], typed);
      assert.equal(written.at(-1), "\n");
    }
  },
});
