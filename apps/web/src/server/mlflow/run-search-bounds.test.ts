import { metrics as metricsTable, runs } from '@anneal/db/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../testing/harness.ts';
import { type RunSearch, type SearchBounds, searchRuns } from './run-search.ts';
import { parseFilter, parseOrderBy } from './search.ts';

// runs/search on input a client controls: page tokens, and how much work one search may do.

let h: Harness;
let token: string;
let experiment: string;

beforeAll(async () => {
  h = await startHarness();
  token = (await h.user('search-bounds', 'owner')).token;
  experiment = (await mlflow('experiments/create', { name: 'bounds' })).json.experiment_id;
  for (let i = 0; i < 5; i++)
    await mlflow('runs/create', { experiment_id: experiment, run_name: `r${i}` });
}, 120_000);
afterAll(() => h?.stop());

async function mlflow(path: string, body: unknown) {
  const res = await fetch(`${h.url}/api/2.0/mlflow/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

describe('page tokens', () => {
  it('answers INVALID_PARAMETER_VALUE for a token this server did not issue, never a 500', async () => {
    for (const forged of [b64('1e19'), b64('10000000000000000000'), b64('-1'), b64('1.5'), '!!']) {
      const got = await mlflow('runs/search', {
        experiment_ids: [experiment],
        max_results: 2,
        page_token: forged,
      });
      expect(got.status, forged).toBe(400);
      expect(got.json).toEqual({
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'page_token: not a token this server issued',
      });
    }
    // The tokens it issues still page through every run.
    const names: string[] = [];
    let pageToken: string | undefined;
    do {
      const got = await mlflow('runs/search', {
        experiment_ids: [experiment],
        max_results: 2,
        order_by: ['attributes.run_name'],
        ...(pageToken ? { page_token: pageToken } : {}),
      });
      expect(got.status).toBe(200);
      names.push(...got.json.runs.map((r: { info: { run_name: string } }) => r.info.run_name));
      pageToken = got.json.next_page_token;
    } while (pageToken);
    expect(names).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    // Offset tokens of the other lists are checked alike.
    const experiments = await mlflow('experiments/search', {
      max_results: 1,
      page_token: b64('1e19'),
    });
    expect(experiments).toEqual({
      status: 400,
      json: {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'page_token: not a token this server issued',
      },
    });
  });

  it('refuses a token issued for another order_by', async () => {
    const first = await mlflow('runs/search', {
      experiment_ids: [experiment],
      max_results: 2,
      order_by: ['attributes.run_name'],
    });
    const other = await mlflow('runs/search', {
      experiment_ids: [experiment],
      max_results: 2,
      order_by: ['attributes.run_name DESC'],
      page_token: first.json.next_page_token,
    });
    expect(other.status).toBe(400);
    expect(other.json.message).toBe(
      'page_token: issued for another order_by; start again without it',
    );
  });
});

describe('runs/search within its bounds (small ones injected)', () => {
  const small: SearchBounds = { chunk: 2, scan: 4, sort: 3 };
  let project: string;
  let made: { id: string; name: string; i: number }[];

  beforeAll(async () => {
    project = (await mlflow('experiments/create', { name: 'small-bounds' })).json.experiment_id;
    const t0 = Date.UTC(2026, 0, 1);
    // Ten runs; names repeat, so the order's tiebreaks (start time, then id) decide.
    made = (
      await h.services.db
        .insert(runs)
        .values(
          Array.from({ length: 10 }, (_, i) => ({
            projectId: project,
            name: `n${i % 3}`,
            status: 'running' as const,
            params: { p: i % 2 === 0 ? 'even' : 'odd' },
            tags: {},
            startedAt: new Date(t0 + Math.floor(i / 4) * 1000),
          })),
        )
        .returning({ id: runs.id, name: runs.name })
    ).map((r, i) => ({ ...r, i }));
    await h.services.db
      .insert(metricsTable)
      .values(made.map((r) => ({ runId: r.id, key: 'm', step: 0, value: r.i, time: new Date() })));
  });

  const query = (filter: string | undefined, order: string[], pageToken?: string): RunSearch => ({
    projectIds: [project],
    view: 'ACTIVE_ONLY',
    clauses: parseFilter(filter),
    order: parseOrderBy(order),
    pageToken,
    maxResults: 2,
  });

  /** Every page, in order, and the sizes of the pages. */
  async function pages(filter: string | undefined, order: string[], bounds: SearchBounds) {
    const ids: string[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    do {
      const got = await searchRuns(h.services.db, query(filter, order, token), bounds);
      ids.push(...got.page.map((r) => r.id));
      sizes.push(got.page.length);
      token = got.next;
    } while (token);
    return { ids, sizes };
  }

  const byNameThenStartDescThenId = (a: (typeof made)[number], b: (typeof made)[number]) =>
    a.name < b.name
      ? -1
      : a.name > b.name
        ? 1
        : Math.floor(b.i / 4) - Math.floor(a.i / 4) || (a.id < b.id ? -1 : 1);

  it('a filtered page that reaches the scan bound ends early and the next resumes there: every match once', async () => {
    const got = await pages("params.p = 'odd'", ['attributes.run_name'], {
      chunk: 1,
      scan: 2,
      sort: 3,
    });
    expect(got.ids).toEqual(
      made
        .filter((r) => r.i % 2 === 1)
        .sort(byNameThenStartDescThenId)
        .map((r) => r.id),
    );
    // Five matches in ten runs, at most two read per request: some page stopped short of two
    // and gave a token to go on (a silent partial answer would have lost matches above).
    expect(got.sizes.slice(0, -1).some((n) => n < 2)).toBe(true);
  });

  it('resumes after the last run of the page even when runs are created before it meanwhile', async () => {
    const order = ['attributes.run_name'];
    const first = await searchRuns(h.services.db, query(undefined, order), small);
    expect(first.page.map((r) => r.name)).toEqual(['n0', 'n0']);
    // A run that sorts first: an offset would now repeat the page's last run.
    await h.services.db
      .insert(runs)
      .values({ projectId: project, name: 'a-first', status: 'running', params: {}, tags: {} });
    const second = await searchRuns(h.services.db, query(undefined, order, first.next), small);
    const expected = made
      .sort(byNameThenStartDescThenId)
      .slice(2, 4)
      .map((r) => r.id);
    expect(second.page.map((r) => r.id)).toEqual(expected);
  });

  it('refuses an order by a metric over more runs than the scan bound, naming it', async () => {
    await expect(
      searchRuns(h.services.db, query(undefined, ['metrics.m']), { ...small, sort: 100 }),
    ).rejects.toThrow(
      /order_by: ordering by metrics, params or tags reads every run of the experiments, and they hold more than 4/,
    );
    await expect(
      searchRuns(h.services.db, query("params.p = 'odd'", ['metrics.m DESC']), {
        ...small,
        scan: 100,
      }),
    ).rejects.toThrow(/order_by: more than 3 runs match/);
    // Within the bounds it pages through the sorted matches.
    const all = [];
    let token: string | undefined;
    do {
      const got = await searchRuns(
        h.services.db,
        query("params.p = 'odd'", ['metrics.m DESC'], token),
        { chunk: 2, scan: 100, sort: 10 },
      );
      all.push(...got.page.map((r) => r.id));
      token = got.next;
    } while (token);
    expect(all).toEqual(
      made
        .filter((r) => r.i % 2 === 1)
        .sort((a, b) => b.i - a.i)
        .map((r) => r.id),
    );
  });
});
