import { modelVersions, registeredModels } from '@anneal/db/schema';
import { searchRecordSchema } from '@anneal/protocol';
import { searchFixtureUNet, searchSummaryFixture } from '@anneal/protocol/testing';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { recordSearch } from '../domain/jobs/kinds/search.ts';
import { runLineage } from '../domain/runs/lineage.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { pngOf } from '../testing/images.ts';
import { zipOf } from '../testing/zip.ts';
import { TestAgent } from './test-agent.ts';

// A search job's completion against a real server and PostgreSQL, with a scripted agent in
// place of `anneal search` (a real search trains for minutes): the teacher is a registered
// version of a logged run, on an uploaded dataset version. Checks what completion registers
// (each evaluated winner, with lineage and the search's measurements), that a replay
// registers nothing twice, and that a malformed summary fails the job and registers nothing.

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let agentToken: string;
let projectId: string;
let teacherId: string;
let datasetVersionId: string;

const unet = { ...searchFixtureUNet, sample_size: 8, in_channels: 3, out_channels: 3 };
const cost = (latencyMs: number) => ({
  latencyMs,
  throughputMsPerImage: latencyMs / 4,
  throughputBatch: 16,
  samplePeakBytes: 1e7,
  trainStepMs: 20 * latencyMs,
  trainBatch: 32,
  trainPeakBytes: 2 ** 28,
});
const evaluation = (fd: number) => ({
  n: 500,
  fd,
  floor: 0.5,
  kid: 0.01,
  precision: 0.7,
  recall: 0.6,
  classAccuracy: null,
});
const rungs = [
  { iters: 100, proxy: 0.03, trainSeconds: 10 },
  { iters: 200, proxy: 0.02, trainSeconds: 11 },
];
const A = 'w16.32-l1-a.A-h16-g8';
const B = 'w8.16-l1-a..-g8';
const C = 'w16.16-l1-a..-g8';

/** A finished search: winners A (evaluated), B (evaluated) and C (trained, not evaluated). */
function summary() {
  const winner = (name: string, latencyMs: number, fd: number | null) => ({
    name,
    unet,
    parameters: 100_000,
    measured: cost(latencyMs),
    speedup: 6 / latencyMs,
    rungs,
    full:
      fd === null
        ? { iters: 500, proxy: 0.01, trainSeconds: 60 }
        : { iters: 500, proxy: 0.01, trainSeconds: 60, eval: evaluation(fd) },
    dir: fd === null ? null : `winners/${name}`,
  });
  return {
    out: '/agent/work/search',
    phase: 'done',
    profile: 'cpu-test_cpu-2t-mlx0.0.0',
    hardware: searchSummaryFixture.hardware,
    settings: {
      ...searchSummaryFixture.settings,
      space: { widthScales: [0.5, 1] },
      fitSample: 3,
      pool: 3,
      rungs: 2,
      winners: 3,
      fullIters: 500,
      evalN: 500,
    },
    teacher: { dir: '/agent/work/teacher', weights: 'b'.repeat(64), name: 'w32.64-l2-a.AM-h16-g8' },
    latencyLimitMs: 4,
    candidates: 40,
    measured: 7,
    seconds: { measure: 30, proxy: 300 },
    pool: [A, B, C].map((name, i) => ({
      name,
      parameters: 100_000,
      measured: cost(2 + i),
      predicted: {
        latencyMs: 2.2 + i,
        throughputMsPerImage: 0.5,
        trainStepMs: 40,
        trainPeakBytes: 2 ** 28,
      },
      rungs,
      dropped: null,
    })),
    front: ['w32.64-l2-a.AM-h16-g8', A, B, C],
    teacherEval: evaluation(2),
    winners: [winner(A, 2, 2.4), winner(B, 3, 3), winner(C, 4, null)],
  };
}

async function queueSearch() {
  const r = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
    job: { type: 'search', spec: { teacher: teacherId, speedup: 1.5, winners: 3 } },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; runId: string };
}

async function jobOf(id: string) {
  return (await h.api(owner.token, 'GET', `/api/v1/jobs/${id}`)).json as {
    status: string;
    error: string | null;
  };
}

async function versionsOf(runId: string) {
  return h.services.db
    .select({ name: registeredModels.name, v: modelVersions })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .where(eq(modelVersions.sourceRunId, runId))
    .orderBy(asc(modelVersions.version));
}

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user('search-org', 'owner');
  agentToken = (await createToken(h.services.db, owner, 'agent', 'searcher')).token;
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'search' })).json.id;
  const upload = await fetch(`${h.url}/api/v1/projects/${projectId}/datasets/pets/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/zip' },
    body: zipOf({ 'cat/1.png': pngOf(1), 'dog/1.png': pngOf(2), 'dog/2.png': pngOf(3) }),
  });
  datasetVersionId = ((await upload.json()) as { id: string }).id;
  const run = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/runs`, {
    name: 'teacher',
  });
  const teacher = await h.api(
    owner.token,
    'POST',
    `/api/v1/projects/${projectId}/models/pets-small/versions`,
    {
      sourceRunId: run.json.id,
      datasetVersionId,
      artifactPath: 'checkpoints/latest/model.safetensors',
    },
  );
  expect(teacher.status, JSON.stringify(teacher.json)).toBe(201);
  teacherId = teacher.json.id;
}, 60_000);
afterAll(() => h?.stop());

