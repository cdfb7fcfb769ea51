import assert from "node:assert/strict";
import {
  CalcError,
  type CalcErrorCode,
  CONSTANTS,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_LENGTH,
  evaluate,
  type EvaluateOptions,
  formatResult,
  FUNCTIONS,
} from "./evaluate.ts";

type ValueCase = readonly [expression: string, expected: number];
type ErrorCase = readonly [
  expression: string,
  code: CalcErrorCode,
  message: string,
  column: number | undefined,
];

/** Exact comparison unless `tolerance` (relative) is given. */
function checkValues(cases: readonly ValueCase[], tolerance = 0): void {
  for (const [expression, expected] of cases) {
    const actual = evaluate(expression);
    const label = `evaluate(${JSON.stringify(expression)})`;
    if (tolerance === 0) {
      assert.equal(actual, expected, label);
    } else {
      const error = Math.abs(actual - expected);
      assert.ok(
        error <= tolerance * Math.max(1, Math.abs(expected)),
        `${label} = ${actual}, want ${expected}`,
      );
    }
  }
}

// Math.sin and friends may differ in the last bit between platforms.
const TRANSCENDENTAL = 1e-12;

function checkError(
  expression: string,
  code: CalcErrorCode,
  message: string,
  column: number | undefined,
  options?: EvaluateOptions,
): void {
  const label = `evaluate(${JSON.stringify(expression.slice(0, 40))})`;
  assert.throws(
    () => evaluate(expression, options),
    (err: unknown) => {
      assert.ok(err instanceof CalcError, `${label} threw ${String(err)}`);
      assert.equal(err.message, message, label);
      assert.equal(err.code, code, label);
      assert.equal(err.column, column, `${label} column`);
      return true;
    },
  );
}

function checkErrors(cases: readonly ErrorCase[]): void {
  for (const [expression, code, message, column] of cases) {
    checkError(expression, code, message, column);
  }
}

Deno.test({
  name: "evaluate() applies operator precedence",
  permissions: "none",
  fn() {
    checkValues([
      ["1+2*3", 7],
      ["(1+2)*3", 9],
      ["2*3+4", 10],
      ["10-4/2", 8],
      ["2+3^2", 11],
      ["2*3^2", 18],
      ["7%4*2", 6],
      ["1+2*3^2-4/2", 17],
      ["(2+3)^2", 25],
      ["2*(3+4)*5", 70],
      ["((((7))))", 7],
    ]);
  },
});

Deno.test({
  name: "evaluate() is left associative for + - * / %",
  permissions: "none",
  fn() {
    checkValues([
      ["8/4/2", 1],
      ["10-3-2", 5],
      ["100/10*2", 20],
      ["17%5%3", 2],
      ["1-1+1", 1],
      ["2*3%4", 2],
    ]);
  },
});

Deno.test({
  name: "evaluate() follows right associativity for ^",
  permissions: "none",
  fn() {
    checkValues([
      ["2^3^2", 512],
      ["2^2^3", 256],
      ["(2^3)^2", 64],
      ["4^0.5", 2],
      ["0^0", 1],
      ["(-2)^3", -8],
    ]);
  },
});

Deno.test({
  name: "evaluate() binds unary minus looser than ^",
  permissions: "none",
  fn() {
    checkValues([
      ["-2^2", -4],
      ["(-2)^2", 4],
      ["--2", 2],
      ["2^-1", 0.5],
      ["-(3)", -3],
      ["+5", 5],
      ["-+-3", 3],
      ["2*-3", -6],
      ["2--3", 5],
      ["3 - -3", 6],
      ["2^-2^2", 0.0625],
      ["-2^-2", -0.25],
      ["-3^2+1", -8],
    ]);
  },
});

Deno.test({
  name: "evaluate() reads decimal and exponent literals",
  permissions: "none",
  fn() {
    checkValues([
      [".5", 0.5],
      ["5.", 5],
      ["1.5", 1.5],
      ["1.5e3", 1500],
      ["2E-2", 0.02],
      ["1e+2", 100],
      ["1.e1", 10],
      [".5e1", 5],
      ["007", 7],
      ["0.1+0.2", 0.1 + 0.2],
      ["123456789*1000", 123456789000],
    ]);
  },
});

