/**
 * HW2's Result.html (`roles/web/results_page.ts`): the expression file
 * evaluated line by line, rendered with everything escaped, written
 * atomically, and rewritten when the file changes — whether an editor
 * writes it in place or writes a temp file and renames it over.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Logger } from "../lib/log.ts";
import {
  evaluateLines,
  renderResultsPage,
  ResultsPage,
} from "../roles/web/results_page.ts";
import { listDir, tempDir } from "./_util.ts";

/** A logger that keeps its lines. */
function collectingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: new Logger({ name: "results-test", sink: (l) => lines.push(l) }),
    lines,
  };
}

/**
 * Waits for `condition`, checking every 20 ms, for at most `timeoutMs`: a
 * bounded wait on a file-system watcher whose events have no other signal.
 */
async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An expression file in `dir` and an output path in `dir/www`. */
async function layout(
  dir: string,
  expressions: string,
): Promise<{ expressions: string; www: string; out: string }> {
  const www = join(dir, "www");
  await Deno.mkdir(www);
  const file = join(dir, "expressions.txt");
  await Deno.writeTextFile(file, expressions);
  return { expressions: file, www, out: join(www, "Result.html") };
}

Deno.test("evaluateLines() skips blanks and comments, keeps line numbers, and reports errors per line", () => {
  const rows = evaluateLines(
    "1+2\r\n\n   # a comment\n  6 * 7  \n1/0\n\t\n2*(3\n#1/0\n",
  );
  assert.deepEqual(rows, [
    { line: 1, expression: "1+2", result: "3" },
    { line: 4, expression: "6 * 7", result: "42" },
    { line: 5, expression: "1/0", error: "division by zero at column 2" },
    { line: 7, expression: "2*(3", error: "expected ')' at column 5" },
  ]);
  assert.deepEqual(evaluateLines(""), []);
  assert.deepEqual(evaluateLines("# only\n\n"), []);
});

Deno.test("renderResultsPage() escapes <script> in expressions, errors and the source name", () => {
  const rows = evaluateLines("<script>alert(1)</script>\n1+1\n");
  const html = renderResultsPage(
    [...rows, { line: 9, expression: "x", error: "<script>bad</script>" }],
    "<script>src</script>.txt",
    new Date(Date.UTC(2026, 0, 1)),
  );
  assert.doesNotMatch(html, /<script>/);
  assert.match(html, /<code>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/code>/);
  assert.match(html, /error: unexpected character &#39;&lt;&#39; at column 1/);
  assert.match(html, /error: &lt;script&gt;bad&lt;\/script&gt;/);
  assert.match(html, /&lt;script&gt;src&lt;\/script&gt;\.txt/);
  assert.match(html, /3 expressions from .*, 2 failed\./);
  assert.match(html, /<td>2<\/td><td><code>1\+1<\/code><\/td><td>2<\/td>/);
  assert.match(html, /Generated 2026-01-01T00:00:00\.000Z/);
});

Deno.test("ResultsPage.start() writes Result.html atomically and leaves no temp file", async () => {
  await using tmp = await tempDir({ prefix: "socklab_results_" });
  const paths = await layout(tmp.path, "1+2\n1/0\n");
  const { log, lines } = collectingLog();
  await using page = await ResultsPage.start({ ...paths, log, watch: false });
  assert.equal(page.generation, 1);
  const html = await Deno.readTextFile(paths.out);
  assert.match(html, /<td>1<\/td><td><code>1\+2<\/code><\/td><td>3<\/td>/);
  assert.match(html, /error: division by zero at column 2/);
  assert.deepEqual(await listDir(paths.www), ["Result.html"]);
  assert.ok(lines.some((l) => /wrote Result\.html/.test(l)), lines.join("\n"));
});

Deno.test("ResultsPage.start() fails when the expression file is missing, and writes nothing", async () => {
  await using tmp = await tempDir({ prefix: "socklab_results_" });
  const paths = await layout(tmp.path, "");
  await Deno.remove(paths.expressions);
  await assert.rejects(
    ResultsPage.start({ ...paths, log: collectingLog().log }),
    Deno.errors.NotFound,
  );
  assert.deepEqual(await listDir(paths.www), []);
});

Deno.test("ResultsPage rewrites Result.html when the expression file is written in place or replaced by rename", async () => {
  await using tmp = await tempDir({ prefix: "socklab_results_" });
  const paths = await layout(tmp.path, "1+1\n");
  const page = await ResultsPage.start({ ...paths, log: collectingLog().log });
  try {
    assert.match(await Deno.readTextFile(paths.out), /<td>2<\/td>/);

    // In place, as `echo >> file` or a simple editor does.
    let before = page.generation;
    await Deno.writeTextFile(paths.expressions, "1+1\n40+2\n");
    await until(
      async () =>
        page.generation > before &&
        /<td>42<\/td>/.test(await Deno.readTextFile(paths.out)),
      "the page to show 42 after an in-place write",
    );

    // A new file renamed over the old one, as vim and most editors save.
    before = page.generation;
    const temp = join(tmp.path, ".expressions.txt.swp");
    await Deno.writeTextFile(temp, "6*111\n");
    await Deno.rename(temp, paths.expressions);
    await until(
      async () =>
        page.generation > before &&
        /<td>666<\/td>/.test(await Deno.readTextFile(paths.out)),
      "the page to show 666 after a rename",
    );
    const html = await Deno.readTextFile(paths.out);
    assert.doesNotMatch(html, /<td>42<\/td>/);
    assert.deepEqual(await listDir(paths.www), ["Result.html"]);
  } finally {
    await page.close();
  }
  // Closing twice is harmless; the sanitizers check the watcher is gone.
  await page.close();
});

Deno.test("ResultsPage keeps the previous page and logs why when the expression file disappears", async () => {
  await using tmp = await tempDir({ prefix: "socklab_results_" });
  const paths = await layout(tmp.path, "3*3\n");
  const { log, lines } = collectingLog();
  await using page = await ResultsPage.start({ ...paths, log });
  const html = await Deno.readTextFile(paths.out);
  await Deno.remove(paths.expressions);
  await until(
    () => lines.some((l) => /cannot rewrite Result\.html/.test(l)),
    "the failed rewrite to be logged",
  );
  assert.equal(page.generation, 1);
  assert.equal(await Deno.readTextFile(paths.out), html);
  assert.deepEqual(await listDir(paths.www), ["Result.html"]);
});
