/**
 * `socklab --role time-server`: the server's clock over UDP, NTP style,
 * once or every second to subscribers.
 *
 * @module
 */

import { parseDuration, UsageError } from "../../lib/flags.ts";
import { UdpServer } from "../../lib/udp_server.ts";
import { type Role, serverOptions, serveUntilStopped } from "../role.ts";
import { systemClock } from "./clock.ts";
import {
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_SUBSCRIBER_TIMEOUT_MS,
  timeService,
} from "./service.ts";

/** The time-server role. */
export const timeServerRole: Role = {
  name: "time-server",
  summary: "tell the time over UDP, NTP style, once or every second",
  kind: "server",
  files: "none",
  flags: [
    {
      name: "clock-offset",
      type: "string",
      doc: "shift this server's clock, e.g. 250ms or =-2s (demos and tests)",
      default: "0s",
      value: "DURATION",
    },
    {
      name: "subscriber-timeout",
      type: "duration",
      doc: "drop a subscriber that sent no heartbeat for this long",
      default: `${DEFAULT_SUBSCRIBER_TIMEOUT_MS / 1000}s`,
    },
    {
      name: "max-subscribers",
      type: "number",
      doc: "subscriptions at once; more are refused with server_busy",
      default: DEFAULT_MAX_SUBSCRIBERS,
      value: "N",
    },
  ],
  examples: [
    "socklab --role time-server --port 9300",
    "socklab --role time-server --port 9300 --clock-offset 250ms",
    "socklab --role time-server --port 9300 --clock-offset=-2s --subscriber-timeout 5s",
  ],
  run(ctx) {
    const { flags } = ctx;
    const offsetMs = signedDuration(flags.string("clock-offset") ?? "0s");
    const timeoutMs = flags.number("subscriber-timeout") ??
      DEFAULT_SUBSCRIBER_TIMEOUT_MS;
    if (timeoutMs <= 0) {
      throw new UsageError("--subscriber-timeout must be above 0");
    }
    const maxSubscribers = flags.number("max-subscribers") ??
      DEFAULT_MAX_SUBSCRIBERS;
    if (!Number.isInteger(maxSubscribers) || maxSubscribers < 1) {
      throw new UsageError(
        `--max-subscribers must be a whole number above 0, not ${maxSubscribers}`,
      );
    }
    if (offsetMs !== 0) {
      ctx.log.info("clock shifted", { offset: `${offsetMs}ms` });
    }
    const server = new UdpServer({
      ...serverOptions(ctx),
      service: timeService({
        clock: systemClock(offsetMs),
        subscriberTimeoutMs: timeoutMs,
        maxSubscribers,
        log: ctx.log,
      }),
    });
    return serveUntilStopped(ctx, server, "udp");
  },
};

/** A duration that may be negative: `250ms`, `-2s`, `+1m`. */
function signedDuration(text: string): number {
  const match = /^\s*([+-]?)(.*)$/.exec(text);
  const ms = parseDuration(match?.[2] ?? "");
  if (match === null || ms === undefined) {
    throw new UsageError(
      `--clock-offset needs a duration like 250ms, -2s or 1m, not "${text}"`,
    );
  }
  return match[1] === "-" ? -ms : ms;
}
