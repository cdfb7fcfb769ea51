/**
 * The web server (HttpServer + webApp on a temporary root) against
 * `Deno.serve` in the same run, and, when `python3` is on PATH, against
 * Python's `http.server` — what the course would use:
 *
 * 1. requests per second for a 1 KiB file over keep-alive connections
 *    (1 and 50 connections with one request in flight each, and 50
 *    connections pipelining 16), against `Deno.serve` answering the same
 *    bytes, with the same headers, from memory (read once at start, never
 *    checked again: the fastest a server can answer, so the ratio is what
 *    the TypeScript protocol work and the per-request freshness check of
 *    the small-file cache cost). Target ≥ 1.0×;
 * 2. MB/s (10⁶ bytes) for a 64 MiB file of random bytes, four connections
 *    downloading it again and again over keep-alive, against `Deno.serve`
 *    streaming the file from disk (`Deno.open` + `file.readable` as the
 *    Response body, the usual way to stream a file from it). Target ≥ 0.8×.
 *
 * Python runs `python_http_server.py`: the stock SimpleHTTPRequestHandler
 * on the stock ThreadingHTTPServer (a thread per connection), as
 * `python3 -m http.server` runs them, with HTTP/1.1 keep-alive, Nagle off
 * and a listen backlog of 128 (see the script for why each; the stock
 * module with `--protocol HTTP/1.1` measured 22 requests/s on one
 * connection and 1.1k on 50, every response waiting out a 40 ms delayed
 * ACK, and lost connects to its backlog of 5). Its threads read and send
 * with the GIL released, so on the large file it uses both cores.
 *
 * Where things run, as in `calc_bench.ts`: the servers on the main thread,
 * the load generator (`_load.ts`, raw `Deno.connect`, responses split by
 * Content-Length, every status and length checked, a sample of bodies
 * compared byte for byte) on a Worker. Each cell is measured in two runs,
 * the servers taken in alternating order, and the slices of both make one
 * median: on a 2-core VM a single run can land 2× off (the 1-connection row
 * is bound by waking the other thread, not by work). The CPU table is the
 * steadier figure: server CPU time per response, the whole process minus
 * the generator's thread, so the file system calls Deno runs on its
 * blocking pool count for the server that asked for them.
 *
 * @module
 */

import { median, randomBytes } from "./_util.ts";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { HttpServer } from "../lib/http_server.ts";
import { Logger, printLine } from "../lib/log.ts";
import { etagFor } from "../protocol/http/conditional.ts";
import { contentType } from "../protocol/http/mime.ts";
import { httpDate } from "../protocol/http/response.ts";
import { webApp } from "../roles/web/app.ts";
import {
  DEFAULT_SLICES,
  type HttpLoadJob,
  type LoadResult,
  LoadWorker,
} from "./_load.ts";
import { fmt, formatRow, printHeader } from "./_table.ts";

/** socklab/Deno.serve requests per second a small-file row must reach. */
export const SMALL_TARGET = 1.0;
/** socklab/Deno.serve MB/s the large-file row must reach. */
export const LARGE_TARGET = 0.8;

/** Options for {@linkcode runWebBench}. */
export interface WebBenchOptions {
  /** Load before counting, small file (ms). Default 300. */
  warmupMs?: number;
  /** Load before counting, large file (ms); a first download takes a while. Default 1000. */
  largeWarmupMs?: number;
  /** Longest counting window per run (ms). Default 1000. */
  measureMs?: number;
  /**
   * Runs per server and row, in alternating order (socklab, Deno, python,
   * then back): the slices of all runs make one median. Default 2.
   */
  rounds?: number;
  /** Counting also stops after this many small-file responses (the large file: 1000). Default 4 000 000. */
  maxRequests?: number;
  /** Size of the small file in bytes. Default 1 KiB. */
  smallBytes?: number;
  /** Size of the large file in bytes. Default 64 MiB. */
  largeBytes?: number;
  /** Measure Python's http.server when `python3` exists. Default true. */
  python?: boolean;
}

/** One server under one configuration, over all its runs. */
export interface WebBenchCell {
  /** What the load generator saw, run by run. */
  loads: LoadResult[];
  /** Median of the request rates of every slice of every run. */
  perSecond: number;
  /** Median of the body byte rates of every slice of every run. */
  bytesPerSecond: number;
  /**
   * Server CPU µs per response over all runs, warm-ups included: this
   * process minus the generator's thread (Deno runs file system calls on
   * other threads, which count), or the Python process.
   */
  cpuMicros: number;
}

