import { agents as agentRows, jobs, projects as projectsTable, runs } from '@anneal/db/schema';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseNextJob } from '../domain/jobs/leases.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// A project or run deleted through MLflow is soft-deleted: it keeps its data and can be
// restored, but Anneal's own API must not keep writing to it (nor agents train for it).

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(() => h?.stop());

async function mlflow(token: string, path: string, body: unknown) {
  const res = await fetch(`${h.url}/api/2.0/mlflow/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const trainJob = {
  job: {
    type: 'train',
    spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 8, steps: 4, preset: 'tiny' },
  },
};

describe('a project deleted through MLflow', () => {
  it('refuses new runs, jobs and model versions through Anneal, naming the project', async () => {
    const org = await h.user('deleted-project', 'owner');
    const exp = (await mlflow(org.token, 'experiments/create', { name: 'gone' })).json
      .experiment_id as string;
    await mlflow(org.token, 'runs/create', { experiment_id: exp });
    expect((await mlflow(org.token, 'experiments/delete', { experiment_id: exp })).status).toBe(
      200,
    );
    const message = 'projectId: gone was deleted through MLflow; restore it first';

    const run = await h.api(org.token, 'POST', `/api/v1/projects/${exp}/runs`, { name: 'r' });
    expect(run.status).toBe(400);
    expect(run.json.error.message).toBe(message);
    const job = await h.api(org.token, 'POST', `/api/v1/projects/${exp}/jobs`, trainJob);
    expect(job.status).toBe(400);
    expect(job.json.error.message).toBe(message);
    const version = await h.api(org.token, 'POST', `/api/v1/projects/${exp}/models/m/versions`, {});
    expect(version.status).toBe(400);
    expect(version.json.error.message).toBe(message);

    // A run of the deleted project restores with it, not alone; MLflow's refusal names run_id.
    const inside = await h.services.db
      .select({ id: runs.id })
      .from(runs)
      .where(eq(runs.projectId, exp));
    expect(inside).toHaveLength(1);
    const alone = await mlflow(org.token, 'runs/restore', { run_id: inside[0]?.id });
    expect(alone.status).toBe(400);
    expect(alone.json.message).toMatch(/^run_id: run .* is in project "gone", which is deleted/);
    // Restored, it takes writes again.
    expect((await mlflow(org.token, 'experiments/restore', { experiment_id: exp })).status).toBe(
      200,
    );
    const again = await h.api(org.token, 'POST', `/api/v1/projects/${exp}/runs`, { name: 'r' });
    expect(again.status).toBe(201);
  });

  it('leaves a queued job of a project deleted afterwards unleased', async () => {
    const org = await h.user('deleted-queue', 'owner');
    const project = (await h.api(org.token, 'POST', '/api/v1/projects', { name: 'q' })).json
      .id as string;
    const job = await h.api(org.token, 'POST', `/api/v1/projects/${project}/jobs`, trainJob);
    expect(job.status).toBe(201);
    const [agent] = await h.services.db
      .insert(agentRows)
      .values({ orgId: org.orgId, name: 'idle' })
      .returning({ id: agentRows.id, orgId: agentRows.orgId });
    if (!agent) throw new Error('no agent row');
    // MLflow refuses to delete a project with job runs; a delete that raced the job (or a
    // row from before the check) leaves exactly this state, which the lease must skip.
    await h.services.db
      .update(projectsTable)
      .set({ deletedAt: new Date() })
      .where(eq(projectsTable.id, project));
    expect(await leaseNextJob(h.services.db, agent, 60_000)).toBeNull();
    await h.services.db
      .update(projectsTable)
      .set({ deletedAt: null })
      .where(eq(projectsTable.id, project));
    expect((await leaseNextJob(h.services.db, agent, 60_000))?.jobId).toBe(job.json.id);
  });
});

describe('a run deleted through MLflow', () => {
  it('refuses writes through Anneal’s REST and tRPC APIs and as a version’s source, naming the run', async () => {
    const org = await h.user('deleted-run', 'owner');
    const exp = (await mlflow(org.token, 'experiments/create', { name: 'runs' })).json
      .experiment_id as string;
    const run = (await mlflow(org.token, 'runs/create', { experiment_id: exp, run_name: 'old' }))
      .json.run.info.run_id as string;
    expect((await mlflow(org.token, 'runs/delete', { run_id: run })).status).toBe(200);
    const message = `runId: run ${run} (old) was deleted through MLflow; restore it first (Restore on its page, or MLflow's restore_run)`;

    const patch = await h.api(org.token, 'PATCH', `/api/v1/runs/${run}`, { status: 'failed' });
    expect(patch.status).toBe(400);
    expect(patch.json.error.message).toBe(message);
    const metrics = await h.api(org.token, 'POST', `/api/v1/runs/${run}/metrics`, {
      metrics: [{ key: 'loss', step: 1, value: 0.5 }],
    });
    expect(metrics.status).toBe(400);
    expect(metrics.json.error.message).toBe(message);
    const logs = await h.api(org.token, 'POST', `/api/v1/runs/${run}/logs`, {
      lines: [{ seq: 0, line: 'hi' }],
    });
    expect(logs.status).toBe(400);
    expect(logs.json.error.message).toBe(message);
    const trpc = await fetch(`${h.url}/api/trpc/runs.update`, {
      method: 'POST',
      headers: { authorization: `Bearer ${org.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ runId: run, status: 'failed' }),
    });
    expect(trpc.status).toBe(400);
    expect(((await trpc.json()) as { error: { message: string } }).error.message).toBe(message);
    const version = await h.api(org.token, 'POST', `/api/v1/projects/${exp}/models/m/versions`, {
      sourceRunId: run,
    });
    expect(version.status).toBe(400);
    expect(version.json.error.message).toBe(message);
    // With two projects, MLflow's registered-models/create leaves the model unbound until its
    // first version; a refused version must not bind it to the deleted run's project.
    await mlflow(org.token, 'experiments/create', { name: 'second' });
    expect((await mlflow(org.token, 'registered-models/create', { name: 'pending' })).status).toBe(
      200,
    );
    const mv = await mlflow(org.token, 'model-versions/create', {
      name: 'pending',
      source: `runs:/${run}/model`,
      run_id: run,
    });
    expect(mv.status).toBe(400);
    expect(mv.json).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message });
    const models = await h.api(org.token, 'GET', `/api/v1/projects/${exp}/models`);
    expect(models.json.models).toEqual([]);

    // Nothing was written: the run still has its status and no points.
    const own = (await h.api(org.token, 'GET', `/api/v1/runs/${run}`)).json;
    expect(own.status).toBe('running');
    expect((await h.api(org.token, 'GET', `/api/v1/runs/${run}/metrics`)).json.metrics).toEqual([]);
    // Restored, it takes writes again.
    expect((await mlflow(org.token, 'runs/restore', { run_id: run })).status).toBe(200);
    expect(
      (await h.api(org.token, 'PATCH', `/api/v1/runs/${run}`, { status: 'failed' })).status,
    ).toBe(200);
  });
});

/** Until some session waits on a row lock (what the concurrent request blocks on). */
async function untilSomeoneWaitsOnALock() {
  for (let i = 0; i < 1000; i++) {
    const rows = await h.services.db.execute<{ n: number }>(
      sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock'`,
    );
    if ((rows[0]?.n ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no request ever waited on the project row');
}

describe('a project delete racing a write', () => {
  it('a run created while the delete holds the project waits, then is refused', async () => {
    const org = await h.user('race-run', 'owner');
    const exp = (await mlflow(org.token, 'experiments/create', { name: 'racing' })).json
      .experiment_id as string;
    let pending: Promise<{ status: number; json: any }> | undefined;
    await h.services.db.transaction(async (tx) => {
      // What deleteProjectSoftly does first: lock the row; then the checks and the mark.
      await tx.select().from(projectsTable).where(eq(projectsTable.id, exp)).for('update');
      pending = h.api(org.token, 'POST', `/api/v1/projects/${exp}/runs`, { name: 'late' });
      await untilSomeoneWaitsOnALock();
      await tx
        .update(projectsTable)
        .set({ deletedAt: new Date() })
        .where(eq(projectsTable.id, exp));
    });
    const got = await pending;
    expect(got?.status).toBe(400);
    expect(got?.json.error.message).toBe(
      'projectId: racing was deleted through MLflow; restore it first',
    );
  });

  it('so does MLflow’s runs/create, in MLflow’s words', async () => {
    const org = await h.user('race-mlflow-run', 'owner');
    const exp = (await mlflow(org.token, 'experiments/create', { name: 'racing' })).json
      .experiment_id as string;
    let pending: Promise<{ status: number; json: any }> | undefined;
    await h.services.db.transaction(async (tx) => {
      await tx.select().from(projectsTable).where(eq(projectsTable.id, exp)).for('update');
      pending = mlflow(org.token, 'runs/create', { experiment_id: exp });
      await untilSomeoneWaitsOnALock();
      await tx
        .update(projectsTable)
        .set({ deletedAt: new Date() })
        .where(eq(projectsTable.id, exp));
    });
    const got = await pending;
    expect(got?.status).toBe(400);
    expect(got?.json.message).toBe(
      `The experiment ${exp} must be in the 'active' state. Current state is deleted.`,
    );
  });

  it('a delete while a job is being created waits for it, then is refused', async () => {
    const org = await h.user('race-job', 'owner');
    const exp = (await mlflow(org.token, 'experiments/create', { name: 'busy' })).json
      .experiment_id as string;
    let pending: Promise<{ status: number; json: any }> | undefined;
    await h.services.db.transaction(async (tx) => {
      // What createJob does: share-lock the project, then insert the job and its run.
      await tx.select().from(projectsTable).where(eq(projectsTable.id, exp)).for('share');
      pending = mlflow(org.token, 'experiments/delete', { experiment_id: exp });
      await untilSomeoneWaitsOnALock();
      const [job] = await tx
        .insert(jobs)
        .values({ projectId: exp, type: 'train', spec: {} })
        .returning();
      await tx.insert(runs).values({ projectId: exp, name: 'job-run', jobId: job?.id });
    });
    const got = await pending;
    expect(got?.status).toBe(400);
    expect(got?.json.message).toMatch(/has runs of Anneal jobs/);
    const [project] = await h.services.db
      .select({ deletedAt: projectsTable.deletedAt })
      .from(projectsTable)
      .where(eq(projectsTable.id, exp));
    expect(project?.deletedAt).toBeNull();
  });
});
