import { createHash } from 'node:crypto';
import type { DatasetManifest, ManifestFile } from '@anneal/db/schema';

// Pure. DESIGN.md wants one hashing function shared by server, agent and CLI in
// packages/datasets; until that package lands, this is it, and it moves there unchanged.

export interface HashedFile {
  path: string;
  sha256: string;
  md5: string;
  size: number;
}

/** sha256 over the sorted (path, sha256) list: the same files give the same hash. */
export function contentHash(files: HashedFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
    h.update(`${f.path}\u0000${f.sha256}\n`);
  return h.digest('hex');
}

/**
 * DVC's directory hash: md5 of the JSON list of {md5, relpath} sorted by relpath, as
 * `json.dumps(..., sort_keys=True)` writes it; DVC names it `<md5>.dir`.
 */
export function dvcDirMd5(files: HashedFile[]): string {
  const entries = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `{"md5": ${JSON.stringify(f.md5)}, "relpath": ${JSON.stringify(f.path)}}`);
  return `${createHash('md5')
    .update(`[${entries.join(', ')}]`)
    .digest('hex')}.dir`;
}

/** Image-folder convention: `cat/001.png` is labelled `cat`; files at the top have none. */
export function labelOf(path: string): string | undefined {
  const parts = path.split('/');
  return parts.length >= 2 ? parts[parts.length - 2] : undefined;
}

/**
 * Held-out membership from a hash of (seed, content), not file order: adding files to a
 * dataset does not move existing files across the split.
 */
export function isHeldOut(file: HashedFile, fraction: number, seed: number): boolean {
  if (fraction <= 0) return false;
  const h = createHash('sha256').update(`${seed}:${file.sha256}:${file.path}`).digest();
  return h.readUInt32BE(0) / 2 ** 32 < fraction;
}

export function buildManifest(
  files: HashedFile[],
  heldout: { fraction: number; seed: number },
): DatasetManifest {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifestFiles: ManifestFile[] = sorted.map((f) => ({
    ...f,
    label: labelOf(f.path),
    split: isHeldOut(f, heldout.fraction, heldout.seed) ? 'heldout' : 'train',
  }));
  const labels = [...new Set(manifestFiles.flatMap((f) => (f.label ? [f.label] : [])))].sort();
  return { files: manifestFiles, labels, heldout };
}
