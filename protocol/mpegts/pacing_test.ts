import assert from "node:assert/strict";
import fc from "fast-check";
import { PcrClock, type PcrClockInput } from "./pacing.ts";
import { parsePacket, PCR_HZ, PCR_WRAP, TS_PACKET_SIZE } from "./ts.ts";

const VIDEO = 256;
const AUDIO = 257;
/** 27 MHz ticks per millisecond. */
const MS = PCR_HZ / 1000;

function pcr(ticks: number, pid = VIDEO): PcrClockInput {
  return { pid, pcr: ticks };
}

function plain(pid = AUDIO): PcrClockInput {
  return { pid, pcr: undefined };
}

function near(actual: number | undefined, expected: number, eps = 1e-6): void {
  assert.notEqual(actual, undefined);
  assert.ok(
    Math.abs(actual! - expected) <= eps,
    `expected ${expected} ± ${eps}, got ${actual}`,
  );
}

Deno.test({
  name: "PcrClock times PCR packets by PCR difference; others go right after",
  permissions: "none",
  fn() {
    const clock = new PcrClock();
    assert.equal(clock.push(pcr(5 * PCR_HZ)), 0);
    assert.equal(clock.epochs, 1);
    assert.equal(clock.pcrPid, VIDEO);
    assert.equal(clock.push(plain()), undefined);
    assert.equal(clock.push(plain(VIDEO)), undefined);
    near(clock.push(pcr(5 * PCR_HZ + 40 * MS)), 40);
    near(clock.push(pcr(5 * PCR_HZ + 40 * MS + 1)), 40 + 1 / MS);
    // 3 packets in 40 ms, then 1 in 1/27000 ms.
    assert.ok(clock.bytesPerSecond > 0);
    assert.equal(clock.epochs, 1);
  },
});

Deno.test({
  name: "PcrClock measures the byte rate between PCRs",
  permissions: "none",
  fn() {
    const clock = new PcrClock();
    for (let i = 0; i <= 10; i++) {
      clock.push(pcr(i * 100 * MS));
      for (let k = 0; k < 9; k++) clock.push(plain());
    }
    // 10 packets of 188 bytes every 100 ms.
    near(clock.bytesPerSecond, 18_800, 1e-6);
  },
});

Deno.test({
  name: "PcrClock goes on smoothly across a PCR wrap-around",
  permissions: "none",
  fn() {
    const clock = new PcrClock();
    assert.equal(clock.push(pcr(PCR_WRAP - 30 * MS)), 0);
    near(clock.push(pcr(PCR_WRAP - 10 * MS)), 20);
    near(clock.push(pcr(10 * MS)), 40); // wrapped
    near(clock.push(pcr(50 * MS)), 80);
    assert.equal(clock.epochs, 1);
  },
});

Deno.test({
  name: "PcrClock starts a new epoch when the PCR goes back (a loop restart)",
  permissions: "none",
  fn() {
    const clock = new PcrClock();
    clock.push(pcr(1 * PCR_HZ));
    for (let i = 1; i <= 60; i++) {
      for (let k = 0; k < 4; k++) clock.push(plain());
      clock.push(pcr(1 * PCR_HZ + i * 100 * MS));
    }
    const end = 6000;
    // The file's tail, then it starts over at PCR 1 s.
    for (let k = 0; k < 4; k++) assert.equal(clock.push(plain()), undefined);
    const restart = clock.push(pcr(1 * PCR_HZ));
    assert.equal(clock.epochs, 2);
    // 5 packets since the last PCR at the measured rate: 100 ms.
    near(restart, end + 100, 1e-6);
    near(clock.push(pcr(1 * PCR_HZ + 100 * MS)), end + 200, 1e-6);
  },
});

Deno.test({
  name: "PcrClock starts a new epoch on a jump forward beyond maxPcrJumpMs",
  permissions: "none",
  fn() {
    const clock = new PcrClock({ maxPcrJumpMs: 1000 });
    clock.push(pcr(0));
    near(clock.push(pcr(100 * MS)), 100);
    near(clock.push(pcr(1100 * MS)), 1100); // exactly the limit: continuous
    const jumped = clock.push(pcr(3600 * PCR_HZ));
    assert.equal(clock.epochs, 2);
    // One packet at the measured rate: 376 bytes in 1100 ms.
    near(jumped, 1100 + 188 / (376 / 1100), 1e-6);
    near(clock.push(pcr(3600 * PCR_HZ + 10 * MS)), 1660, 1e-6);
  },
});

Deno.test({
  name: "PcrClock starts a new epoch on the discontinuity indicator",
  permissions: "none",
  fn() {
    const clock = new PcrClock();
    clock.push(pcr(0));
    near(clock.push(pcr(100 * MS)), 100);
    const t = clock.push({ pid: VIDEO, pcr: 150 * MS, discontinuity: true });
    assert.equal(clock.epochs, 2);
    near(t, 200); // one packet at 188 bytes per 100 ms
    near(clock.push(pcr(250 * MS)), 300);
  },
});

Deno.test({
  name: "PcrClock restart() makes the next PCR open a new epoch",
  permissions: "none",
  fn() {
    const clock = new PcrClock();
    clock.push(pcr(0));
    near(clock.push(pcr(100 * MS)), 100);
    clock.restart();
    assert.equal(clock.pcrPid, undefined);
    // The same PCR again would otherwise be "no time passed".
    near(clock.push(pcr(200 * MS, 300)), 200);
    assert.equal(clock.pcrPid, 300);
    assert.equal(clock.epochs, 2);
  },
});

