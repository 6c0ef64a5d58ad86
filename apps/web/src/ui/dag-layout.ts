/**
 * Where a pipeline run's nodes go on screen: a layered drawing of the DAG (Sugiyama, Tagawa
 * and Toda 1981, reduced to what a pipeline of a few nodes needs). A node's layer is its
 * dependency depth (0 for a node that waits for nothing, else one past its deepest need), so
 * every edge points rightwards; within a layer nodes are ordered by the mean position of
 * their needs in earlier layers (the barycenter heuristic), which keeps a chain straight and
 * most edges uncrossed. No React here, so it is unit-tested.
 */

export interface DagInput {
  key: string;
  /** The keys this node waits for; keys not in the graph are ignored. */
  needs: readonly string[];
}

export interface PlacedNode {
  key: string;
  layer: number;
  /** Top-left corner of the node's box. */
  x: number;
  y: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  /** An SVG path from the right side of `from` to the left side of `to`. */
  path: string;
}

export interface DagLayout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

export interface DagGeometry {
  nodeWidth: number;
  nodeHeight: number;
  /** Horizontal room between layers (where the edges run). */
  layerGap: number;
  /** Vertical room between nodes of one layer. */
  rowGap: number;
  /** Vertical room between the lanes of edges that skip layers. */
  laneGap: number;
  /** Margin around the drawing. */
  pad: number;
}

export const DEFAULT_GEOMETRY: DagGeometry = {
  nodeWidth: 188,
  nodeHeight: 78,
  layerGap: 72,
  rowGap: 22,
  laneGap: 14,
  pad: 12,
};

/**
 * Each node's layer. Works in any order (the server sends nodes topologically ordered, but a
 * caller need not); a cycle, which the server refuses on save, is cut rather than looped on.
 */
export function layers(nodes: readonly DagInput[]): Map<string, number> {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (key: string): number => {
    const known = depth.get(key);
    if (known !== undefined) return known;
    // A back edge counts for nothing: the node it closes the cycle on stays where it is.
    if (visiting.has(key)) return -1;
    visiting.add(key);
    let d = 0;
    for (const need of byKey.get(key)?.needs ?? [])
      if (byKey.has(need)) d = Math.max(d, visit(need) + 1);
    visiting.delete(key);
    depth.set(key, d);
    return d;
  };
  for (const n of nodes) visit(n.key);
  return depth;
}

/** The whole drawing: boxes by layer (columns), each column centred on the tallest. */
export function layoutDag(
  nodes: readonly DagInput[],
  geometry: DagGeometry = DEFAULT_GEOMETRY,
): DagLayout {
  const { nodeWidth: w, nodeHeight: h, layerGap, rowGap, laneGap, pad } = geometry;
  const depth = layers(nodes);
  const columns: DagInput[][] = [];
  for (const n of nodes) {
    const d = depth.get(n.key) ?? 0;
    const column = columns[d] ?? [];
    column.push(n);
    columns[d] = column;
  }
  // Row of each placed node, for the barycenters of the next layer.
  const row = new Map<string, number>();
  for (const [i, column] of columns.entries()) {
    if (!column) continue;
    if (i > 0) {
      const centre = (n: DagInput, fallback: number) => {
        const rows = n.needs.flatMap((k) => {
          const r = row.get(k);
          return r === undefined ? [] : [r];
        });
        return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : fallback;
      };
      // Stable: ties keep the server's (topological) order.
      const keyed = column.map((n, j) => ({ n, c: centre(n, j), j }));
      keyed.sort((a, b) => a.c - b.c || a.j - b.j);
      column.splice(0, column.length, ...keyed.map((k) => k.n));
    }
    column.forEach((n, j) => {
      row.set(n.key, j);
    });
  }
  const tallest = Math.max(1, ...columns.map((c) => c?.length ?? 0));
  const rows = pad * 2 + tallest * h + (tallest - 1) * rowGap;
  const placed = new Map<string, PlacedNode>();
  for (const [i, column] of columns.entries()) {
    if (!column) continue;
    const span = column.length * h + (column.length - 1) * rowGap;
    const top = pad + (rows - pad * 2 - span) / 2;
    column.forEach((n, j) => {
      placed.set(n.key, {
        key: n.key,
        layer: i,
        x: pad + i * (w + layerGap),
        y: top + j * (h + rowGap),
      });
    });
  }
  // An edge that skips layers (deploy reading train's model past evaluate and promote) runs
  // in a lane above the layers it skips, not through their boxes; a longer skip runs higher.
  const topOf = columns.map((c) => Math.min(...(c ?? []).map((n) => placed.get(n.key)?.y ?? 0)));
  const pairs = nodes.flatMap((n) => {
    const to = placed.get(n.key);
    return [...new Set(n.needs)].flatMap((need) => {
      const from = placed.get(need);
      if (!from || !to) return [];
      const skipped = topOf.slice(from.layer + 1, to.layer);
      const lane = skipped.length ? Math.min(...skipped) - laneGap * skipped.length : null;
      return [{ from, to, lane }];
    });
  });
  const shift = Math.max(0, pad - Math.min(pad, ...pairs.map((p) => p.lane ?? pad)));
  for (const p of placed.values()) p.y += shift;
  const edges: PlacedEdge[] = pairs.map(({ from, to, lane }) => {
    const x1 = from.x + w;
    const y1 = from.y + h / 2;
    const x2 = to.x;
    const y2 = to.y + h / 2;
    if (lane === null) {
      // A cubic with horizontal tangents at both ends: straight between aligned boxes, an
      // S-curve between rows.
      const bend = Math.max(24, (x2 - x1) / 2);
      return {
        from: from.key,
        to: to.key,
        path: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
      };
    }
    // Up into the lane within the gap after `from`, along it, down within the gap before `to`.
    const y = lane + shift;
    const half = layerGap / 2;
    return {
      from: from.key,
      to: to.key,
      path:
        `M ${x1} ${y1} C ${x1 + half} ${y1}, ${x1 + half} ${y}, ${x1 + layerGap} ${y} ` +
        `L ${x2 - layerGap} ${y} C ${x2 - half} ${y}, ${x2 - half} ${y2}, ${x2} ${y2}`,
    };
  });
  const width = pad * 2 + columns.length * w + Math.max(0, columns.length - 1) * layerGap;
  return {
    nodes: nodes.flatMap((n) => {
      const p = placed.get(n.key);
      return p ? [p] : [];
    }),
    edges,
    width,
    height: rows + shift,
  };
}
