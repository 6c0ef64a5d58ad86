// What a distillation run needs to go on on another machine, copied aside so an agent can
// upload it while the run writes on: the settings, the metrics so far, every finished
// stage's student, the current stage's checkpoint slot (or its published student), and the
// state last. An upload that stops part way leaves the server's previous state in place, and
// that state names the other slot, which this upload never touches. The reference samples
// and the extractor are not in it: they are cached per machine and recomputed from the seed.
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CheckpointEvent } from '@anneal/protocol';
import { type DistillState, RUN_FILE, STATE_FILE } from './state.ts';

export const METRICS_FILE = 'metrics.jsonl';

/** The plain files directly in `dir`, as paths relative to the run folder under `prefix`. */
function filesIn(out: string, prefix: string): string[] {
  const dir = join(out, prefix);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isFile() && !name.includes('.tmp-'))
    .sort()
    .map((name) => `${prefix}/${name}`);
}

/** The run folder's files a resume needs at `state`, relative to it, distill-state.json last. */
export function resumeFiles(out: string, state: DistillState): string[] {
  const files = [RUN_FILE];
  if (existsSync(join(out, METRICS_FILE))) files.push(METRICS_FILE);
  // Finished stages: their students (the next stage's teacher, the analysis's rows); the
  // current one's student once published. Never their trainer slots: a finished stage needs none.
  const last = state.phase === 'training' ? state.stage - 1 : state.stage;
  for (let k = 1; k <= last; k++) files.push(...filesIn(out, `stage-${k}`));
  if (state.phase === 'training' && state.slot)
    files.push(...filesIn(out, `stage-${state.stage}/checkpoint-${state.slot}`));
  files.push(STATE_FILE);
  return files;
}

/**
 * Copies the files of `resumeFiles` into DIR/snapshots/step-N (same layout) and returns the
 * checkpoint event that tells the agent to upload them; `step` counts iterations over the
 * whole run, so it rises across stages.
 */
export function snapshotRun(out: string, state: DistillState, step: number): CheckpointEvent {
  const dir = join(out, 'snapshots', `step-${step}`);
  const files = resumeFiles(out, state);
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(out, file), join(dir, file));
  }
  return { event: 'checkpoint', step, dir, files };
}
