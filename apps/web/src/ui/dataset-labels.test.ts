import { describe, expect, it } from 'vitest';
import { labelGroups } from './dataset-labels.ts';

const file = (relpath: string, label?: number) => ({
  relpath,
  sha256: relpath.padEnd(64, '0'),
  ...(label === undefined ? {} : { label }),
});

describe('labelGroups', () => {
  it('counts each label in the training and held-out splits, in class order', () => {
    const groups = labelGroups({
      classes: ['cat', 'dog', 'empty'],
      files: [
        file('dog/1', 1),
        file('cat/1', 0),
        file('cat/2', 0),
        file('cat/3', 0),
        file('dog/2', 1),
      ],
      heldOut: ['cat/3', 'dog/2'],
    });
    expect(groups.map((g) => [g.label, g.train, g.heldOut])).toEqual([
      ['cat', 2, 1],
      ['dog', 1, 1],
    ]);
  });

  it('shows training files first and at most perLabel of them', () => {
    const files = Array.from({ length: 12 }, (_, i) => file(`a/${i}`, 0));
    const [g] = labelGroups({ classes: ['a'], files, heldOut: ['a/0', 'a/1'] }, 4);
    expect(g?.samples.map((s) => s.relpath)).toEqual(['a/2', 'a/3', 'a/4', 'a/5']);
    const [few] = labelGroups({ classes: ['a'], files: files.slice(0, 3), heldOut: ['a/0'] }, 4);
    expect(few?.samples.map((s) => [s.relpath, s.heldOut])).toEqual([
      ['a/1', false],
      ['a/2', false],
      ['a/0', true],
    ]);
  });

  it('groups unlabelled files last', () => {
    const groups = labelGroups({ classes: [], files: [file('x'), file('y')], heldOut: ['y'] });
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ label: 'unlabelled', train: 1, heldOut: 1 });
  });
});
