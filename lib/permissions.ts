/**
 * Drops the permissions a role does not need. The compiled binary embeds one
 * grant for every role; each role revokes the rest at start, so a calc server
 * compiled with file access still cannot touch a file.
 *
 * @module
 */

/** What a role needs beyond the network. */
export type FileAccess = "none" | "read" | "read-write";

const NEVER: Deno.PermissionName[] = ["run", "ffi", "env", "sys"];

/**
 * Revokes every permission the role's `files` level does not include, and
 * the network too when `options.network` is false.
 * Revoking one never granted is a no-op, so this is safe under `-P=ROLE` too.
 *
 * @example
 * ```ts
 * dropPermissions("none"); // network only from here on
 * dropPermissions("read-write", { network: false }); // files only
 * ```
 */
export function dropPermissions(
  files: FileAccess,
  options: { network?: boolean } = {},
): void {
  const names = [...NEVER];
  if (files !== "read-write") names.push("write");
  if (files === "none") names.push("read");
  if (options.network === false) names.push("net");
  for (const name of names) {
    try {
      Deno.permissions.revokeSync({ name } as Deno.PermissionDescriptor);
    } catch {
      // A name this runtime does not know is a permission nobody holds.
    }
  }
}
