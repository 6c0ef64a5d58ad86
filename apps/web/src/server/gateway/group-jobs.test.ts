import { AGENT_FEATURES, type ServerMessage, trainKind, trainSpecSchema } from '@anneal/protocol';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { until } from '../testing/until.ts';
import { TestAgent, testHardware } from './test-agent.ts';

// Group leases of data-parallel jobs, message by message: a real server and PostgreSQL, the
// agents scripted WebSocket clients (no training runs here; group-train.test.ts trains).

const LEASE_MS = 1500;
const START_MS = 1500;
let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let projectId: string;
const open: TestAgent[] = [];

beforeAll(async () => {
  h = await startHarness({
    ANNEAL_LEASE_MS: String(LEASE_MS),
    ANNEAL_GROUP_START_MS: String(START_MS),
  });
});
// Each test in an organization of its own: a job an earlier test left queued is not offered
// to the next test's agents.
let orgs = 0;
beforeEach(async () => {
  owner = await h.user(`groups-org-${++orgs}`, 'owner');
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'groups' })).json.id;
});
afterAll(async () => {
  for (const a of open) a.close();
  await h?.stop();
});

type Offer = Extract<ServerMessage, { type: 'job_offer' }>;

async function connect(
  name: string,
  features: readonly string[] = AGENT_FEATURES,
  /** Reconnect as an agent that exists (its token), holding these leases. */
  again?: { token: string; leases: { jobId: string; leaseId: string }[] },
  hello: Record<string, unknown> = {},
) {
  const token = again?.token ?? (await createToken(h.services.db, owner, 'agent', name)).token;
  const agent = await TestAgent.connect(h.url, token, again ? 0 : 1, name, {
    features: [...features],
    leases: again?.leases ?? [],
    ...hello,
  });
  open.push(agent);
  tokens.set(agent, token);
  return agent;
}
const tokens = new Map<TestAgent, string>();

async function queue(spec: Record<string, unknown>) {
  const r = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        preset: 'tiny',
        ...spec,
      },
    },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; runId: string };
}

