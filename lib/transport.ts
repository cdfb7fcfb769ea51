/**
 * Classifies transport failures by error class, never by message text.
 *
 * @module
 */

/**
 * Whether `error` means the peer or the network went away (reset, broken
 * pipe, aborted, closed) rather than a bug in our code.
 *
 * @example
 * ```ts
 * try { await conn.read(buf); } catch (e) { if (!isTransportError(e)) throw e; }
 * ```
 */
export function isTransportError(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.TimedOut ||
    (error instanceof Error && error.name === "InvalidData");
}
