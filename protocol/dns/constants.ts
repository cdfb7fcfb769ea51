/**
 * DNS code points (RFC 1035 §3.2, RFC 3596, RFC 6891, RFC 6895) and their
 * mnemonics as `dig` prints them. Pure: no I/O.
 *
 * @module
 */

/**
 * The resource record types the codec knows. Other types travel as opaque
 * bytes and are named `TYPE<n>` (RFC 3597 §5).
 *
 * @example
 * ```ts
 * RR_TYPE.AAAA; // 28
 * ```
 */
export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  ANY: 255,
} as const;

/**
 * Response codes. The first six fit the header's 4 bits; the others need
 * EDNS's extended rcode (RFC 6891 §6.1.3) or belong to UPDATE (RFC 2136).
 *
 * @example
 * ```ts
 * RCODE.NXDOMAIN; // 3
 * ```
 */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADVERS: 16,
} as const;

/** The Internet class, the only one socklab serves. */
export const CLASS_IN = 1;

const TYPE_NAMES = new Map<number, string>(
  Object.entries(RR_TYPE).map(([name, code]) => [code, name]),
);
const RCODE_NAMES = new Map<number, string>(
  Object.entries(RCODE).map(([name, code]) => [code, name]),
);
const CLASS_NAMES = new Map<number, string>([
  [1, "IN"],
  [3, "CH"],
  [4, "HS"],
  [254, "NONE"],
  [255, "ANY"],
]);

/**
 * The mnemonic of a record type.
 *
 * @param type A type code, 0–65535.
 * @returns `"A"`, `"AAAA"`, … for the types in {@linkcode RR_TYPE}, and
 *   `"TYPE<n>"` (RFC 3597 §5) for every other code.
 *
 * @example
 * ```ts
 * typeName(28); // "AAAA"
 * typeName(65); // "TYPE65"
 * ```
 */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/**
 * The code of a record type mnemonic, in any case.
 *
 * @param name `"a"`, `"MX"`, … or the generic `"TYPE<n>"` with n ≤ 65535.
 * @returns The code, or `undefined` when the name is neither.
 *
 * @example
 * ```ts
 * typeFromName("mx"); // 15
 * typeFromName("TYPE65"); // 65
 * typeFromName("SPF"); // undefined
 * ```
 */
export function typeFromName(name: string): number | undefined {
  const upper = name.toUpperCase();
  if (Object.hasOwn(RR_TYPE, upper)) {
    return RR_TYPE[upper as keyof typeof RR_TYPE];
  }
  const generic = /^TYPE(\d{1,5})$/.exec(upper);
  if (generic === null) return undefined;
  const code = Number(generic[1]);
  return code <= 0xffff ? code : undefined;
}

/**
 * The mnemonic of a response code, as in dig's `status:` line.
 *
 * @param rcode A full response code (with EDNS, up to 12 bits).
 * @returns `"NOERROR"`, `"NXDOMAIN"`, … or `"RCODE<n>"` for unassigned codes.
 *
 * @example
 * ```ts
 * rcodeName(3); // "NXDOMAIN"
 * rcodeName(23); // "RCODE23"
 * ```
 */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

/**
 * The mnemonic of a class.
 *
 * @param cls A class code, 0–65535.
 * @returns `"IN"`, `"CH"`, `"HS"`, `"NONE"`, `"ANY"`, or `"CLASS<n>"`.
 *
 * @example
 * ```ts
 * className(1); // "IN"
 * className(42); // "CLASS42"
 * ```
 */
export function className(cls: number): string {
  return CLASS_NAMES.get(cls) ?? `CLASS${cls}`;
}
