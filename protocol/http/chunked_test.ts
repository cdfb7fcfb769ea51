import assert from "node:assert/strict";
import fc from "fast-check";
import { assertHttpError, bytes, concat, split } from "./_testing.ts";
import { ChunkedDecoder, type ChunkedDecoderOptions } from "./chunked.ts";

/** Decodes `pieces` in order; returns the body as a string and the totals. */
function decode(
  pieces: Uint8Array[],
  options?: ChunkedDecoderOptions,
): { body: string; consumed: number; done: boolean } {
  const decoder = new ChunkedDecoder(options);
  let body = "";
  let consumed = 0;
  for (const piece of pieces) {
    const result = decoder.push(piece);
    assert.equal(result.done, decoder.done);
    if (!result.done) assert.equal(result.consumed, piece.length);
    for (const d of result.data) body += String.fromCharCode(...d);
    consumed += result.consumed;
  }
  assert.equal(decoder.bodyBytes, body.length);
  return { body, consumed, done: decoder.done };
}

function decodeText(text: string, options?: ChunkedDecoderOptions) {
  return decode([bytes(text)], options);
}

const BODY = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";

Deno.test({
  name: "ChunkedDecoder.push() decodes a whole chunked body",
  permissions: "none",
  fn() {
    assert.deepEqual(decodeText(BODY), {
      body: "hello, world",
      consumed: BODY.length,
      done: true,
    });
    assert.deepEqual(decodeText("0\r\n\r\n"), {
      body: "",
      consumed: 5,
      done: true,
    });
  },
});

Deno.test({
  name: "ChunkedDecoder.push() decodes a body fed one byte at a time",
  permissions: "none",
  fn() {
    const text = "A;x=1\r\n0123456789\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n";
    assert.deepEqual(decode(split(bytes(text), [1])), {
      body: "0123456789!",
      consumed: text.length,
      done: true,
    });
  },
});

Deno.test({
  name: "ChunkedDecoder.push() is not done until the final line end",
  permissions: "none",
  fn() {
    const all = bytes(BODY);
    for (let n = 0; n < all.length; n++) {
      const result = decode([all.subarray(0, n)]);
      assert.equal(result.done, false, `prefix of ${n} bytes`);
      assert.equal(result.consumed, n);
    }
  },
});

Deno.test({
  name: "ChunkedDecoder.push() ignores chunk extensions",
  permissions: "none",
  fn() {
    const text = '5;name=value;q="a;b\\" c"\r\nhello\r\n' +
      "3 ; x\t;y = z\r\nabc\r\n" +
      "0;last\r\n\r\n";
    assert.equal(decodeText(text).body, "helloabc");
    assert.equal(decodeText("2;\xe9\x80\r\nhi\r\n0\r\n\r\n").body, "hi");
  },
});

Deno.test({
  name:
    "ChunkedDecoder.push() reads hex sizes in either case with leading zeros",
  permissions: "none",
  fn() {
    const data = "x".repeat(0x1af);
    assert.equal(decodeText(`1aF\r\n${data}\r\n0\r\n\r\n`).body, data);
    assert.equal(decodeText(`001AF\r\n${data}\r\n000\r\n\r\n`).body, data);
  },
});

Deno.test({
  name: "ChunkedDecoder.push() skips trailer fields",
  permissions: "none",
  fn() {
    const text =
      "3\r\nabc\r\n0\r\nExpires: Sun, 06 Nov 1994 08:49:37 GMT\r\nX-Sum:\t1 2\r\nE:\r\n\r\n";
    assert.deepEqual(decodeText(text), {
      body: "abc",
      consumed: text.length,
      done: true,
    });
  },
});

Deno.test({
  name: "ChunkedDecoder.push() accepts bare LF line ends",
  permissions: "none",
  fn() {
    const text = "5\nhello\n2;x\n, \r\n0\nT: 1\n\n";
    assert.deepEqual(decodeText(text), {
      body: "hello, ",
      consumed: text.length,
      done: true,
    });
  },
});

