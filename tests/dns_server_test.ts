/**
 * In-process integration tests of `DnsServer` with the authoritative handler
 * of dns-global, over real UDP and TCP sockets on loopback. Bad input is
 * sent as raw bytes; after each bad packet a good query proves the server
 * still answers.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DnsServer,
  MAX_TCP_PIPELINE,
  type QueryContext,
} from "../lib/dns_server.ts";
import { concat } from "../lib/frame_conn.ts";
import { Logger } from "../lib/log.ts";
import { CLASS_IN, RCODE, RR_TYPE } from "../protocol/dns/constants.ts";
import {
  decodeHeader,
  decodeMessage,
  type DnsMessage,
  encodeMessage,
} from "../protocol/dns/message.ts";
import { frameTcp } from "../protocol/dns/tcp.ts";
import { answerAuthoritatively } from "../roles/dns/authority.ts";
import { parseTable } from "../roles/dns/table.ts";
import { makeZone, type Zone } from "../roles/dns/zone.ts";
import {
  dnsQuery,
  openUdp,
  readDnsMessages,
  receiveWithin,
  within,
  writeAll,
} from "./_raw_peer.ts";

const LOOPBACK = "127.0.0.1";
const WAIT_MS = 2000;
const ZONE_FILES = [
  ["edu", "global_edu_dns.txt"],
  ["com", "global_com_dns.txt"],
] as const;

function quietLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    log: new Logger({ name: "dns", sink: (line) => lines.push(line) }),
    lines,
  };
}

async function testdataZones(): Promise<Zone[]> {
  return await Promise.all(ZONE_FILES.map(async ([origin, file]) => {
    const path = new URL(`../testdata/dns/${file}`, import.meta.url);
    const text = await Deno.readTextFile(path);
    return makeZone(origin, parseTable(text, file, { origin }));
  }));
}

/** A global server over `zones` (default: the testdata .edu and .com). */
async function globalServer(
  options: { zones?: Zone[]; log?: Logger } = {},
): Promise<DnsServer> {
  const zones = options.zones ?? await testdataZones();
  return new DnsServer({
    handler: (query) => answerAuthoritatively(zones, query),
    log: options.log ?? quietLog().log,
  });
}

/** A query; see {@linkcode dnsQuery}. */
const query = dnsQuery;

function bytesOf(message: DnsMessage): Uint8Array {
  return encodeMessage(message).bytes;
}

function to(server: DnsServer): Deno.NetAddr {
  return { transport: "udp", hostname: LOOPBACK, port: server.addr.port };
}

interface Datagram {
  readonly bytes: Uint8Array;
  readonly message: DnsMessage;
}

/**
 * Receives datagrams until `done` holds for those received so far; every
 * one must come from `port`. Bounded in count and time.
 */
async function receiveUntil(
  socket: Deno.DatagramConn,
  port: number,
  done: (got: readonly Datagram[]) => boolean,
): Promise<Datagram[]> {
  const got: Datagram[] = [];
  const deadline = performance.now() + WAIT_MS;
  for (let i = 0; i < 32 && !done(got); i++) {
    const left = Math.max(1, deadline - performance.now());
    const [bytes, from] = await receiveWithin(socket, left, "a DNS reply");
    assert.equal(from.port, port, "replies come from the server's port");
    got.push({ bytes, message: decodeMessage(bytes) });
  }
  assert.ok(done(got), `the expected replies did not come: got ${got.length}`);
  return got;
}

/** Sends one query over UDP and returns its reply (there must be only it). */
async function ask(
  socket: Deno.DatagramConn,
  server: DnsServer,
  message: DnsMessage,
): Promise<Datagram> {
  await socket.send(bytesOf(message), to(server));
  const [reply] = await receiveUntil(
    socket,
    server.addr.port,
    (got) => got.length === 1,
  );
  assert.ok(reply);
  assert.equal(reply.message.id, message.id);
  return reply;
}

/**
 * Sends `bad` then a good query, collects datagrams until the good answer
 * arrives (the server answers datagrams in order, so an answer to `bad`
 * would come first), and returns the replies to `bad`.
 */
