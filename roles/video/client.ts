/**
 * `socklab --role client` (HW4, extended by HW5): on one connection to the
 * local server, logs in, calculates, saves an image or a video (atomically,
 * resumed from a `.part` file after an interruption, checked against its
 * digest), records or pipes the live channel, lists, and shows counters —
 * any of them in one command, in that order. At a terminal without any of
 * them it opens a `socklab>` prompt. The actions are in
 * `roles/hub/client_actions.ts`, the prompt in `roles/hub/interactive.ts`.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import {
  NO_ACTION,
  planActions,
  runClientCommand,
} from "../hub/client_actions.ts";
import { runInteractive } from "../hub/interactive.ts";
import { PASSWORD_ENV } from "../hub/password_input.ts";
import type { Role } from "../role.ts";

export {
  type DownloadSummary,
  downloadVideo,
  formatSummary,
} from "./download.ts";

/** The client role. */
export const videoClientRole: Role = {
  name: "client",
  summary:
    "HW4/HW5: log in, calculate, get images and videos, watch the live channel (a prompt without actions)",
  kind: "client",
  files: "read-write",
  env: [PASSWORD_ENV],
  flags: [
    {
      name: "login",
      type: "string",
      doc: "log in as NAME first (a server with --users needs it)",
      value: "NAME",
    },
    {
      name: "password-file",
      type: "string",
      doc:
        `with --login: the password is FILE's first line (else ${PASSWORD_ENV}, else typed unseen)`,
      value: "FILE",
    },
    {
      name: "calc",
      type: "list",
      doc: "evaluate EXPR on the server (repeatable)",
      value: "EXPR",
    },
    {
      name: "image",
      type: "string",
      doc: "the image to get, e.g. campus (saved under the server's file name)",
      value: "NAME",
    },
    {
      name: "video",
      type: "string",
      doc: "the video to get, e.g. video_2022",
      value: "NAME",
    },
    { name: "live", type: "boolean", doc: "watch the live channel" },
    {
      name: "channel",
      type: "string",
      doc: "which live channel",
      default: "live",
      value: "NAME",
    },
    {
      name: "out",
      type: "string",
      doc:
        "where --image, --video or --live writes (one of them; - is stdout for --live)",
      value: "FILE",
    },
    {
      name: "duration",
      type: "duration",
      doc: "with --live: stop after this long",
      value: "DURATION",
    },
    {
      name: "list",
      type: "string",
      doc: "list what the server has",
      value: "images|videos",
      choices: ["images", "videos"],
    },
    {
      name: "stats",
      type: "boolean",
      doc: "print the server's counters (JSON)",
    },
  ],
  examples: [
    'socklab --role client --port 9200 --login alice --calc "2*(3+4)" --image campus --video video_2023',
    "socklab --role client --port 9200          # at a terminal: the socklab> prompt, type help",
    "socklab --role client --port 9200 --video video_2023 --out video_2023.mp4",
    "socklab --role client --port 9200 --list images",
    "socklab --role client --port 9200 --live --duration 5s --out live.ts",
    "socklab --role client --port 9200 --live --out - | ffplay -",
  ],
  async run(ctx) {
    const plan = planActions(ctx.flags);
    if (plan.actions.length > 0) return await runClientCommand(ctx, plan);
    if (!Deno.stdin.isTerminal()) throw new UsageError(NO_ACTION);
    return await runInteractive(ctx);
  },
};