describe('search jobs', () => {
  it('registers each evaluated winner with lineage to the teacher, once however often the completion comes', async () => {
    const agent = await TestAgent.connect(h.url, agentToken, 1, 'searcher', {
      features: ['search'],
    });
    const job = await queueSearch();
    const offer = await agent.next('job_offer');
    expect(offer.job).toMatchObject({ type: 'search', spec: { teacher: teacherId } });
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    agent.send({ type: 'job_accept', ...lease });
    const complete = { type: 'job_complete', ...lease, ref: 1, summary: summary() };
    agent.send(complete);
    await expect.poll(async () => (await jobOf(job.id)).status).toBe('succeeded');

    const rows = await versionsOf(job.runId);
    // C was trained but never evaluated: its checkpoint was not published, so not registered.
    expect(rows.map((r) => [r.name, r.v.version, r.v.artifactPath])).toEqual([
      ['pets-small-search', 1, `winners/${A}/model.safetensors`],
      ['pets-small-search', 2, `winners/${B}/model.safetensors`],
    ]);
    const [a] = rows;
    expect(a?.v.datasetVersionId).toBe(datasetVersionId);
    expect(a?.v.metadata).toMatchObject({
      architecture: { block_out_channels: [16, 32], layers_per_block: 1 },
      sampler: 'dpmpp-2m',
      steps: 20,
      quality: { fd: 2.4, floor: 0.5, teacher_fd: 2, fd_ratio: 1.2 },
      hardware: { backend: 'cpu', profile: 'cpu-test_cpu-2t-mlx0.0.0' },
    });
    const record = searchRecordSchema.parse(a?.v.metadata.search);
    expect(record).toMatchObject({
      teacher: {
        version_id: teacherId,
        model: 'pets-small',
        version: 1,
        weights_sha256: 'b'.repeat(64),
      },
      job_id: job.id,
      run_id: job.runId,
      name: A,
      profile: 'cpu-test_cpu-2t-mlx0.0.0',
      space: { widthScales: [0.5, 1] },
      // A summary from before the objective was a setting: a latency search.
      settings: { objective: 'latency', proxy: { sampler: 'dpmpp-2m', steps: 20 } },
      latency_limit_ms: 4,
      measured: { latencyMs: 2 },
      predicted: { latencyMs: 2.2 },
      speedup: 3,
      rungs,
      full: { iters: 500, eval: { fd: 2.4 } },
      fd_ratio: 1.2,
    });
    // The run page links each winner to its version by the checkpoint it points at.
    const lineage = await runLineage(h.services.db, owner.orgId, job.runId);
    expect(lineage.modelVersion).toMatchObject({ id: teacherId });
    expect(lineage.versions.map((v) => v.artifactPath).sort()).toEqual([
      `winners/${A}/model.safetensors`,
      `winners/${B}/model.safetensors`,
    ]);

    // The journal replays the completion after a reconnect; the domain may see it again.
    agent.send({ ...complete, ref: 2 });
    expect(await agent.next('error')).toMatchObject({ jobId: job.id });
    expect(
      await recordSearch(
        h.services.db,
        owner.orgId,
        { id: job.id, spec: offer.job.spec },
        job.runId,
        summary(),
      ),
    ).toBeNull();
    expect((await versionsOf(job.runId)).length).toBe(2);
    agent.close();
  });

  it('fails the job on a malformed summary, naming the field, and registers nothing', async () => {
    const agent = await TestAgent.connect(h.url, agentToken, 1, 'searcher', {
      features: ['search'],
    });
    const job = await queueSearch();
    const offer = await agent.next('job_offer');
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    agent.send({ type: 'job_accept', ...lease });
    const bad = summary();
    (bad.winners[0] as { name: string }).name = '../escape';
    agent.send({ type: 'job_complete', ...lease, summary: bad });
    await expect.poll(async () => (await jobOf(job.id)).status).toBe('failed');
    expect((await jobOf(job.id)).error).toMatch(
      /the search job's summary is not valid: winners\.0\.name: /,
    );
    expect(await versionsOf(job.runId)).toEqual([]);
    // And the kind itself refuses one (a summary that skipped the gateway's parse).
    expect(
      await recordSearch(
        h.services.db,
        owner.orgId,
        { id: job.id, spec: offer.job.spec },
        job.runId,
        {
          ...summary(),
          settings: undefined,
        },
      ),
    ).toMatch(/^the search summary is not valid: settings: /);
    agent.close();
  });

  it('is not offered to an agent that does not run search jobs', async () => {
    const old = await TestAgent.connect(h.url, agentToken, 1, 'old-agent', { features: [] });
    const job = await queueSearch();
    await expect(old.next('job_offer', 1500)).rejects.toThrow(/no job_offer/);
    old.close();
    // Cancelled, so it waits for no one after this test.
    await h.api(owner.token, 'POST', `/api/v1/jobs/${job.id}/cancel`);
  });
});
