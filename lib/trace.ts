/**
 * `--trace`: every frame sent and received, decoded, on stderr.
 * `--trace=hex` adds a hex dump of the frame's bytes.
 *
 * @module
 */

import {
  describeFrame,
  hexDump,
  redactSecrets,
} from "../protocol/tlv/describe.ts";
import { HEADER_LENGTH } from "../protocol/tlv/registry.ts";
import type { LogSink } from "./log.ts";
import { stderrSink } from "./log.ts";

/** What `--trace` prints. */
export type TraceMode = "frames" | "hex";

/**
 * Prints frames as they cross a connection.
 *
 * @example
 * ```ts
 * const tracer = new Tracer("frames");
 * tracer.frame("send", "127.0.0.1:4000", bytes);
 * // → 127.0.0.1:4000 calc_request id=1 expression="1+2"
 * ```
 */
export class Tracer {
  readonly mode: TraceMode;
  #sink: LogSink;

  /** Creates a tracer writing to `sink` (stderr by default). */
  constructor(mode: TraceMode, sink: LogSink = stderrSink) {
    this.mode = mode;
    this.#sink = sink;
  }

  /** Prints one whole frame (header included). */
  frame(direction: "send" | "recv", peer: string, bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const type = view.getUint16(0);
    const body = bytes.subarray(HEADER_LENGTH);
    const arrow = direction === "send" ? "→" : "←";
    let line = `${arrow} ${peer} ${describeFrame(type, body)}`;
    if (this.mode === "hex") line += "\n" + hexDump(redactSecrets(bytes));
    this.#sink(line);
  }
}

/**
 * Parses the value of `--trace`: absent → undefined, bare or "frames" →
 * frames, "hex" → hex. Anything else is a usage error (returns a message).
 */
export function parseTraceMode(
  value: string | boolean | undefined,
): TraceMode | undefined | { error: string } {
  if (value === undefined || value === false) return undefined;
  if (value === true || value === "" || value === "frames") return "frames";
  if (value === "hex") return "hex";
  return { error: `--trace takes no value or "hex", not "${value}"` };
}
