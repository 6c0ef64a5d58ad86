'use client';

import { useRef, useState } from 'react';
import { num } from './format.ts';

export interface ChartSeries {
  name: string;
  color: string;
  points: { step: number; value: number }[];
}

const W = 640;
const H = 240;
const PAD = { left: 52, right: 16, top: 12, bottom: 28 };

/** Round tick values (1, 2, 5 x 10^k) covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (lo === hi) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** Line chart in plain SVG: overlaid series, round ticks, a hover readout at the nearest step. */
export function LineChart({
  series,
  height = H,
  logY = false,
}: {
  series: ChartSeries[];
  height?: number;
  logY?: boolean;
}) {
  const ref = useRef<SVGSVGElement>(null);
  const [hover, setHover] = useState<{ step: number; x: number } | null>(null);
  const tf = (v: number) => (logY ? Math.log10(Math.max(v, 1e-12)) : v);
  const all = series.flatMap((s) => s.points);
  const bounds = (() => {
    if (all.length === 0) return null;
    const xs = all.map((p) => p.step);
    const ys = all.map((p) => tf(p.value));
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
    const padY = (y1 - y0) * 0.06;
    return { x0: Math.min(...xs), x1: Math.max(...xs) || 1, y0: y0 - padY, y1: y1 + padY };
  })();
  if (!bounds)
    return (
      <div className="muted small" style={{ padding: 24, textAlign: 'center' }}>
        No points yet
      </div>
    );
  const innerW = W - PAD.left - PAD.right;
  const innerH = height - PAD.top - PAD.bottom;
  const sx = (x: number) => PAD.left + ((x - bounds.x0) / (bounds.x1 - bounds.x0 || 1)) * innerW;
  const sy = (y: number) => PAD.top + (1 - (tf(y) - bounds.y0) / (bounds.y1 - bounds.y0)) * innerH;
  const yTicks = ticks(bounds.y0, bounds.y1);
  const xTicks = ticks(bounds.x0, bounds.x1, 6);

  function onMove(e: React.MouseEvent<SVGSVGElement>) {
    const rect = ref.current?.getBoundingClientRect();
    if (!rect) return;
    const x = ((e.clientX - rect.left) / rect.width) * W;
    const step = bounds!.x0 + ((x - PAD.left) / innerW) * (bounds!.x1 - bounds!.x0);
    let best = all[0]!.step;
    for (const p of all) if (Math.abs(p.step - step) < Math.abs(best - step)) best = p.step;
    setHover({ step: best, x: (sx(best) / W) * rect.width });
  }

  const readout = hover
    ? series.flatMap((s) => {
        const p = s.points.find((q) => q.step === hover.step);
        return p ? [{ name: s.name, color: s.color, value: p.value }] : [];
      })
    : [];

  return (
    <div style={{ position: 'relative' }}>
      <svg
        ref={ref}
        className="chart"
        viewBox={`0 0 ${W} ${height}`}
        onMouseMove={onMove}
        onMouseLeave={() => setHover(null)}
        role="img"
        aria-label={`chart of ${series.map((s) => s.name).join(', ')}`}
      >
        {yTicks.map((t) => {
          const y = PAD.top + (1 - (t - bounds.y0) / (bounds.y1 - bounds.y0)) * innerH;
          return (
            <g key={`y${t}`}>
              <line className="grid-line" x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} />
              <text className="axis-label" x={PAD.left - 8} y={y + 4} textAnchor="end">
                {logY ? num(10 ** t) : num(t)}
              </text>
            </g>
          );
        })}
        {xTicks.map((t) => (
          <text key={`x${t}`} className="axis-label" x={sx(t)} y={height - 8} textAnchor="middle">
            {num(t)}
          </text>
        ))}
        {series.map((s) => (
          <polyline
            key={s.name}
            className="series"
            stroke={s.color}
            points={s.points
              .map((p) => `${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`)
              .join(' ')}
          />
        ))}
        {series.map((s) =>
          s.points.length === 1 ? (
            <circle
              key={`${s.name}-dot`}
              cx={sx(s.points[0]!.step)}
              cy={sy(s.points[0]!.value)}
              r={3}
              fill={s.color}
            />
          ) : null,
        )}
        {hover && (
          <line
            className="hover-line"
            x1={sx(hover.step)}
            x2={sx(hover.step)}
            y1={PAD.top}
            y2={PAD.top + innerH}
          />
        )}
      </svg>
      {hover && readout.length > 0 && (
        <div className="tooltip" style={{ left: Math.min(hover.x + 12, 9999), top: 8 }}>
          <div style={{ opacity: 0.7 }}>step {num(hover.step)}</div>
          {readout.map((r) => (
            <div key={r.name}>
              <span style={{ color: r.color }}>●</span> {r.name}: {num(r.value)}
            </div>
          ))}
        </div>
      )}
      {series.length > 1 && (
        <div className="legend">
          {series.map((s) => (
            <span key={s.name}>
              <i style={{ background: s.color }} />
              {s.name}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}
