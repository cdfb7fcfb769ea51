/**
 * HW2's Result.html: every expression of a text file evaluated with the HW1
 * evaluator, rendered as an HTML table, written atomically into the web
 * root, and rewritten whenever the expression file changes.
 *
 * @module
 */

import { dirname } from "node:path";
import { writeFileAtomic } from "../../lib/atomic_write.ts";
import { escapeHtml } from "../../lib/http_server.ts";
import type { Logger } from "../../lib/log.ts";
import { CalcError, evaluate, formatResult } from "../calc/evaluate.ts";

/** One row of the page. */
export type ResultRow =
  | {
    readonly line: number;
    readonly expression: string;
    readonly result: string;
  }
  | {
    readonly line: number;
    readonly expression: string;
    readonly error: string;
  };

/**
 * Evaluates each non-blank, non-comment line of `text`.
 *
 * @example
 * ```ts
 * evaluateLines("1+2\n# note\n1/0\n");
 * // [{ line: 1, expression: "1+2", result: "3" },
 * //  { line: 3, expression: "1/0", error: "division by zero at column 2" }]
 * ```
 */
export function evaluateLines(text: string): ResultRow[] {
  const rows: ResultRow[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const expression = raw.trim();
    if (expression === "" || expression.startsWith("#")) return;
    const line = index + 1;
    try {
      rows.push({
        line,
        expression,
        result: formatResult(evaluate(expression)),
      });
    } catch (error) {
      if (!(error instanceof CalcError)) throw error;
      rows.push({ line, expression, error: error.message });
    }
  });
  return rows;
}

/**
 * The page for `rows`: one table row per expression, everything escaped.
 *
 * @param source Name of the expression file, shown in the heading.
 * @param generated When the page was made.
 */
export function renderResultsPage(
  rows: readonly ResultRow[],
  source: string,
  generated: Date,
): string {
  const failed = rows.filter((r) => "error" in r).length;
  const body = rows.map((r) =>
    "error" in r
      ? `<tr class="error"><td>${r.line}</td><td><code>${
        escapeHtml(r.expression)
      }</code></td><td>error: ${escapeHtml(r.error)}</td></tr>`
      : `<tr><td>${r.line}</td><td><code>${
        escapeHtml(r.expression)
      }</code></td><td>${escapeHtml(r.result)}</td></tr>`
  ).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Results</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: .3rem .7rem; text-align: left; }
td:first-child { color: #777; text-align: right; }
tr.error td:last-child { color: #b00; }
</style>
</head>
<body>
<h1>Results</h1>
<p>${rows.length} expressions from <code>${
    escapeHtml(source)
  }</code>, ${failed} failed. Generated ${
    escapeHtml(generated.toISOString())
  }.</p>
<table>
<thead><tr><th>line</th><th>expression</th><th>result</th></tr></thead>
<tbody>
${body}
</tbody>
</table>
</body>
</html>
`;
}

/** Options for {@linkcode ResultsPage}. */
export interface ResultsPageOptions {
  /** The expression file. */
  expressions: string;
  /** Where Result.html goes (inside the web root). */
  out: string;
  log: Logger;
  /** Rewrite when the expression file changes. Default true. */
  watch?: boolean;
  now?: () => Date;
}

/**
 * Keeps Result.html in step with its expression file.
 *
 * @example
 * ```ts
 * await using page = await ResultsPage.start({ expressions: "exprs.txt", out: "www/Result.html", log });
 * ```
 */
export class ResultsPage implements AsyncDisposable {
  #options: ResultsPageOptions;
  #watcher: Deno.FsWatcher | undefined;
  #watching: Promise<void> | undefined;
  #writes: Promise<void> = Promise.resolve();
  #generation = 0;

  private constructor(options: ResultsPageOptions) {
    this.#options = options;
  }

  /** Writes the page once (failing loudly if it cannot), then watches. */
  static async start(options: ResultsPageOptions): Promise<ResultsPage> {
    const page = new ResultsPage(options);
    await page.regenerate();
    if (options.watch ?? true) {
      page.#watch(await Deno.realPath(options.expressions));
    }
    return page;
  }

  /** How many times the page has been written. */
  get generation(): number {
    return this.#generation;
  }

  /** Reads the expressions and rewrites the page; writes are serialized. */
  regenerate(): Promise<void> {
    const run = this.#writes.then(async () => {
      const { expressions, out, log } = this.#options;
      const text = await Deno.readTextFile(expressions);
      const rows = evaluateLines(text);
      const html = renderResultsPage(
        rows,
        expressions,
        (this.#options.now ?? (() => new Date()))(),
      );
      await writeFileAtomic(out, html, { fixedTemp: true });
      this.#generation++;
      log.info("wrote Result.html", { path: out, expressions: rows.length });
    });
    this.#writes = run.catch(() => {});
    return run;
  }

  #watch(file: string): void {
    // Editors save by writing a new file and renaming it over the old one,
    // which a watch on the file itself would lose: watch its directory.
    this.#watcher = Deno.watchFs(dirname(file), { recursive: false });
    this.#watching = (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        for await (const event of this.#watcher!) {
          if (event.kind === "access" || !event.paths.includes(file)) continue;
          // Several events arrive per save; rewrite once they settle.
          clearTimeout(timer);
          timer = setTimeout(() => {
            this.regenerate().catch((error) =>
              this.#options.log.error(
                "cannot rewrite Result.html; the previous page stays",
                {
                  error: (error as Error).message,
                },
              )
            );
          }, 50);
        }
      } catch (error) {
        this.#options.log.warn("stopped watching the expression file", {
          error: (error as Error).message,
        });
      } finally {
        clearTimeout(timer);
      }
    })();
  }

  /** Stops watching and waits for a write in progress. */
  async close(): Promise<void> {
    try {
      this.#watcher?.close();
    } catch { /* closed */ }
    await this.#watching;
    await this.#writes;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
