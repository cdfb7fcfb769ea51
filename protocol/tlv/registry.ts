/**
 * The single source of truth for the socklab TLV protocol: every message
 * type, every field, every error code and every service. The codec, the
 * `--trace` printer, `docs/PROTOCOL.md` and the Wireshark dissector are all
 * generated from these tables, so they cannot drift apart.
 *
 * Adding a message: give it an unused code in its service's range, list its
 * fields, run `deno task docs`. Codes and tags are never reused.
 *
 * @module
 */

/** The protocol version carried in `hello`; bumped on incompatible changes. */
export const PROTOCOL_VERSION = 1;

/** Bytes in every item header: a u16 tag and a u32 length, big-endian. */
export const HEADER_LENGTH = 6;

/** Field tags with this bit set hold nested items instead of a scalar. */
export const CONTAINER_BIT = 0x8000;

/** How a field's value bytes are read. */
export type FieldKind =
  | "u8"
  | "u16"
  | "u32"
  | "u64"
  | "f64"
  | "bool"
  | "string"
  | "bytes"
  | "group";

/** How often a field may appear in a message or group. */
export type Presence = "required" | "optional" | "repeated";

/** The fields of a message or group, by field name. */
export type FieldsSpec = Readonly<Record<string, Presence>>;

/** One field of the registry. */
export interface FieldSpec {
  /** Tag on the wire; groups have {@linkcode CONTAINER_BIT} set. */
  readonly tag: number;
  /** How the value bytes are read. */
  readonly kind: FieldKind;
  /** One line for the docs and the dissector. */
  readonly doc: string;
  /** For groups: the fields inside. */
  readonly fields?: FieldsSpec;
  /**
   * A secret (password, session token): `--trace`, hex dumps and the
   * dissector show `***` instead of its value.
   */
  readonly secret?: boolean;
}

/** One message type of the registry. */
export interface MessageSpec {
  /** Type code on the wire, 0x0001–0x7fff. */
  readonly code: number;
  /** The service that uses it ("core" for all of them). */
  readonly service: string;
  /** One line for the docs and the dissector. */
  readonly doc: string;
  /** Which fields it carries. */
  readonly fields: FieldsSpec;
  /**
   * A request answered by a stream of frames (a bulk transfer or a live
   * channel) rather than one reply: a server does not make other work
   * wait for it as it does for short requests.
   */
  readonly streamed?: boolean;
}

/** Size in bytes of each fixed-size kind; variable kinds are absent. */
export const FIXED_SIZE: Readonly<Partial<Record<FieldKind, number>>> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  f64: 8,
  bool: 1,
};

