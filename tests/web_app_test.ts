/**
 * The web server's routes (`roles/web/app.ts`: static files, the calc JSON
 * API, uploads) called as a plain handler, without sockets, over a temp web
 * root built per test; one test runs the same handler behind a real
 * HttpServer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { concat } from "../lib/frame_conn.ts";
import {
  type FileBody,
  HttpError,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
  HttpServer,
} from "../lib/http_server.ts";
import { Logger } from "../lib/log.ts";
import { etagFor } from "../protocol/http/conditional.ts";
import { HeaderList, parseTarget } from "../protocol/http/request.ts";
import { httpDate } from "../protocol/http/response.ts";
import { MAX_API_BODY } from "../roles/web/calc_api.ts";
import { webApp, type WebAppOptions } from "../roles/web/app.ts";
import { HttpResponseReader, writeAll } from "./_raw_peer.ts";
import { listDir, tempDir } from "./_util.ts";

// ---------------------------------------------------------------- helpers

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const SECRET = "TOP SECRET: outside the web root";
const BIG_SIZE = 3 * 1024 * 1024;

/** Bytes whose every 4-byte word is its own index: misplaced bytes show. */
function pattern(size: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = i;
  return new Uint8Array(words.buffer, 0, size);
}

/** A temp tree: a web root, an upload root and a secret file beside them. */
interface Site extends AsyncDisposable {
  /** The temp directory holding `site/`, `uploads/` and `outside/`. */
  readonly base: string;
  readonly site: string;
  readonly uploads: string;
  /** Absolute path of the file no request may read. */
  readonly secret: string;
  readonly big: Uint8Array;
  /** The app over the tree; `options` are added to the roots. */
  app(options?: Partial<WebAppOptions>): Promise<HttpHandler>;
}

async function makeSite(): Promise<Site> {
  const tmp = await tempDir({ prefix: "socklab_web_" });
  const base = tmp.path;
  const site = join(base, "site");
  const uploads = join(base, "uploads");
  const outside = join(base, "outside");
  for (const dir of [site, uploads, outside]) await Deno.mkdir(dir);
  const secret = join(outside, "secret.txt");
  await Deno.writeTextFile(secret, SECRET);
  const files: Record<string, string> = {
    "index.html": "<h1>home</h1>\n",
    "hello.txt": "hello, world\n",
    "style.css": "body { color: red }\n",
    "app.js": "console.log(1);\n",
    "data.json": '{"a":1}\n',
    "logo.svg": "<svg></svg>\n",
    "noext": "no extension\n",
    ".env": "SECRET=1\n",
    "sub/index.html": "<h1>sub</h1>\n",
    "sub/.hidden": "hidden\n",
    "plain/a.txt": "a\n",
    "plain/<b>&x.txt": "odd name\n",
    "plain/.dot.txt": "dot\n",
    "plain/nested/n.txt": "n\n",
  };
  for (const [name, content] of Object.entries(files)) {
    const path = join(site, name);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, content);
  }
  await Deno.writeFile(join(site, "image.png"), new Uint8Array([137, 80, 78]));
  const big = pattern(BIG_SIZE);
  await Deno.writeFile(join(site, "big.bin"), big);
  await Deno.symlink(secret, join(site, "link.txt"));
  await Deno.symlink(join(site, ".env"), join(site, "envlink.txt"));
  return {
    base,
    site,
    uploads,
    secret,
    big,
    async app(options = {}) {
      return webApp({
        root: await ConfinedRoot.open(site),
        uploadRoot: await ConfinedRoot.open(uploads),
        ...options,
      });
    },
    [Symbol.asyncDispose]: () => tmp[Symbol.asyncDispose](),
  };
}

