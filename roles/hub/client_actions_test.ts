import assert from "node:assert/strict";
import { parseFlags, UsageError } from "../../lib/flags.ts";
import { allFlags } from "../role.ts";
import { videoClientRole } from "../video/client.ts";
import { formatTtl, planActions } from "./client_actions.ts";
import { parseCommand } from "./interactive.ts";

function plan(...args: string[]) {
  return planActions(parseFlags(args, allFlags(videoClientRole)));
}

Deno.test({
  name:
    "planActions() orders login, calcs, image, video, live, list and stats, and picks the hub service",
  permissions: "none",
  fn() {
    const p = plan(
      "--stats",
      "--list",
      "images",
      "--video",
      "video_2023",
      "--image",
      "campus",
      "--calc",
      "1+2",
      "--calc",
      "2*3",
      "--login",
      "alice",
    );
    assert.equal(p.service, "hub");
    assert.deepEqual(p.actions, [
      { kind: "login", user: "alice" },
      { kind: "calc", expression: "1+2" },
      { kind: "calc", expression: "2*3" },
      { kind: "image", name: "campus" },
      { kind: "video", name: "video_2023", out: "video_2023.mp4" },
      { kind: "list", what: "images" },
      { kind: "stats" },
    ]);
  },
});

Deno.test({
  name: "planActions() keeps the video service for the HW4 commands",
  permissions: "none",
  fn() {
    assert.equal(plan("--video", "v", "--out", "x.mp4").service, "video");
    assert.equal(plan("--list", "videos", "--stats").service, "video");
    assert.equal(plan("--live", "--duration", "2s").service, "video");
    assert.deepEqual(plan("--live", "--out", "a.ts").actions, [
      { kind: "live", channel: "live", out: "a.ts" },
    ]);
    assert.equal(plan().actions.length, 0);
  },
});

Deno.test({
  name:
    "planActions() refuses an ambiguous --out, --live to stdout among others, and --password-file alone",
  permissions: "none",
  fn() {
    assert.throws(
      () => plan("--image", "a", "--video", "b", "--out", "f"),
      (e: unknown) =>
        e instanceof UsageError &&
        /--out is ambiguous with --image and --video/.test(e.message),
    );
    assert.throws(
      () => plan("--video", "b", "--live"),
      (e: unknown) =>
        e instanceof UsageError && /--live without --out/.test(e.message),
    );
    assert.throws(
      () => plan("--calc", "1", "--password-file", "pw"),
      (e: unknown) =>
        e instanceof UsageError &&
        /--password-file goes with --login/.test(e.message),
    );
    assert.throws(() => plan("--list"), UsageError);
    assert.throws(() => plan("--list", "music"), UsageError);
  },
});

Deno.test({
  name: "formatTtl() says minutes from a minute up, seconds below",
  permissions: "none",
  fn() {
    assert.equal(formatTtl(3600), "60 min");
    assert.equal(formatTtl(90), "2 min");
    assert.equal(formatTtl(59), "59 s");
  },
});

Deno.test({
  name: "parseCommand() understands every prompt command and explains mistakes",
  permissions: "none",
  fn() {
    const action = (line: string) => {
      const c = parseCommand(line);
      assert.equal(c.kind, "action", line);
      return c.kind === "action" ? c.action : undefined;
    };
    assert.deepEqual(action("login alice"), { kind: "login", user: "alice" });
    assert.deepEqual(action("logout"), { kind: "logout" });
    assert.deepEqual(action("  calc 2 * (3 + 4) "), {
      kind: "calc",
      expression: "2 * (3 + 4)",
    });
    assert.deepEqual(action("image campus"), { kind: "image", name: "campus" });
    assert.deepEqual(action("image campus c.png"), {
      kind: "image",
      name: "campus",
      out: "c.png",
    });
    assert.deepEqual(action("video video_2023"), {
      kind: "video",
      name: "video_2023",
      out: "video_2023.mp4",
    });
    assert.deepEqual(action("live"), {
      kind: "live",
      channel: "live",
      out: "live.ts",
      durationMs: 10_000,
    });
    assert.deepEqual(action("live 3 rec.ts"), {
      kind: "live",
      channel: "live",
      out: "rec.ts",
      durationMs: 3000,
    });
    assert.deepEqual(action("list images"), { kind: "list", what: "images" });
    assert.deepEqual(action("list"), { kind: "list", what: "videos" });
    assert.deepEqual(action("STATS"), { kind: "stats" });
    assert.deepEqual(parseCommand("help"), { kind: "help" });
    assert.deepEqual(parseCommand("exit"), { kind: "quit" });
    assert.deepEqual(parseCommand("  "), { kind: "none" });
    assert.deepEqual(parseCommand("# note"), { kind: "none" });
    for (
      const [line, message] of [
        ["login", "usage: login NAME"],
        ["calc", "usage: calc EXPR"],
        ["image", "usage: image NAME [FILE]"],
        ["list music", "usage: list images|videos"],
        ["fly me", 'unknown command "fly": type help'],
      ]
    ) {
      assert.deepEqual(parseCommand(line!), { kind: "invalid", message });
    }
    assert.match(
      (parseCommand("live 5 -") as { message: string }).message,
      /records to a file/,
    );
  },
});
