import assert from "node:assert/strict";
import { ERRORS, FIELDS, MESSAGES } from "./registry.ts";
import {
  DissectorNameError,
  type DissectorRegistry,
  renderWiresharkDissector,
} from "./wireshark_lua.ts";

const KIND_CONSTRUCTOR = {
  u8: "uint8",
  u16: "uint16",
  u32: "uint32",
  u64: "uint64",
  f64: "double",
  bool: "bool",
  string: "string",
  bytes: "bytes",
  group: "none",
} as const;

Deno.test({
  name:
    "renderWiresharkDissector() names every message, field and error code of the registry",
  permissions: "none",
  fn() {
    const lua = renderWiresharkDissector();
    for (const [name, spec] of Object.entries(MESSAGES)) {
      const code = `0x${spec.code.toString(16).padStart(4, "0")}`;
      assert.ok(lua.includes(`[${code}] = "${name}",`), name);
    }
    for (const [name, spec] of Object.entries(FIELDS)) {
      const ctor = KIND_CONSTRUCTOR[spec.kind];
      assert.ok(
        lua.includes(`ProtoField.${ctor}("socklab.${name}", "${name}"`),
        `${name} is a ProtoField.${ctor}`,
      );
      const secret = "secret" in spec && spec.secret === true;
      assert.ok(
        lua.includes(
          `name = "${name}",\n    kind = "${spec.kind}",\n    secret = ${secret},`,
        ),
        `${name} entry`,
      );
    }
    for (const [name, spec] of Object.entries(ERRORS)) {
      assert.ok(lua.includes(`[${spec.code}] = "${name}",`), name);
    }
    assert.match(
      lua,
      /ProtoField\.uint16\("socklab\.code", "code", base\.DEC, ERROR_NAMES/,
    );
    assert.match(
      lua,
      /dissect_tcp_pdus\(tvb, tree, HEADER_LENGTH, frame_length/,
    );
    assert.match(
      lua,
      /DissectorTable\.get\("wtap_encap"\):add\(encaps\.USER0, capture\)/,
    );
    assert.match(lua, /add_for_decode_as\(socklab\)/);
  },
});

Deno.test({
  name:
    "renderWiresharkDissector() writes the port preference as ranges and is the same every time",
  permissions: "none",
  fn() {
    const lua = renderWiresharkDissector({
      ports: [9002, 9000, 9001, 7000, 9000],
    });
    assert.match(lua, /local DEFAULT_PORTS = "7000,9000-9002"/);
    assert.equal(renderWiresharkDissector(), renderWiresharkDissector());
    assert.throws(() => renderWiresharkDissector({ ports: [0] }), RangeError);
  },
});

Deno.test({
  name: "renderWiresharkDissector() escapes docs into Lua strings",
  permissions: "none",
  fn() {
    const registry: DissectorRegistry = {
      messages: { note: { code: 1, service: "core", doc: "x", fields: {} } },
      fields: {
        text: { tag: 1, kind: "string", doc: 'say "hi" \\ bye\nnext' },
      },
      errors: {},
    };
    const lua = renderWiresharkDissector({ registry });
    assert.ok(lua.includes('"say \\"hi\\" \\\\ bye\\nnext"'));
  },
});

Deno.test({
  name:
    "renderWiresharkDissector() refuses names that are not filter names or clash with its own, and a wrong container bit",
  permissions: "none",
  fn() {
    const base: DissectorRegistry = { messages: {}, fields: {}, errors: {} };
    for (
      const fields of [
        { frame: { tag: 1, kind: "u8", doc: "" } },
        { "Bad-Name": { tag: 1, kind: "u8", doc: "" } },
        { grouped: { tag: 2, kind: "group", doc: "", fields: {} } },
        { flat: { tag: 0x8002, kind: "u8", doc: "" } },
      ] as const
    ) {
      assert.throws(
        () => renderWiresharkDissector({ registry: { ...base, fields } }),
        DissectorNameError,
      );
    }
  },
});
