import { AppError } from '@anneal/core/errors';
import { splitIndices } from '../random.ts';
import type { FileDigest } from './digest.ts';
import { compareCodePoints } from './dvc.ts';
import { buildManifest, contentHash, type DatasetManifest, type FitPolicy } from './manifest.ts';

/** Extensions taken as images; any other file in a folder or upload is ignored. */
export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp']);

/** Whether a relative path names an image by its extension (case-insensitive). */
export function isImageRelpath(relpath: string): boolean {
  const name = relpath.slice(relpath.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.has(name.slice(dot).toLowerCase());
}

/** Files named in a message: all of them up to `max`, then how many more. */
function listed(relpaths: readonly string[], max: number): string {
  const shown = relpaths.slice(0, max).map((r) => `"${r}"`);
  if (relpaths.length > max) shown.push(`and ${relpaths.length - max} more`);
  return shown.join(', ');
}

/**
 * Why a layout with images both at the top level and in subfolders is refused, naming the
 * top-level images (the ones to move or delete) and the class folders they sit beside.
 */
function mixedLayoutMessage(top: readonly string[], nested: readonly string[]): string {
  const perClass = new Map<string, number>();
  for (const r of nested) {
    const cls = r.split('/')[0] as string;
    perClass.set(cls, (perClass.get(cls) ?? 0) + 1);
  }
  const classes = [...perClass].map(([c, n]) => `${c}/ (${n})`);
  const more = classes.length > 20 ? `, and ${classes.length - 20} more folders` : '';
  return (
    `folder mixes labelled and unlabelled images: ${top.length} at the top level: ${listed(top, 50)}; ` +
    `${nested.length} in class subfolders: ${classes.slice(0, 20).join(', ')}${more}; ` +
    'put every image in a subfolder (labels) or none'
  );
}

/** Labels from first-level subfolders: every file in a subfolder, or none. */
function labelsFor(relpaths: readonly string[]): {
  classes: string[];
  labelOf: (rel: string) => number | undefined;
} {
  const top = relpaths.filter((r) => !r.includes('/'));
  const nested = relpaths.filter((r) => r.includes('/'));
  if (nested.length === 0) return { classes: [], labelOf: () => undefined };
  if (top.length > 0) throw new AppError('BAD_REQUEST', mixedLayoutMessage(top, nested));
  const classes = [...new Set(nested.map((r) => r.split('/')[0] as string))].sort();
  const index = new Map(classes.map((c, i) => [c, i]));
  return { classes, labelOf: (rel) => index.get(rel.split('/')[0] as string) };
}

export interface VersionOptions {
  /** How images become squares at materialize time (default center-crop). */
  fit?: FitPolicy;
  /** Fraction of files held out for evaluation, chosen by `seed` (default 0.1). */
  heldOutFraction?: number;
  seed?: number;
}

/**
 * A dataset version from its files' digests: labels from first-level subfolders, a seeded
 * held-out split, the fit policy, and the content hash. The control plane (uploads) and
 * the agent (`folder:` imports) both build versions here, so the same files with the same
 * options give the same hash on either side.
 */
export function versionOfFiles(
  files: ReadonlyArray<FileDigest & { relpath: string }>,
  options: VersionOptions = {},
): { manifest: DatasetManifest; hash: string } {
  const fraction = options.heldOutFraction ?? 0.1;
  if (!(fraction >= 0 && fraction < 1)) {
    throw new AppError('BAD_REQUEST', `heldOutFraction ${fraction} must be in [0, 1)`);
  }
  if (files.length === 0) throw new AppError('BAD_REQUEST', 'a dataset version needs files');
  // Code-point order, as in the manifest, so the seeded split picks the same files anywhere.
  const sorted = [...files].sort((a, b) => compareCodePoints(a.relpath, b.relpath));
  const { classes, labelOf } = labelsFor(sorted.map((f) => f.relpath));
  const heldCount = Math.min(Math.floor(sorted.length * fraction), sorted.length - 1);
  const split = splitIndices(sorted.length, heldCount, options.seed ?? 0);
  const manifest = buildManifest({
    files: sorted.map((f) => {
      const entry = { relpath: f.relpath, sha256: f.sha256, md5: f.md5, size: f.size };
      const label = labelOf(f.relpath);
      return label === undefined ? entry : { ...entry, label };
    }),
    classes,
    heldOut: Array.from(split.heldOut, (i) => (sorted[i] as { relpath: string }).relpath),
    fit: options.fit ?? 'center-crop',
  });
  return { manifest, hash: contentHash(manifest) };
}
