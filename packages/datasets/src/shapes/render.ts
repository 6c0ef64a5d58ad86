import { AppError } from '@anneal/core/errors';
import type { ImageBatch } from '../images.ts';
import { createRng, type Rng, splitIndices } from '../random.ts';
import {
  MIXED_MAX_SHAPES,
  SHAPE_CLASSES,
  SHAPES_CHANNELS,
  SHAPES_MAX_RESOLUTION,
  SHAPES_MIN_RESOLUTION,
  type ShapesDials,
  type ShapesOptions,
  type ShapesOptionsInput,
  shapesOptionsSchema,
} from './options.ts';
import { shapeDistance } from './sdf.ts';

/** Width of the edge ramp in pixels: how far from the boundary coverage goes 1 -> 0. */
function edgeWidth(edges: ShapesDials['edges'], resolution: number): number {
  if (edges === 'hard') return 0;
  if (edges === 'antialiased') return 1;
  return Math.max(1.5, resolution * 0.08);
}

function coverage(d: number, width: number): number {
  if (width === 0) return d <= 0 ? 1 : 0;
  const c = 0.5 - d / width;
  return c <= 0 ? 0 : Math.min(c, 1);
}

function randomColor(rng: Rng, lo: number, hi: number): [number, number, number] {
  return [rng.range(lo, hi), rng.range(lo, hi), rng.range(lo, hi)];
}

const TEXTURES = ['flat', 'striped', 'noise'] as const;
const EDGES = ['hard', 'antialiased', 'soft'] as const;
/** Where the dials of `mixed` options are drawn: a stream of its own per image. */
const DIALS_SEED_SALT = 0xd1a1;

/**
 * The complexity dials of image `index`: the options themselves, or for `mixed` ones a draw
 * from the image's own dials stream, so the rest of the image's randomness is untouched and
 * a consumer (an adaptive sampler's benchmark) can read an image's complexity without
 * rendering it.
 */
export function shapesDials(options: ShapesOptionsInput, index: number): ShapesDials {
  const opts = shapesOptionsSchema.parse(options);
  return dialsOf(opts, index);
}

function dialsOf(opts: ShapesOptions, index: number): ShapesDials {
  const rng = createRng((opts.seed ^ DIALS_SEED_SALT) >>> 0, index);
  // Always three draws in this order, so each dial's value does not depend on the others.
  const count = rng.int(1, MIXED_MAX_SHAPES);
  const texture = TEXTURES[rng.int(0, TEXTURES.length - 1)] as ShapesDials['texture'];
  const edges = EDGES[rng.int(0, EDGES.length - 1)] as ShapesDials['edges'];
  return {
    shapesPerImage: opts.shapesPerImage === 'mixed' ? count : opts.shapesPerImage,
    texture: opts.texture === 'mixed' ? texture : opts.texture,
    edges: opts.edges === 'mixed' ? edges : opts.edges,
  };
}

/**
 * Renders image `index` of the dataset into `out` (H*W*3 floats) and returns its label.
 * Each image draws from its own random stream (seed, index), so image i is the same
 * whatever the dataset's size. All shapes in an image share the labelled class.
 */
