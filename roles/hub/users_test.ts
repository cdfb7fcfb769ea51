import assert from "node:assert/strict";
import { join } from "node:path";
import { listDir, ROOT, tempDir } from "../../tests/_util.ts";
import {
  constantTimeEqual,
  DEFAULT_ITERATIONS,
  type DeriveHash,
  formatUsers,
  hashPassword,
  parseUsers,
  pbkdf2Sha256,
  removeUser,
  setPassword,
  type UserRecord,
  UsersFileError,
  UserStore,
  validUserName,
  verifyPassword,
} from "./users.ts";

/** Fast hashes for tests: the minimum the file format allows. */
const FAST = { iterations: 1000 };
const SALT = new Uint8Array(16).fill(7);

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

/** Asserts that `fn` throws a UsersFileError with `code` and `line`. */
function assertFileError(
  fn: () => unknown,
  code: UsersFileError["code"],
  line: number | undefined,
  message: RegExp,
): UsersFileError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsersFileError, `threw ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.line, line, caught.message);
  assert.match(caught.message, message);
  return caught;
}

// ---- hashing ----

Deno.test({
  name: "pbkdf2Sha256() matches the RFC 7914 PBKDF2-HMAC-SHA256 test vector",
  permissions: "none",
  async fn() {
    const salt = new TextEncoder().encode("salt");
    const hash = await pbkdf2Sha256("passwd", salt, 1);
    assert.equal(
      hash.toHex(),
      "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc",
    );
  },
});

Deno.test({
  name:
    "hashPassword() makes a 16-byte salt and 32-byte hash that verifyPassword() accepts only for the right password",
  permissions: "none",
  async fn() {
    const record = await hashPassword("alice", "wonderland", FAST);
    assert.equal(record.name, "alice");
    assert.equal(record.iterations, 1000);
    assert.equal(record.salt.length, 16);
    assert.equal(record.hash.length, 32);
    assert.equal(await verifyPassword(record, "wonderland"), true);
    assert.equal(await verifyPassword(record, "Wonderland"), false);
    assert.equal(await verifyPassword(record, "wonderland "), false);
    assert.equal(await verifyPassword(record, ""), false);
  },
});

Deno.test({
  name:
    "hashPassword() uses a fresh salt each time, so one password gives different hashes; a given salt gives the same hash",
  permissions: "none",
  async fn() {
    const [a, b] = await Promise.all([
      hashPassword("alice", "same", FAST),
      hashPassword("bob", "same", FAST),
    ]);
    assert.notDeepEqual(a.salt, b.salt);
    assert.notDeepEqual(a.hash, b.hash);
    const [c, d] = await Promise.all([
      hashPassword("alice", "same", { ...FAST, salt: SALT }),
      hashPassword("alice", "same", { ...FAST, salt: SALT }),
    ]);
    assert.deepEqual(c.hash, d.hash);
  },
});

Deno.test({
  name: "hashPassword() defaults to DEFAULT_ITERATIONS (600,000, OWASP)",
  permissions: "none",
  async fn() {
    assert.equal(DEFAULT_ITERATIONS, 600_000);
    const record = await hashPassword("alice", "wonderland", { salt: SALT });
    assert.equal(record.iterations, DEFAULT_ITERATIONS);
  },
});

Deno.test({
  name:
    "a password verifies whatever Unicode normalization it was typed in (NFC)",
  permissions: "none",
  async fn() {
    const record = await hashPassword("alice", "caf\u00e9", FAST);
    assert.equal(await verifyPassword(record, "cafe\u0301"), true);
  },
});

Deno.test({
  name:
    "hashPassword() rejects a bad name, an empty password, iterations out of range and a salt of the wrong size",
  permissions: "none",
  async fn() {
    await assert.rejects(
      () => hashPassword("-alice", "x", FAST),
      (e: unknown) => e instanceof UsersFileError && e.code === "bad_name",
    );
    await assert.rejects(() => hashPassword("alice", "", FAST), RangeError);
    await assert.rejects(
      () => hashPassword("alice", "x", { iterations: 999 }),
      /from 1000 to 10000000/,
    );
    await assert.rejects(
      () => hashPassword("alice", "x", { iterations: 10_000_001 }),
      RangeError,
    );
    await assert.rejects(
      () => hashPassword("alice", "x", { ...FAST, salt: new Uint8Array(8) }),
      /8-byte salt/,
    );
  },
});

Deno.test({
  name:
    "validUserName() takes 1-64 of [A-Za-z0-9._-], not starting with . or -",
  permissions: "none",
  fn() {
    for (
      const ok of ["a", "alice", "Bob_2", "x.y-z", "_svc", "9", "a".repeat(64)]
    ) {
      assert.equal(validUserName(ok), true, ok);
    }
    for (
      const bad of [
        "",
        ".hidden",
        "-rf",
        "a".repeat(65),
        "a:b",
        "a b",
        "é",
        "a/b",
        "a\n",
      ]
    ) {
      assert.equal(validUserName(bad), false, JSON.stringify(bad));
    }
  },
});

// ---- constantTimeEqual ----

Deno.test({
  name:
    "constantTimeEqual() is true only for equal bytes, whatever the lengths",
  permissions: "none",
  fn() {
    assert.equal(constantTimeEqual(bytes(), bytes()), true);
    assert.equal(constantTimeEqual(bytes(1, 2, 3), bytes(1, 2, 3)), true);
    assert.equal(constantTimeEqual(bytes(1, 2, 3), bytes(1, 2, 4)), false);
    assert.equal(constantTimeEqual(bytes(9, 2, 3), bytes(1, 2, 3)), false);
    // A prefix, and a longer array whose extra bytes are zero: the length
    // difference alone must make them unequal.
    assert.equal(constantTimeEqual(bytes(1, 2), bytes(1, 2, 3)), false);
    assert.equal(constantTimeEqual(bytes(1, 2, 0), bytes(1, 2)), false);
    assert.equal(constantTimeEqual(bytes(), bytes(0)), false);
    // Lengths that differ by a multiple of 256 do not cancel out.
    assert.equal(
      constantTimeEqual(new Uint8Array(256), new Uint8Array(512)),
      false,
    );
  },
});

// ---- the file format ----

Deno.test({
  name:
    "formatUsers() then parseUsers() gives back every user, with a header comment explaining the format",
  permissions: "none",
  async fn() {
    const records = await Promise.all([
      hashPassword("alice", "wonderland", FAST),
      hashPassword("bob", "builder", { iterations: 2000 }),
    ]);
    const text = formatUsers(records);
    assert.match(
      text,
      /^# .*NAME:pbkdf2-sha256:ITERATIONS:SALT_BASE64:HASH_BASE64/,
    );
    assert.match(text, /^# socklab --role passwd --users FILE NAME$/m);
    const lines = text.trimEnd().split("\n").filter((l) => !l.startsWith("#"));
    assert.equal(lines.length, 2);
    assert.match(
      lines[0]!,
      /^alice:pbkdf2-sha256:1000:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/]{43}=$/,
    );
    const parsed = parseUsers(text);
    assert.deepEqual([...parsed.keys()], ["alice", "bob"]);
    assert.deepEqual(parsed.get("alice"), records[0]);
    assert.deepEqual(parsed.get("bob"), records[1]);
    assert.equal(await verifyPassword(parsed.get("bob")!, "builder"), true);
    assert.equal(
      formatUsers([]).split("\n").every((l) => l === "" || l.startsWith("#")),
      true,
    );
  },
});

Deno.test({
  name: "parseUsers() skips blank lines and # comments, trims, and takes CRLF",
  permissions: "none",
  async fn() {
    const record = await hashPassword("alice", "wonderland", FAST);
    const line = formatUsers([record]).trimEnd().split("\n").at(-1)!;
    const text =
      `# users\r\n\r\n   \r\n  ${line}  \r\n  # indented comment\r\n`;
    const parsed = parseUsers(text);
    assert.deepEqual([...parsed.keys()], ["alice"]);
    assert.equal(parseUsers("").size, 0);
    assert.equal(parseUsers("# nothing\n\n").size, 0);
  },
});

