/**
 * The 64x64 software renderer: pictures are checked for what they show (where the pole, rod,
 * links and car are drawn for known states), written as PNGs to a temporary directory for a
 * person to look at (kept, and their directory printed, with WORLDFLUX_KEEP_RENDERS=1), and
 * compared with the golden frames in tests/envs/golden/ (regenerate them with
 * WORLDFLUX_UPDATE_GOLDEN=1 after an intended change, and look at them).
 */

import assert from "node:assert/strict";
import { decode } from "fast-png";
import {
  Canvas,
  chwToHwc,
  encodeRgbPng,
  type Env,
  hwcToChw,
  makeEnv,
  tileFrames,
} from "../../src/envs/mod.ts";

const GOLDEN = new URL("./golden/", import.meta.url);

/** Centroid (x right, y down, in pixels) of the pixels within `tol` of `color`. */
function centroid(
  img: Uint8Array,
  size: number,
  color: readonly number[],
  tol = 40,
  skipRow = (_y: number) => false,
) {
  let sx = 0, sy = 0, n = 0;
  for (let y = 0; y < size; y++) {
    if (skipRow(y)) continue;
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      const d = Math.abs(img[i] - color[0]) + Math.abs(img[i + 1] - color[1]) +
        Math.abs(img[i + 2] - color[2]);
      if (d <= tol) {
        sx += x + 0.5;
        sy += y + 0.5;
        n++;
      }
    }
  }
  return { x: sx / n, y: sy / n, n };
}

function frame(env: Env, state: number[]): Uint8Array {
  env.reset({ state });
  const img = env.render();
  assert.equal(img.length, 64 * 64 * 3);
  return img;
}

/** Angle (radians, counter-clockwise from "up") of the vector from (cx, cy) to p. */
function angleFrom(cx: number, cy: number, p: { x: number; y: number }): number {
  return Math.atan2(-(p.x - cx), -(p.y - cy));
}

function angleDiff(a: number, b: number): number {
  return Math.abs(Math.atan2(Math.sin(a - b), Math.cos(a - b)));
}

Deno.test("Canvas: polygons, circles and lines land where they should", () => {
  const c = new Canvas(16, 16, 4).clear([0, 0, 0]);
  c.fillRect(2, 2, 6, 6, [255, 0, 0]);
  c.fillCircle(12, 12, 2, [0, 255, 0]);
  c.line([0, 15.5], [16, 15.5], 1, [0, 0, 255]);
  const img = c.toImage();
  const px = (x: number, y: number) => [...img.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3)];
  assert.deepEqual(px(3, 3), [255, 0, 0]);
  assert.deepEqual(px(1, 1), [0, 0, 0]);
  assert.deepEqual(px(12, 12), [0, 255, 0]);
  assert.deepEqual(px(8, 15), [0, 0, 255], "a 1-px line along row 15");
  assert.deepEqual(px(8, 14), [0, 0, 0]);
  // a half-covered pixel is blended (anti-aliasing by supersampling)
  const d = new Canvas(4, 4, 4).clear([0, 0, 0]).fillRect(0, 0, 1.5, 4, [200, 200, 200]).toImage();
  assert.deepEqual([...d.subarray(3, 6)], [100, 100, 100]);
  // layout conversions round-trip
  assert.deepEqual(chwToHwc(hwcToChw(img, 16, 16), 16, 16), img);
});

Deno.test("CartPole picture: cart at x, pole leaning the right way", async () => {
  const env = await makeEnv("CartPole-v1");
  for (const [x, theta] of [[0, 0], [1.2, 0.2], [-1.5, -0.2], [2.0, 0.1]]) {
    const img = frame(env, [x, 0, theta, 0]);
    // the black cart, without the rows of the black track line (y = 0 at pixel row ~38.7)
    const cart = centroid(img, 64, [0, 0, 0], 30, (y) => y === 38 || y === 39);
    const pole = centroid(img, 64, [202, 152, 101], 60);
    assert.ok(Math.abs(cart.x - (32 + (x * 64) / 4.8)) < 1.5, `cart x ${cart.x} for ${x}`);
    assert.ok(pole.n >= 15, "pole visible");
    assert.ok(pole.y < cart.y - 4, "pole above the cart");
    const a = angleFrom(cart.x, cart.y, pole); // counter-clockwise; CartPole theta is clockwise
    assert.ok(angleDiff(-a, theta) < 0.12, `pole angle ${-a} for ${theta}`);
  }
});