/** A request as HttpServer would build it, without a socket. */
function fakeRequest(
  method: string,
  target: string,
  options: {
    headers?: [string, string][];
    body?: string | Uint8Array;
    /** Declare no Content-Length, as a chunked request does. */
    chunked?: boolean;
  } = {},
): HttpRequest {
  const { path, query } = parseTarget(target, method);
  const body = typeof options.body === "string"
    ? encoder.encode(options.body)
    : options.body ?? new Uint8Array(0);
  const contentLength = options.body !== undefined && !options.chunked
    ? body.length
    : undefined;
  let taken = false;
  async function* chunks(max = Infinity): AsyncGenerator<Uint8Array> {
    if (taken) throw new Error("the body was read twice");
    taken = true;
    if (contentLength !== undefined && contentLength > max) {
      throw new HttpError(413, `body of ${contentLength} over ${max}`);
    }
    let read = 0;
    for (let at = 0; at < body.length; at += 4096) {
      const piece = body.slice(at, at + 4096);
      read += piece.length;
      if (read > max) throw new HttpError(413, `body over ${max}`);
      yield piece;
    }
  }
  const bytes = async (max?: number) => {
    const parts: Uint8Array[] = [];
    for await (const part of chunks(max)) parts.push(part);
    return concat(parts);
  };
  return {
    method,
    target,
    path,
    query: new URLSearchParams(query),
    version: "HTTP/1.1",
    headers: new HeaderList([["host", "test"], ...options.headers ?? []]),
    peer: "127.0.0.1:40000",
    contentLength,
    hasBody: options.body !== undefined && (options.chunked || body.length > 0),
    bytes,
    text: async (max) => decoder.decode(await bytes(max)),
    chunks,
  };
}

/** What a handler answered, with the body read (and any file closed). */
interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly text: string;
  /** The file region, when the body was a FileBody. */
  readonly file?: { start: number; length: number };
}

/** Calls the handler; an HttpError becomes its status, headers and message. */
async function call(
  app: HttpHandler,
  request: HttpRequest,
): Promise<Answer> {
  let response: HttpResponse;
  try {
    response = await app(request);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    response = {
      status: error.status,
      headers: error.headers,
      body: error.message,
    };
  }
  const headers = new Headers();
  for (const [name, value] of response.headers ?? []) {
    headers.append(name, value);
  }
  let body: Uint8Array;
  let file: Answer["file"];
  const raw = response.body;
  if (raw === undefined) body = new Uint8Array(0);
  else if (typeof raw === "string") body = encoder.encode(raw);
  else if (raw instanceof Uint8Array) body = raw;
  else if ("file" in raw) {
    body = await readRegion(raw);
    file = { start: raw.start, length: raw.length };
  } else {
    const parts: Uint8Array[] = [];
    for await (const part of raw) parts.push(part);
    body = concat(parts);
  }
  return {
    status: response.status,
    headers,
    body,
    text: decoder.decode(body),
    ...(file ? { file } : {}),
  };
}

async function readRegion(body: FileBody): Promise<Uint8Array> {
  using file = body.file;
  await file.seek(body.start, Deno.SeekMode.Start);
  const out = new Uint8Array(body.length);
  let at = 0;
  while (at < out.length) {
    const n = await file.read(out.subarray(at));
    if (n === null) break;
    at += n;
  }
  return out.subarray(0, at);
}

function request(
  app: HttpHandler,
  method: string,
  target: string,
  options?: Parameters<typeof fakeRequest>[2],
): Promise<Answer> {
  return call(app, fakeRequest(method, target, options));
}

// ------------------------------------------------------------- static files

Deno.test("webApp serves files with Content-Type by extension, Last-Modified, ETag and Content-Length on HEAD", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const types: [string, string][] = [
    ["/index.html", "text/html; charset=utf-8"],
    ["/hello.txt", "text/plain; charset=utf-8"],
    ["/style.css", "text/css; charset=utf-8"],
    ["/app.js", "text/javascript; charset=utf-8"],
    ["/data.json", "application/json"],
    ["/logo.svg", "image/svg+xml"],
    ["/image.png", "image/png"],
    ["/noext", "application/octet-stream"],
  ];
  for (const [path, type] of types) {
    const answer = await request(app, "GET", path);
    assert.equal(answer.status, 200, path);
    assert.equal(answer.headers.get("content-type"), type, path);
  }
  const info = await Deno.stat(join(site.site, "hello.txt"));
  const got = await request(app, "GET", "/hello.txt");
  assert.equal(got.text, "hello, world\n");
  assert.equal(got.headers.get("last-modified"), httpDate(info.mtime!));
  assert.equal(
    got.headers.get("etag"),
    etagFor(info.size, info.mtime!.getTime()),
  );
  assert.equal(got.headers.get("accept-ranges"), "bytes");
  const head = await request(app, "HEAD", "/hello.txt");
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(info.size));
  assert.equal(head.body.length, 0);
  assert.equal(head.headers.get("etag"), got.headers.get("etag"));
});

