import { randomUUID } from 'node:crypto';
import { jobs, modelVersions, runs, tokens } from '@anneal/db/schema';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { versionClassesSql } from '../domain/jobs/jobs.ts';
import { TestAgent } from '../gateway/test-agent.ts';
import { startWorld, stopWorld, subscribe, trainJob, trpc, type World } from '../testing/world.ts';

// The cases issue 10 reported, one by one: an agent token had owner powers through tRPC,
// and ids of another organization in bodies, project job lists and subscriptions were
// stored, answered 200 or failed with an internal error.

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 120_000);
afterAll(() => stopWorld(w));

const count = async (table: typeof jobs | typeof runs | typeof tokens | typeof modelVersions) =>
  (await w.h.services.db.select().from(table)).length;

describe('an agent token through tRPC', () => {
  it('cannot mint an API token', async () => {
    const before = await count(tokens);
    const res = await trpc(w, w.agent.token, 'tokens.createApi', 'mutation', { name: 'escalate' });
    expect(res.status).toBe(403);
    expect(res.json.error.message).toMatch(/agent token/);
    expect(await count(tokens)).toBe(before);
  });

  it("cannot revoke the owner's API token", async () => {
    const res = await trpc(w, w.agent.token, 'tokens.revoke', 'mutation', {
      tokenId: w.ids.tokenId,
    });
    expect(res.status).toBe(403);
    expect((await w.h.api(w.a.token, 'GET', '/api/v1/projects')).status).toBe(200);
  });

  it('cannot revoke its own token either: token management is for people and API tokens', async () => {
    const res = await trpc(w, w.agent.token, 'tokens.revoke', 'mutation', {
      tokenId: w.agent.id,
    });
    expect(res.status).toBe(403);
  });

  it('cannot update a run outside its lease, and can update the leased one', async () => {
    const res = await trpc(w, w.agent.token, 'runs.update', 'mutation', {
      runId: w.ids.runId,
      status: 'failed',
    });
    expect(res.status).toBe(403);
    expect(res.json.error.message).toMatch(/runs of jobs leased to its agent/);
    expect((await w.h.api(w.a.token, 'GET', `/api/v1/runs/${w.ids.runId}`)).json.status).toBe(
      'running',
    );
    const own = await trpc(w, w.agent.token, 'runs.update', 'mutation', {
      runId: w.leased.runId,
      tags: { note: 'from the agent' },
    });
    expect(own.status, JSON.stringify(own.json)).toBe(200);
  });

  it('creates no job, project or model version', async () => {
    const [jobsBefore, runsBefore, versionsBefore] = [
      await count(jobs),
      await count(runs),
      await count(modelVersions),
    ];
    const calls = [
      trpc(w, w.agent.token, 'jobs.create', 'mutation', {
        projectId: w.ids.projectId,
        job: trainJob,
      }),
      trpc(w, w.agent.token, 'projects.create', 'mutation', { name: 'agent-made' }),
      trpc(w, w.agent.token, 'registry.register', 'mutation', {
        projectId: w.ids.projectId,
        name: 'agent-model',
        sourceRunId: w.leased.runId,
      }),
    ];
    for (const res of await Promise.all(calls)) expect(res.status).toBe(403);
    expect(await count(jobs)).toBe(jobsBefore);
    expect(await count(runs)).toBe(runsBefore);
    expect(await count(modelVersions)).toBe(versionsBefore);
    const projects = await w.h.api(w.a.token, 'GET', '/api/v1/projects');
    expect(projects.json.projects).toHaveLength(1);
  });

  it('reads no dataset version its leased job does not use', async () => {
    const res = await trpc(w, w.agent.token, 'datasets.version', 'query', {
      versionId: w.ids.datasetVersionId,
    });
    expect(res.status).toBe(403);
    expect(res.json.error.message).toMatch(/only while a job leased to its agent uses it/);
  });

  it('lists nothing of the organization', async () => {
    for (const path of ['projects.list', 'tokens.list', 'members.list', 'agents.list'])
      expect((await trpc(w, w.agent.token, path, 'query')).status, path).toBe(403);
  });
});

