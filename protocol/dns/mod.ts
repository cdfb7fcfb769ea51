/**
 * The DNS wire codec (RFC 1035, RFC 3596 AAAA, RFC 6891 EDNS(0), RFC 7766
 * TCP framing) of socklab's DNS servers and client, so that `dig` can talk
 * to them: messages decoded strictly with limits and encoded with name
 * compression and truncation, TCP framing, names, addresses and code
 * points. Pure: nothing here touches sockets, files or clocks.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage, maxUdpResponseSize, RCODE } from "./mod.ts";
 * const query = decodeMessage(packet); // throws DnsFormatError on bad input
 * const { bytes } = encodeMessage(
 *   { ...query, flags: { ...query.flags, qr: true, rcode: RCODE.NXDOMAIN } },
 *   { maxSize: maxUdpResponseSize(query) },
 * );
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./address.ts";
export * from "./name.ts";
export * from "./message.ts";
export * from "./tcp.ts";
