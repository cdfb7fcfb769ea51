/**
 * Arithmetic expression evaluator for the calc role: a tokenizer plus a
 * recursive-descent parser that computes while it parses. Never uses `eval`
 * or `Function`, performs no I/O and touches no Deno APIs.
 *
 * @module
 */

/** Machine-readable category of a {@linkcode CalcError}. */
export type CalcErrorCode =
  | "syntax"
  | "division_by_zero"
  | "domain"
  | "too_long"
  | "too_deep"
  | "unknown_function"
  | "arity"
  | "overflow";

/**
 * The only error {@linkcode evaluate} throws for bad input. `column` is the
 * 1-based position the problem refers to, or `undefined` if there is none.
 *
 * @example
 * ```ts
 * try {
 *   evaluate("1/0");
 * } catch (err) {
 *   if (err instanceof CalcError) console.log(err.code, err.column); // division_by_zero 2
 * }
 * ```
 */
export class CalcError extends Error {
  /** Category of the problem. */
  readonly code: CalcErrorCode;
  /** 1-based column of the problem, if it has a position. */
  readonly column: number | undefined;

  /**
   * Creates an error; `message` should already contain "at column N" when
   * `column` is given.
   *
   * @example
   * ```ts
   * new CalcError("syntax", "empty expression");
   * ```
   */
  constructor(code: CalcErrorCode, message: string, column?: number) {
    super(message);
    this.name = "CalcError";
    this.code = code;
    this.column = column;
  }
}

/**
 * Resource limits for {@linkcode evaluate}.
 *
 * @example
 * ```ts
 * evaluate("((1))", { maxDepth: 2, maxLength: 100 }); // 1
 * ```
 */
export interface EvaluateOptions {
  /** Longest accepted expression in characters; default 4096. */
  maxLength?: number;
  /** Deepest nesting of parentheses, calls, unary signs and `^`; default 64. */
  maxDepth?: number;
}

/**
 * Default {@linkcode EvaluateOptions.maxLength}.
 *
 * @example
 * ```ts
 * evaluate("1".repeat(DEFAULT_MAX_LENGTH)); // accepted
 * ```
 */
export const DEFAULT_MAX_LENGTH = 4096;

/**
 * Default {@linkcode EvaluateOptions.maxDepth}.
 *
 * @example
 * ```ts
 * evaluate("(".repeat(DEFAULT_MAX_DEPTH) + "1" + ")".repeat(DEFAULT_MAX_DEPTH)); // 1
 * ```
 */
export const DEFAULT_MAX_DEPTH = 64;

type _Problem = readonly [CalcErrorCode, string];
type _Fn = (...args: number[]) => number;

interface _FunctionSpec {
  readonly min: number;
  readonly max: number;
  readonly doc: string;
  readonly apply: (args: readonly number[]) => number;
  // Runs before apply so the error names the cause, not just "NaN".
  readonly check: (args: readonly number[]) => _Problem | undefined;
}

// Spreading a huge argument list overflows the stack (possible with a raised
// maxLength), so fold in chunks; fine because min/max/hypot are associative.
function _variadic(f: _Fn): (args: readonly number[]) => number {
  const chunk = 8192;
  return (args) => {
    let values = args;
    while (values.length > chunk) {
      const folded: number[] = [];
      for (let i = 0; i < values.length; i += chunk) {
        folded.push(f(...values.slice(i, i + chunk)));
      }
      values = folded;
    }
    return f(...values);
  };
}

// Shared by `^` and pow() so both report the same errors.
function _powProblem(base: number, exponent: number): _Problem | undefined {
  if (base === 0 && exponent < 0) {
    return ["division_by_zero", "division by zero"];
  }
  if (base < 0 && !Number.isInteger(exponent)) {
    return ["domain", "fractional power of a negative number"];
  }
  return undefined;
}

const _positive = (name: string) => (x: number): _Problem | undefined =>
  x <= 0 ? ["domain", `${name} of a non-positive number`] : undefined;
