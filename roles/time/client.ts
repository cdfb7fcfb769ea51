/**
 * `socklab --role time-client`: asks a time server for its time and prints
 * the server's time, the offset of its clock from ours and the delay, NTP
 * style; or, with `--subscribe`, prints its ticks.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import { printLine } from "../../lib/log.ts";
import { formatMs } from "../../lib/ping_stats.ts";
import { RequestTimeoutError, UdpClient } from "../../lib/udp_client.ts";
import { clientOptions, type Role } from "../role.ts";
import { type Clock, formatMicros, systemClock } from "./clock.ts";
import { bestSample, type TimeSample } from "./ntp.ts";
import { requestTime, watchTicks } from "./query.ts";

/** Without a tick for this long (ms), a subscription counts as lost. */
const SILENCE_MS = 5000;

/** The time-client role. */
export const timeClientRole: Role = {
  name: "time-client",
  summary: "ask a time server its time: offset and delay, NTP style",
  kind: "client",
  files: "none",
  flags: [
    {
      name: "timeout",
      type: "duration",
      doc: "how long each request waits for its answer",
      default: "1s",
    },
    {
      name: "samples",
      type: "number",
      doc: "requests to send; the one with the smallest delay is used",
      default: 4,
      value: "N",
    },
    {
      name: "subscribe",
      type: "boolean",
      doc: "print the server's tick every second until Ctrl-C or --duration",
    },
    {
      name: "duration",
      type: "duration",
      doc: "with --subscribe: stop after this long",
    },
    {
      name: "heartbeat",
      type: "duration",
      doc: "with --subscribe: ping the server this often to stay subscribed",
      default: "3s",
    },
  ],
  examples: [
    "socklab --role time-client --port 9300",
    "socklab --role time-client --port 9300 --samples 8",
    "socklab --role time-client --port 9300 --subscribe --duration 10s",
  ],
  async run(ctx) {
    const { flags } = ctx;
    const options = clientOptions(ctx, "time");
    const timeoutMs = options.timeoutMs ?? 1000;
    const clock = systemClock();
    await using udp = new UdpClient({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
      tracer: ctx.tracer,
    });
    if (flags.boolean("subscribe")) {
      const report = await watchTicks(udp, {
        clock,
        timeoutMs,
        heartbeatMs: positive(flags.number("heartbeat") ?? 3000, "heartbeat"),
        silenceMs: SILENCE_MS,
        durationMs: flags.number("duration"),
        signal: ctx.signal,
        onTick: (tick) => {
          const ahead = (tick.time - tick.receivedAt) / 1000;
          printLine(
            `tick seq=${tick.seq} ${formatMicros(tick.time)} ` +
              `(server - local = ${signedMs(ahead)} ms)` +
              (tick.missed > 0 ? ` (${tick.missed} missed)` : ""),
          );
        },
      });
      printLine(`${report.ticks} ticks, ${report.missed} missed`);
      return 0;
    }
    if (flags.number("duration") !== undefined) {
      throw new UsageError("--duration goes with --subscribe");
    }
    const count = flags.number("samples") ?? 4;
    if (!Number.isInteger(count) || count < 1) {
      throw new UsageError(
        `--samples must be a whole number above 0, not ${count}`,
      );
    }
    return await sample(udp, clock, count, timeoutMs, ctx.signal);
  },
};

async function sample(
  udp: UdpClient,
  clock: Clock,
  count: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<number> {
  const samples: (TimeSample & { n: number })[] = [];
  // One after another, as NTP's burst does: samples that overlap would
  // queue behind each other and inflate their delays.
  for (let n = 1; n <= count && !signal.aborted; n++) {
    try {
      const s = await requestTime(udp, clock, timeoutMs);
      samples.push({ ...s, n });
      printLine(
        `sample ${n}: offset ${signedMs(s.offset / 1000)} ms, ` +
          `delay ${formatMs(s.delay / 1000)} ms`,
      );
    } catch (error) {
      if (!(error instanceof RequestTimeoutError)) throw error;
      printLine(`sample ${n}: Request timed out`);
    }
  }
  const best = bestSample(samples);
  if (best === undefined) {
    printLine(`no answer from ${udp.peer}`);
    return 1;
  }
  // The server's clock now: ours now, moved by the offset.
  printLine(`server time ${formatMicros(clock() + best.offset)}`);
  printLine(
    `offset ${signedMs(best.offset / 1000)} ms (sample ${best.n} of ` +
      `${count}, the smallest delay)`,
  );
  printLine(`delay ${formatMs(best.delay / 1000)} ms`);
  return 0;
}

function signedMs(ms: number): string {
  return `${ms < 0 ? "-" : "+"}${formatMs(Math.abs(ms))}`;
}

function positive(ms: number, flag: string): number {
  if (ms <= 0) throw new UsageError(`--${flag} must be above 0`);
  return ms;
}
