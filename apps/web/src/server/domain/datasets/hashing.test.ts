import { describe, expect, it } from 'vitest';
import { buildManifest, contentHash, dvcDirMd5, isHeldOut } from './hashing.ts';

const files = [
  { path: 'dog/2.png', sha256: 'b'.repeat(64), md5: 'd'.repeat(32), size: 2 },
  { path: 'cat/1.png', sha256: 'a'.repeat(64), md5: 'c'.repeat(32), size: 1 },
];

describe('dataset hashing', () => {
  it('does not depend on file order', () => {
    expect(contentHash(files)).toBe(contentHash([...files].reverse()));
    expect(contentHash(files)).not.toBe(contentHash([files[0]!]));
  });

  it('writes DVC .dir md5s the way `json.dumps(sort_keys=True)` does', () => {
    // Python: hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    expect(dvcDirMd5(files)).toBe('3683b7c944482ce69b1990b11e714688.dir');
    expect(dvcDirMd5(files)).toBe(dvcDirMd5([...files].reverse()));
  });

  it('labels files by folder and splits by content, deterministically', () => {
    const m = buildManifest(files, { fraction: 0.5, seed: 1 });
    expect(m.labels).toEqual(['cat', 'dog']);
    expect(m.files.map((f) => f.path)).toEqual(['cat/1.png', 'dog/2.png']);
    const many = Array.from({ length: 2000 }, (_, i) => ({
      path: `${i}.png`,
      sha256: `${i}`,
      md5: '',
      size: 1,
    }));
    const held = many.filter((f) => isHeldOut(f, 0.1, 7)).length;
    expect(held).toBeGreaterThan(140);
    expect(held).toBeLessThan(260);
    expect(many.filter((f) => isHeldOut(f, 0.1, 7)).length).toBe(held);
  });
});
