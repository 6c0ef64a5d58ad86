import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { checkAddonInChild, loadNative } from './index.ts';

describe('native addon loader', () => {
  it('loads the built addon and multiplies matrices through MLX', () => {
    const native = loadNative();
    // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    const r = native.ops.matmul(
      new Float32Array([1, 2, 3, 4, 5, 6]),
      [2, 3],
      new Float32Array([7, 8, 9, 10, 11, 12]),
      [3, 2],
    );
    expect(r.shape).toEqual([2, 2]);
    expect(Array.from(r.data)).toEqual([58, 64, 139, 154]);
  });

  it('matches a JS reference on random matrices', () => {
    const [m, k, n] = [17, 33, 9];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
    const r = loadNative().ops.matmul(a, [m, k], b, [k, n]);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += (a[i * k + p] ?? 0) * (b[p * n + j] ?? 0);
        expect(r.data[i * n + j]).toBeCloseTo(s, 4);
      }
    }
  });

  it('throws TypeErrors naming bad arguments', () => {
    const ops = loadNative().ops;
    expect(() =>
      ops.matmul([1] as unknown as Float32Array, [1, 1], new Float32Array(1), [1, 1]),
    ).toThrow(/a must be a Float32Array/);
    expect(() => ops.matmul(new Float32Array(4), [2, 2], new Float32Array(3), [3, 1])).toThrow(
      /a's columns \(2\) must equal b's rows \(3\)/,
    );
    expect(() => ops.matmul(new Float32Array(4), [3, 2], new Float32Array(2), [2, 1])).toThrow(
      /aShape does not match/,
    );
  });

  it('reports why a broken binary cannot load, in a child process', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-addon-'));
    const bogus = join(dir, 'anneal.node');
    writeFileSync(bogus, 'not an ELF or Mach-O file');
    const reason = checkAddonInChild(bogus);
    expect(reason).toMatch(
      /invalid ELF header|not a mach-o file|slice is not valid|file too short/i,
    );
  });

  it('tells the user how to rebuild when the binary is missing or broken', async () => {
    vi.resetModules();
    vi.stubEnv('ANNEAL_ADDON_PATH', '/nonexistent/anneal.node');
    try {
      const fresh = await import('./native.ts');
      expect(() => fresh.loadNative()).toThrow(/is not built.*npm run build:native/);
      const dir = mkdtempSync(join(tmpdir(), 'anneal-addon-'));
      writeFileSync(join(dir, 'anneal.node'), 'garbage');
      vi.stubEnv('ANNEAL_ADDON_PATH', join(dir, 'anneal.node'));
      expect(() => fresh.loadNative()).toThrow(/cannot be loaded: .*npm run build:native/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
