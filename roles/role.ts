/**
 * What a role is, the flags every role shares, and the glue that turns
 * common flags into server and client options. Roles stay thin: read flags,
 * compose services, start.
 *
 * @module
 */

import type { ConnectOptions } from "../lib/client.ts";
import { type Flags, type FlagSpec, UsageError } from "../lib/flags.ts";
import { LOG_LEVELS, type Logger } from "../lib/log.ts";
import type { FileAccess } from "../lib/permissions.ts";
import {
  readyLine,
  type TlvServer,
  type TlvServerOptions,
} from "../lib/server.ts";
import type { Tracer } from "../lib/trace.ts";
import type { UdpServer } from "../lib/udp_server.ts";

/** Everything a role gets from `main.ts`. */
export interface RoleContext {
  /** The role name, for the ready line and logs. */
  readonly name: string;
  readonly flags: Flags;
  readonly log: Logger;
  readonly tracer: Tracer | undefined;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Server certificate and key, read before permissions were dropped. */
  readonly tls: { cert: string; key: string } | undefined;
  /** Client trust: extra CA certificates (PEM) or a pin, when TLS is asked. */
  readonly clientTls: { caCerts?: string[]; pin?: string } | undefined;
  /** The role's `env` variables that were set, read before env was revoked. */
  readonly env: ReadonlyMap<string, string>;
}

/** One role of the binary. */
export interface Role {
  readonly name: string;
  /** One line for `socklab --help`. */
  readonly summary: string;
  /** Which common flags apply. */
  readonly kind: "server" | "client" | "tool";
  /** The role's own flags (common ones are added by kind). */
  readonly flags: readonly FlagSpec[];
  /** Usage of bare arguments, e.g. "[EXPRESSION...]"; none allowed if absent. */
  readonly positionals?: string;
  /** Extra `--help` text (e.g. the calculator's functions). */
  readonly details?: () => string;
  /** Example command lines for `--help` and the README. */
  readonly examples: readonly string[];
  /** Files the role may touch; everything else is revoked at start. */
  readonly files: FileAccess;
  /**
   * `false` for a role that never uses the network (a local file tool): its
   * net permission is revoked at start too. Default true.
   */
  readonly network?: boolean;
  /**
   * `false` for a server or client that speaks no TLV frames (HTTP, DNS):
   * with nothing to capture it takes no `--pcap-out`. Default true.
   */
  readonly tlv?: boolean;
  /**
   * Environment variables the role reads (e.g. SOCKLAB_PASSWORD): read at
   * start into `ctx.env`, before every env permission is revoked.
   */
  readonly env?: readonly string[];
  /** Runs the role; resolves to the exit code. */
  run(ctx: RoleContext): Promise<number>;
}

/** Flags every role takes. */
export const COMMON_FLAGS: readonly FlagSpec[] = [
  {
    name: "log-level",
    type: "string",
    doc: "error, warn, info or debug (debug adds stack traces)",
    default: "info",
    value: "LEVEL",
    choices: LOG_LEVELS,
  },
  {
    name: "log-format",
    type: "string",
    doc: "text or json",
    default: "text",
    value: "FORMAT",
    choices: ["text", "json"],
  },
  {
    name: "trace",
    type: "string",
    doc: "print every frame sent and received; --trace=hex adds the bytes",
    value: "[=hex]",
  },
  { name: "help", type: "boolean", doc: "show this help", short: "h" },
];

/** Flags every server and client that speaks TLV takes. */
export const CAPTURE_FLAGS: readonly FlagSpec[] = [
  {
    name: "pcap-out",
    type: "string",
    doc: "write every frame sent and received to FILE as a pcapng capture " +
      "(secrets masked) for Wireshark; see --role dissector",
    value: "FILE",
  },
];

/** Flags every server takes. */
export const SERVER_FLAGS: readonly FlagSpec[] = [
  {
    name: "host",
    type: "string",
    doc: "address to listen on",
    default: "127.0.0.1",
    value: "ADDR",
  },
  {
    name: "port",
    type: "number",
    doc: "port to listen on; 0 picks a free one",
    default: 0,
    value: "PORT",
  },
  {
    name: "tls-cert",
    type: "string",
    doc: "PEM certificate: serve over TLS",
    value: "FILE",
  },
  {
    name: "tls-key",
    type: "string",
    doc: "PEM private key for --tls-cert",
    value: "FILE",
  },
  {
    name: "tls-self-signed",
    type: "boolean",
    doc: "serve over TLS with a throwaway certificate for localhost made at " +
      "start; its SHA-256 fingerprint is printed for clients' --pin",
  },
  {
    name: "idle-timeout",
    type: "duration",
    doc: "close a connection silent for this long",
    default: "60s",
  },
  {
    name: "max-connections",
    type: "number",
    doc: "connections served at once; more are refused with server_busy",
    default: 1024,
  },
  {
    name: "grace",
    type: "duration",
    doc: "on SIGINT/SIGTERM, how long in-flight work may finish",
    default: "5s",
  },
];

