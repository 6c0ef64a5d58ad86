// anneal distill end to end on a toy teacher (a tiny model trained here for a few dozen
// steps; the reference teachers are for the benchmark): two progressive stages, resume after
// SIGKILL mid-stage, and a consistency stage. Everything small: n = 20, stages of 30-60
// iterations.
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';
import { beforeAll, describe, expect, it } from 'vitest';
import { fileSha256 } from '../distill/reference.ts';
import { runAnneal, runAnnealHere } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-distill-home-'));
const root = mkdtempSync(join(tmpdir(), 'anneal-distill-'));
const teacher = join(root, 'teacher');
const anneal = (args: string[]) => runAnneal(args, home);

beforeAll(() => {
  const r = anneal([
    ...['train', '--dataset', 'shapes', '--resolution', '8', '--preset', 'tiny'],
    ...['--parameterization', 'v', '--batch', '8', '--steps', '40', '--out', teacher, '--json'],
  ]);
  expect(r.status, r.stderr).toBe(0);
});

// Two halvings (32 -> 16 -> 8), 60 iterations each, held-out loss every 10; a plateau
// window longer than a stage, so each stage runs its 60 iterations and the kill below has
// five checkpoints per stage to land between.
const progressive = (out: string) => [
  ...['distill', '--teacher', teacher, '--method', 'progressive', '--out', out],
  ...['--min-steps', '8', '--max-iters-per-stage', '60', '--eval-every', '10'],
  ...['--plateau-window', '10', '--eval-n', '20', '--heldout-n', '4', '--batch', '8'],
  ...['--extractor-steps', '60', '--extractor-width', '8', '--quality-budget', '50'],
  ...['--log-every', '1', '--lr', '1e-3', '--ema-decay', '0.9'],
];

interface Line {
  stage: number;
  iter?: number;
  loss?: number;
  grad_norm?: number;
  event?: string;
  heldout_loss?: number;
}
const lines = (out: string): Line[] =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Line);
/** What training computed, without wall-clock fields. */
interface Eval {
  name: string;
  steps: number;
  nfe: number;
  fd: number;
  fd_std: number;
  met_budget: boolean;
  reason: string;
  teacher_best: { sampler: string; steps: number; fd: number } | null;
  beats_teacher: boolean | null;
}
interface Summary {
  teacher_sha256: string;
  reference: { fd: number; nfe: number; cached: boolean };
  stages: Array<{
    stage: number;
    steps: number;
    fd: number;
    fd_std: number;
    decision: string;
    reason: string;
    from_steps: number;
    to_steps: number;
    iterations: number;
    evals: Eval[];
  }>;
  kept: { steps: number } | null;
}

const trajectory = (out: string) =>
  lines(out)
    .filter((l) => l.event === undefined || l.event === 'heldout')
    .map((l) => [l.stage, l.iter, l.loss ?? l.heldout_loss, l.grad_norm ?? null]);

