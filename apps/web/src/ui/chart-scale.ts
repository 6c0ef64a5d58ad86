/**
 * Pure pieces of the line chart: what a metric's axis is called and in which unit its values
 * read, round tick values on linear and log axes, the EMA smoothing TensorBoard applies, and
 * how wide the y labels are so they are never cut. No React here, so it is unit-tested.
 */

/** How one metric reads on an axis: its title with the unit, and its values in that unit. */
export interface Axis {
  /** "peak memory (MiB)", "throughput (img/s)", "loss". */
  title: string;
  /** Values are divided by this before ticks are chosen (1 MiB = 2^20 bytes). */
  divisor: number;
  /** A value with its unit, for tooltips and tables: "1.5 GiB", "312 img/s", "3e-4". */
  value: (value: number) => string;
  /** Ticks read in scientific notation (learning rates). */
  scientific?: boolean;
}

const BINARY = [
  { unit: 'B', divisor: 1 },
  { unit: 'KiB', divisor: 2 ** 10 },
  { unit: 'MiB', divisor: 2 ** 20 },
  { unit: 'GiB', divisor: 2 ** 30 },
  { unit: 'TiB', divisor: 2 ** 40 },
];

/** The largest binary unit in which `maxAbs` is at least 1 (so 300 MiB, not 0.29 GiB). */
export function binaryUnit(maxAbs: number): { unit: string; divisor: number } {
  let pick = BINARY[0]!;
  for (const u of BINARY) if (maxAbs >= u.divisor) pick = u;
  return pick;
}

/** A plain number: integers grouped ("12,000"), others to 4 significant digits. */
export function plain(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return scientific(v);
  return Number(v.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

/** Scientific notation as learning rates are written: 3e-4, 2.5e-4, 1e-3; 0 stays "0". */
export function scientific(v: number): string {
  if (v === 0) return '0';
  const [mantissa, exponent] = v.toExponential(3).split('e') as [string, string];
  const m = mantissa.replace(/\.?0+$/, '');
  return `${m}e${Number(exponent)}`;
}

/** Tick labels of one axis: the fewest decimals that keep neighbouring ticks distinct. */
export function tickLabels(ticks: number[], format: (v: number) => string = plain): string[] {
  if (ticks.length < 2) return ticks.map(format);
  const spacing = Math.abs((ticks[1] as number) - (ticks[0] as number));
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(spacing) + 1e-9)));
  return ticks.map((t) => {
    const abs = Math.abs(t);
    if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return scientific(t);
    return t.toLocaleString('en-US', {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
  });
}

function words(key: string): string {
  return key.replace(/[_./]+/g, ' ').trim();
}

/** The axis of a metric, from its key's conventions (`*_bytes`, `*_per_s`, `lr`, `*_s`, `*_ms`). */
export function axisFor(key: string, maxAbs: number): Axis {
  const k = key.toLowerCase();
  if (k.endsWith('_bytes') || k === 'bytes') {
    const { unit, divisor } = binaryUnit(maxAbs);
    return {
      title: `${words(key.replace(/_?bytes$/i, '')) || 'size'} (${unit})`,
      divisor,
      value: (v) => `${plain(Number((v / divisor).toPrecision(4)))} ${unit}`,
    };
  }
  if (k === 'images_per_s' || k.endsWith('images_per_s') || k.endsWith('img_per_s')) {
    return {
      title: 'throughput (img/s)',
      divisor: 1,
      value: (v) => `${plain(Number(v.toPrecision(4)))} img/s`,
    };
  }
  if (k === 'lr' || k.endsWith('_lr') || k === 'learning_rate') {
    return {
      title: 'learning rate',
      divisor: 1,
      value: scientific,
      scientific: true,
    };
  }
  if (k.endsWith('_ms') || k.includes('_ms_')) {
    return {
      title: `${words(key.replace(/_ms(_per_image)?$/i, ''))} (ms${k.endsWith('_per_image') ? '/img' : ''})`,
      divisor: 1,
      value: (v) => `${plain(Number(v.toPrecision(4)))} ms`,
    };
  }
  if (k.endsWith('_s') || k.endsWith('_seconds')) {
    return {
      title: `${words(key.replace(/_(s|seconds)$/i, ''))} (s)`,
      divisor: 1,
      value: (v) => `${plain(Number(v.toPrecision(4)))} s`,
    };
  }
  return { title: words(key), divisor: 1, value: plain };
}

/** At most this many ticks on one axis, whatever the range. */
const MAX_TICKS = 50;

/**
 * Round tick values (1, 2, 5 x 10^k) covering [lo, hi], about `count` of them. Ticks are
 * i * step for integers i, never an accumulated `v += step`: when lo and hi differ by a few
 * ulps the step is below half an ulp of lo and an accumulating loop never advances. Ticks
 * that round to the same number are dropped, and there are never more than MAX_TICKS.
 */
export function linearTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ??
    raw) as number;
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  if (!(step > 0) || !Number.isFinite(first) || !Number.isFinite(last)) return [lo, hi];
  const n = Math.min(last - first, MAX_TICKS - 1);
  const out: number[] = [];
  for (let k = 0; k <= n; k++) {
    const v = Number(((first + k) * step).toPrecision(12));
    if (out.length === 0 || v !== out[out.length - 1]) out.push(v);
  }
  return out.length > 0 ? out : [lo];
}

