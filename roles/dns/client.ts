/**
 * `socklab --role dns-client` (HW3): reads names from `domain.txt` (or
 * arguments), asks the local server for each name's addresses, prints them
 * and writes `result.txt` atomically: `NAME ADDRESS…` or `NAME Not found`.
 *
 * @module
 */

import { writeFileAtomic } from "../../lib/atomic_write.ts";
import {
  DnsTimeoutError,
  queryDns,
  type QueryOptions,
} from "../../lib/dns_client.ts";
import { UsageError } from "../../lib/flags.ts";
import { readListFile } from "../../lib/lines.ts";
import { printLine } from "../../lib/log.ts";
import { RCODE, rcodeName, RR_TYPE } from "../../protocol/dns/constants.ts";
import type { DnsMessage } from "../../protocol/dns/message.ts";
import type { Role } from "../role.ts";
import { EXPLAIN_OPTION } from "./resolver.ts";
import { parseHostPort } from "./servers.ts";

/** What the client learned about one name. */
export type NameResult =
  | {
    readonly name: string;
    readonly kind: "found";
    readonly addresses: readonly string[];
    readonly paths: readonly string[];
  }
  | {
    readonly name: string;
    readonly kind: "not_found";
    readonly paths: readonly string[];
  }
  | {
    readonly name: string;
    readonly kind: "error";
    readonly error: string;
    readonly paths: readonly string[];
  };

const decoder = new TextDecoder();

function addressesOf(message: DnsMessage, type: number): string[] {
  return message.answers.flatMap((r) =>
    r.type === type && "address" in r.data ? [r.data.address] : []
  );
}

function pathOf(message: DnsMessage): string | undefined {
  const option = message.edns?.options.find((o) => o.code === EXPLAIN_OPTION);
  return option ? decoder.decode(option.data) : undefined;
}

/**
 * Resolves one name: A and AAAA asked together; "not found" when the server
 * says the name does not exist or has no address.
 *
 * @example
 * ```ts
 * await resolveName("www.skku.edu", { hostname: "127.0.0.1", port });
 * // { name: "www.skku.edu", kind: "found", addresses: ["192.0.2.10"], paths: [...] }
 * ```
 */
export async function resolveName(
  name: string,
  options: QueryOptions,
): Promise<NameResult> {
  const asked = await Promise.allSettled(
    [RR_TYPE.A, RR_TYPE.AAAA].map((type) => queryDns({ name, type }, options)),
  );
  const addresses: string[] = [];
  const paths: string[] = [];
  const problems: string[] = [];
  asked.forEach((outcome, i) => {
    const type = i === 0 ? RR_TYPE.A : RR_TYPE.AAAA;
    const label = i === 0 ? "A" : "AAAA";
    if (outcome.status === "rejected") {
      const error = outcome.reason;
      problems.push(
        error instanceof DnsTimeoutError
          ? error.message
          : String((error as Error).message ?? error),
      );
      return;
    }
    const response = outcome.value.response;
    const path = pathOf(response);
    if (path !== undefined) paths.push(`${label}: ${path}`);
    const rcode = response.flags.rcode;
    if (rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN) {
      addresses.push(...addressesOf(response, type));
    } else if (rcode !== RCODE.REFUSED) {
      problems.push(`${label} query answered ${rcodeName(rcode)}`);
    }
  });
  if (addresses.length > 0) return { name, kind: "found", addresses, paths };
  if (problems.length > 0) {
    return { name, kind: "error", error: problems.join("; "), paths };
  }
  return { name, kind: "not_found", paths };
}

/** One line of result.txt. */
export function formatNameResult(result: NameResult): string {
  switch (result.kind) {
    case "found":
      return `${result.name} ${result.addresses.join(" ")}`;
    case "not_found":
      return `${result.name} Not found`;
    case "error":
      return `${result.name} error: ${result.error}`;
  }
}

/** The dns-client role. */
export const dnsClientRole: Role = {
  name: "dns-client",
  summary:
    "HW3: resolve the names in domain.txt through the local DNS server into result.txt",
  kind: "tool",
  files: "read-write",
  positionals: "[NAME...]",
  flags: [
    {
      name: "server",
      type: "string",
      doc: "the local DNS server, HOST:PORT (required)",
      value: "HOST:PORT",
    },
    {
      name: "domains",
      type: "string",
      doc: "names to resolve, one per line",
      default: "domain.txt",
      value: "FILE",
    },
    {
      name: "out",
      type: "string",
      doc: "where to write the results",
      default: "result.txt",
      value: "FILE",
    },
    {
      name: "explain",
      type: "boolean",
      doc: "print where each answer came from (local table, cache, global)",
    },
    { name: "tcp", type: "boolean", doc: "ask over TCP" },
    { name: "timeout", type: "duration", doc: "wait per try", default: "2s" },
  ],
  examples: [
    "socklab --role dns-client --server 127.0.0.1:5353 --domains testdata/dns/domain.txt",
    "socklab --role dns-client --server 127.0.0.1:5353 --explain www.skku.edu nosuch.example.com",
  ],
  async run(ctx) {
    const { flags } = ctx;
    const serverFlag = flags.string("server");
    if (serverFlag === undefined) {
      throw new UsageError(
        "--server is required: the HOST:PORT that dns-local printed in its ready line",
      );
    }
    const server = parseHostPort(serverFlag, "--server");
    const names = flags.positionals.length > 0
      ? [...flags.positionals]
      : await readListFile(flags.string("domains") ?? "domain.txt");
    if (names.length === 0) throw new UsageError("no names to resolve");
    const explain = flags.boolean("explain");
    const options: QueryOptions = {
      ...server,
      timeoutMs: flags.number("timeout") ?? 2000,
      retries: 1,
      tcp: flags.boolean("tcp"),
      edns: {
        udpSize: 1232,
        options: explain
          ? [{ code: EXPLAIN_OPTION, data: new Uint8Array() }]
          : [],
      },
      signal: ctx.signal,
    };
    const results = await Promise.all(
      names.map((name) => resolveName(name, options)),
    );
    for (const result of results) {
      printLine(formatNameResult(result));
      if (explain) { for (const path of result.paths) printLine(`  ${path}`); }
    }
    const out = flags.string("out") ?? "result.txt";
    try {
      await writeFileAtomic(
        out,
        results.map(formatNameResult).join("\n") + "\n",
      );
    } catch (error) {
      const reason = error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (error as Error).message;
      throw new Error(`Cannot write ${out}: ${reason}`);
    }
    const failed = results.filter((r) => r.kind === "error").length;
    ctx.log.info(`wrote ${out}`, { names: results.length, failed });
    return failed > 0 ? 1 : 0;
  },
};
