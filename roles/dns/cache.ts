/**
 * The local DNS server's cache: answers and negative answers (RFC 2308)
 * by canonical name and type, expiring by TTL on an injected clock and
 * bounded by an LRU cap. Pure: no timers, no I/O.
 *
 * @module
 */

import {
  canonicalName,
  type ResourceRecord,
} from "../../protocol/dns/message.ts";

/**
 * A cached result; TTLs (also the SOA's) are what remains of them now.
 *
 * @example
 * ```ts
 * const hit = cache.get("www.example.com", RR_TYPE.A);
 * if (hit?.kind === "answer") console.log(hit.records[0]?.ttl);
 * ```
 */
export type CacheHit =
  | { kind: "answer"; records: ResourceRecord[] }
  | {
    kind: "nxdomain" | "nodata";
    /** The SOA for the authority section; its TTL is the remaining time. */
    soa: ResourceRecord;
    /** The CNAME chain that led to the missing name or data, if any. */
    records: ResourceRecord[];
  };

/**
 * Options for {@linkcode DnsCache}.
 *
 * @example
 * ```ts
 * new DnsCache({ maxEntries: 1000, now: () => Date.now(), maxTtl: 3600 });
 * ```
 */
export interface DnsCacheOptions {
  /** Most entries kept; the least recently used goes first. At least 1. */
  maxEntries: number;
  /** The clock, in milliseconds. */
  now: () => number;
  /** Longest time any entry or TTL is kept, seconds. Default 86400. */
  maxTtl?: number;
}

/** Counters of a {@linkcode DnsCache}. */
export interface DnsCacheStats {
  /** `get` calls that found a live entry. */
  readonly hits: number;
  /** `get` calls that found nothing or an expired entry. */
  readonly misses: number;
  /** Entries dropped to stay within `maxEntries`. */
  readonly evictions: number;
}

/** Default {@linkcode DnsCacheOptions.maxTtl}, seconds (one day). */
export const DEFAULT_CACHE_MAX_TTL = 86400;

interface _Entry {
  readonly kind: "answer" | "nxdomain" | "nodata";
  readonly records: readonly ResourceRecord[];
  readonly soa: ResourceRecord | undefined;
  /** When it was stored, ms on the injected clock. */
  readonly stored: number;
  /** Seconds it lives: the least TTL of what it holds. */
  readonly lifetime: number;
}

/**
 * An LRU cache of DNS answers. Returned TTLs count down by whole elapsed
 * seconds; an entry is gone once its least TTL has fully elapsed. Names are
 * case-insensitive.
 *
 * @example
 * ```ts
 * let clock = 0;
 * const cache = new DnsCache({ maxEntries: 100, now: () => clock });
 * cache.putAnswer("www.example.com", 1, [record]); // record.ttl === 300
 * clock += 10_500;
 * cache.get("WWW.example.com.", 1); // { kind: "answer", records: [{ ...record, ttl: 290 }] }
 * ```
 */
