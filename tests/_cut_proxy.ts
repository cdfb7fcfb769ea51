/**
 * A TCP proxy for tests that breaks connections: it forwards each accepted
 * connection to a target and closes both sides once `cutAfter()` bytes have
 * gone through (counted in both directions), as a flaky network would.
 *
 * @module
 */

/** Options for {@linkcode startCutProxy}. */
export interface CutProxyOptions {
  /** Port of the server on 127.0.0.1 to forward to. */
  targetPort: number;
  /**
   * Bytes a new connection may carry before it is cut; called once per
   * connection. `Infinity` never cuts.
   */
  cutAfter(): number;
}

/** A running proxy. */
export interface CutProxy extends AsyncDisposable {
  /** Where clients connect. */
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections cut so far. */
  readonly cuts: number;
}

/**
 * Starts the proxy on a free loopback port.
 *
 * @example
 * ```ts
 * await using proxy = startCutProxy({ targetPort, cutAfter: () => 4 * MiB });
 * await connectTlv({ port: proxy.port, service: "file" });
 * ```
 */
export function startCutProxy(options: CutProxyOptions): CutProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Promise<void>>();
  const conns = new Set<Deno.Conn>();
  let connections = 0;
  let cuts = 0;

  async function serve(client: Deno.Conn): Promise<void> {
    let server: Deno.Conn;
    try {
      server = await Deno.connect({
        hostname: "127.0.0.1",
        port: options.targetPort,
      });
    } catch {
      client.close();
      return;
    }
    conns.add(client);
    conns.add(server);
    // Whole bytes: a fractional limit would leave a write of nothing to loop on.
    let left = Math.floor(options.cutAfter());
    let closed = false;
    const closeBoth = () => {
      if (closed) return;
      closed = true;
      for (const c of [client, server]) {
        conns.delete(c);
        try {
          c.close();
        } catch { /* already closed */ }
      }
    };
    const pump = async (from: Deno.Conn, to: Deno.Conn) => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const n = await from.read(buffer);
          if (n === null) break;
          const take = Math.min(n, Math.max(0, left));
          left -= n;
          let at = 0;
          while (at < take) at += await to.write(buffer.subarray(at, take));
          if (left <= 0) {
            if (!closed) cuts++;
            break;
          }
        }
      } catch {
        // The other direction closed both sockets.
      }
      closeBoth();
    };
    await Promise.all([pump(client, server), pump(server, client)]);
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections++;
        const served = serve(conn);
        open.add(served);
        served.finally(() => open.delete(served));
      }
    } catch {
      // Listener closed.
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    get cuts() {
      return cuts;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await Promise.all(open);
    },
  };
}
