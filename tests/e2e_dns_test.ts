/**
 * HW3 end to end: `dns-global`, `dns-local` and `dns-client` run from
 * `main.ts` as separate processes, each under its own permission set (the
 * table-reload and big-answer tests under the compiled binary's grant, to
 * use tables in `.tmp/`), with `dig` as the real peer. Every test that
 * starts a server stops it with SIGTERM and checks that it exited 0 with its
 * stopped line; query logs are read after a barrier query, never by waiting.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join, normalize } from "node:path";
import { within } from "./_raw_peer.ts";
import {
  type Grant,
  type RoleProcess,
  ROOT,
  runRole,
  spawnRole,
  type TempDir,
  tempDir,
} from "./_util.ts";

const DNS_DIR = join(ROOT, "testdata/dns");

// ---------------------------------------------------------------------------
// dig

/** One resource record as dig prints it. */
interface DigRecord {
  readonly name: string;
  readonly ttl: number;
  readonly type: string;
  /** The RDATA, as dig prints it. */
  readonly data: string;
}

/** A parsed dig run. */
interface DigReply {
  readonly code: number;
  /** `NOERROR`, `NXDOMAIN`, … */
  readonly status: string;
  /** Header flags: `qr`, `aa`, `tc`, `rd`, `ra`. */
  readonly flags: ReadonlySet<string>;
  /** ANSWER / AUTHORITY counts from the header line. */
  readonly counts: { readonly answer: number; readonly authority: number };
  readonly answer: DigRecord[];
  readonly authority: DigRecord[];
  /** The transport of the answer shown, from the SERVER line. */
  readonly transport: string | undefined;
  /** dig saw TC and asked again over TCP. */
  readonly retriedOverTcp: boolean;
  readonly text: string;
}

/**
 * Runs `dig @127.0.0.1 -p PORT ARGS… +time=2 +tries=1` and parses its full
 * output: the header, the answer and authority sections, the SERVER line.
 */
async function dig(port: number, args: readonly string[]): Promise<DigReply> {
  const output = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), ...args, "+time=2", "+tries=1"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const header = /status: (\w+),/.exec(text);
  const flagLine =
    /;; flags:([\w ]*); QUERY: \d+, ANSWER: (\d+), AUTHORITY: (\d+)/
      .exec(text);
  assert.ok(
    output.code === 0 && header && flagLine,
    `dig ${args.join(" ")} got an answer (exit ${output.code}):\n${text}${
      new TextDecoder().decode(output.stderr)
    }`,
  );
  const sections: Record<string, DigRecord[]> = { ANSWER: [], AUTHORITY: [] };
  let section: DigRecord[] | undefined;
  for (const line of text.split("\n")) {
    const heading = /^;; (\w+) SECTION:$/.exec(line);
    if (heading) {
      section = sections[heading[1]!];
    } else if (line === "") {
      section = undefined;
    } else if (section && !line.startsWith(";")) {
      const [name = "", ttl = "", _class, type = "", ...data] = line.split(
        /\s+/,
      );
      section.push({ name, ttl: Number(ttl), type, data: data.join(" ") });
    }
  }
  return {
    code: output.code,
    status: header[1]!,
    flags: new Set(flagLine[1]!.trim().split(" ")),
    counts: { answer: Number(flagLine[2]), authority: Number(flagLine[3]) },
    answer: sections.ANSWER!,
    authority: sections.AUTHORITY!,
    transport: /^;; SERVER: .*\((UDP|TCP)\)$/m.exec(text)?.[1],
    retriedOverTcp: text.includes(";; Truncated, retrying in TCP mode."),
    text,
  };
}

/** The answer section as `name type data` lines, TTLs left out. */
function records(reply: DigReply): string[] {
  return reply.answer.map((r) => `${r.name} ${r.type} ${r.data}`);
}

// ---------------------------------------------------------------------------
// servers and their logs

/** A DNS server process and the port from its ready line. */
interface DnsServerProcess {
  readonly proc: RoleProcess;
  readonly role: string;
  readonly port: number;
  /** Set by {@linkcode stop}. */
  stopped: boolean;
}

/**
 * Waits for the ready line, `ROLE listening on udp://127.0.0.1:PORT and
 * tcp://127.0.0.1:PORT` (one port, both transports), and returns the port.
 */
