/**
 * `socklab --role client` (HW4): asks the local server for a video (saved
 * atomically, resumed from a `.part` file after an interruption, checked
 * against its digest) or watches a live channel (to a file or stdout).
 *
 * @module
 */

import { downloadToFile, partLength } from "../../lib/bulk.ts";
import { connectTlv, type TlvClient } from "../../lib/client.ts";
import { UsageError } from "../../lib/flags.ts";
import { printLine } from "../../lib/log.ts";
import { formatBytes, Progress } from "../../lib/progress.ts";
import { clientOptions, type Role, type RoleContext } from "../role.ts";

/** What a download did. */
export interface DownloadSummary {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  /** Bytes this run carried (less than `size` after a resume). */
  readonly bytes: number;
  readonly offset: number;
  readonly seconds: number;
  readonly source: string;
}

/**
 * Downloads `name` into `path`, resuming from a `.part` file if one is there.
 *
 * @example
 * ```ts
 * await downloadVideo(client, "video_2022", "video_2022.mp4");
 * ```
 */
export async function downloadVideo(
  client: TlvClient,
  name: string,
  path: string,
  options: { progress?: boolean; terminal?: boolean } = {},
): Promise<DownloadSummary> {
  const offset = await partLength(path);
  const started = performance.now();
  let progress: Progress | undefined;
  const frames = client.stream("video_get", { name, offset }, {
    highWaterMark: 64,
  });
  const result = await downloadToFile(frames, path, {
    resumeFrom: offset,
    onHeader: (header) => {
      if (options.progress) {
        progress = new Progress({
          label: header.name ?? name,
          total: header.size,
          start: offset,
          ...(options.terminal !== undefined
            ? { terminal: options.terminal }
            : {}),
        });
      }
    },
    onProgress: (received) => progress?.update(received),
  });
  progress?.done();
  return {
    name,
    path,
    size: result.size,
    bytes: result.bytes,
    offset: result.offset,
    seconds: (performance.now() - started) / 1000,
    source: result.source ?? "unknown",
  };
}

/** One line describing a finished download. */
export function formatSummary(s: DownloadSummary): string {
  const rate = s.seconds > 0
    ? `${formatBytes(Math.round(s.bytes / s.seconds))}/s`
    : "-";
  const resumed = s.offset > 0 ? `, resumed at ${formatBytes(s.offset)}` : "";
  return `${s.path}: ${formatBytes(s.size)} in ${
    s.seconds.toFixed(2)
  } s (${rate}) from the ${s.source}${resumed}, digest verified`;
}

async function watchLive(
  ctx: RoleContext,
  client: TlvClient,
  channel: string,
  out: string,
): Promise<number> {
  const durationMs = ctx.flags.number("duration");
  const deadline = durationMs === undefined
    ? undefined
    : performance.now() + durationMs;
  const file = out === "-"
    ? undefined
    : await Deno.open(out, { write: true, create: true, truncate: true });
  const sink = file ?? Deno.stdout;
  const stream = client.stream("live_subscribe", { name: channel }, {
    highWaterMark: 64,
  });
  let bytes = 0;
  let reason = "stopped";
  const progress = out === "-"
    ? undefined
    : new Progress({ label: `live ${channel}` });
  try {
    for await (const frame of stream) {
      if (frame.type === "live_data") {
        let at = 0;
        while (at < frame.fields.data.length) {
          at += await sink.write(frame.fields.data.subarray(at));
        }
        bytes += frame.fields.data.length;
        progress?.update(bytes);
      } else if (frame.type === "live_end") {
        reason = frame.fields.message ?? "the channel ended";
      }
      if (deadline !== undefined && performance.now() >= deadline) {
        reason = `stopped after ${(durationMs! / 1000).toFixed(1)} s`;
        break;
      }
    }
  } finally {
    await stream[Symbol.asyncDispose]();
    file?.close();
    progress?.done();
  }
  ctx.log.info(
    `live ${channel}: ${formatBytes(bytes)} ${
      out === "-" ? "to stdout" : `to ${out}`
    }; ${reason}`,
  );
  return bytes > 0 ? 0 : 1;
}

/** The client role. */
export const videoClientRole: Role = {
  name: "client",
  summary: "HW4: get a video from the local server, or watch its live channel",
  kind: "client",
  files: "read-write",
  flags: [
    {
      name: "video",
      type: "string",
      doc: "the video to get, e.g. video_2022",
      value: "NAME",
    },
    { name: "live", type: "boolean", doc: "watch the live channel instead" },
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
      doc: "where to write (default NAME.mp4; - is stdout for --live)",
      value: "FILE",
    },
    {
      name: "duration",
      type: "duration",
      doc: "with --live: stop after this long",
      value: "DURATION",
    },
    { name: "list", type: "boolean", doc: "list the videos" },
    {
      name: "stats",
      type: "boolean",
      doc: "print the server's counters (JSON)",
    },
  ],
  examples: [
    "socklab --role client --port 9200 --video video_2023 --out video_2023.mp4",
    "socklab --role client --port 9200 --live --duration 5s --out live.ts",
    "socklab --role client --port 9200 --live --out - | ffplay -",
  ],
  async run(ctx) {
    const { flags } = ctx;
    const video = flags.string("video");
    const actions = [
      video !== undefined,
      flags.boolean("live"),
      flags.boolean("list"),
      flags.boolean("stats"),
    ]
      .filter(Boolean).length;
    if (actions !== 1) {
      throw new UsageError(
        "say what to do: one of --video NAME, --live, --list or --stats",
      );
    }
    await using client = await connectTlv(clientOptions(ctx, "video"));
    if (video !== undefined) {
      const out = flags.string("out") ??
        (/\.[a-z0-9]+$/i.test(video) ? video : `${video}.mp4`);
      const summary = await downloadVideo(client, video, out, {
        progress: true,
      });
      printLine(formatSummary(summary));
      return 0;
    }
    if (flags.boolean("live")) {
      return await watchLive(
        ctx,
        client,
        flags.string("channel") ?? "live",
        flags.string("out") ?? "-",
      );
    }
    if (flags.boolean("list")) {
      const reply = await client.request("video_list", {});
      if (reply.type === "video_list_reply") {
        for (const e of reply.fields.entry ?? []) {
          printLine(`${e.name}  ${formatBytes(e.size)}`);
        }
      }
      return 0;
    }
    const reply = await client.request("stats_request", {});
    if (reply.type === "stats_reply") printLine(reply.fields.json);
    return 0;
  },
};
