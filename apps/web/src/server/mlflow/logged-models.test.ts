import { loggedModelMetrics, loggedModels } from '@anneal/db/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../testing/harness.ts';
import { searchLoggedModels } from './logged-model-search.ts';
import { newModelId } from './logged-models.ts';
import { parseFilter } from './search.ts';

// logged-models/search reads a bounded number of models (refusing past it, never cutting
// silently), and orders by a metric of the dataset each order names; what a run records
// about models and inputs (log-model's history tag, log-inputs) is bounded and checked.

let h: Harness;
let project: string;
let run: string;
let call: (path: string, body: unknown) => Promise<{ status: number; json: any }>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness();
  const token = (await h.user('model-search', 'owner')).token;
  call = async (path: string, body: unknown) => {
    const res = await fetch(`${h.url}/api/2.0/mlflow/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  };
  project = (await call('experiments/create', { name: 'models' })).json.experiment_id;
  run = (await call('runs/create', { experiment_id: project })).json.run.info.run_id;
  const t0 = Date.UTC(2026, 0, 1);
  for (const [i, name] of ['a', 'b', 'c'].entries()) {
    ids[name] = newModelId();
    await h.services.db.insert(loggedModels).values({
      id: ids[name] as string,
      projectId: project,
      sourceRunId: run,
      name,
      createdAt: new Date(t0 + i * 1000),
    });
  }
  // acc on "train": a > b; on "eval": b > a. a's older train point (step 0) is higher still.
  const point = (model: string, step: number, value: number, datasetName: string) => ({
    modelId: ids[model] as string,
    key: 'acc',
    step,
    value,
    time: new Date(),
    datasetName,
    datasetDigest: 'd',
  });
  await h.services.db
    .insert(loggedModelMetrics)
    .values([
      point('a', 0, 0.99, 'train'),
      point('a', 1, 0.9, 'train'),
      point('b', 1, 0.5, 'train'),
      point('a', 1, 0.2, 'eval'),
      point('b', 1, 0.7, 'eval'),
    ]);
}, 120_000);
afterAll(() => h?.stop());

const names = (rows: { id: string }[]) =>
  rows.map((r) => Object.keys(ids).find((k) => ids[k] === r.id));

describe('logged-models/search', () => {
  it('refuses more models than its scan bound, naming it; a name filter in SQL stays within it', async () => {
    const q = { projectIds: [project], clauses: [], datasets: [], order: [] };
    await expect(searchLoggedModels(h.services.db, q, { scan: 2 })).rejects.toThrow(
      /filter: more than 2 logged models are in these experiments/,
    );
    expect(names(await searchLoggedModels(h.services.db, q, { scan: 3 }))).toEqual(['c', 'b', 'a']);
    const named = await searchLoggedModels(
      h.services.db,
      { ...q, clauses: parseFilter("name = 'b'") },
      { scan: 1 },
    );
    expect(names(named)).toEqual(['b']);
  });

  it('orders by the latest point of the metric on the dataset each order names', async () => {
    const search = (dataset: string) =>
      searchLoggedModels(h.services.db, {
        projectIds: [project],
        clauses: parseFilter('metrics.acc > 0'),
        datasets: [],
        order: [
          {
            field_name: 'metrics.acc',
            ascending: false,
            dataset_name: dataset,
            dataset_digest: 'd',
          },
        ],
      });
    expect(names(await search('train'))).toEqual(['a', 'b']);
    expect(names(await search('eval'))).toEqual(['b', 'a']);
    // The search's datasets filter what metric clauses see.
    const evalOnly = await searchLoggedModels(h.services.db, {
      projectIds: [project],
      clauses: parseFilter('metrics.acc > 0.6'),
      datasets: [{ dataset_name: 'eval' }],
      order: [],
    });
    expect(names(evalOnly)).toEqual(['b']);
  });
});

describe('runs/log-model', () => {
  it('refuses to append to a history tag that is not a JSON array, naming the tag', async () => {
    expect(
      (await call('runs/log-model', { run_id: run, model_json: '{"artifact_path":"m"}' })).status,
    ).toBe(200);
    await call('runs/set-tag', { run_id: run, key: 'mlflow.log-model.history', value: 'oops' });
    const got = await call('runs/log-model', { run_id: run, model_json: '{"artifact_path":"n"}' });
    expect(got.status).toBe(400);
    expect(got.json).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: `tags: run ${run}'s mlflow.log-model.history tag is not a JSON array, so the model cannot be appended to it; fix or delete the tag first`,
    });
  });
});

describe('runs/log-inputs', () => {
  const input = (name: string, schema = '') => ({
    dataset: { name, digest: 'd', source_type: 'local', source: '{}', schema },
  });

  it('keeps at most 1000 dataset inputs per run, however many calls bring them', async () => {
    const r = (await call('runs/create', { experiment_id: project })).json.run.info.run_id;
    const first = await call('runs/log-inputs', {
      run_id: r,
      datasets: Array.from({ length: 1000 }, (_, i) => input(`ds${i}`)),
    });
    expect(first.status).toBe(200);
    // Already kept: deduplicated, not counted twice.
    expect((await call('runs/log-inputs', { run_id: r, datasets: [input('ds0')] })).status).toBe(
      200,
    );
    const more = await call('runs/log-inputs', { run_id: r, datasets: [input('one-more')] });
    expect(more).toEqual({
      status: 400,
      json: {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: `datasets: run ${r} would keep 1001 dataset inputs; Anneal keeps at most 1000 per run`,
      },
    });
  });

  it('keeps at most 4 MiB of inputs per run', async () => {
    const r = (await call('runs/create', { experiment_id: project })).json.run.info.run_id;
    const big = 'x'.repeat(900_000);
    for (let i = 0; i < 4; i++)
      expect(
        (await call('runs/log-inputs', { run_id: r, datasets: [input(`big${i}`, big)] })).status,
      ).toBe(200);
    const fifth = await call('runs/log-inputs', { run_id: r, datasets: [input('big4', big)] });
    expect(fifth.status).toBe(400);
    expect(fifth.json.message).toMatch(
      new RegExp(
        `^datasets: run ${r}'s inputs would take \\d+ bytes; Anneal keeps at most 4194304`,
      ),
    );
  });
});
