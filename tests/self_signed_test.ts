/**
 * The throwaway certificate of `--tls-self-signed`: openssl reads it as an
 * X.509 v3 certificate for the asked names, its fingerprint is the one
 * openssl computes, and Deno's TLS accepts it when pinned.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createSelfSigned, normalizeFingerprint } from "../lib/self_signed.ts";
import { pinnedCertificate } from "../lib/tls_pin.ts";

async function openssl(args: string[], input: string): Promise<string> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("createSelfSigned() makes a certificate openssl reads, for the names asked, with openssl's fingerprint", async () => {
  const made = await createSelfSigned({
    hosts: ["localhost", "127.0.0.1", "::1", "lab.example"],
  });
  const text = await openssl(["x509", "-noout", "-text"], made.cert);
  assert.match(text, /Version: 3/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(
    text,
    /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, DNS:lab\.example/,
  );
  assert.match(text, /CA:FALSE/);
  assert.match(text, /TLS Web Server Authentication/);
  const fp = await openssl(
    ["x509", "-noout", "-fingerprint", "-sha256"],
    made.cert,
  );
  assert.equal(fp.trim().split("=")[1], made.fingerprint);
  // The key matches the certificate.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "cert.pem"), made.cert);
    const verified = await openssl([
      "verify",
      "-CAfile",
      join(dir, "cert.pem"),
      join(dir, "cert.pem"),
    ], "");
    assert.match(verified, /OK/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("normalizeFingerprint() accepts the ways people type one, and nothing else", () => {
  const canonical = Array.from(
    { length: 32 },
    (_, i) => (i * 7 % 256).toString(16).padStart(2, "0").toUpperCase(),
  ).join(":");
  const bare = canonical.replaceAll(":", "");
  for (
    const typed of [
      canonical,
      canonical.toLowerCase(),
      bare,
      `sha256/${bare}`,
      `SHA256:${canonical}`,
    ]
  ) {
    assert.equal(normalizeFingerprint(typed), canonical, typed);
  }
  for (
    const bad of ["", "abc", bare.slice(2), `${bare}00`, bare.replace("0", "g")]
  ) {
    assert.equal(normalizeFingerprint(bad), undefined, bad);
  }
});

Deno.test("pinnedCertificate() returns the certificate that matches, and refuses another", async () => {
  const made = await createSelfSigned();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: made.cert,
    key: made.key,
  });
  const serving = (async () => {
    for await (const conn of listener) {
      conn.handshake().catch(() => {}).finally(() => conn.close());
    }
  })();
  try {
    const pem = await pinnedCertificate(
      "127.0.0.1",
      listener.addr.port,
      made.fingerprint,
    );
    assert.equal(pem.replace(/\s/g, ""), made.cert.replace(/\s/g, ""));
    const other = await createSelfSigned();
    await assert.rejects(
      pinnedCertificate("127.0.0.1", listener.addr.port, other.fingerprint),
      /not the pinned/,
    );
    await assert.rejects(
      pinnedCertificate("127.0.0.1", listener.addr.port, "xyz"),
      /not a SHA-256 fingerprint/,
    );
  } finally {
    listener.close();
    await serving;
  }
});
