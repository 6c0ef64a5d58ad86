'use client';

import { useId, useMemo } from 'react';
import { DEFAULT_GEOMETRY, layoutDag } from '../../../../../../../ui/dag-layout.ts';

export type NodeStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

export interface GraphNode {
  key: string;
  kind: string;
  needs: string[];
  status: NodeStatus;
  attempts: number;
  retries: number;
}

export const NODE_STATUSES: NodeStatus[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
];

/** "attempt 2/3" for a node that may retry; nothing for one that runs once. */
export function attemptText(n: Pick<GraphNode, 'attempts' | 'retries'>): string | null {
  if (n.retries === 0) return null;
  return n.attempts > 0
    ? `attempt ${n.attempts}/${n.retries + 1}`
    : `up to ${n.retries + 1} attempts`;
}

/**
 * The run as a DAG: one column per dependency depth, edges as arrows from a node to those that
 * wait for it. Each node is a button (keyboard and screen readers reach it like any other)
 * inside the SVG, coloured by its status; pressing it selects it for the details panel.
 */
export function PipelineGraph({
  nodes,
  selected,
  onSelect,
}: {
  nodes: GraphNode[];
  selected: string | null;
  onSelect: (key: string) => void;
}) {
  const layout = useMemo(() => layoutDag(nodes), [nodes]);
  const arrow = `dag-arrow-${useId().replace(/[^a-zA-Z0-9_-]/g, '')}`;
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const { nodeWidth: w, nodeHeight: h } = DEFAULT_GEOMETRY;
  // The focus ring is drawn outside the box; the foreignObject leaves room for it.
  const ring = 4;
  return (
    <div className="dag-scroll">
      <svg
        className="dag"
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        data-testid="pipeline-graph"
      >
        <title>{`Pipeline graph: ${nodes.length} nodes, each a button`}</title>
        <defs>
          <marker
            id={arrow}
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" className="dag-arrowhead" />
          </marker>
        </defs>
        <g>
          {layout.edges.map((e) => {
            const from = byKey.get(e.from)?.status;
            const to = byKey.get(e.to)?.status;
            return (
              <path
                key={`${e.from}->${e.to}`}
                d={e.path}
                className={`dag-edge${from === 'succeeded' ? ' done' : ''}${to === 'skipped' ? ' skipped' : ''}`}
                markerEnd={`url(#${arrow})`}
                data-edge={`${e.from}->${e.to}`}
              />
            );
          })}
        </g>
        {layout.nodes.map((p) => {
          const n = byKey.get(p.key);
          if (!n) return null;
          const attempt = attemptText(n);
          return (
            <foreignObject
              key={p.key}
              x={p.x - ring}
              y={p.y - ring}
              width={w + ring * 2}
              height={h + ring * 2}
            >
              <button
                type="button"
                className={`dag-node ${n.status}${selected === n.key ? ' selected' : ''}`}
                style={{ margin: ring, width: w, height: h }}
                aria-label={`${n.key}: ${n.kind} node, ${n.status}${attempt ? `, ${attempt}` : ''}`}
                aria-pressed={selected === n.key}
                data-node={n.key}
                data-status={n.status}
                onClick={() => onSelect(n.key)}
              >
                <span className="dag-node-head">
                  <span className="dag-key">{n.key}</span>
                  <span className="dag-kind">{n.kind}</span>
                </span>
                <span className="dag-status">{n.status}</span>
                {attempt && <span className="dag-attempt">{attempt}</span>}
              </button>
            </foreignObject>
          );
        })}
      </svg>
    </div>
  );
}

/** The colours of the graph, named, under it. */
export function GraphLegend() {
  return (
    <div className="dag-legend" aria-hidden="true">
      {NODE_STATUSES.map((s) => (
        <span key={s}>
          <i className={`dag-swatch ${s}`} /> {s}
        </span>
      ))}
    </div>
  );
}
