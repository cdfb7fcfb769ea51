/**
 * Connecting to a TLS server by the SHA-256 of its certificate instead of
 * a CA (`--pin`, for a server started with `--tls-self-signed`): a first
 * handshake fetches the certificate without trusting it, its fingerprint
 * is compared with the pin, and only then is the real connection made,
 * trusting exactly that certificate — a server with another key cannot
 * pass the second handshake.
 *
 * @module
 */

import tls from "node:tls";
import { pem } from "../protocol/der.ts";
import { fingerprintOf, normalizeFingerprint } from "./self_signed.ts";

/** The server's certificate did not match the pin, or could not be read. */
export class PinError extends Error {
  /** What went wrong. */
  readonly code: "mismatch" | "bad_pin" | "no_certificate";

  /** Creates the error. */
  constructor(code: PinError["code"], message: string) {
    super(message);
    this.name = "PinError";
    this.code = code;
  }
}

/**
 * The PEM certificate the server at `hostname:port` presents, after
 * checking its SHA-256 against `pin`.
 *
 * @throws {PinError} on a mismatch or a malformed pin.
 *
 * @example
 * ```ts
 * const cert = await pinnedCertificate("127.0.0.1", 9443, "AB:CD:…");
 * await Deno.connectTls({ hostname: "127.0.0.1", port: 9443, caCerts: [cert] });
 * ```
 */
export async function pinnedCertificate(
  hostname: string,
  port: number,
  pin: string,
  signal?: AbortSignal,
): Promise<string> {
  const want = normalizeFingerprint(pin);
  if (want === undefined) {
    throw new PinError(
      "bad_pin",
      `--pin ${pin} is not a SHA-256 fingerprint (64 hex digits, colons allowed)`,
    );
  }
  const der = await peerCertificate(hostname, port, signal);
  const got = await fingerprintOf(der);
  if (got !== want) {
    throw new PinError(
      "mismatch",
      `the certificate of ${hostname}:${port} has SHA-256 ${got}, not the pinned ${want}: refusing to connect`,
    );
  }
  return pem("CERTIFICATE", der);
}

/** The DER certificate the server presents, not checked against anything. */
function peerCertificate(
  hostname: string,
  port: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: hostname,
      port,
      // Checked by fingerprint instead, before anything is sent.
      rejectUnauthorized: false,
      servername: /^[\d.]+$|:/.test(hostname) ? undefined : hostname,
    });
    const abort = () => {
      socket.destroy();
      reject(signal?.reason ?? new Error("aborted"));
    };
    signal?.addEventListener("abort", abort, { once: true });
    socket.once("secureConnect", () => {
      signal?.removeEventListener("abort", abort);
      const raw = socket.getPeerCertificate(true)?.raw;
      socket.destroy();
      if (raw === undefined || raw.length === 0) {
        reject(
          new PinError(
            "no_certificate",
            `${hostname}:${port} presented no certificate`,
          ),
        );
      } else resolve(new Uint8Array(raw));
    });
    socket.once("error", (error: Error) => {
      signal?.removeEventListener("abort", abort);
      socket.destroy();
      reject(error);
    });
  });
}
