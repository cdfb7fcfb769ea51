/**
 * `deno task bench`: runs every benchmark in turn and prints a header before
 * each. `deno task bench calc` runs only the benchmarks whose name contains
 * one of the words given.
 *
 * Each benchmark measures its subject against a baseline in the same run and
 * prints ratios, because absolute numbers only mean something on the machine
 * that produced them.
 *
 * @module
 */

import { Logger, printLine } from "../lib/log.ts";
import { runCalcBench } from "./calc_bench.ts";
import { runDnsBench } from "./dns_bench.ts";
import { runHubBench } from "./hub_bench.ts";
import { runVideoBench } from "./video_bench.ts";
import { runWebBench } from "./web_bench.ts";

/** A benchmark the runner knows. */
export interface Bench {
  /** Short name, used to pick benchmarks on the command line. */
  readonly name: string;
  /** One line: what is measured against what. */
  readonly title: string;
  /** Runs the benchmark and prints its results. */
  run(): Promise<unknown>;
}

/** Every benchmark, in the order they run. */
export const BENCHES: readonly Bench[] = [
  {
    name: "calc",
    title: "calc server vs echo server (same framing) vs python asyncio echo",
    run: () => runCalcBench(),
  },
  {
    name: "web",
    title:
      "web server vs Deno.serve (1 KiB from memory, 64 MiB streamed from disk) vs python http.server",
    run: () => runWebBench(),
  },
  {
    name: "dns",
    title:
      "local DNS server over UDP (cache hits, local table) vs a minimal UDP responder; dnsperf if installed",
    run: () => runDnsBench(),
  },
  {
    name: "video",
    title:
      "cache hit vs a plain TCP copy, first byte cold vs warm, live relay to 200 viewers",
    run: () => runVideoBench(),
  },
  {
    name: "hub",
    title:
      "local server (hub, logged in): calc/s idle vs beside 20 video downloads; logins/s at the default PBKDF2 cost vs 1000 iterations",
    run: () => runHubBench(),
  },
];

/**
 * Runs the benchmarks whose names contain one of `filters` (all when empty).
 *
 * @example
 * ```ts
 * await runBenches(["calc"]);
 * ```
 */
export async function runBenches(
  filters: readonly string[] = [],
): Promise<void> {
  const chosen = BENCHES.filter((b) =>
    filters.length === 0 || filters.some((f) => b.name.includes(f))
  );
  if (chosen.length === 0) {
    throw new Error(
      `Cannot run benchmarks: none matches ${JSON.stringify(filters)}; known: ${
        BENCHES.map((b) => b.name).join(", ")
      }`,
    );
  }
  for (const [i, bench] of chosen.entries()) {
    if (i > 0) printLine("");
    printLine(`=== ${bench.name}: ${bench.title} ===`);
    const started = performance.now();
    await bench.run();
    printLine(
      `(${bench.name} took ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s)`,
    );
  }
}

if (import.meta.main) {
  try {
    await runBenches(Deno.args);
  } catch (error) {
    new Logger({ name: "bench" }).error((error as Error).message);
    Deno.exit(1);
  }
}
