/**
 * `socklab --role global-server` and `--role local-server` (HW4): the
 * origin with its videos and live channel, and the edge with its cache,
 * live relay and HTTP front.
 *
 * @module
 */

import { connectTlv, type TlvClient } from "../../lib/client.ts";
import { ConfinedRoot } from "../../lib/confined_fs.ts";
import { UsageError } from "../../lib/flags.ts";
import { formatAddr } from "../../lib/frame_conn.ts";
import { HttpServer } from "../../lib/http_server.ts";
import type { Logger } from "../../lib/log.ts";
import { TlvServer, type TlvService } from "../../lib/server.ts";
import { calcService } from "../calc/service.ts";
import { AUTH_FLAGS, gateFromFlags, hubServices } from "../hub/hub.ts";
import { imageService } from "../hub/images.ts";
import { type Role, type RoleContext, serverOptions } from "../role.ts";
import { parseHostPort } from "../dns/servers.ts";
import { VideoCache } from "./cache.ts";
import { Edge } from "./edge.ts";
import { videoHttp } from "./http.ts";
import { LiveChannel } from "./live.ts";
import { originService } from "./origin.ts";
import { loopFile, readStdin } from "./sources.ts";

/** The local server's image directory by default (in a checkout). */
export const DEFAULT_IMAGES = "testdata/images";

/**
 * The image service over `--images`; `undefined` when the default
 * directory is absent (a binary run outside a checkout), an error when an
 * explicit one is.
 */
async function imagesFromFlags(
  ctx: RoleContext,
): Promise<TlvService | undefined> {
  const path = ctx.flags.string("images");
  if (path === undefined) {
    try {
      await Deno.stat(DEFAULT_IMAGES);
    } catch {
      ctx.log.info("no image service: no --images and no " + DEFAULT_IMAGES);
      return undefined;
    }
  }
  const images = await openRoot(path ?? DEFAULT_IMAGES, "--images");
  return imageService({ images, log: ctx.log });
}

/** The origin's video directory by default (in a checkout). */
export const DEFAULT_VIDEOS = "testdata/video";
/** The origin's live source by default. */
export const DEFAULT_LIVE_SOURCE = "testdata/video/live.m2t";
/** The edge's cache directory by default. */
export const DEFAULT_CACHE_DIR = ".cache/videos";

