// anneal search end to end on a toy teacher (issue 19): every phase on this machine (count,
// measure, fit, pool, successive halving, front), a signal mid-halving and --resume, and the
// refusals. Small throughout: 8x8 shapes, a space of 8 candidates, rungs of 4 and 8 steps.
// The limit is set far above any latency, so what is tested never depends on timings.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core/home';
import { Model, probeHardware } from '@anneal/engine';
import { frechetDistance } from '@anneal/engine/metrics';
import { searchSummarySchema } from '@anneal/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelDataset } from '../quality/model-dataset.ts';
import { featuresPathOf } from '../search/correlation.ts';
import { readFeatures, readRealSet } from '../search/features.ts';
import { searchTable, winnersTable } from '../search/report.ts';
import { runSearch, type SearchRun } from '../search/run.ts';
import {
  readSearchState,
  SEARCH_FILE,
  type SearchState,
  searchFront,
  writeSearchState,
} from '../search/state.ts';
import { runAnneal, runAnnealHere, trainTinyModel } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-search-home-'));
const root = mkdtempSync(join(tmpdir(), 'anneal-search-'));
const teacher = join(root, 'teacher');
const space = join(root, 'space.json');

beforeAll(() => {
  trainTinyModel(teacher, home, 6);
  writeFileSync(
    space,
    JSON.stringify({
      widthScales: [0.5, 1],
      levelsDropped: [0],
      attention: ['teacher', 'none'],
      midAttention: [true],
      attentionKinds: ['softmax'],
    }),
  );
});

const searchArgs = (out: string) => [
  ...['search', '--teacher', teacher, '--out', out, '--space', space, '--latency-ms', '1000000'],
  ...['--fit-sample', '3', '--pool', '2', '--throughput-batch', '2', '--train-batch', '2'],
  ...['--first-iters', '4', '--rungs', '2', '--checkpoint-every', '2', '--batch', '4'],
  ...['--proxy-n', '4', '--steps', '2', '--sampler', 'ddim', '--winners', '1'],
  ...['--full-iters', '12', '--eval-n', '20', '--extractor-steps', '30', '--extractor-width', '8'],
  '--json',
];

const stateOf = (out: string): SearchState =>
  JSON.parse(readFileSync(join(out, SEARCH_FILE), 'utf8'));

/**
 * An in-process run of the search in `out` on the teacher: `on.update` sees every progress
 * update and may set `on.stop`; `on.notes` gathers the lines worth keeping. The caller
 * disposes `model`.
 */
async function inProcess(out: string) {
  const model = Model.load(teacher);
  const dataset = await modelDataset(model.config, join(teacher, 'config.json'), home);
  const on = {
    stop: false,
    update: (_phase: string, _done: number) => {},
    notes: [] as string[],
  };
  const run: SearchRun = {
    teacher: model,
    dataset,
    out,
    hardware: probeHardware(),
    home,
    progress: { update: (phase, done) => on.update(phase, done), note: (l) => on.notes.push(l) },
    stopRequested: () => on.stop,
  };
  return { run, on, model };
}

