import assert from "node:assert/strict";
import fc from "fast-check";
import { RR_TYPE } from "../../protocol/dns/constants.ts";
import type { ResourceRecord } from "../../protocol/dns/message.ts";
import { parseTable, type Table, TableError } from "./table.ts";
import {
  DEFAULT_NEGATIVE_TTL,
  lookup,
  type LookupResult,
  makeZone,
  MAX_CNAME_HOPS,
  type Zone,
} from "./zone.ts";

const { A, AAAA, ANY, CNAME, MX, NS, SOA, TXT } = RR_TYPE;

function zone(origin: string, lines: readonly string[]): Zone {
  const file = origin === "" ? "local_dns.txt" : `global_${origin}_dns.txt`;
  return makeZone(origin, parseTable(lines.join("\n"), file));
}

const COM = zone("com", [
  "www.example.com 198.51.100.80",
  "www.example.com AAAA 2001:db8::80",
  "example.com MX 10 mail.example.com",
  "mail.example.com 198.51.100.25",
  "shop.example.com 300 CNAME www.example.com",
  "a.chain.example.com CNAME b.chain.example.com",
  "b.chain.example.com CNAME shop.example.com",
  "mirror.example.com CNAME www.mit.edu",
  "away.example.com CNAME www.example.net",
  "gone.example.com CNAME nosuch.example.com",
  "deep.sub.example.com 198.51.100.90",
  "loop1.example.com CNAME loop2.example.com",
  "loop2.example.com CNAME LOOP1.example.com.",
  "self.example.com CNAME self.example.com",
]);
const EDU = zone("edu", [
  "edu NS ns.edu",
  "www.mit.edu 203.0.113.10",
  "back.mit.edu CNAME www.example.com",
]);

/** Names and types of `answers`, for compact comparisons. */
function summary(answers: readonly ResourceRecord[]): string[] {
  return answers.map((record) => `${record.name} ${record.type}`);
}

function expectKind<K extends LookupResult["kind"]>(
  result: LookupResult,
  kind: K,
): Extract<LookupResult, { kind: K }> {
  assert.equal(result.kind, kind, JSON.stringify(result));
  return result as Extract<LookupResult, { kind: K }>;
}

Deno.test({
  name:
    "makeZone() synthesizes the SOA from the origin, serial and negative TTL",
  permissions: "none",
  fn() {
    const table = parseTable("www.example.com 198.51.100.1", "com.txt");
    assert.deepEqual(makeZone("COM.", table, { serial: 42, negativeTtl: 30 }), {
      origin: "com",
      table,
      soa: {
        name: "com",
        type: SOA,
        class: 1,
        ttl: 30,
        data: {
          type: SOA,
          mname: "ns.com",
          rname: "hostmaster.com",
          serial: 42,
          refresh: 3600,
          retry: 600,
          expire: 86400,
          minimum: 30,
        },
      },
    });
    const local = makeZone("", table);
    assert.equal(local.origin, "");
    assert.equal(local.soa.name, "");
    assert.equal(local.soa.ttl, DEFAULT_NEGATIVE_TTL);
    assert.deepEqual(
      [local.soa.data.type, "mname" in local.soa.data && local.soa.data.mname],
      [SOA, "localhost"],
    );
    assert.equal("serial" in local.soa.data && local.soa.data.serial, 1);
  },
});

Deno.test({
  name: "makeZone() rejects a record outside the origin with file and line",
  permissions: "none",
  fn() {
    const table = parseTable(
      "www.mit.edu 203.0.113.10\n\nwww.example.com 198.51.100.1",
      "global_edu_dns.txt",
    );
    assert.throws(() => makeZone("edu", table), {
      name: "TableError",
      message: 'global_edu_dns.txt:3: "www.example.com" is outside the zone ' +
        '"edu"',
      line: 3,
    });
    // "xedu" is not under "edu": the match is by whole labels.
    const lookalike = parseTable("www.xedu 203.0.113.10", "edu.txt");
    assert.throws(() => makeZone("edu", lookalike), TableError);
    // An unbound table takes any name.
    assert.equal(makeZone("", table).table, table);
  },
});

