import assert from "node:assert/strict";
import { encodeMessage } from "../tlv/message.ts";
import { optionText, readPcapng } from "./_testing.ts";
import { captureStart, encodeFrameRecord } from "./frame_capture.ts";
import { LINKTYPE_USER0, MAX_SNAP_LENGTH, OPTION } from "./pcapng.ts";
import {
  decodePseudoHeader,
  PSEUDO_HEADER_LENGTH,
  type PseudoHeader,
} from "./pseudo_header.ts";

const header: PseudoHeader = {
  direction: "send",
  transport: "tcp",
  source: { address: "127.0.0.1", port: 40000 },
  destination: { address: "127.0.0.1", port: 9000 },
};

function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

Deno.test({
  name:
    "captureStart() is a section header and one USER0 interface named socklab",
  permissions: "none",
  fn() {
    const parsed = readPcapng(captureStart("socklab test"));
    assert.equal(parsed.interfaces.length, 1);
    const [idb] = parsed.interfaces;
    assert.equal(idb?.linkType, LINKTYPE_USER0);
    assert.equal(idb?.snapLength, MAX_SNAP_LENGTH);
    assert.equal(optionText(idb?.options ?? [], OPTION.ifName), "socklab");
    assert.equal(parsed.packets.length, 0);
    assert.equal(parsed.trailing, 0);
  },
});

Deno.test({
  name:
    "encodeFrameRecord() holds the pseudo-header and then exactly the frame",
  permissions: "none",
  fn() {
    const frame = encodeMessage("calc_request", { id: 1, expression: "1+2" });
    const parsed = readPcapng(join(
      captureStart("t"),
      encodeFrameRecord({ timestampUs: 123, header, frame }),
      encodeFrameRecord({
        timestampUs: 124,
        header: { ...header, direction: "recv" },
        frame,
      }),
    ));
    const [sent, received] = parsed.packets;
    assert.deepEqual(decodePseudoHeader(sent!.data), header);
    assert.deepEqual(sent!.data.subarray(PSEUDO_HEADER_LENGTH), frame);
    assert.equal(sent!.timestampUs, 123);
    assert.equal(sent!.direction, 2, "outbound");
    assert.equal(received!.direction, 1, "inbound");
    assert.equal(decodePseudoHeader(received!.data).direction, "recv");
  },
});

Deno.test({
  name:
    "encodeFrameRecord() overwrites passwords and tokens, never the caller's bytes",
  permissions: "none",
  fn() {
    const frame = encodeMessage("login", {
      id: 1,
      user: "alice",
      password: "wonderland",
    });
    const copy = frame.slice();
    const epb = encodeFrameRecord({ timestampUs: 1, header, frame });
    const secret = new TextEncoder().encode("wonderland");
    assert.ok(!contains(epb, secret), "the password is not in the packet");
    assert.ok(contains(epb, new TextEncoder().encode("**********")));
    assert.ok(contains(epb, new TextEncoder().encode("alice")));
    assert.deepEqual(frame, copy);
  },
});

Deno.test({
  name:
    "encodeFrameRecord() cuts a frame beyond the snap length and keeps its original length",
  permissions: "none",
  fn() {
    const data = new Uint8Array(300_000).fill(7);
    const frame = encodeMessage("echo_request", { id: 1, data });
    const parsed = readPcapng(join(
      captureStart("t"),
      encodeFrameRecord({ timestampUs: 1, header, frame }),
    ));
    const [packet] = parsed.packets;
    assert.equal(packet?.data.length, MAX_SNAP_LENGTH);
    assert.equal(packet?.originalLength, PSEUDO_HEADER_LENGTH + frame.length);
  },
});
