/**
 * A Wireshark dissector for the TLV protocol, written in Lua and generated
 * from the registry, so it names exactly the messages, fields and error
 * codes the codec knows. `socklab --role dissector` prints it.
 *
 * What the Lua does: one ProtoField per registry field (by kind; groups are
 * subtrees), message types and error codes named through value strings, an
 * expert item on every error frame, secrets shown as `***`, TCP reassembly
 * with `dissect_tcp_pdus` over the 6-byte header (a frame split over many
 * segments, many frames in one segment), one frame per UDP datagram, a
 * port preference plus "Decode As", and the `--pcap-out` link type (USER0)
 * with its pseudo-header. Pure: text in, text out.
 *
 * @module
 */

import {
  DIRECTION_CODES,
  PSEUDO_HEADER_LENGTH,
  PSEUDO_HEADER_VERSION,
  TRANSPORT_CODES,
} from "../pcap/pseudo_header.ts";
import { DEFAULT_LIMITS } from "./frame.ts";
import {
  CONTAINER_BIT,
  ERRORS,
  FIELDS,
  type FieldSpec,
  HEADER_LENGTH,
  MESSAGES,
  type MessageSpec,
  PROTOCOL_VERSION,
} from "./registry.ts";

/**
 * TCP and UDP ports the dissector claims unless told otherwise: those the
 * README's examples use (chat 6000, echo 7000, calc and the UDP pinger
 * 9000, the video servers 9100 and 9200, time 9300).
 */
export const DEFAULT_DISSECTOR_PORTS: readonly number[] = [
  6000,
  7000,
  9000,
  9100,
  9200,
  9300,
];

/** The tables a dissector is generated from; the registry by default. */
export interface DissectorRegistry {
  readonly messages: Readonly<Record<string, MessageSpec>>;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly errors: Readonly<Record<string, { code: number; doc: string }>>;
}

/** Options for {@linkcode renderWiresharkDissector}. */
export interface DissectorOptions {
  /** Default of the port preference. {@linkcode DEFAULT_DISSECTOR_PORTS}. */
  readonly ports?: readonly number[];
  /** Names the generator in the header comment, e.g. "socklab 0.1.0". */
  readonly generator?: string;
  /** Another registry (tests); the protocol's own by default. */
  readonly registry?: DissectorRegistry;
}

/** A field or message name that cannot become a Wireshark filter name. */
export class DissectorNameError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DissectorNameError";
  }
}

/** Filter names under `socklab.` the dissector uses for itself. */
const RESERVED = new Set(["frame", "field", "expert"]);

/** A Lua string literal. */
function lua(text: string): string {
  return `"${
    text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
      .replace(/\r/g, "\\r")
  }"`;
}

function hex(n: number, digits = 4): string {
  return `0x${n.toString(16).padStart(digits, "0")}`;
}

/** The ProtoField constructor call for one registry field. */
function protoField(name: string, spec: FieldSpec): string {
  const abbr = lua(`socklab.${name}`);
  const label = lua(name);
  const doc = lua(spec.doc);
  switch (spec.kind) {
    case "u8":
    case "u16":
    case "u32":
    case "u64": {
      const bits = { u8: 8, u16: 16, u32: 32, u64: 64 }[spec.kind];
      // The error code is named like --trace names it.
      const names = name === "code" ? "ERROR_NAMES" : "nil";
      return `ProtoField.uint${bits}(${abbr}, ${label}, base.DEC, ${names}, nil, ${doc})`;
    }
    case "f64":
      return `ProtoField.double(${abbr}, ${label}, ${doc})`;
    case "bool":
      return `ProtoField.bool(${abbr}, ${label}, base.NONE, nil, nil, ${doc})`;
    case "string":
      return `ProtoField.string(${abbr}, ${label}, base.UNICODE, ${doc})`;
    case "bytes":
      return `ProtoField.bytes(${abbr}, ${label}, base.NONE, ${doc})`;
    case "group":
      return `ProtoField.none(${abbr}, ${label}, ${doc})`;
  }
}

