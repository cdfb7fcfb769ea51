/**
 * The calculator as a JSON API on the web server: `POST /api/calc` with
 * `{"expression": "…"}` and `GET /api/calc?expr=…`, answered with
 * `{"result": …, "text": "…"}` or an error status with `{"error": "…"}`.
 *
 * @module
 */

import {
  HttpError,
  type HttpRequest,
  type HttpResponse,
} from "../../lib/http_server.ts";
import { CalcError, evaluate, formatResult } from "../calc/evaluate.ts";

/** Largest JSON request body accepted. */
export const MAX_API_BODY = 64 * 1024;

function json(status: number, value: unknown): HttpResponse {
  return {
    status,
    headers: [["content-type", "application/json"]],
    body: JSON.stringify(value) + "\n",
  };
}

/**
 * Evaluates one expression into an API response: 200 with the result, 422
 * with the error (and its column) when it has no value.
 *
 * @example
 * ```ts
 * answer("1/0"); // 422 {"error":"division by zero at column 2","column":2}
 * ```
 */
export function answer(expression: string): HttpResponse {
  try {
    const value = evaluate(expression);
    return json(200, { expression, result: value, text: formatResult(value) });
  } catch (error) {
    if (!(error instanceof CalcError)) throw error;
    return json(422, {
      expression,
      error: error.message,
      code: error.code,
      ...(error.column !== undefined ? { column: error.column } : {}),
    });
  }
}

/** Handles `/api/calc`. */
export async function calcApi(request: HttpRequest): Promise<HttpResponse> {
  if (request.method === "GET" || request.method === "HEAD") {
    const expression = request.query.get("expr") ??
      request.query.get("expression");
    if (expression === null) {
      return json(400, {
        error: "missing query parameter 'expr', e.g. /api/calc?expr=1%2B2",
      });
    }
    return answer(expression);
  }
  if (request.method !== "POST") {
    throw new HttpError(
      405,
      `${request.method} is not allowed on /api/calc; use GET or POST.`,
      [
        ["allow", "GET, HEAD, POST"],
      ],
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await request.text(MAX_API_BODY));
  } catch (error) {
    if (error instanceof HttpError) throw error;
    return json(400, {
      error: `the body is not JSON: ${(error as Error).message}`,
    });
  }
  const expression = (parsed as { expression?: unknown } | null)?.expression;
  if (typeof expression !== "string") {
    return json(400, {
      error: 'expected a JSON object like {"expression": "1+2"}',
    });
  }
  return answer(expression);
}
