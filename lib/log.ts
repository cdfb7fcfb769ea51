/**
 * Logging to stderr, as text or JSON lines, with levels. The only module
 * allowed to write to the console: everything else goes through it, or
 * through {@linkcode printLine} for a client's results on stdout.
 *
 * @module
 */

/** Log levels, most severe first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];
/** How log lines are written. */
export type LogFormat = "text" | "json";

/** Where a logger writes; tests pass a collector. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();

/** Writes a line to stderr, synchronously so lines never interleave. */
export function stderrSink(line: string): void {
  writeAll(Deno.stderr, encoder.encode(line + "\n"));
}

/**
 * Prints one line of a client's output to stdout (results, not logs).
 *
 * @example
 * ```ts
 * printLine("1+2 = 3");
 * ```
 */
export function printLine(line: string): void {
  writeAll(Deno.stdout, encoder.encode(line + "\n"));
}

function writeAll(
  target: { writeSync(p: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let at = 0;
  while (at < bytes.length) at += target.writeSync(bytes.subarray(at));
}

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /** Lowest level written. Default "info". */
  level?: LogLevel;
  /** "text" (default) or "json". */
  format?: LogFormat;
  /** Where lines go. Default stderr. */
  sink?: LogSink;
  /** Prefix for text lines and the `role` key of JSON lines. */
  name?: string;
  /** Clock for timestamps; tests inject one. */
  now?: () => Date;
}

/**
 * A leveled logger. Text lines read `LEVEL name: message key=value`; JSON
 * lines carry `time`, `level`, `role`, `msg` and the extra fields.
 *
 * @example
 * ```ts
 * const log = new Logger({ name: "calc-server", level: "debug" });
 * log.info("client connected", { peer: "127.0.0.1:5000" });
 * ```
 */
export class Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  readonly name: string;
  #sink: LogSink;
  #rank: number;
  #now: () => Date;

  /** Creates a logger; see {@linkcode LoggerOptions}. */
  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "info";
    this.format = options.format ?? "text";
    this.name = options.name ?? "socklab";
    this.#sink = options.sink ?? stderrSink;
    this.#rank = LOG_LEVELS.indexOf(this.level);
    this.#now = options.now ?? (() => new Date());
  }

  /** Whether `level` would be written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.#rank;
  }

  /** A logger with the same settings and another name. */
  child(name: string): Logger {
    return new Logger({
      level: this.level,
      format: this.format,
      sink: this.#sink,
      name,
      now: this.#now,
    });
  }

  /** Logs at "error". */
  error(msg: string, fields?: Record<string, unknown>): void {
    this.#log("error", msg, fields);
  }
  /** Logs at "warn". */
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#log("warn", msg, fields);
  }
  /** Logs at "info". */
  info(msg: string, fields?: Record<string, unknown>): void {
    this.#log("info", msg, fields);
  }
  /** Logs at "debug". */
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#log("debug", msg, fields);
  }

  /** Writes a line as is, whatever the level: ready lines, trace. */
  raw(line: string): void {
    this.#sink(line);
  }

  #log(level: LogLevel, msg: string, fields?: Record<string, unknown>) {
    if (!this.enabled(level)) return;
    if (this.format === "json") {
      this.#sink(JSON.stringify({
        time: this.#now().toISOString(),
        level,
        role: this.name,
        msg,
        ...fields,
      }));
      return;
    }
    const extra = fields
      ? Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => ` ${k}=${formatValue(v)}`)
        .join("")
      : "";
    this.#sink(`${level.toUpperCase()} ${this.name}: ${msg}${extra}`);
  }
}

function formatValue(value: unknown): string {
  if (typeof value === "string") {
    return /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
  }
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}