Deno.test("webApp answers If-None-Match and If-Modified-Since with 304 while fresh and 200 when stale", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const first = await request(app, "GET", "/hello.txt");
  const etag = first.headers.get("etag")!;
  const lastModified = first.headers.get("last-modified")!;
  const cases: [[string, string][], number][] = [
    [[["if-none-match", etag]], 304],
    [[["if-none-match", `"other", ${etag}`]], 304],
    [[["if-none-match", `W/${etag}`]], 304], // weak comparison
    [[["if-none-match", "*"]], 304],
    [[["if-none-match", '"other"']], 200],
    [[["if-modified-since", lastModified]], 304],
    [[["if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT"]], 200],
    [[["if-modified-since", "not a date"]], 200],
    // If-None-Match decides when both are sent.
    [[["if-none-match", '"other"'], ["if-modified-since", lastModified]], 200],
  ];
  for (const [headers, status] of cases) {
    const answer = await request(app, "GET", "/hello.txt", { headers });
    assert.equal(answer.status, status, JSON.stringify(headers));
    if (status === 304) {
      assert.equal(answer.body.length, 0);
      assert.equal(answer.headers.get("etag"), etag);
    } else {
      assert.equal(answer.text, "hello, world\n");
    }
  }
});

Deno.test("webApp answers byte ranges: single 206, suffix, open-ended, unsatisfiable 416, multi-range as 200", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const whole = "hello, world\n";
  const size = whole.length;
  const ranged = (range: string) =>
    request(app, "GET", "/hello.txt", { headers: [["range", range]] });

  const single = await ranged("bytes=0-4");
  assert.equal(single.status, 206);
  assert.equal(single.headers.get("content-range"), `bytes 0-4/${size}`);
  assert.equal(single.text, "hello");

  const suffix = await ranged("bytes=-6");
  assert.equal(suffix.status, 206);
  assert.equal(
    suffix.headers.get("content-range"),
    `bytes ${size - 6}-${size - 1}/${size}`,
  );
  assert.equal(suffix.text, "world\n");

  const open = await ranged("bytes=7-");
  assert.equal(open.status, 206);
  assert.equal(open.text, "world\n");

  const beyondEnd = await ranged("bytes=7-1000");
  assert.equal(beyondEnd.headers.get("content-range"), `bytes 7-12/${size}`);

  const unsatisfiable = await ranged(`bytes=${size}-`);
  assert.equal(unsatisfiable.status, 416);
  assert.equal(unsatisfiable.headers.get("content-range"), `bytes */${size}`);

  const multi = await ranged("bytes=0-1,3-4");
  assert.equal(multi.status, 200);
  assert.equal(multi.headers.get("content-range"), null);
  assert.equal(multi.text, whole);

  const head = await request(app, "HEAD", "/hello.txt", {
    headers: [["range", "bytes=0-4"]],
  });
  assert.equal(head.status, 206);
  assert.equal(head.headers.get("content-length"), "5");
});

Deno.test("webApp honours If-Range: a matching validator gets the range, a stale one the whole file", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const first = await request(app, "GET", "/hello.txt");
  const etag = first.headers.get("etag")!;
  const lastModified = first.headers.get("last-modified")!;
  const withIfRange = (ifRange: string) =>
    request(app, "GET", "/hello.txt", {
      headers: [["range", "bytes=0-4"], ["if-range", ifRange]],
    });
  const matching = await withIfRange(etag);
  assert.equal(matching.status, 206);
  assert.equal(matching.text, "hello");
  const byDate = await withIfRange(lastModified);
  assert.equal(byDate.status, 206);
  const stale = await withIfRange('"0-0"');
  assert.equal(stale.status, 200);
  assert.equal(stale.text, "hello, world\n");
  const weak = await withIfRange(`W/${etag}`); // If-Range compares strongly
  assert.equal(weak.status, 200);
});