const _unit = (name: string) => (x: number): _Problem | undefined =>
  x < -1 || x > 1
    ? ["domain", `${name} of a number outside [-1, 1]`]
    : undefined;
const _fine = (): undefined => undefined;

// A Map rather than an object literal so names like "constructor" or
// "__proto__" can never resolve to Object.prototype members.
const _SPECS = new Map<string, _FunctionSpec>();

/** arity: exact count, or [min, max]. */
function _def(
  name: string,
  arity: number | readonly [number, number],
  doc: string,
  f: _Fn,
  check: (x: number, y: number) => _Problem | undefined = _fine,
): void {
  const [min, max] = typeof arity === "number" ? [arity, arity] : arity;
  const apply = max > 2 ? _variadic(f) : (a: readonly number[]) => f(...a);
  _SPECS.set(name, {
    min,
    max,
    doc,
    apply,
    check: (a) => check(a[0] ?? NaN, a[1] ?? NaN),
  });
}

_def(
  "sqrt",
  1,
  "square root",
  Math.sqrt,
  (x) => x < 0 ? ["domain", "sqrt of a negative number"] : undefined,
);
_def("abs", 1, "absolute value", Math.abs);
_def("min", [1, Infinity], "smallest argument", Math.min);
_def("max", [1, Infinity], "largest argument", Math.max);
_def("floor", 1, "round down", Math.floor);
_def("ceil", 1, "round up", Math.ceil);
// Math.round sends -2.5 to -2; calculator users expect -3.
_def(
  "round",
  1,
  "round to nearest integer, halves away from zero",
  (x) => Math.sign(x) * Math.round(Math.abs(x)),
);
_def("trunc", 1, "drop the fractional part", Math.trunc);
_def("ln", 1, "natural logarithm", Math.log, _positive("ln"));
_def("log", 1, "natural logarithm (same as ln)", Math.log, _positive("log"));
_def("log10", 1, "base-10 logarithm", Math.log10, _positive("log10"));
_def("log2", 1, "base-2 logarithm", Math.log2, _positive("log2"));
_def("exp", 1, "e raised to x", Math.exp);
_def("sin", 1, "sine (radians)", Math.sin);
_def("cos", 1, "cosine (radians)", Math.cos);
_def("tan", 1, "tangent (radians)", Math.tan);
_def("asin", 1, "inverse sine, in radians", Math.asin, _unit("asin"));
_def("acos", 1, "inverse cosine, in radians", Math.acos, _unit("acos"));
_def("atan", 1, "inverse tangent, in radians", Math.atan);
_def("atan2", 2, "atan2(y, x): angle of the point (x, y)", Math.atan2);
_def("hypot", [1, Infinity], "square root of the sum of squares", Math.hypot);
_def(
  "pow",
  2,
  "pow(x, y): x raised to y, same as x^y",
  (x, y) => x ** y,
  _powProblem,
);

const _CONSTANTS = new Map<string, { value: number; doc: string }>([
  ["pi", { value: Math.PI, doc: "ratio of circumference to diameter" }],
  ["e", { value: Math.E, doc: "base of the natural logarithm" }],
]);

/**
 * Functions accepted by {@linkcode evaluate}, for `--help` output. `arity` is
 * an exact count ("1", "2") or a minimum followed by "+" ("1+").
 *
 * @example
 * ```ts
 * for (const f of FUNCTIONS) console.log(`${f.name}/${f.arity}  ${f.doc}`);
 * ```
 */
export const FUNCTIONS: readonly {
  readonly name: string;
  readonly arity: string;
  readonly doc: string;
}[] = Object.freeze(
  [..._SPECS].map(([name, spec]) =>
    Object.freeze({
      name,
      arity: spec.max === spec.min ? `${spec.min}` : `${spec.min}+`,
      doc: spec.doc,
    })
  ),
);

/**
 * Named constants accepted by {@linkcode evaluate} (names are
 * case-insensitive).
 *
 * @example
 * ```ts
 * CONSTANTS.find((c) => c.name === "pi")?.value; // 3.141592653589793
 * ```
 */
