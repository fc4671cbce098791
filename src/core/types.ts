/**
 * Small shared vocabularies of the contract: API versions, capabilities, and the catalog's
 * maturity / surface / tier.
 * @module
 */

/**
 * API compatibility mode. `"v3"` (the default) validates every call strictly and throws a
 * `ContractError`; `"v0.2"` reports violations with `console.warn` (once per kind) and lets the
 * call proceed, for migrating code written against the older interface.
 */
export type ApiVersion = "v3" | "v0.2";

/** Every API version. */
export const API_VERSIONS: readonly ApiVersion[] = ["v3", "v0.2"];

/** What a model can do; `model.supports(cap)` branches on these. */
export type Capability =
  | "latent_dynamics"
  | "obs_decoder"
  | "representation"
  | "reward_pred"
  | "continue_pred"
  | "video_pred"
  | "token_model"
  | "diffusion"
  | "planning"
  | "value"
  | "policy";

/** Every capability. */
export const CAPABILITIES: readonly Capability[] = [
  "latent_dynamics",
  "obs_decoder",
  "representation",
  "reward_pred",
  "continue_pred",
  "video_pred",
  "token_model",
  "diffusion",
  "planning",
  "value",
  "policy",
];

/**
 * How far a family is: `reference` (maintained against an upstream implementation),
 * `experimental` (works, not promised), `skeleton` (interface only).
 */
export type Maturity = "reference" | "experimental" | "skeleton";

/** Every maturity. */
export const MATURITIES: readonly Maturity[] = ["reference", "experimental", "skeleton"];

/**
 * The narrowest listing that shows a catalog entry: `supported` (the default listing: the
 * supported local-training presets), `public` (adds advanced proof-oriented presets), `all`
 * (adds experimental and skeleton families). Each surface includes the ones before it.
 */
export type Surface = "supported" | "public" | "all";

/** Every surface, narrowest first. */
export const SURFACES: readonly Surface[] = ["supported", "public", "all"];

/**
 * The role of a reference-family preset: `compatibility` (CI, quick validation, legacy),
 * `reference` (capacity presets), `proof` (the canonical parity target).
 */
export type Tier = "compatibility" | "reference" | "proof";

/** Every tier. */
export const TIERS: readonly Tier[] = ["compatibility", "reference", "proof"];