Deno.test("Pendulum picture: the rod points at theta (counter-clockwise from up)", async () => {
  const env = await makeEnv("Pendulum-v1");
  for (const theta of [0, 0.7, Math.PI / 2, 2.5, Math.PI, -2, -0.4]) {
    const img = frame(env, [theta, 0]);
    const rod = centroid(img, 64, [204, 77, 77], 60);
    assert.ok(rod.n > 80, "rod visible");
    assert.ok(angleDiff(angleFrom(32, 32, rod), theta) < 0.06, `rod at ${theta}`);
  }
});

Deno.test("Acrobot picture: links hang down at rest and follow the joint angles", async () => {
  const env = await makeEnv("Acrobot-v1");
  const b = 2.2;
  const toPx = (x: number, y: number) => ({ x: 32 + (x * 32) / b, y: 32 - (y * 32) / b });
  for (const [t1, t2] of [[0, 0], [Math.PI / 2, 0], [1, -1.5], [Math.PI, 0.4]]) {
    const img = frame(env, [t1, t2, 0, 0]);
    const links = centroid(img, 64, [0, 204, 204], 60);
    // equal links: their pixels' centroid is the mean of the two links' midpoints
    const p1 = [Math.sin(t1), -Math.cos(t1)];
    const p2 = [p1[0] + Math.sin(t1 + t2), p1[1] - Math.cos(t1 + t2)];
    const expect = toPx(
      (p1[0] / 2 + (p1[0] + p2[0]) / 2) / 2,
      (p1[1] / 2 + (p1[1] + p2[1]) / 2) / 2,
    );
    assert.ok(Math.hypot(links.x - expect.x, links.y - expect.y) < 2.5, `links at (${t1}, ${t2})`);
  }
});

Deno.test("MountainCar picture: the car sits on the hill at its position", async () => {
  const env = await makeEnv("MountainCarContinuous-v0");
  for (const pos of [-1.1, -0.5, 0.0, 0.4]) {
    const img = frame(env, [pos, 0]);
    const car = centroid(img, 64, [0, 0, 0], 20);
    // the car's dark pixels and the hill outline: restrict to the car by its neighbourhood
    const px = ((pos + 1.2) / 1.8) * 64;
    const h = Math.sin(3 * pos) * 0.45 + 0.55;
    const py = 32 - ((h - 0.6) * 64) / 1.8;
    let n = 0;
    for (let y = Math.max(0, Math.round(py) - 6); y < Math.min(64, Math.round(py) + 2); y++) {
      for (let x = Math.max(0, Math.round(px) - 5); x < Math.min(64, Math.round(px) + 5); x++) {
        const i = (y * 64 + x) * 3;
        if (img[i] < 40 && img[i + 1] < 40 && img[i + 2] < 40) n++;
      }
    }
    assert.ok(n >= 12, `car pixels near (${px.toFixed(1)}, ${py.toFixed(1)}) for ${pos}: ${n}`);
    assert.ok(car.n > 0);
  }
});

Deno.test("CartPoleSwingup-mujoco picture: the pole follows the hinge angle", async () => {
  const env = await makeEnv("CartPoleSwingup-mujoco");
  try {
    for (const [x, theta] of [[0, Math.PI], [0, 0], [0.8, 1.0], [-1, -2.2]]) {
      const img = frame(env, [x, theta, 0, 0]);
      const pole = centroid(img, 64, [240, 180, 100], 45);
      const hx = 32 + (x * 64) / 4;
      const hy = 32 - ((1 - 1) * 64) / 4;
      assert.ok(pole.n > 15, "pole visible");
      // positive hinge angle leans towards +x: clockwise on screen
      assert.ok(angleDiff(-angleFrom(hx, hy, pole), theta) < 0.15, `pole at ${theta}`);
    }
  } finally {
    env.close();
  }
});

