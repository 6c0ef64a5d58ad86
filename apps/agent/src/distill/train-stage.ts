// One distillation stage's training: the trainer runs in chunks of --eval-every iterations;
// after each chunk the student is checkpointed into the free slot, its held-out distillation
// loss measured, and only then the state names the new slot (atomically), so kill -9 at any
// moment resumes from a whole checkpoint and replays the same iterations bit for bit. SIGINT
// or SIGTERM stops at a step boundary and checkpoints there, so nothing trained is lost.
import { appendFileSync, copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import {
  anyRank,
  CONFIG_FILE,
  type GroupInfo,
  type MemoryBudget,
  MODEL_FILE,
  type Model,
  type ModelConfig,
  rankZeroValue,
  type SamplerName,
  Trainer,
  type TrainingObjective,
  writeFileAtomic,
} from '@anneal/engine';
import type { CommandIO } from '../commands/command.ts';
import { RANK_AGREE_EVERY } from '../commands/train-ranks.ts';
import type { LocalDataset } from '../dataset.ts';
import { ProgressBar } from '../progress.ts';
import { plateauDecision } from './plateau.ts';
import { snapshotRun } from './snapshot.ts';
import {
  type DistillState,
  otherSlot,
  type RunSettings,
  slotDir,
  stageDir,
  writeState,
} from './state.ts';

export interface StageTraining {
  out: string;
  run: RunSettings;
  state: DistillState;
  teacher: Model;
  student: Model;
  /** The student's config.json (with its distillation entry). */
  studentConfig: ModelConfig;
  objective: TrainingObjective;
  dataset: LocalDataset;
  /** Held-out loss: the student on `studentGrid` against the teacher on `teacherGrid`, same noise. */
  heldout: { studentGrid: { sampler: SamplerName; sigmas: number[] }; teacherSigmas: number[] };
  label: string;
  io: CommandIO;
  json: boolean;
  /** With --json: metrics and progress events on stdout (the distill job kind's). */
  events: boolean;
  /** Stages the run plans (the progressive halvings down to --min-steps; 1 for consistency). */
  plannedStages: number;
  started: number;
  /** Checked before the trainer allocates (estimate, teacher included) and after every step. */
  budget?: MemoryBudget;
  /**
   * Data-parallel: the group (each rank takes its share of every batch, the step sums the
   * gradients). A signal is then a request the ranks agree on every RANK_AGREE_EVERY
   * iterations, and rank 0's plateau decision is every rank's.
   */
  group: GroupInfo | null;
}

/** The held-out batch's noise seed: fixed per run, apart from the evaluation's. */
const heldoutSeed = (run: RunSettings) => run.seed + 7919;

function meanSquared(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] as number) - (b[i] as number)) ** 2;
  return s / a.length;
}

