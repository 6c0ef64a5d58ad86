import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { until } from '../testing/until.ts';

// Real agents (the `anneal agent` command, each job in its own child process) against a
// real server and PostgreSQL, training the tiny preset at 8x8 for a few dozen steps.

const ANNEAL = join(repoRoot, 'apps/agent/bin/anneal.js');
const STEPS = 24;

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let projectId: string;
const homes: string[] = [];
const agents: ChildProcess[] = [];

function startAgent(token: string, home: string) {
  const child = spawn(
    process.execPath,
    [ANNEAL, 'agent', '--server', h.url, '--token', token, '--name', 'reliability'],
    {
      env: { ...process.env, ANNEAL_HOME: home, ANNEAL_AGENT_MAX_BACKOFF_MS: '1000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const log: string[] = [];
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  agents.push(child);
  return { child, log };
}

async function queueTrain() {
  const r = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'builtin', name: 'shapes' },
        resolution: 8,
        preset: 'tiny',
        steps: STEPS,
        checkpoint_every: 8,
        log_every: 1,
        batch: 8,
      },
    },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json as { id: string; runId: string };
}

const job = async (id: string) => (await h.api(owner.token, 'GET', `/api/v1/jobs/${id}`)).json;
const run = async (id: string) => (await h.api(owner.token, 'GET', `/api/v1/runs/${id}`)).json;

async function lossSteps(runId: string): Promise<number[]> {
  const r = await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/metrics?keys=loss`);
  return (r.json.metrics[0]?.points ?? []).map((p: { step: number }) => p.step);
}

/** The steps samples/index.json lists; none before the first grid is uploaded. */
async function gridSteps(runId: string): Promise<number[]> {
  const r = await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/artifacts/samples/index.json`);
  if (r.status !== 200) return [];
  return (r.json as { frames: { step: number }[] }).frames.map((f) => f.step);
}

async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '3000' });
  owner = await h.user('reliability-org', 'owner');
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'reliability' })).json
    .id;
});
afterAll(async () => {
  for (const a of agents) if (a.exitCode === null) a.kill('SIGKILL');
  await h?.stop();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe('reliability with real agents', () => {
  it('an agent SIGKILLed mid-training: the lease expires, the job is re-leased, resumes from its last checkpoint and finishes without metric gaps or duplicates', async () => {
    const token = await createToken(h.services.db, owner, 'agent', 'kill-me');
    const home = mkdtempSync(join(tmpdir(), 'anneal-agent-'));
    homes.push(home);
    const queued = await queueTrain();
    const first = startAgent(token.token, home);
    onTestFinished(() => void first.child.kill('SIGKILL'));
    // Wait for the first uploaded checkpoint and its sample grid (grids come at every
    // checkpoint, after it), then kill the agent with no warning.
    await until(
      'a checkpoint',
      () => run(queued.runId),
      (r) => (r.checkpointStep ?? 0) >= 8,
    );
    await until(
      'the grid at step 8',
      () => gridSteps(queued.runId),
      (steps) => steps.includes(8),
    );
    first.child.kill('SIGKILL');
    await until(
      'the lease to expire',
      () => job(queued.id),
      (j) => j.status === 'queued',
    );

    const second = startAgent(token.token, home);
    onTestFinished(() => void second.child.kill('SIGKILL'));
    const done = await until(
      'the job to finish',
      () => job(queued.id),
      (j) => ['succeeded', 'failed'].includes(j.status),
    );
    expect(done, second.log.join('')).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(second.log.join('')).toMatch(/resuming from step (8|16)/);
    expect(await lossSteps(queued.runId)).toEqual(range(STEPS));
    // The resumed sitting carried on the first sitting's grid index: frame 8 (drawn before
    // the kill) is still listed beside the last. A grid drawn after the checkpoint it
    // resumed from but not uploaded before the kill is the only one that may be missing.
    const frames = await gridSteps(queued.runId);
    expect(frames[0]).toBe(8);
    expect(frames.at(-1)).toBe(STEPS);
    expect(frames.every((f) => [8, 16, 24].includes(f))).toBe(true);
    const models = await h.api(owner.token, 'GET', `/api/v1/projects/${projectId}/models`);
    expect(JSON.stringify(models.json)).toContain('shapes-tiny-8');
    // Gone before the next test queues a job, so no other test's job is leased to it.
    await stopAgent(second.child);
  });

  it('the server restarted mid-job: the agent reconnects, replays its journal, the job finishes, nothing is lost', async () => {
    const token = await createToken(h.services.db, owner, 'agent', 'survivor');
    const home = mkdtempSync(join(tmpdir(), 'anneal-agent-'));
    homes.push(home);
    const queued = await queueTrain();
    const agent = startAgent(token.token, home);
    onTestFinished(() => void agent.child.kill('SIGKILL'));
    await until(
      'training to start',
      () => lossSteps(queued.runId),
      (s) => s.length >= 2,
    );
    await h.restart(1500);
    const done = await until(
      'the job to finish',
      () => job(queued.id),
      (j) => ['succeeded', 'failed'].includes(j.status),
      { log: agent.log },
    );
    expect(done, agent.log.join('')).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(agent.log.join('')).toMatch(/backoff/);
    expect(await lossSteps(queued.runId)).toEqual(range(STEPS));
    // Gone before the next test queues a job, so no other test's job is leased to it.
    await stopAgent(agent.child);
  });

  it('anneal submit train --wait --json, then submit sample from that run: the CLI client end to end', async () => {
    const token = await createToken(h.services.db, owner, 'agent', 'submit');
    const home = mkdtempSync(join(tmpdir(), 'anneal-agent-'));
    homes.push(home);
    const agent = startAgent(token.token, home);
    onTestFinished(() => void agent.child.kill('SIGKILL'));
    const env = {
      ...process.env,
      ANNEAL_SERVER: h.url,
      ANNEAL_TOKEN: owner.token,
      ANNEAL_CONFIG: join(home, 'none.json'),
    };
    const cli = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [ANNEAL, ...args], { env });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
    const trained = await cli([
      'submit',
      'train',
      '--project',
      'cli-made',
      '--dataset',
      'shapes',
      '--resolution',
      '8',
      '--steps',
      '6',
      '--preset',
      'tiny',
      '--batch',
      '8',
      '--wait',
      '--json',
    ]);
    expect(trained.code, trained.stderr).toBe(0);
    const last = JSON.parse(trained.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(last).toMatchObject({
      status: 'succeeded',
      job_id: expect.any(String),
      run_id: expect.any(String),
    });
    const sampled = await cli([
      'submit',
      'sample',
      '--project',
      'cli-made',
      '--run',
      last.run_id,
      '--n',
      '4',
      '--steps',
      '4',
      '--wait',
      '--json',
    ]);
    expect(sampled.code, sampled.stderr + agent.log.join('')).toBe(0);
    const { run_id } = JSON.parse(sampled.stdout.trim().split('\n').at(-1) ?? '{}');
    const artifacts = await h.api(owner.token, 'GET', `/api/v1/runs/${run_id}/artifacts`);
    expect(artifacts.json.artifacts.map((a: { path: string }) => a.path)).toContain(
      'samples/grid.png',
    );
    const bad = await cli([
      'submit',
      'train',
      '--project',
      'cli-made',
      '--dataset',
      'shapes',
      '--resolution',
      '4',
      '--steps',
      '1',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--resolution/);
  });
});