function renderInto(
  out: Float32Array,
  resolution: number,
  opts: ShapesOptions,
  index: number,
): number {
  const rng = createRng(opts.seed, index);
  const label = rng.int(0, SHAPE_CLASSES.length - 1);
  const kind = SHAPE_CLASSES[label] as (typeof SHAPE_CLASSES)[number];
  const bg = randomColor(rng, 0, 90);
  for (let i = 0; i < out.length; i += SHAPES_CHANNELS) {
    out[i] = bg[0];
    out[i + 1] = bg[1];
    out[i + 2] = bg[2];
  }
  const dials = dialsOf(opts, index);
  const width = edgeWidth(dials.edges, resolution);
  // More shapes share the canvas, so each gets smaller; never below 2 px or it vanishes.
  const scale = 1 / Math.sqrt(dials.shapesPerImage);
  for (let s = 0; s < dials.shapesPerImage; s++) {
    const r = Math.max(2, rng.range(0.2, 0.38) * resolution * scale);
    const cx = rng.range(Math.min(r, resolution / 2), Math.max(resolution - r, resolution / 2));
    const cy = rng.range(Math.min(r, resolution / 2), Math.max(resolution - r, resolution / 2));
    const angle = rng.range(0, 2 * Math.PI);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const color = randomColor(rng, 110, 255);
    const stripeAngle = rng.range(0, Math.PI);
    const stripeCos = Math.cos(stripeAngle);
    const stripeSin = Math.sin(stripeAngle);
    const period = Math.max(2, r * 0.5);
    // Only pixels whose centre can have coverage: the shape's reach plus the edge ramp.
    const reach = r * 1.1 + width + 1;
    const x0 = Math.max(0, Math.floor(cx - reach));
    const x1 = Math.min(resolution - 1, Math.ceil(cx + reach));
    const y0 = Math.max(0, Math.floor(cy - reach));
    const y1 = Math.min(resolution - 1, Math.ceil(cy + reach));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        const d = shapeDistance(kind, cos * dx + sin * dy, -sin * dx + cos * dy, r);
        const a = coverage(d, width);
        if (a === 0) continue;
        let shade = 1;
        let jitter = 0;
        if (dials.texture === 'striped') {
          const phase = (dx * stripeCos + dy * stripeSin) / period;
          shade = phase - Math.floor(phase) < 0.5 ? 1 : 0.45;
        } else if (dials.texture === 'noise') {
          jitter = (rng.next() - 0.5) * 120;
        }
        const o = (y * resolution + x) * SHAPES_CHANNELS;
        for (let c = 0; c < SHAPES_CHANNELS; c++) {
          const fill = (color[c] as number) * shade + jitter;
          out[o + c] = (out[o + c] as number) * (1 - a) + fill * a;
        }
      }
    }
  }
  return label;
}

function checkResolution(resolution: number): void {
  if (
    !Number.isInteger(resolution) ||
    resolution < SHAPES_MIN_RESOLUTION ||
    resolution > SHAPES_MAX_RESOLUTION
  ) {
    throw new AppError(
      'BAD_REQUEST',
      `shapes resolution ${resolution} is not supported: use an integer in ${SHAPES_MIN_RESOLUTION}..${SHAPES_MAX_RESOLUTION}`,
    );
  }
}

/** Renders images [start, start + count) as uint8 NHWC RGB with int32 labels. */
export function renderShapes(
  resolution: number,
  options: ShapesOptionsInput,
  indices: ArrayLike<number>,
): ImageBatch {
  checkResolution(resolution);
  const opts = shapesOptionsSchema.parse(options);
  const per = resolution * resolution * SHAPES_CHANNELS;
  const images = new Uint8Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  const scratch = new Float32Array(per);
  for (let k = 0; k < indices.length; k++) {
    labels[k] = renderInto(scratch, resolution, opts, indices[k] as number);
    // Uint8Array assignment would wrap; clamp and round explicitly.
    for (let i = 0; i < per; i++) {
      const v = scratch[i] as number;
      images[k * per + i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return {
    images,
    labels,
    count: indices.length,
    height: resolution,
    width: resolution,
    channels: SHAPES_CHANNELS,
  };
}

export interface ShapesSplit {
  train: ImageBatch;
  heldOut: ImageBatch;
  trainIndices: Uint32Array;
  heldOutIndices: Uint32Array;
  classes: readonly string[];
}

/** The whole procedural dataset at one resolution, split into train and held-out by seed. */
export function generateShapes(resolution: number, options: ShapesOptionsInput = {}): ShapesSplit {
  const opts = shapesOptionsSchema.parse(options);
  const split = splitIndices(opts.count, opts.heldOut, opts.seed);
  return {
    train: renderShapes(resolution, opts, split.train),
    heldOut: renderShapes(resolution, opts, split.heldOut),
    trainIndices: split.train,
    heldOutIndices: split.heldOut,
    classes: SHAPE_CLASSES,
  };
}
