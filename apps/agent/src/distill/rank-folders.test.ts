import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rankFolder, seedRankFolder } from './rank-folders.ts';

describe("a distill run's rank folders", () => {
  it("seeds rank R with rank 0's folder, replacing what it kept and leaving the others out", () => {
    const run = join(mkdtempSync(join(tmpdir(), 'anneal-rank-folders-')), 'run');
    mkdirSync(join(run, 'stage-1', 'checkpoint-a'), { recursive: true });
    writeFileSync(join(run, 'distill-state.json'), '{"stage":1,"iter":900}');
    writeFileSync(join(run, 'stage-1', 'checkpoint-a', 'model.safetensors'), 'weights at 900');
    // Rank 1 kept a folder from an earlier sitting, behind rank 0; rank 2 has none.
    const stale = rankFolder(run, 1);
    mkdirSync(join(stale, 'stage-1'), { recursive: true });
    writeFileSync(join(stale, 'distill-state.json'), '{"stage":1,"iter":700}');
    writeFileSync(join(stale, 'stage-1', 'leftover'), 'x');
    expect(rankFolder(run, 0)).toBe(run);

    for (const r of [1, 2]) {
      const mine = seedRankFolder(run, r);
      expect(mine).toBe(join(run, 'ranks', `rank-${r}`));
      expect(readFileSync(join(mine, 'distill-state.json'), 'utf8')).toBe('{"stage":1,"iter":900}');
      expect(readFileSync(join(mine, 'stage-1', 'checkpoint-a', 'model.safetensors'), 'utf8')).toBe(
        'weights at 900',
      );
      // Nothing of what it kept, and no copy of the other ranks inside it.
      expect(existsSync(join(mine, 'stage-1', 'leftover'))).toBe(false);
      expect(existsSync(join(mine, 'ranks'))).toBe(false);
    }
    expect(existsSync(join(run, '..', '.run.rank-1.tmp'))).toBe(false);
    expect(() => seedRankFolder(run, 0)).toThrow(/only ranks above 0/);
  });
});