Deno.test("locomotion pictures: the camera follows the body, the floor moves, legs are below", async () => {
  const pink = [230, 153, 153];
  const tan = [204, 153, 102];
  const cheetah = await makeEnv("HalfCheetah-v5");
  const hopper = await makeEnv("Hopper-v5");
  try {
    const rest = new Array(18).fill(0);
    const a = frame(cheetah, rest);
    const body = centroid(a, 64, tan, 30);
    const shins = centroid(a, 64, pink, 30);
    assert.ok(body.n > 20 && shins.n > 10, "torso and shins visible");
    assert.ok(Math.abs(body.x - 32) < 6, `torso centred (x ${body.x})`);
    assert.ok(shins.y > body.y + 3, "shins below the torso");
    // 3.1 m further on: the body is drawn at the same place, the floor tiles have moved
    const moved = frame(cheetah, [3.1, ...rest.slice(1)]);
    const floorDiff = (p: Uint8Array, q: Uint8Array, y0: number, y1: number) => {
      let d = 0;
      for (let i = y0 * 64 * 3; i < y1 * 64 * 3; i++) d += Math.abs(p[i] - q[i]);
      return d;
    };
    assert.ok(floorDiff(a, moved, 0, 50) < 64 * 50, "body and sky unchanged");
    assert.ok(floorDiff(a, moved, 56, 64) > 64 * 8 * 10, "floor tiles shifted");
    // upside down (rooty = pi): shins above the torso
    const flipped = frame(cheetah, [0, 0.6, Math.PI, ...rest.slice(3)]);
    assert.ok(centroid(flipped, 64, pink, 30).y < centroid(flipped, 64, tan, 30).y);
    // the hopper standing: tall and thin, the foot at the bottom; lying: wide
    const up = frame(hopper, [0, 1.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const foot = centroid(up, 64, pink, 30);
    const leg = centroid(up, 64, tan, 30);
    assert.ok(foot.n > 5 && leg.n > 20 && foot.y > leg.y + 8, "foot below the leg");
    const down = frame(hopper, [0, 0.1, Math.PI / 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.ok(Math.abs(centroid(down, 64, pink, 30).y - centroid(down, 64, tan, 30).y) < 5);
  } finally {
    cheetah.close();
    hopper.close();
  }
});

const GOLDEN_STATES: Record<string, number[]> = {
  "CartPole-v1": [0.6, 0, 0.15, 0],
  "Pendulum-v1": [0.8, 0],
  "MountainCarContinuous-v0": [-0.9, 0],
  "Acrobot-v1": [1.2, 0.9, 0, 0],
  "CartPoleSwingup-mujoco": [0.5, 2.4, 0, 0],
  "HalfCheetah-v5": [0.2, 0, 0.1, 0.5, -0.4, 0.2, -0.6, 0.5, -0.3, ...new Array(9).fill(0)],
  "Hopper-v5": [0.1, 1.25, 0.1, -0.5, -0.6, 0.3, ...new Array(6).fill(0)],
};

Deno.test("renders match the golden frames; PNGs are written for inspection", async () => {
  const dir = await Deno.makeTempDir({ prefix: "worldflux-envs-render-" });
  const update = Deno.env.get("WORLDFLUX_UPDATE_GOLDEN") === "1";
  for (const [id, state] of Object.entries(GOLDEN_STATES)) {
    const env = await makeEnv(id);
    const img = frame(env, state);
    // a short filmstrip of a seeded episode, for a person to look at
    env.reset({ seed: 0 });
    const frames = [env.render()];
    for (let t = 0; t < 7; t++) {
      for (let k = 0; k < 4; k++) {
        const act = env.actionSpace.kind === "discrete"
          ? (t + k) % env.actionSpace.n
          : new Array(env.actionSpace.shape[0]).fill(1);
        const r = env.step(act);
        if (r.terminated || r.truncated) env.reset();
      }
      frames.push(env.render());
    }
    env.close();
    const strip = tileFrames(frames, 64, frames.length);
    await Deno.writeFile(`${dir}/${id}.png`, encodeRgbPng(img, 64, 64));
    await Deno.writeFile(
      `${dir}/${id}_strip.png`,
      encodeRgbPng(strip.image, strip.width, strip.height),
    );
    const goldenUrl = new URL(`${id}.png`, GOLDEN);
    if (update) {
      await Deno.mkdir(GOLDEN, { recursive: true });
      await Deno.writeFile(goldenUrl, encodeRgbPng(img, 64, 64));
      continue;
    }
    const golden = decode(await Deno.readFile(goldenUrl));
    assert.equal(golden.width, 64);
    assert.equal(golden.channels, 3);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < img.length; i++) {
      const d = Math.abs(img[i] - golden.data[i]);
      sum += d;
      max = Math.max(max, d);
    }
    // identical up to last-ulp differences of sin/cos that may flip a few edge samples
    assert.ok(
      sum / img.length < 0.5 && max <= 64,
      `${id}: mean diff ${sum / img.length}, max ${max}`,
    );
  }
  if (Deno.env.get("WORLDFLUX_KEEP_RENDERS") === "1") {
    console.log(`render_test: pictures in ${dir}`);
  } else await Deno.remove(dir, { recursive: true });
});
