import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelVersions } from '@anneal/db/schema';
import { qualityCurveSchema } from '@anneal/engine/config';
import { planRecordSchema } from '@anneal/protocol';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import {
  type AgentProcess,
  registeredTinyModel,
  runCli,
  startAgent,
} from '../testing/agent-process.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// A plan job through a real agent (its child `anneal plan`), queued with `anneal submit`,
// against a real server and PostgreSQL: a tiny shapes model at 8x8 trained and registered
// first, then a plan with a tiny curve (euler at 2 and 4 NFE, n = 20) and a two-batch float32
// cost table. Checks what completion keeps on the model version: the plan under the agent's
// hardware profile, and the curve.

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let agent: AgentProcess;
const agentLog: string[] = [];
let home: string;
let versionId: string;
let projectId: string;

const cli = (args: string[]) =>
  runCli(args, { server: h.url, token: owner.token, home, extraLog: agentLog });

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user('plan-org', 'owner');
  home = mkdtempSync(join(tmpdir(), 'anneal-plan-job-'));
  const token = (await createToken(h.services.db, owner, 'agent', 'plan')).token;
  agent = startAgent({ server: h.url, token, name: 'plan', home, log: agentLog });
  ({ projectId, versionId } = await registeredTinyModel({
    cli,
    api: (method, path) => h.api(owner.token, method, path),
    project: 'plan',
    resolution: 8,
    steps: 10,
  }));
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await h?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const tiny = [
  ...['--samplers', 'euler', '--nfe', '2,4', '--n', '20', '--batches', '1,2'],
  ...['--dtypes', 'float32', '--extractor-steps', '40', '--extractor-width', '8'],
];

