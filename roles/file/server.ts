/**
 * `socklab --role file-server` (day 2): serves one directory with the file
 * service — list, get and put, resumable both ways (`service.ts`).
 *
 * @module
 */

import { ConfinedRoot } from "../../lib/confined_fs.ts";
import { UsageError } from "../../lib/flags.ts";
import { TlvServer } from "../../lib/server.ts";
import { type Role, serverOptions, serveUntilStopped } from "../role.ts";
import { DEFAULT_MAX_SIZE, fileService } from "./service.ts";

/**
 * The directory served by default, created when missing: `files` in the
 * working directory (the `file-server` permission set reads and writes
 * only it).
 */
export const DEFAULT_ROOT = "files";

/**
 * Opens `path` as the served root, creating it first when missing.
 *
 * @throws {UsageError} when it cannot be created or is not a directory.
 */
async function openServedRoot(path: string): Promise<ConfinedRoot> {
  try {
    await Deno.mkdir(path, { recursive: true });
    return await ConfinedRoot.open(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.AlreadyExists ||
        error instanceof Deno.errors.NotADirectory
      ? "it is not a directory"
      : error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied
      ? "permission denied (under -P=file-server only ./files is granted)"
      : (error as Error).message;
    throw new UsageError(`Cannot serve --root ${path}: ${reason}`);
  }
}

/** The file-server role. */
export const fileServerRole: Role = {
  name: "file-server",
  summary:
    "Day 2: serve a directory: list, get and put files, resumable both ways",
  kind: "server",
  files: "read-write",
  flags: [
    {
      name: "root",
      type: "string",
      doc: "directory served; uploads are written into it (created if missing)",
      default: DEFAULT_ROOT,
      value: "DIR",
    },
    {
      name: "max-size",
      type: "size",
      doc: "largest upload accepted (bigger ones get file_too_large)",
      default: "1G",
      value: "SIZE",
    },
  ],
  examples: [
    "socklab --role file-server --port 9400",
    "socklab --role file-server --port 9400 --root ./shared --max-size 100M",
  ],
  async run(ctx) {
    const maxSize = ctx.flags.number("max-size") ?? DEFAULT_MAX_SIZE;
    if (!Number.isSafeInteger(maxSize) || maxSize < 0) {
      throw new UsageError(`--max-size must be a byte count, not ${maxSize}`);
    }
    const path = ctx.flags.string("root") ?? DEFAULT_ROOT;
    const root = await openServedRoot(path);
    const service = fileService({ root, maxSize, log: ctx.log });
    const options = serverOptions(ctx);
    const server = new TlvServer({ ...options, services: [service] });
    ctx.log.info("serving files", {
      root: root.root,
      max_size: maxSize,
    });
    return await serveUntilStopped(ctx, server, options.tls ? "tls" : "tcp");
  },
};
