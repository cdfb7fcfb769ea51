/**
 * Integration tests for lib/confined_fs.ts on real temporary directories:
 * every spelling of traversal is refused with the right reason and never
 * yields a path outside the root; symlinks are judged by where they really
 * lead.
 */

import assert from "node:assert/strict";
import { join, sep } from "node:path";
import fc from "fast-check";
import { writeFileAtomic } from "../lib/atomic_write.ts";
import {
  _windowsNameProblem,
  ConfinedPathError,
  type ConfinedPathReason,
  ConfinedRoot,
} from "../lib/confined_fs.ts";
import { listDir, type TempDir, tempDir } from "./_util.ts";

/**
 * A served tree beside a secret one:
 *
 * ```
 * base/outside/secret.txt        base/outside/a
 * base/root/index.html           base/root/docs/a b.txt
 * base/root/한.txt               base/root/a+b.txt
 * base/root/.env                 base/root/.git/config
 * base/root/a/.hidden/x          base/root/a/file.txt
 * base/root/link_in  -> index.html             (inside: allowed)
 * base/root/link_out -> base/outside/secret.txt (absolute, outside)
 * base/root/link_dot -> .env                    (inside, but hidden)
 * base/root/dir_out  -> base/outside            (directory, outside)
 * base/root/sub/climb -> ../../secret           (relative, climbs out)
 * base/secret
 * ```
 */
interface Tree extends AsyncDisposable {
  readonly base: string;
  readonly root: string;
  readonly outside: string;
}

async function makeTree(): Promise<Tree> {
  const tmp: TempDir = await tempDir({ prefix: "socklab_confined_" });
  // The temp dir itself may sit behind a symlink (macOS /tmp).
  const base = await Deno.realPath(tmp.path);
  const root = join(base, "root");
  const outside = join(base, "outside");
  const files: Record<string, string> = {
    "outside/secret.txt": "outside secret",
    "outside/a": "outside a",
    "secret": "base secret",
    "root/index.html": "<h1>index</h1>",
    "root/docs/a b.txt": "spaced",
    "root/한.txt": "hangul",
    "root/a+b.txt": "plus",
    "root/.env": "TOKEN=hidden",
    "root/.git/config": "[core]",
    "root/a/.hidden/x": "hidden x",
    "root/a/file.txt": "a file",
  };
  for (const [name, text] of Object.entries(files)) {
    const path = join(base, name);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  await Deno.mkdir(join(root, "sub"));
  await Deno.symlink("index.html", join(root, "link_in"));
  await Deno.symlink(join(outside, "secret.txt"), join(root, "link_out"));
  await Deno.symlink(".env", join(root, "link_dot"));
  await Deno.symlink(outside, join(root, "dir_out"));
  await Deno.symlink("../../secret", join(root, "sub", "climb"));
  return {
    base,
    root,
    outside,
    [Symbol.asyncDispose]: () => tmp[Symbol.asyncDispose](),
  };
}

/** Runs `fn` and returns the ConfinedPathError it throws; fails otherwise. */
async function refusal(fn: () => unknown): Promise<ConfinedPathError> {
  let result: unknown;
  try {
    result = await fn();
  } catch (error) {
    if (error instanceof ConfinedPathError) return error;
    throw error;
  }
  assert.fail(`expected a ConfinedPathError, got ${JSON.stringify(result)}`);
}

async function assertRefused(
  fn: () => unknown,
  reason: ConfinedPathReason,
  label: string,
): Promise<ConfinedPathError> {
  const error = await refusal(fn);
  assert.equal(error.reason, reason, `${label}: ${error.message}`);
  assert.match(error.message, /^Cannot /);
  return error;
}

/** True when `path` is the root or inside it. */
function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root + sep);
}