Deno.test({
  name: "makeZone() rejects a CNAME at the origin",
  permissions: "none",
  fn() {
    const table = parseTable(
      "www.example.com 198.51.100.1\nexample.com CNAME www.example.com",
      "example.txt",
    );
    assert.throws(() => makeZone("example.com", table), {
      message: "example.txt:2: a CNAME cannot be at the zone origin " +
        '"example.com" (its SOA is there)',
    });
  },
});

Deno.test({
  name: "makeZone() rejects a bad origin, serial or negative TTL",
  permissions: "none",
  fn() {
    const table = parseTable("", "empty.txt");
    assert.throws(() => makeZone("bad origin", table), RangeError);
    assert.throws(() => makeZone("com", table, { serial: -1 }), RangeError);
    assert.throws(
      () => makeZone("com", table, { serial: 2 ** 32 }),
      RangeError,
    );
    assert.throws(() => makeZone("com", table, { serial: 1.5 }), RangeError);
    assert.throws(() => makeZone("com", table, { negativeTtl: -1 }), {
      name: "RangeError",
      message: 'Cannot make zone "com": negative TTL -1 is not an integer ' +
        "from 0 to 2147483647",
    });
    assert.equal(makeZone("com", table, { serial: 2 ** 32 - 1 }).origin, "com");
  },
});

Deno.test({
  name: "lookup() answers the records of the asked type with stored TTLs",
  permissions: "none",
  fn() {
    const a = expectKind(lookup([COM, EDU], "www.example.com", A), "answer");
    assert.deepEqual(a.answers, [{
      name: "www.example.com",
      type: A,
      class: 1,
      ttl: 3600,
      data: { type: A, address: "198.51.100.80" },
    }]);
    const mx = expectKind(lookup([COM], "example.com", MX), "answer");
    assert.deepEqual(mx.answers[0]?.data, {
      type: MX,
      preference: 10,
      exchange: "mail.example.com",
    });
  },
});

Deno.test({
  name: "lookup() matches names case-insensitively and with the trailing dot",
  permissions: "none",
  fn() {
    for (
      const name of ["WWW.EXAMPLE.COM", "www.Example.com.", "www.example.com"]
    ) {
      const result = expectKind(lookup([COM], name, AAAA), "answer");
      assert.deepEqual(summary(result.answers), ["www.example.com 28"]);
    }
  },
});

Deno.test({
  name: "lookup() follows a CNAME chain within a zone",
  permissions: "none",
  fn() {
    const result = expectKind(
      lookup([COM], "a.chain.example.com", A),
      "answer",
    );
    assert.deepEqual(summary(result.answers), [
      "a.chain.example.com 5",
      "b.chain.example.com 5",
      "shop.example.com 5",
      "www.example.com 1",
    ]);
    assert.equal(result.answers[2]?.ttl, 300);
  },
});

Deno.test({
  name: "lookup() follows a CNAME chain across zones, and back",
  permissions: "none",
  fn() {
    const there = expectKind(
      lookup([COM, EDU], "mirror.example.com", A),
      "answer",
    );
    assert.deepEqual(summary(there.answers), [
      "mirror.example.com 5",
      "www.mit.edu 1",
    ]);
    const back = expectKind(lookup([EDU, COM], "back.mit.edu", AAAA), "answer");
    assert.deepEqual(summary(back.answers), [
      "back.mit.edu 5",
      "www.example.com 28",
    ]);
  },
});

Deno.test({
  name: "lookup() hands back a chain that leaves the given zones",
  permissions: "none",
  fn() {
    const away = expectKind(
      lookup([COM, EDU], "away.example.com", A),
      "cname_out",
    );
    assert.equal(away.target, "www.example.net");
    assert.deepEqual(summary(away.answers), ["away.example.com 5"]);
    // Without the .edu zone, the mirror chain leaves too.
    const out = expectKind(lookup([COM], "mirror.example.com", A), "cname_out");
    assert.equal(out.target, "www.mit.edu");
  },
});

