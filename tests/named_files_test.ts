/**
 * Files by name in a confined directory (`lib/named_files.ts`), the helper
 * behind the video library and the image service: which names are refused,
 * which extension wins, what a symlink may lead to, and what a listing
 * leaves out.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DigestCache, fileDigest } from "../lib/bulk.ts";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { checkName, findNamed, listNamed } from "../lib/named_files.ts";
import { ProtocolError } from "../protocol/tlv/protocol_error.ts";
import { tempDir } from "./_util.ts";

const encoder = new TextEncoder();

function isBadName(message?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error}`);
    assert.equal(error.code, "bad_name", error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}

/** Writes `files` (name → text) into `dir`; a name ending in "/" is a directory. */
async function fill(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    if (name.endsWith("/")) await Deno.mkdir(join(dir, name));
    else await Deno.writeFile(join(dir, name), encoder.encode(text));
  }
}

Deno.test("checkName() accepts plain file names", () => {
  for (
    const name of [
      "campus",
      "campus.png",
      "a b.jpg",
      "a..b",
      "über.gif",
      "x".repeat(255),
      "%2e%2e",
    ]
  ) {
    checkName(name, "an image name");
  }
});

Deno.test("checkName() refuses paths, hidden names, NUL, empty and overlong names with bad_name naming what it checks", () => {
  for (
    const name of [
      "",
      ".",
      "..",
      ".hidden",
      "../etc/passwd",
      "a/b",
      "/etc/passwd",
      "a\\b",
      "a\0b",
      "x".repeat(256),
      "\ud800", // a lone surrogate: not a name any file system spells
    ]
  ) {
    assert.throws(
      () => checkName(name, "an image name"),
      isBadName(/is not an image name \(one plain file name, no paths\)/),
      JSON.stringify(name),
    );
  }
  assert.throws(
    () => checkName("a/b", "a video name"),
    isBadName(/^"a\/b" is not a video name/),
  );
});

Deno.test("checkName() quotes at most 80 characters of a long name", () => {
  assert.throws(
    () => checkName("y".repeat(300), "an image name"),
    (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.ok(error.message.startsWith(`"${"y".repeat(80)}" is not`));
      return true;
    },
  );
});

Deno.test("findNamed() tries the extensions in order, the bare name first when listed", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  await fill(tmp.path, {
    "logo": "bare",
    "logo.png": "png",
    "logo.jpg": "jpg",
    "photo.jpg": "jpg",
  });
  const root = await ConfinedRoot.open(tmp.path);
  const find = async (name: string, extensions: string[]) =>
    (await findNamed(root, name, extensions, "an image name"))?.fileName;
  assert.equal(await find("logo", ["", ".png", ".jpg"]), "logo");
  assert.equal(await find("logo", [".png", ".jpg"]), "logo.png");
  assert.equal(await find("logo", [".jpg", ".png"]), "logo.jpg");
  assert.equal(await find("photo", ["", ".png", ".jpg"]), "photo.jpg");
  // A name with its extension is found as the bare name.
  assert.equal(await find("photo.jpg", ["", ".png", ".jpg"]), "photo.jpg");
  assert.equal(await find("photo.jpg", [".png", ".jpg"]), undefined);
  assert.equal(await find("nope", ["", ".png", ".jpg"]), undefined);
  assert.equal(await find("logo", []), undefined);
});

Deno.test("findNamed() returns the real path, the file name and its stat", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  await fill(tmp.path, { "a.png": "12345" });
  const root = await ConfinedRoot.open(tmp.path);
  const found = await findNamed(root, "a", ["", ".png"], "an image name");
  assert.ok(found);
  assert.equal(found.path, join(root.root, "a.png"));
  assert.equal(found.fileName, "a.png");
  assert.equal(found.info.isFile, true);
  assert.equal(found.info.size, 5);
});

Deno.test("findNamed() skips directories and goes on to the next extension", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  await fill(tmp.path, { "logo/": "", "logo.png/": "", "logo.gif": "gif" });
  const root = await ConfinedRoot.open(tmp.path);
  const found = await findNamed(
    root,
    "logo",
    ["", ".png", ".gif"],
    "an image name",
  );
  assert.equal(found?.fileName, "logo.gif");
});

