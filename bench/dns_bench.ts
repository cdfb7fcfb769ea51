/**
 * UDP queries per second of the local DNS server (HW3) against a baseline
 * measured in the same run: a minimal UDP responder on the same runtime
 * that does no DNS work at all. Two workloads on the local server:
 *
 * - cache hits: `www.mit.edu A`, which only the global server knows, asked
 *   once before the load so every query of the load is answered from the
 *   cache (the query path, asked with the EXPLAIN option, is printed, and
 *   the cache's own counters must show no miss);
 * - local-table answers: `www.skku.edu A`, from the local server's table.
 *
 * The baseline receives into one reused buffer, sets QR, and appends one
 * pre-encoded answer record (the one the local server gives for
 * `www.skku.edu`, so the replies are the same size) behind the question:
 * what is left between it and the local server is the DNS work and the
 * server host. The issue this bench answers measured such a responder at
 * about 30k queries/s when `receive()` allocated a fresh 64 KiB buffer per
 * datagram, about 62k once it reused one, against dnsmasq's 71k on the same
 * machine.
 *
 * The DNS servers log one line per query at "info": they run here with a
 * "warn" logger, so formatting and writing log lines is not measured.
 * When `dnsperf` is on PATH it is run against each server as a second
 * opinion (it checks response codes only, not answers).
 *
 * The 1 × 1 row is bound by waking the other thread for every query: on
 * the 2-core VM it swings between about 10k and 25k q/s with how busy the
 * machine is, for every server alike. The 8 × 8 row and the server CPU per
 * query are the figures to compare. What this bench found there (8 × 8,
 * server CPU µs per query, cache / table / baseline): 28.6 / 24.4 / 8.0
 * at first, 11.3 / 10.7 / 7.6 after the name, encoder and host fixes
 * (names parsed and canonicalized without escape handling when they need
 * none, A records written without parsing into a new array, no async hop
 * for answers the table or cache holds, no copy of the datagram, the
 * peer's text made only for a log line): q/s from 0.35 to about 0.68 of
 * the baseline.
 *
 * @module
 */

import { median } from "./_util.ts";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { queryDns } from "../lib/dns_client.ts";
import { Logger, printLine } from "../lib/log.ts";
import { CLASS_IN, RCODE, RR_TYPE } from "../protocol/dns/constants.ts";
import { type DnsMessage, encodeMessage } from "../protocol/dns/message.ts";
import { DnsCache } from "../roles/dns/cache.ts";
import { EXPLAIN_OPTION } from "../roles/dns/resolver.ts";
import { startGlobal, startLocal } from "../roles/dns/servers.ts";
import {
  DEFAULT_SLICES,
  type DnsLoadJob,
  type DnsWorkload,
  type LoadResult,
  LoadWorker,
} from "./_load.ts";
import { fmt, formatRow, printHeader } from "./_table.ts";

/** The local/baseline throughput ratio a cell must reach to pass. */
export const TARGET_RATIO = 0.7;

/** Options for {@linkcode runDnsBench}. */
export interface DnsBenchOptions {
  /** Load before counting (ms). Default 200. */
  warmupMs?: number;
  /** Counting window per run (ms). Default 500. */
  measureMs?: number;
  /**
   * Runs per cell, in alternating server order. Default 6: many short runs
   * spread a neighbour's burst of CPU use over all three servers instead of
   * one.
   */
  rounds?: number;
  /** Counting also stops after this many replies. Default 4 000 000. */
  maxRequests?: number;
  /** Run `dnsperf` when it is on PATH. Default true. */
  dnsperf?: boolean;
  /** Length of each dnsperf run (s). Default 3. */
  dnsperfSeconds?: number;
}

/** One server under one configuration. */
export interface DnsBenchCell {
  /** What the load generator saw, one result per round. */
  loads: LoadResult[];
  /** Median of the query rates of every slice of every round. */
  perSecond: number;
  /**
   * CPU µs per answered query of the servers' thread (this main thread),
   * warm-ups included.
   */
  cpuMicros: number;
  /** Share of the wall time the generator's thread was on a CPU (0..1). */
  loadBusy: number;
}