function checkName(what: string, name: string): void {
  if (!/^[a-z][a-z0-9_]*$/.test(name) || RESERVED.has(name)) {
    throw new DissectorNameError(
      `Cannot generate the dissector: ${what} name "${name}" is not a ` +
        `lowercase identifier free for socklab.${name}`,
    );
  }
}

/** Comma-separated, as Wireshark's range preferences write it. */
function portList(ports: readonly number[]): string {
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`Cannot use port ${port}: not 1 to 65535`);
    }
  }
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

function tables(registry: DissectorRegistry): string {
  const messages = Object.entries(registry.messages)
    .sort(([, a], [, b]) => a.code - b.code)
    .map(([name, spec]) => {
      checkName("message", name);
      return `  [${hex(spec.code)}] = ${lua(name)}, -- ${spec.service}`;
    });
  const errors = Object.entries(registry.errors)
    .sort(([, a], [, b]) => a.code - b.code)
    .map(([name, spec]) => `  [${spec.code}] = ${lua(name)},`);
  const fields = Object.entries(registry.fields)
    .sort(([, a], [, b]) => a.tag - b.tag)
    .map(([name, spec]) => {
      checkName("field", name);
      const group = (spec.tag & CONTAINER_BIT) !== 0;
      if (group !== (spec.kind === "group")) {
        throw new DissectorNameError(
          `Cannot generate the dissector: field "${name}" has tag ` +
            `${hex(spec.tag)}, but groups and only groups have bit ` +
            `${hex(CONTAINER_BIT)} set`,
        );
      }
      return [
        `  [${hex(spec.tag)}] = {`,
        `    name = ${lua(name)},`,
        `    kind = ${lua(spec.kind)},`,
        `    secret = ${spec.secret === true},`,
        `    pf = ${protoField(name, spec)},`,
        `  },`,
      ].join("\n");
    });
  return [
    "-- Message types, by wire code.",
    "local MESSAGE_NAMES = {",
    ...messages,
    "}",
    "",
    "-- Error codes carried in the code field of error frames.",
    "local ERROR_NAMES = {",
    ...errors,
    "}",
    "",
    "-- Every field, by tag: tags are global, a tag means the same field in",
    "-- every message and group.",
    "local FIELDS = {",
    ...fields,
    "}",
  ].join("\n");
}

function codeTable(name: string, codes: Record<string, number>): string {
  const rows = Object.entries(codes).map(([label, code]) =>
    `  [${code}] = ${lua(label)},`
  );
  return [`local ${name} = {`, ...rows, "}"].join("\n");
}

/**
 * The Lua source of the dissector.
 *
 * @throws {DissectorNameError} When a registry name cannot be a filter
 *   name, or a field's container bit disagrees with its kind.
 * @throws {RangeError} For a port outside 1–65535.
 *
 * @example
 * ```ts
 * const source = renderWiresharkDissector({ ports: [9000] });
 * source.includes('ProtoField.string("socklab.expression"'); // true
 * ```
 */
