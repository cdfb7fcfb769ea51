/**
 * DNS messages (RFC 1035 §4.1) with AAAA (RFC 3596) and EDNS(0) (RFC 6891):
 * a strict decoder with limits, and an encoder that compresses names and
 * truncates to a size. Pure functions over `Uint8Array`; no I/O.
 *
 * @module
 */

import { RR_TYPE } from "./constants.ts";
import { DnsFormatError } from "./errors.ts";
import { decodeRdata, encodeRdata } from "./_rdata.ts";
import { Reader } from "./_reader.ts";
import { checkUint, Writer } from "./_writer.ts";

export { DnsFormatError } from "./errors.ts";
export { canonicalName } from "./name.ts";

/** One entry of the question section. */
export interface Question {
  /** The name asked about, as text without a trailing dot. */
  readonly name: string;
  /** The record type asked for, such as `RR_TYPE.A`. */
  readonly type: number;
  /** The class, almost always `CLASS_IN`. */
  readonly class: number;
}

/**
 * A record's data. Known types are decoded into fields; anything else —
 * unknown types, A and AAAA outside class IN, empty UPDATE data — is kept as
 * opaque `raw` bytes. Check for the field (`"address" in data`), not only
 * the type, since `raw` may carry any type.
 */
export type RecordData =
  /** A: a dotted quad. */
  | { readonly type: 1; readonly address: string }
  /** AAAA: RFC 5952 text, such as `"2001:db8::1"` or `"::ffff:192.0.2.1"`. */
  | { readonly type: 28; readonly address: string }
  /** NS, CNAME, PTR: the name pointed to. */
  | { readonly type: 2 | 5 | 12; readonly target: string }
  /** MX. */
  | {
    readonly type: 15;
    readonly preference: number;
    readonly exchange: string;
  }
  /**
   * TXT: one or more character-strings, each at most 255 bytes on the wire,
   * UTF-8 (bytes that are not UTF-8 decode as U+FFFD).
   */
  | { readonly type: 16; readonly texts: readonly string[] }
  /** SOA. */
  | {
    readonly type: 6;
    readonly mname: string;
    readonly rname: string;
    readonly serial: number;
    readonly refresh: number;
    readonly retry: number;
    readonly expire: number;
    readonly minimum: number;
  }
  /** Anything else, kept opaque. */
  | { readonly type: number; readonly raw: Uint8Array };

/** A resource record (RFC 1035 §4.1.3). */
export interface ResourceRecord {
  /** The owner name, as text without a trailing dot. */
  readonly name: string;
  /** The record type; equal to `data.type`. */
  readonly type: number;
  /** The class. */
  readonly class: number;
  /** Seconds the record may be cached, 0 to 2³²−1. */
  readonly ttl: number;
  /** The RDATA. */
  readonly data: RecordData;
}

/** One EDNS option (RFC 6891 §6.1.2), such as a cookie (code 10). */
export interface EdnsOption {
  /** The option code. */
  readonly code: number;
  /** The option's bytes, uninterpreted. */
  readonly data: Uint8Array;
}

/** The OPT pseudo-record's contents (RFC 6891 §6.1.3). */
export interface Edns {
  /**
   * The sender's UDP payload size, as sent; RFC 6891 §6.2.5 says to treat
   * values under 512 as 512 (see {@linkcode maxUdpResponseSize}).
   */
  readonly udpSize: number;
  /** The upper 8 bits of the 12-bit response code. */
  readonly extendedRcode: number;
  /** The EDNS version; only 0 exists. */
  readonly version: number;
  /** The DO bit: the sender wants DNSSEC records. */
  readonly dnssecOk: boolean;
  /** The options, in order. */
  readonly options: readonly EdnsOption[];
}

/** The header's flags word (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD/CD). */
export interface Flags {
  /** A response (true) or a query. */
  readonly qr: boolean;
  /** The kind of query: 0 QUERY, 4 NOTIFY, 5 UPDATE, … (4 bits). */
  readonly opcode: number;
  /** Authoritative answer. */
  readonly aa: boolean;
  /** Truncated: the answer did not fit; retry over TCP. */
  readonly tc: boolean;
  /** Recursion desired. */
  readonly rd: boolean;
  /** Recursion available. */
  readonly ra: boolean;
  /** Authentic data. */
  readonly ad: boolean;
  /** Checking disabled. */
  readonly cd: boolean;
  /**
   * The low 4 bits of the response code; with EDNS the full code is
   * `(edns.extendedRcode << 4) | rcode` (see {@linkcode fullRcode}).
   */
  readonly rcode: number;
}