/** One configuration's measurements. */
export interface DnsBenchRow {
  /** e.g. "8 sockets × 8 in flight". */
  config: string;
  /** Local server, answers from its cache. */
  cache: DnsBenchCell;
  /** Local server, answers from its own table. */
  local: DnsBenchCell;
  /** The minimal responder. */
  baseline: DnsBenchCell;
}

/** What the testdata tables say, so replies are checked against the files. */
const CACHE_WORKLOAD: DnsWorkload = {
  name: "www.mit.edu",
  type: RR_TYPE.A,
  rcode: RCODE.NOERROR,
  answers: ["www.mit.edu A 203.0.113.10"],
};
const LOCAL_WORKLOAD: DnsWorkload = {
  name: "www.skku.edu",
  type: RR_TYPE.A,
  rcode: RCODE.NOERROR,
  answers: ["www.skku.edu A 192.0.2.10"],
};
const LOCAL_TTL = 3600;

const CONFIGS = [
  { connections: 1, inFlight: 1 },
  { connections: 8, inFlight: 8 },
] as const;
/**
 * dnsperf runs only with many queries outstanding: with one or two it paces
 * itself (about 500 and 1,700 q/s here, at 90 µs latency), measuring
 * dnsperf rather than the server.
 */
const DNSPERF_CONFIG = { connections: 8, inFlight: 8 } as const;

const COLUMNS = [
  ["config", 24],
  ["cache q/s", 10],
  ["table q/s", 10],
  ["baseline q/s", 13],
  ["cache/base", 11],
  ["verdict", 13],
  ["table/base", 11],
  ["verdict", 13],
] as const;

const CPU_COLUMNS = [
  ["config", 24],
  ["cache µs/q", 11],
  ["table µs/q", 11],
  ["baseline µs/q", 14],
  ["base/cache", 11],
  ["base/table", 11],
  ["generator busy c/t/b", 21],
] as const;

const PERF_COLUMNS = [
  ["dnsperf", 24],
  ["q/s", 10],
  ["/baseline", 10],
  ["lost", 6],
  ["avg latency", 12],
  ["response codes", 30],
] as const;

const testdata = (name: string) =>
  fileURLToPath(new URL(`../testdata/dns/${name}`, import.meta.url));

/**
 * Starts the global and local servers and the baseline, warms the cache,
 * measures every configuration, runs dnsperf if present and prints the
 * tables.
 *
 * @example
 * ```ts
 * const rows = await runDnsBench({ measureMs: 500, dnsperf: false });
 * rows[0]!.cache.perSecond / rows[0]!.baseline.perSecond;
 * ```
 */