/** Flags every client takes. */
export const CLIENT_FLAGS: readonly FlagSpec[] = [
  {
    name: "host",
    type: "string",
    doc: "server address",
    default: "127.0.0.1",
    value: "ADDR",
  },
  {
    name: "port",
    type: "number",
    doc: "server port (required)",
    value: "PORT",
  },
  { name: "tls", type: "boolean", doc: "connect over TLS" },
  {
    name: "ca",
    type: "string",
    doc: "PEM CA certificate to trust (with --tls)",
    value: "FILE",
  },
  {
    name: "pin",
    type: "string",
    doc: "trust the server certificate whose SHA-256 is this (implies --tls; " +
      "for a server started with --tls-self-signed)",
    value: "SHA256",
  },
  {
    name: "timeout",
    type: "duration",
    doc: "bound on connecting and on each wait for an answer",
    default: "10s",
  },
];

/**
 * All flags of a role, common ones first. A role may redeclare a common flag
 * to give it another default (the UDP pinger's `--timeout 1s`); it keeps the
 * common flag's place in `--help`.
 */
export function allFlags(role: Role): FlagSpec[] {
  const byKind = role.kind === "server"
    ? SERVER_FLAGS
    : role.kind === "client"
    ? CLIENT_FLAGS
    : [];
  const own = new Map(role.flags.map((f) => [f.name, f]));
  const common = byKind.map((f) => own.get(f.name) ?? f);
  const shared = new Set(common.map((f) => f.name));
  return [
    ...common,
    ...role.flags.filter((f) => !shared.has(f.name)),
    ...(role.kind !== "tool" && role.tlv !== false ? CAPTURE_FLAGS : []),
    ...COMMON_FLAGS,
  ];
}

/** Server options from the common server flags. */
export function serverOptions(
  ctx: RoleContext,
): Omit<TlvServerOptions, "services"> {
  const { flags } = ctx;
  return {
    hostname: flags.string("host") ?? "127.0.0.1",
    port: checkPort(flags.number("port") ?? 0, true),
    tls: ctx.tls,
    idleTimeoutMs: flags.number("idle-timeout") ?? 60_000,
    maxConnections: positive(
      flags.number("max-connections") ?? 1024,
      "max-connections",
    ),
    graceMs: flags.number("grace") ?? 5000,
    log: ctx.log,
    tracer: ctx.tracer,
    signal: ctx.signal,
  };
}

/** Connect options from the common client flags. */
export function clientOptions(
  ctx: RoleContext,
  service: ConnectOptions["service"],
): ConnectOptions {
  const { flags } = ctx;
  const port = flags.number("port");
  if (port === undefined) {
    throw new UsageError(
      `--port is required: the port ${
        ctx.name.replace("-client", "-server")
      } printed in its ready line`,
    );
  }
  return {
    hostname: flags.string("host") ?? "127.0.0.1",
    port: checkPort(port, false),
    service,
    tls: ctx.clientTls,
    timeoutMs: flags.number("timeout") ?? 10_000,
    tracer: ctx.tracer,
    signal: ctx.signal,
  };
}

function checkPort(port: number, zeroOk: boolean): number {
  if (!Number.isInteger(port) || port < (zeroOk ? 0 : 1) || port > 65535) {
    throw new UsageError(
      `--port must be a whole number from ${
        zeroOk ? 0 : 1
      } to 65535, not ${port}`,
    );
  }
  return port;
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`--${name} must be a whole number above 0, not ${n}`);
  }
  return n;
}

/**
 * Prints the ready line, waits until the server stops (SIGINT/SIGTERM), and
 * returns exit code 0.
 */
export async function serveUntilStopped(
  ctx: RoleContext,
  server: TlvServer | UdpServer,
  scheme: string,
): Promise<number> {
  ctx.log.raw(readyLine(ctx.name, scheme, server.addr));
  await server.finished;
  ctx.log.info("stopped");
  return 0;
}