describe('an agent token through REST', () => {
  it('writes to its leased run only', async () => {
    const put = (runId: string) =>
      w.h.api(w.agent.token, 'PUT', `/api/v1/runs/${runId}/artifacts/notes.txt`, 'hello', {
        'content-type': 'application/octet-stream',
      });
    expect((await put(w.leased.runId)).status).toBe(201);
    expect((await put(w.ids.runId)).status).toBe(403);
    const metrics = { metrics: [{ key: 'loss', step: 0, value: 1 }] };
    expect(
      (await w.h.api(w.agent.token, 'POST', `/api/v1/runs/${w.leased.runId}/metrics`, metrics))
        .status,
    ).toBe(200);
    expect(
      (await w.h.api(w.agent.token, 'POST', `/api/v1/runs/${w.ids.runId}/metrics`, metrics)).status,
    ).toBe(403);
  });

  it('reads the artifacts of its leased run, not of others', async () => {
    expect(
      (await w.h.api(w.agent.token, 'GET', `/api/v1/runs/${w.leased.runId}/artifacts`)).status,
    ).toBe(200);
    expect(
      (await w.h.api(w.agent.token, 'GET', `/api/v1/runs/${w.ids.runId}/artifacts`)).status,
    ).toBe(403);
    expect(
      (await w.h.api(w.agent.token, 'GET', `/api/v1/runs/${w.ids.runId}/artifacts/ckpt.bin`))
        .status,
    ).toBe(403);
  });

  it('a sample job opens its checkpoint to its agent: the source run and model version, read only', async () => {
    // A second agent leases the queued sample job, whose weights come from run A.
    const token = await createToken(w.h.services.db, w.a, 'agent', 'sampler');
    const sampler = await TestAgent.connect(w.h.url, token.token);
    try {
      const offer = await sampler.next('job_offer');
      expect(offer.jobId).toBe(w.ids.jobId);
      const get = (path: string) => w.h.api(token.token, 'GET', `/api/v1${path}`);
      expect((await get(`/runs/${w.ids.runId}/artifacts`)).status).toBe(200);
      const bytes = await get(`/runs/${w.ids.runId}/artifacts/ckpt.bin`);
      expect(bytes.status).toBe(200);
      expect(bytes.json).toBe('weights');
      // Read, not write: the source run is not the job's run.
      const put = await w.h.api(
        token.token,
        'PUT',
        `/api/v1/runs/${w.ids.runId}/artifacts/ckpt.bin`,
        'overwritten',
        { 'content-type': 'application/octet-stream' },
      );
      expect(put.status).toBe(403);
      // Its job names a run, not the model version, nor the run's dataset.
      expect((await get(`/model-versions/${w.ids.modelVersionId}`)).status).toBe(403);
      expect((await get(`/dataset-versions/${w.ids.datasetVersionId}`)).status).toBe(403);
      // The first agent's token holds no lease on this job.
      expect(
        (await w.h.api(w.agent.token, 'GET', `/api/v1/runs/${w.ids.runId}/artifacts`)).status,
      ).toBe(403);
    } finally {
      sampler.close();
    }
  });

  it('reads the model version its evaluate job names', async () => {
    const token = await createToken(w.h.services.db, w.a, 'agent', 'evaluator');
    const evaluator = await TestAgent.connect(w.h.url, token.token);
    try {
      const job = await w.h.api(w.a.token, 'POST', `/api/v1/projects/${w.ids.projectId}/jobs`, {
        job: {
          type: 'evaluate',
          spec: { model: { kind: 'modelVersion', id: w.ids.modelVersionId }, n: 10 },
        },
      });
      expect(job.status, JSON.stringify(job.json)).toBe(201);
      expect((await evaluator.next('job_offer')).jobId).toBe(job.json.id);
      const get = (path: string) => w.h.api(token.token, 'GET', `/api/v1${path}`);
      const version = await get(`/model-versions/${w.ids.modelVersionId}`);
      expect(version.status).toBe(200);
      expect(version.json.sourceRunId).toBe(w.ids.runId);
      expect((await get(`/runs/${w.ids.runId}/artifacts/ckpt.bin`)).status).toBe(200);
      // Reading the version is not writing to it: a leased evaluate job may not replace the
      // version's learned schedules (that route is for people and API tokens).
      const schedule = await w.h.api(
        token.token,
        'POST',
        `/api/v1/model-versions/${w.ids.modelVersionId}/schedules`,
        {
          sampler: 'euler',
          nfe: 2,
          steps: 2,
          sigmas: [80, 1, 0],
          method: 'test',
          calibration: {
            n: 4,
            seed: 0,
            heldout_seed: 1,
            reference: { sampler: 'heun', steps: 8 },
          },
          scores: {
            baseline: { schedule: 'karras', train_error: 1, heldout_error: 1 },
            learned: { train_error: 0.5, heldout_error: 0.5 },
          },
          model: 'm',
          created_at: new Date(0).toISOString(),
        },
      );
      expect(schedule.status).toBe(403);
      expect(JSON.stringify(schedule.json)).toMatch(/an agent token only runs the jobs leased/);
      // The evaluation data: the version the run behind the checkpoint was made from is
      // not readable, since no train job made that run (only jobs carry a dataset ref).
      expect((await get(`/dataset-versions/${w.ids.datasetVersionId}`)).status).toBe(403);
    } finally {
      evaluator.close();
    }
  });

  it('upper-case ids in a job spec and in paths reach the same rows', async () => {
    // z.uuid() takes upper case; PostgreSQL prints uuids in lower case.
    const token = await createToken(w.h.services.db, w.a, 'agent', 'upper-case');
    const agent = await TestAgent.connect(w.h.url, token.token);
    try {
      const versionId = w.ids.datasetVersionId;
      const version = await w.h.api(w.a.token, 'GET', `/api/v1/dataset-versions/${versionId}`);
      const job = await w.h.api(w.a.token, 'POST', `/api/v1/projects/${w.ids.projectId}/jobs`, {
        job: {
          type: 'train',
          spec: {
            ...trainJob.spec,
            dataset: {
              kind: 'version',
              id: versionId.toUpperCase(),
              hash: version.json.contentHash,
            },
          },
        },
      });
      expect(job.status, JSON.stringify(job.json)).toBe(201);
      expect((await agent.next('job_offer')).jobId).toBe(job.json.id);
      const get = (path: string) => w.h.api(token.token, 'GET', `/api/v1${path}`);
      expect((await get(`/dataset-versions/${versionId}`)).status).toBe(200);
      expect((await get(`/dataset-versions/${versionId.toUpperCase()}`)).status).toBe(200);
      // The job's requirement counted the version's classes (2: cat and dog).
      const [row] = await w.h.services.db
        .select({ classes: versionClassesSql(sql`${jobs.spec}`) })
        .from(jobs)
        .where(eq(jobs.id, job.json.id));
      expect(row?.classes).toBe(2);
    } finally {
      agent.close();
    }
  });

  it('creates no job or project', async () => {
    expect(
      (
        await w.h.api(w.agent.token, 'POST', `/api/v1/projects/${w.ids.projectId}/jobs`, {
          job: trainJob,
        })
      ).status,
    ).toBe(403);
    expect((await w.h.api(w.agent.token, 'POST', '/api/v1/projects', { name: 'x' })).status).toBe(
      403,
    );
  });
});