export async function runDnsBench(
  options: DnsBenchOptions = {},
): Promise<DnsBenchRow[]> {
  // "warn": the servers' one info line per query is neither formatted nor written.
  const log = new Logger({ name: "bench", level: "warn" });
  await using global = await startGlobal([
    { origin: "edu", path: testdata("global_edu_dns.txt") },
    { origin: "com", path: testdata("global_com_dns.txt") },
  ], { log, watch: false });
  const cache = new DnsCache({ maxEntries: 10_000, now: () => Date.now() });
  await using local = await startLocal(testdata("local_dns.txt"), {
    cache,
    upstream: { hostname: "127.0.0.1", port: global.server.addr.port },
  }, { log, watch: false });
  const localPort = local.server.addr.port;

  // Warm the cache and show the path each workload's answer takes.
  const first = await explain(localPort, CACHE_WORKLOAD);
  const cached = await explain(localPort, CACHE_WORKLOAD);
  const table = await explain(localPort, LOCAL_WORKLOAD);
  if (!cached.path.startsWith("cache hit") || cached.source !== "cache") {
    throw new Error(
      `Cannot benchmark cache hits: the second ${CACHE_WORKLOAD.name} query took the path "${cached.path}"`,
    );
  }
  if (table.source !== "local") {
    throw new Error(
      `Cannot benchmark the local table: ${LOCAL_WORKLOAD.name} took the path "${table.path}"`,
    );
  }

  await using baseline = new MinimalResponder(baselineAnswer(LOCAL_WORKLOAD));
  using worker = new LoadWorker();

  const warmupMs = options.warmupMs ?? 200;
  const measureMs = options.measureMs ?? 500;
  const rounds = Math.max(1, options.rounds ?? 6);
  const maxRequests = options.maxRequests ?? 4_000_000;
  printLine(
    `servers on the main thread, load generator (UDP sockets) on a Worker ` +
      `thread; ${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}; ` +
      `${rounds} runs per cell in alternating order, each ${warmupMs} ms ` +
      `warm-up + ${measureMs} ms window; median of all ${
        rounds * DEFAULT_SLICES
      } slices`,
  );
  printLine(
    'servers log at level "warn": the per-query info line is not written, ' +
      "so logging is not measured",
  );
  printLine(
    "baseline: minimal UDP responder on this runtime, one reused receive " +
      "buffer, QR set and one pre-encoded answer appended, no DNS work",
  );
  printLine(
    `query path (EXPLAIN option): ${CACHE_WORKLOAD.name} A first "${first.path}", ` +
      `then "${cached.path}"; ${LOCAL_WORKLOAD.name} A "${table.path}"`,
  );

  const mainCpu = () => {
    const { user, system } = process.threadCpuUsage();
    return (user + system) / 1e6;
  };
  const servers = [
    { name: "cache", port: localPort, dns: CACHE_WORKLOAD },
    { name: "table", port: localPort, dns: LOCAL_WORKLOAD },
    { name: "baseline", port: baseline.addr.port, dns: LOCAL_WORKLOAD },
  ] as const;
  const cacheBefore = cache.stats;
  let cacheReplies = 0;

  printLine("");
  printHeader(COLUMNS);
  const rows: DnsBenchRow[] = [];
  for (const { connections, inFlight } of CONFIGS) {
    const runs = new Map<
      string,
      { load: LoadResult; cpuSeconds: number; wallSeconds: number }[]
    >(servers.map((s) => [s.name, []]));
    // Alternating the order evens out drift between the servers compared.
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        const job: DnsLoadJob = {
          port: server.port,
          dns: server.dns,
          connections,
          inFlight,
          warmupMs,
          measureMs,
          maxRequests,
        };
        const cpu0 = mainCpu();
        const t0 = performance.now();
        const load = await worker.run(job);
        const wallSeconds = (performance.now() - t0) / 1000;
        const cpuSeconds = mainCpu() - cpu0;
        if (server.name === "cache") cacheReplies += load.replies;
        runs.get(server.name)!.push({ load, cpuSeconds, wallSeconds });
      }
    }
    const row: DnsBenchRow = {
      config: `${connections} socket${
        connections === 1 ? "" : "s"
      } × ${inFlight} in flight`,
      cache: combine(runs.get("cache")!),
      local: combine(runs.get("table")!),
      baseline: combine(runs.get("baseline")!),
    };
    rows.push(row);
    printLine(formatRow(COLUMNS, cells(row)));
  }
  printLine(noise(rows));

  const cacheAfter = cache.stats;
  const hits = cacheAfter.hits - cacheBefore.hits;
  const misses = cacheAfter.misses - cacheBefore.misses;
  if (misses !== 0 || hits < cacheReplies) {
    throw new Error(
      `Cannot trust the cache rows: the cache counted ${hits} hits and ${misses} misses for ${cacheReplies} answered cache queries`,
    );
  }

  printLine("");
  printLine(
    "server CPU per answered query (the servers' thread; steadier than q/s " +
      "when other processes share the machine), and how busy the " +
      "generator's thread was (cache/table/baseline runs)",
  );
  printHeader(CPU_COLUMNS);
  for (const row of rows) {
    const pct = (c: DnsBenchCell) => `${Math.round(c.loadBusy * 100)}`;
    printLine(formatRow(CPU_COLUMNS, [
      row.config,
      row.cache.cpuMicros.toFixed(1),
      row.local.cpuMicros.toFixed(1),
      row.baseline.cpuMicros.toFixed(1),
      fmt(row.baseline.cpuMicros / row.cache.cpuMicros),
      fmt(row.baseline.cpuMicros / row.local.cpuMicros),
      `${pct(row.cache)}/${pct(row.local)}/${pct(row.baseline)} %`,
    ]));
  }
  printLine(
    `cache counters over the cache runs: ${hits} hits, ${misses} misses ` +
      `(${cacheReplies} replies counted): every cache-row answer came from the cache`,
  );

  if (options.dnsperf !== false) {
    await runDnsperfTable(servers, options.dnsperfSeconds ?? 3);
  }

  printLine("");
  printLine(summary(rows));
  return rows;
}

