/**
 * `socklab --role udp-ping-client`: the classic pinger over UDP, printing
 * what `ping` prints.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import { formatAddr } from "../../lib/frame_conn.ts";
import { printLine } from "../../lib/log.ts";
import { pingSummary } from "../../lib/ping_stats.ts";
import { clientOptions, type Role } from "../role.ts";
import { formatPingEvent, MAX_PING_SIZE, ping } from "./pinger.ts";

/** The udp-ping-client role. */
export const udpPingClientRole: Role = {
  name: "udp-ping-client",
  summary: "ping a UDP ping server: RTTs, losses and the ping summary",
  kind: "client",
  files: "none",
  flags: [
    {
      name: "timeout",
      type: "duration",
      doc: "how long each ping waits for its answer",
      default: "1s",
    },
    {
      name: "count",
      type: "number",
      doc: "pings to send",
      default: 10,
      value: "N",
      short: "c",
    },
    {
      name: "interval",
      type: "duration",
      doc: "time between pings",
      default: "1s",
      short: "i",
    },
    {
      name: "size",
      type: "number",
      doc: `payload bytes per ping, up to ${MAX_PING_SIZE}`,
      default: 56,
      value: "BYTES",
      short: "s",
    },
  ],
  examples: [
    "socklab --role udp-ping-client --port 9000",
    "socklab --role udp-ping-client --port 9000 --count 20 --interval 200ms --size 1000",
  ],
  async run(ctx) {
    const { flags } = ctx;
    const options = clientOptions(ctx, "ping");
    const count = flags.number("count") ?? 10;
    if (!Number.isInteger(count) || count < 1) {
      throw new UsageError(
        `--count must be a whole number above 0, not ${count}`,
      );
    }
    const size = flags.number("size") ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > MAX_PING_SIZE) {
      throw new UsageError(
        `--size must be a whole number from 0 to ${MAX_PING_SIZE}, not ${size}`,
      );
    }
    const hostname = options.hostname ?? "127.0.0.1";
    const peer = formatAddr({ transport: "udp", hostname, port: options.port });
    printLine(`PING ${peer}: ${size} data bytes`);
    const report = await ping({
      hostname,
      port: options.port,
      count,
      intervalMs: flags.number("interval") ?? 1000,
      timeoutMs: options.timeoutMs ?? 1000,
      size,
      signal: ctx.signal,
      tracer: ctx.tracer,
      onEvent: (event) => printLine(formatPingEvent(event, peer)),
    });
    printLine("");
    printLine(`--- ${peer} ping statistics ---`);
    for (const line of pingSummary(report, report.rtts)) printLine(line);
    // As ping: exit 1 when nothing at all came back.
    return report.received > 0 ? 0 : 1;
  },
};
