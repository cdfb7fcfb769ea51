/**
 * `socklab --role web-server`: HW2. Evaluates an expression file into
 * Result.html, and serves it and the rest of the web root over HTTP/1.1
 * written on raw sockets.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { ConfinedRoot } from "../../lib/confined_fs.ts";
import { UsageError } from "../../lib/flags.ts";
import { type AccessEntry, HttpServer } from "../../lib/http_server.ts";
import type { Logger } from "../../lib/log.ts";
import { readyLine } from "../../lib/server.ts";
import { type Role, serverOptions } from "../role.ts";
import { webApp } from "./app.ts";
import { ResultsPage } from "./results_page.ts";

/** The web root and expression file used when no flag names others. */
export const DEFAULT_ROOT = "testdata/web";
/** The default expression file. */
export const DEFAULT_EXPRESSIONS = "testdata/web/expressions.txt";

const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/**
 * A combined-log-format line, as nginx and Apache write them.
 *
 * @example
 * ```ts
 * combinedLogLine(entry);
 * // 127.0.0.1 - - [21/Nov/2026:08:44:52 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"
 * ```
 */
export function combinedLogLine(e: AccessEntry): string {
  const t = e.time;
  const pad = (n: number) => String(n).padStart(2, "0");
  const stamp = `${pad(t.getUTCDate())}/${
    MONTHS[t.getUTCMonth()]
  }/${t.getUTCFullYear()}:${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${
    pad(t.getUTCSeconds())
  } +0000`;
  const host = e.peer.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  const quote = (
    s: string | undefined,
  ) => (s === undefined ? "-" : s.replace(/["\\]/g, (c) => `\\${c}`));
  return `${host} - - [${stamp}] "${
    quote(`${e.method} ${e.target} ${e.version}`)
  }" ${e.status} ${e.bytes} "${quote(e.referer)}" "${quote(e.userAgent)}"`;
}

function accessLogger(log: Logger): (e: AccessEntry) => void {
  if (log.format === "json") {
    return (e) =>
      log.info("request", {
        peer: e.peer,
        method: e.method,
        target: e.target,
        version: e.version,
        status: e.status,
        bytes: e.bytes,
        ms: Math.round(e.ms * 1000) / 1000,
        referer: e.referer,
        user_agent: e.userAgent,
      });
  }
  return (e) => {
    if (log.enabled("info")) log.raw(combinedLogLine(e));
  };
}

async function openDir(
  path: string,
  flag: string,
  options: { create?: boolean } = {},
): Promise<ConfinedRoot> {
  if (options.create) {
    await Deno.mkdir(path, { recursive: true }).catch((error) => {
      const reason = error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (error as Error).message;
      throw new UsageError(`Cannot create ${flag} ${path}: ${reason}`);
    });
  }
  try {
    return await ConfinedRoot.open(path);
  } catch (error) {
    const hint = error instanceof Deno.errors.NotFound && path === DEFAULT_ROOT
      ? " (the default exists in a socklab checkout; elsewhere pass --root DIR and --expressions FILE)"
      : "";
    const reason = error instanceof Deno.errors.NotFound
      ? "no such directory"
      : error instanceof Deno.errors.NotCapable
      ? "permission denied"
      : (error as Error).message;
    throw new UsageError(`Cannot serve ${flag} ${path}: ${reason}${hint}`);
  }
}

/** The web-server role. */
export const webServerRole: Role = {
  name: "web-server",
  summary:
    "HW2: evaluate an expression file into Result.html and serve files over HTTP/1.1",
  kind: "server",
  tlv: false,
  files: "read-write",
  flags: [
    {
      name: "root",
      type: "string",
      doc: "directory to serve",
      default: DEFAULT_ROOT,
      value: "DIR",
    },
    {
      name: "expressions",
      type: "string",
      doc:
        "expression file evaluated into ROOT/Result.html (rewritten when it changes)",
      default: DEFAULT_EXPRESSIONS,
      value: "FILE",
    },
    {
      name: "listing",
      type: "boolean",
      doc: "list directories that have no index.html",
    },
    {
      name: "serial",
      type: "boolean",
      doc: "serve one connection at a time, as HW2 describes",
    },
    {
      name: "upload-dir",
      type: "string",
      doc: "enable PUT/DELETE /files/NAME, stored in DIR",
      value: "DIR",
    },
    {
      name: "max-upload",
      type: "size",
      doc: "largest upload",
      default: "100M",
    },
    {
      name: "header-timeout",
      type: "duration",
      doc: "a request head must arrive within this long (slow clients get 408)",
      default: "10s",
    },
  ],
  examples: [
    "socklab --role web-server --port 8080",
    "curl -i http://127.0.0.1:8080/Result.html",
    "socklab --role web-server --port 8080 --root ./site --expressions ./exprs.txt --listing",
    "socklab --role web-server --port 8080 --upload-dir ./uploads   # curl -T file.txt http://127.0.0.1:8080/files/file.txt",
  ],
  async run(ctx) {
    const { flags, log } = ctx;
    const rootDir = flags.string("root") ?? DEFAULT_ROOT;
    const root = await openDir(rootDir, "--root", {});
    const uploadDir = flags.string("upload-dir");
    const uploadRoot = uploadDir === undefined
      ? undefined
      : await openDir(uploadDir, "--upload-dir", { create: true });
    const expressions = flags.string("expressions") ?? DEFAULT_EXPRESSIONS;
    let page: ResultsPage;
    try {
      page = await ResultsPage.start({
        expressions,
        out: join(resolve(rootDir), "Result.html"),
        log,
      });
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "no such file"
        : error instanceof Deno.errors.NotCapable
        ? "permission denied"
        : (error as Error).message;
      throw new UsageError(
        `Cannot build Result.html from --expressions ${expressions}: ${reason}`,
      );
    }
    await using _page = page;
    const options = serverOptions(ctx);
    await using server = new HttpServer({
      handler: webApp({
        root,
        uploadRoot,
        maxUpload: flags.number("max-upload") ?? 100 * 1024 * 1024,
        listing: flags.boolean("listing"),
      }),
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      tls: options.tls,
      headerTimeoutMs: flags.number("header-timeout") ?? 10_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      maxConnections: options.maxConnections ?? 1024,
      graceMs: options.graceMs ?? 5000,
      serial: flags.boolean("serial"),
      log,
      accessLog: accessLogger(log),
      signal: ctx.signal,
    });
    log.raw(readyLine(ctx.name, options.tls ? "https" : "http", server.addr));
    await server.finished;
    log.info("stopped");
    return 0;
  },
};
