import assert from "node:assert/strict";
import { HttpParseError } from "./errors.ts";

Deno.test({
  name: "HttpParseError carries its status, offset and message",
  permissions: "none",
  fn() {
    const error = new HttpParseError(414, "Cannot accept request line", 7);
    assert.ok(error instanceof Error);
    assert.equal(error.name, "HttpParseError");
    assert.equal(error.status, 414);
    assert.equal(error.offset, 7);
    assert.equal(error.message, "Cannot accept request line");
    assert.equal(new HttpParseError(400, "Cannot parse").offset, 0);
  },
});