/** One configuration's measurements. */
export interface WebBenchRow {
  /** "small" rows compare requests/s, the "large" row MB/s. */
  file: "small" | "large";
  /** e.g. "50 conn × 1 in flight". */
  config: string;
  socklab: WebBenchCell;
  deno: WebBenchCell;
  python: WebBenchCell | undefined;
}

const SMALL_CONFIGS = [
  { connections: 1, inFlight: 1 },
  { connections: 50, inFlight: 1 },
  { connections: 50, inFlight: 16 },
] as const;
const LARGE_CONFIG = { connections: 4, inFlight: 1 } as const;

const SMALL_COLUMNS = [
  ["1 KiB file", 24],
  ["socklab req/s", 14],
  ["Deno.serve req/s", 17],
  ["socklab/Deno", 13],
  ["verdict", 14],
  ["python req/s", 13],
  ["socklab/python", 15],
] as const;

const LARGE_COLUMNS = [
  ["64 MiB file", 24],
  ["socklab MB/s", 14],
  ["Deno.serve MB/s", 17],
  ["socklab/Deno", 13],
  ["verdict", 14],
  ["python MB/s", 13],
  ["socklab/python", 15],
] as const;

const CPU_COLUMNS = [
  ["server CPU per response", 28],
  ["socklab µs", 12],
  ["Deno.serve µs", 14],
  ["Deno/socklab", 13],
  ["python µs", 10],
] as const;

/**
 * Writes the files, starts the servers, measures every row and prints the
 * tables.
 *
 * @example
 * ```ts
 * const rows = await runWebBench({ measureMs: 500, python: false });
 * rows[0]!.socklab.perSecond;
 * ```
 */
export async function runWebBench(
  options: WebBenchOptions = {},
): Promise<WebBenchRow[]> {
  const dir = await Deno.makeTempDir({ prefix: "socklab-web-bench-" });
  try {
    return await benchIn(dir, options);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function benchIn(
  dir: string,
  options: WebBenchOptions,
): Promise<WebBenchRow[]> {
  const small = {
    name: "small.bin",
    bytes: randomBytes(options.smallBytes ?? 1024),
  };
  const large = {
    name: "large.bin",
    bytes: randomBytes(options.largeBytes ?? 64 * 1024 * 1024),
  };
  for (const f of [small, large]) {
    await Deno.writeFile(join(dir, f.name), f.bytes);
  }

  const log = new Logger({ name: "bench", level: "error" });
  await using socklab = new HttpServer({
    handler: webApp({ root: await ConfinedRoot.open(dir) }),
    log,
  });
  await using deno = await serveWithDeno(dir, small.name, large.name);
  await using python = options.python === false
    ? undefined
    : await startPythonHttp(dir);
  using worker = new LoadWorker();

  const warmupMs = options.warmupMs ?? 300;
  const largeWarmupMs = options.largeWarmupMs ?? 1000;
  const measureMs = options.measureMs ?? 1000;
  const rounds = Math.max(1, options.rounds ?? 2);
  const maxRequests = options.maxRequests ?? 4_000_000;
  printLine(
    `servers on the main thread, load generator on a Worker thread; ` +
      `${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}; ` +
      `${rounds} runs per cell in alternating order, each ${warmupMs} ms ` +
      `warm-up (${largeWarmupMs} ms for the large file) + ${measureMs} ms ` +
      `window; median of all ${rounds * DEFAULT_SLICES} slices`,
  );
  printLine(
    "baselines: Deno.serve answers the small file from memory (read once) " +
      "and streams the large one from disk (Deno.open + file.readable)",
  );
  printLine(
    python === undefined
      ? options.python === false
        ? "python column not requested"
        : "python3 not found on PATH: the python column is skipped"
      : `python: ${python.version}, bench/python_http_server.py: stock ` +
        "SimpleHTTPRequestHandler + ThreadingHTTPServer, HTTP/1.1 keep-alive, Nagle off",
  );

  const serverCpu = () => {
    const { user, system } = process.cpuUsage();
    return Promise.resolve((user + system) / 1e6);
  };
  const servers = [
    { name: "socklab", port: socklab.addr.port, cpuSeconds: serverCpu },
    { name: "deno", port: deno.addr.port, cpuSeconds: serverCpu },
    ...python
      ? [{
        name: "python",
        port: python.port,
        cpuSeconds: () => python.cpuSeconds(),
      }]
      : [],
  ] as const;
  const measureAll = async (
    file: WebBenchRow["file"],
    shape: Omit<HttpLoadJob, "port">,
  ): Promise<WebBenchRow> => {
    const runs = new Map<string, { load: LoadResult; cpuSeconds: number }[]>(
      servers.map((s) => [s.name, []]),
    );
    // Alternating the order evens out drift (a neighbour, the CPU clock)
    // between the servers compared.
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        const before = await server.cpuSeconds();
        const load = await worker.run({ ...shape, port: server.port });
        let cpuSeconds = (await server.cpuSeconds()) - before;
        // This process's CPU includes the generator's thread: take it out.
        if (server.name !== "python") cpuSeconds -= load.loadCpuSeconds;
        runs.get(server.name)!.push({ load, cpuSeconds });
      }
    }
    const python = runs.get("python")!;
    return {
      file,
      config: `${shape.connections} conn × ${shape.inFlight} in flight`,
      socklab: combine(runs.get("socklab")!),
      deno: combine(runs.get("deno")!),
      python: python.length > 0 ? combine(python) : undefined,
    };
  };

  const rows: WebBenchRow[] = [];
  printLine("");
  printHeader(SMALL_COLUMNS);
  for (const { connections, inFlight } of SMALL_CONFIGS) {
    const row = await measureAll("small", {
      connections,
      inFlight,
      warmupMs,
      measureMs,
      maxRequests,
      http: { path: `/${small.name}`, body: small.bytes },
    });
    rows.push(row);
    printLine(formatRow(SMALL_COLUMNS, cells(row, SMALL_TARGET)));
  }
  printLine("");
  printHeader(LARGE_COLUMNS);
  const largeRow = await measureAll("large", {
    ...LARGE_CONFIG,
    warmupMs: largeWarmupMs,
    measureMs,
    maxRequests: 1000,
    // A download in flight at the end must finish: allow for a slow server.
    timeoutMs: 20_000,
    http: { path: `/${large.name}`, body: large.bytes },
  });
  rows.push(largeRow);
  printLine(formatRow(LARGE_COLUMNS, cells(largeRow, LARGE_TARGET)));

  printLine("");
  printHeader(CPU_COLUMNS);
  for (const row of rows) {
    const us = (c: WebBenchCell | undefined) =>
      c === undefined ? "-" : c.cpuMicros.toFixed(1);
    printLine(formatRow(CPU_COLUMNS, [
      `${row.file === "small" ? "1 KiB" : "64 MiB"}, ${row.config}`,
      us(row.socklab),
      us(row.deno),
      fmt(row.deno.cpuMicros / row.socklab.cpuMicros),
      us(row.python),
    ]));
  }
  printLine("");
  printLine(summary(rows));
  return rows;
}

