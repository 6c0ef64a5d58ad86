import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobs, metrics as metricsTable, projects as projectsTable, runs } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRuns } from '../domain/runs/runs.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { mergeParamsAndTags, runOf } from './store.ts';

// The official MLflow client against Anneal's MLflow API (issue 15). The client comes from
// bench/interop/setup.sh's venv; without it the client tests skip, except in CI that
// promises it (CI=true and ANNEAL_INTEROP_VENV=1), where its absence is a failure.
const interopDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../bench/interop');
const python = join(interopDir, '.venv', 'bin', 'python');
const hasVenv = existsSync(python);
const venvRequired = process.env.CI === 'true' && process.env.ANNEAL_INTEROP_VENV === '1';

let h: Harness;
let owner: Awaited<ReturnType<Harness['user']>>;
let other: Awaited<ReturnType<Harness['user']>>;
let viewer: Awaited<ReturnType<Harness['user']>>;

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user('lab', 'owner');
  viewer = await h.user('lab', 'viewer');
  other = await h.user('elsewhere', 'owner');
}, 120_000);
afterAll(() => h?.stop());

/** An MLflow REST call as the client makes it: JSON body, or query for GET. */
async function mlflow(token: string | null, method: string, path: string, body?: unknown) {
  const url = new URL(`${h.url}/api/2.0/mlflow/${path}`);
  if (method === 'GET' && body)
    for (const [k, v] of Object.entries(body as object)) url.searchParams.set(k, String(v));
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      'content-type': 'application/json',
    },
    body: method === 'GET' || body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

