/**
 * SIGINT/SIGTERM as an AbortSignal: the first one asks for a graceful
 * shutdown; a second one exits at once.
 *
 * @module
 */

/**
 * Listens for SIGINT and SIGTERM (SIGINT only on Windows).
 *
 * @returns `signal`, aborted on the first one, and `dispose` to stop listening.
 * @example
 * ```ts
 * using stop = shutdownSignal();
 * await using server = new TlvServer({ services, signal: stop.signal });
 * ```
 */
export function shutdownSignal(): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const names: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  const handler = () => {
    if (controller.signal.aborted) Deno.exit(130);
    controller.abort(new Error("interrupted"));
  };
  for (const name of names) Deno.addSignalListener(name, handler);
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const name of names) Deno.removeSignalListener(name, handler);
    },
  };
}
