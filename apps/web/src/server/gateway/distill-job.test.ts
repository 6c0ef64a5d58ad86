import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelVersions, registeredModels } from '@anneal/db/schema';
import { distillationRecordSchema } from '@anneal/protocol';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../domain/accounts/tokens.ts';
import {
  type AgentProcess,
  registeredTinyModel,
  runCli,
  startAgent,
} from '../testing/agent-process.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// A distill job through a real agent (its child `anneal distill`), queued with `anneal
// submit`, against a real server and PostgreSQL: a tiny shapes teacher at 8x8 trained and
// registered first, then two progressive stages (32 -> 16 -> 8 steps) of 20 iterations at
// n = 20, a budget loose enough that both stay within it. Checks the registered students'
// lineage and stage metadata in the database, their uploaded checkpoints and the trade-off
// artifacts.

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let agent: AgentProcess;
const agentLog: string[] = [];
let home: string;
let projectId: string;
let teacherId: string;
let agentToken: string;

const cli = (args: string[]) =>
  runCli(args, { server: h.url, token: owner.token, home, extraLog: agentLog });

/** The agent, in its own process group (the resume test kills it with its job's child). */
function startDistillAgent() {
  agent = startAgent({
    server: h.url,
    token: agentToken,
    name: 'distill',
    home,
    detached: true,
    log: agentLog,
  });
}