const job = async (id: string) => (await h.api(owner.token, 'GET', `/api/v1/jobs/${id}`)).json;
const group = async (runId: string) =>
  (await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/group`)).json;

/** Heartbeats for `agent` every 300 ms while the returned function has not been called. */
function keepAlive(agent: TestAgent, leases: () => { jobId: string; leaseId: string }[]) {
  let seq = 0;
  const timer = setInterval(
    () => agent.send({ type: 'heartbeat', seq: seq++, capacity: 0, leases: leases() }),
    300,
  );
  return () => clearInterval(timer);
}

const leaseOf = (o: Offer) => ({ jobId: o.jobId, leaseId: o.leaseId });

/** Ends a test's agents so the next test starts with none free. */
function closeAll() {
  for (const a of open.splice(0)) a.close();
}

describe('data-parallel jobs are leased to groups of agents', () => {
  it('waits for enough agents, saying why; leases the group whole; starts the ranks when all are ready; only rank 0 reports', async () => {
    const old = await connect('old-agent', ['train.sample_every']);
    const a = await connect('rank-a');
    const queued = await queue({ steps: 10, batch: 8, ranks: 2 });
    // One agent that can take a rank, one that cannot read the spec: not a group.
    const waiting = await until(
      'the reason',
      () => job(queued.id),
      (j) => typeof j.waiting === 'string',
    );
    expect(waiting.status).toBe('queued');
    expect(waiting.waiting).toMatch(/needs 2 agents at once, one rank each; 1 connected agent can/);
    expect(old.received.filter((m) => m.type === 'job_offer')).toEqual([]);
    expect(a.received.filter((m) => m.type === 'job_offer')).toEqual([]);

    const b = await connect('rank-b');
    const offers = [await a.next('job_offer'), await b.next('job_offer')];
    const byRank = offers.sort((x, y) => (x.group?.rank ?? -1) - (y.group?.rank ?? -1));
    expect(byRank.map((o) => o.group)).toEqual([
      { rank: 0, size: 2 },
      { rank: 1, size: 2 },
    ]);
    const [r0, r1] = byRank as [Offer, Offer];
    const agentOf = (o: Offer) => (o === offers[0] ? a : b);
    const [a0, a1] = [agentOf(r0), agentOf(r1)];
    expect(r0.jobId).toBe(queued.id);
    expect(r1.jobId).toBe(queued.id);
    expect(r0.leaseId).not.toBe(r1.leaseId);
    expect(r0.attempt).toBe(1);
    expect((await job(queued.id)).status).toBe('leased');
    const stop = [keepAlive(a0, () => [leaseOf(r0)]), keepAlive(a1, () => [leaseOf(r1)])];
    try {
      a0.send({ type: 'job_accept', ...leaseOf(r0) });
      a1.send({ type: 'job_accept', ...leaseOf(r1) });
      // Rank 1 ready first: nothing starts until rank 0 is too; hosts come in rank order.
      a1.send({ type: 'job_group_ready', ...leaseOf(r1), address: '127.0.0.1:40001' });
      await expect(a1.next('job_group_start', 500)).rejects.toThrow(/no job_group_start/);
      a0.send({ type: 'job_group_ready', ...leaseOf(r0), address: '127.0.0.1:40000' });
      const starts = [await a0.next('job_group_start'), await a1.next('job_group_start')];
      for (const s of starts) expect(s.hosts).toEqual([['127.0.0.1:40000'], ['127.0.0.1:40001']]);
      expect(starts.map((s) => s.leaseId)).toEqual([r0.leaseId, r1.leaseId]);

      // Leases outlive LEASE_MS while both heartbeat.
      await new Promise((r) => setTimeout(r, LEASE_MS * 1.5));
      expect((await job(queued.id)).status).toBe('running');

      // Rank 1 may not write the run.
      a1.send({
        type: 'job_metrics',
        ...leaseOf(r1),
        points: [{ key: 'loss', step: 1, value: 1 }],
      });
      const refused = await a1.next('error');
      expect(refused.code).toBe('not_yours');
      expect(refused.message).toMatch(/rank 1 .* reports only its end/);

      const g = await group(queued.runId);
      expect(g.ranks).toBe(2);
      expect(g.attempts).toHaveLength(1);
      expect(
        g.attempts[0].members.map((m: { rank: number; address: string }) => [m.rank, m.address]),
      ).toEqual([
        [0, '127.0.0.1:40000'],
        [1, '127.0.0.1:40001'],
      ]);

      // Rank 1 finishes its part, then rank 0 completes the job.
      a1.send({ type: 'job_complete', ...leaseOf(r1), ref: 1 });
      await a1.next('ack');
      a0.send({
        type: 'job_complete',
        ...leaseOf(r0),
        ref: 1,
        summary: {
          steps: 10,
          final_loss: 0.5,
          wall_s: 1,
          out: '/tmp/out',
          images_per_s: 80,
          parameters: 1000,
          peak_memory_bytes: 1e6,
          cancelled: false,
          ranks: 2,
          rank: 0,
        },
      });
      await a0.next('ack');
      const done = await until(
        'success',
        () => job(queued.id),
        (j) => j.status !== 'running',
      );
      expect(done.status, done.error).toBe('succeeded');
      const after = await group(queued.runId);
      expect(after.attempts[0].members[1].finishedAt).not.toBeNull();
    } finally {
      for (const s of stop) s();
      closeAll();
    }
  });

  it('a rank that fails ends the attempt for every rank, and the job is leased again to a new group', async () => {
    const a = await connect('fail-a');
    const b = await connect('fail-b');
    const queued = await queue({ steps: 10, batch: 8, ranks: 2 });
    const first = [await a.next('job_offer'), await b.next('job_offer')];
    const r0 = first.find((o) => o.group?.rank === 0) as Offer;
    const r1 = first.find((o) => o.group?.rank === 1) as Offer;
    const [a0, a1] = r0 === first[0] ? [a, b] : [b, a];
    a0.send({ type: 'job_accept', ...leaseOf(r0) });
    a1.send({
      type: 'job_fail',
      ...leaseOf(r1),
      ref: 1,
      reason: 'the job exited with SIGKILL',
      retryable: true,
      log: ['killed'],
    });
    const cancel = await a0.next('job_cancel');
    expect(cancel.leaseId).toBe(r0.leaseId);
    expect(cancel.reason).toMatch(/rank 1: the job exited with SIGKILL/);
    // The old rank 0 says it stopped; the job is offered to both again as attempt 2.
    a0.send({ type: 'heartbeat', seq: 1, capacity: 1, leases: [] });
    a1.send({ type: 'heartbeat', seq: 1, capacity: 1, leases: [] });
    const second = [await a.next('job_offer'), await b.next('job_offer')];
    expect(second.map((o) => o.attempt)).toEqual([2, 2]);
    expect(new Set(second.map((o) => o.group?.rank))).toEqual(new Set([0, 1]));
    for (const o of second) expect(o.leaseId).not.toBe(r0.leaseId);
    const logs = (await h.api(owner.token, 'GET', `/api/v1/runs/${queued.runId}/logs`)).json;
    expect(JSON.stringify(logs)).toMatch(/\[rank 1\] killed/);
    // A message under the first attempt's lease is stale now.
    a0.send({ type: 'job_metrics', ...leaseOf(r0), points: [{ key: 'loss', step: 1, value: 1 }] });
    expect((await a0.next('error')).code).toBe('stale_lease');
    expect((await group(queued.runId)).attempts.map((x: { attempt: number }) => x.attempt)).toEqual(
      [2, 1],
    );
    closeAll();
  });

  it('a rank that never becomes ready ends the attempt after the start timeout; a rank that stops heartbeating loses the lease of all', async () => {
    const a = await connect('slow-a');
    const b = await connect('slow-b');
    const queued = await queue({ steps: 10, batch: 8, ranks: 2 });
    const first = [await a.next('job_offer'), await b.next('job_offer')];
    const r0 = first.find((o) => o.group?.rank === 0) as Offer;
    const r1 = first.find((o) => o.group?.rank === 1) as Offer;
    const [a0, a1] = r0 === first[0] ? [a, b] : [b, a];
    const stop = [keepAlive(a0, () => [leaseOf(r0)]), keepAlive(a1, () => [leaseOf(r1)])];
    a0.send({ type: 'job_group_ready', ...leaseOf(r0), address: '127.0.0.1:40010' });
    // Rank 1 heartbeats but never says it is ready.
    const cancel = await a0.next('job_cancel', START_MS * 4);
    expect(cancel.reason).toMatch(/rank 1 \(slow-.\) was not ready within 2 s/);
    expect((await a1.next('job_cancel')).leaseId).toBe(r1.leaseId);
    for (const s of stop) s();
    // Both stopped their ranks: free again.
    for (const x of [a, b]) x.send({ type: 'heartbeat', seq: 100, capacity: 1, leases: [] });

    // Attempt 2: both ready, then rank 1 goes silent; its lease, and so the job's, runs out.
    const second = [await a.next('job_offer', 10_000), await b.next('job_offer', 10_000)];
    const s0 = second.find((o) => o.group?.rank === 0) as Offer;
    const s1 = second.find((o) => o.group?.rank === 1) as Offer;
    const [b0, b1] = s0 === second[0] ? [a, b] : [b, a];
    const alive = keepAlive(b0, () => [leaseOf(s0)]);
    try {
      b0.send({ type: 'job_group_ready', ...leaseOf(s0), address: '127.0.0.1:40020' });
      b1.send({ type: 'job_group_ready', ...leaseOf(s1), address: '127.0.0.1:40021' });
      await b0.next('job_group_start');
      b1.close();
      // (An answer to a heartbeat of the first attempt, sent as it ended, may come first.)
      const lost = await until(
        'rank 0 told its lease is lost',
        async () => (await b0.next('heartbeat_ack')).lost,
        (l) => l.some((x) => x.leaseId === s0.leaseId),
      );
      expect(lost).toEqual([leaseOf(s0)]);
      const requeued = await job(queued.id);
      expect(['queued', 'leased']).toContain(requeued.status);
      expect(requeued.attempts).toBe(2);
    } finally {
      alive();
      closeAll();
    }
  });

  it('a start that did not arrive comes again: to a rank that says it is ready again, and to one that reconnects holding its lease', async () => {
    const a = await connect('again-a');
    const b = await connect('again-b');
    const queued = await queue({ steps: 10, batch: 8, ranks: 2 });
    const offers = [await a.next('job_offer'), await b.next('job_offer')];
    const r0 = offers.find((o) => o.group?.rank === 0) as Offer;
    const r1 = offers.find((o) => o.group?.rank === 1) as Offer;
    const [a0, a1] = r0 === offers[0] ? [a, b] : [b, a];
    a0.send({ type: 'job_group_ready', ...leaseOf(r0), address: '127.0.0.1:40030' });
    a1.send({ type: 'job_group_ready', ...leaseOf(r1), address: '127.0.0.1:40031' });
    const hosts = [['127.0.0.1:40030'], ['127.0.0.1:40031']];
    expect((await a0.next('job_group_start')).hosts).toEqual(hosts);
    expect((await a1.next('job_group_start')).hosts).toEqual(hosts);
    // Rank 1 says it is ready again (its start was lost): only rank 1 hears it again, with the
    // addresses first given.
    a1.send({ type: 'job_group_ready', ...leaseOf(r1), address: '127.0.0.1:49999' });
    const again = await a1.next('job_group_start');
    expect(again).toMatchObject({ leaseId: r1.leaseId, hosts });
    await expect(a0.next('job_group_start', 500)).rejects.toThrow(/no job_group_start/);
    // Rank 0's agent reconnects, holding its lease: the start comes with the welcome.
    const token = tokens.get(a0) as string;
    a0.close();
    const back = await connect(r0 === offers[0] ? 'again-a' : 'again-b', AGENT_FEATURES, {
      token,
      leases: [leaseOf(r0)],
    });
    expect(await back.next('job_group_start')).toMatchObject({ leaseId: r0.leaseId, hosts });
    expect((await job(queued.id)).status).not.toBe('queued');
    closeAll();
  });

  it('a retried group job (its attempts counted again from 1) is leased to a new group; the run lists each group once', async () => {
    const a = await connect('retry-a');
    const b = await connect('retry-b');
    const queued = await queue({ steps: 10, batch: 8, ranks: 2 });
    const first = [await a.next('job_offer'), await b.next('job_offer')];
    const r1 = first.find((o) => o.group?.rank === 1) as Offer;
    const a1 = r1 === first[0] ? a : b;
    a1.send({
      type: 'job_fail',
      ...leaseOf(r1),
      ref: 1,
      reason: 'bad data',
      retryable: false,
    });
    await until(
      'the failure',
      () => job(queued.id),
      (j) => j.status === 'failed',
    );
    for (const x of [a, b]) x.send({ type: 'heartbeat', seq: 5, capacity: 1, leases: [] });
    const retried = await h.api(owner.token, 'POST', `/api/v1/jobs/${queued.id}/retry`);
    expect(retried.status, JSON.stringify(retried.json)).toBe(200);
    const second = [await a.next('job_offer'), await b.next('job_offer')];
    expect(second.map((o) => o.attempt)).toEqual([1, 1]);
    const g = await group(queued.runId);
    expect(g.attempts).toHaveLength(2);
    for (const attempt of g.attempts) expect(attempt.members).toHaveLength(2);
    expect(g.attempts[0].members.map((m: { rank: number }) => m.rank)).toEqual([0, 1]);
    closeAll();
  });

  it('a group job that fits is leased behind 60 older ones no connected agent can take a rank of', async () => {
    const big = { resolution: 32, preset: 'small', steps: 4, batch: 16, dtype: 'float32' };
    for (let i = 0; i < 60; i++) await queue({ ...big, ranks: 2 });
    const small = await queue({ steps: 10, batch: 8, ranks: 2, dtype: 'float32' });
    // Agents with room for a rank of the small job (tiny at 8 px, 4 images), not of the big.
    const need = trainKind.memoryNeed(
      trainSpecSchema.parse({
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        preset: 'tiny',
        steps: 10,
        batch: 8,
        ranks: 2,
        dtype: 'float32',
      }),
      { versionClasses: null, source: null, hardware: testHardware },
    );
    const budget = { memoryBudgetBytes: need?.bytes };
    const a = await connect('page-a', AGENT_FEATURES, undefined, budget);
    const b = await connect('page-b', AGENT_FEATURES, undefined, budget);
    const offers = [await a.next('job_offer'), await b.next('job_offer')];
    expect(offers.map((o) => o.jobId)).toEqual([small.id, small.id]);
    closeAll();
  });

  it('refuses a data-parallel spec that cannot split its batch or asks for several resolutions', async () => {
    for (const [spec, message] of [
      [{ steps: 4, batch: 9, ranks: 2 }, /batch \(9\) does not split evenly into 2 ranks/],
      [
        { steps: 4, batch: 8, ranks: 2, resolutions: [8, 16] },
        /data-parallel training takes one resolution/,
      ],
      [{ steps: 4, ranks: 1 }, /ranks/],
    ] as const) {
      const r = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
        job: {
          type: 'train',
          spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 8, ...spec },
        },
      });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.json)).toMatch(message);
    }
  });
});
