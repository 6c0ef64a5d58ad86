import { createHash } from 'node:crypto';
import { CLOSE_CODES, PROTOCOL_VERSION } from '@anneal/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../domain/accounts/tokens.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { TestAgent, testHardware } from './test-agent.ts';

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let agentToken: { id: string; token: string };
let projectId: string;

const trainJob = (steps = 4) => ({
  job: {
    type: 'train',
    spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 8, steps, preset: 'tiny' },
  },
});

/** What `anneal train --json` prints last: the summary a train job completes with. */
const trainSummary = {
  steps: 4,
  final_loss: 0.5,
  wall_s: 1,
  out: '/tmp/out',
  images_per_s: 100,
  parameters: 1000,
  peak_memory_bytes: 1e6,
  cancelled: false,
};

async function queue(body: unknown = trainJob(), maxAttempts?: number) {
  const r = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
    ...(body as object),
    ...(maxAttempts ? { maxAttempts } : {}),
  });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; runId: string };
}

async function newAgentToken(name = 'agent') {
  return createToken(h.services.db, { userId: owner.userId, orgId: owner.orgId }, 'agent', name);
}

let heartbeatSeq = 0;
/**
 * Renews `lease` with a heartbeat the server acknowledges without losing it. Leases here
 * last 800 ms so that expiry tests run fast; a test that needs its lease across several
 * round trips renews it before each step, or a loaded machine lets it run out midway.
 */
async function renew(a: TestAgent, lease: { jobId: string; leaseId: string }) {
  a.send({ type: 'heartbeat', seq: heartbeatSeq++, capacity: 0, leases: [lease] });
  expect((await a.next('heartbeat_ack')).lost).toEqual([]);
}

/** Waits until no job of the project is queued or leased (so tests do not see each other's). */
async function drain() {
  const r = await h.api(owner.token, 'GET', `/api/v1/projects/${projectId}/jobs`);
  for (const j of r.json.jobs as { id: string; status: string }[])
    if (['queued', 'leased', 'running'].includes(j.status))
      await h.api(owner.token, 'POST', `/api/v1/jobs/${j.id}/cancel`);
}

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '800' });
  owner = await h.user('gateway-org', 'owner');
  agentToken = await newAgentToken();
  const p = await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'gateway' });
  projectId = p.json.id;
});
afterAll(() => h?.stop());

describe('agent gateway: handshake', () => {
  it('refuses a missing, unknown or API token before the upgrade', async () => {
    expect(await TestAgent.dial(h.url, 'anneal_agent_nope')).toEqual({ status: 401 });
    expect(await TestAgent.dial(h.url, owner.token)).toEqual({ status: 401 });
  });

  it('closes with the version-mismatch code', async () => {
    const a = await TestAgent.dial(h.url, agentToken.token);
    if (!(a instanceof TestAgent)) throw new Error('refused');
    a.send({
      type: 'hello',
      agentVersion: '9',
      protocolVersion: PROTOCOL_VERSION + 1,
      name: 'x',
      hardware: testHardware,
      capacity: 1,
    });
    expect((await a.waitClosed())?.code).toBe(CLOSE_CODES.versionMismatch);
  });

  it('records the hardware profile and liveness', async () => {
    const a = await TestAgent.connect(h.url, agentToken.token, 0, 'mac-mini');
    const rows = await h.services.db.query.agents.findMany();
    const mine = rows.find((r) => r.tokenId === agentToken.id);
    expect(mine).toMatchObject({ name: 'mac-mini', hardware: { chip: { name: 'test cpu' } } });
    expect(mine?.lastSeenAt).toBeTruthy();
    a.close();
  });
});

