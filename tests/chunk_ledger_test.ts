/**
 * The chunk ledger (`lib/chunk_ledger.ts`) and the part files it vouches
 * for (`lib/part_file.ts`): the format read back as written, a torn or
 * corrupt tail dropped, a ledger for another object discarded, and the
 * resume rules that follow.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  chunkCount,
  formatLedgerEntry,
  formatLedgerHeader,
  type LedgerHeader,
  ledgerPath,
  LedgerWriter,
  parseLedger,
  readLedger,
  toHex,
} from "../lib/chunk_ledger.ts";
import {
  discardPart,
  type HeldPart,
  partPath,
  PartWriter,
  resumePart,
} from "../lib/part_file.ts";
import { listDir, tempDir } from "./_util.ts";

const encoder = new TextEncoder();

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  }
  return out;
}

/** An object of 10 chunks and a half (chunk size 4 KiB). */
function object(): { bytes: Uint8Array; header: LedgerHeader } {
  const bytes = randomBytes(4096 * 10 + 2048);
  return {
    bytes,
    header: { chunkSize: 4096, size: bytes.length, digest: sha256(bytes) },
  };
}

/** Writes `bytes[0, upTo)` through a PartWriter in pieces of `piece`. */
async function writePart(
  path: string,
  header: LedgerHeader,
  bytes: Uint8Array,
  upTo: number,
  piece = 1000,
): Promise<PartWriter> {
  const held = await resumePart(path, { chunkSize: header.chunkSize });
  const writer = await PartWriter.open(path, header, held);
  for (let at = 0; at < upTo; at += piece) {
    await writer.write(bytes.subarray(at, Math.min(upTo, at + piece)), at);
  }
  return writer;
}

Deno.test("formatLedgerHeader() and formatLedgerEntry() are read back by parseLedger()", () => {
  const { bytes, header } = object();
  const entries = [0, 1, 2].map((i) =>
    sha256(bytes.subarray(i * 4096, (i + 1) * 4096))
  );
  const text = formatLedgerHeader(header) +
    entries.map(formatLedgerEntry).join("");
  assert.match(
    text,
    /^socklab-ledger 1 chunk=4096 size=43008 sha256=[0-9a-f]{64}\n([0-9a-f]{64}\n){3}$/,
  );
  const ledger = parseLedger(encoder.encode(text));
  assert.ok(ledger);
  assert.deepEqual(ledger.header, header);
  assert.deepEqual(ledger.chunks, entries);
  assert.equal(ledger.headerLength, formatLedgerHeader(header).length);
  assert.equal(chunkCount(header), 11);
});

Deno.test("parseLedger() ignores a torn last entry and anything after a bad line", () => {
  const { header } = object();
  const a = sha256(encoder.encode("a"));
  const b = sha256(encoder.encode("b"));
  const head = formatLedgerHeader(header);
  const torn = parseLedger(
    encoder.encode(head + formatLedgerEntry(a) + toHex(b).slice(0, 40)),
  );
  assert.deepEqual(torn?.chunks, [a]);
  const noNewline = parseLedger(
    encoder.encode(head + formatLedgerEntry(a) + toHex(b)),
  );
  assert.deepEqual(noNewline?.chunks, [a]);
  const garbled = parseLedger(
    encoder.encode(
      head + formatLedgerEntry(a) + "x".repeat(64) + "\n" +
        formatLedgerEntry(b),
    ),
  );
  assert.deepEqual(garbled?.chunks, [a]);
});

Deno.test("parseLedger() keeps no more entries than the object has chunks", () => {
  const header: LedgerHeader = {
    chunkSize: 4,
    size: 6,
    digest: sha256(encoder.encode("abcdef")),
  };
  const entry = formatLedgerEntry(sha256(encoder.encode("x")));
  const ledger = parseLedger(
    encoder.encode(formatLedgerHeader(header) + entry.repeat(5)),
  );
  assert.equal(ledger?.chunks.length, 2);
});

Deno.test("parseLedger() refuses what is not a ledger header of this version", () => {
  const { header } = object();
  const good = formatLedgerHeader(header);
  for (
    const text of [
      "",
      "hello\n",
      good.replace("socklab-ledger 1", "socklab-ledger 2"),
      good.replace("chunk=4096", "chunk=0"),
      good.replace("chunk=4096", "chunk=999999999"),
      good.replace(/sha256=[0-9a-f]{64}/, "sha256=abc"),
      good.replace("size=43008", "size=-1"),
      good.slice(0, -1), // no newline: torn header
    ]
  ) {
    assert.equal(parseLedger(encoder.encode(text)), undefined, text);
  }
});

