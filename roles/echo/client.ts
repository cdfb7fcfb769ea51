/**
 * `socklab --role echo-client`: sends lines (arguments, or stdin) to an echo
 * server and prints what comes back with the round-trip time.
 *
 * @module
 */

import { connectTlv } from "../../lib/client.ts";
import { promptLines } from "../../lib/lines.ts";
import { printLine } from "../../lib/log.ts";
import { formatMs, pingSummary } from "../../lib/ping_stats.ts";
import { RequestTimeoutError, UdpClient } from "../../lib/udp_client.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import { clientOptions, type Role } from "../role.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The echo-client role. */
export const echoClientRole: Role = {
  name: "echo-client",
  summary:
    "send lines to an echo server, print the replies and round-trip times",
  kind: "client",
  files: "none",
  positionals: "[MESSAGE...]",
  flags: [{
    name: "udp",
    type: "boolean",
    doc: "use UDP (a lost datagram prints 'Request timed out')",
  }],
  examples: [
    "socklab --role echo-client --port 7000 hello world",
    "printf 'a\\nb\\n' | socklab --role echo-client --port 7000",
    "socklab --role echo-client --udp --port 7000 ping",
  ],
  async run(ctx) {
    const options = clientOptions(ctx, "echo");
    const messages: AsyncIterable<string> | string[] =
      ctx.flags.positionals.length > 0
        ? [...ctx.flags.positionals]
        : promptLines("echo> ");
    let send: (data: Uint8Array) => Promise<Message>;
    let close: () => Promise<void>;
    if (ctx.flags.boolean("udp")) {
      const udp = new UdpClient({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port,
        tracer: ctx.tracer,
      });
      send = (data) =>
        udp.request("echo_request", { data }, options.timeoutMs ?? 10_000);
      close = () => udp.close();
    } else {
      const client = await connectTlv(options);
      send = (data) => client.request("echo_request", { data });
      close = () => client.close();
    }
    const rtts: number[] = [];
    let sent = 0;
    try {
      for await (const text of messages) {
        sent++;
        const start = performance.now();
        try {
          const reply = await send(encoder.encode(text));
          const rtt = performance.now() - start;
          rtts.push(rtt);
          const data = reply.type === "echo_reply"
            ? decoder.decode(reply.fields.data)
            : `(${reply.type})`;
          printLine(`${data}  (${formatMs(rtt)} ms)`);
        } catch (error) {
          if (!(error instanceof RequestTimeoutError)) throw error;
          printLine("Request timed out");
        }
      }
    } finally {
      await close();
    }
    if (sent > 1) {
      const counts = { transmitted: sent, received: rtts.length };
      for (const line of pingSummary(counts, rtts)) printLine(line);
    }
    return rtts.length === sent ? 0 : 1;
  },
};
