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

import type { MainModule, MjData, MjModel } from "npm:mujoco-js@0.0.7";

export type { MainModule as MujocoModule, MjData, MjModel };

let modulePromise: Promise<MainModule> | null = null;
let loaded: MainModule | null = null;
let xmlCounter = 0;
/** Lines MuJoCo prints while a model compiles (its error messages go to stdout). */
let captured: string[] | null = null;

/** Loads (once) and returns the MuJoCo wasm module. */
export function loadMujoco(): Promise<MainModule> {
  modulePromise ??= (async () => {
    const mod = await import("npm:mujoco-js@0.0.7");
    const factory = mod.default as (options?: unknown) => Promise<MainModule>;
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
export function loadedMujoco(): MainModule | null {
  return loaded;
}

/**
 * Compiles an MJCF model from XML text: the text is written to a unique path of the module's
 * in-memory filesystem, loaded, and the file removed. Throws with MuJoCo's message on errors.
 */
export function modelFromXml(mj: MainModule, xml: string): MjModel {
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

function verbose(): boolean {
  try {
    return Boolean(Deno.env.get("WORLDFLUX_MUJOCO_VERBOSE"));
  } catch {
    return false; // no --allow-env
  }
}

/** Turns an Emscripten exception (a pointer number or an Error) into text. */
function describeError(mj: MainModule, err: unknown): string {
  if (err instanceof Error) return err.message;
  // deno-lint-ignore no-explicit-any
  const anyMj = mj as any;
  if (typeof err === "number" && typeof anyMj.getExceptionMessage === "function") {
    try {
      return String(anyMj.getExceptionMessage(err));
    } catch {
      // fall through
    }
  }
  return String(err);
}