export const CONSTANTS: readonly {
  readonly name: string;
  readonly value: number;
  readonly doc: string;
}[] = Object.freeze(
  [..._CONSTANTS].map(([name, c]) => Object.freeze({ name, ...c })),
);

interface _Token {
  readonly kind: "number" | "name" | "symbol" | "end";
  readonly text: string;
  readonly column: number;
}

const _NUMBER = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
// Swallows the whole bad literal ("1..2", "1e+") so the message shows it all.
const _BAD_NUMBER = /[\d.]*(?:[eE][+-]?[\d.]*)*/y;
const _NAME = /[A-Za-z_]\w*/y;
const _SYMBOLS = "+-*/%^(),";

// Character-class checks by code: a regex test per character was half the
// evaluator's time on short expressions (see bench/calc_bench.ts).
function _isDigitOrDot(code: number): boolean {
  return (code >= 48 && code <= 57) || code === 46;
}

function _match(re: RegExp, source: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(source)?.[0];
}

function _showChar(ch: string): string {
  if (/^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) return `'${ch}'`;
  // Control and blank characters would be invisible inside quotes.
  const hex = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase();
  return `U+${hex.padStart(4, "0")}`;
}

function _syntax(message: string, column: number): CalcError {
  return new CalcError("syntax", `${message} at column ${column}`, column);
}

function _tokenize(source: string): _Token[] {
  const tokens: _Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source.charAt(i);
    const column = i + 1;
    if (ch === " " || ch === "\t") {
      i++;
    } else if (_SYMBOLS.includes(ch)) {
      tokens.push({ kind: "symbol", text: ch, column });
      i++;
    } else if (_isDigitOrDot(source.charCodeAt(i))) {
      const text = _match(_NUMBER, source, i);
      // A literal running straight into ".", a digit or "e" is malformed
      // ("1..2", "1e"), not two adjacent tokens.
      const next = text === undefined
        ? NaN
        : source.charCodeAt(i + text.length);
      if (
        text === undefined || _isDigitOrDot(next) || next === 101 || next === 69
      ) {
        const bad = _match(_BAD_NUMBER, source, i) ?? ch;
        throw _syntax(`malformed number '${bad}'`, column);
      }
      tokens.push({ kind: "number", text, column });
      i += text.length;
    } else {
      const name = _match(_NAME, source, i);
      if (name === undefined) {
        const cp = String.fromCodePoint(source.codePointAt(i) ?? 0);
        throw _syntax(`unexpected character ${_showChar(cp)}`, column);
      }
      tokens.push({ kind: "name", text: name, column });
      i += name.length;
    }
  }
  tokens.push({ kind: "end", text: "", column: source.length + 1 });
  return tokens;
}

function _unexpected(token: _Token): CalcError {
  switch (token.kind) {
    case "end":
      return new CalcError(
        "syntax",
        "unexpected end of expression",
        token.column,
      );
    case "number":
      return _syntax(`unexpected number '${token.text}'`, token.column);
    case "name":
      return _syntax(`unexpected name '${token.text}'`, token.column);
    case "symbol":
      return _syntax(`unexpected '${token.text}'`, token.column);
  }
}

function _arityMessage(name: string, spec: _FunctionSpec, got: number) {
  const least = spec.max === spec.min ? "" : "at least ";
  const noun = spec.min === 1 ? "argument" : "arguments";
  return `${name} expects ${least}${spec.min} ${noun}, got ${got}`;
}

/*
 * Grammar, lowest precedence first:
 *   expression := term (("+" | "-") term)*
 *   term       := unary (("*" | "/" | "%") unary)*
 *   unary      := ("+" | "-") unary | power
 *   power      := primary ("^" unary)?         -- right associative
 *   primary    := number | name | name "(" args? ")" | "(" expression ")"
 *
 * Syntax errors throw at once. Math errors (division by zero, domain, unknown
 * names, arity) are remembered and thrown only after the whole input parsed,
 * so "1/0 +" reports the syntax error the user must fix first. Binary chains
 * are loops, so only true nesting recurses, and that is capped by maxDepth.
 */