async function sendBadThenGood(
  socket: Deno.DatagramConn,
  server: DnsServer,
  bad: Uint8Array,
  goodId: number,
): Promise<Datagram[]> {
  await socket.send(bad, to(server));
  await socket.send(bytesOf(query(goodId, "www.mit.edu")), to(server));
  const got = await receiveUntil(
    socket,
    server.addr.port,
    (got) => got.some((d) => d.message.id === goodId),
  );
  const good = got.find((d) => d.message.id === goodId)!;
  assert.equal(good.message.flags.rcode, RCODE.NOERROR);
  assert.equal(good.message.answers.length, 1, "the good query is answered");
  return got.filter((d) => d !== good);
}

/** Asserts `bad` gets exactly one FORMERR with id `badId`, then a good query is served. */
async function assertFormErrThenServes(
  socket: Deno.DatagramConn,
  server: DnsServer,
  bad: Uint8Array,
  badId: number,
): Promise<void> {
  const replies = await sendBadThenGood(socket, server, bad, badId ^ 0xffff);
  assert.equal(replies.length, 1, "one reply to the bad packet");
  const { message } = replies[0]!;
  assert.equal(message.id, badId);
  assert.equal(message.flags.qr, true);
  assert.equal(message.flags.rcode, RCODE.FORMERR);
  assert.deepEqual(message.questions, []);
  assert.deepEqual(message.answers, []);
}

/** A header of `id` with RD set and the given counts. */
function header(id: number, qdcount: number, arcount = 0): number[] {
  return [id >> 8, id & 0xff, 0x01, 0x00, 0, qdcount, 0, 0, 0, 0, 0, arcount];
}

const A_IN = [0, 1, 0, 1];

// ---- Bad input ----

Deno.test("DnsServer answers a query cut at each of several offsets past the header with FORMERR and the same id, and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const plain = bytesOf(query(0x1001, "www.mit.edu"));
  const withEdns = bytesOf(query(0x1002, "www.mit.edu", RR_TYPE.A, {
    edns: {},
  }));
  assert.equal(plain.length, 29);
  assert.equal(withEdns.length, 40);
  const cuts: [Uint8Array, number, number][] = [
    ...[12, 13, 17, 24, 25, 27, 28].map((at) =>
      [plain, 0x1001, at] as [Uint8Array, number, number]
    ),
    // Into the OPT record: its count says 1, its bytes are short.
    ...[29, 30, 36, 39].map((at) =>
      [withEdns, 0x1002, at] as [Uint8Array, number, number]
    ),
  ];
  for (const [full, id, at] of cuts) {
    await assertFormErrThenServes(socket, server, full.subarray(0, at), id);
  }
});

Deno.test("DnsServer stays silent on a packet shorter than a header and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const full = bytesOf(query(0x2bad, "www.mit.edu"));
  for (const length of [0, 1, 2, 11]) {
    const replies = await sendBadThenGood(
      socket,
      server,
      full.subarray(0, length),
      0x600d,
    );
    assert.deepEqual(replies, [], `no reply to a ${length}-byte packet`);
  }
});

Deno.test("DnsServer answers a question count that lies with FORMERR and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const question = [3, ...encodeAscii("www"), 3, ...encodeAscii("mit"), 3];
  const name = [...question, ...encodeAscii("edu"), 0];
  // Two announced, one present: the second runs past the end.
  await assertFormErrThenServes(
    socket,
    server,
    new Uint8Array([...header(0x3001, 2), ...name, ...A_IN]),
    0x3001,
  );
  // None announced, one present: bytes follow the last record.
  await assertFormErrThenServes(
    socket,
    server,
    new Uint8Array([...header(0x3002, 0), ...name, ...A_IN]),
    0x3002,
  );
  // None announced, none present: a query must ask one question.
  await assertFormErrThenServes(
    socket,
    server,
    new Uint8Array(header(0x3003, 0)),
    0x3003,
  );
});

Deno.test("DnsServer answers a compression pointer loop in the question with FORMERR and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  // A pointer to itself, at offset 12.
  await assertFormErrThenServes(
    socket,
    server,
    new Uint8Array([...header(0x4001, 1), 0xc0, 12, ...A_IN]),
    0x4001,
  );
  // Two pointers pointing at each other: 12 → 14 → 12.
  await assertFormErrThenServes(
    socket,
    server,
    new Uint8Array([...header(0x4002, 1), 0xc0, 14, 0xc0, 12, ...A_IN]),
    0x4002,
  );
});

