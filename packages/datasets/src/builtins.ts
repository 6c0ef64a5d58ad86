import {
  MNIST_CHANNELS,
  MNIST_CLASSES,
  MNIST_COUNT,
  MNIST_RESOLUTIONS,
  mnistOptionsSchema,
} from './mnist/options.ts';
import {
  SHAPE_CLASSES,
  SHAPES_CHANNELS,
  SHAPES_MAX_RESOLUTION,
  SHAPES_MIN_RESOLUTION,
  shapesOptionsSchema,
} from './shapes/options.ts';

/**
 * What each built-in dataset is, read off the constants its generator uses, so a listing
 * (the web app's datasets page, job requirements) cannot drift from the data an agent
 * makes. Pure: no file system, no image decoding.
 */
export interface BuiltinDataset {
  name: 'mnist' | 'shapes';
  description: string;
  /** Class names in label order. */
  classes: readonly string[];
  channels: number;
  /** Resolutions the generator makes: a list, or an inclusive range. */
  resolutions: readonly number[] | { min: number; max: number };
  /** Images with the default options (train and held out together). */
  count: number;
  /** Of those, held out for evaluation by default. */
  heldOut: number;
}

const mnistDefaults = mnistOptionsSchema.parse({});
const shapesDefaults = shapesOptionsSchema.parse({});
const list = (names: readonly string[]) =>
  names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names.join('');

export const BUILTIN_DATASETS: readonly BuiltinDataset[] = [
  {
    name: 'mnist',
    description: `${MNIST_COUNT.toLocaleString('en-US')} handwritten digits (the MNIST test set), ${MNIST_RESOLUTIONS.join(' or ')} px grayscale, ${MNIST_CLASSES.length} classes; ${mnistDefaults.heldOut.toLocaleString('en-US')} held out by seed.`,
    classes: MNIST_CLASSES,
    channels: MNIST_CHANNELS,
    resolutions: MNIST_RESOLUTIONS,
    count: MNIST_COUNT,
    heldOut: mnistDefaults.heldOut,
  },
  {
    name: 'shapes',
    description: `Procedural colored ${list(SHAPE_CLASSES.map((c) => (c.endsWith('s') ? `${c}es` : `${c}s`)))}, ${SHAPES_MIN_RESOLUTION} to ${SHAPES_MAX_RESOLUTION} px, seeded, labelled by shape; count, shapes per image, texture and edges are options.`,
    classes: SHAPE_CLASSES,
    channels: SHAPES_CHANNELS,
    resolutions: { min: SHAPES_MIN_RESOLUTION, max: SHAPES_MAX_RESOLUTION },
    count: shapesDefaults.count,
    heldOut: shapesDefaults.heldOut,
  },
];

/** The built-in dataset named `name`; throws on an unknown name (a ref was not parsed). */
export function builtinDataset(name: BuiltinDataset['name']): BuiltinDataset {
  const found = BUILTIN_DATASETS.find((d) => d.name === name);
  if (!found) throw new Error(`no built-in dataset "${name}"`);
  return found;
}
