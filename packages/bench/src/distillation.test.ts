import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distillationSection, distillationTargets, readDistillationRun } from './distillation.ts';
import type { ResultFile } from './report-format.ts';

// A run folder as `anneal distill` leaves it (the fields the record reads), written by hand:
// the record reads files and runs nothing, so its verdicts can be checked on known numbers.
const root = mkdtempSync(join(tmpdir(), 'anneal-distill-record-'));
const teacher = join(root, 'models', 'teacher');
mkdirSync(teacher, { recursive: true });
writeFileSync(
  join(teacher, 'stages.jsonl'),
  `${JSON.stringify({ from_step: 0, to_step: 500, wall_s: 3600 })}\n${JSON.stringify({ from_step: 500, to_step: 1000, wall_s: 3600 })}\n`,
);

const row = (name: string, nfe: number, fd: number, teacherFd: number | null) => ({
  name,
  steps: nfe,
  nfe,
  latency_ms_per_image: 10 * nfe,
  images_per_s: 100 / nfe,
  parameters: 1000,
  peak_memory_bytes: 1 << 20,
  fd,
  fd_std: 0.01,
  fd_ratio: fd / 0.3,
  kid: 0,
  precision: 0.8,
  recall: 0.8,
  paired: name.startsWith('reference') ? null : { psnr: 30, ssim: 0.9, feature_distance: 0.1 },
  decision: name.startsWith('reference') ? 'reference' : 'within budget',
  teacher_best:
    teacherFd === null ? null : { sampler: 'dpmpp-2m', steps: nfe, fd: teacherFd, fd_std: 0.01 },
  pareto_nfe: true,
  pareto_latency: true,
});

function run(
  name: string,
  phase: 'training' | 'done',
  rows: unknown[] | null,
  evals: unknown[] = [],
  method = 'progressive',
) {
  const dir = join(root, 'models', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'distill.json'),
    JSON.stringify({
      version: 1,
      method,
      teacher,
      budget: 2,
      eval_n: 1000,
      max_iters_per_stage: 3000,
      batch: 32,
      lr: 1e-4,
    }),
  );
  writeFileSync(
    join(dir, 'distill-state.json'),
    JSON.stringify({
      stage: 3,
      phase,
      iter: 700,
      stage_wall_s: 1800,
      stages: [
        {
          stage: 1,
          from_steps: 32,
          to_steps: 16,
          iterations: 900,
          stop_reason: 'plateau',
          wall_s: 3600,
          evals,
        },
        {
          stage: 2,
          from_steps: 16,
          to_steps: 8,
          iterations: 1200,
          stop_reason: 'plateau',
          wall_s: 3600,
        },
      ],
    }),
  );
  // A stopped run has no tradeoff.json (anneal distill writes it when it ends).
  if (rows)
    writeFileSync(
      join(dir, 'tradeoff.json'),
      JSON.stringify({ n: 1000, reference_fd: 0.3, floor_fd: 0.23, budget: 2, rows }),
    );
  return dir;
}

