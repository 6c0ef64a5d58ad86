// `anneal distill`'s run: the reference, then stage after stage (train until the plateau rule
// stops, measure, decide), then the kept student and the trade-off analysis. Every step
// leaves distill-state.json such that --resume continues where the run was.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  consistencySigmas,
  type GroupInfo,
  type MemoryBudget,
  Model,
  type ModelConfig,
  rankZeroValue,
  type SamplerName,
  type TrainingObjective,
} from '@anneal/engine';
import type { CommandIO } from '../commands/command.ts';
import { agreeAcrossRanks, fingerprint } from '../commands/train-ranks.ts';
import { phaseProgress } from '../progress.ts';
import { qualityRuler, sampleClasses } from '../quality/evaluate.ts';
import { modelDataset } from '../quality/model-dataset.ts';
import { consistencyGrid, evaluateStage, LATENCY_BATCH } from './evaluate-stage.ts';
import {
  LATENCY_FILE,
  latencySubjects,
  measureRunLatency,
  type RunLatency,
  readRunLatency,
} from './latency.ts';
import { obtainReference, referenceGrid } from './reference.ts';
import { snapshotRun } from './snapshot.ts';
import { halvingStages, stageLabel } from './stages.ts';
import {
  type DistillState,
  type RunSettings,
  readState,
  relocateState,
  stageDir,
  writeState,
} from './state.ts';
import { trainStage } from './train-stage.ts';

export interface DistillRun {
  out: string;
  run: RunSettings;
  io: CommandIO;
  json: boolean;
  events: boolean;
  home?: string;
  budget?: MemoryBudget;
  /**
   * Data-parallel (--ranks, --hostfile/--rank): the group this process joined. Every rank
   * runs every stage (the training step sums the gradients; each rank measures too), and
   * rank 0's decisions (plateau, budget) are every rank's.
   */
  group?: GroupInfo | null;
}

function initialState(r: DistillRun, base: number[], cdSigmas: number[]): DistillState {
  const first =
    r.run.method === 'progressive'
      ? halvingStages(base, r.run.min_steps)[0]
      : { teacherSigmas: cdSigmas, studentSigmas: [] as number[] };
  if (!first) throw new RangeError('no stage to run');
  return {
    version: 1,
    stage: 1,
    phase: 'training',
    teacher_dir: r.run.teacher,
    student_from: r.run.teacher,
    teacher_sigmas: first.teacherSigmas,
    student_sigmas: first.studentSigmas,
    slot: null,
    iter: 0,
    heldout: [],
    stop_reason: null,
    stage_wall_s: 0,
    stages: [],
  };
}

/** Drops metrics lines past the state: a resumed stage rewrites them identically. */
function truncateMetrics(path: string, state: DistillState): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        const m = JSON.parse(line) as { stage: number; iter?: number; event?: string };
        if (m.stage < state.stage) return true;
        if (m.stage > state.stage) return false;
        if (m.event === 'eval') return state.phase === 'done';
        return (m.iter ?? 0) <= state.iter;
      } catch {
        return false;
      }
    });
  writeFileSync(path, kept.length ? `${kept.join('\n')}\n` : '');
}

/**
 * The stage's training objective. Consistency training never calls the teacher: it only
 * initialized the student (Model.studentOf) and is the reference the student is measured
 * against. Its curriculum (the gap halving every ect_halving_every iterations) is laid over
 * --max-iters-per-stage, which the stage then runs to the end.
 */
function stageObjective(
  run: RunSettings,
  teacher: Model,
  teacherSigmas: number[],
): TrainingObjective {
  switch (run.method) {
    case 'progressive':
      return { kind: 'progressive', teacher, sigmas: teacherSigmas, weighting: run.weighting };
    case 'consistency':
      return { kind: 'consistency-distillation', teacher, sigmas: teacherSigmas };
    case 'consistency-training':
      return {
        kind: 'consistency-training',
        q: run.ect_q,
        ...(run.ect_halving_every === null ? {} : { halvingEvery: run.ect_halving_every }),
      };
  }
}