/** A whole DNS message. */
export interface DnsMessage {
  /** The id a response echoes, 0–65535. */
  readonly id: number;
  /** The header flags. */
  readonly flags: Flags;
  /** The question section. */
  readonly questions: readonly Question[];
  /** The answer section. */
  readonly answers: readonly ResourceRecord[];
  /** The authority section. */
  readonly authorities: readonly ResourceRecord[];
  /** The additional section, without the OPT record (that is `edns`). */
  readonly additionals: readonly ResourceRecord[];
  /** EDNS(0), when the message has an OPT record. */
  readonly edns?: Edns;
}

/** Limits {@linkcode decodeMessage} enforces; each has a documented default. */
export interface DecodeLimits {
  /** Most questions. Default 4; real queries have one. */
  readonly maxQuestions: number;
  /** Most records in all three sections together, OPT included. Default 1024. */
  readonly maxRecords: number;
  /** Most compression pointers followed in one name. Default 32. */
  readonly maxPointerJumps: number;
}

/** The default limits. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = Object.freeze({
  maxQuestions: 4,
  maxRecords: 1024,
  maxPointerJumps: 32,
});

const HEADER_LENGTH = 12;

/**
 * Reads just the header: enough to drop responses sent to a server (`qr`)
 * or to answer a message that fails to decode with its own id.
 *
 * @param bytes A message, or its first 12 bytes.
 * @returns The id, flags and section counts, or `undefined` when fewer
 *   than 12 bytes are given.
 *
 * @example
 * ```ts
 * const header = decodeHeader(packet);
 * if (header === undefined || header.flags.qr) return; // not a query
 * ```
 */
export function decodeHeader(bytes: Uint8Array):
  | {
    id: number;
    flags: Flags;
    qdcount: number;
    ancount: number;
    nscount: number;
    arcount: number;
  }
  | undefined {
  if (bytes.length < HEADER_LENGTH) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_LENGTH);
  const word = view.getUint16(2);
  return {
    id: view.getUint16(0),
    flags: {
      qr: (word & 0x8000) !== 0,
      opcode: (word >>> 11) & 0xf,
      aa: (word & 0x0400) !== 0,
      tc: (word & 0x0200) !== 0,
      rd: (word & 0x0100) !== 0,
      ra: (word & 0x0080) !== 0,
      ad: (word & 0x0020) !== 0,
      cd: (word & 0x0010) !== 0,
      rcode: word & 0xf,
    },
    qdcount: view.getUint16(4),
    ancount: view.getUint16(6),
    nscount: view.getUint16(8),
    arcount: view.getUint16(10),
  };
}

const SECTIONS = ["answer", "authority", "additional"] as const;

/**
 * Decodes a whole message, strictly.
 *
 * Names come back as text without a trailing dot, in the case sent (`""`
 * for the root); label bytes that are dots, spaces, non-printable or
 * special to zone files are escaped as dig prints them (`\.`, `\DDD`, …).
 * Record data of known types is decoded (see {@linkcode RecordData}); the
 * OPT record becomes `edns`. Data bytes are copied: the result does not
 * share memory with `bytes`. The header's reserved Z bit is not kept.
 *
 * Throws {@linkcode DnsFormatError} (with the message's id from byte 12 on)
 * for: fewer than 12 bytes; more questions or records than the limits
 * allow; counts that run past the end; a label length byte with the
 * reserved 0x40 or 0x80 bits (a label over 63 bytes); a name over 255
 * bytes, counted through pointers; a compression pointer that does not
 * point back before the name (or before the previous target), which rules
 * out loops, or more than `maxPointerJumps` of them; RDATA whose length
 * disagrees with its type (A ≠ 4 or AAAA ≠ 16 bytes, NS/CNAME/PTR/MX/SOA
 * not ending where their fields end, TXT empty or with a string overrunning
 * it); a second OPT record, an OPT outside the additional section or with
 * an owner other than the root, EDNS options overrunning it; and bytes left
 * after the last record.
 *
 * @param bytes One message, such as a UDP payload.
 * @param limits Overrides of {@linkcode DEFAULT_DECODE_LIMITS}.
 * @returns The message.
 *
 * @example
 * ```ts
 * const query = decodeMessage(packet);
 * query.questions[0]; // { name: "example.com", type: 1, class: 1 }
 * ```
 */
