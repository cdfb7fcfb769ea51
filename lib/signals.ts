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

/**
 * Runs `fn` once when `signal` aborts — at once (in a microtask) if it
 * already has — until `finished` settles, when the listener is removed.
 * Servers use it so an aborted signal stops them however late they started.
 *
 * @example
 * ```ts
 * stopOnAbort(options.signal, () => this.shutdown(), this.finished);
 * ```
 */
export function stopOnAbort(
  signal: AbortSignal | undefined,
  fn: () => void,
  finished: Promise<unknown>,
): void {
  if (signal === undefined) return;
  if (signal.aborted) {
    queueMicrotask(fn);
    return;
  }
  signal.addEventListener("abort", fn, { once: true });
  finished.finally(() => signal.removeEventListener("abort", fn));
}
