import assert from "node:assert/strict";
import { rateLimitMessage, retryAfterMs, TokenBucket } from "./token_bucket.ts";

Deno.test({
  name:
    "TokenBucket.take() spends the burst, then says how long until the next token",
  permissions: "none",
  fn() {
    const bucket = new TokenBucket({ rate: 4, burst: 2 }, 0);
    assert.equal(bucket.take(0), 0);
    assert.equal(bucket.take(0), 0);
    assert.equal(bucket.take(0), 250);
    assert.equal(bucket.take(125), 125);
    assert.equal(bucket.take(250), 0);
  },
});

Deno.test({
  name: "TokenBucket.take() mints nothing when the clock steps back",
  permissions: "none",
  fn() {
    const bucket = new TokenBucket({ rate: 1, burst: 1 }, 10_000);
    assert.equal(bucket.take(10_000), 0);
    assert.equal(bucket.take(0), 1000);
    assert.equal(bucket.take(10_500), 500);
    assert.equal(bucket.take(11_000), 0);
  },
});

Deno.test({
  name: "TokenBucket rejects a rate or burst that could never allow a message",
  permissions: "none",
  fn() {
    assert.throws(() => new TokenBucket({ rate: 0, burst: 1 }, 0), RangeError);
    assert.throws(() => new TokenBucket({ rate: 1, burst: 0 }, 0), RangeError);
    assert.throws(
      () => new TokenBucket({ rate: NaN, burst: 1 }, 0),
      RangeError,
    );
  },
});

Deno.test({
  name:
    "retryAfterMs() reads back what rateLimitMessage() says, and nothing else",
  permissions: "none",
  fn() {
    assert.equal(
      retryAfterMs(rateLimitMessage({ rate: 10, burst: 20, waitMs: 137 })),
      137,
    );
    assert.equal(retryAfterMs("slow down"), undefined);
  },
});
