/**
 * The CLI against hostile or mistyped projects: sizes in worldflux.toml checked before
 * allocating.
 */

import assert from "node:assert/strict";
import { setAllocationLimit } from "../../src/io/limits.ts";
import { run, tempDir, writeToml } from "./helpers.ts";

function toml(extra: { data?: string; training?: string; model?: string } = {}): string {
  return `
[model]
family = "mlp"
preset = "ci"
${extra.model ?? ""}
[data]
source = "random"
obs_shape = [5]
action_dim = 2
episodes = 4
${extra.data ?? "episode_length = 16"}
[training]
total_steps = 2
${extra.training ?? "batch_size = 2"}
sequence_length = 4
log_interval = 1
save_interval = 100
`;
}

Deno.test("cli train: sizes in worldflux.toml are checked before allocating, naming the key", async () => {
  const dir = await tempDir();
  setAllocationLimit(512 << 20);
  try {
    const cases: [string, RegExp][] = [
      [
        toml({ training: "batch_size = 1000000000" }),
        /sample\(batchSize \(batch_size\) = 1000000000, .*allocation limit of 512\.0 MiB/,
      ],
      [
        toml({ data: "episode_length = 1000000000" }),
        /\[data\] episodes \(4\) x episode_length \(1000000000\): needs .* more than the allocation limit/,
      ],
      [
        toml({ model: "[model.overrides]\nhidden_dim = 20000\ndepth = 2" }),
        /mlp config: needs .*parameters; lower them/,
      ],
    ];
    for (const [text, re] of cases) {
      const r = await run(["train", "-c", await writeToml(dir, text)]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.err, re);
    }
  } finally {
    setAllocationLimit(null);
    await Deno.remove(dir, { recursive: true });
  }
});
