import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { sha256Hex } from './hash/digest.ts';
import { contentHash, type DatasetManifest, datasetManifestSchema } from './hash/manifest.ts';
import { datasetsRoot } from './shards/layout.ts';

/**
 * The local dataset store under ANNEAL_HOME:
 *   datasets/objects/<sha256[0:2]>/<sha256>   file bytes, content-addressed (what agents
 *                                             fetch from the control plane by sha256)
 *   datasets/<hash>/version.json              a version's manifest
 *   datasets/<hash>/dvc.dir                   the same files as DVC's `.dir` object
 * Every write goes to a temporary name first and is renamed into place, so a reader
 * never sees half a file.
 */
export function objectPath(home: string, sha256: string): string {
  return join(datasetsRoot(home), 'objects', sha256.slice(0, 2), sha256);
}

export function versionManifestPath(home: string, hash: string): string {
  return join(datasetsRoot(home), hash, 'version.json');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes `bytes` to `path` atomically: temp file in the same folder, then rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Stores file bytes under their sha256; a no-op when already present. */
export async function putObject(home: string, sha256: string, bytes: Uint8Array): Promise<void> {
  const path = objectPath(home, sha256);
  if (await exists(path)) return;
  await writeFileAtomic(path, bytes);
}

/** Reads stored bytes and checks they still hash to their name. */
export async function getObject(home: string, sha256: string): Promise<Uint8Array> {
  const path = objectPath(home, sha256);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new AppError('NOT_FOUND', `dataset file ${sha256} is not in the local store (${path})`, {
      cause: err,
    });
  }
  const actual = sha256Hex(bytes);
  if (actual !== sha256) {
    throw new AppError('INTERNAL', `dataset file ${path} is corrupt: its sha256 is ${actual}`);
  }
  return bytes;
}

export async function putVersion(
  home: string,
  hash: string,
  manifest: DatasetManifest,
  dvcDir: string,
): Promise<void> {
  await writeFileAtomic(join(datasetsRoot(home), hash, 'dvc.dir'), dvcDir);
  // version.json last: its presence means the version is complete.
  await writeFileAtomic(versionManifestPath(home, hash), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Loads a version's manifest and checks it hashes to the hash it is stored under. */
export async function getVersion(home: string, hash: string): Promise<DatasetManifest> {
  const path = versionManifestPath(home, hash);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AppError('NOT_FOUND', `dataset version ${hash} is not in the local store (${path})`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AppError(
      'INTERNAL',
      `dataset version manifest ${path} is not JSON (${(err as Error).message}); import or fetch the version again`,
      { cause: err },
    );
  }
  const parsed = datasetManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new AppError(
      'INTERNAL',
      `dataset version manifest ${path} is invalid: ${parsed.error.message}`,
    );
  }
  const actual = contentHash(parsed.data);
  if (actual !== hash)
    throw new AppError('INTERNAL', `dataset version manifest ${path} hashes to ${actual}`);
  return parsed.data;
}
