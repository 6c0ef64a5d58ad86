import { describe, expect, it } from 'vitest';
import { type DagGeometry, layers, layoutDag } from './dag-layout.ts';

const g: DagGeometry = {
  nodeWidth: 100,
  nodeHeight: 40,
  layerGap: 50,
  rowGap: 10,
  laneGap: 10,
  pad: 5,
};

// train -> evaluate -> promote -> deploy, where promote also reads train's version.
const ship = [
  { key: 'train', needs: [] },
  { key: 'evaluate', needs: ['train'] },
  { key: 'promote', needs: ['evaluate', 'train'] },
  { key: 'deploy', needs: ['promote', 'train'] },
];

describe('layers', () => {
  it('puts each node one past its deepest need', () => {
    expect(Object.fromEntries(layers(ship))).toEqual({
      train: 0,
      evaluate: 1,
      promote: 2,
      deploy: 3,
    });
  });

  it('does not depend on the order nodes come in, and ignores unknown needs', () => {
    const shuffled = [ship[3], ship[1], { key: 'train', needs: ['gone'] }, ship[2]];
    expect(layers(shuffled as typeof ship).get('deploy')).toBe(3);
    expect(layers(shuffled as typeof ship).get('train')).toBe(0);
  });

  it('cuts a cycle instead of looping', () => {
    const cycle = [
      { key: 'a', needs: ['b'] },
      { key: 'b', needs: ['a'] },
    ];
    expect([...layers(cycle).values()].sort()).toEqual([0, 1]);
  });
});

describe('layoutDag', () => {
  it('lays a chain out in one row of columns, edges from right side to left side', () => {
    const chain = ship.map((n, i) => ({
      key: n.key,
      needs: i ? [ship[i - 1]?.key as string] : [],
    }));
    const l = layoutDag(chain, g);
    expect(l.nodes.map((n) => [n.key, n.x, n.y])).toEqual([
      ['train', 5, 5],
      ['evaluate', 155, 5],
      ['promote', 305, 5],
      ['deploy', 455, 5],
    ]);
    expect(l.width).toBe(5 + 4 * 100 + 3 * 50 + 5);
    expect(l.height).toBe(5 + 40 + 5);
    expect(l.edges.map((e) => e.path)).toEqual([
      'M 105 25 C 130 25, 130 25, 155 25',
      'M 255 25 C 280 25, 280 25, 305 25',
      'M 405 25 C 430 25, 430 25, 455 25',
    ]);
  });

  it('runs an edge that skips layers in a lane above them, a longer skip higher', () => {
    const l = layoutDag(ship, g);
    // One edge per (need, node): train -> promote and train -> deploy skip layers.
    expect(l.edges).toHaveLength(5);
    // The lanes: 5 - 10 (one layer skipped) and 5 - 20 (two); everything moves down 20 so
    // the higher one is still `pad` inside the drawing.
    expect(l.nodes.every((n) => n.y === 25)).toBe(true);
    expect(l.height).toBe(5 + 40 + 5 + 20);
    const lane = (to: string) =>
      l.edges.find((e) => e.from === 'train' && e.to === to)?.path.match(/L \d+ (\d+)/)?.[1];
    expect(lane('promote')).toBe('15');
    expect(lane('deploy')).toBe('5');
    // Up after train, along the lane over the skipped boxes, down into the target's left side.
    expect(l.edges.find((e) => e.to === 'deploy' && e.from === 'train')?.path).toBe(
      'M 105 45 C 130 45, 130 5, 155 5 L 405 5 C 430 5, 430 45, 455 45',
    );
  });

  it('centres a short column on the tallest and orders a layer by its needs', () => {
    // Two branches: b1 under a1, b2 under a2; b2 listed first, but it follows a2 (row 1).
    const l = layoutDag(
      [
        { key: 'root', needs: [] },
        { key: 'a1', needs: ['root'] },
        { key: 'a2', needs: ['root'] },
        { key: 'b2', needs: ['a2'] },
        { key: 'b1', needs: ['a1'] },
      ],
      g,
    );
    const at = Object.fromEntries(l.nodes.map((n) => [n.key, n]));
    expect(l.height).toBe(5 + 2 * 40 + 10 + 5);
    // The root sits halfway between its two children.
    expect(at.root?.y).toBe(5 + 25);
    expect(at.a1?.y).toBe(5);
    expect(at.a2?.y).toBe(55);
    expect(at.b1?.y).toBe(at.a1?.y);
    expect(at.b2?.y).toBe(at.a2?.y);
  });

  it('answers an empty drawing for no nodes', () => {
    const l = layoutDag([], g);
    expect(l.nodes).toEqual([]);
    expect(l.edges).toEqual([]);
    expect(l.width).toBe(10);
  });
});
