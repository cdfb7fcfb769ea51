import assert from "node:assert/strict";
import fc from "fast-check";
import type { ResourceRecord } from "../../protocol/dns/message.ts";
import {
  DEFAULT_TABLE_TTL,
  MAX_TTL,
  parseTable,
  type Table,
  TableError,
  validateName,
} from "./table.ts";

const FILE = "testdata/dns/global_com_dns.txt";

function records(table: Table, name: string): readonly ResourceRecord[] {
  return table.records.get(name) ?? [];
}

function only(table: Table, name: string): ResourceRecord {
  const found = records(table, name);
  assert.equal(found.length, 1, `one record at ${name}`);
  return found[0] as ResourceRecord;
}

/** Asserts that parsing `text` fails at `line` with exactly `reason`. */
function rejects(text: string, line: number, reason: string): void {
  assert.throws(() => parseTable(text, FILE, { origin: "example.com" }), {
    name: "TableError",
    message: `${FILE}:${line}: ${reason}`,
    file: FILE,
    line,
    reason,
  });
}

Deno.test({
  name: "parseTable() reads the seed's plain name address lines",
  permissions: "none",
  fn() {
    const table = parseTable(
      "www.skku.edu 192.0.2.10\nportal.skku.edu\t2001:DB8:0:0::11\n",
      "local_dns.txt",
    );
    assert.equal(table.file, "local_dns.txt");
    assert.equal(table.size, 2);
    assert.deepEqual(only(table, "www.skku.edu"), {
      name: "www.skku.edu",
      type: 1,
      class: 1,
      ttl: DEFAULT_TABLE_TTL,
      data: { type: 1, address: "192.0.2.10" },
    });
    // AAAA by the ":", kept in the RFC 5952 form.
    assert.deepEqual(only(table, "portal.skku.edu").data, {
      type: 28,
      address: "2001:db8::11",
    });
  },
});

Deno.test({
  name: "parseTable() reads every record type with and without a TTL",
  permissions: "none",
  fn() {
    const table = parseTable(
      [
        "a.example.com 60 198.51.100.1",
        "b.example.com A 198.51.100.2",
        "c.example.com 61 aaaa 2001:db8::c",
        "d.example.com 62 CNAME A.Example.COM.",
        "example.com Mx 10 Mail.example.com",
        "example.com 63 NS ns1.example.com.",
        "e.example.com 64 IN TXT hello",
        "f.example.com IN A 198.51.100.6",
      ].join("\n"),
      FILE,
    );
    assert.equal(table.size, 8);
    const ttlAndData = (name: string, index = 0) => {
      const record = records(table, name)[index];
      return [record?.ttl, record?.type, record?.data];
    };
    assert.deepEqual(ttlAndData("a.example.com"), [60, 1, {
      type: 1,
      address: "198.51.100.1",
    }]);
    assert.deepEqual(ttlAndData("b.example.com"), [3600, 1, {
      type: 1,
      address: "198.51.100.2",
    }]);
    assert.deepEqual(ttlAndData("c.example.com"), [61, 28, {
      type: 28,
      address: "2001:db8::c",
    }]);
    assert.deepEqual(ttlAndData("d.example.com"), [62, 5, {
      type: 5,
      target: "a.example.com",
    }]);
    assert.deepEqual(ttlAndData("example.com"), [3600, 15, {
      type: 15,
      preference: 10,
      exchange: "mail.example.com",
    }]);
    assert.deepEqual(ttlAndData("example.com", 1), [63, 2, {
      type: 2,
      target: "ns1.example.com",
    }]);
    assert.deepEqual(ttlAndData("e.example.com"), [64, 16, {
      type: 16,
      texts: ["hello"],
    }]);
    assert.deepEqual(ttlAndData("f.example.com"), [3600, 1, {
      type: 1,
      address: "198.51.100.6",
    }]);
  },
});