describe('ids of another organization, or of none, are not found', () => {
  it('a run is not created with a dataset version of another organization or an unknown one', async () => {
    const before = await count(runs);
    for (const datasetVersionId of [w.ids.datasetVersionId, randomUUID()]) {
      const res = await w.h.api(w.b.token, 'POST', `/api/v1/projects/${w.idsB.projectId}/runs`, {
        datasetVersionId,
      });
      expect(res.status, JSON.stringify(res.json)).toBe(404);
      expect(res.json.error.message).toBe(
        `datasetVersionId: no dataset version ${datasetVersionId}`,
      );
    }
    expect(await count(runs)).toBe(before);
    // Its own organization's version is fine.
    const ok = await w.h.api(w.b.token, 'POST', `/api/v1/projects/${w.idsB.projectId}/runs`, {
      datasetVersionId: w.idsB.datasetVersionId,
    });
    expect(ok.status).toBe(201);
    expect(ok.json.datasetVersionId).toBe(w.idsB.datasetVersionId);
  });

  it("a model version is not registered from another organization's run", async () => {
    const res = await w.h.api(
      w.b.token,
      'POST',
      `/api/v1/projects/${w.idsB.projectId}/models/stolen/versions`,
      { sourceRunId: w.ids.runId },
    );
    expect(res.status).toBe(404);
    expect(res.json.error.message).toContain(w.ids.runId);
  });

  it("a project's jobs are not listed for another organization", async () => {
    for (const projectId of [w.ids.projectId, randomUUID()]) {
      const res = await w.h.api(w.b.token, 'GET', `/api/v1/projects/${projectId}/jobs`);
      expect(res.status).toBe(404);
      expect(res.json.error.message).toBe(`projectId: no project ${projectId}`);
      const t = await trpc(w, w.b.token, 'jobs.list', 'query', { projectId });
      expect(t.status).toBe(404);
    }
  });

  it('runs.watch and jobs.watch answer NOT_FOUND on foreign and unknown ids', async () => {
    for (const runId of [w.ids.runId, randomUUID()]) {
      const res = await subscribe(w, w.b.token, 'runs.watch', { runId });
      expect(res.json.data.code).toBe('NOT_FOUND');
      expect(res.status).toBe(404);
    }
    for (const projectId of [w.ids.projectId, randomUUID()]) {
      const res = await subscribe(w, w.b.token, 'jobs.watch', { projectId });
      expect(res.json.data.code).toBe('NOT_FOUND');
      expect(res.json.message).toBe(`projectId: no project ${projectId}`);
    }
  });
});
