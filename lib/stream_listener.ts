/**
 * What every stream server host shares: binding a TCP or TLS listener, and
 * the graceful end of its connections (let work finish within a grace
 * period, then close what is left).
 *
 * @module
 */

/** Where and how a stream server listens. */
export interface ListenOptions {
  /** Address to bind. Default 127.0.0.1. */
  hostname?: string;
  /** Port; 0 picks a free one. Default 0. */
  port?: number;
  /** PEM certificate and key: listen with TLS. */
  tls?: { cert: string; key: string } | undefined;
}

/**
 * Binds a TCP listener, or a TLS one when `tls` is given.
 *
 * @example
 * ```ts
 * const listener = listenStream({ port: 0 });
 * ```
 */
export function listenStream(options: ListenOptions): Deno.Listener {
  const listen = {
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  };
  return options.tls
    ? Deno.listenTls({
      ...listen,
      cert: options.tls.cert,
      key: options.tls.key,
    })
    : Deno.listen(listen);
}

/** A connection that can end gracefully or at once. */
export interface GracefulConnection {
  /** Stop taking new work; close once the work in flight is done. */
  beginShutdown(): void;
  /** Close now. */
  forceClose(): void;
  /** Resolves once the connection is fully closed. */
  readonly done: Promise<void>;
}

/**
 * Asks every connection to finish, waits up to `graceMs`, then closes the
 * ones still open and waits for them to be gone.
 *
 * @example
 * ```ts
 * await drainConnections(this.#connections, 5000);
 * ```
 */
export async function drainConnections(
  connections: ReadonlySet<GracefulConnection>,
  graceMs: number,
): Promise<void> {
  const all = [...connections];
  for (const c of all) c.beginShutdown();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((
    resolve,
  ) => (timer = setTimeout(resolve, graceMs)));
  await Promise.race([Promise.all(all.map((c) => c.done)), grace]);
  clearTimeout(timer);
  for (const c of connections) c.forceClose();
  await Promise.all([...connections].map((c) => c.done));
}
