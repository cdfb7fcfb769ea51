/**
 * A throwaway TLS certificate made at start (`--tls-self-signed`, as
 * `ncat --ssl` does): an ECDSA P-256 key from WebCrypto and an X.509 v3
 * certificate for the given names, signed by that key, with its SHA-256
 * fingerprint for clients to pin (`--pin`).
 *
 * @module
 */

import {
  bitString,
  bool,
  context,
  ecdsaSignature,
  int,
  octetString,
  oid,
  pem,
  seq,
  set,
  utcTime,
  utf8,
} from "../protocol/der.ts";

/** A certificate and its key, PEM, and the certificate's fingerprint. */
export interface SelfSigned {
  /** The certificate, PEM. */
  readonly cert: string;
  /** The PKCS#8 private key, PEM. */
  readonly key: string;
  /** SHA-256 of the certificate's DER bytes, `AB:CD:…` (as openssl prints). */
  readonly fingerprint: string;
  /** The names and addresses it is valid for. */
  readonly hosts: readonly string[];
}

/** Options for {@linkcode createSelfSigned}. */
export interface SelfSignedOptions {
  /** DNS names and IP addresses. Default localhost, 127.0.0.1 and ::1. */
  hosts?: readonly string[];
  /** Days of validity from now (it starts an hour back for clock skew). 30. */
  days?: number;
}

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const COMMON_NAME = "2.5.4.3";
const SUBJECT_ALT_NAME = "2.5.29.17";
const BASIC_CONSTRAINTS = "2.5.29.19";
const KEY_USAGE = "2.5.29.15";
const EXT_KEY_USAGE = "2.5.29.37";
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

/**
 * Makes a key pair and a self-signed certificate for `hosts`.
 *
 * @example
 * ```ts
 * const { cert, key, fingerprint } = await createSelfSigned();
 * Deno.listenTls({ port: 8443, cert, key });
 * ```
 */
export async function createSelfSigned(
  options: SelfSignedOptions = {},
): Promise<SelfSigned> {
  const hosts = options.hosts ?? ["localhost", "127.0.0.1", "::1"];
  const days = options.days ?? 30;
  const keys = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", keys.publicKey),
  );
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", keys.privateKey),
  );
  const name = seq(set(seq(oid(COMMON_NAME), utf8(hosts[0] ?? "localhost"))));
  const now = Date.now();
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0]! &= 0x7f; // positive
  const algorithm = seq(oid(ECDSA_WITH_SHA256));
  const extensions = seq(
    seq(oid(SUBJECT_ALT_NAME), octetString(seq(...hosts.map(generalName)))),
    seq(oid(BASIC_CONSTRAINTS), bool(true), octetString(seq())),
    // digitalSignature only: the key signs the handshake.
    seq(oid(KEY_USAGE), bool(true), octetString(bitStringBits(0x80))),
    seq(oid(EXT_KEY_USAGE), octetString(seq(oid(SERVER_AUTH)))),
  );
  const tbs = seq(
    context(0, int(2)),
    int(serial),
    algorithm,
    name,
    seq(
      utcTime(new Date(now - 60 * 60 * 1000)),
      utcTime(new Date(now + days * 24 * 60 * 60 * 1000)),
    ),
    name,
    spki,
    context(3, extensions),
  );
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      keys.privateKey,
      tbs as Uint8Array<ArrayBuffer>,
    ),
  );
  const der = seq(tbs, algorithm, bitString(ecdsaSignature(raw)));
  return {
    cert: pem("CERTIFICATE", der),
    key: pem("PRIVATE KEY", pkcs8),
    fingerprint: await fingerprintOf(der),
    hosts,
  };
}

/** SHA-256 of DER bytes as `AB:CD:…`. */
export async function fingerprintOf(der: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>),
  );
  return Array.from(
    digest,
    (b) => b.toString(16).padStart(2, "0").toUpperCase(),
  ).join(":");
}

/**
 * A fingerprint as a user may type it (`ab:cd…`, `ABCD…`, with a `sha256/`
 * or `SHA256:` prefix) in the `AB:CD:…` form, or `undefined` when it is not
 * 32 bytes of hex.
 *
 * @example
 * ```ts
 * normalizeFingerprint("sha256/abcd…"); // "AB:CD:…"
 * ```
 */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(/^sha-?256[:/=]?/i, "").replace(/[:\s]/g, "");
  if (!/^[0-9a-f]{64}$/i.test(hex)) return undefined;
  return hex.toUpperCase().match(/../g)!.join(":");
}

/** A SAN GeneralName: an IP address ([7]) or a DNS name ([2]). */
function generalName(host: string): Uint8Array {
  const ip = ipBytes(host);
  return ip
    ? context(7, ip, false)
    : context(2, new TextEncoder().encode(host), false);
}

/** A KeyUsage BIT STRING holding the bits of one byte (7 unused bits trimmed). */
function bitStringBits(byte: number): Uint8Array {
  // digitalSignature is bit 0: one significant bit, seven unused.
  return Uint8Array.of(0x03, 0x02, 0x07, byte);
}

function ipBytes(host: string): Uint8Array | undefined {
  const v4 = host.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (v4) return Uint8Array.from(v4.slice(1).map(Number));
  if (!host.includes(":")) return undefined;
  const [head, tail] = host.split("::") as [string, string | undefined];
  const parse = (part: string | undefined) =>
    part ? part.split(":").map((g) => parseInt(g, 16)) : [];
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined
    ? left
    : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) {
    return undefined;
  }
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}