Deno.test({
  name: "parseTable() keys names case-insensitively, with or without the dot",
  permissions: "none",
  fn() {
    const table = parseTable(
      "WWW.Example.COM. 198.51.100.1\nwww.example.com 198.51.100.2\n",
      FILE,
    );
    assert.deepEqual([...table.records.keys()], ["www.example.com"]);
    assert.equal(records(table, "www.example.com").length, 2);
  },
});

Deno.test({
  name: "parseTable() applies $TTL to the lines after it",
  permissions: "none",
  fn() {
    const table = parseTable(
      [
        "a.example.com 198.51.100.1",
        "$TTL 300",
        "b.example.com 198.51.100.2",
        "c.example.com 5 198.51.100.3",
        "$ttl 0 # lowercase works too",
        "d.example.com 198.51.100.4",
      ].join("\n"),
      FILE,
    );
    assert.equal(only(table, "a.example.com").ttl, 3600);
    assert.equal(only(table, "b.example.com").ttl, 300);
    assert.equal(only(table, "c.example.com").ttl, 5);
    assert.equal(only(table, "d.example.com").ttl, 0);
  },
});

Deno.test({
  name: "parseTable() skips comments and blank lines but not # inside quotes",
  permissions: "none",
  fn() {
    const table = parseTable(
      [
        "\uFEFF# a whole-line comment",
        "",
        "   \t  ",
        "  # an indented comment",
        "a.example.com 198.51.100.1 # a trailing comment",
        'b.example.com TXT "not # a comment" # but this is',
        "c.example.com TXT color#1 # unquoted: # inside a word is text",
      ].join("\r\n"),
      FILE,
    );
    assert.equal(table.size, 3);
    assert.deepEqual(only(table, "b.example.com").data, {
      type: 16,
      texts: ["not # a comment"],
    });
    assert.deepEqual(only(table, "c.example.com").data, {
      type: 16,
      texts: ["color#1"],
    });
    assert.equal(table.lines.get(only(table, "a.example.com")), 5);
  },
});

Deno.test({
  name: "parseTable() reads TXT as the rest of the line or as quoted strings",
  permissions: "none",
  fn() {
    const table = parseTable(
      [
        "a.example.com TXT v=spf1   mx  -all",
        'b.example.com TXT "one" "two words" ""',
        'c.example.com TXT "say \\"hi\\" \\\\ bye"',
      ].join("\n"),
      FILE,
    );
    assert.deepEqual(only(table, "a.example.com").data, {
      type: 16,
      texts: ["v=spf1   mx  -all"],
    });
    assert.deepEqual(only(table, "b.example.com").data, {
      type: 16,
      texts: ["one", "two words", ""],
    });
    assert.deepEqual(only(table, "c.example.com").data, {
      type: 16,
      texts: ['say "hi" \\ bye'],
    });
    const longest = "é".repeat(127) + "x"; // 255 bytes of UTF-8
    const big = parseTable(`a.example.com TXT "${longest}" "${longest}"`, FILE);
    assert.deepEqual(only(big, "a.example.com").data, {
      type: 16,
      texts: [longest, longest],
    });
  },
});

Deno.test({
  name: "parseTable() expands @ to the origin",
  permissions: "none",
  fn() {
    const table = parseTable("@ NS ns.example.com\n@ 198.51.100.1", FILE, {
      origin: "Example.COM.",
    });
    assert.deepEqual(
      records(table, "example.com").map((record) => record.type),
      [2, 1],
    );
  },
});

