import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEARCH_ARTIFACTS, searchSpecSchema } from '@anneal/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { search } from '../commands/search.ts';
import { adoptSearch, searchAgentKind, searchArgs } from './search.ts';

const root = mkdtempSync(join(tmpdir(), 'anneal-search-kind-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const teacher = '0b6c2d4e-1f3a-4b5c-8d7e-9f0a1b2c3d4e';

/** The value after `flag` in `args`. */
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe("a search job's child", () => {
  it('passes every spec field as the `anneal search` flag of the same name', () => {
    const spec = searchSpecSchema.parse({
      teacher,
      objective: 'throughput',
      latency_ms: 3.5,
      pool: 5,
      fit_sample: 7,
      first_iters: 40,
      eta: 3,
      rungs: 2,
      winners: 1,
      full_iters: 300,
      full_schedule: 'cosine',
      correlate: 4,
      eval_n: 200,
      sampler: 'euler',
      steps: 12,
      seed: 9,
      extractor_steps: 60,
      extractor_width: 8,
    });
    const args = searchArgs(spec, '/w/teacher', '/w/search', false);
    expect(args.slice(0, 5)).toEqual(['search', '--teacher', '/w/teacher', '--out', '/w/search']);
    expect(after(args, '--objective')).toBe('throughput');
    // The summary as the last line, progress as JSON lines before it.
    expect(args.slice(-2)).toEqual(['--json', '--events']);
    const flags = Object.fromEntries(
      Object.keys(searchSpecSchema.shape).map((k) => [k, `--${k.replace(/_/g, '-')}`]),
    );
    for (const [field, flag] of Object.entries(flags)) {
      // `from` is no flag: the job copies that folder and resumes it.
      if (field === 'teacher' || field === 'speedup' || field === 'from') continue;
      expect(after(args, flag), field).toBe(String(spec[field as keyof typeof spec]));
    }
    expect(args).not.toContain('--speedup');
    // Every flag is one `anneal search` takes.
    for (const a of args.filter((x) => x.startsWith('--')))
      expect(search.usage, a).toMatch(new RegExp(`^\\s+${a}\\b`, 'm'));
  });

  it("leaves unset limits to the command's default and resumes a search already there", () => {
    const spec = searchSpecSchema.parse({ teacher });
    const args = searchArgs(spec, '/w/teacher', '/w/search', false);
    expect(args).not.toContain('--latency-ms');
    expect(args).not.toContain('--speedup');
    expect(args).not.toContain('--extractor-steps');
    expect(after(searchArgs({ ...spec, speedup: 2 }, 't', 'o', false), '--speedup')).toBe('2');
    // The folder's search.json keeps the settings; --resume takes --out, and the teacher's
    // place (a search taken over recorded another).
    expect(searchArgs(spec, '/w/teacher', '/w/search', true)).toEqual([
      'search',
      '--resume',
      '--out',
      '/w/search',
      '--teacher',
      '/w/teacher',
      '--json',
      '--events',
    ]);
  });

  it('takes over a search folder the agent holds, and names one it does not', () => {
    const from = join(root, 'cli-search');
    mkdirSync(join(from, 'winners', 'w16-a'), { recursive: true });
    writeFileSync(join(from, 'search.json'), '{"version":1}');
    writeFileSync(join(from, 'winners', 'w16-a', 'config.json'), '{}');
    const out = join(root, 'job', 'search');
    adoptSearch(from, out);
    expect(readFileSync(join(out, 'search.json'), 'utf8')).toBe('{"version":1}');
    expect(existsSync(join(out, 'winners', 'w16-a', 'config.json'))).toBe(true);
    // The user's folder stays as it was.
    expect(existsSync(join(from, 'search.json'))).toBe(true);
    expect(() => adoptSearch(join(root, 'elsewhere'), join(root, 'job2'))).toThrow(
      /from: .*elsewhere holds no search on this agent \(no search\.json\)/,
    );
    // `anneal submit search --from DIR` sends the folder as an absolute path.
    const spec = searchAgentKind.submit.spec(
      searchAgentKind.submit.flags.parse({ teacher, from: 'runs/s' }),
    );
    expect(spec.from).toBe(join(process.cwd(), 'runs/s'));
  });
});

describe("a search job's outputs", () => {
  it('are the state, the summary and each published winner', () => {
    const work = join(root, 'job-b', 'lease-1');
    const winners = join(root, 'job-b', 'search', 'winners');
    for (const name of ['w8.16-l1-a..-g8', 'w16.16-l1-a..-g8'])
      mkdirSync(join(winners, name), { recursive: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'summary.json'), '{}');
    const outputs = searchAgentKind.outputs(searchSpecSchema.parse({ teacher }), work);
    expect(outputs.map((o) => o.path)).toEqual([
      SEARCH_ARTIFACTS.state,
      SEARCH_ARTIFACTS.summary,
      'winners/w16.16-l1-a..-g8/config.json',
      'winners/w16.16-l1-a..-g8/model.safetensors',
      'winners/w8.16-l1-a..-g8/config.json',
      'winners/w8.16-l1-a..-g8/model.safetensors',
    ]);
    expect(outputs[0]?.file).toBe(join(root, 'job-b', 'search', 'search.json'));
    expect(outputs[1]?.file).toBe(join(work, 'summary.json'));
  });
});