Deno.test("DnsServer answers a 64-byte label with FORMERR and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const label = [64, ...new Array(64).fill(0x61)];
  await assertFormErrThenServes(
    socket,
    server,
    new Uint8Array([...header(0x5001, 1), ...label, 0, ...A_IN]),
    0x5001,
  );
});

Deno.test("DnsServer answers a name over 255 bytes with FORMERR and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const label63 = [63, ...new Array(63).fill(0x61)];
  // 4 × 64 + 11 + 1 = 268 bytes on the wire, every label legal.
  const name = [...label63, ...label63, ...label63, ...label63, 10];
  name.push(...new Array(10).fill(0x62), 0);
  assert.equal(name.length, 268);
  await assertFormErrThenServes(
    socket,
    server,
    new Uint8Array([...header(0x5002, 1), ...name, ...A_IN]),
    0x5002,
  );
});

Deno.test("DnsServer stays silent on a response (QR=1) sent to it and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const response = {
    ...query(0x6001, "www.mit.edu"),
    flags: { ...query(0, "").flags, qr: true, aa: true },
  };
  for (
    const bytes of [
      bytesOf(response),
      bytesOf({ ...response, flags: { ...response.flags, rcode: 1 } }),
      // Malformed as well: still a response, still silence.
      bytesOf(response).subarray(0, 14),
    ]
  ) {
    const replies = await sendBadThenGood(socket, server, bytes, 0x6002);
    assert.deepEqual(replies, []);
  }
});

Deno.test("DnsServer answers two questions with FORMERR and keeps serving", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const two = {
    ...query(0x7001, "www.mit.edu"),
    questions: [
      { name: "www.mit.edu", type: RR_TYPE.A, class: CLASS_IN },
      { name: "www.example.com", type: RR_TYPE.A, class: CLASS_IN },
    ],
  };
  await assertFormErrThenServes(socket, server, bytesOf(two), 0x7001);
});

Deno.test("DnsServer answers random bytes with FORMERR carrying their id or with silence, never crashing", async () => {
  const { log, lines } = quietLog();
  await using server = await globalServer({ log });
  using socket = openUdp();
  const valid = bytesOf(query(0x8000, "www.mit.edu", RR_TYPE.A, { edns: {} }));
  const packets = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 80 }),
    // A valid query with some bytes changed and perhaps cut short: most of
    // these get past the header checks and into the decoder.
    fc.tuple(
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.nat(255)), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.integer({ min: 12, max: valid.length }),
    ).map(([edits, length]) => {
      const bytes = valid.slice(0, length);
      for (const [at, value] of edits) if (at < length) bytes[at] = value;
      return bytes;
    }),
  );
  await fc.assert(
    fc.asyncProperty(packets, async (bytes) => {
      const head = decodeHeader(bytes);
      let expect: "silence" | "formerr" | "answer";
      if (head === undefined || head.flags.qr) expect = "silence";
      else {
        try {
          expect = decodeMessage(bytes).questions.length === 1
            ? "answer"
            : "formerr";
        } catch {
          expect = "formerr";
        }
      }
      const badId = head?.id ??
        (bytes.length >= 2 ? (bytes[0]! << 8) | bytes[1]! : 0);
      const goodId = badId ^ 0x8001;
      await socket.send(bytes, to(server));
      await socket.send(bytesOf(query(goodId, "www.mit.edu")), to(server));
      const got = await receiveUntil(
        socket,
        server.addr.port,
        (got) =>
          got.some((d) => d.message.id === goodId) &&
          (expect === "silence" || got.some((d) => d.message.id === badId)),
      );
      const others = got.filter((d) => d.message.id !== goodId);
      if (expect === "silence") {
        assert.deepEqual(others, []);
        return;
      }
      assert.equal(others.length, 1);
      const reply = others[0]!.message;
      assert.equal(reply.flags.qr, true);
      if (expect === "formerr") assert.equal(reply.flags.rcode, RCODE.FORMERR);
    }),
    { numRuns: 50 },
  );
  const after = await ask(socket, server, query(0x0102, "www.example.com"));
  assert.equal(after.message.answers.length, 1);
  assert.deepEqual(lines.filter((line) => line.startsWith("ERROR")), []);
});