/**
 * Ticks of a log10 axis over [lo, hi] given in log10 units: the powers of ten inside, with
 * 2 and 5 between them when fewer than three decades are shown; linear ticks of the log
 * when the range is under one power of ten and holds no power (a loss between 0.02 and 0.05).
 * Returned in value space (not log).
 */
export function logTicks(lo: number, hi: number, max = 8): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [10 ** lo];
  const within = (mults: number[], every: number) => {
    const out: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      if (e % every !== 0) continue;
      for (const m of mults) {
        const v = m * 10 ** e;
        const l = Math.log10(v);
        if (l >= lo - 1e-9 && l <= hi + 1e-9) out.push(Number(v.toPrecision(12)));
      }
    }
    return out;
  };
  // 1, 2, 5 per decade over fewer than three decades; else powers of ten, every k-th
  // power when there would be more than `max`.
  const dense = hi - lo < 3 ? within([1, 2, 5], 1) : [];
  if (dense.length >= 2 && dense.length <= max) return dense;
  const every = Math.max(1, Math.ceil((Math.ceil(hi) - Math.floor(lo) + 1) / max));
  const out = within([1], every);
  if (out.length >= 2) return out;
  return linearTicks(10 ** lo, 10 ** hi, 4);
}

/** Labels of log-axis ticks, each formatted on its own: 0.01, 0.02, 0.05, 0.1, 1, 1e-4. */
export function logTickLabels(ticks: number[]): string[] {
  return ticks.map(plain);
}

/**
 * Exponential moving average with TensorBoard's debiasing: the first points are not pulled
 * toward 0 because the accumulated weight is divided out (1 - w^n). `weight` in [0, 1): 0 is
 * no smoothing. Non-finite values pass through unsmoothed and do not poison the average.
 */
export function emaSmooth(values: number[], weight: number): number[] {
  if (weight <= 0) return values.slice();
  const w = Math.min(weight, 0.999);
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return v;
    last = last * w + (1 - w) * v;
    n++;
    return last / (1 - w ** n);
  });
}

/**
 * Width in px of the widest label at `fontPx`, from per-character advances that are at least
 * those of common sans fonts (DejaVu Sans, the widest usual default: digits 0.636em, "," and
 * "." 0.318em, "−" 0.838em; Arial and Helvetica are narrower). An over-estimate, so the left
 * margin always holds its labels: "120,000,000" at 11 px is 69.98 px in DejaVu Sans.
 */
export function labelWidth(labels: string[], fontPx = 11): number {
  let widest = 0;
  for (const label of labels) {
    let em = 0;
    for (const ch of label) {
      if (ch >= '0' && ch <= '9') em += 0.65;
      else if (ch === ',' || ch === '.' || ch === ' ') em += 0.35;
      else if (ch === '-') em += 0.4;
      else if (ch === '−' || ch === '+') em += 0.85;
      else if (ch === 'M' || ch === 'W' || ch === 'm' || ch === 'w') em += 1;
      else em += 0.7;
    }
    widest = Math.max(widest, em * fontPx);
  }
  return Math.ceil(widest);
}

/**
 * The smallest and largest of `values` by a loop: Math.min(...values) throws a RangeError
 * past about 120,000 arguments. Null when there are none.
 */
export function extent(values: Iterable<number>): [number, number] | null {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let any = false;
  for (const v of values) {
    any = true;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return any ? [lo, hi] : null;
}

/**
 * Indices of at most about `max` points of a series that draw as the whole would: the series
 * is cut into max/2 buckets and each keeps its lowest and highest finite value (in step
 * order), so spikes and dips survive; the first and last points always stay.
 */
export function downsampleIndices(values: number[], max = 2000): number[] {
  const n = values.length;
  if (n <= max) return values.map((_, i) => i);
  const buckets = Math.max(1, Math.floor(max / 2));
  const keep: number[] = [0];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * n) / buckets);
    const to = Math.floor(((b + 1) * n) / buckets);
    let lo = -1;
    let hi = -1;
    for (let i = from; i < to; i++) {
      const v = values[i] as number;
      if (!Number.isFinite(v)) continue;
      if (lo < 0 || v < (values[lo] as number)) lo = i;
      if (hi < 0 || v > (values[hi] as number)) hi = i;
    }
    if (lo < 0) keep.push(from);
    else if (lo === hi) keep.push(lo);
    else keep.push(Math.min(lo, hi), Math.max(lo, hi));
  }
  keep.push(n - 1);
  return keep.filter((v, i) => i === 0 || v > (keep[i - 1] as number));
}