const TRAVERSALS: [string, ConfinedPathReason][] = [
  ["/../etc/passwd", "traversal"],
  ["/a/../../etc/passwd", "traversal"],
  ["/a/..", "traversal"],
  ["/%2e%2e/etc/passwd", "traversal"],
  ["/%2E%2E/", "traversal"],
  ["/.%2e/", "traversal"],
  ["/%2e./", "traversal"],
  ["/./index.html", "traversal"],
  ["/%2e/index.html", "traversal"],
  ["/..%2f..%2fetc/passwd", "traversal"],
  ["/a%2Fb", "traversal"],
  ["/..%5c..%5cwindows", "traversal"],
  ["/a%5Cb", "traversal"],
  ["/a\\..\\b", "traversal"],
  ["/%00", "invalid"],
  ["/a%00.txt", "invalid"],
  ["/a\0.txt", "invalid"],
  ["/a%0a.txt", "invalid"],
  ["/a\r\n.txt", "invalid"],
  ["/a%7f", "invalid"],
  ["/a%c2%85", "invalid"], // U+0085, a C1 control
  ["/C:/windows", "absolute"],
  ["/c:", "absolute"],
  ["/%43%3a/windows", "absolute"],
  ["etc/passwd", "invalid"],
  ["", "invalid"],
  ["index.html", "invalid"],
  ["/%", "encoding"],
  ["/%2", "encoding"],
  ["/%zz", "encoding"],
  ["/a%g0", "encoding"],
  ["/%c3%28", "encoding"],
  ["/%c0%ae%c0%ae/etc/passwd", "encoding"], // overlong "."
  ["/%ff", "encoding"],
  ["/%ed%a0%80", "encoding"], // a UTF-16 surrogate in UTF-8
  ["/a\ud800", "encoding"], // a lone surrogate in the string itself
  ["/.env", "hidden"],
  ["/.git/config", "hidden"],
  ["/a/.hidden/x", "hidden"],
  ["/%2eenv", "hidden"],
];

Deno.test("ConfinedRoot refuses every spelling of traversal with its reason, never a path", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  for (const [target, reason] of TRAVERSALS) {
    const label = JSON.stringify(target);
    await assertRefused(() => site.resolve(target), reason, label);
    await assertRefused(() => site.locate(target), reason, label);
    await assertRefused(() => site.openFile(target), reason, label);
  }
});

Deno.test("ConfinedRoot.resolve() decodes once: %252e%252e is a literal name that is not found inside the root", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  const target = "/%252e%252e/etc/passwd";
  const { path, segments } = site.resolve(target);
  assert.deepEqual(segments, ["%2e%2e", "etc", "passwd"]);
  assert.equal(path, join(tree.root, "%2e%2e", "etc", "passwd"));
  const error = await assertRefused(
    () => site.locate(target),
    "not_found",
    target,
  );
  assert.ok(error.cause instanceof Deno.errors.NotFound);
});

Deno.test("ConfinedRoot.resolve() collapses //etc/passwd to a root-relative path, never /etc/passwd", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  for (const target of ["//etc/passwd", "/etc//passwd", "///etc/passwd//"]) {
    const { path, segments } = site.resolve(target);
    assert.deepEqual(segments, ["etc", "passwd"]);
    assert.equal(path, join(tree.root, "etc", "passwd"));
    await assertRefused(() => site.locate(target), "not_found", target);
  }
});

Deno.test("ConfinedRoot.resolve() maps / to the root itself", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  assert.deepEqual(site.resolve("/"), { path: tree.root, segments: [] });
  const { path, info } = await site.locate("//");
  assert.equal(path, tree.root);
  assert.ok(info.isDirectory);
});

