/**
 * `socklab --role chat-server`: multi-room chat (day 5) over TCP, or over
 * UDP with `--udp`; one chat core either way. At a terminal (or with
 * `--console`) the server's stdin takes operator commands.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import { readLines } from "../../lib/lines.ts";
import { printLine } from "../../lib/log.ts";
import { TlvServer } from "../../lib/server.ts";
import { MAX_DATAGRAM, UdpServer } from "../../lib/udp_server.ts";
import { type Role, serverOptions, serveUntilStopped } from "../role.ts";
import {
  ChatCore,
  DEFAULT_MAX_MESSAGE,
  DEFAULT_RATE,
  HISTORY_SIZE,
} from "./core.ts";
import { OPERATOR_HELP, operatorConsole } from "./operator.ts";
import { chatService, DEFAULT_MAX_QUEUE, UdpChatService } from "./service.ts";

/** Room for a chat_message's other fields (names, seq, time) in one datagram. */
const MESSAGE_OVERHEAD = 512;

/** The chat-server role. */
export const chatServerRole: Role = {
  name: "chat-server",
  summary: "day 5: multi-room chat with nicknames, history and private " +
    "messages (TCP, or UDP with --udp)",
  kind: "server",
  files: "none",
  flags: [
    { name: "udp", type: "boolean", doc: "serve over UDP instead of TCP" },
    {
      name: "max-message",
      type: "size",
      doc: "longest message text, in bytes",
      default: `${DEFAULT_MAX_MESSAGE}`,
    },
    {
      name: "rate",
      type: "number",
      doc: "messages per second per client (bursts of twice as many); more " +
        "are refused with rate_limited",
      default: DEFAULT_RATE,
    },
    {
      name: "max-queue",
      type: "size",
      doc: "bytes a TCP client may leave unread for more than a second " +
        "(or ever four times as many) before it is dropped",
      default: "256K",
    },
    {
      name: "console",
      type: "boolean",
      doc: "read operator commands from stdin even when it is not a terminal",
    },
  ],
  details: () =>
    [
      `A room keeps its last ${HISTORY_SIZE} messages and replays them to whoever joins.`,
      "Over UDP, --idle-timeout is how long a silent client keeps its session.",
      "",
      ...OPERATOR_HELP,
    ].join("\n"),
  examples: [
    "socklab --role chat-server --port 6000",
    "socklab --role chat-server --udp --port 6000",
    "socklab --role chat-server --port 6000 --rate 5 --max-message 1K < /dev/null &",
  ],
  async run(ctx) {
    const { flags } = ctx;
    const maxMessageBytes = flags.number("max-message") ?? DEFAULT_MAX_MESSAGE;
    const rate = flags.number("rate") ?? DEFAULT_RATE;
    const maxQueueBytes = flags.number("max-queue") ?? DEFAULT_MAX_QUEUE;
    const udp = flags.boolean("udp");
    if (
      maxMessageBytes < 1 ||
      (udp && maxMessageBytes > MAX_DATAGRAM - MESSAGE_OVERHEAD)
    ) {
      throw new UsageError(
        `--max-message must be from 1 to ${
          udp ? MAX_DATAGRAM - MESSAGE_OVERHEAD : "any"
        } bytes${
          udp ? " over UDP (a message travels in one datagram)" : ""
        }, not ${maxMessageBytes}`,
      );
    }
    if (!(rate > 0)) {
      throw new UsageError(`--rate must be above 0, not ${rate}`);
    }
    if (maxQueueBytes < 1) {
      throw new UsageError(`--max-queue must be above 0, not ${maxQueueBytes}`);
    }
    const core = new ChatCore({ maxMessageBytes, rate });
    const options = serverOptions(ctx);
    if (udp && options.tls) {
      throw new UsageError("TLS is for TCP: leave out --udp or the TLS flags");
    }
    let server: TlvServer | UdpServer;
    let scheme: string;
    if (udp) {
      const chat = new UdpChatService(core, {
        log: ctx.log,
        sessionTimeoutMs: options.idleTimeoutMs ?? 60_000,
        maxSessions: options.maxConnections ?? 1024,
      });
      server = new UdpServer({ ...options, service: chat });
      server.finished.then(() => chat.close());
      scheme = "udp";
    } else {
      const service = chatService(core, { log: ctx.log, maxQueueBytes });
      server = new TlvServer({ ...options, services: [service] });
      scheme = options.tls ? "tls" : "tcp";
    }
    if (Deno.stdin.isTerminal() || flags.boolean("console")) {
      // The console ends with its input; the server goes on until stopped.
      operatorConsole(core, {
        lines: readLines(Deno.stdin.readable),
        print: printLine,
      }).catch(
        (error) => ctx.log.warn("operator console stopped", { error }),
      );
    }
    return await serveUntilStopped(ctx, server, scheme);
  },
};
