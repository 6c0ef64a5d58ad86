import { describe, expect, it } from 'vitest';
import {
  AGENT_FEATURES,
  CLOSE_CODES,
  CLOSE_REASONS,
  jobSpecSchema,
  PROTOCOL_VERSION,
  parseAgentMessage,
  parseServerMessage,
} from './index.ts';

const hardware = {
  backend: 'cpu',
  os: 'linux',
  chip: { vendor: 'x', name: 'cpu', family: null, tier: null, gpuArchitecture: null },
  memory: { totalBytes: 1e9, workingSetBytes: 5e8, unified: true },
  cores: { logical: 2, performance: 2, efficiency: 0 },
  mlxVersion: '0.30.0',
  blas: 'openblas',
};
const jobId = '11111111-1111-4111-8111-111111111111';
const leaseId = '22222222-2222-4222-8222-222222222222';
const runId = '33333333-3333-4333-8333-333333333333';

describe('agent messages', () => {
  it('round-trips every agent message', () => {
    const messages = [
      {
        type: 'hello',
        agentVersion: '0.1.0',
        protocolVersion: PROTOCOL_VERSION,
        name: 'mac',
        hardware,
        capacity: 1,
        features: [...AGENT_FEATURES],
        leases: [],
        replicas: [{ replicaId: runId, deploymentId: jobId, ready: true }],
      },
      { type: 'heartbeat', seq: 3, capacity: 0, leases: [{ jobId, leaseId }] },
      { type: 'job_accept', jobId, leaseId },
      { type: 'job_progress', jobId, leaseId, ref: 1, step: 5, total: 10 },
      {
        type: 'job_metrics',
        jobId,
        leaseId,
        ref: 2,
        points: [{ key: 'loss', step: 1, value: 0.5 }],
      },
      {
        type: 'job_artifact',
        jobId,
        leaseId,
        artifact: { path: 'checkpoints/model.safetensors', sha256: 'a'.repeat(64), size: 10 },
      },
      { type: 'job_complete', jobId, leaseId, summary: { final_loss: 0.1 } },
      { type: 'job_fail', jobId, leaseId, reason: 'native crash', retryable: true },
      { type: 'replica_status', replicaId: runId, state: 'ready', loadMs: 812 },
      {
        type: 'generate_result',
        requestId: jobId,
        replicaId: runId,
        images: [{ sha256: 'b'.repeat(64), size: 120 }],
        generateMs: 40.5,
        nfe: 8,
        steps: 8,
        sampler: 'ddim',
      },
      { type: 'generate_failed', requestId: jobId, replicaId: runId, reason: 'replica failed' },
    ];
    for (const m of messages) {
      const parsed = parseAgentMessage(JSON.stringify(m));
      expect(parsed).toEqual({ ok: true, message: m });
    }
  });

  it('reads a hello from an agent built before features as one with none', () => {
    const old = {
      type: 'hello',
      agentVersion: '0.1.0',
      protocolVersion: PROTOCOL_VERSION,
      name: 'mac',
      hardware,
      capacity: 1,
    };
    expect(parseAgentMessage(JSON.stringify(old))).toEqual({
      ok: true,
      message: { ...old, features: [], leases: [], replicas: [] },
    });
  });

  it('rejects bad JSON, unknown types, wrong types and non-finite values without throwing', () => {
    const bad = [
      '{',
      'null',
      '[]',
      JSON.stringify({ type: 'launch_missiles' }),
      JSON.stringify({ type: 'heartbeat', seq: 'one', capacity: 0, leases: [] }),
      JSON.stringify({ type: 'job_accept', jobId: 'not-a-uuid', leaseId }),
      `{"type":"job_metrics","jobId":"${jobId}","leaseId":"${leaseId}","points":[]}`,
      JSON.stringify({
        type: 'hello',
        agentVersion: '1',
        protocolVersion: 1,
        name: 'x',
        hardware: {},
        capacity: 1,
      }),
    ];
    for (const raw of bad) expect(parseAgentMessage(raw).ok).toBe(false);
    const nan = parseAgentMessage(
      `{"type":"job_metrics","jobId":"${jobId}","leaseId":"${leaseId}","points":[{"key":"loss","step":1,"value":1e999}]}`,
    );
    expect(nan.ok).toBe(false);
  });
});

describe('server messages', () => {
  it('round-trips an offer with its spec defaults filled in', () => {
    const offer = {
      type: 'job_offer',
      jobId,
      leaseId,
      runId,
      projectId: runId,
      leaseExpiresAt: new Date(0).toISOString(),
      attempt: 1,
      job: {
        type: 'train',
        spec: {
          dataset: { kind: 'builtin', name: 'shapes' },
          resolution: 8,
          steps: 4,
          preset: 'tiny',
        },
      },
      resume: null,
    };
    const parsed = parseServerMessage(JSON.stringify(offer));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok || parsed.message.type !== 'job_offer') throw new Error('unreachable');
    expect(parsed.message.job.type).toBe('train');
    expect(parsed.message.job.spec).toMatchObject({ steps: 4, checkpoint_every: 500, seed: 0 });
    // Parsing is idempotent: what the server stores is what the agent reads.
    expect(parseServerMessage(JSON.stringify(parsed.message))).toEqual(parsed);
  });

  it('round-trips the serving messages, and refuses a generate request out of bounds', () => {
    const messages = [
      { type: 'replica_start', replicaId: runId, deploymentId: jobId, modelVersionId: leaseId },
      { type: 'replica_stop', replicaId: runId, reason: 'replaced by a newer version' },
      {
        type: 'generate',
        requestId: jobId,
        replicaId: runId,
        request: { n: 4, seed: 7, class: 2, sampler: 'ddim', steps: 8 },
      },
    ];
    for (const m of messages)
      expect(parseServerMessage(JSON.stringify(m))).toEqual({ ok: true, message: m });
    const tooMany = { ...messages[2], request: { n: 65, seed: 1 } };
    expect(parseServerMessage(JSON.stringify(tooMany))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^request\.n: /),
    });
    const noSeed = { ...messages[2], request: { n: 1 } };
    expect(parseServerMessage(JSON.stringify(noSeed))).toMatchObject({ ok: false });
  });

  it('refuses specs that the CLI would refuse', () => {
    expect(
      jobSpecSchema.safeParse({
        type: 'train',
        spec: { dataset: 'mnist', resolution: 8, steps: 1 },
      }).success,
    ).toBe(false);
    expect(
      jobSpecSchema.safeParse({
        type: 'train',
        spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 4, steps: 1 },
      }).success,
    ).toBe(false);
    expect(
      jobSpecSchema.safeParse({ type: 'sample', spec: { model: { kind: 'run', runId }, steps: 0 } })
        .success,
    ).toBe(false);
    expect(jobSpecSchema.safeParse({ type: 'evaluate', spec: {} }).success).toBe(false);
  });

  it('names every close code', () => {
    for (const code of Object.values(CLOSE_CODES))
      expect(CLOSE_REASONS[code]?.message).toBeTruthy();
  });
});