/** Asks `w`'s question with the EXPLAIN option; returns the path given. */
async function explain(
  port: number,
  w: DnsWorkload,
): Promise<{ path: string; source: string }> {
  const { response } = await queryDns({ name: w.name, type: w.type }, {
    hostname: "127.0.0.1",
    port,
    timeoutMs: 2000,
    retries: 1,
    edns: {
      udpSize: 1232,
      options: [{ code: EXPLAIN_OPTION, data: new Uint8Array(0) }],
    },
  });
  const option = response.edns?.options.find((o) => o.code === EXPLAIN_OPTION);
  if (option === undefined || response.flags.rcode !== w.rcode) {
    throw new Error(
      `Cannot benchmark: ${w.name} on the local server answered rcode ${response.flags.rcode} without a path`,
    );
  }
  const path = new TextDecoder().decode(option.data);
  // The resolver's path names its source first: "local table", "cache hit", "global".
  const source = path.startsWith("local table")
    ? "local"
    : path.startsWith("cache hit")
    ? "cache"
    : path.startsWith("global")
    ? "global"
    : "other";
  return { path, source };
}

/**
 * The answer section the local server gives for `w` (one A record), encoded
 * to follow the question of a query without EDNS: its owner name is a
 * pointer to the question's name at offset 12.
 */
function baselineAnswer(w: DnsWorkload): Uint8Array {
  const [, , address] = w.answers[0]!.split(" ");
  const question = { name: w.name, type: w.type, class: CLASS_IN };
  const message: DnsMessage = {
    id: 0,
    flags: {
      qr: true,
      opcode: 0,
      aa: true,
      tc: false,
      rd: true,
      ra: true,
      ad: false,
      cd: false,
      rcode: w.rcode,
    },
    questions: [question],
    answers: [{
      name: w.name,
      type: w.type,
      class: CLASS_IN,
      ttl: LOCAL_TTL,
      data: { type: RR_TYPE.A, address: address! },
    }],
    authorities: [],
    additionals: [],
  };
  const withAnswer = encodeMessage(message).bytes;
  const queryLength = encodeMessage({ ...message, answers: [] }).bytes.length;
  return withAnswer.slice(queryLength);
}

/**
 * The baseline: a UDP responder that does no DNS work. It receives into one
 * reused buffer, sets QR and ANCOUNT = 1 in place and appends `answer`
 * behind the query (which must be header and question only, as the
 * generator's and dnsperf's queries without EDNS are), then sends that back.
 */
class MinimalResponder implements AsyncDisposable {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #udp: Deno.DatagramConn;

