// `anneal distill`'s run: the reference, then stage after stage (train until the plateau rule
// stops, measure, decide), then the kept student and the trade-off analysis. Every step
// leaves distill-state.json such that --resume continues where the run was.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CONFIG_FILE,
  consistencySigmas,
  loadNative,
  type MemoryBudget,
  Model,
  type ModelConfig,
  type SamplerName,
  type TrainingObjective,
  writeFileAtomic,
} from '@anneal/engine';
import type { CommandIO } from '../commands/command.ts';
import { ProgressBar } from '../progress.ts';
import { qualityRuler } from '../quality/evaluate.ts';
import { modelDataset } from '../quality/model-dataset.ts';
import { type Measured, measureModel, type SamplingGrid } from './measure.ts';
import { obtainReference, type Reference, referenceGrid } from './reference.ts';
import { decideStage, halvingStages, keptStage, stageLabel } from './stages.ts';
import {
  type DistillState,
  type EvalRecord,
  type RunSettings,
  readState,
  type StageRecord,
  stageDir,
  writeState,
} from './state.ts';
import { type Tradeoff, tradeoffJson, tradeoffMarkdown, tradeoffSvg } from './tradeoff.ts';
import { trainStage } from './train-stage.ts';

export interface DistillRun {
  out: string;
  run: RunSettings;
  io: CommandIO;
  json: boolean;
  events: boolean;
  home?: string;
  budget?: MemoryBudget;
}

/** Samples per timed batch when measuring latency. */
const LATENCY_BATCH = 16;

/** The consistency sampler's default grid for `steps` (Karras rho 7, the boundary dropped). */
function consistencyGrid(model: Model, steps: number): number[] {
  const { sigmaMin, sigmaMax } = model.sigmaRange();
  const s = loadNative().sampling.sigmas({
    steps: steps + 1,
    schedule: 'karras',
    sigmaMin,
    sigmaMax,
  });
  s.splice(s.length - 2, 1);
  return s;
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

function evalRecord(
  name: string,
  grid: SamplingGrid,
  m: Measured,
  decision: ReturnType<typeof decideStage>,
): EvalRecord {
  return {
    name,
    steps: grid.sigmas.length - 1,
    sampler: grid.sampler,
    sigmas: grid.sigmas,
    nfe: m.nfe,
    fd: m.metrics.fd,
    fd_std: m.fdSpread.std,
    fd_low: m.fdSpread.low,
    fd_high: m.fdSpread.high,
    kid: m.metrics.kid,
    kid_std: m.metrics.kidStd,
    precision: m.metrics.precision,
    recall: m.metrics.recall,
    paired: m.paired
      ? {
          psnr: Number.isFinite(m.paired.psnr) ? m.paired.psnr : null,
          ssim: m.paired.ssim,
          feature_distance: m.paired.featureDistance,
        }
      : null,
    latency_ms_per_image: m.latencyMsPerImage,
    images_per_s: m.imagesPerS,
    peak_memory_bytes: m.peakMemoryBytes,
    parameters: m.parameters,
    fd_ratio: decision.ratio,
    met_budget: decision.metBudget,
    proceed: decision.proceed,
    reason: decision.reason,
  };
}

/** The least time between two progress events of a measuring phase. */
const PROGRESS_EVENT_MS = 500;

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
    let bar: ProgressBar | undefined;
    let phase = '';
    let lastEvent = 0;
    // The measuring phases (extractor, reference, each stage's evaluation) as progress
    // events of their own phase, at most one per PROGRESS_EVENT_MS and the last always.
    const progress = (p: string) => (done: number, total: number) => {
      if (p !== phase) {
        bar?.done();
        bar = new ProgressBar(total, p);
        phase = p;
      }
      bar?.update(done);
      const now = Date.now();
      const due = done === total || now - lastEvent >= PROGRESS_EVENT_MS;
      if (r.json && r.events && total >= 1 && due) {
        lastEvent = now;
        io.out(JSON.stringify({ event: 'progress', phase: p, step: done, total }));
      }
    };
    const ruler = await qualityRuler({
      dataset,
      n: run.eval_n,
      seed: run.seed,
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
      onProgress: progress('reference (DDIM 32)'),
    });
    bar?.done();
    say(
      `reference: DDIM 32 steps, FD ${reference.metrics.fd.toFixed(4)} ± ${reference.fdSpread.std.toFixed(4)} at n = ${run.eval_n}${reference.cached ? ' (cached)' : ''}; real-vs-real floor ${ruler.floor.fd.toFixed(4)}`,
    );
    const base = referenceGrid(teacher.config);
    const cdSigmas =
      run.method === 'consistency' ? consistencySigmas(teacher, run.cd_discretization) : [];
    const metricsPath = join(out, 'metrics.jsonl');
    let state: DistillState | null = readState(out);
    if (state) truncateMetrics(metricsPath, state);
    else {
      state = initialState(r, base, cdSigmas);
      writeFileSync(metricsPath, '');
      writeState(out, state);
    }
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
      const label = pd ? stageLabel({ stage: k, fromSteps, toSteps }) : `stage ${k} (consistency)`;
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
          const objective: TrainingObjective = pd
            ? {
                kind: 'progressive',
                teacher: stageTeacher,
                sigmas: state.teacher_sigmas,
                weighting: run.weighting,
              }
            : {
                kind: 'consistency-distillation',
                teacher: stageTeacher,
                sigmas: state.teacher_sigmas,
              };
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
      const student = Model.load(stageDir(out, k));
      let record: StageRecord;
      try {
        const grids: Array<{ name: string; grid: SamplingGrid; toSteps: number }> = pd
          ? [{ name: label, grid: { sampler: 'ddim', sigmas: state.student_sigmas }, toSteps }]
          : [2, 1]
              .filter((s) => s >= run.min_steps)
              .map((s) => ({
                name: `consistency ${s} step${s === 1 ? '' : 's'}`,
                grid: {
                  sampler: 'consistency' as SamplerName,
                  sigmas: consistencyGrid(student, s),
                },
                toSteps: s,
              }));
        const evals: EvalRecord[] = [];
        for (const g of grids) {
          const m = await measureModel({
            ruler,
            model: student,
            grid: g.grid,
            n: run.eval_n,
            seed: run.seed,
            reference,
            latencyBatch: LATENCY_BATCH,
            onProgress: progress(`measure ${g.name}`),
          });
          bar?.done();
          const decision = decideStage(
            { stage: k, fromSteps: pd ? fromSteps : 32, toSteps: g.toSteps, fd: m.metrics.fd },
            budgetRule,
          );
          const e = evalRecord(g.name, g.grid, m, decision);
          evals.push(e);
          appendFileSync(metricsPath, `${JSON.stringify({ stage: k, event: 'eval', ...e })}\n`);
          say(`${decision.reason} (FD ${m.metrics.fd.toFixed(4)} ± ${m.fdSpread.std.toFixed(4)})`);
        }
        record = {
          stage: k,
          from_steps: pd ? fromSteps : 32,
          to_steps: Math.min(...evals.map((e) => e.steps)),
          iterations: state.iter,
          stop_reason: state.stop_reason ?? '',
          dir: stageDir(out, k),
          wall_s: state.stage_wall_s,
          evals,
        };
        writeFileSync(join(stageDir(out, k), 'eval.json'), `${JSON.stringify(record, null, 2)}\n`);
        if (!pd) {
          // A consistency student samples by default with the fewest steps that met the budget.
          const best = [...evals].reverse().find((e) => e.met_budget) ?? evals.at(-1);
          if (best)
            writeFileAtomic(
              join(stageDir(out, k), CONFIG_FILE),
              `${JSON.stringify({ ...student.config, distillation: distillation(k, 'consistency', best.sigmas) }, null, 2)}\n`,
            );
        }
      } finally {
        student.dispose();
      }
      const last = record.evals.at(-1);
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
    }
    return {
      cancelled: false as const,
      state,
      reference,
      floorFd: ruler.floor.fd,
      wall: (Date.now() - started) / 1000,
    };
  } finally {
    teacher.dispose();
  }
}

