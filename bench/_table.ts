/**
 * Table printing shared by the benchmarks: aligned columns, a header with a
 * rule, and ratios rounded down so a printed 0.70 really passed 0.70.
 *
 * @module
 */

import { printLine } from "../lib/log.ts";

/** A column: its heading and its width. The first is left-aligned. */
export type Columns = readonly (readonly [string, number])[];

/**
 * Two decimals, rounded down.
 *
 * @example
 * ```ts
 * fmt(0.699); // "0.69"
 * ```
 */
export function fmt(n: number): string {
  return (Math.floor(n * 100) / 100).toFixed(2);
}

/** One row: the first value padded right, the rest padded left. */
export function formatRow(columns: Columns, values: readonly string[]): string {
  return values
    .map((v, i) =>
      i === 0 ? v.padEnd(columns[i]![1]) : v.padStart(columns[i]![1])
    )
    .join("  ");
}

/** Prints the headings and a rule under them. */
export function printHeader(columns: Columns): void {
  printLine(formatRow(columns, columns.map(([name]) => name)));
  printLine(formatRow(columns, columns.map(([, w]) => "-".repeat(w))));
}
