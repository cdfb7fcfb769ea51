/**
 * The time service in process, on a real UdpServer over loopback: NTP
 * samples against a shifted clock, subscriptions and their ticks, heartbeat
 * expiry with a short timeout, the subscriber cap and shutdown.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Logger } from "../lib/log.ts";
import { UdpClient } from "../lib/udp_client.ts";
import { UdpServer } from "../lib/udp_server.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import { ERRORS } from "../protocol/tlv/registry.ts";
import { systemClock } from "../roles/time/clock.ts";
import {
  requestTime,
  SubscriptionError,
  type Tick,
  watchTicks,
} from "../roles/time/query.ts";
import {
  type TimeService,
  timeService,
  type TimeServiceOptions,
} from "../roles/time/service.ts";

function quietLog(): Logger {
  return new Logger({ name: "time-server", sink: () => {} });
}

function timeServer(
  options: TimeServiceOptions = {},
): { server: UdpServer; service: TimeService } {
  const service = timeService({ log: quietLog(), ...options });
  const server = new UdpServer({ service, port: 0, log: quietLog() });
  return { server, service };
}

/** One round trip: once answered, every datagram sent before it was handled. */
async function roundTrip(udp: UdpClient): Promise<void> {
  await requestTime(udp, systemClock(), 2000);
}

for (const offsetMs of [250, -1500, 0]) {
  Deno.test(`time service: the NTP offset is within half the delay of a ${offsetMs} ms clock offset`, async () => {
    const { server } = timeServer({ clock: systemClock(offsetMs) });
    await using _server = server;
    await using udp = new UdpClient({ port: server.addr.port });
    const clock = systemClock();
    for (let i = 0; i < 3; i++) {
      const sample = await requestTime(udp, clock, 2000);
      assert.ok(sample.t2 <= sample.t3, "received before sent");
      assert.ok(sample.delay >= 0, `delay ${sample.delay}`);
      // Same machine, same clock: the only error is the path's asymmetry,
      // at most half the delay (1 µs for rounding to whole microseconds).
      const error = Math.abs(sample.offset - offsetMs * 1000);
      assert.ok(
        error <= sample.delay / 2 + 1,
        `offset ${sample.offset} µs, delay ${sample.delay} µs`,
      );
    }
  });
}

Deno.test("time service: a subscriber gets a tick at once and then every tick, until it unsubscribes", async () => {
  const { server, service } = timeServer({ tickMs: 20 });
  await using _server = server;
  await using udp = new UdpClient({ port: server.addr.port });
  const stop = new AbortController();
  const ticks: Tick[] = [];
  const report = await watchTicks(udp, {
    clock: systemClock(),
    timeoutMs: 2000,
    heartbeatMs: 1000,
    silenceMs: 5000,
    signal: stop.signal,
    onTick(tick) {
      ticks.push(tick);
      if (ticks.length === 5) stop.abort();
    },
  });
  assert.deepEqual(report, { ticks: 5, missed: 0 });
  assert.deepEqual(ticks.map((t) => t.seq), [1, 2, 3, 4, 5]);
  for (let i = 1; i < ticks.length; i++) {
    assert.ok(
      ticks[i]!.time > ticks[i - 1]!.time,
      "the server's time moves on",
    );
  }
  await roundTrip(udp);
  assert.equal(service.subscribers, 0, "time_unsubscribe ended it");
});

Deno.test("time service: heartbeats keep a subscription longer than the subscriber timeout", async () => {
  const { server, service } = timeServer({
    tickMs: 20,
    subscriberTimeoutMs: 100,
  });
  await using _server = server;
  await using udp = new UdpClient({ port: server.addr.port });
  const stop = new AbortController();
  let ticks = 0;
  const started = performance.now();
  const report = await watchTicks(udp, {
    clock: systemClock(),
    timeoutMs: 2000,
    heartbeatMs: 30,
    silenceMs: 5000,
    signal: stop.signal,
    onTick() {
      // 15 ticks of 20 ms: three times the timeout.
      if (++ticks === 15) stop.abort();
    },
  });
  assert.equal(report.ticks, 15);
  assert.ok(performance.now() - started >= 250);
  await roundTrip(udp);
  assert.equal(service.subscribers, 0);
});