class _Parser {
  readonly #tokens: readonly _Token[];
  readonly #end: _Token;
  readonly #maxDepth: number;
  #pos = 0;
  #depth = 0;
  #problem: CalcError | undefined;

  constructor(tokens: readonly _Token[], maxDepth: number) {
    this.#tokens = tokens;
    // _tokenize always appends an end token; the fallback only satisfies
    // noUncheckedIndexedAccess.
    this.#end = tokens.at(-1) ?? { kind: "end", text: "", column: 1 };
    this.#maxDepth = maxDepth;
  }

  parse(): number {
    const value = this.#expression();
    const rest = this.#peek();
    if (rest.kind !== "end") throw _unexpected(rest);
    if (this.#problem) throw this.#problem;
    return value;
  }

  #peek(): _Token {
    return this.#tokens[this.#pos] ?? this.#end;
  }

  #accept(...symbols: string[]): _Token | undefined {
    const token = this.#peek();
    if (token.kind !== "symbol" || !symbols.includes(token.text)) {
      return undefined;
    }
    this.#pos++;
    return token;
  }

  #expect(symbol: string): void {
    if (!this.#accept(symbol)) {
      throw _syntax(`expected '${symbol}'`, this.#peek().column);
    }
  }

  #nested<T>(at: _Token, parse: () => T): T {
    if (++this.#depth > this.#maxDepth) {
      throw new CalcError(
        "too_deep",
        `expression is nested too deeply (limit ${this.#maxDepth})`,
        at.column,
      );
    }
    const result = parse();
    this.#depth--;
    return result;
  }

  // Records the first math error; later values are NaN and go unchecked.
  #fail(code: CalcErrorCode, message: string, column: number): number {
    this.#problem ??= new CalcError(
      code,
      `${message} at column ${column}`,
      column,
    );
    return NaN;
  }

  #result(value: number, column: number, problem?: _Problem): number {
    if (this.#problem) return NaN;
    if (problem) return this.#fail(problem[0], problem[1], column);
    if (Number.isNaN(value)) {
      return this.#fail("domain", "result is not a number", column);
    }
    if (!Number.isFinite(value)) {
      return this.#fail("overflow", "result is too large", column);
    }
    return value;
  }

  #expression(): number {
    let value = this.#term();
    for (;;) {
      const op = this.#accept("+", "-");
      if (!op) return value;
      const rhs = this.#term();
      value = this.#result(
        op.text === "+" ? value + rhs : value - rhs,
        op.column,
      );
    }
  }

  #term(): number {
    let value = this.#unary();
    for (;;) {
      const op = this.#accept("*", "/", "%");
      if (!op) return value;
      const rhs = this.#unary();
      if (op.text === "*") {
        value = this.#result(value * rhs, op.column);
      } else {
        const zero: _Problem | undefined = rhs === 0
          ? ["division_by_zero", "division by zero"]
          : undefined;
        const raw = op.text === "/" ? value / rhs : value % rhs;
        value = this.#result(raw, op.column, zero);
      }
    }
  }

  #unary(): number {
    const sign = this.#accept("+", "-");
    if (!sign) return this.#power();
    const value = this.#nested(sign, () => this.#unary());
    return sign.text === "-" ? -value : value;
  }

  #power(): number {
    const base = this.#primary();
    const op = this.#accept("^");
    if (!op) return base;
    // Parsing the exponent as a unary gives both `2^-1` and right
    // associativity (`2^3^2` = 2^(3^2)).
    const exponent = this.#nested(op, () => this.#unary());
    return this.#result(
      base ** exponent,
      op.column,
      _powProblem(base, exponent),
    );
  }

  #primary(): number {
    const token = this.#peek();
    if (token.kind === "number") {
      this.#pos++;
      const value = Number(token.text);
      return Number.isFinite(value)
        ? value
        : this.#fail("overflow", "number is too large", token.column);
    }
    if (token.kind === "name") {
      this.#pos++;
      if (this.#peek().kind === "symbol" && this.#peek().text === "(") {
        return this.#call(token);
      }
      const key = token.text.toLowerCase();
      const constant = _CONSTANTS.get(key);
      if (constant) return constant.value;
      if (_SPECS.has(key)) this.#expect("(");
      return this.#fail(
        "unknown_function",
        `unknown name '${token.text}'`,
        token.column,
      );
    }
    const open = this.#accept("(");
    if (!open) throw _unexpected(token);
    return this.#nested(open, () => {
      const value = this.#expression();
      this.#expect(")");
      return value;
    });
  }

  #call(name: _Token): number {
    const key = name.text.toLowerCase();
    const spec = _SPECS.get(key);
    // Reported before the arguments are evaluated: a typo in the name is
    // the more useful message than any error inside the arguments.
    if (!spec) {
      this.#fail(
        "unknown_function",
        `unknown function '${name.text}'`,
        name.column,
      );
    }
    const open = this.#peek();
    this.#pos++;
    const args = this.#nested(open, () => {
      const values: number[] = [];
      if (!this.#accept(")")) {
        do values.push(this.#expression()); while (this.#accept(","));
        this.#expect(")");
      }
      return values;
    });
    if (!spec) return NaN;
    if (args.length < spec.min || args.length > spec.max) {
      return this.#fail(
        "arity",
        _arityMessage(key, spec, args.length),
        name.column,
      );
    }
    return this.#result(spec.apply(args), name.column, spec.check(args));
  }
}