Deno.test({
  name: "parseTable() collapses identical records, keeping the lower TTL",
  permissions: "none",
  fn() {
    const table = parseTable(
      [
        "a.example.com 300 198.51.100.1",
        "A.example.com. 60 A 198.51.100.1",
        "a.example.com 600 198.51.100.1",
        "a.example.com AAAA 2001:db8:0::1",
        "a.example.com 2001:DB8::1",
        "b.example.com CNAME a.example.com",
        "b.example.com CNAME A.EXAMPLE.COM.",
        'c.example.com TXT "x" "y"',
        'c.example.com TXT "x y"',
      ].join("\n"),
      FILE,
    );
    assert.equal(table.size, 5);
    const a = records(table, "a.example.com");
    assert.deepEqual(a.map((record) => [record.type, record.ttl]), [
      [1, 60],
      [28, 3600],
    ]);
    // The kept record keeps the line it was first defined on.
    assert.equal(table.lines.get(a[0] as ResourceRecord), 1);
    assert.equal(records(table, "b.example.com").length, 1);
    assert.equal(records(table, "c.example.com").length, 2);
  },
});

Deno.test({
  name: "parseTable() accepts the longest names and TTLs allowed",
  permissions: "none",
  fn() {
    const label63 = "a".repeat(63);
    const name253 = [label63, label63, label63, "b".repeat(61)].join(".");
    assert.equal(name253.length, 253);
    const table = parseTable(
      `${name253}. ${MAX_TTL} A 192.0.2.1\n_srv-1.x_y.example.com 0 A 0.0.0.0`,
      FILE,
    );
    assert.equal(only(table, name253).ttl, MAX_TTL);
    assert.equal(only(table, "_srv-1.x_y.example.com").ttl, 0);
  },
});