  constructor(answer: Uint8Array) {
    this.#udp = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: 0,
    });
    this.addr = this.#udp.addr as Deno.NetAddr;
    this.finished = this.#serve(answer);
  }

  async #serve(answer: Uint8Array): Promise<void> {
    const buffer = new Uint8Array(65_536);
    // Ends when close() makes receive() throw.
    for (;;) {
      let data: Uint8Array;
      let peer: Deno.Addr;
      try {
        [data, peer] = await this.#udp.receive(buffer);
      } catch {
        return;
      }
      const n = data.length;
      if (n < 12 || n + answer.length > buffer.length) continue;
      buffer[2]! |= 0x80;
      buffer[6] = 0;
      buffer[7] = 1;
      buffer.set(answer, n);
      try {
        // Awaited: the next receive overwrites the buffer being sent.
        await this.#udp.send(buffer.subarray(0, n + answer.length), peer);
      } catch {
        return;
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#udp.close();
    } catch { /* closed */ }
    await this.finished;
  }
}

/**
 * How much the slice rates of the noisiest cell spread: their interquartile
 * range over their median. A neighbour process taking a core for part of
 * the run shows here first.
 */
function noise(rows: readonly DnsBenchRow[]): string {
  const cells = rows.flatMap((row) =>
    (["cache", "local", "baseline"] as const).map((name) => {
      const rates = row[name].loads.flatMap((l) => l.sliceRates)
        .sort((a, b) => a - b);
      const at = (q: number) => rates[Math.floor(q * (rates.length - 1))]!;
      return {
        where: `${name === "local" ? "table" : name}, ${row.config}`,
        spread: (at(0.75) - at(0.25)) / median(rates),
      };
    })
  );
  const worst = cells.reduce((a, b) => b.spread > a.spread ? b : a);
  const pct = Math.round(worst.spread * 100);
  return `noise: slice rates spread (interquartile range / median) up to ` +
    `${pct}% (${worst.where})${
      worst.spread > 0.15
        ? ": other processes shared the CPU, so the q/s ratios are rough; " +
          "the CPU table below is steadier"
        : ""
    }`;
}

function combine(
  runs: readonly {
    load: LoadResult;
    cpuSeconds: number;
    wallSeconds: number;
  }[],
): DnsBenchCell {
  const loads = runs.map((r) => r.load);
  const replies = loads.reduce((n, l) => n + l.replies, 0);
  const cpu = runs.reduce((n, r) => n + r.cpuSeconds, 0);
  const loadCpu = loads.reduce((n, l) => n + l.loadCpuSeconds, 0);
  const wall = runs.reduce((n, r) => n + r.wallSeconds, 0);
  return {
    loads,
    perSecond: median(loads.flatMap((l) => l.sliceRates)),
    cpuMicros: (cpu * 1e6) / replies,
    loadBusy: loadCpu / wall,
  };
}

function cells(row: DnsBenchRow): string[] {
  const show = (c: DnsBenchCell) =>
    Math.round(c.perSecond).toLocaleString("en-US");
  const cacheRatio = row.cache.perSecond / row.baseline.perSecond;
  const tableRatio = row.local.perSecond / row.baseline.perSecond;
  const verdict = (r: number) => r >= TARGET_RATIO ? "PASS" : "BELOW TARGET";
  return [
    row.config,
    show(row.cache),
    show(row.local),
    show(row.baseline),
    fmt(cacheRatio),
    verdict(cacheRatio),
    fmt(tableRatio),
    verdict(tableRatio),
  ];
}

