import assert from "node:assert/strict";
import fc from "fast-check";
import { bytes, concat, split } from "./_testing.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { HttpParseError } from "./errors.ts";
import { type HttpLimits, parseRequestHead } from "./request.ts";

// ---- Generators ----

const TCHARS =
  "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const VISIBLE = Array.from(
  { length: 0x7e - 0x21 + 1 },
  (_, i) => String.fromCharCode(0x21 + i),
);
const OBS_TEXT = Array.from(
  { length: 0x80 },
  (_, i) => String.fromCharCode(0x80 + i),
);

const tokenArb = fc.string({
  unit: fc.constantFrom(...TCHARS),
  minLength: 1,
  maxLength: 10,
});
const eolArb = fc.constantFrom("\r\n", "\n");
const owsArb = fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 3 });

/** A field value as the parser returns it: no whitespace at either end. */
const valueArb = fc
  .string({
    unit: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...VISIBLE) },
      { weight: 1, arbitrary: fc.constantFrom(...OBS_TEXT) },
      { weight: 1, arbitrary: fc.constantFrom(" ", "\t") },
    ),
    maxLength: 24,
  })
  .map((v) => v.replace(/^[ \t]+|[ \t]+$/g, ""));

interface Request {
  readonly method: string;
  readonly target: string;
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  readonly fields: [string, string][];
}

const requestArb: fc.Arbitrary<Request> = fc.record({
  method: tokenArb,
  target: fc.oneof(
    fc.constant("*"),
    fc.string({ unit: fc.constantFrom(...VISIBLE), maxLength: 30 }).map((p) =>
      `/${p}`
    ),
  ),
  version: fc.constantFrom("HTTP/1.0" as const, "HTTP/1.1" as const),
  fields: fc.array(fc.tuple(tokenArb, valueArb), { maxLength: 8 }),
});

/** A request's wire form, with its line ends and whitespace drawn at random. */
const wireArb = (request: Request): fc.Arbitrary<string> =>
  fc
    .record({
      leading: fc.array(eolArb, { maxLength: 2 }),
      eols: fc.array(eolArb, {
        minLength: request.fields.length + 2,
        maxLength: request.fields.length + 2,
      }),
      ows: fc.array(fc.tuple(owsArb, owsArb), {
        minLength: request.fields.length,
        maxLength: request.fields.length,
      }),
    })
    .map(({ leading, eols, ows }) =>
      leading.join("") +
      `${request.method} ${request.target} ${request.version}${eols[0]}` +
      request.fields.map(([n, v], i) =>
        `${n}:${ows[i]![0]}${v}${ows[i]![1]}${eols[i + 1]}`
      ).join("") +
      eols.at(-1)
    );

const requestWireArb = requestArb.chain((request) =>
  wireArb(request).map((wire) => ({ request, wire }))
);

/** Random bytes with a bias towards the pieces HTTP is made of. */
const httpishArb: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "GET",
        "POST",
        " ",
        "/",
        "*",
        "HTTP/1.1",
        "HTTP/1.0",
        "HTTP/2",
        "\r\n",
        "\n",
        "\r",
        ":",
        "Host",
        "Transfer-Encoding: chunked",
        "\t",
        "\x00",
        "\x7f",
        "\xff",
        "x",
      ).map(bytes),
      fc.uint8Array({ maxLength: 4 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => concat(...parts));

/** `data` with one to three bytes replaced, inserted or deleted. */
function mutate(data: Uint8Array): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(
    fc.nat(),
    fc.constantFrom("replace", "insert", "delete"),
    fc.integer({ min: 0, max: 255 }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => {
    const out = [...data];
    for (const [at, kind, b] of edits) {
      const i = at % (out.length + 1);
      if (kind === "insert") out.splice(i, 0, b);
      else if (i < out.length) {
        out.splice(i, 1, ...(kind === "replace" ? [b] : []));
      }
    }
    return concat(new Uint8Array(out));
  });
}

const SMALL: HttpLimits = {
  maxRequestLine: 24,
  maxHeaderBytes: 64,
  maxHeaders: 3,
};
const limitsArb = fc.constantFrom<HttpLimits | undefined>(undefined, SMALL);

type Outcome =
  | { error: number }
  | { head: unknown; next: number }
  | undefined;

function outcome(
  data: Uint8Array,
  offset: number,
  limits?: HttpLimits,
): Outcome {
  try {
    const parsed = parseRequestHead(data, offset, limits);
    if (parsed === undefined) return undefined;
    const { method, target, version, headers } = parsed.head;
    return {
      head: { method, target, version, entries: headers.entries() },
      next: parsed.next,
    };
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw error;
    assert.ok([400, 414, 431, 505].includes(error.status), error.message);
    assert.ok(
      error.offset >= offset && error.offset <= data.length,
      `offset ${error.offset}`,
    );
    return { error: error.status };
  }
}

// ---- parseRequestHead() ----

Deno.test({
  name: "parseRequestHead() reads back any valid request it is given",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(requestWireArb, ({ request, wire }) => {
        const parsed = parseRequestHead(bytes(wire), 0);
        assert.ok(parsed !== undefined);
        assert.equal(parsed.next, wire.length);
        const { method, target, version, headers } = parsed.head;
        assert.deepEqual(
          { method, target, version, entries: headers.entries() },
          {
            method: request.method,
            target: request.target,
            version: request.version,
            entries: request.fields.map(([n, v]) => [n.toLowerCase(), v]),
          },
        );
      }),
    );
  },
});

