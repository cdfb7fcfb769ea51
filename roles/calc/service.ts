/**
 * The calc service (HW1): evaluates each `calc_request` with the real
 * parser in `evaluate.ts` and answers `calc_result`, or an error frame that
 * names the problem and its column.
 *
 * @module
 */

import { ProtocolError } from "../../protocol/tlv/protocol_error.ts";
import type { ErrorName, Message } from "../../protocol/tlv/registry.ts";
import type { Session, TlvService } from "../../lib/server.ts";
import {
  CalcError,
  type CalcErrorCode,
  evaluate,
  type EvaluateOptions,
  formatResult,
} from "./evaluate.ts";

const WIRE_CODE: Record<CalcErrorCode, ErrorName> = {
  syntax: "calc_syntax",
  arity: "calc_syntax",
  division_by_zero: "calc_math",
  domain: "calc_math",
  overflow: "calc_math",
  unknown_function: "calc_math",
  too_long: "calc_limit",
  too_deep: "calc_limit",
};

/**
 * Maps an evaluator error to its wire error.
 *
 * @example
 * ```ts
 * toProtocolError(new CalcError("division_by_zero", "division by zero at column 2", 2)).code; // "calc_math"
 * ```
 */
export function toProtocolError(error: CalcError): ProtocolError {
  return new ProtocolError(
    WIRE_CODE[error.code],
    error.message,
    error.column !== undefined ? { column: error.column } : {},
  );
}

/**
 * Creates the calc service.
 *
 * @param options Evaluator limits (expression length, nesting depth).
 * @example
 * ```ts
 * await using server = new TlvServer({ services: [calcService()] });
 * ```
 */
export function calcService(options: EvaluateOptions = {}): TlvService {
  return {
    name: "calc",
    handle(message: Message, session: Session): void {
      if (message.type !== "calc_request") {
        throw new ProtocolError(
          "unexpected_message",
          `the calc service does not accept ${message.type}`,
        );
      }
      const { id, expression } = message.fields;
      let value: number;
      try {
        value = evaluate(expression, options);
      } catch (error) {
        if (error instanceof CalcError) throw toProtocolError(error);
        throw error;
      }
      session.send("calc_result", { id, value, text: formatResult(value) });
    },
  };
}