export function decodeMessage(
  bytes: Uint8Array,
  limits?: Partial<DecodeLimits>,
): DnsMessage {
  const { maxQuestions, maxRecords, maxPointerJumps } = {
    ...DEFAULT_DECODE_LIMITS,
    ...limits,
  };
  const header = decodeHeader(bytes);
  if (header === undefined) {
    throw new DnsFormatError(
      `Cannot decode DNS message: it is ${bytes.length} bytes, shorter than the ${HEADER_LENGTH}-byte header`,
      bytes.length,
    );
  }
  const r = new Reader(bytes, maxPointerJumps);
  r.header = { id: header.id, flags: header.flags };
  if (header.qdcount > maxQuestions) {
    r.fail(
      `question count ${header.qdcount} is over the limit of ${maxQuestions}`,
      4,
    );
  }
  const counts = [header.ancount, header.nscount, header.arcount] as const;
  const total = counts[0] + counts[1] + counts[2];
  if (total > maxRecords) {
    r.fail(`record count ${total} is over the limit of ${maxRecords}`, 6);
  }

  let at = HEADER_LENGTH;
  const questions: Question[] = [];
  for (let i = 0; i < header.qdcount; i++) {
    const name = r.name(at);
    r.need(name.next, 4, `question ${i + 1}`);
    questions.push({
      name: name.name,
      type: r.view.getUint16(name.next),
      class: r.view.getUint16(name.next + 2),
    });
    at = name.next + 4;
  }

  const sections: ResourceRecord[][] = [[], [], []];
  let edns: Edns | undefined;
  for (let s = 0; s < 3; s++) {
    const section = SECTIONS[s] ?? "additional";
    for (let i = 0; i < (counts[s] ?? 0); i++) {
      const start = at;
      const owner = r.name(at);
      at = owner.next;
      r.need(at, 10, `${section} record ${i + 1}`);
      const view = r.view;
      const type = view.getUint16(at);
      const cls = view.getUint16(at + 2);
      const ttl = view.getUint32(at + 4);
      const rdlength = view.getUint16(at + 8);
      at += 10;
      r.need(at, rdlength, `RDATA of ${section} record ${i + 1}`);
      const end = at + rdlength;
      if (type === RR_TYPE.OPT) {
        if (section !== "additional") {
          r.fail(
            `OPT record at offset ${start} is in the ${section} section, not the additional section`,
            start,
          );
        }
        if (edns !== undefined) {
          r.fail(`second OPT record at offset ${start}`, start);
        }
        if (owner.name !== "") {
          r.fail(
            `OPT record at offset ${start} is owned by "${owner.name}", not the root`,
            start,
          );
        }
        edns = {
          udpSize: cls,
          extendedRcode: ttl >>> 24,
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          options: decodeOptions(r, at, end),
        };
      } else {
        sections[s]?.push({
          name: owner.name,
          type,
          class: cls,
          ttl,
          data: decodeRdata(r, type, cls, at, end),
        });
      }
      at = end;
    }
  }
  if (at !== bytes.length) {
    r.fail(
      `${bytes.length - at} bytes follow the last record at offset ${at}`,
      at,
    );
  }
  const message: DnsMessage = {
    id: header.id,
    flags: header.flags,
    questions,
    answers: sections[0] ?? [],
    authorities: sections[1] ?? [],
    additionals: sections[2] ?? [],
  };
  return edns === undefined ? message : { ...message, edns };
}

