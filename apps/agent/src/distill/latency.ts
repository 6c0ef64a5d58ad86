// The latency of every model of a finished run, measured together at its end (issue 12,
// section 4). Each stage's evaluation times its student when the stage ends, hours apart on a
// machine whose load changes in between: those numbers are not comparable with each other
// (on the reference run here the 16-step student read slower than the 32-step teacher). So
// when the last stage is decided, the teacher on the reference grid and every student on its
// evaluated grids are timed again in one sitting, interleaved: one warm-up call each, then
// rounds that call every model once, the order rotated each round so no model always runs
// after the same one; each row keeps the median. Kept as latency.json; a run resumed after it
// finished reuses the file while it names the same rows and weights (delete it to measure
// again). Peak memory is not taken from here: all models are resident at once, so a call's
// peak would count the others' weights; each stage's own evaluation measured its peak alone.
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Model, samplerSchema, weightsSha256, writeFileAtomic } from '@anneal/engine';
import { z } from 'zod';
import type { SamplingGrid } from './measure.ts';
import type { DistillState } from './state.ts';

export const LATENCY_FILE = 'latency.json';
/** Timed rounds after the warm-up; each row's latency is their median. */
export const LATENCY_ROUNDS = 5;

const rowSchema = z.object({
  name: z.string(),
  /** The weights timed: the teacher's or the stage's student. */
  weights_sha256: z.string(),
  sampler: samplerSchema,
  sigmas: z.array(z.number()),
  nfe: z.number().int(),
  /** Per round, in round order (wall-clock times: always finite). */
  ms_per_image: z.array(z.number()),
  median_ms_per_image: z.number(),
  images_per_s: z.number(),
});

export const runLatencySchema = z.object({
  version: z.literal(1),
  measured_at: z.string(),
  batch: z.number().int().min(1),
  rounds: z.number().int().min(1),
  /** os.loadavg() before and after: what else the machine ran meanwhile. */
  load_avg_start: z.array(z.number()),
  load_avg_end: z.array(z.number()),
  rows: z.array(rowSchema),
});
export type RunLatency = z.infer<typeof runLatencySchema>;

/** One model on one grid: what a tradeoff row names. */
export interface LatencySubject {
  name: string;
  /** The model folder (the teacher's, or a stage's student). */
  dir: string;
  weightsSha256: string;
  grid: SamplingGrid;
}

/** The reference row's name in tradeoff.* and latency.json. */
export const REFERENCE_ROW = 'reference (DDIM 32)';

/**
 * The rows of a finished run: the reference (the teacher, DDIM 32), then each evaluation in
 * stage order (as the trade-off lists them). Throws when a stage's weights are gone.
 */
export function latencySubjects(
  teacher: { dir: string; weightsSha256: string },
  referenceSigmas: number[],
  state: DistillState,
): LatencySubject[] {
  const digests = new Map<string, string>([[teacher.dir, teacher.weightsSha256]]);
  const digest = (dir: string) => {
    let d = digests.get(dir);
    if (!d) {
      d = weightsSha256(dir);
      digests.set(dir, d);
    }
    return d;
  };
  const subjects: LatencySubject[] = [
    {
      name: REFERENCE_ROW,
      dir: teacher.dir,
      weightsSha256: teacher.weightsSha256,
      grid: { sampler: 'ddim', sigmas: referenceSigmas },
    },
  ];
  for (const stage of state.stages)
    for (const e of stage.evals)
      subjects.push({
        name: e.name,
        dir: stage.dir,
        weightsSha256: digest(stage.dir),
        grid: { sampler: samplerSchema.parse(e.sampler), sigmas: e.sigmas },
      });
  return subjects;
}

/**
 * latency.json when it times exactly these subjects; else why it cannot be used (absent, not
 * readable, or timing other rows, grids or weights).
 */
