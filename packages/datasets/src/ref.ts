import { AppError } from '@anneal/core/errors';
import { z } from 'zod';
import { mnistOptionsSchema } from './mnist/options.ts';
import { shapesOptionsSchema } from './shapes/options.ts';

/** A sha256 content hash, lowercase hex. */
export const contentHashSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest (64 lowercase hex characters)');

// Every option has a default, so `{}` or a missing `options` is valid and parsing fills
// the defaults in: a parsed ref always says exactly which data it means.
const mnistRefSchema = z
  .object({
    kind: z.literal('builtin'),
    name: z.literal('mnist'),
    options: mnistOptionsSchema.optional(),
  })
  .strict();

const shapesRefSchema = z
  .object({
    kind: z.literal('builtin'),
    name: z.literal('shapes'),
    options: shapesOptionsSchema.optional(),
  })
  .strict();

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const versionRefSchema = z
  .object({
    kind: z.literal('version'),
    /** The control plane's id of the dataset version (or a local one for imports). */
    id: z
      .string()
      .min(1)
      .max(200)
      // A uuid in lower case, as PostgreSQL prints it, so the server compares ids as uuids.
      .transform((id) => (UUID_RE.test(id) ? id.toLowerCase() : id)),
    /** The version's content hash: what the shard cache is keyed by. */
    hash: contentHashSchema,
  })
  .strict();

/** The one dataset type that travels in job specs: a built-in generator, or a dataset version. */
export const datasetRefSchema = z.union([mnistRefSchema, shapesRefSchema, versionRefSchema]);

export type DatasetRef = z.infer<typeof datasetRefSchema>;
export type DatasetRefInput = z.input<typeof datasetRefSchema>;
export type BuiltinRef = Extract<DatasetRef, { kind: 'builtin' }>;
export type BuiltinRefInput = Extract<DatasetRefInput, { kind: 'builtin' }>;
export type VersionRef = Extract<DatasetRef, { kind: 'version' }>;

/**
 * What `--dataset` names on the command line. A folder is not a ref yet: it becomes one
 * (a version with a content hash) once imported.
 */
export type DatasetFlag = BuiltinRef | { kind: 'folder'; path: string };

/** Parses `--dataset mnist|shapes|folder:PATH`; errors quote the value given. */
export function parseDatasetFlag(value: string): DatasetFlag {
  const trimmed = value.trim();
  if (trimmed === 'mnist' || trimmed === 'shapes') {
    return datasetRefSchema.parse({ kind: 'builtin', name: trimmed }) as BuiltinRef;
  }
  if (trimmed.startsWith('folder:')) {
    const path = trimmed.slice('folder:'.length);
    if (path.length === 0) {
      throw new AppError(
        'BAD_REQUEST',
        `--dataset "${value}": folder: needs a path, e.g. --dataset folder:./images`,
      );
    }
    return { kind: 'folder', path };
  }
  throw new AppError('BAD_REQUEST', `--dataset "${value}": expected mnist, shapes or folder:PATH`);
}