Deno.test({
  name: "evaluate() computes % as the remainder with the dividend's sign",
  permissions: "none",
  fn() {
    checkValues([
      ["7%3", 1],
      ["-7%3", -1],
      ["7%-3", 1],
      ["7.5%2", 1.5],
      ["6%3", 0],
    ]);
  },
});

Deno.test({
  name: "evaluate() calls every function",
  permissions: "none",
  fn() {
    checkValues([
      ["sqrt(16)", 4],
      ["sqrt(2)", Math.SQRT2],
      ["abs(-3)", 3],
      ["min(3)", 3],
      ["min(3, 1, 2)", 1],
      ["min(-1, -5, 0, 2, 7, -3, 4, 9)", -5],
      ["max(1, 5, 3, 9, 2, 8, 0, -4)", 9],
      ["floor(-2.5)", -3],
      ["ceil(-2.5)", -2],
      ["round(2.5)", 3],
      ["round(-2.5)", -3],
      ["round(2.4)", 2],
      ["trunc(-2.7)", -2],
      ["ln(e)", 1],
      ["log(1)", 0],
      ["log10(1000)", 3],
      ["log2(8)", 3],
      ["exp(0)", 1],
      ["exp(1)", Math.E],
      ["sin(0)", 0],
      ["sin(pi/2)", 1],
      ["cos(0)", 1],
      ["tan(pi/4)", 1],
      ["asin(1)", Math.PI / 2],
      ["acos(1)", 0],
      ["acos(-1)", Math.PI],
      ["atan(1)", Math.PI / 4],
      ["atan2(1, 1)", Math.PI / 4],
      ["atan2(0, -1)", Math.PI],
      ["hypot(3, 4)", 5],
      ["hypot(2, 3, 6)", 7],
      ["hypot(-5)", 5],
      ["pow(2, 10)", 1024],
      ["pow(2, pow(2, 3))", 256],
      ["sqrt(sqrt(16))", 2],
      ["max(1, 2) + min(3, 4)", 5],
      ["SQRT(4)", 2],
      ["Max(1, 2)", 2],
    ], TRANSCENDENTAL);
  },
});

Deno.test({
  name: "evaluate() knows the constants pi and e in any case",
  permissions: "none",
  fn() {
    checkValues([
      ["pi", Math.PI],
      ["PI", Math.PI],
      ["e", Math.E],
      ["E", Math.E],
      ["2*pi", 2 * Math.PI],
      ["e^2", Math.E ** 2],
    ], TRANSCENDENTAL);
  },
});

Deno.test({
  name: "evaluate() ignores spaces and tabs",
  permissions: "none",
  fn() {
    checkValues([
      [" 1 + 2 ", 3],
      ["\t3\t*\t4", 12],
      ["sqrt ( 16 )", 4],
      ["min( 1 , 2 )", 1],
      ["  - 2 ^ 2", -4],
    ]);
  },
});

Deno.test({
  name: "evaluate() handles long flat chains without recursion",
  permissions: "none",
  fn() {
    assert.equal(evaluate("1+".repeat(2000) + "1"), 2001);
    const unlimited = { maxLength: Infinity };
    assert.equal(evaluate("1+".repeat(200_000) + "1", unlimited), 200_001);
    const many = "max(" + "1,".repeat(300_000) + "2)";
    assert.equal(evaluate(many, unlimited), 2);
  },
});

Deno.test({
  name: "formatResult() prints integers plainly and rounds to 15 digits",
  permissions: "none",
  fn() {
    const cases: readonly [number, string][] = [
      [0.1 + 0.2, "0.3"],
      [1 / 3, "0.333333333333333"],
      [2 / 3, "0.666666666666667"],
      [5, "5"],
      [-5, "-5"],
      [-2.5, "-2.5"],
      [0, "0"],
      [-0, "0"],
      [1e21, "1e+21"],
      [1e-7, "1e-7"],
      [123456789, "123456789"],
      [2 ** 53, "9007199254740992"],
      [Math.PI, "3.14159265358979"],
      [1.5e300, "1.5e+300"],
      [evaluate("sin(pi)"), "1.22464679914735e-16"],
    ];
    for (const [value, expected] of cases) {
      assert.equal(formatResult(value), expected, `formatResult(${value})`);
    }
  },
});

