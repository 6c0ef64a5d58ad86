import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { runs } from '@anneal/db/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { runJob, runLineage } from '../domain/runs/lineage.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { TestAgent } from './test-agent.ts';

// A failed job keeps its reason and its child's last lines (issue 14 item 7); sample and
// evaluate runs know the train run and version they read, and the train run knows them
// (item 1).

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let agentToken: string;
let projectId: string;

const trainJob = {
  job: {
    type: 'train',
    spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 8, steps: 4, preset: 'tiny' },
  },
};

async function queue(body: unknown, project = projectId) {
  const r = await h.api(owner.token, 'POST', `/api/v1/projects/${project}/jobs`, body);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; runId: string };
}

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user('failure-org', 'owner');
  agentToken = (
    await createToken(h.services.db, { userId: owner.userId, orgId: owner.orgId }, 'agent', 'a')
  ).token;
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'failures' })).json.id;
});
afterAll(() => h?.stop());

describe('a failed job', () => {
  it("keeps the reason and the child's last lines as the run's logs, once per attempt", async () => {
    const a = await TestAgent.connect(h.url, agentToken);
    const job = await queue(trainJob);
    const offer = await a.next('job_offer');
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    a.send({ type: 'job_accept', ...lease });
    const fail = {
      type: 'job_fail',
      ...lease,
      reason: 'the job exited with code 1: loss diverged',
      retryable: false,
      log: ['step 2/4 loss 0.91', 'error: loss diverged at step 3'],
    };
    a.send(fail);
    await expect
      .poll(async () => (await runJob(h.services.db, owner.orgId, job.runId))?.status)
      .toBe('failed');
    // A replay of the same failure (the journal after a reconnect) is refused: no new lines.
    a.send({ ...fail, ref: 7 });
    await a.next('error').catch(() => null);
    const logs = await h.api(owner.token, 'GET', `/api/v1/runs/${job.runId}/logs`);
    expect((logs.json.lines as { line: string }[]).map((l) => l.line)).toEqual([
      'attempt 1 failed: the job exited with code 1: loss diverged',
      'step 2/4 loss 0.91',
      'error: loss diverged at step 3',
    ]);
    expect(await runJob(h.services.db, owner.orgId, job.runId)).toMatchObject({
      type: 'train',
      status: 'failed',
      error: 'the job exited with code 1: loss diverged',
      attempts: 1,
    });
    a.close();
  });
});

describe('anneal submit --wait', () => {
  it("prints a failed job's reason and its last output lines", async () => {
    const a = await TestAgent.connect(h.url, agentToken);
    const dir = mkdtempSync(join(tmpdir(), 'anneal-submit-wait-'));
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'apps/agent/bin/anneal.js'),
        ...['submit', 'train', '--project', 'failures', '--dataset', 'shapes'],
        ...['--resolution', '8', '--steps', '4', '--preset', 'tiny', '--wait'],
      ],
      {
        env: {
          NODE_ENV: 'test',
          PATH: process.env.PATH ?? '',
          HOME: dir,
          ANNEAL_HOME: join(dir, 'home'),
          ANNEAL_CONFIG: join(dir, 'no-config.json'),
          ANNEAL_SERVER: h.url,
          ANNEAL_TOKEN: owner.token,
        },
        stdio: 'pipe',
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const offer = await a.next('job_offer');
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    a.send({ type: 'job_accept', ...lease });
    a.send({
      type: 'job_fail',
      ...lease,
      reason: 'the job exited with code 1: out of memory',
      retryable: false,
      log: ['preparing dataset shapes at 8x8...', 'error: out of memory'],
    });
    expect(await exited).not.toBe(0);
    expect(stderr).toContain('job failed: the job exited with code 1: out of memory');
    expect(stderr).toContain("last 3 lines of the job's output:");
    expect(stderr).toContain('  error: out of memory');
    a.close();
  }, 60_000);
});

