/**
 * The local server's resolver (HW3): its own table first, then the cache,
 * then the global server; answers and negative answers from upstream are
 * cached, CNAME chains that leave the local table are continued upstream,
 * and every answer says where it came from.
 *
 * @module
 */

import { DnsTimeoutError, queryDns } from "../../lib/dns_client.ts";
import { replyTo } from "../../lib/dns_server.ts";
import { CLASS_IN, RCODE, RR_TYPE } from "../../protocol/dns/constants.ts";
import type {
  DnsMessage,
  EdnsOption,
  ResourceRecord,
} from "../../protocol/dns/message.ts";
import type { DnsCache } from "./cache.ts";
import { lookup, type Zone } from "./zone.ts";

/**
 * EDNS option (from the local/experimental range, RFC 6891 §9) a client
 * sends empty to ask where its answer came from; the local server answers
 * with the path as UTF-8 text. `dig` shows unknown options as hex.
 */
export const EXPLAIN_OPTION = 65_001;

/** Where an answer came from. */
export type AnswerSource = "local" | "cache" | "global" | "none" | "error";

/** A reply and the path it took. */
export interface Resolution {
  readonly reply: DnsMessage;
  readonly source: AnswerSource;
  /** One line for the query log and `--explain`. */
  readonly path: string;
}

/** Options for {@linkcode LocalResolver}. */
export interface LocalResolverOptions {
  /** The local table(s), as zones with origin "". Read on every query. */
  zones: () => readonly Zone[];
  /** Absent: every query goes upstream (`--no-cache`). */
  cache?: DnsCache | undefined;
  upstream: { hostname: string; port: number };
  /** Per try (ms). */
  timeoutMs?: number;
  /** Extra UDP tries. */
  retries?: number;
}

const encoder = new TextEncoder();

interface Found {
  rcode: number;
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  source: AnswerSource;
  path: string[];
  /** Whether the answer is from our own table (AA). */
  authoritative: boolean;
}

/**
 * Resolves queries for the local server.
 *
 * @example
 * ```ts
 * const resolver = new LocalResolver({ zones: () => store.zones, cache, upstream: { hostname: "127.0.0.1", port } });
 * const { reply, source } = await resolver.resolve(query);
 * ```
 */
export class LocalResolver {
  #options: LocalResolverOptions;

  /** Creates the resolver. */
  constructor(options: LocalResolverOptions) {
    this.#options = options;
  }

