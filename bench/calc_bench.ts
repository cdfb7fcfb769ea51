/**
 * Requests per second of the calc server against two baselines measured in
 * the same run: the echo server on the same framing and server host (so the
 * ratio isolates what evaluating an expression costs), and, when `python3` is
 * on PATH, a plain asyncio echo server on the same protocol
 * (`python_echo_server.py`) as an outside reference.
 *
 * Where things run: the servers on this (main) thread, the load generator
 * on a Worker thread (`_load.ts`), so on a 2-core machine each side has a
 * core — as the Python server, a separate process, has one too. Both
 * placements were tried (same server, 4 rounds of 1 s each, echo, other
 * processes sharing the machine):
 *
 *   config     Worker thread       same thread as the servers
 *   1 × 1      12–13k  (cv 4%)     44–47k   (cv 3%)
 *   1 × 16     108–148k (cv 11%)   229–334k (cv 14%)
 *   50 × 1     97–102k (cv 2%)     56–58k   (cv 1%)
 *   50 × 16    338–378k (cv 4%)    319–351k (cv 4%)
 *
 * Neither is steadier. On one thread the generator's own work is added to
 * every request, which dilutes the calc/echo ratio and makes the Python
 * comparison unfair (its server gets a core to itself); on a Worker the
 * one-connection rows are bound by waking the other thread (~80 µs per
 * round trip on this VM), so calc ≈ echo there. The second table, server
 * CPU time per request (`process.threadCpuUsage()` of the servers' thread;
 * the Python server reports its own), is the steadiest number of all and
 * the one to compare when other processes share the machine.
 *
 * @module
 */

import { threadCpuSeconds } from "./_util.ts";
import { fileURLToPath } from "node:url";
import { Logger, printLine } from "../lib/log.ts";
import { TlvServer } from "../lib/server.ts";
import { calcService } from "../roles/calc/service.ts";
import { echoService } from "../roles/echo/service.ts";
import {
  DEFAULT_SLICES,
  type LoadJob,
  type LoadResult,
  LoadWorker,
  runLoad,
} from "./_load.ts";
import { fmt, formatRow } from "./_table.ts";

/** The calc/echo throughput ratio a row must reach to pass. */
export const TARGET_RATIO = 0.8;

/** Options for {@linkcode runCalcBench}. */
export interface CalcBenchOptions {
  /** Load before counting (ms). Default 500. */
  warmupMs?: number;
  /** Longest counting window per measurement (ms). Default 2000. */
  measureMs?: number;
  /** Counting also stops after this many replies. Default 4 000 000. */
  maxRequests?: number;
  /** Where the load generator runs. Default "worker" (see the module doc). */
  loadOn?: "worker" | "main";
  /** Measure the Python reference when `python3` exists. Default true. */
  python?: boolean;
}

/** One server under one configuration. */
export interface CalcBenchCell {
  /** What the load generator saw. */
  load: LoadResult;
  /**
   * Server CPU time per reply in µs, over the whole job (warm-up included):
   * the servers' thread for socklab, the whole process for Python.
   * `undefined` when the generator shares the servers' thread.
   */
  cpuMicros: number | undefined;
}

/** One configuration's measurements. */
export interface CalcBenchRow {
  /** e.g. "50 conn × 16 in flight". */
  config: string;
  calc: CalcBenchCell;
  echo: CalcBenchCell;
  python: CalcBenchCell | undefined;
}

const CONFIGS = [
  { connections: 1, inFlight: 1 },
  { connections: 1, inFlight: 16 },
  { connections: 50, inFlight: 1 },
  { connections: 50, inFlight: 16 },
] as const;

const COLUMNS = [
  ["config", 24],
  ["calc req/s", 12],
  ["echo req/s", 12],
  ["calc/echo", 10],
  ["verdict", 14],
  ["python echo req/s", 18],
  ["echo/python", 12],
] as const;

const CPU_COLUMNS = [
  ["config", 24],
  ["calc µs/req", 12],
  ["echo µs/req", 12],
  ["echo/calc", 10],
  ["python µs/req", 14],
] as const;

/**
 * Runs every configuration against every server and prints the tables.
 *
 * @example
 * ```ts
 * const rows = await runCalcBench({ measureMs: 500 });
 * rows[0]!.calc.load.perSecond;
 * ```
 */
