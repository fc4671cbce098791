/**
 * Frames of the Gymnasium host protocol (the Python side is `host.py`): `u32 header_len | u32
 * payload_len | header | payload`, little-endian, where the header is UTF-8 JSON and the payload
 * holds raw arrays listed by `header.arrays` as `[name, dtype, shape, offset]` (offsets are
 * multiples of 8 from the payload start). Headers are padded with spaces so that the payload
 * starts 8-byte aligned in the frame, and decoded arrays are views on the frame itself: a reply
 * is copied once, out of the shared buffer, and never again.
 * @module
 */

/** A typed array the protocol carries. */
export type WireArray = Uint8Array | Int32Array | Float32Array | Float64Array;

/** An array of a frame with its shape. */
export interface ShapedArray {
  /** The values, row-major. */
  readonly data: WireArray;
  /** The shape. */
  readonly shape: readonly number[];
}

/** A decoded frame. */
export interface Frame {
  /** The JSON header (without `arrays`). */
  readonly header: Record<string, unknown>;
  /** The arrays by name. */
  readonly arrays: Readonly<Record<string, ShapedArray>>;
}

const CTORS = {
  uint8: Uint8Array,
  bool: Uint8Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

type WireDType = keyof typeof CTORS;

function dtypeOf(a: WireArray): WireDType {
  if (a instanceof Uint8Array) return "uint8";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Float32Array) return "float32";
  return "float64";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a frame; `arrays` are `[name, data, shape]`. */
export function encodeFrame(
  header: Record<string, unknown>,
  arrays: readonly (readonly [string, WireArray, readonly number[]])[] = [],
): Uint8Array {
  const specs: [string, string, number[], number][] = [];
  let offset = 0;
  for (const [name, a, shape] of arrays) {
    offset += (8 - (offset % 8)) % 8;
    specs.push([name, dtypeOf(a), [...shape], offset]);
    offset += a.byteLength;
  }
  let head = encoder.encode(JSON.stringify(specs.length ? { ...header, arrays: specs } : header));
  const pad = (8 - ((8 + head.length) % 8)) % 8;
  if (pad) {
    const padded = new Uint8Array(head.length + pad).fill(0x20);
    padded.set(head);
    head = padded;
  }
  const frame = new Uint8Array(8 + head.length + offset);
  const view = new DataView(frame.buffer);
  view.setUint32(0, head.length, true);
  view.setUint32(4, offset, true);
  frame.set(head, 8);
  const base = 8 + head.length;
  arrays.forEach(([, a], i) => {
    frame.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), base + specs[i][3]);
  });
  return frame;
}

/** Decodes a frame (array views share the frame's buffer); throws a plain Error when malformed. */
export function decodeFrame(frame: Uint8Array): Frame {
  if (frame.length < 8) throw new Error(`frame of ${frame.length} bytes has no length prefix`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const hlen = view.getUint32(0, true);
  const plen = view.getUint32(4, true);
  if (8 + hlen + plen !== frame.length) {
    throw new Error(`frame says ${8 + hlen + plen} bytes, got ${frame.length}`);
  }
  const header = JSON.parse(decoder.decode(frame.subarray(8, 8 + hlen))) as Record<
    string,
    unknown
  >;
  const specs = (header.arrays ?? []) as [string, string, number[], number][];
  delete header.arrays;
  const base = frame.byteOffset + 8 + hlen;
  const aligned = base % 8 === 0;
  const arrays: Record<string, ShapedArray> = {};
  for (const [name, dtype, shape, offset] of specs) {
    const Ctor = CTORS[dtype as WireDType];
    if (!Ctor) throw new Error(`array "${name}" has an unsupported dtype ${dtype}`);
    let count = 1;
    for (const d of shape) count *= d;
    const bytes = count * Ctor.BYTES_PER_ELEMENT;
    if (offset + bytes > plen) throw new Error(`array "${name}" runs past the payload`);
    const data = aligned
      ? new Ctor(frame.buffer as ArrayBuffer, base + offset, count)
      : new Ctor(frame.slice(8 + hlen + offset, 8 + hlen + offset + bytes).buffer);
    arrays[name] = { data, shape };
  }
  return { header, arrays };
}
