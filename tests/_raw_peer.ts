/**
 * Helpers for tests that talk to a server over a raw `Deno.Conn`, byte by
 * byte, with the real codec — the way a hand-written client would.
 *
 * @module
 */

import { concat } from "../lib/frame_conn.ts";
import { decodeFrame } from "../protocol/tlv/frame.ts";
import { decodeMessage } from "../protocol/tlv/message.ts";
import type { Message } from "../protocol/tlv/registry.ts";

/** Rejects with a message naming `what` if `promise` is not settled in time. */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes every byte (a socket write may take only part). */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/**
 * Reads until the server closes the connection (a reset after the last
 * bytes counts as a close) and returns everything received.
 */
export async function readToEnd(
  conn: Deno.Conn,
  timeoutMs = 5000,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  const read = async () => {
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset) return;
        throw error;
      }
      if (n === null) return;
      chunks.push(buffer.slice(0, n));
    }
  };
  await within(read(), timeoutMs, "the server to close the connection");
  return concat(chunks);
}

/**
 * Reads until `count` messages have arrived, or the peer closes (then the
 * messages so far are returned), decoding them with the real codec.
 */
export async function readMessages(
  conn: Deno.Conn,
  count: number,
  timeoutMs = 5000,
): Promise<Message[]> {
  const messages: Message[] = [];
  let pending: Uint8Array = new Uint8Array(0);
  const buffer = new Uint8Array(64 * 1024);
  const read = async () => {
    while (messages.length < count) {
      const n = await conn.read(buffer);
      if (n === null) return;
      pending = concat([pending, buffer.subarray(0, n)]);
      const decoded = decodeAll(pending);
      messages.push(...decoded.messages);
      pending = pending.slice(pending.length - decoded.rest);
    }
  };
  await within(read(), timeoutMs, `${count} messages`);
  return messages;
}

/**
 * Decodes every whole frame in `bytes` with the real codec; returns the
 * messages and how many bytes are left over after the last whole frame.
 */
export function decodeAll(
  bytes: Uint8Array,
): { messages: Message[]; rest: number } {
  const messages: Message[] = [];
  let at = 0;
  for (;;) {
    const decoded = decodeFrame(bytes, at);
    if (decoded === undefined) break;
    messages.push(decodeMessage(decoded.frame));
    at = decoded.next;
  }
  return { messages, rest: bytes.length - at };
}
