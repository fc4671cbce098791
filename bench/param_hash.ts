/**
 * The refactoring guard: short seeded online training runs of `dreamer:ci` (CartPole-v1) and
 * `tdmpc2:ci` (Pendulum-v1) through `trainOnline`, then a SHA-256 of every parameter's bytes (in
 * state-dict order), of the step's optimizer moments and of the losses read at each log step.
 * A change that should not alter behaviour (a file split, a moved helper) must print the same
 * hashes before and after: run it on both checkouts and compare.
 *
 *   WORLDFLUX_CPU_THREADS=1 deno run -A --no-check bench/param_hash.ts [--steps 400]
 *
 * It also saves the trained dreamer:ci model with `savePretrained` and hashes the directory's
 * files (less the save time), so a change to the saved bytes shows up too.
 * @module
 */

import {
  createTrainStep,
  createWorldModel,
  makeEnvSync,
  parseTrainingConfig,
  savePretrained,
  type Tensor,
  trainOnline,
  type TrainStep,
  type WorldModel,
} from "../mod.ts";

const stepsArg = Deno.args.indexOf("--steps");
const steps = stepsArg >= 0 ? Number(Deno.args[stepsArg + 1]) : 400;

async function sha256(parts: Uint8Array[]): Promise<string> {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.byteLength;
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
}

async function tensorBytes(t: Tensor): Promise<Uint8Array> {
  const data = await t.data();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

async function stepHash(step: TrainStep): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const state = step.stateDict();
  for (const [name, opt] of Object.entries(state.optimizers)) {
    parts.push(enc.encode(`${name}:${opt.step}`));
    for (const [k, v] of Object.entries(opt.state)) {
      parts.push(enc.encode(k), await tensorBytes(v.expAvg), await tensorBytes(v.expAvgSq));
    }
  }
  for (const [k, v] of Object.entries(state.tensors ?? {})) {
    parts.push(enc.encode(k), await tensorBytes(v));
  }
  parts.push(enc.encode(JSON.stringify(state.values ?? {})));
  return await sha256(parts);
}

async function run(
  name: string,
  model: WorldModel,
  envId: string,
  config: Record<string, unknown>,
): Promise<void> {
  const env = makeEnvSync(envId, name === "tdmpc2:ci" ? { normalizeActions: true } : {});
  const cfg = parseTrainingConfig({ ...config, totalSteps: steps, seed: 7, logInterval: 50 });
  const trainStep = createTrainStep(model, cfg, {});
  const losses: number[] = [];
  const t0 = performance.now();
  await trainOnline(model, env, cfg, {
    trainStep,
    defaultCallbacks: false,
    callbacks: [{
      onLog: (_step, m) => {
        for (const k of Object.keys(m).sort()) {
          const v = m[k];
          if (typeof v === "number" && !/time|per_sec|lr$/.test(k)) losses.push(v);
        }
      },
    }],
    log: () => {},
  });
  const wall = (performance.now() - t0) / 1000;
  const params: Uint8Array[] = [];
  for (const [k, v] of Object.entries(model.stateDict())) {
    params.push(new TextEncoder().encode(k), await tensorBytes(v));
  }
  const lossBytes = new Uint8Array(Float64Array.from(losses).buffer);
  const line = [
    `${name}`,
    `params ${await sha256(params)}`,
    `optim ${await stepHash(trainStep)}`,
    `losses ${await sha256([lossBytes])} (${losses.length})`,
  ];
  if (name === "dreamer:ci") {
    const dir = await Deno.makeTempDir();
    await savePretrained(model, dir);
    const files: Uint8Array[] = [];
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      if (!e.isFile) continue;
      let bytes = Deno.readFileSync(`${dir}/${e.name}`);
      if (e.name.endsWith(".json")) { // the save time is the one field that differs per save
        const text = new TextDecoder().decode(bytes).replace(/"created_at_utc": *"[^"]*"/, "");
        bytes = new TextEncoder().encode(text);
      }
      files.push(new TextEncoder().encode(e.name), bytes);
    }
    line.push(`saved ${await sha256(files)}`);
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`${line.join("  ")}  [${wall.toFixed(1)} s]`);
  trainStep.dispose();
}

const dreamer = await createWorldModel("dreamer:ci", {
  obsShape: [4],
  actionDim: 2,
  actionType: "discrete",
  seed: 7,
});
await run("dreamer:ci", dreamer, "CartPole-v1", {
  prefillSteps: 100,
  batchSize: 4,
  sequenceLength: 16,
  trainRatio: 1 / 16,
  evalInterval: 1_000_000,
});
const tdmpc2 = await createWorldModel("tdmpc2:ci", { obsShape: [3], actionDim: 1, seed: 7 });
await run("tdmpc2:ci", tdmpc2, "Pendulum-v1", {
  prefillSteps: 100,
  batchSize: 16,
  sequenceLength: 4,
  trainRatio: 1 / 8,
  evalInterval: 1_000_000,
});
