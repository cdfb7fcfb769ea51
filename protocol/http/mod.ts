/**
 * The HTTP/1.1 wire codec (RFC 9112, RFC 9110) of socklab's web server:
 * request heads parsed incrementally with limits, body framing, the chunked
 * decoder, response heads, HTTP dates, ranges, conditional requests and
 * media types. Pure: nothing here touches sockets, files or clocks.
 *
 * @example
 * ```ts
 * import { bodyFraming, formatResponseHead, parseRequestHead } from "./mod.ts";
 * const parsed = parseRequestHead(buffer, 0); // undefined: read more bytes
 * if (parsed !== undefined) {
 *   const framing = bodyFraming(parsed.head); // { kind: "none" } for a GET
 *   const reply = formatResponseHead(204, [["Server", "socklab"]]);
 * }
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./request.ts";
export * from "./chunked.ts";
export * from "./response.ts";
export * from "./range.ts";
export * from "./conditional.ts";
export * from "./mime.ts";
