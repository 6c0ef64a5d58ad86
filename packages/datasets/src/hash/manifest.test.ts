import { describe, expect, it } from 'vitest';
import { builtinContentHash } from './builtin.ts';
import { digestFile } from './digest.ts';
import { buildManifest, contentHash, datasetManifestSchema, relpathSchema } from './manifest.ts';

const file = (relpath: string, body: string, label?: number) => ({
  relpath,
  ...digestFile(Buffer.from(body)),
  ...(label === undefined ? {} : { label }),
});

describe('dataset manifest and content hash', () => {
  const files = [
    file('cats/1.png', 'one', 0),
    file('dogs/2.png', 'two', 1),
    file('cats/3.png', 'three', 0),
  ];
  const base = { classes: ['cats', 'dogs'], heldOut: ['dogs/2.png'], fit: 'center-crop' as const };

  it('is independent of the order files and held-out entries are listed in', () => {
    const a = buildManifest({ ...base, files });
    const b = buildManifest({ ...base, files: [...files].reverse() });
    expect(a).toEqual(b);
    expect(contentHash(a)).toBe(contentHash(b));
    expect(a.files.map((f) => f.relpath)).toEqual(['cats/1.png', 'cats/3.png', 'dogs/2.png']);
    expect(contentHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes when content, labels, split or fit change', () => {
    const h = contentHash(buildManifest({ ...base, files }));
    const changed = [
      buildManifest({ ...base, files: [file('cats/1.png', 'ONE', 0), ...files.slice(1)] }),
      buildManifest({ ...base, files: [file('cats/1.png', 'one', 1), ...files.slice(1)] }),
      buildManifest({ ...base, files, heldOut: ['cats/1.png'] }),
      buildManifest({ ...base, files, fit: 'pad' }),
    ];
    for (const m of changed) expect(contentHash(m)).not.toBe(h);
  });

  it('refuses a manifest whose DVC md5 does not match its files', () => {
    const m = buildManifest({ ...base, files });
    expect(() => contentHash({ ...m, dvcMd5: `${'0'.repeat(32)}.dir` })).toThrow(
      /dvcMd5 0{32}\.dir does not match/,
    );
  });

  it('refuses held-out files that are not in the dataset, and labels without a class', () => {
    expect(() => buildManifest({ ...base, files, heldOut: ['nope.png'] })).toThrow(/"nope\.png"/);
    expect(() => buildManifest({ ...base, heldOut: [], files: [file('a.png', 'x', 5)] })).toThrow(
      /a\.png.*label 5/,
    );
  });

  it('refuses relpaths that could leave the folder', () => {
    for (const bad of ['../x.png', 'a/../../x', '/etc/passwd', 'a//b', './a', 'a\\b']) {
      expect(relpathSchema.safeParse(bad).success, bad).toBe(false);
    }
    expect(relpathSchema.safeParse('a/b..c/d.png').success).toBe(true);
    const m = buildManifest({ ...base, files });
    expect(datasetManifestSchema.safeParse({ ...m, heldOut: ['../x'] }).success).toBe(false);
  });

  it('hashes built-in generators by their parameters, with defaults applied', () => {
    const shapes = builtinContentHash({ kind: 'builtin', name: 'shapes' });
    expect(builtinContentHash({ kind: 'builtin', name: 'shapes', options: shapesDefaults() })).toBe(
      shapes,
    );
    expect(
      builtinContentHash({
        kind: 'builtin',
        name: 'shapes',
        options: { ...shapesDefaults(), seed: 1 },
      }),
    ).not.toBe(shapes);
    expect(builtinContentHash({ kind: 'builtin', name: 'mnist' })).not.toBe(shapes);
  });
});

function shapesDefaults() {
  return {
    count: 10_000,
    heldOut: 1_000,
    seed: 0,
    shapesPerImage: 1,
    texture: 'flat' as const,
    edges: 'antialiased' as const,
  };
}