async function startServer(
  proc: RoleProcess,
  role: string,
): Promise<DnsServerProcess> {
  const [, port = "", tcpPort] = await proc.waitFor(
    new RegExp(
      `^${role} listening on udp://127\\.0\\.0\\.1:(\\d+) and tcp://127\\.0\\.0\\.1:(\\d+)$`,
    ),
  );
  assert.equal(tcpPort, port, "UDP and TCP share one port");
  return { proc, role, port: Number(port), stopped: false };
}

/** SIGTERM; the server must exit 0 with its stopped line last. */
async function stop(server: DnsServerProcess): Promise<void> {
  server.stopped = true;
  server.proc.child.kill("SIGTERM");
  const status = await within(
    server.proc.status,
    10_000,
    `${server.role} to exit after SIGTERM`,
  );
  const stderr = server.proc.stderr;
  assert.equal(status.code, 0, stderr.join("\n"));
  assert.equal(stderr.at(-1), `INFO ${server.role}: stopped`);
}

/** One `query` line of a server's log. */
type QueryLogEntry = Readonly<Record<string, string>>;

/**
 * Every query line `server` has logged so far. A barrier query goes first:
 * the server logs each query before it replies, so once the barrier's line
 * is read, every earlier query's line has been read too. Barrier lines are
 * left out.
 */
