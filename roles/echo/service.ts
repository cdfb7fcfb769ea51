/**
 * The echo service: every `echo_request` comes back as an `echo_reply` with
 * the same id and bytes. The smallest complete TLV service.
 *
 * @module
 */

import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { Message } from "../../protocol/tlv/registry.ts";
import type { Session, TlvService } from "../../lib/server.ts";

/**
 * Creates the echo service.
 *
 * @example
 * ```ts
 * await using server = new TlvServer({ services: [echoService()] });
 * ```
 */
export function echoService(): TlvService {
  return {
    name: "echo",
    handle(message: Message, session: Session): void {
      if (message.type !== "echo_request") {
        throw new ProtocolError(
          "unexpected_message",
          `the echo service does not accept ${message.type}`,
        );
      }
      session.send("echo_reply", message.fields);
    },
  };
}
