// One process at a time in a search's folder: two would write search.json over each other
// and train into the same candidate folders. The lock is a file holding its owner's pid; one
// left by a process that is gone (killed) is taken over.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { processAlive } from '../process-alive.ts';

export const SEARCH_LOCK_FILE = 'search.lock';

/**
 * Takes the lock of the search folder `out` (which must exist) for this process; returns what
 * releases it. Refuses, naming the process, while another one that runs holds it.
 */
export function lockSearch(out: string): () => void {
  const path = join(out, SEARCH_LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        // Only our own: a process that took over a lock it thought stale keeps its.
        if (holder(path) === process.pid) rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = holder(path);
      if (pid !== null && pid !== process.pid && processAlive(pid))
        throw new AppError(
          'CONFLICT',
          `${out} is being searched by process ${pid}: wait for it or stop it (Ctrl-C or SIGTERM; it continues with --resume). If no such search runs (the pid is another program's now), remove ${path}`,
        );
      // Left by a process that is gone: taken over.
      rmSync(path, { force: true });
    }
  }
  throw new AppError('CONFLICT', `${path}: another process took the search's lock meanwhile`);
}

function holder(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
