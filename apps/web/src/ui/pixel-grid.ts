// Pure geometry of sample grids (the PNGs `anneal train` and `anneal sample` tile with
// packages/core's tileGrid): how large to draw them, and which image a point falls on.

/** How a grid PNG is tiled: n square images of `size` px, `columns` wide, `pad` px gutters. */
export interface GridGeometry {
  n: number;
  columns: number;
  pad: number;
  size: number;
  /** Image i's class name, or null when unknown or unconditional. */
  classes: string[] | null;
}

/**
 * How large to draw an image: `device` whole screen pixels per image pixel, which is `css`
 * CSS pixels per image pixel (device / devicePixelRatio). Nearest-neighbour upscaling keeps
 * every pixel square and equal, which is what makes a 28 px digit readable, only when each
 * image pixel covers a whole number of *device* pixels: at devicePixelRatio 1.25 a CSS
 * scale of 3 is 3.75 device pixels, and image pixels come out 3 and 4 wide by turns.
 */
export interface PixelScale {
  device: number;
  css: number;
}

// Absorbs the rounding of products such as 726 * 1.1 (a ratio browsers report at 110% zoom).
const EPS = 1e-9;

function ratio(dpr: number): number {
  return Number.isFinite(dpr) && dpr > 0 ? dpr : 1;
}

/** The scale of `device` screen pixels per image pixel at devicePixelRatio `dpr`. */
export function atDeviceScale(device: number, dpr: number): PixelScale {
  return { device, css: device / ratio(dpr) };
}

/**
 * The largest scale at which an image of `natural` px fits in `available` CSS px at
 * devicePixelRatio `dpr`, a whole number of device pixels per image pixel; at least the
 * least such scale that is not below natural size (ceil(dpr)).
 */
export function pixelScale(natural: number, available: number, dpr = 1): PixelScale {
  const r = ratio(dpr);
  const least = Math.max(1, Math.ceil(r - EPS));
  if (!(natural > 0) || !(available > 0)) return atDeviceScale(least, r);
  return atDeviceScale(Math.max(least, Math.floor((available * r) / natural + EPS)), r);
}

/** How far Zoom in goes: the scale that fits four times the space (at least `fit` + 1). */
export function zoomLimit(natural: number, available: number, dpr: number, fit: number): number {
  return Math.max(fit + 1, pixelScale(natural, 4 * available, dpr).device);
}

/**
 * The geometry of a grid of `n` images tiled by tileGrid's defaults (ceil(sqrt(n)) columns,
 * 2 px gutters), read back from its pixel width; null when the width does not fit that.
 */
export function defaultGridGeometry(
  width: number,
  n: number,
  classes: string[] | null = null,
): GridGeometry | null {
  if (!Number.isInteger(n) || n < 1) return null;
  const columns = Math.ceil(Math.sqrt(n));
  const pad = 2;
  const size = (width - (columns + 1) * pad) / columns;
  if (!Number.isInteger(size) || size < 1) return null;
  return { n, columns, pad, size, classes };
}

/** The index of the image at (x, y) in the grid's own pixels; null on a gutter or past n. */
export function tileAt(g: GridGeometry, x: number, y: number): number | null {
  const cell = g.size + g.pad;
  const col = Math.floor((x - g.pad) / cell);
  const row = Math.floor((y - g.pad) / cell);
  if (col < 0 || row < 0 || col >= g.columns) return null;
  const inX = x - g.pad - col * cell;
  const inY = y - g.pad - row * cell;
  if (inX >= g.size || inY >= g.size) return null;
  const i = row * g.columns + col;
  return i < g.n ? i : null;
}

/** Where image i starts in the grid's pixels. */
export function tileOrigin(g: GridGeometry, i: number): { x: number; y: number } {
  const cell = g.size + g.pad;
  return { x: g.pad + (i % g.columns) * cell, y: g.pad + Math.floor(i / g.columns) * cell };
}

/** The step of a training grid's artifact path (`samples/step-<step>.png`), else null. */
export function sampleFrameStep(path: string): number | null {
  const m = /^samples\/step-(\d+)\.png$/.exec(path);
  return m ? Number(m[1]) : null;
}
