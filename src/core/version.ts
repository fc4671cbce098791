/**
 * The worldflux version (from `deno.json`) and the plugin API version.
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };

/** The running worldflux version, e.g. `"0.1.0"`. */
export const WORLDFLUX_VERSION: string = denoJson.version;

/**
 * Version of the plugin API (`registerPlugin`): a plugin's manifest must name a version with
 * the same major and a minor not above this one.
 */
export const PLUGIN_API_VERSION = "1.0";
