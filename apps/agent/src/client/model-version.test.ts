import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_FILE, MODEL_FILE } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { versionCheckpointDir } from './model-version.ts';

const ID = '0b6c2d4e-1f3a-4b5c-8d7e-9f0a1b2c3d4e';

/** A fetch that writes the two files, tagged, after yielding (so two calls interleave). */
const fetcher = (tag: string, calls: string[]) => async (dir: string) => {
  calls.push(dir);
  await new Promise((r) => setImmediate(r));
  writeFileSync(join(dir, CONFIG_FILE), tag);
  await new Promise((r) => setImmediate(r));
  writeFileSync(join(dir, MODEL_FILE), tag);
};

describe('versionCheckpointDir', () => {
  it('keeps one folder per version whatever the id case, and downloads it once', async () => {
    const env = { ANNEAL_HOME: mkdtempSync(join(tmpdir(), 'anneal-mv-')) };
    const calls: string[] = [];
    const a = await versionCheckpointDir(ID.toUpperCase(), fetcher('a', calls), env);
    const b = await versionCheckpointDir(ID, fetcher('b', calls), env);
    expect(b).toBe(a);
    expect(a).toBe(join(env.ANNEAL_HOME, 'models', 'versions', ID));
    expect(calls).toHaveLength(1);
  });

  it('lets two concurrent downloads of one version in one process both succeed', async () => {
    const env = { ANNEAL_HOME: mkdtempSync(join(tmpdir(), 'anneal-mv-')) };
    const calls: string[] = [];
    const [a, b] = await Promise.all([
      versionCheckpointDir(ID, fetcher('a', calls), env),
      versionCheckpointDir(ID, fetcher('b', calls), env),
    ]);
    expect(a).toBe(b);
    // Each had its own partial folder (the same pid used to share one and delete the other's).
    expect(new Set(calls).size).toBe(2);
    const tag = readFileSync(join(a, CONFIG_FILE), 'utf8');
    expect(readFileSync(join(a, MODEL_FILE), 'utf8')).toBe(tag);
    // No partial folder is left behind.
    expect(readdirSync(join(env.ANNEAL_HOME, 'models', 'versions'))).toEqual([ID]);
  });

  it('removes its partial folder when the download fails', async () => {
    const env = { ANNEAL_HOME: mkdtempSync(join(tmpdir(), 'anneal-mv-')) };
    await expect(
      versionCheckpointDir(
        ID,
        async () => {
          throw new Error('offline');
        },
        env,
      ),
    ).rejects.toThrow('offline');
    expect(readdirSync(join(env.ANNEAL_HOME, 'models', 'versions'))).toEqual([]);
  });
});