Deno.test({
  name: "ChunkedDecoder.push() leaves pipelined bytes after the last chunk",
  permissions: "none",
  fn() {
    const next = "GET /next HTTP/1.1\r\n\r\n";
    const input = concat(bytes(BODY), bytes(next));
    const decoder = new ChunkedDecoder();
    const result = decoder.push(input);
    assert.equal(result.done, true);
    assert.equal(result.consumed, BODY.length);
    assert.equal(
      String.fromCharCode(...input.subarray(result.consumed)),
      next,
    );
    assert.deepEqual(decoder.push(bytes("more")), {
      data: [],
      consumed: 0,
      done: true,
    });
  },
});

Deno.test({
  name: "ChunkedDecoder.push() returns copies of the body data",
  permissions: "none",
  fn() {
    const input = bytes("5\r\nhello\r\n");
    const decoder = new ChunkedDecoder();
    const { data } = decoder.push(input);
    input.fill(0x21);
    assert.equal(String.fromCharCode(...data[0]!), "hello");
    assert.notEqual(data[0]!.buffer, input.buffer);
  },
});

Deno.test({
  name: "ChunkedDecoder.push() rejects a body beyond maxBodyBytes with 413",
  permissions: "none",
  fn() {
    const ok = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    assert.equal(decodeText(ok, { maxBodyBytes: 10 }).body, "helloworld");
    // The size line alone is enough: no data has to arrive.
    assertHttpError(
      () => decodeText("5\r\nhello\r\n6", { maxBodyBytes: 10 }),
      413,
      10,
    );
    assertHttpError(() => decodeText("b", { maxBodyBytes: 10 }), 413, 0);
    assertHttpError(
      () => decodeText("00000000b", { maxBodyBytes: 10 }),
      413,
      8,
    );
    // Sizes beyond 2^53 are refused whatever the limit.
    assertHttpError(() => decodeText("fffffffffffffffff\r\n"), 413);
    assertHttpError(
      () => decodeText("20000000000000\r\n"),
      413,
    );
  },
});

Deno.test({
  name: "ChunkedDecoder.push() rejects a chunk size that is not hex",
  permissions: "none",
  fn() {
    const cases: [string, number][] = [
      ["g\r\n", 0],
      ["\r\n", 0],
      [";x\r\n", 0],
      ["-1\r\n", 0],
      ["0x5\r\n", 1],
      [" 5\r\n", 0],
      ["5g\r\n", 1],
      ["5 \r\n", 2],
      ["5 x\r\n", 2],
      ["+5\r\n", 0],
    ];
    for (const [text, offset] of cases) {
      assertHttpError(() => decodeText(text), 400, offset);
    }
  },
});

Deno.test({
  name: "ChunkedDecoder.push() rejects data not followed by a line end",
  permissions: "none",
  fn() {
    assertHttpError(() => decodeText("5\r\nhelloX\r\n"), 400, 8);
    assertHttpError(() => decodeText("5\r\nhello\rX"), 400, 8);
    assertHttpError(() => decodeText("5\r\nhello world\r\n"), 400, 8);
  },
});

Deno.test({
  name: "ChunkedDecoder.push() rejects a CR not followed by LF",
  permissions: "none",
  fn() {
    assertHttpError(() => decodeText("5\rhello"), 400, 1);
    assertHttpError(() => decodeText("5;x\rhello"), 400, 3);
    assertHttpError(() => decodeText("0\r\nA: b\rc\r\n\r\n"), 400, 7);
    assertHttpError(() => decodeText("0\r\n\rX"), 400, 3);
  },
});

Deno.test({
  name: "ChunkedDecoder.push() rejects control bytes in extensions",
  permissions: "none",
  fn() {
    assertHttpError(() => decodeText("5;a\x00b\r\nhello"), 400, 3);
    assertHttpError(() => decodeText("5;a\x7f\r\nhello"), 400, 3);
  },
});

Deno.test({
  name: "ChunkedDecoder.push() rejects a line beyond maxLineBytes",
  permissions: "none",
  fn() {
    const options = { maxLineBytes: 16 };
    const ext = ";" + "x".repeat(14);
    assert.equal(decodeText(`1${ext}\r\na\r\n0\r\n\r\n`, options).body, "a");
    assertHttpError(() => decodeText(`1${ext}x`, options), 400, 16);
    assertHttpError(() => decodeText("0".repeat(17), options), 400, 16);
    const field = "T: " + "v".repeat(13);
    assert.ok(decodeText(`0\r\n${field}\r\n\r\n`, options).done);
    assertHttpError(() => decodeText(`0\r\n${field}v`, options), 400, 19);
    // The default is 4096 bytes.
    assertHttpError(() => decodeText("1;" + "x".repeat(4095)), 400, 4096);
  },
});

