// What sampling costs on this device (issue 13 section 3): per (batch, dtype), the line
// latency = overhead + NFE x per-NFE through two timed sampling calls of different NFE, so the
// fixed cost of a call (noise, the copy back to JS) and the cost of each network evaluation
// are both measured, not assumed. Cached per hardware profile and model architecture.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAnnealHome } from '@anneal/core/home';
import {
  addonPath,
  COST_BATCHES,
  type CostEntry,
  type CostStatistic,
  type CostTable,
  costTableSchema,
  type HardwareProfile,
  type Model,
  type ModelConfig,
  memoryStats,
  type PlanDtype,
  planDtypes,
  resetPeakMemory,
  writeFileAtomic,
} from '@anneal/engine';
import { parseJsonFile } from './json-file.ts';

/**
 * The hardware profile's key: backend, chip (on a CPU with its family) and thread count
 * (what changes a latency), plus
 * the MLX version (a new one can change every kernel), and on a CPU the BLAS threads and
 * their wait when the process set them. Safe as one path segment.
 *
 * Not hw.blas: on Linux the engine reads it as whichever BLAS comes first in /proc/self/maps,
 * which is address order, so with ASLR and both libopenblas and libblas mapped it flips between
 * runs (measured: 11 openblas, 1 reference in 12 probes here). The BLAS the addon was linked
 * against is part of its build, which keys the cost cache (engineBuild).
 */
export function profileKey(hw: HardwareProfile, env: NodeJS.ProcessEnv = process.env): string {
  // On a CPU the chip's family too (a Linux CPU's generation: probeHardware), since a cloud
  // machine's name alone may be the same over CPUs that run 1.8x apart; a Mac's chip name
  // already says its family.
  const family = hw.backend === 'cpu' && hw.chip.family ? `-${hw.chip.family}` : '';
  const raw = `${hw.backend}-${hw.chip.name}${family}-${hw.cores.logical}t-mlx${hw.mlxVersion}`;
  // On a CPU the BLAS threads in use (when the process was limited to some) change every
  // latency, and which variant of a model wins (hardware-aware search); unset, the key is
  // what it always was.
  const threads = Number(env.OPENBLAS_NUM_THREADS ?? env.OMP_NUM_THREADS ?? Number.NaN);
  const limited = hw.backend === 'cpu' && Number.isInteger(threads) && threads > 0;
  // How long idle BLAS workers spin before they sleep (blas-env.ts) moves the latency at
  // batch 1 by 13-19% here: costs measured under another wait are another profile's.
  const wait = Number(env.OPENBLAS_THREAD_TIMEOUT || Number.NaN);
  const waits = hw.backend === 'cpu' && Number.isInteger(wait) && wait > 0;
  return `${raw}${limited ? `-blas${threads}` : ''}${waits ? `-blaswait${wait}` : ''}`
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 120);
}

let engineBuildCache: string | undefined;

/**
 * The engine build the costs were measured with: the first 16 hex digits of the addon
 * binary's sha256 (a rebuilt engine can change every latency without changing the profile).
 */
export function engineBuild(): string {
  if (engineBuildCache === undefined)
    engineBuildCache = createHash('sha256')
      .update(readFileSync(addonPath()))
      .digest('hex')
      .slice(0, 16);
  return engineBuildCache;
}

/** The architecture's key: what the network computes (U-Net and parameterization), hashed. */
export function configKey(config: ModelConfig): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v as object)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : Array.isArray(v)
        ? v.map(canonical)
        : v;
  const text = JSON.stringify(
    canonical({ unet: config.unet, parameterization: config.parameterization }),
  );
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * Where a table is cached: per hardware profile and engine build, per architecture, guidance
 * and statistic (a median table and a min table are two files, never one replacing the other).
 */
export function costTablePath(
  home: string,
  key: { profile: string; engine: string; config: string; guided: boolean },
  statistic: CostStatistic,
) {
  return join(
    home,
    'cache',
    'costs',
    key.profile,
    `engine-${key.engine}`,
    `${key.config}-${key.guided ? 'guided' : 'plain'}-${statistic}.json`,
  );
}