Deno.test({
  name: "parseTable() rejects a bad line with file and line",
  permissions: "none",
  fn() {
    const ok = "ok.example.com 192.0.2.1\n";
    const cases: readonly [string, string][] = [
      ["www.example.com MXX 10 mail.example.com", 'unknown record type "MXX"'],
      [
        "www.example.com SOA x",
        'unsupported record type "SOA" ' +
        "(tables hold A, AAAA, CNAME, MX, NS, TXT)",
      ],
      [
        "www.example.com 192.0.2.1 extra",
        'unexpected "extra" after the ' +
        'address "192.0.2.1"',
      ],
      ["www.example.com", 'missing address for "www.example.com"'],
      ["www.example.com 60", 'invalid IPv4 address "60"'],
      ["www.example.com A", "missing value for the A record"],
      ["www.example.com 60 TXT", "missing value for the TXT record"],
      ["www.example.com 192.0.2.256", 'invalid IPv4 address "192.0.2.256"'],
      ["www.example.com 192.0.2", 'invalid IPv4 address "192.0.2"'],
      ["www.example.com A 192.0.2.01", 'invalid IPv4 address "192.0.2.01"'],
      ["www.example.com A 2001:db8::1", 'invalid IPv4 address "2001:db8::1"'],
      [
        "www.example.com 2001:db8::1::2",
        "invalid IPv6 address " +
        '"2001:db8::1::2"',
      ],
      ["www.example.com AAAA 192.0.2.1", 'invalid IPv6 address "192.0.2.1"'],
      ["www.example.com fe80::1%eth0", 'invalid IPv6 address "fe80::1%eth0"'],
      [
        "www.example.com A 192.0.2.1 192.0.2.2",
        'unexpected "192.0.2.2" ' +
        "after the A value",
      ],
      [
        "www.example.com CNAME a.example.com b",
        'unexpected "b" after the ' +
        "CNAME value",
      ],
      [
        "example.com MX mail.example.com",
        'an MX value is "PREFERENCE ' +
        'exchange", e.g. 10 mail.x.com',
      ],
      [
        "example.com MX 65536 mail.example.com",
        'MX preference "65536" is ' +
        "not an integer from 0 to 65535",
      ],
      [
        "example.com MX -1 mail.example.com",
        'MX preference "-1" is not an ' +
        "integer from 0 to 65535",
      ],
      [
        "example.com MX 10 mail..example.com",
        "invalid name " +
        '"mail..example.com": it has an empty label',
      ],
      ["www.example.com -5 A 192.0.2.1", 'unknown record type "-5"'],
      [
        "www.example.com 2147483648 A 192.0.2.1",
        "TTL 2147483648 exceeds " +
        "2147483647",
      ],
      ["$TTL", "$TTL needs a value, e.g. $TTL 3600"],
      ["$TTL 1h", 'TTL "1h" is not a non-negative integer'],
      ["$TTL 60 120", 'unexpected "120" after $TTL'],
      ["$TTL 99999999999", "TTL 99999999999 exceeds 2147483647"],
      [
        "$ORIGIN example.com",
        'unknown directive "$ORIGIN" ' +
        "(only $TTL is supported)",
      ],
      [
        "*.example.com 192.0.2.1",
        'invalid name "*.example.com": wildcard ' +
        "names are not supported",
      ],
      [
        "www..example.com 192.0.2.1",
        'invalid name "www..example.com": it ' +
        "has an empty label",
      ],
      [". 192.0.2.1", 'invalid name ".": it has no labels'],
      [
        "bad!name.example.com 192.0.2.1",
        "invalid name " +
        '"bad!name.example.com": label "bad!name" may hold only letters, ' +
        'digits, "-" and "_"',
      ],
      [
        `${"a".repeat(64)}.com 192.0.2.1`,
        `invalid name "${"a".repeat(37)}...": label "${
          "a".repeat(37)
        }..." is 64 bytes, the limit is 63`,
      ],
      [
        `${"abcdefgh.".repeat(28)}com 192.0.2.1`,
        `invalid name "${
          "abcdefgh.".repeat(5).slice(0, 37)
        }...": 255 characters, the limit is 253`,
      ],
      ['www.example.com TXT "open', "unterminated quoted string"],
      ['www.example.com TXT "a"b', 'unexpected "b" after a closing quote'],
      ['www.example.com TXT a"b', 'unexpected quote in "a"b"'],
      [
        'www.example.com TXT "a" b',
        "a TXT value mixes quoted and unquoted " +
        "text; quote every string",
      ],
      [
        'www.example.com TXT "a\\n"',
        'unknown escape "\\n" in a quoted ' +
        'string (only \\" and \\\\ are allowed)',
      ],
      [
        `www.example.com TXT "${"x".repeat(256)}"`,
        "a TXT string is 256 " +
        "bytes, the limit is 255 (split it into several quoted strings)",
      ],
      [
        `www.example.com TXT ${"x".repeat(300)}`,
        "a TXT string is 300 " +
        "bytes, the limit is 255 (split it into several quoted strings)",
      ],
      [
        '"www.example.com" 192.0.2.1',
        "quoted strings are only allowed in " +
        "TXT values",
      ],
      [
        'www.example.com A "192.0.2.1"',
        "quoted strings are only allowed in " +
        "TXT values",
      ],
      [
        'www.example.com "A" 192.0.2.1',
        "quoted strings are only allowed in " +
        "TXT values",
      ],
    ];
    for (const [line, reason] of cases) {
      rejects(`${ok}\n${line}\n${ok}`, 3, reason);
    }
  },
});

Deno.test({
  name: "parseTable() rejects @ without an origin",
  permissions: "none",
  fn() {
    assert.throws(() => parseTable("@ 192.0.2.1", "local_dns.txt"), {
      message: 'local_dns.txt:1: "@" needs a zone origin, and this table ' +
        "has none",
    });
    assert.throws(
      () => parseTable("@ 192.0.2.1", "local_dns.txt", { origin: "" }),
      TableError,
    );
  },
});

