import assert from "node:assert/strict";
import { MAX_TRACKED_GAP, SeqTracker } from "./seq_tracker.ts";

function counts(t: SeqTracker) {
  return {
    received: t.received,
    lost: t.lost,
    reordered: t.reordered,
    duplicates: t.duplicates,
  };
}

Deno.test({
  name: "SeqTracker counts a run in order as nothing lost or reordered",
  permissions: "none",
  fn() {
    const t = new SeqTracker();
    for (const seq of [5, 6, 7, 8]) assert.equal(t.observe(seq).kind, "next");
    assert.deepEqual(counts(t), {
      received: 4,
      lost: 0,
      reordered: 0,
      duplicates: 0,
    });
  },
});

Deno.test({
  name:
    "SeqTracker reports a gap, turns a late arrival into reordered, and keeps the rest lost",
  permissions: "none",
  fn() {
    const t = new SeqTracker();
    t.observe(1);
    assert.deepEqual(t.observe(5), { kind: "gap", from: 2, to: 4 });
    assert.equal(t.lost, 3);
    assert.deepEqual(t.observe(3), { kind: "late" });
    assert.deepEqual(t.observe(3), { kind: "duplicate" });
    assert.deepEqual(t.observe(5), { kind: "duplicate" });
    assert.deepEqual(counts(t), {
      received: 3,
      lost: 2,
      reordered: 1,
      duplicates: 2,
    });
  },
});

Deno.test({
  name:
    "SeqTracker handles arrivals before the first one seen (a replay out of order)",
  permissions: "none",
  fn() {
    const t = new SeqTracker();
    t.observe(3);
    assert.deepEqual(t.observe(1), { kind: "late" });
    assert.equal(t.lost, 1, "2 is missing now");
    assert.deepEqual(t.observe(2), { kind: "late" });
    assert.deepEqual(counts(t), {
      received: 3,
      lost: 0,
      reordered: 2,
      duplicates: 0,
    });
  },
});

Deno.test({
  name:
    "SeqTracker counts a huge jump as lost without remembering every number",
  permissions: "none",
  fn() {
    const t = new SeqTracker();
    t.observe(1);
    t.observe(1_000_002);
    assert.equal(t.lost, 1_000_000);
    t.observe(2); // remembered: within the first MAX_TRACKED_GAP
    assert.equal(t.lost, 999_999);
    assert.equal(t.reordered, 1);
    assert.ok(MAX_TRACKED_GAP < 1_000_000);
  },
});
