import assert from "node:assert/strict";
import fc from "fast-check";
import { formatMicros } from "./clock.ts";
import { bestSample, timeSample } from "./ntp.ts";

Deno.test({
  name: "timeSample() computes RFC 5905 offset and delay",
  permissions: "none",
  fn() {
    // Server 1 s ahead, 10 ms each way, 2 ms inside the server.
    const s = timeSample({ t1: 0, t2: 1_010_000, t3: 1_012_000, t4: 22_000 });
    assert.equal(s.offset, 1_000_000);
    assert.equal(s.delay, 20_000);
    // Server 250 ms behind.
    const behind = timeSample({
      t1: 5_000_000,
      t2: 4_751_000,
      t3: 4_751_500,
      t4: 5_002_500,
    });
    assert.equal(behind.offset, -250_000);
    assert.equal(behind.delay, 2000);
    assert.deepEqual(
      { t1: behind.t1, t2: behind.t2, t3: behind.t3, t4: behind.t4 },
      { t1: 5_000_000, t2: 4_751_000, t3: 4_751_500, t4: 5_002_500 },
    );
  },
});

Deno.test({
  name:
    "timeSample() is off by half the asymmetry of the path, never more than half the delay",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.integer({ min: -3_600_000_000, max: 3_600_000_000 }), // true offset
        fc.integer({ min: 0, max: 1_000_000 }), // way there
        fc.integer({ min: 0, max: 1_000_000 }), // way back
        fc.integer({ min: 0, max: 100_000 }), // in the server
        (offset, there, back, inside) => {
          const t1 = 1_700_000_000_000_000;
          const t2 = t1 + there + offset;
          const t3 = t2 + inside;
          const t4 = t3 - offset + back;
          const s = timeSample({ t1, t2, t3, t4 });
          assert.equal(s.delay, there + back);
          assert.equal(s.offset - offset, (there - back) / 2);
          assert.ok(Math.abs(s.offset - offset) <= s.delay / 2);
        },
      ),
    );
  },
});

Deno.test({
  name: "bestSample() picks the smallest delay, the earliest on a tie",
  permissions: "none",
  fn() {
    const a = { ...timeSample({ t1: 0, t2: 10, t3: 10, t4: 30 }), n: 1 };
    const b = { ...timeSample({ t1: 0, t2: 5, t3: 5, t4: 8 }), n: 2 };
    const c = { ...timeSample({ t1: 0, t2: 1, t3: 1, t4: 3 }), n: 3 };
    const d = { ...timeSample({ t1: 0, t2: 2, t3: 2, t4: 1 }), n: 4 };
    assert.equal(bestSample([a, b, c, d])?.n, 4);
    assert.equal(bestSample([a, b, c])?.n, 3);
    assert.equal(bestSample([c, { ...c, n: 9 }])?.n, 3);
    assert.equal(bestSample([]), undefined);
  },
});

Deno.test({
  name: "formatMicros() prints ISO 8601 with microseconds",
  permissions: "none",
  fn() {
    assert.equal(
      formatMicros(1_700_000_000_123_456),
      "2023-11-14T22:13:20.123456Z",
    );
    assert.equal(
      formatMicros(1_700_000_000_000_007),
      "2023-11-14T22:13:20.000007Z",
    );
    assert.equal(formatMicros(0), "1970-01-01T00:00:00.000000Z");
  },
});
