/**
 * `socklab --role demo`: starts every system on loopback, drives each with
 * its real client over real sockets, and reports what each part did.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { connectTlv } from "../../lib/client.ts";
import { ConfinedRoot } from "../../lib/confined_fs.ts";
import { HttpServer } from "../../lib/http_server.ts";
import { formatAddr } from "../../lib/frame_conn.ts";
import { Logger, printLine } from "../../lib/log.ts";
import { TlvServer } from "../../lib/server.ts";
import { UdpClient } from "../../lib/udp_client.ts";
import { UdpServer } from "../../lib/udp_server.ts";
import { calculateAll, formatOutcome } from "../calc/client.ts";
import { calcService } from "../calc/service.ts";
import { echoService } from "../echo/service.ts";
import type { Role, RoleContext } from "../role.ts";
import { VideoCache } from "../video/cache.ts";
import { downloadVideo, formatSummary } from "../video/client.ts";
import { Edge } from "../video/edge.ts";
import { originService } from "../video/origin.ts";
import {
  DEFAULT_LIVE_SOURCE,
  DEFAULT_VIDEOS,
  originChannel,
} from "../video/servers.ts";
import { DnsCache } from "../dns/cache.ts";
import { formatNameResult, resolveName } from "../dns/client.ts";
import { EXPLAIN_OPTION } from "../dns/resolver.ts";
import {
  DEFAULT_LOCAL_TABLE,
  DEFAULT_ZONES,
  parseZoneFlags,
  startGlobal,
  startLocal,
} from "../dns/servers.ts";
import { webApp } from "../web/app.ts";
import { ResultsPage } from "../web/results_page.ts";
import { DEFAULT_EXPRESSIONS, DEFAULT_ROOT } from "../web/server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The names the DNS part resolves. */
export const DEMO_DOMAINS = "testdata/dns/domain.txt";

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

async function web(ctx: RoleContext): Promise<PartReport> {
  await using page = await ResultsPage.start({
    expressions: DEFAULT_EXPRESSIONS,
    out: join(resolve(DEFAULT_ROOT), "Result.html"),
    log: ctx.log,
    watch: false,
  });
  await using server = new HttpServer({
    handler: webApp({ root: await ConfinedRoot.open(DEFAULT_ROOT) }),
    log: ctx.log,
  });
  const base = `http://${formatAddr(server.addr)}`;
  const result = await fetch(`${base}/Result.html`);
  const html = await result.text();
  const rows = (html.match(/<tr(?: class="error")?><td>/g) ?? []).length;
  const missing = await fetch(`${base}/no-such-page.html`);
  await missing.body?.cancel();
  const api = await fetch(
    `${base}/api/calc?expr=${encodeURIComponent("2^10")}`,
  );
  const answer = await api.json() as { text?: string };
  return {
    part: `web (HW2)       ${base}`,
    ok: result.status === 200 && rows > 0 && missing.status === 404 &&
      answer.text === "1024" &&
      page.generation === 1,
    lines: [
      `wrote Result.html from ${DEFAULT_EXPRESSIONS}: ${rows} rows`,
      `GET /Result.html -> ${result.status} ${result.statusText}, ${html.length} bytes`,
      `GET /no-such-page.html -> ${missing.status} ${missing.statusText}`,
      `GET /api/calc?expr=2^10 -> ${api.status}, result ${answer.text}`,
    ],
  };
}

async function dns(ctx: RoleContext): Promise<PartReport> {
  const quiet = ctx.log.level === "debug"
    ? ctx.log
    : new Logger({ level: "warn", name: "dns" });
  const files = parseZoneFlags(DEFAULT_ZONES);
  await using global = await startGlobal(files, { log: quiet, watch: false });
  const cache = new DnsCache({ maxEntries: 1000, now: () => Date.now() });
  await using local = await startLocal(DEFAULT_LOCAL_TABLE, {
    cache,
    upstream: { hostname: "127.0.0.1", port: global.server.addr.port },
  }, { log: quiet, watch: false });
  const names = (await Deno.readTextFile(DEMO_DOMAINS)).split(/\r?\n/).map((
    l,
  ) => l.trim()).filter(Boolean);
  const server = { hostname: "127.0.0.1", port: local.server.addr.port };
  const ask = (name: string) =>
    resolveName(name, {
      ...server,
      timeoutMs: 2000,
      edns: {
        udpSize: 1232,
        options: [{ code: EXPLAIN_OPTION, data: new Uint8Array() }],
      },
    });
  const first = await Promise.all(names.map(ask));
  // Asked again, the names the global server answered come from the cache.
  const again = await ask(names.find((n) => /mit\.edu$/i.test(n)) ?? names[0]!);
  const found = first.filter((r) => r.kind === "found").length;
  const missing = first.filter((r) => r.kind === "not_found").length;
  return {
    part: `DNS (HW3)       local udp://${
      formatAddr(local.server.addr)
    }, global udp://${formatAddr(global.server.addr)}`,
    ok: found > 0 && missing > 0 && first.every((r) => r.kind !== "error") &&
      cache.stats.hits > 0,
    lines: [
      `${names.length} names from ${DEMO_DOMAINS}: ${found} found, ${missing} not found`,
      ...first.map((r) =>
        `  ${formatNameResult(r)}    [${r.paths[0]?.replace(/^A: /, "") ?? ""}]`
      ),
      `asked again: ${formatNameResult(again)}    [${
        again.paths[0]?.replace(/^A: /, "") ?? ""
      }]`,
    ],
  };
}

