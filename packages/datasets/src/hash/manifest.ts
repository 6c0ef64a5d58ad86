import { z } from 'zod';
import { type FileDigest, sha256Hex } from './digest.ts';
import { compareCodePoints, dvcDirObject } from './dvc.ts';

/**
 * A relative POSIX path inside a dataset. Absolute paths, `..`, `.` and empty segments
 * are refused so a manifest (which may come from a server) can never point outside the
 * folder it describes.
 */
export const relpathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (p) =>
      !p.startsWith('/') &&
      !p.includes('\\') &&
      !p.includes('\0') &&
      p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
    { message: 'must be a relative POSIX path without "..", "." or empty segments' },
  );

export const manifestFileSchema = z
  .object({
    relpath: relpathSchema,
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    md5: z.string().regex(/^[0-9a-f]{32}$/),
    size: z.number().int().min(0),
    /** Index into `classes`; absent when the dataset has no labels. */
    label: z.number().int().min(0).optional(),
  })
  .strict();

/** How images become tensors; part of the version, since it changes every pixel. */
export const fitPolicySchema = z.enum(['center-crop', 'pad', 'stretch']);
export type FitPolicy = z.infer<typeof fitPolicySchema>;

export const MANIFEST_VERSION = 1;

/** A dataset version: its files, labels if any, the held-out split, and DVC's view of it. */
export const datasetManifestSchema = z
  .object({
    manifestVersion: z.literal(MANIFEST_VERSION),
    files: z.array(manifestFileSchema),
    /** Class names; a file's label indexes this list. Empty when unlabelled. */
    classes: z.array(z.string().min(1)),
    /** Relpaths held out for evaluation (sorted); every one is also in `files`. */
    heldOut: z.array(relpathSchema),
    fit: fitPolicySchema,
    /** DVC's `<md5>.dir` for the same files, so `dvc` can track the folder. */
    dvcMd5: z.string().regex(/^[0-9a-f]{32}\.dir$/),
  })
  .strict();

export type DatasetManifest = z.infer<typeof datasetManifestSchema>;
export type ManifestFile = z.infer<typeof manifestFileSchema>;

export interface ManifestInput {
  files: ReadonlyArray<FileDigest & { relpath: string; label?: number }>;
  classes: readonly string[];
  heldOut: readonly string[];
  fit: FitPolicy;
}

/**
 * Builds a manifest in canonical form (files and held-out relpaths sorted by code point),
 * so the same files give the same manifest whatever order they were listed in.
 */
export function buildManifest(input: ManifestInput): DatasetManifest {
  const files = [...input.files]
    .map((f) => {
      const entry: ManifestFile = {
        relpath: f.relpath,
        sha256: f.sha256,
        md5: f.md5,
        size: f.size,
      };
      if (f.label !== undefined) entry.label = f.label;
      return entry;
    })
    .sort((a, b) => compareCodePoints(a.relpath, b.relpath));
  const known = new Set(files.map((f) => f.relpath));
  for (const rel of input.heldOut) {
    if (!known.has(rel)) throw new Error(`held-out file "${rel}" is not among the dataset's files`);
  }
  for (const f of files) {
    if (f.label !== undefined && f.label >= input.classes.length) {
      throw new Error(
        `file "${f.relpath}": label ${f.label} has no class (${input.classes.length} classes)`,
      );
    }
  }
  const manifest: DatasetManifest = {
    manifestVersion: MANIFEST_VERSION,
    files,
    classes: [...input.classes],
    heldOut: [...new Set(input.heldOut)].sort(compareCodePoints),
    fit: input.fit,
    dvcMd5: dvcDirObject(files.map((f) => ({ md5: f.md5, relpath: f.relpath }))).md5,
  };
  return datasetManifestSchema.parse(manifest);
}

/**
 * A version's content hash: sha256 over the canonical manifest's JSON. Keys are written
 * in a fixed order and arrays are sorted, so equal datasets hash equal on every machine.
 */
export function contentHash(manifest: DatasetManifest): string {
  const m = buildManifest(manifest);
  if (m.dvcMd5 !== manifest.dvcMd5) {
    throw new Error(`manifest dvcMd5 ${manifest.dvcMd5} does not match its files (${m.dvcMd5})`);
  }
  const canonical = {
    manifestVersion: m.manifestVersion,
    files: m.files.map((f) => [f.relpath, f.sha256, f.md5, f.size, f.label ?? null]),
    classes: m.classes,
    heldOut: m.heldOut,
    fit: m.fit,
    dvcMd5: m.dvcMd5,
  };
  return sha256Hex(JSON.stringify(canonical));
}
