import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getVersion, versionManifestPath } from './store.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-store-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('getVersion', () => {
  it('names a version manifest that is not JSON instead of throwing a bare SyntaxError', async () => {
    const hash = 'a'.repeat(64);
    const path = versionManifestPath(home, hash);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, '{"manifestVersion": 1, "fil');
    const err = (await getVersion(home, hash).catch((e: Error) => e)) as Error & { code?: string };
    expect(err.name).toBe('AppError');
    expect(err.message).toMatch(
      new RegExp(
        `^dataset version manifest ${path} is not JSON \\(.+\\); import or fetch the version again$`,
      ),
    );
  });
});
