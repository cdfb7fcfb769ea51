/**
 * One TLV service made of several: each message goes to the service the
 * registry says it belongs to (`MESSAGES[type].service`), so an integrated
 * server (HW5's `hub`) mounts the calc, image and video services as they
 * are, by import, and one connection reaches them all.
 *
 * @module
 */

import { ProtocolError } from "../protocol/tlv/protocol_error.ts";
import {
  type Message,
  MESSAGES,
  type ServiceName,
} from "../protocol/tlv/registry.ts";
import type { Session, TlvService } from "./server.ts";

/**
 * A service named `name` that hands each message to the one of `services`
 * whose name is the message's service in the registry; a message of any
 * other service is `unexpected_message` and the connection goes on.
 *
 * @param name The name a hello asks for (e.g. "hub").
 * @param services The parts, one per service name.
 * @returns The composed service; `closed()` reaches every part.
 * @throws {RangeError} when two parts have the same name.
 *
 * @example
 * ```ts
 * const hub = composeServices("hub", [calcService(), edge.service, images]);
 * await using server = new TlvServer({ services: [hub] });
 * ```
 */
export function composeServices(
  name: ServiceName,
  services: readonly TlvService[],
): TlvService {
  const byName = new Map<string, TlvService>();
  for (const service of services) {
    if (byName.has(service.name)) {
      throw new RangeError(
        `Cannot compose "${name}": two parts are called "${service.name}"`,
      );
    }
    byName.set(service.name, service);
  }
  const offered = [...byName.keys()].join(", ");
  return {
    name,
    handle(message: Message, session: Session) {
      const part = byName.get(MESSAGES[message.type].service);
      if (part === undefined) {
        throw new ProtocolError(
          "unexpected_message",
          `the ${name} service (${offered}) does not accept ${message.type}`,
        );
      }
      return part.handle(message, session);
    },
    closed(session: Session) {
      for (const part of byName.values()) part.closed?.(session);
    },
  };
}