Deno.test({
  name:
    "parseUsers() rejects each kind of bad line with its file, line number and code, never echoing the hash",
  permissions: "none",
  fn() {
    const salt = SALT.toBase64();
    const hash = new Uint8Array(32).fill(0xab).toBase64();
    const good = `alice:pbkdf2-sha256:1000:${salt}:${hash}`;
    const cases: [string, UsersFileError["code"], RegExp][] = [
      [
        `alice:pbkdf2-sha256:1000:${salt}`,
        "bad_line",
        /found 4$/,
      ],
      [`${good}:extra`, "bad_line", /found 6/],
      [
        "just-a-name",
        "bad_line",
        /expected NAME:pbkdf2-sha256:ITERATIONS:SALT:HASH \(5 fields separated by ":"\), found 1$/,
      ],
      [
        `-bob:pbkdf2-sha256:1000:${salt}:${hash}`,
        "bad_name",
        /bad user name "-bob"/,
      ],
      [`:pbkdf2-sha256:1000:${salt}:${hash}`, "bad_name", /bad user name ""/],
      [
        `bob:md5:1000:${salt}:${hash}`,
        "bad_line",
        /unknown hash scheme "md5" for bob/,
      ],
      [
        `bob:pbkdf2-sha256:999:${salt}:${hash}`,
        "bad_line",
        /iteration count of bob must be .* from 1000 to 10000000/,
      ],
      [
        `bob:pbkdf2-sha256:10000001:${salt}:${hash}`,
        "bad_line",
        /iteration count/,
      ],
      [`bob:pbkdf2-sha256:1e5:${salt}:${hash}`, "bad_line", /iteration count/],
      [`bob:pbkdf2-sha256::${salt}:${hash}`, "bad_line", /iteration count/],
      [
        `bob:pbkdf2-sha256:1000:not*base64:${hash}`,
        "bad_line",
        /salt of bob is not 16 bytes of standard base64/,
      ],
      [
        `bob:pbkdf2-sha256:1000:${new Uint8Array(8).toBase64()}:${hash}`,
        "bad_line",
        /salt of bob is not 16 bytes/,
      ],
      [
        `bob:pbkdf2-sha256:1000:${salt.replace("==", "")}:${hash}`,
        "bad_line",
        /salt of bob/,
      ],
      [
        `bob:pbkdf2-sha256:1000:${salt}:${hash.slice(0, 20)}`,
        "bad_line",
        /hash of bob is not 32 bytes/,
      ],
      [
        `bob:pbkdf2-sha256:1000:${salt}:-${hash.slice(1)}`,
        "bad_line",
        /hash of bob/,
      ],
      [
        `bob:pbkdf2-sha256:1000:${salt}:${new Uint8Array(33).toBase64()}`,
        "bad_line",
        /hash of bob/,
      ],
      [good, "duplicate", /duplicate user alice \(first on line 2\)/],
    ];
    for (const [bad, code, message] of cases) {
      const text = `# users\n${good}\n\n${bad}\n`;
      const error = assertFileError(
        () => parseUsers(text, "users.txt"),
        code,
        4,
        new RegExp(`^users\\.txt:4: .*${message.source}`),
      );
      assert.ok(!error.message.includes(hash.slice(0, 12)), error.message);
      assert.ok(!error.message.includes(salt.slice(0, 12)), error.message);
    }
  },
});

