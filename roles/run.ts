/**
 * Runs a role: parses its flags, prints its help, sets up logging, trace and
 * TLS material, drops the permissions it does not need, wires SIGINT/SIGTERM,
 * then calls it.
 *
 * @module
 */

import { formatFlagHelp, parseFlags, UsageError } from "../lib/flags.ts";
import {
  type LogFormat,
  Logger,
  type LogLevel,
  printLine,
} from "../lib/log.ts";
import { openPcapOut } from "../lib/pcap_out.ts";
import { dropPermissions } from "../lib/permissions.ts";
import { createSelfSigned, normalizeFingerprint } from "../lib/self_signed.ts";
import { shutdownSignal } from "../lib/signals.ts";
import { parseTraceMode, Tracer } from "../lib/trace.ts";
import { VERSION } from "../lib/version.ts";
import { ROLES } from "./registry.ts";
import { allFlags, type Role, type RoleContext } from "./role.ts";

/** `socklab --help`. */
export function mainHelp(): string {
  const width = Math.max(...ROLES.map((r) => r.name.length)) + 3;
  return [
    `socklab ${VERSION}: the classic socket-programming systems, working for real`,
    "",
    "Usage:",
    "  socklab --role NAME [flags]",
    "  socklab --role NAME --help     flags of one role, with defaults and examples",
    "  socklab --version",
    "",
    "Roles:",
    ...ROLES.map((r) => `  ${r.name.padEnd(width)}${r.summary}`),
  ].join("\n");
}

/** `socklab --role NAME --help`. */
export function roleHelp(role: Role): string {
  const usage = `socklab --role ${role.name} [flags]${
    role.positionals ? ` ${role.positionals}` : ""
  }`;
  return [
    `socklab ${role.name}: ${role.summary}`,
    "",
    `Usage: ${usage}`,
    "",
    "Flags:",
    ...formatFlagHelp(allFlags(role)),
    ...(role.details ? ["", role.details()] : []),
    "",
    "Examples:",
    ...role.examples.map((e) => `  ${e}`),
  ].join("\n");
}

async function readPem(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable
      ? "read access is not granted (run with the binary or --allow-read)"
      : (error as Error).message;
    throw new UsageError(`Cannot read ${flag} ${path}: ${why}`);
  }
}

/**
 * Runs `role` with `args` (the arguments other than `--role NAME`).
 *
 * @returns The exit code. Usage errors propagate as {@linkcode UsageError}.
 */
export async function runRole(
  role: Role,
  args: readonly string[],
): Promise<number> {
  const flags = parseFlags(args, allFlags(role), {
    positionals: role.positionals !== undefined,
  });
  if (flags.boolean("help")) {
    printLine(roleHelp(role));
    return 0;
  }
  const log = new Logger({
    name: role.name,
    level: flags.string("log-level") as LogLevel,
    format: flags.string("log-format") as LogFormat,
  });
  const mode = parseTraceMode(flags.string("trace"));
  if (typeof mode === "object") throw new UsageError(mode.error);

  // Certificates are read before permissions are dropped.
  let tls: RoleContext["tls"];
  let clientTls: RoleContext["clientTls"];
  if (role.kind === "server") {
    const cert = flags.string("tls-cert");
    const key = flags.string("tls-key");
    if ((cert === undefined) !== (key === undefined)) {
      throw new UsageError("--tls-cert and --tls-key go together");
    }
    if (cert !== undefined && flags.boolean("tls-self-signed")) {
      throw new UsageError(
        "--tls-self-signed makes its own certificate: leave out --tls-cert and --tls-key",
      );
    }
    if (cert !== undefined && key !== undefined) {
      tls = {
        cert: await readPem(cert, "--tls-cert"),
        key: await readPem(key, "--tls-key"),
      };
    } else if (flags.boolean("tls-self-signed")) {
      const host = flags.string("host") ?? "127.0.0.1";
      const hosts = ["localhost", "127.0.0.1", "::1"];
      if (!hosts.includes(host) && host !== "0.0.0.0" && host !== "::") {
        hosts.push(host);
      }
      const made = await createSelfSigned({ hosts });
      tls = { cert: made.cert, key: made.key };
      log.raw(
        `${role.name}: self-signed TLS certificate for ${
          hosts.join(", ")
        }, SHA-256 fingerprint ${made.fingerprint} (clients: --pin ${made.fingerprint})`,
      );
    }
  } else if (role.kind === "client") {
    const ca = flags.string("ca");
    const pin = flags.string("pin");
    if (ca !== undefined && !flags.boolean("tls")) {
      throw new UsageError("--ca needs --tls");
    }
    if (pin !== undefined && ca !== undefined) {
      throw new UsageError(
        "--pin and --ca are two ways to trust a server: give one",
      );
    }
    if (pin !== undefined) {
      if (normalizeFingerprint(pin) === undefined) {
        throw new UsageError(
          `--pin ${pin} is not a SHA-256 fingerprint (64 hex digits, colons allowed)`,
        );
      }
      clientTls = { pin };
    } else if (flags.boolean("tls")) {
      clientTls = ca !== undefined
        ? { caCerts: [await readPem(ca, "--ca")] }
        : {};
    }
  }
  // So are the environment variables a role reads (then env is revoked).
  const env = new Map<string, string>();
  for (const name of role.env ?? []) {
    let value: string | undefined;
    try {
      value = Deno.env.get(name);
    } catch {
      // Not granted (a narrower -P set): as if unset.
    }
    if (value !== undefined) env.set(name, value);
  }
  // The capture file too: a role that may touch no file keeps just this one
  // open. One tracer feeds both --trace and --pcap-out.
  using pcap = openPcapOut(flags.string("pcap-out"), {
    application: `socklab ${VERSION} ${role.name}`,
    log,
  });
  const tracer = mode || pcap
    ? new Tracer(mode, undefined, { capture: pcap })
    : undefined;
  dropPermissions(role.files, { network: role.network ?? true });

  using stop = shutdownSignal();
  return await role.run({
    name: role.name,
    flags,
    log,
    tracer,
    signal: stop.signal,
    tls,
    clientTls,
    env,
  });
}