Deno.test("webApp redirects a directory without its slash, serves its index.html, and 404s one without", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const redirect = await request(app, "GET", "/sub");
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get("location"), "/sub/");
  const withQuery = await request(app, "GET", "/sub?x=1&y=2");
  assert.equal(withQuery.headers.get("location"), "/sub/?x=1&y=2");
  const index = await request(app, "GET", "/sub/");
  assert.equal(index.status, 200);
  assert.equal(index.text, "<h1>sub</h1>\n");
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
  const rootIndex = await request(app, "GET", "/");
  assert.equal(rootIndex.text, "<h1>home</h1>\n");
  const noIndex = await request(app, "GET", "/plain/");
  assert.equal(noIndex.status, 404);
});

Deno.test("webApp with listing lists a directory without index.html, names escaped and dotfiles hidden", async () => {
  await using site = await makeSite();
  const app = await site.app({ listing: true });
  const answer = await request(app, "GET", "/plain/");
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get("content-type"), "text/html; charset=utf-8");
  const html = answer.text;
  assert.match(html, /<title>Index of \/plain\/<\/title>/);
  assert.match(html, />a\.txt</);
  assert.match(html, /&lt;b&gt;&amp;x\.txt/);
  assert.doesNotMatch(html, /<b>&x/);
  assert.match(html, /href="%3Cb%3E%26x\.txt"/);
  assert.match(html, /href="nested\/">nested\/</);
  assert.doesNotMatch(html, /dot\.txt/);
  assert.match(html, /href="\.\.\/"/);
  // The listed odd name can be fetched by its link.
  const odd = await request(app, "GET", "/plain/%3Cb%3E%26x.txt");
  assert.equal(odd.text, "odd name\n");
  // A directory with an index still gets the index.
  assert.equal((await request(app, "GET", "/sub/")).text, "<h1>sub</h1>\n");
});

const TRAVERSALS = [
  "/../outside/secret.txt",
  "/sub/../../outside/secret.txt",
  "/%2e%2e/outside/secret.txt",
  "/%2E%2E/outside/secret.txt",
  "/.%2e/outside/secret.txt",
  "/%252e%252e/outside/secret.txt",
  "/..%2foutside%2fsecret.txt",
  "/sub%2F..%2F..%2Foutside%2Fsecret.txt",
  "/..\\outside\\secret.txt",
  "/..%5coutside%5csecret.txt",
  "/hello.txt%00",
  "/hello.txt%00.png",
  "/C:/outside/secret.txt",
  "/link.txt",
  "/envlink.txt",
  "http://test/../outside/secret.txt",
  "/%ff%fe",
  "/%zz",
];

Deno.test("webApp refuses every traversal spelling with 400 or 404 and never serves the outside file", async () => {
  await using site = await makeSite();
  const app = await site.app({ listing: true });
  const targets = [
    ...TRAVERSALS,
    // The absolute path of the secret, as a path and with the root collapsed.
    `/${site.secret}`,
    `/${encodeURIComponent(site.secret)}`,
    "/files/..%2foutside%2fsecret.txt",
    "/files/%2e%2e/outside/secret.txt",
  ];
  for (const target of targets) {
    for (const method of ["GET", "HEAD"]) {
      const answer = await request(app, method, target);
      assert.ok(
        answer.status === 400 || answer.status === 404,
        `${method} ${target} → ${answer.status}`,
      );
      assert.doesNotMatch(answer.text, /TOP SECRET/, target);
    }
  }
});

Deno.test("webApp answers dotfiles with 404, however they are spelled", async () => {
  await using site = await makeSite();
  const app = await site.app({ listing: true });
  for (
    const target of ["/.env", "/%2eenv", "/sub/.hidden", "/plain/.dot.txt"]
  ) {
    const answer = await request(app, "GET", target);
    assert.equal(answer.status, 404, target);
    assert.doesNotMatch(answer.text, /SECRET=1|hidden\n/);
  }
});