Deno.test({
  name: 'parseUsers() names the source "users file" when none is given',
  permissions: "none",
  fn() {
    assertFileError(() => parseUsers("nope"), "bad_line", 1, /^users file:1: /);
  },
});

// ---- UserStore ----

/** A derive hook that records the iterations of every call. */
function countingDerive(real = true): { derive: DeriveHash; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    derive(password, salt, iterations) {
      calls.push(iterations);
      return real
        ? pbkdf2Sha256(password, salt, iterations)
        : Promise.resolve(new Uint8Array(32));
    },
  };
}

Deno.test({
  name:
    "UserStore.verify() accepts the right password and refuses a wrong one or an unknown user",
  permissions: "none",
  async fn() {
    const store = UserStore.fromRecords(
      await Promise.all([
        hashPassword("alice", "wonderland", FAST),
        hashPassword("bob", "builder", FAST),
      ]),
    );
    assert.equal(store.size, 2);
    assert.deepEqual(store.names(), ["alice", "bob"]);
    assert.equal(store.has("alice"), true);
    assert.equal(store.has("carol"), false);
    assert.equal(await store.verify("alice", "wonderland"), true);
    assert.equal(await store.verify("bob", "builder"), true);
    assert.equal(await store.verify("alice", "builder"), false);
    assert.equal(await store.verify("carol", "wonderland"), false);
    assert.equal(await store.verify("", ""), false);
  },
});

