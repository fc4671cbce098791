/**
 * Loads the MuJoCo WebAssembly module (`npm:mujoco-js`, the official MuJoCo build for the web,
 * MuJoCo 3.3.x) once per process.
 *
 * How it works in Deno: the package's `dist/mujoco_wasm.js` is an Emscripten ES module with the
 * wasm binary embedded as base64, so no file needs to be located or fetched at run time; its
 * default export is a factory returning a promise of the module. Deno's Node compatibility
 * (`process` is defined) makes it take its Node code path, which works unchanged. Loading costs
 * ~0.5 s (11 MB of JavaScript to parse and the wasm to compile), hence the lazy dynamic import
 * and the cache. Models are compiled from MJCF text written into the module's in-memory
 * filesystem (`FS.writeFile` + `MjModel.loadFromXML`).
 * @module
 */

/** The part of mujoco-js's `MjModel` used here (a compiled model in wasm memory). */
export interface MjModel {
  /** Number of generalized coordinates. */
  readonly nq: number;
  /** Number of degrees of freedom. */
  readonly nv: number;
  /** Number of actuators. */
  readonly nu: number;
  /** Number of bodies (the world included). */
  readonly nbody: number;
  /** Number of geoms. */
  readonly ngeom: number;
  /** Simulation options (`timestep` in s). */
  readonly opt: { readonly timestep: number };
  /** Reference configuration `[nq]` (`qpos` after `mj_resetData`). */
  readonly qpos0: Float64Array;
  /** Body masses `[nbody]` (kg). */
  readonly body_mass: Float64Array;
  /** Joint limits `[njnt, 2]`. */
  readonly jnt_range: Float64Array;
  /** Geom types `[ngeom]` (`mjtGeom`: 0 plane, 3 capsule, ...). */
  readonly geom_type: Int32Array;
  /** Geom sizes `[ngeom, 3]` (capsule: radius, half length). */
  readonly geom_size: Float64Array;
  /** Actuator gears `[nu, 6]`. */
  readonly actuator_gear: Float64Array;
  /** Actuator control ranges `[nu, 2]`. */
  readonly actuator_ctrlrange: Float64Array;
  /** Frees the model. */
  delete(): void;
}

/**
 * The part of mujoco-js's `MjData` used here. The arrays are views into wasm memory returned
 * afresh by each property read (memory growth detaches old views): read them after each call
 * into MuJoCo rather than keeping them.
 */
export interface MjData {
  /** Generalized positions `[nq]`. */
  readonly qpos: Float64Array;
  /** Generalized velocities `[nv]`. */
  readonly qvel: Float64Array;
  /** Actuator controls `[nu]`. */
  readonly ctrl: Float64Array;
  /** Simulation time (s). */
  readonly time: number;
  /** Geom positions in the world `[ngeom, 3]` (after a forward pass or step). */
  readonly geom_xpos: Float64Array;
  /** Geom orientations in the world, row-major 3x3 per geom `[ngeom, 9]`. */
  readonly geom_xmat: Float64Array;
  /** Centre of mass of each body's subtree `[nbody, 3]`. */
  readonly subtree_com: Float64Array;
  /** Number of active constraint rows. */
  readonly nefc: number;
  /** Margin of each constraint row `[nefc]` (contacts: the pair's combined margin). */
  readonly efc_margin: Float64Array;
  /** Frees the data. */
  delete(): void;
}

/** The part of the mujoco-js module (`MujocoModule`) used here. */
export interface MujocoModule {
  /** Model class: compiles MJCF from a path of the module's in-memory filesystem. */
  readonly MjModel: { loadFromXML(path: string): MjModel | null };
  /** Data class: simulation state for a model. */
  readonly MjData: new (model: MjModel) => MjData;
  /** Advances the simulation by one timestep. */
  mj_step(m: MjModel, d: MjData): void;
  /** Computes derived quantities (kinematics, forces) without integrating. */
  mj_forward(m: MjModel, d: MjData): void;
  /** Resets the data to the model's defaults. */
  mj_resetData(m: MjModel, d: MjData): void;
  /** MuJoCo's version, e.g. "3.3.8". */
  mj_versionString(): string;
}

let modulePromise: Promise<MujocoModule> | null = null;
let loaded: MujocoModule | null = null;
let xmlCounter = 0;
/** Lines MuJoCo prints while a model compiles (its error messages go to stdout). */
let captured: string[] | null = null;

/** Loads (once) and returns the MuJoCo wasm module. */
export function loadMujoco(): Promise<MujocoModule> {
  modulePromise ??= (async () => {
    const mod = await import("mujoco-js");
    const factory = mod.default as unknown as (options?: unknown) => Promise<MujocoModule>;
    const mj = await factory({
      // keep MuJoCo's stdout/stderr (warnings) off the console unless asked for
      print: (msg: string) => {
        if (captured) captured.push(msg);
        else if (verbose()) console.error(`[mujoco] ${msg}`);
      },
      printErr: (msg: string) => {
        if (captured) captured.push(msg);
        else if (verbose()) console.error(`[mujoco] ${msg}`);
      },
    });
    loaded = mj;
    return mj;
  })().catch((err) => {
    modulePromise = null;
    throw new Error(`could not load the MuJoCo wasm module (npm:mujoco-js@0.0.7): ${err}`, {
      cause: err,
    });
  });
  return modulePromise;
}

