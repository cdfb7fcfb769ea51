import assert from "node:assert/strict";
import {
  className,
  RCODE,
  rcodeName,
  RR_TYPE,
  typeFromName,
  typeName,
} from "./constants.ts";

Deno.test({
  name: "typeName() names every known type and others TYPE<n>",
  permissions: "none",
  fn() {
    for (const [name, code] of Object.entries(RR_TYPE)) {
      assert.equal(typeName(code), name);
    }
    assert.equal(typeName(65), "TYPE65");
    assert.equal(typeName(0), "TYPE0");
    assert.equal(typeName(65535), "TYPE65535");
  },
});

Deno.test({
  name: "typeFromName() reads mnemonics in any case and TYPE<n>",
  permissions: "none",
  fn() {
    assert.equal(typeFromName("A"), 1);
    assert.equal(typeFromName("aaaa"), 28);
    assert.equal(typeFromName("Mx"), 15);
    assert.equal(typeFromName("TYPE65"), 65);
    assert.equal(typeFromName("type1"), 1);
    assert.equal(typeFromName("TYPE65535"), 65535);
    for (const [name, code] of Object.entries(RR_TYPE)) {
      assert.equal(typeFromName(typeName(code)), code, name);
    }
  },
});

Deno.test({
  name: "typeFromName() returns undefined for unknown names",
  permissions: "none",
  fn() {
    for (
      const name of [
        "",
        "SPF",
        "TYPE",
        "TYPE65536",
        "TYPE-1",
        "TYPE 1",
        "TYPE123456",
        "toString",
        "constructor",
      ]
    ) {
      assert.equal(typeFromName(name), undefined, name);
    }
  },
});

Deno.test({
  name: "rcodeName() names the codes dig prints and others RCODE<n>",
  permissions: "none",
  fn() {
    assert.equal(rcodeName(RCODE.NOERROR), "NOERROR");
    assert.equal(rcodeName(RCODE.FORMERR), "FORMERR");
    assert.equal(rcodeName(RCODE.SERVFAIL), "SERVFAIL");
    assert.equal(rcodeName(RCODE.NXDOMAIN), "NXDOMAIN");
    assert.equal(rcodeName(RCODE.NOTIMP), "NOTIMP");
    assert.equal(rcodeName(RCODE.REFUSED), "REFUSED");
    assert.equal(rcodeName(16), "BADVERS");
    assert.equal(rcodeName(23), "RCODE23");
  },
});

Deno.test({
  name: "className() names the classes and others CLASS<n>",
  permissions: "none",
  fn() {
    assert.equal(className(1), "IN");
    assert.equal(className(3), "CH");
    assert.equal(className(255), "ANY");
    assert.equal(className(42), "CLASS42");
  },
});
