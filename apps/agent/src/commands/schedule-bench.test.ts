import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAnneal, trainTinyModel } from '../testing/run-cli.ts';

const home = mkdtempSync(join(tmpdir(), 'anneal-sched-home-'));
const model = join(mkdtempSync(join(tmpdir(), 'anneal-sched-')), 'run');
const anneal = (args: string[]) => runAnneal(args, home);

// A few steps of a tiny model on shapes: eval and the bench need a dataset to measure against,
// not a good model.
beforeAll(() => {
  trainTinyModel(model, home);
});

const ruler = ['--n', '40', '--extractor-steps', '60', '--extractor-width', '8'];

describe('schedules in eval and bench', () => {
  it('anneal eval --schedule ays records the schedule and its sigmas', () => {
    const r = anneal([
      'eval',
      '--model',
      model,
      ...ruler,
      '--sampler',
      'euler',
      '--steps',
      '4',
      '--schedule',
      'ays',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json?.schedule).toBe('ays');
    const sigmas = r.json?.sigmas as number[];
    expect(sigmas).toHaveLength(5);
    expect(sigmas[4]).toBe(0);
  });

  it('anneal bench --only schedules: every schedule from the same noise, learned on the spot', () => {
    const out = mkdtempSync(join(tmpdir(), 'anneal-sched-bench-'));
    const table = [
      ...['bench', '--only', 'schedules', '--model', model, ...ruler],
      ...['--samplers', 'euler', '--nfes', '3', '--learn-n', '4', '--reference', 'heun:3'],
    ];
    const r = anneal([...table, '--results', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    type Row = { schedule: string; nfe_per_image: number; sigmas: number[]; paired_mse: number };
    const results = r.json?.results as Record<string, { result: { rows: Row[] } }> | undefined;
    const rows = results?.schedules?.result.rows ?? [];
    expect(rows.map((x) => x.schedule)).toEqual([
      'uniform',
      'karras',
      'exponential',
      'ays',
      'learned',
    ]);
    for (const row of rows) {
      expect(row.nfe_per_image).toBe(3);
      expect(row.sigmas).toHaveLength(4);
      expect(row.paired_mse).toBeGreaterThan(0);
    }
    const learned = JSON.parse(readFileSync(join(model, 'schedules', 'euler-nfe3.json'), 'utf8'));
    expect(rows[4]?.sigmas).toEqual(learned.sigmas);
    expect(learned.calibration.seed).toBe(1000);
    // Learned against the table's --reference, and the file says so.
    expect(learned.calibration.reference).toEqual({ sampler: 'heun', steps: 3 });
    expect(readFileSync(join(out, 'RESULTS.md'), 'utf8')).toMatch(
      /Learned vs hand-crafted schedules[\s\S]*\| euler \| 3 \| learned \| [\s\S]*% of the gap to the reference[\s\S]*\| reference: heun 3 steps \| 5 \|[\s\S]*real vs real \(floor\)/,
    );
    // Run again, every run's images are read from the chunks the first kept (ANNEAL_HOME's
    // samples/), not drawn again: the same rows.
    const again = anneal([
      ...table,
      ...['--results', mkdtempSync(join(tmpdir(), 'anneal-sched-bench-')), '--json'],
    ]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr.match(/chunks were kept from an earlier sitting/g)).toHaveLength(6);
    const rowsAgain =
      (again.json?.results as Record<string, { result: { rows: Row[] } }> | undefined)?.schedules
        ?.result.rows ?? [];
    expect(rowsAgain.map((x) => x.paired_mse)).toEqual(rows.map((x) => x.paired_mse));
    // Only the reference keeps float values; each row's chunks keep their paired errors.
    const samples = join(home, 'samples');
    const runs = readdirSync(samples).filter((d) =>
      readdirSync(join(samples, d)).some((f) => f.endsWith('.u8')),
    );
    const withValues = runs.filter((d) =>
      readdirSync(join(samples, d)).some((f) => f.endsWith('.f32')),
    );
    expect(runs.length).toBeGreaterThanOrEqual(6);
    expect(withValues).toHaveLength(1);
    // Reused with another reference: refused naming both, not silently measured.
    const other = anneal([
      'bench',
      '--only',
      'schedules',
      '--model',
      model,
      ...ruler,
      '--samplers',
      'euler',
      '--nfes',
      '3',
      '--learn-n',
      '4',
      '--reference',
      'heun:4',
      '--results',
      mkdtempSync(join(tmpdir(), 'anneal-sched-bench-')),
    ]);
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(
      /euler-nfe3\.json: learned against reference heun:3, not this run's heun:4/,
    );
    const bad = anneal(['bench', '--only', 'schedules', '--model', model, '--samplers', 'ddpm']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--samplers: schedules: --samplers must be deterministic/);
  }, 300_000);
});
