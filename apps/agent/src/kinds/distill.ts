import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DISTILL_ARTIFACTS } from '@anneal/protocol';
import { z } from 'zod';
import { fetchModel } from '../daemon/fetch-model.ts';
import { LATENCY_FILE } from '../distill/latency.ts';
import { seedRankFolder } from '../distill/rank-folders.ts';
import { furtherAlong, readState } from '../distill/state.ts';
import type { AgentJobKind, JobOutput } from './kind.ts';
import { num } from './model-flags.ts';

// A distill job's folders are the job's, not the lease's (<work root>/<job>/teacher and
// /distill): a re-leased job on this agent finds the state of the stage it was in and goes
// on with `anneal distill --resume`, as a train job resumes from its checkpoint. The child
// also prints a checkpoint per committed slot and finished stage (the run folder's resume
// files), which the agent uploads; a job re-leased to another agent gets them downloaded
// into its lease's `out` and goes on from there. When both exist, the one further along
// wins (this disk's is usually newer than the last upload). The agent's work root is
// cleared of the job once it succeeded and its outputs are uploaded.
const teacherDir = (work: string) => join(dirname(work), 'teacher');
const distillDir = (work: string) => join(dirname(work), 'distill');

const stateIn = (dir: string) => {
  try {
    return readState(dir);
  } catch {
    return null; // unreadable: as good as absent (the other copy, or a fresh start, wins)
  }
};

/**
 * The run folder to resume: the job's own, replaced by the downloaded checkpoint in
 * `downloaded` when that one is further along (or the job's own has none).
 */
export function adoptDownloadedRun(downloaded: string, own: string): 'downloaded' | 'own' | null {
  const theirs = stateIn(downloaded);
  const mine = stateIn(own);
  if (theirs && (!mine || furtherAlong(theirs, mine))) {
    rmSync(own, { recursive: true, force: true });
    renameSync(downloaded, own);
    return 'downloaded';
  }
  return mine ? 'own' : null;
}

/**
 * The run folder a rank of a group resumes from. Every rank must start where the others do,
 * so the group's is the run's last upload (rank 0's), never a folder this disk kept from an
 * earlier attempt; without an upload every rank starts afresh. A rank other than 0 keeps its
 * own folder in DIR/ranks/rank-R (`anneal distill` does), seeded with a copy of the upload.
 */
export function groupRun(
  downloaded: string,
  own: string,
  resume: boolean,
  rank: number,
): 'downloaded' | null {
  rmSync(own, { recursive: true, force: true });
  if (!resume || !stateIn(downloaded)) return null;
  renameSync(downloaded, own);
  if (rank > 0) seedRankFolder(own, rank);
  return 'downloaded';
}

