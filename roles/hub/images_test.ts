/**
 * The HW5 image service in process: a real `TlvServer` on port 0 serving
 * `imageService` over `testdata/images` (or a temp copy of it), and clients
 * made with `connectTlv` for service "image" that fetch through
 * `downloadToFile` exactly as a client role does. Covers the listing, whole
 * and resumed transfers, names with and without their extension, refused
 * names and offsets, a message of another service, and many clients at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DigestCache,
  downloadToFile,
  fileDigest,
  partLength,
  partPath,
} from "../../lib/bulk.ts";
import { connectTlv, type TlvClient } from "../../lib/client.ts";
import { ConfinedRoot } from "../../lib/confined_fs.ts";
import { Logger } from "../../lib/log.ts";
import { TlvServer } from "../../lib/server.ts";
import { RemoteError } from "../../protocol/tlv/protocol_error.ts";
import { listDir, ROOT, tempDir } from "../../tests/_util.ts";
import { IMAGE_EXTENSIONS, imageService } from "./images.ts";

// ---------------------------------------------------------------- helpers

const TESTDATA = join(ROOT, "testdata", "images");
/** The test images, in listing order. */
const IMAGES = ["campus.png", "diagram.gif", "logo.jpg"];
/** Bound on connecting and on any single wait for an answer (ms). */
const WAIT_MS = 10_000;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The SHA-256 of a file, as hex (readable in a failed assertion). */
async function digestOf(path: string): Promise<string> {
  return hex(await fileDigest(path));
}

function original(fileName: string): string {
  return join(TESTDATA, fileName);
}

function isRemote(code: string, message?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RemoteError, `not a RemoteError: ${error}`);
    assert.equal(error.codeName, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}

interface RigOptions {
  /** Serve a temp copy of testdata/images, prepared by this callback. */
  copy?(dir: string, tmp: string): Promise<void>;
}

/** An image server and a downloads dir, all disposable. */
interface Rig extends AsyncDisposable {
  /** The directory served. */
  readonly images: string;
  readonly downloads: string;
  readonly stats: ReturnType<typeof imageService>["stats"];
  /** Log lines of the server. */
  readonly lines: string[];
  /** A client of the image service. */
  connect(): Promise<TlvClient>;
  /** A path in the downloads dir. */
  out(fileName: string): string;
}

