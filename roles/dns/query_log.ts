/**
 * One log line per DNS query: client, name, type, rcode, where the answer
 * came from, time taken.
 *
 * @module
 */

import type { QueryContext } from "../../lib/dns_server.ts";
import type { Logger } from "../../lib/log.ts";
import { rcodeName, typeName } from "../../protocol/dns/constants.ts";
import type { DnsMessage } from "../../protocol/dns/message.ts";

/**
 * Logs a query and its reply.
 *
 * @example
 * ```ts
 * logQuery(log, context, query, reply, "cache", 0.21);
 * // INFO dns-local: query client=127.0.0.1:50123 name=www.skku.edu type=A rcode=NOERROR source=cache ms=0.21 transport=udp
 * ```
 */
export function logQuery(
  log: Logger,
  context: QueryContext,
  query: DnsMessage,
  reply: DnsMessage,
  source: string,
  ms: number,
  path?: string,
): void {
  const question = query.questions[0];
  log.info("query", {
    client: context.peer,
    name: question?.name ?? "",
    type: question ? typeName(question.type) : "",
    rcode: rcodeName(reply.flags.rcode),
    source,
    ms: Math.round(ms * 100) / 100,
    transport: context.transport,
    ...(path !== undefined ? { path } : {}),
  });
}
