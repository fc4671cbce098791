/**
 * A tiny software rasterizer for environment pictures: filled polygons, circles, thick lines
 * and capsules into an RGB buffer, supersampled (default 3x3 per pixel) and box-filtered down,
 * so 64x64 frames have smooth edges. Output is HWC RGB `Uint8Array`, row 0 at the top.
 * @module
 */

import { encode } from "fast-png";

/** An RGB colour, components 0..255. */
export type Rgb = readonly [number, number, number];

/** A 2-D point. */
export type Point = readonly [number, number];

/**
 * Raster canvas. Drawing coordinates are in output pixels (floats; x right, y down; the
 * centre of pixel (i, j) is (i + 0.5, j + 0.5)); shapes are sampled at `ss x ss` points per
 * pixel and averaged by {@link Canvas.toImage}.
 */
export class Canvas {
  /** Output width in pixels. */
  readonly width: number;
  /** Output height in pixels. */
  readonly height: number;
  /** Supersampling factor per axis. */
  readonly ss: number;
  private readonly w: number;
  private readonly h: number;
  private readonly buf: Uint8Array;

  /** A `width x height` canvas sampled `ss x ss` times per pixel. */
  constructor(width: number, height = width, ss = 3) {
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
      throw new RangeError(`Canvas: bad size ${width}x${height}`);
    }
    if (!(Number.isInteger(ss) && ss >= 1 && ss <= 8)) throw new RangeError(`Canvas: bad ss ${ss}`);
    this.width = width;
    this.height = height;
    this.ss = ss;
    this.w = width * ss;
    this.h = height * ss;
    this.buf = new Uint8Array(this.w * this.h * 3);
  }

  /** Fills everything with `color`. */
  clear(color: Rgb): this {
    const b = this.buf;
    const [r, g, bl] = color;
    for (let i = 0; i < b.length; i += 3) {
      b[i] = r;
      b[i + 1] = g;
      b[i + 2] = bl;
    }
    return this;
  }

  /** Fills a horizontal span of hi-res row `y` from hi-res column `x0` to `x1` (exclusive). */
  private span(y: number, x0: number, x1: number, color: Rgb): void {
    if (y < 0 || y >= this.h) return;
    const a = Math.max(0, x0);
    const e = Math.min(this.w, x1);
    const b = this.buf;
    for (let x = a, i = (y * this.w + a) * 3; x < e; x++, i += 3) {
      b[i] = color[0];
      b[i + 1] = color[1];
      b[i + 2] = color[2];
    }
  }

  /** Fills an axis-aligned rectangle [x0, x1] x [y0, y1] (any corner order). */
  fillRect(x0: number, y0: number, x1: number, y1: number, color: Rgb): this {
    return this.fillPolygon([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], color);
  }

  /**
   * Fills a polygon (even-odd rule; convex or not) by scanlines through the sample centres.
   */
  fillPolygon(points: readonly Point[], color: Rgb): this {
    const n = points.length;
    if (n < 3) return this;
    const s = this.ss;
    let minY = Infinity;
    let maxY = -Infinity;
    for (const [, y] of points) {
      minY = Math.min(minY, y * s);
      maxY = Math.max(maxY, y * s);
    }
    const r0 = Math.max(0, Math.ceil(minY - 0.5));
    const r1 = Math.min(this.h - 1, Math.floor(maxY - 0.5));
    const xs: number[] = [];
    for (let row = r0; row <= r1; row++) {
      const yc = row + 0.5;
      xs.length = 0;
      for (let i = 0; i < n; i++) {
        const ax = points[i][0] * s;
        const ay = points[i][1] * s;
        const bx = points[(i + 1) % n][0] * s;
        const by = points[(i + 1) % n][1] * s;
        if ((ay <= yc && by > yc) || (by <= yc && ay > yc)) {
          xs.push(ax + ((yc - ay) / (by - ay)) * (bx - ax));
        }
      }
      xs.sort((p, q) => p - q);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        // columns whose centre c + 0.5 lies in [xs[k], xs[k+1])
        this.span(row, Math.ceil(xs[k] - 0.5), Math.ceil(xs[k + 1] - 0.5), color);
      }
    }
    return this;
  }

  /** Fills a disc of radius `r` centred at (cx, cy). */
  fillCircle(cx: number, cy: number, r: number, color: Rgb): this {
    const s = this.ss;
    const x = cx * s;
    const y = cy * s;
    const rr = r * s;
    const r0 = Math.max(0, Math.ceil(y - rr - 0.5));
    const r1 = Math.min(this.h - 1, Math.floor(y + rr - 0.5));
    for (let row = r0; row <= r1; row++) {
      const dy = row + 0.5 - y;
      const d2 = rr * rr - dy * dy;
      if (d2 < 0) continue;
      const dx = Math.sqrt(d2);
      this.span(row, Math.ceil(x - dx - 0.5), Math.ceil(x + dx - 0.5), color);
    }
    return this;
  }

  /** Draws a segment of the given width with square (butt) ends. */
  line(a: Point, b: Point, width: number, color: Rgb): this {
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const len = Math.hypot(dx, dy);
    if (len === 0) return this.fillCircle(a[0], a[1], width / 2, color);
    const nx = (-dy / len) * (width / 2);
    const ny = (dx / len) * (width / 2);
    return this.fillPolygon([
      [a[0] + nx, a[1] + ny],
      [b[0] + nx, b[1] + ny],
      [b[0] - nx, b[1] - ny],
      [a[0] - nx, a[1] - ny],
    ], color);
  }

  /** Draws a segment of the given width with round ends (a capsule). */
  capsule(a: Point, b: Point, width: number, color: Rgb): this {
    this.line(a, b, width, color);
    this.fillCircle(a[0], a[1], width / 2, color);
    return this.fillCircle(b[0], b[1], width / 2, color);
  }

  /** Draws a polyline of the given width (round joints). */
  polyline(points: readonly Point[], width: number, color: Rgb): this {
    for (let i = 0; i + 1 < points.length; i++) {
      this.capsule(points[i], points[i + 1], width, color);
    }
    return this;
  }

  /**
   * Box-filters the supersampled buffer down to `width x height` RGB (HWC, row 0 on top) into
   * `out` (allocated when absent).
   */
  toImage(out?: Uint8Array): Uint8Array {
    const { width, height, ss, w, buf } = this;
    const img = out ?? new Uint8Array(width * height * 3);
    if (img.length !== width * height * 3) throw new RangeError("Canvas.toImage: bad out size");
    const area = ss * ss;
    const half = area >> 1;
    for (let j = 0; j < height; j++) {
      for (let i = 0; i < width; i++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let v = 0; v < ss; v++) {
          let p = ((j * ss + v) * w + i * ss) * 3;
          for (let u = 0; u < ss; u++, p += 3) {
            r += buf[p];
            g += buf[p + 1];
            b += buf[p + 2];
          }
        }
        const o = (j * width + i) * 3;
        img[o] = ((r + half) / area) | 0;
        img[o + 1] = ((g + half) / area) | 0;
        img[o + 2] = ((b + half) / area) | 0;
      }
    }
    return img;
  }
}