  /** Answers `query` (one question). */
  async resolve(query: DnsMessage): Promise<Resolution> {
    const question = query.questions[0]!;
    let found: Found;
    if (query.flags.opcode !== 0) {
      found = {
        rcode: RCODE.NOTIMP,
        answers: [],
        authorities: [],
        source: "none",
        path: ["opcode not implemented"],
        authoritative: false,
      };
    } else if (question.class !== CLASS_IN) {
      found = {
        rcode: RCODE.REFUSED,
        answers: [],
        authorities: [],
        source: "none",
        path: ["class not served"],
        authoritative: false,
      };
    } else {
      // Table and cache answers come back as they are, not in a promise:
      // most queries wait on nothing, and promises cost per query.
      const pending = this.#find(
        question.name,
        question.type,
        query.flags.rd,
        0,
      );
      found = pending instanceof Promise ? await pending : pending;
    }
    const base = replyTo(query, {
      ra: true,
      aa: found.authoritative,
      rcode: found.rcode,
    });
    const path = found.path.join(" → ");
    const wantsPath =
      query.edns?.options.some((o) => o.code === EXPLAIN_OPTION) ?? false;
    const options: EdnsOption[] = wantsPath
      ? [{ code: EXPLAIN_OPTION, data: encoder.encode(path) }]
      : [];
    const reply: DnsMessage = {
      ...base,
      answers: found.answers,
      authorities: found.authorities,
      ...(base.edns ? { edns: { ...base.edns, options } } : {}),
    };
    return { reply, source: found.source, path };
  }

  #find(
    name: string,
    type: number,
    recursion: boolean,
    depth: number,
  ): Found | Promise<Found> {
    const local = lookup(this.#options.zones(), name, type);
    switch (local.kind) {
      case "answer":
        return {
          rcode: RCODE.NOERROR,
          answers: local.answers,
          authorities: [],
          source: "local",
          path: ["local table"],
          authoritative: true,
        };
      case "nodata":
        return {
          rcode: RCODE.NOERROR,
          answers: local.answers,
          authorities: [local.soa],
          source: "local",
          path: ["local table (no such type)"],
          authoritative: true,
        };
      case "nxdomain":
        return {
          rcode: RCODE.NXDOMAIN,
          answers: local.answers,
          authorities: [local.soa],
          source: "local",
          path: ["local table (no such name)"],
          authoritative: true,
        };
      case "loop":
        return {
          rcode: RCODE.SERVFAIL,
          answers: [],
          authorities: [],
          source: "error",
          path: ["CNAME loop in the local table"],
          authoritative: false,
        };
      case "cname_out": {
        if (depth > 0) break;
        // The chain leaves our table: finish it from the cache or upstream.
        const join = (rest: Found): Found => ({
          ...rest,
          answers: [...local.answers, ...rest.answers],
          path: [`local table CNAME → ${local.target}`, ...rest.path],
          authoritative: false,
        });
        const rest = this.#remote(local.target, type, recursion);
        return rest instanceof Promise ? rest.then(join) : join(rest);
      }
      case "refused":
        break;
    }
    return this.#remote(name, type, recursion);
  }

  #remote(
    name: string,
    type: number,
    recursion: boolean,
  ): Found | Promise<Found> {
    const cache = this.#options.cache;
    const hit = cache?.get(name, type);
    if (hit !== undefined) {
      const ttl = hit.kind === "answer" ? hit.records[0]?.ttl : hit.soa.ttl;
      const label = `cache hit (${
        hit.kind === "answer" ? "answer" : hit.kind
      }, ${ttl}s left)`;
      return hit.kind === "answer"
        ? {
          rcode: RCODE.NOERROR,
          answers: hit.records,
          authorities: [],
          source: "cache",
          path: [label],
          authoritative: false,
        }
        : {
          rcode: hit.kind === "nxdomain" ? RCODE.NXDOMAIN : RCODE.NOERROR,
          answers: hit.records,
          authorities: [hit.soa],
          source: "cache",
          path: [label],
          authoritative: false,
        };
    }
    if (!recursion) {
      // RD=0: answer only from what we hold; asking upstream is recursion.
      return {
        rcode: RCODE.NOERROR,
        answers: [],
        authorities: [],
        source: "none",
        path: ["not held; recursion not desired"],
        authoritative: false,
      };
    }
    return this.#upstream(name, type);
  }

  /** Asks the global server, and caches what it says. */
  async #upstream(name: string, type: number): Promise<Found> {
    const cache = this.#options.cache;
    const { hostname, port } = this.#options.upstream;
    const where = `${hostname}:${port}`;
    const start = performance.now();
    let response: DnsMessage;
    let tcp: boolean;
    try {
      ({ response, tcp } = await queryDns({ name, type }, {
        hostname,
        port,
        timeoutMs: this.#options.timeoutMs ?? 2000,
        retries: this.#options.retries ?? 2,
        edns: { udpSize: 1232 },
      }));
    } catch (error) {
      const reason = error instanceof DnsTimeoutError
        ? error.message
        : `upstream failed: ${(error as Error).message}`;
      return {
        rcode: RCODE.SERVFAIL,
        answers: [],
        authorities: [],
        source: "error",
        path: [`global ${where}: ${reason}`],
        authoritative: false,
      };
    }
    const ms = (performance.now() - start).toFixed(1);
    const rcode = response.flags.rcode;
    const via = `global ${where}${
      tcp ? " over TCP (UDP answer truncated)" : ""
    }, ${ms} ms`;
    const answers = [...response.answers];
    const soa = response.authorities.find((r) => r.type === RR_TYPE.SOA);
    let stored = false;
    if (cache) {
      if (rcode === RCODE.NXDOMAIN && soa) {
        cache.putNegative(name, type, "nxdomain", soa, answers);
        stored = true;
      } else if (
        rcode === RCODE.NOERROR &&
        answers.some((r) => r.type === type || type === RR_TYPE.ANY)
      ) {
        cache.putAnswer(name, type, answers);
        stored = true;
      } else if (rcode === RCODE.NOERROR && soa) {
        cache.putNegative(name, type, "nodata", soa, answers);
        stored = true;
      }
    }
    return {
      rcode,
      answers,
      authorities: soa ? [soa] : [],
      source: "global",
      path: [
        `${via} (${
          rcode === RCODE.NXDOMAIN
            ? "no such name"
            : rcode === RCODE.NOERROR
            ? (answers.length ? "answer" : "no data")
            : `rcode ${rcode}`
        })${stored ? ", cached" : ""}`,
      ],
      authoritative: false,
    };
  }
}