Deno.test({
  name: "evaluate() reports syntax errors with their column",
  permissions: "none",
  fn() {
    checkErrors([
      ["2(3)", "syntax", "unexpected '(' at column 2", 2],
      ["1+", "syntax", "unexpected end of expression", 3],
      ["1^2^", "syntax", "unexpected end of expression", 5],
      ["1 + ", "syntax", "unexpected end of expression", 5],
      ["(1", "syntax", "expected ')' at column 3", 3],
      ["(1 2", "syntax", "expected ')' at column 4", 4],
      [")", "syntax", "unexpected ')' at column 1", 1],
      ["(1+2))", "syntax", "unexpected ')' at column 6", 6],
      ["()", "syntax", "unexpected ')' at column 2", 2],
      ["1..2", "syntax", "malformed number '1..2' at column 1", 1],
      ["1e", "syntax", "malformed number '1e' at column 1", 1],
      ["2*1e+", "syntax", "malformed number '1e+' at column 3", 3],
      ["1.2.3", "syntax", "malformed number '1.2.3' at column 1", 1],
      [".", "syntax", "malformed number '.' at column 1", 1],
      ["$", "syntax", "unexpected character '$' at column 1", 1],
      ["1+$", "syntax", "unexpected character '$' at column 3", 3],
      ["1\n", "syntax", "unexpected character U+000A at column 2", 2],
      ["1+*2", "syntax", "unexpected '*' at column 3", 3],
      ["1 2", "syntax", "unexpected number '2' at column 3", 3],
      ["2pi", "syntax", "unexpected name 'pi' at column 2", 2],
      ["sqrt", "syntax", "expected '(' at column 5", 5],
      ["sqrt 4", "syntax", "expected '(' at column 6", 6],
      ["max(1,)", "syntax", "unexpected ')' at column 7", 7],
      ["(,)", "syntax", "unexpected ',' at column 2", 2],
      ["1,2", "syntax", "unexpected ',' at column 2", 2],
      ["", "syntax", "empty expression", undefined],
      [" \t ", "syntax", "empty expression", undefined],
      // Syntax errors win over math errors found earlier in the input.
      ["1/0 + )", "syntax", "unexpected ')' at column 7", 7],
    ]);
  },
});

Deno.test({
  name: "evaluate() reports math errors with their column",
  permissions: "none",
  fn() {
    checkErrors([
      ["1/0", "division_by_zero", "division by zero at column 2", 2],
      ["5%0", "division_by_zero", "division by zero at column 2", 2],
      ["1/(2-2)", "division_by_zero", "division by zero at column 2", 2],
      ["0^-1", "division_by_zero", "division by zero at column 2", 2],
      ["pow(0, -1)", "division_by_zero", "division by zero at column 1", 1],
      ["10^400", "overflow", "result is too large at column 3", 3],
      ["exp(1000)", "overflow", "result is too large at column 1", 1],
      ["1e308*10", "overflow", "result is too large at column 6", 6],
      ["1e400", "overflow", "number is too large at column 1", 1],
      ["sqrt(-1)", "domain", "sqrt of a negative number at column 1", 1],
      ["ln(0)", "domain", "ln of a non-positive number at column 1", 1],
      ["log(-1)", "domain", "log of a non-positive number at column 1", 1],
      ["1+log10(0)", "domain", "log10 of a non-positive number at column 3", 3],
      ["log2(-2)", "domain", "log2 of a non-positive number at column 1", 1],
      ["asin(2)", "domain", "asin of a number outside [-1, 1] at column 1", 1],
      [
        "acos(-1.5)",
        "domain",
        "acos of a number outside [-1, 1] at column 1",
        1,
      ],
      [
        "(-8)^(1/3)",
        "domain",
        "fractional power of a negative number at column 5",
        5,
      ],
      // The first math error in reading order is the one reported.
      [
        "sqrt(-1) + 1/0",
        "domain",
        "sqrt of a negative number at column 1",
        1,
      ],
    ]);
  },
});

