import { agents as agentRows } from '@anneal/db/schema';
import {
  estimateSamplingMemory,
  estimateTrainingMemory,
  formatBytes,
  presetUNet,
} from '@anneal/engine/config';
import { AGENT_FEATURES, PROTOCOL_VERSION } from '@anneal/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { leaseNextJob } from '../domain/jobs/leases.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { TestAgent, testHardware } from './test-agent.ts';

// A real server and PostgreSQL; the agents are scripted WebSocket clients that say how
// much memory they have, so no training runs here.

const MiB = 1024 ** 2;
let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let projectId: string;
const agents: TestAgent[] = [];

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '5000' });
  owner = await h.user('requirements-org', 'owner');
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'fit' })).json.id;
});
afterAll(async () => {
  for (const a of agents) a.close();
  await h?.stop();
});

async function connect(
  name: string,
  memoryBudgetBytes?: number,
  capacity = 1,
  user = owner,
  /** null: a hello without features, as an agent from before them sends. */
  features: readonly string[] | null = AGENT_FEATURES,
) {
  const token = await createToken(h.services.db, user, 'agent', name);
  const agent = await TestAgent.connect(h.url, token.token, capacity, name, {
    ...(memoryBudgetBytes ? { memoryBudgetBytes } : {}),
    ...(features ? { features: [...features] } : {}),
  });
  agents.push(agent);
  return agent;
}