Deno.test({
  name:
    "UserStore.verify() does the same PBKDF2 work for an unknown user as for a known one",
  permissions: "none",
  async fn() {
    const { derive, calls } = countingDerive();
    const store = UserStore.fromRecords([
      await hashPassword("alice", "wonderland", { iterations: 1234 }),
      await hashPassword("bob", "builder", { iterations: 1234 }),
    ], { derive });
    await store.verify("alice", "wonderland");
    await store.verify("alice", "wrong");
    await store.verify("mallory", "wonderland");
    await store.verify("", "x");
    assert.deepEqual(calls, [1234, 1234, 1234, 1234]);
  },
});

Deno.test({
  name:
    "UserStore.verify() on an empty store refuses everyone after DEFAULT_ITERATIONS of work",
  permissions: "none",
  async fn() {
    const { derive, calls } = countingDerive(false);
    const store = UserStore.fromRecords([], { derive });
    assert.equal(store.size, 0);
    // The fake derive returns the dummy's all-zero hash: refused all the same.
    assert.equal(await store.verify("anyone", "x"), false);
    assert.deepEqual(calls, [DEFAULT_ITERATIONS]);
  },
});

Deno.test({
  name: "UserStore.fromRecords() refuses a name given twice",
  permissions: "none",
  async fn() {
    const alice = await hashPassword("alice", "wonderland", FAST);
    assert.throws(
      () => UserStore.fromRecords([alice, alice]),
      (e: unknown) => e instanceof UsersFileError && e.code === "duplicate",
    );
  },
});

Deno.test("UserStore.load() reads testdata/hub/users.txt: alice/wonderland and bob/builder", async () => {
  const store = await UserStore.load(join(ROOT, "testdata/hub/users.txt"));
  assert.deepEqual(store.names(), ["alice", "bob"]);
  assert.equal(await store.verify("alice", "wonderland"), true);
  assert.equal(await store.verify("bob", "builder"), true);
  assert.equal(await store.verify("bob", "wonderland"), false);
});

Deno.test("UserStore.load() of a missing file is not_found, naming the path and how to create it", async () => {
  await using tmp = await tempDir({ prefix: "socklab_users_" });
  const path = join(tmp.path, "users.txt");
  await assert.rejects(
    () => UserStore.load(path),
    (e: unknown) =>
      e instanceof UsersFileError && e.code === "not_found" &&
      e.message.includes(path) &&
      e.message.includes(`socklab --role passwd --users ${path} NAME`),
  );
});

Deno.test("UserStore.load() reports a bad line with the file's path", async () => {
  await using tmp = await tempDir({ prefix: "socklab_users_" });
  const path = join(tmp.path, "users.txt");
  await Deno.writeTextFile(path, "# users\nalice\n");
  await assert.rejects(
    () => UserStore.load(path),
    (e: unknown) =>
      e instanceof UsersFileError && e.line === 2 &&
      e.message.startsWith(`${path}:2: `),
  );
});

Deno.test({
  name: "UserStore.load() of a file it may not read says permission denied",
  permissions: { read: false },
  async fn() {
    await assert.rejects(
      () => UserStore.load("testdata/hub/users.txt"),
      /^Error: Cannot read users file testdata\/hub\/users\.txt: permission denied$/,
    );
  },
});

// ---- setPassword / removeUser ----

Deno.test("setPassword() creates a missing file with mode 0600 and a header, then adds and changes users", async () => {
  await using tmp = await tempDir({ prefix: "socklab_users_" });
  const path = join(tmp.path, "users.txt");
  assert.equal(await setPassword(path, "alice", "wonderland", FAST), "added");
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  }
  assert.equal(await setPassword(path, "bob", "builder", FAST), "added");
  assert.equal(
    await setPassword(path, "alice", "looking-glass", FAST),
    "changed",
  );
  const text = await Deno.readTextFile(path);
  assert.match(text, /^# socklab users/);
  assert.ok(text.endsWith("\n"));
  const store = UserStore.fromRecords(parseUsers(text).values());
  assert.deepEqual(store.names(), ["alice", "bob"]);
  assert.equal(await store.verify("alice", "looking-glass"), true);
  assert.equal(await store.verify("alice", "wonderland"), false);
  assert.equal(await store.verify("bob", "builder"), true);
  assert.deepEqual(await listDir(tmp.path), ["users.txt"], "no temp file left");
});