async function queryLog(server: DnsServerProcess): Promise<QueryLogEntry[]> {
  const name = `barrier-${crypto.randomUUID().slice(0, 8)}.example.com`;
  // RD=0: dns-local answers from what it holds and never asks upstream.
  await dig(server.port, [name, "+norecurse"]);
  await server.proc.waitFor(
    new RegExp(`: query .*name=${name.replaceAll(".", "\\.")} `),
    5_000,
  );
  const prefix = `INFO ${server.role}: query `;
  return server.proc.stderr.filter((l) => l.startsWith(prefix)).map((line) => {
    const fields: Record<string, string> = {};
    for (
      const [, key = "", value = ""] of line.slice(prefix.length).matchAll(
        /(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g,
      )
    ) {
      fields[key] = value.startsWith('"') ? JSON.parse(value) : value;
    }
    return fields;
  }).filter((entry) => !entry.name?.startsWith("barrier-"));
}

/** `name type source transport` of each query log entry, in order. */
function summary(entries: readonly QueryLogEntry[]): string[] {
  return entries.map((e) => `${e.name} ${e.type} ${e.source} ${e.transport}`);
}

interface PairOptions {
  globalArgs?: readonly string[];
  localArgs?: readonly string[];
  globalGrant?: Grant;
}

/**
 * Starts dns-global, then dns-local pointed at it (each under its own
 * permission set, unless `globalGrant` says otherwise), runs `fn`, and stops
 * both with SIGTERM.
 */
async function withServers(
  options: PairOptions,
  fn: (global: DnsServerProcess, local: DnsServerProcess) => Promise<void>,
): Promise<void> {
  await using globalProc = spawnRole(
    "dns-global",
    ["--port", "0", ...options.globalArgs ?? []],
    { grant: options.globalGrant ?? "role" },
  );
  const global = await startServer(globalProc, "dns-global");
  await using localProc = spawnRole("dns-local", [
    "--port",
    "0",
    "--upstream",
    `127.0.0.1:${global.port}`,
    ...options.localArgs ?? [],
  ]);
  const local = await startServer(localProc, "dns-local");
  await fn(global, local);
  await stop(local);
  if (!global.stopped) await stop(global);
}

/** A temp dir inside the project's `.tmp/` (the client sets may write only there). */
function projectTempDir(prefix: string): Promise<TempDir> {
  return tempDir({ dir: join(ROOT, ".tmp"), prefix });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// answers

Deno.test("dns-local answers a local-table name authoritatively (qr aa rd ra): A, AAAA, and the same over TCP", async () => {
  await withServers({}, async (global, local) => {
    const a = await dig(local.port, ["www.skku.edu"]);
    assert.equal(a.status, "NOERROR");
    assert.deepEqual([...a.flags].sort(), ["aa", "qr", "ra", "rd"]);
    assert.deepEqual(records(a), ["www.skku.edu. A 192.0.2.10"]);
    assert.equal(a.answer[0]?.ttl, 3600, "the table's default $TTL");
    assert.equal(a.transport, "UDP");

    const aaaa = await dig(local.port, ["portal.skku.edu", "AAAA"]);
    assert.equal(aaaa.status, "NOERROR");
    assert.ok(aaaa.flags.has("aa"));
    assert.deepEqual(records(aaaa), ["portal.skku.edu. AAAA 2001:db8:5::12"]);

    const tcp = await dig(local.port, ["www.skku.edu", "+tcp"]);
    assert.equal(tcp.transport, "TCP");
    assert.equal(tcp.status, a.status);
    assert.deepEqual(tcp.flags, a.flags);
    assert.deepEqual(tcp.answer, a.answer);

    assert.deepEqual(summary(await queryLog(local)), [
      "www.skku.edu A local udp",
      "portal.skku.edu AAAA local udp",
      "www.skku.edu A local tcp",
    ]);
    const entry = (await queryLog(local))[0]!;
    assert.equal(entry.rcode, "NOERROR");
    assert.equal(entry.path, "local table");
    assert.match(entry.client ?? "", /^127\.0\.0\.1:\d+$/);
    assert.match(entry.ms ?? "", /^\d+(\.\d+)?$/);
    assert.deepEqual(await queryLog(global), [], "the global was not asked");
  });
});

Deno.test("CNAME chains: inside one global table, and from the local table into the global one", async () => {
  await withServers({}, async (global, local) => {
    const docs = await dig(global.port, ["docs.mit.edu"]);
    assert.equal(docs.status, "NOERROR");
    assert.deepEqual(records(docs), [
      "docs.mit.edu. CNAME web.mit.edu.",
      "web.mit.edu. CNAME www.mit.edu.",
      "www.mit.edu. A 203.0.113.10",
    ]);
    assert.equal(docs.answer[1]?.ttl, 600, "each record keeps its own TTL");

    const shop = await dig(global.port, ["shop.example.com"]);
    assert.deepEqual(records(shop), [
      "shop.example.com. CNAME www.example.com.",
      "www.example.com. A 198.51.100.80",
    ]);

    // wiki.skku.edu is a CNAME in the local table to a name only the global knows.
    const wiki = await dig(local.port, ["wiki.skku.edu"]);
    assert.equal(wiki.status, "NOERROR");
    assert.ok(!wiki.flags.has("aa"), "part of the answer is not ours");
    assert.deepEqual(records(wiki), [
      "wiki.skku.edu. CNAME docs.mit.edu.",
      "docs.mit.edu. CNAME web.mit.edu.",
      "web.mit.edu. CNAME www.mit.edu.",
      "www.mit.edu. A 203.0.113.10",
    ]);
    assert.equal(wiki.answer[0]?.ttl, 300, "the local table's $TTL 300");

    const [entry] = await queryLog(local);
    assert.equal(entry?.source, "global");
    assert.match(
      entry?.path ?? "",
      new RegExp(
        `^local table CNAME → docs\\.mit\\.edu → global 127\\.0\\.0\\.1:${global.port}, `,
      ),
    );
    assert.deepEqual(
      summary(await queryLog(global)),
      [
        "docs.mit.edu A zone udp",
        "shop.example.com A zone udp",
        "docs.mit.edu A zone udp",
      ],
      "the local server asked the global for the chain's target only",
    );
  });
});

Deno.test("NXDOMAIN and NODATA carry the zone's SOA in the authority section, from dns-global and through dns-local", async () => {
  await withServers({}, async (global, local) => {
    const nx = await dig(global.port, ["nosuch.example.com"]);
    assert.equal(nx.status, "NXDOMAIN");
    assert.ok(nx.flags.has("aa"));
    assert.equal(nx.counts.answer, 0);
    assert.equal(nx.authority.length, 1);
    assert.equal(nx.authority[0]?.name, "com.");
    assert.equal(nx.authority[0]?.type, "SOA");
    assert.equal(nx.authority[0]?.ttl, 60, "the default --negative-ttl");

    // www.mit.edu exists, but has no MX (mit.edu has).
    const nodata = await dig(global.port, ["www.mit.edu", "MX"]);
    assert.equal(nodata.status, "NOERROR");
    assert.equal(nodata.counts.answer, 0);
    assert.deepEqual(nodata.authority.map((r) => `${r.name} ${r.type}`), [
      "edu. SOA",
    ]);

    const viaLocal = await dig(local.port, ["nosuch.example.com"]);
    assert.equal(viaLocal.status, "NXDOMAIN");
    assert.deepEqual(viaLocal.authority.map((r) => `${r.name} ${r.type}`), [
      "com. SOA",
    ]);

    // NODATA from the local table itself: mail.skku.edu has only an A record.
    const localNodata = await dig(local.port, ["mail.skku.edu", "AAAA"]);
    assert.equal(localNodata.status, "NOERROR");
    assert.ok(localNodata.flags.has("aa"));
    assert.equal(localNodata.counts.answer, 0);
    assert.equal(localNodata.authority[0]?.type, "SOA");

    assert.deepEqual(
      (await queryLog(local)).map((e) => `${e.name} ${e.rcode} ${e.source}`),
      [
        "nosuch.example.com NXDOMAIN global",
        "mail.skku.edu NOERROR local",
      ],
    );
  });
});

Deno.test("dns-global is authoritative without recursion (aa, no ra) and REFUSES names outside its zones", async () => {
  await withServers({}, async (global) => {
    const answer = await dig(global.port, ["www.stanford.edu"]);
    assert.deepEqual([...answer.flags].sort(), ["aa", "qr", "rd"]);
    assert.deepEqual(records(answer).sort(), [
      "www.stanford.edu. A 203.0.113.20",
      "www.stanford.edu. A 203.0.113.21",
    ]);
    assert.match(answer.text, /recursion requested but not available/);

    const refused = await dig(global.port, ["example.org"]);
    assert.equal(refused.status, "REFUSED");
    assert.ok(!refused.flags.has("aa") && !refused.flags.has("ra"));
    assert.equal(refused.counts.answer, 0);
    assert.equal(refused.counts.authority, 0);
    assert.deepEqual(
      (await queryLog(global)).map((e) => `${e.name} ${e.rcode}`),
      ["www.stanford.edu NOERROR", "example.org REFUSED"],
    );
  });
});

Deno.test("40 A records do not fit 512 bytes: TC from dns-global, and dig's retry over TCP gets all 40, also through dns-local", async () => {
  const table = await Deno.readTextFile(join(DNS_DIR, "global_com_dns.txt"));
  const many = [...table.matchAll(/^many\.example\.com\s+(\S+)/gm)].map((m) =>
    m[1]!
  );
  assert.equal(many.length, 40);
  await withServers({}, async (global, local) => {
    const truncated = await dig(global.port, [
      "many.example.com",
      "+bufsize=512",
      "+ignore",
    ]);
    assert.ok(truncated.flags.has("tc"), truncated.text);
    assert.equal(truncated.transport, "UDP");
    assert.ok(truncated.answer.length < 40);

    const retried = await dig(global.port, [
      "many.example.com",
      "+bufsize=512",
    ]);
    assert.ok(retried.retriedOverTcp, retried.text);
    assert.equal(retried.transport, "TCP");
    assert.ok(!retried.flags.has("tc"));
    assert.deepEqual(retried.answer.map((r) => r.data).sort(), many.sort());

    const viaLocal = await dig(local.port, [
      "many.example.com",
      "+bufsize=512",
    ]);
    assert.ok(viaLocal.retriedOverTcp, viaLocal.text);
    assert.deepEqual(viaLocal.answer.map((r) => r.data).sort(), many.sort());
    assert.deepEqual(summary(await queryLog(local)), [
      "many.example.com A global udp",
      "many.example.com A cache tcp",
    ]);
    assert.deepEqual(summary(await queryLog(global)), [
      "many.example.com A zone udp",
      "many.example.com A zone udp",
      "many.example.com A zone tcp",
      // The local server asks with EDNS 1232: 40 records fit.
      "many.example.com A zone udp",
    ]);
  });
});

Deno.test("dns-local retries upstream over TCP when the global server's UDP answer is truncated", async () => {
  // 100 A records (~1.6 kB) do not fit even the 1232 bytes EDNS allows.
  await using tmp = await projectTempDir("e2e_dns_big_");
  const zone = join(tmp.path, "net.txt");
  const addresses = Array.from({ length: 100 }, (_, i) => `198.18.0.${i + 1}`);
  await Deno.writeTextFile(
    zone,
    addresses.map((a) => `big.example.net ${a}\n`).join(""),
  );
  await withServers(
    { globalArgs: ["--zone", `net=${zone}`], globalGrant: "binary" },
    async (global, local) => {
      const reply = await dig(local.port, ["big.example.net", "+tcp"]);
      assert.equal(reply.status, "NOERROR");
      assert.deepEqual(
        reply.answer.map((r) => r.data).sort(),
        addresses.sort(),
      );
      const [entry] = await queryLog(local);
      assert.equal(entry?.source, "global");
      assert.match(
        entry?.path ?? "",
        /^global 127\.0\.0\.1:\d+ over TCP \(UDP answer truncated\), /,
      );
      assert.deepEqual(summary(await queryLog(global)), [
        "big.example.net A zone udp",
        "big.example.net A zone tcp",
      ]);
    },
  );
});

Deno.test("dns-local +norecurse answers held and cached names, and never asks the global server for others", async () => {
  await withServers({}, async (global, local) => {
    const notHeld = await dig(local.port, ["www.berkeley.edu", "+norecurse"]);
    assert.equal(notHeld.status, "NOERROR");
    assert.ok(!notHeld.flags.has("rd"));
    assert.equal(notHeld.counts.answer, 0);
    assert.deepEqual(
      (await queryLog(global)).filter((e) => e.name === "www.berkeley.edu"),
      [],
      "the global server was not asked",
    );

    const held = await dig(local.port, ["www.skku.edu", "+norecurse"]);
    assert.deepEqual(records(held), ["www.skku.edu. A 192.0.2.10"]);

    await dig(local.port, ["www.berkeley.edu"]);
    const cached = await dig(local.port, ["www.berkeley.edu", "+norecurse"]);
    assert.deepEqual(records(cached), ["www.berkeley.edu. A 203.0.113.30"]);

    assert.deepEqual(
      (await queryLog(local)).map((e) => `${e.name} ${e.source}`),
      [
        "www.berkeley.edu none",
        "www.skku.edu local",
        "www.berkeley.edu global",
        "www.berkeley.edu cache",
      ],
    );
    assert.deepEqual(
      summary(await queryLog(global)).filter((l) => l.includes("berkeley")),
      ["www.berkeley.edu A zone udp"],
      "asked once, for the recursive query",
    );
  });
});

Deno.test("dns-local caches a global answer and its TTL counts down; --no-cache sends every query upstream", async () => {
  await withServers({}, async (_global, local) => {
    const first = await dig(local.port, ["www.harvard.edu"]);
    // The thing under test is time passing: a bounded wait, not a sync.
    await delay(1200);
    const second = await dig(local.port, ["www.harvard.edu"]);
    assert.deepEqual(records(second), records(first));
    assert.equal(first.answer[0]?.ttl, 3600);
    const ttl = second.answer[0]?.ttl ?? NaN;
    assert.ok(ttl < 3600 && ttl >= 3597, `TTL ${ttl} counted down`);
    const log = await queryLog(local);
    assert.deepEqual(log.map((e) => e.source), ["global", "cache"]);
    assert.match(log[0]?.path ?? "", /, cached$/);
    assert.equal(log[1]?.path, `cache hit (answer, ${ttl}s left)`);
  });
  await withServers({ localArgs: ["--no-cache"] }, async (global, local) => {
    const first = await dig(local.port, ["www.harvard.edu"]);
    const second = await dig(local.port, ["www.harvard.edu"]);
    assert.equal(first.answer[0]?.ttl, 3600);
    assert.equal(second.answer[0]?.ttl, 3600);
    assert.deepEqual(
      (await queryLog(local)).map((e) => e.source),
      ["global", "global"],
    );
    assert.deepEqual(summary(await queryLog(global)), [
      "www.harvard.edu A zone udp",
      "www.harvard.edu A zone udp",
    ]);
  });
});

// ---------------------------------------------------------------------------
// the seed scenario

/** What dns-client must write for testdata/dns/domain.txt (checked by hand against the tables). */
const DOMAIN_RESULT = [
  "www.skku.edu 192.0.2.10",
  "portal.skku.edu 192.0.2.12 2001:db8:5::12",
  "www.mit.edu 203.0.113.10",
  "www.example.com 198.51.100.80 2001:db8::80",
  "docs.mit.edu 203.0.113.10",
  "wiki.skku.edu 203.0.113.10",
  "WWW.Stanford.EDU. 203.0.113.20 203.0.113.21 2001:db8:e0::20",
  "nosuch.example.com Not found",
].join("\n") + "\n";

/** `--explain` output as name → `A: path` / `AAAA: path` lines. */
function explained(stdout: string): Map<string, string[]> {
  const paths = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of stdout.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("  ")) {
      current.push(line.trim());
    } else {
      current = [];
      paths.set(line.split(" ")[0]!, current);
    }
  }
  return paths;
}

