import { MNIST_GENERATOR_VERSION, mnistOptionsSchema } from '../mnist/options.ts';
import type { BuiltinRefInput, DatasetRefInput } from '../ref.ts';
import { SHAPES_GENERATOR_VERSION, shapesOptionsSchema } from '../shapes/options.ts';
import { sha256Hex } from './digest.ts';

/** Key-sorted JSON, so `{a, b}` and `{b, a}` hash the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    const obj = value as Record<string, unknown>;
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A built-in dataset's content hash: its pixels are a pure function of (generator name,
 * generator version, options with defaults applied), so hashing those names the data
 * without generating it. Defaults are applied first so `{}` and the explicit defaults agree.
 */
export function builtinContentHash(ref: BuiltinRefInput): string {
  const options =
    ref.name === 'mnist'
      ? mnistOptionsSchema.parse(ref.options ?? {})
      : shapesOptionsSchema.parse(ref.options ?? {});
  const version = ref.name === 'mnist' ? MNIST_GENERATOR_VERSION : SHAPES_GENERATOR_VERSION;
  return sha256Hex(canonicalJson({ generator: ref.name, generatorVersion: version, options }));
}

/** The hash the shard cache is keyed by, for any ref. */
export function refContentHash(ref: DatasetRefInput): string {
  return ref.kind === 'version' ? ref.hash : builtinContentHash(ref);
}