describe('the distillation record', () => {
  it('reads a run, its wall time against the teacher, and judges the targets on its rows', () => {
    const dir = run('done', 'done', [
      row('reference (DDIM 32)', 32, 0.3, null),
      row('stage 3 (8 -> 4 steps)', 4, 0.36, 0.5), // 1.2x: met; beats 0.5
      row('stage 4 (4 -> 2 steps)', 2, 0.66, 0.6), // 2.2x: missed; does not beat 0.6
      row('stage 5 (2 -> 1 step)', 1, 1.5, 3.0),
    ]);
    const r = readDistillationRun(dir, root);
    expect(r).toMatchObject({
      dir: 'models/done',
      teacher: 'models/teacher',
      complete: true,
      current: null,
      distill_wall_s: 7200,
      teacher_train_wall_s: 7200,
    });
    const t = distillationTargets(r);
    expect(t.map((x) => x.verdict)).toEqual(['met', 'missed', 'reported', 'missed', 'reported']);
    expect(t[0]?.value).toBe('1.20x (FD 0.360)');
    expect(t[3]?.value).toBe('2 of 3 (not: 2 NFE)');
    expect(t[4]?.value).toBe('2.00 h / 2.00 h = 1.00');
  });

  it("shows each row's speed against the reference and how the latencies were timed", () => {
    const rows = [
      row('reference (DDIM 32)', 32, 0.3, null),
      row('consistency 1 step', 1, 1.5, 3.0),
    ];
    const dir = run('timed', 'done', rows, [], 'consistency');
    const section = () =>
      distillationSection({
        name: 'distillation',
        machine: {} as ResultFile['machine'],
        load_avg_end: [0, 0, 0],
        seconds: 0,
        options: {},
        result: { runs: [readDistillationRun(dir, root)] },
      });
    // 320 ms against 10 ms per image; no `latency` field: an older run, timed per stage.
    expect(section()).toContain('| 10.0 | 32.0x | within budget |');
    expect(section()).toContain('| 320.0 | 1.0x | reference |');
    expect(section()).toContain('each model timed at its own stage evaluation');
    const latency = {
      together: true,
      batch: 16,
      rounds: 5,
      load_avg_start: 1.5,
      load_avg_end: 1.25,
    };
    writeFileSync(
      join(dir, 'tradeoff.json'),
      JSON.stringify({ n: 1000, reference_fd: 0.3, floor_fd: 0.23, budget: 2, latency, rows }),
    );
    expect(section()).toContain(
      'every model timed together at the end of the run, interleaved, median of 5 calls at batch 16 (1-minute load average 1.50 before, 1.25 after)',
    );
    const write = (l: unknown) =>
      writeFileSync(
        join(dir, 'tradeoff.json'),
        JSON.stringify({ n: 1000, reference_fd: 0.3, floor_fd: 0.23, budget: 2, latency: l, rows }),
      );
    write({ ...latency, load_avg_end: null });
    expect(section()).toContain('batch 16 (1-minute load average 1.50 before); ratios');
    write({ ...latency, together: false, rounds: 3, load_avg_start: null, load_avg_end: null });
    expect(section()).toContain(
      'each model timed at its own stage evaluation (median of 3 calls at batch 16), hours apart',
    );
  });

  it('reports consistency training beside the distillations: the issue sets it no target', () => {
    const rows = [
      row('reference (DDIM 32)', 32, 0.3, null),
      row('consistency 2 steps', 2, 0.9, 0.6), // 3x, and worse than the teacher's best
      row('consistency 1 step', 1, 1.5, 3.0),
    ];
    const ct = readDistillationRun(run('ct', 'done', rows, [], 'consistency-training'), root);
    const t = distillationTargets(ct);
    expect(t.map((x) => [x.target, x.verdict])).toEqual([
      ['consistency training, 2 steps: FD / reference (reported)', 'reported'],
      ['consistency training, 1 step: FD / reference (reported)', 'reported'],
      ["each student beats the teacher's best sampler at its NFE", 'reported'],
      ["distillation wall time / the teacher's training wall time", 'reported'],
    ]);
    // Consistency distillation has its 2-step target.
    const cd = readDistillationRun(run('cd', 'done', rows, [], 'consistency'), root);
    expect(distillationTargets(cd).map((x) => x.verdict)).toEqual([
      'missed',
      'reported',
      'missed',
      'reported',
    ]);
  });

  it('marks a stopped run incomplete, counts the stage under way, and says what is not measured', () => {
    const dir = run('stopped', 'training', null);
    const r = readDistillationRun(dir, root);
    expect(r.complete).toBe(false);
    expect(r.current).toEqual({ stage: 3, iter: 700 });
    expect(r.distill_wall_s).toBe(9000);
    expect(distillationTargets(r).map((x) => x.verdict)).toEqual([
      'not yet measured',
      'not yet measured',
      'not yet measured',
      'not yet measured',
      'reported',
    ]);
    const file: ResultFile<{ runs: (typeof r)[] }> = {
      name: 'distillation',
      machine: {} as ResultFile['machine'],
      load_avg_end: [0, 0, 0],
      seconds: 0,
      options: {},
      result: { runs: [r] },
    };
    const md = distillationSection(file);
    expect(md).toContain('incomplete: stage 3 at iteration 700');
    expect(md).toContain('| 1 | 32 -> 16 | 900 | plateau | 1.00 |');
  });

  it("reads a stopped run's finished stages from its state", () => {
    const e = {
      name: 'stage 1 (32 -> 16 steps)',
      nfe: 16,
      fd: 0.33,
      fd_std: 0.01,
      fd_ratio: 1.1,
      precision: 0.8,
      recall: 0.8,
      latency_ms_per_image: 160,
      paired: { psnr: 30, ssim: 0.9 },
      met_budget: true,
      teacher_at_nfe: [
        { sampler: 'ddim', steps: 16, fd: 0.4 },
        { sampler: 'dpmpp-2m', steps: 16, fd: 0.35 },
      ],
    };
    const r = readDistillationRun(run('partial', 'training', null, [e]), root);
    expect(r.tradeoff?.reference_fd).toBeCloseTo(0.3, 12);
    expect(r.tradeoff?.rows).toHaveLength(1);
    expect(r.tradeoff?.rows[0]?.teacher_best).toMatchObject({ sampler: 'dpmpp-2m', fd: 0.35 });
    expect(distillationTargets(r).at(-2)).toMatchObject({ value: '1 of 1', verdict: 'met' });
    expect(r.tradeoff?.floor_fd).toBeNull();
    // With the run's kept reference, its FD and the floor come from there.
    const dir = run('partial-kept', 'training', null, [e]);
    mkdirSync(join(dir, 'reference'));
    writeFileSync(
      join(dir, 'reference', 'reference.json'),
      JSON.stringify({ metrics: { fd: 0.31 }, floor: { fd: 0.22 }, n: 1000 }),
    );
    const kept = readDistillationRun(dir, root);
    expect(kept.tradeoff?.reference_fd).toBe(0.31);
    expect(kept.tradeoff?.floor_fd).toBe(0.22);
  });

  it('refuses a folder that is not a distill run, naming it', () => {
    expect(() => readDistillationRun(teacher, root)).toThrow(
      /models\/teacher: not an anneal distill run/,
    );
  });
});
