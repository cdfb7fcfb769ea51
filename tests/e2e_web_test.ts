/**
 * HW2 end to end: `web-server` run from `main.ts` as a subprocess — under the
 * compiled binary's grant with a temporary web root, and under its own
 * permission set with the default one — and `curl` as the real peer. Every
 * test that starts a server also checks, after SIGTERM, that it exited 0 with
 * its stopped line and that its access log holds exactly one line per
 * request made.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { HttpResponseReader, within, writeAll } from "./_raw_peer.ts";
import {
  type Grant,
  listDir,
  readyPort,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  type TempDir,
  tempDir,
} from "./_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Written by `-w` after each transfer, on stderr, to find the transfers. */
const MARK = "\n@@e2e-curl@@ ";

/** One transfer of a curl run, from `-w`. */
interface Transfer {
  readonly status: number;
  /** New connections curl opened for this transfer (0: one was reused). */
  readonly connects: number;
  /** The final response's header fields. */
  readonly headers: Headers;
}

/** A finished curl run. */
interface CurlRun {
  readonly code: number;
  readonly stdout: Uint8Array;
  /** curl's own messages (`-sS`: errors only). */
  readonly messages: string;
  readonly transfers: Transfer[];
}

/**
 * Runs `curl -sS --max-time 10 --path-as-is ARGS…` to completion. Bodies
 * go to stdout untouched; status, connection count and headers of each
 * transfer are read from `-w` on stderr.
 */
async function curl(args: readonly string[]): Promise<CurlRun> {
  const output = await new Deno.Command("curl", {
    args: [
      "-sS",
      "--max-time",
      "10",
      "--path-as-is",
      "-w",
      `%{stderr}${MARK}%{http_code} %{num_connects}\n%{header_json}\n`,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [messages = "", ...parts] = decoder.decode(output.stderr).split(MARK);
  const transfers = parts.map((part) => {
    const nl = part.indexOf("\n");
    const [status = NaN, connects = NaN] = part.slice(0, nl).split(" ").map(
      Number,
    );
    const json: Record<string, string[]> = JSON.parse(
      part.slice(nl + 1, part.lastIndexOf("}") + 1),
    );
    const headers = new Headers();
    for (const [name, values] of Object.entries(json)) {
      for (const value of values) headers.append(name, value);
    }
    return { status, connects, headers };
  });
  return { code: output.code, stdout: output.stdout, messages, transfers };
}

/** A curl run in the background, its `-v` stderr readable line by line. */
interface CurlProcess extends AsyncDisposable {
  /** Whether curl has exited. */
  readonly exited: boolean;
  /** Whether a stderr line so far matches `pattern`. */
  saw(pattern: RegExp): boolean;
  /** Waits for a stderr line matching `pattern`. */
  waitFor(pattern: RegExp, what: string): Promise<string>;
  /** Waits for curl to exit. */
  output(): Promise<{ code: number; stdout: Uint8Array; stderr: string }>;
}

function spawnCurl(args: readonly string[]): CurlProcess {
  const child = new Deno.Command("curl", {
    args: ["-v", "-sS", "--max-time", "10", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const changed = new Set<() => void>();
  const stdout = new Response(child.stdout).bytes();
  const stderr = (async () => {
    let pending = "";
    for await (
      const text of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      const parts = (pending + text).split("\n");
      pending = parts.pop() ?? "";
      lines.push(...parts.map((l) => l.replace(/\r$/, "")));
      for (const notify of changed) notify();
    }
    if (pending) lines.push(pending);
  })();
  let exited = false;
  const status = child.status.then(async (s) => {
    exited = true;
    await stderr;
    for (const notify of changed) notify();
    return s;
  });
  return {
    get exited() {
      return exited;
    },
    saw(pattern) {
      return lines.some((l) => pattern.test(l));
    },
    waitFor(pattern, what) {
      const seen = new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined || exited) changed.delete(check);
          if (line !== undefined) resolve(line);
          else if (exited) {
            reject(
              new Error(`curl exited before ${what}:\n${lines.join("\n")}`),
            );
          }
        };
        changed.add(check);
        check();
      });
      return within(seen, 10_000, what);
    },
    async output() {
      const { code } = await status;
      return { code, stdout: await stdout, stderr: lines.join("\n") };
    },
    async [Symbol.asyncDispose]() {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await status;
      await stdout;
    },
  };
}

/** A response as a test sees it. */
interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly text: string;
}

/** The files of the temporary web root, by name. */
interface Fixture {
  readonly index: Uint8Array;
  readonly css: Uint8Array;
  readonly png: Uint8Array;
  readonly big: Uint8Array;
}

const INDEX = "<!doctype html>\n<title>e2e</title>\n<h1>e2e site</h1>\n";
const CSS = "h1 { color: teal; }\n";
/** A valid 1×1 PNG. */
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);
const BIG_SIZE = 2 * 1024 * 1024;
const SECRET = "TOP SECRET: beside the web root\n";
const EXPRESSIONS = "# e2e\n1 + 2 * 3\n2^10\n\n1 / 0\nsqrt(16) + 1\n(1 + 2))\n";
/** What EXPRESSIONS must render to: line, expression, result or error. */
const EXPRESSION_ROWS = [
  [2, "1 + 2 * 3", "7"],
  [3, "2^10", "1024"],
  [5, "1 / 0", "error: division by zero at column 3"],
  [6, "sqrt(16) + 1", "5"],
  [7, "(1 + 2))", "error: unexpected ')' at column 8"],
];

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  }
  return bytes;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** The rows of a Result.html page: line, expression, result cell. */