/** Writes tradeoff.{md,json,svg}; returns the rows' decisions and the kept student. */
export function writeAnalysis(
  out: string,
  run: RunSettings,
  state: DistillState,
  reference: Reference,
  floorFd: number,
) {
  const flat = state.stages.flatMap((s) =>
    s.evals.map((e) => ({
      ...e,
      stage: s.stage,
      dir: s.dir,
      decision: { metBudget: e.met_budget },
    })),
  );
  const kept = keptStage(flat);
  const t: Tradeoff = {
    n: run.eval_n,
    referenceFd: reference.metrics.fd,
    floorFd,
    budget: run.budget,
    rows: [
      {
        name: 'reference (DDIM 32)',
        steps: 32,
        nfe: reference.nfe,
        latencyMsPerImage: reference.latencyMsPerImage,
        imagesPerS: reference.imagesPerS,
        parameters: reference.parameters,
        peakMemoryBytes: reference.peakMemoryBytes,
        fd: reference.metrics.fd,
        fdStd: reference.fdSpread.std,
        kid: reference.metrics.kid,
        precision: reference.metrics.precision,
        recall: reference.metrics.recall,
        paired: null,
        decision: 'reference',
      },
      ...flat.map((e) => ({
        name: e.name,
        steps: e.steps,
        nfe: e.nfe,
        latencyMsPerImage: e.latency_ms_per_image,
        imagesPerS: e.images_per_s,
        parameters: e.parameters,
        peakMemoryBytes: e.peak_memory_bytes,
        fd: e.fd,
        fdStd: e.fd_std,
        kid: e.kid,
        precision: e.precision,
        recall: e.recall,
        paired: e.paired
          ? { psnr: e.paired.psnr, ssim: e.paired.ssim, featureDistance: e.paired.feature_distance }
          : null,
        decision: e === kept ? 'kept' : e.met_budget ? 'within budget' : 'over budget',
      })),
    ],
  };
  writeFileSync(join(out, 'tradeoff.md'), tradeoffMarkdown(t));
  writeFileSync(join(out, 'tradeoff.json'), `${JSON.stringify(tradeoffJson(t), null, 2)}\n`);
  writeFileSync(join(out, 'tradeoff.svg'), tradeoffSvg(t));
  return { kept };
}