/** Every field, by name. Tags are global: a tag means the same everywhere. */
export const FIELDS = {
  id: {
    tag: 0x0001,
    kind: "u32",
    doc: "Request id chosen by the client; the response echoes it.",
  },
  version: { tag: 0x0002, kind: "u16", doc: "Protocol version." },
  service: {
    tag: 0x0003,
    kind: "string",
    doc: 'Service name, e.g. "calc".',
  },
  agent: {
    tag: 0x0004,
    kind: "string",
    doc: "Software name and version of the sender.",
  },
  code: { tag: 0x0005, kind: "u16", doc: "Error code (see the error table)." },
  message: {
    tag: 0x0006,
    kind: "string",
    doc: "Human-readable error message.",
  },
  column: {
    tag: 0x0007,
    kind: "u32",
    doc: "1-based column in the request text where the error was found.",
  },
  data: { tag: 0x0008, kind: "bytes", doc: "Opaque payload bytes." },
  expression: {
    tag: 0x0009,
    kind: "string",
    doc: "Arithmetic expression, UTF-8.",
  },
  value: {
    tag: 0x000a,
    kind: "f64",
    doc: "Numeric result, IEEE 754 double.",
  },
  text: {
    tag: 0x000b,
    kind: "string",
    doc: "The result as the server formats it for people.",
  },
  name: { tag: 0x000c, kind: "string", doc: "Name of a file or object." },
  size: { tag: 0x000d, kind: "u64", doc: "Total size in bytes." },
  digest: {
    tag: 0x000e,
    kind: "bytes",
    doc: "SHA-256 digest of the whole object (32 bytes).",
  },
  offset: {
    tag: 0x000f,
    kind: "u64",
    doc: "Byte offset into the object.",
  },
  max_frame: {
    tag: 0x0010,
    kind: "u32",
    doc: "Largest frame body the sender accepts, in bytes.",
  },
  max_fields: {
    tag: 0x0011,
    kind: "u16",
    doc: "Most fields the sender accepts in one frame.",
  },
  max_depth: {
    tag: 0x0012,
    kind: "u16",
    doc: "Deepest nesting of groups the sender accepts.",
  },
  idle_timeout: {
    tag: 0x0013,
    kind: "u32",
    doc: "Milliseconds of silence after which the sender closes.",
  },
  limits: {
    tag: 0x8001,
    kind: "group",
    doc: "The limits the server enforces on this connection.",
    fields: {
      max_frame: "required",
      max_fields: "required",
      max_depth: "required",
      idle_timeout: "optional",
    },
  },
  source: {
    tag: 0x0014,
    kind: "string",
    doc: 'Where the bytes come from: "cache" or "origin".',
  },
  json: {
    tag: 0x0015,
    kind: "string",
    doc: "A JSON document (counters, listings).",
  },
  user: {
    tag: 0x0016,
    kind: "string",
    doc: "A user name (HW5 login).",
  },
  password: {
    tag: 0x0017,
    kind: "string",
    doc: "The user's password, UTF-8; never shown in traces (use TLS).",
    secret: true,
  },
  token: {
    tag: 0x0018,
    kind: "string",
    doc: "A session token from login_ok; resumes the session on a new " +
      "connection until it expires. Never shown in traces.",
    secret: true,
  },
  ttl: {
    tag: 0x0019,
    kind: "u32",
    doc: "Seconds until the session token expires.",
  },
  time: {
    tag: 0x001a,
    kind: "u64",
    doc: "A time, microseconds since 1970-01-01 UTC.",
  },
  t1: {
    tag: 0x001b,
    kind: "u64",
    doc:
      "NTP t1: when the client sent the request (µs since 1970, client clock).",
  },
  t2: {
    tag: 0x001c,
    kind: "u64",
    doc: "NTP t2: when the server received the request (µs, server clock).",
  },
  t3: {
    tag: 0x001d,
    kind: "u64",
    doc: "NTP t3: when the server sent the reply (µs, server clock).",
  },
  seq: {
    tag: 0x001e,
    kind: "u64",
    doc: "Sequence number, counted by the sender (per room for chat).",
  },
  nick: {
    tag: 0x001f,
    kind: "string",
    doc: "A chat nickname (1–32 letters, digits, _ or -).",
  },
  room: {
    tag: 0x0020,
    kind: "string",
    doc: "A chat room name (1–32 letters, digits, _ or -).",
  },
  from: {
    tag: 0x0021,
    kind: "string",
    doc: "Nickname of the sender of a chat message.",
  },
  to: {
    tag: 0x0022,
    kind: "string",
    doc: "Nickname a private chat message is for.",
  },
  count: {
    tag: 0x0023,
    kind: "u32",
    doc: "How many (members of a room, messages replayed).",
  },
  entry: {
    tag: 0x8002,
    kind: "group",
    doc: "One object of a listing.",
    fields: { name: "required", size: "required", digest: "optional" },
  },
  room_entry: {
    tag: 0x8003,
    kind: "group",
    doc: "One chat room of a listing: its name and how many are in it.",
    fields: { room: "required", count: "required" },
  },
} as const satisfies Record<string, FieldSpec>;