function _limit(value: number | undefined, fallback: number, name: string) {
  const limit = value ?? fallback;
  if (Number.isNaN(limit) || limit < 0) {
    throw new RangeError(`${name} must be a non-negative number`);
  }
  return limit;
}

/**
 * Evaluates an arithmetic expression such as `2 * (3 + sqrt(16))^2`.
 *
 * Supports `+ - * / % ^`, unary signs, parentheses, decimal and exponent
 * literals, the functions in {@linkcode FUNCTIONS} and the constants in
 * {@linkcode CONSTANTS}. `%` is the remainder with the sign of the dividend.
 *
 * @throws {CalcError} for any invalid expression or non-finite result.
 * @throws {RangeError} if an option is negative or NaN.
 *
 * @example
 * ```ts
 * evaluate("2^3^2"); // 512
 * evaluate("-2^2"); // -4
 * evaluate("max(1, 2, 3) * pi"); // 9.42477796076938
 * ```
 */
export function evaluate(
  expression: string,
  options: EvaluateOptions = {},
): number {
  const maxLength = _limit(options.maxLength, DEFAULT_MAX_LENGTH, "maxLength");
  const maxDepth = _limit(options.maxDepth, DEFAULT_MAX_DEPTH, "maxDepth");
  // Checked before tokenizing so huge inputs cost nothing.
  if (expression.length > maxLength) {
    const n = expression.length;
    const size = `${n} character${n === 1 ? "" : "s"}`;
    throw new CalcError(
      "too_long",
      `expression is too long (${size}, limit ${maxLength})`,
    );
  }
  const tokens = _tokenize(expression);
  if (tokens.length === 1) throw new CalcError("syntax", "empty expression");
  return new _Parser(tokens, maxDepth).parse();
}

/**
 * Formats a result for display: integers print in full without ".0",
 * other values with at most 15 significant digits (hiding binary rounding
 * noise), huge or tiny magnitudes in JavaScript exponent form, and -0 as "0".
 *
 * @example
 * ```ts
 * formatResult(0.1 + 0.2); // "0.3"
 * formatResult(1 / 3); // "0.333333333333333"
 * formatResult(1e21); // "1e+21"
 * ```
 */
export function formatResult(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const shown = Number.isInteger(value) ? value : Number(value.toPrecision(15));
  return shown === 0 ? "0" : String(shown);
}