async function queue(
  spec: Record<string, unknown>,
  type = 'train',
  where: { token: string; projectId: string } = { token: owner.token, projectId },
) {
  const r = await h.api(where.token, 'POST', `/api/v1/projects/${where.projectId}/jobs`, {
    job: {
      type,
      spec: type === 'train' ? { dataset: { kind: 'builtin', name: 'shapes' }, ...spec } : spec,
    },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; runId: string };
}

const job = async (id: string) => (await h.api(owner.token, 'GET', `/api/v1/jobs/${id}`)).json;

describe('jobs go only to agents whose memory budget fits them', () => {
  it('a job too big for every connected agent stays queued and says why; a smaller one behind it is offered; an agent with room gets the big one', async () => {
    const bigSpec = { resolution: 32, steps: 4, preset: 'small', batch: 16, dtype: 'float32' };
    const big = await queue(bigSpec);
    expect((await job(big.id)).waiting).toBe('no agent is connected');

    const small = await connect('small-mac', 64 * MiB);
    const tiny = await queue({ resolution: 8, steps: 4, preset: 'tiny', batch: 2 });
    // The older big job is skipped, not offered: the tiny one is.
    const offer = await small.next('job_offer');
    expect(offer.jobId).toBe(tiny.id);
    small.send({ type: 'job_accept', jobId: offer.jobId, leaseId: offer.leaseId });
    // One image at a time, its gradients accumulated over the batch of 16: the least the
    // agent's batch planner can run it with.
    const need = estimateTrainingMemory(
      presetUNet('small', { resolution: 32, channels: 3, numClasses: 5 }),
      1,
      'float32',
      16,
    ).total;
    expect(need).toBeGreaterThan(64 * MiB);
    const waiting = await job(big.id);
    expect(waiting.status).toBe('queued');
    expect(waiting.waiting).toBe(
      `needs ${formatBytes(need)} (batch 16, float32), largest agent budget 64.0 MiB (small-mac); lower the resolution or preset, or connect an agent with more memory`,
    );
    const listed = await h.api(owner.token, 'GET', `/api/v1/projects/${projectId}/jobs`);
    const row = listed.json.jobs.find((j: { id: string }) => j.id === big.id);
    expect(row.waiting).toBe(waiting.waiting);

    // An agent that says nothing of its budget gets the engine's default: 75% of 4 GB.
    const roomy = await connect('roomy-mac');
    const second = await roomy.next('job_offer');
    expect(second.jobId).toBe(big.id);
    expect((await job(big.id)).waiting).toBeNull();
  });
});

describe('sample and evaluate jobs are held to the same budgets', () => {
  it('estimates the checkpoint model sampled a chunk at a time, and offers only what fits', async () => {
    // Every agent above is busy, so these stay queued until one with room connects.
    const train = await queue({ resolution: 64, steps: 4, preset: 'base', batch: 1 });
    const model = { kind: 'run', runId: train.runId };
    const big = await queue({ model, n: 256, guidance: 3, steps: 1 }, 'sample');
    // Evaluate through a model version registered from that run: the same train job.
    const version = await h.api(
      owner.token,
      'POST',
      `/api/v1/projects/${projectId}/models/base-64/versions`,
      { sourceRunId: train.runId, artifactPath: 'checkpoint/model.safetensors' },
    );
    expect(version.status, JSON.stringify(version.json)).toBe(201);
    const evaluate = await queue(
      { model: { kind: 'modelVersion', id: version.json.id }, n: 1000, steps: 1 },
      'evaluate',
    );
    const small = await queue({ model, n: 16, steps: 1 }, 'sample');

    const unet = presetUNet('base', { resolution: 64, channels: 3, numClasses: 5 });
    const budget = 3e9; // the default budget of the test hardware (75% of 4 GB)
    const guided = estimateSamplingMemory(unet, { n: 256, guidance: 3 });
    const chunked = estimateSamplingMemory(unet, { n: 1000 });
    const fits = estimateSamplingMemory(unet, { n: 16 });
    expect([guided.total, chunked.total, fits.total].map((b) => b > budget)).toEqual([
      true,
      true,
      false,
    ]);
    expect(estimateTrainingMemory(unet, 1).total).toBeLessThan(budget);

    expect((await job(big.id)).waiting).toBe(
      `needs ${formatBytes(guided.total)} (batch 128, float32), largest agent budget 2.79 GiB (roomy-mac); lower n (up to 64 images go through the model at once) or the guidance weight, or connect an agent with more memory`,
    );
    expect((await job(evaluate.id)).waiting).toMatch(
      new RegExp(`^needs ${formatBytes(chunked.total)} \\(batch 64, float32\\)`),
    );
    expect((await job(small.id)).waiting).toBeNull();

    // An agent with the default budget and room for several jobs gets the train job and
    // the small sample job, never the two that do not fit.
    const agent = await connect('wide-mac', undefined, 4);
    const offered = [(await agent.next('job_offer')).jobId, (await agent.next('job_offer')).jobId];
    expect(offered.sort()).toEqual([train.id, small.id].sort());
    await new Promise((r) => setTimeout(r, 500));
    expect(agent.received.filter((m) => m.type === 'job_offer')).toEqual([]);
    expect((await job(big.id)).status).toBe('queued');
    expect((await job(evaluate.id)).status).toBe('queued');
  });
});

describe('leasing from a deep queue', () => {
  const bigSpec = { resolution: 32, steps: 4, preset: 'small', batch: 16, dtype: 'float32' };
  const tinySpec = { resolution: 8, steps: 4, preset: 'tiny', batch: 2 };

  async function project(org: string) {
    const user = await h.user(org, 'owner');
    const id = (await h.api(user.token, 'POST', '/api/v1/projects', { name: 'deep' })).json.id;
    return { user, where: { token: user.token, projectId: id as string } };
  }

  it('a small agent gets the job that fits behind 60 older ones it cannot run', async () => {
    const { user, where } = await project('deep-queue-org');
    const big = [];
    for (let i = 0; i < 60; i++) big.push(await queue(bigSpec, 'train', where));
    const tiny = await queue(tinySpec, 'train', where);
    const small = await connect('small-deep', 64 * MiB, 1, user);
    const offer = await small.next('job_offer', 5000);
    expect(offer.jobId).toBe(tiny.id);
    const first = (await h.api(user.token, 'GET', `/api/v1/jobs/${big[0]?.id}`)).json;
    expect(first.status).toBe('queued');
    expect(first.waiting).toMatch(/largest agent budget 64\.0 MiB \(small-deep\)/);
  });

  it('two agents leasing at once each get one of two jobs that fit', async () => {
    const { user, where } = await project('concurrent-org');
    const queued = [await queue(tinySpec, 'train', where), await queue(tinySpec, 'train', where)];
    // Agents of the database only: no connection, so the gateway offers them nothing.
    const rows = await h.services.db
      .insert(agentRows)
      .values([
        { orgId: user.orgId, name: 'left' },
        { orgId: user.orgId, name: 'right' },
      ])
      .returning({ id: agentRows.id, orgId: agentRows.orgId });
    const leases = await Promise.all(rows.map((a) => leaseNextJob(h.services.db, a, 60_000)));
    expect(leases.map((l) => l?.jobId).sort()).toEqual(queued.map((q) => q.id).sort());
  });
});

describe('jobs go only to agents that can read their spec', () => {
  it('a spec with a field added after an agent was built waits for an agent that knows it, and says why', async () => {
    const user = await h.user('features-org', 'owner');
    const id = (await h.api(user.token, 'POST', '/api/v1/projects', { name: 'features' })).json.id;
    const where = { token: user.token, projectId: id as string };
    const tinySpec = { resolution: 8, steps: 4, preset: 'tiny', batch: 2 };
    const grids = await queue({ ...tinySpec, sample_every: 2 }, 'train', where);
    const plain = await queue(tinySpec, 'train', where);
    // An agent from before AGENT_FEATURES says none in hello: its strict train spec schema
    // would drop sample_every's offer as malformed, so it gets the plain job behind it.
    const old = await connect('old-mac', undefined, 2, user, null);
    const offer = await old.next('job_offer');
    expect(offer.jobId).toBe(plain.id);
    const waiting = (await h.api(user.token, 'GET', `/api/v1/jobs/${grids.id}`)).json;
    expect(waiting.status).toBe('queued');
    expect(waiting.waiting).toBe(
      'the spec uses sample_every, which no connected agent can read (old-mac 0.1.0): upgrade an agent, or leave it out of the spec',
    );
    const current = await connect('new-mac', undefined, 1, user);
    expect((await current.next('job_offer')).jobId).toBe(grids.id);
  });
});