Deno.test("seed scenario: dns-client resolves domain.txt through dns-local and dns-global into result.txt; with the global gone, SERVFAIL and error lines", async () => {
  await using tmp = await projectTempDir("e2e_dns_client_");
  const out = join(tmp.path, "result.txt");
  await withServers(
    { localArgs: ["--upstream-timeout", "200ms", "--retries", "1"] },
    async (global, local) => {
      const server = `127.0.0.1:${local.port}`;
      const args = [
        "--server",
        server,
        "--domains",
        "testdata/dns/domain.txt",
        "--out",
        out,
        "--explain",
      ];
      const first = await runRole("dns-client", args);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(await Deno.readTextFile(out), DOMAIN_RESULT);
      assert.equal(
        first.stderr,
        `INFO dns-client: wrote ${out} names=8 failed=0`,
      );
      assert.deepEqual(
        first.stdout.split("\n").filter((l) => !l.startsWith("  ")).join(
          "\n",
        ),
        DOMAIN_RESULT,
      );
      const paths = explained(first.stdout);
      assert.deepEqual(paths.get("www.skku.edu"), [
        "A: local table",
        "AAAA: local table (no such type)",
      ]);
      assert.deepEqual(paths.get("portal.skku.edu"), [
        "A: local table",
        "AAAA: local table",
      ]);
      const global1 = new RegExp(
        `^(A|AAAA): global 127\\.0\\.0\\.1:${global.port}, [\\d.]+ ms `,
      );
      for (const name of ["www.example.com", "WWW.Stanford.EDU."]) {
        assert.equal(paths.get(name)?.length, 2);
        for (const p of paths.get(name)!) {
          assert.match(p, global1);
          assert.match(p, /\(answer\), cached$/);
        }
      }
      assert.deepEqual(
        paths.get("nosuch.example.com")?.map((p) => p.replace(global1, "")),
        ["(no such name), cached", "(no such name), cached"],
      );
      for (const p of paths.get("wiki.skku.edu")!) {
        assert.match(p, /^(A|AAAA): local table CNAME → docs\.mit\.edu → /);
      }

      // Asked again, everything not in the local table comes from the cache.
      const second = await runRole("dns-client", args);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(await Deno.readTextFile(out), DOMAIN_RESULT);
      for (const [name, lines] of explained(second.stdout)) {
        assert.equal(lines.length, 2, name);
        for (const p of lines) {
          assert.match(
            p,
            name.endsWith(".skku.edu") && name !== "wiki.skku.edu"
              ? /^(A|AAAA): local table/
              : /^(A|AAAA): (local table CNAME → docs\.mit\.edu → )?cache hit \((answer|nodata|nxdomain), \d+s left\)$/,
            `${name}: ${p}`,
          );
        }
      }

      // The global server goes away: what is not held nor cached fails.
      await stop(global);
      const started = performance.now();
      const failed = await dig(local.port, ["www.berkeley.edu"]);
      const ms = performance.now() - started;
      assert.equal(failed.status, "SERVFAIL");
      assert.equal(failed.counts.answer, 0);
      assert.ok(ms < 1500, `SERVFAIL after ${ms} ms, within 2 × 200 ms`);
      const entry = (await queryLog(local)).at(-1);
      assert.equal(entry?.name, "www.berkeley.edu");
      assert.equal(entry?.source, "error");
      assert.equal(
        entry?.path,
        `global 127.0.0.1:${global.port}: no answer from 127.0.0.1:${global.port} after 2 tries of 200 ms`,
      );

      const third = await runRole("dns-client", [
        "--server",
        server,
        "--out",
        out,
        "www.mit.edu",
        "www.harvard.edu",
      ]);
      assert.equal(third.code, 1, third.stderr);
      const expected = "www.mit.edu 203.0.113.10\n" +
        "www.harvard.edu error: A query answered SERVFAIL; AAAA query answered SERVFAIL\n";
      assert.equal(third.stdout, expected);
      assert.equal(await Deno.readTextFile(out), expected);
      assert.equal(
        third.stderr,
        `INFO dns-client: wrote ${out} names=2 failed=1`,
      );
    },
  );
});

