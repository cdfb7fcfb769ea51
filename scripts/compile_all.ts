/**
 * `deno task compile:all`: one binary per OS into `dist/`, each with the one
 * grant of the `binary` permission set in deno.json (the same set the tests
 * run `main.ts` under) and the unstable net API the UDP roles need.
 *
 * @module
 */

/** The release targets: Linux x64/arm64, macOS x64/arm64, Windows x64. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** The `deno compile` arguments for one target. */
export function compileArgs(target: string): string[] {
  const exe = target.includes("windows") ? ".exe" : "";
  return [
    "compile",
    "-P=binary",
    "--unstable-net",
    "--target",
    target,
    "--output",
    `dist/socklab-${target}${exe}`,
    "main.ts",
  ];
}

if (import.meta.main) {
  const only = Deno.args;
  let failed = 0;
  for (const target of TARGETS) {
    if (only.length > 0 && !only.includes(target)) continue;
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: compileArgs(target),
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) failed++;
  }
  Deno.exit(failed === 0 ? 0 : 1);
}
