/**
 * configSchemaFor: a schema is accepted for a config interface only when it parses to exactly
 * that interface. The rejections are compile-time (`@ts-expect-error` fails the type check when
 * the call compiles), the acceptance is checked at run time too.
 */

import assert from "node:assert/strict";
import { z } from "zod";
import { configSchemaFor } from "../../src/core/config_schema.ts";

interface Small {
  readonly width: number;
  readonly act: "relu" | "silu";
}

Deno.test("configSchemaFor: a schema with the interface's fields is accepted", () => {
  const schema = configSchemaFor<Small>()(
    z.object({ width: z.number().default(4), act: z.enum(["relu", "silu"]).default("relu") }),
  );
  const c: Small = schema.parse({});
  assert.deepEqual(c, { width: 4, act: "relu" });
});

Deno.test("configSchemaFor: extra, missing and mistyped fields do not compile", () => {
  const extra = z.object({ width: z.number(), act: z.enum(["relu"]), depth: z.number() });
  const missing = z.object({ width: z.number() });
  const mistyped = z.object({ width: z.string(), act: z.enum(["relu"]) });
  const build = () => {
    // @ts-expect-error: a field the interface lacks
    configSchemaFor<Small>()(extra);
    // @ts-expect-error: a field of the interface the schema lacks
    configSchemaFor<Small>()(missing);
    // @ts-expect-error: a field of another type
    configSchemaFor<Small>()(mistyped);
  };
  assert.equal(typeof build, "function");
});
