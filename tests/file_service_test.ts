/**
 * The file service (`roles/file/service.ts`) in process: a TlvServer on a
 * temp directory, and the client functions of `roles/file/transfer.ts` or
 * hand-made frames on the other side. Covers the listing (pages), get and
 * its resume, put and its resume after a cut connection, takeover by a
 * second upload, reconnects through a proxy that keeps cutting, and the
 * refusals: wrong digest, a gap, too large, names that leave the root.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  clientSender,
  DigestCache,
  fileDigest,
  sendBulk,
} from "../lib/bulk.ts";
import { ConnectionError, connectTlv, type TlvClient } from "../lib/client.ts";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { Logger } from "../lib/log.ts";
import { partPath, PartWriter, resumePart } from "../lib/part_file.ts";
import { type Session, TlvServer, type TlvService } from "../lib/server.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import {
  fileService,
  type FileServiceOptions,
  LIST_PAGE_SIZE,
  listFiles as listServed,
} from "../roles/file/service.ts";
import {
  formatTransferSummary,
  getFile,
  listFiles,
  putFile,
  type TransferOptions,
} from "../roles/file/transfer.ts";
import { startCutProxy } from "./_cut_proxy.ts";
import { listDir, tempDir } from "./_util.ts";

const KiB = 1024;
const MiB = 1024 * 1024;

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  }
  return out;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** A served directory `root/` and a client directory `local/`. */
