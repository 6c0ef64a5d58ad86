import { readFile } from 'node:fs/promises';
import { AppError } from '@anneal/core/errors';
import { resolveAnnealHome } from '@anneal/core/home';
import { digestFile, type FileDigest, sha256Hex } from '../hash/digest.ts';
import { compareCodePoints, type DvcDirObject, dvcDirObject } from '../hash/dvc.ts';
import type { DatasetManifest, FitPolicy } from '../hash/manifest.ts';
import { versionOfFiles } from '../hash/version.ts';
import type { VersionRef } from '../ref.ts';
import { putObject, putVersion } from '../store.ts';
import { checkImage, DEFAULT_LIMITS, type ImageLimits } from './decode.ts';
import { type Refusal, walkFolder } from './walk.ts';

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

interface Accepted extends FileDigest {
  relpath: string;
  /** Where to read it again when storing: bytes are not kept, so big folders fit in memory. */
  path: string;
}

/** Runs `fn` over items with at most `limit` in flight (sharp decodes on libuv's pool). */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
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
  const limits: ImageLimits = { ...DEFAULT_LIMITS, ...options.limits };
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
  const skipped: Refusal[] = [...walk.refused];
  const checked = await mapLimit(walk.candidates, 2, async (c): Promise<Refusal | Accepted> => {
    if (c.size > limits.maxFileBytes) {
      return {
        relpath: c.relpath,
        reason: `file is ${c.size} bytes, over the ${limits.maxFileBytes}-byte limit`,
      };
    }
    const bytes = new Uint8Array(await readFile(c.path));
    const reason = await checkImage(bytes, limits);
    if (reason) return { relpath: c.relpath, reason };
    return { relpath: c.relpath, path: c.path, ...digestFile(bytes) };
  });
  const accepted: Accepted[] = [];
  for (const r of checked) {
    if ('reason' in r) skipped.push(r);
    else accepted.push(r);
  }
  skipped.sort((a, b) => compareCodePoints(a.relpath, b.relpath));

  const list = skipped.map((s) => `  ${s.relpath}: ${s.reason}`).join('\n');
  if (options.strict && skipped.length > 0) {
    throw new AppError(
      'BAD_REQUEST',
      `strict import of "${folder}" refused ${skipped.length} file(s); nothing was written:\n${list}`,
    );
  }
  if (accepted.length === 0) {
    const why = skipped.length > 0 ? `; refused:\n${list}` : '';
    throw new AppError(
      'BAD_REQUEST',
      `folder "${folder}" holds no readable PNG, JPEG or WebP images${why}`,
    );
  }

  const { manifest, hash } = versionOfFiles(
    accepted.map(({ path: _path, ...f }) => f),
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