Deno.test("webApp serves a small file fresh after it changes on disk, in size or only in mtime", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const path = join(site.site, "hello.txt");
  assert.equal(
    (await request(app, "GET", "/hello.txt")).text,
    "hello, world\n",
  );
  assert.equal(
    (await request(app, "GET", "/hello.txt")).text,
    "hello, world\n",
  );
  await Deno.writeTextFile(path, "a longer new content\n");
  assert.equal(
    (await request(app, "GET", "/hello.txt")).text,
    "a longer new content\n",
  );
  // Same size, new bytes: only the mtime tells.
  await Deno.writeTextFile(path, "a longer NEW content\n");
  const later = new Date(Date.now() + 60_000);
  await Deno.utime(path, later, later);
  const fresh = await request(app, "GET", "/hello.txt");
  assert.equal(fresh.text, "a longer NEW content\n");
  assert.equal(fresh.headers.get("last-modified"), httpDate(later));
});

Deno.test("webApp serves a file over the cache size as a FileBody with the right start and length", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const whole = await request(app, "GET", "/big.bin");
  assert.equal(whole.status, 200);
  assert.deepEqual(whole.file, { start: 0, length: BIG_SIZE });
  assert.ok(whole.body.length === BIG_SIZE);
  assert.ok(whole.body.every((b, i) => b === site.big[i]), "big file differs");
  const part = await request(app, "GET", "/big.bin", {
    headers: [["range", "bytes=1048570-2097160"]],
  });
  assert.equal(part.status, 206);
  assert.deepEqual(part.file, { start: 1048570, length: 1048591 });
  assert.ok(part.body.every((b, i) => b === site.big[1048570 + i]));
  assert.equal(
    part.headers.get("content-range"),
    `bytes 1048570-2097160/${BIG_SIZE}`,
  );
});

// --------------------------------------------------------------- calc API

Deno.test("webApp /api/calc answers POST {expression} with 200 {result, text}", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const answer = await request(app, "POST", "/api/calc", {
    body: JSON.stringify({ expression: "1+2*3" }),
  });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get("content-type"), "application/json");
  const json = JSON.parse(answer.text);
  assert.equal(json.result, 7);
  assert.equal(json.text, "7");
});

Deno.test("webApp /api/calc answers an expression without a value with 422 {error, column}", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const divide = await request(app, "POST", "/api/calc", {
    body: '{"expression":"1/0"}',
  });
  assert.equal(divide.status, 422);
  const json = JSON.parse(divide.text);
  assert.match(json.error, /division by zero/);
  assert.equal(json.column, 2);
  const syntax = await request(app, "GET", "/api/calc?expr=2*(3");
  assert.equal(syntax.status, 422);
  assert.equal(JSON.parse(syntax.text).column, 5);
});

Deno.test("webApp /api/calc answers bad JSON, a missing or non-string field, and a missing expr with 400", async () => {
  await using site = await makeSite();
  const app = await site.app();
  for (
    const body of ["{not json", "", "null", "{}", '{"expression":5}', "[]"]
  ) {
    const answer = await request(app, "POST", "/api/calc", { body });
    assert.equal(answer.status, 400, body);
    assert.equal(typeof JSON.parse(answer.text).error, "string");
  }
  const missing = await request(app, "GET", "/api/calc?x=1");
  assert.equal(missing.status, 400);
  assert.match(JSON.parse(missing.text).error, /expr/);
});

Deno.test("webApp /api/calc answers GET ?expr= with 200", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const answer = await request(app, "GET", "/api/calc?expr=6*7%2B0");
  assert.equal(answer.status, 200);
  assert.deepEqual(
    [JSON.parse(answer.text).result, JSON.parse(answer.text).text],
    [42, "42"],
  );
});

Deno.test("webApp /api/calc answers PUT with 405 and Allow, and a body over its limit with 413", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const put = await request(app, "PUT", "/api/calc", { body: "{}" });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get("allow"), "GET, HEAD, POST");
  const big = await request(app, "POST", "/api/calc", {
    body: JSON.stringify({ expression: "1+".repeat(MAX_API_BODY) + "1" }),
  });
  assert.equal(big.status, 413);
});

// ------------------------------------------------------------------ uploads

