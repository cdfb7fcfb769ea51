/**
 * Answering questions from tables, shared by the global (authoritative) and
 * the local DNS server: zone selection by longest origin, exact-name match,
 * CNAME chains within and across zones, NODATA versus NXDOMAIN (with empty
 * non-terminals, RFC 8020) and a synthesized SOA for negative answers.
 *
 * @module
 */

import { CLASS_IN, RR_TYPE } from "../../protocol/dns/constants.ts";
import {
  canonicalName,
  type ResourceRecord,
} from "../../protocol/dns/message.ts";
import { MAX_TTL, type Table, TableError, validateName } from "./table.ts";

/**
 * A table bound to the part of the name space it answers for.
 *
 * A zone with origin `""` is a local table not bound to a zone: it answers
 * only for the names it holds, and every other name is outside it (so a
 * local server forwards those instead of calling them nonexistent).
 *
 * @example
 * ```ts
 * const zone = makeZone("com", parseTable("www.example.com 198.51.100.1", "com.txt"));
 * zone.soa.data; // { type: 6, mname: "ns.com", rname: "hostmaster.com", ... }
 * ```
 */
export interface Zone {
  /** Canonical origin: "com", "edu", or "" for an unbound local table. */
  readonly origin: string;
  /** The records. */
  readonly table: Table;
  /** Synthesized SOA at the origin; its TTL and minimum are the negative TTL. */
  readonly soa: ResourceRecord;
}

/**
 * Options for {@linkcode makeZone}.
 *
 * @example
 * ```ts
 * makeZone("edu", table, { serial: Math.floor(Date.now() / 1000), negativeTtl: 30 });
 * ```
 */
export interface MakeZoneOptions {
  /** SOA serial, 0 to 2^32-1, e.g. the load time in seconds. Default 1. */
  serial?: number;
  /** How long resolvers may cache "no such name/data", seconds. Default 60. */
  negativeTtl?: number;
}

/** Default {@linkcode MakeZoneOptions.negativeTtl}, seconds. */
export const DEFAULT_NEGATIVE_TTL = 60;

/** Most CNAMEs {@linkcode lookup} follows for one question. */
export const MAX_CNAME_HOPS = 8;

/**
 * Binds a table to an origin and synthesizes its SOA (mname `ns.<origin>`,
 * rname `hostmaster.<origin>`, or `localhost` for origin "", refresh 3600,
 * retry 600, expire 86400).
 *
 * @param origin The zone's name, with or without the trailing dot; "" for a
 * local table not bound to a zone.
 * @param table The zone's records.
 * @param options SOA serial and negative TTL.
 * @returns The zone.
 * @throws {TableError} If a record lies outside the origin, or a CNAME is at
 * the origin (where the SOA is).
 * @throws {RangeError} If the origin, serial or negative TTL is invalid.
 *
 * @example
 * ```ts
 * const table = parseTable("www.mit.edu 203.0.113.10", "global_edu_dns.txt");
 * const zone = makeZone("edu", table, { serial: 2024010100 });
 * lookup([zone], "www.mit.edu", RR_TYPE.A).kind; // "answer"
 * ```
 */
export function makeZone(
  origin: string,
  table: Table,
  options: MakeZoneOptions = {},
): Zone {
  const zoneOrigin = origin === "" || origin === "."
    ? ""
    : validateName(origin);
  const serial = options.serial ?? 1;
  if (!Number.isInteger(serial) || serial < 0 || serial > 0xffffffff) {
    throw new RangeError(
      `Cannot make zone "${zoneOrigin}": serial ${serial} is not an integer ` +
        "from 0 to 4294967295",
    );
  }
  const negativeTtl = options.negativeTtl ?? DEFAULT_NEGATIVE_TTL;
  if (
    !Number.isInteger(negativeTtl) || negativeTtl < 0 || negativeTtl > MAX_TTL
  ) {
    throw new RangeError(
      `Cannot make zone "${zoneOrigin}": negative TTL ${negativeTtl} is not ` +
        `an integer from 0 to ${MAX_TTL}`,
    );
  }
  if (zoneOrigin !== "") {
    for (const [name, records] of table.records) {
      const line = table.lines.get(records[0] as ResourceRecord) ?? 0;
      if (!_isAtOrUnder(name, zoneOrigin)) {
        throw new TableError(
          table.file,
          line,
          `"${name}" is outside the zone "${zoneOrigin}"`,
        );
      }
      const cname = records.find((record) => record.type === RR_TYPE.CNAME);
      if (name === zoneOrigin && cname !== undefined) {
        throw new TableError(
          table.file,
          table.lines.get(cname) ?? line,
          `a CNAME cannot be at the zone origin "${zoneOrigin}" ` +
            "(its SOA is there)",
        );
      }
    }
  }
  const host = zoneOrigin === "" ? "localhost" : zoneOrigin;
  const soa: ResourceRecord = {
    name: zoneOrigin,
    type: RR_TYPE.SOA,
    class: CLASS_IN,
    ttl: negativeTtl,
    data: {
      type: 6,
      mname: zoneOrigin === "" ? "localhost" : `ns.${zoneOrigin}`,
      rname: `hostmaster.${host}`,
      serial,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: negativeTtl,
    },
  };
  return { origin: zoneOrigin, table, soa };
}

