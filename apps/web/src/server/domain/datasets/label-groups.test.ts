import { describe, expect, it } from 'vitest';
import { labelGroupsOf } from './label-groups.ts';

const files = (...relpaths: string[]) =>
  relpaths.map((relpath) => ({ relpath, sha256: relpath.padEnd(64, '0') }));

describe('labelGroupsOf', () => {
  it('puts labels in class order, unlabelled last, and leaves out labels without files', () => {
    const groups = labelGroupsOf(
      ['cat', 'dog', 'empty'],
      [
        { label: null, heldOut: false, count: 1, samples: files('x') },
        { label: 1, heldOut: true, count: 1, samples: files('dog/2') },
        { label: 0, heldOut: false, count: 2, samples: files('cat/1', 'cat/2') },
        { label: 1, heldOut: false, count: 1, samples: files('dog/1') },
        { label: 0, heldOut: true, count: 1, samples: files('cat/3') },
      ],
      8,
    );
    expect(groups.map((g) => [g.label, g.train, g.heldOut])).toEqual([
      ['cat', 2, 1],
      ['dog', 1, 1],
      ['unlabelled', 1, 0],
    ]);
    expect(groups[1]?.samples.map((s) => [s.relpath, s.heldOut])).toEqual([
      ['dog/1', false],
      ['dog/2', true],
    ]);
  });

  it('shows training files first and at most perLabel of them', () => {
    const [g] = labelGroupsOf(
      ['a'],
      [
        { label: 0, heldOut: true, count: 2, samples: files('a/0', 'a/1') },
        { label: 0, heldOut: false, count: 10, samples: files('a/2', 'a/3', 'a/4', 'a/5') },
      ],
      4,
    );
    expect(g?.samples.map((s) => s.relpath)).toEqual(['a/2', 'a/3', 'a/4', 'a/5']);
  });
});
