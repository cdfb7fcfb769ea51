/**
 * `socklab --role echo-server`: the day-1 echo server, over TCP or UDP.
 *
 * @module
 */

import { TlvServer } from "../../lib/server.ts";
import { UdpServer } from "../../lib/udp_server.ts";
import { type Role, serverOptions, serveUntilStopped } from "../role.ts";
import { echoService } from "./service.ts";

/** The echo-server role. */
export const echoServerRole: Role = {
  name: "echo-server",
  summary: "send every message back (TCP, or UDP with --udp)",
  kind: "server",
  files: "none",
  flags: [{
    name: "udp",
    type: "boolean",
    doc: "serve over UDP instead of TCP",
  }],
  examples: [
    "socklab --role echo-server --port 7000",
    "socklab --role echo-server --udp --port 7000",
  ],
  run(ctx) {
    const options = serverOptions(ctx);
    if (ctx.flags.boolean("udp")) {
      const server = new UdpServer({ ...options, service: echoService() });
      return serveUntilStopped(ctx, server, "udp");
    }
    const server = new TlvServer({ ...options, services: [echoService()] });
    return serveUntilStopped(ctx, server, options.tls ? "tls" : "tcp");
  },
};