export function renderWiresharkDissector(
  options: DissectorOptions = {},
): string {
  const registry = options.registry ??
    { messages: MESSAGES, fields: FIELDS, errors: ERRORS };
  const ports = portList(options.ports ?? DEFAULT_DISSECTOR_PORTS);
  const generator = options.generator ?? "socklab";
  const directions = Object.fromEntries(
    Object.entries(DIRECTION_CODES).map((
      [k, v],
    ) => [k === "send" ? "sent" : "received", v]),
  );
  const transports = Object.fromEntries(
    Object.entries(TRANSPORT_CODES).map((
      [k, v],
    ) => [k === "unknown" ? k : k.toUpperCase(), v]),
  );
  return `-- A Wireshark dissector for the socklab TLV protocol (version ${PROTOCOL_VERSION}).
-- Generated by \`socklab --role dissector\` (${generator}) from the protocol
-- registry (protocol/tlv/registry.ts); regenerate it rather than edit it.
--
-- Use it for one run:   wireshark -X lua_script:socklab.lua -r capture.pcapng
--                       tshark -X lua_script:socklab.lua -r capture.pcapng -V
-- Install it for good:  copy it into Wireshark's personal Lua plugins folder
--                       (Help > About Wireshark > Folders), e.g.
--                       ~/.local/lib/wireshark/plugins/socklab.lua
-- Ports:                TCP and UDP ${ports} by default; change them in
--                       Preferences > Protocols > SOCKLAB, or pick "SOCKLAB"
--                       in Analyze > Decode As... for one port.
-- --pcap-out files:     decoded as they are: their link type is USER0
--                       (DLT 147) and each packet starts with a ${PSEUDO_HEADER_LENGTH}-byte
--                       socklab pseudo-header (docs/PROTOCOL.md).
-- Secrets (passwords, session tokens) are shown as ***.

local socklab = Proto("socklab", "socklab TLV protocol")
local capture = Proto("socklab_capture", "socklab capture pseudo-header")

local HEADER_LENGTH = ${HEADER_LENGTH}
local CONTAINER_BIT = ${hex(CONTAINER_BIT)}
local MAX_FRAME_LENGTH = ${DEFAULT_LIMITS.maxFrameLength}
local MAX_DEPTH = ${DEFAULT_LIMITS.maxDepth}
local PSEUDO_HEADER_LENGTH = ${PSEUDO_HEADER_LENGTH}
local PSEUDO_HEADER_VERSION = ${PSEUDO_HEADER_VERSION}
local DEFAULT_PORTS = ${lua(ports)}
local SHOWN_CHARS = 40

${tables(registry)}

local FIXED_SIZE = { u8 = 1, u16 = 2, u32 = 4, u64 = 8, f64 = 8, bool = 1 }

local pf_type = ProtoField.uint16("socklab.frame.type", "Type", base.HEX,
  MESSAGE_NAMES, nil, "Message type of the frame")
local pf_length = ProtoField.uint32("socklab.frame.length", "Length",
  base.DEC, nil, nil, "Bytes in the frame body")
local pf_tag = ProtoField.uint16("socklab.field.tag", "Tag", base.HEX, nil,
  nil, "Tag of a field (0x8000 set: a group)")
local pf_field_length = ProtoField.uint32("socklab.field.length", "Length",
  base.DEC, nil, nil, "Bytes in the field value")
local pf_unknown = ProtoField.bytes("socklab.field.unknown", "Unknown field",
  base.NONE, "A field whose tag is not in the registry, or of the wrong size")

local all_fields = { pf_type, pf_length, pf_tag, pf_field_length, pf_unknown }
for _, spec in pairs(FIELDS) do all_fields[#all_fields + 1] = spec.pf end
socklab.fields = all_fields

local ex_error = ProtoExpert.new("socklab.expert.error", "socklab error frame",
  expert.group.RESPONSE_CODE, expert.severity.WARN)
local ex_malformed = ProtoExpert.new("socklab.expert.malformed",
  "Malformed socklab frame", expert.group.MALFORMED, expert.severity.ERROR)
local ex_unknown = ProtoExpert.new("socklab.expert.unknown",
  "Not in the socklab registry", expert.group.UNDECODED, expert.severity.NOTE)
socklab.experts = { ex_error, ex_malformed, ex_unknown }

-- The pseudo-header of --pcap-out captures.
${codeTable("DIRECTIONS", directions)}
${codeTable("TRANSPORTS", transports)}
local cf_version = ProtoField.uint8("socklab_capture.version", "Version")
local cf_direction = ProtoField.uint8("socklab_capture.direction",
  "Direction", base.DEC, DIRECTIONS, nil,
  "Whether the role that wrote the capture sent or received the frame")
local cf_transport = ProtoField.uint8("socklab_capture.transport",
  "Transport", base.DEC, TRANSPORTS)
local cf_family = ProtoField.uint8("socklab_capture.family", "Address family")
local cf_src_port = ProtoField.uint16("socklab_capture.src_port", "Source port")
local cf_dst_port = ProtoField.uint16("socklab_capture.dst_port",
  "Destination port")
local cf_src_ipv4 = ProtoField.ipv4("socklab_capture.src", "Source")
local cf_dst_ipv4 = ProtoField.ipv4("socklab_capture.dst", "Destination")
local cf_src_ipv6 = ProtoField.ipv6("socklab_capture.src_ipv6", "Source")
local cf_dst_ipv6 = ProtoField.ipv6("socklab_capture.dst_ipv6", "Destination")
capture.fields = { cf_version, cf_direction, cf_transport, cf_family,
  cf_src_port, cf_dst_port, cf_src_ipv4, cf_dst_ipv4, cf_src_ipv6,
  cf_dst_ipv6 }

-- Info column: the frames of one packet, joined.
local frames_in_packet = 0

local function quoted(text)
  if #text > SHOWN_CHARS then text = text:sub(1, SHOWN_CHARS) .. "..." end
  local escaped = text:gsub('[%c"\\\\]', function(c)
    return string.format("\\\\x%02x", c:byte())
  end)
  return '"' .. escaped .. '"'
end

-- A double as JavaScript prints it: the shortest text that reads back.
local function number_text(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "Infinity" end
  if v == -math.huge then return "-Infinity" end
  for digits = 1, 17 do
    local text = string.format("%." .. digits .. "g", v)
    if tonumber(text) == v then return text end
  end
  return tostring(v)
end

-- The value of a scalar field for the Info column, as --trace shows it.
local function show(spec, range)
  local kind = spec.kind
  if spec.secret then return "***" end
  if kind == "u8" or kind == "u16" or kind == "u32" then
    local v = range:uint()
    if spec.name == "code" and ERROR_NAMES[v] then
      return v .. "(" .. ERROR_NAMES[v] .. ")"
    end
    return tostring(v)
  elseif kind == "u64" then
    return tostring(range:uint64())
  elseif kind == "f64" then
    return number_text(range:float())
  elseif kind == "bool" then
    return tostring(range:uint() ~= 0)
  elseif kind == "string" then
    return quoted(range:string(ENC_UTF_8))
  end
  return "<" .. range:len() .. " bytes>"
end

-- Adds the fields in tvb[offset, stop) to tree. Top-level values are kept
-- in values (the error frame's code and message); the Info text of each
-- field goes to parts. Returns false when the fields are malformed.
local function dissect_fields(tvb, tree, offset, stop, depth, parts, values)
  while offset < stop do
    if stop - offset < HEADER_LENGTH then
      tree:add_tvb_expert_info(ex_malformed, tvb(offset, stop - offset),
        "Field header cut short: " .. (stop - offset) .. " bytes left")
      return false
    end
    local tag = tvb(offset, 2):uint()
    local length = tvb(offset + 2, 4):uint()
    if length > stop - offset - HEADER_LENGTH then
      tree:add_tvb_expert_info(ex_malformed, tvb(offset, stop - offset),
        string.format("Field 0x%04x: length %d runs past its frame or group",
          tag, length))
      return false
    end
    local whole = tvb(offset, HEADER_LENGTH + length)
    local value = tvb(offset + HEADER_LENGTH, length)
    local spec = FIELDS[tag]
    local item
    if spec == nil then
      item = tree:add(pf_unknown, value)
      item:set_text(string.format("Unknown field 0x%04x (%d bytes)", tag,
        length))
      item:add_proto_expert_info(ex_unknown,
        string.format("Field tag 0x%04x is not in the registry", tag))
      parts[#parts + 1] = string.format("0x%04x=<%d bytes>", tag, length)
    elseif spec.kind == "group" then
      item = tree:add(spec.pf, whole)
      item:add(pf_tag, tvb(offset, 2))
      item:add(pf_field_length, tvb(offset + 2, 4))
      local inner = {}
      if depth >= MAX_DEPTH then
        item:add_proto_expert_info(ex_malformed,
          "Groups nested deeper than " .. MAX_DEPTH)
      else
        dissect_fields(tvb, item, offset + HEADER_LENGTH,
          offset + HEADER_LENGTH + length, depth + 1, inner, {})
      end
      parts[#parts + 1] = spec.name .. "{" .. table.concat(inner, " ") .. "}"
    else
      local size = FIXED_SIZE[spec.kind]
      if size ~= nil and length ~= size then
        item = tree:add(pf_unknown, value)
        item:set_text(string.format("%s: %d bytes, a %s is %d", spec.name,
          length, spec.kind, size))
        item:add_proto_expert_info(ex_malformed, string.format(
          "bad_message: field %s has %d bytes, not %d", spec.name, length,
          size))
        parts[#parts + 1] = spec.name .. "=<" .. length .. " bytes>"
      else
        if spec.secret then
          item = tree:add(spec.pf, value, "***")
          item:set_text(spec.name .. ": ***")
        elseif spec.kind == "string" then
          item = tree:add_packet_field(spec.pf, value, ENC_UTF_8)
        else
          item = tree:add(spec.pf, value)
        end
        parts[#parts + 1] = spec.name .. "=" .. show(spec, value)
        if depth == 1 and length > 0 and not spec.secret then
          if spec.kind == "string" then
            values[spec.name] = value:string(ENC_UTF_8)
          elseif size ~= nil and size <= 4 then
            values[spec.name] = value:uint()
          end
        end
      end
      item:add(pf_tag, tvb(offset, 2))
      item:add(pf_field_length, tvb(offset + 2, 4))
    end
    offset = offset + HEADER_LENGTH + length
  end
  return true
end

-- One whole frame, at the start of tvb (a PDU from TCP, a UDP datagram, or
-- the frame after a capture's pseudo-header).
local function dissect_frame(tvb, pinfo, tree)
  local available = tvb:len()
  local ti = tree:add(socklab, tvb(0, available))
  if available < HEADER_LENGTH then
    ti:add_proto_expert_info(ex_malformed, "Frame header cut short")
    return available
  end
  local type = tvb(0, 2):uint()
  local length = tvb(2, 4):uint()
  ti:add(pf_type, tvb(0, 2))
  ti:add(pf_length, tvb(2, 4))
  local name = MESSAGE_NAMES[type]
  if type == 0 or type >= CONTAINER_BIT then
    ti:add_proto_expert_info(ex_malformed,
      string.format("Type 0x%04x is not a message type", type))
  elseif name == nil then
    ti:add_proto_expert_info(ex_unknown,
      string.format("Message type 0x%04x is not in the registry", type))
  end
  local stop = HEADER_LENGTH + length
  if stop > available then
    ti:add_proto_expert_info(ex_malformed, string.format(
      "Frame cut short: %d of %d bytes", available, stop))
    stop = available
  end
  local parts, values = {}, {}
  dissect_fields(tvb, ti, HEADER_LENGTH, stop, 1, parts, values)
  local summary = name or string.format("type 0x%04x", type)
  if #parts > 0 then summary = summary .. " " .. table.concat(parts, " ") end
  ti:append_text(", " .. summary)
  if name == "error" then
    local code = values.code
    ti:add_proto_expert_info(ex_error, string.format("Error %s (%s): %s",
      ERROR_NAMES[code] or "unknown", tostring(code),
      values.message or ""))
  end
  pinfo.cols.protocol = "SOCKLAB"
  if frames_in_packet == 0 then
    pinfo.cols.info = summary
  else
    pinfo.cols.info:append(" | " .. summary)
  end
  frames_in_packet = frames_in_packet + 1
  return available
end

-- TCP: how long the frame starting at offset is, from its 6-byte header.
local function frame_length(tvb, pinfo, offset)
  local length = tvb(offset + 2, 4):uint()
  -- Longer than any socklab peer accepts: not worth waiting for; the rest
  -- of the segment is shown as one malformed frame.
  if length > MAX_FRAME_LENGTH then return tvb:len() - offset end
  return HEADER_LENGTH + length
end

local PT_UDP = 3

function socklab.dissector(tvb, pinfo, tree)
  frames_in_packet = 0
  if pinfo.port_type == PT_UDP then
    -- One datagram carries exactly one frame.
    return dissect_frame(tvb, pinfo, tree)
  end
  -- A frame may span segments and a segment may hold many frames.
  dissect_tcp_pdus(tvb, tree, HEADER_LENGTH, frame_length, dissect_frame)
  return tvb:len()
end

function capture.dissector(tvb, pinfo, tree)
  frames_in_packet = 0
  pinfo.cols.protocol = "SOCKLAB"
  local ti = tree:add(capture, tvb(0, math.min(tvb:len(),
    PSEUDO_HEADER_LENGTH)))
  if tvb:len() < PSEUDO_HEADER_LENGTH then
    ti:add_proto_expert_info(ex_malformed, "Pseudo-header cut short")
    return tvb:len()
  end
  local version = tvb(0, 1):uint()
  ti:add(cf_version, tvb(0, 1))
  if version ~= PSEUDO_HEADER_VERSION then
    ti:add_proto_expert_info(ex_malformed, "Pseudo-header version " ..
      version .. ", not " .. PSEUDO_HEADER_VERSION)
    return tvb:len()
  end
  local direction = tvb(1, 1):uint()
  local transport = tvb(2, 1):uint()
  local family = tvb(3, 1):uint()
  ti:add(cf_direction, tvb(1, 1))
  ti:add(cf_transport, tvb(2, 1))
  ti:add(cf_family, tvb(3, 1))
  ti:add(cf_src_port, tvb(4, 2))
  ti:add(cf_dst_port, tvb(6, 2))
  local src, dst
  if family == 6 then
    ti:add(cf_src_ipv6, tvb(8, 16))
    ti:add(cf_dst_ipv6, tvb(24, 16))
    src, dst = tvb(8, 16):ipv6(), tvb(24, 16):ipv6()
  else
    ti:add(cf_src_ipv4, tvb(8, 4))
    ti:add(cf_dst_ipv4, tvb(24, 4))
    src, dst = tvb(8, 4):ipv4(), tvb(24, 4):ipv4()
  end
  pinfo.src, pinfo.dst = src, dst
  pinfo.src_port, pinfo.dst_port = tvb(4, 2):uint(), tvb(6, 2):uint()
  pinfo.p2p_dir = direction
  ti:append_text(string.format(", %s %s, %s:%d -> %s:%d",
    TRANSPORTS[transport] or "?", DIRECTIONS[direction] or "?",
    tostring(src), pinfo.src_port, tostring(dst), pinfo.dst_port))
  if tvb:len() > PSEUDO_HEADER_LENGTH then
    dissect_frame(tvb(PSEUDO_HEADER_LENGTH):tvb(), pinfo, tree)
  end
  return tvb:len()
end

-- Ports: a preference (Preferences > Protocols > SOCKLAB), and Decode As.
socklab.prefs.ports = Pref.range("TCP and UDP ports", DEFAULT_PORTS,
  "Ports whose traffic is decoded as socklab frames", 65535)

local tcp_port = DissectorTable.get("tcp.port")
local udp_port = DissectorTable.get("udp.port")
local registered_ports = nil

local function register_ports()
  if registered_ports ~= nil and registered_ports ~= "" then
    tcp_port:remove(registered_ports, socklab)
    udp_port:remove(registered_ports, socklab)
  end
  registered_ports = tostring(socklab.prefs.ports)
  if registered_ports ~= "" then
    tcp_port:add(registered_ports, socklab)
    udp_port:add(registered_ports, socklab)
  end
end

function socklab.prefs_changed()
  register_ports()
end

register_ports()
tcp_port:add_for_decode_as(socklab)
udp_port:add_for_decode_as(socklab)

-- --pcap-out captures: link type USER0 (DLT 147).
local encaps = wtap_encaps or wtap
DissectorTable.get("wtap_encap"):add(encaps.USER0, capture)
`;
}