// ---------------------------------------------------------------------------
// table reloads

/** Polls dig (RD=0, every 50 ms, up to 5 s) until `name` has `address`. */
async function resolvesTo(
  port: number,
  name: string,
  address: string,
): Promise<void> {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const reply = await dig(port, [name, "+norecurse"]);
    if (reply.answer.some((r) => r.data === address)) return;
    assert.ok(
      performance.now() < deadline,
      `${name} did not resolve to ${address} within 5 s`,
    );
    await delay(50);
  }
}

Deno.test("dns-local reloads its table when the file changes, keeps the old one on a bad line, and reloads on SIGHUP", async () => {
  await using tmp = await projectTempDir("e2e_dns_table_");
  await Deno.mkdir(join(tmp.path, "served"));
  await Deno.mkdir(join(tmp.path, "elsewhere"));
  const table = join(tmp.path, "served", "local.txt");
  // Writes through a hard link in another directory reach the same file but
  // not the watcher, which watches the table's directory: only SIGHUP sees them.
  const link = join(tmp.path, "elsewhere", "local.txt");
  const original = await Deno.readTextFile(join(DNS_DIR, "local_dns.txt"));
  await Deno.writeTextFile(table, original);
  await Deno.link(table, link);
  await using proc = spawnRole("dns-local", [
    "--port",
    "0",
    "--upstream",
    "127.0.0.1:9",
    "--upstream-timeout",
    "100ms",
    "--retries",
    "0",
    "--table",
    table,
  ], { grant: "binary" });
  const local = await startServer(proc, "dns-local");

  const added = original + "new.skku.edu 192.0.2.99\n";
  await Deno.writeTextFile(table, added);
  await resolvesTo(local.port, "new.skku.edu", "192.0.2.99");
  await proc.waitFor(/tables reloaded tables=".*\(local, 9 records\)"$/);

  const badLine = added.split("\n").length;
  await Deno.writeTextFile(table, "bad.skku.edu A not-an-address\n", {
    append: true,
  });
  const [, error = ""] = await proc.waitFor(
    /^ERROR dns-local: table rejected; the previous tables stay in service error=(".*")$/,
  );
  assert.ok(
    JSON.parse(error).startsWith(`${table}:${badLine}: `),
    `the error names the file and line ${badLine}: ${error}`,
  );
  for (
    const [name, address] of [
      ["www.skku.edu", "192.0.2.10"],
      ["new.skku.edu", "192.0.2.99"],
    ]
  ) {
    const reply = await dig(local.port, [name!, "+norecurse"]);
    assert.deepEqual(records(reply), [`${name}. A ${address}`]);
  }

  await Deno.writeTextFile(link, added + "hup.skku.edu 192.0.2.98\n");
  const before = await dig(local.port, ["hup.skku.edu", "+norecurse"]);
  assert.equal(before.counts.answer, 0, "the watcher did not see the fix");
  proc.child.kill("SIGHUP");
  await resolvesTo(local.port, "hup.skku.edu", "192.0.2.98");
  const hup = proc.stderr.indexOf("INFO dns-local: SIGHUP: reloading tables");
  assert.ok(hup > 0);
  assert.match(
    proc.stderr.slice(hup + 1).find((l) => l.includes("tables reloaded")) ??
      "",
    /\(local, 10 records\)"$/,
  );
  await stop(local);
});

