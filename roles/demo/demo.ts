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
  DEFAULT_IMAGES,
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
import { downloadToFile } from "../../lib/bulk.ts";
import { RemoteError } from "../../protocol/tlv/protocol_error.ts";
import { AuthGate } from "../hub/gate.ts";
import { hubServices } from "../hub/hub.ts";
import { imageService } from "../hub/images.ts";
import { setPassword, UserStore } from "../hub/users.ts";
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

/** One step of the integrated system's run, for the table. */
interface HubStep {
  step: string;
  ok: boolean;
  result: string;
  source: string;
  bytes: number;
  ms: number;
}

/** The demo user the HW5 part creates (a public demo password). */
export const DEMO_USER = { name: "demo", password: "socklab-demo" };

/**
 * HW5: the whole integrated system. A global server (videos, live, calc),
 * a local server (cache, relay, calc, images) that requires a login, a demo
 * user written to a users file, and one client through every step.
 */
async function hub(ctx: RoleContext): Promise<PartReport> {
  const quiet = ctx.log.level === "debug"
    ? ctx.log
    : new Logger({ level: "error", name: "hub" });
  const dir = `${DEMO_VIDEO_DIR}/hub`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${dir}/cache`, { recursive: true });
  await Deno.mkdir(`${dir}/downloads`, { recursive: true });
  const usersFile = `${dir}/users.txt`;
  await setPassword(usersFile, DEMO_USER.name, DEMO_USER.password);
  const channel = originChannel("live", DEFAULT_LIVE_SOURCE, quiet);
  const origin = originService({
    videos: await ConfinedRoot.open(DEFAULT_VIDEOS),
    channels: new Map([["live", channel]]),
  });
  try {
    await using global = new TlvServer({
      services: [origin.service, calcService()],
      log: quiet,
    });
    const connectOrigin = () =>
      connectTlv({ port: global.addr.port, service: "video" });
    const cache = await VideoCache.open({
      dir: await ConfinedRoot.open(`${dir}/cache`),
      maxBytes: 64 * 1024 * 1024,
      origin: connectOrigin,
      log: quiet,
    });
    await cache.preload(`${DEFAULT_VIDEOS}/video_2023.mp4`);
    await using edge = new Edge({ cache, origin: connectOrigin, log: quiet });
    const gate = new AuthGate({
      users: await UserStore.load(usersFile),
      log: quiet,
    });
    const images = imageService({
      images: await ConfinedRoot.open(DEFAULT_IMAGES),
    });
    await using local = new TlvServer({
      services: hubServices({
        calc: calcService(),
        video: edge.service,
        image: images,
        gate,
      }),
      log: quiet,
    });
    await using client = await connectTlv({
      port: local.addr.port,
      service: "hub",
    });
    const steps: HubStep[] = [];
    const step = async (
      name: string,
      work: () => Promise<Omit<HubStep, "step" | "ms">>,
    ) => {
      const started = performance.now();
      let done: Omit<HubStep, "step" | "ms">;
      try {
        done = await work();
      } catch (error) {
        done = {
          ok: false,
          result: `failed: ${(error as Error).message}`,
          source: "-",
          bytes: 0,
        };
      }
      steps.push({ step: name, ms: performance.now() - started, ...done });
    };
    const refusedWith = async (promise: Promise<unknown>) => {
      const error = await promise.then(() => undefined, (e) => e);
      return error instanceof RemoteError ? error.codeName ?? "" : "answered";
    };
    await step("calc before login", async () => {
      const code = await refusedWith(
        client.request("calc_request", { expression: "1+1" }),
      );
      return {
        ok: code === "auth_required",
        result: `refused: ${code}`,
        source: "local",
        bytes: 0,
      };
    });
    await step("wrong password", async () => {
      const code = await refusedWith(
        client.request("login", { user: DEMO_USER.name, password: "guess" }),
      );
      return {
        ok: code === "bad_credentials",
        result: `refused: ${code}`,
        source: "local",
        bytes: 0,
      };
    });
    await step(`login ${DEMO_USER.name}`, async () => {
      const answer = await client.request("login", {
        user: DEMO_USER.name,
        password: DEMO_USER.password,
      });
      const ok = answer.type === "login_ok";
      return {
        ok,
        result: ok ? `session for ${answer.fields.ttl} s` : answer.type,
        source: "local",
        bytes: 0,
      };
    });
    for (const expression of ["2*(3+4)", "sqrt(2)^2", "1/0"]) {
      await step(`calc ${expression}`, async () => {
        const [outcome] = await calculateAll(client, [expression]);
        const line = formatOutcome(outcome!);
        return {
          ok: expression === "1/0"
            ? line.includes("error")
            : !line.includes("error"),
          result: line,
          source: "local",
          bytes: 0,
        };
      });
    }
    await step("image campus", async () => {
      const path = `${dir}/downloads/campus.png`;
      const result = await downloadToFile(
        client.stream("image_get", { name: "campus" }),
        path,
      );
      const same = await sameFile(path, `${DEFAULT_IMAGES}/campus.png`);
      return {
        ok: same,
        result: `${result.name ?? "campus"}, digest verified${
          same ? "" : ", CONTENT DIFFERS"
        }`,
        source: "local",
        bytes: result.bytes,
      };
    });
    for (const name of ["video_2023", "video_2022"]) {
      await step(`video ${name}`, async () => {
        const summary = await downloadVideo(
          client,
          name,
          `${dir}/downloads/${name}.mp4`,
        );
        const same = await sameFile(
          summary.path,
          `${DEFAULT_VIDEOS}/${name}.mp4`,
        );
        const want = name === "video_2023" ? "cache" : "origin";
        return {
          ok: same && summary.source === want,
          result: `digest verified${same ? "" : ", CONTENT DIFFERS"}`,
          source: summary.source,
          bytes: summary.bytes,
        };
      });
    }
    await step("live, 2 s", async () => {
      let bytes = 0;
      let first = -1;
      const stream = client.stream("live_subscribe", { name: "live" }, {
        highWaterMark: 64,
      });
      const until = performance.now() + 2000;
      for await (const frame of stream) {
        if (frame.type === "live_data") {
          if (first < 0) first = frame.fields.data[0] ?? -1;
          bytes += frame.fields.data.length;
        }
        if (performance.now() >= until) break;
      }
      return {
        ok: bytes > 0 && first === 0x47,
        result: `MPEG-TS, first byte 0x${first.toString(16)}`,
        source: "origin via relay",
        bytes,
      };
    });
    const lines = [
      `users file ${usersFile}: user "${DEMO_USER.name}" (PBKDF2-SHA256)`,
      ...formatHubSteps(steps),
      `origin answered ${origin.stats.requests} video request(s); gate: ${gate.stats.logins} login(s), ${gate.stats.failures} failure(s), ${gate.stats.refused} refusal(s)`,
    ];
    return {
      part: `integrated (HW5) local tcp://${
        formatAddr(local.addr)
      } (login required), global tcp://${formatAddr(global.addr)}`,
      ok: steps.every((s) => s.ok) && origin.stats.requests === 1,
      lines,
    };
  } finally {
    await channel.close();
  }
}

/** The HW5 steps as a table. */
function formatHubSteps(steps: readonly HubStep[]): string[] {
  const columns = [
    ["", 4],
    ["step", 20],
    ["from", 17],
    ["bytes", 10],
    ["ms", 8],
    ["result", 0],
  ] as const;
  const row = (cells: string[]) =>
    cells.map((c, i) => {
      const width = columns[i]![1];
      return i === 3 || i === 4 ? c.padStart(width) : c.padEnd(width);
    }).join(" ").trimEnd();
  return [
    row(columns.map(([name]) => name)),
    ...steps.map((s) =>
      row([
        s.ok ? "ok" : "FAIL",
        s.step,
        s.source,
        s.bytes.toLocaleString("en-US"),
        s.ms.toFixed(1),
        s.result,
      ])
    ),
  ];
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([Deno.readFile(a), Deno.readFile(b)]);
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
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
    for (const part of [echoTcp, echoUdp, calc, web, dns, video, hub]) {
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
