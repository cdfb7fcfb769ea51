/**
 * `socklab --role dns-global` and `--role dns-local` (HW3): the global
 * server is authoritative for the `.edu` and `.com` tables; the local
 * server answers from its own table, its cache, or the global server.
 * Both speak real DNS over UDP and TCP on one port, so `dig` works.
 *
 * @module
 */

import { DnsServer } from "../../lib/dns_server.ts";
import { formatAddr } from "../../lib/frame_conn.ts";
import { UsageError } from "../../lib/flags.ts";
import type { Logger } from "../../lib/log.ts";
import { readyLine } from "../../lib/server.ts";
import type { DnsMessage } from "../../protocol/dns/message.ts";
import { type Role, type RoleContext, serverOptions } from "../role.ts";
import { answerAuthoritatively } from "./authority.ts";
import { DnsCache } from "./cache.ts";
import { logQuery } from "./query_log.ts";
import { LocalResolver, type LocalResolverOptions } from "./resolver.ts";
import { type TableFile, TableStore } from "./table_store.ts";

/** Default zone files of the global server. */
export const DEFAULT_ZONES = [
  "edu=testdata/dns/global_edu_dns.txt",
  "com=testdata/dns/global_com_dns.txt",
];
/** Default table of the local server. */
export const DEFAULT_LOCAL_TABLE = "testdata/dns/local_dns.txt";

/** Parses `--zone ORIGIN=FILE` values. */
export function parseZoneFlags(values: readonly string[]): TableFile[] {
  return values.map((value) => {
    const at = value.indexOf("=");
    const origin = at > 0
      ? value.slice(0, at).trim().toLowerCase().replace(/\.$/, "")
      : "";
    const path = value.slice(at + 1).trim();
    if (at <= 0 || origin === "" || path === "") {
      throw new UsageError(
        `--zone needs ORIGIN=FILE, e.g. --zone edu=global_edu_dns.txt, not "${value}"`,
      );
    }
    return { origin, path };
  });
}

/** Parses `--upstream host:port`. */
export function parseHostPort(
  value: string,
  flag: string,
): { hostname: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value.trim());
  const port = Number(match?.[2]);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(
      `${flag} needs HOST:PORT, e.g. 127.0.0.1:5353, not "${value}"`,
    );
  }
  return { hostname: match[1]!, port };
}

/** A running DNS server and the tables it answers from. */
export interface DnsNode extends AsyncDisposable {
  readonly server: DnsServer;
  readonly tables: TableStore;
}

/** Where and how a DNS node runs. */
export interface NodeOptions {
  log: Logger;
  hostname?: string;
  port?: number;
  signal?: AbortSignal;
  tcpIdleTimeoutMs?: number;
  /** TCP connections served at once. */
  maxTcpConnections?: number;
  /** Negative-answer TTL (seconds) for the tables' SOA. */
  negativeTtl?: number | undefined;
  /** Reload tables on change and SIGHUP (default true). */
  watch?: boolean;
}

type Answer = (
  query: DnsMessage,
) => Promise<{ reply: DnsMessage; source: string; path?: string }>;

