/**
 * The shape of a config schema, and the compile-time check that ties a family's documented config
 * interface to its zod schema ({@link configSchemaFor}): the interface is the public type, the
 * schema validates and fills defaults, and neither can drift from the other without a type error.
 * @module
 */

/** One problem found by a {@link ConfigSchema}. */
export interface ConfigIssue {
  /** Path of the offending field. */
  readonly path: readonly PropertyKey[];
  /** What is wrong. */
  readonly message: string;
}

/**
 * A family's config schema: anything with zod's object interface (`shape` and `safeParse`),
 * in practice a zod object whose fields all have defaults, built on `BaseConfig`'s
 * fields (in the repository: `baseConfigSchema.extend({...})`).
 */
export interface ConfigSchema<C = Record<string, unknown>> {
  /** The fields by name. */
  readonly shape: Readonly<Record<string, unknown>>;
  /** Validates a config (applying defaults). */
  safeParse(data: unknown):
    | { readonly success: true; readonly data: C }
    | { readonly success: false; readonly error: { readonly issues: readonly ConfigIssue[] } };
}

/** A family's config schema: validates a config and parses it to the family's config type. */
export type FamilyConfigSchema<C> = ConfigSchema<C> & { parse(data: unknown): C };

/**
 * Types a family's zod schema as the schema of its config interface `C`, checked at compile
 * time both ways: what the schema parses to must be assignable to `C` (every field of `C`, each
 * of a type `C` accepts), and the schema may have no field `C` lacks. The documented interface
 * stays the public type (an explicit type, as JSR needs, with a doc comment per field) and the
 * schema cannot drift from it, without a cast.
 *
 * @example
 * ```ts ignore
 * const schema = baseConfigSchema.extend({ hiddenDim: z.number().int().default(128) });
 * export const myConfigSchema: FamilyConfigSchema<MyConfig> = configSchemaFor<MyConfig>()(schema);
 * ```
 */
export function configSchemaFor<C>(): <S extends FamilyConfigSchema<C>>(
  schema: S & NoExtraFields<C, S>,
) => FamilyConfigSchema<C> {
  return (schema) => schema;
}

/** `unknown` when schema `S` has no field config `C` lacks; else a type naming those fields. */
export type NoExtraFields<C, S extends { readonly shape: object }> =
  [Exclude<keyof S["shape"], keyof C>] extends [never] ? unknown
    : { readonly "fields missing from the config interface": Exclude<keyof S["shape"], keyof C> };