Deno.test({
  name: "lookup() follows a chain from a local table into a global zone",
  permissions: "none",
  fn() {
    const local = zone("", [
      "www.skku.edu 192.0.2.10",
      "wiki.skku.edu CNAME docs.mit.edu",
    ]);
    const out = expectKind(lookup([local], "WIKI.skku.edu", A), "cname_out");
    assert.equal(out.target, "docs.mit.edu");
    assert.deepEqual(summary(out.answers), ["wiki.skku.edu 5"]);
    // A local table covers only its own names: the rest go elsewhere.
    expectKind(lookup([local], "lib.skku.edu", A), "refused");
    expectKind(lookup([local], "skku.edu", A), "refused");
    const nodata = expectKind(lookup([local], "www.skku.edu", AAAA), "nodata");
    assert.equal(nodata.soa, local.soa);
    // A more specific zone beats the unbound table.
    const edu = zone("edu", ["www.skku.edu 203.0.113.99"]);
    const answer = expectKind(
      lookup([local, edu], "www.skku.edu", A),
      "answer",
    );
    assert.deepEqual(answer.answers[0]?.data, {
      type: A,
      address: "203.0.113.99",
    });
  },
});

Deno.test({
  name: "lookup() reports CNAME loops and chains longer than MAX_CNAME_HOPS",
  permissions: "none",
  fn() {
    const loop = expectKind(lookup([COM], "loop1.example.com", A), "loop");
    assert.deepEqual(summary(loop.answers), [
      "loop1.example.com 5",
      "loop2.example.com 5",
    ]);
    expectKind(lookup([COM], "self.example.com", TXT), "loop");
    const chain = (hops: number) =>
      zone("com", [
        ...Array.from(
          { length: hops },
          (_, i) => `c${i}.example.com CNAME c${i + 1}.example.com`,
        ),
        `c${hops}.example.com 198.51.100.1`,
      ]);
    const longest = expectKind(
      lookup([chain(MAX_CNAME_HOPS)], "c0.example.com", A),
      "answer",
    );
    assert.equal(longest.answers.length, MAX_CNAME_HOPS + 1);
    const tooLong = expectKind(
      lookup([chain(MAX_CNAME_HOPS + 1)], "c0.example.com", A),
      "loop",
    );
    assert.equal(tooLong.answers.length, MAX_CNAME_HOPS + 1);
  },
});

Deno.test({
  name: "lookup() returns the CNAME itself when CNAME is asked",
  permissions: "none",
  fn() {
    const result = expectKind(
      lookup([COM], "shop.example.com", CNAME),
      "answer",
    );
    assert.deepEqual(summary(result.answers), ["shop.example.com 5"]);
    expectKind(lookup([COM], "www.example.com", CNAME), "nodata");
  },
});

Deno.test({
  name: "lookup() answers ANY with every record at the name",
  permissions: "none",
  fn() {
    const www = expectKind(lookup([COM], "www.example.com", ANY), "answer");
    assert.deepEqual(summary(www.answers), [
      "www.example.com 1",
      "www.example.com 28",
    ]);
    const shop = expectKind(lookup([COM], "shop.example.com", ANY), "answer");
    assert.deepEqual(summary(shop.answers), ["shop.example.com 5"]);
    const apex = expectKind(lookup([COM], "example.com", ANY), "answer");
    assert.deepEqual(summary(apex.answers), ["example.com 15"]);
    const origin = expectKind(lookup([EDU], "edu", ANY), "answer");
    assert.deepEqual(summary(origin.answers), ["edu 6", "edu 2"]);
    expectKind(lookup([COM], "sub.example.com", ANY), "nodata");
    expectKind(lookup([COM], "nosuch.example.com", ANY), "nxdomain");
  },
});

Deno.test({
  name: "lookup() tells NODATA from NXDOMAIN, empty non-terminals included",
  permissions: "none",
  fn() {
    const nodata = expectKind(lookup([COM], "www.example.com", MX), "nodata");
    assert.deepEqual(nodata.answers, []);
    assert.equal(nodata.soa, COM.soa);
    // sub.example.com owns nothing but deep.sub.example.com is below it.
    expectKind(lookup([COM], "sub.example.com", A), "nodata");
    expectKind(lookup([COM], "SUB.example.com.", AAAA), "nodata");
    const nx = expectKind(lookup([COM], "nosuch.example.com", A), "nxdomain");
    assert.deepEqual(nx.answers, []);
    assert.equal(nx.soa, COM.soa);
    expectKind(lookup([COM], "x.deep.sub.example.com", A), "nxdomain");
    // After a chain, the result is about the last name, chain included.
    const gone = expectKind(lookup([COM], "gone.example.com", A), "nxdomain");
    assert.deepEqual(summary(gone.answers), ["gone.example.com 5"]);
    const noMx = expectKind(lookup([COM], "shop.example.com", MX), "nodata");
    assert.deepEqual(summary(noMx.answers), ["shop.example.com 5"]);
  },
});