export async function distill(r: DistillRun) {
  const { run, out, io } = r;
  const started = Date.now();
  mkdirSync(out, { recursive: true });
  const say = (line: string) => {
    if (!r.json) io.err(line);
  };
  const teacher = Model.load(run.teacher);
  try {
    const dataset = await modelDataset(teacher.config, join(run.teacher, 'config.json'), r.home);
    // The measuring phases (extractor, reference, each stage's evaluation) as progress
    // events of their own phase.
    const bars = phaseProgress(
      (l) => io.out(l),
      r.json && r.events,
      r.json || process.stderr.isTTY ? undefined : { line: say },
    );
    const progress = (p: string) => (done: number, total: number) => bars.update(p, done, total);
    const ruler = await qualityRuler({
      dataset,
      n: run.eval_n,
      seed: run.seed,
      classes: sampleClasses(teacher),
      home: r.home,
      extractor: { steps: run.extractor_steps, width: run.extractor_width },
      onProgress: (p, d, t) => progress(p === 'extractor' ? 'train extractor' : p)(d, t),
    });
    const reference = await obtainReference({
      teacher,
      teacherSha256: run.teacher_sha256,
      ruler,
      n: run.eval_n,
      seed: run.seed,
      latencyBatch: LATENCY_BATCH,
      home: r.home,
      runDir: out,
      onProgress: progress('reference (DDIM 32)'),
    });
    bars.done();
    say(
      `reference: DDIM 32 steps, FD ${reference.metrics.fd.toFixed(4)} ± ${reference.fdSpread.std.toFixed(4)} at n = ${run.eval_n}${reference.cached ? ' (cached)' : ''}; real-vs-real floor ${ruler.floor.fd.toFixed(4)}`,
    );
    const base = referenceGrid(teacher.config);
    const cdSigmas =
      run.method === 'consistency' ? consistencySigmas(teacher, run.cd_discretization) : [];
    const metricsPath = join(out, 'metrics.jsonl');
    let state: DistillState | null = readState(out);
    if (state) {
      // The folders it names may be another machine's: this run's are `out` and run.teacher.
      state = relocateState(out, run, state);
      truncateMetrics(metricsPath, state);
    } else {
      state = initialState(r, base, cdSigmas);
      writeFileSync(metricsPath, '');
      writeState(out, state);
    }
    if (r.group)
      // Ranks that start from different places (a rank's folder behind the others) would
      // train different students, or meet at different collectives.
      agreeAcrossRanks(r.group.size, {
        stage: state.stage,
        step: state.iter,
        'the phase': state.phase === 'training' ? 0 : state.phase === 'evaluating' ? 1 : 2,
        'settings and teacher': fingerprint(JSON.stringify({ ...run, teacher: null })),
      });
    const budgetRule = {
      referenceFd: reference.metrics.fd,
      budget: run.budget,
      minSteps: run.min_steps,
    };
    const distillation = (stage: number, sampler: string, sigmas: number[]) => ({
      method: run.method,
      stage,
      sampler,
      sigmas,
      teacher: { weights_sha256: run.teacher_sha256, path: run.teacher },
      budget: run.budget,
    });

    while (state.phase !== 'done') {
      const k: number = state.stage;
      const pd = run.method === 'progressive';
      const fromSteps = pd ? state.teacher_sigmas.length - 1 : 32;
      const toSteps = pd ? state.student_sigmas.length - 1 : 1;
      const label = pd
        ? stageLabel({ stage: k, fromSteps, toSteps })
        : `stage ${k} (${run.method})`;
      if (state.phase === 'training') {
        say(`${label}: training${state.iter > 0 ? `, resuming at iteration ${state.iter}` : ''}`);
        const stageTeacher = k === 1 ? teacher : Model.load(state.teacher_dir);
        const student = pd
          ? Model.studentOf(stageTeacher, { kind: 'progressive' })
          : Model.studentOf(stageTeacher, { kind: 'consistency' });
        try {
          const studentConfig: ModelConfig = {
            ...student.config,
            distillation: pd
              ? distillation(k, 'ddim', state.student_sigmas)
              : distillation(k, 'consistency', consistencyGrid(student, 1)),
          };
          const objective = stageObjective(run, stageTeacher, state.teacher_sigmas);
          const heldout = pd
            ? {
                studentGrid: { sampler: 'ddim' as SamplerName, sigmas: state.student_sigmas },
                teacherSigmas: state.teacher_sigmas,
              }
            : {
                studentGrid: {
                  sampler: 'consistency' as SamplerName,
                  sigmas: consistencyGrid(student, 1),
                },
                teacherSigmas: base,
              };
          const trained = await trainStage({
            out,
            run,
            state,
            teacher: stageTeacher,
            student,
            studentConfig,
            objective,
            dataset,
            heldout,
            label,
            io,
            json: r.json,
            events: r.events,
            plannedStages: pd ? halvingStages(base, run.min_steps).length : 1,
            started,
            budget: r.budget,
            group: r.group ?? null,
          });
          state = trained.state;
          if (trained.cancelled) return { cancelled: true as const, state };
        } finally {
          student.dispose();
          if (stageTeacher !== teacher) stageTeacher.dispose();
        }
        say(`${label}: ${state.stop_reason}`);
      }

      // Evaluating: deterministic, so a resumed run redoes it and gets the same numbers.
      const record = await evaluateStage({
        out,
        run,
        teacher,
        state,
        stage: k,
        fromSteps: pd ? fromSteps : 32,
        label,
        toSteps,
        ruler,
        reference,
        budgetRule,
        distillation,
        progress,
        endPhase: () => bars.done(),
        say,
      });
      const last = record.evals.at(-1);
      // Each rank measured the stage; rank 0's verdict is the group's.
      if (last && r.group) last.proceed = rankZeroValue(last.proceed ? 1 : 0) > 0;
      if (r.json && r.events && last)
        io.out(
          JSON.stringify({
            event: 'stage',
            stage: k,
            steps: last.steps,
            fd: last.fd,
            fd_std: last.fd_std,
            decision: last.proceed ? 'continue' : 'stop',
            met_budget: last.met_budget,
            reason: last.reason,
          }),
        );
      const next = pd ? halvingStages(base, run.min_steps)[k] : undefined;
      if (pd && last?.proceed && next) {
        state = {
          ...state,
          stage: k + 1,
          phase: 'training',
          teacher_dir: stageDir(out, k),
          student_from: stageDir(out, k),
          teacher_sigmas: next.teacherSigmas,
          student_sigmas: next.studentSigmas,
          slot: null,
          iter: 0,
          heldout: [],
          stop_reason: null,
          stage_wall_s: 0,
          stages: [...state.stages, record],
        };
      } else {
        state = { ...state, phase: 'done', stages: [...state.stages, record] };
      }
      writeState(out, state);
      // The stage's end, for an agent to upload: a re-leased job starts at the next stage.
      if (r.json && r.events)
        io.out(JSON.stringify(snapshotRun(out, state, k * run.max_iters_per_stage)));
    }
    // Every model timed again in one sitting (latency.ts): the stages' own timings are hours
    // apart. Rank 0 alone, so ranks sharing a machine do not time each other's load.
    // A failure here must not cost the finished run its trade-off and kept student: the
    // stages' own timings stand in, and the message says why.
    let latency: RunLatency | null = null;
    if (!r.group || r.group.rank === 0) {
      try {
        const subjects = latencySubjects(
          { dir: run.teacher, weightsSha256: run.teacher_sha256 },
          reference.sigmas,
          state,
        );
        const kept = readRunLatency(out, subjects);
        if ('latency' in kept) {
          latency = kept.latency;
          say(`latency: every model as timed together before (${LATENCY_FILE})`);
        } else {
          say(`latency: ${kept.unusable}; timing every model together`);
          latency = await measureRunLatency({
            out,
            subjects,
            teacher,
            batch: LATENCY_BATCH,
            onProgress: progress('latency, every model together'),
          });
          bars.done();
        }
      } catch (err) {
        bars.done();
        io.err(
          `latency: could not time the models together (${(err as Error).message}); the trade-off uses each stage's own timing`,
        );
      }
    }
    return {
      cancelled: false as const,
      state,
      reference,
      latency,
      floorFd: ruler.floor.fd,
      wall: (Date.now() - started) / 1000,
    };
  } finally {
    teacher.dispose();
  }
}