// ---------------------------------------------------------------------------
// permissions, signals, help

Deno.test("dns-global and dns-local under their own permission sets cannot read a table outside testdata/dns", async () => {
  await using tmp = await projectTempDir("e2e_dns_perm_");
  const copy = join(tmp.path, "com.txt");
  await Deno.copyFile(join(DNS_DIR, "global_com_dns.txt"), copy);
  const [etc, project, table] = await Promise.all([
    runRole("dns-global", ["--port", "0", "--zone", "com=/etc/hosts"]),
    runRole("dns-global", ["--port", "0", "--zone", `com=${copy}`]),
    runRole("dns-local", [
      "--port",
      "0",
      "--upstream",
      "127.0.0.1:9",
      "--table",
      copy,
    ]),
  ]);
  assert.equal(etc.code, 2, etc.stderr);
  assert.equal(
    etc.stderr,
    "ERROR socklab: Cannot read /etc/hosts: permission denied",
  );
  assert.equal(project.code, 2, project.stderr);
  assert.equal(
    project.stderr,
    `ERROR socklab: Cannot read ${copy}: permission denied`,
  );
  assert.equal(table.code, 2, table.stderr);
  assert.equal(
    table.stderr,
    `ERROR socklab: Cannot read ${copy}: permission denied`,
  );
});

