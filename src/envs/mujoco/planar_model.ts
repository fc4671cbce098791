/**
 * Planar MuJoCo robots described as tables and written out as MJCF: the locomotion models
 * (HalfCheetah, Hopper) are a torso on three root joints (slide x, slide z, hinge about y) with
 * chains of capsule limbs, each on one actuated hinge about the y axis. A {@link PlanarModel}
 * states exactly that (positions in the body's x-z plane, angles in radians) and
 * {@link planarMjcf} turns it into the MJCF text MuJoCo compiles.
 *
 * Why tables rather than XML files: the numbers that define the robots (link offsets, capsule
 * sizes, joint ranges, stiffness, damping, gears) sit in one typed place that the environments,
 * their documentation and their tests read, and the generated MJCF uses only the few MJCF
 * features these robots need.
 *
 * @example
 * ```ts
 * import { planarMjcf } from "./planar_model.ts";
 * import { HALF_CHEETAH_MODEL } from "./half_cheetah.ts";
 * const xml = planarMjcf(HALF_CHEETAH_MODEL); // "<mujoco model=\"half_cheetah\"> ..."
 * ```
 * @module
 */

/** A point in a body's x-z plane `[x, z]` (m). */
export type PlanarPoint = readonly [number, number];

/** MJCF attribute values of a `<default>` element (numbers, or strings of several numbers). */
export type MjcfAttributes = Readonly<Record<string, number | string | boolean>>;

/** A capsule geom in its body's x-z plane. */
export interface PlanarCapsule {
  /** Geom name. */
  readonly name: string;
  /** Radius (m). */
  readonly radius: number;
  /**
   * Placement: either `{ from, to }` segment ends, or `{ at, halfLength, tilt }` (centre, half
   * length of the segment, rotation about +y from the body's z axis, radians).
   */
  readonly from?: PlanarPoint;
  /** Segment end (with `from`). */
  readonly to?: PlanarPoint;
  /** Centre (with `halfLength`; default `[0, 0]`). */
  readonly at?: PlanarPoint;
  /** Half length of the capsule's segment (m). */
  readonly halfLength?: number;
  /** Rotation about +y (rad; default 0: along the body's z axis). */
  readonly tilt?: number;
  /** Sliding friction (default: the model's geom default). */
  readonly friction?: number;
  /** Colour "r g b a" for viewers (no effect on physics). */
  readonly rgba?: string;
}

/** An actuated hinge about the y axis. */
export interface PlanarHinge {
  /** Joint (and actuator) name. */
  readonly name: string;
  /** Anchor in the body frame (default `[0, 0]`). */
  readonly at?: PlanarPoint;
  /** Direction of the axis along y: +1 or -1 (the sign of positive angles). */
  readonly axis: 1 | -1;
  /** Joint limits `[lo, hi]` (rad). */
  readonly range: readonly [number, number];
  /** Joint spring stiffness (N m / rad; default: the model's joint default). */
  readonly stiffness?: number;
  /** Joint damping (N m s / rad; default: the model's joint default). */
  readonly damping?: number;
  /** Motor gear: torque = gear x control. */
  readonly gear: number;
}

/** A limb: a body on one hinge, with one capsule and further limbs. */
export interface PlanarLimb {
  /** Body name. */
  readonly name: string;
  /** Position of the body frame in its parent's frame. */
  readonly at: PlanarPoint;
  /** The hinge to the parent. */
  readonly hinge: PlanarHinge;
  /** The limb's capsule. */
  readonly capsule: PlanarCapsule;
  /** Limbs attached to this one. */
  readonly children?: readonly PlanarLimb[];
}

/** A planar robot: torso on root joints `rootx`, `rootz`, `rooty`, and its limbs. */
export interface PlanarModel {
  /** Model name. */
  readonly name: string;
  /** Simulation timestep (s). */
  readonly timestep: number;
  /** Integrator (MuJoCo's default: Euler). */
  readonly integrator?: "Euler" | "RK4" | "implicit" | "implicitfast";
  /** Total mass the compiler scales the bodies to (kg), if any (else density 1000 kg/m^3). */
  readonly totalMass?: number;
  /** Defaults of every joint (the root joints override stiffness, damping, armature, limits). */
  readonly jointDefaults: MjcfAttributes;
  /** Defaults of every geom (the floor overrides some). */
  readonly geomDefaults: MjcfAttributes;
  /** The floor plane: half sizes and its own contact attributes. */
  readonly floor: MjcfAttributes;
  /** Torso body position in the world `[x, z]`. */
  readonly torsoAt: PlanarPoint;
  /**
   * Reference of the `rootz` slide (MJCF `ref`): the value of `qpos[1]` at the model's
   * position (default 0: `qpos[1]` is the height above the torso's model position).
   */
  readonly rootZRef?: number;
  /** The torso's capsules. */
  readonly torso: readonly PlanarCapsule[];
  /** Limbs on the torso, in MuJoCo's joint order (depth first). */
  readonly limbs: readonly PlanarLimb[];
}