function runScript(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(python, [join(interopDir, 'mlflow_scenario.py'), ...args], {
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('the official mlflow client against Anneal', () => {
  it.runIf(!hasVenv && venvRequired)('has the interop venv when CI promises one', () => {
    expect.fail(`${python} is missing: run bench/interop/setup.sh`);
  });

  it.runIf(hasVenv)(
    'logs an experiment, 5,000 points, artifacts, versions and an alias, and reads them back',
    async () => {
      const result = await runScript(['interop', 'interop-model'], {
        MLFLOW_TRACKING_URI: h.url,
        MLFLOW_TRACKING_TOKEN: owner.token,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
      });
      expect(result.code, result.stderr).toBe(0);
      const ids = JSON.parse(result.stdout.trim().split('\n').pop() ?? '');
      expect(ids.mlflow).toBe('3.17.2');

      // The same data through Anneal's own REST API: the experiment is a project, the run a run.
      const projects = (await h.api(owner.token, 'GET', '/api/v1/projects')).json.projects;
      expect(projects.map((p: { id: string; name: string }) => [p.id, p.name])).toEqual([
        [ids.experiment_id, 'interop'],
      ]);
      const run = (await h.api(owner.token, 'GET', `/api/v1/runs/${ids.run_id}`)).json;
      expect(run).toMatchObject({
        projectId: ids.experiment_id,
        name: 'from-mlflow',
        status: 'succeeded',
        params: { lr: '0.001', batch_size: '64' },
        tags: { team: 'vision', origin: 'mlflow-client', 'mlflow.runName': 'from-mlflow' },
      });
      expect(run.endedAt).not.toBeNull();
      const series = (await h.api(owner.token, 'GET', `/api/v1/runs/${ids.run_id}/metrics`)).json
        .metrics;
      const loss = series.find((s: { key: string }) => s.key === 'loss');
      expect(loss.points).toHaveLength(5000);
      for (const p of loss.points) expect(p.value).toBe(1 / (p.step + 1));
      expect(series.find((s: { key: string }) => s.key === 'accuracy').points).toMatchObject([
        { step: 3, value: 0.875 },
      ]);
      const artifacts = (await h.api(owner.token, 'GET', `/api/v1/runs/${ids.run_id}/artifacts`))
        .json.artifacts;
      expect(artifacts.map((a: { path: string }) => a.path)).toEqual([
        'model/MLmodel',
        'model/weights.bin',
        'notes.txt',
      ]);
      const model = (
        await h.api(
          owner.token,
          'GET',
          `/api/v1/projects/${ids.experiment_id}/models/interop-model`,
        )
      ).json;
      expect(model.description).toBe('registered via MLflow');
      expect(
        model.versions.map((v: { version: number; aliases: string[]; artifactPath: string }) => [
          v.version,
          v.aliases,
          v.artifactPath,
        ]),
      ).toEqual([
        [2, [], 'model'],
        [1, ['champion'], 'model'],
      ]);
      expect(model.versions[1].sourceRun.id).toBe(ids.run_id);

      // Another organization's token reaches none of it; a viewer reads but cannot write.
      const foreign = await mlflow(other.token, 'GET', 'runs/get', { run_id: ids.run_id });
      expect(foreign.status).toBe(404);
      expect(foreign.json.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
      const foreignBatch = await mlflow(other.token, 'POST', 'runs/log-batch', {
        run_id: ids.run_id,
        metrics: [{ key: 'loss', value: 9, timestamp: 1, step: 0 }],
      });
      expect(foreignBatch).toMatchObject({
        status: 404,
        json: { error_code: 'RESOURCE_DOES_NOT_EXIST' },
      });
      expect(
        (await mlflow(other.token, 'GET', 'registered-models/get', { name: 'interop-model' }))
          .status,
      ).toBe(404);
      const searched = await mlflow(other.token, 'POST', 'experiments/search', {});
      expect(searched.status).toBe(200);
      expect(searched.json.experiments).toEqual([]);
      expect((await mlflow(viewer.token, 'GET', 'runs/get', { run_id: ids.run_id })).status).toBe(
        200,
      );
      const refused = await mlflow(viewer.token, 'POST', 'runs/set-tag', {
        run_id: ids.run_id,
        key: 'k',
        value: 'v',
      });
      expect(refused).toMatchObject({ status: 403, json: { error_code: 'PERMISSION_DENIED' } });
    },
    180_000,
  );
});

describe('mlflow.register_model in an organization with two projects', () => {
  it.runIf(hasVenv)(
    'puts the model in the project of the run its first version names',
    async () => {
      const two = await h.user('two-projects', 'owner');
      await h.api(two.token, 'POST', '/api/v1/projects', { name: 'first' });
      const script = `
import json, os, tempfile, mlflow
from mlflow import MlflowClient
mlflow.set_experiment("second")
with mlflow.start_run() as run:
    d = tempfile.mkdtemp()
    open(os.path.join(d, "weights.bin"), "wb").write(b"w")
    open(os.path.join(d, "MLmodel"), "w").write("artifact_path: model\\nflavors: {}\\n")
    mlflow.log_artifacts(d, artifact_path="model")
v = mlflow.register_model(f"runs:/{run.info.run_id}/model", "two-project-model")
m = MlflowClient().get_registered_model("two-project-model")
print(json.dumps({"run": run.info.run_id, "experiment": run.info.experiment_id, "version": v.version, "latest": m.latest_versions[0].version}))
`;
      const child = spawn(python, ['-c', script], {
        env: {
          ...process.env,
          MLFLOW_TRACKING_URI: h.url,
          MLFLOW_TRACKING_TOKEN: two.token,
          MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
        },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      const code = await new Promise((done) => child.on('close', done));
      expect(code, err).toBe(0);
      const got = JSON.parse(out.trim().split('\n').pop() ?? '');
      expect(got).toMatchObject({ version: '1', latest: '1' });
      const model = await h.api(
        two.token,
        'GET',
        `/api/v1/projects/${got.experiment}/models/two-project-model`,
      );
      expect(model.status).toBe(200);
      expect(JSON.stringify(model.json)).toContain(got.run);
      // The name is taken now, for a second create as for MLflow.
      const again = await mlflow(two.token, 'POST', 'registered-models/create', {
        name: 'two-project-model',
      });
      expect(again.json.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    },
    120_000,
  );
});

describe("MLflow's limits and error shape", () => {
  let runId: string;
  beforeAll(async () => {
    const exp = await mlflow(owner.token, 'POST', 'experiments/create', { name: 'limits' });
    expect(exp.status, JSON.stringify(exp.json)).toBe(200);
    const run = await mlflow(owner.token, 'POST', 'runs/create', {
      experiment_id: exp.json.experiment_id,
    });
    runId = run.json.run.info.run_id;
  });

  const metric = (i: number) => ({ key: 'm', value: i, timestamp: 1, step: i });
  const kv = (i: number) => ({ key: `k${i}`, value: 'v' });

  it.each([
    ['metrics', { metrics: Array.from({ length: 1001 }, (_, i) => metric(i)) }, 1000, 1001],
    ['params', { params: Array.from({ length: 101 }, (_, i) => kv(i)) }, 100, 101],
    ['tags', { tags: Array.from({ length: 101 }, (_, i) => kv(i)) }, 100, 101],
    [
      'metrics, params, and tags',
      {
        metrics: Array.from({ length: 901 }, (_, i) => metric(i)),
        params: Array.from({ length: 100 }, (_, i) => kv(i)),
      },
      1000,
      1001,
    ],
  ])('log-batch refuses more than its %s', async (entity, batch, limit, got) => {
    const res = await mlflow(owner.token, 'POST', 'runs/log-batch', { run_id: runId, ...batch });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: `A batch logging request can contain at most ${limit} ${entity}. Got ${got} ${entity}. Please split up ${entity} across multiple requests and try again.`,
    });
  });

  it('log-batch refuses a body over 1,000,000 bytes, and takes one just under', async () => {
    const big = { run_id: runId, tags: [{ key: 'big', value: 'x'.repeat(8000) }] };
    const pad = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ key: `p${i}`, value: 'y'.repeat(5900) }));
    const tags = Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'z'.repeat(8000) }));
    // 100 params of 5,900 characters and 100 tags of 8,000: under every count, over the bytes.
    const over = await mlflow(owner.token, 'POST', 'runs/log-batch', {
      run_id: runId,
      tags,
      params: pad(100),
    });
    expect(over.status).toBe(400);
    expect(over.json.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(over.json.message).toMatch(
      /^Batched logging API requests must be at most 1000000 bytes/,
    );
    const under = await mlflow(owner.token, 'POST', 'runs/log-batch', { ...big, params: pad(10) });
    expect(under.status, JSON.stringify(under.json)).toBe(200);
  });

  it('refuses a changed param, an unknown run, an unknown route, and no token, in MLflow’s shape', async () => {
    await mlflow(owner.token, 'POST', 'runs/log-parameter', {
      run_id: runId,
      key: 'lr',
      value: '1',
    });
    const changed = await mlflow(owner.token, 'POST', 'runs/log-parameter', {
      run_id: runId,
      key: 'lr',
      value: '2',
    });
    expect(changed.status).toBe(400);
    expect(changed.json.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(changed.json.message).toContain("Param with key='lr' was already logged with value='1'");
    const unknown = await mlflow(owner.token, 'GET', 'runs/get', { run_id: 'nope' });
    expect(unknown).toMatchObject({ status: 404, json: { error_code: 'RESOURCE_DOES_NOT_EXIST' } });
    const route = await mlflow(owner.token, 'POST', 'runs/no-such-thing', {});
    expect(route).toMatchObject({ status: 404, json: { error_code: 'ENDPOINT_NOT_FOUND' } });
    // MLflow 3's GenAI endpoints live under /api/3.0; Anneal has none, and says so in JSON.
    const v3 = await fetch(`${h.url}/api/3.0/mlflow/traces/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(v3.status).toBe(404);
    expect(v3.headers.get('content-type')).toMatch(/application\/json/);
    expect((await v3.json()).error_code).toBe('ENDPOINT_NOT_FOUND');
    const anonymous = await mlflow(null, 'GET', 'runs/get', { run_id: runId });
    expect(anonymous).toMatchObject({ status: 401, json: { error_code: 'UNAUTHENTICATED' } });
    const dup = await mlflow(owner.token, 'POST', 'experiments/create', { name: 'limits' });
    expect(dup).toMatchObject({
      status: 400,
      json: {
        error_code: 'RESOURCE_ALREADY_EXISTS',
        message: 'Experiment(name=limits) already exists.',
      },
    });
    const nan = await mlflow(owner.token, 'POST', 'runs/log-metric', {
      run_id: runId,
      key: 'x',
      value: 'NaN',
      timestamp: 1,
      step: 0,
    });
    expect(nan.status).toBe(400);
    expect(nan.json.error_code).toBe('INVALID_PARAMETER_VALUE');
  });

  it("reads Anneal's own runs as MLflow runs, and deletes a run", async () => {
    const project = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'native' })).json
      .id;
    const run = (
      await h.api(owner.token, 'POST', `/api/v1/projects/${project}/runs`, {
        name: 'teacher',
        params: { lr: 0.0002, ema: true, seed: null },
        status: 'queued',
      })
    ).json.id;
    await h.api(owner.token, 'POST', `/api/v1/runs/${run}/metrics`, {
      metrics: [
        { key: 'loss', step: 1, value: 0.5 },
        { key: 'loss', step: 2, value: 0.25 },
      ],
    });
    const got = await mlflow(viewer.token, 'GET', 'runs/get', { run_id: run });
    expect(got.status).toBe(200);
    expect(got.json.run.info).toMatchObject({
      run_id: run,
      experiment_id: project,
      run_name: 'teacher',
      status: 'SCHEDULED',
      artifact_uri: `mlflow-artifacts:/${project}/${run}/artifacts`,
      lifecycle_stage: 'active',
    });
    expect(got.json.run.data.params).toEqual([
      { key: 'lr', value: '0.0002' },
      { key: 'ema', value: 'True' },
      { key: 'seed', value: 'None' },
    ]);
    expect(got.json.run.data.metrics).toMatchObject([{ key: 'loss', value: 0.25, step: 2 }]);
    // MLflow's delete is soft: the run answers as deleted, keeps its data, leaves the lists.
    expect((await mlflow(owner.token, 'POST', 'runs/delete', { run_id: run })).status).toBe(200);
    const deleted = await mlflow(owner.token, 'GET', 'runs/get', { run_id: run });
    expect(deleted.json.run.info.lifecycle_stage).toBe('deleted');
    expect(deleted.json.run.data.metrics).toMatchObject([{ key: 'loss', value: 0.25, step: 2 }]);
    const own = await h.api(owner.token, 'GET', `/api/v1/runs/${run}`);
    expect(own.status).toBe(200);
    expect(own.json.deletedAt).not.toBeNull();
    const write = await mlflow(owner.token, 'POST', 'runs/set-tag', {
      run_id: run,
      key: 'k',
      value: 'v',
    });
    expect(write).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(write.json.message).toBe(
      `The run ${run} must be in the 'active' state. Current state is deleted.`,
    );
  });

  it('keeps the first value of a param that concurrent batches log with different values', async () => {
    const experiment = (
      await mlflow(owner.token, 'POST', 'experiments/create', { name: 'param-race' })
    ).json.experiment_id;
    const run = (await mlflow(owner.token, 'POST', 'runs/create', { experiment_id: experiment }))
      .json.run.info.run_id;
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        mlflow(owner.token, 'POST', 'runs/log-batch', {
          run_id: run,
          params: [{ key: 'seed', value: String(i) }],
        }),
      ),
    );
    const won = answers.flatMap((a, i) => (a.status === 200 ? [String(i)] : []));
    expect(won).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 200))
      expect(a.json.message).toMatch(/Changing param values is not allowed/);
    const params = (await mlflow(owner.token, 'GET', 'runs/get', { run_id: run })).json.run.data
      .params;
    expect(params).toEqual([{ key: 'seed', value: won[0] }]);

    // The race itself, made certain: two batches read the run before either writes.
    const stale = await runOf(h.services.db, owner.orgId, run);
    await mergeParamsAndTags(h.services.db, stale, [{ key: 'width', value: '64' }], []);
    await expect(
      mergeParamsAndTags(h.services.db, stale, [{ key: 'width', value: '128' }], []),
    ).rejects.toThrow(/Param with key='width' was already logged with value='64'/);
    const after = await runOf(h.services.db, owner.orgId, run);
    expect(after.params.width).toBe('64');
  });

  it("refuses to delete a registered version's source run or a job's run, and to set a job run's status", async () => {
    const keeper = await h.user('keeper', 'owner');
    const experiment = (await mlflow(keeper.token, 'POST', 'experiments/create', { name: 'kept' }))
      .json.experiment_id;
    const source = (
      await mlflow(keeper.token, 'POST', 'runs/create', { experiment_id: experiment })
    ).json.run.info.run_id;
    expect(
      (await mlflow(keeper.token, 'POST', 'registered-models/create', { name: 'kept-model' }))
        .status,
    ).toBe(200);
    const version = await mlflow(keeper.token, 'POST', 'model-versions/create', {
      name: 'kept-model',
      source: `runs:/${source}/model`,
      run_id: source,
    });
    expect(version.status).toBe(200);
    const refused = await mlflow(keeper.token, 'POST', 'runs/delete', { run_id: source });
    expect(refused.status).toBe(400);
    expect(refused.json.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(refused.json.message).toMatch(/source of version 1 of registered model "kept-model"/);
    expect((await mlflow(keeper.token, 'GET', 'runs/get', { run_id: source })).status).toBe(200);

    const jobRun = (
      await mlflow(keeper.token, 'POST', 'runs/create', { experiment_id: experiment })
    ).json.run.info.run_id;
    const [job] = await h.services.db
      .insert(jobs)
      .values({ projectId: experiment, type: 'train', spec: {} })
      .returning();
    if (!job) throw new Error('no job');
    await h.services.db.update(runs).set({ jobId: job.id }).where(eq(runs.id, jobRun));
    const update = await mlflow(keeper.token, 'POST', 'runs/update', {
      run_id: jobRun,
      status: 'FINISHED',
    });
    expect(update.status).toBe(400);
    expect(update.json.message).toMatch(/belongs to Anneal job/);
    expect(
      (await mlflow(keeper.token, 'GET', 'runs/get', { run_id: jobRun })).json.run.info.status,
    ).toBe('RUNNING');
    const renamed = await mlflow(keeper.token, 'POST', 'runs/update', {
      run_id: jobRun,
      run_name: 'still-mine',
    });
    expect(renamed.status).toBe(200);
    const del = await mlflow(keeper.token, 'POST', 'runs/delete', { run_id: jobRun });
    expect(del.status).toBe(400);
    expect(del.json.message).toMatch(/belongs to Anneal job/);
    expect((await mlflow(keeper.token, 'GET', 'runs/get', { run_id: jobRun })).status).toBe(200);
  });
});

/** Runs a Python snippet with the official client as `token`; its last stdout line is JSON. */
async function clientScript(token: string, script: string) {
  const child = spawn(python, ['-c', script], {
    env: {
      ...process.env,
      MLFLOW_TRACKING_URI: h.url,
      MLFLOW_TRACKING_TOKEN: token,
      MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
    },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const code = await new Promise((done) => child.on('close', done));
  expect(code, err).toBe(0);
  return JSON.parse(out.trim().split('\n').pop() ?? '');
}

describe('the Default experiment "0"', () => {
  it.runIf(hasVenv)(
    'takes the runs of a client that never sets an experiment, in a project named Default',
    async () => {
      const org = await h.user('default-experiment', 'owner');
      const got = await clientScript(
        org.token,
        `
import json, mlflow
with mlflow.start_run() as run:
    mlflow.log_param("alpha", "0.5")
    mlflow.log_metric("loss", 0.25, step=2)
found = mlflow.search_runs(experiment_ids=["0"], output_format="list")
exp = mlflow.get_experiment("0")
by_name = mlflow.get_experiment_by_name("Default")
print(json.dumps({"run": run.info.run_id, "experiment": run.info.experiment_id,
  "found": [[r.info.run_id, r.data.params, r.data.metrics] for r in found],
  "name": exp.name, "by_name": by_name.experiment_id, "id": exp.experiment_id}))
`,
      );
      expect(got.found).toEqual([[got.run, { alpha: '0.5' }, { loss: 0.25 }]]);
      expect(got.name).toBe('Default');
      expect(got.by_name).toBe(got.id);
      expect(got.experiment).toBe(got.id);
      // Through Anneal's own API: one project, named Default, holding the run.
      const projects = (await h.api(org.token, 'GET', '/api/v1/projects')).json.projects;
      expect(projects.map((p: { id: string; name: string }) => [p.id, p.name])).toEqual([
        [got.id, 'Default'],
      ]);
      const run = (await h.api(org.token, 'GET', `/api/v1/runs/${got.run}`)).json;
      expect(run).toMatchObject({ projectId: got.id, params: { alpha: '0.5' } });
      const series = (await h.api(org.token, 'GET', `/api/v1/runs/${got.run}/metrics`)).json
        .metrics;
      expect(series).toMatchObject([{ key: 'loss', points: [{ step: 2, value: 0.25 }] }]);
    },
    120_000,
  );

  it('is one project per organization, which the name "Default" cannot be created again as', async () => {
    const a = await h.user('default-a', 'owner');
    const b = await h.user('default-b', 'owner');
    const [ga, gb, ga2] = await Promise.all([
      mlflow(a.token, 'GET', 'experiments/get', { experiment_id: '0' }),
      mlflow(b.token, 'GET', 'experiments/get', { experiment_id: '0' }),
      mlflow(a.token, 'GET', 'experiments/get-by-name', { experiment_name: 'Default' }),
    ]);
    expect(ga.json.experiment.name).toBe('Default');
    expect(ga2.json.experiment.experiment_id).toBe(ga.json.experiment.experiment_id);
    expect(gb.json.experiment.experiment_id).not.toBe(ga.json.experiment.experiment_id);
    const again = await mlflow(a.token, 'POST', 'experiments/create', { name: 'Default' });
    expect(again).toMatchObject({ status: 400, json: { error_code: 'RESOURCE_ALREADY_EXISTS' } });
    const run = await mlflow(b.token, 'POST', 'runs/create', { experiment_id: '0' });
    expect(run.json.run.info.experiment_id).toBe(gb.json.experiment.experiment_id);
    const searched = await mlflow(a.token, 'POST', 'runs/search', { experiment_ids: ['0'] });
    expect(searched.json.runs ?? []).toEqual([]);
    expect((await h.api(a.token, 'GET', '/api/v1/projects')).json.projects).toHaveLength(1);
  });
});

describe('soft delete and restore, as MLflow', () => {
  it.runIf(hasVenv)(
    'deletes and restores runs and experiments with the client, and searches each view type',
    async () => {
      const org = await h.user('lifecycle', 'owner');
      const got = await clientScript(
        org.token,
        `
import json, mlflow
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
c = MlflowClient()
exp = mlflow.set_experiment("life")
with mlflow.start_run(run_name="kept") as kept: pass
with mlflow.start_run(run_name="gone") as gone: pass
c.delete_run(gone.info.run_id)
def names(view):
    return sorted(r.info.run_name for r in c.search_runs([exp.experiment_id], run_view_type=view))
out = {"exp": exp.experiment_id, "kept": kept.info.run_id, "gone": gone.info.run_id,
  "stage": c.get_run(gone.info.run_id).info.lifecycle_stage,
  "active": names(ViewType.ACTIVE_ONLY), "deleted": names(ViewType.DELETED_ONLY), "all": names(ViewType.ALL)}
c.restore_run(gone.info.run_id)
out["restored"] = names(ViewType.ACTIVE_ONLY)
c.delete_experiment(exp.experiment_id)
def exps(view):
    return sorted(e.name for e in c.search_experiments(view_type=view))
out["exp_stage"] = c.get_experiment(exp.experiment_id).lifecycle_stage
out["exp_deleted"] = exps(ViewType.DELETED_ONLY)
out["exp_active"] = exps(ViewType.ACTIVE_ONLY)
out["runs_after_exp_delete"] = names(ViewType.DELETED_ONLY)
try:
    c.create_experiment("life")
except MlflowException as e:
    out["recreate"] = e.error_code
try:
    mlflow.set_experiment("life")
except MlflowException as e:
    out["set_deleted"] = str(e)
print(json.dumps(out))
`,
      );
      expect(got).toMatchObject({
        stage: 'deleted',
        active: ['kept'],
        deleted: ['gone'],
        all: ['gone', 'kept'],
        restored: ['gone', 'kept'],
        exp_stage: 'deleted',
        exp_deleted: ['life'],
        runs_after_exp_delete: ['gone', 'kept'],
        recreate: 'RESOURCE_ALREADY_EXISTS',
      });
      expect(got.exp_active).not.toContain('life');
      expect(got.set_deleted).toMatch(/deleted experiment/i);

      // Anneal hides the deleted project and its runs from its lists, not from their pages.
      expect((await h.api(org.token, 'GET', '/api/v1/projects')).json.projects).toEqual([]);
      const page = await h.api(org.token, 'GET', `/api/v1/runs/${got.kept}`);
      expect(page.json).toMatchObject({ projectId: got.exp });
      expect(page.json.deletedAt).not.toBeNull();
      const [owned] = await h.services.db
        .select({ orgId: projectsTable.orgId })
        .from(projectsTable)
        .where(eq(projectsTable.id, got.exp));
      expect(await listRuns(h.services.db, owned?.orgId ?? '', { projectId: got.exp })).toEqual([]);

      const restored = await clientScript(
        org.token,
        `
import json
from mlflow import MlflowClient
from mlflow.entities import ViewType
c = MlflowClient()
c.restore_experiment("${got.exp}")
print(json.dumps({"stage": c.get_experiment("${got.exp}").lifecycle_stage,
  "runs": sorted(r.info.run_name for r in c.search_runs(["${got.exp}"], run_view_type=ViewType.ACTIVE_ONLY))}))
`,
      );
      expect(restored).toEqual({ stage: 'active', runs: ['gone', 'kept'] });
      const listed = (await h.api(org.token, 'GET', '/api/v1/projects')).json.projects;
      expect(listed.map((p: { name: string; runCount: number }) => [p.name, p.runCount])).toEqual([
        ['life', 2],
      ]);
    },
    120_000,
  );

  it('answers MLflow’s errors for deleting twice, restoring an active one, and a run in a deleted experiment', async () => {
    const org = await h.user('lifecycle-errors', 'owner');
    const exp = (await mlflow(org.token, 'POST', 'experiments/create', { name: 'e' })).json
      .experiment_id;
    expect(
      (await mlflow(org.token, 'POST', 'experiments/restore', { experiment_id: exp })).json,
    ).toMatchObject({ error_code: 'RESOURCE_DOES_NOT_EXIST' });
    expect(
      (await mlflow(org.token, 'POST', 'experiments/delete', { experiment_id: exp })).status,
    ).toBe(200);
    expect(
      (await mlflow(org.token, 'POST', 'experiments/delete', { experiment_id: exp })).json,
    ).toMatchObject({ error_code: 'RESOURCE_DOES_NOT_EXIST' });
    const run = await mlflow(org.token, 'POST', 'runs/create', { experiment_id: exp });
    expect(run).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    const again = await h.api(org.token, 'POST', '/api/v1/projects', { name: 'e' });
    expect(again.status).toBe(409);
    expect(again.json.error.message).toMatch(/deleted through MLflow/);
    const bad = await mlflow(org.token, 'POST', 'runs/search', {
      experiment_ids: [exp],
      run_view_type: 'SOME',
    });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/run_view_type/);
  });
});

describe('logged models (MLflow 3)', () => {
  it.runIf(hasVenv)(
    'logs a pyfunc model in a run, searches, loads and predicts with it, and registers it',
    async () => {
      const org = await h.user('logged-models', 'owner');
      const got = await clientScript(
        org.token,
        `
import json, mlflow
from mlflow import MlflowClient

class AddN(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [x + 2 for x in model_input]

mlflow.set_experiment("models")
with mlflow.start_run() as run:
    mlflow.log_param("n", "2")
    info = mlflow.pyfunc.log_model(name="m", python_model=AddN(), pip_requirements=[])
    mlflow.log_metric("acc", 0.75, step=1, model_id=info.model_id)
    import numpy as np
    ds = mlflow.data.from_numpy(np.array([[1.0, 2.0]]), name="train")
    mlflow.log_input(ds, context="training")
    mlflow.log_input(ds, context="training")
    tmp = mlflow.initialize_logged_model(name="tmp")
    c = MlflowClient()
    c.set_logged_model_tags(tmp.model_id, {"a": "b", "c": "d"})
    c.delete_logged_model_tag(tmp.model_id, "a")
    tmp_tags = c.get_logged_model(tmp.model_id).tags
    c.finalize_logged_model(tmp.model_id, "READY")
    c.delete_logged_model(tmp.model_id)
exp = mlflow.get_experiment_by_name("models").experiment_id
found = mlflow.search_logged_models(experiment_ids=[exp], output_format="list")
by_filter = mlflow.search_logged_models(experiment_ids=[exp], filter_string="name = 'm' AND params.n = '2' AND metrics.acc > 0.5", output_format="list")
none = mlflow.search_logged_models(experiment_ids=[exp], filter_string="name = 'other'", output_format="list")
model = mlflow.get_logged_model(info.model_id)
loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
pred = [float(x) for x in loaded.predict([1, 2])]
files = sorted(a.path for a in MlflowClient().list_logged_model_artifacts(info.model_id))
version = mlflow.register_model(f"models:/{info.model_id}", "from-logged")
outputs = [o.model_id for o in MlflowClient().get_run(run.info.run_id).outputs.model_outputs]
inputs = [[i.dataset.name, i.dataset.digest == ds.digest, [t.value for t in i.tags]] for i in MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs]
print(json.dumps({"run": run.info.run_id, "exp": exp, "model_id": info.model_id,
  "found": [m.model_id for m in found], "by_filter": [m.model_id for m in by_filter], "none": len(none),
  "name": model.name, "status": str(model.status), "source_run": model.source_run_id,
  "params": model.params, "metrics": [[m.key, m.value, m.step] for m in model.metrics],
  "pred": pred, "files": files, "version": version.version, "outputs": outputs, "inputs": inputs, "tmp_tags": tmp_tags}))
`,
      );
      expect(got).toMatchObject({
        found: [got.model_id],
        by_filter: [got.model_id],
        none: 0,
        name: 'm',
        status: 'READY',
        source_run: got.run,
        params: { n: '2' },
        metrics: [['acc', 0.75, 1]],
        pred: [3, 4],
        version: '1',
        outputs: [got.model_id],
        inputs: [['train', true, ['training']]],
        tmp_tags: { c: 'd' },
      });
      expect(got.files).toContain('MLmodel');
      expect(got.files).toContain('python_model.pkl');

      // Anneal's own API: a registry version of the source run's files under the model's folder.
      const model = await h.api(org.token, 'GET', `/api/v1/projects/${got.exp}/models/from-logged`);
      expect(model.status).toBe(200);
      expect(model.json.versions).toMatchObject([
        { version: 1, artifactPath: `logged-models/${got.model_id}`, sourceRun: { id: got.run } },
      ]);
      // Another organization sees no such model.
      const other2 = await h.user('logged-models-other', 'owner');
      const foreign = await mlflow(other2.token, 'GET', `logged-models/${got.model_id}`);
      expect(foreign).toMatchObject({
        status: 404,
        json: { error_code: 'RESOURCE_DOES_NOT_EXIST' },
      });
    },
    180_000,
  );
});

describe('logged-models endpoints as MLflow answers them', () => {
  it('creates, finalizes, tags, searches in pages, lists artifacts and deletes softly', async () => {
    const org = await h.user('logged-models-rest', 'owner');
    const exp = (await mlflow(org.token, 'POST', 'experiments/create', { name: 'lm' })).json
      .experiment_id;
    const run = (await mlflow(org.token, 'POST', 'runs/create', { experiment_id: exp })).json.run
      .info.run_id;
    const orphan = await mlflow(org.token, 'POST', 'logged-models', { experiment_id: exp });
    expect(orphan).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(orphan.json.message).toMatch(/source_run_id/);
    const make = async (name: string) =>
      (
        await mlflow(org.token, 'POST', 'logged-models', {
          experiment_id: exp,
          name,
          source_run_id: run,
          params: [{ key: 'size', value: name === 'b' ? '2' : '1' }],
        })
      ).json.model.info;
    const a = await make('a');
    const b = await make('b');
    expect(a).toMatchObject({
      status: 'LOGGED_MODEL_PENDING',
      source_run_id: run,
      artifact_uri: `mlflow-artifacts:/${exp}/${run}/artifacts/logged-models/${a.model_id}`,
    });
    expect(a.model_id).toMatch(/^m-[0-9a-f]{32}$/);
    const fin = await mlflow(org.token, 'PATCH', `logged-models/${b.model_id}`, {
      model_id: b.model_id,
      status: 'LOGGED_MODEL_READY',
    });
    expect(fin.json.model.info.status).toBe('LOGGED_MODEL_READY');
    await mlflow(org.token, 'PATCH', `logged-models/${a.model_id}/tags`, {
      tags: [
        { key: 'k', value: 'v' },
        { key: 'gone', value: 'x' },
      ],
    });
    expect(
      (await mlflow(org.token, 'DELETE', `logged-models/${a.model_id}/tags/gone`)).status,
    ).toBe(200);
    expect(
      (await mlflow(org.token, 'DELETE', `logged-models/${a.model_id}/tags/gone`)).json.error_code,
    ).toBe('RESOURCE_DOES_NOT_EXIST');
    await mlflow(org.token, 'POST', `logged-models/${a.model_id}/params`, {
      params: [{ key: 'extra', value: '3' }],
    });
    await mlflow(org.token, 'POST', 'runs/log-batch', {
      run_id: run,
      metrics: [{ key: 'acc', value: 0.9, timestamp: 1, step: 0, model_id: a.model_id }],
    });
    const got = (await mlflow(org.token, 'GET', `logged-models/${a.model_id}`)).json.model;
    expect(got.info.tags).toEqual([{ key: 'k', value: 'v' }]);
    expect(got.data.params).toEqual([
      { key: 'size', value: '1' },
      { key: 'extra', value: '3' },
    ]);
    expect(got.data.metrics).toMatchObject([{ key: 'acc', value: 0.9, step: 0, run_id: run }]);

    const search = (body: object) =>
      mlflow(org.token, 'POST', 'logged-models/search', { experiment_ids: [exp], ...body });
    const first = await search({
      order_by: [{ field_name: 'name', ascending: true }],
      max_results: 1,
    });
    expect(first.json.models.map((m: { info: { name: string } }) => m.info.name)).toEqual(['a']);
    const second = await search({
      order_by: [{ field_name: 'name', ascending: true }],
      max_results: 1,
      page_token: first.json.next_page_token,
    });
    expect(second.json.models.map((m: { info: { name: string } }) => m.info.name)).toEqual(['b']);
    expect(second.json.next_page_token).toBeUndefined();
    const ready = await search({ filter: "status = 'READY'" });
    expect(ready.json.models.map((m: { info: { name: string } }) => m.info.name)).toEqual(['b']);
    const byParam = await search({ filter: "params.size = '1' AND metrics.acc > 0.5" });
    expect(byParam.json.models.map((m: { info: { name: string } }) => m.info.name)).toEqual(['a']);
    const bad = await search({ filter: "colour = 'red'" });
    expect(bad).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });

    // Files under the model's artifact_uri go through the mlflow-artifacts proxy.
    const put = await fetch(
      `${h.url}/api/2.0/mlflow-artifacts/artifacts/${exp}/${run}/artifacts/logged-models/${a.model_id}/sub/w.bin`,
      { method: 'PUT', headers: { authorization: `Bearer ${org.token}` }, body: 'weights' },
    );
    expect(put.status).toBe(200);
    const listed = await mlflow(
      org.token,
      'GET',
      `logged-models/${a.model_id}/artifacts/directories`,
    );
    expect(listed.json.files).toEqual([{ path: 'sub', is_dir: true }]);
    const inner = await mlflow(
      org.token,
      'GET',
      `logged-models/${a.model_id}/artifacts/directories`,
      {
        artifact_directory_path: 'sub',
      },
    );
    expect(inner.json.files).toEqual([{ path: 'sub/w.bin', is_dir: false, file_size: 7 }]);

    const outputs = (await mlflow(org.token, 'GET', 'runs/get', { run_id: run })).json.run.outputs;
    expect(outputs.model_outputs.map((o: { model_id: string }) => o.model_id).sort()).toEqual(
      [a.model_id, b.model_id].sort(),
    );

    expect((await mlflow(org.token, 'DELETE', `logged-models/${b.model_id}`)).status).toBe(200);
    expect((await mlflow(org.token, 'GET', `logged-models/${b.model_id}`)).status).toBe(404);
    expect(
      (await mlflow(org.token, 'GET', `logged-models/${b.model_id}`, { allow_deleted: 'true' }))
        .json.model.info.model_id,
    ).toBe(b.model_id);
    const after = await search({});
    expect(after.json.models.map((m: { info: { name: string } }) => m.info.name)).toEqual(['a']);
  });
});

describe('runs/search over more runs than one chunk', () => {
  it('pages, filters and orders in SQL and in chunks as it did in memory', async () => {
    const org = await h.user('many-runs', 'owner');
    const exp = (await mlflow(org.token, 'POST', 'experiments/create', { name: 'many' })).json
      .experiment_id;
    const n = 2500;
    const t0 = Date.UTC(2026, 0, 1);
    const rows = Array.from({ length: n }, (_, i) => ({
      projectId: exp,
      // Names repeat (each five times), so ordering by name exercises its tiebreaks.
      name: `r${String(((i * 7919) % n) % 500).padStart(3, '0')}`,
      status: (i % 3 === 0 ? 'succeeded' : 'running') as 'succeeded' | 'running',
      params: { p: i % 2 === 0 ? 'even' : 'odd' },
      tags: {},
      // Pairs of runs share a start time, so the run_id tiebreak is exercised.
      startedAt: new Date(t0 + Math.floor(i / 2) * 1000),
      deletedAt: i % 10 === 9 ? new Date() : null,
    }));
    const made: { id: string; name: string; startedAt: Date; i: number }[] = [];
    for (let at = 0; at < n; at += 500) {
      const ins = await h.services.db
        .insert(runs)
        .values(rows.slice(at, at + 500))
        .returning({ id: runs.id, name: runs.name, startedAt: runs.startedAt });
      ins.forEach((r, k) => {
        made.push({ ...r, i: at + k });
      });
    }
    await h.services.db.insert(metricsTable).values(
      made
        .filter((r) => r.i % 5 === 0)
        .map((r) => ({
          runId: r.id,
          key: 'm',
          step: 0,
          value: (r.i * 37) % 101,
          time: new Date(),
        })),
    );
    const active = made.filter((r) => r.i % 10 !== 9);
    const all = async (body: object) => {
      const ids: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const res = await mlflow(org.token, 'POST', 'runs/search', {
          experiment_ids: [exp],
          max_results: 1000,
          ...body,
          ...(token ? { page_token: token } : {}),
        });
        expect(res.status, JSON.stringify(res.json)).toBe(200);
        ids.push(...(res.json.runs ?? []).map((r: { info: { run_id: string } }) => r.info.run_id));
        token = res.json.next_page_token;
        pages++;
      } while (token);
      return { ids, pages };
    };
    const byStartDescId = (a: (typeof made)[number], b: (typeof made)[number]) =>
      b.startedAt.getTime() - a.startedAt.getTime() || (a.id < b.id ? -1 : 1);

    // All in SQL: the default order, three pages.
    const plain = await all({});
    expect(plain.pages).toBe(3);
    expect(plain.ids).toEqual([...active].sort(byStartDescId).map((r) => r.id));

    // SQL orders by name; the param filter is checked chunk by chunk.
    const odd = await all({ filter: "params.p = 'odd'", order_by: ['attributes.run_name ASC'] });
    expect(odd.ids).toEqual(
      active
        .filter((r) => r.i % 2 === 1)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : byStartDescId(a, b)))
        .map((r) => r.id),
    );

    // Status and time in SQL; a metric order sorts the matches here.
    const cutoff = t0 + 600 * 1000;
    const ordered = await all({
      filter: `attributes.status = 'FINISHED' AND attributes.start_time >= ${cutoff}`,
      order_by: ['metrics.m DESC'],
    });
    const value = (r: (typeof made)[number]) => (r.i % 5 === 0 ? (r.i * 37) % 101 : undefined);
    expect(ordered.ids).toEqual(
      active
        .filter((r) => r.i % 3 === 0 && r.startedAt.getTime() >= cutoff)
        .sort((a, b) => {
          const [x, y] = [value(a), value(b)];
          if (x !== y) return x === undefined ? 1 : y === undefined ? -1 : y - x;
          return byStartDescId(a, b);
        })
        .map((r) => r.id),
    );

    const deleted = await all({ run_view_type: 'DELETED_ONLY' });
    expect(deleted.ids.sort()).toEqual(
      made
        .filter((r) => r.i % 10 === 9)
        .map((r) => r.id)
        .sort(),
    );
    const bad = await mlflow(org.token, 'POST', 'runs/search', {
      experiment_ids: [exp],
      filter: "attributes.colour = 'red'",
    });
    expect(bad).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
  }, 120_000);
});
