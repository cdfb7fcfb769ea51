import assert from "node:assert/strict";
import { formatSummary, safeFileName } from "./download.ts";

Deno.test({
  name:
    "safeFileName() keeps the announced file name only when it is a plain, visible name",
  permissions: "none",
  fn() {
    assert.equal(safeFileName("campus.png", "campus"), "campus.png");
    assert.equal(safeFileName("../../etc/passwd", "x"), "passwd");
    assert.equal(safeFileName("..\\..\\boot.ini", "x"), "boot.ini");
    assert.equal(safeFileName(".bashrc", "campus"), "campus");
    assert.equal(safeFileName("a\x1b[2Jb.png", "campus"), "campus");
    assert.equal(safeFileName(undefined, "logo"), "logo");
    assert.equal(safeFileName("..", ".."), "download");
    assert.equal(safeFileName("", "/"), "download");
  },
});

Deno.test({
  name:
    "formatSummary() names the source when the server said it, and a resume",
  permissions: "none",
  fn() {
    const base = {
      name: "campus",
      path: "campus.png",
      size: 2687,
      bytes: 2687,
      offset: 0,
      seconds: 0.5,
    };
    assert.equal(
      formatSummary(base),
      "campus.png: 2.69 kB in 0.50 s (5.37 kB/s), digest verified",
    );
    assert.equal(
      formatSummary({ ...base, source: "cache", offset: 1000, bytes: 1687 }),
      "campus.png: 2.69 kB in 0.50 s (3.37 kB/s) from the cache, resumed at 1.00 kB, digest verified",
    );
  },
});
