import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointFilePath } from '../daemon/supervisor.ts';
import { adoptDownloadedRun } from '../kinds/distill.ts';
import { resumeFiles, snapshotRun } from './snapshot.ts';
import {
  type DistillState,
  furtherAlong,
  type RunSettings,
  relocateState,
  stateSchema,
  writeState,
} from './state.ts';

// The files a distillation run hands another machine, and how that machine takes them: a
// run folder laid out as `anneal distill` leaves it mid-stage 2, written by hand.

const state = (over: Partial<DistillState> = {}): DistillState =>
  stateSchema.parse({
    version: 1,
    stage: 2,
    phase: 'training',
    teacher_dir: '/elsewhere/job/distill/stage-1',
    student_from: '/elsewhere/job/distill/stage-1',
    teacher_sigmas: [3, 2, 1, 0],
    student_sigmas: [3, 1, 0],
    slot: 'b',
    iter: 20,
    heldout: [{ iter: 10, loss: 0.5 }],
    stop_reason: null,
    stages: [
      {
        stage: 1,
        from_steps: 32,
        to_steps: 16,
        iterations: 30,
        stop_reason: 'plateau',
        dir: '/elsewhere/job/distill/stage-1',
        wall_s: 1,
        evals: [],
      },
    ],
    ...over,
  });

let out: string;
const touch = (rel: string, body = rel) => {
  mkdirSync(join(out, rel, '..'), { recursive: true });
  writeFileSync(join(out, rel), body);
};

beforeEach(() => {
  out = mkdtempSync(join(tmpdir(), 'anneal-distill-snapshot-'));
  for (const f of ['distill.json', 'metrics.jsonl']) touch(f);
  for (const f of ['model.safetensors', 'config.json', 'eval.json']) touch(`stage-1/${f}`);
  for (const slot of ['a', 'b'])
    for (const f of ['model.safetensors', 'trainer_state.safetensors'])
      touch(`stage-1/checkpoint-${slot}/${f}`);
  for (const slot of ['a', 'b']) touch(`stage-2/checkpoint-${slot}/model.safetensors`);
  touch('snapshots/step-10/distill.json');
  writeState(out, state());
});
afterEach(() => rmSync(out, { recursive: true, force: true }));

describe('a distillation run handed to another machine', () => {
  it('lists the settings, metrics, finished students and the named slot, the state last', () => {
    expect(resumeFiles(out, state())).toEqual([
      'distill.json',
      'metrics.jsonl',
      'stage-1/config.json',
      'stage-1/eval.json',
      'stage-1/model.safetensors',
      'stage-2/checkpoint-b/model.safetensors',
      'distill-state.json',
    ]);
    // Evaluating: the stage's published student instead of its trainer slot.
    touch('stage-2/model.safetensors');
    expect(resumeFiles(out, state({ phase: 'evaluating' }))).toContain('stage-2/model.safetensors');
    expect(resumeFiles(out, state({ phase: 'evaluating' }))).not.toContain(
      'stage-2/checkpoint-b/model.safetensors',
    );
    // A stage's first chunk not yet committed: no slot to send.
    expect(resumeFiles(out, state({ slot: null, iter: 0 })).join(' ')).not.toMatch(/stage-2/);
  });

  it('copies them aside with their layout, so the run can write on while they upload', () => {
    const event = snapshotRun(out, state(), 50);
    expect(event).toMatchObject({ event: 'checkpoint', step: 50 });
    expect(event.dir).toBe(join(out, 'snapshots', 'step-50'));
    for (const f of event.files)
      expect(readFileSync(join(event.dir, f), 'utf8')).toBe(readFileSync(join(out, f), 'utf8'));
  });

  it('rebases the folders a state names onto the run folder and teacher it is resumed with', () => {
    const run = { teacher: '/here/teacher' } as RunSettings;
    const moved = relocateState(out, run, state({ teacher_dir: '/elsewhere/job/teacher' }));
    expect(moved.teacher_dir).toBe('/here/teacher');
    expect(moved.student_from).toBe(join(out, 'stage-1'));
    expect(moved.stages[0]?.dir).toBe(join(out, 'stage-1'));
  });

  it('orders states by stage, then phase, then iteration', () => {
    expect(furtherAlong(state({ stage: 3, iter: 0 }), state())).toBe(true);
    expect(furtherAlong(state({ phase: 'evaluating', iter: 5 }), state())).toBe(true);
    expect(furtherAlong(state({ iter: 30 }), state())).toBe(true);
    expect(furtherAlong(state(), state())).toBe(false);
    expect(furtherAlong(state({ stage: 1, phase: 'done' }), state())).toBe(false);
  });

  it('resumes from the download only when it is further along than the job folder', () => {
    const own = mkdtempSync(join(tmpdir(), 'anneal-distill-own-'));
    try {
      // The job's own folder is ahead (its last chunk was never uploaded): it stays.
      writeState(own, state({ iter: 40 }));
      expect(adoptDownloadedRun(out, own)).toBe('own');
      expect(
        stateSchema.parse(JSON.parse(readFileSync(join(own, 'distill-state.json'), 'utf8'))).iter,
      ).toBe(40);
      // Behind (or absent): the download replaces it.
      writeState(own, state({ iter: 10 }));
      expect(adoptDownloadedRun(out, own)).toBe('downloaded');
      expect(readFileSync(join(own, 'stage-1/eval.json'), 'utf8')).toBe('stage-1/eval.json');
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('refuses a resume artifact path that would leave the job folder', () => {
    expect(checkpointFilePath('checkpoints/latest/stage-2/checkpoint-b/model.safetensors')).toEqual(
      ['stage-2', 'checkpoint-b', 'model.safetensors'],
    );
    expect(checkpointFilePath('samples/index.json')).toEqual(['samples', 'index.json']);
    for (const bad of [
      'checkpoints/latest/../x',
      'checkpoints/latest//x',
      'outputs/model.safetensors',
    ])
      expect(() => checkpointFilePath(bad), bad).toThrow(/resume artifact/);
  });
});