function combine(
  runs: readonly { load: LoadResult; cpuSeconds: number }[],
): WebBenchCell {
  const loads = runs.map((r) => r.load);
  const cpu = runs.reduce((n, r) => n + r.cpuSeconds, 0);
  const replies = loads.reduce((n, l) => n + l.replies, 0);
  return {
    loads,
    perSecond: median(loads.flatMap((l) => l.sliceRates)),
    bytesPerSecond: median(loads.flatMap((l) => l.byteSliceRates)),
    cpuMicros: (cpu * 1e6) / replies,
  };
}

/** The figure a row compares: requests/s for the small file, MB/s for the large. */
function figure(row: WebBenchRow, cell: WebBenchCell): number {
  return row.file === "small" ? cell.perSecond : cell.bytesPerSecond / 1e6;
}

function cells(row: WebBenchRow, target: number): string[] {
  const ours = figure(row, row.socklab);
  const ratio = ours / figure(row, row.deno);
  const show = (n: number) => Math.round(n).toLocaleString("en-US");
  return [
    row.config,
    show(ours),
    show(figure(row, row.deno)),
    fmt(ratio),
    ratio >= target ? "PASS" : "BELOW TARGET",
    row.python ? show(figure(row, row.python)) : "-",
    row.python ? `${fmt(ours / figure(row, row.python))}×` : "-",
  ];
}

