import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SearchSummary, searchSummarySchema } from '@anneal/protocol';
import { searchSummaryFixture } from '@anneal/protocol/testing';
import { describe, expect, it } from 'vitest';
import type { ResultFile } from './report-format.ts';
import { readSearchRun, type SearchBenchResult, searchSection, searchTargets } from './search.ts';

// A search folder as `anneal search` leaves it (its summary.json), written by hand: the record
// reads files and runs nothing, so its verdicts can be checked on known numbers.
const root = mkdtempSync(join(tmpdir(), 'anneal-search-record-'));

/** The fixture with the teacher at 6 ms/step (the winner, at 2, is 3x faster). */
function summary(patch: Partial<SearchSummary> = {}): SearchSummary {
  const s = searchSummarySchema.parse(searchSummaryFixture);
  return {
    ...s,
    teacherMeasured: { ...(s.winners[0]?.measured as object), latencyMs: 6 } as never,
    cpuSeconds: {
      measuring: 1800,
      halving: 7200,
      training: 9000,
      correlating: 30_000,
      fromStart: true,
    },
    ...patch,
  };
}

function folder(name: string, content: unknown): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'search.json'), '{}');
  if (content !== undefined) writeFileSync(join(dir, 'summary.json'), JSON.stringify(content));
  return dir;
}

const verdicts = (s: SearchSummary) => searchTargets(s).map((t) => t.verdict);

