/**
 * `socklab --role demo`: starts every system on loopback, drives each with
 * its real client over real sockets, and reports what each part did.
 *
 * @module
 */

import { connectTlv } from "../../lib/client.ts";
import { formatAddr } from "../../lib/frame_conn.ts";
import { printLine } from "../../lib/log.ts";
import { TlvServer } from "../../lib/server.ts";
import { UdpClient } from "../../lib/udp_client.ts";
import { UdpServer } from "../../lib/udp_server.ts";
import { calculateAll, formatOutcome } from "../calc/client.ts";
import { calcService } from "../calc/service.ts";
import { echoService } from "../echo/service.ts";
import type { Role, RoleContext } from "../role.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Expressions the demo sends: right answers and the errors users will meet. */
export const DEMO_EXPRESSIONS = [
  "1 + 2 * 3",
  "2^3^2",
  "-2^2",
  "(1.5e3 - 500) / 4",
  "sqrt(2) * max(1, 7, 3)",
  "10 % 4",
  "1 / 0",
  "(1 + 2))",
];

/** One part's line in the report. */
interface PartReport {
  part: string;
  ok: boolean;
  lines: string[];
}

async function echoTcp(ctx: RoleContext): Promise<PartReport> {
  await using server = new TlvServer({
    services: [echoService()],
    log: ctx.log,
    tracer: ctx.tracer,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "echo",
    tracer: ctx.tracer,
  });
  const words = ["hello", "socket", "world"];
  const lines: string[] = [];
  let ok = true;
  for (const word of words) {
    const start = performance.now();
    const reply = await client.request("echo_request", {
      data: encoder.encode(word),
    });
    const got = reply.type === "echo_reply"
      ? decoder.decode(reply.fields.data)
      : "";
    ok &&= got === word;
    lines.push(
      `sent "${word}", got "${got}" back in ${
        (performance.now() - start).toFixed(3)
      } ms`,
    );
  }
  return {
    part: `echo over TCP   tcp://${formatAddr(server.addr)}`,
    ok,
    lines,
  };
}

async function echoUdp(ctx: RoleContext): Promise<PartReport> {
  await using server = new UdpServer({
    service: echoService(),
    log: ctx.log,
    tracer: ctx.tracer,
  });
  await using client = new UdpClient({
    port: server.addr.port,
    tracer: ctx.tracer,
  });
  const reply = await client.request("echo_request", {
    data: encoder.encode("datagram"),
  }, 2000);
  const got = reply.type === "echo_reply"
    ? decoder.decode(reply.fields.data)
    : "";
  return {
    part: `echo over UDP   udp://${formatAddr(server.addr)}`,
    ok: got === "datagram",
    lines: [`one datagram out, one back: "${got}"`],
  };
}

async function calc(ctx: RoleContext): Promise<PartReport> {
  await using server = new TlvServer({
    services: [calcService()],
    log: ctx.log,
    tracer: ctx.tracer,
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "calc",
    tracer: ctx.tracer,
  });
  const outcomes = await calculateAll(client, DEMO_EXPRESSIONS);
  const errors = outcomes.filter((o) => !o.ok).length;
  return {
    part: `calc (HW1)      tcp://${formatAddr(server.addr)}`,
    // The last two expressions are meant to fail, with a clear message each.
    ok: errors === 2 && outcomes.slice(0, -2).every((o) => o.ok),
    lines: [
      `${outcomes.length} expressions pipelined on one connection, ${
        outcomes.length - errors
      } answered, ${errors} errors:`,
      ...outcomes.map((o) => `  ${formatOutcome(o)}`),
    ],
  };
}

/** The demo role. */
export const demoRole: Role = {
  name: "demo",
  summary:
    "start every system on loopback, run its clients, report what happened",
  kind: "tool",
  files: "none",
  flags: [],
  examples: ["socklab --role demo", "socklab --role demo --trace"],
  async run(ctx) {
    printLine(
      "socklab demo: every system on loopback, driven by its own client\n",
    );
    let failed = 0;
    for (const part of [echoTcp, echoUdp, calc]) {
      let report: PartReport;
      try {
        report = await part(ctx);
      } catch (error) {
        report = {
          part: part.name,
          ok: false,
          lines: [`failed: ${(error as Error).message}`],
        };
      }
      if (!report.ok) failed++;
      printLine(`${report.ok ? "ok  " : "FAIL"} ${report.part}`);
      for (const line of report.lines) printLine(`     ${line}`);
      printLine("");
    }
    printLine(failed === 0 ? "all parts worked" : `${failed} part(s) failed`);
    return failed === 0 ? 0 : 1;
  },
};