export const distillAgentKind: AgentJobKind<'distill'> = {
  type: 'distill',
  submit: {
    usage: `same meaning and defaults as \`anneal distill\`; each stage within budget becomes a
model version with lineage to the teacher
--teacher MODEL_VERSION_ID --method progressive|consistency|consistency-training
[--quality-budget X] [--min-steps N] [--max-iters-per-stage N] [--eval-n N] [--batch N]
[--lr X] [--seed N] [--eval-every N] [--plateau-window W] [--plateau-threshold X]
[--heldout-n N] [--ema-decay X] [--weighting truncated-snr|snr+1] [--cd-discretization N]
[--ect-q X] [--ect-halving-every N]
[--log-every N] [--extractor-steps N] [--extractor-width N]
[--ranks N]   N agents at once, one data-parallel rank each (docs/distributed.md)`,
    options: {
      teacher: { type: 'string' },
      method: { type: 'string' },
      'quality-budget': { type: 'string' },
      'min-steps': { type: 'string' },
      'max-iters-per-stage': { type: 'string' },
      'eval-n': { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'eval-every': { type: 'string' },
      'plateau-window': { type: 'string' },
      'plateau-threshold': { type: 'string' },
      'heldout-n': { type: 'string' },
      'ema-decay': { type: 'string' },
      weighting: { type: 'string' },
      'cd-discretization': { type: 'string' },
      'ect-q': { type: 'string' },
      'ect-halving-every': { type: 'string' },
      'log-every': { type: 'string' },
      'extractor-steps': { type: 'string' },
      'extractor-width': { type: 'string' },
      ranks: { type: 'string' },
    },
    flags: z.object({
      teacher: z.string().optional(),
      method: z.string().optional(),
      'quality-budget': num,
      'min-steps': num,
      'max-iters-per-stage': num,
      'eval-n': num,
      batch: num,
      lr: num,
      seed: num,
      'eval-every': num,
      'plateau-window': num,
      'plateau-threshold': num,
      'heldout-n': num,
      'ema-decay': num,
      weighting: z.string().optional(),
      'cd-discretization': num,
      'ect-q': num,
      'ect-halving-every': num,
      'log-every': num,
      'extractor-steps': num,
      'extractor-width': num,
      ranks: num,
    }),
    spec: (f) => ({
      teacher: f.teacher,
      method: f.method,
      quality_budget: f['quality-budget'],
      min_steps: f['min-steps'],
      max_iters_per_stage: f['max-iters-per-stage'],
      eval_n: f['eval-n'],
      batch: f.batch,
      lr: f.lr,
      seed: f.seed,
      eval_every: f['eval-every'],
      plateau_window: f['plateau-window'],
      plateau_threshold: f['plateau-threshold'],
      heldout_n: f['heldout-n'],
      ema_decay: f['ema-decay'],
      weighting: f.weighting,
      cd_discretization: f['cd-discretization'],
      ect_q: f['ect-q'],
      ect_halving_every: f['ect-halving-every'],
      log_every: f['log-every'],
      extractor_steps: f['extractor-steps'],
      extractor_width: f['extractor-width'],
      ranks: f.ranks,
    }),
  },
  async args(s, { api, work, out: downloaded, resume, offer }) {
    const teacher = teacherDir(work);
    const out = distillDir(work);
    // Fetched again on a resume: the same version's weights, which --resume checks by hash.
    await fetchModel(api, { kind: 'modelVersion', id: s.teacher }, teacher);
    const from = offer.group
      ? groupRun(downloaded, out, resume, offer.group.rank)
      : resume
        ? adoptDownloadedRun(downloaded, out)
        : stateIn(out)
          ? 'own'
          : null;
    // --teacher: the run may have started on another machine, with its teacher elsewhere.
    if (from)
      return ['distill', '--resume', '--teacher', teacher, '--out', out, '--json', '--events'];
    const args = ['distill', '--teacher', teacher, '--method', s.method, '--out', out];
    args.push('--quality-budget', String(s.quality_budget), '--min-steps', String(s.min_steps));
    args.push('--max-iters-per-stage', String(s.max_iters_per_stage));
    args.push('--eval-n', String(s.eval_n), '--batch', String(s.batch));
    args.push('--lr', String(s.lr), '--seed', String(s.seed));
    const optional: Array<[string, number | string | undefined]> = [
      ['--eval-every', s.eval_every],
      ['--plateau-window', s.plateau_window],
      ['--plateau-threshold', s.plateau_threshold],
      ['--heldout-n', s.heldout_n],
      ['--ema-decay', s.ema_decay],
      ['--weighting', s.weighting],
      ['--cd-discretization', s.cd_discretization],
      ['--ect-q', s.ect_q],
      ['--ect-halving-every', s.ect_halving_every],
      ['--log-every', s.log_every],
      ['--extractor-steps', s.extractor_steps],
      ['--extractor-width', s.extractor_width],
    ];
    for (const [flag, value] of optional) if (value !== undefined) args.push(flag, String(value));
    args.push('--json', '--events');
    return args;
  },
  /** Every stage's student (weights, config, eval.json) and the trade-off analysis. */
  outputs(_, work) {
    const out = distillDir(work);
    const files: JobOutput[] = [];
    const stages = existsSync(out)
      ? readdirSync(out)
          .map((name) => /^stage-(\d+)$/.exec(name))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => Number(m[1]))
          .sort((a, b) => a - b)
      : [];
    for (const k of stages)
      for (const name of ['config.json', 'model.safetensors', 'eval.json']) {
        const file = join(out, `stage-${k}`, name);
        if (existsSync(file))
          files.push({
            path: `${DISTILL_ARTIFACTS.stage(k)}${name}`,
            file,
            what: `stage ${k}'s ${name}`,
          });
      }
    const analysis: Array<[string, string]> = [
      [DISTILL_ARTIFACTS.tradeoffJson, 'tradeoff.json'],
      [DISTILL_ARTIFACTS.tradeoffSvg, 'tradeoff.svg'],
      [DISTILL_ARTIFACTS.tradeoffMd, 'tradeoff.md'],
      [DISTILL_ARTIFACTS.metrics, 'metrics.jsonl'],
    ];
    for (const [path, name] of analysis)
      files.push({ path, file: join(out, name), what: `the distillation's ${name}` });
    // Absent when rank 0 of a group ran elsewhere or the timing failed (the run says why).
    if (existsSync(join(out, LATENCY_FILE)))
      files.push({
        path: DISTILL_ARTIFACTS.latency,
        file: join(out, LATENCY_FILE),
        what: "the distillation's latency.json",
      });
    return files;
  },
};