export async function runCalcBench(
  options: CalcBenchOptions = {},
): Promise<CalcBenchRow[]> {
  const log = new Logger({ name: "bench", level: "error" });
  await using calcServer = new TlvServer({ services: [calcService()], log });
  await using echoServer = new TlvServer({ services: [echoService()], log });
  await using python = options.python === false
    ? undefined
    : await startPythonEcho();
  const worker = (options.loadOn ?? "worker") === "worker"
    ? new LoadWorker()
    : undefined;
  try {
    const base = {
      warmupMs: options.warmupMs ?? 500,
      measureMs: options.measureMs ?? 2000,
      maxRequests: options.maxRequests ?? 4_000_000,
    };
    const measure = async (
      job: LoadJob,
      cpuSeconds: () => Promise<number | undefined>,
    ): Promise<CalcBenchCell> => {
      const before = await cpuSeconds();
      const load = await (worker ? worker.run(job) : runLoad(job));
      const after = await cpuSeconds();
      const cpuMicros = before === undefined || after === undefined
        ? undefined
        : ((after - before) * 1e6) / load.replies;
      return { load, cpuMicros };
    };
    // With the generator on this thread, this thread's CPU is not the server's.
    const ownCpu = () =>
      Promise.resolve(worker ? threadCpuSeconds() : undefined);

    printLine(
      `servers on the main thread, load generator on ${
        worker ? "a Worker thread" : "the main thread"
      }; ${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}; ` +
        `${base.warmupMs} ms warm-up + ${base.measureMs} ms window per cell, ` +
        `median of ${DEFAULT_SLICES} slices`,
    );
    if (python === undefined && options.python !== false) {
      printLine("python3 not found on PATH: the python column is skipped");
    }
    printLine("");
    printLine(formatRow(COLUMNS, COLUMNS.map(([name]) => name)));
    printLine(formatRow(COLUMNS, COLUMNS.map(([, w]) => "-".repeat(w))));

    const rows: CalcBenchRow[] = [];
    for (const { connections, inFlight } of CONFIGS) {
      const shape = { ...base, connections, inFlight };
      const calc = await measure(
        { ...shape, port: calcServer.addr.port, service: "calc" },
        ownCpu,
      );
      const echo = await measure(
        { ...shape, port: echoServer.addr.port, service: "echo" },
        ownCpu,
      );
      const py = python
        ? await measure(
          { ...shape, port: python.port, service: "echo" },
          () => python.cpuSeconds(),
        )
        : undefined;
      const row = {
        config: `${connections} conn × ${inFlight} in flight`,
        calc,
        echo,
        python: py,
      };
      rows.push(row);
      printLine(formatRow(COLUMNS, cells(row)));
    }
    if (rows.some((r) => r.echo.cpuMicros !== undefined)) {
      printLine("");
      printLine(
        "server CPU per request (socklab: the servers' thread; python: its process)",
      );
      printLine(formatRow(CPU_COLUMNS, CPU_COLUMNS.map(([name]) => name)));
      printLine(
        formatRow(CPU_COLUMNS, CPU_COLUMNS.map(([, w]) => "-".repeat(w))),
      );
      for (const row of rows) printLine(formatRow(CPU_COLUMNS, cpuCells(row)));
    }
    printLine("");
    printLine(summary(rows));
    return rows;
  } finally {
    worker?.terminate();
  }
}

function cells(row: CalcBenchRow): string[] {
  const ratio = row.calc.load.perSecond / row.echo.load.perSecond;
  return [
    row.config,
    rate(row.calc.load),
    rate(row.echo.load),
    fmt(ratio),
    ratio >= TARGET_RATIO ? "PASS" : "BELOW TARGET",
    row.python ? rate(row.python.load) : "-",
    row.python
      ? `${fmt(row.echo.load.perSecond / row.python.load.perSecond)}×`
      : "-",
  ];
}

function cpuCells(row: CalcBenchRow): string[] {
  const us = (cell: CalcBenchCell | undefined) =>
    cell?.cpuMicros === undefined ? "-" : cell.cpuMicros.toFixed(2);
  const { calc, echo } = row;
  return [
    row.config,
    us(calc),
    us(echo),
    calc.cpuMicros && echo.cpuMicros
      ? fmt(echo.cpuMicros / calc.cpuMicros)
      : "-",
    us(row.python),
  ];
}

