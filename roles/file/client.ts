/**
 * `socklab --role file-client` (day 2): `get NAME`, `put FILE` and `list`
 * against a file server. Transfers show a progress bar (plain lines when
 * stderr is not a terminal), resume what an earlier run left, reconnect when
 * the connection breaks (`--retries`), and end with one summary line on
 * stdout. The work is in `transfer.ts`.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { connectTlv } from "../../lib/client.ts";
import { UsageError } from "../../lib/flags.ts";
import { printLine } from "../../lib/log.ts";
import { clientOptions, type Role } from "../role.ts";
import {
  formatEntry,
  formatTransferSummary,
  getFile,
  listFiles,
  putFile,
  type TransferOptions,
} from "./transfer.ts";

/** A command of the file client. */
export type FileCommand =
  | { readonly kind: "get"; readonly name: string; readonly out: string }
  | { readonly kind: "put"; readonly file: string; readonly name: string }
  | { readonly kind: "list" };

const USAGE = "give a command: get NAME [--out FILE], put FILE [--name NAME] " +
  "or list";

/**
 * The command the positionals and flags name.
 *
 * @throws {UsageError} for anything else.
 *
 * @example
 * ```ts
 * parseCommand(["get", "report.pdf"], {}); // { kind: "get", name: "report.pdf", out: "report.pdf" }
 * parseCommand(["put", "a/b.txt"], { name: "c.txt" }); // { kind: "put", file: "a/b.txt", name: "c.txt" }
 * ```
 */
export function parseCommand(
  positionals: readonly string[],
  flags: { out?: string | undefined; name?: string | undefined },
): FileCommand {
  const [command, ...args] = positionals;
  if (command === undefined) throw new UsageError(USAGE);
  const only = (flag: "out" | "name", forCommand: string) => {
    if (flags[flag] !== undefined && command !== forCommand) {
      throw new UsageError(`--${flag} goes with ${forCommand}, not ${command}`);
    }
  };
  only("out", "get");
  only("name", "put");
  switch (command) {
    case "get": {
      if (args.length !== 1 || args[0] === "") {
        throw new UsageError("get takes one file NAME: get NAME [--out FILE]");
      }
      const name = args[0]!;
      const out = flags.out ?? basename(name);
      if (out === "" || out === "." || out === "..") {
        throw new UsageError(`give --out FILE: "${name}" is not a file name`);
      }
      return { kind: "get", name, out };
    }
    case "put": {
      if (args.length !== 1 || args[0] === "") {
        throw new UsageError("put takes one FILE: put FILE [--name NAME]");
      }
      const file = args[0]!;
      return { kind: "put", file, name: flags.name ?? basename(file) };
    }
    case "list":
      if (args.length > 0) {
        throw new UsageError(`list takes no arguments, not "${args[0]}"`);
      }
      return { kind: "list" };
    default:
      throw new UsageError(`unknown command "${command}"; ${USAGE}`);
  }
}

/** The file-client role. */
export const fileClientRole: Role = {
  name: "file-client",
  summary:
    "Day 2: get, put and list files on a file server; transfers resume after a break",
  kind: "client",
  files: "read-write",
  positionals: "get NAME | put FILE | list",
  flags: [
    {
      name: "out",
      type: "string",
      doc: "with get: where to save (default: the file's name, here)",
      value: "FILE",
    },
    {
      name: "name",
      type: "string",
      doc: "with put: the name on the server (default: FILE's own name)",
      value: "NAME",
    },
    {
      name: "retries",
      type: "number",
      doc:
        "reconnect this often in a row without progress when a connection breaks",
      default: 3,
      value: "N",
    },
  ],
  examples: [
    "socklab --role file-client --port 9400 list",
    "socklab --role file-client --port 9400 get report.pdf --out /tmp/report.pdf",
    "socklab --role file-client --port 9400 put ./photos.tar --name photos-2024.tar",
  ],
  async run(ctx) {
    const command = parseCommand(ctx.flags.positionals, {
      out: ctx.flags.string("out"),
      name: ctx.flags.string("name"),
    });
    const retries = ctx.flags.number("retries") ?? 3;
    if (!Number.isInteger(retries) || retries < 0) {
      throw new UsageError(
        `--retries must be a whole number of 0 or more, not ${retries}`,
      );
    }
    const connect = clientOptions(ctx, "file");
    if (command.kind === "list") {
      await using client = await connectTlv(connect);
      const entries = await listFiles(client);
      for (const entry of entries) printLine(formatEntry(entry));
      ctx.log.info(`${entries.length} file${entries.length === 1 ? "" : "s"}`);
      return 0;
    }
    const options: TransferOptions = {
      connect: () => connectTlv(connect),
      retries,
      progress: true,
      log: ctx.log,
      signal: ctx.signal,
    };
    const summary = command.kind === "get"
      ? await getFile(command.name, await writable(command.out), options)
      : await putFile(await readable(command.file), command.name, options);
    printLine(formatTransferSummary(summary));
    return 0;
  },
};

/** `out` if its directory exists, else a usage error. */
async function writable(out: string): Promise<string> {
  try {
    const info = await Deno.stat(dirname(out) || ".");
    if (info.isDirectory) return out;
  } catch (error) {
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      throw new UsageError(`Cannot write ${out}: permission denied`);
    }
  }
  throw new UsageError(`Cannot write ${out}: its directory does not exist`);
}

/** `file` if it is a regular file this role may read, else a usage error. */
async function readable(file: string): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new UsageError(`Cannot put ${file}: ${why}`);
  }
  if (!info.isFile) throw new UsageError(`Cannot put ${file}: not a file`);
  return file;
}