function resultRows(html: string): (string | number)[][] {
  const unescape = (s: string) =>
    s.replace(
      /&(amp|lt|gt|quot|#39);/g,
      (_, e: string) =>
        ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e]!,
    );
  return [
    ...html.matchAll(
      /<tr(?: class="error")?><td>(\d+)<\/td><td><code>(.*?)<\/code><\/td><td>(.*?)<\/td><\/tr>/g,
    ),
  ].map((m) => [Number(m[1]), unescape(m[2]!), unescape(m[3]!)]);
}

/** `[date:time +0000] "METHOD TARGET HTTP/1.1" STATUS BYTES "REFERER" "AGENT"` */
const COMBINED =
  /^127\.0\.0\.1 - - \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000\] "(\S+) (\S+) (HTTP\/1\.[01])" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/;

/** A running web-server over a temporary root, and the requests made of it. */
class Site {
  /** `METHOD TARGET STATUS` of every request made, for the access log. */
  readonly requests: string[] = [];

  constructor(
    readonly server: RoleProcess,
    readonly port: number,
    /** The temporary directory: `site/` (the root), `uploads/`, expressions.txt, secret.txt. */
    readonly dir: string,
    readonly files: Fixture,
  ) {}

  get root(): string {
    return join(this.dir, "site");
  }
  get uploads(): string {
    return join(this.dir, "uploads");
  }
  get expressions(): string {
    return join(this.dir, "expressions.txt");
  }

  url(target: string): string {
    return `http://127.0.0.1:${this.port}${target}`;
  }

  /** Notes a request the server must log, made other than by {@linkcode request}. */
  expect(method: string, target: string, status: number): void {
    this.requests.push(`${method} ${target} ${status}`);
  }

  /**
   * One request with curl: HEAD is `-I`, DELETE `-X DELETE`; PUT and POST
   * come from `-T` and `-d` in `args`.
   */
  async request(
    method: string,
    target: string,
    args: readonly string[] = [],
  ): Promise<Reply> {
    const verb = method === "HEAD"
      ? ["-I"]
      : method === "DELETE"
      ? ["-X", "DELETE"]
      : [];
    const run = await curl([...verb, ...args, this.url(target)]);
    assert.equal(run.code, 0, `curl ${method} ${target}: ${run.messages}`);
    assert.equal(run.transfers.length, 1);
    const { status, headers } = run.transfers[0]!;
    this.expect(method, target, status);
    return {
      status,
      headers,
      body: run.stdout,
      text: decoder.decode(run.stdout),
    };
  }

  /** SIGTERM; the server must exit 0 with its stopped line last. */
  async stop(): Promise<void> {
    try {
      this.server.child.kill("SIGTERM");
    } catch { /* already gone */ }
    const status = await within(
      this.server.status,
      10_000,
      "web-server to exit after SIGTERM",
    );
    const stderr = this.server.stderr;
    assert.equal(status.code, 0, stderr.join("\n"));
    const last = stderr.at(-1) ?? "";
    assert.ok(
      last === "INFO web-server: stopped" ||
        JSON.parse(last).msg === "stopped",
      `the last line is the stopped line:\n${stderr.join("\n")}`,
    );
  }