/** Every message type, by name. */
export const MESSAGES = {
  hello: {
    code: 0x0001,
    service: "core",
    doc: "First frame a client sends: which service and protocol version.",
    fields: { version: "required", service: "required", agent: "optional" },
  },
  hello_ok: {
    code: 0x0002,
    service: "core",
    doc: "Server accepts the hello; carries its limits.",
    fields: {
      version: "required",
      service: "required",
      agent: "optional",
      limits: "optional",
    },
  },
  error: {
    code: 0x0003,
    service: "core",
    doc: "An error; `id` names the request it answers, if any.",
    fields: {
      id: "optional",
      code: "required",
      message: "required",
      column: "optional",
    },
  },
  ping: {
    code: 0x0004,
    service: "core",
    doc: "Liveness probe; answered with pong carrying the same id, and the " +
      "same time and data when given (the UDP pinger's sequence number, " +
      "send time and padding).",
    fields: { id: "optional", time: "optional", data: "optional" },
  },
  pong: {
    code: 0x0005,
    service: "core",
    doc: "Answer to ping, echoing its id, time and data.",
    fields: { id: "optional", time: "optional", data: "optional" },
  },
  echo_request: {
    code: 0x0100,
    service: "echo",
    doc: "Bytes to send back.",
    fields: { id: "required", data: "required" },
  },
  echo_reply: {
    code: 0x0101,
    service: "echo",
    doc: "The same bytes, sent back.",
    fields: { id: "required", data: "required" },
  },
  calc_request: {
    code: 0x0200,
    service: "calc",
    doc: "An expression to evaluate.",
    fields: { id: "required", expression: "required" },
  },
  calc_result: {
    code: 0x0201,
    service: "calc",
    doc: "The value of the expression; failures come as error frames.",
    fields: { id: "required", value: "required", text: "required" },
  },
  bulk_header: {
    code: 0x0300,
    service: "bulk",
    doc: "Starts a transfer: total size, digest, and the offset it starts at.",
    fields: {
      id: "required",
      name: "optional",
      size: "required",
      digest: "required",
      offset: "optional",
      source: "optional",
    },
  },
  bulk_data: {
    code: 0x0301,
    service: "bulk",
    doc: "One chunk of a transfer, at most 64 KiB of data.",
    fields: { id: "required", offset: "required", data: "required" },
  },
  bulk_end: {
    code: 0x0302,
    service: "bulk",
    doc: "Ends a transfer; `size` is the offset after the last byte sent.",
    fields: { id: "required", size: "required" },
  },
  video_get: {
    code: 0x0400,
    streamed: true,
    service: "video",
    doc: "Asks for a video from `offset` (default 0); answered by a bulk " +
      "transfer (bulk_header, bulk_data…, bulk_end) with the same id.",
    fields: { id: "required", name: "required", offset: "optional" },
  },
  video_list: {
    code: 0x0401,
    service: "video",
    doc: "Asks which videos the server has.",
    fields: { id: "required" },
  },
  video_list_reply: {
    code: 0x0402,
    service: "video",
    doc: "The videos, one entry each.",
    fields: { id: "required", entry: "repeated" },
  },
  live_subscribe: {
    code: 0x0410,
    streamed: true,
    service: "video",
    doc: "Starts watching a live channel; answered by live_start, then " +
      "live_data frames until live_end or the connection closes.",
    fields: { id: "required", name: "required" },
  },
  live_start: {
    code: 0x0411,
    service: "video",
    doc: "The channel is on; MPEG-TS bytes follow in live_data frames.",
    fields: { id: "required", name: "required" },
  },
  live_data: {
    code: 0x0412,
    service: "video",
    doc: "A piece of the live MPEG-TS stream (whole 188-byte packets).",
    fields: { id: "required", data: "required" },
  },
  live_end: {
    code: 0x0413,
    service: "video",
    doc: "The channel ended, or this viewer was dropped; `message` says why.",
    fields: { id: "required", message: "optional" },
  },
  stats_request: {
    code: 0x0420,
    service: "video",
    doc: "Asks for the server's counters.",
    fields: { id: "required" },
  },
  stats_reply: {
    code: 0x0421,
    service: "video",
    doc: "The counters as a JSON object.",
    fields: { id: "required", json: "required" },
  },
  login: {
    code: 0x0500,
    service: "auth",
    doc: "Logs in as `user`; answered by login_ok, or bad_credentials / " +
      "locked_out. On a server with users, every service message before " +
      "it is refused with auth_required.",
    fields: { id: "required", user: "required", password: "required" },
  },
  resume: {
    code: 0x0501,
    service: "auth",
    doc: "Resumes a session on this connection with the token of an " +
      "earlier login; answered by login_ok, or bad_token.",
    fields: { id: "required", token: "required" },
  },
  login_ok: {
    code: 0x0502,
    service: "auth",
    doc: "The connection is now `user`'s; `token` resumes the session on " +
      "another connection for `ttl` seconds.",
    fields: {
      id: "required",
      user: "required",
      token: "required",
      ttl: "required",
    },
  },
  logout: {
    code: 0x0503,
    service: "auth",
    doc: "Ends the session: the token stops working and the connection is " +
      "anonymous again; answered by logout_ok.",
    fields: { id: "required" },
  },
  logout_ok: {
    code: 0x0504,
    service: "auth",
    doc: "The session has ended.",
    fields: { id: "required" },
  },
  image_get: {
    code: 0x0600,
    streamed: true,
    service: "image",
    doc: "Asks for an image from `offset` (default 0); answered by a bulk " +
      "transfer with the same id.",
    fields: { id: "required", name: "required", offset: "optional" },
  },
  image_list: {
    code: 0x0601,
    service: "image",
    doc: "Asks which images the server has.",
    fields: { id: "required" },
  },
  image_list_reply: {
    code: 0x0602,
    service: "image",
    doc: "The images, one entry each.",
    fields: { id: "required", entry: "repeated" },
  },
  file_list: {
    code: 0x0700,
    service: "file",
    doc: "Asks which files the file server has, by name, skipping the " +
      "first `offset` (default 0) to ask for the next page.",
    fields: { id: "required", offset: "optional" },
  },
  file_list_reply: {
    code: 0x0701,
    service: "file",
    doc: "A page of files from the asked offset, one entry each (name, " +
      "size, digest); `count` is how many files there are in all.",
    fields: { id: "required", entry: "repeated", count: "optional" },
  },
  file_get: {
    code: 0x0702,
    streamed: true,
    service: "file",
    doc: "Asks for a file from `offset` (default 0); answered by a bulk " +
      "transfer with the same id.",
    fields: { id: "required", name: "required", offset: "optional" },
  },
  file_put: {
    code: 0x0703,
    service: "file",
    doc: "Offers a file of `size` bytes whose SHA-256 is `digest`; answered " +
      "by file_put_ready with the offset to send from (more than 0 when an " +
      "earlier upload of the same file was cut short), then the client " +
      "sends bulk_data frames and bulk_end with the same id.",
    fields: {
      id: "required",
      name: "required",
      size: "required",
      digest: "required",
    },
  },
  file_put_ready: {
    code: 0x0704,
    service: "file",
    doc: "Send the file's bytes from `offset` on.",
    fields: { id: "required", offset: "required" },
  },
  file_put_ok: {
    code: 0x0705,
    service: "file",
    doc: "The upload was verified against its digest and is in place.",
    fields: { id: "required", name: "required", size: "required" },
  },
  time_request: {
    code: 0x0800,
    service: "time",
    doc: "Asks the server's time; `t1` is the client's send time.",
    fields: { id: "required", t1: "required" },
  },
  time_reply: {
    code: 0x0801,
    service: "time",
    doc: "The server's receive (`t2`) and send (`t3`) times with the " +
      "client's `t1`: offset = ((t2 − t1) + (t3 − t4)) / 2, delay = " +
      "(t4 − t1) − (t3 − t2), t4 being when the reply arrived.",
    fields: { id: "required", t1: "required", t2: "required", t3: "required" },
  },
  time_subscribe: {
    code: 0x0802,
    service: "time",
    doc: "Asks for a time_tick every second; keep it with a ping at least " +
      "every few seconds, or it expires.",
    fields: { id: "required" },
  },
  time_tick: {
    code: 0x0803,
    service: "time",
    doc: "The server's clock, sent every second to subscribers.",
    fields: { id: "required", seq: "required", time: "required" },
  },
  time_unsubscribe: {
    code: 0x0804,
    service: "time",
    doc: "Stops the ticks of subscription `id`.",
    fields: { id: "required" },
  },
  chat_nick: {
    code: 0x0900,
    service: "chat",
    doc: "Takes (or changes to) nickname `nick`; answered by chat_ok or " +
      "nick_taken / bad_name.",
    fields: { id: "required", nick: "required" },
  },
  chat_join: {
    code: 0x0901,
    service: "chat",
    doc: "Joins `room` (created if new); answered by chat_ok, then the " +
      "room's last messages are replayed as chat_message frames.",
    fields: { id: "required", room: "required" },
  },
  chat_leave: {
    code: 0x0902,
    service: "chat",
    doc: "Leaves `room`; answered by chat_ok.",
    fields: { id: "required", room: "required" },
  },
  chat_say: {
    code: 0x0903,
    service: "chat",
    doc: "Says `text` in `room` (to every member, the sender too); " +
      "answered by chat_ok.",
    fields: { id: "required", room: "required", text: "required" },
  },
  chat_private: {
    code: 0x0904,
    service: "chat",
    doc: "Sends `text` to the user `to` only; answered by chat_ok or " +
      "not_found.",
    fields: { id: "required", to: "required", text: "required" },
  },
  chat_rooms: {
    code: 0x0905,
    service: "chat",
    doc: "Asks for the rooms and how many are in each.",
    fields: { id: "required" },
  },
  chat_rooms_reply: {
    code: 0x0906,
    service: "chat",
    doc: "The rooms, one room_entry each.",
    fields: { id: "required", room_entry: "repeated" },
  },
  chat_who: {
    code: 0x0907,
    service: "chat",
    doc: "Asks who is in `room`.",
    fields: { id: "required", room: "required" },
  },
  chat_who_reply: {
    code: 0x0908,
    service: "chat",
    doc: "The members of `room`, one nick each.",
    fields: { id: "required", room: "required", nick: "repeated" },
  },
  chat_ok: {
    code: 0x0909,
    service: "chat",
    doc: "The request `id` was done.",
    fields: { id: "required" },
  },
  chat_message: {
    code: 0x090a,
    service: "chat",
    doc: "A message pushed by the server: in `room` (numbered `seq` in that " +
      "room) or private (`to` set), from `from`, sent at `time`.",
    fields: {
      room: "optional",
      to: "optional",
      from: "required",
      text: "required",
      seq: "required",
      time: "required",
    },
  },
  chat_notice: {
    code: 0x090b,
    service: "chat",
    doc: "A notice pushed by the server: someone joined, left or changed " +
      "nickname in `room`, or (without room) a word from the server.",
    fields: { room: "optional", text: "required", time: "required" },
  },
} as const satisfies Record<string, MessageSpec>;

