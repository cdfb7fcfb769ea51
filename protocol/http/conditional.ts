/**
 * Conditional requests (RFC 9110 §13): entity tags and the If-None-Match,
 * If-Modified-Since and If-Range preconditions. Pure: the resource's
 * validators are passed in.
 *
 * @module
 */

import { trimOws } from "./_syntax.ts";
import { parseHttpDate } from "./response.ts";

/**
 * A strong entity tag from a file's size and modification time:
 * `"<size in hex>-<mtime in ms, in hex>"`, quoted. It changes whenever
 * either does, which is as strong as a file server can cheaply be.
 *
 * @example
 * ```ts
 * etagFor(1000, 1700000000000); // "\"3e8-18bcfe56800\""
 * ```
 */
export function etagFor(size: number, mtimeMs: number): string {
  return `"${Math.trunc(size).toString(16)}-${
    Math.trunc(mtimeMs).toString(16)
  }"`;
}

/** An entity-tag: whether it is weak, and its quoted opaque part. */
interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
const ENTITY_TAG = /^(W\/)?("[\x21\x23-\x7e\x80-\xff]*")$/;

function parseEntityTag(text: string): EntityTag | undefined {
  const match = ENTITY_TAG.exec(text);
  return match === null
    ? undefined
    : { weak: match[1] !== undefined, opaque: match[2]! };
}

/**
 * The entity-tags of a list field, or `undefined` when it is malformed.
 * etagc allows `,` inside the quotes, so the list is split by scanning for
 * quotes, not at commas.
 */
function parseEntityTags(text: string): EntityTag[] | undefined {
  const tags: EntityTag[] = [];
  let at = 0;
  for (;;) {
    while (at < text.length && " \t,".includes(text[at]!)) at++;
    if (at >= text.length) return tags;
    const open = text.startsWith("W/", at) ? at + 2 : at;
    if (text[open] !== '"') return undefined;
    const close = text.indexOf('"', open + 1);
    if (close < 0) return undefined;
    const tag = parseEntityTag(text.slice(at, close + 1));
    if (tag === undefined) return undefined;
    tags.push(tag);
    at = close + 1;
    while (at < text.length && (text[at] === " " || text[at] === "\t")) at++;
    if (at < text.length && text[at] !== ",") return undefined;
  }
}

/**
 * Evaluates If-None-Match (RFC 9110 §13.1.2) against the current `etag`,
 * with weak comparison: `W/"x"` matches `"x"`; `*` matches any current
 * representation. A malformed header matches nothing, so the full response
 * is sent.
 *
 * @returns `true` when the header matches: answer 304 to GET or HEAD.
 *
 * @example
 * ```ts
 * noneMatch('W/"a", "b"', '"a"'); // true
 * noneMatch('"b"', '"a"'); // false
 * ```
 */
export function noneMatch(header: string, etag: string): boolean {
  const text = trimOws(header);
  if (text === "*") return true;
  const mine = parseEntityTag(etag);
  if (mine === undefined) return false;
  const tags = parseEntityTags(text);
  return tags !== undefined && tags.some((t) => t.opaque === mine.opaque);
}

/**
 * Evaluates If-Modified-Since (RFC 9110 §13.1.3) against the resource's
 * modification time, at one-second precision (HTTP dates have no finer).
 * An invalid date is ignored: the result is then `false`. The caller uses
 * this only when If-None-Match is absent, and only for GET and HEAD.
 *
 * @returns `true` when the resource was not modified since the header
 *   date: answer 304.
 *
 * @example
 * ```ts
 * const mtime = new Date("1994-11-06T08:49:37.500Z");
 * notModifiedSince("Sun, 06 Nov 1994 08:49:37 GMT", mtime); // true
 * notModifiedSince("Sun, 06 Nov 1994 08:49:36 GMT", mtime); // false
 * ```
 */
export function notModifiedSince(header: string, mtime: Date): boolean {
  const since = parseHttpDate(trimOws(header));
  if (since === undefined) return false;
  return seconds(mtime) <= since.getTime() / 1000;
}

/**
 * Evaluates If-Range (RFC 9110 §13.1.5): whether a Range request may be
 * honoured. An entity-tag must match the current `etag` strongly (neither
 * weak, same opaque tag); an HTTP date must equal the Last-Modified time
 * (`mtime` truncated to the second) exactly. Anything else, or a malformed
 * value, does not match: send the whole representation with 200.
 *
 * @example
 * ```ts
 * ifRangeMatches('"a"', '"a"', mtime); // true
 * ifRangeMatches('W/"a"', '"a"', mtime); // false
 * ```
 */
export function ifRangeMatches(
  header: string,
  etag: string,
  mtime: Date,
): boolean {
  const text = trimOws(header);
  if (text.startsWith('"') || text.startsWith("W/")) {
    const theirs = parseEntityTag(text);
    const mine = parseEntityTag(etag);
    return theirs !== undefined && mine !== undefined && !theirs.weak &&
      !mine.weak && theirs.opaque === mine.opaque;
  }
  const date = parseHttpDate(text);
  return date !== undefined && date.getTime() / 1000 === seconds(mtime);
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