  /** The access log on stderr, as `METHOD TARGET STATUS`, checking each line's form. */
  accessLog(): string[] {
    const entries: string[] = [];
    for (const line of this.server.stderr) {
      if (line.startsWith("{")) {
        const entry = JSON.parse(line);
        if (entry.msg === "request") {
          entries.push(`${entry.method} ${entry.target} ${entry.status}`);
        }
      } else if (
        !/^(INFO|WARN|ERROR|DEBUG) |^web-server listening on /.test(line)
      ) {
        const m = COMBINED.exec(line);
        assert.ok(m, `a combined-log-format line: ${line}`);
        entries.push(`${m[7]} ${m[8]} ${m[10]}`);
      }
    }
    return entries;
  }
}

interface SiteOptions {
  grant?: Grant;
  /** --max-upload; default 3M. */
  maxUpload?: string;
  args?: readonly string[];
}

/**
 * Makes a web root in `.tmp/` (index.html, style.css, pixel.png, a 2 MiB
 * big.bin; expressions.txt and secret.txt beside it), starts web-server on
 * it with `--upload-dir`, runs `fn`, stops the server with SIGTERM and checks
 * the access log against the requests made.
 */
async function withSite(
  options: SiteOptions,
  fn: (site: Site) => Promise<void>,
): Promise<void> {
  await using tmp: TempDir = await tempDir({
    dir: join(ROOT, ".tmp"),
    prefix: "e2e_web_",
  });
  const files: Fixture = {
    index: encoder.encode(INDEX),
    css: encoder.encode(CSS),
    png: PNG,
    big: randomBytes(BIG_SIZE),
  };
  const root = join(tmp.path, "site");
  await Deno.mkdir(root);
  await Deno.writeFile(join(root, "index.html"), files.index);
  await Deno.writeFile(join(root, "style.css"), files.css);
  await Deno.writeFile(join(root, "pixel.png"), files.png);
  await Deno.writeFile(join(root, "big.bin"), files.big);
  await Deno.writeTextFile(join(tmp.path, "expressions.txt"), EXPRESSIONS);
  await Deno.writeTextFile(join(tmp.path, "secret.txt"), SECRET);
  await using server = spawnRole("web-server", [
    "--port",
    "0",
    "--root",
    root,
    "--expressions",
    join(tmp.path, "expressions.txt"),
    "--upload-dir",
    join(tmp.path, "uploads"),
    "--max-upload",
    options.maxUpload ?? "3M",
    ...options.args ?? [],
  ], { grant: options.grant ?? "binary" });
  const site = new Site(server, await readyPort(server), tmp.path, files);
  await fn(site);
  await site.stop();
  assert.deepEqual(
    site.accessLog().sort(),
    [...site.requests].sort(),
    "one access log line per request",
  );
}

