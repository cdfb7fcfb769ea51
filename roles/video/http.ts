/**
 * The local server over HTTP (`--http-port`), on the web server's code:
 * `GET /videos/NAME` with ranges so a browser can play and seek a cached or
 * fetched video, `GET /live/NAME` as a continuous MPEG-TS response, and
 * `GET /stats` as JSON.
 *
 * @module
 */

import type { ConfinedRoot } from "../../lib/confined_fs.ts";
import {
  HttpError,
  type HttpHandler,
  type HttpResponse,
} from "../../lib/http_server.ts";
import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import { staticFiles } from "../web/static_files.ts";
import type { VideoCache } from "./cache.ts";
import type { Edge } from "./edge.ts";

/**
 * The handler.
 *
 * @example
 * ```ts
 * await using http = new HttpServer({ handler: videoHttp({ cache, dir, edge }), port: 8080 });
 * ```
 */
export function videoHttp(
  options: { cache: VideoCache; dir: ConfinedRoot; edge: Edge },
): HttpHandler {
  const files = staticFiles(options.dir);
  return async (request): Promise<HttpResponse> => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      throw new HttpError(
        405,
        `${request.method} is not allowed; use GET or HEAD.`,
        [["allow", "GET, HEAD"]],
      );
    }
    const path = request.path;
    if (path === "/stats") {
      return {
        status: 200,
        headers: [["content-type", "application/json"]],
        body: JSON.stringify(options.edge.stats()) + "\n",
      };
    }
    const [, kind, raw, extra] = path.split("/");
    if (extra !== undefined || raw === undefined || raw === "") {
      throw new HttpError(
        404,
        `There is no ${path} here; try /videos/NAME, /live/NAME or /stats.`,
      );
    }
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      throw new HttpError(
        400,
        `Cannot read the name in ${path}: bad percent-encoding`,
      );
    }
    try {
      if (kind === "videos") {
        // A miss is fetched (once, however many ask) before it is served with ranges.
        const fileName = await options.cache.ensure(name);
        using _held = options.cache.hold(fileName);
        return await files(request, `/${encodeURIComponent(fileName)}`);
      }
      if (kind === "live") {
        const viewer = options.edge.channel(name).subscribe();
        if (request.method === "HEAD") {
          viewer.close();
          return {
            status: 200,
            headers: [["content-type", "video/mp2t"], [
              "cache-control",
              "no-store",
            ]],
          };
        }
        return {
          status: 200,
          headers: [["content-type", "video/mp2t"], [
            "cache-control",
            "no-store",
          ]],
          body: viewer,
        };
      }
    } catch (error) {
      if (error instanceof ProtocolError) {
        const status = error.code === "not_found"
          ? 404
          : error.code === "bad_name"
          ? 400
          : 502;
        throw new HttpError(status, error.message);
      }
      throw error;
    }
    throw new HttpError(
      404,
      `There is no ${path} here; try /videos/NAME, /live/NAME or /stats.`,
    );
  };
}
