/**
 * The web server's routes, as one handler from request to response,
 * callable without sockets: `/api/calc`, `/files/…` (uploads, when
 * enabled), and static files from the root for everything else.
 *
 * @module
 */

import type { ConfinedRoot } from "../../lib/confined_fs.ts";
import {
  HttpError,
  type HttpHandler,
  type HttpResponse,
} from "../../lib/http_server.ts";
import { calcApi } from "./calc_api.ts";
import { staticFiles } from "./static_files.ts";
import { uploads } from "./uploads.ts";

/** What the web app serves. */
export interface WebAppOptions {
  /** The web root (Result.html lives here). */
  root: ConfinedRoot;
  /** Where uploads go; `/files/` is off without it. */
  uploadRoot?: ConfinedRoot | undefined;
  /** Largest upload in bytes. */
  maxUpload?: number;
  /** Directory listings where there is no index.html. */
  listing?: boolean;
}

/**
 * Builds the handler.
 *
 * @example
 * ```ts
 * const handler = webApp({ root: await ConfinedRoot.open("testdata/web") });
 * await using server = new HttpServer({ handler });
 * ```
 */
export function webApp(options: WebAppOptions): HttpHandler {
  const files = staticFiles(options.root, {
    listing: options.listing ?? false,
  });
  const uploadFiles = options.uploadRoot
    ? staticFiles(options.uploadRoot, { listing: options.listing ?? false })
    : undefined;
  const stored = options.uploadRoot && uploadFiles
    ? uploads(options.uploadRoot, {
      maxBytes: options.maxUpload ?? 100 * 1024 * 1024,
      serve: uploadFiles,
    })
    : undefined;
  return (request): Promise<HttpResponse> | HttpResponse => {
    const path = request.path;
    if (path === "/api/calc") return calcApi(request);
    if (stored && uploadFiles && path.startsWith("/files/")) {
      const name = path.slice("/files/".length);
      if (name === "") {
        if (request.method !== "GET" && request.method !== "HEAD") {
          throw notAllowed(request.method, "GET, HEAD");
        }
        return uploadFiles(request, "/");
      }
      return stored(request, name);
    }
    if (request.method === "OPTIONS") {
      return { status: 204, headers: [["allow", "GET, HEAD, OPTIONS"]] };
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      throw notAllowed(request.method, "GET, HEAD, OPTIONS");
    }
    return files(request);
  };
}

function notAllowed(method: string, allow: string): HttpError {
  return new HttpError(
    405,
    `${method} is not allowed here; this path takes ${allow}.`,
    [["allow", allow]],
  );
}