/** Copies a checkpoint's weights and config into `dir`, each by write-then-rename. */
export function publishStudent(from: string, dir: string, config: ModelConfig): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${MODEL_FILE}.tmp-${process.pid}`);
  copyFileSync(join(from, MODEL_FILE), tmp);
  renameSync(tmp, join(dir, MODEL_FILE));
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * Trains until the plateau rule (or the iteration cap) stops the stage; returns the state
 * with phase "evaluating" and the student published in stage-K/, or the state reached when
 * cancelled (SIGINT/SIGTERM): a checkpoint-consistent state --resume continues from.
 */
export async function trainStage(
  t: StageTraining,
): Promise<{ state: DistillState; cancelled: boolean }> {
  const { run, out } = t;
  let state = t.state;
  const k = state.stage;
  const trainer = Trainer.create({
    model: t.student,
    shards: t.dataset.train,
    numClasses: t.teacher.config.dataset?.num_classes ?? 0,
    batch: run.batch,
    totalSteps: run.max_iters_per_stage,
    lr: run.lr,
    warmup: Math.min(100, Math.floor(run.max_iters_per_stage / 10)),
    // The plateau rule may end a stage at any iteration, so no schedule that assumes an end.
    lrSchedule: 'constant',
    emaDecay: run.ema_decay,
    gradClip: 1,
    // A different data order per stage, the same one on every resume.
    seed: run.seed + k,
    dtype: 'float32',
    cfgDropout: 0,
    objective: t.objective,
    budget: t.budget,
    dataParallel: t.group !== null,
  });
  if (state.slot) {
    trainer.resume(slotDir(out, k, state.slot));
    if (trainer.step !== state.iter)
      throw new Error(
        `${slotDir(out, k, state.slot)} holds step ${trainer.step}, the state says ${state.iter}`,
      );
  }
  const spec = { n: run.heldout_n, seed: heldoutSeed(run), guidance: 1, returnValues: true };
  // The teacher's answer on the held-out noise: deterministic (DDIM, eta 0), so a resumed
  // stage recomputes exactly the target it had.
  const target = await t.teacher.sample({
    ...spec,
    sampler: 'ddim',
    sigmas: t.heldout.teacherSigmas,
  });
  const heldoutLoss = async () => {
    const ema = trainer.ema();
    try {
      const r = await ema.sample({ ...spec, ...t.heldout.studentGrid });
      return meanSquared(r.values as Float32Array, target.values as Float32Array);
    } finally {
      ema.dispose();
    }
  };
  const rule = {
    window: run.plateau_window,
    threshold: run.plateau_threshold,
    // ECT's curriculum is laid over the whole stage (the gap is still halving until its
    // end), so consistency training runs to the cap; its held-out loss is only reported.
    minIters: run.method === 'consistency-training' ? run.max_iters_per_stage : 0,
    maxIters: run.max_iters_per_stage,
  };
  const metricsPath = join(out, 'metrics.jsonl');
  const log = (line: Record<string, unknown>) => {
    appendFileSync(metricsPath, `${JSON.stringify(line)}\n`);
  };
  // Events count iterations over the whole run (stage k's start after k - 1 full stages), so
  // a job's metrics and progress rise across stages; each line also names its stage.
  const maxIters = run.max_iters_per_stage;
  const runStep = (iter: number) => (k - 1) * maxIters + iter;
  const runTotal = Math.max(k, t.plannedStages) * maxIters;
  const event = (line: Record<string, unknown>) => {
    if (t.events) t.io.out(JSON.stringify(line));
  };
  const resumedAt = Date.now();
  const bar = new ProgressBar(run.max_iters_per_stage, t.label);
  bar.start(trainer.step);
  let cancelled = false;
  // One process cancels at once; ranks stop together at the next boundary they agree on (a
  // rank that stopped alone would leave the others waiting inside a step).
  let asked = false;
  const onSignal = () => {
    asked = true;
    if (!t.group) trainer.cancel();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!cancelled) {
      // A signal that came during the held-out evaluation or a save: the trainer's next run
      // starts with its cancel flag cleared, so a lone process stops here instead.
      if (!t.group && asked) {
        cancelled = true;
        break;
      }
      const chunk = Math.min(
        run.eval_every - (trainer.step % run.eval_every),
        run.max_iters_per_stage - trainer.step,
        t.group ? RANK_AGREE_EVERY - (trainer.step % RANK_AGREE_EVERY) : Number.POSITIVE_INFINITY,
      );
      const it = trainer.run(chunk);
      while (true) {
        const next = await it.next();
        if (next.done) {
          cancelled = next.value.cancelled;
          break;
        }
        const r = next.value;
        if (r.rolledBack) {
          log({ stage: k, iter: r.restoredTo, event: 'rollback', lr_scale: r.lrScale });
          continue;
        }
        if (r.step % run.log_every === 0) {
          const line = {
            stage: k,
            iter: r.step,
            loss: r.loss,
            lr: r.lr,
            grad_norm: r.gradNorm,
            peak_memory_bytes: r.peakBytes,
            wall_s: (Date.now() - t.started) / 1000,
          };
          log(line);
          event({ event: 'metrics', ...line, step: runStep(r.step), total: runTotal });
        }
        bar.update(r.step, `loss ${r.loss.toFixed(4)}`);
      }
      if (t.group && !cancelled) cancelled = anyRank(asked);
      const atBoundary =
        trainer.step % run.eval_every === 0 || trainer.step >= run.max_iters_per_stage;
      // Stopped with nothing trained since the state: nothing to keep.
      if (cancelled && trainer.step === state.iter) break;
      if (cancelled && !atBoundary) {
        // Keep what was trained since the last checkpoint: a whole checkpoint in the free slot,
        // then the state names it. Its held-out loss waits for the next --eval-every boundary.
        // (Stopped on a boundary, the boundary's own checkpoint and evaluation below run first,
        // so a resumed stage has every held-out loss the uninterrupted one has.)
        const slot = otherSlot(state.slot);
        const dir = slotDir(out, k, slot);
        mkdirSync(dir, { recursive: true });
        trainer.saveCheckpoint(dir, t.studentConfig);
        state = {
          ...state,
          slot,
          iter: trainer.step,
          stage_wall_s: t.state.stage_wall_s + (Date.now() - resumedAt) / 1000,
        };
        writeState(out, state);
        if (t.events) event(snapshotRun(out, state, runStep(trainer.step)));
        break;
      }
      // Between held-out evaluations, ranks only agree on stopping.
      if (t.group && !atBoundary) continue;
      const slot = otherSlot(state.slot);
      const dir = slotDir(out, k, slot);
      mkdirSync(dir, { recursive: true });
      trainer.saveCheckpoint(dir, t.studentConfig);
      const loss = await heldoutLoss();
      const heldout = [...state.heldout, { iter: trainer.step, loss }];
      const own = plateauDecision(heldout, rule);
      // Rank 0's decision is the group's (each rank's own loss may differ in the last bits).
      const d = t.group ? { ...own, stop: rankZeroValue(own.stop ? 1 : 0) > 0 } : own;
      log({
        stage: k,
        iter: trainer.step,
        event: 'heldout',
        heldout_loss: loss,
        improvement: d.improvement,
      });
      event({
        event: 'progress',
        phase: t.label,
        stage: k,
        iteration: trainer.step,
        stage_total: maxIters,
        heldout_loss: loss,
        step: runStep(trainer.step),
        total: runTotal,
      });
      if (!t.json && !process.stderr.isTTY)
        t.io.err(`${t.label}: iteration ${trainer.step}, held-out loss ${loss.toExponential(4)}`);
      const stageWall = t.state.stage_wall_s + (Date.now() - resumedAt) / 1000;
      if (d.stop) publishStudent(dir, stageDir(out, k), t.studentConfig);
      state = {
        ...state,
        slot,
        iter: trainer.step,
        heldout,
        stage_wall_s: stageWall,
        ...(d.stop ? { phase: 'evaluating' as const, stop_reason: d.reason } : {}),
      };
      writeState(out, state);
      // Each committed slot, for an agent to upload: another machine resumes from it.
      if (t.events) event(snapshotRun(out, state, runStep(trainer.step)));
      if (d.stop || cancelled) break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    bar.done();
  }
  return { state, cancelled };
}