describe('agent gateway: leases', () => {
  it('offers a queued job, stores metrics under the lease, refuses stale leases, completes and registers the model', async () => {
    const a = await TestAgent.connect(h.url, agentToken.token);
    const job = await queue();
    const offer = await a.next('job_offer');
    expect(offer).toMatchObject({ jobId: job.id, runId: job.runId, attempt: 1, resume: null });
    expect(offer.job.spec).toMatchObject({ steps: 4, checkpoint_every: 500 });
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    a.send({ type: 'job_accept', ...lease });
    await renew(a, lease);
    a.send({
      type: 'job_metrics',
      ...lease,
      ref: 1,
      points: [
        { key: 'loss', step: 1, value: 1 },
        { key: 'loss', step: 2, value: 0.5 },
      ],
    });
    expect(await a.next('ack')).toEqual({ type: 'ack', ref: 1 });
    // A replay changes nothing; a stale lease id is refused.
    a.send({
      type: 'job_metrics',
      ...lease,
      ref: 2,
      points: [{ key: 'loss', step: 2, value: 0.5 }],
    });
    await a.next('ack');
    a.send({
      type: 'job_metrics',
      jobId: offer.jobId,
      leaseId: '00000000-0000-4000-8000-000000000000',
      points: [{ key: 'loss', step: 3, value: 9 }],
    });
    expect(await a.next('error')).toMatchObject({ code: 'stale_lease', jobId: offer.jobId });
    await renew(a, lease);
    const metrics = await h.api(owner.token, 'GET', `/api/v1/runs/${job.runId}/metrics`);
    expect(metrics.json.metrics[0].points.map((p: { step: number }) => p.step)).toEqual([1, 2]);

    // Heartbeats keep the lease past its length.
    for (let i = 0; i < 4; i++) {
      await renew(a, lease);
      await new Promise((r) => setTimeout(r, 300));
    }
    await renew(a, lease);
    a.send({ type: 'job_complete', ...lease, ref: 3, summary: trainSummary });
    await a.next('ack');
    const done = await h.api(owner.token, 'GET', `/api/v1/jobs/${job.id}`);
    expect(done.json).toMatchObject({ status: 'succeeded', attempts: 1, step: 2 });
    const run = await h.api(owner.token, 'GET', `/api/v1/runs/${job.runId}`);
    expect(run.json.status).toBe('succeeded');
    const models = await h.api(owner.token, 'GET', `/api/v1/projects/${projectId}/models`);
    expect(JSON.stringify(models.json)).toContain('shapes-tiny-8');
    a.close();
  });

  it("fails a job whose summary does not fit its kind's result, naming the field, and registers nothing", async () => {
    const a = await TestAgent.connect(h.url, agentToken.token);
    const job = await queue();
    const offer = await a.next('job_offer');
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    a.send({ type: 'job_accept', ...lease });
    a.send({ type: 'job_complete', ...lease, ref: 4, summary: { ...trainSummary, steps: 'four' } });
    await a.next('ack');
    const done = await h.api(owner.token, 'GET', `/api/v1/jobs/${job.id}`);
    expect(done.json).toMatchObject({ status: 'failed' });
    expect(done.json.error).toMatch(/the train job's summary is not valid: steps: /);
    const models = await h.api(owner.token, 'GET', `/api/v1/projects/${projectId}/models`);
    expect(JSON.stringify(models.json)).not.toContain(job.runId);
    a.close();
  });

  it('puts a job whose lease expired back in the queue, then fails it past max attempts', async () => {
    const job = await queue(trainJob(), 2);
    for (const attempt of [1, 2]) {
      const a = await TestAgent.connect(h.url, agentToken.token);
      const offer = await a.next('job_offer');
      expect(offer).toMatchObject({ jobId: job.id, attempt });
      a.close(); // no heartbeat: the lease runs out
      await expect
        .poll(async () => (await h.api(owner.token, 'GET', `/api/v1/jobs/${job.id}`)).json.status, {
          timeout: 5000,
          interval: 100,
        })
        .toBe(attempt === 1 ? 'queued' : 'failed');
    }
    const failed = await h.api(owner.token, 'GET', `/api/v1/jobs/${job.id}`);
    expect(failed.json.error).toMatch(/lease expired on all 2 attempts/);
  });

  it('resumes a re-leased job from its recorded checkpoint, which a tag update cannot move', async () => {
    const job = await queue(trainJob(20), 3);
    const a = await TestAgent.connect(h.url, agentToken.token);
    const offer = await a.next('job_offer');
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    a.send({ type: 'job_accept', ...lease });
    await renew(a, lease);
    const bytes = new Uint8Array([7, 7, 7]);
    const path = 'checkpoints/latest/model.safetensors';
    const put = await h.api(
      agentToken.token,
      'PUT',
      `/api/v1/runs/${job.runId}/artifacts/${path}`,
      bytes,
      {
        'content-type': 'application/octet-stream',
      },
    );
    expect(put.status).toBe(201);
    const artifact = { path, sha256: createHash('sha256').update(bytes).digest('hex'), size: 3 };
    await renew(a, lease);
    a.send({ type: 'job_artifact', ...lease, ref: 1, artifact, checkpointStep: 6 });
    expect(await a.next('ack')).toEqual({ type: 'ack', ref: 1 });
    // The old home of the resume step is only a tag now: the user's to write, read by nobody.
    const patched = await h.api(owner.token, 'PATCH', `/api/v1/runs/${job.runId}`, {
      tags: { 'anneal.checkpoint_step': '999' },
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({
      checkpointStep: 6,
      tags: { 'anneal.checkpoint_step': '999' },
    });
    a.close(); // no heartbeat: the lease runs out and the job is offered again
    const b = await TestAgent.connect(h.url, agentToken.token);
    const again = await b.next('job_offer');
    expect(again).toMatchObject({
      jobId: job.id,
      attempt: 2,
      resume: { step: 6, artifacts: [artifact] },
    });
    b.close();
    await drain();
  });

  it('writes through REST only to runs of jobs leased to the token’s agent', async () => {
    const a = await TestAgent.connect(h.url, agentToken.token);
    const job = await queue();
    const offer = await a.next('job_offer');
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    await renew(a, lease);
    const other = await queue(); // stays queued: the agent's capacity is used
    const put = (runId: string, token = agentToken.token) =>
      h.api(
        token,
        'PUT',
        `/api/v1/runs/${runId}/artifacts/checkpoints/latest/x.bin`,
        new Uint8Array([1, 2, 3]),
        {
          'content-type': 'application/octet-stream',
        },
      );
    await renew(a, lease);
    expect((await put(offer.runId)).status).toBe(201);
    expect((await put(other.runId)).status).toBe(403);
    await renew(a, lease);
    expect(
      (await h.api(agentToken.token, 'POST', `/api/v1/projects/${projectId}/jobs`, trainJob()))
        .status,
    ).toBe(403);
    a.send({
      type: 'job_fail',
      jobId: offer.jobId,
      leaseId: offer.leaseId,
      reason: 'bad spec',
      retryable: false,
    });
    await expect
      .poll(async () => (await h.api(owner.token, 'GET', `/api/v1/jobs/${job.id}`)).json.status)
      .toBe('failed');
    expect((await put(offer.runId)).status).toBe(403);
    a.close();
    await drain();
  });

  it('tells the agent to stop a cancelled job, and retry queues it again', async () => {
    const a = await TestAgent.connect(h.url, agentToken.token);
    const job = await queue();
    const offer = await a.next('job_offer');
    a.send({ type: 'job_accept', jobId: offer.jobId, leaseId: offer.leaseId });
    await renew(a, { jobId: offer.jobId, leaseId: offer.leaseId });
    await h.api(owner.token, 'POST', `/api/v1/jobs/${job.id}/cancel`);
    expect(await a.next('job_cancel')).toMatchObject({ jobId: job.id, leaseId: offer.leaseId });
    a.send({
      type: 'heartbeat',
      seq: 1,
      capacity: 1,
      leases: [{ jobId: offer.jobId, leaseId: offer.leaseId }],
    });
    expect((await a.next('heartbeat_ack')).lost).toHaveLength(1);
    expect((await h.api(owner.token, 'POST', `/api/v1/jobs/${job.id}/retry`)).json.status).toBe(
      'queued',
    );
    expect((await a.next('job_offer')).jobId).toBe(job.id);
    a.close();
    await drain();
  });
});

describe('agent gateway: hostile input', () => {
  it('answers 1,000 malformed or hostile messages with errors and stays up for other agents', async () => {
    const hostileToken = await newAgentToken('hostile');
    const goodToken = await newAgentToken('good');
    const hostile = await TestAgent.connect(h.url, hostileToken.token, 0, 'hostile');
    const good = await TestAgent.connect(h.url, goodToken.token, 1, 'good');
    const job = await queue();
    const offer = await good.next('job_offer');
    const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
    good.send({ type: 'job_accept', ...lease });
    await renew(good, lease);
    const frames: unknown[] = [
      '{',
      'null',
      '"x"',
      { type: 'launch' },
      { type: 'heartbeat', seq: -1 },
      { type: 'job_metrics', jobId: 'x', leaseId: 'y', points: [] },
      // Another agent's job, with its real lease id: refused as not yours.
      { type: 'job_complete', jobId: offer.jobId, leaseId: offer.leaseId },
      {
        type: 'job_metrics',
        jobId: offer.jobId,
        leaseId: offer.leaseId,
        points: [{ key: 'loss', step: 1, value: 666 }],
      },
      'x'.repeat(2 * 1024 * 1024),
    ];
    let sent = 0;
    for (let i = 0; i < 1000; i++) {
      const frame = frames[i % (frames.length - 1)];
      hostile.send(frame);
      sent++;
    }
    // The good agent carries on while the hostile one is answered (and cut off at the flood limit).
    await renew(good, lease);
    good.send({
      type: 'job_metrics',
      jobId: offer.jobId,
      leaseId: offer.leaseId,
      ref: 7,
      points: [{ key: 'loss', step: 1, value: 1 }],
    });
    expect(await good.next('ack')).toEqual({ type: 'ack', ref: 7 });
    const closed = await hostile.waitClosed();
    expect(sent).toBe(1000);
    expect(closed?.code).toBe(CLOSE_CODES.malformedFlood);
    expect(hostile.received.some((m) => m.type === 'error' && m.code === 'not_yours')).toBe(true);
    // A frame over the limit closes that socket only (ws answers 1009).
    const big = await TestAgent.connect(h.url, hostileToken.token, 0, 'big');
    big.send(frames.at(-1));
    expect((await big.waitClosed())?.code).toBe(1009);
    await renew(good, lease);
    const metrics = await h.api(owner.token, 'GET', `/api/v1/runs/${offer.runId}/metrics`);
    expect(metrics.json.metrics[0].points).toEqual([
      expect.objectContaining({ step: 1, value: 1 }),
    ]);
    await renew(good, lease);
    good.send({
      type: 'job_complete',
      jobId: offer.jobId,
      leaseId: offer.leaseId,
      ref: 8,
      summary: trainSummary,
    });
    await good.next('ack');
    expect((await h.api(owner.token, 'GET', `/api/v1/jobs/${job.id}`)).json.status).toBe(
      'succeeded',
    );
    good.close();
  });

  it('disconnects a revoked token at once', async () => {
    const t = await newAgentToken('to-revoke');
    const a = await TestAgent.connect(h.url, t.token, 0);
    // Revoked by another process (the CLI): the gateway's sweep notices within a tick.
    await revokeToken(
      h.services.db,
      {
        userId: owner.userId,
        orgId: owner.orgId,
        role: 'owner',
        via: 'api',
        email: '',
        credentialId: '',
      },
      t.id,
    );
    // Closed by the sweep, not by a lease or heartbeat timeout (this agent holds none); the
    // generous wait only keeps a hang from stalling the suite.
    const closed = await a.waitClosed(10_000);
    expect(closed).not.toBeNull();
    expect(await TestAgent.dial(h.url, t.token)).toEqual({ status: 401 });
  });
});