/** Formats a number exactly (shortest round-trip form, as MuJoCo parses doubles). */
function num(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`planarMjcf: non-finite value ${x}`);
  return String(x);
}

function attrs(a: MjcfAttributes): string {
  return Object.entries(a).map(([k, v]) => `${k}="${typeof v === "number" ? num(v) : v}"`)
    .join(" ");
}

function pos(p: PlanarPoint | undefined): string {
  return p ? `${num(p[0])} 0 ${num(p[1])}` : "0 0 0";
}

function capsuleXml(c: PlanarCapsule, indent: string): string {
  const parts = [`name="${c.name}"`, `type="capsule"`];
  if (c.from && c.to) {
    parts.push(`fromto="${pos(c.from)} ${pos(c.to)}"`, `size="${num(c.radius)}"`);
  } else {
    if (c.halfLength === undefined) {
      throw new RangeError(`planarMjcf: capsule ${c.name} needs from/to or halfLength`);
    }
    parts.push(`pos="${pos(c.at)}"`, `size="${num(c.radius)} ${num(c.halfLength)}"`);
    if (c.tilt) parts.push(`axisangle="0 1 0 ${num(c.tilt)}"`);
  }
  if (c.friction !== undefined) parts.push(`friction="${num(c.friction)}"`);
  if (c.rgba) parts.push(`rgba="${c.rgba}"`);
  return `${indent}<geom ${parts.join(" ")}/>`;
}

function limbXml(l: PlanarLimb, indent: string, motors: string[]): string {
  const h = l.hinge;
  const joint = [
    `name="${h.name}"`,
    `type="hinge"`,
    `pos="${pos(h.at)}"`,
    `axis="0 ${h.axis} 0"`,
    `range="${num(h.range[0])} ${num(h.range[1])}"`,
  ];
  if (h.stiffness !== undefined) joint.push(`stiffness="${num(h.stiffness)}"`);
  if (h.damping !== undefined) joint.push(`damping="${num(h.damping)}"`);
  motors.push(`    <motor name="${h.name}" joint="${h.name}" gear="${num(h.gear)}"/>`);
  const inner = indent + "  ";
  return [
    `${indent}<body name="${l.name}" pos="${pos(l.at)}">`,
    `${inner}<joint ${joint.join(" ")}/>`,
    capsuleXml(l.capsule, inner),
    ...(l.children ?? []).map((c) => limbXml(c, inner, motors)),
    `${indent}</body>`,
  ].join("\n");
}

/**
 * Writes a {@link PlanarModel} as MJCF: angles in radians, inertias from the geoms (density
 * 1000, scaled to `totalMass` when given), motors with control range [-1, 1], the root joints
 * unlimited with no stiffness, damping or armature, and a floor plane at z = 0.
 */
export function planarMjcf(model: PlanarModel): string {
  const motors: string[] = [];
  const limbs = model.limbs.map((l) => limbXml(l, "      ", motors));
  const compiler = [`angle="radian"`, `inertiafromgeom="true"`];
  if (model.totalMass !== undefined) compiler.push(`settotalmass="${num(model.totalMass)}"`);
  const option = [`timestep="${num(model.timestep)}"`];
  if (model.integrator) option.push(`integrator="${model.integrator}"`);
  const root = `armature="0" damping="0" stiffness="0" limited="false"`;
  return `<mujoco model="${model.name}">
  <compiler ${compiler.join(" ")}/>
  <option ${option.join(" ")}/>
  <default>
    <joint ${attrs(model.jointDefaults)}/>
    <geom ${attrs(model.geomDefaults)}/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" pos="0 0 0" ${attrs(model.floor)}/>
    <body name="torso" pos="${pos(model.torsoAt)}">
      <joint name="rootx" type="slide" axis="1 0 0" ${root}/>
      <joint name="rootz" type="slide" axis="0 0 1" ref="${num(model.rootZRef ?? 0)}" ${root}/>
      <joint name="rooty" type="hinge" axis="0 1 0" ${root}/>
${model.torso.map((c) => capsuleXml(c, "      ")).join("\n")}
${limbs.join("\n")}
    </body>
  </worldbody>
  <actuator>
${motors.join("\n")}
  </actuator>
</mujoco>
`;
}

/** Hinges of a model in MuJoCo's order (depth first), i.e. the actuators' order. */
export function planarHinges(model: PlanarModel): PlanarHinge[] {
  const out: PlanarHinge[] = [];
  const walk = (l: PlanarLimb) => {
    out.push(l.hinge);
    for (const c of l.children ?? []) walk(c);
  };
  for (const l of model.limbs) walk(l);
  return out;
}