function decodeOptions(r: Reader, start: number, end: number): EdnsOption[] {
  const options: EdnsOption[] = [];
  for (let at = start; at < end;) {
    const length = end - at < 4 ? -1 : r.view.getUint16(at + 2);
    if (length < 0 || at + 4 + length > end) {
      r.fail(
        `EDNS option at offset ${at} runs past the end of its OPT record at offset ${end}`,
        at,
      );
    }
    options.push({
      code: r.view.getUint16(at),
      data: r.bytes.slice(at + 4, at + 4 + length),
    });
    at += 4 + length;
  }
  return options;
}

/** Options for {@linkcode encodeMessage}. */
export interface EncodeOptions {
  /**
   * Largest size allowed, at least 12 (over UDP: the query's EDNS size, or
   * 512; see {@linkcode maxUdpResponseSize}). No limit when absent.
   *
   * When the whole message does not fit, it is encoded again with TC set
   * and the answer, authority and additional sections emptied, the
   * question and OPT kept, as BIND does. Should even that not fit, the
   * questions go too, then the OPT record.
   */
  readonly maxSize?: number;
}

/**
 * Encodes a message, compressing names (RFC 1035 §4.1.4): in questions,
 * owner names, and the names inside NS, CNAME, PTR, MX and SOA data. A
 * suffix matches an earlier one without regard to ASCII case, and then
 * takes its case, as in BIND. `edns` becomes an OPT record at the end of
 * the additional section (udpSize in its CLASS; extended rcode, version
 * and DO in its TTL).
 *
 * @param message The message; names may end in a dot.
 * @param options The size limit, if any.
 * @returns The bytes, and whether they were truncated to fit `maxSize`.
 * @throws {TypeError} On input with no wire form: a label over 63 bytes or
 *   empty, a name over 255 bytes, bad address text, a TXT string over 255
 *   bytes or no TXT string, a number out of its field's range (`rcode`
 *   over 15 included: put the rest in `edns.extendedRcode`), a record whose
 *   `type` is not its `data.type`, an OPT record in a section, RDATA over
 *   65535 bytes.
 *
 * @example
 * ```ts
 * const { bytes } = encodeMessage({
 *   id: 0x1234,
 *   flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0 },
 *   questions: [{ name: "example.com", type: RR_TYPE.A, class: CLASS_IN }],
 *   answers: [],
 *   authorities: [],
 *   additionals: [],
 * });
 * bytes.length; // 29, the query dig sends without EDNS
 * ```
 */