/** Error codes carried by `error` frames. */
export const ERRORS = {
  bad_frame: {
    code: 1,
    doc: "A frame or field could not be decoded; the connection is closed.",
  },
  frame_too_large: {
    code: 2,
    doc: "A frame's length is over the limit; the connection is closed.",
  },
  too_many_fields: {
    code: 3,
    doc: "A frame holds more fields than allowed; the connection is closed.",
  },
  too_deep: {
    code: 4,
    doc: "Groups are nested deeper than allowed; the connection is closed.",
  },
  unknown_type: {
    code: 5,
    doc: "The message type is not known to this server.",
  },
  bad_message: {
    code: 6,
    doc: "A required field is missing or a field has the wrong size.",
  },
  hello_required: {
    code: 7,
    doc: "The first frame was not a hello; the connection is closed.",
  },
  version_unsupported: {
    code: 8,
    doc: "The hello asked for a protocol version the server does not speak.",
  },
  wrong_service: {
    code: 9,
    doc: "The hello asked for a service this server does not offer.",
  },
  unexpected_message: {
    code: 10,
    doc: "The message is valid but not one this service accepts.",
  },
  idle_timeout: {
    code: 11,
    doc: "Nothing arrived within the idle timeout; the connection is closed.",
  },
  server_busy: {
    code: 12,
    doc: "The server is at its connection limit; try again later.",
  },
  shutting_down: {
    code: 13,
    doc: "The server is shutting down and takes no new work.",
  },
  internal: {
    code: 14,
    doc: "The server failed while handling the request.",
  },
  calc_syntax: {
    code: 32,
    doc: "The expression is not well-formed; `column` says where.",
  },
  calc_math: {
    code: 33,
    doc: "The expression is well-formed but has no value (division by " +
      "zero, a domain error, overflow, an unknown function).",
  },
  calc_limit: {
    code: 34,
    doc: "The expression is longer or nested deeper than the server allows.",
  },
  not_found: {
    code: 48,
    doc: "The named video, channel or file does not exist.",
  },
  bad_name: {
    code: 49,
    doc: "The name is not allowed (a path outside the directory, a hidden " +
      "name, bad encoding).",
  },
  upstream_failed: {
    code: 50,
    doc: "The origin could not be reached, failed mid-transfer or sent bytes " +
      "whose digest did not match; nothing was cached.",
  },
  bad_offset: {
    code: 51,
    doc: "The resume offset is beyond the end of the object.",
  },
  auth_required: {
    code: 64,
    doc: "This server has users: log in (or resume) before using a service.",
  },
  bad_credentials: {
    code: 65,
    doc: "The user name or password is wrong (which one is not said).",
  },
  locked_out: {
    code: 66,
    doc: "Too many failed logins for this user or address; the message " +
      "says when to try again.",
  },
  bad_token: {
    code: 67,
    doc: "The session token is unknown, expired or logged out; log in again.",
  },
  file_too_large: {
    code: 80,
    doc: "The upload is larger than the server's size limit.",
  },
  bad_upload: {
    code: 81,
    doc: "The upload broke the bulk rules or its SHA-256 is not the " +
      "announced digest; nothing of it was kept.",
  },
  superseded: {
    code: 82,
    doc: "A newer upload of the same file (a client resuming) took over; " +
      "the verified bytes stay for it.",
  },
  nick_taken: {
    code: 96,
    doc: "Someone else has that nickname.",
  },
  nick_required: {
    code: 97,
    doc: "Take a nickname (chat_nick) before joining or talking.",
  },
  not_in_room: {
    code: 98,
    doc: "Join the room before talking in it.",
  },
  rate_limited: {
    code: 99,
    doc: "Too many messages too fast; the message says when to go on.",
  },
  too_long: {
    code: 100,
    doc: "The message is longer than the server allows.",
  },
  too_many_rooms: {
    code: 101,
    doc: "The client is in as many chat rooms as the server allows; leave " +
      "one first.",
  },
} as const satisfies Record<string, { code: number; doc: string }>;