export function readRunLatency(
  out: string,
  subjects: LatencySubject[],
): { latency: RunLatency } | { unusable: string } {
  const path = join(out, LATENCY_FILE);
  if (!existsSync(path)) return { unusable: `no ${LATENCY_FILE} yet` };
  let parsed: ReturnType<typeof runLatencySchema.safeParse>;
  try {
    parsed = runLatencySchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    return { unusable: `${path} is not JSON (${(err as Error).message})` };
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { unusable: `${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}` };
  }
  const rows = parsed.data.rows;
  const same =
    rows.length === subjects.length &&
    subjects.every((s, i) => {
      const r = rows[i];
      return (
        r !== undefined &&
        r.name === s.name &&
        r.weights_sha256 === s.weightsSha256 &&
        r.sampler === s.grid.sampler &&
        r.sigmas.length === s.grid.sigmas.length &&
        r.sigmas.every((v, k) => v === s.grid.sigmas[k])
      );
    });
  return same
    ? { latency: parsed.data }
    : { unusable: `${path} timed other models, grids or weights than this run's` };
}

/**
 * The timed row for the trade-off's row `index` (0: the reference, then each evaluation in
 * stage order), checked by name; null without a timing. A timing of other rows is a bug.
 */
export function timedRow(
  latency: RunLatency | null,
  index: number,
  name: string,
): RunLatency['rows'][number] | null {
  if (!latency) return null;
  const row = latency.rows[index];
  if (row?.name !== name)
    throw new RangeError(
      `${LATENCY_FILE}: row ${index} is ${row ? `"${row.name}"` : 'missing'}, the trade-off's is "${name}"`,
    );
  return row;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/**
 * Times every subject in one sitting (see the file's comment) and writes latency.json.
 * `teacher` is the already loaded teacher (its folder is subjects[0].dir); students are loaded
 * here, each folder once, and disposed. All are resident together: a handful of students of
 * the teacher's size (the teacher's weights, once per stage), small beside sampling's
 * activations at the timing batch.
 */
export async function measureRunLatency(o: {
  out: string;
  subjects: LatencySubject[];
  teacher: Model;
  batch: number;
  rounds?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<RunLatency> {
  const rounds = o.rounds ?? LATENCY_ROUNDS;
  const loadAvgStart = loadavg();
  const loaded = new Map<string, Model>([[o.subjects[0]?.dir ?? '', o.teacher]]);
  try {
    const models = o.subjects.map((s) => {
      let m = loaded.get(s.dir);
      if (!m) {
        m = Model.load(s.dir);
        loaded.set(s.dir, m);
      }
      return m;
    });
    const total = o.subjects.length * (rounds + 1);
    let done = 0;
    const nfe: number[] = [];
    const call = async (i: number) => {
      const s = o.subjects[i] as LatencySubject;
      const t0 = performance.now();
      const r = await (models[i] as Model).sample({
        sampler: s.grid.sampler,
        sigmas: s.grid.sigmas,
        n: o.batch,
        seed: 1,
        guidance: 1,
      });
      const ms = performance.now() - t0;
      nfe[i] = r.nfe;
      o.onProgress?.(++done, total);
      return ms / o.batch;
    };
    // Warm-up: compilation and first allocations stay out of the timed rounds.
    for (let i = 0; i < o.subjects.length; i++) await call(i);
    const times: number[][] = o.subjects.map(() => []);
    for (let round = 0; round < rounds; round++)
      for (let k = 0; k < o.subjects.length; k++) {
        const i = (k + round) % o.subjects.length;
        (times[i] as number[]).push(await call(i));
      }
    const record: RunLatency = {
      version: 1,
      measured_at: new Date().toISOString(),
      batch: o.batch,
      rounds,
      load_avg_start: loadAvgStart,
      load_avg_end: loadavg(),
      rows: o.subjects.map((s, i) => {
        const ms = times[i] as number[];
        const med = median(ms);
        return {
          name: s.name,
          weights_sha256: s.weightsSha256,
          sampler: s.grid.sampler,
          sigmas: s.grid.sigmas,
          nfe: nfe[i] as number,
          ms_per_image: ms,
          median_ms_per_image: med,
          images_per_s: 1000 / med,
        };
      }),
    };
    writeFileAtomic(join(o.out, LATENCY_FILE), `${JSON.stringify(record, null, 2)}\n`);
    return record;
  } finally {
    for (const m of loaded.values()) if (m !== o.teacher) m.dispose();
  }
}
