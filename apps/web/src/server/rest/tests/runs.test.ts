import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';

let h: Harness;
let token: string;
let projectId: string;

beforeAll(async () => {
  h = await startHarness({ ANNEAL_JSON_LIMIT: '65536', ANNEAL_UPLOAD_LIMIT: '100000' });
  token = (await h.user('lab', 'editor')).token;
  projectId = (await h.api(token, 'POST', '/api/v1/projects', { name: 'mnist-ddpm' })).json.id;
});
afterAll(() => h?.stop());

async function newRun(body: unknown = {}) {
  const res = await h.api(token, 'POST', `/api/v1/projects/${projectId}/runs`, body);
  expect(res.status).toBe(201);
  return res.json.id as string;
}

describe('runs and metrics', () => {
  it('creates a run with params, tags and a parent, and ends it', async () => {
    const parent = await newRun({ name: 'teacher' });
    const runId = await newRun({
      name: 'student',
      params: { lr: 0.001, steps: 8 },
      tags: { kind: 'distill' },
      parentRunId: parent,
    });
    const run = await h.api(token, 'GET', `/api/v1/runs/${runId}`);
    expect(run.json).toMatchObject({
      name: 'student',
      status: 'running',
      params: { lr: 0.001, steps: 8 },
      parentRunId: parent,
    });
    const [project] = (await h.api(token, 'GET', '/api/v1/projects')).json.projects;
    expect(project).toMatchObject({ runCount: 2, modelCount: 0, datasetCount: 0 });
    const done = await h.api(token, 'PATCH', `/api/v1/runs/${runId}`, { status: 'succeeded' });
    expect(done.json.status).toBe('succeeded');
    expect(done.json.endedAt).toBeTruthy();
  });

  it('upserts metrics idempotently on (run, key, step)', async () => {
    const runId = await newRun();
    const batch = {
      metrics: [0, 1, 2].map((step) => ({ key: 'loss', step, value: 1 / (step + 1) })),
    };
    expect((await h.api(token, 'POST', `/api/v1/runs/${runId}/metrics`, batch)).json.accepted).toBe(
      3,
    );
    await h.api(token, 'POST', `/api/v1/runs/${runId}/metrics`, batch);
    await h.api(token, 'POST', `/api/v1/runs/${runId}/metrics`, {
      metrics: [{ key: 'loss', step: 2, value: 0.1 }],
    });
    const read = await h.api(token, 'GET', `/api/v1/runs/${runId}/metrics`);
    expect(read.json.metrics).toHaveLength(1);
    expect(read.json.metrics[0].points.map((p: { value: number }) => p.value)).toEqual([
      1, 0.5, 0.1,
    ]);
  });

  it('names the field of a bad metric', async () => {
    const runId = await newRun();
    const res = await h.api(token, 'POST', `/api/v1/runs/${runId}/metrics`, {
      metrics: [{ key: 'loss', step: -1, value: 1 }],
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/^body\.metrics\.0\.step: /);
    const nonFinite = await h.api(
      token,
      'POST',
      `/api/v1/runs/${runId}/metrics`,
      '{"metrics":[{"key":"a","step":0,"value":"x"}]}',
      { 'content-type': 'application/json' },
    );
    expect(nonFinite.json.error.message).toMatch(/metrics\.0\.value/);
  });

  it('refuses JSON bodies over the limit with 413', async () => {
    const runId = await newRun();
    const metrics = Array.from({ length: 3000 }, (_, step) => ({
      key: 'loss_with_a_long_name',
      step,
      value: step,
    }));
    const res = await h.api(token, 'POST', `/api/v1/runs/${runId}/metrics`, { metrics });
    expect(res.status).toBe(413);
    expect((await h.api(token, 'GET', `/api/v1/runs/${runId}/metrics`)).json.metrics).toEqual([]);
    const trpc = await fetch(`${h.url}/api/trpc/projects.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(70_000) }),
    });
    expect(trpc.status).toBe(413);
  });

  it('appends logs idempotently', async () => {
    const runId = await newRun();
    const lines = {
      lines: [
        { seq: 0, line: 'step 0' },
        { seq: 1, line: 'step 1' },
      ],
    };
    await h.api(token, 'POST', `/api/v1/runs/${runId}/logs`, lines);
    await h.api(token, 'POST', `/api/v1/runs/${runId}/logs`, lines);
    expect((await h.api(token, 'GET', `/api/v1/runs/${runId}/logs`)).json.lines).toHaveLength(2);
  });
});

describe('artifacts', () => {
  it('stores content-addressed bytes and serves them back', async () => {
    const runId = await newRun();
    const put = await h.api(
      token,
      'PUT',
      `/api/v1/runs/${runId}/artifacts/samples/grid.png`,
      'png-bytes',
    );
    expect(put.status).toBe(201);
    expect(put.json.sha256).toBe(createHash('sha256').update('png-bytes').digest('hex'));
    expect(put.json.contentType).toBe('image/png');
    const res = await fetch(`${h.url}/api/v1/runs/${runId}/artifacts/samples/grid.png`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await res.text()).toBe('png-bytes');
    expect(res.headers.get('content-security-policy')).toMatch(/^sandbox/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(h.services.store.has(put.json.sha256)).toBe(true);
  });

  it.each([
    '../../etc/passwd',
    '..%2F..%2Fetc%2Fpasswd',
    'a/../../b',
    '%2Fetc%2Fpasswd',
    'a//b',
    'a%2F.%2Fb',
    'x%2F%2E%2E%2F%2E%2E%2Fy',
    'a%5C..%5Cb',
  ])('refuses the traversal path %s', async (path) => {
    const runId = await newRun();
    const res = await h.api(token, 'PUT', `/api/v1/runs/${runId}/artifacts/${path}`, 'x');
    expect([400, 404]).toContain(res.status);
    expect((await h.api(token, 'GET', `/api/v1/runs/${runId}/artifacts`)).json.artifacts).toEqual(
      [],
    );
  });

  it('refuses uploads over the upload limit and keeps nothing', async () => {
    const runId = await newRun();
    const res = await h.api(
      token,
      'PUT',
      `/api/v1/runs/${runId}/artifacts/big.bin`,
      new Uint8Array(200_000),
    );
    expect(res.status).toBe(413);
    expect((await h.api(token, 'GET', `/api/v1/runs/${runId}/artifacts`)).json.artifacts).toEqual(
      [],
    );
  });

  it('checks a declared sha256', async () => {
    const runId = await newRun();
    const res = await h.api(token, 'PUT', `/api/v1/runs/${runId}/artifacts/a.bin`, 'abc', {
      'x-anneal-sha256': '0'.repeat(64),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/^sha256: /);
  });
});

describe('dataset uploads over the limit', () => {
  it('refuses a multipart folder bigger than the upload limit with 413 and records nothing', async () => {
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(60_000)]), 'big/a.bin');
    form.append('files', new Blob([new Uint8Array(60_000)]), 'big/b.bin');
    const res = await fetch(`${h.url}/api/v1/projects/${projectId}/datasets/big/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(413);
    const list = await h.api(token, 'GET', `/api/v1/projects/${projectId}/datasets`);
    expect(list.json.stored).toEqual([]);
  });

  it('refuses a zip bigger than the upload limit with 413', async () => {
    const res = await fetch(`${h.url}/api/v1/projects/${projectId}/datasets/big/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/zip' },
      body: new Uint8Array(150_000),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(413);
  });
});