Deno.test("setPassword() and removeUser() keep every other line as it was, comments included", async () => {
  await using tmp = await tempDir({ prefix: "socklab_users_" });
  const path = join(tmp.path, "users.txt");
  const [alice, bob, carol] = await Promise.all(
    ["alice", "bob", "carol"].map((n) => hashPassword(n, n + "-pw", FAST)),
  );
  const lineOf = (r: UserRecord) =>
    formatUsers([r]).trimEnd().split("\n").at(-1)!;
  const before = [
    "# our team",
    lineOf(alice!),
    "",
    "# ops",
    lineOf(bob!),
    lineOf(carol!),
  ];
  await Deno.writeTextFile(path, before.join("\n") + "\n");
  assert.equal(await setPassword(path, "bob", "new-pw", FAST), "changed");
  const changed = (await Deno.readTextFile(path)).split("\n");
  assert.deepEqual(
    changed.filter((_, i) => i !== 4),
    [...before.filter((_, i) => i !== 4), ""],
  );
  assert.match(changed[4]!, /^bob:pbkdf2-sha256:1000:/);
  assert.notEqual(changed[4], before[4]);

  await removeUser(path, "alice");
  assert.deepEqual(
    (await Deno.readTextFile(path)).split("\n"),
    ["# our team", "", "# ops", changed[4], before[5], ""],
  );
  assert.equal(await setPassword(path, "dave", "dave-pw", FAST), "added");
  const users = parseUsers(await Deno.readTextFile(path));
  assert.deepEqual([...users.keys()], ["bob", "carol", "dave"]);
  assert.equal(await verifyPassword(users.get("bob")!, "new-pw"), true);
  assert.equal(await verifyPassword(users.get("carol")!, "carol-pw"), true);
  assert.deepEqual(await listDir(tmp.path), ["users.txt"]);
});

Deno.test(
  "setPassword() keeps the group bits of an existing file's mode but never world access",
  {
    ignore: Deno.build.os === "windows",
  },
  async () => {
    await using tmp = await tempDir({ prefix: "socklab_users_" });
    const path = join(tmp.path, "users.txt");
    await Deno.writeTextFile(path, "# users\n");
    await Deno.chmod(path, 0o644);
    await setPassword(path, "alice", "wonderland", FAST);
    const mode = (await Deno.stat(path)).mode! & 0o777;
    assert.equal(mode & 0o007, 0, `no world access: ${mode.toString(8)}`);
    assert.equal(
      mode & 0o600,
      0o600,
      `owner reads and writes: ${mode.toString(8)}`,
    );
    // The group may still read (a usual umask, 022 or 002, keeps that).
    assert.equal(mode & 0o070, 0o040, `group reads: ${mode.toString(8)}`);
  },
);

Deno.test("setPassword() and removeUser() leave a broken file alone and say where it is broken", async () => {
  await using tmp = await tempDir({ prefix: "socklab_users_" });
  const path = join(tmp.path, "users.txt");
  const broken = "# users\nalice:pbkdf2-sha256:1000:xx:yy\n";
  await Deno.writeTextFile(path, broken);
  for (
    const change of [
      () => setPassword(path, "bob", "builder", FAST),
      () => removeUser(path, "alice"),
    ]
  ) {
    await assert.rejects(
      change,
      (e: unknown) =>
        e instanceof UsersFileError && e.code === "bad_line" && e.line === 2 &&
        e.message.startsWith(`${path}:2: `),
    );
  }
  assert.equal(await Deno.readTextFile(path), broken);
  assert.deepEqual(await listDir(tmp.path), ["users.txt"]);
});

Deno.test("removeUser() of an unknown user or a missing file is not_found; a bad name is bad_name", async () => {
  await using tmp = await tempDir({ prefix: "socklab_users_" });
  const path = join(tmp.path, "users.txt");
  await assert.rejects(
    () => removeUser(path, "alice"),
    (e: unknown) =>
      e instanceof UsersFileError && e.code === "not_found" &&
      e.message.includes(path),
  );
  await setPassword(path, "alice", "wonderland", FAST);
  const text = await Deno.readTextFile(path);
  await assert.rejects(
    () => removeUser(path, "bob"),
    (e: unknown) =>
      e instanceof UsersFileError && e.code === "not_found" &&
      /no such user in /.test(e.message),
  );
  await assert.rejects(
    () => removeUser(path, ".bob"),
    (e: unknown) => e instanceof UsersFileError && e.code === "bad_name",
  );
  await assert.rejects(
    () => setPassword(path, "a:b", "x", FAST),
    (e: unknown) => e instanceof UsersFileError && e.code === "bad_name",
  );
  assert.equal(await Deno.readTextFile(path), text);
});