Deno.test("ConfinedRoot serves names with spaces, unicode and a literal +", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  const cases: [string, string[], string][] = [
    ["/docs/a%20b.txt", ["docs", "a b.txt"], "spaced"],
    ["/%ED%95%9C.txt", ["한.txt"], "hangul"],
    ["/%ed%95%9c.txt", ["한.txt"], "hangul"],
    ["/한.txt", ["한.txt"], "hangul"],
    ["/a+b.txt", ["a+b.txt"], "plus"],
    ["/a%2Bb.txt", ["a+b.txt"], "plus"],
    ["/index.html", ["index.html"], "<h1>index</h1>"],
  ];
  for (const [target, segments, text] of cases) {
    const resolved = site.resolve(target);
    assert.deepEqual(resolved.segments, segments, target);
    assert.equal(resolved.path, join(tree.root, ...segments), target);
    const opened = await site.openFile(target);
    using file = opened.file;
    assert.equal(opened.path, resolved.path);
    assert.ok(opened.info.isFile);
    assert.equal(opened.info.size, new TextEncoder().encode(text).length);
    const body = await new Response(file.readable).text();
    assert.equal(body, text, target);
  }
  // "a+b" is never read as "a b": that is form encoding, not paths.
  await assertRefused(() => site.locate("/docs/a+b.txt"), "not_found", "+");
});

Deno.test("ConfinedRoot.locate() refuses symlinks that lead outside the root", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  for (
    const target of [
      "/link_out", // absolute symlink to a file outside
      "/dir_out", // symlinked directory outside
      "/dir_out/secret.txt", // a file through it
      "/dir_out/a",
      "/sub/climb", // relative symlink climbing out: ../../secret
    ]
  ) {
    // resolve() alone cannot know; the disk check must catch it.
    assert.ok(inside(tree.root, site.resolve(target).path));
    await assertRefused(() => site.locate(target), "outside_root", target);
    await assertRefused(() => site.openFile(target), "outside_root", target);
  }
});

Deno.test("ConfinedRoot.locate() follows symlinks that stay inside the root", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  const opened = await site.openFile("/link_in");
  using file = opened.file;
  assert.equal(opened.path, join(tree.root, "index.html"));
  assert.equal(await new Response(file.readable).text(), "<h1>index</h1>");
});

Deno.test("ConfinedRoot.locate() refuses a symlink inside the root that leads to a hidden file", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  await assertRefused(() => site.locate("/link_dot"), "hidden", "/link_dot");
  const open = await ConfinedRoot.open(tree.root, { allowHidden: true });
  assert.equal((await open.locate("/link_dot")).path, join(tree.root, ".env"));
});

Deno.test("ConfinedRoot with allowHidden serves dotfiles but still refuses traversal", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root, { allowHidden: true });
  for (
    const [target, text] of [
      ["/.env", "TOKEN=hidden"],
      ["/.git/config", "[core]"],
      ["/a/.hidden/x", "hidden x"],
      ["/%2eenv", "TOKEN=hidden"],
    ]
  ) {
    const opened = await site.openFile(target!);
    using file = opened.file;
    assert.equal(await new Response(file.readable).text(), text, target);
  }
  for (const target of ["/..", "/.%2e/secret", "/%2e", "/a/./file.txt"]) {
    await assertRefused(() => site.resolve(target), "traversal", target);
  }
});

Deno.test("ConfinedRoot.locate() reports missing files as not_found with the cause", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  const missing = await assertRefused(
    () => site.locate("/nope.txt"),
    "not_found",
    "missing",
  );
  assert.ok(missing.cause instanceof Deno.errors.NotFound);
  // A file used as a directory, and a name no file system allows.
  await assertRefused(
    () => site.locate("/index.html/x"),
    "not_found",
    "file as dir",
  );
  await assertRefused(
    () => site.locate(`/${"x".repeat(300)}`),
    "not_found",
    "long",
  );
  // A symlink loop inside the root.
  await Deno.symlink("loop", join(tree.root, "loop"));
  await assertRefused(() => site.locate("/loop"), "not_found", "loop");
});

Deno.test("ConfinedRoot.openFile() refuses a directory", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  for (const target of ["/docs", "/docs/", "/"]) {
    await assertRefused(() => site.openFile(target), "not_found", target);
  }
  // locate() is what a server uses to list a directory.
  assert.ok((await site.locate("/docs")).info.isDirectory);
});

