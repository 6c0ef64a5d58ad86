// The distillation benchmark of issue 12: what `anneal distill` runs on the reference teacher
// measured (the run is the benchmark: hours of training, resumable across sittings), recorded
// for bench/RESULTS.md beside the issue's targets. Nothing here samples or trains; it reads the
// run folders (tradeoff.json, distill.json, distill-state.json) and the teacher's
// stages.jsonl, so a stopped run can be recorded as it stands, marked incomplete.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { distillLatencyNote, distillTradeoffSchema } from '@anneal/protocol';
import { z } from 'zod';
import { fmt, type ResultFile, table } from './report-format.ts';

/** What the record reads of distill.json; the rest of the settings are kept as they are. */
const runFileSchema = z
  .object({
    method: z.enum(['progressive', 'consistency', 'consistency-training']),
    teacher: z.string(),
    budget: z.number(),
    eval_n: z.number(),
    max_iters_per_stage: z.number(),
    batch: z.number(),
    lr: z.number(),
  })
  .passthrough();

const stateFileSchema = z.object({
  stage: z.number(),
  phase: z.enum(['training', 'evaluating', 'done']),
  iter: z.number(),
  stage_wall_s: z.number().default(0),
  stages: z.array(
    z.object({
      stage: z.number(),
      from_steps: z.number(),
      to_steps: z.number(),
      iterations: z.number(),
      stop_reason: z.string(),
      wall_s: z.number(),
      // Each evaluation of the stage (what tradeoff.json's rows are made of).
      evals: z
        .array(
          z.object({
            name: z.string(),
            nfe: z.number(),
            fd: z.number().nullable(),
            fd_std: z.number().nullable(),
            fd_ratio: z.number().nullable(),
            precision: z.number().nullable(),
            recall: z.number().nullable(),
            latency_ms_per_image: z.number().nullable(),
            paired: z.object({ psnr: z.number().nullable(), ssim: z.number() }).nullable(),
            met_budget: z.boolean(),
            teacher_at_nfe: z
              .array(
                z.object({ sampler: z.string(), steps: z.number(), fd: z.number().nullable() }),
              )
              .default([]),
          }),
        )
        .default([]),
    }),
  ),
});

const teacherStageSchema = z.object({ wall_s: z.number() });

/** What the record reads of tradeoff.json (the protocol's DistillTradeoff; null: not finite). */
const num = z.number().nullable();
const tradeoffSchema = z.object({
  n: z.number(),
  reference_fd: z.number(),
  floor_fd: num,
  budget: z.number(),
  latency: distillTradeoffSchema.shape.latency,
  rows: z.array(
    z.object({
      name: z.string(),
      nfe: z.number(),
      fd: num,
      fd_std: num,
      fd_ratio: num,
      precision: num,
      recall: num,
      latency_ms_per_image: num,
      paired: z.object({ psnr: num, ssim: num }).nullable(),
      decision: z.string(),
      teacher_best: z
        .object({ sampler: z.string(), steps: z.number(), fd: num })
        .nullable()
        .optional(),
    }),
  ),
});
type Tradeoff = z.infer<typeof tradeoffSchema>;

export interface DistillationRun {
  /** The run folder and its teacher, relative to the repository. */
  dir: string;
  teacher: string;
  method: z.infer<typeof runFileSchema>['method'];
  settings: z.infer<typeof runFileSchema>;
  /** `anneal distill --resume` would continue it (training or evaluating a stage). */
  complete: boolean;
  /** The stage under way when it is not complete: its iterations so far. */
  current: { stage: number; iter: number } | null;
  stages: z.infer<typeof stateFileSchema>['stages'];
  /** Distillation's training wall time: finished stages' and the current one's so far. */
  distill_wall_s: number;
  /** The teacher's training wall time, summed over its sittings (stages.jsonl); null: unknown. */
  teacher_train_wall_s: number | null;
  tradeoff: Tradeoff | null;
}

export interface DistillationResult {
  runs: DistillationRun[];
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return r.data;
}

/** What of the run's kept reference (reference/reference.json) a stopped run's record reads. */
const keptReferenceSchema = z.object({
  metrics: z.object({ fd: z.number() }),
  floor: z.object({ fd: z.number() }).nullish(),
});

/**
 * The rows a stopped run's finished stages would have in tradeoff.json, from their
 * evaluations in distill-state.json: no reference row. The reference's FD and the floor come
 * from the run's kept reference where it has one; without it the reference's FD follows from
 * any row's ratio and the floor is unknown.
 */