export function encodeMessage(
  message: DnsMessage,
  options: EncodeOptions = {},
): { bytes: Uint8Array; truncated: boolean } {
  const { maxSize } = options;
  if (maxSize !== undefined && (!Number.isInteger(maxSize) || maxSize < 12)) {
    throw new TypeError(
      `Cannot encode DNS message: maxSize ${maxSize} is not an integer of at least ${HEADER_LENGTH}`,
    );
  }
  const bytes = encodeParts(message, message, message.edns);
  if (maxSize === undefined || bytes.length <= maxSize) {
    return { bytes, truncated: false };
  }
  const flags = { ...message.flags, tc: true };
  const empty = {
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  const fallbacks = [
    { ...empty, questions: message.questions, edns: message.edns },
    { ...empty, edns: message.edns },
    { ...empty, edns: undefined },
  ];
  let smallest = bytes;
  for (const { edns, ...sections } of fallbacks) {
    smallest = encodeParts({ id: message.id, flags }, sections, edns);
    if (smallest.length <= maxSize) break;
  }
  return { bytes: smallest, truncated: true };
}

function encodeParts(
  head: { readonly id: number; readonly flags: Flags },
  sections: Pick<
    DnsMessage,
    "questions" | "answers" | "authorities" | "additionals"
  >,
  edns: Edns | undefined,
): Uint8Array {
  const { id, flags } = head;
  checkUint(id, 0xffff, "id");
  checkUint(flags.opcode, 0xf, "opcode");
  checkUint(flags.rcode, 0xf, "rcode");
  const counts = [
    sections.questions.length,
    sections.answers.length,
    sections.authorities.length,
    sections.additionals.length + (edns === undefined ? 0 : 1),
  ];
  for (const count of counts) checkUint(count, 0xffff, "section count");

  const w = new Writer();
  w.u16(id);
  w.u16(
    (flags.qr ? 0x8000 : 0) | (flags.opcode << 11) | (flags.aa ? 0x0400 : 0) |
      (flags.tc ? 0x0200 : 0) | (flags.rd ? 0x0100 : 0) |
      (flags.ra ? 0x0080 : 0) | (flags.ad ? 0x0020 : 0) |
      (flags.cd ? 0x0010 : 0) | flags.rcode,
  );
  for (const count of counts) w.u16(count);

  for (const question of sections.questions) {
    checkUint(question.type, 0xffff, "question type");
    checkUint(question.class, 0xffff, "question class");
    w.name(question.name);
    w.u16(question.type);
    w.u16(question.class);
  }
  const lists = [
    sections.answers,
    sections.authorities,
    sections.additionals,
  ] as const;
  for (let s = 0; s < lists.length; s++) {
    const records = lists[s]!;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const what = `${SECTIONS[s]} record ${i + 1} ("${record.name}")`;
      if (record.type === RR_TYPE.OPT) {
        throw new TypeError(
          `Cannot encode ${what}: an OPT record goes in edns, not in a section`,
        );
      }
      if (record.data.type !== record.type) {
        throw new TypeError(
          `Cannot encode ${what}: its type ${record.type} is not its data's type ${record.data.type}`,
        );
      }
      checkUint(record.type, 0xffff, `${what} type`);
      checkUint(record.class, 0xffff, `${what} class`);
      checkUint(record.ttl, 0xffffffff, `${what} TTL`);
      w.name(record.name);
      w.u16(record.type);
      w.u16(record.class);
      w.u32(record.ttl);
      writeRdata(w, what, () => encodeRdata(w, record.data, what));
    }
  }
  if (edns !== undefined) {
    checkUint(edns.udpSize, 0xffff, "EDNS udpSize");
    checkUint(edns.extendedRcode, 0xff, "EDNS extendedRcode");
    checkUint(edns.version, 0xff, "EDNS version");
    w.u8(0);
    w.u16(RR_TYPE.OPT);
    w.u16(edns.udpSize);
    w.u32(
      ((edns.extendedRcode << 24) | (edns.version << 16) |
        (edns.dnssecOk ? 0x8000 : 0)) >>> 0,
    );
    writeRdata(w, "OPT record", () => {
      for (const option of edns.options) {
        checkUint(option.code, 0xffff, "EDNS option code");
        checkUint(option.data.length, 0xffff, "EDNS option length");
        w.u16(option.code);
        w.u16(option.data.length);
        w.bytes(option.data);
      }
    });
  }
  return w.finish();
}

/** Writes RDLENGTH, then the RDATA `write` produces, then fixes the length. */
function writeRdata(w: Writer, what: string, write: () => void): void {
  const lengthAt = w.length;
  w.u16(0);
  write();
  const length = w.length - lengthAt - 2;
  if (length > 0xffff) {
    throw new TypeError(
      `Cannot encode ${what}: its RDATA is ${length} bytes, over the limit of 65535`,
    );
  }
  w.setU16(lengthAt, length);
}

/**
 * The full response code: the header's 4 bits and, with EDNS, the 8 bits
 * above them (RFC 6891 §6.1.3).
 *
 * @example
 * ```ts
 * fullRcode(response); // 16 (BADVERS) for extendedRcode 1, rcode 0
 * ```
 */
export function fullRcode(message: DnsMessage): number {
  return ((message.edns?.extendedRcode ?? 0) << 4) | message.flags.rcode;
}

/**
 * The largest UDP response a query allows: its EDNS payload size, at least
 * 512 (RFC 6891 §6.2.5), or 512 without EDNS (RFC 1035 §4.2.1). Pass it as
 * `maxSize` to {@linkcode encodeMessage}; a server may lower it further.
 *
 * @example
 * ```ts
 * const limit = maxUdpResponseSize(query); // 1232 for dig's default query
 * encodeMessage(response, { maxSize: limit });
 * ```
 */
export function maxUdpResponseSize(query: DnsMessage): number {
  return query.edns === undefined ? 512 : Math.max(512, query.edns.udpSize);
}