export class DnsCache {
  #entries = new Map<string, _Entry>();
  #maxEntries: number;
  #now: () => number;
  #maxTtl: number;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /**
   * Creates an empty cache.
   *
   * @param options Capacity, clock and TTL cap.
   * @throws {RangeError} If `maxEntries` is not a positive integer or
   * `maxTtl` not a non-negative integer.
   *
   * @example
   * ```ts
   * const cache = new DnsCache({ maxEntries: 1000, now: Date.now });
   * ```
   */
  constructor(options: DnsCacheOptions) {
    const { maxEntries, now, maxTtl = DEFAULT_CACHE_MAX_TTL } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(
        `Cannot create cache: maxEntries ${maxEntries} is not a positive integer`,
      );
    }
    if (!Number.isInteger(maxTtl) || maxTtl < 0) {
      throw new RangeError(
        `Cannot create cache: maxTtl ${maxTtl} is not a non-negative integer`,
      );
    }
    this.#maxEntries = maxEntries;
    this.#now = now;
    this.#maxTtl = maxTtl;
  }

  /**
   * Number of entries held (expired ones leave when next looked up or
   * evicted).
   *
   * @example
   * ```ts
   * cache.size; // 0
   * ```
   */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * A snapshot of the hit, miss and eviction counters.
   *
   * @example
   * ```ts
   * const { hits, misses } = cache.stats;
   * ```
   */
  get stats(): DnsCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
    };
  }

  /**
   * Looks up a name and type, making the entry the most recently used.
   *
   * @param name Any case, with or without the trailing dot.
   * @param type The record type asked.
   * @returns Copies of the records with their remaining TTLs, or `undefined`
   * if nothing live is cached.
   *
   * @example
   * ```ts
   * cache.get("www.example.com", RR_TYPE.AAAA); // undefined
   * ```
   */
  get(name: string, type: number): CacheHit | undefined {
    const key = _key(name, type);
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    // A clock that steps back does not make entries younger than new.
    const elapsed = Math.max(
      0,
      Math.floor((this.#now() - entry.stored) / 1000),
    );
    if (elapsed >= entry.lifetime) {
      this.#entries.delete(key);
      this.#misses++;
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#hits++;
    const records = entry.records.map((record) => _aged(record, elapsed));
    if (entry.kind === "answer" || entry.soa === undefined) {
      return { kind: "answer", records };
    }
    return { kind: entry.kind, soa: _aged(entry.soa, elapsed), records };
  }

  /**
   * Stores an answer until the least TTL among `records` has elapsed (capped
   * at `maxTtl`). Replaces what was cached for the name and type; an answer
   * with no records or a zero TTL is not stored.
   *
   * @param name The asked name.
   * @param type The asked type.
   * @param records The answer section: CNAME chain and final records.
   *
   * @example
   * ```ts
   * cache.putAnswer("www.example.com", RR_TYPE.A, response.answers);
   * ```
   */
  putAnswer(name: string, type: number, records: ResourceRecord[]): void {
    this.#put(_key(name, type), "answer", records, undefined);
  }

  /**
   * Stores "no such name" or "no such data" for the negative TTL of RFC 2308
   * §5: the lesser of the SOA's TTL and its minimum field (and of the chain's
   * TTLs and `maxTtl`). The SOA is kept with that TTL. A zero negative TTL
   * is not stored.
   *
   * @param name The asked name.
   * @param type The asked type.
   * @param kind Which negative answer.
   * @param soa The SOA from the response's authority section.
   * @param chain The CNAME chain that led there, if any.
   *
   * @example
   * ```ts
   * cache.putNegative("nosuch.example.com", RR_TYPE.A, "nxdomain", soa);
   * ```
   */
  putNegative(
    name: string,
    type: number,
    kind: "nxdomain" | "nodata",
    soa: ResourceRecord,
    chain: ResourceRecord[] = [],
  ): void {
    const minimum = "minimum" in soa.data ? soa.data.minimum : soa.ttl;
    const negativeTtl = Math.min(soa.ttl, minimum);
    this.#put(_key(name, type), kind, chain, { ...soa, ttl: negativeTtl });
  }

  /**
   * Empties the cache; the counters stay.
   *
   * @example
   * ```ts
   * cache.clear();
   * cache.size; // 0
   * ```
   */
  clear(): void {
    this.#entries.clear();
  }

  #put(
    key: string,
    kind: _Entry["kind"],
    given: readonly ResourceRecord[],
    soa: ResourceRecord | undefined,
  ): void {
    this.#entries.delete(key);
    if (kind === "answer" && given.length === 0) return;
    const cap = (record: ResourceRecord) =>
      record.ttl > this.#maxTtl ? { ...record, ttl: this.#maxTtl } : record;
    const records = given.map(cap);
    const cappedSoa = soa === undefined ? undefined : cap(soa);
    let lifetime = cappedSoa?.ttl ?? this.#maxTtl;
    for (const record of records) lifetime = Math.min(lifetime, record.ttl);
    if (!(lifetime > 0)) return;
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
      this.#evictions++;
    }
    this.#entries.set(key, {
      kind,
      records,
      soa: cappedSoa,
      stored: this.#now(),
      lifetime,
    });
  }
}

function _key(name: string, type: number): string {
  // The type goes first: it is a number, so no name can fake another key.
  return `${type} ${canonicalName(name)}`;
}

function _aged(record: ResourceRecord, elapsed: number): ResourceRecord {
  return { ...record, ttl: Math.max(0, record.ttl - elapsed) };
}