beforeAll(async () => {
  h = await startHarness({ ANNEAL_LEASE_MS: '5000' });
  owner = await h.user('distill-org', 'owner');
  home = mkdtempSync(join(tmpdir(), 'anneal-distill-job-'));
  agentToken = (await createToken(h.services.db, owner, 'agent', 'distill')).token;
  startDistillAgent();
  ({ projectId, versionId: teacherId } = await registeredTinyModel({
    cli,
    api: (method, path) => h.api(owner.token, method, path),
    project: 'distill',
    resolution: 8,
    steps: 40,
    extra: ['--parameterization', 'v'],
  }));
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await h?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('distill jobs', () => {
  it('distills a registered teacher on the agent and registers each stage within budget with lineage to it', async () => {
    const r = await cli([
      ...['submit', 'distill', '--project', 'distill', '--teacher', teacherId],
      ...['--method', 'progressive', '--min-steps', '8', '--max-iters-per-stage', '20'],
      ...['--eval-every', '10', '--plateau-window', '10', '--eval-n', '20', '--heldout-n', '4'],
      ...['--batch', '8', '--extractor-steps', '60', '--extractor-width', '8'],
      ...['--quality-budget', '100', '--log-every', '5', '--lr', '1e-3', '--ema-decay', '0.9'],
      ...['--wait', '--json'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ status: 'succeeded' });
    const rows = await h.services.db
      .select({ name: registeredModels.name, v: modelVersions })
      .from(modelVersions)
      .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
      .where(eq(modelVersions.sourceRunId, r.json.run_id))
      .orderBy(asc(modelVersions.version));
    // Both stages met the (loose) budget: two students, in stage order.
    expect(rows.map((x) => [x.name, x.v.version])).toEqual([
      ['shapes-tiny-8-progressive', 1],
      ['shapes-tiny-8-progressive', 2],
    ]);
    for (const [i, { v }] of rows.entries()) {
      const stage = i + 1;
      const steps = 32 / 2 ** stage;
      expect(v.artifactPath).toBe(`students/stage-${stage}/model.safetensors`);
      expect(v.metadata).toMatchObject({ steps, nfe: steps, sampler: 'ddim' });
      const d = distillationRecordSchema.parse(v.metadata.distillation);
      expect(d).toMatchObject({
        teacher: { version_id: teacherId, model: 'shapes-tiny-8', version: 1 },
        job_id: r.json.job_id,
        run_id: r.json.run_id,
        method: 'progressive',
        stage,
        from_steps: steps * 2,
        steps,
        nfe: steps,
        budget: 100,
        eval_n: 20,
        iterations: 20,
        kept: stage === 2,
        decision: stage === 1 ? 'continue' : 'stop',
      });
      expect(d.reason).toMatch(new RegExp(`^stage ${stage} \\(${steps * 2} -> ${steps} steps\\)`));
      expect(d.stages.map((s) => s.stage)).toEqual([1, 2]);
      for (const x of [d.fd, d.fd_std, d.fd_ratio, d.reference_fd])
        expect(Number.isFinite(x), JSON.stringify(d)).toBe(true);
      expect(d.fd_ratio as number).toBeLessThanOrEqual(100);
      expect(d.fd_interval?.[0] as number).toBeLessThanOrEqual(d.fd_interval?.[1] as number);
    }
    const artifacts = await h.api(owner.token, 'GET', `/api/v1/runs/${r.json.run_id}/artifacts`);
    const paths = artifacts.json.artifacts.map((a: { path: string }) => a.path);
    for (const p of [
      'students/stage-1/model.safetensors',
      'students/stage-1/config.json',
      'students/stage-2/model.safetensors',
      'students/stage-2/eval.json',
      'distill/tradeoff.json',
      'distill/tradeoff.svg',
      'distill/tradeoff.md',
      'distill/metrics.jsonl',
      'distill/latency.json',
    ])
      expect(paths, p).toContain(p);
    // The stages' FDs are the run's metrics, one point per stage.
    const metrics = await h.api(
      owner.token,
      'GET',
      `/api/v1/runs/${r.json.run_id}/metrics?keys=distill_fd`,
    );
    expect(metrics.json.metrics[0].points.map((p: { step: number }) => p.step)).toEqual([1, 2]);
    // A registered student is a model version like any other: a sample job reads it.
    const sampled = await cli([
      ...['submit', 'sample', '--project', 'distill', '--model-version', rows[1]?.v.id ?? ''],
      ...['--n', '4', '--sampler', 'ddim', '--steps', '8', '--wait', '--json'],
    ]);
    expect(sampled.code, sampled.stderr).toBe(0);
  }, 600_000);

  // About 40 s: under ANNEAL_LONG=1 (`npm run test:long`); a train job's re-lease after its
  // agent died stays in npm test (reliability.test.ts).
  it.runIf(process.env.ANNEAL_LONG === '1')(
    'continues a distill job on another agent after its agent died, from the last uploaded checkpoint',
    async () => {
      const submitted = await cli([
        ...['submit', 'distill', '--project', 'distill', '--teacher', teacherId],
        ...['--method', 'progressive', '--min-steps', '16', '--max-iters-per-stage', '30'],
        ...['--eval-every', '10', '--plateau-window', '10', '--eval-n', '20', '--heldout-n', '4'],
        ...['--batch', '8', '--extractor-steps', '60', '--extractor-width', '8'],
        ...['--quality-budget', '100', '--log-every', '5', '--lr', '1e-3', '--json'],
      ]);
      expect(submitted.code, submitted.stderr).toBe(0);
      const jobId = submitted.json.job_id;
      const job = async () => (await h.api(owner.token, 'GET', `/api/v1/jobs/${jobId}`)).json;
      const checkpointStep = async (runId: string) =>
        (await h.api(owner.token, 'GET', `/api/v1/runs/${runId}`)).json.checkpointStep ?? 0;
      // Mid-stage: the first slot (iteration 10 of 30) committed and uploaded.
      let first = await job();
      while (!first.runId || (await checkpointStep(first.runId)) < 10) {
        await new Promise((r) => setTimeout(r, 200));
        first = await job();
      }
      // The agent and its child die at once (their process group), like a machine that lost
      // power; the job goes on on another machine (its own home: no teacher, no run folder).
      const died = new Promise((r) => agent.child.once('exit', r));
      process.kill(-(agent.child.pid as number), 'SIGKILL');
      await died;
      agentLog.length = 0;
      const otherHome = mkdtempSync(join(tmpdir(), 'anneal-distill-other-'));
      agent = startAgent({
        server: h.url,
        token: agentToken,
        name: 'distill-other',
        home: otherHome,
        detached: true,
        log: agentLog,
      });
      let j = await job();
      while (j.status !== 'succeeded' && j.status !== 'failed') {
        await new Promise((r) => setTimeout(r, 300));
        j = await job();
      }
      expect(j.status, `${j.error} ${agentLog.join('')}`).toBe('succeeded');
      expect(j.attempts).toBe(2);
      const log = agentLog.join('');
      expect(log).toMatch(new RegExp(`job ${jobId}: resuming from step (\\d+)`));
      expect(Number(/resuming from step (\d+)/.exec(log)?.[1])).toBeGreaterThanOrEqual(10);
      expect(log).toMatch(new RegExp(`job ${jobId}: anneal distill --resume`));
      const [row] = await h.services.db
        .select({ v: modelVersions })
        .from(modelVersions)
        .where(eq(modelVersions.sourceRunId, j.runId));
      const d = distillationRecordSchema.parse(row?.v.metadata.distillation);
      expect(d).toMatchObject({ job_id: jobId, stage: 1, steps: 16, iterations: 30 });
      // The uploaded metrics: every logged iteration once, in order, across the two machines.
      const metrics = await h.api(
        owner.token,
        'GET',
        `/api/v1/runs/${j.runId}/artifacts/distill/metrics.jsonl`,
      );
      const iters = String(metrics.json)
        .split('\n')
        .filter((l) => l.trim())
        .map(
          (l) => JSON.parse(l) as { stage: number; iter?: number; event?: string; loss?: number },
        )
        .filter((m) => m.loss !== undefined)
        .map((m) => m.iter);
      expect(iters).toEqual([5, 10, 15, 20, 25, 30]);
      rmSync(otherHome, { recursive: true, force: true });
    },
    600_000,
  );

  // About 30 s: under ANNEAL_LONG=1 (`npm run test:long`); an agent fetching a registered
  // teacher version stays in npm test through the distill job above.
  it.runIf(process.env.ANNEAL_LONG === '1')(
    'anneal distill --teacher VERSION downloads the registered teacher once and distills it locally',
    async () => {
      const localHome = mkdtempSync(join(tmpdir(), 'anneal-distill-local-'));
      const out = join(localHome, 'run');
      const local = (teacher: string, dir: string) =>
        runCli(
          [
            ...['distill', '--teacher', teacher, '--method', 'progressive', '--out', dir],
            ...['--min-steps', '16', '--max-iters-per-stage', '5', '--eval-every', '5'],
            ...['--eval-n', '20', '--heldout-n', '4', '--batch', '8', '--extractor-steps', '60'],
            ...['--extractor-width', '8', '--quality-budget', '100', '--json'],
          ],
          { server: h.url, token: owner.token, home, env: { ANNEAL_HOME: localHome } },
        );
      try {
        const unknown = crypto.randomUUID();
        const missing = await local(unknown, join(localHome, 'missing'));
        expect(missing.code).not.toBe(0);
        expect(missing.stderr).toContain(`--teacher: model version ${unknown} not found`);
        expect(missing.stderr).not.toMatch(/\n\s+at /);

        const r = await local(teacherId, out);
        expect(r.code, r.stderr).toBe(0);
        const cached = join(localHome, 'models', 'versions', teacherId);
        const summary = r.json as unknown as { teacher: string; teacher_sha256: string };
        expect(summary.teacher).toBe(cached);
        // The downloaded weights are the registered version's, byte for byte.
        const version = await h.api(owner.token, 'GET', `/api/v1/model-versions/${teacherId}`);
        const artifacts = await h.api(
          owner.token,
          'GET',
          `/api/v1/runs/${version.json.sourceRunId}/artifacts`,
        );
        const weights = artifacts.json.artifacts.find(
          (a: { path: string }) => a.path === version.json.artifactPath,
        );
        expect(summary.teacher_sha256).toBe(weights.sha256);
        expect(readdirSync(cached).sort()).toEqual(['config.json', 'model.safetensors']);
      } finally {
        rmSync(localHome, { recursive: true, force: true });
      }
    },
    600_000,
  );

  it('refuses bad distill input with a message that names the field', async () => {
    const missing = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
      job: { type: 'distill', spec: { teacher: crypto.randomUUID(), method: 'progressive' } },
    });
    expect(missing.status).toBe(404);
    expect(missing.json.error.message).toMatch(/job\.spec\.teacher: no model version/);
    const other = await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'elsewhere' });
    const foreign = await h.api(owner.token, 'POST', `/api/v1/projects/${other.json.id}/jobs`, {
      job: { type: 'distill', spec: { teacher: teacherId, method: 'progressive' } },
    });
    expect(foreign.status, JSON.stringify(foreign.json)).toBe(400);
    expect(foreign.json.error.message).toMatch(
      /job\.spec\.teacher: model version shapes-tiny-8 v1 belongs to another project/,
    );
    const cases: [string[], RegExp][] = [
      [['--method', 'progressive'], /--teacher: /],
      [['--teacher', teacherId], /--method: /],
      [
        ['--teacher', teacherId, '--method', 'progressive', '--quality-budget', '0.5'],
        /--quality-budget: /,
      ],
      [
        ['--teacher', teacherId, '--method', 'consistency', '--min-steps', '4'],
        /--min-steps: consistency models are evaluated at 2- and 1-step sampling/,
      ],
      [
        ['--teacher', teacherId, '--method', 'progressive', '--ect-q', '3'],
        /--ect-q: applies to the consistency-training method only/,
      ],
      [['--teacher', teacherId, '--method', 'progressive', '--eval-n', '5'], /--eval-n: /],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['submit', 'distill', ...args, '--project', 'distill']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  }, 120_000);
});
