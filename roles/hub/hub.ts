/**
 * The integrated local server (HW5) put together from services that exist
 * on their own: calc (HW1), the video cache and live relay (HW4), images,
 * and the login gate. Each is offered under its own name and all of them
 * together as `hub`, one connection for a client that uses them all; with
 * users, every one of them sits behind the gate.
 *
 * @module
 */

import { composeServices } from "../../lib/compose_services.ts";
import { UsageError } from "../../lib/flags.ts";
import type { FlagSpec } from "../../lib/flags.ts";
import type { Logger } from "../../lib/log.ts";
import type { TlvService } from "../../lib/server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { RoleContext } from "../role.ts";
import { AuthGate, DEFAULT_SESSION_TTL_MS } from "./gate.ts";
import { UsersFileError, UserStore } from "./users.ts";

/** Flags of a server that can require a login. */
export const AUTH_FLAGS: readonly FlagSpec[] = [
  {
    name: "users",
    type: "string",
    doc: "users file (socklab --role passwd): every service then needs a login",
    value: "FILE",
  },
  {
    name: "session-ttl",
    type: "duration",
    doc: "how long a login's session token lives",
    default: "1h",
  },
];

/**
 * The gate `--users` asks for, or `undefined` without the flag. Warns when
 * users would send passwords in clear text beyond this machine.
 *
 * @throws {UsageError} when the users file cannot be read or parsed.
 */
export async function gateFromFlags(
  ctx: RoleContext,
  hostname: string,
): Promise<AuthGate | undefined> {
  const path = ctx.flags.string("users");
  if (path === undefined) return undefined;
  let users: UserStore;
  try {
    users = await UserStore.load(path);
  } catch (error) {
    if (error instanceof UsersFileError) throw new UsageError(error.message);
    throw new UsageError(
      `Cannot read --users ${path}: ${(error as Error).message}`,
    );
  }
  if (ctx.tls === undefined && !isLoopback(hostname)) {
    ctx.log.warn(
      "users log in with passwords over plain TCP beyond this machine: " +
        "start the server with --tls-cert and --tls-key",
      { host: hostname },
    );
  }
  ctx.log.info("logins required", { users: users.size });
  return new AuthGate({
    users,
    sessionTtlMs: ctx.flags.number("session-ttl") ?? DEFAULT_SESSION_TTL_MS,
    log: ctx.log,
  });
}

/** The parts of the integrated server. */
export interface HubParts {
  /** The calculator (HW1). */
  calc: TlvService;
  /** Videos and live channels (HW4). */
  video: TlvService;
  /** Images (HW5), when the server has an image directory. */
  image?: TlvService;
  /** The login gate, when the server has users. */
  gate?: AuthGate;
  /** Logger for the composition's own events. */
  log?: Logger;
}

/**
 * The services a local server offers: each part under its own name and
 * `hub` for all of them on one connection, every one behind the gate when
 * there is one (and `auth` then too).
 *
 * @example
 * ```ts
 * const services = hubServices({ calc: calcService(), video: edge.service, gate });
 * await using server = new TlvServer({ services });
 * ```
 */
export function hubServices(parts: HubParts): TlvService[] {
  const own = [parts.calc, parts.video, ...(parts.image ? [parts.image] : [])];
  const gate = parts.gate;
  const hub = composeServices("hub", [...own, gate?.service ?? NO_USERS]);
  const all = [...own, hub];
  if (gate === undefined) return all;
  return [...all.map((service) => gate.guard(service)), gate.service];
}

/** The auth part of a server without users: nothing to log in to. */
const NO_USERS: TlvService = {
  name: "auth",
  handle(message) {
    throw new ProtocolError(
      "unexpected_message",
      `this server has no users (it was started without --users): ${message.type} is not needed, every service is open`,
    );
  },
};

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" ||
    hostname.startsWith("127.");
}