/** Services a hello may ask for. */
export const SERVICES = {
  echo: "Sends every echo_request back as an echo_reply.",
  calc: "Evaluates arithmetic expressions (HW1).",
  video: "Videos by name as bulk transfers, live channels, counters (HW4).",
  auth: "Login, session resume and logout (HW5); on a server with users " +
    "every other service accepts these messages too.",
  image: "Images by name as bulk transfers, and their listing (HW5).",
  hub: "The integrated service (HW5): calc, image, video and auth messages " +
    "on one connection.",
  file: "Files by name: list, get and put as bulk transfers that resume " +
    "(day 2).",
  ping: "The UDP pinger (day 2): every ping answered with a pong, with " +
    "simulated loss, delay and reordering when asked.",
  time: "The server's clock over UDP, NTP style, once or every second " +
    "(day 2).",
  chat: "Multi-room chat over TCP or UDP (day 5).",
} as const satisfies Record<string, string>;

/** A field name of the registry. */
export type FieldName = keyof typeof FIELDS;
/** A message name of the registry. */
export type MessageName = keyof typeof MESSAGES;
/** An error name of the registry. */
export type ErrorName = keyof typeof ERRORS;
/** A service name of the registry. */
export type ServiceName = keyof typeof SERVICES;

interface KindValues {
  u8: number;
  u16: number;
  u32: number;
  u64: number;
  f64: number;
  bool: boolean;
  string: string;
  bytes: Uint8Array;
}