async function openRoot(
  path: string,
  flag: string,
  create = false,
): Promise<ConfinedRoot> {
  try {
    if (create) await Deno.mkdir(path, { recursive: true });
    return await ConfinedRoot.open(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such directory"
      : error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new UsageError(`Cannot use ${flag} ${path}: ${reason}`);
  }
}

/** A live channel fed by `source` (a file played in a loop, or "-" for stdin). */
export function originChannel(
  name: string,
  source: string,
  log: Logger,
  options: { speed?: number } = {},
): LiveChannel {
  return source === "-"
    ? new LiveChannel({
      name,
      log,
      alwaysOn: true,
      open: (signal) => readStdin(signal),
    })
    : new LiveChannel({
      name,
      log,
      open: (signal) => loopFile(source, signal, options),
    });
}

/** The global-server role. */
export const globalServerRole: Role = {
  name: "global-server",
  summary:
    "HW4/HW5: the origin: videos by name, a live channel, and the calculator",
  kind: "server",
  files: "read",
  flags: [
    {
      name: "videos",
      type: "string",
      doc: "directory of videos",
      default: DEFAULT_VIDEOS,
      value: "DIR",
    },
    {
      name: "live-source",
      type: "string",
      doc: "MPEG-TS file played in a loop at real-time pace, or - for stdin",
      default: DEFAULT_LIVE_SOURCE,
      value: "FILE|-",
    },
    {
      name: "channel",
      type: "string",
      doc: "name of the live channel",
      default: "live",
      value: "NAME",
    },
  ],
  examples: [
    "socklab --role global-server --port 9100",
    "ffmpeg -re -f lavfi -i testsrc2=size=640x360:rate=25 -c:v libx264 -g 25 -f mpegts - | socklab --role global-server --port 9100 --live-source -",
  ],
  async run(ctx) {
    const videos = await openRoot(
      ctx.flags.string("videos") ?? DEFAULT_VIDEOS,
      "--videos",
    );
    const source = ctx.flags.string("live-source") ?? DEFAULT_LIVE_SOURCE;
    if (source !== "-") {
      await Deno.stat(source).catch((error) => {
        throw new UsageError(
          `Cannot use --live-source ${source}: ${
            error instanceof Deno.errors.NotFound
              ? "no such file"
              : "permission denied"
          }`,
        );
      });
    }
    const channelName = ctx.flags.string("channel") ?? "live";
    const channel = originChannel(channelName, source, ctx.log);
    const { service } = originService({
      videos,
      channels: new Map([[channelName, channel]]),
    });
    const options = serverOptions(ctx);
    try {
      // The calculator runs on the global server too (HW5).
      await using server = new TlvServer({
        ...options,
        services: [service, calcService()],
      });
      ctx.log.raw(
        `global-server listening on ${options.tls ? "tls" : "tcp"}://${
          formatAddr(server.addr)
        }`,
      );
      await server.finished;
    } finally {
      await channel.close();
    }
    ctx.log.info("stopped");
    return 0;
  },
};

/** How the edge trusts a TLS origin, from `--upstream-ca`/`--upstream-pin`. */
async function upstreamTls(
  ctx: RoleContext,
): Promise<{ caCerts?: string[]; pin?: string } | undefined> {
  const ca = ctx.flags.string("upstream-ca");
  const pin = ctx.flags.string("upstream-pin");
  if (ca !== undefined && pin !== undefined) {
    throw new UsageError(
      "--upstream-ca and --upstream-pin are two ways to trust the origin: give one",
    );
  }
  if (pin !== undefined) return { pin };
  if (ca !== undefined) {
    try {
      return { caCerts: [await Deno.readTextFile(ca)] };
    } catch (error) {
      throw new UsageError(
        `Cannot read --upstream-ca ${ca}: ${(error as Error).message}`,
      );
    }
  }
  return ctx.flags.boolean("upstream-tls") ? {} : undefined;
}

/** Connects to the origin for the edge. */
function originConnector(
  ctx: RoleContext,
  upstream: { hostname: string; port: number },
  tls: { caCerts?: string[]; pin?: string } | undefined,
): () => Promise<TlvClient> {
  return () =>
    connectTlv({
      ...upstream,
      service: "video",
      timeoutMs: ctx.flags.number("upstream-timeout") ?? 10_000,
      ...(tls ? { tls } : {}),
      ...(ctx.tracer ? { tracer: ctx.tracer } : {}),
    });
}

/** The local-server role. */
export const localServerRole: Role = {
  name: "local-server",
  summary:
    "HW4/HW5: the local server: video cache and live relay, calc, images, logins",
  kind: "server",
  files: "read-write",
  flags: [
    {
      name: "upstream",
      type: "string",
      doc: "the global server, HOST:PORT (required)",
      value: "HOST:PORT",
    },
    {
      name: "cache-dir",
      type: "string",
      doc: "where cached videos live",
      default: DEFAULT_CACHE_DIR,
      value: "DIR",
    },
    {
      name: "cache-max-bytes",
      type: "size",
      doc: "evict least recently used videos beyond this",
      default: "1G",
    },
    {
      name: "preload",
      type: "list",
      doc: "copy FILE into the cache at start (repeatable)",
      value: "FILE",
    },
    {
      name: "http-port",
      type: "number",
      doc: "also serve /videos/NAME, /live/NAME and /stats over HTTP",
      value: "PORT",
    },
    {
      name: "upstream-tls",
      type: "boolean",
      doc: "reach the global server over TLS (system CAs)",
    },
    {
      name: "upstream-ca",
      type: "string",
      doc: "reach the global server over TLS, trusting this PEM CA",
      value: "FILE",
    },
    {
      name: "upstream-pin",
      type: "string",
      doc: "reach the global server over TLS, trusting the certificate with " +
        "this SHA-256 (its --tls-self-signed fingerprint)",
      value: "SHA256",
    },
    {
      name: "upstream-timeout",
      type: "duration",
      doc: "bound on reaching the origin",
      default: "10s",
    },
    {
      name: "max-viewer-queue",
      type: "size",
      doc: "how far a live viewer may fall behind before it is dropped",
      default: "4M",
    },
    {
      name: "images",
      type: "string",
      doc:
        `directory of images for the image service (default ${DEFAULT_IMAGES}, when it exists)`,
      value: "DIR",
    },
    ...AUTH_FLAGS,
  ],
  examples: [
    "socklab --role local-server --port 9200 --upstream 127.0.0.1:9100 --preload testdata/video/video_2023.mp4",
    "socklab --role local-server --port 9200 --upstream 127.0.0.1:9100 --users testdata/hub/users.txt --tls-cert testdata/tls/server.crt --tls-key testdata/tls/server.key",
    "socklab --role local-server --port 9200 --upstream 127.0.0.1:9100 --http-port 8088   # browser: http://127.0.0.1:8088/videos/video_2023",
  ],
  async run(ctx) {
    const upstreamFlag = ctx.flags.string("upstream");
    if (upstreamFlag === undefined) {
      throw new UsageError(
        "--upstream is required: the HOST:PORT that global-server printed in its ready line",
      );
    }
    const upstream = parseHostPort(upstreamFlag, "--upstream");
    const dir = await openRoot(
      ctx.flags.string("cache-dir") ?? DEFAULT_CACHE_DIR,
      "--cache-dir",
      true,
    );
    const origin = originConnector(ctx, upstream, await upstreamTls(ctx));
    const cache = await VideoCache.open({
      dir,
      maxBytes: ctx.flags.number("cache-max-bytes") ?? 1024 ** 3,
      origin,
      log: ctx.log,
    });
    for (const file of ctx.flags.list("preload")) {
      await cache.preload(file).catch((error) => {
        throw new UsageError(
          `Cannot --preload ${file}: ${(error as Error).message}`,
        );
      });
    }
    await using edge = new Edge({
      cache,
      origin,
      log: ctx.log,
      maxViewerQueue: ctx.flags.number("max-viewer-queue") ?? 4 * 1024 * 1024,
    });
    const options = serverOptions(ctx);
    const httpPort = ctx.flags.number("http-port");
    await using http = httpPort === undefined ? undefined : new HttpServer({
      handler: videoHttp({ cache, dir, edge }),
      hostname: options.hostname ?? "127.0.0.1",
      port: httpPort,
      log: ctx.log,
      signal: ctx.signal,
    });
    const images = await imagesFromFlags(ctx);
    const gate = await gateFromFlags(ctx, options.hostname ?? "127.0.0.1");
    await using server = new TlvServer({
      ...options,
      services: hubServices({
        calc: calcService(),
        video: edge.service,
        ...(images ? { image: images } : {}),
        ...(gate ? { gate } : {}),
      }),
    });
    if (http) ctx.log.info("HTTP", { url: `http://${formatAddr(http.addr)}/` });
    ctx.log.raw(
      `local-server listening on ${options.tls ? "tls" : "tcp"}://${
        formatAddr(server.addr)
      }`,
    );
    await server.finished;
    ctx.log.info("stopped");
    return 0;
  },
};
