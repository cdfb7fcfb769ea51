/**
 * A DNS stub client: one question to one server over UDP, with a random id,
 * answers matched on id and question (late or forged replies are dropped),
 * retries on timeout, and a retry over TCP when the answer is truncated.
 *
 * @module
 */

import { CLASS_IN } from "../protocol/dns/constants.ts";
import {
  canonicalName,
  decodeMessage,
  type DnsMessage,
  type EdnsOption,
  encodeMessage,
  type Question,
} from "../protocol/dns/message.ts";
import { frameTcp, TcpMessageReader } from "../protocol/dns/tcp.ts";

/** No matching answer arrived after every try. */
export class DnsTimeoutError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DnsTimeoutError";
  }
}

/** Options for {@linkcode queryDns}. */
export interface QueryOptions {
  hostname: string;
  port: number;
  /** Per try (ms). Default 2000. */
  timeoutMs?: number;
  /** Extra UDP tries after the first. Default 2. */
  retries?: number;
  /** Ask over TCP from the start. */
  tcp?: boolean;
  /** Ask recursion (RD). Default true. */
  recursionDesired?: boolean;
  /** Send an OPT record with this UDP size and these options. */
  edns?: { udpSize: number; options?: readonly EdnsOption[] } | undefined;
  signal?: AbortSignal;
}

/** What a query returned and how. */
export interface QueryResult {
  readonly response: DnsMessage;
  /** Whether the final answer came over TCP (after a truncated UDP answer, or asked so). */
  readonly tcp: boolean;
  /** UDP tries it took (0 when asked over TCP). */
  readonly tries: number;
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0]!;
}

function sameQuestion(a: Question, b: Question | undefined): boolean {
  return b !== undefined && a.type === b.type && a.class === b.class &&
    canonicalName(a.name) === canonicalName(b.name);
}

/** Whether `bytes` is the answer to `query` (id, QR and question all match). */
function matches(bytes: Uint8Array, query: DnsMessage): DnsMessage | undefined {
  let message: DnsMessage;
  try {
    message = decodeMessage(bytes);
  } catch {
    return undefined;
  }
  if (message.id !== query.id || !message.flags.qr) return undefined;
  return sameQuestion(query.questions[0]!, message.questions[0])
    ? message
    : undefined;
}

/**
 * Asks one question.
 *
 * @example
 * ```ts
 * const { response } = await queryDns({ name: "www.example.com", type: 1 }, { hostname: "127.0.0.1", port });
 * ```
 */
export async function queryDns(
  question: { name: string; type: number },
  options: QueryOptions,
): Promise<QueryResult> {
  const query: DnsMessage = {
    id: randomId(),
    flags: {
      qr: false,
      opcode: 0,
      aa: false,
      tc: false,
      rd: options.recursionDesired ?? true,
      ra: false,
      ad: false,
      cd: false,
      rcode: 0,
    },
    questions: [{ name: question.name, type: question.type, class: CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
    ...(options.edns
      ? {
        edns: {
          udpSize: options.edns.udpSize,
          extendedRcode: 0,
          version: 0,
          dnssecOk: false,
          options: options.edns.options ?? [],
        },
      }
      : {}),
  };
  const timeoutMs = options.timeoutMs ?? 2000;
  if (options.tcp) {
    return {
      response: await queryTcp(query, options, timeoutMs),
      tcp: true,
      tries: 0,
    };
  }
  const response = await queryUdp(query, options, timeoutMs);
  if (response.message.flags.tc) {
    return {
      response: await queryTcp(query, options, timeoutMs),
      tcp: true,
      tries: response.tries,
    };
  }
  return { response: response.message, tcp: false, tries: response.tries };
}

async function queryUdp(
  query: DnsMessage,
  options: QueryOptions,
  timeoutMs: number,
): Promise<{ message: DnsMessage; tries: number }> {
  const where = `${options.hostname}:${options.port}`;
  const target: Deno.NetAddr = {
    transport: "udp",
    hostname: options.hostname,
    port: options.port,
  };
  const loopback = options.hostname === "localhost" ||
    options.hostname.startsWith("127.") ||
    options.hostname === "::1";
  // A fresh socket (and so a random source port) per query, as RFC 5452 advises.
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: loopback
      ? (options.hostname === "::1" ? "::1" : "127.0.0.1")
      : (options.hostname.includes(":") ? "::" : "0.0.0.0"),
    port: 0,
  });
  const tries = 1 + (options.retries ?? 2);
  try {
    const bytes = encodeMessage(query).bytes;
    const buffer = new Uint8Array(65_536);
    // One receive at a time, carried across tries: an answer to an earlier
    // try that arrives late is still this query's answer.
    let receiving: Promise<[Uint8Array, Deno.Addr] | undefined> | undefined;
    for (let attempt = 1; attempt <= tries; attempt++) {
      options.signal?.throwIfAborted();
      await socket.send(bytes, target);
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<"timeout">((
          resolve,
        ) => (timer = setTimeout(() => resolve("timeout"), left)));
        receiving ??= socket.receive(buffer).catch(() => undefined);
        const got = await Promise.race([receiving, timeout]);
        clearTimeout(timer);
        if (got === "timeout") break;
        receiving = undefined;
        if (got === undefined) continue;
        const [data, from] = got;
        const addr = from as Deno.NetAddr;
        // Only the server we asked may answer, and only this query.
        if (addr.port !== options.port) continue;
        const message = matches(data, query);
        if (message) return { message, tries: attempt };
      }
    }
  } finally {
    socket.close();
  }
  throw new DnsTimeoutError(
    `no answer from ${where} after ${tries} tries of ${timeoutMs} ms`,
  );
}

async function queryTcp(
  query: DnsMessage,
  options: QueryOptions,
  timeoutMs: number,
): Promise<DnsMessage> {
  const where = `${options.hostname}:${options.port}`;
  const signal = options.signal
    ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
    : AbortSignal.timeout(timeoutMs);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({
      hostname: options.hostname,
      port: options.port,
      signal,
    });
  } catch (error) {
    throw new DnsTimeoutError(
      `cannot reach ${where} over TCP: ${(error as Error).message}`,
    );
  }
  const reader = new TcpMessageReader();
  const buffer = new Uint8Array(65_536);
  const onAbort = () => {
    try {
      conn.close();
    } catch { /* closed */ }
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const framed = frameTcp(encodeMessage(query).bytes);
    let at = 0;
    while (at < framed.length) at += await conn.write(framed.subarray(at));
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      for (const bytes of reader.push(buffer.subarray(0, n))) {
        const message = matches(bytes, query);
        if (message) return message;
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    onAbort();
  }
  throw new DnsTimeoutError(
    `no answer from ${where} over TCP within ${timeoutMs} ms`,
  );
}