Deno.test("LedgerWriter writes a ledger readLedger() reads back; resume() cuts what follows the kept entries", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, ".big.ledger");
  const { header } = object();
  const entries = [1, 2, 3].map((i) => sha256(new Uint8Array([i])));
  {
    using writer = await LedgerWriter.create(path, header);
    for (const e of entries) await writer.append(e);
    assert.equal(writer.chunks, 3);
  }
  assert.deepEqual((await readLedger(path))?.chunks, entries);
  // A torn line at the end, as a crash mid-append leaves.
  await Deno.writeTextFile(path, "0123abcd", { append: true });
  assert.deepEqual((await readLedger(path))?.chunks, entries);
  {
    using writer = await LedgerWriter.resume(path, header, 2);
    await writer.append(entries[0]!);
  }
  assert.deepEqual((await readLedger(path))?.chunks, [
    entries[0],
    entries[1],
    entries[0],
  ]);
  assert.equal(await readLedger(join(tmp.path, "missing")), undefined);
});

Deno.test("LedgerWriter.append() refuses more entries than the object has chunks", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const header: LedgerHeader = {
    chunkSize: 4,
    size: 4,
    digest: sha256(encoder.encode("abcd")),
  };
  using writer = await LedgerWriter.create(join(tmp.path, "l"), header);
  await writer.append(sha256(encoder.encode("abcd")));
  await assert.rejects(writer.append(sha256(encoder.encode("x"))), RangeError);
});

Deno.test("PartWriter records a ledger entry for each chunk written whole, and commit() puts the file in place", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, "big.bin");
  const { bytes, header } = object();
  const writer = await writePart(path, header, bytes, 4096 * 3 + 100);
  assert.equal(writer.length, 4096 * 3 + 100);
  assert.equal(writer.chunks, 3);
  const ledger = await readLedger(ledgerPath(path));
  assert.deepEqual(
    ledger?.chunks,
    [0, 1, 2].map((i) => sha256(bytes.subarray(i * 4096, (i + 1) * 4096))),
  );
  for (let at = writer.length; at < bytes.length; at += 3000) {
    await writer.write(
      bytes.subarray(at, Math.min(bytes.length, at + 3000)),
      at,
    );
  }
  assert.equal(writer.chunks, 11, "the short last chunk is recorded too");
  await writer.commit();
  assert.deepEqual(await Deno.readFile(path), bytes);
  assert.deepEqual(await listDir(tmp.path), ["big.bin"]);
});

Deno.test("PartWriter.write() refuses bytes out of order or past the size", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, "big.bin");
  const { bytes, header } = object();
  using writer = await writePart(path, header, bytes, 100);
  await assert.rejects(writer.write(bytes.subarray(200, 300), 200), RangeError);
  await assert.rejects(
    writer.write(new Uint8Array(header.size), 100),
    RangeError,
  );
  await assert.rejects(writer.commit(), /holds 100 of 43008/);
});

Deno.test("resumePart() keeps the verified chunks, cuts the partial tail and gives the hash of the prefix", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, "big.bin");
  const { bytes, header } = object();
  (await writePart(path, header, bytes, 4096 * 5 + 1234)).close();
  const held = await resumePart(path, { chunkSize: 4096 });
  assert.equal(held.length, 4096 * 5);
  assert.equal(held.chunks, 5);
  assert.deepEqual(held.header, header);
  assert.deepEqual(
    new Uint8Array(held.hash.digest()),
    sha256(bytes.subarray(0, 4096 * 5)),
  );
  assert.equal((await Deno.stat(partPath(path))).size, 4096 * 5);
  assert.equal((await readLedger(ledgerPath(path)))?.chunks.length, 5);
});