Deno.test("DnsServer over TCP answers a malformed message with FORMERR and serves the next one on the same connection", async () => {
  await using server = await globalServer();
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  const cut = bytesOf(query(0x0a01, "www.mit.edu")).subarray(0, 20);
  const short = new Uint8Array([0x0a, 0x02, 0x01]); // under 12 bytes: silence
  await writeAll(conn, frameTcp(cut));
  await writeAll(conn, frameTcp(short));
  await writeAll(conn, frameTcp(bytesOf(query(0x0a03, "www.mit.edu"))));
  const replies = await readTcpMessages(conn, 2);
  assert.deepEqual(replies.map((r) => r.id).sort(), [0x0a01, 0x0a03]);
  const formErr = replies.find((r) => r.id === 0x0a01)!;
  assert.equal(formErr.flags.rcode, RCODE.FORMERR);
  const good = replies.find((r) => r.id === 0x0a03)!;
  assert.equal(good.answers.length, 1);
});

// ---- Header bits and EDNS ----

Deno.test("DnsServer echoes the id and the question as asked, sets QR and AA, copies RD and leaves RA clear", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  for (const rd of [true, false]) {
    const { message } = await ask(
      socket,
      server,
      query(0xbeef, "WWW.Mit.EDU", RR_TYPE.A, { rd }),
    );
    assert.deepEqual(message.flags, {
      qr: true,
      opcode: 0,
      aa: true,
      tc: false,
      rd,
      ra: false,
      ad: false,
      cd: false,
      rcode: RCODE.NOERROR,
    });
    assert.deepEqual(message.questions, [
      { name: "WWW.Mit.EDU", type: RR_TYPE.A, class: CLASS_IN },
    ]);
    // The owner name is compressed against the question, so it takes the
    // question's case (as in BIND).
    assert.deepEqual(message.answers, [{
      name: "WWW.Mit.EDU",
      type: RR_TYPE.A,
      class: CLASS_IN,
      ttl: 3600,
      data: { type: RR_TYPE.A, address: "203.0.113.10" },
    }]);
  }
});

Deno.test("DnsServer answers EDNS with its own OPT (UDP size 1232), ignores unknown options, and sends no OPT to a query without one", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const withOptions = await ask(
    socket,
    server,
    query(0x0e01, "www.mit.edu", RR_TYPE.A, {
      edns: {
        udpSize: 4096,
        options: [
          { code: 65002, data: new Uint8Array([1, 2, 3]) },
          { code: 10, data: new Uint8Array(8).fill(7) }, // a client cookie
        ],
      },
    }),
  );
  assert.equal(withOptions.message.flags.rcode, RCODE.NOERROR);
  assert.equal(withOptions.message.answers.length, 1);
  assert.deepEqual(withOptions.message.edns, {
    udpSize: 1232,
    extendedRcode: 0,
    version: 0,
    dnssecOk: false,
    options: [],
  });

  const plain = await ask(socket, server, query(0x0e02, "www.mit.edu"));
  assert.equal(plain.message.edns, undefined);
  assert.equal(decodeHeader(plain.bytes)?.arcount, 0);
});

// ---- Truncation and TCP ----

Deno.test("DnsServer truncates the 40-record answer of many.example.com to 512 bytes with TC over UDP without EDNS", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const { bytes, message } = await ask(
    socket,
    server,
    query(0x0f01, "many.example.com"),
  );
  assert.ok(bytes.length <= 512, `${bytes.length} bytes`);
  assert.equal(message.flags.tc, true);
  assert.equal(message.flags.aa, true);
  assert.deepEqual(message.questions, [
    { name: "many.example.com", type: RR_TYPE.A, class: CLASS_IN },
  ]);
  assert.deepEqual(message.answers, []);
});

Deno.test("DnsServer sends the whole 40-record answer over UDP with EDNS 1232, and truncates to a smaller EDNS size", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  // 12 header + 22 question + 40 × (2 pointer + 10 + 4 address) + 11 OPT.
  const whole = 12 + 22 + 40 * 16 + 11;
  assert.equal(whole, 685);
  const big = await ask(
    socket,
    server,
    query(0x0f02, "many.example.com", RR_TYPE.A, { edns: { udpSize: 1232 } }),
  );
  assert.equal(big.message.flags.tc, false);
  assert.equal(big.bytes.length, whole);
  assert.equal(big.message.answers.length, 40);

  const small = await ask(
    socket,
    server,
    query(0x0f03, "many.example.com", RR_TYPE.A, { edns: { udpSize: 600 } }),
  );
  assert.equal(small.message.flags.tc, true);
  assert.ok(small.bytes.length <= 600, `${small.bytes.length} bytes`);
  assert.equal(small.message.edns?.udpSize, 1232, "the OPT is kept");
});

