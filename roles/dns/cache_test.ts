import assert from "node:assert/strict";
import { RR_TYPE } from "../../protocol/dns/constants.ts";
import type { ResourceRecord } from "../../protocol/dns/message.ts";
import {
  DEFAULT_CACHE_MAX_TTL,
  DnsCache,
  type DnsCacheOptions,
} from "./cache.ts";

const { A, AAAA, CNAME, MX } = RR_TYPE;

function a(
  name: string,
  ttl: number,
  address = "198.51.100.1",
): ResourceRecord {
  return { name, type: A, class: 1, ttl, data: { type: A, address } };
}

function cname(name: string, ttl: number, target: string): ResourceRecord {
  return { name, type: CNAME, class: 1, ttl, data: { type: CNAME, target } };
}

function soa(ttl: number, minimum: number): ResourceRecord {
  return {
    name: "com",
    type: RR_TYPE.SOA,
    class: 1,
    ttl,
    data: {
      type: RR_TYPE.SOA,
      mname: "ns.com",
      rname: "hostmaster.com",
      serial: 1,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum,
    },
  };
}

/** A cache on a clock the test moves by hand. */
function setup(options: Partial<DnsCacheOptions> = {}) {
  const clock = { ms: 1_000_000 };
  const cache = new DnsCache({
    maxEntries: 10,
    now: () => clock.ms,
    ...options,
  });
  return { cache, clock };
}

function ttls(hit: ReturnType<DnsCache["get"]>): number[] | undefined {
  return hit?.records.map((record) => record.ttl);
}

Deno.test({
  name: "DnsCache.get() counts TTLs down by whole elapsed seconds",
  permissions: "none",
  fn() {
    const { cache, clock } = setup();
    cache.putAnswer("www.example.com", A, [
      a("www.example.com", 3),
      a("www.example.com", 5, "198.51.100.2"),
    ]);
    assert.deepEqual(ttls(cache.get("www.example.com", A)), [3, 5]);
    clock.ms += 999;
    assert.deepEqual(ttls(cache.get("www.example.com", A)), [3, 5]);
    clock.ms += 1;
    assert.deepEqual(ttls(cache.get("www.example.com", A)), [2, 4]);
    clock.ms += 1000;
    assert.deepEqual(ttls(cache.get("www.example.com", A)), [1, 3]);
    clock.ms += 999;
    const hit = cache.get("www.example.com", A);
    assert.deepEqual(hit, {
      kind: "answer",
      records: [
        a("www.example.com", 1),
        a("www.example.com", 3, "198.51.100.2"),
      ],
    });
  },
});

Deno.test({
  name: "DnsCache.get() drops an entry at exactly its least TTL",
  permissions: "none",
  fn() {
    const { cache, clock } = setup();
    cache.putAnswer("alias.example.com", A, [
      cname("alias.example.com", 2, "www.example.com"),
      a("www.example.com", 60),
    ]);
    clock.ms += 1999;
    assert.deepEqual(ttls(cache.get("alias.example.com", A)), [1, 59]);
    clock.ms += 1;
    assert.equal(cache.get("alias.example.com", A), undefined);
    assert.equal(cache.size, 0);
    clock.ms -= 5000; // the entry stays gone even if the clock steps back
    assert.equal(cache.get("alias.example.com", A), undefined);
  },
});

Deno.test({
  name: "DnsCache.get() returns copies the caller cannot use to change it",
  permissions: "none",
  fn() {
    const { cache } = setup();
    const records = [a("www.example.com", 60)];
    cache.putAnswer("www.example.com", A, records);
    records.pop();
    const hit = cache.get("www.example.com", A);
    hit?.records.pop();
    assert.deepEqual(ttls(cache.get("www.example.com", A)), [60]);
  },
});

Deno.test({
  name: "DnsCache.putNegative() keeps min(SOA TTL, minimum) and ages the SOA",
  permissions: "none",
  fn() {
    const { cache, clock } = setup();
    cache.putNegative("nosuch.example.com", A, "nxdomain", soa(3600, 30));
    cache.putNegative("www.example.com", MX, "nodata", soa(20, 300));
    clock.ms += 10_000;
    assert.deepEqual(cache.get("nosuch.example.com", A), {
      kind: "nxdomain",
      soa: soa(20, 30),
      records: [],
    });
    const nodata = cache.get("www.example.com", MX);
    assert.ok(nodata?.kind === "nodata");
    assert.equal(nodata.soa.ttl, 10);
    clock.ms += 10_000;
    assert.equal(cache.get("www.example.com", MX), undefined);
    assert.equal(cache.get("nosuch.example.com", A)?.kind, "nxdomain");
    clock.ms += 10_000;
    assert.equal(cache.get("nosuch.example.com", A), undefined);
  },
});

Deno.test({
  name: "DnsCache.putNegative() keeps the chain and lives no longer than it",
  permissions: "none",
  fn() {
    const { cache, clock } = setup();
    const chain = [cname("gone.example.com", 5, "nosuch.example.com")];
    cache.putNegative("gone.example.com", A, "nxdomain", soa(60, 60), chain);
    clock.ms += 4000;
    const hit = cache.get("gone.example.com", A);
    assert.deepEqual(hit, {
      kind: "nxdomain",
      soa: { ...soa(56, 60), ttl: 56 },
      records: [cname("gone.example.com", 1, "nosuch.example.com")],
    });
    clock.ms += 1000;
    assert.equal(cache.get("gone.example.com", A), undefined);
  },
});