/** The TypeScript value of one occurrence of field `F`. */
export type FieldValue<F extends FieldName> = (typeof FIELDS)[F] extends
  { kind: "group"; fields: infer S extends FieldsSpec } ? FieldsOf<S>
  : KindValues[Exclude<(typeof FIELDS)[F]["kind"], "group">];

type Required<S extends FieldsSpec> = {
  [K in keyof S as S[K] extends "required" ? K : never]: K extends FieldName
    ? FieldValue<K>
    : never;
};
type Optional<S extends FieldsSpec> = {
  [K in keyof S as S[K] extends "optional" ? K : never]?: K extends FieldName
    ? FieldValue<K>
    : never;
};
type Repeated<S extends FieldsSpec> = {
  [K in keyof S as S[K] extends "repeated" ? K : never]?: K extends FieldName
    ? FieldValue<K>[]
    : never;
};

/** The TypeScript shape of a fields spec: required, optional, repeated. */
export type FieldsOf<S extends FieldsSpec> =
  & Required<S>
  & Optional<S>
  & Repeated<S>;

/** The fields of message `M` as TypeScript values. */
export type MessageFields<M extends MessageName> = FieldsOf<
  (typeof MESSAGES)[M]["fields"]
>;

/** A decoded message: its name and its fields. */
export type Message = {
  [M in MessageName]: { readonly type: M; readonly fields: MessageFields<M> };
}[MessageName];

