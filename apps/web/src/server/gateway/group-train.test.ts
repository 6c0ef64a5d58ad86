import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
import { until } from '../testing/until.ts';

// Data-parallel jobs end to end: two real agents (`anneal agent`, each rank in its own child
// on MLX's ring backend over loopback) against a real server and PostgreSQL, submitted with
// `anneal submit ... --ranks 2` as a user would. One rank is SIGKILLed mid-run: the group's
// attempt ends, the job is leased to the group again, and both ranks resume from the last
// uploaded checkpoint. The distill job's test is long (ANNEAL_LONG=1: `npm run test:long`).

const STEPS = 48;
const long = process.env.ANNEAL_LONG === '1';

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
const homes: string[] = [];
const agents: AgentProcess[] = [];
let home: string;

const cli = async (args: string[]) => {
  const r = await runCli(args, { server: h.url, token: owner.token, home });
  if (r.code !== 0) throw new Error(`anneal ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.json;
};
const api = (method: string, path: string) => h.api(owner.token, method, path);

/** An agent of its own ANNEAL_HOME; two ranks share this machine's cores: a BLAS thread each. */
async function agentNamed(name: string) {
  const agentHome = mkdtempSync(join(tmpdir(), 'anneal-rank-agent-'));
  homes.push(agentHome);
  const agent = startAgent({
    server: h.url,
    token: (await createToken(h.services.db, owner, 'agent', name)).token,
    name,
    home: agentHome,
    env: { ANNEAL_AGENT_MAX_BACKOFF_MS: '1000', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
  });
  agents.push(agent);
  return agent;
}

/** The pid of the child running `rank` of job `jobId` (`anneal <command>`), once it runs. */
function rankPid(jobId: string, command: string, rank: number): number | null {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  for (const line of ps.split('\n'))
    if (
      line.includes(`jobs/${jobId}/`) &&
      line.includes(` ${command} `) &&
      line.endsWith(`--rank ${rank}`)
    )
      return Number(line.trim().split(/\s+/)[0]);
  return null;
}

/** Kills rank 1's child of `jobId` with no warning, once `ready` holds of the run. */
async function killRankOne(jobId: string, runId: string, command: string, checkpoint: number) {
  const run = async () => (await api('GET', `/api/v1/runs/${runId}`)).json;
  await until('a checkpoint', run, (r) => (r.checkpointStep ?? 0) >= checkpoint, {
    ms: 180_000,
  });
  const pid = await until(
    'rank 1 to run',
    async () => rankPid(jobId, command, 1),
    (p) => p !== null,
  );
  process.kill(pid as number, 'SIGKILL');
}

const finished = (jobId: string) =>
  until(
    'the job to finish',
    async () => (await api('GET', `/api/v1/jobs/${jobId}`)).json,
    (j) => ['succeeded', 'failed'].includes(j.status),
    { ms: 300_000 },
  );

const points = async (runId: string, key: string) => {
  const r = await api('GET', `/api/v1/runs/${runId}/metrics?keys=${encodeURIComponent(key)}`);
  return (r.json.metrics[0]?.points ?? []) as { step: number; value: number }[];
};

/** The run's group: attempts newest first, each on both agents, the first's rank 1 named. */
async function expectTwoAttempts(runId: string) {
  const group = (await api('GET', `/api/v1/runs/${runId}/group`)).json;
  expect(group.ranks).toBe(2);
  expect(group.attempts.map((x: { attempt: number }) => x.attempt)).toEqual([2, 1]);
  for (const attempt of group.attempts)
    expect(attempt.members.map((m: { agent: string }) => m.agent).sort()).toEqual([
      'mac-a',
      'mac-b',
    ]);
  for (const m of group.attempts[0].members) expect(m.address).toMatch(/^127\.0\.0\.1:\d+$/);
  const runLogs = (await api('GET', `/api/v1/runs/${runId}/logs`)).json;
  expect(JSON.stringify(runLogs)).toMatch(/attempt 1 failed: rank 1: the job exited with SIGKILL/);
}

let a: AgentProcess;
let b: AgentProcess;
const logs = () => `\n--- mac-a\n${a.log.join('')}\n--- mac-b\n${b.log.join('')}`;

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '3000' });
  owner = await h.user('ranks-org', 'owner');
  home = mkdtempSync(join(tmpdir(), 'anneal-ranks-cli-'));
  homes.push(home);
  a = await agentNamed('mac-a');
  b = await agentNamed('mac-b');
});
afterAll(async () => {
  for (const agent of agents) agent.child.kill('SIGKILL');
  await h?.stop();
  for (const dir of homes) rmSync(dir, { recursive: true, force: true });
});

describe('data-parallel jobs on two real agents', () => {
  it('a train job trains as one group; a rank killed mid-run ends the attempt, and the group resumes from the checkpoint with no metric gaps or duplicates', async () => {
    const { job_id: jobId, run_id: runId } = await cli([
      ...['submit', 'train', '--project', 'ranks', '--dataset', 'shapes', '--resolution', '8'],
      ...['--preset', 'tiny', '--steps', String(STEPS), '--batch', '8', '--ranks', '2'],
      ...['--checkpoint-every', '8', '--log-every', '1', '--json'],
    ]);
    await killRankOne(jobId, runId, 'train', 8);
    const done = await finished(jobId);
    expect(done.status, `${done.error}${logs()}`).toBe('succeeded');
    expect(done.attempts).toBe(2);
    // Both agents resumed the second attempt from the uploaded checkpoint.
    expect(a.log.join('')).toMatch(/resuming from step (8|16)/);
    expect(b.log.join('')).toMatch(/resuming from step (8|16)/);
    expect((await points(runId, 'loss')).map((p) => p.step)).toEqual(
      Array.from({ length: STEPS }, (_, i) => i + 1),
    );
    // Rank 0 reported the communication probe with every logged step.
    const share = await points(runId, 'comm_share');
    expect(share.length).toBe(STEPS);
    for (const p of share) expect(p.value).toBeGreaterThan(0);
    for (const p of share) expect(p.value).toBeLessThanOrEqual(1);
    await expectTwoAttempts(runId);
    // The trained model is registered once, from rank 0's checkpoint.
    const models = await api('GET', `/api/v1/projects/${done.projectId}/models`);
    expect(JSON.stringify(models.json)).toContain('shapes-tiny-8');
  });

  it.skipIf(!long)(
    'a distill job distills as one group; a rank killed mid-stage ends the attempt, and the group resumes from the uploaded slot',
    async () => {
      const teacher = await registeredTinyModel({
        cli: (args) => runCli(args, { server: h.url, token: owner.token, home }),
        api,
        project: 'ranks-distill',
        resolution: 8,
        steps: 40,
        extra: ['--parameterization', 'v'],
      });
      const { job_id: jobId, run_id: runId } = await cli([
        ...['submit', 'distill', '--project', 'ranks-distill', '--teacher', teacher.versionId],
        ...['--method', 'progressive', '--min-steps', '16', '--max-iters-per-stage', '40'],
        ...['--eval-every', '10', '--plateau-window', '10', '--eval-n', '20', '--heldout-n', '4'],
        ...['--batch', '8', '--extractor-steps', '60', '--extractor-width', '8'],
        ...['--quality-budget', '50', '--log-every', '1', '--ranks', '2', '--json'],
      ]);
      await killRankOne(jobId, runId, 'distill', 10);
      const done = await finished(jobId);
      expect(done.status, `${done.error}${logs()}`).toBe('succeeded');
      expect(done.attempts).toBe(2);
      // Every iteration of the stage logged once across the two attempts.
      expect((await points(runId, 'loss')).map((p) => p.step)).toEqual(
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      await expectTwoAttempts(runId);
      // The stage's student is registered from rank 0's run.
      const models = (await api('GET', `/api/v1/projects/${done.projectId}/models`)).json;
      expect(JSON.stringify(models)).toContain('shapes-tiny-8-progressive');
    },
    600_000,
  );
});
