/**
 * `socklab --role dissector`: prints a Wireshark Lua dissector for the TLV
 * protocol, generated from the registry the codec uses, so it cannot name
 * a message or field differently from the program that sent it.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import { printLine } from "../../lib/log.ts";
import { VERSION } from "../../lib/version.ts";
import {
  DEFAULT_DISSECTOR_PORTS,
  renderWiresharkDissector,
} from "../../protocol/tlv/wireshark_lua.ts";
import type { Role } from "../role.ts";

/**
 * Parses `--ports 7000,9000-9002`: ports and inclusive ranges.
 *
 * @throws {UsageError} For anything but ports 1–65535 and ranges of them.
 *
 * @example
 * ```ts
 * parsePorts("9000,9100-9102"); // [9000, 9100, 9101, 9102]
 * ```
 */
export function parsePorts(text: string): number[] {
  const ports: number[] = [];
  const port = (s: string) => {
    const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
    if (!(n >= 1 && n <= 65535)) {
      throw new UsageError(
        `--ports takes ports 1 to 65535 and ranges like 9000-9010, not "${s}"`,
      );
    }
    return n;
  };
  for (const part of text.split(",")) {
    const [from, to, extra] = part.trim().split("-");
    if (extra !== undefined) port(part);
    const low = port(from ?? "");
    const high = to === undefined ? low : port(to);
    if (high < low || high - low > 1000) {
      throw new UsageError(
        `--ports range "${part}" must go upwards and span at most 1000 ports`,
      );
    }
    for (let p = low; p <= high; p++) ports.push(p);
  }
  return ports;
}

/** The dissector role. */
export const dissectorRole: Role = {
  name: "dissector",
  summary:
    "print a Wireshark Lua dissector for the TLV protocol, made from its registry",
  kind: "tool",
  files: "none",
  network: false,
  flags: [
    {
      name: "ports",
      type: "string",
      doc: "TCP and UDP ports Wireshark decodes as socklab by default",
      default: DEFAULT_DISSECTOR_PORTS.join(","),
      value: "LIST",
    },
  ],
  details: () =>
    [
      "Wireshark then names every message type, field and error code, shows",
      "groups as subtrees and errors as expert info, reassembles frames over",
      "TCP segments, and opens --pcap-out captures as they are. Other ports:",
      "Preferences > Protocols > SOCKLAB, or Analyze > Decode As.",
    ].join("\n"),
  examples: [
    "socklab --role dissector > socklab.lua",
    "wireshark -X lua_script:socklab.lua -r calc.pcapng   # a --pcap-out capture",
    "tshark -X lua_script:socklab.lua -i lo -f 'tcp port 9000' -V",
    "socklab --role dissector > ~/.local/lib/wireshark/plugins/socklab.lua",
  ],
  run(ctx) {
    const ports = parsePorts(
      ctx.flags.string("ports") ?? DEFAULT_DISSECTOR_PORTS.join(","),
    );
    printLine(
      renderWiresharkDissector({ ports, generator: `socklab ${VERSION}` })
        .trimEnd(),
    );
    return Promise.resolve(0);
  },
};
