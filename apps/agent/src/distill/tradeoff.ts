// The trade-off analysis of a distillation run (issue 12, section 4): one row per model
// (the teacher's reference and each student), the Pareto points on quality vs NFE and vs
// latency, and a chart drawn as SVG by this file (no plotting dependency).

import { type DistillTradeoff, distillLatencyNote } from '@anneal/protocol';

export interface TradeoffRow {
  /** "reference (DDIM 32)", "stage 3 (8 -> 4 steps)", "consistency 1 step", ... */
  name: string;
  steps: number;
  nfe: number;
  latencyMsPerImage: number;
  imagesPerS: number;
  parameters: number;
  peakMemoryBytes: number;
  fd: number;
  fdStd: number | null;
  kid: number;
  precision: number;
  recall: number;
  paired: { psnr: number | null; ssim: number; featureDistance: number } | null;
  decision: DistillTradeoff['rows'][number]['decision'];
  /** The teacher's best baseline sampler at this row's NFE (students of runs that measured it). */
  teacherBest?: { sampler: string; steps: number; fd: number; fdStd: number } | null;
}

export interface Tradeoff {
  rows: TradeoffRow[];
  referenceFd: number;
  /** FD between two real sets of the same n: the best any model can read. */
  floorFd: number;
  budget: number;
  n: number;
  /** How the rows' latencies were timed (absent: each at its stage's evaluation). */
  latency?: TradeoffLatency;
}

export interface TradeoffLatency {
  /** Every row timed in one sitting at the run's end; false: each at its own evaluation. */
  together: boolean;
  /** Images per timed call, and timed calls per row (the median is kept). */
  batch: number;
  rounds: number;
  /** The 1-minute load average before and after (together only). */
  loadAvgStart: number | null;
  loadAvgEnd: number | null;
}

/**
 * Indices of the rows no other row dominates: lower or equal cost and FD, one of them
 * strictly lower. Rows with a non-finite FD or cost are never on the front.
 */
export function paretoFront(points: ReadonlyArray<{ cost: number; fd: number }>): number[] {
  const ok = (p: { cost: number; fd: number }) => Number.isFinite(p.cost) && Number.isFinite(p.fd);
  const front: number[] = [];
  points.forEach((p, i) => {
    if (!ok(p)) return;
    const dominated = points.some(
      (q, j) =>
        j !== i && ok(q) && q.cost <= p.cost && q.fd <= p.fd && (q.cost < p.cost || q.fd < p.fd),
    );
    if (!dominated) front.push(i);
  });
  return front;
}

export function tradeoffJson(t: Tradeoff): DistillTradeoff {
  const byNfe = new Set(paretoFront(t.rows.map((r) => ({ cost: r.nfe, fd: r.fd }))));
  const byLatency = new Set(
    paretoFront(t.rows.map((r) => ({ cost: r.latencyMsPerImage, fd: r.fd }))),
  );
  return {
    n: t.n,
    reference_fd: t.referenceFd,
    floor_fd: t.floorFd,
    budget: t.budget,
    ...(t.latency
      ? {
          latency: {
            together: t.latency.together,
            batch: t.latency.batch,
            rounds: t.latency.rounds,
            load_avg_start: t.latency.loadAvgStart,
            load_avg_end: t.latency.loadAvgEnd,
          },
        }
      : {}),
    rows: t.rows.map((r, i) => ({
      name: r.name,
      steps: r.steps,
      nfe: r.nfe,
      latency_ms_per_image: r.latencyMsPerImage,
      images_per_s: r.imagesPerS,
      parameters: r.parameters,
      peak_memory_bytes: r.peakMemoryBytes,
      fd: r.fd,
      fd_std: r.fdStd,
      fd_ratio: r.fd / t.referenceFd,
      kid: r.kid,
      precision: r.precision,
      recall: r.recall,
      paired: r.paired
        ? {
            psnr: r.paired.psnr,
            ssim: r.paired.ssim,
            feature_distance: r.paired.featureDistance,
          }
        : null,
      decision: r.decision,
      teacher_best: r.teacherBest
        ? {
            sampler: r.teacherBest.sampler,
            steps: r.teacherBest.steps,
            fd: r.teacherBest.fd,
            fd_std: r.teacherBest.fdStd,
          }
        : null,
      pareto_nfe: byNfe.has(i),
      pareto_latency: byLatency.has(i),
    })),
  };
}

const num = (v: number | null, digits: number) =>
  v === null || !Number.isFinite(v) ? (v === null ? '-' : String(v)) : v.toFixed(digits);

