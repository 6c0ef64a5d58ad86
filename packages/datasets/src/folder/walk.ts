import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import { compareCodePoints } from '../hash/dvc.ts';
import { relpathSchema } from '../hash/manifest.ts';
import { IMAGE_EXTENSIONS } from '../hash/version.ts';
import type { Refusal } from '../intake/screen.ts';

export { IMAGE_EXTENSIONS };

export interface Candidate {
  /** POSIX path relative to the folder: the name the manifest and reports use. */
  relpath: string;
  /** The path to read: the file itself, or a symlink's target that stays inside the folder. */
  path: string;
  size: number;
}

export type { Refusal };

export interface Walk {
  candidates: Candidate[];
  refused: Refusal[];
  /** Files that are not images by extension (README, .DS_Store, ...). */
  ignored: string[];
}

function inside(root: string, target: string): boolean {
  const rel = relative(root, target);
  // On another drive (Windows) `relative` returns an absolute path: that is outside too.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Lists the image files under `root` without reading anything outside it. Symlinks are
 * resolved and refused when their target leaves the folder; symlinked directories are
 * not descended into (they could loop or alias). Names with `..` cannot occur from
 * readdir, and the real root is resolved first so a symlinked root is fine.
 */
export async function walkFolder(rootPath: string): Promise<Walk> {
  const root = await realpath(rootPath);
  const out: Walk = { candidates: [], refused: [], ignored: [] };
  const visit = async (dir: string, prefix: string): Promise<void> => {
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => compareCodePoints(a.name, b.name));
    for (const entry of entries) {
      const relpath = prefix ? `${prefix}/${entry.name}` : entry.name;
      const full = join(dir, entry.name);
      if (!relpathSchema.safeParse(relpath).success) {
        // e.g. a backslash in a name: legal here, ambiguous on Windows and in DVC.
        out.refused.push({ relpath, reason: 'name cannot be a portable dataset path' });
        continue;
      }
      if (entry.isDirectory()) {
        await visit(full, relpath);
        continue;
      }
      let path = full;
      if (entry.isSymbolicLink()) {
        // Resolve first: a link that leaves the folder is refused whatever its name.
        let target: string;
        try {
          target = await realpath(full);
        } catch {
          out.refused.push({ relpath, reason: 'symlink target does not exist' });
          continue;
        }
        if (!inside(root, target)) {
          out.refused.push({ relpath, reason: 'symlink points outside the folder; not read' });
          continue;
        }
        path = target;
      } else if (!entry.isFile()) {
        out.refused.push({ relpath, reason: 'not a regular file' });
        continue;
      }
      const info = await stat(path);
      if (info.isDirectory()) {
        out.refused.push({ relpath, reason: 'symlinked directory not followed' });
        continue;
      }
      if (!IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
        out.ignored.push(relpath);
        continue;
      }
      if (!info.isFile()) {
        out.refused.push({ relpath, reason: 'not a regular file' });
        continue;
      }
      out.candidates.push({ relpath, path, size: info.size });
    }
  };
  await visit(root, '');
  return out;
}
