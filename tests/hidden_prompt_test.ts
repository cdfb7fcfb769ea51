/**
 * The hidden password prompt's key handling, with scripted key presses
 * instead of a terminal (the real terminal is exercised end to end by
 * `e2e_passwd_test.ts` through `script`).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  HiddenLineReader,
  type KeySource,
  PromptError,
} from "../lib/hidden_prompt.ts";

/** Keys arriving in the given chunks, then the end of input. */
function keys(...chunks: (string | number[])[]): KeySource {
  const queue = chunks.map((c) =>
    typeof c === "string" ? new TextEncoder().encode(c) : new Uint8Array(c)
  );
  return {
    read(p) {
      const next = queue.shift();
      if (next === undefined) return Promise.resolve(null);
      p.set(next);
      return Promise.resolve(next.length);
    },
  };
}

function reader(
  source: KeySource,
  options: { maxBytes?: number; signal?: AbortSignal } = {},
) {
  const shown: string[] = [];
  return {
    shown,
    reader: new HiddenLineReader(source, (t) => shown.push(t), options),
  };
}

Deno.test({
  name:
    "readLine() shows the prompt, reads to Enter and shows nothing of what was typed",
  permissions: "none",
  async fn() {
    const { reader: r, shown } = reader(keys("s", "ec", "ret\r"));
    assert.equal(await r.readLine("Password: "), "secret");
    assert.deepEqual(shown, ["Password: ", "\n"]);
  },
});

Deno.test({
  name:
    "readLine() keeps keys typed ahead for the next line and counts CR LF as one Enter",
  permissions: "none",
  async fn() {
    const { reader: r } = reader(keys("one\r\ntwo\nthree\r", "\nfour\r"));
    assert.equal(await r.readLine("1: "), "one");
    assert.equal(await r.readLine("2: "), "two");
    assert.equal(await r.readLine("3: "), "three");
    assert.equal(await r.readLine("4: "), "four");
  },
});

Deno.test({
  name:
    "backspace removes one whole character (UTF-8 too) and Ctrl-U the whole line",
  permissions: "none",
  async fn() {
    const { reader: r } = reader(
      keys(
        "abx\x7fc\r",
        "caf\u00e9\x7f\x7fe\r",
        "wrong\x15right\x08\x08ht\r",
        "\x7f\x7fok\r",
      ),
    );
    assert.equal(await r.readLine("> "), "abc");
    assert.equal(await r.readLine("> "), "cae");
    assert.equal(await r.readLine("> "), "right");
    assert.equal(await r.readLine("> "), "ok");
  },
});

Deno.test({
  name: "arrow keys and other control keys are ignored",
  permissions: "none",
  async fn() {
    const { reader: r } = reader(keys("a\x1b[Ab\x1bOBc\x1b[1;5Dd\te\x01\r"));
    assert.equal(await r.readLine("> "), "abcde");
  },
});

Deno.test({
  name: "Ctrl-C, Ctrl-D and the end of input cancel the prompt",
  permissions: "none",
  async fn() {
    for (
      const source of [keys("pass\x03word\r"), keys("pa\x04"), keys("pass")]
    ) {
      const { reader: r, shown } = reader(source);
      await assert.rejects(
        () => r.readLine("Password: "),
        (e: unknown) =>
          e instanceof PromptError && e.code === "cancelled" &&
          e.message === "cancelled; nothing changed",
      );
      assert.deepEqual(shown, ["Password: ", "\n"]);
    }
  },
});

Deno.test({
  name: "a line over maxBytes or not UTF-8 is refused",
  permissions: "none",
  async fn() {
    const long = reader(keys("x".repeat(9) + "\r"), { maxBytes: 8 }).reader;
    await assert.rejects(
      () => long.readLine("> "),
      (e: unknown) => e instanceof PromptError && e.code === "too_long",
    );
    const exact = reader(keys("x".repeat(8) + "\r"), { maxBytes: 8 }).reader;
    assert.equal(await exact.readLine("> "), "xxxxxxxx");
    const binary = reader(keys([0x61, 0xff, 0x62, 0x0d])).reader;
    await assert.rejects(
      () => binary.readLine("> "),
      (e: unknown) => e instanceof PromptError && e.code === "not_utf8",
    );
  },
});

Deno.test({
  name: "aborting the signal cancels a read that is waiting for a key",
  permissions: "none",
  async fn() {
    const controller = new AbortController();
    // Keys that never come: the read waits until the abort.
    const never: KeySource = { read: () => new Promise(() => {}) };
    const { reader: r, shown } = reader(never, { signal: controller.signal });
    const line = r.readLine("Password: ");
    controller.abort();
    await assert.rejects(
      line,
      (e: unknown) => e instanceof PromptError && e.code === "cancelled",
    );
    assert.deepEqual(shown, ["Password: ", "\n"]);
  },
});
