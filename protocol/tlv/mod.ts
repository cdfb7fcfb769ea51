/**
 * The socklab TLV protocol: registry, frame codec, message codec, streaming
 * reader and trace rendering. Pure: nothing here touches sockets or files.
 *
 * @example
 * ```ts
 * import { decodeFrame, decodeMessage, encodeMessage } from "./mod.ts";
 * const bytes = encodeMessage("calc_request", { id: 1, expression: "2^10" });
 * const { frame } = decodeFrame(bytes, 0)!;
 * decodeMessage(frame); // { type: "calc_request", fields: { id: 1, expression: "2^10" } }
 * ```
 *
 * @module
 */

export * from "./registry.ts";
export * from "./frame.ts";
export * from "./message.ts";
export * from "./frame_reader.ts";
export * from "./describe.ts";
export * from "./protocol_error.ts";