Deno.test({
  name:
    "DnsCache does not store zero TTLs or empty answers, and a put replaces",
  permissions: "none",
  fn() {
    const { cache } = setup();
    cache.putAnswer("zero.example.com", A, [a("zero.example.com", 0)]);
    cache.putAnswer("mixed.example.com", A, [
      cname("mixed.example.com", 0, "www.example.com"),
      a("www.example.com", 60),
    ]);
    cache.putAnswer("empty.example.com", A, []);
    cache.putNegative("neg.example.com", A, "nxdomain", soa(0, 60));
    cache.putNegative("neg2.example.com", A, "nodata", soa(60, 0));
    assert.equal(cache.size, 0);
    cache.putAnswer("www.example.com", A, [a("www.example.com", 60)]);
    cache.putAnswer("www.example.com", A, [a("www.example.com", 0)]);
    assert.equal(cache.get("www.example.com", A), undefined);
    cache.putAnswer("www.example.com", A, [a("www.example.com", 60)]);
    cache.putNegative("www.example.com", A, "nodata", soa(30, 30));
    assert.equal(cache.get("www.example.com", A)?.kind, "nodata");
    assert.equal(cache.size, 1);
  },
});

Deno.test({
  name: "DnsCache caps TTLs at maxTtl",
  permissions: "none",
  fn() {
    const { cache, clock } = setup({ maxTtl: 100 });
    cache.putAnswer("www.example.com", A, [a("www.example.com", 2 ** 31 - 1)]);
    assert.deepEqual(ttls(cache.get("www.example.com", A)), [100]);
    clock.ms += 100_000;
    assert.equal(cache.get("www.example.com", A), undefined);
    const { cache: plain } = setup();
    plain.putAnswer("www.example.com", A, [a("www.example.com", 10 ** 6)]);
    assert.deepEqual(ttls(plain.get("www.example.com", A)), [
      DEFAULT_CACHE_MAX_TTL,
    ]);
  },
});

Deno.test({
  name: "DnsCache keys are case-insensitive and keep types apart",
  permissions: "none",
  fn() {
    const { cache } = setup();
    cache.putAnswer("WWW.Example.COM.", A, [a("www.example.com", 60)]);
    assert.deepEqual(ttls(cache.get("www.example.com", A)), [60]);
    assert.deepEqual(ttls(cache.get("www.EXAMPLE.com.", A)), [60]);
    assert.equal(cache.get("www.example.com", AAAA), undefined);
    assert.equal(cache.size, 1);
  },
});

Deno.test({
  name: "DnsCache evicts the least recently used entry beyond maxEntries",
  permissions: "none",
  fn() {
    const { cache } = setup({ maxEntries: 3 });
    for (const name of ["a.com", "b.com", "c.com"]) {
      cache.putAnswer(name, A, [a(name, 60)]);
    }
    assert.ok(cache.get("a.com", A)); // a is now the most recent: b is next out
    cache.putAnswer("d.com", A, [a("d.com", 60)]);
    assert.equal(cache.size, 3);
    assert.equal(cache.get("b.com", A), undefined);
    cache.putAnswer("e.com", A, [a("e.com", 60)]); // c goes
    assert.equal(cache.get("c.com", A), undefined);
    // Replacing an entry does not evict another one.
    cache.putAnswer("e.com", A, [a("e.com", 30)]);
    assert.deepEqual(
      ["a.com", "d.com", "e.com"].map((name) => ttls(cache.get(name, A))),
      [[60], [60], [30]],
    );
    assert.equal(cache.stats.evictions, 2);
  },
});

Deno.test({
  name: "DnsCache counts hits, misses and evictions, and clear() empties it",
  permissions: "none",
  fn() {
    const { cache, clock } = setup({ maxEntries: 1 });
    assert.deepEqual(cache.stats, { hits: 0, misses: 0, evictions: 0 });
    cache.get("a.com", A); // miss
    cache.putAnswer("a.com", A, [a("a.com", 1)]);
    cache.get("a.com", A); // hit
    clock.ms += 1000;
    cache.get("a.com", A); // expired: miss
    cache.putAnswer("a.com", A, [a("a.com", 60)]);
    cache.putAnswer("b.com", A, [a("b.com", 60)]); // evicts a
    cache.get("b.com", A); // hit
    assert.deepEqual(cache.stats, { hits: 2, misses: 2, evictions: 1 });
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.get("b.com", A), undefined);
    assert.deepEqual(cache.stats, { hits: 2, misses: 3, evictions: 1 });
  },
});

Deno.test({
  name: "new DnsCache() rejects a bad maxEntries or maxTtl",
  permissions: "none",
  fn() {
    const now = () => 0;
    assert.throws(() => new DnsCache({ maxEntries: 0, now }), {
      name: "RangeError",
      message: "Cannot create cache: maxEntries 0 is not a positive integer",
    });
    assert.throws(() => new DnsCache({ maxEntries: 1.5, now }), RangeError);
    assert.throws(
      () => new DnsCache({ maxEntries: 1, now, maxTtl: -1 }),
      RangeError,
    );
  },
});
