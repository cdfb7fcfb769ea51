/**
 * Uploads on the web server, behind `--upload-dir`: `PUT /files/NAME`
 * stores the body atomically (201 Created, or 204 when it replaced a file),
 * `DELETE /files/NAME` removes it (204, or 404), and `GET`/`HEAD` serve it.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { ConfinedPathError, type ConfinedRoot } from "../../lib/confined_fs.ts";
import {
  HttpError,
  type HttpRequest,
  type HttpResponse,
} from "../../lib/http_server.ts";
import { refusal } from "./static_files.ts";

/** Options for {@linkcode uploads}. */
export interface UploadOptions {
  /** Largest upload in bytes; larger ones get 413. */
  maxBytes: number;
  /** Serves a stored file (GET/HEAD), given the path inside the upload root. */
  serve: (request: HttpRequest, path: string) => Promise<HttpResponse>;
}

/**
 * Creates the `/files/…` handler over `root`.
 *
 * @example
 * ```ts
 * const files = uploads(await ConfinedRoot.open("uploads"), { maxBytes: 1 << 20, serve });
 * ```
 */
export function uploads(
  root: ConfinedRoot,
  options: UploadOptions,
): (request: HttpRequest, name: string) => Promise<HttpResponse> {
  return async (request, name) => {
    switch (request.method) {
      case "GET":
      case "HEAD":
        return options.serve(request, `/${name}`);
      case "PUT":
        return await put(root, request, name, options.maxBytes);
      case "DELETE":
        return await remove(root, name);
      default:
        throw new HttpError(
          405,
          `${request.method} is not allowed on /files/; use GET, HEAD, PUT or DELETE.`,
          [
            ["allow", "GET, HEAD, PUT, DELETE"],
          ],
        );
    }
  };
}

async function target(root: ConfinedRoot, name: string): Promise<string> {
  try {
    return await root.writablePath(decodeName(name));
  } catch (error) {
    if (error instanceof ConfinedPathError) {
      throw refusal(error, `/files/${name}`);
    }
    throw error;
  }
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    throw new HttpError(
      400,
      `Cannot store /files/${name}: the name is not valid percent-encoding`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function put(
  root: ConfinedRoot,
  request: HttpRequest,
  name: string,
  maxBytes: number,
): Promise<HttpResponse> {
  const path = await target(root, name);
  if (!request.hasBody && request.contentLength === undefined) {
    throw new HttpError(
      411,
      "PUT needs a body with Content-Length or chunked encoding.",
    );
  }
  if (request.contentLength !== undefined && request.contentLength > maxBytes) {
    throw new HttpError(
      413,
      `The upload of ${request.contentLength} bytes is over the limit of ${maxBytes}.`,
    );
  }
  // The body streams into a temporary file beside the target, then replaces
  // it in one rename: a dropped upload never leaves half a file behind.
  // Hidden name: never served or listed while it is incomplete.
  const temp = join(
    dirname(path),
    `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.upload`,
  );
  const replaced = await exists(path);
  try {
    using file = await Deno.open(temp, { write: true, createNew: true });
    for await (const chunk of request.chunks(maxBytes)) {
      let at = 0;
      while (at < chunk.length) at += await file.write(chunk.subarray(at));
    }
    await file.sync();
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await Deno.rename(temp, path);
  const location = `/files/${encodeURIComponent(decodeName(name))}`;
  return replaced
    ? { status: 204, headers: [["content-location", location]] }
    : {
      status: 201,
      headers: [["location", location], [
        "content-type",
        "text/plain; charset=utf-8",
      ]],
      body: `stored ${location}\n`,
    };
}

async function remove(root: ConfinedRoot, name: string): Promise<HttpResponse> {
  const path = await target(root, name);
  try {
    await Deno.remove(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new HttpError(404, `There is no /files/${name} to delete.`);
    }
    throw error;
  }
  return { status: 204 };
}