function tradeoffOfState(
  state: z.infer<typeof stateFileSchema>,
  budget: number,
  n: number,
  kept: z.infer<typeof keptReferenceSchema> | null,
): Tradeoff | null {
  const evals = state.stages.flatMap((st) => st.evals);
  const first = evals.find((e) => e.fd !== null && e.fd_ratio);
  if (!first) return null;
  return {
    n,
    reference_fd: kept?.metrics.fd ?? (first.fd as number) / (first.fd_ratio as number),
    floor_fd: kept?.floor?.fd ?? null,
    budget,
    rows: evals.map((e) => {
      const best = e.teacher_at_nfe
        .filter((b) => b.fd !== null && Number.isFinite(b.fd))
        .reduce<(typeof e.teacher_at_nfe)[number] | null>(
          (a, b) => (a && (a.fd as number) <= (b.fd as number) ? a : b),
          null,
        );
      return {
        name: e.name,
        nfe: e.nfe,
        fd: e.fd,
        fd_std: e.fd_std,
        fd_ratio: e.fd_ratio,
        precision: e.precision,
        recall: e.recall,
        latency_ms_per_image: e.latency_ms_per_image,
        paired: e.paired,
        decision: e.met_budget ? 'within budget' : 'over budget',
        teacher_best: best,
      };
    }),
  };
}

/** Reads one `anneal distill` run folder (`repo`: paths in the record are relative to it). */
export function readDistillationRun(dir: string, repo: string): DistillationRun {
  const runPath = join(dir, 'distill.json');
  const statePath = join(dir, 'distill-state.json');
  if (!existsSync(runPath) || !existsSync(statePath))
    throw new Error(`${dir}: not an anneal distill run (no distill.json or distill-state.json)`);
  const settings = parse(runFileSchema, readJson(runPath), runPath);
  const state = parse(stateFileSchema, readJson(statePath), statePath);
  const tradeoffPath = join(dir, 'tradeoff.json');
  const keptPath = join(dir, 'reference', 'reference.json');
  // A finished run has tradeoff.json; a stopped one has its stages' evaluations in the state.
  const tradeoff = existsSync(tradeoffPath)
    ? parse(tradeoffSchema, readJson(tradeoffPath), tradeoffPath)
    : tradeoffOfState(
        state,
        settings.budget,
        settings.eval_n,
        existsSync(keptPath) ? parse(keptReferenceSchema, readJson(keptPath), keptPath) : null,
      );
  const stagesPath = join(settings.teacher, 'stages.jsonl');
  const teacherWall = existsSync(stagesPath)
    ? readFileSync(stagesPath, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => parse(teacherStageSchema, JSON.parse(l), stagesPath).wall_s)
        .reduce((a, b) => a + b, 0)
    : null;
  const complete = state.phase === 'done';
  return {
    dir: relative(repo, dir) || '.',
    teacher: relative(repo, settings.teacher) || '.',
    method: settings.method,
    settings,
    complete,
    current: complete ? null : { stage: state.stage, iter: state.iter },
    stages: state.stages,
    distill_wall_s:
      state.stages.reduce((a, s) => a + s.wall_s, 0) + (complete ? 0 : state.stage_wall_s),
    teacher_train_wall_s: teacherWall,
    tradeoff,
  };
}

/** Issue 12's targets for a run, each with the row it reads: met, missed, or reported only. */
export function distillationTargets(run: DistillationRun): Array<{
  target: string;
  value: string;
  verdict: 'met' | 'missed' | 'reported' | 'not yet measured';
}> {
  const rows = run.tradeoff?.rows.filter((r) => r.decision !== 'reference') ?? [];
  const at = (nfe: number) => rows.find((r) => r.nfe === nfe);
  const ratio = (nfe: number, max: number | null, what: string) => {
    const r = at(nfe);
    const value = r?.fd_ratio;
    return {
      target:
        max === null ? `${what}: FD / reference (reported)` : `${what}: FD <= ${max}x reference`,
      value:
        r && value !== null && value !== undefined ? `${fmt(value, 2)}x (FD ${fmt(r.fd, 3)})` : '-',
      verdict:
        !r || value === null || value === undefined
          ? ('not yet measured' as const)
          : max === null
            ? ('reported' as const)
            : value <= max
              ? ('met' as const)
              : ('missed' as const),
    };
  };
  // The issue sets targets for the distillations; consistency training is reported beside them.
  const targets =
    run.method === 'progressive'
      ? [
          ratio(4, 1.3, '4-step student'),
          ratio(2, 2, '2-step student'),
          ratio(1, null, '1-step student'),
        ]
      : run.method === 'consistency'
        ? [ratio(2, 2, 'consistency, 2 steps'), ratio(1, null, 'consistency, 1 step')]
        : [
            ratio(2, null, 'consistency training, 2 steps'),
            ratio(1, null, 'consistency training, 1 step'),
          ];
  const compared = rows.filter(
    (r) => r.teacher_best && r.fd !== null && r.teacher_best.fd !== null,
  );
  const beaten = compared.filter((r) => (r.fd as number) < (r.teacher_best?.fd as number));
  targets.push({
    target: "each student beats the teacher's best sampler at its NFE",
    value: compared.length
      ? `${beaten.length} of ${compared.length}${
          compared.length > beaten.length
            ? ` (not: ${compared
                .filter((r) => !beaten.includes(r))
                .map((r) => `${r.nfe} NFE`)
                .join(', ')})`
            : ''
        }`
      : '-',
    verdict: !compared.length
      ? 'not yet measured'
      : run.method === 'consistency-training'
        ? 'reported'
        : beaten.length === compared.length
          ? 'met'
          : 'missed',
  });
  targets.push({
    target: "distillation wall time / the teacher's training wall time",
    value:
      run.teacher_train_wall_s && run.teacher_train_wall_s > 0
        ? `${fmt(run.distill_wall_s / 3600, 2)} h / ${fmt(run.teacher_train_wall_s / 3600, 2)} h = ${fmt(run.distill_wall_s / run.teacher_train_wall_s, 2)}`
        : `${fmt(run.distill_wall_s / 3600, 2)} h / unknown`,
    verdict: 'reported',
  });
  return targets;
}

