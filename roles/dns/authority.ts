/**
 * Authoritative answers (the global server): AA set, NXDOMAIN and NODATA
 * with the zone's SOA in the authority section, REFUSED for names in no
 * zone it serves.
 *
 * @module
 */

import { CLASS_IN, RCODE } from "../../protocol/dns/constants.ts";
import type { DnsMessage } from "../../protocol/dns/message.ts";
import { replyTo } from "../../lib/dns_server.ts";
import { lookup, type Zone } from "./zone.ts";

/**
 * Answers `query` from `zones` as their authoritative server.
 *
 * @example
 * ```ts
 * const reply = answerAuthoritatively(store.zones, query);
 * ```
 */
export function answerAuthoritatively(
  zones: readonly Zone[],
  query: DnsMessage,
): DnsMessage {
  const question = query.questions[0]!;
  if (query.flags.opcode !== 0) return replyTo(query, { rcode: RCODE.NOTIMP });
  if (question.class !== CLASS_IN) {
    return replyTo(query, { rcode: RCODE.REFUSED });
  }
  const result = lookup(zones, question.name, question.type);
  switch (result.kind) {
    case "answer":
    case "cname_out":
      return { ...replyTo(query, { aa: true }), answers: result.answers };
    case "nodata":
      return {
        ...replyTo(query, { aa: true }),
        answers: result.answers,
        authorities: [result.soa],
      };
    case "nxdomain":
      return {
        ...replyTo(query, { aa: true, rcode: RCODE.NXDOMAIN }),
        answers: result.answers,
        authorities: [result.soa],
      };
    case "refused":
      return replyTo(query, { rcode: RCODE.REFUSED });
    case "loop":
      return replyTo(query, { rcode: RCODE.SERVFAIL });
  }
}
