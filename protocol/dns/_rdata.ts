/**
 * RDATA of the record types the codec knows, both ways. Internal to the DNS
 * codec: message.ts frames each record and calls these for its data.
 *
 * @module
 */

import {
  formatIpv4,
  formatIpv6,
  parseIpv4Number,
  parseIpv6,
} from "./address.ts";
import { CLASS_IN, RR_TYPE, typeName } from "./constants.ts";
import type { RecordData } from "./message.ts";
import type { Reader } from "./_reader.ts";
import { checkUint, type Writer } from "./_writer.ts";

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

/** Classes whose records may have empty RDATA in UPDATE (RFC 2136 §2.4). */
const CLASS_NONE = 254;
const CLASS_ANY = 255;

/**
 * Decodes the RDATA in `[start, end)` of a record of `type` and `cls`.
 *
 * A and AAAA data is read as an address only in class IN, whose format RFC
 * 1035 §3.4.1 and RFC 3596 define; in other classes, and for types the
 * codec does not know, the bytes are kept opaque. Empty RDATA in classes
 * NONE and ANY is kept opaque too, as UPDATE uses it.
 */
export function decodeRdata(
  r: Reader,
  type: number,
  cls: number,
  start: number,
  end: number,
): RecordData {
  const length = end - start;
  if (length === 0 && (cls === CLASS_NONE || cls === CLASS_ANY)) {
    return { type, raw: new Uint8Array(0) };
  }
  const mismatch = (state: string): never =>
    r.fail(
      `${typeName(type)} RDATA at offset ${start} is ${length} bytes, ${state}`,
      start,
    );
  const exact = (next: number, what: string): void => {
    if (next !== end) mismatch(`but its ${what} take ${next - start}`);
  };
  switch (type) {
    case RR_TYPE.A:
      if (cls !== CLASS_IN) break;
      if (length !== 4) mismatch("not 4");
      return { type, address: formatIpv4(r.bytes.subarray(start, end)) };
    case RR_TYPE.AAAA:
      if (cls !== CLASS_IN) break;
      if (length !== 16) mismatch("not 16");
      return { type, address: formatIpv6(r.bytes.subarray(start, end)) };
    case RR_TYPE.NS:
    case RR_TYPE.CNAME:
    case RR_TYPE.PTR: {
      const target = r.name(start);
      exact(target.next, "name's bytes");
      return { type, target: target.name };
    }
    case RR_TYPE.MX: {
      if (length < 3) mismatch("too short for a preference and a name");
      const exchange = r.name(start + 2);
      exact(exchange.next, "preference and name");
      return {
        type,
        preference: r.view.getUint16(start),
        exchange: exchange.name,
      };
    }
    case RR_TYPE.SOA: {
      const mname = r.name(start);
      const rname = r.name(mname.next);
      exact(rname.next + 20, "two names and five 32-bit numbers");
      const view = r.view;
      const at = rname.next;
      return {
        type,
        mname: mname.name,
        rname: rname.name,
        serial: view.getUint32(at),
        refresh: view.getUint32(at + 4),
        retry: view.getUint32(at + 8),
        expire: view.getUint32(at + 12),
        minimum: view.getUint32(at + 16),
      };
    }
    case RR_TYPE.TXT: {
      if (length === 0) mismatch("but TXT needs at least one string");
      const texts: string[] = [];
      for (let at = start; at < end;) {
        const size = r.bytes[at] ?? 0;
        if (at + 1 + size > end) {
          r.fail(
            `TXT string at offset ${at} of ${size} bytes runs past the end of its RDATA at offset ${end}`,
            at,
          );
        }
        texts.push(utf8.decode(r.bytes.subarray(at + 1, at + 1 + size)));
        at += 1 + size;
      }
      return { type, texts };
    }
  }
  return { type, raw: r.bytes.slice(start, end) };
}

/**
 * Encodes `data` as RDATA into `w`, compressing the names RFC 1035 record
 * types carry (RFC 3597 §4 allows no others).
 *
 * @param what Names the record in error messages.
 * @throws {TypeError} On data that has no wire form.
 */
export function encodeRdata(w: Writer, data: RecordData, what: string): void {
  const fail = (state: string): never => {
    throw new TypeError(`Cannot encode ${what}: ${state}`);
  };
  if ("raw" in data) {
    if (!(data.raw instanceof Uint8Array)) fail("raw data is not a Uint8Array");
    w.bytes(data.raw);
    return;
  }
  switch (data.type) {
    case RR_TYPE.A:
      w.u32(
        parseIpv4Number(data.address) ??
          fail(`address "${data.address}" is not a dotted quad`),
      );
      return;
    case RR_TYPE.AAAA:
      w.bytes(
        parseIpv6(data.address) ??
          fail(`address "${data.address}" is not IPv6 text`),
      );
      return;
    case RR_TYPE.NS:
    case RR_TYPE.CNAME:
    case RR_TYPE.PTR:
      w.name(data.target);
      return;
    case RR_TYPE.MX:
      checkUint(data.preference, 0xffff, `${what} preference`);
      w.u16(data.preference);
      w.name(data.exchange);
      return;
    case RR_TYPE.SOA:
      w.name(data.mname);
      w.name(data.rname);
      for (
        const key of [
          "serial",
          "refresh",
          "retry",
          "expire",
          "minimum",
        ] as const
      ) {
        checkUint(data[key], 0xffffffff, `${what} ${key}`);
        w.u32(data[key]);
      }
      return;
    case RR_TYPE.TXT: {
      if (!Array.isArray(data.texts) || data.texts.length === 0) {
        fail("TXT data needs at least one string");
      }
      for (const text of data.texts) {
        const bytes = encoder.encode(text);
        if (bytes.length > 255) {
          fail(`TXT string of ${bytes.length} bytes is over the limit of 255`);
        }
        w.u8(bytes.length);
        w.bytes(bytes);
      }
      return;
    }
  }
  // Reachable from JavaScript callers, whose data the type system never saw.
  const type = (data as { readonly type: number }).type;
  fail(`data of type ${typeName(type)} needs raw bytes`);
}