async function rig(options: RigOptions = {}): Promise<Rig> {
  await using stack = new AsyncDisposableStack();
  const tmp = stack.use(await tempDir({ prefix: "socklab_images_" }));
  const downloads = join(tmp.path, "downloads");
  await Deno.mkdir(downloads);
  let images = TESTDATA;
  if (options.copy) {
    images = join(tmp.path, "images");
    await Deno.mkdir(images);
    for (const f of IMAGES) await Deno.copyFile(original(f), join(images, f));
    await options.copy(images, tmp.path);
  }
  const lines: string[] = [];
  const log = new Logger({
    name: "image-test",
    level: "debug",
    sink: (l) => lines.push(l),
  });
  const service = imageService({
    images: await ConfinedRoot.open(images),
    digests: new DigestCache(),
    log,
  });
  const server = stack.use(new TlvServer({ services: [service], log }));
  const owned = stack.move();
  return {
    images,
    downloads,
    stats: service.stats,
    lines,
    connect: () =>
      connectTlv({
        port: server.addr.port,
        service: "image",
        timeoutMs: WAIT_MS,
      }),
    out: (fileName) => join(downloads, fileName),
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

/** `image_get` of `name` from `offset` into `path`, as a client does. */
function fetchImage(
  client: TlvClient,
  name: string,
  path: string,
  offset = 0,
) {
  return downloadToFile(
    client.stream("image_get", { name, offset }),
    path,
    { resumeFrom: offset },
  );
}

// ---------------------------------------------------------------- tests

Deno.test("IMAGE_EXTENSIONS tries the bare name first", () => {
  assert.equal(IMAGE_EXTENSIONS[0], "");
  for (const e of IMAGE_EXTENSIONS.slice(1)) assert.match(e, /^\.[a-z]+$/);
});

Deno.test("image_list lists the three test images with their sizes and SHA-256 digests", async () => {
  await using r = await rig();
  await using client = await r.connect();
  const reply = await client.request("image_list", {});
  assert.equal(reply.type, "image_list_reply");
  if (reply.type !== "image_list_reply") return;
  const entries = reply.fields.entry ?? [];
  // README.md sits in the same directory: not an image, not listed.
  assert.deepEqual(entries.map((e) => e.name), IMAGES);
  for (const entry of entries) {
    const path = original(entry.name);
    assert.equal(entry.size, (await Deno.stat(path)).size, entry.name);
    assert.ok(entry.digest, `${entry.name} has a digest`);
    assert.equal(hex(entry.digest), await digestOf(path), entry.name);
  }
  assert.equal(r.stats.requests, 0, "a listing is not an image request");
});

Deno.test("image_get sends each image whole: the bytes on disk, under its file name", async () => {
  await using r = await rig();
  await using client = await r.connect();
  let total = 0;
  for (const f of IMAGES) {
    const size = (await Deno.stat(original(f))).size;
    const result = await fetchImage(client, f, r.out(f));
    assert.equal(result.name, f);
    assert.equal(result.size, size);
    assert.equal(result.offset, 0);
    assert.equal(result.bytes, size);
    assert.deepEqual(
      await Deno.readFile(r.out(f)),
      await Deno.readFile(original(f)),
      f,
    );
    total += size;
  }
  assert.deepEqual(await listDir(r.downloads), IMAGES, "no part files left");
  assert.deepEqual({ ...r.stats }, {
    requests: 3,
    bytesSent: total,
    notFound: 0,
  });
  assert.ok(
    r.lines.some((l) => l.includes("image sent") && l.includes("logo.jpg")),
    r.lines.join("\n"),
  );
});

Deno.test("image_get resumes from an offset: the rest arrives and the whole digest matches", async () => {
  await using r = await rig();
  const out = r.out("logo.jpg");
  const bytes = await Deno.readFile(original("logo.jpg"));
  const held = 12_345;
  assert.ok(held < bytes.length);
  await Deno.writeFile(partPath(out), bytes.subarray(0, held));
  const offset = await partLength(out);
  assert.equal(offset, held);
  await using client = await r.connect();
  const result = await fetchImage(client, "logo", out, offset);
  assert.equal(result.offset, held);
  assert.equal(result.bytes, bytes.length - held);
  assert.equal(hex(result.digest), await digestOf(original("logo.jpg")));
  assert.deepEqual(await Deno.readFile(out), bytes);
  assert.equal(r.stats.bytesSent, bytes.length - held);
  assert.equal(await partLength(out), 0, "the part file became the file");
});

Deno.test("image_get from the very end sends an empty transfer", async () => {
  await using r = await rig();
  const out = r.out("diagram.gif");
  const bytes = await Deno.readFile(original("diagram.gif"));
  await Deno.writeFile(partPath(out), bytes);
  await using client = await r.connect();
  const result = await fetchImage(client, "diagram", out, bytes.length);
  assert.equal(result.bytes, 0);
  assert.deepEqual(await Deno.readFile(out), bytes);
});

Deno.test("image_get finds an image by its name with or without the extension", async () => {
  await using r = await rig();
  await using client = await r.connect();
  for (
    const [name, fileName] of [
      ["campus", "campus.png"],
      ["campus.png", "campus.png"],
      ["logo", "logo.jpg"],
      ["logo.jpg", "logo.jpg"],
      ["diagram", "diagram.gif"],
      ["diagram.gif", "diagram.gif"],
    ] as const
  ) {
    const out = r.out(`${name}.out`);
    const result = await fetchImage(client, name, out);
    assert.equal(result.name, fileName, name);
    assert.equal(await digestOf(out), await digestOf(original(fileName)));
  }
});

Deno.test("image_get of a missing image is not_found naming the image and nothing else, and the connection goes on", async () => {
  await using r = await rig();
  await using client = await r.connect();
  for (
    const name of ["nope", "campus.jpg", "logo.png.png", "README", "README.md"]
  ) {
    await assert.rejects(
      fetchImage(client, name, r.out("x.png")),
      (error: unknown) => {
        isRemote("not_found", /no image named/)(error);
        const message = (error as Error).message;
        assert.ok(message.includes(`"${name}"`), message);
        // Neither the directory's path nor its other files.
        assert.ok(!message.includes(TESTDATA), message);
        assert.ok(!/campus\.png|logo\.jpg|diagram/.test(message), message);
        return true;
      },
      name,
    );
  }
  assert.equal(r.stats.requests, 5);
  assert.equal(r.stats.notFound, 5);
  assert.deepEqual(await listDir(r.downloads), [], "no part file left behind");
  const reply = await client.request("image_list", {});
  assert.equal(reply.type, "image_list_reply");
});

Deno.test("image_get refuses names that are not one plain file name with bad_name", async () => {
  await using r = await rig();
  await using client = await r.connect();
  for (
    const name of ["../etc/passwd", ".hidden", "a/b", "a\\b", "..", "", "."]
  ) {
    await assert.rejects(
      fetchImage(client, name, r.out("x.png")),
      isRemote("bad_name", /is not an image name/),
      JSON.stringify(name),
    );
  }
  assert.equal(r.stats.notFound, 0);
  assert.deepEqual(await listDir(r.downloads), []);
});

Deno.test("image_get refuses a symlink in the images directory that leads outside it", async () => {
  await using r = await rig({
    copy: async (dir, tmp) => {
      const secret = join(tmp, "secret.png");
      await Deno.writeTextFile(secret, "not for the network");
      await Deno.symlink(secret, join(dir, "escape.png"));
      await Deno.symlink("../secret.png", join(dir, "climb.png"));
    },
  });
  await using client = await r.connect();
  for (const name of ["escape", "escape.png", "climb"]) {
    await assert.rejects(
      fetchImage(client, name, r.out("x.png")),
      isRemote("bad_name", /is not an image name/),
      name,
    );
  }
  const reply = await client.request("image_list", {});
  assert.ok(reply.type === "image_list_reply");
  assert.deepEqual(
    (reply.fields.entry ?? []).map((e) => e.name),
    IMAGES,
    "symlinks are not listed",
  );
  // The copy's real images are still served.
  const result = await fetchImage(client, "campus", r.out("campus.png"));
  assert.equal(result.name, "campus.png");
});

Deno.test("image_get beyond the end of an image is bad_offset", async () => {
  await using r = await rig();
  await using client = await r.connect();
  const size = (await Deno.stat(original("campus.png"))).size;
  await assert.rejects(
    (async () => {
      for await (
        const _ of client.stream("image_get", {
          name: "campus",
          offset: size + 1,
        })
      ) {
        assert.fail("no frame should answer a bad offset");
      }
    })(),
    isRemote("bad_offset", new RegExp(`offset ${size + 1} is beyond the end`)),
  );
  // The connection still serves.
  const result = await fetchImage(client, "campus", r.out("campus.png"));
  assert.equal(result.bytes, size);
});

Deno.test("a message of another service gets unexpected_message and the connection keeps serving", async () => {
  await using r = await rig();
  await using client = await r.connect();
  await assert.rejects(
    client.request("video_list", {}),
    isRemote("unexpected_message", /image service does not accept video_list/),
  );
  await assert.rejects(
    client.request("calc_request", { expression: "1+2" }),
    isRemote("unexpected_message", /calc_request/),
  );
  const reply = await client.request("image_list", {});
  assert.equal(reply.type, "image_list_reply");
  const result = await fetchImage(client, "logo", r.out("logo.jpg"));
  assert.equal(result.name, "logo.jpg");
});

Deno.test("ten concurrent clients each fetch every image and all get the right bytes", async () => {
  await using r = await rig();
  await using stack = new AsyncDisposableStack();
  const clients = await Promise.all(
    Array.from({ length: 10 }, () => r.connect()),
  );
  for (const c of clients) stack.use(c);
  const want = new Map<string, string>();
  for (const f of IMAGES) want.set(f, await digestOf(original(f)));
  // Every client pipelines its three requests on its one connection.
  await Promise.all(
    clients.flatMap((client, i) =>
      IMAGES.map((f) => fetchImage(client, f, r.out(`${i}_${f}`)))
    ),
  );
  for (let i = 0; i < clients.length; i++) {
    for (const f of IMAGES) {
      assert.equal(
        await digestOf(r.out(`${i}_${f}`)),
        want.get(f),
        `${i} ${f}`,
      );
    }
  }
  assert.equal(r.stats.requests, 30);
  assert.equal(r.stats.notFound, 0);
  assert.equal((await listDir(r.downloads)).length, 30);
});
