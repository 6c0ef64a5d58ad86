// Where the ranks of a data-parallel distill run keep their folders: rank 0's is the run
// itself (DIR), every other rank's is DIR/ranks/rank-R. A group resumes only when every rank
// starts where rank 0 stands, so a rank's folder is seeded with a copy of rank 0's, never
// kept from an earlier sitting (`anneal distill --resume --ranks N` and a re-leased job alike).
import { cpSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const RANKS_DIR = 'ranks';

/** Rank R's folder of the run in `run` (the run itself for rank 0). */
export function rankFolder(run: string, rank: number): string {
  return rank === 0 ? run : join(run, RANKS_DIR, `rank-${rank}`);
}

/** Replaces rank R's folder (R > 0) with a copy of the run's own, the other ranks' left out. */
export function seedRankFolder(run: string, rank: number): string {
  if (rank < 1) throw new RangeError(`rank ${rank}: only ranks above 0 are seeded from rank 0`);
  // Copied beside the run (a folder cannot be copied into itself), then moved in.
  const copy = join(dirname(run), `.${basename(run)}.rank-${rank}.tmp`);
  rmSync(copy, { recursive: true, force: true });
  cpSync(run, copy, { recursive: true, filter: (src) => src !== join(run, RANKS_DIR) });
  mkdirSync(join(run, RANKS_DIR), { recursive: true });
  const mine = rankFolder(run, rank);
  rmSync(mine, { recursive: true, force: true });
  renameSync(copy, mine);
  return mine;
}