/** Where the demo's video part keeps its cache and downloads (gitignored). */
export const DEMO_VIDEO_DIR = ".cache/demo";

async function video(ctx: RoleContext): Promise<PartReport> {
  const quiet = ctx.log.level === "debug"
    ? ctx.log
    : new Logger({ level: "warn", name: "video" });
  const cacheDir = `${DEMO_VIDEO_DIR}/cache`;
  const downloads = `${DEMO_VIDEO_DIR}/downloads`;
  await Deno.remove(DEMO_VIDEO_DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(cacheDir, { recursive: true });
  await Deno.mkdir(downloads, { recursive: true });
  const channel = originChannel("live", DEFAULT_LIVE_SOURCE, quiet);
  const origin = originService({
    videos: await ConfinedRoot.open(DEFAULT_VIDEOS),
    channels: new Map([["live", channel]]),
  });
  try {
    await using global = new TlvServer({
      services: [origin.service],
      log: quiet,
    });
    const connectOrigin = () =>
      connectTlv({ port: global.addr.port, service: "video" });
    const cache = await VideoCache.open({
      dir: await ConfinedRoot.open(cacheDir),
      maxBytes: 64 * 1024 * 1024,
      origin: connectOrigin,
      log: quiet,
    });
    await cache.preload(`${DEFAULT_VIDEOS}/video_2023.mp4`);
    await using edge = new Edge({ cache, origin: connectOrigin, log: quiet });
    await using local = new TlvServer({ services: [edge.service], log: quiet });
    await using client = await connectTlv({
      port: local.addr.port,
      service: "video",
    });
    const lines: string[] = [];
    const sources: string[] = [];
    for (const name of ["video_2023", "video_2022", "video_2022"]) {
      const summary = await downloadVideo(
        client,
        name,
        `${downloads}/${name}.mp4`,
      );
      const original = await Deno.readFile(`${DEFAULT_VIDEOS}/${name}.mp4`);
      const same = (await Deno.readFile(summary.path)).every((b, i) =>
        b === original[i]
      ) &&
        summary.size === original.length;
      sources.push(summary.source);
      lines.push(
        `${formatSummary(summary)}${same ? "" : "  (CONTENT DIFFERS)"}`,
      );
    }
    // Scenario 3: a couple of seconds of the live channel through the relay.
    let live = 0;
    let firstByte = -1;
    const stream = client.stream("live_subscribe", { name: "live" }, {
      highWaterMark: 64,
    });
    const until = performance.now() + 2000;
    for await (const frame of stream) {
      if (frame.type === "live_data") {
        if (firstByte < 0) firstByte = frame.fields.data[0] ?? -1;
        live += frame.fields.data.length;
      }
      if (performance.now() >= until) break;
    }
    lines.push(
      `live: ${live} bytes of MPEG-TS in 2 s through the relay, first byte 0x${
        firstByte.toString(16)
      }`,
    );
    lines.push(
      `origin answered ${origin.stats.requests} video request(s) and ${origin.stats.liveSubscriptions} live subscription(s)`,
    );
    return {
      part: `video (HW4)     local tcp://${
        formatAddr(local.addr)
      }, global tcp://${formatAddr(global.addr)}`,
      ok: sources.join(",") === "cache,origin,cache" &&
        origin.stats.requests === 1 && live > 0 && firstByte === 0x47 &&
        !lines.some((l) => l.includes("DIFFERS")),
      lines,
    };
  } finally {
    await channel.close();
  }
}

/** The demo role. */
export const demoRole: Role = {
  name: "demo",
  summary:
    "start every system on loopback, run its clients, report what happened",
  kind: "tool",
  files: "read-write",
  flags: [],
  examples: ["socklab --role demo", "socklab --role demo --trace"],
  async run(ctx) {
    printLine(
      "socklab demo: every system on loopback, driven by its own client\n",
    );
    let failed = 0;
    for (const part of [echoTcp, echoUdp, calc, web, dns, video]) {
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
