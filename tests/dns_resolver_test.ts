/**
 * In-process integration tests of the local DNS server's resolver
 * (`LocalResolver`), its tables (`TableStore`) and the dns-client's
 * `resolveName`, with a real global `DnsServer` (authoritative over the
 * testdata zones) as upstream, or a fake upstream made of raw sockets that
 * misbehaves on purpose. Cache time is an injected clock: nothing waits for
 * a TTL to run out.
 *
 * @module
 */

import assert from "node:assert/strict";
import { queryDns, type QueryOptions } from "../lib/dns_client.ts";
import { DnsServer } from "../lib/dns_server.ts";
import { Logger } from "../lib/log.ts";
import { CLASS_IN, RCODE, RR_TYPE } from "../protocol/dns/constants.ts";
import {
  decodeMessage,
  type DnsMessage,
  encodeMessage,
  type ResourceRecord,
} from "../protocol/dns/message.ts";
import { frameTcp } from "../protocol/dns/tcp.ts";
import { answerAuthoritatively } from "../roles/dns/authority.ts";
import { DnsCache } from "../roles/dns/cache.ts";
import { formatNameResult, resolveName } from "../roles/dns/client.ts";
import {
  EXPLAIN_OPTION,
  LocalResolver,
  type LocalResolverOptions,
} from "../roles/dns/resolver.ts";
import { parseTable } from "../roles/dns/table.ts";
import { TableStore } from "../roles/dns/table_store.ts";
import { makeZone, type Zone } from "../roles/dns/zone.ts";
import {
  dnsQuery,
  openUdp,
  readDnsMessages,
  receiveWithin,
  within,
  writeAll,
} from "./_raw_peer.ts";
import { closedPort, tempDir } from "./_util.ts";

const LOOPBACK = "127.0.0.1";
const WAIT_MS = 2000;
const decoder = new TextDecoder();

function quietLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: new Logger({ name: "dns", sink: (line) => lines.push(line) }),
    lines,
  };
}

async function readTestdata(file: string): Promise<string> {
  return await Deno.readTextFile(
    new URL(`../testdata/dns/${file}`, import.meta.url),
  );
}

async function globalZones(): Promise<Zone[]> {
  return [
    makeZone(
      "edu",
      parseTable(await readTestdata("global_edu_dns.txt"), "edu.txt", {
        origin: "edu",
      }),
    ),
    makeZone(
      "com",
      parseTable(await readTestdata("global_com_dns.txt"), "com.txt", {
        origin: "com",
      }),
    ),
  ];
}

async function localZone(): Promise<Zone> {
  return makeZone(
    "",
    parseTable(await readTestdata("local_dns.txt"), "local_dns.txt"),
  );
}

/** A query the global server received, and from where. */
interface Seen {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly peer: string;
}

/** The in-process global server, counting the queries it answers. */
interface Global extends AsyncDisposable {
  readonly server: DnsServer;
  readonly port: number;
  readonly seen: Seen[];
}