Deno.test("webApp uploads: PUT creates (201 + Location), PUT again replaces (204), GET returns the bytes", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const bytes = pattern(10_000);
  const created = await request(app, "PUT", "/files/new%20file.bin", {
    body: bytes,
  });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get("location"), "/files/new%20file.bin");
  const back = await request(app, "GET", "/files/new%20file.bin");
  assert.equal(back.status, 200);
  assert.deepEqual(back.body, bytes);
  const replacement = encoder.encode("replaced");
  const replaced = await request(app, "PUT", "/files/new%20file.bin", {
    body: replacement,
    chunked: true,
  });
  assert.equal(replaced.status, 204);
  assert.deepEqual(
    (await request(app, "GET", "/files/new%20file.bin")).body,
    replacement,
  );
  assert.deepEqual(await listDir(site.uploads), ["new file.bin"]);
});

Deno.test("webApp uploads: a body over maxUpload gets 413 and leaves no file and no temp file", async () => {
  await using site = await makeSite();
  const app = await site.app({ maxUpload: 5000 });
  const declared = await request(app, "PUT", "/files/big.bin", {
    body: new Uint8Array(6000),
  });
  assert.equal(declared.status, 413);
  // Chunked: the limit is found only while streaming.
  const streamed = await request(app, "PUT", "/files/big.bin", {
    body: new Uint8Array(20_000),
    chunked: true,
  });
  assert.equal(streamed.status, 413);
  assert.deepEqual(await listDir(site.uploads), []);
  // An upload at the limit is fine.
  const ok = await request(app, "PUT", "/files/ok.bin", {
    body: new Uint8Array(5000),
  });
  assert.equal(ok.status, 201);
  assert.deepEqual(await listDir(site.uploads), ["ok.bin"]);
});

Deno.test("webApp uploads: DELETE removes (204), then DELETE and GET get 404", async () => {
  await using site = await makeSite();
  const app = await site.app();
  await request(app, "PUT", "/files/gone.txt", { body: "bye" });
  assert.equal((await request(app, "DELETE", "/files/gone.txt")).status, 204);
  assert.equal((await request(app, "DELETE", "/files/gone.txt")).status, 404);
  assert.equal((await request(app, "GET", "/files/gone.txt")).status, 404);
  assert.deepEqual(await listDir(site.uploads), []);
});

Deno.test("webApp uploads: names that climb out or are hidden get 400/404 and nothing is written anywhere", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const before = await listDir(site.base);
  const outsideBefore = await listDir(join(site.base, "outside"));
  for (
    const target of [
      "/files/..%2fx",
      "/files/..%2Foutside%2Fsecret.txt",
      "/files/%2e%2e",
      "/files/.hidden",
      "/files/%2ehidden",
      "/files/a%5cb",
      "/files/%00",
      "/files/%zz",
    ]
  ) {
    const answer = await request(app, "PUT", target, { body: "payload" });
    assert.ok(
      answer.status === 400 || answer.status === 404,
      `${target} → ${answer.status}`,
    );
  }
  assert.deepEqual(await listDir(site.base), before);
  assert.deepEqual(await listDir(join(site.base, "outside")), outsideBefore);
  assert.deepEqual(await listDir(site.uploads), []);
  assert.equal(await Deno.readTextFile(site.secret), SECRET);
});

// ---------------------------------------------------------------- methods

Deno.test("webApp answers OPTIONS with 204 and Allow, and other methods on static paths with 405 and Allow", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const options = await request(app, "OPTIONS", "/hello.txt");
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("allow"), "GET, HEAD, OPTIONS");
  for (const method of ["POST", "PUT", "DELETE"]) {
    const answer = await request(app, method, "/hello.txt", { body: "x" });
    assert.equal(answer.status, 405, method);
    assert.equal(answer.headers.get("allow"), "GET, HEAD, OPTIONS");
  }
  const filesIndexPost = await request(app, "POST", "/files/", { body: "x" });
  assert.equal(filesIndexPost.status, 405);
  assert.equal(filesIndexPost.headers.get("allow"), "GET, HEAD");
});

// ------------------------------------------------------------ over sockets

