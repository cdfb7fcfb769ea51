/**
 * Flag parsing for roles on top of `node:util` `parseArgs`: typed values,
 * durations, defaults, `--help` text, and usage errors that exit 2.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A mistake in how the program was called; exits with code 2. */
export class UsageError extends Error {
  /** Creates the error; `message` says what was wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The kinds of flag value. */
export type FlagType =
  | "string"
  | "boolean"
  | "number"
  | "duration"
  | "size"
  | "list";

/** One flag of a role. */
export interface FlagSpec {
  /** Long name without dashes: "port". */
  readonly name: string;
  readonly type: FlagType;
  /** One line for `--help`. */
  readonly doc: string;
  /** Default, in the form a user would type it ("30s" for durations). */
  readonly default?: string | number | boolean;
  /** Placeholder shown in `--help`: `--port PORT`. */
  readonly value?: string;
  /** Single-letter alias. */
  readonly short?: string;
  /** For strings: the accepted values. */
  readonly choices?: readonly string[];
}

/** A parsed value. */
export type FlagValue = string | number | boolean | string[] | undefined;

/** Parsed flags with typed getters. */
export class Flags {
  #values: Record<string, FlagValue>;
  /** Arguments that were not flags. */
  readonly positionals: readonly string[];

  /** Wraps parsed values; use {@linkcode parseFlags} to make one. */
  constructor(values: Record<string, FlagValue>, positionals: string[] = []) {
    this.#values = values;
    this.positionals = positionals;
  }

  /** A string flag, or `undefined` when unset and without default. */
  string(name: string): string | undefined {
    return this.#get(name, "string") as string | undefined;
  }
  /** A number flag (durations are in milliseconds). */
  number(name: string): number | undefined {
    return this.#get(name, "number") as number | undefined;
  }
  /** A boolean flag; unset is false. */
  boolean(name: string): boolean {
    return (this.#get(name, "boolean") as boolean | undefined) ?? false;
  }
  /** A repeatable flag's values. */
  list(name: string): string[] {
    return (this.#get(name, "object") as string[] | undefined) ?? [];
  }

  #get(name: string, type: string): FlagValue {
    const value = this.#values[name];
    if (value !== undefined && typeof value !== type) {
      throw new TypeError(`Flag --${name} is a ${typeof value}, not a ${type}`);
    }
    return value;
  }
}

/**
 * Parses a duration: `500ms`, `2s`, `1.5m`, `1h`; a bare number is seconds.
 *
 * @returns Milliseconds, or `undefined` when the text is not a duration.
 * @example
 * ```ts
 * parseDuration("1.5s"); // 1500
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const n = Number(match[1]);
  const unit = match[2] ?? "s";
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit] ?? 1000;
  return Math.round(n * scale);
}

/**
 * Parses a byte size: `1048576`, `512K`, `10M`, `1.5G` (binary units, an
 * optional `iB`/`B`).
 *
 * @returns Bytes, or `undefined` when the text is not a size.
 * @example
 * ```ts
 * parseSize("10M"); // 10485760
 * ```
 */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? "").toLowerCase();
  const power = unit === "" ? 0 : "kmgt".indexOf(unit) + 1;
  return Math.floor(Number(match[1]) * 1024 ** power);
}

/**
 * Parses `args` against `specs`. Unknown flags, missing values, bad numbers
 * and bad choices throw {@linkcode UsageError}.
 *
 * @param args Arguments after the role was picked.
 * @param specs The role's flags, common ones included.
 * @param options `positionals`: whether bare arguments are allowed.
 */
export function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
  options: { positionals?: boolean } = {},
): Flags {
  const config: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const spec of specs) {
    config[spec.name] = {
      type: spec.type === "boolean" ? "boolean" : "string",
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.type === "list" ? { multiple: true } : {}),
    };
  }
  // `--trace` takes an optional value, which parseArgs cannot express.
  const normalized = args.map((a) => (a === "--trace" ? "--trace=frames" : a));
  let parsed;
  try {
    parsed = parseArgs({
      args: normalized,
      options: config,
      allowPositionals: options.positionals ?? false,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(cleanParseError((error as Error).message));
  }
  const values: Record<string, FlagValue> = {};
  for (const spec of specs) {
    const raw = (parsed.values as Record<string, FlagValue>)[spec.name] ??
      spec.default;
    values[spec.name] = convert(spec, raw);
  }
  return new Flags(values, parsed.positionals);
}

function convert(spec: FlagSpec, raw: FlagValue): FlagValue {
  if (raw === undefined) return undefined;
  switch (spec.type) {
    case "number": {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) {
        throw new UsageError(`--${spec.name} needs a number, not "${raw}"`);
      }
      return n;
    }
    case "duration": {
      const ms = typeof raw === "number" ? raw : parseDuration(String(raw));
      if (ms === undefined) {
        throw new UsageError(
          `--${spec.name} needs a duration like 500ms, 5s or 1m, not "${raw}"`,
        );
      }
      return ms;
    }
    case "size": {
      const bytes = typeof raw === "number" ? raw : parseSize(String(raw));
      if (bytes === undefined) {
        throw new UsageError(
          `--${spec.name} needs a size like 1048576, 512K, 10M or 1G, not "${raw}"`,
        );
      }
      return bytes;
    }
    case "string": {
      if (spec.choices && !spec.choices.includes(String(raw))) {
        throw new UsageError(
          `--${spec.name} must be one of ${
            spec.choices.join(", ")
          }, not "${raw}"`,
        );
      }
      return String(raw);
    }
    default:
      return raw;
  }
}

function cleanParseError(message: string): string {
  // node's messages carry hints aimed at JavaScript callers; keep the fact.
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown flag ${unknown[1]}`;
  const missing = /Option '([^']+)' argument missing/.exec(message);
  if (missing) {
    return `${missing[1]?.split(",").pop()?.trim()} needs a value`;
  }
  const ambiguous = /Option '([^']+)' argument is ambiguous/.exec(message);
  if (ambiguous) {
    // `--clock-offset -2s`: parseArgs will not take a value that looks like a flag.
    const flag = ambiguous[1];
    return `${flag} needs a value; for one that starts with a dash write ${flag}=-VALUE`;
  }
  const positional = /Unexpected argument '([^']+)'/.exec(message);
  if (positional) return `unexpected argument '${positional[1]}'`;
  return message.split(". ")[0] ?? message;
}

/**
 * The `--help` lines for a list of flags, aligned.
 *
 * @example
 * ```ts
 * formatFlagHelp([{ name: "port", type: "number", doc: "Port", default: 0 }]);
 * // ["  --port NUMBER   Port (default 0)"]
 * ```
 */
export function formatFlagHelp(specs: readonly FlagSpec[]): string[] {
  const left = specs.map((s) => {
    const short = s.short ? `-${s.short}, ` : "";
    const value = s.type === "boolean"
      ? ""
      : ` ${s.value ?? s.type.toUpperCase()}`;
    return `  ${short}--${s.name}${value}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 3;
  return specs.map((s, i) => {
    const def = s.default !== undefined && s.default !== false
      ? ` (default ${s.default})`
      : "";
    return `${(left[i] ?? "").padEnd(width)}${s.doc}${def}`;
  });
}
