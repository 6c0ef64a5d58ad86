import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import {
  type AgentProcess,
  registeredTinyModel,
  runCli,
  startAgent,
} from '../testing/agent-process.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// Deployments end to end: a real server and PostgreSQL, two real `anneal agent` processes that
// each load the model in an `anneal serve` child, and a tiny shapes model trained and
// registered by a train job. Generation through REST (PNG and JSON), the queue bound (429
// with Retry-After), an alias moved under load (no request dropped, the new version answers
// next), a server restart (the replicas are re-adopted, not reloaded), and an agent killed
// mid-request (that request fails naming it, the next goes to the other replica).

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
const agents: AgentProcess[] = [];
const agentLog: string[] = [];
let home: string;
let projectId: string;
let runId: string;
let v1: string;
let v2: string;

const cli = (args: string[]) =>
  runCli(args, { server: h.url, token: owner.token, home, extraLog: agentLog });
const api = (method: string, path: string, body?: unknown) =>
  h.api(owner.token, method, path, body);

async function startServingAgent(name: string): Promise<AgentProcess> {
  const token = (await createToken(h.services.db, owner, 'agent', name)).token;
  const agent = startAgent({
    server: h.url,
    token,
    name,
    home: join(home, name),
    detached: true,
    log: agentLog,
  });
  agents.push(agent);
  return agent;
}

