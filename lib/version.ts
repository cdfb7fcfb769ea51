/**
 * The program version, printed by `--version` and sent in hellos.
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** socklab's version, from deno.json. */
export const VERSION: string = config.version;