export interface MeasureCostsOptions {
  model: Model;
  hardware: HardwareProfile;
  /** Guided NFE (two images per sample): only for a class-conditional model. */
  guided: boolean;
  batches?: readonly number[];
  dtypes?: readonly PlanDtype[];
  /** NFE of the two timed calls (default 2 and 10). */
  nfe?: [number, number];
  /** Timed calls of each, after one warm-up of each (default 5). */
  repeats?: number;
  statistic?: CostStatistic;
  onProgress?: (done: number, total: number, label: string) => void;
  /** What a person should know that does not stop the measurement (an unreadable cache). */
  onWarning?: (message: string) => void;
}

export function summarize(xs: number[], statistic: CostStatistic): number {
  return statistic === 'min' ? Math.min(...xs) : median(xs);
}

/** Rounds of `repeats` calls a cell may take to show a rising line. */
const MAX_ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Whether a sampling call failed because the backend cannot compute in `dtype`: the engine's
 * argument error (MLX reports an unsupported type with std::invalid_argument) naming a type.
 */
export function isUnsupportedDtype(err: unknown, dtype: PlanDtype): boolean {
  if ((err as { code?: string } | null)?.code !== 'ANNEAL_INVALID_ARGUMENT') return false;
  const message = (err as Error).message ?? '';
  return message.includes(dtype) || /\b(d)?type\b/i.test(message);
}

/** Measures the table (minutes on a CPU for a small model; see `anneal plan --help`). */
export async function measureCosts(o: MeasureCostsOptions): Promise<CostTable> {
  const { entries, skipped } = await measureCells(o);
  return costTableOf(o, entries, skipped);
}

function costTableOf(
  o: MeasureCostsOptions,
  entries: CostEntry[],
  skipped: CostTable['skipped'],
): CostTable {
  if (entries.length === 0)
    throw new Error(
      `no dtype could be measured: ${skipped.map((s) => `${s.dtype}: ${s.reason}`).join('; ')}`,
    );
  return costTableSchema.parse({
    version: 1,
    profileKey: profileKey(o.hardware),
    configKey: configKey(o.model.config),
    guided: o.guided,
    statistic: o.statistic ?? 'median',
    measuredAt: new Date().toISOString(),
    skipped,
    entries,
  });
}

/** The cells of `o.dtypes` x `o.batches`, and the dtypes the engine refused. */
async function measureCells(
  o: MeasureCostsOptions,
): Promise<{ entries: CostEntry[]; skipped: CostTable['skipped'] }> {
  const batches = o.batches ?? COST_BATCHES;
  const dtypes = o.dtypes ?? planDtypes;
  const [lo, hi] = o.nfe ?? [2, 10];
  const repeats = o.repeats ?? 5;
  const statistic = o.statistic ?? 'median';
  const g = o.guided ? 2 : 1;
  if (lo % g || hi % g || !(hi > lo))
    throw new RangeError(`cost NFE ${lo} and ${hi} must be increasing multiples of ${g}`);
  const entries: CostEntry[] = [];
  const skipped: CostTable['skipped'] = [];
  const total = batches.length * dtypes.length;
  let done = 0;
  for (const dtype of dtypes) {
    for (const batch of batches) {
      o.onProgress?.(done, total, `${dtype} batch ${batch}`);
      // Euler spends one evaluation per step, so the call's NFE is steps x g.
      const call = (nfe: number) =>
        o.model.sample({
          sampler: 'euler',
          steps: nfe / g,
          n: batch,
          chunk: batch,
          dtype,
          seed: 0,
          guidance: o.guided ? 2 : 1,
        });
      const timed = async (nfe: number) => {
        const t0 = performance.now();
        const r = await call(nfe);
        const ms = performance.now() - t0;
        if (r.nfe !== nfe) throw new Error(`expected ${nfe} NFE, the engine spent ${r.nfe}`);
        return ms;
      };
      try {
        await call(lo);
        await call(hi);
      } catch (err) {
        // A backend without this dtype: say so in the table instead of failing the rest.
        // Anything else (out of memory at a large batch, a transient failure) is not a fact
        // about the dtype, and fails the measurement.
        if (!isUnsupportedDtype(err, dtype)) throw err;
        skipped.push({ dtype, reason: (err as Error).message, unsupported: true });
        done += batches.length - batches.indexOf(batch);
        break;
      }
      resetPeakMemory();
      const tLo: number[] = [];
      const tHi: number[] = [];
      let mLo = 0;
      let mHi = 0;
      // More NFE must cost more: a line that falls is the machine's load, not the model, so
      // the cell is timed again (its calls pooled) up to MAX_ROUNDS times.
      for (let round = 0; round < MAX_ROUNDS && !(mHi > mLo); round++) {
        // Alternated, so a change in the machine's load falls on both ends of the line.
        for (let i = 0; i < repeats; i++) {
          tLo.push(await timed(lo));
          tHi.push(await timed(hi));
        }
        mLo = summarize(tLo, statistic);
        mHi = summarize(tHi, statistic);
      }
      // Still falling: cost proportional to NFE through the longer call, and said so.
      const rising = mHi > mLo;
      const perNfeMs = rising ? (mHi - mLo) / (hi - lo) : mHi / hi;
      entries.push({
        batch,
        dtype,
        perNfeMs,
        overheadMs: rising ? mLo - lo * perNfeMs : 0,
        peakBytes: memoryStats().peakBytes,
        nfe: [lo, hi],
        medianMs: [mLo, mHi],
        repeats: tLo.length,
        ...(rising
          ? {}
          : {
              note: `${hi} NFE timed no slower than ${lo} after ${tLo.length} calls each (a loaded machine): proportional to NFE`,
            }),
      });
      done++;
    }
  }
  o.onProgress?.(total, total, 'done');
  return { entries, skipped };
}