describe('anneal search', () => {
  it('measures, fits, pools and halves; the front holds the teacher; a resumed search finishes what a stopped one began', async () => {
    const out = join(root, 'stopped');
    const bin = join(repoRoot, 'apps/agent/bin/anneal.js');
    const constant = ['--full-schedule', 'constant'];
    const child = spawn(process.execPath, [bin, ...searchArgs(out), ...constant], {
      env: { ...process.env, ANNEAL_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    // Stop once the first candidate's first checkpoint is written (halving has begun).
    const checkpointed = () =>
      existsSync(join(out, SEARCH_FILE)) &&
      stateOf(out).phase === 'halving' &&
      stateOf(out).candidates.some((c) =>
        existsSync(join(out, 'candidates', c.name, 'trainer-state.safetensors')),
      );
    const deadline = Date.now() + 180_000;
    while (!checkpointed()) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(
          `no candidate checkpoint before the search ended or 180 s passed:\n${stderr}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(130);
    expect(stderr).toMatch(/continue with: anneal search --resume --out/);
    // The stopped search's summary is in its folder, for people and `anneal bench`.
    const written = searchSummarySchema.parse(
      JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')),
    );
    expect(written.phase).toBe('halving');
    const stopped = stateOf(out);
    const measuredBefore = Object.fromEntries(
      stopped.candidates.filter((c) => c.measured).map((c) => [c.name, c.measured]),
    );

    const r = runAnneal(['search', '--resume', '--out', out, '--json'], home);
    expect(r.status, r.stderr).toBe(0);
    const state = stateOf(out);
    expect(state.phase).toBe('done');
    // 8 candidates of the space, the teacher among them.
    expect(state.candidates).toHaveLength(8);
    expect(state.candidates.map((c) => c.name)).toContain(state.teacher.name);
    // Nothing measured before the stop was measured again.
    for (const [name, m] of Object.entries(measuredBefore))
      expect(state.candidates.find((c) => c.name === name)?.measured).toEqual(m);
    // The predictor: one non-negative fit per cost, on the teacher and the fit sample.
    for (const target of ['latencyMs', 'throughputMsPerImage', 'trainStepMs', 'trainPeakBytes']) {
      const fit = state.fits?.[target];
      expect(fit?.coefficients.every((c) => c >= 0)).toBe(true);
      expect(fit?.looError.n).toBeGreaterThanOrEqual(3);
    }
    expect(state.candidates.every((c) => c.predicted && c.predicted.latencyMs >= 0)).toBe(true);
    // The pool of 2, both measured; rung 1 at 4 iterations, then the better one on to 8.
    const pool = state.candidates.filter((c) => c.pool);
    expect(pool).toHaveLength(2);
    expect(pool.map((c) => c.name)).not.toContain(state.teacher.name);
    for (const c of pool) {
      expect(c.measured?.latencyMs).toBeGreaterThan(0);
      expect(c.rungs[0]?.iters).toBe(4);
      expect(c.rungs[0]?.proxy).toBeGreaterThan(0);
    }
    const [winner, other] = [...pool].sort(
      (a, b) => (a.rungs[0]?.proxy ?? 0) - (b.rungs[0]?.proxy ?? 0),
    );
    expect(winner?.rungs[1]?.iters).toBe(8);
    expect(winner?.dropped).toBeUndefined();
    expect(other?.rungs).toHaveLength(1);
    expect(other?.dropped).toMatch(/halved out after rung 1/);
    // The winner trained on to 12 iterations, its FD beside the teacher's on one ruler, its
    // checkpoint published for people and the registry.
    expect(state.candidates.filter((c) => c.winner).map((c) => c.name)).toEqual([winner?.name]);
    expect(winner?.full?.iters).toBe(12);
    expect(winner?.full?.eval?.n).toBe(20);
    expect(winner?.full?.eval?.fd).toBeGreaterThan(0);
    expect(state.teacherEval?.floor).toBe(winner?.full?.eval?.floor);
    const published = Model.load(join(out, 'winners', winner?.name ?? ''));
    expect(published.config.unet).toEqual(winner?.unet);
    published.dispose();
    const winners = (r.json?.winners ?? []) as { dir: string }[];
    expect(winners[0]?.dir).toBe(`winners/${winner?.name}`);
    expect(r.json?.teacherMeasured).toEqual(
      state.candidates.find((c) => c.name === state.teacher.name)?.measured,
    );
    expect(r.stderr).toMatch(/teacher FD/);
    // Not a TTY: each phase's progress as lines, so a log file shows the search going on.
    expect(r.stderr).toMatch(/^rung 1\/2: .*: \d+\/\d+ \d\d:\d\d</m);
    // The summary: the teacher (proxy 0) is always on the front.
    expect(r.json?.front).toContain(state.teacher.name);
    expect(r.json?.phase).toBe('done');
    expect(r.stderr).toMatch(/leave-one-out error/);
    // A finished search resumed again changes nothing.
    const again = runAnneal(['search', '--resume', '--out', out, '--json'], home);
    expect(again.status, again.stderr).toBe(0);
    expect(stateOf(out)).toEqual(state);
    // Resumed with --correlate 2, the other pool member trains on to 12 iterations and is
    // evaluated on the same ruler; the winner is not trained again. Two are too few to rank.
    const correlated = runAnneal(
      ['search', '--resume', '--out', out, '--correlate', '2', '--json'],
      home,
    );
    expect(correlated.status, correlated.stderr).toBe(0);
    const after = stateOf(out);
    expect(after.phase).toBe('done');
    const otherAfter = after.candidates.find((c) => c.name === other?.name);
    expect(otherAfter?.full?.iters).toBe(12);
    expect(otherAfter?.full?.eval?.floor).toBe(winner?.full?.eval?.floor);
    expect(after.candidates.find((c) => c.name === winner?.name)?.full).toEqual(winner?.full);
    expect(after.cpuSeconds?.correlating).toBeGreaterThan(0);
    expect(existsSync(join(out, 'winners', other?.name ?? ''))).toBe(false);
    expect(correlated.json?.correlation).toBeNull();
    expect(correlated.stderr).toMatch(/CPU time: [0-9.]+ CPU-hours/);
    // Moved, it names the teacher's new place; a place without it is refused, naming it.
    const moved = await runAnnealHere(
      ['search', '--resume', '--out', out, '--teacher', join(root, 'gone')],
      home,
    );
    expect(moved.status).not.toBe(0);
    expect(moved.stderr).toMatch(/gone is not there; resume with --teacher/);
    const back = runAnneal(['search', '--resume', '--out', out, '--teacher', teacher], home);
    expect(back.status, back.stderr).toBe(0);

    // The full training carries the rungs' constant rate on, as asked. Resumed with a cosine
    // decay (from the last rung, 8, to 12), both are trained again from their last rungs (kept
    // in the store), and the constant results stay on record.
    const flat = stateOf(out);
    const flatOf = (name?: string) => flat.candidates.find((c) => c.name === name)?.full;
    expect(flat.settings.fullSchedule).toBe('constant');
    expect(flatOf(winner?.name)?.anneal).toBeUndefined();
    const cos = runAnneal(
      ['search', '--resume', '--out', out, '--full-schedule', 'cosine', '--json'],
      home,
    );
    expect(cos.status, cos.stderr).toBe(0);
    expect(cos.stderr).toMatch(/trained again: .*\(the earlier results stay in search\.json/);
    expect(cos.stderr).toMatch(/from iteration 8 again/);
    expect(cos.stderr).toMatch(/from iteration 4 again/);
    const decayed = stateOf(out);
    expect(decayed.phase).toBe('done');
    for (const name of [winner?.name, other?.name]) {
      const c = decayed.candidates.find((x) => x.name === name);
      expect(c?.full?.iters).toBe(12);
      expect(c?.full?.anneal).toEqual({ from: 8, to: 12 });
      expect(c?.full?.eval?.floor).toBe(winner?.full?.eval?.floor);
      // Another schedule is another model: its proxy moved.
      expect(c?.full?.proxy).not.toBe(flatOf(name)?.proxy);
      expect(c?.earlierFull).toEqual([flatOf(name)]);
    }
    // Back to the constant rate: those trainings were kept in the store before the decayed
    // ones replaced them, so they are read back, not trained again.
    const back2 = runAnneal(
      ['search', '--resume', '--out', out, '--full-schedule', 'constant', '--json'],
      home,
    );
    expect(back2.status, back2.stderr).toBe(0);
    expect(back2.stderr).toMatch(/read from an earlier search of this teacher/);
    for (const name of [winner?.name, other?.name]) {
      const c = stateOf(out).candidates.find((x) => x.name === name);
      expect(c?.full?.proxy).toBe(flatOf(name)?.proxy);
      expect(c?.full?.reused).toBe(true);
      expect(c?.earlierFull).toHaveLength(2);
    }

    // Fewer iterations: the longer trainings are kept in the store and both go back to their
    // last rungs; resumed again unchanged, nothing trains.
    const shorter = runAnneal(
      ['search', '--resume', '--out', out, '--full-iters', '10', '--json'],
      home,
    );
    expect(shorter.status, shorter.stderr).toBe(0);
    expect(shorter.stderr).toMatch(/trained to 12 iterations, past 10; from iteration 8 again/);
    const ten = stateOf(out);
    expect(
      ten.candidates.filter((c) => c.full).map((c) => [c.full?.iters, c.earlierFull?.length]),
    ).toEqual([
      [10, 3],
      [10, 3],
    ]);
    const unchanged = runAnneal(['search', '--resume', '--out', out, '--json'], home);
    expect(unchanged.status, unchanged.stderr).toBe(0);
    expect(stateOf(out)).toEqual(ten);

    // A cooldown (the last fifth of 15 decayed, from 12) lies ahead of the constant trainings
    // at 10: both carry on from their folders instead of going back to their last rungs.
    const cool = runAnneal(
      [
        'search',
        '--resume',
        '--out',
        out,
        '--full-iters',
        '15',
        '--full-schedule',
        'cooldown',
        '--json',
      ],
      home,
    );
    expect(cool.status, cool.stderr).toBe(0);
    expect(cool.stderr).not.toMatch(/from iteration \d+ again|weights again/);
    for (const c of stateOf(out).candidates.filter((x) => x.full)) {
      expect(c.full?.iters).toBe(15);
      expect(c.full?.anneal).toEqual({ from: 12, to: 15 });
      expect(c.earlierFull?.at(-1)?.iters).toBe(10);
    }
    // A longer cooldown (20, from 16) cannot go on from a decayed folder: it goes back to the
    // furthest kept constant checkpoint before 16, the constant full training at 12.
    const longer = runAnneal(
      [
        'search',
        '--resume',
        '--out',
        out,
        '--full-iters',
        '20',
        '--full-schedule',
        'cooldown',
        '--json',
      ],
      home,
    );
    expect(longer.status, longer.stderr).toBe(0);
    expect(longer.stderr).toMatch(/under another schedule; from iteration 12 again/);
    for (const c of stateOf(out).candidates.filter((x) => x.full))
      expect(c.full?.anneal).toEqual({ from: 16, to: 20 });

    // Costs belong to the machine that measured them; training and scoring do not. A search
    // past its measurements continues on another profile (and says so); one still measuring
    // is refused there.
    const elsewhere = join(root, 'elsewhere');
    cpSync(out, elsewhere, { recursive: true });
    const moved2 = { ...stateOf(elsewhere), profile: 'cpu-Elsewhere-2t-mlx0.0.0' };
    writeFileSync(join(elsewhere, SEARCH_FILE), JSON.stringify(moved2));
    const continued = runAnneal(['search', '--resume', '--out', elsewhere, '--json'], home);
    expect(continued.status, continued.stderr).toBe(0);
    expect(continued.stderr).toMatch(
      /the costs were measured on cpu-Elsewhere-2t-mlx0\.0\.0; this cpu-/,
    );
    expect(stateOf(elsewhere).continuedOn?.map((c) => c.phase)).toEqual(['done']);
    writeFileSync(join(elsewhere, SEARCH_FILE), JSON.stringify({ ...moved2, phase: 'measuring' }));
    const measuring = await runAnnealHere(['search', '--resume', '--out', elsewhere], home);
    expect(measuring.status).not.toBe(0);
    expect(measuring.stderr).toMatch(
      /is measuring hardware profile cpu-Elsewhere-2t-mlx0\.0\.0, this process is cpu-/,
    );

    // Another search of the teacher on this machine (speed as throughput) reads every rung
    // the first trained (the same candidate, iterations and recipe) instead of training it.
    const second = join(root, 'throughput');
    const t = runAnneal([...searchArgs(second), '--objective', 'throughput'], home);
    expect(t.status, t.stderr).toBe(0);
    // Asked for no schedule, its full training cools down (the default).
    expect(stateOf(second).settings.fullSchedule).toBe('cooldown');
    const first = stateOf(out);
    const shared = stateOf(second).candidates.flatMap((c) =>
      c.rungs.map((rung, r) => ({
        c,
        rung,
        before: first.candidates.find((f) => f.name === c.name)?.rungs[r],
      })),
    );
    const reused = shared.filter((x) => x.before?.iters === x.rung.iters);
    expect(reused.length).toBeGreaterThan(0);
    for (const x of reused) expect(x.rung).toEqual({ ...x.before, reused: true });
    expect(t.stderr).toMatch(/read from an earlier search of this teacher/);
  }, 300_000);

  it('a stop during an evaluation keeps the samples drawn, and the resume draws only the rest', async () => {
    // The finished search above, taken back to before its evaluations, with more samples
    // than one chunk (64) holds: a stop is honoured between chunks, not only after 1,000 images.
    const out = join(root, 'stopped-evaluating');
    cpSync(join(root, 'stopped'), out, { recursive: true });
    const state = stateOf(out);
    const winnerFull = state.candidates.find((c) => c.winner)?.full;
    if (winnerFull) winnerFull.eval = undefined;
    const trainedFor = winnerFull?.trainSeconds;
    state.teacherEval = undefined;
    state.settings.evalN = 80;
    state.phase = 'training';
    writeSearchState(out, state);
    const { run, on, model } = await inProcess(out);
    try {
      const sampled: number[] = [];
      on.update = (phase, done) => {
        if (phase !== 'sample') return;
        sampled.push(done);
        on.stop = true;
      };
      const stopped = await runSearch(run, state);
      expect(stopped.phase).toBe('training');
      expect(stopped.teacherEval).toBeUndefined();
      expect(readSearchState(out).teacherEval).toBeUndefined();
      // The teacher's evaluation drew its first chunk (2 DDIM steps) and stopped there.
      expect(sampled).toEqual([1, 2]);

      sampled.length = 0;
      on.stop = false;
      on.update = (phase, done) => {
        if (phase === 'sample') sampled.push(done);
      };
      const done = await runSearch(run, readSearchState(out));
      expect(done.phase).toBe('done');
      expect(done.teacherEval?.n).toBe(80);
      // The teacher's first chunk was read back: its sampling began at the second chunk's
      // first step (3 of 4); the winner's evaluation then drew both of its own.
      expect(sampled.slice(0, 4)).toEqual([3, 4, 1, 2]);
      const winner = done.candidates.find((c) => c.winner);
      expect(winner?.full?.eval?.n).toBe(80);
      expect(winner?.full?.eval?.floor).toBe(done.teacherEval?.floor);
      // Its training, kept in the store before the stop, is its own: read back from its
      // folder, with the time it took, not counted as read from an earlier search.
      expect(winner?.full?.reused).toBeUndefined();
      expect(winner?.full?.trainSeconds).toBe(trainedFor);
      // The features its FD compared are kept, and the real set's: the FD from them is its FD.
      if (!winner) throw new Error('no winner');
      const features = readFeatures(featuresPathOf(out, winner) as string);
      const real = readRealSet(out)?.real;
      if (!features || !real) throw new Error('the evaluation kept no features');
      expect(features.n).toBe(80);
      expect(frechetDistance(real, features)).toBeCloseTo(winner?.full?.eval?.fd as number, 4);
    } finally {
      model.dispose();
    }
  });

  /**
   * The finished search above, copied to `name` and taken back to before its halving (or,
   * with `phase: 'training'`, to before its winner's full training), `edit` applied; with an
   * in-process run of it.
   */
  async function takenBack(
    name: string,
    phase: 'halving' | 'training',
    edit: (s: SearchState) => void,
  ) {
    const out = join(root, name);
    cpSync(join(root, 'stopped'), out, { recursive: true });
    rmSync(join(out, 'winners'), { recursive: true, force: true });
    const state = readSearchState(out);
    for (const c of state.candidates) {
      if (phase === 'halving' || c.winner) {
        rmSync(join(out, 'candidates', c.name), { recursive: true, force: true });
        c.full = undefined;
        c.earlierFull = undefined;
        c.fullRecipe = undefined;
      }
      if (phase === 'halving') {
        c.rungs = [];
        c.winner = false;
        c.correlate = undefined;
        if (!c.dropped?.startsWith('measured')) c.dropped = undefined;
      }
    }
    state.settings.correlate = 0;
    state.phase = phase;
    edit(state);
    writeSearchState(out, state);
    return { out, ...(await inProcess(out)) };
  }

  it('draws again the evaluations whose features were not kept, with the same FD', async () => {
    // The finished search above (its two full trainings evaluated), as a search evaluated
    // before features were kept would be: none in the folders.
    const out = join(root, 'unkept');
    cpSync(join(root, 'stopped'), out, { recursive: true });
    const state = readSearchState(out);
    const trained = state.candidates.filter((c) => c.full?.eval);
    expect(trained).toHaveLength(2);
    for (const c of trained) rmSync(featuresPathOf(out, c) as string);
    state.phase = 'correlating';
    writeSearchState(out, state);
    const { run, on, model } = await inProcess(out);
    try {
      const done = await runSearch(run, readSearchState(out));
      expect(done.phase).toBe('done');
      const real = readRealSet(out)?.real;
      for (const c of trained) {
        const features = readFeatures(featuresPathOf(out, c) as string);
        if (!features || !real) throw new Error(`${c.name}: no features drawn again`);
        expect(frechetDistance(real, features)).toBeCloseTo(c.full?.eval?.fd as number, 4);
        expect(on.notes.join('\n')).toContain(
          `${c.name}: evaluation drawn again for the correlation's spread`,
        );
      }
      // The evaluations themselves stay as they were.
      expect(done.candidates.map((c) => c.full?.eval)).toEqual(
        state.candidates.map((c) => c.full?.eval),
      );
    } finally {
      model.dispose();
    }
  });

  it('writes the state with every checkpoint, so a killed search keeps the CPU time it spent', async () => {
    const { out, run, on, model } = await takenBack('checkpointed', 'halving', (s) => {
      s.cpuSeconds = { measuring: 1, halving: 0, training: 0, correlating: 0, fromStart: true };
      s.seconds.proxy = 0;
    });
    // A store of its own: the rungs are trained, not read from the searches above.
    run.home = mkdtempSync(join(tmpdir(), 'anneal-search-home-'));
    try {
      // Past the first checkpoint (2 of the first rung's 4 iterations), search.json is read
      // as a killed process would have left it.
      let onDisk: SearchState | undefined;
      on.update = (phase, done) => {
        if (!phase.startsWith('rung 1/') || done < 3) return;
        onDisk ??= readSearchState(out);
        on.stop = true;
      };
      await runSearch(run, readSearchState(out));
      expect(onDisk?.candidates.every((c) => c.rungs.length === 0)).toBe(true);
      expect(onDisk?.cpuSeconds?.halving).toBeGreaterThan(0);
      expect(onDisk?.seconds.proxy).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });

  it('a candidate whose training diverges leaves the search with the reason, and the search goes on', async () => {
    // Halving at a learning rate where every step overflows: each pool member is dropped with
    // the trainer's reason, none is a winner, the front is the teacher alone.
    const h = await takenBack('diverging', 'halving', (s) => {
      s.settings.proxy.lr = 1e30;
    });
    try {
      const done = await runSearch(h.run, readSearchState(h.out));
      expect(done.phase).toBe('done');
      const pool = done.candidates.filter((c) => c.pool && !c.dropped?.startsWith('measured'));
      expect(pool.length).toBeGreaterThan(0);
      for (const c of pool) {
        expect(c.dropped).toMatch(
          /^diverged in rung 1, after iteration \d+ \(.*training diverged.*lower the learning rate/,
        );
        expect(c.rungs).toHaveLength(1);
        expect(c.rungs[0]?.diverged).toBeDefined();
        expect(c.rungs[0]?.proxy).toBeNaN();
      }
      expect(done.candidates.filter((c) => c.winner)).toEqual([]);
      expect(searchFront(done).map((c) => c.name)).toEqual([done.teacher.name]);
      expect(h.on.notes.some((n) => /: diverged in rung 1/.test(n))).toBe(true);
      // Read back and resumed, nothing trains again: the same seed would diverge again.
      const again = await runSearch(h.run, readSearchState(h.out));
      expect(again.candidates).toEqual(done.candidates);
    } finally {
      h.model.dispose();
    }

    // A winner whose full training diverges keeps the reason and is not evaluated or
    // published; the search finishes.
    const w = await takenBack('diverging-winner', 'training', (s) => {
      s.settings.proxy.lr = 1e30;
    });
    try {
      const done = await runSearch(w.run, readSearchState(w.out));
      expect(done.phase).toBe('done');
      const winner = done.candidates.find((c) => c.winner);
      expect(winner?.full?.diverged).toMatch(/training diverged/);
      expect(winner?.full?.eval).toBeUndefined();
      expect(existsSync(join(w.out, 'winners', winner?.name ?? ''))).toBe(false);
      expect(searchTable(done)).toContain('winner, diverged in full training');
      expect(winnersTable(done)).toContain('its full training diverged, not evaluated');
      const again = await runSearch(w.run, readSearchState(w.out));
      expect(again.candidates.find((c) => c.winner)?.full).toEqual(
        readSearchState(w.out).candidates.find((c) => c.winner)?.full,
      );
    } finally {
      w.model.dispose();
    }
  });

  it('refuses a search over an existing one, a resume of none, and a bad space, naming each', async () => {
    const none = await runAnnealHere(['search', '--resume', '--out', join(root, 'empty')], home);
    expect(none.status).not.toBe(0);
    expect(none.stderr).toMatch(/search\.json cannot be read/);
    const bad = join(root, 'bad-space.json');
    writeFileSync(bad, JSON.stringify({ depth: [1] }));
    const b = await runAnnealHere(
      ['search', '--teacher', teacher, '--out', join(root, 'bad'), '--space', bad],
      home,
    );
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--space: .*depth/);
    const missing = await runAnnealHere(['search', '--out', join(root, 'x')], home);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--teacher: is required \(or --resume\)/);
    // A folder another running process searches (here the test runner's parent holds it).
    const locked = join(root, 'locked');
    cpSync(join(root, 'stopped'), locked, { recursive: true });
    writeFileSync(join(locked, 'search.lock'), `${process.ppid}\n`);
    const busy = await runAnnealHere(['search', '--resume', '--out', locked], home);
    expect(busy.status).not.toBe(0);
    expect(busy.stderr).toMatch(
      new RegExp(`${locked} is being searched by process ${process.ppid}: wait for it or stop it`),
    );
  });
});