describe('anneal distill: flags', () => {
  it.each([
    [['--out', join(root, 'x'), '--method', 'progressive'], /--teacher: is required/],
    [['--out', join(root, 'x'), '--teacher', teacher], /--method: is required/],
    [['--out', join(root, 'x'), '--teacher', teacher, '--method', 'magic'], /--method/],
    [
      ['--out', join(root, 'x'), '--teacher', teacher, '--method', 'progressive'].concat([
        '--teacher-baselines',
        'ddim,plms',
      ]),
      /--teacher-baselines: "plms" is not one of ddim, dpmpp-2m, ddpm, euler, heun \(or none\)/,
    ],
    [
      ['--out', join(root, 'x'), '--teacher', join(root, 'nope'), '--method', 'progressive'],
      /--teacher: .* is neither a checkpoint folder nor a model version id/,
    ],
    [
      [
        '--out',
        join(root, 'x'),
        '--teacher',
        teacher,
        '--method',
        'progressive',
        '--quality-budget',
        '0.5',
      ],
      /--quality-budget/,
    ],
    [
      ['--out', join(root, 'x'), '--resume', '--eval-n', '30'],
      /--eval-n: --resume takes the run's settings/,
    ],
    [
      [
        '--out',
        join(root, 'x'),
        '--teacher',
        teacher,
        '--method',
        'progressive',
        '--eval-n',
        '5000',
      ],
      /--eval-n: n = 5000 exceeds the real splits \(held-out 1000/,
    ],
    [
      [
        '--out',
        join(root, 'x'),
        '--teacher',
        teacher,
        '--method',
        'consistency',
        '--min-steps',
        '4',
      ],
      /--min-steps: consistency evaluates 2- and 1-step sampling/,
    ],
    [
      ['--out', join(root, 'x'), '--teacher', teacher, '--method', 'progressive'].concat([
        '--ect-q',
        '3',
      ]),
      /--ect-q: applies to --method consistency-training only/,
    ],
    [
      ['--out', join(root, 'x'), '--teacher', teacher, '--method', 'consistency-training'].concat([
        '--ect-q',
        '1',
      ]),
      /--ect-q: Too small: expected number to be >1/,
    ],
    [
      ['--out', join(root, 'x'), '--teacher', teacher, '--method', 'consistency-training'].concat([
        '--max-iters-per-stage',
        '6250',
        '--ect-halving-every',
        '50',
      ]),
      /--ect-halving-every: 6250 iterations halving every 50 shrink the gap by 2\^125, below float32/,
    ],
  ])('exits 2 naming the flag: %s', async (args, message) => {
    const r = await runAnnealHere(['distill', ...args], home);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('--resume without a run exits 1 and says so', () => {
    const r = anneal(['distill', '--out', join(root, 'empty'), '--resume']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--resume: no distillation run in/);
  });

  it('--resume --teacher takes the same teacher from a new place, and only the same one', async () => {
    // A run folder as another machine left it: its teacher path does not exist here.
    const out = join(root, 'moved');
    mkdirSync(out, { recursive: true });
    const settings = {
      ...{ version: 1, method: 'progressive', teacher: join(root, 'gone', 'teacher') },
      teacher_sha256: await fileSha256(join(teacher, 'model.safetensors')),
      ...{ budget: 50, min_steps: 8, max_iters_per_stage: 60, eval_every: 10 },
      ...{ plateau_window: 10, plateau_threshold: 0.01, eval_n: 20, heldout_n: 4, batch: 8 },
      ...{ lr: 1e-3, ema_decay: 0.9, seed: 0, log_every: 1, weighting: 'truncated-snr' },
      cd_discretization: 18,
    };
    writeFileSync(join(out, 'distill.json'), JSON.stringify(settings));
    const state = {
      ...{ version: 1, stage: 1, phase: 'training', teacher_dir: settings.teacher },
      ...{ student_from: settings.teacher, teacher_sigmas: [2, 1, 0], student_sigmas: [2, 0] },
      ...{ slot: null, iter: 0, heldout: [], stop_reason: null, stages: [] },
    };
    writeFileSync(join(out, 'distill-state.json'), JSON.stringify(state));
    const gone = anneal(['distill', '--out', out, '--resume']);
    expect(gone.status, gone.stderr).toBe(1);
    expect(gone.stderr).toMatch(/--resume: the teacher .*gone\/teacher is gone; give --teacher/);
    // Another checkpoint under the teacher's name: refused by its weights' hash.
    const other = join(root, 'other-teacher');
    cpSync(teacher, other, { recursive: true });
    appendFileSync(join(other, 'model.safetensors'), Buffer.from([0]));
    const wrong = anneal(['distill', '--out', out, '--resume', '--teacher', other]);
    expect(wrong.status, wrong.stderr).toBe(1);
    expect(wrong.stderr).toMatch(
      /--resume: the teacher .*other-teacher is not the one the run started from/,
    );
    expect(JSON.parse(readFileSync(join(out, 'distill.json'), 'utf8')).teacher).toBe(
      settings.teacher,
    );
  });
});

describe('anneal distill --method progressive', () => {
  const out = join(root, 'pd');
  let summary: Summary;
  // A whole two-stage run (reference, 120 iterations, three evaluations): past the default
  // hook timeout on a shared 2-core machine.
  beforeAll(() => {
    const r = anneal([...progressive(out), '--json']);
    expect(r.status, r.stderr).toBe(0);
    summary = r.json as unknown as Summary;
  }, 600_000);

  it('runs two halvings, each decided against budget x the reference FD, and keeps the last within it', () => {
    expect(
      summary.stages.map((s: Summary['stages'][number]) => [
        s.from_steps,
        s.to_steps,
        s.iterations,
      ]),
    ).toEqual([
      [32, 16, 60],
      [16, 8, 60],
    ]);
    const ref = summary.reference.fd as number;
    expect(ref).toBeGreaterThan(0);
    expect(summary.reference.nfe).toBe(32);
    for (const s of summary.stages) {
      const e = s.evals[0] as Eval;
      expect(e.nfe).toBe(s.to_steps);
      expect(e.fd_std).toBeGreaterThan(0);
      expect(e.met_budget).toBe(e.fd <= 50 * ref);
      expect(e.reason).toMatch(
        new RegExp(
          `^stage ${s.stage} \\(${s.from_steps} -> ${s.to_steps} steps\\): FD [\\d.]+x reference`,
        ),
      );
    }
    expect(summary.stages[1]?.evals[0]?.reason).toMatch(/reached --min-steps 8$|> 50x$/);
    expect(summary.stages.map((s) => [s.steps, s.decision])).toEqual([
      [16, summary.stages[0]?.evals[0]?.met_budget ? 'continue' : 'stop'],
      [8, 'stop'],
    ]);
    for (const s of summary.stages) expect(s.fd).toBe(s.evals[0]?.fd);
    // Each student beside the teacher at its NFE (ddim and dpmpp-2m by default), from the
    // stage's eval.json: the best of them, and whether the student beat it.
    for (const s of summary.stages) {
      const rec = JSON.parse(readFileSync(join(out, `stage-${s.stage}`, 'eval.json'), 'utf8'))
        .evals[0] as {
        fd: number;
        teacher_at_nfe: { sampler: string; steps: number; nfe: number; fd: number }[];
      };
      expect(rec.teacher_at_nfe.map((b) => [b.sampler, b.steps, b.nfe])).toEqual([
        ['ddim', s.to_steps, s.to_steps],
        ['dpmpp-2m', s.to_steps, s.to_steps],
      ]);
      const best = Math.min(...rec.teacher_at_nfe.map((b) => b.fd));
      const e = s.evals[0] as Eval;
      expect(e.teacher_best?.fd).toBe(best);
      expect(e.beats_teacher).toBe(rec.fd < best);
    }
    const kept = summary.stages
      .flatMap((s: Summary['stages'][number]) => s.evals.filter((e: Eval) => e.met_budget))
      .at(-1);
    expect(summary.kept?.steps ?? null).toBe(kept?.steps ?? null);
  });

  it('each student records the exact sigmas it was distilled for, a subset of the 32-step DDIM grid, and sample uses them', () => {
    const cfg = (d: string) => JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    const s1 = cfg(join(out, 'stage-1')).distillation;
    const s2 = cfg(join(out, 'stage-2')).distillation;
    expect(s1).toMatchObject({ method: 'progressive', stage: 1, sampler: 'ddim' });
    expect(s1.sigmas).toHaveLength(17);
    expect(s2.sigmas).toHaveLength(9);
    expect(s2.sigmas).toEqual(s1.sigmas.filter((_: number, i: number) => i % 2 === 0));
    expect(s1.teacher.weights_sha256).toBe(summary.teacher_sha256);
    const r = anneal([
      'sample',
      '--model',
      join(out, 'stage-2'),
      '--n',
      '4',
      '--out',
      join(root, 's.png'),
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ sampler: 'ddim', steps: 8, nfe: 8, sigmas: s2.sigmas });
  });

  it('the student learns: its held-out error against the stage teacher falls during each stage', () => {
    for (const stage of [1, 2]) {
      const heldout = lines(out)
        .filter((l) => l.stage === stage && l.event === 'heldout')
        .map((l) => l.heldout_loss as number);
      // Measured: 1.8e-3 -> 2.9e-4 (stage 1) and 1.5e-3 -> 7.4e-4 (stage 2).
      expect(heldout.at(-1)).toBeLessThan((heldout[0] as number) * 0.8);
    }
  });

  it('writes metrics with stage fields, the trade-off table and chart', () => {
    const all = lines(out);
    expect(all.filter((l) => l.stage === 1 && l.loss !== undefined)).toHaveLength(60);
    expect(all.filter((l) => l.event === 'heldout').map((l) => [l.stage, l.iter])).toEqual(
      [1, 2].flatMap((s) => [10, 20, 30, 40, 50, 60].map((i) => [s, i])),
    );
    expect(all.filter((l) => l.event === 'eval')).toHaveLength(2);
    const t = JSON.parse(readFileSync(join(out, 'tradeoff.json'), 'utf8'));
    expect(t.rows.map((r: { nfe: number }) => r.nfe)).toEqual([32, 16, 8]);
    expect(t.reference_fd).toBe(summary.reference.fd);
    const svg = readFileSync(join(out, 'tradeoff.svg'), 'utf8');
    expect(svg.match(/<circle /g)).toHaveLength(6);
    expect(readFileSync(join(out, 'tradeoff.md'), 'utf8')).toContain(
      '| stage 2 (16 -> 8 steps) | 8 | 8 |',
    );
    expect(
      t.rows.map((r: { teacher_best: { sampler: string } | null }) => !!r.teacher_best),
    ).toEqual([false, true, true]);
    expect(svg.match(/<rect class="teacher"/g)).toHaveLength(2);
  });

  it('times every model together at the end: latency.json row for row, read by the trade-off and kept on resume', () => {
    interface Timed {
      name: string;
      nfe: number;
      sampler: string;
      ms_per_image: number[];
      median_ms_per_image: number;
      images_per_s: number;
    }
    const read = () =>
      JSON.parse(readFileSync(join(out, 'latency.json'), 'utf8')) as {
        measured_at: string;
        batch: number;
        rounds: number;
        rows: Timed[];
      };
    const l = read();
    const t = JSON.parse(readFileSync(join(out, 'tradeoff.json'), 'utf8'));
    expect(l.rows.map((r) => [r.name, r.nfe, r.sampler])).toEqual(
      t.rows.map((r: { name: string; nfe: number }) => [r.name, r.nfe, 'ddim']),
    );
    for (const [i, r] of l.rows.entries()) {
      expect(r.ms_per_image).toHaveLength(l.rounds);
      const sorted = [...r.ms_per_image].sort((a, b) => a - b);
      expect(r.median_ms_per_image).toBe(sorted[(l.rounds - 1) / 2]);
      expect(t.rows[i].latency_ms_per_image).toBe(r.median_ms_per_image);
      expect(t.rows[i].images_per_s).toBeCloseTo(1000 / r.median_ms_per_image, 9);
    }
    expect(t.latency).toMatchObject({ together: true, batch: l.batch, rounds: l.rounds });
    // The job's result (--json) carries the same numbers as the trade-off.
    const sum = summary as unknown as {
      reference: { latency_ms_per_image: number };
      stages: Array<{ evals: Array<{ latency_ms_per_image: number }> }>;
    };
    expect([
      sum.reference.latency_ms_per_image,
      ...sum.stages.flatMap((st) => st.evals.map((e) => e.latency_ms_per_image)),
    ]).toEqual(l.rows.map((r) => r.median_ms_per_image));
    expect(readFileSync(join(out, 'tradeoff.md'), 'utf8')).toContain(
      'every model timed together at the end of the run',
    );
    // A finished run resumed keeps its timings while they name the same rows and weights...
    const resume = () => {
      const r = anneal(['distill', '--resume', '--out', out, '--json']);
      expect(r.status, r.stderr).toBe(0);
    };
    resume();
    expect(read().measured_at).toBe(l.measured_at);
    // ...and times again when they do not (here: another student's weights).
    const stale = {
      ...l,
      rows: l.rows.map((r, i) => (i === 1 ? { ...r, weights_sha256: 'x' } : r)),
    };
    writeFileSync(join(out, 'latency.json'), JSON.stringify(stale));
    resume();
    const again = read();
    expect(again.measured_at).not.toBe(l.measured_at);
    expect(again.rows.map((r) => r.name)).toEqual(l.rows.map((r) => r.name));
  });

  it('refuses to overwrite a run, and reuses the cached reference in a new one', () => {
    const again = anneal(progressive(out));
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds a distillation run; pass --resume/);
    expect(summary.reference.cached).toBe(false);
    // The run keeps its own copy of the reference, to resume elsewhere without redrawing it.
    expect(existsSync(join(out, 'reference', 'reference.json'))).toBe(true);
    expect(existsSync(join(out, 'reference', 'samples.u8'))).toBe(true);
  });

  // A whole run again, stopped by SIGTERM between checkpoints, resumed, then killed by SIGKILL
  // and resumed: the budget of the run in beforeAll, not the default.
  it('keeps every iteration on SIGTERM, resumes after SIGKILL mid-stage, and reproduces the uninterrupted losses', async () => {
    const killed = join(root, 'pd-killed');
    const state = () => {
      try {
        return JSON.parse(readFileSync(join(killed, 'distill-state.json'), 'utf8')) as {
          phase: string;
          iter: number;
        };
      } catch {
        return null; // Not written yet.
      }
    };
    const lastIter = () => {
      try {
        return lines(killed).findLast((l) => l.event === undefined)?.iter ?? 0;
      } catch {
        return 0;
      }
    };
    /** Runs `distill` (resuming when asked) and sends `signal` once `when` holds. */
    const interrupt = async (resume: boolean, signal: NodeJS.Signals, when: () => boolean) => {
      const args = resume ? ['distill', '--out', killed, '--resume'] : progressive(killed);
      const child = spawn(process.execPath, [join(repoRoot, 'apps/agent/bin/anneal.js'), ...args], {
        env: { ...process.env, ANNEAL_HOME: home },
        stdio: 'ignore',
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
        child.on('exit', (code, signal) => res({ code, signal })),
      );
      let sent = false;
      const poll = setInterval(() => {
        if (!sent && when()) {
          sent = true;
          child.kill(signal);
        }
      }, 5);
      const result = await exited;
      clearInterval(poll);
      expect(sent, `the run finished before ${signal} could be sent`).toBe(true);
      return result;
    };
    // SIGTERM a few iterations past a checkpoint (every 10): the stop checkpoints where it is.
    const termed = await interrupt(false, 'SIGTERM', () => {
      const s = state();
      return s?.phase === 'training' && s.iter >= 10 && lastIter() % 10 === 2;
    });
    expect(termed.code).toBe(130);
    const atTerm = state();
    expect(atTerm?.phase).toBe('training');
    // Between checkpoints: else the run stopped on one and this checks nothing new.
    expect((atTerm?.iter ?? 0) % 10).not.toBe(0);
    expect(atTerm?.iter).toBe(lastIter());
    // Then SIGKILL once a later checkpoint is behind the resumed run and it trains past it.
    const killedAt = await interrupt(true, 'SIGKILL', () => {
      const s = state();
      return s?.phase === 'training' && s.iter >= (atTerm?.iter ?? 0) + 10;
    });
    expect(killedAt.signal).toBe('SIGKILL');
    // As on a new machine: ANNEAL_HOME's references are gone, the run's own copy remains.
    rmSync(join(home, 'distill', 'references'), { recursive: true, force: true });
    const r = anneal(['distill', '--out', killed, '--resume', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json?.reference).toMatchObject({ cached: true, fd: summary.reference.fd });
    expect(trajectory(killed)).toEqual(trajectory(out));
    expect(
      (r.json as unknown as Summary).stages.map((s: Summary['stages'][number]) => s.evals[0]?.fd),
    ).toEqual(summary.stages.map((s: Summary['stages'][number]) => s.evals[0]?.fd));
    expect(existsSync(join(killed, 'tradeoff.svg'))).toBe(true);
  }, 600_000);
});

describe('anneal distill --method consistency', () => {
  it('distills one stage and evaluates 2- and 1-step sampling with the consistency sampler', () => {
    const out = join(root, 'cd');
    const r = anneal([
      ...['distill', '--teacher', teacher, '--method', 'consistency', '--out', out],
      ...[
        '--max-iters-per-stage',
        '20',
        '--eval-every',
        '10',
        '--eval-n',
        '20',
        '--heldout-n',
        '4',
      ],
      ...['--batch', '8', '--extractor-steps', '60', '--extractor-width', '8', '--json'],
      ...['--teacher-baselines', 'heun'],
    ]);
    expect(r.status, r.stderr).toBe(0);
    const s = r.json as unknown as Summary;
    expect(s.stages).toHaveLength(1);
    expect(s.stages[0]?.evals.map((e: Eval) => [e.name, e.nfe])).toEqual([
      ['consistency 2 steps', 2],
      ['consistency 1 step', 1],
    ]);
    // Heun at or under the student's NFE: 1 step (1 evaluation) at both 2 and 1 NFE.
    expect(
      s.stages[0]?.evals.map((e: Eval) => [e.teacher_best?.sampler, e.teacher_best?.steps]),
    ).toEqual([
      ['heun', 1],
      ['heun', 1],
    ]);
    const cfg = JSON.parse(readFileSync(join(out, 'stage-1', 'config.json'), 'utf8'));
    expect(cfg.parameterization).toBe('consistency');
    expect(cfg.distillation.sampler).toBe('consistency');
    // The boundary where f is the identity: the teacher table's smallest sigma.
    expect(cfg.consistency).toMatchObject({ inner: 'v' });
    expect(cfg.consistency.sigma_min).toBeGreaterThan(0);
    // Timed together at the end: the teacher, and one stage folder on its two grids.
    const timed = JSON.parse(readFileSync(join(out, 'latency.json'), 'utf8')) as {
      rows: Array<{ name: string; sampler: string; nfe: number; weights_sha256: string }>;
    };
    expect(timed.rows.map((x) => [x.name, x.sampler, x.nfe])).toEqual([
      ['reference (DDIM 32)', 'ddim', 32],
      ['consistency 2 steps', 'consistency', 2],
      ['consistency 1 step', 'consistency', 1],
    ]);
    expect(timed.rows[1]?.weights_sha256).toBe(timed.rows[2]?.weights_sha256);
    expect(timed.rows[0]?.weights_sha256).toBe(s.teacher_sha256);
    // A whole run (reference, extractor, stage, evaluations, latency): minutes on a loaded CPU.
  }, 300_000);
});

describe('anneal distill --method consistency-training', () => {
  it('fine-tunes from the teacher through the whole ECT curriculum, whatever the plateau rule says', () => {
    const out = join(root, 'ct');
    // A plateau rule that would stop any other stage at its second evaluation (nothing
    // improves by 100%): consistency training must run its 30 iterations anyway.
    const r = anneal([
      ...['distill', '--teacher', teacher, '--method', 'consistency-training', '--out', out],
      ...['--max-iters-per-stage', '30', '--eval-every', '10', '--ect-halving-every', '10'],
      ...['--plateau-window', '1', '--plateau-threshold', '1'],
      ...['--eval-n', '20', '--heldout-n', '4', '--batch', '8', '--log-every', '1'],
      ...['--extractor-steps', '60', '--extractor-width', '8', '--json'],
      ...['--teacher-baselines', 'none', '--quality-budget', '100'],
    ]);
    expect(r.status, r.stderr).toBe(0);
    const s = r.json as unknown as Summary & { method: string };
    expect(s.method).toBe('consistency-training');
    expect(s.stages).toHaveLength(1);
    expect(s.stages[0]?.iterations).toBe(30);
    expect(s.stages[0]?.evals.map((e: Eval) => [e.name, e.nfe])).toEqual([
      ['consistency 2 steps', 2],
      ['consistency 1 step', 1],
    ]);
    const heldout = lines(out).filter((l) => l.event === 'heldout');
    expect(heldout.map((l) => l.iter)).toEqual([10, 20, 30]);
    const losses = lines(out).filter((l) => l.event === undefined);
    expect(losses).toHaveLength(30);
    expect(losses.every((l) => Number.isFinite(l.loss))).toBe(true);
    const run = JSON.parse(readFileSync(join(out, 'distill.json'), 'utf8'));
    expect(run).toMatchObject({ method: 'consistency-training', ect_q: 2, ect_halving_every: 10 });
    const cfg = JSON.parse(readFileSync(join(out, 'stage-1', 'config.json'), 'utf8'));
    expect(cfg.parameterization).toBe('consistency');
    expect(cfg.distillation).toMatchObject({
      method: 'consistency-training',
      sampler: 'consistency',
    });
    // It ran to the cap, not to the plateau rule's verdict.
    const stateFile = JSON.parse(readFileSync(join(out, 'distill-state.json'), 'utf8'));
    expect(stateFile.stages[0].stop_reason).toMatch(/reached --max-iters-per-stage 30/);
    // The trainer ran ECT with the run's curriculum: its state records the objective.
    const trainerState = readFileSync(
      join(out, 'stage-1', `checkpoint-${stateFile.slot}`, 'trainer-state.safetensors'),
    );
    const header = JSON.parse(
      trainerState.subarray(8, 8 + Number(trainerState.readBigUInt64LE(0))).toString('utf8'),
    );
    expect(header.__metadata__.objective).toBe('consistency-training');
    expect(header.__metadata__['objective.options']).toMatch(/^q=2 halving_every=10 /);
  }, 300_000);
});
