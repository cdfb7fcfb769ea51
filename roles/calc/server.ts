/**
 * `socklab --role calc-server`: the HW1 online calculator server.
 *
 * @module
 */

import { TlvServer } from "../../lib/server.ts";
import { type Role, serverOptions, serveUntilStopped } from "../role.ts";
import {
  CONSTANTS,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_LENGTH,
  FUNCTIONS,
} from "./evaluate.ts";
import { calcService } from "./service.ts";

/** `--help` text describing the expression language. */
export function calcLanguageHelp(): string {
  const functions = FUNCTIONS.map((f) => {
    // A doc may spell its own signature ("atan2(y, x): …"); use it when so.
    const own = f.doc.startsWith(`${f.name}(`) ? f.doc.indexOf("): ") : -1;
    const args = f.arity === "1" ? "x" : f.arity === "2" ? "x, y" : "x, ...";
    const signature = own > 0 ? f.doc.slice(0, own + 1) : `${f.name}(${args})`;
    const doc = own > 0 ? f.doc.slice(own + 3) : f.doc;
    return `  ${signature.padEnd(16)}${doc}`;
  });
  const constants = CONSTANTS.map((c) => `  ${c.name.padEnd(16)}${c.doc}`);
  return [
    "Expressions:",
    "  numbers 42, 1.5, .5, 1.5e3; operators + - * / % ^ and parentheses.",
    "  ^ binds tightest and is right-associative: 2^3^2 = 512, -2^2 = -4.",
    "",
    "Functions:",
    ...functions,
    "",
    "Constants:",
    ...constants,
  ].join("\n");
}

/** The calc-server role. */
export const calcServerRole: Role = {
  name: "calc-server",
  summary: "HW1: evaluate arithmetic expressions for calc clients",
  kind: "server",
  files: "none",
  flags: [
    {
      name: "max-expression",
      type: "number",
      doc: "longest expression accepted, in characters",
      default: DEFAULT_MAX_LENGTH,
    },
    {
      name: "max-depth",
      type: "number",
      doc: "deepest nesting of parentheses, functions and operators",
      default: DEFAULT_MAX_DEPTH,
    },
  ],
  details: calcLanguageHelp,
  examples: [
    "socklab --role calc-server --port 9000",
    "socklab --role calc-server --port 9000 --trace",
  ],
  run(ctx) {
    const service = calcService({
      maxLength: ctx.flags.number("max-expression") ?? DEFAULT_MAX_LENGTH,
      maxDepth: ctx.flags.number("max-depth") ?? DEFAULT_MAX_DEPTH,
    });
    const options = serverOptions(ctx);
    const server = new TlvServer({ ...options, services: [service] });
    return serveUntilStopped(ctx, server, options.tls ? "tls" : "tcp");
  },
};