Deno.test("resumePart() drops a corrupt chunk and everything after it", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, "big.bin");
  const { bytes, header } = object();
  (await writePart(path, header, bytes, 4096 * 8)).close();
  // One flipped byte in chunk 3.
  {
    using file = await Deno.open(partPath(path), { read: true, write: true });
    await file.seek(4096 * 3 + 17, Deno.SeekMode.Start);
    await file.write(new Uint8Array([bytes[4096 * 3 + 17]! ^ 0xff]));
  }
  const held = await resumePart(path, { chunkSize: 4096 });
  assert.equal(held.length, 4096 * 3);
  assert.equal((await Deno.stat(partPath(path))).size, 4096 * 3);
  assert.equal((await readLedger(ledgerPath(path)))?.chunks.length, 3);
  // Resuming from there gives the whole object.
  const writer = await PartWriter.open(path, header, held);
  assert.equal(writer.length, 4096 * 3);
  await writer.write(bytes.subarray(writer.length), writer.length);
  await writer.commit();
  assert.deepEqual(await Deno.readFile(path), bytes);
});

Deno.test("resumePart() discards a ledger for another size, digest or chunk size, and a part without a ledger", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, "big.bin");
  const { bytes, header } = object();
  const cases: [string, Parameters<typeof resumePart>[1]][] = [
    ["other size", {
      chunkSize: 4096,
      expect: { size: header.size + 1, digest: header.digest },
    }],
    ["other digest", {
      chunkSize: 4096,
      expect: { size: header.size, digest: sha256(encoder.encode("x")) },
    }],
    ["other chunk size", { chunkSize: 8192 }],
  ];
  for (const [what, options] of cases) {
    (await writePart(path, header, bytes, 4096 * 4)).close();
    const held = await resumePart(path, options);
    assert.equal(held.length, 0, what);
    assert.deepEqual(await listDir(tmp.path), [], `${what}: nothing kept`);
  }
  // The same object is resumed.
  (await writePart(path, header, bytes, 4096 * 4)).close();
  const same = await resumePart(path, {
    chunkSize: 4096,
    expect: { size: header.size, digest: header.digest },
  });
  assert.equal(same.length, 4096 * 4);
  // A part file with no ledger vouching for it.
  await Deno.remove(ledgerPath(path));
  assert.equal((await resumePart(path, { chunkSize: 4096 })).length, 0);
  assert.deepEqual(await listDir(tmp.path), []);
  // A ledger that is not one.
  (await writePart(path, header, bytes, 4096 * 4)).close();
  await Deno.writeTextFile(ledgerPath(path), "garbage\n");
  assert.equal((await resumePart(path, { chunkSize: 4096 })).length, 0);
  assert.deepEqual(await listDir(tmp.path), []);
});

Deno.test("resumePart() with a known point resumes there without reading the part file", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, "big.bin");
  const { bytes, header } = object();
  const writer = await writePart(path, header, bytes, 4096 * 6, 4096);
  const total = createHash("sha256").update(bytes.subarray(0, 4096 * 6));
  const point: HeldPart | undefined = writer.heldAt(total);
  assert.ok(point);
  assert.equal(point.length, 4096 * 6);
  assert.equal(point.chunks, 6);
  await writer.write(bytes.subarray(4096 * 6, 4096 * 6 + 10), 4096 * 6);
  assert.equal(writer.heldAt(total), undefined, "10 bytes past a chunk end");
  writer.close();
  // A flipped byte the known point does not look for: it is trusted.
  {
    using file = await Deno.open(partPath(path), { read: true, write: true });
    await file.seek(5, Deno.SeekMode.Start);
    await file.write(new Uint8Array([bytes[5]! ^ 0xff]));
  }
  const trusted = await resumePart(path, { chunkSize: 4096, known: point });
  assert.equal(trusted.length, 4096 * 6);
  assert.deepEqual(
    new Uint8Array(trusted.hash.digest()),
    sha256(bytes.subarray(0, 4096 * 6)),
    "the hash is the known one, not the file's",
  );
  // A point the ledger does not back is not trusted: the file is read.
  await Deno.remove(ledgerPath(path));
  assert.equal(
    (await resumePart(path, { chunkSize: 4096, known: point })).length,
    0,
  );
});

Deno.test("PartWriter.discard() and discardPart() leave nothing", async () => {
  await using tmp = await tempDir({ prefix: "ledger_" });
  const path = join(tmp.path, "big.bin");
  const { bytes, header } = object();
  const writer = await writePart(path, header, bytes, 5000);
  assert.deepEqual(await listDir(tmp.path), [
    ".big.bin.ledger",
    ".big.bin.part",
  ]);
  await writer.discard();
  assert.deepEqual(await listDir(tmp.path), []);
  (await writePart(path, header, bytes, 5000)).close();
  await discardPart(path);
  await discardPart(path); // nothing there: fine
  assert.deepEqual(await listDir(tmp.path), []);
});