Deno.test("DnsServer caps a UDP answer at its own 1232 bytes when the client offers more", async () => {
  const lines = Array.from(
    { length: 100 },
    (_, i) => `big.test 10.0.${i >> 8}.${i & 0xff}`,
  );
  const zone = makeZone("test", parseTable(lines.join("\n"), "big.txt"));
  await using server = await globalServer({ zones: [zone] });
  using socket = openUdp();
  // 12 + 14 + 100 × 16 + 11 = 1637 bytes would not fit in 1232.
  const { bytes, message } = await ask(
    socket,
    server,
    query(0x0f04, "big.test", RR_TYPE.A, { edns: { udpSize: 4096 } }),
  );
  assert.equal(message.flags.tc, true);
  assert.ok(bytes.length <= 1232, `${bytes.length} bytes`);

  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  await writeAll(
    conn,
    frameTcp(bytesOf(query(0x0f05, "big.test", RR_TYPE.A, { edns: {} }))),
  );
  const [whole] = await readTcpMessages(conn, 1);
  assert.equal(whole?.flags.tc, false);
  assert.equal(whole?.answers.length, 100);
});

Deno.test("DnsServer sends all 40 records of many.example.com over TCP", async () => {
  await using server = await globalServer();
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  await writeAll(conn, frameTcp(bytesOf(query(0x1101, "many.example.com"))));
  const [reply] = await readTcpMessages(conn, 1);
  assert.ok(reply);
  assert.equal(reply.id, 0x1101);
  assert.equal(reply.flags.tc, false);
  assert.equal(reply.answers.length, 40);
  assert.deepEqual(
    new Set(reply.answers.map((r) => "address" in r.data && r.data.address)),
    new Set(Array.from({ length: 40 }, (_, i) => `203.0.113.${101 + i}`)),
  );
});

Deno.test("DnsServer answers several queries pipelined in one TCP write, each with its own id and question", async () => {
  await using server = await globalServer();
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  const asked = new Map<number, string>([
    [0x1201, "many.example.com"],
    [0x1202, "www.mit.edu"],
    [0x1203, "nosuch.example.com"],
    [0x1204, "docs.mit.edu"],
    [0x1205, "www.example.org"],
  ]);
  const frames = [...asked].map(([id, name]) =>
    frameTcp(bytesOf(query(id, name)))
  );
  await writeAll(conn, concat(frames));
  const replies = await readTcpMessages(conn, asked.size);
  assert.deepEqual(
    replies.map((r) => r.id).sort((a, b) => a - b),
    [...asked.keys()],
  );
  for (const reply of replies) {
    assert.equal(reply.questions[0]?.name, asked.get(reply.id));
  }
  const rcodes = new Map(replies.map((r) => [r.id, r.flags.rcode]));
  assert.equal(rcodes.get(0x1203), RCODE.NXDOMAIN);
  assert.equal(rcodes.get(0x1205), RCODE.REFUSED);
});

Deno.test("DnsServer reassembles TCP queries written one byte at a time", async () => {
  await using server = await globalServer();
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  conn.setNoDelay(true);
  const bytes = concat([
    frameTcp(bytesOf(query(0x1301, "www.stanford.edu"))),
    frameTcp(bytesOf(query(0x1302, "www.example.com", RR_TYPE.AAAA))),
  ]);
  for (let at = 0; at < bytes.length; at++) {
    await writeAll(conn, bytes.subarray(at, at + 1));
  }
  const replies = await readTcpMessages(conn, 2);
  const byId = new Map(replies.map((r) => [r.id, r]));
  assert.equal(byId.get(0x1301)?.answers.length, 2);
  assert.deepEqual(byId.get(0x1302)?.answers.map((r) => r.data), [
    { type: RR_TYPE.AAAA, address: "2001:db8::80" },
  ]);
});

Deno.test("DnsServer answers queries sent before the client half-closes its TCP connection, then closes it", async () => {
  await using server = await globalServer();
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  await writeAll(
    conn,
    concat([
      frameTcp(bytesOf(query(0x1311, "www.mit.edu"))),
      frameTcp(bytesOf(query(0x1312, "many.example.com"))),
    ]),
  );
  await conn.closeWrite();
  const replies = await readTcpMessages(conn, 2);
  assert.deepEqual(replies.map((r) => r.id).sort(), [0x1311, 0x1312]);
  const end = await within(conn.read(new Uint8Array(1)), WAIT_MS, "the close");
  assert.equal(end, null);
});

