/**
 * `socklab --role passwd`: adds a user to an HW5 users file, changes a
 * password, or removes a user. At a terminal the password is asked twice
 * with echo off; piped, the first line of stdin is the password.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import { MAX_SECRET_BYTES, promptHidden } from "../../lib/hidden_prompt.ts";
import { readLines } from "../../lib/lines.ts";
import { printLine } from "../../lib/log.ts";
import type { Role } from "../role.ts";
import {
  DEFAULT_ITERATIONS,
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  removeUser,
  setPassword,
  validUserName,
} from "./users.ts";

/**
 * The new password: asked twice at a terminal (echo off), else the first
 * line of stdin.
 *
 * @throws {Error} when the two differ, the password is empty or stdin has
 *   no line; {@linkcode PromptError} when the user cancels.
 */
async function readNewPassword(
  name: string,
  signal: AbortSignal,
): Promise<string> {
  let password: string;
  if (Deno.stdin.isTerminal()) {
    const [first = "", again = ""] = await promptHidden(
      [`Password for ${name}: `, "Again: "],
      { signal },
    );
    if (first !== again) {
      throw new Error("the passwords do not match; nothing changed");
    }
    password = first;
  } else {
    let line: string | undefined;
    for await (const l of readLines(Deno.stdin.readable, MAX_SECRET_BYTES)) {
      line = l;
      break;
    }
    if (line === undefined) {
      throw new Error(
        "no password on stdin: pipe it as one line, or run at a terminal to be asked",
      );
    }
    password = line;
  }
  if (password === "") {
    throw new Error("Cannot use an empty password; nothing changed");
  }
  return password;
}

/** The passwd role. */
export const passwdRole: Role = {
  name: "passwd",
  summary:
    "HW5: add a user to a users file, change a password, or remove a user",
  kind: "tool",
  files: "read-write",
  network: false,
  positionals: "NAME",
  flags: [
    {
      name: "users",
      type: "string",
      doc: "the users file to change; created (mode 600) when missing",
      value: "FILE",
    },
    { name: "delete", type: "boolean", doc: "remove the user instead" },
    {
      name: "iterations",
      type: "number",
      doc:
        `PBKDF2-HMAC-SHA256 iterations of the new hash, ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`,
      default: DEFAULT_ITERATIONS,
      value: "N",
    },
  ],
  details: () =>
    [
      "At a terminal the password is asked twice and not shown; piped, the",
      "first line of stdin is the password. The file keeps a salted PBKDF2 hash",
      "per user, never the password. Names: 1 to 64 letters, digits, '.', '_'",
      "or '-', not starting with '.' or '-'.",
    ].join("\n"),
  examples: [
    "socklab --role passwd --users users.txt alice      # asks for the password twice",
    "printf 'wonderland\\n' | socklab --role passwd --users users.txt alice",
    "socklab --role passwd --users users.txt --delete bob",
  ],
  async run(ctx) {
    const { flags } = ctx;
    const users = flags.string("users");
    if (users === undefined) {
      throw new UsageError(
        "--users is required: the users file to change, e.g. --users users.txt",
      );
    }
    const [name, ...extra] = flags.positionals;
    if (name === undefined) {
      throw new UsageError(
        `give the user's NAME: socklab --role passwd --users ${users} NAME`,
      );
    }
    if (extra.length > 0) {
      throw new UsageError(
        `give one user NAME, not ${flags.positionals.length}`,
      );
    }
    if (!validUserName(name)) {
      throw new UsageError(
        `bad user name ${
          JSON.stringify(name)
        }: use 1 to 64 letters, digits, ".", "_" or "-", not starting with "." or "-"`,
      );
    }
    if (flags.boolean("delete")) {
      await removeUser(users, name);
      printLine(`removed user ${name} from ${users}`);
      return 0;
    }
    const iterations = flags.number("iterations") ?? DEFAULT_ITERATIONS;
    if (
      !Number.isInteger(iterations) || iterations < MIN_ITERATIONS ||
      iterations > MAX_ITERATIONS
    ) {
      throw new UsageError(
        `--iterations must be a whole number from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}, not ${iterations}`,
      );
    }
    const password = await readNewPassword(name, ctx.signal);
    const outcome = await setPassword(users, name, password, { iterations });
    printLine(
      outcome === "added"
        ? `added user ${name} to ${users}`
        : `changed the password of ${name} in ${users}`,
    );
    return 0;
  },
};
