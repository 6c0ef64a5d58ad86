import { join } from 'node:path';
import { dvcDirObject, dvcFile } from './hash/dvc.ts';
import { getObject, getVersion, writeFileAtomic } from './store.ts';

export interface DvcExport {
  /** The `.dvc` file's text for `path`; commit it beside where the data will be checked out. */
  dvcFile: string;
  /** `<md5>.dir` as recorded in the `.dvc` file. */
  md5: string;
  files: number;
}

/** DVC 3's cache layout: files/md5/<first two hex>/<the rest>, `.dir` objects keep their suffix. */
export function dvcCachePath(cacheDir: string, md5: string): string {
  return join(cacheDir, 'files', 'md5', md5.slice(0, 2), md5.slice(2));
}

/**
 * Writes a stored dataset version into a DVC cache (e.g. a repo's `.dvc/cache`, or a
 * local remote) and returns the `.dvc` file that tracks it as directory `path`, so
 * `dvc checkout` / `dvc pull` materialize the same files DVC would have added itself.
 */
export async function exportToDvcCache(
  home: string,
  hash: string,
  cacheDir: string,
  path: string,
): Promise<DvcExport> {
  const manifest = await getVersion(home, hash);
  for (const f of manifest.files) {
    await writeFileAtomic(dvcCachePath(cacheDir, f.md5), await getObject(home, f.sha256));
  }
  const dir = dvcDirObject(manifest.files.map((f) => ({ md5: f.md5, relpath: f.relpath })));
  await writeFileAtomic(dvcCachePath(cacheDir, dir.md5), dir.json);
  const total = manifest.files.reduce((n, f) => n + f.size, 0);
  return {
    dvcFile: dvcFile(path, dir, total, manifest.files.length),
    md5: dir.md5,
    files: manifest.files.length,
  };
}