Deno.test("DnsServer closes a TCP connection that stays idle for tcpIdleTimeoutMs", async () => {
  const zones = await testdataZones();
  await using server = new DnsServer({
    handler: (q) => answerAuthoritatively(zones, q),
    log: quietLog().log,
    tcpIdleTimeoutMs: 50,
  });
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  await writeAll(conn, frameTcp(bytesOf(query(0x1321, "www.mit.edu"))));
  assert.equal((await readTcpMessages(conn, 1))[0]?.id, 0x1321);
  const start = performance.now();
  const end = await within(conn.read(new Uint8Array(1)), WAIT_MS, "the close");
  assert.equal(end, null);
  assert.ok(performance.now() - start >= 40, "not before the idle time");
});

Deno.test("DnsServer keeps each TCP reply whole when large replies to pipelined queries fill the socket", async () => {
  // 50 TXT records of 4 × 250 bytes: about 51 KB per reply, 5 MB in all,
  // more than loopback buffers hold, so the server's writes come back
  // partial while other replies are ready to go.
  const text = (i: number, j: number) => `${i}-${j}-`.padEnd(250, "x");
  const lines = Array.from(
    { length: 50 },
    (_, i) =>
      `big.test TXT ${[0, 1, 2, 3].map((j) => `"${text(i, j)}"`).join(" ")}`,
  );
  const zone = makeZone("test", parseTable(lines.join("\n"), "big.txt"));
  await using server = await globalServer({ zones: [zone] });
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  const count = 100;
  const frames = Array.from(
    { length: count },
    (_, id) => frameTcp(bytesOf(query(id, "big.test", RR_TYPE.TXT))),
  );
  await writeAll(conn, concat(frames));
  const replies = await readDnsMessages(conn, count, 10_000);
  assert.deepEqual(
    replies.map((r) => r.id).sort((a, b) => a - b),
    frames.map((_, id) => id),
  );
  for (const reply of replies) {
    assert.equal(reply.flags.tc, false);
    assert.equal(reply.answers.length, 50);
  }
});

Deno.test("DnsServer answers at most MAX_TCP_PIPELINE queries of one TCP connection at once, and the rest as those finish", async () => {
  const zones = await testdataZones();
  const count = 3 * MAX_TCP_PIPELINE;
  let active = 0;
  let most = 0;
  let entered = 0;
  const gate = Promise.withResolvers<void>();
  await using server = new DnsServer({
    log: quietLog().log,
    handler: async (q) => {
      most = Math.max(most, ++active);
      // Hold every answer until as many as allowed are in hand (or all
      // are): a server that took more would have them all in hand first.
      entered++;
      if (active >= MAX_TCP_PIPELINE || entered === count) gate.resolve();
      await gate.promise;
      active--;
      return answerAuthoritatively(zones, q);
    },
  });
  using conn = await Deno.connect({
    hostname: LOOPBACK,
    port: server.addr.port,
  });
  const frames = Array.from(
    { length: count },
    (_, id) => frameTcp(bytesOf(query(id, "www.mit.edu"))),
  );
  await writeAll(conn, concat(frames));
  const replies = await readTcpMessages(conn, count);
  assert.equal(new Set(replies.map((r) => r.id)).size, count);
  assert.equal(most, MAX_TCP_PIPELINE);
});

// ---- Negative answers, REFUSED, CNAME ----

Deno.test("DnsServer answers NXDOMAIN and NODATA with the zone's SOA in the authority section", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const cases = [
    // name, type, rcode, SOA owner
    ["nosuch.example.com", RR_TYPE.A, RCODE.NXDOMAIN, "com"],
    ["www.mit.edu", RR_TYPE.AAAA, RCODE.NOERROR, "edu"],
    // An empty non-terminal exists (RFC 8020): NODATA, not NXDOMAIN.
    ["stanford.edu", RR_TYPE.A, RCODE.NOERROR, "edu"],
  ] as const;
  let id = 0x1400;
  for (const [name, type, rcode, zone] of cases) {
    const { message } = await ask(socket, server, query(++id, name, type));
    assert.equal(message.flags.rcode, rcode, name);
    assert.equal(message.flags.aa, true);
    assert.deepEqual(message.answers, []);
    assert.equal(message.authorities.length, 1);
    const soa = message.authorities[0]!;
    assert.equal(soa.type, RR_TYPE.SOA);
    assert.equal(soa.name, zone);
    assert.ok("minimum" in soa.data);
    assert.equal(soa.data.mname, `ns.${zone}`);
    assert.equal(soa.data.minimum, 60);
  }
});

