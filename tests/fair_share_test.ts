/**
 * The governor that makes large writes take turns with requests: free
 * without requests, a byte budget per turn with them, first come first
 * served, and free again once requests stop.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FairShare } from "../lib/fair_share.ts";

function clock(start = 0) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

/**
 * Resolves just after the governor's pending turn: timers of equal delay
 * fire in the order they were set, and the turn after it is set later.
 */
const afterTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("without requests, large writes are never held", () => {
  const share = new FairShare({ turnBytes: 100 });
  for (let i = 0; i < 10; i++) assert.equal(share.turn(1000), undefined);
  assert.equal(share.stats.held, 0);
  assert.equal(share.contended, false);
});

Deno.test("while requests arrive, each turn carries its budget, in the order writes asked", async () => {
  const time = clock();
  const share = new FairShare({ turnBytes: 100, holdMs: 50, now: time.now });
  share.request();
  assert.equal(share.contended, true);
  assert.equal(share.turn(60), undefined, "room in this turn");
  assert.equal(share.turn(60), undefined, "the budget is not yet used up");
  const order: number[] = [];
  const held = [1, 2, 3].map((n) =>
    share.turn(60)!.then(() => void order.push(n))
  );
  assert.equal(share.stats.held, 3);
  await afterTurn();
  // One turn of 100 bytes: the first two writes of 60 (the second runs
  // over, as a write is not split), the third waits for the next.
  assert.deepEqual(order, [1, 2]);
  await Promise.all(held);
  assert.deepEqual(order, [1, 2, 3]);
  assert.ok(share.stats.turns >= 2);
});

Deno.test("once requests stop for the hold time, writes go free again", async () => {
  const time = clock();
  const share = new FairShare({ turnBytes: 10, holdMs: 50, now: time.now });
  share.request();
  assert.equal(share.turn(10), undefined);
  const waiting = share.turn(10);
  assert.ok(waiting, "over budget while contended");
  time.advance(51);
  assert.equal(share.contended, false);
  // Still queued behind the earlier write: order is kept.
  const behind = share.turn(10);
  assert.ok(behind);
  await Promise.all([waiting, behind]);
  await afterTurn();
  assert.equal(share.turn(10), undefined, "free once the queue is empty");
});