/** "dpmpp-2m: 0.512 ± 0.020 (beaten)": the teacher's best sampler at the row's NFE. */
function teacherBestCell(r: DistillTradeoff['rows'][number]): string {
  const b = r.teacher_best;
  if (!b) return '-';
  return `${b.sampler}${b.steps === r.nfe ? '' : ` (${b.steps} steps)`}: ${num(b.fd, 3)} ± ${num(b.fd_std, 3)} (${r.fd !== null && b.fd !== null && r.fd < b.fd ? 'beaten' : 'not beaten'})`;
}

export function tradeoffMarkdown(t: Tradeoff): string {
  const j = tradeoffJson(t);
  const head =
    "| model | steps | NFE | ms/image | images/s | peak MB | FD (± std) | FD / ref | teacher's best at this NFE | KID | precision | recall | PSNR | SSIM | feature dist. | Pareto (NFE, latency) | decision |";
  const rule = `|${head
    .split('|')
    .slice(1, -1)
    .map(() => '---')
    .join('|')}|`;
  const lines = j.rows.map(
    (r) =>
      `| ${r.name} | ${r.steps} | ${r.nfe} | ${num(r.latency_ms_per_image, 1)} | ${num(r.images_per_s, 1)} | ${r.peak_memory_bytes === null ? '-' : num(r.peak_memory_bytes / 1e6, 0)} | ${num(r.fd, 3)}${r.fd_std === null ? '' : ` ± ${num(r.fd_std, 3)}`} | ${num(r.fd_ratio, 2)}x | ${teacherBestCell(r)} | ${num(r.kid, 4)} | ${num(r.precision, 3)} | ${num(r.recall, 3)} | ${r.paired ? num(r.paired.psnr, 2) : '-'} | ${r.paired ? num(r.paired.ssim, 3) : '-'} | ${r.paired ? num(r.paired.feature_distance, 3) : '-'} | ${r.pareto_nfe ? 'yes' : 'no'}, ${r.pareto_latency ? 'yes' : 'no'} | ${r.decision} |`,
  );
  const params = t.rows[0]?.parameters;
  return [
    `# Distillation trade-off (n = ${t.n})`,
    '',
    `Reference: the teacher with DDIM at 32 steps, FD ${num(t.referenceFd, 3)}; budget ${t.budget}x (FD <= ${num(t.budget * t.referenceFd, 3)}); floor (real vs real, n = ${t.n}) FD ${num(t.floorFd, 3)}.`,
    `Paired metrics compare each model's images with the reference's from identical noise.${params === undefined ? '' : ` Parameters: ${params.toLocaleString('en-US')}.`}`,
    ...(j.rows.some((r) => r.teacher_best)
      ? [
          "The teacher's best at this NFE: the teacher sampled with each baseline sampler at the student's NFE, on the same ruler and noise; the lowest FD of them.",
        ]
      : []),
    distillLatencyNote(j.latency),
    '',
    head,
    rule,
    ...lines,
    '',
  ].join('\n');
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Panel {
  title: string;
  xLabel: string;
  x: (r: TradeoffRow) => number;
}

/** Powers of ten (or two) covering [lo, hi] for a log axis. */
function logTicks(lo: number, hi: number, base: number): number[] {
  const ticks: number[] = [];
  for (let v = base ** Math.floor(Math.log(lo) / Math.log(base)); v <= hi * 1.0001; v *= base)
    if (v >= lo / 1.0001) ticks.push(v);
  return ticks.length >= 2 ? ticks : [lo, hi];
}

/**
 * Two panels, FD against NFE and against latency per image (both log x), one marker per
 * row: filled on that panel's Pareto front, hollow off it; dashed lines at the reference FD
 * and the real-vs-real floor, a dotted one at the budget.
 */
export function tradeoffSvg(t: Tradeoff): string {
  const panels: Panel[] = [
    { title: 'FD vs NFE', xLabel: 'NFE (log)', x: (r) => r.nfe },
    { title: 'FD vs latency', xLabel: 'ms per image (log)', x: (r) => r.latencyMsPerImage },
  ];
  const W = 420;
  const H = 320;
  const m = { left: 56, right: 16, top: 32, bottom: 44 };
  const fds = [
    ...t.rows.map((r) => r.fd),
    ...t.rows.map((r) => r.teacherBest?.fd ?? Number.NaN),
    t.referenceFd,
    t.floorFd,
    t.budget * t.referenceFd,
  ].filter(Number.isFinite);
  const yMax = Math.max(...fds) * 1.08;
  const yMin = 0;
  const parts: string[] = [];
  panels.forEach((p, k) => {
    const ox = k * W;
    const xs = t.rows.map(p.x).filter((v) => Number.isFinite(v) && v > 0);
    const lo = Math.min(...xs) / 1.5;
    const hi = Math.max(...xs) * 1.5;
    const px = (v: number) =>
      ox +
      m.left +
      ((Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * (W - m.left - m.right);
    const py = (v: number) => m.top + (1 - (v - yMin) / (yMax - yMin)) * (H - m.top - m.bottom);
    const front = new Set(paretoFront(t.rows.map((r) => ({ cost: p.x(r), fd: r.fd }))));
    parts.push(
      `<g class="panel" data-panel="${k}">`,
      `<text x="${ox + W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
      `<line x1="${ox + m.left}" y1="${H - m.bottom}" x2="${ox + W - m.right}" y2="${H - m.bottom}" stroke="#333"/>`,
      `<line x1="${ox + m.left}" y1="${m.top}" x2="${ox + m.left}" y2="${H - m.bottom}" stroke="#333"/>`,
      `<text x="${ox + (W + m.left - m.right) / 2}" y="${H - 8}" text-anchor="middle">${esc(p.xLabel)}</text>`,
      `<text x="${ox + 14}" y="${(H - m.bottom + m.top) / 2}" text-anchor="middle" transform="rotate(-90 ${ox + 14} ${(H - m.bottom + m.top) / 2})">FD</text>`,
    );
    for (const tick of logTicks(lo, hi, k === 0 ? 2 : 10))
      parts.push(
        `<text x="${px(tick).toFixed(1)}" y="${H - m.bottom + 14}" text-anchor="middle" font-size="10">${tick >= 1 ? tick : tick.toPrecision(1)}</text>`,
      );
    for (let i = 0; i <= 4; i++) {
      const v = yMin + ((yMax - yMin) * i) / 4;
      parts.push(
        `<text x="${ox + m.left - 4}" y="${(py(v) + 3).toFixed(1)}" text-anchor="end" font-size="10">${v.toPrecision(3)}</text>`,
      );
    }
    const hline = (v: number, label: string, dash: string, color: string) => {
      if (!Number.isFinite(v)) return;
      parts.push(
        `<line class="ref" data-label="${esc(label)}" x1="${ox + m.left}" y1="${py(v).toFixed(1)}" x2="${ox + W - m.right}" y2="${py(v).toFixed(1)}" stroke="${color}" stroke-dasharray="${dash}"/>`,
        `<text x="${ox + W - m.right - 2}" y="${(py(v) - 3).toFixed(1)}" text-anchor="end" font-size="10" fill="${color}">${esc(label)}</text>`,
      );
    };
    hline(t.referenceFd, `reference FD ${t.referenceFd.toPrecision(3)}`, '6 3', '#1f5fbf');
    hline(t.budget * t.referenceFd, `budget ${t.budget}x`, '2 3', '#b07000');
    hline(t.floorFd, `real vs real ${t.floorFd.toPrecision(3)}`, '6 3', '#2a8a2a');
    // The teacher's best sampler at each student's NFE: grey squares on the NFE panel.
    if (k === 0)
      for (const r of t.rows) {
        const b = r.teacherBest;
        if (!b || !(r.nfe > 0) || !Number.isFinite(b.fd)) continue;
        parts.push(
          `<rect class="teacher" x="${(px(r.nfe) - 4).toFixed(1)}" y="${(py(b.fd) - 4).toFixed(1)}" width="8" height="8" fill="#888"><title>${esc(`teacher, ${b.sampler} ${b.steps} steps: FD ${b.fd.toPrecision(4)}`)}</title></rect>`,
        );
      }
    t.rows.forEach((r, i) => {
      const x = p.x(r);
      if (!(x > 0) || !Number.isFinite(r.fd)) return;
      const on = front.has(i);
      parts.push(
        `<circle class="${on ? 'pareto' : 'point'}" cx="${px(x).toFixed(1)}" cy="${py(r.fd).toFixed(1)}" r="5" fill="${on ? '#c0392b' : 'white'}" stroke="#c0392b" stroke-width="1.5"><title>${esc(`${r.name}: FD ${r.fd.toPrecision(4)}, ${r.nfe} NFE, ${r.latencyMsPerImage.toFixed(1)} ms/image`)}</title></circle>`,
        `<text x="${(px(x) + 7).toFixed(1)}" y="${(py(r.fd) - 6).toFixed(1)}" font-size="10">${esc(r.name)}</text>`,
      );
    });
    parts.push('</g>');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" viewBox="0 0 ${2 * W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${2 * W}" height="${H}" fill="white"/>`,
    ...parts,
    `<text x="${W}" y="${H - 24}" text-anchor="middle" font-size="10" fill="#555">filled: Pareto points (no model is both cheaper and better)${t.rows.some((r) => r.teacherBest) ? "; grey squares: the teacher's best sampler at that NFE" : ''}; n = ${t.n}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