Deno.test({
  name: "evaluate() rejects unknown names and wrong argument counts",
  permissions: "none",
  fn() {
    checkErrors([
      ["foo(1)", "unknown_function", "unknown function 'foo' at column 1", 1],
      ["x+1", "unknown_function", "unknown name 'x' at column 1", 1],
      ["1 + bar", "unknown_function", "unknown name 'bar' at column 5", 5],
      ["pi(2)", "unknown_function", "unknown function 'pi' at column 1", 1],
      [
        "foo(1/0)",
        "unknown_function",
        "unknown function 'foo' at column 1",
        1,
      ],
      // Object.prototype members must not leak in as functions or names.
      [
        "constructor(1)",
        "unknown_function",
        "unknown function 'constructor' at column 1",
        1,
      ],
      [
        "toString",
        "unknown_function",
        "unknown name 'toString' at column 1",
        1,
      ],
      [
        "__proto__",
        "unknown_function",
        "unknown name '__proto__' at column 1",
        1,
      ],
      ["sqrt(1, 2)", "arity", "sqrt expects 1 argument, got 2 at column 1", 1],
      ["atan2(1)", "arity", "atan2 expects 2 arguments, got 1 at column 1", 1],
      [
        "2*pow(1,2,3)",
        "arity",
        "pow expects 2 arguments, got 3 at column 3",
        3,
      ],
      [
        "max()",
        "arity",
        "max expects at least 1 argument, got 0 at column 1",
        1,
      ],
      ["abs()", "arity", "abs expects 1 argument, got 0 at column 1", 1],
    ]);
  },
});

Deno.test({
  name: "evaluate() rejects expressions longer than maxLength",
  permissions: "none",
  fn() {
    checkError(
      "1+".repeat(2500),
      "too_long",
      "expression is too long (5000 characters, limit 4096)",
      undefined,
    );
    checkError(
      "1+1+1+1+1+1",
      "too_long",
      "expression is too long (11 characters, limit 10)",
      undefined,
      { maxLength: 10 },
    );
    assert.equal(evaluate("0".repeat(DEFAULT_MAX_LENGTH - 1) + "1"), 1);
    assert.equal(DEFAULT_MAX_LENGTH, 4096);
  },
});

Deno.test({
  name: "evaluate() caps nesting depth without overflowing the stack",
  permissions: "none",
  fn() {
    const message = "expression is nested too deeply (limit 64)";
    const unlimited = { maxLength: Infinity };
    const deep = [
      "(".repeat(100_000),
      "(".repeat(100_000) + "1" + ")".repeat(100_000),
      "-".repeat(100_000) + "1",
      "2^".repeat(100_000) + "2",
      "sqrt(".repeat(100_000) + "1" + ")".repeat(100_000),
    ];
    for (const expression of deep) {
      const started = performance.now();
      assert.throws(
        () => evaluate(expression, unlimited),
        (err: unknown) =>
          err instanceof CalcError && err.code === "too_deep" &&
          err.message === message,
      );
      assert.ok(performance.now() - started < 2000, "too_deep must be quick");
    }

    const n = DEFAULT_MAX_DEPTH;
    assert.equal(n, 64);
    assert.equal(evaluate("(".repeat(n) + "1" + ")".repeat(n)), 1);
    assert.equal(evaluate("-".repeat(n) + "1"), 1);
    assert.equal(evaluate("1^".repeat(n) + "1"), 1);
    checkError(
      "(".repeat(n + 1) + "1" + ")".repeat(n + 1),
      "too_deep",
      message,
      n + 1,
    );
    checkError("-".repeat(n + 1) + "1", "too_deep", message, n + 1);
    checkError("1^".repeat(n + 1) + "1", "too_deep", message, 2 * n + 2);
  },
});