/** The message of name `M`. */
export type MessageOf<M extends MessageName> = Extract<Message, { type: M }>;

const byCode = new Map<number, MessageName>();
for (const [name, spec] of Object.entries(MESSAGES)) {
  byCode.set(spec.code, name as MessageName);
}
const byTag = new Map<number, FieldName>();
for (const [name, spec] of Object.entries(FIELDS)) {
  byTag.set(spec.tag, name as FieldName);
}
const errorByCode = new Map<number, ErrorName>();
for (const [name, spec] of Object.entries(ERRORS)) {
  errorByCode.set(spec.code, name as ErrorName);
}

/**
 * The message name for a wire type code, or `undefined` when unknown.
 *
 * @example
 * ```ts
 * messageName(0x0200); // "calc_request"
 * ```
 */
export function messageName(code: number): MessageName | undefined {
  return byCode.get(code);
}

/** The field name for a wire tag, or `undefined` when unknown. */
export function fieldName(tag: number): FieldName | undefined {
  return byTag.get(tag);
}

/** The error name for a wire error code, or `undefined` when unknown. */
export function errorName(code: number): ErrorName | undefined {
  return errorByCode.get(code);
}

/** Whether `name` is a service of the registry. */
export function isService(name: string): name is ServiceName {
  return Object.hasOwn(SERVICES, name);
}