Deno.test("DnsServer answers REFUSED, without AA, for a name in no zone it serves", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const { message } = await ask(
    socket,
    server,
    query(0x1501, "www.example.org"),
  );
  assert.equal(message.flags.rcode, RCODE.REFUSED);
  assert.equal(message.flags.aa, false);
  assert.deepEqual(message.answers, []);
  assert.deepEqual(message.authorities, []);
});

Deno.test("DnsServer follows a CNAME chain within a zone and across zones", async () => {
  await using server = await globalServer();
  using socket = openUdp();
  const inZone = await ask(socket, server, query(0x1601, "docs.mit.edu"));
  assert.deepEqual(
    inZone.message.answers.map((r) => [r.name, r.type, r.ttl, r.data]),
    [
      ["docs.mit.edu", RR_TYPE.CNAME, 3600, { type: 5, target: "web.mit.edu" }],
      ["web.mit.edu", RR_TYPE.CNAME, 600, { type: 5, target: "www.mit.edu" }],
      ["www.mit.edu", RR_TYPE.A, 3600, { type: 1, address: "203.0.113.10" }],
    ],
  );
  const across = await ask(
    socket,
    server,
    query(0x1602, "edu-mirror.example.com"),
  );
  assert.equal(across.message.flags.aa, true);
  assert.deepEqual(across.message.answers.map((r) => [r.name, r.data]), [
    ["edu-mirror.example.com", { type: 5, target: "www.stanford.edu" }],
    ["www.stanford.edu", { type: 1, address: "203.0.113.20" }],
    ["www.stanford.edu", { type: 1, address: "203.0.113.21" }],
  ]);
  // Asking for the CNAME itself does not follow it.
  const alias = await ask(
    socket,
    server,
    query(0x1603, "shop.example.com", RR_TYPE.CNAME),
  );
  assert.deepEqual(alias.message.answers.map((r) => r.data), [
    { type: 5, target: "www.example.com" },
  ]);
});

// ---- Shutdown ----

Deno.test("DnsServer.shutdown() closes UDP, the TCP listener and open TCP connections, and finished resolves", async () => {
  let seen: QueryContext | undefined;
  const zones = await testdataZones();
  const server = new DnsServer({
    handler: (q, context) => {
      seen = context;
      return answerAuthoritatively(zones, q);
    },
    log: quietLog().log,
  });
  const { port } = server.addr;
  using conn = await Deno.connect({ hostname: LOOPBACK, port });
  await writeAll(conn, frameTcp(bytesOf(query(0x1701, "www.mit.edu"))));
  const [reply] = await readTcpMessages(conn, 1);
  assert.equal(reply?.answers.length, 1);
  assert.equal(seen?.transport, "tcp");
  const state = await Promise.race([
    server.finished.then(() => "finished"),
    Promise.resolve("running"),
  ]);
  assert.equal(state, "running");

  await within(server.shutdown(), WAIT_MS, "shutdown()");
  await within(server.finished, WAIT_MS, "finished");
  // The open connection is closed by the server: end of stream (or reset).
  const buffer = new Uint8Array(16);
  const end = await within(
    conn.read(buffer).catch((error) => {
      if (error instanceof Deno.errors.ConnectionReset) return null;
      throw error;
    }),
    WAIT_MS,
    "the connection to close",
  );
  assert.equal(end, null);
  await assert.rejects(
    Deno.connect({ hostname: LOOPBACK, port }),
    Deno.errors.ConnectionRefused,
  );
  // Both ports are free again.
  Deno.listenDatagram({ transport: "udp", hostname: LOOPBACK, port }).close();
  Deno.listen({ hostname: LOOPBACK, port }).close();
  // A second shutdown is harmless.
  await server.shutdown();
});

// ---- Helpers over bytes and TCP ----

function encodeAscii(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

function readTcpMessages(
  conn: Deno.Conn,
  count: number,
): Promise<DnsMessage[]> {
  return readDnsMessages(conn, count, WAIT_MS);
}
