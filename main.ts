/**
 * socklab: one binary, many roles. Parses `--role`, looks the role up, runs
 * it, and maps errors to exit codes (0 success, 1 failure, 2 usage).
 *
 * @module
 */

import { UsageError } from "./lib/flags.ts";
import { Logger, printLine } from "./lib/log.ts";
import { VERSION } from "./lib/version.ts";
import { findRole, ROLES } from "./roles/registry.ts";
import { mainHelp, runRole } from "./roles/run.ts";

/** Splits `--role NAME` / `--role=NAME` out of the arguments. */
function takeRole(
  args: string[],
): { role: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let role: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--role") {
      role = args[++i];
      if (role === undefined) {
        throw new UsageError("--role needs a role name; see socklab --help");
      }
    } else if (arg.startsWith("--role=")) {
      role = arg.slice("--role=".length);
    } else {
      rest.push(arg);
    }
  }
  return { role, rest };
}

/** Runs the program and returns its exit code. */
export async function main(args: string[]): Promise<number> {
  // The role's flags may not be parsed when an error is logged, so honour
  // --log-format and --log-level here too.
  const flag = (name: string) =>
    args.findLast((a, i) =>
      a === `--${name}=` + a.split("=")[1] || args[i - 1] === `--${name}`
    )
      ?.replace(`--${name}=`, "");
  const json = flag("log-format") === "json";
  const log = new Logger({ name: "socklab", format: json ? "json" : "text" });
  const debug = flag("log-level") === "debug";
  try {
    const { role: name, rest } = takeRole(args);
    if (name === undefined) {
      if (rest.includes("--version") || rest.includes("-V")) {
        printLine(`socklab ${VERSION}`);
        return 0;
      }
      if (rest.length === 0 || rest.includes("--help") || rest.includes("-h")) {
        printLine(mainHelp());
        return rest.length === 0 ? 2 : 0;
      }
      throw new UsageError(
        `no role given; pick one with --role NAME (${
          ROLES.map((r) => r.name).join(", ")
        })`,
      );
    }
    const role = findRole(name);
    if (role === undefined) {
      throw new UsageError(
        `unknown role "${name}"; socklab --help lists the roles`,
      );
    }
    return await runRole(role, rest);
  } catch (error) {
    if (error instanceof UsageError) {
      log.error(error.message);
      return 2;
    }
    log.error(error instanceof Error ? error.message : String(error));
    if (debug && error instanceof Error && error.stack) log.raw(error.stack);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