function summary(rows: readonly WebBenchRow[]): string {
  const ratio = (r: WebBenchRow) => figure(r, r.socklab) / figure(r, r.deno);
  const smallRows = rows.filter((r) => r.file === "small");
  const largeRows = rows.filter((r) => r.file === "large");
  const passed =
    rows.filter((r) =>
      ratio(r) >= (r.file === "small" ? SMALL_TARGET : LARGE_TARGET)
    ).length;
  const loads = rows.flatMap((r) =>
    [r.socklab, r.deno, r.python].flatMap((c) => c ? c.loads : [])
  );
  const verified = loads.reduce((n, r) => n + r.verified, 0);
  const replies = loads.reduce((n, r) => n + r.replies, 0);
  const range = (rs: readonly WebBenchRow[]) => {
    const values = rs.map(ratio);
    return `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
  };
  return `summary: small file socklab/Deno.serve ${range(smallRows)} ` +
    `(target ≥ ${SMALL_TARGET.toFixed(2)}), large file ${range(largeRows)} ` +
    `(target ≥ ${LARGE_TARGET.toFixed(2)}): ${passed}/${rows.length} PASS; ` +
    `${replies} responses, every status and length checked, ` +
    `${verified} bodies compared byte for byte, all correct`;
}

/**
 * The baseline: `Deno.serve` with the headers socklab sends (type,
 * validators, accept-ranges), the small file from memory, the large one
 * streamed from disk on every request.
 */
async function serveWithDeno(
  dir: string,
  smallName: string,
  largeName: string,
): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const headersOf = async (path: string) => {
    const info = await Deno.stat(path);
    const mtime = info.mtime ?? new Date(0);
    return [
      ["content-type", contentType(path)],
      ["last-modified", httpDate(mtime)],
      ["etag", etagFor(info.size, mtime.getTime())],
      ["accept-ranges", "bytes"],
      ["content-length", String(info.size)],
    ] as [string, string][];
  };
  const smallPath = join(dir, smallName);
  const largePath = join(dir, largeName);
  // Served from memory: the fair fast baseline for a small file.
  const smallBytes = await Deno.readFile(smallPath);
  const smallHeaders = (await headersOf(smallPath)).filter(([k]) =>
    k !== "content-length"
  );
  const largeHeaders = await headersOf(largePath);
  return Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (request) => {
    if (request.url.endsWith(`/${smallName}`)) {
      return new Response(smallBytes, { headers: smallHeaders });
    }
    if (request.url.endsWith(`/${largeName}`)) {
      const file = await Deno.open(largePath);
      return new Response(file.readable, { headers: largeHeaders });
    }
    return new Response("not found", { status: 404 });
  });
}

/** A running `python_http_server.py`. */
interface PythonHttp extends AsyncDisposable {
  readonly port: number;
  readonly version: string;
  /** Its CPU time so far (it reports on request, as /proc needs -A). */
  cpuSeconds(): Promise<number>;
}

/**
 * Starts the Python reference server and waits for its ready line, or
 * returns `undefined` when `python3` is not installed.
 */
async function startPythonHttp(dir: string): Promise<PythonHttp | undefined> {
  const script = fileURLToPath(
    new URL("./python_http_server.py", import.meta.url),
  );
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("python3", {
      args: [script, "--port", "0", "--directory", dir],
      stdin: "piped",
      stdout: "piped",
      // One log line per request, as the stock server writes: thrown away.
      stderr: "null",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const stdin = child.stdin.getWriter();
  const stdout = lines(child.stdout);
  const nextLine = async (pattern: RegExp, what: string) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Cannot ${what}: no answer within 10 s`)),
        10_000,
      );
    });
    try {
      const line = await Promise.race([stdout.next(), expired]);
      const match = line.done ? null : line.value.match(pattern);
      if (match === null) {
        throw new Error(
          `Cannot ${what}: ${
            line.done
              ? "it exited (run bench/python_http_server.py by hand to see why)"
              : `it said ${JSON.stringify(line.value)}`
          }`,
        );
      }
      return match;
    } finally {
      clearTimeout(timer);
    }
  };
  const stop = async () => {
    // Closing stdin makes it exit; the kill is for a server that hangs.
    await stdin.close().catch(() => {});
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await child.status;
    while (!(await stdout.next()).done) { /* drain */ }
  };
  try {
    const ready = await nextLine(
      /^python-http listening on http:\/\/127\.0\.0\.1:(\d+)$/,
      "start python3 bench/python_http_server.py",
    );
    const version = await new Deno.Command("python3", {
      args: ["--version"],
      stdin: "null",
    }).output();
    return {
      port: Number(ready[1]),
      version: new TextDecoder().decode(version.stdout).trim(),
      async cpuSeconds() {
        await stdin.write(new TextEncoder().encode("cpu\n"));
        const reply = await nextLine(
          /^python-http cpu ([\d.]+)$/,
          "read the python server's CPU time",
        );
        return Number(reply[1]);
      },
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The lines of a child's output, as they come. */
async function* lines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop() ?? "";
    yield* parts;
  }
  if (rest) yield rest;
}
