/**
 * The UDP pinger in process: the ping service on a real UdpServer with a
 * seeded simulation, driven by the pinger over loopback; and the service's
 * bounds driven directly, without sockets.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Logger } from "../lib/log.ts";
import type { Session } from "../lib/server.ts";
import { UdpClient } from "../lib/udp_client.ts";
import { UdpServer } from "../lib/udp_server.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import type { Message, MessageFields } from "../protocol/tlv/registry.ts";
import {
  formatPingEvent,
  ping,
  type PingEvent,
  type PingOptions,
} from "../roles/ping/pinger.ts";
import { pingService, type PingServiceOptions } from "../roles/ping/service.ts";
import {
  NetworkSimulation,
  type SimulationOptions,
} from "../roles/ping/simulation.ts";

function quietLog(): Logger {
  return new Logger({ name: "udp-ping-server", sink: () => {} });
}

function pingServer(
  simulation: SimulationOptions | undefined,
  options: Omit<PingServiceOptions, "simulation"> = {},
): UdpServer {
  const service = pingService({
    ...options,
    simulation: simulation && new NetworkSimulation(simulation),
    log: quietLog(),
  });
  return new UdpServer({ service, port: 0, log: quietLog() });
}

/** Runs the pinger against `port`, collecting its events. */
async function runPinger(
  port: number,
  options: Partial<PingOptions> = {},
): Promise<{ events: PingEvent[]; report: Awaited<ReturnType<typeof ping>> }> {
  const events: PingEvent[] = [];
  const report = await ping({
    hostname: "127.0.0.1",
    port,
    count: 10,
    intervalMs: 5,
    timeoutMs: 500,
    size: 56,
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { events, report };
}

function seqsOf(events: PingEvent[], kind: PingEvent["kind"]): number[] {
  return events.filter((e) => e.kind === kind).map((e) => e.seq).sort((a, b) =>
    a - b
  );
}

/** The seqs a simulation loses, 1-based like the pinger's. */
function predictedLost(options: SimulationOptions, count: number): number[] {
  const network = new NetworkSimulation(options);
  const lost: number[] = [];
  for (let seq = 1; seq <= count; seq++) {
    if (network.next().lost) lost.push(seq);
  }
  return lost;
}

Deno.test("udp-ping server with loss 0 answers every ping, echoing id, time and data", async () => {
  await using server = pingServer({ loss: 0, seed: 1 });
  const { events, report } = await runPinger(server.addr.port, { count: 8 });
  assert.equal(report.transmitted, 8);
  assert.equal(report.received, 8);
  assert.equal(report.rtts.length, 8);
  assert.deepEqual(seqsOf(events, "reply"), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(seqsOf(events, "timeout"), []);
  // The pong is the ping's fields, sent back.
  await using client = new UdpClient({ port: server.addr.port });
  const data = new Uint8Array([9, 8, 7, 6]);
  const pong = await client.request("ping", { time: 123456789, data }, 1000);
  assert.deepEqual(pong, {
    type: "pong",
    fields: { id: 1, time: 123456789, data },
  });
});

Deno.test("udp-ping server: the same seed loses the same seqs, the ones the simulation predicts", async () => {
  const simulation = { loss: 0.3, seed: 2024 };
  const expected = predictedLost(simulation, 20);
  assert.ok(expected.length > 0 && expected.length < 20, String(expected));
  const runs = [];
  for (let run = 0; run < 2; run++) {
    await using server = pingServer(simulation);
    runs.push(
      await runPinger(server.addr.port, { count: 20, timeoutMs: 300 }),
    );
  }
  for (const { events, report } of runs) {
    assert.deepEqual(seqsOf(events, "timeout"), expected);
    assert.equal(report.received, 20 - expected.length);
    assert.equal(report.late, 0);
  }
  // Another seed loses others.
  assert.notDeepEqual(predictedLost({ loss: 0.3, seed: 2025 }, 20), expected);
});

Deno.test("udp-ping server: reordering holds a reply back and the pinger reports it out of order", async () => {
  const simulation = { reorder: 0.3, seed: 77 };
  // A held reply goes out right after the next one.
  const network = new NetworkSimulation(simulation);
  const expected: number[] = [];
  let held: number | undefined;
  for (let seq = 1; seq <= 20; seq++) {
    const { holdBack } = network.next();
    if (holdBack && held === undefined) held = seq;
    else if (held !== undefined) {
      expected.push(held);
      held = undefined;
    }
  }
  assert.ok(expected.length > 0, "the seed reorders something");
  await using server = pingServer(simulation, { holdMs: 500 });
  const { events, report } = await runPinger(server.addr.port, {
    count: 20,
    intervalMs: 10,
    timeoutMs: 1500,
  });
  assert.equal(report.received, 20, "reordered, not lost");
  const outOfOrder = events
    .filter((e) => e.kind === "reply" && e.outOfOrder)
    .map((e) => e.seq);
  assert.deepEqual(outOfOrder, expected);
  const line = formatPingEvent(
    events.find((e) => e.kind === "reply" && e.outOfOrder)!,
    "127.0.0.1:9",
  );
  assert.match(
    line,
    /^\d+ bytes from 127\.0\.0\.1:9: seq=\d+ time=\d+\.\d{3} ms \(out of order\)$/,
  );
});

Deno.test("udp-ping server: a reply after its timeout is reported late and not counted", async () => {
  await using server = pingServer({ delayMs: 200, seed: 3 });
  const { events, report } = await runPinger(server.addr.port, {
    count: 5,
    intervalMs: 100,
    timeoutMs: 150,
  });
  assert.deepEqual(seqsOf(events, "timeout"), [1, 2, 3, 4, 5]);
  assert.equal(report.received, 0);
  assert.deepEqual(report.rtts, []);
  // Replies 1–3 come back while the pinger still waits for later ones.
  const late = events.filter((e) => e.kind === "late");
  assert.ok(late.length >= 3, JSON.stringify(events));
  assert.equal(report.late, late.length);
  for (const e of late) {
    assert.ok(e.rttMs >= 150, `late after the timeout: ${e.rttMs}`);
    // Reported after its own timeout.
    const timedOut = events.findIndex((t) =>
      t.kind === "timeout" && t.seq === e.seq
    );
    assert.ok(timedOut >= 0 && timedOut < events.indexOf(e));
    assert.match(formatPingEvent(e, "h:1"), /seq=\d+ .*\(late, not counted\)$/);
  }
});

Deno.test("the pinger notices duplicate answers", async () => {
  // A peer that answers every ping twice.
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const answering = (async () => {
    try {
      for (;;) {
        const [bytes, from] = await socket.receive();
        const decoded = decodeFrame(bytes, 0);
        if (!decoded) continue;
        const message = decodeMessage(decoded.frame);
        if (message.type !== "ping") continue;
        const pong = encodeMessage("pong", message.fields);
        await socket.send(pong, from);
        await socket.send(pong, from);
      }
    } catch {
      // closed
    }
  })();
  try {
    const { events, report } = await runPinger(
      (socket.addr as Deno.NetAddr).port,
      { count: 3, intervalMs: 50 },
    );
    assert.equal(report.received, 3);
    assert.equal(report.duplicates, 3);
    assert.deepEqual(seqsOf(events, "duplicate"), [1, 2, 3]);
    const dup = events.find((e) => e.kind === "duplicate")!;
    assert.match(formatPingEvent(dup, "h:1"), /\(DUP!\)$/);
  } finally {
    socket.close();
    await answering;
  }
});

/** A session that records what the service sends, without sockets. */
function fakeSession(peer: string, signal: AbortSignal): {
  session: Session;
  sent: Message[];
  sentCount(n: number): Promise<void>;
} {
  const sent: Message[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const session: Session = {
    peer,
    service: "ping",
    signal,
    send(type, fields) {
      sent.push({ type, fields } as Message);
      for (const w of waiters) if (sent.length >= w.n) w.resolve();
    },
    drained: () => Promise.resolve(),
    congested: false,
    queuedBytes: 0,
  };
  return {
    session,
    sent,
    sentCount(n) {
      if (sent.length >= n) return Promise.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      waiters.push({ n, resolve });
      return promise;
    },
  };
}

function pingMessage(id: number): Message {
  const fields: MessageFields<"ping"> = { id, data: new Uint8Array([id]) };
  return { type: "ping", fields };
}

Deno.test("pingService() holds at most maxPending delayed replies and drops the rest", async () => {
  const stop = new AbortController();
  const service = pingService({
    simulation: new NetworkSimulation({ delayMs: 30, seed: 1 }),
    maxPending: 3,
    log: quietLog(),
  });
  const { session, sent, sentCount } = fakeSession("a:1", stop.signal);
  for (let id = 1; id <= 10; id++) service.handle(pingMessage(id), session);
  assert.equal(service.pending, 3);
  assert.equal(service.overflowed, 7);
  await sentCount(3);
  assert.deepEqual(sent.map((m) => "id" in m.fields && m.fields.id), [1, 2, 3]);
  assert.equal(service.pending, 0);
  // Room again once they went.
  service.handle(pingMessage(11), session);
  assert.equal(service.pending, 1);
  await sentCount(4);
  stop.abort();
});

Deno.test("pingService() cancels waiting replies when the host shuts down", () => {
  const stop = new AbortController();
  const service = pingService({
    simulation: new NetworkSimulation({ delayMs: 60_000, reorder: 1, seed: 1 }),
    log: quietLog(),
  });
  const { session, sent } = fakeSession("a:1", stop.signal);
  for (let id = 1; id <= 5; id++) service.handle(pingMessage(id), session);
  assert.equal(service.pending, 5);
  // Abort clears every timer; the sanitizers would fail the test otherwise.
  stop.abort();
  assert.equal(service.pending, 0);
  assert.deepEqual(sent, []);
});

Deno.test("pingService() holds one reply per peer and lets the next overtake it", () => {
  const stop = new AbortController();
  const service = pingService({
    simulation: new NetworkSimulation({ reorder: 1, seed: 1 }),
    log: quietLog(),
  });
  const a = fakeSession("a:1", stop.signal);
  const b = fakeSession("b:1", stop.signal);
  service.handle(pingMessage(1), a.session); // held
  service.handle(pingMessage(1), b.session); // held: another peer
  assert.equal(service.pending, 2);
  service.handle(pingMessage(2), a.session); // goes, then releases 1
  assert.deepEqual(a.sent.map((m) => "id" in m.fields && m.fields.id), [2, 1]);
  assert.deepEqual(b.sent, []);
  assert.equal(service.pending, 1);
  stop.abort();
});

Deno.test("pingService() refuses messages other than ping", () => {
  const service = pingService({ log: quietLog() });
  const { session } = fakeSession("a:1", new AbortController().signal);
  assert.throws(
    () =>
      service.handle(
        { type: "echo_request", fields: { id: 1, data: new Uint8Array() } },
        session,
      ),
    /does not accept echo_request/,
  );
});