Deno.test({
  name: "parseTable() rejects a CNAME beside other records, naming both lines",
  permissions: "none",
  fn() {
    rejects(
      "www.example.com 192.0.2.1\n\nWWW.example.com. CNAME other.example.com",
      3,
      'CNAME at "www.example.com" conflicts with the A record on line 1: ' +
        "a CNAME must be the only record at its name (RFC 1034 §3.6.2)",
    );
    rejects(
      "# alias\nwww.example.com CNAME other.example.com\nwww.example.com MX 1 x.example.com",
      3,
      'MX record at "www.example.com" conflicts with the CNAME on line 2: ' +
        "a CNAME must be the only record at its name (RFC 1034 §3.6.2)",
    );
    rejects(
      "www.example.com CNAME a.example.com\nwww.example.com CNAME b.example.com",
      2,
      'CNAME at "www.example.com" conflicts with the CNAME on line 1: ' +
        "a CNAME must be the only record at its name (RFC 1034 §3.6.2)",
    );
  },
});

Deno.test({
  name: "TableError carries file, line and reason",
  permissions: "none",
  fn() {
    const error = new TableError("x.txt", 7, 'unknown record type "MXX"');
    assert.ok(error instanceof Error);
    assert.equal(error.name, "TableError");
    assert.equal(error.message, 'x.txt:7: unknown record type "MXX"');
    assert.equal(error.file, "x.txt");
    assert.equal(error.line, 7);
    assert.equal(error.reason, 'unknown record type "MXX"');
  },
});

Deno.test({
  name: "validateName() returns the canonical name or throws RangeError",
  permissions: "none",
  fn() {
    assert.equal(validateName("WWW.Example.COM."), "www.example.com");
    assert.equal(validateName("com"), "com");
    assert.throws(() => validateName(""), RangeError);
    assert.throws(() => validateName("a b.com"), RangeError);
    assert.throws(() => validateName("ex\u00e4mple.com"), RangeError);
  },
});

// ---- Properties ----

const labelArb = fc.stringMatching(/^[a-z0-9_-]{1,12}$/);
const nameArb = fc.array(labelArb, { minLength: 1, maxLength: 4 }).map((
  labels,
) => labels.join("."));
const v4Arb = fc.ipV4();
const lineArb = fc.oneof(
  fc.tuple(nameArb, v4Arb).map(([name, address]) => `${name} ${address}`),
  fc.tuple(nameArb, fc.ipV6()).map(([name, address]) =>
    `${name} 60 AAAA ${address}`
  ),
  fc.tuple(nameArb, fc.nat(65535), nameArb).map(([name, pref, exchange]) =>
    `${name} MX ${pref} ${exchange}`
  ),
  fc.tuple(nameArb, fc.string({ maxLength: 20 })).map(([name, text]) =>
    `${name} TXT "${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`
  ),
);

Deno.test({
  name: "parseTable() reads back any table of valid lines",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 20 }), (lines) => {
        const table = parseTable(lines.join("\n"), FILE);
        let count = 0;
        for (const [name, list] of table.records) {
          assert.equal(name, name.toLowerCase());
          for (const record of list) {
            assert.equal(record.name, name);
            assert.equal(record.data.type, record.type);
            const line = table.lines.get(record) ?? 0;
            assert.ok(line >= 1 && line <= lines.length);
            count++;
          }
        }
        assert.equal(count, table.size);
        assert.ok(table.size <= lines.length);
      }),
    );
  },
});

Deno.test({
  name: "parseTable() throws nothing but TableError on arbitrary text",
  permissions: "none",
  fn() {
    const pieces = fc.constantFrom(
      " ",
      "\t",
      "\n",
      "#",
      '"',
      "\\",
      "@",
      "$TTL",
      "A",
      "TXT",
      "CNAME",
      "MX",
      "10",
      "192.0.2.1",
      "::1",
      "x.example.com",
      ".",
      "*",
      "é",
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(pieces, fc.string()), { maxLength: 30 }),
        fc.boolean(),
        (parts, withOrigin) => {
          try {
            parseTable(
              parts.join(""),
              FILE,
              withOrigin ? { origin: "example.com" } : {},
            );
          } catch (error) {
            assert.ok(error instanceof TableError, String(error));
            assert.match(
              error.message,
              /^testdata\/dns\/global_com_dns\.txt:\d+: /,
            );
          }
        },
      ),
    );
  },
});