export function distillationSection(f: ResultFile<DistillationResult>): string {
  const parts: string[] = [];
  for (const run of f.result.runs) {
    const s = run.settings;
    parts.push(
      `### ${run.method} on ${run.teacher} (${run.dir})${run.complete ? '' : ` — incomplete: stage ${run.current?.stage} at iteration ${run.current?.iter}`}`,
      '',
      `n = ${s.eval_n} (held-out images; the floor is two disjoint real sets of that n), budget ${s.budget}x the reference FD, ${run.method === 'consistency-training' ? `${s.max_iters_per_stage} iterations (ECT's curriculum spans them all)` : `at most ${s.max_iters_per_stage} iterations per stage`} at batch ${s.batch}, lr ${s.lr}. Command: \`npx anneal distill --teacher ${run.teacher} --method ${run.method} --out ${run.dir} ...\` (every setting in ${run.dir}/distill.json); resumed with \`--resume\` across sittings.`,
      '',
      table(
        ['target', 'value', 'verdict'],
        distillationTargets(run).map((t) => [t.target, t.value, t.verdict]),
      ),
      '',
    );
    const t = run.tradeoff;
    if (t) {
      const refMs = t.rows.find((r) => r.decision === 'reference')?.latency_ms_per_image ?? null;
      parts.push(
        `Reference (teacher, DDIM 32): FD ${fmt(t.reference_fd, 3)}; real vs real: ${fmt(t.floor_fd, 3)}. ${distillLatencyNote(t.latency)}`,
        '',
        table(
          [
            'model',
            'NFE',
            'FD (± std)',
            'FD / ref',
            "teacher's best at this NFE",
            'precision / recall',
            'paired PSNR / SSIM',
            'ms / image',
            'faster than ref',
            'decision',
          ],
          t.rows.map((r) => [
            r.name,
            r.nfe,
            `${fmt(r.fd, 3)}${r.fd_std === null ? '' : ` ± ${fmt(r.fd_std, 3)}`}`,
            `${fmt(r.fd_ratio, 2)}x`,
            r.teacher_best
              ? `${r.teacher_best.sampler}${r.teacher_best.steps === r.nfe ? '' : ` (${r.teacher_best.steps} steps)`}: ${fmt(r.teacher_best.fd, 3)}`
              : '-',
            `${fmt(r.precision, 3)} / ${fmt(r.recall, 3)}`,
            r.paired ? `${fmt(r.paired.psnr, 1)} dB / ${fmt(r.paired.ssim, 3)}` : '-',
            fmt(r.latency_ms_per_image, 1),
            refMs !== null && r.latency_ms_per_image
              ? `${fmt(refMs / r.latency_ms_per_image, 1)}x`
              : '-',
            r.decision,
          ]),
        ),
        '',
      );
    }
    if (run.stages.length)
      parts.push(
        table(
          ['stage', 'steps', 'iterations', 'why training stopped', 'wall h'],
          run.stages.map((st) => [
            st.stage,
            `${st.from_steps} -> ${st.to_steps}`,
            st.iterations,
            st.stop_reason,
            fmt(st.wall_s / 3600, 2),
          ]),
        ),
        '',
      );
  }
  return parts.join('\n').trimEnd();
}