/** The cached table for this device and architecture, measured and written when missing. */
export async function obtainCosts(
  o: MeasureCostsOptions & { home?: string; refresh?: boolean },
): Promise<{ table: CostTable; path: string; cached: boolean }> {
  const statistic = o.statistic ?? 'median';
  const path = costTablePath(
    o.home ?? resolveAnnealHome(),
    {
      profile: profileKey(o.hardware),
      engine: engineBuild(),
      config: configKey(o.model.config),
      guided: o.guided,
    },
    statistic,
  );
  let previous: CostTable | null = null;
  const cached = parseJsonFile(path, costTableSchema);
  // A cache that cannot be read is measured again (and overwritten), never a dead end.
  if (cached && !cached.ok) o.onWarning?.(`${path}: ${cached.reason}; measuring the costs again`);
  else if (cached?.ok && cached.value.statistic === statistic) previous = cached.value;
  // Used when it has every (batch, dtype) asked for (a dtype the engine refused as
  // unsupported counts); else the dtypes missing cells are measured and merged into it.
  const dtypes = o.dtypes ?? planDtypes;
  const batches = o.batches ?? COST_BATCHES;
  const missing = (t: CostTable | null) =>
    dtypes.filter(
      (d) =>
        !t ||
        !(
          t.skipped.some((s) => s.dtype === d && s.unsupported) ||
          batches.every((b) => t.entries.some((e) => e.dtype === d && e.batch === b))
        ),
    );
  const todo = o.refresh ? [...dtypes] : missing(previous);
  if (previous && todo.length === 0) return { table: previous, path, cached: true };
  const fresh = await measureCells({ ...o, dtypes: todo });
  const measured = (e: { dtype: string; batch?: number }) =>
    fresh.entries.some((f) => f.dtype === e.dtype && f.batch === e.batch) ||
    fresh.skipped.some((f) => f.dtype === e.dtype);
  const table = costTableOf(
    o,
    [...(previous?.entries.filter((e) => !measured(e)) ?? []), ...fresh.entries].sort(
      (a, b) => a.dtype.localeCompare(b.dtype) || a.batch - b.batch,
    ),
    [
      // A refusal asked again and measured this time is dropped.
      ...(previous?.skipped.filter((s) => !todo.includes(s.dtype)) ?? []),
      ...fresh.skipped,
    ],
  );
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify(table, null, 2)}\n`);
  return { table, path, cached: false };
}
