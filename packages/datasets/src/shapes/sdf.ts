import type { ShapeClass } from './options.ts';

/**
 * Signed distance functions in pixel units: negative inside, positive outside, |d| the
 * distance to the boundary. Coverage for antialiasing comes straight from the distance,
 * which is why shapes are described this way rather than as polygons to scan-convert.
 * Box and equilateral triangle follow Inigo Quilez's 2D distance functions.
 */

function box(px: number, py: number, bx: number, by: number): number {
  const dx = Math.abs(px) - bx;
  const dy = Math.abs(py) - by;
  const ox = Math.max(dx, 0);
  const oy = Math.max(dy, 0);
  return Math.hypot(ox, oy) + Math.min(Math.max(dx, dy), 0);
}

/** Equilateral triangle centred on its centroid, circumradius r. */
function triangle(px: number, py: number, r: number): number {
  const k = Math.sqrt(3);
  const h = (r * k) / 2; // half the side length
  let x = Math.abs(px) - h;
  let y = py + h / k;
  if (x + k * y > 0) {
    const nx = (x - k * y) / 2;
    const ny = (-k * x - y) / 2;
    x = nx;
    y = ny;
  }
  x -= Math.min(Math.max(x, -2 * h), 0);
  return -Math.hypot(x, y) * Math.sign(y);
}

/** Distance from (px, py), already in the shape's frame (centred, unrotated), for size r. */
export function shapeDistance(kind: ShapeClass, px: number, py: number, r: number): number {
  switch (kind) {
    case 'circle':
      return Math.hypot(px, py) - r;
    case 'square':
      return box(px, py, r * 0.8, r * 0.8);
    case 'triangle':
      return triangle(px, py, r);
    case 'cross':
      return Math.min(box(px, py, r, r * 0.3), box(px, py, r * 0.3, r));
    case 'ring':
      return Math.abs(Math.hypot(px, py) - r * 0.72) - r * 0.25;
  }
}
