/**
 * `--trace`: every frame sent and received, decoded, on stderr.
 * `--trace=hex` adds a hex dump of the frame's bytes. The same call also
 * feeds `--pcap-out` (a {@linkcode FrameCapture}), so every place that
 * traces a frame captures it too.
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
 * Where a frame travelled: the transport and both socket addresses, for
 * captures (`--trace` needs only the peer text).
 */
export interface FrameRoute {
  readonly transport: "tcp" | "udp" | "tls";
  /** This end's address; unknown for some sockets. */
  readonly local: Deno.Addr | undefined;
  readonly remote: Deno.Addr;
}

/** Receives every traced frame, e.g. the `--pcap-out` writer. */
export interface FrameCapture {
  /** Records one whole frame; must copy what it keeps. */
  frame(
    direction: "send" | "recv",
    peer: string,
    bytes: Uint8Array,
    route: FrameRoute | undefined,
  ): void;
}

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
  /** What is printed; `undefined` when the tracer only captures. */
  readonly mode: TraceMode | undefined;
  #sink: LogSink;
  #capture: FrameCapture | undefined;

  /**
   * Creates a tracer printing to `sink` (stderr by default) in `mode`, and
   * handing every frame to `options.capture` when given.
   */
  constructor(
    mode: TraceMode | undefined,
    sink: LogSink = stderrSink,
    options: { capture?: FrameCapture | undefined } = {},
  ) {
    this.mode = mode;
    this.#sink = sink;
    this.#capture = options.capture;
  }

  /**
   * Prints (and captures) one whole frame, header included. `route` gives
   * a capture the addresses and transport; without it the peer text is all
   * it has.
   */
  frame(
    direction: "send" | "recv",
    peer: string,
    bytes: Uint8Array,
    route?: FrameRoute,
  ): void {
    this.#capture?.frame(direction, peer, bytes, route);
    if (this.mode === undefined) return;
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
