import assert from "node:assert/strict";
import { seededRandom } from "./random.ts";
import { type Fate, NetworkSimulation } from "./simulation.ts";

function fates(network: NetworkSimulation, n: number): Fate[] {
  return Array.from({ length: n }, () => network.next());
}

function lostIndexes(list: Fate[]): number[] {
  return list.flatMap((f, i) => (f.lost ? [i] : []));
}

Deno.test({
  name: "seededRandom() repeats its sequence for a seed and stays in [0, 1)",
  permissions: "none",
  fn() {
    const a = seededRandom(12345);
    const b = seededRandom(12345);
    const c = seededRandom(12346);
    const first = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(first, Array.from({ length: 1000 }, () => b()));
    assert.notDeepEqual(first, Array.from({ length: 1000 }, () => c()));
    assert.ok(first.every((x) => x >= 0 && x < 1));
    const mean = first.reduce((s, x) => s + x, 0) / first.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  },
});

Deno.test({
  name: "NetworkSimulation.next() gives the same fates for the same seed",
  permissions: "none",
  fn() {
    const options = { loss: 0.3, delayMs: 20, jitterMs: 10, reorder: 0.1 };
    const one = fates(new NetworkSimulation({ ...options, seed: 99 }), 200);
    const two = fates(new NetworkSimulation({ ...options, seed: 99 }), 200);
    const other = fates(new NetworkSimulation({ ...options, seed: 100 }), 200);
    assert.deepEqual(one, two);
    assert.notDeepEqual(lostIndexes(one), lostIndexes(other));
  },
});

Deno.test({
  name:
    "NetworkSimulation loses about the asked share, and the same replies whatever the delay and reordering",
  permissions: "none",
  fn() {
    const plain = fates(new NetworkSimulation({ loss: 0.3, seed: 5 }), 2000);
    const lost = lostIndexes(plain);
    assert.ok(
      lost.length > 2000 * 0.25 && lost.length < 2000 * 0.35,
      `${lost.length} of 2000 lost`,
    );
    const busy = fates(
      new NetworkSimulation({
        loss: 0.3,
        delayMs: 50,
        jitterMs: 40,
        reorder: 0.5,
        seed: 5,
      }),
      2000,
    );
    assert.deepEqual(lostIndexes(busy), lost);
    assert.ok(busy.every((f) => !(f.lost && f.holdBack)), "lost is not held");
  },
});

Deno.test({
  name:
    "NetworkSimulation with loss 0 loses nothing and with loss 1 everything",
  permissions: "none",
  fn() {
    const none = fates(new NetworkSimulation({ loss: 0, seed: 1 }), 500);
    assert.deepEqual(lostIndexes(none), []);
    assert.ok(none.every((f) => f.delayMs === 0 && !f.holdBack));
    const all = fates(new NetworkSimulation({ loss: 1, seed: 1 }), 500);
    assert.equal(lostIndexes(all).length, 500);
  },
});

Deno.test({
  name: "NetworkSimulation delays by delay ± jitter, never below zero",
  permissions: "none",
  fn() {
    const around = fates(
      new NetworkSimulation({ delayMs: 20, jitterMs: 10, seed: 3 }),
      1000,
    ).map((f) => f.delayMs);
    assert.ok(around.every((d) => d >= 10 && d <= 30));
    assert.ok(Math.min(...around) < 12 && Math.max(...around) > 28);
    const clamped = fates(
      new NetworkSimulation({ delayMs: 5, jitterMs: 20, seed: 3 }),
      1000,
    ).map((f) => f.delayMs);
    assert.ok(clamped.every((d) => d >= 0 && d <= 25));
    assert.ok(clamped.some((d) => d === 0));
  },
});

Deno.test({
  name: "NetworkSimulation holds back about the asked share of replies",
  permissions: "none",
  fn() {
    const held = fates(new NetworkSimulation({ reorder: 0.1, seed: 8 }), 2000)
      .filter((f) => f.holdBack).length;
    assert.ok(held > 150 && held < 250, `${held} of 2000 held`);
    assert.equal(new NetworkSimulation({ seed: 8 }).active, false);
    assert.equal(new NetworkSimulation({ reorder: 0.1, seed: 8 }).active, true);
  },
});