Deno.test("web-server serves Result.html with one row per expression: results, and errors as error rows", async () => {
  await withSite({}, async (site) => {
    const page = await site.request("GET", "/Result.html");
    assert.equal(page.status, 200);
    assert.equal(
      page.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assert.equal(
      page.headers.get("content-length"),
      String(page.body.length),
    );
    assert.deepEqual(resultRows(page.text), EXPRESSION_ROWS);
    assert.equal(
      [...page.text.matchAll(/<tr class="error">/g)].length,
      2,
      "the two failing lines are error rows",
    );
    assert.match(page.text, /5 expressions from <code>.*<\/code>, 2 failed/);
  });
});

Deno.test("web-server rewrites Result.html when the expression file is replaced", async () => {
  await withSite({}, async (site) => {
    const before = await site.request("GET", "/Result.html");
    assert.deepEqual(resultRows(before.text), EXPRESSION_ROWS);
    // As an editor saves: a new file renamed over the old one.
    const next = join(site.dir, "expressions.txt.new");
    await Deno.writeTextFile(next, "6 * 7\n100 / 8\nnope(1)\n");
    await Deno.rename(next, site.expressions);
    const expected = [
      [1, "6 * 7", "42"],
      [2, "100 / 8", "12.5"],
      [3, "nope(1)", "error: unknown function 'nope' at column 1"],
    ];
    let rows: (string | number)[][] = [];
    const deadline = Date.now() + 5000;
    for (;;) {
      const page = await site.request("GET", "/Result.html");
      assert.equal(page.status, 200);
      rows = resultRows(page.text);
      if (JSON.stringify(rows) === JSON.stringify(expected)) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(rows, expected, "the new page within 5 s");
    // The old validator no longer matches: the new page comes whole.
    const etag = before.headers.get("etag")!;
    const fresh = await site.request("GET", "/Result.html", [
      "-H",
      `If-None-Match: ${etag}`,
    ]);
    assert.equal(fresh.status, 200);
    assert.notEqual(fresh.headers.get("etag"), etag);
    assert.deepEqual(resultRows(fresh.text), expected);
  });
});

Deno.test("web-server serves files with their types and exact bytes, answers a missing file with a 404 page", async () => {
  await withSite({}, async (site) => {
    const cases: [string, string, Uint8Array][] = [
      ["/index.html", "text/html; charset=utf-8", site.files.index],
      ["/", "text/html; charset=utf-8", site.files.index],
      ["/style.css", "text/css; charset=utf-8", site.files.css],
      ["/pixel.png", "image/png", site.files.png],
      // Over the small-file cache: streamed from disk.
      ["/big.bin", "application/octet-stream", site.files.big],
    ];
    for (const [target, type, bytes] of cases) {
      const reply = await site.request("GET", target);
      assert.equal(reply.status, 200, target);
      assert.equal(reply.headers.get("content-type"), type, target);
      assert.equal(
        reply.headers.get("content-length"),
        String(bytes.length),
        target,
      );
      assert.equal(await sha256(reply.body), await sha256(bytes), target);
    }
    const missing = await site.request("GET", "/missing.html");
    assert.equal(missing.status, 404);
    assert.equal(
      missing.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assert.match(missing.text, /^<!doctype html>/);
    assert.match(missing.text, /<h1>404 Not Found<\/h1>/);
    assert.match(missing.text, /\/missing\.html/);
  });
});

Deno.test("web-server answers HEAD with the GET headers and no body, even on a kept-alive connection", async () => {
  await withSite({}, async (site) => {
    // Two HEADs on one connection: a body after the first would be read as
    // the second response's status line.
    const run = await curl([
      "-I",
      site.url("/index.html"),
      site.url("/big.bin"),
    ]);
    assert.equal(run.code, 0, run.messages);
    site.expect("HEAD", "/index.html", 200);
    site.expect("HEAD", "/big.bin", 200);
    assert.deepEqual(
      run.transfers.map((t) => [
        t.status,
        t.connects,
        t.headers.get("content-length"),
      ]),
      [[200, 1, String(site.files.index.length)], [200, 0, String(BIG_SIZE)]],
    );
    const blocks = decoder.decode(run.stdout).split("\r\n\r\n");
    assert.equal(blocks.length, 3, "two header blocks and nothing else");
    assert.equal(blocks[2], "");
    assert.match(blocks[0]!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(blocks[1]!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(blocks[0]!, /\r\nContent-Type: text\/html; charset=utf-8/i);
  });
});

Deno.test("web-server answers a conditional GET with 304 for a current ETag or date, 200 for a stale one", async () => {
  await withSite({}, async (site) => {
    const first = await site.request("GET", "/index.html");
    assert.equal(first.status, 200);
    const etag = first.headers.get("etag");
    const lastModified = first.headers.get("last-modified");
    assert.ok(etag && lastModified, "ETag and Last-Modified are sent");

    const byTag = await site.request("GET", "/index.html", [
      "-H",
      `If-None-Match: ${etag}`,
    ]);
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    assert.equal(byTag.headers.get("etag"), etag);

    const otherTag = await site.request("GET", "/index.html", [
      "-H",
      'If-None-Match: "not-this-one"',
    ]);
    assert.equal(otherTag.status, 200);
    assert.equal(otherTag.text, INDEX);

    // --time-cond sends If-Modified-Since.
    const byDate = await site.request("GET", "/index.html", [
      "--time-cond",
      lastModified,
    ]);
    assert.equal(byDate.status, 304);
    assert.equal(byDate.body.length, 0);

    const hourBefore = new Date(Date.parse(lastModified) - 3600_000)
      .toUTCString();
    const olderDate = await site.request("GET", "/index.html", [
      "--time-cond",
      hourBefore,
    ]);
    assert.equal(olderDate.status, 200);
    assert.equal(olderDate.text, INDEX);
  });
});

Deno.test("web-server answers a byte range with 206 and exactly those bytes, and a range past the end with 416", async () => {
  await withSite({}, async (site) => {
    const { big, index } = site.files;
    const ranges: [string, string, number, number, Uint8Array][] = [
      ["/big.bin", "0-99", 0, 99, big],
      // Deep in a file too large to cache: a seek, then a streamed read.
      ["/big.bin", "1500000-1500099", 1500000, 1500099, big],
      ["/big.bin", `${BIG_SIZE - 10}-`, BIG_SIZE - 10, BIG_SIZE - 1, big],
      ["/index.html", "5-9", 5, 9, index],
    ];
    for (const [target, range, start, end, file] of ranges) {
      const reply = await site.request("GET", target, ["-r", range]);
      assert.equal(reply.status, 206, range);
      assert.equal(
        reply.headers.get("content-range"),
        `bytes ${start}-${end}/${file.length}`,
      );
      assert.equal(
        reply.headers.get("content-length"),
        String(end - start + 1),
      );
      assert.deepEqual(reply.body, file.slice(start, end + 1), range);
    }
    const past = await site.request("GET", "/big.bin", ["-r", "99999999-"]);
    assert.equal(past.status, 416);
    assert.equal(past.headers.get("content-range"), `bytes */${BIG_SIZE}`);
    assert.ok(!past.text.includes(decoder.decode(big.subarray(0, 16))));
  });
});

Deno.test("web-server stores PUT /files/NAME (201, then 204 on replace), serves it back intact and DELETEs it (204, then 404)", async () => {
  await withSite({}, async (site) => {
    const first = join(site.dir, "site", "big.bin");
    const second = join(site.dir, "second.bin");
    const replacement = randomBytes(1024 * 1024 + 7);
    await Deno.writeFile(second, replacement);

    const created = await site.request("PUT", "/files/a.bin", ["-T", first]);
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get("location"), "/files/a.bin");
    assert.deepEqual(await listDir(site.uploads), ["a.bin"]);
    const stored = await site.request("GET", "/files/a.bin");
    assert.equal(stored.status, 200);
    assert.equal(await sha256(stored.body), await sha256(site.files.big));

    const replaced = await site.request("PUT", "/files/a.bin", ["-T", second]);
    assert.equal(replaced.status, 204);
    assert.equal(replaced.body.length, 0);
    // No temporary file left beside it.
    assert.deepEqual(await listDir(site.uploads), ["a.bin"]);
    const back = await site.request("GET", "/files/a.bin");
    assert.equal(back.status, 200);
    assert.equal(await sha256(back.body), await sha256(replacement));
    assert.equal(
      await sha256(await Deno.readFile(join(site.uploads, "a.bin"))),
      await sha256(replacement),
    );

    const deleted = await site.request("DELETE", "/files/a.bin");
    assert.equal(deleted.status, 204);
    assert.deepEqual(await listDir(site.uploads), []);
    const again = await site.request("DELETE", "/files/a.bin");
    assert.equal(again.status, 404);
    const gone = await site.request("GET", "/files/a.bin");
    assert.equal(gone.status, 404);
  });
});

Deno.test("web-server refuses a PUT over --max-upload with 413 and stores nothing, by Content-Length or chunked", async () => {
  await withSite({ maxUpload: "1K" }, async (site) => {
    const at = join(site.dir, "exactly_1k.bin");
    const over = join(site.dir, "over_1k.bin");
    await Deno.writeFile(at, randomBytes(1024));
    await Deno.writeFile(over, randomBytes(1025));

    const fits = await site.request("PUT", "/files/fits.bin", ["-T", at]);
    assert.equal(fits.status, 201, "1024 bytes is within 1K");
    const tooBig = await site.request("PUT", "/files/over.bin", ["-T", over]);
    assert.equal(tooBig.status, 413);
    assert.match(tooBig.text, /over the limit of 1024/);
    const huge = await site.request("PUT", "/files/huge.bin", [
      "-T",
      join(site.root, "big.bin"),
    ]);
    assert.equal(huge.status, 413);
    assert.deepEqual(await listDir(site.uploads), ["fits.bin"]);

    // Without a length the limit is found while streaming. The server may
    // close before curl has sent everything, so curl may see a reset instead
    // of the 413; the access log line says the server is done either way.
    const chunked = await curl([
      "-T",
      join(site.root, "big.bin"),
      "-H",
      "Transfer-Encoding: chunked",
      site.url("/files/chunked.bin"),
    ]);
    site.expect("PUT", "/files/chunked.bin", 413);
    if (chunked.code === 0) {
      assert.equal(chunked.transfers[0]?.status, 413);
    } else {
      assert.ok([55, 56].includes(chunked.code), chunked.messages);
    }
    await site.server.waitFor(/"PUT \/files\/chunked\.bin HTTP\/1\.1" 413 /);
    assert.deepEqual(
      await listDir(site.uploads),
      ["fits.bin"],
      "no partial or temporary file",
    );
  });
});

Deno.test("web-server answers the JSON calc API: 200 with the result, 422 with the error", async () => {
  await withSite({}, async (site) => {
    const ok = await site.request("POST", "/api/calc", [
      "-d",
      '{"expression":"2^10"}',
      "-H",
      "content-type: application/json",
    ]);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(ok.text), {
      expression: "2^10",
      result: 1024,
      text: "1024",
    });

    const failed = await site.request("GET", "/api/calc?expr=1%2F0");
    assert.equal(failed.status, 422);
    assert.equal(failed.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(failed.text), {
      expression: "1/0",
      error: "division by zero at column 2",
      code: "division_by_zero",
      column: 2,
    });

    const notJson = await site.request("POST", "/api/calc", [
      "-d",
      "2^10",
      "-H",
      "content-type: application/json",
    ]);
    assert.equal(notJson.status, 400);
    assert.match(JSON.parse(notJson.text).error, /not JSON/);
  });
});

Deno.test("web-server keeps a connection alive: curl reuses it for two URLs and the JSON access log shows one peer", async () => {
  await withSite({ args: ["--log-format", "json"] }, async (site) => {
    const run = await curl([site.url("/index.html"), site.url("/style.css")]);
    assert.equal(run.code, 0, run.messages);
    site.expect("GET", "/index.html", 200);
    site.expect("GET", "/style.css", 200);
    assert.deepEqual(
      run.transfers.map((t) => [t.status, t.connects]),
      [[200, 1], [200, 0]],
      "the second transfer opened no connection",
    );
    assert.equal(decoder.decode(run.stdout), INDEX + CSS);
    await site.stop();
    // Every line but the ready line is a JSON object.
    const ready = /^web-server listening on http:\/\/127\.0\.0\.1:\d+$/;
    const lines = site.server.stderr.filter((line) => !ready.test(line));
    assert.equal(lines.length, site.server.stderr.length - 1);
    const entries = lines.map((line) => JSON.parse(line));
    const requests = entries.filter((e) => e.msg === "request");
    assert.deepEqual(
      requests.map((
        e,
      ) => [e.role, e.level, e.method, e.target, e.status, e.bytes]),
      [
        ["web-server", "info", "GET", "/index.html", 200, INDEX.length],
        ["web-server", "info", "GET", "/style.css", 200, CSS.length],
      ],
    );
    assert.match(requests[0].peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(requests[1].peer, requests[0].peer, "one connection");
    assert.match(requests[0].user_agent, /^curl\//);
  });
});

Deno.test("web-server writes one combined-log-format line per request, with the request, status, bytes, referer and agent", async () => {
  await withSite({}, async (site) => {
    const started = Math.floor(Date.now() / 1000) * 1000;
    await site.request("GET", "/style.css", [
      "-e",
      'http://example.test/a"b',
      "-A",
      'e2e "agent"',
    ]);
    await site.request("GET", "/missing.html");
    await site.request("HEAD", "/index.html");
    await site.stop();
    const ended = Date.now();
    const lines = site.server.stderr.filter((l) => COMBINED.test(l));
    assert.equal(lines.length, 3, site.server.stderr.join("\n"));
    const m = COMBINED.exec(lines[0]!)!;
    const [, day, month, year, hh, mm, ss] = m;
    const time = Date.parse(`${day} ${month} ${year} ${hh}:${mm}:${ss} GMT`);
    assert.ok(time >= started && time <= ended, `${lines[0]} is now`);
    assert.deepEqual(m.slice(7), [
      "GET",
      "/style.css",
      "HTTP/1.1",
      "200",
      String(CSS.length),
      'http://example.test/a\\"b',
      'e2e \\"agent\\"',
    ]);
    const rest = lines.slice(1).map((l) => l.replace(/^.*\] /, ""));
    assert.match(
      rest[0]!,
      /^"GET \/missing\.html HTTP\/1\.1" 404 \d+ "-" "curl\/[^"]+"$/,
    );
    assert.match(
      rest[1]!,
      /^"HEAD \/index\.html HTTP\/1\.1" 200 0 "-" "curl\/[^"]+"$/,
    );
  });
});

Deno.test("web-server --serial serves one connection at a time: curl waits until a kept-alive connection closes", async () => {
  await withSite({ args: ["--serial"] }, async (site) => {
    using raw = await Deno.connect({ hostname: "127.0.0.1", port: site.port });
    const reader = new HttpResponseReader(raw);
    const rawGet = async (target: string, body: Uint8Array) => {
      await writeAll(
        raw,
        encoder.encode(
          `GET ${target} HTTP/1.1\r\nHost: e2e\r\nUser-Agent: raw-peer\r\n\r\n`,
        ),
      );
      const response = await reader.read();
      site.expect("GET", target, 200);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, body);
    };
    await rawGet("/index.html", site.files.index);

    await using waiting = spawnCurl(["-o", "-", site.url("/style.css")]);
    // curl is connected (the kernel's backlog took it) and has sent its
    // request before the first connection asks again…
    await waiting.waitFor(/^> $/, "curl to send its request");
    // …and the server answers the first connection (2 MiB, time enough for
    // any other connection to be served), not curl.
    await rawGet("/big.bin", site.files.big);
    assert.equal(waiting.exited, false, "curl waits while the first is open");
    assert.equal(
      waiting.saw(/^< HTTP/),
      false,
      "curl has no answer while the first is open",
    );
    assert.equal(
      site.server.stderr.some((l) => / "curl\/[^"]*"$/.test(l)),
      false,
      "the server has not logged curl's request",
    );

    raw.close();
    const done = await waiting.output();
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /^< HTTP\/1\.1 200 OK$/m);
    assert.equal(decoder.decode(done.stdout), CSS);
    site.expect("GET", "/style.css", 200);
    await site.server.waitFor(/"GET \/style\.css HTTP\/1\.1" 200 /);
    // In the log too: curl's request after both of the first connection's.
    const order = site.server.stderr
      .filter((l) => COMBINED.test(l))
      .map((l) => COMBINED.exec(l)![13]);
    assert.deepEqual(order, ["raw-peer", "raw-peer", order[2]]);
    assert.match(order[2] ?? "", /^curl\//);
  });
});

Deno.test("SIGTERM: web-server closes idle connections, lets a download in flight finish, and exits 0", async () => {
  await withSite({ args: ["--grace", "30s"] }, async (site) => {
    using idle = await Deno.connect({ hostname: "127.0.0.1", port: site.port });
    const reader = new HttpResponseReader(idle, { timeoutMs: 10_000 });
    await writeAll(
      idle,
      encoder.encode("GET /style.css HTTP/1.1\r\nHost: e2e\r\n\r\n"),
    );
    assert.equal((await reader.read()).status, 200);
    site.expect("GET", "/style.css", 200);

    // A slow reader of the 2 MiB file: still receiving when SIGTERM comes.
    await using download = spawnCurl([
      "--limit-rate",
      "4M",
      "-o",
      "-",
      site.url("/big.bin"),
    ]);
    await download.waitFor(/^< HTTP\/1\.1 200 OK$/, "the download to start");
    site.expect("GET", "/big.bin", 200);
    await site.stop();
    const done = await download.output();
    assert.equal(done.code, 0, done.stderr);
    assert.equal(await sha256(done.stdout), await sha256(site.files.big));
    // The idle connection was closed without an answer; grace was not waited out.
    await reader.expectEnd();
  });
});

Deno.test("web-server refuses path traversal from curl with 400 or 404, never a file outside the root", async () => {
  await withSite({}, async (site) => {
    await Deno.symlink(
      join(site.dir, "secret.txt"),
      join(site.root, "link.txt"),
    );
    const up = (n: number, step: string) => step.repeat(n);
    const targets = [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/%2e%2e%2fsecret.txt",
      "/.%2e/secret.txt",
      "/..%5csecret.txt",
      `/${up(12, "../")}etc/passwd`,
      `/${up(12, "%2e%2e/")}etc/passwd`,
      `/${up(12, "..%2f")}etc/passwd`,
      "/link.txt",
      "/files/..%2fsecret.txt",
      "/files/%2e%2e/secret.txt",
    ];
    for (const target of targets) {
      const reply = await site.request("GET", target);
      assert.ok(
        reply.status === 400 || reply.status === 404,
        `${target}: ${reply.status}`,
      );
      assert.ok(!reply.text.includes("TOP SECRET"), target);
      assert.ok(!reply.text.includes("root:x:0:0"), target);
    }
    const put = await site.request("PUT", "/files/..%2fescape.bin", [
      "-T",
      join(site.root, "style.css"),
    ]);
    assert.equal(put.status, 400);
    assert.deepEqual(await listDir(site.dir), [
      "expressions.txt",
      "secret.txt",
      "site",
      "uploads",
    ]);
    assert.deepEqual(await listDir(site.uploads), []);
  });
});

Deno.test("web-server under its own permission set serves the default root: Result.html and index.html", async () => {
  await using server = spawnRole("web-server", ["--port", "0"]);
  const port = await readyPort(server);
  const get = (target: string) =>
    curl(["-o", "-", `http://127.0.0.1:${port}${target}`]);
  const [page, index] = await Promise.all([
    get("/Result.html"),
    get("/index.html"),
  ]);
  assert.equal(page.transfers[0]?.status, 200, page.messages);
  // One row per expression of the default file, whatever it holds.
  const lines = (await Deno.readTextFile(
    join(ROOT, "testdata/web/expressions.txt"),
  )).split("\n").map((l, i) => [i + 1, l.trim()] as const)
    .filter(([, l]) => l !== "" && !l.startsWith("#"));
  const rows = resultRows(decoder.decode(page.stdout));
  assert.deepEqual(rows.map(([line, e]) => [line, e]), lines);
  assert.ok(rows.every(([, , r]) => r !== ""));
  assert.equal(index.transfers[0]?.status, 200, index.messages);
  assert.equal(
    decoder.decode(index.stdout),
    await Deno.readTextFile(join(ROOT, "testdata/web/index.html")),
  );
  server.child.kill("SIGTERM");
  assert.equal((await server.status).code, 0, server.stderr.join("\n"));
  assert.equal(server.stderr.at(-1), "INFO web-server: stopped");
});

Deno.test("web-server under its own permission set cannot serve, read or write outside its paths, and says so", async () => {
  await using outside = await tempDir({ prefix: "socklab_web_" });
  assert.ok(!outside.path.startsWith(ROOT));
  await Deno.writeTextFile(join(outside.path, "index.html"), INDEX);
  await Deno.writeTextFile(join(outside.path, "expressions.txt"), "1+1\n");
  const uploads = join(outside.path, "uploads");
  const [etc, elsewhere, upload, expressions] = await Promise.all([
    runRole("web-server", ["--port", "0", "--root", "/etc"]),
    runRole("web-server", [
      "--port",
      "0",
      "--root",
      outside.path,
      "--expressions",
      join(outside.path, "expressions.txt"),
    ]),
    runRole("web-server", ["--port", "0", "--upload-dir", uploads]),
    runRole("web-server", ["--port", "0", "--expressions", "/etc/hostname"]),
  ]);
  assert.equal(etc.code, 2, etc.stderr);
  assert.equal(
    etc.stderr,
    "ERROR socklab: Cannot serve --root /etc: permission denied",
  );
  assert.equal(elsewhere.code, 2, elsewhere.stderr);
  assert.equal(
    elsewhere.stderr,
    `ERROR socklab: Cannot serve --root ${outside.path}: permission denied`,
  );
  assert.equal(upload.code, 2, upload.stderr);
  assert.match(
    upload.stderr,
    new RegExp(
      `^ERROR socklab: Cannot create --upload-dir ${uploads}: .*(permission denied|write access)`,
    ),
  );
  assert.equal(expressions.code, 2, expressions.stderr);
  assert.equal(
    expressions.stderr,
    "ERROR socklab: Cannot build Result.html from --expressions /etc/hostname: permission denied",
  );
  for (const r of [etc, elsewhere, upload, expressions]) {
    assert.doesNotMatch(r.stderr, /listening on/);
  }
  assert.deepEqual(
    await listDir(outside.path),
    ["expressions.txt", "index.html"],
    "no Result.html, no uploads directory",
  );
});

Deno.test("web-server --help lists its flags with their defaults", async () => {
  const { code, stdout } = await runRole("web-server", ["--help"]);
  assert.equal(code, 0);
  for (
    const flag of [
      /^ {2}--root DIR .*\(default testdata\/web\)$/m,
      /^ {2}--expressions FILE .*\(default testdata\/web\/expressions\.txt\)$/m,
      /^ {2}--listing /m,
      /^ {2}--serial /m,
      /^ {2}--upload-dir DIR /m,
      /^ {2}--max-upload SIZE .*\(default 100M\)$/m,
      /^ {2}--header-timeout DURATION .*\(default 10s\)$/m,
      /^ {2}--host ADDR .*\(default 127\.0\.0\.1\)$/m,
      /^ {2}--port PORT .*\(default 0\)$/m,
      /^ {2}--idle-timeout /m,
      /^ {2}--max-connections /m,
      /^ {2}--grace /m,
      /^ {2}--tls-cert FILE /m,
      /^ {2}--tls-key FILE /m,
      /^ {2}--log-level LEVEL /m,
      /^ {2}--log-format FORMAT /m,
    ]
  ) {
    assert.match(stdout, flag);
  }
  assert.match(stdout, /^Examples:\n {2}socklab --role web-server /m);
});