function summary(rows: readonly DnsBenchRow[]): string {
  const ratios = rows.flatMap((r) => [
    r.cache.perSecond / r.baseline.perSecond,
    r.local.perSecond / r.baseline.perSecond,
  ]);
  const passed = ratios.filter((r) => r >= TARGET_RATIO).length;
  const loads = rows.flatMap((r) =>
    [r.cache, r.local, r.baseline].flatMap((c) => c.loads)
  );
  const sum = (f: (l: LoadResult) => number) =>
    loads.reduce((n, l) => n + f(l), 0);
  const range = (values: number[]) =>
    `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
  return `summary: local server/baseline: cache hits ${
    range(rows.map((r) => r.cache.perSecond / r.baseline.perSecond))
  }, local table ${
    range(rows.map((r) => r.local.perSecond / r.baseline.perSecond))
  } (target ≥ ${TARGET_RATIO.toFixed(2)}): ${passed}/${ratios.length} PASS; ${
    sum((l) => l.replies)
  } replies matched by id, each one's QR, rcode and counts checked, ${
    sum((l) => l.verified)
  } decoded in full, all correct; ${sum((l) => l.lost)} queries lost, ${
    sum((l) => l.unmatched)
  } unmatched replies`;
}

/** What one dnsperf run printed. */
interface DnsperfResult {
  qps: number;
  lost: string;
  latency: string;
  rcodes: string;
}

async function runDnsperfTable(
  servers: readonly { name: string; port: number; dns: DnsWorkload }[],
  seconds: number,
): Promise<void> {
  printLine("");
  const { connections, inFlight } = DNSPERF_CONFIG;
  const flags = `-c ${connections} -q ${connections * inFlight}`;
  const dir = await Deno.makeTempDir({ prefix: "socklab-dns-bench-" });
  try {
    const results: { name: string; result: DnsperfResult }[] = [];
    for (const server of servers) {
      const file = `${dir}/${server.name}.txt`;
      await Deno.writeTextFile(file, `${server.dns.name} A\n`);
      const result = await dnsperf(file, server.port, {
        clients: connections,
        outstanding: connections * inFlight,
        seconds,
      });
      if (result === undefined) {
        printLine(
          "dnsperf not found on PATH: skipped (Debian: apt-get install dnsperf)",
        );
        return;
      }
      results.push({ name: server.name, result });
    }
    printLine(
      `dnsperf ${flags} (sockets, outstanding), ${seconds} s per server, ` +
        "no EDNS; it checks response codes, not answers; not run with 1 " +
        "outstanding, where it paces itself",
    );
    printHeader(PERF_COLUMNS);
    const base = results.find((r) => r.name === "baseline")?.result.qps;
    for (const { name, result } of results) {
      printLine(formatRow(PERF_COLUMNS, [
        name,
        Math.round(result.qps).toLocaleString("en-US"),
        base ? fmt(result.qps / base) : "-",
        result.lost,
        result.latency,
        result.rcodes,
      ]));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs dnsperf once; `undefined` when it is not installed. */
async function dnsperf(
  file: string,
  port: number,
  run: { clients: number; outstanding: number; seconds: number },
): Promise<DnsperfResult | undefined> {
  const { clients, outstanding, seconds } = run;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("dnsperf", {
      args: [
        ...["-s", "127.0.0.1", "-p", String(port), "-d", file],
        ...["-c", String(clients), "-q", String(outstanding), "-T", "1"],
        ...["-l", String(seconds), "-t", "1"],
      ],
      stdin: "null",
      // A dnsperf that hangs is killed: every wait has a bound.
      signal: AbortSignal.timeout((seconds + 15) * 1000),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const text = new TextDecoder().decode(output.stdout);
  const field = (label: string) =>
    new RegExp(`^\\s*${label}:\\s+(.+)$`, "m").exec(text)?.[1]?.trim();
  const qps = field("Queries per second");
  if (!output.success || qps === undefined) {
    throw new Error(
      `Cannot run dnsperf against port ${port}: ${
        JSON.stringify(
          (text + new TextDecoder().decode(output.stderr)).slice(-300),
        )
      }`,
    );
  }
  const latency = Number(field("Average Latency \\(s\\)")?.split(" ")[0]);
  return {
    qps: Number(qps),
    lost: field("Queries lost")?.split(" ")[0] ?? "?",
    latency: Number.isFinite(latency)
      ? `${(latency * 1e6).toFixed(0)} µs`
      : "?",
    rcodes: field("Response codes") ?? "?",
  };
}