async function until<T>(what: string, probe: () => Promise<T | null | false>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${ms} ms\n${agentLog.join('').slice(-3000)}`);
}

const detail = async (id: string) => (await api('GET', `/api/v1/deployments/${id}`)).json;
const readyReplicas = async (id: string) =>
  (await detail(id)).replicaList.filter((r: { status: string }) => r.status === 'ready');

function generateJson(id: string, body: Record<string, unknown>) {
  return fetch(`${h.url}/api/v1/deployments/${id}/generate/json`, {
    method: 'POST',
    headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  h = await startHarness({
    ANNEAL_LEASE_MS: '2000',
    ANNEAL_GENERATE_TIMEOUT_MS: '60000',
    ANNEAL_WEBHOOK_BACKOFF_MS: '50',
  });
  owner = await h.user('serve-org', 'owner');
  home = mkdtempSync(join(tmpdir(), 'anneal-deploy-'));
  await startServingAgent('serve-a');
  await startServingAgent('serve-b');
  let versionId: string;
  ({ projectId, runId, versionId } = await registeredTinyModel({
    cli,
    api,
    project: 'serve',
    resolution: 8,
    // Trained enough that an untrained version scores clearly worse (the alert test).
    steps: 150,
  }));
  v1 = versionId;
  // A second version of the same checkpoint, for the alias to move to.
  const first = (await api('GET', `/api/v1/model-versions/${v1}`)).json;
  const registered = await api(
    'POST',
    `/api/v1/projects/${projectId}/models/shapes-tiny-8/versions`,
    { sourceRunId: runId, artifactPath: first.artifactPath },
  );
  expect(registered.status, JSON.stringify(registered.json)).toBe(201);
  v2 = registered.json.id;
  const aliased = await api(
    'PUT',
    `/api/v1/projects/${projectId}/models/shapes-tiny-8/aliases/production`,
    { version: 1 },
  );
  expect(aliased.status, JSON.stringify(aliased.json)).toBe(200);
}, 240_000);

afterAll(async () => {
  for (const agent of agents) await agent.stop();
  await h?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('deployments', () => {
  let deploymentId: string;

  it('refuses a deployment that names both a version and an alias, or neither', async () => {
    const both = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'bad',
      model: 'shapes-tiny-8',
      version: 1,
      alias: 'production',
    });
    expect(both.status).toBe(400);
    expect(both.json.error.message).toMatch(/exactly one of version and alias/);
    const unknown = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'bad',
      model: 'shapes-tiny-8',
      alias: 'nope',
    });
    expect(unknown.status).toBe(404);
  });

  it('deploys the alias to both agents and serves PNGs and JSON', async () => {
    const created = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'shapes',
      model: 'shapes-tiny-8',
      alias: 'production',
      replicas: 2,
      sampling: { sampler: 'ddim', steps: 4 },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    deploymentId = created.json.id;
    expect(created.json).toMatchObject({ alias: 'production', modelVersionId: v1, version: 1 });
    const ready = await until('two ready replicas', async () => {
      const r = await readyReplicas(deploymentId);
      return r.length === 2 && r;
    });
    expect(new Set(ready.map((r: { agentName: string }) => r.agentName))).toEqual(
      new Set(['serve-a', 'serve-b']),
    );
    expect((await detail(deploymentId)).status).toBe('serving');

    const png = await fetch(`${h.url}/api/v1/deployments/${deploymentId}/generate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ seed: 7 }),
    });
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.headers.get('x-anneal-seed')).toBe('7');
    expect(png.headers.get('x-anneal-model-version')).toBe(v1);
    const bytes = Buffer.from(await png.arrayBuffer());
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');

    const res = await generateJson(deploymentId, { n: 4, seed: 7, class: 1 });
    expect(res.status).toBe(200);
    const json = await res.json();
    expect(json).toMatchObject({
      seed: 7,
      class: 1,
      sampler: 'ddim',
      steps: 4,
      modelVersionId: v1,
    });
    expect(json.images).toHaveLength(4);
    expect(json.grid).not.toBeNull();
    // The same seed gives the same first image on either replica (same weights, same noise).
    const again = await (await generateJson(deploymentId, { n: 4, seed: 7, class: 1 })).json();
    expect(again.images.map((i: { sha256: string }) => i.sha256)).toEqual(
      json.images.map((i: { sha256: string }) => i.sha256),
    );
    const image = await fetch(`${h.url}${json.images[0].url}`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    // A seed left out is chosen by the server and returned.
    const seeded = await (await generateJson(deploymentId, {})).json();
    expect(Number.isInteger(seeded.seed)).toBe(true);
    // Requests are recorded with their latency.
    const stats = (await detail(deploymentId)).stats;
    expect(stats.succeeded).toBeGreaterThanOrEqual(4);
    expect(stats.latencyMs.p50).toBeGreaterThan(0);
    expect(stats.latencyMs.p99).toBeGreaterThanOrEqual(stats.latencyMs.p50);
  });

  it('probes the served quality on demand and on a schedule, each number beside its floor', async () => {
    const tiny = { n: 20, extractor_steps: 40, extractor_width: 8 };
    const set = await api('PUT', `/api/v1/deployments/${deploymentId}/probe`, { probe: tiny });
    expect(set.json.probe).toMatchObject(tiny);
    const queued = await api('POST', `/api/v1/deployments/${deploymentId}/probes`);
    expect(queued.status, JSON.stringify(queued.json)).toBe(201);
    expect(queued.json).toMatchObject({ trigger: 'manual', status: 'queued', modelVersionId: v1 });
    const probes = async () =>
      (await api('GET', `/api/v1/deployments/${deploymentId}/probes`)).json.probes;
    const [done] = await until(
      'the probe scored',
      async () => {
        const p = await probes();
        return p[0]?.status !== 'queued' && p;
      },
      120_000,
    );
    expect(done.status, done.error).toBe('succeeded');
    for (const key of ['fd', 'floor_fd', 'kid', 'floor_kid', 'precision', 'recall'])
      expect(Number.isFinite(done.metrics[key]), key).toBe(true);
    // The probe's job evaluated the served sampling (ddim, 4 steps) on the served version.
    const job = (await api('GET', `/api/v1/jobs/${done.jobId}`)).json;
    expect(job.spec).toMatchObject({
      model: { kind: 'modelVersion', id: v1 },
      sampler: 'ddim',
      steps: 4,
      n: 20,
    });
    // The first samples it scored, tiled: what the alert evidence shows beside the numbers.
    expect(done.gridUrl).toBe(`/api/v1/runs/${done.runId}/artifacts/samples/grid.png`);
    const grid = await fetch(`${h.url}${done.gridUrl}`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(grid.status).toBe(200);
    expect(
      Buffer.from(await grid.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    // On a schedule: the next one is queued by the server, then the schedule is removed.
    await api('PUT', `/api/v1/deployments/${deploymentId}/probe`, {
      probe: { ...tiny, every_s: 5 },
    });
    await until(
      'a scheduled probe scored',
      async () =>
        (await probes()).some(
          (p: { trigger: string; status: string }) =>
            p.trigger === 'schedule' && p.status === 'succeeded',
        ),
      120_000,
    );
    await api('PUT', `/api/v1/deployments/${deploymentId}/probe`, { probe: null });
    await until(
      'no probe left queued',
      async () => (await probes()).every((p: { status: string }) => p.status !== 'queued'),
      120_000,
    );
  });

  it('refuses a bad request naming the field, and an agent token cannot generate', async () => {
    const bad = await generateJson(deploymentId, { n: 0 });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/^body\.n/);
    const agentToken = (await createToken(h.services.db, owner, 'agent', 'nosy')).token;
    const refused = await fetch(`${h.url}/api/v1/deployments/${deploymentId}/generate/json`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBe(403);
    // Nor upload images to a deployment its agent hosts no replica of.
    const upload = await fetch(`${h.url}/api/v1/deployments/${deploymentId}/images`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${agentToken}`,
        'content-type': 'image/png',
        'x-anneal-sha256': '0'.repeat(64),
      },
      body: 'x',
    });
    expect(upload.status).toBe(403);
  });

  it('deploys, generates and stops from the command line', async () => {
    const deployed = await cli([
      ...['deploy', '--project', 'serve', '--model', 'shapes-tiny-8', '--version', '1'],
      ...['--name', 'cli', '--sampler', 'ddim', '--steps', '4', '--wait', '--json'],
    ]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const d = JSON.parse(deployed.stdout.trim().split('\n').at(-1) as string);
    expect(d).toMatchObject({ name: 'cli', status: 'serving', version: 1 });
    const out = join(home, 'cli.png');
    const generated = await cli([
      ...['generate', '--deployment', d.id, '--n', '4', '--seed', '5', '--out', out, '--json'],
    ]);
    expect(generated.code, generated.stderr).toBe(0);
    const g = JSON.parse(generated.stdout.trim().split('\n').at(-1) as string);
    expect(g).toMatchObject({ seed: 5, sampler: 'ddim', steps: 4, out });
    expect(readFileSync(out).subarray(1, 4).toString()).toBe('PNG');
    const refused = await cli(['deploy', '--project', 'serve', '--model', 'shapes-tiny-8']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/exactly one of --alias and --version/);
    const stopped = await cli(['deploy', '--stop', d.id, '--json']);
    expect(JSON.parse(stopped.stdout.trim()).status).toBe('stopped');
  });

  it('answers 429 with Retry-After beyond the queue bound, and serves the rest', async () => {
    const tight = await api('POST', `/api/v1/projects/${projectId}/deployments`, {
      name: 'tight',
      model: 'shapes-tiny-8',
      version: 1,
      replicas: 1,
      queueLimit: 1,
      sampling: { sampler: 'ddim', steps: 30 },
    });
    expect(tight.status).toBe(201);
    await until('a ready replica', async () => (await readyReplicas(tight.json.id)).length === 1);
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => generateJson(tight.json.id, { n: 16, seed: i })),
    );
    const statuses = answers.map((a) => a.status);
    // One runs, one waits, the other four are refused at once.
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    const refused = answers.find((a) => a.status === 429) as Response;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await refused.json()).error.message).toMatch(/queue limit is 1/);
    expect((await detail(tight.json.id)).stats.rejected).toBe(4);
    const stopped = await api('POST', `/api/v1/deployments/${tight.json.id}/stop`);
    expect(stopped.json.status).toBe('stopped');
    await until('the replica stops', async () => (await readyReplicas(tight.json.id)).length === 0);
  });

  it('moves the alias under load: new replicas warm first, no request dropped', async () => {
    const before = (await readyReplicas(deploymentId)).map((r: { id: string }) => r.id);
    let stop = false;
    const outcomes: { status: number; version?: string }[] = [];
    const client = async () => {
      while (!stop) {
        const res = await generateJson(deploymentId, { n: 2 });
        const body = await res.json();
        outcomes.push({ status: res.status, version: body.modelVersionId });
      }
    };
    const clients = [client(), client()];
    await until('some answers', async () => outcomes.length >= 4);
    const moved = await api(
      'PUT',
      `/api/v1/projects/${projectId}/models/shapes-tiny-8/aliases/production`,
      { version: 2 },
    );
    expect(moved.status).toBe(200);
    await until('two ready replicas of version 2, the old ones stopped', async () => {
      const d = await detail(deploymentId);
      const live = d.replicaList.filter((r: { status: string }) =>
        ['starting', 'ready', 'draining'].includes(r.status),
      );
      return (
        d.modelVersionId === v2 &&
        live.length === 2 &&
        live.every(
          (r: { status: string; modelVersionId: string }) =>
            r.status === 'ready' && r.modelVersionId === v2,
        )
      );
    });
    const settled = outcomes.length;
    await until('answers from version 2', async () => outcomes.length >= settled + 4);
    stop = true;
    await Promise.all(clients);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(outcomes.at(-1)?.version).toBe(v2);
    const d = await detail(deploymentId);
    for (const id of before)
      expect(d.replicaList.find((r: { id: string }) => r.id === id)?.status).toBe('stopped');
  });

  it('alerts when a worse version goes behind the alias: evidence, suggestion, signed webhook', async () => {
    // A webhook that fails once, so the delivery is retried.
    const hooks: { headers: Record<string, unknown>; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hooks.push({ headers: req.headers, body });
        res.writeHead(hooks.length === 1 ? 503 : 200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const secret = 'a-webhook-secret-of-some-length';
    // Small probes, on demand only.
    await api('PUT', `/api/v1/deployments/${deploymentId}/probe`, {
      probe: { n: 20, extractor_steps: 40, extractor_width: 8 },
    });
    const set = await api('PUT', `/api/v1/deployments/${deploymentId}/alerting`, {
      alerting: {
        rules: [{ metric: 'fd', relative: 0.5, severity: 'critical' }],
        webhook: { url: `http://127.0.0.1:${port}/hook`, secret },
      },
    });
    expect(set.status, JSON.stringify(set.json)).toBe(200);
    expect(JSON.stringify(set.json)).not.toContain(secret);
    const baselineId = set.json.baselineProbeId;
    expect(baselineId).toBeTruthy();
    const probes = async () =>
      (await api('GET', `/api/v1/deployments/${deploymentId}/probes`)).json.probes;
    const baseline = (await probes()).find((p: { id: string }) => p.id === baselineId);

    // The deliberately worse version: one training step, registered as version 3.
    const bad = await cli([
      ...['submit', 'train', '--project', 'serve', '--dataset', 'shapes', '--resolution', '8'],
      ...['--preset', 'tiny', '--steps', '1', '--batch', '8', '--wait', '--json'],
    ]);
    expect(bad.code, bad.stderr).toBe(0);
    await api('PUT', `/api/v1/projects/${projectId}/models/shapes-tiny-8/aliases/production`, {
      version: 3,
    });
    await until('version 3 serving', async () => {
      const live = await readyReplicas(deploymentId);
      return live.length > 0 && live.every((r: { version: number }) => r.version === 3);
    });
    const probed = await api('POST', `/api/v1/deployments/${deploymentId}/probes`);
    expect(probed.status).toBe(201);
    const alertsOf = async () =>
      (await api('GET', `/api/v1/projects/${projectId}/alerts?deploymentId=${deploymentId}`)).json
        .alerts;
    const [alert] = await until(
      'the alert',
      async () => {
        const a = await alertsOf();
        return a.length > 0 && a;
      },
      120_000,
    );
    const scored = (await probes()).find((p: { id: string }) => p.id === probed.json.id);
    expect(scored.metrics.fd).toBeGreaterThan(1.5 * baseline.metrics.fd);
    expect(alert).toMatchObject({
      severity: 'critical',
      status: 'open',
      ruleKey: 'fd:relative',
      evidence: {
        metric: 'fd',
        value: scored.metrics.fd,
        probeId: probed.json.id,
        baseline: { probeId: baselineId, value: baseline.metrics.fd, modelVersionId: v1 },
      },
      suggestion: { action: 'rollback', version: 1 },
    });
    expect(alert.message).toMatch(/^shapes: FD .* above the baseline/);
    // Delivered on the second attempt, signed with the secret.
    await until('the webhook delivered', async () => hooks.length >= 2);
    const last = hooks.at(-1) as { headers: Record<string, unknown>; body: string };
    const expected = `sha256=${createHmac('sha256', secret).update(last.body).digest('hex')}`;
    expect(last.headers['x-anneal-signature']).toBe(expected);
    expect(JSON.parse(last.body).alert.id).toBe(alert.id);
    await until(
      'the delivery recorded',
      async () =>
        (await alertsOf())[0].delivery.attempts === 2 && (await alertsOf())[0].delivery.deliveredAt,
    );
    // A second bad probe updates the open alert instead of raising another.
    await api('POST', `/api/v1/deployments/${deploymentId}/probes`);
    await until(
      'the second probe scored',
      async () => (await probes()).every((p: { status: string }) => p.status !== 'queued'),
      120_000,
    );
    expect(await alertsOf()).toHaveLength(1);
    expect(hooks).toHaveLength(2);
    // The suggestion, run as a pipeline with one call: version 1 is scored again with the
    // served sampling, and the alias goes back to it only if its FD is within the rule's 50%
    // of the baseline's.
    const piped = await api('POST', `/api/v1/alerts/${alert.id}/pipeline`);
    expect(piped.status, JSON.stringify(piped.json)).toBe(201);
    expect(piped.json).toMatchObject({ trigger: 'alert', alertId: alert.id, pipelineId: null });
    expect(piped.json.params).toEqual({
      fd_budget: Number((baseline.metrics.fd * 1.5).toPrecision(4)),
    });
    const rollback = await until(
      'the rollback pipeline',
      async () => {
        const r = (await api('GET', `/api/v1/pipeline-runs/${piped.json.id}`)).json;
        return r.status !== 'running' && r;
      },
      120_000,
    );
    expect(rollback.status, JSON.stringify(rollback)).toBe('succeeded');
    const [check, promote] = rollback.nodes;
    expect(check).toMatchObject({ key: 'evaluate', status: 'succeeded' });
    const rescored = (await api('GET', `/api/v1/jobs/${check.jobId}`)).json;
    expect(rescored.spec).toMatchObject({
      model: { kind: 'modelVersion', id: v1 },
      n: 20,
      extractor_steps: 40,
      extractor_width: 8,
    });
    const model = async () =>
      (await api('GET', `/api/v1/projects/${projectId}/models/shapes-tiny-8`)).json.versions;
    const aliased = (version: number) =>
      model().then((vs) =>
        vs.find((v: { version: number }) => v.version === version).aliases.includes('production'),
      );
    if (check.outputs.fd <= rollback.params.fd_budget) {
      expect(promote).toMatchObject({ status: 'succeeded', outputs: { version: 1 } });
      expect(await aliased(1)).toBe(true);
    } else {
      expect(promote.status).toBe('skipped');
      expect(promote.detail).toMatch(/^condition not met/);
      expect(await aliased(3)).toBe(true);
    }
    const acked = await api('POST', `/api/v1/alerts/${alert.id}/acknowledge`);
    expect(acked.json.status).toBe('acknowledged');
    const resolved = await api('POST', `/api/v1/alerts/${alert.id}/resolve`);
    expect(resolved.json.status).toBe('resolved');
    expect((await api('POST', `/api/v1/alerts/${alert.id}/resolve`)).status).toBe(409);
    receiver.close();
    // Back to version 2 for what follows; no more rules.
    await api('PUT', `/api/v1/deployments/${deploymentId}/alerting`, { alerting: null });
    await api('PUT', `/api/v1/deployments/${deploymentId}/probe`, { probe: null });
    await api('PUT', `/api/v1/projects/${projectId}/models/shapes-tiny-8/aliases/production`, {
      version: 2,
    });
    await until('version 2 serving again', async () => {
      const live = await readyReplicas(deploymentId);
      return live.length === 2 && live.every((r: { version: number }) => r.version === 2);
    });
  });

  it('re-adopts the replicas after a server restart, without reloading them', async () => {
    const before = (await readyReplicas(deploymentId)).map((r: { id: string }) => r.id).sort();
    await h.restart(300);
    const after = await until('the replicas re-announced and answering', async () => {
      const res = await generateJson(deploymentId, { n: 1 });
      if (res.status !== 200) return false;
      return (await readyReplicas(deploymentId)).map((r: { id: string }) => r.id).sort();
    });
    expect(after).toEqual(before);
  });

  it('replaces a replica whose child dies, naming the exit', async () => {
    const before = await readyReplicas(deploymentId);
    const onB = before.find((r: { agentName: string }) => r.agentName === 'serve-b');
    // The replica's `anneal serve` child, found by its model folder under serve-b's home.
    const ps = execFileSync('pgrep', [
      '-f',
      `${join(home, 'serve-b')}/agent/replicas/${onB.id}/model`,
    ])
      .toString()
      .trim()
      .split('\n');
    for (const pid of ps) process.kill(Number(pid), 'SIGKILL');
    const failed = await until('the replica reported failed', async () => {
      const r = (await detail(deploymentId)).replicaList.find(
        (x: { id: string }) => x.id === onB.id,
      );
      return r?.status === 'failed' && r;
    });
    expect(failed.detail).toMatch(/anneal serve exited \(SIGKILL\)/);
    await until('a new replica ready on serve-b', async () =>
      (await readyReplicas(deploymentId)).some(
        (r: { id: string; agentName: string }) => r.agentName === 'serve-b' && r.id !== onB.id,
      ),
    );
    expect((await generateJson(deploymentId, { n: 1 })).status).toBe(200);
  });

  it('fails the request of an agent killed mid-request, naming it; the next goes to the other', async () => {
    // Two long requests keep both replicas busy; then one agent dies with its child.
    const slow = { n: 64, steps: 60, sampler: 'ddim' };
    const pending = [generateJson(deploymentId, slow), generateJson(deploymentId, slow)];
    await new Promise((r) => setTimeout(r, 800));
    const victim = agents[0] as AgentProcess;
    process.kill(-(victim.child.pid as number), 'SIGKILL');
    const answers = await Promise.all(pending);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 503]);
    const failed = answers.find((a) => a.status === 503) as Response;
    expect((await failed.json()).error.message).toMatch(/serve-a disconnected mid-request/);
    const next = await generateJson(deploymentId, { n: 1 });
    expect(next.status).toBe(200);
    const answeredBy = (await next.json()).replicaId;
    const d = await detail(deploymentId);
    expect(d.replicaList.find((r: { id: string }) => r.id === answeredBy)?.agentName).toBe(
      'serve-b',
    );
    const requests = (await api('GET', `/api/v1/deployments/${deploymentId}/requests?limit=5`)).json
      .requests;
    expect(
      requests.some(
        (r: { status: string; error: string | null }) =>
          r.status === 'failed' && /mid-request/.test(r.error ?? ''),
      ),
    ).toBe(true);
  });
});