Deno.test({
  name: "ConfinedRoot.openFile() refuses a FIFO without blocking on it",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using tree = await makeTree();
    const site = await ConfinedRoot.open(tree.root);
    const made = await new Deno.Command("mkfifo", {
      args: [join(tree.root, "pipe")],
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    await assertRefused(() => site.openFile("/pipe"), "not_found", "/pipe");
  },
});

Deno.test("ConfinedRoot.open() resolves the root and refuses a missing root or a file", async () => {
  await using tree = await makeTree();
  await Deno.symlink(tree.root, join(tree.base, "root_link"));
  const site = await ConfinedRoot.open(join(tree.base, "root_link"));
  assert.equal(site.root, tree.root);
  assert.equal(
    (await site.locate("/index.html")).path,
    join(tree.root, "index.html"),
  );
  await assert.rejects(
    ConfinedRoot.open(join(tree.base, "missing")),
    (error: Error) =>
      error instanceof Deno.errors.NotFound &&
      /^Cannot open root ".*missing": it does not exist$/.test(error.message),
  );
  await assert.rejects(
    ConfinedRoot.open(join(tree.root, "index.html")),
    (error: Error) =>
      error instanceof Deno.errors.NotADirectory &&
      /is not a directory$/.test(error.message),
  );
});

Deno.test("ConfinedRoot.writablePath() gives a plain name in the root and creates nothing", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  const before = await listDir(tree.root);
  assert.equal(
    await site.writablePath("notes.txt"),
    join(tree.root, "notes.txt"),
  );
  // An existing regular file may be replaced.
  assert.equal(
    await site.writablePath("index.html"),
    join(tree.root, "index.html"),
  );
  // The name is already decoded: escapes are literal characters.
  assert.equal(
    await site.writablePath("%2e%2e"),
    join(tree.root, "%2e%2e"),
  );
  assert.equal(
    await site.writablePath("한 +.txt"),
    join(tree.root, "한 +.txt"),
  );
  assert.equal(
    await site.writablePath("x".repeat(255)),
    join(tree.root, "x".repeat(255)),
  );
  assert.deepEqual(await listDir(tree.root), before);
});

Deno.test("ConfinedRoot.writablePath() refuses symlinks, subdirectories, hidden, long and malformed names", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  const cases: [string, ConfinedPathReason][] = [
    ["link_in", "outside_root"], // a symlink, even one pointing inside
    ["link_out", "outside_root"],
    ["dir_out", "outside_root"],
    ["docs/new.txt", "traversal"],
    ["/new.txt", "traversal"],
    ["../new.txt", "traversal"],
    ["..", "traversal"],
    [".", "traversal"],
    ["a\\b.txt", "traversal"],
    [".env", "hidden"],
    [".new", "hidden"],
    ["x".repeat(256), "invalid"],
    ["한".repeat(86), "invalid"], // 86 characters, 258 bytes
    ["", "invalid"],
    ["a\0.txt", "invalid"],
    ["a\n.txt", "invalid"],
    ["docs", "invalid"], // an existing directory
    ["C:x.txt", "absolute"],
    ["a\udc00.txt", "encoding"],
  ];
  for (const [name, reason] of cases) {
    await assertRefused(
      () => site.writablePath(name),
      reason,
      JSON.stringify(name.slice(0, 20)),
    );
  }
  const open = await ConfinedRoot.open(tree.root, { allowHidden: true });
  assert.equal(await open.writablePath(".new"), join(tree.root, ".new"));
});

Deno.test("ConfinedRoot.writablePath() with writeFileAtomic writes a file openFile() then serves", async () => {
  await using tree = await makeTree();
  const site = await ConfinedRoot.open(tree.root);
  await writeFileAtomic(await site.writablePath("up load.txt"), "uploaded");
  assert.ok((await listDir(tree.root)).includes("up load.txt"));
  const opened = await site.openFile("/up%20load.txt");
  using file = opened.file;
  assert.equal(await new Response(file.readable).text(), "uploaded");
});

