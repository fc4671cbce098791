import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import {
  ConfigError,
  parseTrainingConfig,
  TRAINING_CONFIG_DEFAULTS,
  TRAINING_CONFIG_FIELDS,
  trainingConfigFromSnakeCase,
  trainingConfigToSnakeCase,
} from "../../mod.ts";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("config: defaults are the reference's (WorldFlux 0.1.1 TrainingConfig)", () => {
  const c = parseTrainingConfig();
  assert.deepEqual(
    {
      totalSteps: c.totalSteps,
      batchSize: c.batchSize,
      sequenceLength: c.sequenceLength,
      learningRate: c.learningRate,
      gradClip: c.gradClip,
      weightDecay: c.weightDecay,
      warmupSteps: c.warmupSteps,
      optimizer: c.optimizer,
      scheduler: c.scheduler,
      logInterval: c.logInterval,
      evalInterval: c.evalInterval,
      saveInterval: c.saveInterval,
      outputDir: c.outputDir,
      device: c.device,
      seed: c.seed,
    },
    {
      totalSteps: 100_000,
      batchSize: 16,
      sequenceLength: 50,
      learningRate: 3e-4,
      gradClip: 100,
      weightDecay: 0,
      warmupSteps: 0,
      optimizer: "adamw",
      scheduler: "none",
      logInterval: 100,
      evalInterval: 1000,
      saveInterval: 10_000,
      outputDir: "./outputs",
      device: "auto",
      seed: 42,
    },
  );
  assert.equal(c.compile, true);
  assert.equal(c.trainRatio, 1);
  assert.equal(c.prefillSteps, 1000);
  assert.equal(c.evalEpisodes, 10);
  assert.deepEqual(c, TRAINING_CONFIG_DEFAULTS);
  assert.ok(Object.isFrozen(c));
});

Deno.test("config: camelCase and snake_case keys; one field given twice is refused", () => {
  const c = parseTrainingConfig({ total_steps: 500, batchSize: 8, grad_clip: 0, output_dir: "x" });
  assert.equal(c.totalSteps, 500);
  assert.equal(c.batchSize, 8);
  assert.equal(c.gradClip, 0);
  assert.equal(c.outputDir, "x");
  const e = configError(() => parseTrainingConfig({ total_steps: 5, totalSteps: 6 }));
  assert.match(e.message, /"total_steps" and "totalSteps" are the same field/);
});

Deno.test("config: an unknown key lists the valid fields and the closest one", () => {
  const e = configError(() => parseTrainingConfig({ total_step: 5 }));
  assert.match(e.message, /unknown field "total_step"/);
  assert.match(e.message, /did you mean "totalSteps"\?/);
  for (const f of TRAINING_CONFIG_FIELDS) assert.ok(e.message.includes(f), f);
  // On disk (TOML, JSON) keys are snake_case: camelCase is refused, and the list is snake_case.
  const s = configError(() => trainingConfigFromSnakeCase({ totalSteps: 5 }, "worldflux.toml"));
  assert.match(s.message, /^worldflux\.toml: unknown field "totalSteps"/);
  assert.match(s.message, /did you mean "total_steps"/);
  assert.ok(s.message.includes("sequence_length, learning_rate"), s.message);
  const c = configError(() => parseTrainingConfig({ total_steps: 5 }, { keys: "camel" }));
  assert.match(c.message, /unknown field "total_steps"/);
});

Deno.test("config: bad values name the field, the rule and the value", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ batchSize: 0 }, /batchSize must be an integer >= 1, got 0$/],
    [{ batch_size: 2.5 }, /batch_size must be an integer >= 1, got 2\.5$/],
    [{ learningRate: -1 }, /learningRate must be a number > 0, got -1$/],
    [{ device: "cuda" }, /device must be one of "auto", "cpu", "webgpu", got "cuda"$/],
    [{ optimizer: "sgd" }, /optimizer must be one of "adamw", "adam", "laprop", got "sgd"$/],
    [{ outputDir: "" }, /outputDir must be a non-empty path, got ""$/],
    [{ compile: "yes" }, /compile must be true or false, got "yes"$/],
    [
      { trainRatio: 0, seed: 1.5 },
      /seed must be a safe integer, got 1\.5; trainRatio must be a number > 0, got 0$/,
    ],
  ];
  for (const [input, re] of cases) {
    const e = configError(() => parseTrainingConfig(input));
    assert.match(e.message, re);
  }
  const arr = configError(() => parseTrainingConfig([] as unknown as Record<string, unknown>));
  assert.match(arr.message, /expected a table of fields/);
});

Deno.test("config: the reference worldflux.toml [training] table, and a snake_case round trip", () => {
  const toml = parseToml(`
model = "dreamer:ci"
[training]
total_steps = 100000
batch_size = 16
sequence_length = 50
learning_rate = 3e-4
device = "cpu"
output_dir = "./outputs"
`) as Record<string, Record<string, unknown>>;
  const c = trainingConfigFromSnakeCase(toml.training, "worldflux.toml [training]");
  assert.equal(c.device, "cpu");
  assert.equal(c.sequenceLength, 50);
  // TOML integers read as bigints are accepted.
  assert.equal(parseTrainingConfig({ total_steps: 7n }).totalSteps, 7);
  const snake = trainingConfigToSnakeCase(c);
  assert.equal(snake.total_steps, 100000);
  assert.equal(snake.log_interval, 100);
  assert.ok(Object.keys(snake).every((k) => k === k.toLowerCase()));
  assert.deepEqual(trainingConfigFromSnakeCase(JSON.parse(JSON.stringify(snake))), c);
});
