import { z } from 'zod';

/** Class names in label order; a label is an index into this list. Never reorder: labels keep their meaning. */
export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'cross', 'ring'] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

/** RGB. */
export const SHAPES_CHANNELS = 3;

export const SHAPES_MIN_RESOLUTION = 8;
export const SHAPES_MAX_RESOLUTION = 256;

/**
 * The complexity knob is three independent dials: how many shapes share an image (all of
 * the labelled class), how they are filled, and how their edges are drawn.
 */
export const shapesOptionsSchema = z
  .object({
    count: z.number().int().min(2).max(1_000_000).default(10_000),
    heldOut: z.number().int().min(0).default(1_000),
    seed: z.number().int().min(0).max(0xffffffff).default(0),
    /** A count, or `mixed`: each image draws 1..MIXED_MAX_SHAPES. */
    shapesPerImage: z.union([z.number().int().min(1).max(8), z.literal('mixed')]).default(1),
    /**
     * flat: one colour; striped: bands at a random angle; noise: per-pixel jitter;
     * mixed: each image draws one of the three.
     */
    texture: z.enum(['flat', 'striped', 'noise', 'mixed']).default('flat'),
    /**
     * hard: pixel-centre inside test; antialiased: one-pixel ramp; soft: a ramp ~8% of the
     * image; mixed: each image draws one of the three.
     */
    edges: z.enum(['hard', 'antialiased', 'soft', 'mixed']).default('antialiased'),
  })
  .strict()
  .refine((o) => o.heldOut < o.count, {
    message: 'heldOut must be smaller than count',
    path: ['heldOut'],
  });

export type ShapesOptions = z.infer<typeof shapesOptionsSchema>;

/** The most shapes a `mixed` image draws. */
export const MIXED_MAX_SHAPES = 4;

/** One image's complexity dials: what `mixed` options resolve to for that image. */
export interface ShapesDials {
  shapesPerImage: number;
  texture: 'flat' | 'striped' | 'noise';
  edges: 'hard' | 'antialiased' | 'soft';
}
export type ShapesOptionsInput = z.input<typeof shapesOptionsSchema>;

/** Bump when the pixels produced for the same options change; it is part of the cache key. */
export const SHAPES_GENERATOR_VERSION = 1;
