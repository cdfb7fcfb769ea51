import assert from "node:assert/strict";
import { formatMs, lossPercent, pingSummary, rttStats } from "./ping_stats.ts";

Deno.test({
  name: "rttStats() computes min/avg/max and mdev as iputils does",
  permissions: "none",
  fn() {
    const stats = rttStats([1, 2, 3, 4]);
    assert.ok(stats);
    assert.equal(stats.min, 1);
    assert.equal(stats.avg, 2.5);
    assert.equal(stats.max, 4);
    // sqrt(mean(rtt²) − mean(rtt)²) = sqrt(30/4 − 6.25) = sqrt(1.25)
    assert.ok(Math.abs(stats.mdev - Math.sqrt(1.25)) < 1e-12, `${stats.mdev}`);
    // The population deviation, not the sample one (which divides by n − 1).
    assert.notEqual(stats.mdev, Math.sqrt(5 / 3));
  },
});

Deno.test({
  name: "rttStats() gives mdev 0 for equal samples and undefined for none",
  permissions: "none",
  fn() {
    // Subtracting mean(rtt)² from mean(rtt²) leaves rounding noise here
    // (for 0.3 a tiny negative, whose root is NaN; for 999.999, 2e-5).
    for (const rtt of [0.1, 0.3, 1.7, 12.345, 999.999]) {
      const mdev = rttStats(Array(7).fill(rtt))?.mdev ?? NaN;
      assert.ok(mdev >= 0 && mdev < 1e-9, `${rtt}: ${mdev}`);
    }
    assert.equal(rttStats([7.5])?.mdev, 0);
    assert.equal(rttStats([]), undefined);
  },
});

Deno.test({
  name: "lossPercent() prints like printf %g",
  permissions: "none",
  fn() {
    assert.equal(lossPercent(10, 10), "0");
    assert.equal(lossPercent(10, 0), "100");
    assert.equal(lossPercent(10, 7), "30");
    assert.equal(lossPercent(3, 2), "33.3333");
    assert.equal(lossPercent(3, 1), "66.6667");
    assert.equal(lossPercent(8, 7), "12.5");
    assert.equal(lossPercent(0, 0), "0");
  },
});

Deno.test({
  name: "rttStats() agrees with iputils' formula on random samples",
  permissions: "none",
  fn() {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let run = 0; run < 100; run++) {
      const rtts = Array.from({ length: 1 + run % 20 }, () => random() * 50);
      const mean = rtts.reduce((a, b) => a + b, 0) / rtts.length;
      const meanSquare = rtts.reduce((a, b) => a + b * b, 0) / rtts.length;
      const want = Math.sqrt(Math.max(0, meanSquare - mean * mean));
      const got = rttStats(rtts)?.mdev ?? NaN;
      assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
    }
  },
});

Deno.test({
  name: "pingSummary() prints iputils' two summary lines",
  permissions: "none",
  fn() {
    assert.deepEqual(
      pingSummary({ transmitted: 4, received: 3, elapsedMs: 3002.4 }, [
        0.5,
        1.5,
        1,
      ]),
      [
        "4 packets transmitted, 3 received, 25% packet loss, time 3002ms",
        `rtt min/avg/max/mdev = 0.500/1.000/1.500/${
          formatMs(Math.sqrt(3.5 / 3 - 1))
        } ms`,
      ],
    );
    assert.deepEqual(
      pingSummary({ transmitted: 2, received: 0 }, []),
      ["2 packets transmitted, 0 received, 100% packet loss"],
    );
  },
});

Deno.test({
  name:
    "pingSummary() adds duplicates, late answers and errors only when there are some",
  permissions: "none",
  fn() {
    const [line] = pingSummary({
      transmitted: 5,
      received: 3,
      duplicates: 1,
      late: 1,
      errors: 1,
    }, [1, 1, 1]);
    assert.equal(
      line,
      "5 packets transmitted, 3 received, +1 duplicates, +1 late, +1 errors, 40% packet loss",
    );
  },
});