Deno.test("time service: a subscriber that sends no heartbeat expires with idle_timeout", async () => {
  const { server, service } = timeServer({
    tickMs: 20,
    subscriberTimeoutMs: 100,
  });
  await using _server = server;
  await using udp = new UdpClient({ port: server.addr.port });
  let ticks = 0;
  const started = performance.now();
  const error = await watchTicks(udp, {
    clock: systemClock(),
    timeoutMs: 2000,
    heartbeatMs: 60_000, // never, within this test
    silenceMs: 5000,
    onTick: () => ticks++,
  }).then(
    (r) => assert.fail(`not expired: ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof SubscriptionError, String(error));
  assert.equal(error.code, "expired");
  assert.match(error.message, /no heartbeat for 100 ms/);
  assert.ok(performance.now() - started >= 100);
  assert.ok(ticks >= 2, `${ticks} ticks before expiry`);
  assert.equal(service.subscribers, 0);
});

Deno.test("time service: subscribers are capped; server_busy beyond, room again after one leaves", async () => {
  const { server, service } = timeServer({ maxSubscribers: 2 });
  await using _server = server;
  await using one = new UdpClient({ port: server.addr.port });
  await using two = new UdpClient({ port: server.addr.port });
  await using three = new UdpClient({ port: server.addr.port });
  const first = await one.request("time_subscribe", {}, 2000);
  assert.equal(first.type, "time_tick");
  const id = first.type === "time_tick" ? first.fields.id : 0;
  await two.request("time_subscribe", {}, 2000);
  assert.equal(service.subscribers, 2);
  const refused = await three.request("time_subscribe", {}, 2000).then(
    (m) => assert.fail(`answered ${JSON.stringify(m)}`),
    (e: unknown) => e,
  );
  assert.ok(refused instanceof RemoteError, String(refused));
  assert.equal(refused.codeName, "server_busy");
  assert.match(refused.message, /limit of 2 subscribers/);
  // Subscribing again under the same id is not a new subscription.
  await one.request("time_subscribe", { id }, 2000);
  assert.equal(service.subscribers, 2);
  one.send("time_unsubscribe", { id });
  await roundTrip(one);
  assert.equal(service.subscribers, 1);
  const tick = await three.request("time_subscribe", {}, 2000);
  assert.equal(tick.type, "time_tick");
  assert.equal(service.subscribers, 2);
});

Deno.test("time service: shutdown ends every subscription and stops ticking", async () => {
  const { server, service } = timeServer({ tickMs: 20 });
  await using udp = new UdpClient({ port: server.addr.port });
  const first = await udp.request("time_subscribe", {}, 2000);
  assert.deepEqual(first.type === "time_tick" && first.fields.seq, 1);
  assert.equal(service.subscribers, 1);
  await server.shutdown();
  assert.equal(service.subscribers, 0);
  // The sanitizers fail this test if the tick interval outlived the server.
});

Deno.test("time service: answers time_request with t1 echoed and refuses other messages", async () => {
  const { server } = timeServer();
  await using _server = server;
  await using udp = new UdpClient({ port: server.addr.port });
  const reply = await udp.request("time_request", { t1: 42 }, 2000);
  assert.equal(reply.type, "time_reply");
  if (reply.type === "time_reply") {
    assert.equal(reply.fields.t1, 42);
    assert.ok(reply.fields.t3 >= reply.fields.t2);
  }
  const refused = await udp.request("echo_request", {
    data: new Uint8Array(),
  }, 2000).then(() => undefined, (e: unknown) => e);
  assert.ok(refused instanceof RemoteError);
  assert.equal(refused.code, ERRORS.unexpected_message.code);
  // Pings are answered by the host, with their fields.
  const pong = await udp.request("ping", { time: 7 }, 2000);
  assert.equal(pong.type, "pong");
  assert.equal(pong.type === "pong" && pong.fields.time, 7);
});