Deno.test({
  name: "PcrClock paces by fallbackBytesPerSecond when there are no PCRs",
  permissions: "none",
  fn() {
    const clock = new PcrClock({ fallbackBytesPerSecond: 188_000 });
    const times = Array.from({ length: 5 }, () => clock.push(plain()));
    assert.deepEqual(times, [0, 1, 2, 3, 4]);
    near(clock.push(plain(), 376), 5);
    near(clock.push(plain()), 7);
    assert.equal(clock.epochs, 0);
  },
});

Deno.test({
  name: "PcrClock falls back to the measured byte rate when PCRs stop",
  permissions: "none",
  fn() {
    const clock = new PcrClock({ pcrTimeoutMs: 50 });
    // 188 bytes per 10 ms: 18 800 B/s.
    for (let i = 0; i <= 10; i++) clock.push(pcr(i * 10 * MS));
    // Within the timeout: sent right after the last PCR packet.
    for (let k = 0; k < 5; k++) assert.equal(clock.push(plain()), undefined);
    // Past it (6 packets = 60 ms): timed by byte count from the last PCR.
    near(clock.push(plain()), 160);
    near(clock.push(plain()), 170);
    // PCRs come back on the same timeline.
    near(clock.push(pcr(200 * MS)), 200);
  },
});

Deno.test({
  name: "PcrClock follows one PID's PCRs, or the one it is told",
  permissions: "none",
  fn() {
    const clock = new PcrClock();
    clock.push(pcr(0, VIDEO));
    assert.equal(clock.push(pcr(99 * PCR_HZ, AUDIO)), undefined);
    near(clock.push(pcr(10 * MS, VIDEO)), 10);
    const told = new PcrClock({ pcrPid: AUDIO });
    assert.notEqual(told.push(pcr(0, VIDEO)), undefined); // no PCR yet: bytes
    assert.equal(told.pcrPid, AUDIO);
    const first = told.push(pcr(0, AUDIO));
    near(told.push(pcr(20 * MS, AUDIO)), first! + 20);
    told.restart();
    assert.equal(told.pcrPid, AUDIO);
  },
});

Deno.test({
  name: "PcrClock rejects options that are not positive numbers",
  permissions: "none",
  fn() {
    for (
      const options of [
        { fallbackBytesPerSecond: 0 },
        { maxPcrJumpMs: -1 },
        { pcrTimeoutMs: NaN },
        { fallbackBytesPerSecond: Infinity },
      ]
    ) {
      assert.throws(() => new PcrClock(options), RangeError);
    }
  },
});

Deno.test({
  name: "PcrClock times never decrease and stay finite (property)",
  permissions: "none",
  fn() {
    const inputArb = fc.record({
      pid: fc.constantFrom(VIDEO, AUDIO),
      pcr: fc.option(fc.nat(PCR_WRAP - 1), { nil: undefined }),
      discontinuity: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(inputArb, fc.integer({ min: 1, max: 1 << 16 })), {
          maxLength: 200,
        }),
        fc.boolean(),
        (items, restartHalfway) => {
          const clock = new PcrClock();
          let last = 0;
          items.forEach(([info, size], i) => {
            if (restartHalfway && i === items.length >> 1) clock.restart();
            const t = clock.push(info, size);
            if (t === undefined) return;
            assert.ok(Number.isFinite(t));
            assert.ok(t >= last, `${t} < ${last} at #${i}`);
            last = t;
          });
        },
      ),
      { numRuns: 300 },
    );
  },
});

// ---------------------------------------------------------------------------
// The real test clip

const LIVE_TS = new URL("../../testdata/video/live.m2t", import.meta.url);

/** Paces `loops` passes over the file; returns the last send time in ms. */
function paceLoops(data: Uint8Array, loops: number, clock: PcrClock): number {
  let last = 0;
  for (let loop = 0; loop < loops; loop++) {
    for (let at = 0; at < data.length; at += TS_PACKET_SIZE) {
      const t = clock.push(parsePacket(data, at));
      if (t !== undefined) {
        assert.ok(t >= last);
        last = t;
      }
    }
  }
  return last;
}

Deno.test({
  name: "live.m2t: pacing one pass spans about the clip's 6 s",
  permissions: { read: true },
  async fn() {
    const data = await Deno.readFile(LIVE_TS);
    const clock = new PcrClock();
    const span = paceLoops(data, 1, clock);
    assert.ok(span > 5600 && span < 6300, `one pass spans ${span} ms`);
    assert.equal(clock.epochs, 1);
    // The measured rate is the file's: size over duration, within 10 %.
    const expected = data.length / 6;
    assert.ok(
      Math.abs(clock.bytesPerSecond - expected) / expected < 0.1,
      `${clock.bytesPerSecond} B/s vs ${expected}`,
    );
  },
});

Deno.test({
  name: "live.m2t: pacing three loops spans three clip durations, one epoch " +
    "per loop",
  permissions: { read: true },
  async fn() {
    const data = await Deno.readFile(LIVE_TS);
    const one = paceLoops(data, 1, new PcrClock());
    const clock = new PcrClock();
    const three = paceLoops(data, 3, clock);
    assert.equal(clock.epochs, 3);
    // Each restart bridges the bytes between the last PCR of one pass and
    // the first of the next at the measured rate: about 0.1 s of stream.
    assert.ok(
      three > 3 * one && three < 3 * one + 2 * 250,
      `three loops ${three} ms, one ${one} ms`,
    );
    assert.ok(three > 17_500 && three < 18_500, `three loops ${three} ms`);
  },
});
