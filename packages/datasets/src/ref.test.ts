import { describe, expect, it } from 'vitest';
import { datasetRefSchema, parseDatasetFlag } from './ref.ts';

describe('DatasetRef', () => {
  it('accepts built-ins (filling defaults) and versions', () => {
    const mnist = datasetRefSchema.parse({ kind: 'builtin', name: 'mnist' });
    expect(mnist).toEqual({ kind: 'builtin', name: 'mnist' });
    const shapes = datasetRefSchema.parse({
      kind: 'builtin',
      name: 'shapes',
      options: { edges: 'soft' },
    });
    expect(shapes).toMatchObject({ options: { edges: 'soft', count: 10_000, shapesPerImage: 1 } });
    const v = { kind: 'version', id: 'dsv_1', hash: 'a'.repeat(64) };
    expect(datasetRefSchema.parse(v)).toEqual(v);
  });

  it('refuses unknown names, bad hashes and unknown options', () => {
    expect(datasetRefSchema.safeParse({ kind: 'builtin', name: 'cifar' }).success).toBe(false);
    expect(datasetRefSchema.safeParse({ kind: 'version', id: 'x', hash: 'abc' }).success).toBe(
      false,
    );
    expect(
      datasetRefSchema.safeParse({ kind: 'builtin', name: 'shapes', options: { colour: 1 } })
        .success,
    ).toBe(false);
  });

  it('parses --dataset values and names a bad one in the error', () => {
    expect(parseDatasetFlag('mnist')).toEqual({ kind: 'builtin', name: 'mnist' });
    expect(parseDatasetFlag('shapes')).toEqual({ kind: 'builtin', name: 'shapes' });
    expect(parseDatasetFlag('folder:./imgs')).toEqual({ kind: 'folder', path: './imgs' });
    expect(() => parseDatasetFlag('cifar10')).toThrow(
      /--dataset "cifar10": expected mnist, shapes or folder:PATH/,
    );
    expect(() => parseDatasetFlag('folder:')).toThrow(/--dataset "folder:": folder: needs a path/);
  });
});
