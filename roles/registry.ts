/**
 * The role registry: every role the binary runs, in `--help` order.
 *
 * @module
 */

import { calcClientRole } from "./calc/client.ts";
import { calcServerRole } from "./calc/server.ts";
import { demoRole } from "./demo/demo.ts";
import { dissectorRole } from "./dissector/dissector.ts";
import { dnsClientRole } from "./dns/client.ts";
import { dnsGlobalRole, dnsLocalRole } from "./dns/servers.ts";
import { echoClientRole } from "./echo/client.ts";
import { echoServerRole } from "./echo/server.ts";
import { fileClientRole } from "./file/client.ts";
import { fileServerRole } from "./file/server.ts";
import { udpPingClientRole } from "./ping/client.ts";
import { udpPingServerRole } from "./ping/server.ts";
import { timeClientRole } from "./time/client.ts";
import { timeServerRole } from "./time/server.ts";
import type { Role } from "./role.ts";
import { webServerRole } from "./web/server.ts";
import { videoClientRole } from "./video/client.ts";
import { globalServerRole, localServerRole } from "./video/servers.ts";
import { passwdRole } from "./hub/passwd.ts";
import { chatClientRole } from "./chat/client.ts";
import { chatServerRole } from "./chat/server.ts";

/** All roles, in the order `--help` lists them. */
export const ROLES: readonly Role[] = [
  demoRole,
  echoServerRole,
  echoClientRole,
  udpPingServerRole,
  udpPingClientRole,
  timeServerRole,
  timeClientRole,
  fileServerRole,
  fileClientRole,
  calcServerRole,
  calcClientRole,
  webServerRole,
  dnsGlobalRole,
  dnsLocalRole,
  dnsClientRole,
  globalServerRole,
  localServerRole,
  videoClientRole,
  passwdRole,
  dissectorRole,
  chatServerRole,
  chatClientRole,
];

/** The role called `name`, or `undefined`. */
export function findRole(name: string): Role | undefined {
  return ROLES.find((r) => r.name === name);
}