describe('the search record', () => {
  it("judges issue 19's targets on the numbers it reads", () => {
    // 3x faster at FD 2.4 / 2 = 1.2x the teacher's: met. 5 CPU-hours without the
    // correlation's: met. No correlation yet.
    expect(verdicts(summary())).toEqual(['met', 'met', 'not yet measured']);
    const t = searchTargets(summary());
    expect(t[0]?.value).toBe("w16.32-l1-a.A-h16-g8: 3.00x, FD 1.20x the teacher's");
    expect(t[1]?.value).toBe('5.00 CPU-hours');
    // FD just over 1.2x the teacher's, or a winner under 1.5x faster: missed.
    const worse = summary();
    (worse.winners[0]?.full?.eval as { fd: number }).fd = 2.41;
    expect(verdicts(worse)[0]).toBe('missed');
    expect(
      verdicts(
        summary({
          teacherMeasured: { ...(summary().teacherMeasured as object), latencyMs: 2.9 } as never,
        }),
      )[0],
    ).toBe('missed');
    // Over 6 CPU-hours: missed; counted from a resume on: reported, saying so; unfinished.
    const cpu = summary().cpuSeconds as NonNullable<SearchSummary['cpuSeconds']>;
    expect(verdicts(summary({ cpuSeconds: { ...cpu, training: 13_000 } }))[1]).toBe('missed');
    const late = searchTargets(summary({ cpuSeconds: { ...cpu, fromStart: false } }))[1];
    expect(late?.verdict).toBe('reported');
    expect(late?.value).toMatch(/counted from a resume on/);
    expect(verdicts(summary({ phase: 'halving' }))[1]).toBe('not yet measured');
    // Rungs read from an earlier search: its CPU time is what it spent, reported as that.
    const shared = summary();
    (shared.pool[1]?.rungs[0] as { reused?: boolean }).reused = true;
    expect(searchTargets(shared)[1]).toMatchObject({
      verdict: 'reported',
      value: '5.00 CPU-hours; 1 of 3 trainings read from an earlier search',
    });
    // A winner not yet trained is not a miss.
    expect(verdicts(summary({ phase: 'training', winners: [] }))[0]).toBe('not yet measured');
    // The correlation over 6: reported; over 5: too few.
    const c = { n: 6, firstRung: 0.83, full: 0.94 };
    expect(searchTargets(summary({ correlation: c }))[2]).toMatchObject({
      verdict: 'reported',
      value: 'Spearman 0.83 (first rung), 0.94 (proxy after full training), n = 6',
    });
    expect(verdicts(summary({ correlation: { ...c, n: 5 } }))[2]).toBe('not yet measured');
    // No winner evaluated yet.
    expect(verdicts(summary({ winners: [] }))[0]).toBe('not yet measured');
  });

  it('reads a search folder and renders its section; a folder without a summary is named', () => {
    const dir = folder('ok', summary());
    const run = readSearchRun(dir, root);
    expect(run.dir).toBe('ok');
    expect(run.summary.winners[0]?.name).toBe('w16.32-l1-a.A-h16-g8');
    const f = {
      name: 'search',
      result: { runs: [run] },
    } as unknown as ResultFile<SearchBenchResult>;
    const md = searchSection(f);
    expect(md).toMatch(/^### ok: the teacher \/tmp\/teacher on cpu-AMD_EPYC-2t-mlx0\.32\.4$/m);
    // The pool's rows, the teacher's first; the winner's FD beside the teacher's and the floor.
    expect(md).toMatch(/\| w32\.64-l2-a\.AM-h16-g8 \(teacher\) \| - \| 6\.00 \| 1\.00x \|/);
    expect(md).toMatch(
      /\| w16\.32-l1-a\.A-h16-g8 \(winner\) \| 3\.00x \| 2\.400 \| 1\.20x \| 8\.0x \|/,
    );
    // The recipe is spelled out: a later release's defaults would not make this search again.
    expect(md).toContain(
      'Command: `npx anneal search --teacher /tmp/teacher --out ok --inherit exact --output-weight 1 --winners 2 --full-iters 2000 --json`',
    );
    expect(md).toMatch(/taught by the teacher's output at weight 1 beside the data loss/);
    expect(md).not.toMatch(/under earlier settings/);
    // A full training a resume replaced stays on record, beside the one that replaced it.
    const replaced = summary();
    const pool0 = replaced.pool.find((c) => c.name === 'w16.32-l1-a.A-h16-g8');
    const full = replaced.winners[0]?.full;
    if (!pool0 || !full?.eval) throw new Error('the fixture has a trained winner in its pool');
    pool0.earlierFull = [{ ...full, iters: 2000, eval: { ...full.eval, fd: 3.5 } }];
    const withEarlier = searchSection({
      ...f,
      result: { runs: [{ ...run, summary: replaced }] },
    });
    expect(withEarlier).toMatch(
      /\| w16\.32-l1-a\.A-h16-g8 \| 2000 \| constant \| 3\.500 \| 1\.75x \| 2\.400 \|/,
    );
    // A throughput search is judged and headed in its objective, and its command says so (and
    // the BLAS thread count its profile was measured under).
    const batched = summary({
      profile: 'cpu-AMD_EPYC-2t-mlx0.32.4-blas1-blaswait4',
      teacherMeasured: {
        ...(summary().teacherMeasured as object),
        throughputMsPerImage: 0.6,
      } as never,
    });
    batched.settings = { ...batched.settings, objective: 'throughput' };
    expect(searchTargets(batched)[0]).toMatchObject({
      verdict: 'missed',
      value: "w16.32-l1-a.A-h16-g8: 1.20x, FD 1.20x the teacher's",
    });
    expect(searchTargets(batched)[0]?.target).toMatch(
      /per image at batch 16, this search's objective/,
    );
    const batchedMd = searchSection({ ...f, result: { runs: [{ ...run, summary: batched }] } });
    expect(batchedMd).toMatch(/ms per image-step at batch 16 \(the teacher's \/ 1\.5\)/);
    expect(batchedMd).toMatch(/Cost model \(ms per image-step at batch 16\)/);
    expect(batchedMd).toContain(
      'Command: `OPENBLAS_NUM_THREADS=1 npx anneal search --teacher /tmp/teacher --out ok --objective throughput',
    );
    expect(batchedMd).toMatch(/\| w16\.32-l1-a\.A-h16-g8 \(winner\) \| 1\.20x \| 2\.400 \|/);
    expect(() => readSearchRun(folder('none', undefined), root)).toThrow(
      /none: no summary\.json .*anneal search --resume --out/,
    );
    expect(() => readSearchRun(folder('bad', { ...summary(), phase: 'sleeping' }), root)).toThrow(
      /summary\.json is not a search summary: phase: /,
    );
  });
});
