import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import { type Harness, startHarness } from '../testing/harness.ts';
import { until } from '../testing/until.ts';

// A data-parallel job end to end: two real agents (`anneal agent`, each rank in its own
// `anneal train` child on MLX's ring backend over loopback) against a real server and
// PostgreSQL, submitted with `anneal submit train --ranks 2` as a user would. One rank is
// SIGKILLed mid-run: the group's attempt ends, the job is leased to the group again, and
// both ranks resume from the last uploaded checkpoint.

const ANNEAL = join(repoRoot, 'apps/agent/bin/anneal.js');
const STEPS = 48;

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
const homes: string[] = [];
const agents: ChildProcess[] = [];

/** The `anneal` CLI as a child (the server runs in this process: never block on it). */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ANNEAL, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`anneal ${args[0]}: ${code}: ${stderr}`)),
    );
  });
}

function startAgent(token: string, name: string) {
  const home = mkdtempSync(join(tmpdir(), 'anneal-rank-agent-'));
  homes.push(home);
  const child = spawn(
    process.execPath,
    [ANNEAL, 'agent', '--server', h.url, '--token', token, '--name', name],
    {
      // Two ranks share this machine's cores: one BLAS thread each.
      env: {
        ...process.env,
        ANNEAL_HOME: home,
        ANNEAL_AGENT_MAX_BACKOFF_MS: '1000',
        OPENBLAS_NUM_THREADS: '1',
        OMP_NUM_THREADS: '1',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const log: string[] = [];
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  agents.push(child);
  return { child, log };
}

/** The pid of the `anneal train` child running `rank` of job `jobId`, if one runs now. */
function rankPid(jobId: string, rank: number): number | null {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  for (const line of ps.split('\n')) {
    if (
      line.includes(`jobs/${jobId}/`) &&
      line.includes(' train ') &&
      line.endsWith(`--rank ${rank}`)
    )
      return Number(line.trim().split(/\s+/)[0]);
  }
  return null;
}

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '3000' });
  owner = await h.user('ranks-org', 'owner');
});
afterAll(async () => {
  for (const a of agents) if (a.exitCode === null) a.kill('SIGKILL');
  await h?.stop();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe('a data-parallel job on two real agents', () => {
  it('trains as one group; a rank killed mid-run ends the attempt, and the group resumes from the checkpoint with no metric gaps or duplicates', async () => {
    const a = startAgent(
      (await createToken(h.services.db, owner, 'agent', 'mac-a')).token,
      'mac-a',
    );
    const b = startAgent(
      (await createToken(h.services.db, owner, 'agent', 'mac-b')).token,
      'mac-b',
    );
    const logs = () => `\n--- mac-a\n${a.log.join('')}\n--- mac-b\n${b.log.join('')}`;
    const env = { ...process.env, ANNEAL_SERVER: h.url, ANNEAL_TOKEN: owner.token };
    const submitted = await cli(
      [
        'submit',
        'train',
        '--project',
        'ranks',
        '--dataset',
        'shapes',
        '--resolution',
        '8',
        '--preset',
        'tiny',
        '--steps',
        String(STEPS),
        '--batch',
        '8',
        '--ranks',
        '2',
        '--checkpoint-every',
        '8',
        '--log-every',
        '1',
        '--json',
      ],
      env,
    );
    const { job_id: jobId, run_id: runId } = JSON.parse(
      submitted.trim().split('\n').at(-1) ?? '{}',
    );
    const job = async () => (await h.api(owner.token, 'GET', `/api/v1/jobs/${jobId}`)).json;
    const run = async () => (await h.api(owner.token, 'GET', `/api/v1/runs/${runId}`)).json;
    const steps = async (key: string) => {
      const r = await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/metrics?keys=${key}`);
      return (r.json.metrics[0]?.points ?? []) as { step: number; value: number }[];
    };

    // The first checkpoint is uploaded; then rank 1's process dies with no warning.
    await until('a checkpoint', run, (r) => (r.checkpointStep ?? 0) >= 8);
    const pid = await until(
      'rank 1 to run',
      async () => rankPid(jobId, 1),
      (p) => p !== null,
    );
    process.kill(pid as number, 'SIGKILL');

    const done = await until(
      'the job to finish',
      job,
      (j) => ['succeeded', 'failed'].includes(j.status),
      { ms: 180_000 },
    );
    expect(done.status, `${done.error}${logs()}`).toBe('succeeded');
    expect(done.attempts).toBe(2);
    // Both agents resumed the second attempt from the uploaded checkpoint.
    expect(a.log.join('')).toMatch(/resuming from step (8|16)/);
    expect(b.log.join('')).toMatch(/resuming from step (8|16)/);
    expect((await steps('loss')).map((p) => p.step)).toEqual(
      Array.from({ length: STEPS }, (_, i) => i + 1),
    );
    // Rank 0 reported the communication probe with every logged step.
    const share = await steps('comm_share');
    expect(share.length).toBe(STEPS);
    for (const p of share) expect(p.value).toBeGreaterThan(0);
    for (const p of share) expect(p.value).toBeLessThanOrEqual(1);

    // The run's group: two attempts, each with both agents, the first one's rank 1 named in
    // the failure the run's logs keep.
    const group = (await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/group`)).json;
    expect(group.ranks).toBe(2);
    expect(group.attempts.map((x: { attempt: number }) => x.attempt)).toEqual([2, 1]);
    for (const attempt of group.attempts)
      expect(attempt.members.map((m: { agent: string }) => m.agent).sort()).toEqual([
        'mac-a',
        'mac-b',
      ]);
    for (const m of group.attempts[0].members) expect(m.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const runLogs = (await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/logs`)).json;
    expect(JSON.stringify(runLogs)).toMatch(
      /attempt 1 failed: rank 1: the job exited with SIGKILL/,
    );
    // The trained model is registered once, from rank 0's checkpoint.
    const models = await h.api(owner.token, 'GET', `/api/v1/projects/${done.projectId}/models`);
    expect(JSON.stringify(models.json)).toContain('shapes-tiny-8');
  });
});
