import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agents } from '@anneal/db/schema';
import { jobTypes } from '@anneal/protocol';
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

// evaluate and bench jobs through a real agent (each job in its own child process), queued
// with `anneal submit`, against a real server and PostgreSQL: a tiny shapes model at 16x16,
// evaluated from its registered model version at small N; the smoke sampling benchmark.

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let agent: AgentProcess;
const agentLog: string[] = [];
let home: string;
let projectId: string;
let versionId: string;

const cli = (args: string[]) =>
  runCli(args, { server: h.url, token: owner.token, home, extraLog: agentLog });

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '5000' });
  owner = await h.user('eval-bench-org', 'owner');
  home = mkdtempSync(join(tmpdir(), 'anneal-eval-bench-'));
  const token = await createToken(h.services.db, owner, 'agent', 'eval-bench');
  agent = startAgent({
    server: h.url,
    token: token.token,
    name: 'eval-bench',
    home,
    log: agentLog,
  });
  ({ projectId, versionId } = await registeredTinyModel({
    cli,
    api: (method, path) => h.api(owner.token, method, path),
    project: 'quality',
    resolution: 16,
    steps: 4,
  }));
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await h?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('evaluate and bench jobs', () => {
  it('evaluates a model version on the agent and keeps FD, KID, precision/recall, floors and paired fidelity on the version', async () => {
    const r = await cli([
      'submit',
      'evaluate',
      '--project',
      'quality',
      '--model-version',
      versionId,
      '--n',
      '20',
      '--sampler',
      'euler',
      '--steps',
      '3',
      '--reference-sampler',
      'ddim',
      '--reference-steps',
      '4',
      '--extractor-steps',
      '30',
      '--extractor-width',
      '8',
      '--wait',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ status: 'succeeded' });
    const version = await h.api(owner.token, 'GET', `/api/v1/model-versions/${versionId}`);
    const evaluations = version.json.metadata.evaluations;
    expect(evaluations).toHaveLength(1);
    const e = evaluations[0];
    expect(e).toMatchObject({
      job_id: r.json.job_id,
      run_id: r.json.run_id,
      sampler: 'euler',
      steps: 3,
      n: 20,
      nfe: 3,
      extractor: expect.any(String),
      paired: { reference_sampler: 'ddim', reference_steps: 4, reference_nfe: 4 },
    });
    for (const k of ['fd', 'kid', 'precision', 'recall', 'floor_fd', 'floor_kid'])
      expect(Number.isFinite(e[k]), k).toBe(true);
    // Four training steps make noise, not shapes: far from the real-vs-real floor.
    expect(e.fd).toBeGreaterThan(e.floor_fd);
    const metrics = await h.api(
      owner.token,
      'GET',
      `/api/v1/runs/${r.json.run_id}/metrics?keys=fd`,
    );
    expect(metrics.json.metrics[0].points[0].value).toBeCloseTo(e.fd, 6);
  }, 180_000);

  it('runs the smoke sampling benchmark on the agent and keeps the result on the agent', async () => {
    const r = await cli([
      'submit',
      'bench',
      '--project',
      'quality',
      '--scale',
      'smoke',
      '--wait',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [row] = await h.services.db
      .select({ benchmark: agents.benchmark })
      .from(agents)
      .where(eq(agents.name, 'eval-bench'));
    expect(row?.benchmark).toMatchObject({
      job_id: r.json.job_id,
      benchmark: 'sampling',
      scale: 'smoke',
      resolution: 16,
    });
    const bench = row?.benchmark as { samplers: { sampler: string; images_per_s: number }[] };
    const samplers = bench.samplers;
    expect(samplers.map((s) => s.sampler)).toEqual(['ddpm', 'ddim', 'euler', 'heun', 'dpmpp-2m']);
    for (const s of samplers) expect(s.images_per_s).toBeGreaterThan(0);
    const artifacts = await h.api(owner.token, 'GET', `/api/v1/runs/${r.json.run_id}/artifacts`);
    expect(artifacts.json.artifacts.map((a: { path: string }) => a.path)).toContain(
      'bench/sampling.json',
    );
  }, 180_000);

  it('refuses bad evaluate and bench input with a message that names the field', async () => {
    const missing = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
      job: {
        type: 'evaluate',
        spec: { model: { kind: 'modelVersion', id: crypto.randomUUID() }, n: 20 },
      },
    });
    expect(missing.status).toBe(404);
    expect(missing.json.error.message).toMatch(/job\.spec\.model\.id: no model version/);
    const cases: [string[], RegExp][] = [
      [['evaluate', '--n', '20'], /--run or --model-version/],
      [['evaluate', '--model-version', versionId, '--n', '5'], /--n/],
      [
        ['evaluate', '--model-version', versionId, '--reference-steps', '4'],
        /--reference-steps: needs reference_sampler/,
      ],
      [['evaluate', '--run', versionId, '--model-version', versionId], /not both/],
      [['bench', '--scale', 'huge'], /--scale/],
      // Every job kind, in the order of the protocol's table.
      [['nope'], new RegExp(`expected \`submit ${jobTypes.join('\\|')}\``)],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['submit', ...args, '--project', 'quality']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  }, 120_000);
});