Deno.test("webApp behind HttpServer serves a range of a large file and a calc answer over a real socket", async () => {
  await using site = await makeSite();
  await using server = new HttpServer({
    handler: await site.app(),
    log: new Logger({ sink: () => {} }),
  });
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  const reader = new HttpResponseReader(conn);
  const body = '{"expression":"2^10"}';
  await writeAll(
    conn,
    encoder.encode(
      "GET /big.bin HTTP/1.1\r\nHost: test\r\nRange: bytes=100-2000099\r\n\r\n" +
        "GET /big.bin HTTP/1.1\r\nHost: test\r\n\r\n" +
        "POST /api/calc HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` +
        "GET /../outside/secret.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    ),
  );
  const part = await reader.read();
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-length"), String(2_000_000));
  assert.ok(part.body.every((b, i) => b === site.big[100 + i]));
  const whole = await reader.read();
  assert.equal(whole.status, 200);
  assert.ok(whole.body.length === BIG_SIZE);
  assert.ok(whole.body.every((b, i) => b === site.big[i]));
  const calc = await reader.read();
  assert.equal(calc.status, 200);
  assert.equal(JSON.parse(decoder.decode(calc.body)).result, 1024);
  const refused = await reader.read();
  assert.equal(refused.status, 400);
  assert.doesNotMatch(decoder.decode(refused.body), /TOP SECRET/);
  await reader.expectEnd();
});

// ------------------------------------------------- cache revalidation races

/**
 * Records the paths `Deno.statSync` is called with until disposed. The
 * static handler calls it only to re-check a URL path that led to a cached
 * file under a second ago, so a recorded path shows that fast path ran.
 */
function watchStatSync(): Disposable & { readonly paths: string[] } {
  const deno = Deno as { statSync: typeof Deno.statSync };
  const original = deno.statSync;
  const paths: string[] = [];
  deno.statSync = (path) => {
    paths.push(String(path));
    return original(path);
  };
  return {
    paths,
    [Symbol.dispose]: () => {
      deno.statSync = original;
    },
  };
}

/** Gives `path` the mtime (and atime) of `like`; checks size and mtime agree. */
async function sameStamp(path: string, like: Deno.FileInfo): Promise<void> {
  await Deno.utime(path, like.atime ?? like.mtime!, like.mtime!);
  const info = await Deno.stat(path);
  assert.equal(info.size, like.size, `${path}: the sizes must agree`);
  assert.equal(
    info.mtime!.getTime(),
    like.mtime!.getTime(),
    `${path}: the mtimes must agree`,
  );
}

const INSIDE = "inside the web root, v1\n";
const OUTSIDE = "OUTSIDE the root, nope!\n";

Deno.test("webApp() never serves a file outside the root after a cached file is replaced by a symlink", async () => {
  // "fresh": the outside file exists before the inside one goes, so its
  // inode differs. "reused": it is made after, and may get the freed inode,
  // matching size, mtime and inode; the cache may then answer with the
  // bytes it read from inside, never with the outside ones.
  for (const order of ["fresh", "reused"] as const) {
    await using site = await makeSite();
    const app = await site.app();
    const inside = join(site.site, "swap.txt");
    const outside = join(site.base, "outside", "swap.txt");
    assert.equal(OUTSIDE.length, INSIDE.length);
    await Deno.writeTextFile(inside, INSIDE);
    const real = await Deno.realPath(inside);
    const first = await request(app, "GET", "/swap.txt");
    assert.equal(first.text, INSIDE, order);
    const before = await Deno.stat(inside);

    if (order === "reused") await Deno.remove(inside);
    await Deno.writeTextFile(outside, OUTSIDE);
    await sameStamp(outside, before);
    const link = join(site.site, "swap.txt.new");
    await Deno.symlink(outside, link);
    await Deno.rename(link, inside);
    assert.ok((await Deno.lstat(inside)).isSymlink);

    using watch = watchStatSync();
    for (const method of ["GET", "HEAD", "GET"]) {
      const answer = await request(app, method, "/swap.txt", {
        headers: [["range", "bytes=0-"]],
      });
      assert.doesNotMatch(answer.text, /OUTSIDE/, `${order} ${method}`);
      if (order === "fresh") {
        assert.equal(answer.status, 404, `${order} ${method}`);
      } else {
        assert.ok(
          answer.status === 404 ||
            (answer.status < 300 &&
              (method === "HEAD" || answer.text === INSIDE)),
          `${order} ${method} → ${answer.status} ${answer.text}`,
        );
      }
    }
    assert.ok(
      watch.paths.includes(real),
      `${order}: the one-second fast path was not tried`,
    );
  }
});

Deno.test("webApp() never serves a file outside the root after a cached file's directory is replaced by a symlink", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const dir = join(site.site, "dir");
  const outDir = join(site.base, "outside", "dir");
  await Deno.mkdir(dir);
  await Deno.mkdir(outDir);
  const names = ["f.txt", "index.html"];
  for (const name of names) {
    await Deno.writeTextFile(join(dir, name), INSIDE);
  }
  const reals = await Promise.all(
    names.map((name) => Deno.realPath(join(dir, name))),
  );
  assert.equal((await request(app, "GET", "/dir/f.txt")).text, INSIDE);
  assert.equal((await request(app, "GET", "/dir/")).text, INSIDE);
  for (const name of names) {
    const outside = join(outDir, name);
    await Deno.writeTextFile(outside, OUTSIDE);
    await sameStamp(outside, await Deno.stat(join(dir, name)));
  }
  // The old directory is kept (renamed), so no inode is freed for reuse.
  await Deno.rename(dir, join(site.site, "dir-old"));
  await Deno.symlink(outDir, dir);

  using watch = watchStatSync();
  for (const target of ["/dir/f.txt", "/dir/", "/dir/index.html"]) {
    for (const method of ["GET", "HEAD"]) {
      const answer = await request(app, method, target);
      assert.equal(answer.status, 404, `${method} ${target}`);
      assert.doesNotMatch(answer.text, /OUTSIDE/, `${method} ${target}`);
    }
  }
  for (const real of reals) {
    assert.ok(
      watch.paths.includes(real),
      `${real}: the one-second fast path was not tried`,
    );
  }
});

