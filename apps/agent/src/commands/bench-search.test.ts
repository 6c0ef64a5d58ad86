import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { searchSummaryFixture } from '@anneal/protocol/testing';
import { describe, expect, it } from 'vitest';
import { runAnnealHere } from '../testing/run-cli.ts';

// anneal bench --only search --runs DIR records a search folder (its summary.json) for
// RESULTS.md and runs nothing; a --runs folder no benchmark in --only records is named.
const root = mkdtempSync(join(tmpdir(), 'anneal-bench-search-'));
const home = join(root, 'home');
const search = join(root, 'search');
mkdirSync(search, { recursive: true });
writeFileSync(join(search, 'search.json'), '{}');
writeFileSync(join(search, 'summary.json'), JSON.stringify(searchSummaryFixture));

describe('anneal bench --only search', () => {
  it('records a search folder beside the issue targets', async () => {
    const results = join(root, 'results');
    const r = await runAnnealHere(
      ['bench', '--only', 'search', '--runs', search, '--results', results],
      home,
    );
    expect(r.status, r.stderr).toBe(0);
    const md = readFileSync(join(results, 'RESULTS.md'), 'utf8');
    expect(md).toMatch(/## Hardware-aware U-Net search on the reference teacher \(issue 19\)/);
    expect(md).toMatch(/\| the search within 6 CPU-hours .*\| not counted .*\| reported \|/);
    const saved = JSON.parse(readFileSync(join(results, 'search.json'), 'utf8'));
    expect(saved.result.runs[0].summary.winners[0].name).toBe('w16.32-l1-a.A-h16-g8');
  });

  it('names a folder that goes to a benchmark --only leaves out', async () => {
    const r = await runAnnealHere(
      ['bench', '--only', 'distillation', '--runs', search, '--results', join(root, 'other')],
      home,
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `--runs: ${search} is an anneal search folder; --only has no search`,
    );
  });
});