/** The MuJoCo module if {@link loadMujoco} has already completed, else null. */
export function loadedMujoco(): MujocoModule | null {
  return loaded;
}

/**
 * Compiles an MJCF model from XML text: the text is written to a unique path of the module's
 * in-memory filesystem, loaded, and the file removed. Throws with MuJoCo's message on errors.
 */
export function modelFromXml(mj: MujocoModule, xml: string): MjModel {
  // deno-lint-ignore no-explicit-any
  const fs = (mj as any).FS;
  const dir = "/worldflux";
  try {
    fs.mkdir(dir);
  } catch {
    // exists
  }
  const path = `${dir}/model_${xmlCounter++}.xml`;
  fs.writeFile(path, xml);
  captured = [];
  try {
    const model = mj.MjModel.loadFromXML(path);
    if (!model) throw new Error(captured.join(" ").trim() || "MjModel.loadFromXML returned null");
    return model;
  } catch (err) {
    const printed = captured.join(" ").trim();
    const msg = describeError(mj, err);
    throw new Error(
      `MuJoCo could not compile the model: ${msg}${
        printed && !msg.includes(printed) ? ` (${printed})` : ""
      }`,
      { cause: err },
    );
  } finally {
    captured = null;
    fs.unlink(path);
  }
}

const marginRules = new WeakMap<MujocoModule, "max" | "sum">();

/**
 * How this MuJoCo build combines the `margin`s of two geoms in contact: `"max"` (MuJoCo up to
 * 3.3.x, as mujoco-js 0.0.7's 3.3.8) or `"sum"` (later releases, e.g. the Python bindings'
 * 3.14). Probed once per module on a sphere hovering inside the margins of a plane (both
 * margins 1: the contact's margin is 1 or 2). Models written for one rule (Gymnasium's
 * `hopper.xml` gives every geom a 1 mm margin) use it to give their contacts the same margin
 * under either.
 */
export function contactMarginRule(mj: MujocoModule): "max" | "sum" {
  let rule = marginRules.get(mj);
  if (rule) return rule;
  const model = modelFromXml(
    mj,
    `<mujoco><worldbody><geom type="plane" size="1 1 0.1" margin="1"/>
      <body pos="0 0 1.5"><freejoint/><geom type="sphere" size="1" margin="1"/></body>
    </worldbody></mujoco>`,
  );
  const data = new mj.MjData(model);
  try {
    mj.mj_forward(model, data);
    const margin = data.nefc > 0 ? data.efc_margin[0] : NaN;
    if (margin === 1) rule = "max";
    else if (margin === 2) rule = "sum";
    else throw new Error(`MuJoCo margin probe: unexpected contact margin ${margin}`);
  } finally {
    data.delete();
    model.delete();
  }
  marginRules.set(mj, rule);
  return rule;
}

function verbose(): boolean {
  try {
    return Boolean(Deno.env.get("WORLDFLUX_MUJOCO_VERBOSE"));
  } catch {
    return false; // no --allow-env
  }
}

/**
 * Turns a MuJoCo/Emscripten exception into text. MuJoCo's XML reader throws `mjXError`, a C++
 * object (not a `std::exception`) whose first member is the message `char[1000]`; Emscripten
 * gives it as `{ name: "mjXError", excPtr }`. The module exports no heap view, so the bytes are
 * read through the wasm memory behind an (empty) `MjData` array of a probe model.
 */
function describeError(mj: MujocoModule, err: unknown): string {
  const e = err as { name?: unknown; message?: unknown; excPtr?: unknown } | null;
  if (e && typeof e.excPtr === "number") {
    const text = readCString(mj, e.excPtr, 1000);
    if (text) return `${String(e.name ?? "exception")}: ${text.trim().replace(/\s*\n\s*/g, "; ")}`;
  }
  if (e && typeof e.message === "string" && e.message) return e.message;
  return String(e?.name ?? err);
}

let probe: { model: MjModel; data: MjData } | null = null;

function readCString(mj: MujocoModule, ptr: number, max: number): string {
  try {
    if (!probe) {
      // deno-lint-ignore no-explicit-any
      const fs = (mj as any).FS;
      const path = "/worldflux/probe.xml";
      fs.writeFile(path, "<mujoco/>");
      const model = mj.MjModel.loadFromXML(path);
      fs.unlink(path);
      if (!model) return "";
      probe = { model, data: new mj.MjData(model) };
    }
    // a fresh view each time: memory growth replaces the buffer
    const mem = new Uint8Array(probe.data.qpos.buffer);
    let end = ptr;
    while (end < ptr + max && end < mem.length && mem[end] !== 0) end++;
    return new TextDecoder().decode(mem.subarray(ptr, end));
  } catch {
    return "";
  }
}
