import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { dvcCachePath, exportToDvcCache } from './dvc-export.ts';
import { importFolder } from './folder/import.ts';

// Real DVC is optional: ANNEAL_DVC, else the pinned one of bench/interop/setup.sh, else PATH's.
const venvDvc = join(repoRoot, 'bench/interop/.venv/bin/dvc');
const dvcBin = process.env.ANNEAL_DVC ?? (existsSync(venvDvc) ? venvDvc : 'dvc');
const hasDvc = spawnSync(dvcBin, ['--version'], { stdio: 'ignore' }).status === 0;
const hasGit = spawnSync('git', ['--version'], { stdio: 'ignore' }).status === 0;

const made: string[] = [];
const tmp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

async function labelledFolder(): Promise<string> {
  const dir = tmp('anneal-dvc-src-');
  for (const [cls, colour] of [
    ['cats', '#ff0000'],
    ['dogs', '#0000ff'],
  ] as const) {
    mkdirSync(join(dir, cls));
    for (let i = 0; i < 3; i++) {
      const img = await sharp({
        create: { width: 8 + i, height: 8, channels: 3, background: colour },
      })
        .png()
        .toBuffer();
      writeFileSync(join(dir, cls, `${i}.png`), img);
    }
  }
  return dir;
}

describe('DVC export', () => {
  it('writes every file and the .dir object into DVC 3 cache paths', async () => {
    const home = tmp('anneal-home-');
    const report = await importFolder(await labelledFolder(), { home });
    const cache = tmp('anneal-dvc-cache-');
    const out = await exportToDvcCache(home, report.ref.hash, cache, 'images');
    expect(out.md5).toBe(report.dvc.md5);
    expect(readFileSync(dvcCachePath(cache, out.md5), 'utf8')).toBe(report.dvc.json);
    expect(dvcCachePath(cache, out.md5)).toMatch(/files\/md5\/[0-9a-f]{2}\/[0-9a-f]{30}\.dir$/);
    for (const f of report.manifest.files)
      expect(readFileSync(dvcCachePath(cache, f.md5)).byteLength).toBe(f.size);
    expect(out.dvcFile).toContain(
      `- md5: ${report.dvc.md5}\n  size: ${report.totalBytes}\n  nfiles: 6\n`,
    );
  });

  it.skipIf(!hasDvc || !hasGit)(
    'dvc checkout restores the imported folder from our export',
    async () => {
      const home = tmp('anneal-home-');
      const src = await labelledFolder();
      const report = await importFolder(src, { home });
      const repo = tmp('anneal-dvc-repo-');
      const run = (cmd: string, args: string[]) => {
        const r = spawnSync(cmd, args, { cwd: repo, encoding: 'utf8' });
        expect(r.status, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0);
        return r.stdout;
      };
      run('git', ['init', '-q']);
      run(dvcBin, ['init', '-q']);
      const out = await exportToDvcCache(
        home,
        report.ref.hash,
        join(repo, '.dvc', 'cache'),
        'images',
      );
      writeFileSync(join(repo, 'images.dvc'), out.dvcFile);
      run(dvcBin, ['checkout', '-q', 'images.dvc']);
      for (const cls of ['cats', 'dogs']) {
        expect(readdirSync(join(repo, 'images', cls)).sort()).toEqual(['0.png', '1.png', '2.png']);
        for (const f of ['0.png', '2.png']) {
          expect(
            readFileSync(join(repo, 'images', cls, f)).equals(readFileSync(join(src, cls, f))),
          ).toBe(true);
        }
      }
      // DVC agrees nothing changed: its own hash of the checked-out folder is ours.
      expect(run(dvcBin, ['status', 'images.dvc'])).toMatch(/up to date/);
    },
  );
});
