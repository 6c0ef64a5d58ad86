import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  blasReconfigure,
  blasSearchDirs,
  blasStampPath,
  findOpenBlas,
  readBlasStamp,
  // @ts-expect-error plain ESM scripts without type declarations
} from './blas.mjs';

const OPENBLAS = '/usr/lib/x86_64-linux-gnu/libopenblas.so';

describe('which BLAS the build links', () => {
  it('finds libopenblas.so in the first folder that has it', () => {
    const dirs = ['/opt/a/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib'];
    const present = new Set([OPENBLAS, '/usr/lib/libopenblas.so']);
    expect(
      findOpenBlas({ platform: 'linux', env: {}, dirs, exists: (p: string) => present.has(p) }),
    ).toBe(OPENBLAS);
    expect(findOpenBlas({ platform: 'linux', env: {}, dirs, exists: () => false })).toBeNull();
  });

  it('uses none on macOS and when ANNEAL_NO_OPENBLAS=1', () => {
    const exists = () => true;
    expect(findOpenBlas({ platform: 'darwin', env: {}, dirs: ['/x'], exists })).toBeNull();
    expect(
      findOpenBlas({ platform: 'linux', env: { ANNEAL_NO_OPENBLAS: '1' }, dirs: ['/x'], exists }),
    ).toBeNull();
  });

  it('searches ANNEAL_OPENBLAS_DIR and LIBRARY_PATH before the system prefixes', () => {
    const dirs = blasSearchDirs(
      { ANNEAL_OPENBLAS_DIR: '/opt/ob/lib', LIBRARY_PATH: '/l1:/l2' },
      'x64',
    );
    expect(dirs.slice(0, 3)).toEqual(['/opt/ob/lib', '/l1', '/l2']);
    expect(dirs).toContain('/usr/lib/x86_64-linux-gnu');
    expect(dirs.indexOf('/usr/local/lib')).toBeLessThan(dirs.indexOf('/usr/lib'));
    expect(blasSearchDirs({}, 'arm64')).toContain('/usr/lib/aarch64-linux-gnu');
  });
});

describe('when the build folder is configured again', () => {
  it('not before the first configure, which sees the BLAS anyway', () => {
    expect(
      blasReconfigure({ cacheExists: false, stamp: undefined, detected: OPENBLAS }).reconfigure,
    ).toBe(false);
  });

  it('when OpenBLAS appears after a build against the reference BLAS (issue 10, item 13)', () => {
    const d = blasReconfigure({ cacheExists: true, stamp: { blas: null }, detected: OPENBLAS });
    expect(d).toEqual({
      reconfigure: true,
      reason: `BLAS changed from MLX's bundled reference BLAS to ${OPENBLAS}`,
    });
  });

  it('when OpenBLAS disappears or moves', () => {
    expect(
      blasReconfigure({ cacheExists: true, stamp: { blas: OPENBLAS }, detected: null }).reconfigure,
    ).toBe(true);
    expect(
      blasReconfigure({
        cacheExists: true,
        stamp: { blas: OPENBLAS },
        detected: '/opt/ob/lib/libopenblas.so',
      }).reconfigure,
    ).toBe(true);
  });

  it('once for a build folder made before the stamp existed', () => {
    const d = blasReconfigure({ cacheExists: true, stamp: undefined, detected: null });
    expect(d.reconfigure).toBe(true);
    expect(d.reason).toMatch(/does not record its BLAS/);
  });

  it('not when nothing changed', () => {
    expect(
      blasReconfigure({ cacheExists: true, stamp: { blas: OPENBLAS }, detected: OPENBLAS })
        .reconfigure,
    ).toBe(false);
    expect(
      blasReconfigure({ cacheExists: true, stamp: { blas: null }, detected: null }).reconfigure,
    ).toBe(false);
  });

  it('reads the stamp, treating a missing or damaged one as absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-blas-'));
    expect(readBlasStamp(dir)).toBeUndefined();
    writeFileSync(blasStampPath(dir), '{not json');
    expect(readBlasStamp(dir)).toBeUndefined();
    writeFileSync(blasStampPath(dir), JSON.stringify({ blas: null }));
    expect(readBlasStamp(dir)).toEqual({ blas: null });
    mkdirSync(join(dir, 'sub'));
    writeFileSync(blasStampPath(join(dir, 'sub')), JSON.stringify({ blas: OPENBLAS }));
    expect(readBlasStamp(join(dir, 'sub'))).toEqual({ blas: OPENBLAS });
  });
});