Deno.test("deno.json gives dns-global and dns-local the network and read access to testdata/dns only", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(join(ROOT, "deno.json")),
  );
  for (const role of ["dns-global", "dns-local"]) {
    const set = config.permissions[role];
    assert.ok(set, `a permission set named ${role}`);
    assert.deepEqual(
      Object.keys(set).filter((k) => set[k] !== false).sort(),
      ["net", "read"],
      `${role}: no write, run, env, sys or ffi`,
    );
    assert.ok(Array.isArray(set.read), `${role}: read is a list of paths`);
    for (const path of set.read as string[]) {
      const normal = normalize(path).replace(/\/$/, "");
      assert.ok(
        normal === "testdata/dns" || normal.startsWith("testdata/dns/"),
        `${role} reads ${path}, outside testdata/dns`,
      );
    }
  }
});

Deno.test("--help of dns-global, dns-local and dns-client lists their flags", async () => {
  const expected: [string, RegExp[]][] = [
    ["dns-global", [
      /^ {2}--zone ORIGIN=FILE .*repeatable \(default edu=testdata\/dns\/global_edu_dns\.txt com=testdata\/dns\/global_com_dns\.txt\)$/m,
      /^ {2}--negative-ttl DURATION .*\(default 60s\)$/m,
      /^ {2}--host ADDR .*\(default 127\.0\.0\.1\)$/m,
      /^ {2}--port PORT .*\(default 0\)$/m,
      /^Examples:\n {2}socklab --role dns-global /m,
    ]],
    ["dns-local", [
      /^ {2}--table FILE .*\(default testdata\/dns\/local_dns\.txt\)$/m,
      /^ {2}--upstream HOST:PORT .*\(required\)$/m,
      /^ {2}--no-cache /m,
      /^ {2}--cache-size NUMBER .*\(default 10000\)$/m,
      /^ {2}--upstream-timeout DURATION .*\(default 2s\)$/m,
      /^ {2}--retries NUMBER .*\(default 2\)$/m,
      /^ {2}--negative-ttl DURATION .*\(default 60s\)$/m,
      /^Examples:\n {2}socklab --role dns-local /m,
    ]],
    ["dns-client", [
      /^Usage: socklab --role dns-client \[flags\] \[NAME\.\.\.\]$/m,
      /^ {2}--server HOST:PORT .*\(required\)$/m,
      /^ {2}--domains FILE .*\(default domain\.txt\)$/m,
      /^ {2}--out FILE .*\(default result\.txt\)$/m,
      /^ {2}--explain /m,
      /^ {2}--tcp /m,
      /^ {2}--timeout DURATION .*\(default 2s\)$/m,
      /^Examples:\n {2}socklab --role dns-client /m,
    ]],
  ];
  const runs = await Promise.all(
    expected.map(([role]) => runRole(role, ["--help"])),
  );
  expected.forEach(([role, flags], i) => {
    const run = runs[i]!;
    assert.equal(run.code, 0, `${role}: ${run.stderr}`);
    for (const flag of flags) assert.match(run.stdout, flag, role);
  });
});