Deno.test("_windowsNameProblem() refuses names Win32 would alias or open as devices", () => {
  for (
    const name of [
      "CON",
      "nul",
      "NUL.txt",
      "aux.tar.gz",
      "com1",
      "LPT9.log",
      "COM¹",
      "conin$",
      "a.txt.",
      "a.txt ",
      "a:stream",
      "file.txt::$DATA",
      "a?b",
      "a*b",
      'a"b',
      "a<b>",
      "a|b",
    ]
  ) {
    assert.equal(typeof _windowsNameProblem(name), "string", name);
  }
  for (
    const name of ["console.txt", "nullable", "com10", "a.txt", "con-fig", "한"]
  ) {
    assert.equal(_windowsNameProblem(name), undefined, name);
  }
});

const ALPHABET = [".", "/", "%", "2", "e", "E", "f", "5", "c", "\\", "a", "0"];

/** Strings over ALPHABET, with encoded bytes and the telling escapes. */
const urlish = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...ALPHABET) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(
        ([byte, upper]) => {
          const hex = byte.toString(16).padStart(2, "0");
          return `%${upper ? hex.toUpperCase() : hex}`;
        },
      ),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%25",
        "%00",
        "%c0%ae",
      ),
    },
  ),
  { maxLength: 24 },
).chain((parts) =>
  fc.constantFrom(parts.join(""), `/${parts.join("")}`, `/a/${parts.join("")}`)
);

Deno.test("ConfinedRoot.resolve() property: random traversal alphabet either refuses or stays inside the root", async () => {
  await using tree = await makeTree();
  for (const allowHidden of [false, true]) {
    const site = await ConfinedRoot.open(tree.root, { allowHidden });
    fc.assert(
      fc.property(urlish, (target) => {
        let resolved: { path: string; segments: string[] };
        try {
          resolved = site.resolve(target);
        } catch (error) {
          if (error instanceof ConfinedPathError) return;
          throw error;
        }
        const { path, segments } = resolved;
        assert.ok(inside(tree.root, path), `${target} -> ${path}`);
        assert.equal(path, join(tree.root, ...segments));
        for (const segment of segments) {
          assert.ok(segment !== "." && segment !== "..", target);
          assert.ok(!/[/\\\0]/.test(segment), target);
          if (!allowHidden) assert.ok(!segment.startsWith("."), target);
        }
      }),
      { numRuns: 3000 },
    );
  }
});

Deno.test("ConfinedRoot.locate() property: random paths over a tree with escaping symlinks never leave the root", async () => {
  await using tree = await makeTree();
  // Names the alphabet can spell, some of them doors to the outside.
  await Deno.mkdir(join(tree.root, "a0"));
  await Deno.writeTextFile(join(tree.root, "a0", "e"), "a0/e");
  await Deno.writeTextFile(join(tree.root, "e"), "e");
  await Deno.symlink(tree.outside, join(tree.root, "5c"));
  await Deno.symlink("../../outside/a", join(tree.root, "a0", "2"));
  await Deno.symlink(join(tree.outside, "a"), join(tree.root, "f"));
  await Deno.symlink("a0", join(tree.root, "c"));
  const site = await ConfinedRoot.open(tree.root, { allowHidden: true });
  await fc.assert(
    fc.asyncProperty(urlish, async (target) => {
      try {
        const { path } = await site.locate(target);
        assert.ok(inside(tree.root, path), `${target} -> ${path}`);
      } catch (error) {
        if (!(error instanceof ConfinedPathError)) throw error;
      }
    }),
    {
      numRuns: 1000,
      examples: [["/5c/a"], ["/a0/2"], ["/f"], ["/c/2"], ["/c/e"]],
    },
  );
  // The doors were really there: each of them is refused, not just missing.
  for (const target of ["/5c/a", "/a0/2", "/f", "/c/2"]) {
    await assertRefused(() => site.locate(target), "outside_root", target);
  }
  assert.equal((await site.locate("/c/e")).path, join(tree.root, "a0", "e"));
});
