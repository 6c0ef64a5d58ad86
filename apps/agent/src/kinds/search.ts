import { cpSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { candidateNameSchema, SEARCH_ARTIFACTS, type SearchSpec } from '@anneal/protocol';
import { z } from 'zod';
import { fetchModel } from '../daemon/fetch-model.ts';
import { SEARCH_FILE } from '../search/state.ts';
import { type AgentJobKind, type JobOutput, SUMMARY_FILE } from './kind.ts';
import { num } from './model-flags.ts';

// A search job's folders are the job's, not the lease's (<work root>/<job>/teacher and
// /search): a re-leased job on this agent finds its search.json and goes on with
// `anneal search --resume`, repeating at most one candidate's measurement or checkpoint
// interval. There is no resume from an upload, as distill has: the search's measurements
// are this machine's (its hardware profile is in search.json), so on another agent a search
// starts over. A job with `from` takes over a search folder the agent's user ran from the
// command line (copied into the job's folder, then resumed), so a CLI search's winners are
// registered like a job's. The agent's work root is cleared of the job once it succeeded and
// its outputs are uploaded.
const teacherDir = (work: string) => join(dirname(work), 'teacher');
const searchDir = (work: string) => join(dirname(work), 'search');

/**
 * The `anneal search` arguments of a job: a search already in `out` (an earlier attempt's on
 * this agent) goes on with its own settings; otherwise a new one from the spec.
 */
export function searchArgs(s: SearchSpec, teacher: string, out: string, resume: boolean): string[] {
  // The teacher's place is named on a resume too: a search taken over (`from`) recorded its own.
  if (resume)
    return ['search', '--resume', '--out', out, '--teacher', teacher, '--json', '--events'];
  const args = ['search', '--teacher', teacher, '--out', out, '--objective', s.objective];
  if (s.latency_ms !== undefined) args.push('--latency-ms', String(s.latency_ms));
  if (s.speedup !== undefined) args.push('--speedup', String(s.speedup));
  args.push('--pool', String(s.pool), '--fit-sample', String(s.fit_sample));
  args.push('--first-iters', String(s.first_iters), '--eta', String(s.eta));
  args.push('--rungs', String(s.rungs), '--winners', String(s.winners));
  args.push('--full-iters', String(s.full_iters), '--eval-n', String(s.eval_n));
  args.push('--full-schedule', s.full_schedule);
  if (s.correlate > 0) args.push('--correlate', String(s.correlate));
  args.push('--sampler', s.sampler, '--steps', String(s.steps), '--seed', String(s.seed));
  if (s.extractor_steps !== undefined) args.push('--extractor-steps', String(s.extractor_steps));
  if (s.extractor_width !== undefined) args.push('--extractor-width', String(s.extractor_width));
  args.push('--json', '--events');
  return args;
}

/**
 * Copies the search folder `from` (on this agent) into the job's: the job resumes it from there,
 * and the folder the user ran is left as it was.
 */
export function adoptSearch(from: string, out: string): void {
  if (!existsSync(join(from, SEARCH_FILE)))
    throw new AppError(
      'NOT_FOUND',
      `from: ${from} holds no search on this agent (no ${SEARCH_FILE}); run the job on the agent where \`anneal search --out ${from}\` ran`,
    );
  // Copied beside, then moved in: a lease lost mid-copy leaves no half search to resume.
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(from, tmp, { recursive: true });
  // `out` holds no search.json (else the job resumes it): nothing there to keep.
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

export const searchAgentKind: AgentJobKind<'search'> = {
  type: 'search',
  submit: {
    usage: `same meaning and defaults as \`anneal search\`, measured on the agent that runs it; each
evaluated winner becomes a model version of <teacher>-search with lineage to the teacher
--teacher MODEL_VERSION_ID [--objective latency|throughput] [--latency-ms X | --speedup F]
[--pool N] [--fit-sample N] [--first-iters N] [--eta N] [--rungs N] [--winners N]
[--full-iters N] [--full-schedule constant|cooldown|cosine] [--correlate N] [--from DIR] [--eval-n N] [--sampler S] [--steps N] [--seed N]
[--extractor-steps N] [--extractor-width N]`,
    options: {
      teacher: { type: 'string' },
      objective: { type: 'string' },
      'latency-ms': { type: 'string' },
      speedup: { type: 'string' },
      pool: { type: 'string' },
      'fit-sample': { type: 'string' },
      'first-iters': { type: 'string' },
      eta: { type: 'string' },
      rungs: { type: 'string' },
      winners: { type: 'string' },
      'full-iters': { type: 'string' },
      'full-schedule': { type: 'string' },
      correlate: { type: 'string' },
      from: { type: 'string' },
      'eval-n': { type: 'string' },
      sampler: { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      'extractor-steps': { type: 'string' },
      'extractor-width': { type: 'string' },
    },
    flags: z.object({
      teacher: z.string().optional(),
      objective: z.string().optional(),
      'latency-ms': num,
      speedup: num,
      pool: num,
      'fit-sample': num,
      'first-iters': num,
      eta: num,
      rungs: num,
      winners: num,
      'full-iters': num,
      // The job's schema names the schedules when this one is not among them.
      'full-schedule': z.string().optional(),
      correlate: num,
      from: z.string().optional(),
      'eval-n': num,
      // The job's schema names the samplers when this one is not among them.
      sampler: z.string().optional(),
      steps: num,
      seed: num,
      'extractor-steps': num,
      'extractor-width': num,
    }),
    spec: (f) => ({
      teacher: f.teacher,
      objective: f.objective,
      latency_ms: f['latency-ms'],
      speedup: f.speedup,
      pool: f.pool,
      fit_sample: f['fit-sample'],
      first_iters: f['first-iters'],
      eta: f.eta,
      rungs: f.rungs,
      winners: f.winners,
      full_iters: f['full-iters'],
      full_schedule: f['full-schedule'],
      correlate: f.correlate,
      // A folder on the agent: absolute, as the agent's process may run elsewhere.
      from: typeof f.from === 'string' ? resolve(f.from) : undefined,
      eval_n: f['eval-n'],
      sampler: f.sampler,
      steps: f.steps,
      seed: f.seed,
      extractor_steps: f['extractor-steps'],
      extractor_width: f['extractor-width'],
    }),
  },
  async args(s, { api, work }) {
    const teacher = teacherDir(work);
    const out = searchDir(work);
    // Fetched again on a resume: the same version's weights, which --resume checks by hash.
    await fetchModel(api, { kind: 'modelVersion', id: s.teacher }, teacher);
    if (s.from && !existsSync(join(out, SEARCH_FILE))) adoptSearch(s.from, out);
    return searchArgs(s, teacher, out, existsSync(join(out, SEARCH_FILE)));
  },
  /** The search's state, the summary it completed with, and each evaluated winner's checkpoint. */
  outputs(_, work) {
    const out = searchDir(work);
    const files: JobOutput[] = [
      { path: SEARCH_ARTIFACTS.state, file: join(out, SEARCH_FILE), what: 'the search state' },
      {
        path: SEARCH_ARTIFACTS.summary,
        file: join(work, SUMMARY_FILE),
        what: "the search's summary",
      },
    ];
    const winners = join(out, 'winners');
    const names = existsSync(winners)
      ? readdirSync(winners)
          .filter((name) => candidateNameSchema.safeParse(name).success)
          .sort()
      : [];
    for (const name of names)
      for (const file of ['config.json', 'model.safetensors'])
        files.push({
          path: `${SEARCH_ARTIFACTS.winner(name)}${file}`,
          file: join(winners, name, file),
          what: `winner ${name}'s ${file}`,
        });
    return files;
  },
};