Deno.test("findNamed() takes names literally: no percent-decoding", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  await fill(tmp.path, { "a b.png": "x", "%41.png": "y" });
  const root = await ConfinedRoot.open(tmp.path);
  const find = async (name: string) =>
    (await findNamed(root, name, ["", ".png"], "an image name"))?.fileName;
  assert.equal(await find("a b"), "a b.png");
  assert.equal(await find("%41"), "%41.png");
  assert.equal(await find("A"), undefined);
  assert.equal(await find("%2e%2e"), undefined);
});

Deno.test("findNamed() refuses bad names and symlinks leading outside the root or to hidden files", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  const dir = join(tmp.path, "images");
  const outside = join(tmp.path, "outside");
  await Deno.mkdir(dir);
  await Deno.mkdir(outside);
  await fill(outside, { "secret.png": "secret" });
  await fill(dir, { "ok.png": "ok", ".hidden.png": "hidden" });
  await Deno.symlink(join(outside, "secret.png"), join(dir, "escape.png"));
  await Deno.symlink("../outside/secret.png", join(dir, "climb.png"));
  await Deno.symlink(".hidden.png", join(dir, "dot.png"));
  await Deno.symlink("ok.png", join(dir, "inside.png"));
  const root = await ConfinedRoot.open(dir);
  const extensions = ["", ".png"];
  for (const name of ["../outside/secret", ".hidden", "a/b", "", ".."]) {
    await assert.rejects(
      findNamed(root, name, extensions, "an image name"),
      isBadName(/is not an image name/),
      JSON.stringify(name),
    );
  }
  for (const name of ["escape", "climb", "escape.png"]) {
    await assert.rejects(
      findNamed(root, name, extensions, "an image name"),
      isBadName(/is not an image name: .*outside the root/),
      name,
    );
  }
  await assert.rejects(
    findNamed(root, "dot", extensions, "an image name"),
    isBadName(/is not an image name: .*hidden file/),
  );
  // A symlink that stays inside leads to its target, a real path.
  const inside = await findNamed(root, "inside", extensions, "an image name");
  assert.equal(inside?.fileName, "inside.png");
  assert.equal(inside?.path, join(root.root, "ok.png"));
});

Deno.test("listNamed() lists regular files with a listed extension, sorted, names without the extension", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  await fill(tmp.path, {
    "zebra.png": "zz",
    "apple.jpg": "a",
    "Mango.gif": "mmm",
    "notes.txt": "not an image",
    "README": "no extension at all",
    ".hidden.png": "hidden",
    ".logo.png.part": "a download in progress",
    "folder.png/": "",
    "apple.png": "aa",
  });
  await Deno.symlink(join(tmp.path, "zebra.png"), join(tmp.path, "link.png"));
  const root = await ConfinedRoot.open(tmp.path);
  const entries = await listNamed(root, ["", ".png", ".jpg", ".gif"]);
  assert.deepEqual(entries, [
    { name: "apple", fileName: "apple.jpg", size: 1 },
    { name: "apple", fileName: "apple.png", size: 2 },
    { name: "Mango", fileName: "Mango.gif", size: 3 },
    { name: "zebra", fileName: "zebra.png", size: 2 },
  ]);
});

Deno.test("listNamed() cuts off the first listed extension that matches", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  await fill(tmp.path, { "backup.tar.gz": "x" });
  const root = await ConfinedRoot.open(tmp.path);
  assert.deepEqual(
    (await listNamed(root, [".gz", ".tar.gz"])).map((e) => e.name),
    ["backup.tar"],
  );
  assert.deepEqual(
    (await listNamed(root, [".tar.gz", ".gz"])).map((e) => e.name),
    ["backup"],
  );
});

Deno.test("listNamed() gives each entry its SHA-256 when given a digest cache", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  await fill(tmp.path, { "a.png": "first", "b.png": "second" });
  const root = await ConfinedRoot.open(tmp.path);
  const digests = new DigestCache();
  const entries = await listNamed(root, [".png"], digests);
  assert.equal(entries.length, 2);
  for (const entry of entries) {
    assert.deepEqual(
      entry.digest,
      await fileDigest(join(tmp.path, entry.fileName)),
      entry.fileName,
    );
  }
  assert.equal(digests.size, 2, "the digests are remembered for the next use");
});

Deno.test("listNamed() of an empty directory is empty", async () => {
  await using tmp = await tempDir({ prefix: "socklab_named_" });
  const root = await ConfinedRoot.open(tmp.path);
  assert.deepEqual(await listNamed(root, [".png"]), []);
});