function summary(rows: readonly CalcBenchRow[]): string {
  const ratios = rows.map((r) => r.calc.load.perSecond / r.echo.load.perSecond);
  const passed = ratios.filter((r) => r >= TARGET_RATIO).length;
  const loads = rows.flatMap((r) =>
    [r.calc, r.echo, r.python].flatMap((c) => c ? [c.load] : [])
  );
  const verified = loads.reduce((n, r) => n + r.verified, 0);
  const replies = loads.reduce((n, r) => n + r.replies, 0);
  const best = rows.reduce((a, b) =>
    b.echo.load.perSecond > a.echo.load.perSecond ? b : a
  );
  const py = rows.flatMap((r) =>
    r.python ? [r.echo.load.perSecond / r.python.load.perSecond] : []
  );
  const vsPython = py.length === 0
    ? "python reference not run"
    : `socklab echo ${fmt(Math.min(...py))}–${fmt(Math.max(...py))}× python`;
  return `summary: calc/echo ${fmt(Math.min(...ratios))}–${
    fmt(Math.max(...ratios))
  } (target ≥ ${TARGET_RATIO.toFixed(2)}): ${passed}/${rows.length} PASS; ` +
    `peak echo ${rate(best.echo.load)} req/s (${best.config}); ${vsPython}; ` +
    `${verified} of ${replies} replies decoded and checked, all correct`;
}

function rate(r: LoadResult): string {
  return Math.round(r.perSecond).toLocaleString("en-US");
}

/** A running `python_echo_server.py`. */
interface PythonEcho extends AsyncDisposable {
  readonly port: number;
  /** Its CPU time so far (it reports on request, as /proc needs -A). */
  cpuSeconds(): Promise<number>;
}

const encoder = new TextEncoder();

/**
 * Starts the Python reference server and waits for its ready line, or
 * returns `undefined` when `python3` is not installed.
 */
async function startPythonEcho(): Promise<PythonEcho | undefined> {
  const script = fileURLToPath(
    new URL("./python_echo_server.py", import.meta.url),
  );
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("python3", {
      args: [script, "--port", "0"],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const stdin = child.stdin.getWriter();
  const stderr = new LineWatcher(child.stderr);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await stdin.close().catch(() => {});
    await child.status;
    await stderr.ended;
  };
  try {
    const ready = await stderr.waitFor(
      /^python-echo listening on tcp:\/\/127\.0\.0\.1:(\d+)$/,
      10_000,
      "start python3 bench server",
    );
    return {
      port: Number(ready[1]),
      async cpuSeconds() {
        const reply = stderr.waitFor(
          /^python-echo cpu ([\d.]+)$/,
          5000,
          "read the python server's CPU time",
        );
        await stdin.write(encoder.encode("cpu\n"));
        return Number((await reply)[1]);
      },
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Reads a child's output line by line and hands lines to whoever waits. */
class LineWatcher {
  /** Resolves when the stream has ended. */
  readonly ended: Promise<void>;
  #recent: string[] = [];
  #waiters = new Set<{
    pattern: RegExp;
    resolve(match: RegExpMatchArray): void;
    reject(error: Error): void;
  }>();

  constructor(stream: ReadableStream<Uint8Array>) {
    this.ended = this.#read(stream);
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    const see = (line: string) => {
      // Kept only to explain a failure.
      this.#recent = [...this.#recent.slice(-9), line];
      for (const waiter of this.#waiters) {
        const match = line.match(waiter.pattern);
        if (match) {
          this.#waiters.delete(waiter);
          waiter.resolve(match);
        }
      }
    };
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        lines.forEach(see);
      }
      if (rest) see(rest);
    } catch { /* the child is gone; waiters are told below */ }
    for (const waiter of this.#waiters) {
      waiter.reject(
        new Error(
          `Cannot use the python3 server: it exited; its last words: ${
            JSON.stringify(this.#recent.join("\n"))
          }`,
        ),
      );
    }
    this.#waiters.clear();
  }

  /** The next line matching `pattern`, within `timeoutMs`. */
  waitFor(
    pattern: RegExp,
    timeoutMs: number,
    what: string,
  ): Promise<RegExpMatchArray> {
    const { promise, resolve, reject } = Promise.withResolvers<
      RegExpMatchArray
    >();
    const waiter = { pattern, resolve, reject };
    this.#waiters.add(waiter);
    const timer = setTimeout(() => {
      this.#waiters.delete(waiter);
      reject(new Error(`Cannot ${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    return promise.finally(() => clearTimeout(timer));
  }
}