/**
 * Maps a world rectangle (y up) onto a canvas (y down), keeping the aspect ratio: the world
 * rectangle `[xMin, xMax] x [yMin, yMax]` fills the canvas, centred where aspects differ.
 */
export class View {
  /** Pixels per world unit. */
  readonly scale: number;
  private readonly ox: number;
  private readonly oy: number;

  /** Fits the world rectangle into a `canvasWidth x canvasHeight` canvas. */
  constructor(
    canvasWidth: number,
    canvasHeight: number,
    xMin: number,
    xMax: number,
    yMin: number,
    yMax: number,
  ) {
    this.scale = Math.min(canvasWidth / (xMax - xMin), canvasHeight / (yMax - yMin));
    this.ox = canvasWidth / 2 - ((xMin + xMax) / 2) * this.scale;
    this.oy = canvasHeight / 2 + ((yMin + yMax) / 2) * this.scale;
  }

  /** World point to canvas point. */
  p(x: number, y: number): Point {
    return [this.ox + x * this.scale, this.oy - y * this.scale];
  }

  /** World length to canvas pixels. */
  len(d: number): number {
    return d * this.scale;
  }
}

/** Converts an HWC RGB image to CHW (`out` allocated when absent). */
export function hwcToChw(
  img: Uint8Array,
  height: number,
  width: number,
  out?: Uint8Array,
): Uint8Array {
  const n = height * width;
  const o = out ?? new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    o[p] = img[p * 3];
    o[n + p] = img[p * 3 + 1];
    o[2 * n + p] = img[p * 3 + 2];
  }
  return o;
}

/** Converts a CHW RGB image to HWC (`out` allocated when absent). */
export function chwToHwc(
  img: Uint8Array,
  height: number,
  width: number,
  out?: Uint8Array,
): Uint8Array {
  const n = height * width;
  const o = out ?? new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    o[p * 3] = img[p];
    o[p * 3 + 1] = img[n + p];
    o[p * 3 + 2] = img[2 * n + p];
  }
  return o;
}

/** Encodes an HWC RGB image as PNG bytes. */
export function encodeRgbPng(img: Uint8Array, width: number, height: number): Uint8Array {
  if (img.length !== width * height * 3) {
    throw new RangeError(`encodeRgbPng: ${img.length} bytes for ${width}x${height} RGB`);
  }
  return encode({ width, height, data: img, channels: 3, depth: 8 });
}

/**
 * Tiles HWC RGB frames (each `size x size`) into one image with `cols` columns and a
 * `gap`-pixel border of `background`, e.g. for a filmstrip of an episode.
 */
export function tileFrames(
  frames: readonly Uint8Array[],
  size: number,
  cols = frames.length,
  gap = 1,
  background: Rgb = [255, 255, 255],
): { image: Uint8Array; width: number; height: number } {
  const rows = Math.max(1, Math.ceil(frames.length / cols));
  const width = cols * size + (cols + 1) * gap;
  const height = rows * size + (rows + 1) * gap;
  const image = new Uint8Array(width * height * 3);
  for (let i = 0; i < image.length; i += 3) {
    image[i] = background[0];
    image[i + 1] = background[1];
    image[i + 2] = background[2];
  }
  frames.forEach((f, k) => {
    const x0 = gap + (k % cols) * (size + gap);
    const y0 = gap + Math.floor(k / cols) * (size + gap);
    for (let y = 0; y < size; y++) {
      image.set(f.subarray(y * size * 3, (y + 1) * size * 3), ((y0 + y) * width + x0) * 3);
    }
  });
  return { image, width, height };
}
