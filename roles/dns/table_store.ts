/**
 * DNS tables loaded from files, reloaded when a file changes and on SIGHUP.
 * A file with a bad line is rejected whole and the tables in service stay;
 * queries always see one complete set of zones, never a half-loaded one.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import type { Logger } from "../../lib/log.ts";
import { parseTable } from "./table.ts";
import { makeZone, type Zone } from "./zone.ts";

/** One table file and the zone it holds ("" for a local table). */
export interface TableFile {
  readonly origin: string;
  readonly path: string;
}

/** Options for {@linkcode TableStore}. */
export interface TableStoreOptions {
  files: readonly TableFile[];
  log: Logger;
  /** Negative-answer TTL for the zones' SOA. */
  negativeTtl?: number;
  /** Reload when a file changes (default true). */
  watch?: boolean;
  /** Reload on SIGHUP (default true where the OS has it). */
  sighup?: boolean;
}

async function loadZone(
  file: TableFile,
  serial: number,
  negativeTtl?: number,
): Promise<Zone> {
  let text: string;
  try {
    text = await Deno.readTextFile(file.path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable
      ? "permission denied"
      : (error as Error).message;
    throw new Error(`Cannot read ${file.path}: ${reason}`);
  }
  const table = parseTable(
    text,
    file.path,
    file.origin ? { origin: file.origin } : {},
  );
  return makeZone(file.origin, table, {
    serial,
    ...(negativeTtl !== undefined ? { negativeTtl } : {}),
  });
}

/**
 * The zones in service, with reloads.
 *
 * @example
 * ```ts
 * await using store = await TableStore.open({ files: [{ origin: "", path: "local_dns.txt" }], log });
 * lookup(store.zones, "www.skku.edu", 1);
 * ```
 */
export class TableStore implements AsyncDisposable {
  #options: TableStoreOptions;
  #zones: readonly Zone[] = [];
  #watcher: Deno.FsWatcher | undefined;
  #watching: Promise<void> | undefined;
  #onHup: (() => void) | undefined;
  #reloading: Promise<void> = Promise.resolve();
  #reloads = 0;

  private constructor(options: TableStoreOptions) {
    this.#options = options;
  }

  /** Loads every file (throwing {@linkcode TableError} if one is bad), then watches. */
  static async open(options: TableStoreOptions): Promise<TableStore> {
    const store = new TableStore(options);
    store.#zones = await store.#loadAll();
    if (options.watch ?? true) await store.#watch();
    if ((options.sighup ?? true) && Deno.build.os !== "windows") {
      store.#onHup = () => {
        options.log.info("SIGHUP: reloading tables");
        store.reload();
      };
      Deno.addSignalListener("SIGHUP", store.#onHup);
    }
    return store;
  }

  /** The zones in service now. */
  get zones(): readonly Zone[] {
    return this.#zones;
  }

  /** How many reloads have been put in service. */
  get reloads(): number {
    return this.#reloads;
  }

  /** Record count per file, for the start-up log line. */
  describe(): string {
    return this.#zones.map((z) =>
      `${z.table.file} (${z.origin || "local"}, ${z.table.size} records)`
    ).join(", ");
  }

  async #loadAll(): Promise<Zone[]> {
    const serial = Math.floor(Date.now() / 1000) >>> 0;
    return await Promise.all(
      this.#options.files.map((f) =>
        loadZone(f, serial, this.#options.negativeTtl)
      ),
    );
  }

  /**
   * Reads every file again and swaps the zones in one step. A bad file is
   * logged and the zones in service stay. Reloads never overlap.
   */
  reload(): Promise<void> {
    const run = this.#reloading.then(async () => {
      try {
        this.#zones = await this.#loadAll();
        this.#reloads++;
        this.#options.log.info("tables reloaded", { tables: this.describe() });
      } catch (error) {
        this.#options.log.error(
          "table rejected; the previous tables stay in service",
          {
            error: (error as Error).message,
          },
        );
      }
    });
    this.#reloading = run;
    return run;
  }

  async #watch(): Promise<void> {
    const files = new Set(
      await Promise.all(this.#options.files.map((f) => Deno.realPath(f.path))),
    );
    const dirs = [...new Set([...files].map((f) => dirname(f)))];
    // Editors save by renaming a new file over the old: watch the directories.
    this.#watcher = Deno.watchFs(dirs, { recursive: false });
    this.#watching = (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        for await (const event of this.#watcher!) {
          if (
            event.kind === "access" ||
            !event.paths.some((p) => files.has(resolve(p)))
          ) continue;
          clearTimeout(timer);
          timer = setTimeout(() => this.reload(), 50);
        }
      } catch (error) {
        this.#options.log.warn("stopped watching the tables", {
          error: (error as Error).message,
        });
      } finally {
        clearTimeout(timer);
      }
    })();
  }

  /** Stops watching and listening for SIGHUP. */
  async close(): Promise<void> {
    if (this.#onHup) Deno.removeSignalListener("SIGHUP", this.#onHup);
    this.#onHup = undefined;
    try {
      this.#watcher?.close();
    } catch { /* closed */ }
    await this.#watching;
    await this.#reloading;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