async function setup(options: Omit<FileServiceOptions, "root"> = {}) {
  const tmp = await tempDir({ prefix: "socklab_files_" });
  const rootDir = join(tmp.path, "root");
  const local = join(tmp.path, "local");
  await Deno.mkdir(rootDir);
  await Deno.mkdir(local);
  const lines: string[] = [];
  const service = fileService({
    root: await ConfinedRoot.open(rootDir),
    log: new Logger({ name: "file-server", sink: (l) => lines.push(l) }),
    ...options,
  });
  const server = new TlvServer({
    services: [service],
    port: 0,
    log: new Logger({ name: "server", sink: (l) => lines.push(l) }),
  });
  const port = server.addr.port;
  return {
    tmp,
    rootDir,
    local,
    service,
    port,
    lines,
    connect: (p = port) =>
      connectTlv({ port: p, service: "file", timeoutMs: 5000 }),
    options(extra: Partial<TransferOptions> = {}): TransferOptions {
      return {
        connect: () => connectTlv({ port, service: "file", timeoutMs: 5000 }),
        retries: 0,
        ...extra,
      };
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** Offers `bytes` with `file_put` as `name`; returns the answer stream and the offset. */
async function offer(
  client: TlvClient,
  name: string,
  bytes: Uint8Array,
  digest = sha256(bytes),
) {
  const answers = client.stream("file_put", {
    name,
    size: bytes.length,
    digest,
  });
  const ready = await answers.next();
  assert.equal(ready.value?.type, "file_put_ready");
  const offset = ready.value.type === "file_put_ready"
    ? ready.value.fields.offset
    : -1;
  return { answers, offset };
}

async function expectRemote(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RemoteError, String(error));
    assert.equal(error.codeName, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

Deno.test("file_list lists the visible regular files with size and SHA-256, page by page", async () => {
  await using t = await setup();
  const expected: { name: string; size: number; digest: Uint8Array }[] = [];
  for (let i = 0; i < 2 * LIST_PAGE_SIZE + 20; i++) {
    const bytes = randomBytes(i);
    const name = `f${String(i).padStart(3, "0")}.txt`;
    await Deno.writeFile(join(t.rootDir, name), bytes);
    expected.push({ name, size: i, digest: sha256(bytes) });
  }
  await Deno.writeTextFile(join(t.rootDir, ".hidden"), "secret");
  await Deno.writeTextFile(join(t.rootDir, ".up.bin.part"), "half");
  await Deno.mkdir(join(t.rootDir, "sub"));
  await Deno.writeTextFile(join(t.tmp.path, "outside.txt"), "outside");
  await Deno.symlink(
    join(t.tmp.path, "outside.txt"),
    join(t.rootDir, "link.txt"),
  );
  await using client = await t.connect();
  const first = await client.request("file_list", {});
  assert.equal(first.type, "file_list_reply");
  if (first.type !== "file_list_reply") return;
  assert.equal(first.fields.entry?.length, LIST_PAGE_SIZE);
  assert.equal(first.fields.count, expected.length);
  assert.deepEqual(await listFiles(client), expected);
  assert.equal(t.service.stats.lists, 4);
});

Deno.test("file_get sends a file whole, with its digest checked", async () => {
  await using t = await setup();
  const bytes = randomBytes(3 * MiB + 123);
  await Deno.writeFile(join(t.rootDir, "big.bin"), bytes);
  const out = join(t.local, "big.bin");
  const summary = await getFile("big.bin", out, t.options());
  assert.deepEqual(await Deno.readFile(out), bytes);
  assert.deepEqual(summary.digest, sha256(bytes));
  assert.equal(summary.resumedAt, 0);
  assert.equal(summary.bytes, bytes.length);
  assert.match(
    formatTransferSummary(summary),
    /^got big\.bin into .*big\.bin: 3\.15 MB in \d+\.\d\d s \(.*\/s\), from the start, digest verified$/,
  );
  assert.deepEqual(await listDir(t.local), ["big.bin"]);
});

Deno.test("a get resumes after the chunks its ledger verified and cuts a corrupt tail", async () => {
  await using t = await setup();
  const bytes = randomBytes(5 * MiB + 77);
  await Deno.writeFile(join(t.rootDir, "big.bin"), bytes);
  const out = join(t.local, "big.bin");
  // An earlier run got 3.5 MiB; then a byte of chunk 2 went bad.
  const writer = await PartWriter.open(out, {
    chunkSize: MiB,
    size: bytes.length,
    digest: sha256(bytes),
  }, await resumePart(out));
  await writer.write(bytes.subarray(0, 3.5 * MiB), 0);
  writer.close();
  {
    using file = await Deno.open(partPath(out), { write: true });
    await file.seek(2 * MiB + 5, Deno.SeekMode.Start);
    await file.write(new Uint8Array([bytes[2 * MiB + 5]! ^ 1]));
  }
  const summary = await getFile("big.bin", out, t.options());
  assert.equal(summary.resumedAt, 2 * MiB, "after chunks 0 and 1");
  assert.equal(summary.bytes, bytes.length - 2 * MiB);
  assert.match(formatTransferSummary(summary), /resumed at 2\.10 MB/);
  assert.deepEqual(await Deno.readFile(out), bytes);
  assert.deepEqual(await listDir(t.local), ["big.bin"]);
});

Deno.test("a get whose file changed on the server since the interruption starts again from 0", async () => {
  await using t = await setup();
  const old = randomBytes(3 * MiB);
  const now = randomBytes(3 * MiB);
  await Deno.writeFile(join(t.rootDir, "f.bin"), now);
  const out = join(t.local, "f.bin");
  const writer = await PartWriter.open(out, {
    chunkSize: MiB,
    size: old.length,
    digest: sha256(old),
  }, await resumePart(out));
  await writer.write(old.subarray(0, 2 * MiB), 0);
  writer.close();
  const summary = await getFile("f.bin", out, t.options());
  assert.deepEqual(await Deno.readFile(out), now);
  assert.equal(summary.bytes, now.length, "nothing of the old version kept");
  assert.deepEqual(await listDir(t.local), ["f.bin"]);
});

Deno.test("a get whose file shrank on the server below what is held starts again from 0", async () => {
  await using t = await setup();
  const old = randomBytes(3 * MiB);
  const now = randomBytes(MiB / 2);
  await Deno.writeFile(join(t.rootDir, "f.bin"), now);
  const out = join(t.local, "f.bin");
  const writer = await PartWriter.open(out, {
    chunkSize: MiB,
    size: old.length,
    digest: sha256(old),
  }, await resumePart(out));
  await writer.write(old.subarray(0, 2 * MiB), 0);
  writer.close();
  await getFile("f.bin", out, t.options());
  assert.deepEqual(await Deno.readFile(out), now);
  assert.deepEqual(await listDir(t.local), ["f.bin"]);
});

Deno.test("file_get refuses names that leave the root, hidden names and symlinks out", async () => {
  await using t = await setup();
  await Deno.writeTextFile(join(t.tmp.path, "secret.txt"), "secret");
  await Deno.writeTextFile(join(t.rootDir, ".hidden"), "hidden");
  await Deno.symlink(
    join(t.tmp.path, "secret.txt"),
    join(t.rootDir, "link.txt"),
  );
  await using client = await t.connect();
  const get = async (name: string) => {
    for await (const _ of client.stream("file_get", { name })) { /* drain */ }
  };
  for (
    const name of [
      "../secret.txt",
      "..",
      "sub/../../secret.txt",
      "a\\b",
      ".hidden",
      "",
      "link.txt",
    ]
  ) {
    await expectRemote(get(name), "bad_name");
  }
  await expectRemote(get("%2e%2e"), "not_found", /no file named "%2e%2e"/);
  await expectRemote(get("nope.txt"), "not_found");
});

Deno.test("file_put uploads a file, verified, renamed into place, with no hidden files left", async () => {
  await using t = await setup();
  const bytes = randomBytes(2 * MiB + 1);
  const src = join(t.local, "up.bin");
  await Deno.writeFile(src, bytes);
  const summary = await putFile(src, "stored.bin", t.options());
  assert.deepEqual(await Deno.readFile(join(t.rootDir, "stored.bin")), bytes);
  assert.deepEqual(await listDir(t.rootDir), ["stored.bin"]);
  assert.match(
    formatTransferSummary(summary),
    /^put .*up\.bin as stored\.bin: 2\.10 MB in .* from the start, digest verified by the server$/,
  );
  assert.equal(t.service.stats.putsDone, 1);
  // Its digest is known at once: listed without hashing it again.
  await using client = await t.connect();
  assert.deepEqual(await listFiles(client), [{
    name: "stored.bin",
    size: bytes.length,
    digest: sha256(bytes),
  }]);
  // A second upload replaces it.
  const other = randomBytes(1000);
  await Deno.writeFile(src, other);
  await putFile(src, "stored.bin", t.options());
  assert.deepEqual(await Deno.readFile(join(t.rootDir, "stored.bin")), other);
});

Deno.test("a put cut off mid-way keeps its verified chunks hidden and resumes after them", async () => {
  await using t = await setup({ chunkSize: 256 * KiB });
  const bytes = randomBytes(4 * MiB);
  const src = join(t.local, "up.bin");
  await Deno.writeFile(src, bytes);
  {
    await using proxy = startCutProxy({
      targetPort: t.port,
      cutAfter: () => 1.5 * MiB,
    });
    await assert.rejects(
      putFile(src, "up.bin", {
        connect: () => t.connect(proxy.port),
        retries: 0,
      }),
      ConnectionError,
    );
  }
  assert.deepEqual(await listDir(t.rootDir), [
    ".up.bin.ledger",
    ".up.bin.part",
  ]);
  const summary = await putFile(src, "up.bin", t.options());
  assert.ok(summary.resumedAt > 0, formatTransferSummary(summary));
  assert.ok(summary.resumedAt <= 1.5 * MiB);
  assert.equal(summary.resumedAt % (256 * KiB), 0, "at a chunk's end");
  assert.equal(summary.bytes, bytes.length - summary.resumedAt);
  assert.deepEqual(await Deno.readFile(join(t.rootDir, "up.bin")), bytes);
  assert.deepEqual(await listDir(t.rootDir), ["up.bin"]);
  assert.equal(t.service.stats.resumedPuts, 1);
});

Deno.test("get and put reconnect through a connection cut every few hundred KiB until the digest matches", async () => {
  await using t = await setup({ chunkSize: 128 * KiB });
  const bytes = randomBytes(6 * MiB + 999);
  const src = join(t.local, "src.bin");
  await Deno.writeFile(src, bytes);
  await Deno.writeFile(join(t.rootDir, "down.bin"), bytes);
  await using proxy = startCutProxy({
    targetPort: t.port,
    cutAfter: () => 300 * KiB + Math.floor(Math.random() * 300 * KiB),
  });
  const viaProxy: TransferOptions = {
    connect: () => t.connect(proxy.port),
    retries: 2,
  };
  const put = await putFile(src, "up.bin", viaProxy);
  assert.ok(put.reconnects >= 10, formatTransferSummary(put));
  assert.deepEqual(await Deno.readFile(join(t.rootDir, "up.bin")), bytes);
  // The client's ledger chunk is 1 MiB: the cuts must leave room for one.
  await using wider = startCutProxy({
    targetPort: t.port,
    cutAfter: () => 1.5 * MiB + Math.floor(Math.random() * MiB),
  });
  const out = join(t.local, "down.bin");
  const get = await getFile("down.bin", out, {
    connect: () => t.connect(wider.port),
    retries: 2,
  });
  assert.ok(get.reconnects >= 2, formatTransferSummary(get));
  assert.match(formatTransferSummary(get), /\d+ reconnects/);
  assert.deepEqual(await fileDigest(out), sha256(bytes));
  assert.deepEqual(await listDir(t.local), ["down.bin", "src.bin"]);
});

Deno.test("a second put of a name takes over the first, which is told superseded; the second resumes where it stopped", async () => {
  await using t = await setup({ chunkSize: 64 * KiB });
  const bytes = randomBytes(1 * MiB);
  const src = join(t.local, "up.bin");
  await Deno.writeFile(src, bytes);
  await using first = await t.connect();
  const { answers, offset } = await offer(first, "up.bin", bytes);
  assert.equal(offset, 0);
  for (let at = 0; at < 512 * KiB; at += 64 * KiB) {
    first.send("bulk_data", {
      id: answers.id,
      offset: at,
      data: bytes.subarray(at, at + 64 * KiB),
    });
  }
  // The data is on its way; a list answered after it means it was read.
  await first.request("file_list", {});
  const summary = await putFile(src, "up.bin", t.options());
  await expectRemote(answers.next(), "superseded", /took over/);
  assert.equal(summary.resumedAt, 512 * KiB, formatTransferSummary(summary));
  assert.deepEqual(await Deno.readFile(join(t.rootDir, "up.bin")), bytes);
  assert.deepEqual(await listDir(t.rootDir), ["up.bin"]);
  // The first connection goes on.
  assert.equal((await listFiles(first)).length, 1);
});

Deno.test("an upload whose bytes do not match its digest is refused with bad_upload and nothing is kept", async () => {
  await using t = await setup();
  const bytes = randomBytes(300 * KiB);
  const src = join(t.local, "up.bin");
  await Deno.writeFile(src, bytes);
  await using client = await t.connect();
  const wrong = sha256(new TextEncoder().encode("something else"));
  const { answers, offset } = await offer(client, "up.bin", bytes, wrong);
  await sendBulk(clientSender(client), {
    id: answers.id,
    file: src,
    size: bytes.length,
    digest: wrong,
    offset,
    header: false,
  });
  await expectRemote(answers.next(), "bad_upload", /digest mismatch/);
  assert.deepEqual(await listDir(t.rootDir), []);
  assert.equal(t.service.stats.putsRejected, 1);
  // The connection goes on.
  assert.deepEqual(await listFiles(client), []);
});

Deno.test("an upload with a gap is refused at once; its frames still in flight are dropped", async () => {
  await using t = await setup();
  const bytes = randomBytes(200 * KiB);
  await using client = await t.connect();
  const { answers } = await offer(client, "gap.bin", bytes);
  client.send("bulk_data", {
    id: answers.id,
    offset: 0,
    data: bytes.subarray(0, 1000),
  });
  client.send("bulk_data", {
    id: answers.id,
    offset: 2000,
    data: bytes.subarray(2000, 3000),
  });
  client.send("bulk_data", {
    id: answers.id,
    offset: 3000,
    data: bytes.subarray(3000, 4000),
  });
  client.send("bulk_end", { id: answers.id, size: bytes.length });
  await expectRemote(answers.next(), "bad_upload", /1000 bytes are missing/);
  assert.deepEqual(await listFiles(client), []);
  assert.deepEqual(await listDir(t.rootDir), []);
});

Deno.test("an upload over --max-size is refused with file_too_large before any byte", async () => {
  await using t = await setup({ maxSize: 1000 });
  await using client = await t.connect();
  const answers = client.stream("file_put", {
    name: "big.bin",
    size: 1001,
    digest: sha256(new Uint8Array(1001)),
  });
  await expectRemote(
    answers.next(),
    "file_too_large",
    /1001 bytes .* limit of 1000 bytes/,
  );
  assert.deepEqual(await listDir(t.rootDir), []);
  // Exactly the limit is fine.
  const src = join(t.local, "ok.bin");
  await Deno.writeFile(src, randomBytes(1000));
  await putFile(src, "ok.bin", t.options());
  assert.deepEqual(await listDir(t.rootDir), ["ok.bin"]);
});

Deno.test("file_put refuses names that leave the root, hidden names and symlinked targets; nothing is written", async () => {
  await using t = await setup();
  const outside = join(t.tmp.path, "outside.txt");
  await Deno.writeTextFile(outside, "keep me");
  await Deno.symlink(outside, join(t.rootDir, "link.txt"));
  await using client = await t.connect();
  const bytes = new TextEncoder().encode("evil");
  for (
    const name of [
      "../outside.txt",
      "..",
      "a/b",
      "a\\b",
      ".hidden",
      ".link.txt.part",
      "",
      "link.txt",
      "x".repeat(250),
    ]
  ) {
    await expectRemote(
      client.request("file_put", {
        name,
        size: bytes.length,
        digest: sha256(bytes),
      }),
      "bad_name",
    );
  }
  assert.equal(await Deno.readTextFile(outside), "keep me");
  assert.deepEqual(await listDir(t.rootDir), ["link.txt"]);
  assert.deepEqual(await listDir(t.tmp.path), ["local", "outside.txt", "root"]);
});

Deno.test("bulk_data for no upload is unexpected_message; the connection goes on", async () => {
  await using t = await setup();
  await using client = await t.connect();
  await expectRemote(
    client.request("bulk_data", { offset: 0, data: new Uint8Array(3) }),
    "unexpected_message",
    /belongs to no upload/,
  );
  assert.deepEqual(await listFiles(client), []);
});

Deno.test("listFiles() digests come from one DigestCache: a file is hashed once while unchanged", async () => {
  const tmp = await tempDir({ prefix: "socklab_files_" });
  await using _ = tmp;
  await Deno.writeFile(join(tmp.path, "a.bin"), randomBytes(10));
  const digests = new DigestCache();
  const root = await ConfinedRoot.open(tmp.path);
  const [first] = await listServed(root, digests);
  assert.equal(digests.size, 1);
  const [again] = await listServed(root, digests);
  assert.deepEqual(again, first);
  assert.equal(digests.size, 1);
});

Deno.test("an upload faster than the disk holds the connection's input instead of buffering", async () => {
  const tmp = await tempDir({ prefix: "socklab_files_" });
  await using _ = tmp;
  const service = fileService({ root: await ConfinedRoot.open(tmp.path) });
  const sent: { type: string; fields: unknown }[] = [];
  const holds: Promise<unknown>[] = [];
  const session: Session = {
    peer: "test",
    service: "file",
    signal: new AbortController().signal,
    send: (type, fields) => void sent.push({ type, fields }),
    drained: () => Promise.resolve(),
    congested: false,
    queuedBytes: 0,
    holdInput: (until) => void holds.push(until),
  };
  const bytes = randomBytes(4 * MiB);
  await service.handle({
    type: "file_put",
    fields: {
      id: 7,
      name: "up.bin",
      size: bytes.length,
      digest: sha256(bytes),
    },
  }, session);
  assert.deepEqual(sent, [{
    type: "file_put_ready",
    fields: { id: 7, offset: 0 },
  }]);
  // One read's worth of frames, taken synchronously as the host does.
  for (let at = 0; at < bytes.length; at += 64 * KiB) {
    service.handle({
      type: "bulk_data",
      fields: { id: 7, offset: at, data: bytes.subarray(at, at + 64 * KiB) },
    }, session);
  }
  assert.ok(holds.length > 0, "input held while writes are queued");
  await Promise.all(holds);
  await service.handle(
    { type: "bulk_end", fields: { id: 7, size: bytes.length } },
    session,
  );
  assert.equal(sent.at(-1)?.type, "file_put_ok");
  assert.deepEqual(await Deno.readFile(join(tmp.path, "up.bin")), bytes);
});

Deno.test("Session.holdInput() stops the server reading a connection until the promise settles", async () => {
  const release = Promise.withResolvers<void>();
  const seen: string[] = [];
  const service: TlvService = {
    name: "file",
    handle(message, session) {
      seen.push(message.type);
      if (message.type === "file_list") {
        if (seen.length === 1) session.holdInput?.(release.promise);
        session.send("file_list_reply", { id: message.fields.id });
      }
    },
  };
  await using server = new TlvServer({
    services: [service],
    port: 0,
    log: new Logger({ sink: () => {} }),
  });
  await using client = await connectTlv({
    port: server.addr.port,
    service: "file",
  });
  await client.request("file_list", {});
  const second = client.request("file_list", {});
  // A ping round trip on a second connection: the server is running.
  await using other = await connectTlv({
    port: server.addr.port,
    service: "file",
  });
  await other.request("ping", {});
  assert.deepEqual(seen, ["file_list"], "the second request is not read yet");
  release.resolve();
  await second;
  assert.deepEqual(seen, ["file_list", "file_list"]);
});