Deno.test("webApp() serves the new bytes after a cached file is atomically replaced with the same size and mtime", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const path = join(site.site, "atomic.txt");
  const old = "version ONE of the file\n";
  const replacement = "version TWO of the file\n";
  assert.equal(replacement.length, old.length);
  await Deno.writeTextFile(path, old);
  const real = await Deno.realPath(path);
  assert.equal((await request(app, "GET", "/atomic.txt")).text, old);
  assert.equal((await request(app, "GET", "/atomic.txt")).text, old);
  const before = await Deno.stat(path);

  const temp = join(site.site, "atomic.txt.tmp");
  await Deno.writeTextFile(temp, replacement);
  await sameStamp(temp, before);
  await Deno.rename(temp, path);
  const after = await Deno.stat(path);
  assert.notEqual(after.ino, before.ino, "the rename must change the inode");
  assert.equal(after.mtime!.getTime(), before.mtime!.getTime());

  using watch = watchStatSync();
  const range = await request(app, "GET", "/atomic.txt", {
    headers: [["range", "bytes=8-10"]],
  });
  assert.equal(range.status, 206);
  assert.equal(range.text, "TWO");
  const whole = await request(app, "GET", "/atomic.txt");
  assert.equal(whole.status, 200);
  assert.equal(whole.text, replacement);
  assert.ok(
    watch.paths.includes(real),
    "the one-second fast path was not tried",
  );
});

Deno.test("webApp() answers 404, not the cached bytes, once a cached file is deleted", async () => {
  await using site = await makeSite();
  const app = await site.app();
  const path = join(site.site, "gone.txt");
  await Deno.writeTextFile(path, INSIDE);
  const real = await Deno.realPath(path);
  assert.equal((await request(app, "GET", "/gone.txt")).text, INSIDE);
  assert.equal((await request(app, "GET", "/gone.txt")).text, INSIDE);
  await Deno.remove(path);

  using watch = watchStatSync();
  for (const method of ["GET", "HEAD", "GET"]) {
    const answer = await request(app, method, "/gone.txt");
    assert.equal(answer.status, 404, method);
    assert.doesNotMatch(answer.text, /inside the web root/, method);
  }
  assert.ok(
    watch.paths.includes(real),
    "the one-second fast path was not tried",
  );
});