Deno.test({
  name: "lookup() answers SOA at the origin and NODATA for other types there",
  permissions: "none",
  fn() {
    const soa = expectKind(lookup([COM], "COM.", SOA), "answer");
    assert.deepEqual(soa.answers, [COM.soa]);
    expectKind(lookup([COM], "com", NS), "nodata");
    const ns = expectKind(lookup([EDU], "edu", NS), "answer");
    assert.deepEqual(summary(ns.answers), ["edu 2"]);
    expectKind(lookup([COM], "example.com", SOA), "nodata");
  },
});

Deno.test({
  name: "lookup() refuses names outside every zone",
  permissions: "none",
  fn() {
    assert.deepEqual(lookup([COM, EDU], "www.example.org", A), {
      kind: "refused",
    });
    assert.deepEqual(lookup([COM], "xcom", A), { kind: "refused" });
    assert.deepEqual(lookup([], "www.example.com", A), { kind: "refused" });
    assert.deepEqual(lookup([COM], "", A), { kind: "refused" });
  },
});

Deno.test({
  name: "lookup() picks the zone with the longest matching origin",
  permissions: "none",
  fn() {
    const child = zone("example.com", ["www.example.com 192.0.2.1"]);
    for (const zones of [[COM, child], [child, COM]]) {
      const www = expectKind(lookup(zones, "www.example.com", A), "answer");
      assert.deepEqual(www.answers[0]?.data, { type: A, address: "192.0.2.1" });
      // mail.example.com is in COM's table, but the child zone owns the name.
      const mail = expectKind(lookup(zones, "mail.example.com", A), "nxdomain");
      assert.equal(mail.soa, child.soa);
      const other = expectKind(lookup(zones, "ns.com", A), "nxdomain");
      assert.equal(other.soa, COM.soa);
    }
  },
});

// ---- The shipped tables ----

async function readTestdata(name: string): Promise<string> {
  return await Deno.readTextFile(
    new URL(`../../testdata/dns/${name}`, import.meta.url),
  );
}

Deno.test({
  name: "the testdata tables parse, make zones and answer domain.txt",
  permissions: { read: true },
  async fn() {
    const load = async (name: string, origin: string) =>
      makeZone(
        origin,
        parseTable(await readTestdata(name), `testdata/dns/${name}`, {
          origin,
        }),
      );
    const local = await load("local_dns.txt", "");
    const edu = await load("global_edu_dns.txt", "edu");
    const com = await load("global_com_dns.txt", "com");
    const many = expectKind(lookup([com], "many.example.com", A), "answer");
    assert.equal(many.answers.length, 40);
    const stanford = expectKind(
      lookup([edu], "www.stanford.edu", ANY),
      "answer",
    );
    assert.deepEqual(summary(stanford.answers), [
      "www.stanford.edu 1",
      "www.stanford.edu 1",
      "www.stanford.edu 28",
    ]);
    const names = (await readTestdata("domain.txt")).split("\n").filter((
      line,
    ) => line.trim() !== "");
    const outcome = (name: string): string => {
      const first = lookup([local], name, A);
      if (first.kind === "answer") return `local ${first.answers.length}`;
      if (first.kind === "nodata" || first.kind === "loop") return first.kind;
      const global = lookup(
        [edu, com],
        first.kind === "cname_out" ? first.target : name,
        A,
      );
      const via = first.kind === "cname_out" ? "local+global" : "global";
      return global.kind === "answer"
        ? `${via} ${global.answers.length}`
        : `${via} ${global.kind}`;
    };
    assert.deepEqual(names.map((name) => [name, outcome(name)]), [
      ["www.skku.edu", "local 1"],
      ["portal.skku.edu", "local 1"],
      ["www.mit.edu", "global 1"],
      ["www.example.com", "global 1"],
      ["docs.mit.edu", "global 3"],
      ["wiki.skku.edu", "local+global 3"],
      ["WWW.Stanford.EDU.", "global 2"],
      ["nosuch.example.com", "global nxdomain"],
    ]);
    const crossing = expectKind(
      lookup([edu, com], "edu-mirror.example.com", AAAA),
      "answer",
    );
    assert.deepEqual(summary(crossing.answers), [
      "edu-mirror.example.com 5",
      "www.stanford.edu 28",
    ]);
  },
});