Deno.test({
  name: "parseRequestHead() needs every byte of a valid head, and no more",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(requestWireArb, fc.nat(), ({ wire }, cut) => {
        const all = bytes(wire);
        const n = cut % all.length;
        assert.equal(parseRequestHead(all.subarray(0, n), 0), undefined);
        assert.equal(
          parseRequestHead(concat(all, bytes("GET /x")), 0)?.next,
          all.length,
        );
      }),
    );
  },
});

Deno.test({
  name: "parseRequestHead() parses pipelined valid requests in sequence",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.array(requestWireArb, { minLength: 1, maxLength: 4 }),
        (items) => {
          const data = concat(...items.map((i) => bytes(i.wire)));
          let at = 0;
          for (const { request } of items) {
            const parsed = parseRequestHead(data, at);
            assert.ok(parsed !== undefined);
            assert.equal(parsed.head.target, request.target);
            assert.equal(parsed.head.headers.size, request.fields.length);
            at = parsed.next;
          }
          assert.equal(at, data.length);
        },
      ),
    );
  },
});

Deno.test({
  name: "parseRequestHead() throws only HttpParseError on random bytes",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.oneof(
          httpishArb,
          fc.uint8Array({ maxLength: 200 }),
          requestWireArb.chain(({ wire }) => mutate(bytes(wire))),
        ),
        limitsArb,
        (data, limits) => {
          const result = outcome(data, 0, limits);
          if (result !== undefined && "next" in result) {
            assert.ok(result.next > 0 && result.next <= data.length);
          }
        },
      ),
      { numRuns: 1000 },
    );
  },
});

Deno.test({
  name: "parseRequestHead() on a prefix agrees with the whole input",
  permissions: "none",
  fn() {
    // What the caller relies on: undefined means wait, an error stays an
    // error, and a head found in a prefix is the head of the whole input.
    fc.assert(
      fc.property(
        fc.oneof(
          httpishArb,
          requestWireArb.map(({ wire }) => bytes(wire)),
          fc.tuple(requestWireArb, httpishArb).map(([{ wire }, tail]) =>
            concat(bytes(wire), tail)
          ),
          requestWireArb.chain(({ wire }) => mutate(bytes(wire))),
        ),
        fc.nat(),
        limitsArb,
        (data, cut, limits) => {
          const prefix = outcome(
            data.subarray(0, cut % (data.length + 1)),
            0,
            limits,
          );
          const whole = outcome(data, 0, limits);
          if (prefix === undefined) return;
          if ("error" in prefix) {
            assert.ok(whole !== undefined && "error" in whole);
          } else assert.deepEqual(whole, prefix);
        },
      ),
      { numRuns: 1000 },
    );
  },
});

// ---- ChunkedDecoder ----

/** Random bytes with a bias towards chunked syntax. */
const chunkishArb: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "0",
        "1",
        "5",
        "a",
        "F",
        "g",
        ";",
        "=",
        " ",
        "\r\n",
        "\n",
        "\r",
        ":",
        "T",
        "\x00",
        "hello",
      ).map(bytes),
      fc.uint8Array({ maxLength: 4 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => concat(...parts));

/** A valid chunked body (sizes, extensions, trailers, line ends drawn at random). */
const chunkedArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    chunks: fc.array(fc.uint8Array({ minLength: 1, maxLength: 20 }), {
      maxLength: 4,
    }),
    ext: fc.constantFrom("", ";a=b", " ;x"),
    trailers: fc.array(fc.constantFrom("T: 1", "X:"), { maxLength: 2 }),
    eol: eolArb,
  })
  .map(({ chunks, ext, trailers, eol }) =>
    concat(
      ...chunks.flatMap((
        c,
      ) => [bytes(`${c.length.toString(16)}${ext}${eol}`), c, bytes(eol)]),
      bytes(`0${eol}${trailers.map((t) => t + eol).join("")}${eol}`),
    )
  );

type DecodeOutcome = { error: number; offset: number } | {
  body: number[];
  consumed: number;
  done: boolean;
};

function decodeAll(pieces: Uint8Array[]): DecodeOutcome {
  const decoder = new ChunkedDecoder({
    maxBodyBytes: 64,
    maxLineBytes: 16,
    maxTrailerBytes: 32,
  });
  const body: number[] = [];
  let consumed = 0;
  try {
    for (const piece of pieces) {
      const result = decoder.push(piece);
      assert.ok(result.consumed >= 0 && result.consumed <= piece.length);
      if (!result.done) assert.equal(result.consumed, piece.length);
      for (const d of result.data) body.push(...d);
      consumed += result.consumed;
    }
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw error;
    assert.ok([400, 413, 431].includes(error.status), error.message);
    return { error: error.status, offset: error.offset };
  }
  assert.ok(body.length <= 64);
  return { body, consumed, done: decoder.done };
}

Deno.test({
  name:
    "ChunkedDecoder.push() throws only HttpParseError on random bytes, however split",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.oneof(
          chunkishArb,
          fc.uint8Array({ maxLength: 200 }),
          chunkedArb,
          chunkedArb.chain(mutate),
        ),
        fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 5 }),
        (data, sizes) => {
          assert.deepEqual(decodeAll(split(data, sizes)), decodeAll([data]));
        },
      ),
      { numRuns: 1000 },
    );
  },
});