Deno.test({
  name: "evaluate() honours a custom maxDepth and validates options",
  permissions: "none",
  fn() {
    assert.equal(evaluate("((1))", { maxDepth: 2 }), 1);
    checkError(
      "((1))",
      "too_deep",
      "expression is nested too deeply (limit 1)",
      2,
      { maxDepth: 1 },
    );
    assert.equal(evaluate("1+2", { maxDepth: 0 }), 3);
    assert.throws(() => evaluate("1", { maxDepth: -1 }), RangeError);
    assert.throws(() => evaluate("1", { maxLength: NaN }), RangeError);
  },
});

Deno.test({
  name: "CalcError is an Error with a name, code and column",
  permissions: "none",
  fn() {
    const err = new CalcError("syntax", "empty expression");
    assert.ok(err instanceof Error);
    assert.equal(err.name, "CalcError");
    assert.equal(err.code, "syntax");
    assert.equal(err.column, undefined);
    assert.equal(new CalcError("domain", "x", 3).column, 3);
  },
});

Deno.test({
  name: "FUNCTIONS and CONSTANTS describe everything evaluate() accepts",
  permissions: "none",
  fn() {
    const arities = Object.fromEntries(FUNCTIONS.map((f) => [f.name, f.arity]));
    assert.deepEqual(arities, {
      sqrt: "1",
      abs: "1",
      min: "1+",
      max: "1+",
      floor: "1",
      ceil: "1",
      round: "1",
      trunc: "1",
      ln: "1",
      log: "1",
      log10: "1",
      log2: "1",
      exp: "1",
      sin: "1",
      cos: "1",
      tan: "1",
      asin: "1",
      acos: "1",
      atan: "1",
      atan2: "2",
      hypot: "1+",
      pow: "2",
    });
    for (const f of FUNCTIONS) {
      assert.ok(f.doc.length > 0 && !f.doc.includes("\n"), f.name);
      const count = Number.parseInt(f.arity, 10);
      const call = `${f.name}(${Array(count).fill("0.5").join(", ")})`;
      assert.equal(typeof evaluate(call), "number", call);
    }
    assert.deepEqual(
      CONSTANTS.map((c) => [c.name, c.value]),
      [["pi", Math.PI], ["e", Math.E]],
    );
    for (const c of CONSTANTS) {
      assert.equal(evaluate(c.name), c.value);
      assert.ok(c.doc.length > 0);
    }
  },
});

// Small deterministic PRNG so the fuzz run is reproducible without deps.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test({
  name: "evaluate() only ever returns a finite number or throws CalcError",
  permissions: "none",
  fn() {
    const alphabet = "0123456789+-*/%^().e, " + "pisqrtmaxlnxy$\t";
    const random = mulberry32(0xc0ffee);
    const codes = new Set<string>([
      "syntax",
      "division_by_zero",
      "domain",
      "too_long",
      "too_deep",
      "unknown_function",
      "arity",
      "overflow",
    ]);
    let values = 0;
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 24);
      let expression = "";
      for (let j = 0; j < length; j++) {
        expression += alphabet.charAt(Math.floor(random() * alphabet.length));
      }
      const label = JSON.stringify(expression);
      try {
        const value = evaluate(expression);
        assert.ok(Number.isFinite(value), `${label} gave ${value}`);
        values++;
      } catch (err) {
        assert.ok(err instanceof CalcError, `${label} threw ${String(err)}`);
        assert.ok(codes.has(err.code), `${label} code ${err.code}`);
        if (err.column !== undefined) {
          assert.ok(
            err.column >= 1 && err.column <= expression.length + 1,
            `${label} column ${err.column}`,
          );
        }
        const at = /at column (\d+)$/.exec(err.message);
        if (at) assert.equal(Number(at[1]), err.column, label);
        // Lowercase apart from echoed input ('x') and code points (U+000A).
        const prose = err.message.replace(/'[^']*'|U\+[0-9A-F]+/g, "");
        assert.equal(prose, prose.toLowerCase(), label);
      }
    }
    // Guards against a generator that only ever produces errors.
    assert.ok(values > 50, `only ${values} inputs evaluated`);
  },
});