describe('run lineage', () => {
  it('links a sample run to the train run it read, and the train run to it', async () => {
    const train = await queue(trainJob);
    const sample = await queue({
      job: { type: 'sample', spec: { model: { kind: 'run', runId: train.runId } } },
    });
    const evaluate = await queue({
      job: { type: 'evaluate', spec: { model: { kind: 'run', runId: train.runId } } },
    });
    const run = await h.api(owner.token, 'GET', `/api/v1/runs/${sample.runId}`);
    expect(run.json.parentRunId).toBe(train.runId);

    const up = await runLineage(h.services.db, owner.orgId, sample.runId);
    expect(up.source).toMatchObject({ id: train.runId, projectId });
    expect(up.modelVersion).toBeNull();
    const down = await runLineage(h.services.db, owner.orgId, train.runId);
    expect(down.source).toBeNull();
    expect(down.children.map((c) => [c.id, c.jobType]).sort()).toEqual(
      [
        [sample.runId, 'sample'],
        [evaluate.runId, 'evaluate'],
      ].sort(),
    );
    // Through a registered version: the sample run names the version and its source run;
    // the train run lists the version and the run made from it.
    const registered = await h.api(
      owner.token,
      'POST',
      `/api/v1/projects/${projectId}/models/lineage-model/versions`,
      { sourceRunId: train.runId, artifactPath: 'checkpoints/latest' },
    );
    expect(registered.status, JSON.stringify(registered.json)).toBe(201);
    const fromVersion = await queue({
      job: { type: 'sample', spec: { model: { kind: 'modelVersion', id: registered.json.id } } },
    });
    const viaVersion = await runLineage(h.services.db, owner.orgId, fromVersion.runId);
    expect(viaVersion.source).toMatchObject({ id: train.runId });
    expect(viaVersion.modelVersion).toMatchObject({ modelName: 'lineage-model', version: 1 });
    const run2 = await h.api(owner.token, 'GET', `/api/v1/runs/${fromVersion.runId}`);
    expect(run2.json.tags['anneal.model_version_id']).toBe(registered.json.id);
    const again = await runLineage(h.services.db, owner.orgId, train.runId);
    expect(again.versions).toEqual([
      expect.objectContaining({ modelName: 'lineage-model', version: 1 }),
    ]);
    expect(again.children.map((c) => c.id)).toContain(fromVersion.runId);

    // A run of no job (logged through the API) has no job and no lineage.
    const logged = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/runs`, {
      name: 'by hand',
    });
    expect(await runJob(h.services.db, owner.orgId, logged.json.id)).toBeNull();
    expect(await runLineage(h.services.db, owner.orgId, logged.json.id)).toMatchObject({
      source: null,
      children: [],
    });
  });
});

describe('run lineage across organizations', () => {
  it("another organization's runs are neither listed as children nor able to read a run's lineage or job", async () => {
    const train = await queue(trainJob);
    const other = await h.user('lineage-other-org', 'owner');
    const otherProject = (
      await h.api(other.token, 'POST', '/api/v1/projects', { name: 'elsewhere' })
    ).json.id as string;
    // A row no API call can make (a parent is looked up in the caller's org): another
    // organization's run naming this one as its parent must still not show in its lineage.
    const [stray] = await h.services.db
      .insert(runs)
      .values({ projectId: otherProject, name: 'stray', parentRunId: train.runId })
      .returning({ id: runs.id });
    const mine = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/runs`, {
      name: 'child by hand',
      parentRunId: train.runId,
    });
    expect(mine.status, JSON.stringify(mine.json)).toBe(201);
    const down = await runLineage(h.services.db, owner.orgId, train.runId);
    expect(down.children.map((c) => c.id)).toContain(mine.json.id);
    expect(down.children.map((c) => c.id)).not.toContain(stray?.id);

    await expect(runLineage(h.services.db, other.orgId, train.runId)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(runJob(h.services.db, other.orgId, train.runId)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
