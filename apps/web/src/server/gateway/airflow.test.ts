import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { type AgentProcess, startAgent } from '../testing/agent-process.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// The example Airflow DAG (examples/airflow/dags/anneal_pipeline.py) run by real Apache
// Airflow, `airflow dags test`, from examples/airflow/setup.sh's venv, against a real Anneal
// server whose agent runs the pipeline's jobs: the DAG triggers the pipeline with params,
// waits for it, and succeeds; a pipeline run that fails fails the DAG run, naming the node.
// Airflow's startup alone takes about 10 s a command, so this runs under ANNEAL_LONG=1
// (`npm run test:long`; .ci/run runs it).
const airflowBin = join(repoRoot, 'examples/airflow/.venv/bin/airflow');
const hasAirflow = existsSync(airflowBin);
const long = process.env.ANNEAL_LONG === '1';
const venvRequired = process.env.CI === 'true' && process.env.ANNEAL_AIRFLOW_VENV === '1';

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let agent: AgentProcess | null = null;
const agentLog: string[] = [];
let tmp: string;
let projectId: string;

const api = (method: string, path: string, body?: unknown) =>
  h.api(owner.token, method, path, body);

/** An `airflow` command in the test's AIRFLOW_HOME: its exit code and output. */
function airflow(args: string[], timeoutMs = 180_000) {
  const port = new URL(h.url).port;
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(airflowBin, args, {
      env: {
        ...process.env,
        // Airflow's rich tracebacks wrap at the terminal's width: one line per message.
        COLUMNS: '1000',
        NO_COLOR: '1',
        AIRFLOW_HOME: join(tmp, 'airflow'),
        AIRFLOW__CORE__DAGS_FOLDER: join(repoRoot, 'examples/airflow/dags'),
        AIRFLOW__CORE__LOAD_EXAMPLES: 'False',
        AIRFLOW_CONN_ANNEAL: JSON.stringify({
          conn_type: 'http',
          host: '127.0.0.1',
          port: Number(port),
          schema: 'http',
          extra: { Authorization: `Bearer ${owner.token}` },
        }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe.runIf(long && hasAirflow)('Airflow drives a pipeline', () => {
  beforeAll(async () => {
    h = await startHarness({ ANNEAL_LEASE_MS: '2000' });
    owner = await h.user('airflow-org', 'owner');
    tmp = mkdtempSync(join(tmpdir(), 'anneal-airflow-'));
    const token = (await createToken(h.services.db, owner, 'agent', 'af-agent')).token;
    agent = startAgent({
      server: h.url,
      token,
      name: 'af-agent',
      home: join(tmp, 'agent'),
      log: agentLog,
    });
    projectId = (await api('POST', '/api/v1/projects', { name: 'airflow' })).json.id;
    const migrated = await airflow(['db', 'migrate']);
    expect(migrated.code, migrated.out.slice(-2000)).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await agent?.stop();
    await h?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('triggers a pipeline with params, waits for it and succeeds', async () => {
    const saved = await api('POST', `/api/v1/projects/${projectId}/pipelines`, {
      name: 'train-and-stage',
      spec: {
        params: { steps: 200 },
        nodes: [
          {
            key: 'train',
            kind: 'train',
            spec: {
              dataset: { kind: 'builtin', name: 'shapes' },
              resolution: 8,
              preset: 'tiny',
              steps: '${params.steps}',
              batch: 8,
            },
          },
          {
            key: 'stage',
            kind: 'register',
            spec: { version_id: '${train.version_id}', alias: 'staging' },
          },
        ],
      },
    });
    expect(saved.status, JSON.stringify(saved.json)).toBe(201);
    const conf = {
      pipeline_id: saved.json.id,
      params: { steps: 30 },
      poke_interval: 1,
      timeout: 300,
    };
    const dag = await airflow(['dags', 'test', 'anneal_pipeline', '-c', JSON.stringify(conf)]);
    expect(dag.code, `${dag.out.slice(-4000)}\n${agentLog.join('').slice(-2000)}`).toBe(0);
    const [run] = (await api('GET', `/api/v1/pipelines/${saved.json.id}/runs`)).json.runs;
    // The run Airflow started, with its params, finished before the DAG run did.
    expect(run).toMatchObject({ status: 'succeeded', trigger: 'api', params: { steps: 30 } });
    expect(dag.out).toContain(run.id);
    const job = (await api('GET', `/api/v1/jobs/${run.nodes[0].jobId}`)).json;
    expect(job.spec.steps).toBe(30);
    expect(run.nodes[1].outputs).toMatchObject({ alias: 'staging', version: 1 });
  }, 300_000);

  it('fails the DAG run when the pipeline run fails, naming the node', async () => {
    // A run with no checkpoint: the server accepts the sample job, the agent cannot run it.
    const empty = (await api('POST', `/api/v1/projects/${projectId}/runs`, { name: 'empty' })).json;
    const saved = await api('POST', `/api/v1/projects/${projectId}/pipelines`, {
      name: 'broken',
      spec: {
        nodes: [{ key: 'draw', kind: 'sample', spec: { model: { kind: 'run', runId: empty.id } } }],
      },
    });
    expect(saved.status, JSON.stringify(saved.json)).toBe(201);
    const conf = { pipeline_id: saved.json.id, poke_interval: 1, timeout: 300 };
    const dag = await airflow(['dags', 'test', 'anneal_pipeline', '-c', JSON.stringify(conf)]);
    expect(dag.code).not.toBe(0);
    expect(dag.out).toMatch(/Failed nodes: draw \(after 1 attempt\(s\)\): its sample job failed/);
    // An unknown param is refused by Anneal, and the DAG says why without polling.
    const refused = await airflow([
      ...['dags', 'test', 'anneal_pipeline', '-c'],
      JSON.stringify({ ...conf, params: { steps: 3 } }),
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/params\.steps: the pipeline declares no param "steps"/);
  }, 300_000);
});

describe('the Airflow venv', () => {
  it.runIf(!hasAirflow && venvRequired)('exists when CI promises one', () => {
    expect.fail(`no ${airflowBin}: run examples/airflow/setup.sh`);
  });
});
