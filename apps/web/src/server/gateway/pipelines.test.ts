import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memberships } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { type AgentProcess, runCli, startAgent } from '../testing/agent-process.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// Pipelines end to end: a real server and PostgreSQL, a real `anneal agent` that runs every
// node's job (train, evaluate) and serves the deployment the last node brings up. A run goes
// train -> evaluate -> promote (only if FD is within the budget) -> deploy; a budget it misses
// skips the promotion and what follows it; a job that keeps failing is retried, then fails
// the run; a server restart mid-run loses nothing; a cancel stops the node's job.

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
const agents: AgentProcess[] = [];
const agentLog: string[] = [];
let home: string;
let projectId: string;

const api = (method: string, path: string, body?: unknown) =>
  h.api(owner.token, method, path, body);

async function until<T>(what: string, probe: () => Promise<T | null | false>, ms = 120_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not within ${ms} ms\n${agentLog.join('').slice(-3000)}`);
}

const cli = (args: string[]) =>
  runCli(args, { server: h.url, token: owner.token, home, extraLog: agentLog });
const runOf = async (id: string) => (await api('GET', `/api/v1/pipeline-runs/${id}`)).json;
const finished = (id: string, ms?: number) =>
  until(
    `pipeline run ${id} to finish`,
    async () => {
      const run = await runOf(id);
      return run.status !== 'running' && run;
    },
    ms,
  );
const aliasesOf = (model: { versions: { version: number; aliases: string[] }[] }, v: number) =>
  model.versions.find((x) => x.version === v)?.aliases;
const nodeOf = (run: { nodes: { key: string }[] }, key: string) =>
  run.nodes.find((n) => n.key === key) as Record<string, any>;

/** Train a tiny model, score it, promote it only within the FD budget, deploy the alias. */
const trainEvaluatePromoteDeploy = {
  params: { steps: 60, fd_budget: 1e9 },
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
      key: 'evaluate',
      kind: 'evaluate',
      spec: {
        model: { kind: 'modelVersion', id: '${train.version_id}' },
        n: 20,
        extractor_steps: 40,
        extractor_width: 8,
        sampler: 'ddim',
        steps: 5,
      },
    },
    {
      key: 'promote',
      kind: 'register',
      needs: ['evaluate'],
      when: [{ left: '${evaluate.fd}', op: '<=', right: '${params.fd_budget}' }],
      spec: { version_id: '${train.version_id}', alias: 'production' },
    },
    {
      key: 'deploy',
      kind: 'deploy',
      needs: ['promote'],
      spec: {
        name: 'tiny-gate',
        model: '${train.model}',
        alias: 'production',
        sampling: { sampler: 'ddim', steps: 5 },
      },
    },
  ],
};

/** The product's loop: train a teacher, distill it, score the student, promote it, serve it. */
const trainDistillEvaluatePromoteDeploy = {
  params: { steps: 60, fd_budget: 1e9 },
  nodes: [
    trainEvaluatePromoteDeploy.nodes[0],
    {
      key: 'distill',
      kind: 'distill',
      spec: {
        teacher: '${train.version_id}',
        method: 'progressive',
        // Small stages (as distill-job.test.ts): 32 -> 16 -> 8 steps, a loose budget.
        min_steps: 8,
        max_iters_per_stage: 20,
        eval_every: 10,
        plateau_window: 10,
        eval_n: 20,
        heldout_n: 4,
        batch: 8,
        extractor_steps: 60,
        extractor_width: 8,
        quality_budget: 100,
        log_every: 5,
        lr: 1e-3,
        ema_decay: 0.9,
      },
    },
    {
      key: 'evaluate',
      kind: 'evaluate',
      spec: {
        model: { kind: 'modelVersion', id: '${distill.version_id}' },
        n: 20,
        extractor_steps: 40,
        extractor_width: 8,
        sampler: 'ddim',
        steps: '${distill.steps}',
      },
    },
    {
      key: 'promote',
      kind: 'register',
      needs: ['evaluate'],
      when: [{ left: '${evaluate.fd}', op: '<=', right: '${params.fd_budget}' }],
      spec: { version_id: '${distill.version_id}', alias: 'production' },
    },
    {
      key: 'deploy',
      kind: 'deploy',
      needs: ['promote'],
      spec: {
        name: 'tiny',
        model: '${distill.model}',
        alias: 'production',
        sampling: { sampler: 'ddim', steps: '${distill.steps}' },
      },
    },
  ],
};

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '2000' });
  owner = await h.user('pipeline-org', 'owner');
  home = mkdtempSync(join(tmpdir(), 'anneal-pipelines-'));
  const token = (await createToken(h.services.db, owner, 'agent', 'pipe-a')).token;
  agents.push(
    startAgent({ server: h.url, token, name: 'pipe-a', home: join(home, 'a'), log: agentLog }),
  );
  projectId = (await api('POST', '/api/v1/projects', { name: 'pipes' })).json.id;
}, 60_000);

afterAll(async () => {
  for (const agent of agents) await agent.stop();
  await h?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('pipelines', () => {
  /** train -> register, saved by the command-line test. */
  let stageId: string;

  it('refuses a pipeline that cannot run, naming what is wrong', async () => {
    const save = (spec: unknown) =>
      api('POST', `/api/v1/projects/${projectId}/pipelines`, { name: 'bad', spec });
    const cases: [unknown, RegExp][] = [
      [
        {
          nodes: [
            { key: 'a', kind: 'sample', needs: ['b'], spec: {} },
            { key: 'b', kind: 'sample', needs: ['a'], spec: {} },
          ],
        },
        /a cycle: (a -> b -> a|b -> a -> b)/,
      ],
      [
        {
          nodes: [
            { key: 'a', kind: 'register', spec: { version_id: '${x.version_id}', alias: 'p' } },
          ],
        },
        /\$\{x\.version_id\}: no node "x"/,
      ],
      [
        {
          nodes: [
            trainEvaluatePromoteDeploy.nodes[0],
            { key: 'b', kind: 'register', spec: { version_id: '${train.fd}', alias: 'p' } },
          ],
          params: { steps: 10 },
        },
        /a train node's outputs are job_id, run_id, version_id/,
      ],
      [
        {
          nodes: [
            {
              key: 'a',
              kind: 'train',
              spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 3 },
            },
          ],
        },
        /nodes\.0\.spec\.resolution/,
      ],
      [
        {
          nodes: [
            { key: 'a', kind: 'sample', spec: { model: { kind: 'run', runId: '${params.run}' } } },
          ],
        },
        /declare "run" in params/,
      ],
    ];
    for (const [spec, message] of cases) {
      const res = await save(spec);
      expect(res.status, JSON.stringify(res.json)).toBe(400);
      expect(res.json.error.message).toMatch(message);
    }
    // An id named outright must be the organization's.
    const foreign = await save({
      nodes: [
        {
          key: 'a',
          kind: 'register',
          spec: { version_id: '00000000-0000-4000-8000-000000000001', alias: 'p' },
        },
      ],
    });
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.message).toMatch(
      /spec\.nodes\.0\.spec\.version_id: no model version/,
    );
  });

  it('runs train -> distill -> evaluate -> promote -> deploy, each node with its job and outputs', async () => {
    const saved = await api('POST', `/api/v1/projects/${projectId}/pipelines`, {
      name: 'ship',
      spec: trainDistillEvaluatePromoteDeploy,
    });
    expect(saved.status, JSON.stringify(saved.json)).toBe(201);
    const shipId = saved.json.id;
    const unknown = await api('POST', `/api/v1/pipelines/${shipId}/runs`, {
      params: { stpes: 5 },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toMatch(/params\.stpes: the pipeline declares no param/);
    const wrongType = await api('POST', `/api/v1/pipelines/${shipId}/runs`, {
      params: { steps: '5' },
    });
    expect(wrongType.json.error.message).toMatch(/params\.steps: a number/);

    const started = await api('POST', `/api/v1/pipelines/${shipId}/runs`, {
      params: { steps: 80 },
    });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    expect(started.json.params).toEqual({ steps: 80, fd_budget: 1e9 });
    expect(nodeOf(started.json, 'train').status).toBe('running');
    expect(nodeOf(started.json, 'distill')).toMatchObject({
      status: 'pending',
      needs: ['train'],
      detail: 'waiting for train',
    });
    const run = await finished(started.json.id, 300_000);
    expect(run.status, JSON.stringify(run)).toBe('succeeded');
    expect(run.nodes.map((n: { key: string; status: string }) => [n.key, n.status])).toEqual([
      ['train', 'succeeded'],
      ['distill', 'succeeded'],
      ['evaluate', 'succeeded'],
      ['promote', 'succeeded'],
      ['deploy', 'succeeded'],
    ]);
    const train = nodeOf(run, 'train');
    // The train job ran with the param the run was given.
    const job = (await api('GET', `/api/v1/jobs/${train.jobId}`)).json;
    expect(job.spec.steps).toBe(80);
    expect(train.outputs).toMatchObject({ model: 'shapes-tiny-8', version: 1 });
    // The distill job read the teacher the train node registered; its kept student is the
    // last stage within the budget: 8 steps, version 2 of the students' model.
    const distill = nodeOf(run, 'distill');
    const distillJob = (await api('GET', `/api/v1/jobs/${distill.jobId}`)).json;
    expect(distillJob.spec.teacher).toBe(train.outputs.version_id);
    expect(distill.outputs).toMatchObject({
      model: 'shapes-tiny-8-progressive',
      version: 2,
      steps: 8,
    });
    expect(distill.outputs.fd).toBeGreaterThan(0);
    // The evaluate job scored that student at its steps.
    const evaluate = nodeOf(run, 'evaluate');
    expect(evaluate.outputs.fd).toBeGreaterThan(0);
    expect(evaluate.outputs.floor_fd).toBeGreaterThanOrEqual(0);
    const evalJob = (await api('GET', `/api/v1/jobs/${evaluate.jobId}`)).json;
    expect(evalJob.spec).toMatchObject({
      model: { kind: 'modelVersion', id: distill.outputs.version_id },
      sampler: 'ddim',
      steps: 8,
    });
    const model = (
      await api('GET', `/api/v1/projects/${projectId}/models/shapes-tiny-8-progressive`)
    ).json;
    expect(aliasesOf(model, 2)).toContain('production');
    // Served: the student behind the alias, at the steps it was distilled for.
    const deployment = (
      await api('GET', `/api/v1/deployments/${nodeOf(run, 'deploy').outputs.deployment_id}`)
    ).json;
    expect(deployment).toMatchObject({
      name: 'tiny',
      status: 'serving',
      alias: 'production',
      model: 'shapes-tiny-8-progressive',
      version: 2,
      sampling: { sampler: 'ddim', steps: 8 },
    });
    const listed = (await api('GET', `/api/v1/projects/${projectId}/pipelines`)).json.pipelines;
    expect(listed.find((p: { id: string }) => p.id === shipId).lastRun).toMatchObject({
      id: run.id,
      status: 'succeeded',
    });
  }, 360_000);

  it('skips the promotion and what follows it when FD misses the budget', async () => {
    const saved = await api('POST', `/api/v1/projects/${projectId}/pipelines`, {
      name: 'gate',
      spec: trainEvaluatePromoteDeploy,
    });
    expect(saved.status, JSON.stringify(saved.json)).toBe(201);
    const started = await api('POST', `/api/v1/pipelines/${saved.json.id}/runs`, {
      params: { steps: 20, fd_budget: 0 },
    });
    const run = await finished(started.json.id, 240_000);
    // A condition that does not hold is an outcome, not a failure.
    expect(run.status).toBe('succeeded');
    expect(nodeOf(run, 'promote')).toMatchObject({ status: 'skipped' });
    expect(nodeOf(run, 'promote').detail).toMatch(
      /^condition not met: \$\{evaluate\.fd\} <= \$\{params\.fd_budget\} is [0-9.e+-]+ <= 0$/,
    );
    expect(nodeOf(run, 'deploy')).toMatchObject({
      status: 'skipped',
      detail: 'not run: promote was skipped',
    });
    // No version of the trained model was promoted.
    const model = (await api('GET', `/api/v1/projects/${projectId}/models/shapes-tiny-8`)).json;
    for (const v of model.versions) expect(v.aliases).not.toContain('production');
  }, 300_000);

  it('takes over a live deployment only when it serves what the deploy node asks for', async () => {
    // "tiny" serves the student at 8 ddim steps (the first test); this node asks for 4.
    const saved = await api('POST', `/api/v1/projects/${projectId}/pipelines`, {
      name: 'redeploy',
      spec: {
        nodes: [
          {
            key: 'deploy',
            kind: 'deploy',
            spec: {
              name: 'tiny',
              model: 'shapes-tiny-8-progressive',
              alias: 'production',
              sampling: { sampler: 'ddim', steps: 4 },
            },
          },
        ],
      },
    });
    expect(saved.status, JSON.stringify(saved.json)).toBe(201);
    const started = await api('POST', `/api/v1/pipelines/${saved.json.id}/runs`, {});
    const run = await finished(started.json.id);
    expect(run.status).toBe('failed');
    expect(nodeOf(run, 'deploy').detail).toBe(
      'deployment "tiny" is live and samples with {"sampler":"ddim","steps":8}, not {"sampler":"ddim","steps":4}; give the node another name, or stop that deployment',
    );
  });

  it('retries a failing job, then fails the run naming the node and the reason', async () => {
    // A run with no checkpoint: the server accepts the sample job, the agent cannot run it.
    const empty = (await api('POST', `/api/v1/projects/${projectId}/runs`, { name: 'empty' })).json;
    const saved = await api('POST', `/api/v1/projects/${projectId}/pipelines`, {
      name: 'flaky',
      spec: {
        nodes: [
          {
            key: 'sample',
            kind: 'sample',
            retries: 1,
            spec: { model: { kind: 'run', runId: empty.id }, n: 4 },
          },
          {
            key: 'after',
            kind: 'register',
            spec: { version_id: '${train.version_id}', alias: 'x' },
            needs: ['sample'],
          },
          {
            key: 'train',
            kind: 'train',
            needs: ['sample'],
            spec: trainEvaluatePromoteDeploy.nodes[0]?.spec,
          },
        ],
        params: { steps: 10 },
      },
    });
    expect(saved.status, JSON.stringify(saved.json)).toBe(201);
    const started = await api('POST', `/api/v1/pipelines/${saved.json.id}/runs`, {});
    const run = await finished(started.json.id);
    expect(run.status).toBe('failed');
    const sample = nodeOf(run, 'sample');
    expect(sample).toMatchObject({ status: 'failed', attempts: 2, retries: 1 });
    expect(sample.detail).toMatch(/^its sample job failed: .+\(after 2 attempts\)$/);
    expect(nodeOf(run, 'train')).toMatchObject({
      status: 'skipped',
      detail: 'not run: sample failed',
    });
    expect(nodeOf(run, 'after').status).toBe('skipped');
    expect(run.error).toMatch(/^sample: its sample job failed/);
  }, 180_000);

  it('saves, runs and follows a pipeline from the command line', async () => {
    const file = join(home, 'stage.json');
    writeFileSync(
      file,
      JSON.stringify({
        params: { steps: 200, alias: 'staging' },
        nodes: [
          trainEvaluatePromoteDeploy.nodes[0],
          {
            key: 'stage',
            kind: 'register',
            spec: { version_id: '${train.version_id}', alias: '${params.alias}' },
          },
        ],
      }),
    );
    const save = ['pipeline', 'save', '--project', 'pipes', '--name', 'stage', '--file', file];
    const created = await cli(save);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created pipeline stage \(.+\): 2 nodes/);
    // Saving again replaces the spec.
    expect((await cli(save)).stdout).toMatch(/^updated pipeline stage/);
    const typo = await cli([
      ...['pipeline', 'run', '--project', 'pipes', '--name', 'stage', '--param', 'steps=ten'],
    ]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/--param: steps is a number; got "ten"/);
    const ran = await cli([
      ...['pipeline', 'run', '--project', 'pipes', '--name', 'stage'],
      ...['--param', 'steps=20', '--param', 'alias=candidate', '--wait', '--json'],
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    const run = JSON.parse(ran.stdout.trim().split('\n').at(-1) as string);
    stageId = run.pipelineId;
    expect(run).toMatchObject({ status: 'succeeded', params: { steps: 20, alias: 'candidate' } });
    // The nodes' progress went to stderr as it happened.
    expect(ran.stderr).toMatch(/train \(train\) running/);
    expect(ran.stderr).toMatch(/stage \(register\) succeeded: shapes-tiny-8@candidate -> v\d+/);
    const status = await cli(['pipeline', 'status', '--run', run.id]);
    expect(status.stdout).toMatch(
      new RegExp(`^stage run ${run.id}: succeeded\n  train +train +succeeded`),
    );
    const listed = await cli(['pipeline', 'list', '--project', 'pipes']);
    expect(listed.stdout).toMatch(/^stage \(.+\): 2 nodes; last run succeeded/m);
    // Running needs the project; saving creates it, as `anneal submit` does.
    const nowhere = await cli(['pipeline', 'run', '--project', 'pipes-2', '--name', 'stage']);
    expect(nowhere.code).not.toBe(0);
    expect(nowhere.stderr).toMatch(/--project: no project named pipes-2/);
    const fresh = await cli([
      'pipeline',
      'save',
      '--project',
      'pipes-2',
      '--name',
      'stage',
      '--file',
      file,
    ]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).toMatch(/created project pipes-2/);
    expect(fresh.stdout).toMatch(/^created pipeline stage/);
  }, 180_000);

  it('starts nothing more for a user who may no longer write', async () => {
    const editor = await h.user('pipeline-org', 'editor');
    const started = await h.api(editor.token, 'POST', `/api/v1/pipelines/${stageId}/runs`, {
      params: { steps: 20 },
    });
    expect(started.status, JSON.stringify(started.json)).toBe(201);
    expect(nodeOf(started.json, 'train').status).toBe('running');
    // Demoted while the train node runs: the node after it does not start.
    await h.services.db
      .update(memberships)
      .set({ role: 'viewer' })
      .where(eq(memberships.userId, editor.userId));
    const run = await finished(started.json.id);
    expect(run.status).toBe('failed');
    expect(nodeOf(run, 'train').status).toBe('succeeded');
    expect(nodeOf(run, 'stage')).toMatchObject({
      status: 'failed',
      detail: 'the user who started the run may no longer write (viewer)',
    });
  });

  it('goes on after a server restart mid-run, and a cancel stops the running job', async () => {
    const started = await api('POST', `/api/v1/pipelines/${stageId}/runs`, {
      params: { steps: 200 },
    });
    const id = started.json.id;
    const jobId = nodeOf(started.json, 'train').jobId;
    await until('the train job to run', async () => {
      const job = (await api('GET', `/api/v1/jobs/${jobId}`)).json;
      return job.status === 'running' && (job.step ?? 0) > 0;
    });
    await h.restart(500);
    // The run is still there, its train node still on the same job (or already done with it:
    // the agent may report it finished as it reconnects), and it finishes.
    const after = nodeOf(await runOf(id), 'train');
    expect(after.jobId).toBe(jobId);
    expect(['running', 'succeeded']).toContain(after.status);
    const run = await finished(id, 240_000);
    expect(run.status, JSON.stringify(run)).toBe('succeeded');
    expect(nodeOf(run, 'train')).toMatchObject({ status: 'succeeded', attempts: 1, jobId });
    expect(nodeOf(run, 'stage').status).toBe('succeeded');

    const again = await api('POST', `/api/v1/pipelines/${stageId}/runs`, {
      params: { steps: 4000 },
    });
    const trainJob = nodeOf(again.json, 'train').jobId;
    await until('the train job to run', async () => {
      const job = (await api('GET', `/api/v1/jobs/${trainJob}`)).json;
      return job.status === 'running';
    });
    const cancelled = await api('POST', `/api/v1/pipeline-runs/${again.json.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.status).toBe('cancelled');
    expect(nodeOf(cancelled.json, 'train').status).toBe('cancelled');
    expect(nodeOf(cancelled.json, 'stage').status).toBe('cancelled');
    const job = (await api('GET', `/api/v1/jobs/${trainJob}`)).json;
    expect(job.status).toBe('cancelled');
    const twice = await api('POST', `/api/v1/pipeline-runs/${again.json.id}/cancel`);
    expect(twice.status).toBe(409);
  }, 360_000);
});