/**
 * What {@linkcode lookup} found. `answers` always starts with the CNAME chain
 * followed from the asked name, if any.
 *
 * - `answer`: the chain, then the records of the asked type (or every record
 *   at the name for ANY).
 * - `nodata`: the name exists (perhaps only as an empty non-terminal) but has
 *   no record of the type; `soa` goes in the authority section.
 * - `nxdomain`: the (last) name does not exist in its zone.
 * - `refused`: no zone covers the asked name.
 * - `cname_out`: the chain leads to `target`, which no given zone covers;
 *   the caller continues there.
 * - `loop`: the chain loops or is longer than {@linkcode MAX_CNAME_HOPS}
 *   (answer SERVFAIL).
 *
 * @example
 * ```ts
 * const result = lookup(zones, "docs.mit.edu", RR_TYPE.A);
 * if (result.kind === "answer") console.log(result.answers.length);
 * ```
 */
export type LookupResult =
  | { readonly kind: "answer"; readonly answers: ResourceRecord[] }
  | {
    readonly kind: "nodata";
    readonly answers: ResourceRecord[];
    readonly soa: ResourceRecord;
  }
  | {
    readonly kind: "nxdomain";
    readonly answers: ResourceRecord[];
    readonly soa: ResourceRecord;
  }
  | { readonly kind: "refused" }
  | {
    readonly kind: "cname_out";
    readonly answers: ResourceRecord[];
    readonly target: string;
  }
  | { readonly kind: "loop"; readonly answers: ResourceRecord[] };

/**
 * Answers one question from `zones`: the zone with the longest origin that
 * covers the name answers it, names match exactly and case-insensitively,
 * CNAMEs are followed (unless CNAME or ANY is asked) through any of the
 * zones, and TTLs are returned as stored.
 *
 * @param zones The zones to answer from.
 * @param name The asked name, any case, with or without the trailing dot.
 * @param type The asked type (a number from `RR_TYPE`).
 * @returns What was found; see {@linkcode LookupResult}.
 *
 * @example
 * ```ts
 * const com = makeZone("com", parseTable(
 *   "shop.example.com CNAME www.example.com\nwww.example.com 198.51.100.1",
 *   "com.txt",
 * ));
 * const result = lookup([com], "SHOP.example.com.", RR_TYPE.A);
 * // { kind: "answer", answers: [CNAME shop → www, A 198.51.100.1] }
 * ```
 */
export function lookup(
  zones: readonly Zone[],
  name: string,
  type: number,
): LookupResult {
  const answers: ResourceRecord[] = [];
  const seen = new Set<string>();
  let current = canonicalName(name);
  for (;;) {
    seen.add(current);
    const zone = _zoneFor(zones, current);
    if (zone === undefined) {
      return answers.length === 0
        ? { kind: "refused" }
        : { kind: "cname_out", answers, target: current };
    }
    const records = _recordsAt(zone, current);
    if (records.length === 0) {
      return _exists(zone, current)
        ? { kind: "nodata", answers, soa: zone.soa }
        : { kind: "nxdomain", answers, soa: zone.soa };
    }
    const matching = type === RR_TYPE.ANY
      ? records
      : records.filter((record) => record.type === type);
    if (matching.length > 0) {
      return { kind: "answer", answers: [...answers, ...matching] };
    }
    const cname = records.find((record) => record.type === RR_TYPE.CNAME);
    if (cname === undefined || !("target" in cname.data)) {
      return { kind: "nodata", answers, soa: zone.soa };
    }
    answers.push(cname);
    const target = canonicalName(cname.data.target);
    if (seen.has(target) || answers.length > MAX_CNAME_HOPS) {
      return { kind: "loop", answers };
    }
    current = target;
  }
}

// ---- Helpers ----

function _isAtOrUnder(name: string, origin: string): boolean {
  return name === origin || name.endsWith(`.${origin}`);
}

function _zoneFor(zones: readonly Zone[], name: string): Zone | undefined {
  let best: Zone | undefined;
  for (const zone of zones) {
    const covers = zone.origin === ""
      ? zone.table.records.has(name)
      : _isAtOrUnder(name, zone.origin);
    if (
      covers && (best === undefined || zone.origin.length > best.origin.length)
    ) {
      best = zone;
    }
  }
  return best;
}

function _recordsAt(zone: Zone, name: string): readonly ResourceRecord[] {
  const records = zone.table.records.get(name) ?? [];
  return zone.origin !== "" && name === zone.origin
    ? [zone.soa, ...records]
    : records;
}

// Names that own no record but have descendants in the zone (RFC 8020: they
// exist, so they get NODATA). Computed once per table.
const _nonTerminals = new WeakMap<Table, ReadonlySet<string>>();

function _exists(zone: Zone, name: string): boolean {
  if (name === zone.origin) return true;
  let names = _nonTerminals.get(zone.table);
  if (names === undefined) {
    const found = new Set<string>();
    for (const owner of zone.table.records.keys()) {
      let dot = owner.indexOf(".");
      while (dot >= 0) {
        found.add(owner.slice(dot + 1));
        dot = owner.indexOf(".", dot + 1);
      }
    }
    names = found;
    _nonTerminals.set(zone.table, names);
  }
  return names.has(name);
}
