'use client';

import { useId, useRef, useState } from 'react';
import {
  axisFor,
  downsampleIndices,
  emaSmooth,
  extent,
  labelWidth,
  linearTicks,
  logTickLabels,
  logTicks,
  scientific,
  tickLabels,
} from './chart-scale.ts';
import { num } from './format.ts';

export interface ChartSeries {
  name: string;
  color: string;
  points: { step: number; value: number }[];
}

const W = 640;
const H = 240;
const FONT_PX = 11;
const PAD = { right: 16, top: 12, bottom: 42 };
/** Points drawn per series at most (a 640 px wide chart shows no more). */
const MAX_POINTS = 2000;

/**
 * Line chart in plain SVG: overlaid series, round ticks in the metric's unit (MiB/GiB,
 * img/s, learning rates in scientific notation), axis titles, a hover readout of step and
 * values, and (with `controls`) TensorBoard-style EMA smoothing and a log-scale toggle.
 * `metric` is the metric key; it picks the axis title and unit.
 */
export function LineChart({
  series,
  metric,
  height = H,
  controls = false,
  defaultLog = false,
  xTitle = 'step',
}: {
  series: ChartSeries[];
  metric: string;
  height?: number;
  controls?: boolean;
  defaultLog?: boolean;
  /** What the x values are (default: training steps). */
  xTitle?: string;
}) {
  const ref = useRef<SVGSVGElement>(null);
  const id = useId();
  const [hover, setHover] = useState<{ step: number; x: number; width: number } | null>(null);
  const [smoothing, setSmoothing] = useState(0);
  const [logWanted, setLog] = useState(defaultLog);
  const all = series.flatMap((s) => s.points);
  if (all.length === 0)
    return (
      <div className="muted small" style={{ padding: 24, textAlign: 'center' }}>
        No points yet
      </div>
    );
  const finite = all.filter((p) => Number.isFinite(p.value));
  const maxAbs = Math.max(0, extent(finite.map((p) => Math.abs(p.value)))?.[1] ?? 0);
  const axis = axisFor(metric, maxAbs);
  // A log axis needs positive values; with a zero or a negative it stays linear.
  const canLog = finite.length > 0 && finite.every((p) => p.value > 0);
  const logY = logWanted && canLog;
  // Smoothed over every point, then drawn from at most MAX_POINTS of each series.
  const shown = series.map((s) => {
    const values = s.points.map((p) => p.value);
    const smoothed = smoothing > 0 ? emaSmooth(values, smoothing) : values;
    const keep = downsampleIndices(values, MAX_POINTS);
    return {
      ...s,
      points: keep.map((i) => s.points[i]!),
      smoothed: keep.map((i) => smoothed[i]!),
    };
  });
  const drawn = shown.flatMap((s) => s.points);
  const tf = (v: number) => (logY ? Math.log10(v / axis.divisor) : v / axis.divisor);
  const ys = finite.map((p) => tf(p.value));
  const xs = all.map((p) => p.step);
  let [y0, y1] = extent(ys) ?? [0, 1];
  // Values a few ulps apart read as one value: ticks that far apart would all print alike.
  if (y1 - y0 <= 1e-12 * Math.max(Math.abs(y0), Math.abs(y1)))
    [y0, y1] = logY
      ? [y0 - 0.5, y1 + 0.5]
      : [y0 - Math.abs(y0) * 0.1 - 1e-9, y1 + Math.abs(y1) * 0.1 + 1e-9];
  const padY = (y1 - y0) * 0.06;
  // A linear axis of non-negative values starts no lower than 0.
  const lo = !logY && y0 >= 0 ? Math.max(0, y0 - padY) : y0 - padY;
  const [x0, x1] = extent(xs) ?? [0, 1];
  const b = { x0, x1, y0: lo, y1: y1 + padY };
  if (b.x1 === b.x0) b.x1 = b.x0 + 1;

  const yTickValues = logY ? logTicks(b.y0, b.y1) : linearTicks(b.y0, b.y1);
  const yLabels = axis.scientific
    ? yTickValues.map(scientific)
    : logY
      ? logTickLabels(yTickValues)
      : tickLabels(yTickValues);
  const yTicks = yTickValues.map((v, i) => ({ at: logY ? Math.log10(v) : v, label: yLabels[i]! }));
  const xTickValues = linearTicks(b.x0, b.x1, 6).filter((t) => Number.isInteger(t));
  // The left margin holds the widest y label (measured) and the rotated axis title.
  const left = labelWidth(yLabels, FONT_PX) + 10 + 18;
  const innerW = W - left - PAD.right;
  const innerH = height - PAD.top - PAD.bottom;
  const sx = (x: number) => left + ((x - b.x0) / (b.x1 - b.x0)) * innerW;
  const syT = (t: number) => PAD.top + (1 - (t - b.y0) / (b.y1 - b.y0)) * innerH;
  const sy = (v: number) => syT(tf(v));

  function onMove(e: React.MouseEvent<SVGSVGElement>) {
    const rect = ref.current?.getBoundingClientRect();
    if (!rect) return;
    const x = ((e.clientX - rect.left) / rect.width) * W;
    const step = b.x0 + ((x - left) / innerW) * (b.x1 - b.x0);
    let best = drawn[0]!.step;
    for (const p of drawn) if (Math.abs(p.step - step) < Math.abs(best - step)) best = p.step;
    setHover({ step: best, x: (sx(best) / W) * rect.width, width: rect.width });
  }

  const readout = hover
    ? shown.flatMap((s) => {
        const i = s.points.findIndex((q) => q.step === hover.step);
        if (i < 0) return [];
        return [
          {
            name: s.name,
            color: s.color,
            value: s.points[i]!.value,
            smoothed: smoothing > 0 ? s.smoothed[i] : undefined,
          },
        ];
      })
    : [];
  const path = (points: { step: number }[], values: number[]) =>
    points
      .flatMap((p, i) => {
        const v = values[i]!;
        if (!Number.isFinite(v) || (logY && v <= 0)) return [];
        return [`${sx(p.step).toFixed(1)},${sy(v).toFixed(1)}`];
      })
      .join(' ');

  return (
    <div style={{ position: 'relative' }}>
      {controls && (
        <div className="chart-controls small">
          <label>
            <input
              type="checkbox"
              checked={smoothing > 0}
              onChange={(e) => setSmoothing(e.target.checked ? 0.6 : 0)}
            />{' '}
            Smooth
          </label>
          {smoothing > 0 && (
            <>
              <label htmlFor={`${id}-w`} className="sr-only">
                Smoothing weight
              </label>
              <input
                id={`${id}-w`}
                type="range"
                min={0.05}
                max={0.99}
                step={0.01}
                value={smoothing}
                onChange={(e) => setSmoothing(Number(e.target.value))}
              />
              <span className="mono muted">{smoothing.toFixed(2)}</span>
            </>
          )}
          <label title={canLog ? undefined : 'A log scale needs positive values'}>
            <input
              type="checkbox"
              checked={logY}
              disabled={!canLog}
              onChange={(e) => setLog(e.target.checked)}
            />{' '}
            Log scale
          </label>
        </div>
      )}
      <svg
        ref={ref}
        className="chart"
        viewBox={`0 0 ${W} ${height}`}
        onMouseMove={onMove}
        onMouseLeave={() => setHover(null)}
        role="img"
        aria-label={`${axis.title} by ${xTitle}: ${series.map((s) => s.name).join(', ')}`}
      >
        {yTicks.map((t) => {
          const y = syT(t.at);
          return (
            <g key={`y${t.at}`}>
              <line className="grid-line" x1={left} x2={W - PAD.right} y1={y} y2={y} />
              <text className="axis-label y-label" x={left - 8} y={y + 4} textAnchor="end">
                {t.label}
              </text>
            </g>
          );
        })}
        {xTickValues.map((t) => (
          <text key={`x${t}`} className="axis-label" x={sx(t)} y={height - 24} textAnchor="middle">
            {num(t)}
          </text>
        ))}
        <text
          className="axis-title"
          x={left + innerW / 2}
          y={height - 6}
          textAnchor="middle"
          data-testid="x-axis-title"
        >
          {xTitle}
        </text>
        <text
          className="axis-title"
          transform={`translate(12 ${PAD.top + innerH / 2}) rotate(-90)`}
          textAnchor="middle"
          data-testid="y-axis-title"
        >
          {axis.title}
          {logY ? ', log' : ''}
        </text>
        {shown.map((s) => (
          <g key={s.name}>
            {smoothing > 0 && (
              <polyline
                className="series series-raw"
                stroke={s.color}
                points={path(
                  s.points,
                  s.points.map((p) => p.value),
                )}
              />
            )}
            <polyline className="series" stroke={s.color} points={path(s.points, s.smoothed)} />
            {s.points.length === 1 && Number.isFinite(s.points[0]!.value) && (
              <circle cx={sx(s.points[0]!.step)} cy={sy(s.points[0]!.value)} r={3} fill={s.color} />
            )}
          </g>
        ))}
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
        <div
          className="tooltip"
          data-testid="chart-tooltip"
          // Right of the cursor, or left of it past the middle, so it never leaves the card.
          style={
            hover.x > hover.width / 2
              ? { right: hover.width - hover.x + 12, top: 8 }
              : { left: hover.x + 12, top: 8 }
          }
        >
          <div style={{ opacity: 0.7 }}>
            {xTitle} {num(hover.step)}
          </div>
          {readout.map((r) => (
            <div key={r.name}>
              <span style={{ color: r.color }}>●</span> {r.name}: {axis.value(r.value)}
              {r.smoothed !== undefined && (
                <span style={{ opacity: 0.7 }}> (smoothed {axis.value(r.smoothed)})</span>
              )}
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