// ---- Properties ----

const LABELS = ["a", "b", "c", "www"] as const;
const ORIGINS = ["com", "edu", "b.com"] as const;
const TYPES = [A, AAAA, CNAME, MX, NS, TXT, SOA, ANY, 99] as const;

const nameArb = fc.tuple(
  fc.array(fc.constantFrom(...LABELS), { maxLength: 2 }),
  fc.constantFrom(...ORIGINS, "org"),
).map(([labels, origin]) => [...labels, origin].join("."));

const recordArb: fc.Arbitrary<ResourceRecord> = fc.tuple(
  nameArb,
  fc.nat(600),
  fc.oneof(
    fc.constant({ type: 1 as const, address: "192.0.2.1" }),
    fc.constant({ type: 28 as const, address: "2001:db8::1" }),
    nameArb.map((target) => ({ type: 5 as const, target })),
    nameArb.map((exchange) => ({ type: 15 as const, preference: 1, exchange })),
    fc.constant({ type: 16 as const, texts: ["t"] }),
  ),
).map(([name, ttl, data]) => ({ name, type: data.type, class: 1, ttl, data }));

/** A table built directly, so it may break rules the parser enforces. */
function rawTable(records: readonly ResourceRecord[]): Table {
  const byName = new Map<string, ResourceRecord[]>();
  for (const record of records) {
    byName.set(record.name, [...(byName.get(record.name) ?? []), record]);
  }
  return {
    file: "random.txt",
    records: byName,
    lines: new Map(),
    size: records.length,
  };
}

Deno.test({
  name: "lookup() never throws, and an answer ends at the asked type",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 30 }),
        fc.subarray(["", ...ORIGINS]),
        nameArb,
        fc.constantFrom(...TYPES),
        fc.boolean(),
        (records, origins, name, type, shout) => {
          const zones = origins.map((origin) =>
            makeZone(
              origin,
              rawTable(records.filter((record) =>
                origin === "" ||
                (record.name === origin && record.type !== CNAME) ||
                record.name.endsWith(`.${origin}`)
              )),
            )
          );
          const asked = shout ? `${name.toUpperCase()}.` : name;
          const result = lookup(zones, asked, type);
          const chainFrom = (answers: readonly ResourceRecord[]) => {
            let expected = name;
            for (const record of answers) {
              assert.equal(record.name, expected);
              if (record.type !== CNAME || !("target" in record.data)) break;
              expected = record.data.target;
            }
          };
          switch (result.kind) {
            case "answer": {
              const last = result.answers.at(-1);
              assert.ok(last !== undefined);
              if (type === CNAME) {
                // Hand-built tables may hold the same CNAME twice (the parser
                // collapses duplicates); each answer is the name's own CNAME.
                for (const entry of summary(result.answers)) {
                  assert.equal(entry, `${name} 5`);
                }
              } else if (type === ANY) {
                // Every record at the name itself: ANY follows no chain.
                for (const record of result.answers) {
                  assert.equal(record.name, name);
                }
              } else {
                chainFrom(result.answers);
                assert.equal(last.type, type);
                for (const record of result.answers.slice(0, -1)) {
                  assert.ok(record.type === CNAME || record.type === type);
                }
              }
              break;
            }
            case "nodata":
            case "nxdomain":
            case "loop":
              chainFrom(result.answers);
              for (const record of result.answers) {
                assert.equal(record.type, CNAME);
              }
              assert.ok(result.answers.length <= MAX_CNAME_HOPS + 1);
              break;
            case "cname_out": {
              chainFrom(result.answers);
              const last = result.answers.at(-1);
              assert.equal(last?.type, CNAME);
              assert.ok("target" in last.data);
              assert.equal(last.data.target, result.target);
              break;
            }
            case "refused":
              break;
          }
        },
      ),
      { numRuns: 500 },
    );
  },
});
