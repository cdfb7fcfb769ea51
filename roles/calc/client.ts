/**
 * `socklab --role calc-client`: the HW1 calculator client. Sends expressions
 * pipelined on one connection, prints each answer, and writes `result.txt`
 * atomically: one `EXPRESSION = RESULT` or `EXPRESSION = error: MESSAGE`
 * line per expression.
 *
 * @module
 */

import { writeFileAtomic } from "../../lib/atomic_write.ts";
import { connectTlv, type TlvClient } from "../../lib/client.ts";
import { UsageError } from "../../lib/flags.ts";
import { promptLines, readListFile } from "../../lib/lines.ts";
import { printLine } from "../../lib/log.ts";
import { clientOptions, type Role } from "../role.ts";

/** The answer to one expression. */
export type CalcOutcome =
  | { readonly expression: string; readonly ok: true; readonly text: string }
  | { readonly expression: string; readonly ok: false; readonly error: string };

/**
 * Sends one expression and turns the answer into an outcome; a failed
 * request (server error frame or lost connection) becomes an error outcome.
 */
export async function calculate(
  client: TlvClient,
  expression: string,
): Promise<CalcOutcome> {
  try {
    const reply = await client.request("calc_request", { expression });
    if (reply.type !== "calc_result") {
      return {
        expression,
        ok: false,
        error: `unexpected ${reply.type} from server`,
      };
    }
    return { expression, ok: true, text: reply.fields.text };
  } catch (error) {
    return { expression, ok: false, error: (error as Error).message };
  }
}

/**
 * Sends every expression at once (pipelined) and returns the outcomes in
 * input order.
 *
 * @example
 * ```ts
 * const outcomes = await calculateAll(client, ["1+2", "1/0"]);
 * formatOutcome(outcomes[1]!); // "1/0 = error: division by zero at column 2"
 * ```
 */
export function calculateAll(
  client: TlvClient,
  expressions: readonly string[],
): Promise<CalcOutcome[]> {
  return Promise.all(expressions.map((e) => calculate(client, e)));
}

/** One line of `result.txt`. */
export function formatOutcome(outcome: CalcOutcome): string {
  return outcome.ok
    ? `${outcome.expression} = ${outcome.text}`
    : `${outcome.expression} = error: ${outcome.error}`;
}

/** The calc-client role. */
export const calcClientRole: Role = {
  name: "calc-client",
  summary:
    "HW1: send expressions to a calc server, save the answers to result.txt",
  kind: "client",
  files: "read-write",
  positionals: "[EXPRESSION...]",
  flags: [
    {
      name: "file",
      type: "string",
      doc: "read expressions from FILE, one per line (# comments)",
      value: "FILE",
    },
    {
      name: "out",
      type: "string",
      doc: "where to write the results",
      default: "result.txt",
      value: "FILE",
    },
  ],
  examples: [
    "socklab --role calc-client --port 9000 '1+2*3' '2^3^2' 'sqrt(2)'",
    "socklab --role calc-client --port 9000 --file testdata/calc/expressions.txt --out result.txt",
    "socklab --role calc-client --port 9000        # type expressions at the prompt, Ctrl-D to finish",
  ],
  async run(ctx) {
    const file = ctx.flags.string("file");
    const out = ctx.flags.string("out") ?? "result.txt";
    const positionals = ctx.flags.positionals;
    if (file !== undefined && positionals.length > 0) {
      throw new UsageError(
        "give expressions as arguments or with --file, not both",
      );
    }
    const listed = file !== undefined
      ? await readListFile(file)
      : [...positionals];
    const client = await connectTlv(clientOptions(ctx, "calc"));
    let outcomes: CalcOutcome[];
    try {
      outcomes = listed.length > 0 || file !== undefined
        ? await printInOrder(listed.map((e) => calculate(client, e)))
        : await fromStdin(client);
    } finally {
      await client.close();
    }
    if (outcomes.length === 0) {
      ctx.log.warn("no expressions given; nothing written");
      return 0;
    }
    try {
      await writeFileAtomic(out, outcomes.map(formatOutcome).join("\n") + "\n");
    } catch (error) {
      const reason = error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : error instanceof Deno.errors.NotFound
        ? "its directory does not exist"
        : (error as Error).message;
      throw new Error(`Cannot write ${out}: ${reason}`);
    }
    const failed = outcomes.filter((o) => !o.ok).length;
    ctx.log.info(`wrote ${out}`, { expressions: outcomes.length, failed });
    return failed > 0 ? 1 : 0;
  },
};

/** Prints outcomes in input order as they arrive. */
async function printInOrder(
  pending: Promise<CalcOutcome>[],
): Promise<CalcOutcome[]> {
  const done: CalcOutcome[] = [];
  for (const p of pending) {
    const outcome = await p;
    printLine(formatOutcome(outcome));
    done.push(outcome);
  }
  return done;
}

/**
 * Stdin: at a terminal each typed line is answered before the next prompt;
 * piped input is sent as it is read, pipelined, and printed in order.
 */
async function fromStdin(client: TlvClient): Promise<CalcOutcome[]> {
  const interactive = Deno.stdin.isTerminal();
  const pending: Promise<CalcOutcome>[] = [];
  const done: CalcOutcome[] = [];
  for await (const raw of promptLines("calc> ")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (interactive && (line === "quit" || line === "exit")) break;
    const outcome = calculate(client, line);
    if (interactive) {
      const o = await outcome;
      printLine(formatOutcome(o));
      done.push(o);
    } else {
      pending.push(outcome);
    }
  }
  return interactive ? done : printInOrder(pending);
}