describe('plan jobs', () => {
  it('refuses a spec with two objectives, naming them', async () => {
    const r = await cli([
      ...['submit', 'plan', '--project', 'plan', '--model-version', versionId],
      ...['--latency-ms', '100', '--max-fd', '3', '--json'],
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/exactly one objective/);
  });

  it('plans on the agent and keeps the plan per hardware profile, and the curve, on the version', async () => {
    const r = await cli([
      ...['submit', 'plan', '--project', 'plan', '--model-version', versionId],
      ...['--latency-ms', '100000', ...tiny, '--wait', '--json'],
    ]);
    expect(r.code, `${r.stderr} ${agentLog.join('')}`).toBe(0);
    expect(r.json).toMatchObject({ status: 'succeeded' });
    const [row] = await h.services.db
      .select({ metadata: modelVersions.metadata })
      .from(modelVersions)
      .where(eq(modelVersions.id, versionId));
    const plans = row?.metadata.plans ?? {};
    const profiles = Object.keys(plans);
    expect(profiles).toHaveLength(1);
    const plan = planRecordSchema.parse(plans[profiles[0] as string]);
    expect(plan).toMatchObject({
      job_id: r.json.job_id,
      run_id: r.json.run_id,
      sampler: 'euler',
      dtype: 'float32',
      profileKey: profiles[0],
      objective: { kind: 'latency', latencyMs: 100000, batch: 1 },
    });
    expect(plan.measured?.latencyMs).toBeGreaterThan(0);
    const curve = qualityCurveSchema.parse(row?.metadata.qualityCurve);
    expect(curve.points.map((p) => p.nfe)).toEqual([2, 4]);
    expect(curve.n).toBe(20);
    // With all the time in the world the curve's lowest FD is the plan's.
    expect(plan.predicted.fd).toBe(Math.min(...curve.points.map((p) => p.fd)));
    // The run keeps the predicted and measured numbers as metrics.
    const metrics = await h.api(
      owner.token,
      'GET',
      `/api/v1/runs/${r.json.run_id}/metrics?keys=plan_latency_ratio`,
    );
    expect(metrics.json.metrics[0].points).toHaveLength(1);
    // The model page's query carries both, as stored.
    const input = encodeURIComponent(JSON.stringify({ projectId, name: 'shapes-tiny-8' }));
    const page = await fetch(`${h.url}/api/trpc/registry.get?input=${input}`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(page.status).toBe(200);
    const detail = (await page.json()).result.data;
    const shown = detail.versions[0].metadata;
    expect(Object.keys(shown.plans)).toEqual(profiles);
    expect(shown.plans[profiles[0] as string].job_id).toBe(r.json.job_id);
    expect(shown.qualityCurve.points).toHaveLength(2);
  }, 300_000);

  it('serves the saved plan: a deployment with sampling.plan samples as this machine’s plan says', async () => {
    const api = (method: string, path: string, body?: unknown) =>
      h.api(owner.token, method, path, body);
    const [row] = await h.services.db
      .select({ metadata: modelVersions.metadata })
      .from(modelVersions)
      .where(eq(modelVersions.id, versionId));
    const plan = planRecordSchema.parse(Object.values(row?.metadata.plans ?? {})[0]);
    const clash = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'clash',
      model: 'shapes-tiny-8',
      version: 1,
      sampling: { plan: true, steps: 3 },
    });
    expect(clash.status).toBe(400);
    expect(clash.json.error.message).toMatch(
      /sampling\.plan: the plan sets the sampling; drop steps/,
    );
    const created = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'planned',
      model: 'shapes-tiny-8',
      version: 1,
      sampling: { plan: true },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id;
    for (let i = 0; ; i++) {
      const d = (await api('GET', `/api/v1/deployments/${id}`)).json;
      if (d.status === 'serving') break;
      if (i > 600) throw new Error(`not serving: ${JSON.stringify(d)}\n${agentLog.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const planned = await api('POST', `/api/v1/deployments/${id}/generate/json`, { n: 2, seed: 3 });
    expect(planned.status, JSON.stringify(planned.json)).toBe(200);
    expect(planned.json).toMatchObject({ sampler: plan.sampler, steps: plan.steps, nfe: plan.nfe });
    // A request that names its own sampling is served that way instead.
    const own = await api('POST', `/api/v1/deployments/${id}/generate/json`, {
      n: 1,
      sampler: 'ddim',
      steps: 3,
    });
    expect(own.json).toMatchObject({ sampler: 'ddim', steps: 3 });
    const both = await api('POST', `/api/v1/deployments/${id}/generate/json`, {
      plan: true,
      steps: 3,
    });
    expect(both.status).toBe(400);
    expect(both.json.error.message).toMatch(/plan: the plan sets the sampling; drop steps/);
    await api('POST', `/api/v1/deployments/${id}/stop`);
    // A version without a saved plan cannot be served by one.
    const first = (await api('GET', `/api/v1/model-versions/${versionId}`)).json;
    const bare = await api('POST', `/api/v1/projects/${projectId}/models/shapes-tiny-8/versions`, {
      sourceRunId: first.sourceRunId,
      artifactPath: first.artifactPath,
    });
    const refused = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'unplanned',
      model: 'shapes-tiny-8',
      version: bare.json.version,
      sampling: { plan: true },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toMatch(
      new RegExp(`sampling\\.plan: version ${bare.json.version} has no saved plan`),
    );
    // Nor can a pipeline put it behind an alias that a deployment serving the plan follows.
    await api('PUT', `/api/v1/projects/${projectId}/models/shapes-tiny-8/aliases/production`, {
      version: 1,
    });
    const follows = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'planned-alias',
      model: 'shapes-tiny-8',
      alias: 'production',
      sampling: { plan: true },
    });
    expect(follows.status, JSON.stringify(follows.json)).toBe(201);
    const promote = await api('POST', `/api/v1/projects/${projectId}/pipelines`, {
      name: 'promote-bare',
      spec: {
        nodes: [
          {
            key: 'promote',
            kind: 'register',
            spec: { version_id: bare.json.id, alias: 'production' },
          },
        ],
      },
    });
    expect(promote.status, JSON.stringify(promote.json)).toBe(201);
    const run = (await api('POST', `/api/v1/pipelines/${promote.json.id}/runs`, {})).json;
    expect(run.status).toBe('failed');
    expect(run.nodes[0].detail).toBe(
      `deployment planned-alias serves the saved plan of whatever production points at, and version ${bare.json.version} has no saved plan; run a plan job on it first`,
    );
    const aliased = (await api('GET', `/api/v1/projects/${projectId}/models/shapes-tiny-8`)).json;
    expect(aliased.versions.find((v: { version: number }) => v.version === 1).aliases).toContain(
      'production',
    );
    await api('POST', `/api/v1/deployments/${follows.json.id}/stop`);
  }, 180_000);
});