async function startNode(
  files: readonly TableFile[],
  options: NodeOptions,
  answerWith: (tables: TableStore) => Answer,
): Promise<DnsNode> {
  let tables: TableStore;
  try {
    tables = await TableStore.open({
      files,
      log: options.log,
      watch: options.watch ?? true,
      sighup: options.watch ?? true,
      ...(options.negativeTtl !== undefined
        ? { negativeTtl: options.negativeTtl }
        : {}),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const answer = answerWith(tables);
  const { log } = options;
  let server: DnsServer;
  try {
    server = new DnsServer({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      tcpIdleTimeoutMs: options.tcpIdleTimeoutMs ?? 10_000,
      maxTcpConnections: options.maxTcpConnections ?? 256,
      log,
      ...(options.signal ? { signal: options.signal } : {}),
      handler: async (query, context) => {
        // The query line is written at "info": below that, skip its clock too.
        if (!log.enabled("info")) return (await answer(query)).reply;
        const start = performance.now();
        const { reply, source, path } = await answer(query);
        logQuery(
          log,
          context,
          query,
          reply,
          source,
          performance.now() - start,
          path,
        );
        return reply;
      },
    });
  } catch (error) {
    await tables.close();
    throw error;
  }
  return {
    server,
    tables,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await tables.close();
    },
  };
}

/**
 * Starts an authoritative server for `files` (the global server of HW3).
 *
 * @example
 * ```ts
 * await using global = await startGlobal([{ origin: "edu", path: "global_edu_dns.txt" }], { log });
 * ```
 */
export function startGlobal(
  files: readonly TableFile[],
  options: NodeOptions,
): Promise<DnsNode> {
  return startNode(
    files,
    options,
    (tables) => (query) =>
      Promise.resolve({
        reply: answerAuthoritatively(tables.zones, query),
        source: "zone",
      }),
  );
}

/**
 * Starts a local server: `table` first, then the cache, then the upstream.
 *
 * @example
 * ```ts
 * await using local = await startLocal("local_dns.txt", { upstream, cache }, { log });
 * ```
 */
export function startLocal(
  table: string,
  resolver: Omit<LocalResolverOptions, "zones">,
  options: NodeOptions,
): Promise<DnsNode> {
  return startNode([{ origin: "", path: table }], options, (tables) => {
    const local = new LocalResolver({ ...resolver, zones: () => tables.zones });
    return (query) => local.resolve(query);
  });
}

function nodeOptions(ctx: RoleContext): NodeOptions {
  if (ctx.tls) {
    throw new UsageError(
      `${ctx.name} speaks plain DNS over UDP and TCP; --tls-cert/--tls-key are not supported`,
    );
  }
  const options = serverOptions(ctx);
  const negative = ctx.flags.number("negative-ttl");
  return {
    log: ctx.log,
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    signal: ctx.signal,
    tcpIdleTimeoutMs: Math.min(options.idleTimeoutMs ?? 10_000, 30_000),
    maxTcpConnections: options.maxConnections ?? 256,
    negativeTtl: negative === undefined
      ? undefined
      : Math.round(negative / 1000),
  };
}

async function serve(ctx: RoleContext, node: DnsNode): Promise<number> {
  await using _node = node;
  ctx.log.info("serving", { tables: node.tables.describe() });
  // One port, both transports: dig asks over UDP, and over TCP with +tcp.
  ctx.log.raw(
    `${readyLine(ctx.name, "udp", node.server.addr)} and tcp://${
      formatAddr(node.server.addr)
    }`,
  );
  await node.server.finished;
  ctx.log.info("stopped");
  return 0;
}

const negativeTtlFlag = {
  name: "negative-ttl",
  type: "duration",
  doc: "how long NXDOMAIN/NODATA may be cached (the SOA minimum)",
  default: "60s",
} as const;

/** The dns-global role. */
export const dnsGlobalRole: Role = {
  name: "dns-global",
  summary:
    "HW3: authoritative DNS for the .edu and .com tables (dig works against it)",
  kind: "server",
  tlv: false,
  files: "read",
  flags: [
    {
      name: "zone",
      type: "list",
      doc: `ORIGIN=FILE, repeatable (default ${DEFAULT_ZONES.join(" ")})`,
      value: "ORIGIN=FILE",
    },
    negativeTtlFlag,
  ],
  examples: [
    "socklab --role dns-global --port 5300",
    "socklab --role dns-global --port 5300 --zone edu=global_edu_dns.txt --zone com=global_com_dns.txt --zone org=org.txt",
    "dig @127.0.0.1 -p 5300 www.mit.edu",
  ],
  async run(ctx) {
    const zones = ctx.flags.list("zone");
    const files = parseZoneFlags(zones.length > 0 ? zones : DEFAULT_ZONES);
    return serve(ctx, await startGlobal(files, nodeOptions(ctx)));
  },
};

/** The dns-local role. */
export const dnsLocalRole: Role = {
  name: "dns-local",
  summary: "HW3: local DNS: own table, then cache, then the global server",
  kind: "server",
  tlv: false,
  files: "read",
  flags: [
    {
      name: "table",
      type: "string",
      doc: "the local table",
      default: DEFAULT_LOCAL_TABLE,
      value: "FILE",
    },
    {
      name: "upstream",
      type: "string",
      doc: "the global server, HOST:PORT (required)",
      value: "HOST:PORT",
    },
    {
      name: "no-cache",
      type: "boolean",
      doc: "send every miss upstream (watch the global server work)",
    },
    {
      name: "cache-size",
      type: "number",
      doc: "most cached answers; least recently used go first",
      default: 10_000,
    },
    {
      name: "upstream-timeout",
      type: "duration",
      doc: "wait per try for the global server",
      default: "2s",
    },
    {
      name: "retries",
      type: "number",
      doc: "extra tries before answering SERVFAIL",
      default: 2,
    },
    negativeTtlFlag,
  ],
  examples: [
    "socklab --role dns-local --port 5353 --upstream 127.0.0.1:5300",
    "dig @127.0.0.1 -p 5353 www.mit.edu",
    "socklab --role dns-local --port 5353 --upstream 127.0.0.1:5300 --no-cache",
  ],
  async run(ctx) {
    const upstreamFlag = ctx.flags.string("upstream");
    if (upstreamFlag === undefined) {
      throw new UsageError(
        "--upstream is required: the HOST:PORT that dns-global printed in its ready line",
      );
    }
    const upstream = parseHostPort(upstreamFlag, "--upstream");
    const size = ctx.flags.number("cache-size") ?? 10_000;
    if (!Number.isInteger(size) || size < 1) {
      throw new UsageError(
        `--cache-size must be a whole number above 0, not ${size}`,
      );
    }
    const cache = ctx.flags.boolean("no-cache")
      ? undefined
      : new DnsCache({ maxEntries: size, now: () => Date.now() });
    const resolver = {
      cache,
      upstream,
      timeoutMs: ctx.flags.number("upstream-timeout") ?? 2000,
      retries: ctx.flags.number("retries") ?? 2,
    };
    const table = ctx.flags.string("table") ?? DEFAULT_LOCAL_TABLE;
    return serve(ctx, await startLocal(table, resolver, nodeOptions(ctx)));
  },
};
