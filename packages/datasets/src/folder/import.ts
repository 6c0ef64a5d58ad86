import { readFile } from 'node:fs/promises';
import { AppError } from '@anneal/core/errors';
import { resolveAnnealHome } from '@anneal/core/home';
import { sha256Hex } from '../hash/digest.ts';
import { type DvcDirObject, dvcDirObject } from '../hash/dvc.ts';
import type { DatasetManifest, FitPolicy } from '../hash/manifest.ts';
import { versionOfFiles } from '../hash/version.ts';
import type { ImageLimits } from '../intake/check.ts';
import { type Refusal, screenImages } from '../intake/screen.ts';
import type { VersionRef } from '../ref.ts';
import { putObject, putVersion } from '../store.ts';
import { walkFolder } from './walk.ts';

export interface ImportFolderOptions {
  /** Defaults to resolveAnnealHome(). */
  home?: string;
  /** How images become squares at materialize time; recorded in the version. */
  fit?: FitPolicy;
  /** Fail the whole import, writing nothing, if any image file is refused. */
  strict?: boolean;
  limits?: Partial<ImageLimits>;
  /** Fraction of files held out for evaluation, chosen by `seed`. */
  heldOutFraction?: number;
  seed?: number;
  /** The version's id; a local one derived from the hash when not given. */
  id?: string;
}

export interface ImportReport {
  ref: VersionRef;
  manifest: DatasetManifest;
  /** Image files not imported, by name, with why. */
  skipped: Refusal[];
  /** Files that are not images by extension; never read. */
  ignored: string[];
  dvc: DvcDirObject;
  totalBytes: number;
}

/**
 * Imports a folder of PNG/JPEG/WebP images as a dataset version in the local store.
 * Every image is decoded before anything is written, so a strict import that fails
 * leaves the store untouched. Labels come from first-level subfolder names if present.
 */
export async function importFolder(
  folder: string,
  options: ImportFolderOptions = {},
): Promise<ImportReport> {
  const home = options.home ?? resolveAnnealHome();
  const fit = options.fit ?? 'center-crop';
  const fraction = options.heldOutFraction ?? 0.1;
  if (!(fraction >= 0 && fraction < 1)) {
    throw new AppError('BAD_REQUEST', `heldOutFraction ${fraction} must be in [0, 1)`);
  }

  let walk: Awaited<ReturnType<typeof walkFolder>>;
  try {
    walk = await walkFolder(folder);
  } catch (err) {
    throw new AppError(
      'BAD_REQUEST',
      `cannot read dataset folder "${folder}": ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  // The same rules as an upload to the control plane: one screen, so a folder and its zip
  // make the same version.
  const { accepted, skipped } = await screenImages(
    walk.candidates.map((c) => ({
      ...c,
      read: async () => new Uint8Array(await readFile(c.path)),
    })),
    {
      limits: options.limits,
      strict: options.strict,
      refused: walk.refused,
      source: `folder "${folder}"`,
    },
  );
  const { manifest, hash } = versionOfFiles(
    accepted.map(({ relpath, sha256, md5, size }) => ({ relpath, sha256, md5, size })),
    { fit, heldOutFraction: fraction, seed: options.seed ?? 0 },
  );
  const dvc = dvcDirObject(manifest.files.map((f) => ({ md5: f.md5, relpath: f.relpath })));

  for (const a of accepted) {
    const bytes = new Uint8Array(await readFile(a.path));
    // The file was checked and hashed above; refuse it if it changed since.
    if (sha256Hex(bytes) !== a.sha256) {
      throw new AppError(
        'CONFLICT',
        `"${a.relpath}" changed while it was being imported; run the import again`,
      );
    }
    await putObject(home, a.sha256, bytes);
  }
  await putVersion(home, hash, manifest, dvc.json);

  return {
    ref: { kind: 'version', id: options.id ?? `local-${hash.slice(0, 12)}`, hash },
    manifest,
    skipped,
    ignored: walk.ignored,
    dvc,
    totalBytes: accepted.reduce((n, a) => n + a.size, 0),
  };
}
