import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { TestAgent } from './test-agent.ts';

// `npm run test:long`: 20 simulated agents stream metrics at once; reports points/s.
const AGENTS = 20;
const BATCHES = 50;
const POINTS = 100;

let h: Harness;
beforeAll(async () => {
  if (process.env.ANNEAL_LONG) h = await startHarness({ ANNEAL_LEASE_MS: '30000' });
});
afterAll(() => h?.stop());

describe.runIf(process.env.ANNEAL_LONG)('metrics ingest', () => {
  it(`takes ${AGENTS} agents streaming ${AGENTS * BATCHES * POINTS} points at once`, async () => {
    const owner = await h.user('ingest-org', 'owner');
    const projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'ingest' }))
      .json.id;
    const agents = await Promise.all(
      Array.from({ length: AGENTS }, async (_, i) => {
        const t = await createToken(h.services.db, owner, 'agent', `sim-${i}`);
        return TestAgent.connect(h.url, t.token, 0, `sim-${i}`);
      }),
    );
    for (let i = 0; i < AGENTS; i++)
      await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
        job: {
          type: 'train',
          spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 8, steps: 5000 },
        },
      });
    const offers = await Promise.all(
      agents.map(async (a) => {
        // The gateway offers on its next tick to an agent that reports capacity.
        a.send({ type: 'heartbeat', seq: 0, capacity: 1, leases: [] });
        await a.next('heartbeat_ack');
        return a.next('job_offer', 20_000);
      }),
    );
    const started = performance.now();
    await Promise.all(
      agents.map(async (a, i) => {
        const o = offers[i];
        if (!o) throw new Error('no offer');
        for (let b = 0; b < BATCHES; b++) {
          const points = Array.from({ length: POINTS }, (_, k) => ({
            key: 'loss',
            step: b * POINTS + k + 1,
            value: Math.random(),
          }));
          a.send({ type: 'job_metrics', jobId: o.jobId, leaseId: o.leaseId, ref: b + 1, points });
        }
        for (let b = 0; b < BATCHES; b++) await a.next('ack', 120_000);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const total = AGENTS * BATCHES * POINTS;
    console.log(
      `ingest: ${total} points from ${AGENTS} agents in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} points/s`,
    );
    const [{ count } = { count: 0 }] = await h.services.db.execute<{ count: number }>(
      sql`select count(*)::int as count from metrics`,
    );
    expect(count).toBe(total);
    for (const a of agents) a.close();
  });
});