Deno.test({
  name:
    "ChunkedDecoder.push() rejects trailers beyond maxTrailerBytes with 431",
  permissions: "none",
  fn() {
    const options = { maxTrailerBytes: 20 };
    assert.ok(decodeText("0\r\nA: 1234\r\nB: 5678\r\n\r\n", options).done);
    assertHttpError(
      () => decodeText("0\r\nA: 1234\r\nB: 5678\r\nCD:", options),
      431,
      23,
    );
    const many = "0\r\n" + "X: y\r\n".repeat(3000);
    assertHttpError(() => decodeText(many), 431);
  },
});

Deno.test({
  name: "ChunkedDecoder.push() rejects malformed trailer fields",
  permissions: "none",
  fn() {
    const cases: [string, number][] = [
      ["NoColon\r\n", 10],
      ["A : b\r\n", 4],
      [": b\r\n", 3],
      ["A(: b\r\n", 4],
      [" A: b\r\n", 3],
      ["\tA: b\r\n", 3],
      ["A: b\x01\r\n", 7],
      ["A: b\x00\r\n", 7],
    ];
    for (const [trailer, offset] of cases) {
      assertHttpError(() => decodeText(`0\r\n${trailer}\r\n`), 400, offset);
    }
  },
});

Deno.test({
  name: "ChunkedDecoder.push() reports offsets counted across pushes",
  permissions: "none",
  fn() {
    const decoder = new ChunkedDecoder();
    decoder.push(bytes("5\r\nhel"));
    decoder.push(bytes("lo\r"));
    assertHttpError(() => decoder.push(bytes("X")), 400, 8);
  },
});

Deno.test({
  name: "ChunkedDecoder.push() keeps throwing after an error",
  permissions: "none",
  fn() {
    const decoder = new ChunkedDecoder();
    const first = assertHttpError(() => decoder.push(bytes("z")), 400);
    const again = assertHttpError(() => decoder.push(bytes("0\r\n\r\n")), 400);
    assert.equal(again, first);
    assert.equal(decoder.done, false);
  },
});

// ---- Random splits ----

interface Chunk {
  readonly data: Uint8Array;
  readonly ext: string;
}

const chunkArb: fc.Arbitrary<Chunk> = fc.record({
  data: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  ext: fc.constantFrom("", ";a", ";a=b", ' ; q="x;y"', ";\xe9"),
});

const encodingArb = fc.record({
  chunks: fc.array(chunkArb, { maxLength: 6 }),
  trailers: fc.array(fc.constantFrom("T: 1", "X-Sum: a b", "E:"), {
    maxLength: 3,
  }),
  eol: fc.constantFrom("\r\n", "\n"),
  upper: fc.boolean(),
});

Deno.test({
  name: "ChunkedDecoder.push() decodes any chunked body in random splits",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        encodingArb,
        fc.array(fc.integer({ min: 1, max: 16 }), { maxLength: 6 }),
        ({ chunks, trailers, eol, upper }, sizes) => {
          const parts: Uint8Array[] = [];
          for (const { data, ext } of chunks) {
            const size = data.length.toString(16);
            parts.push(
              bytes(`${upper ? size.toUpperCase() : size}${ext}${eol}`),
            );
            parts.push(data, bytes(eol));
          }
          parts.push(bytes(`0${eol}`));
          for (const t of trailers) parts.push(bytes(`${t}${eol}`));
          parts.push(bytes(eol));
          const encoded = concat(...parts);
          const input = concat(encoded, bytes("GET /"));
          const decoder = new ChunkedDecoder();
          const body: number[] = [];
          let consumed = 0;
          for (const piece of split(input, sizes)) {
            const result = decoder.push(piece);
            for (const d of result.data) body.push(...d);
            consumed += result.consumed;
          }
          assert.equal(decoder.done, true);
          assert.equal(consumed, encoded.length);
          assert.deepEqual(
            body,
            chunks.flatMap((c) => [...c.data]),
          );
          assert.equal(decoder.bodyBytes, body.length);
        },
      ),
    );
  },
});