async function startGlobal(
  rewrite: (reply: DnsMessage) => DnsMessage = (reply) => reply,
): Promise<Global> {
  const zones = await globalZones();
  const seen: Seen[] = [];
  const server = new DnsServer({
    log: quietLog().log,
    handler: (query, context) => {
      const q = query.questions[0]!;
      seen.push({
        id: query.id,
        name: q.name,
        type: q.type,
        peer: context.peer,
      });
      return rewrite(answerAuthoritatively(zones, query));
    },
  });
  return {
    server,
    port: server.addr.port,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A clock that only moves when told to. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_700_000_000_000;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

function resolverFor(
  port: number,
  options: Partial<LocalResolverOptions> & { zone?: Zone } = {},
): LocalResolver {
  const { zone, ...rest } = options;
  return new LocalResolver({
    zones: () => (zone ? [zone] : []),
    upstream: { hostname: LOOPBACK, port },
    timeoutMs: 1000,
    retries: 0,
    ...rest,
  });
}

/** A dns-local server: DnsServer answering through `resolver`. */
function localServer(resolver: LocalResolver): DnsServer {
  return new DnsServer({
    log: quietLog().log,
    handler: async (query) => (await resolver.resolve(query)).reply,
  });
}

function addresses(records: readonly ResourceRecord[]): string[] {
  return records.flatMap((r) => "address" in r.data ? [r.data.address] : []);
}

/** A query with a random id, as a stub resolver would send. */
function query(
  name: string,
  type: number = RR_TYPE.A,
  options: Parameters<typeof dnsQuery>[3] = {},
): DnsMessage {
  const [id] = crypto.getRandomValues(new Uint16Array(1));
  return dnsQuery(id!, name, type, options);
}

// ---- Local table, cache, upstream ----

Deno.test("LocalResolver answers a name in its own table with AA and source local, without asking the global server", async () => {
  await using global = await startGlobal();
  const resolver = resolverFor(global.port, { zone: await localZone() });
  const { reply, source, path } = await resolver.resolve(query("WWW.skku.edu"));
  assert.equal(source, "local");
  assert.equal(path, "local table");
  assert.equal(reply.flags.aa, true);
  assert.equal(reply.flags.ra, true);
  assert.equal(reply.flags.rcode, RCODE.NOERROR);
  assert.deepEqual(addresses(reply.answers), ["192.0.2.10"]);
  assert.deepEqual(global.seen, []);
});

Deno.test("LocalResolver asks the global server on a miss, then answers from the cache with TTLs counted down until they run out", async () => {
  await using global = await startGlobal();
  const clock = manualClock();
  const cache = new DnsCache({ maxEntries: 100, now: clock.now });
  const resolver = resolverFor(global.port, { zone: await localZone(), cache });

  const first = await resolver.resolve(query("www.mit.edu"));
  assert.equal(first.source, "global");
  assert.equal(first.reply.flags.aa, false);
  assert.deepEqual(
    first.reply.answers.map((r) => [r.ttl, r.data]),
    [[3600, { type: RR_TYPE.A, address: "203.0.113.10" }]],
  );
  assert.match(
    first.path,
    /^global 127\.0\.0\.1:\d+, [\d.]+ ms \(answer\), cached$/,
  );
  assert.equal(global.seen.length, 1);

  clock.advance(10_500);
  const second = await resolver.resolve(query("www.mit.edu"));
  assert.equal(second.source, "cache");
  assert.equal(second.path, "cache hit (answer, 3590s left)");
  assert.deepEqual(second.reply.answers.map((r) => r.ttl), [3590]);
  assert.equal(global.seen.length, 1, "the cache answered");

  clock.advance(3_589_499); // 3599.999 s after the first answer
  const last = await resolver.resolve(query("www.mit.edu"));
  assert.equal(last.source, "cache");
  assert.deepEqual(last.reply.answers.map((r) => r.ttl), [1]);

  clock.advance(1);
  const expired = await resolver.resolve(query("www.mit.edu"));
  assert.equal(expired.source, "global");
  assert.deepEqual(expired.reply.answers.map((r) => r.ttl), [3600]);
  assert.equal(global.seen.length, 2);
});

Deno.test("LocalResolver caches NXDOMAIN and NODATA for the lesser of the SOA's TTL and its minimum, then asks again", async () => {
  // The global server's SOA TTL and minimum differ on purpose.
  const soaTimes = new Map([["com", { ttl: 100, minimum: 20 }], ["edu", {
    ttl: 15,
    minimum: 60,
  }]]);
  await using global = await startGlobal((reply) => ({
    ...reply,
    authorities: reply.authorities.map((r) => {
      const times = soaTimes.get(r.name);
      return times && "minimum" in r.data
        ? { ...r, ttl: times.ttl, data: { ...r.data, minimum: times.minimum } }
        : r;
    }),
  }));
  const clock = manualClock();
  const cache = new DnsCache({ maxEntries: 100, now: clock.now });
  const resolver = resolverFor(global.port, { cache });
  const cases = [
    ["nosuch.example.com", RR_TYPE.A, RCODE.NXDOMAIN, 20],
    ["www.mit.edu", RR_TYPE.AAAA, RCODE.NOERROR, 15],
  ] as const;
  for (const [name, type, rcode, seconds] of cases) {
    const asked = global.seen.length;
    const first = await resolver.resolve(query(name, type));
    assert.equal(first.source, "global");
    assert.equal(first.reply.flags.rcode, rcode);
    assert.equal(first.reply.authorities[0]?.type, RR_TYPE.SOA);

    clock.advance(seconds * 1000 - 1);
    const cached = await resolver.resolve(query(name, type));
    assert.equal(cached.source, "cache", `${name} is cached`);
    assert.equal(cached.reply.flags.rcode, rcode);
    assert.deepEqual(cached.reply.answers, []);
    assert.equal(cached.reply.authorities[0]?.type, RR_TYPE.SOA);
    assert.equal(
      cached.reply.authorities[0]?.ttl,
      1,
      "the SOA's TTL counts down",
    );
    assert.equal(global.seen.length, asked + 1);

    clock.advance(1);
    const expired = await resolver.resolve(query(name, type));
    assert.equal(
      expired.source,
      "global",
      `${name} expired after ${seconds} s`,
    );
    assert.equal(global.seen.length, asked + 2);
  }
});

Deno.test("LocalResolver without a cache (--no-cache) sends every query upstream", async () => {
  await using global = await startGlobal();
  const resolver = resolverFor(global.port, {
    zone: await localZone(),
    cache: undefined,
  });
  for (let i = 0; i < 3; i++) {
    const found = await resolver.resolve(query("www.mit.edu"));
    assert.equal(found.source, "global");
    assert.doesNotMatch(found.path, /cached/);
    const missing = await resolver.resolve(query("nosuch.example.com"));
    assert.equal(missing.source, "global");
    assert.equal(missing.reply.flags.rcode, RCODE.NXDOMAIN);
  }
  assert.deepEqual(
    global.seen.map((s) => s.name),
    Array(3).fill(["www.mit.edu", "nosuch.example.com"]).flat(),
  );
});

Deno.test("LocalResolver continues a local CNAME at the global server and answers with the whole chain", async () => {
  await using global = await startGlobal();
  const clock = manualClock();
  const cache = new DnsCache({ maxEntries: 100, now: clock.now });
  const resolver = resolverFor(global.port, { zone: await localZone(), cache });
  const chain = [
    ["wiki.skku.edu", { type: RR_TYPE.CNAME, target: "docs.mit.edu" }],
    ["docs.mit.edu", { type: RR_TYPE.CNAME, target: "web.mit.edu" }],
    ["web.mit.edu", { type: RR_TYPE.CNAME, target: "www.mit.edu" }],
    ["www.mit.edu", { type: RR_TYPE.A, address: "203.0.113.10" }],
  ];
  const first = await resolver.resolve(query("wiki.skku.edu"));
  assert.equal(first.source, "global");
  assert.equal(first.reply.flags.aa, false, "part of it is not ours");
  assert.equal(first.reply.flags.rcode, RCODE.NOERROR);
  assert.deepEqual(first.reply.answers.map((r) => [r.name, r.data]), chain);
  assert.match(first.path, /^local table CNAME → docs\.mit\.edu → global /);
  assert.deepEqual(global.seen.map((s) => s.name), ["docs.mit.edu"]);

  const again = await resolver.resolve(query("wiki.skku.edu"));
  assert.equal(again.source, "cache");
  assert.deepEqual(again.reply.answers.map((r) => [r.name, r.data]), chain);
  assert.equal(global.seen.length, 1);
});

Deno.test("LocalResolver with RD=0 answers only from its table and cache and never asks upstream", async () => {
  await using global = await startGlobal();
  const clock = manualClock();
  const cache = new DnsCache({ maxEntries: 100, now: clock.now });
  const resolver = resolverFor(global.port, { zone: await localZone(), cache });

  const notHeld = await resolver.resolve(
    query("www.mit.edu", RR_TYPE.A, { rd: false }),
  );
  assert.equal(notHeld.source, "none");
  assert.equal(notHeld.reply.flags.rd, false);
  assert.equal(notHeld.reply.flags.rcode, RCODE.NOERROR);
  assert.deepEqual(notHeld.reply.answers, []);
  assert.deepEqual(global.seen, []);

  const local = await resolver.resolve(
    query("www.skku.edu", RR_TYPE.A, { rd: false }),
  );
  assert.equal(local.source, "local");
  assert.deepEqual(addresses(local.reply.answers), ["192.0.2.10"]);

  await resolver.resolve(query("www.mit.edu")); // RD=1 fills the cache
  assert.equal(global.seen.length, 1);
  const cached = await resolver.resolve(
    query("www.mit.edu", RR_TYPE.A, { rd: false }),
  );
  assert.equal(cached.source, "cache");
  assert.deepEqual(addresses(cached.reply.answers), ["203.0.113.10"]);
  assert.equal(global.seen.length, 1);
});

Deno.test("dns-local returns the answer's path in the EXPLAIN option only when the query asks for it", async () => {
  await using global = await startGlobal();
  const resolver = resolverFor(global.port, {
    zone: await localZone(),
    cache: new DnsCache({ maxEntries: 100, now: manualClock().now }),
  });
  await using local = localServer(resolver);
  const ask = (name: string, edns?: QueryOptions["edns"]) =>
    queryDns({ name, type: RR_TYPE.A }, {
      hostname: LOOPBACK,
      port: local.addr.port,
      timeoutMs: WAIT_MS,
      retries: 0,
      edns,
    });
  const explain = [{ code: EXPLAIN_OPTION, data: new Uint8Array() }];
  const explained = async (name: string) => {
    const { response } = await ask(name, { udpSize: 1232, options: explain });
    const options = response.edns?.options ?? [];
    assert.equal(options.length, 1);
    assert.equal(options[0]?.code, EXPLAIN_OPTION);
    return decoder.decode(options[0]?.data);
  };
  assert.equal(await explained("www.skku.edu"), "local table");
  assert.match(
    await explained("www.mit.edu"),
    /^global 127\.0\.0\.1:\d+, [\d.]+ ms \(answer\), cached$/,
  );
  assert.equal(
    await explained("www.mit.edu"),
    "cache hit (answer, 3600s left)",
  );

  const quiet = await ask("www.mit.edu", { udpSize: 1232 });
  assert.deepEqual(quiet.response.edns?.options, []);
  assert.deepEqual(addresses(quiet.response.answers), ["203.0.113.10"]);
  const plain = await ask("www.mit.edu");
  assert.equal(plain.response.edns, undefined);
});

// ---- Upstream robustness, with a fake upstream ----

function reply(
  asked: DnsMessage,
  changes: Partial<DnsMessage> & { tc?: boolean } = {},
): Uint8Array {
  const { tc, ...rest } = changes;
  return encodeMessage({
    ...asked,
    flags: { ...asked.flags, qr: true, ra: true, tc: tc ?? false },
    ...rest,
  }).bytes;
}

function aRecord(name: string, address: string): ResourceRecord {
  return {
    name,
    type: RR_TYPE.A,
    class: CLASS_IN,
    ttl: 300,
    data: { type: RR_TYPE.A, address },
  };
}

Deno.test("LocalResolver drops upstream replies with a wrong id, a wrong question or from another port, and takes the right one", async () => {
  using upstream = openUdp();
  using stranger = openUdp();
  const port = (upstream.addr as Deno.NetAddr).port;
  const cache = new DnsCache({ maxEntries: 100, now: manualClock().now });
  const resolver = resolverFor(port, { cache, timeoutMs: WAIT_MS });
  const resolving = resolver.resolve(query("www.mit.edu"));

  const [bytes, from] = await receiveWithin(upstream, WAIT_MS, "the query");
  const asked = decodeMessage(bytes);
  const forged = (address: string) => [aRecord("www.mit.edu", address)];
  // Forgeries first; then the real answer.
  await upstream.send(
    reply({ ...asked, id: asked.id ^ 1 }, { answers: forged("6.6.6.1") }),
    from,
  );
  await upstream.send(
    reply(asked, {
      questions: [{ name: "www.evil.edu", type: RR_TYPE.A, class: CLASS_IN }],
      answers: [aRecord("www.evil.edu", "6.6.6.2")],
    }),
    from,
  );
  await upstream.send(
    reply(asked, {
      questions: [{ ...asked.questions[0]!, type: RR_TYPE.AAAA }],
      answers: [],
    }),
    from,
  );
  await stranger.send(reply(asked, { answers: forged("6.6.6.3") }), from);
  await upstream.send(reply(asked, { answers: forged("203.0.113.99") }), from);

  const { reply: answer, source } = await within(
    resolving,
    WAIT_MS,
    "resolve()",
  );
  assert.equal(source, "global");
  assert.deepEqual(addresses(answer.answers), ["203.0.113.99"]);
  // Only the real answer was cached.
  const again = await resolver.resolve(query("www.mit.edu"));
  assert.equal(again.source, "cache");
  assert.deepEqual(addresses(again.reply.answers), ["203.0.113.99"]);
});

Deno.test("LocalResolver answers SERVFAIL when the upstream never answers, after its retries and within (retries+1)×timeout", async () => {
  using upstream = openUdp();
  const port = (upstream.addr as Deno.NetAddr).port;
  const timeoutMs = 100;
  const retries = 2;
  const resolver = resolverFor(port, { timeoutMs, retries });
  const start = performance.now();
  const { reply, source, path } = await within(
    resolver.resolve(query("www.mit.edu")),
    WAIT_MS,
    "resolve()",
  );
  const elapsed = performance.now() - start;
  assert.equal(reply.flags.rcode, RCODE.SERVFAIL);
  assert.equal(source, "error");
  assert.deepEqual(reply.answers, []);
  assert.match(path, /no answer from 127\.0\.0\.1:\d+ after 3 tries of 100 ms/);
  const budget = (retries + 1) * timeoutMs;
  assert.ok(
    elapsed >= budget - 1,
    `gave up after ${elapsed} ms, before ${budget} ms`,
  );
  assert.ok(
    elapsed < budget + 250,
    `took ${elapsed} ms for a ${budget} ms budget`,
  );
  // The three tries reached the upstream, all the same query.
  const ids = [];
  for (let i = 0; i < retries + 1; i++) {
    const [bytes] = await receiveWithin(upstream, WAIT_MS, `try ${i + 1}`);
    const asked = decodeMessage(bytes);
    assert.equal(asked.questions[0]?.name, "www.mit.edu");
    ids.push(asked.id);
  }
  assert.equal(new Set(ids).size, 1);
});

/** A UDP socket and a TCP listener on one loopback port. */
function bindUdpAndTcp():
  & { udp: Deno.DatagramConn; tcp: Deno.Listener }
  & Disposable {
  for (let attempt = 0;; attempt++) {
    const udp = Deno.listenDatagram({
      transport: "udp",
      hostname: LOOPBACK,
      port: 0,
    });
    try {
      const tcp = Deno.listen({
        hostname: LOOPBACK,
        port: (udp.addr as Deno.NetAddr).port,
      });
      return {
        udp,
        tcp,
        [Symbol.dispose]() {
          for (const it of [udp, tcp]) {
            try {
              it.close();
            } catch { /* closed */ }
          }
        },
      };
    } catch (error) {
      udp.close();
      if (attempt >= 20 || !(error instanceof Deno.errors.AddrInUse)) {
        throw error;
      }
    }
  }
}

Deno.test("LocalResolver retries over TCP when the upstream's UDP answer is truncated, and returns the whole answer", async () => {
  using upstream = bindUdpAndTcp();
  const port = (upstream.tcp.addr as Deno.NetAddr).port;
  const resolver = resolverFor(port, { timeoutMs: WAIT_MS });
  const resolving = resolver.resolve(query("many.example.com"));
  const records = Array.from(
    { length: 40 },
    (_, i) => aRecord("many.example.com", `203.0.113.${101 + i}`),
  );

  const [bytes, from] = await receiveWithin(
    upstream.udp,
    WAIT_MS,
    "the UDP query",
  );
  const overUdp = decodeMessage(bytes);
  await upstream.udp.send(reply(overUdp, { tc: true }), from);

  using conn = await within(upstream.tcp.accept(), WAIT_MS, "the TCP retry");
  const [overTcp] = await readDnsMessages(conn, 1, WAIT_MS);
  assert.ok(overTcp);
  assert.deepEqual(overTcp.questions, overUdp.questions);
  await writeAll(conn, frameTcp(reply(overTcp, { answers: records })));

  const { reply: answer, path } = await within(resolving, WAIT_MS, "resolve()");
  assert.equal(answer.flags.tc, false);
  assert.equal(answer.answers.length, 40);
  assert.deepEqual(answer.answers, records);
  assert.match(path, /over TCP \(UDP answer truncated\)/);
});

Deno.test("LocalResolver gives consecutive upstream queries different, unpredictable ids and source ports", async () => {
  await using global = await startGlobal();
  const resolver = resolverFor(global.port, { cache: undefined });
  for (let i = 0; i < 16; i++) {
    const { source } = await resolver.resolve(query("www.mit.edu"));
    assert.equal(source, "global");
  }
  const ids = global.seen.map((s) => s.id);
  assert.equal(ids.length, 16);
  // 16 draws from 65536: a repeat is unlikely, two are (nearly) impossible.
  assert.ok(new Set(ids).size >= 15, `ids ${ids}`);
  const steps = new Set(
    ids.slice(1).map((id, i) => (id - ids[i]! + 0x10000) & 0xffff),
  );
  assert.ok(steps.size > 1, `ids ${ids} follow a fixed step`);
  assert.ok(
    new Set(global.seen.map((s) => s.peer)).size > 1,
    "fresh source ports",
  );
});

// ---- TableStore ----

/** Polls `check` until it returns true; bounded by `timeoutMs`. */
async function eventually(
  check: () => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function localAddress(store: TableStore, name: string): string | undefined {
  const records = store.zones[0]?.table.records.get(name) ?? [];
  return addresses(records)[0];
}

Deno.test("TableStore reloads a table rewritten in place", async () => {
  await using tmp = await tempDir({ prefix: "socklab_dns_" });
  const path = `${tmp.path}/local.txt`;
  await Deno.writeTextFile(path, "www.skku.edu 192.0.2.10\n");
  const { log } = quietLog();
  await using store = await TableStore.open({
    files: [{ origin: "", path }],
    log,
    sighup: false,
  });
  const resolver = new LocalResolver({
    zones: () => store.zones,
    upstream: { hostname: LOOPBACK, port: closedPort() },
  });
  assert.equal(localAddress(store, "www.skku.edu"), "192.0.2.10");

  await Deno.writeTextFile(
    path,
    "www.skku.edu 192.0.2.99\nnew.skku.edu 192.0.2.98\n",
  );
  await eventually(
    () =>
      store.reloads >= 1 &&
      localAddress(store, "www.skku.edu") === "192.0.2.99",
    "the reload",
  );
  const { reply, source } = await resolver.resolve(query("new.skku.edu"));
  assert.equal(source, "local");
  assert.deepEqual(addresses(reply.answers), ["192.0.2.98"]);
});

Deno.test("TableStore reloads a table replaced by writing a temporary file and renaming it over", async () => {
  await using tmp = await tempDir({ prefix: "socklab_dns_" });
  const path = `${tmp.path}/local.txt`;
  await Deno.writeTextFile(path, "www.skku.edu 192.0.2.10\n");
  await using store = await TableStore.open({
    files: [{ origin: "", path }],
    log: quietLog().log,
    sighup: false,
  });
  await Deno.writeTextFile(`${path}.tmp`, "www.skku.edu 192.0.2.77\n");
  await Deno.rename(`${path}.tmp`, path);
  await eventually(
    () => localAddress(store, "www.skku.edu") === "192.0.2.77",
    "the reload",
  );
  assert.ok(store.reloads >= 1);
});

Deno.test("TableStore rejects a rewrite with a bad line, keeps the old zones and logs file:line", async () => {
  await using tmp = await tempDir({ prefix: "socklab_dns_" });
  const path = `${tmp.path}/local.txt`;
  await Deno.writeTextFile(path, "www.skku.edu 192.0.2.10\n");
  const { log, lines } = quietLog();
  await using store = await TableStore.open({
    files: [{ origin: "", path }],
    log,
    sighup: false,
  });

  await Deno.writeTextFile(
    path,
    "www.skku.edu 192.0.2.50\nbad.skku.edu 192.0.2.300\n",
  );
  await eventually(
    () => lines.some((line) => line.includes("table rejected")),
    "the rejection to be logged",
  );
  const logged = lines.find((line) => line.includes("table rejected"))!;
  assert.match(logged, /^ERROR /);
  assert.ok(logged.includes(`${path}:2:`), logged);
  assert.equal(store.reloads, 0);
  assert.equal(localAddress(store, "www.skku.edu"), "192.0.2.10");

  // Still watching: the fixed file goes into service.
  await Deno.writeTextFile(path, "www.skku.edu 192.0.2.51\n");
  await eventually(
    () => localAddress(store, "www.skku.edu") === "192.0.2.51",
    "the fixed table",
  );
  assert.equal(store.reloads, 1);
});

Deno.test({
  name: "TableStore reloads its tables on SIGHUP",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using tmp = await tempDir({ prefix: "socklab_dns_" });
    const path = `${tmp.path}/local.txt`;
    await Deno.writeTextFile(path, "www.skku.edu 192.0.2.10\n");
    const { log, lines } = quietLog();
    await using store = await TableStore.open({
      files: [{ origin: "", path }],
      log,
      watch: false,
    });
    await Deno.writeTextFile(path, "www.skku.edu 192.0.2.33\n");
    assert.equal(store.reloads, 0, "not watching: only the signal reloads");
    Deno.kill(Deno.pid, "SIGHUP");
    await eventually(() => store.reloads >= 1, "the SIGHUP reload");
    assert.equal(localAddress(store, "www.skku.edu"), "192.0.2.33");
    assert.ok(lines.some((line) => line.includes("SIGHUP: reloading tables")));
  },
});

Deno.test("dns-local answers every query while its table is being reloaded", async () => {
  await using tmp = await tempDir({ prefix: "socklab_dns_" });
  const path = `${tmp.path}/local.txt`;
  const versions = ["www.skku.edu 192.0.2.10\n", "www.skku.edu 192.0.2.11\n"];
  await Deno.writeTextFile(path, versions[0]!);
  await using store = await TableStore.open({
    files: [{ origin: "", path }],
    log: quietLog().log,
    watch: false,
    sighup: false,
  });
  const resolver = new LocalResolver({
    zones: () => store.zones,
    upstream: { hostname: LOOPBACK, port: closedPort() },
  });
  await using local = localServer(resolver);
  const rounds = 10;
  for (let round = 1; round <= rounds; round++) {
    await Deno.writeTextFile(path, versions[round % 2]!);
    const answers = Array.from(
      { length: 10 },
      () =>
        queryDns({ name: "www.skku.edu", type: RR_TYPE.A }, {
          hostname: LOOPBACK,
          port: local.addr.port,
          timeoutMs: WAIT_MS,
          retries: 0,
        }),
    );
    const [, ...results] = await Promise.all([store.reload(), ...answers]);
    for (const { response } of results) {
      assert.equal(response.flags.rcode, RCODE.NOERROR);
      assert.equal(response.flags.aa, true);
      const [address, ...more] = addresses(response.answers);
      assert.deepEqual(more, []);
      assert.ok(address === "192.0.2.10" || address === "192.0.2.11", address);
    }
  }
  assert.equal(store.reloads, rounds);
  assert.equal(localAddress(store, "www.skku.edu"), "192.0.2.10");
});

// ---- dns-client ----

Deno.test("resolveName() collects A and AAAA addresses from the local server, and formatNameResult() prints them on one line", async () => {
  await using global = await startGlobal();
  const resolver = resolverFor(global.port, {
    zone: await localZone(),
    cache: new DnsCache({ maxEntries: 100, now: manualClock().now }),
  });
  await using local = localServer(resolver);
  const options = {
    hostname: LOOPBACK,
    port: local.addr.port,
    timeoutMs: WAIT_MS,
    retries: 0,
    edns: {
      udpSize: 1232,
      options: [{ code: EXPLAIN_OPTION, data: new Uint8Array() }],
    },
  };
  const portal = await resolveName("portal.skku.edu", options);
  assert.equal(portal.kind, "found");
  assert.deepEqual(portal.paths, ["A: local table", "AAAA: local table"]);
  assert.equal(
    formatNameResult(portal),
    "portal.skku.edu 192.0.2.12 2001:db8:5::12",
  );
  const stanford = await resolveName("www.stanford.edu", options);
  assert.equal(
    formatNameResult(stanford),
    "www.stanford.edu 203.0.113.20 203.0.113.21 2001:db8:e0::20",
  );
  assert.equal(
    formatNameResult(await resolveName("wiki.skku.edu", options)),
    "wiki.skku.edu 203.0.113.10",
  );
});

Deno.test("resolveName() reports Not found for a name that does not exist", async () => {
  await using global = await startGlobal();
  const resolver = resolverFor(global.port, { zone: await localZone() });
  await using local = localServer(resolver);
  const options = {
    hostname: LOOPBACK,
    port: local.addr.port,
    timeoutMs: WAIT_MS,
    retries: 0,
  };
  const missing = await resolveName("nosuch.example.com", options);
  assert.equal(missing.kind, "not_found");
  assert.equal(formatNameResult(missing), "nosuch.example.com Not found");
  // A name no table serves is refused upstream: not found either.
  assert.equal(
    formatNameResult(await resolveName("www.example.org", options)),
    "www.example.org Not found",
  );
});

Deno.test("resolveName() reports an error line when the server cannot be reached", async () => {
  const result = await resolveName("www.skku.edu", {
    hostname: LOOPBACK,
    port: closedPort(),
    timeoutMs: 100,
    retries: 0,
  });
  assert.equal(result.kind, "error");
  assert.match(
    formatNameResult(result),
    /^www\.skku\.edu error: no answer from 127\.0\.0\.1:\d+ after 1 tries of 100 ms/,
  );
});
