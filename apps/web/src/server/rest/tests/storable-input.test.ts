import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../domain/accounts/tokens.ts';
import { TestAgent } from '../../gateway/test-agent.ts';
import { type Harness, startHarness } from '../../testing/harness.ts';

// What PostgreSQL cannot store answers 400 naming the field, through every edge: REST,
// tRPC and the agents' WebSocket; never a 500 from the database.

const NUL = '\u0000';
const nulMessage = 'must not contain the NUL character (\\u0000)';

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let projectId: string;
let runId: string;

beforeAll(async () => {
  h = await startHarness({ ANNEAL_JSON_LIMIT: '65536' });
  owner = await h.user('edge-org', 'owner');
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'edge' })).json.id;
  runId = (await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/runs`, {})).json.id;
});
afterAll(() => h?.stop());

/** A tRPC call with a bearer token (GET for queries, POST for mutations). */
async function trpc(path: string, input: unknown, method: 'GET' | 'POST' = 'POST') {
  const url =
    method === 'GET'
      ? `${h.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`
      : `${h.url}/api/trpc/${path}`;
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
    body: method === 'POST' ? JSON.stringify(input) : undefined,
  });
  const json = (await res.json()) as { error?: { message: string; data: { code: string } } };
  return { status: res.status, error: json.error };
}

describe('NUL characters', () => {
  it('are refused over REST, naming the field', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/v1/projects', { name: `a${NUL}b` }, 'body.name'],
      ['POST', '/api/v1/projects', { name: 'ok', description: `x${NUL}` }, 'body.description'],
      ['POST', `/api/v1/projects/${projectId}/runs`, { name: `r${NUL}` }, 'body.name'],
      ['POST', `/api/v1/projects/${projectId}/runs`, { tags: { k: NUL } }, 'body.tags.k'],
      [
        'POST',
        `/api/v1/projects/${projectId}/runs`,
        { params: { [`p${NUL}`]: 1 } },
        'body.params.p\u0000',
      ],
      ['PATCH', `/api/v1/runs/${runId}`, { tags: { note: `a${NUL}` } }, 'body.tags.note'],
      [
        'POST',
        `/api/v1/runs/${runId}/metrics`,
        {
          metrics: [
            { key: 'ok', step: 0, value: 1 },
            { key: `loss${NUL}`, step: 1, value: 1 },
          ],
        },
        'body.metrics.1.key',
      ],
      [
        'POST',
        `/api/v1/runs/${runId}/logs`,
        { lines: [{ seq: 0, line: `x${NUL}y` }] },
        'body.lines.0.line',
      ],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await h.api(owner.token, method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(r.json)}`).toBe(400);
      expect(r.json.error.message).toBe(`${field}: ${nulMessage}`);
    }
    // Nothing was stored on the way.
    const logs = await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/logs`);
    expect(logs.json.lines).toEqual([]);
  });

  it('are refused over tRPC, naming the field', async () => {
    const created = await trpc('projects.create', { name: `p${NUL}` });
    expect(created.status).toBe(400);
    expect(created.error?.data.code).toBe('BAD_REQUEST');
    expect(created.error?.message).toBe(`name: ${nulMessage}`);
    const updated = await trpc('runs.update', { runId, tags: { k: `v${NUL}` } });
    expect(updated.status).toBe(400);
    expect(updated.error?.message).toBe(`tags.k: ${nulMessage}`);
    const search = await trpc('runs.list', { projectId, search: NUL }, 'GET');
    expect(search.status).toBe(400);
    expect(search.error?.message).toBe(`search: ${nulMessage}`);
  });

  it('are refused in agent messages, naming the field, and the job goes on', async () => {
    const agentToken = await createToken(
      h.services.db,
      { userId: owner.userId, orgId: owner.orgId },
      'agent',
      'edge-agent',
    );
    const queued = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
      job: {
        type: 'train',
        spec: {
          dataset: { kind: 'builtin', name: 'shapes' },
          resolution: 8,
          steps: 4,
          preset: 'tiny',
        },
      },
    });
    expect(queued.status).toBe(201);
    const a = await TestAgent.connect(h.url, agentToken.token);
    try {
      const offer = await a.next('job_offer');
      const lease = { jobId: offer.jobId, leaseId: offer.leaseId };
      a.send({ type: 'job_accept', ...lease });
      const hostile = [
        [
          {
            type: 'job_metrics',
            ...lease,
            ref: 1,
            points: [{ key: `l${NUL}`, step: 0, value: 1 }],
          },
          'points.0.key',
        ],
        [{ type: 'job_progress', ...lease, ref: 2, step: 1, total: 4, message: NUL }, 'message'],
        [{ type: 'job_complete', ...lease, ref: 3, summary: { note: [NUL] } }, 'summary.note.0'],
        [{ type: 'job_fail', ...lease, ref: 4, reason: `bad${NUL}` }, 'reason'],
      ] as const;
      for (const [message, field] of hostile) {
        a.send(message);
        expect(await a.next('error')).toMatchObject({
          code: 'malformed',
          message: expect.stringContaining(`${field}: ${nulMessage}`),
        });
      }
      // The lease still holds: a clean batch is stored.
      a.send({
        type: 'job_metrics',
        ...lease,
        ref: 5,
        points: [{ key: 'loss', step: 0, value: 1 }],
      });
      expect(await a.next('ack')).toEqual({ type: 'ack', ref: 5 });
      const job = await h.api(owner.token, 'GET', `/api/v1/jobs/${offer.jobId}`);
      expect(job.json.status).toBe('running');
    } finally {
      a.close();
    }
  });
});

describe('nesting and unpaired surrogates', () => {
  const surrogateMessage =
    'must be well-formed Unicode (an unpaired UTF-16 surrogate such as \\ud800 cannot be stored)';
  const depthMessage = 'must not nest arrays and objects more than 64 deep';
  // 40 KB of brackets: deeper than a recursive walk's call stack.
  const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;

  it('deep JSON is refused with 400 over tRPC before sign-in, naming the field', async () => {
    const res = await fetch(`${h.url}/api/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"email":${deep},"password":"x"}`,
    });
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { message: string; data: { code: string } } };
    expect(json.error.data.code).toBe('BAD_REQUEST');
    expect(json.error.message).toBe(`email${'.0'.repeat(63)}: ${depthMessage}`);
  });

  it('deep JSON is refused with 400 over REST, naming the field', async () => {
    const post = (path: string, body: string, token?: string) =>
      fetch(`${h.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
    const exchange = await post('/api/v1/auth/tokens', `{"email":${deep},"password":"x"}`);
    expect(exchange.status).toBe(400);
    expect(((await exchange.json()) as { error: { message: string } }).error.message).toBe(
      `body.email${'.0'.repeat(63)}: ${depthMessage}`,
    );
    const run = await post(
      `/api/v1/projects/${projectId}/runs`,
      `{"params":{"p":${deep}}}`,
      owner.token,
    );
    expect(run.status).toBe(400);
    expect(((await run.json()) as { error: { message: string } }).error.message).toBe(
      `body.params.p${'.0'.repeat(62)}: ${depthMessage}`,
    );
  });

  it('unpaired surrogates in jsonb and text fields are refused over REST and tRPC', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', `/api/v1/projects/${projectId}/runs`, { tags: { a: '\ud800' } }, 'body.tags.a'],
      [
        'POST',
        `/api/v1/projects/${projectId}/runs`,
        { params: { 'k\udc00': 1 } },
        'body.params.k\udc00',
      ],
      ['PATCH', `/api/v1/runs/${runId}`, { tags: { note: 'x\udbff' } }, 'body.tags.note'],
      ['POST', '/api/v1/projects', { name: 'p\ud800' }, 'body.name'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await h.api(owner.token, method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(r.json)}`).toBe(400);
      expect(r.json.error.message).toBe(`${field}: ${surrogateMessage}`);
    }
    const updated = await trpc('runs.update', { runId, tags: { k: '\udfff' } });
    expect(updated.status).toBe(400);
    expect(updated.error?.message).toBe(`tags.k: ${surrogateMessage}`);
    // A surrogate pair is one character and is stored as sent.
    const ok = await h.api(owner.token, 'PATCH', `/api/v1/runs/${runId}`, {
      tags: { note: '\ud83d\ude00' },
    });
    expect(ok.status).toBe(200);
    expect(ok.json.tags.note).toBe('\ud83d\ude00');
  });
});

describe('metric times', () => {
  it('outside what PostgreSQL stores are refused, naming the field', async () => {
    for (const time of [
      '0000-01-01T00:00:00Z',
      '+010000-01-01T00:00:00Z',
      '-000001-01-01T00:00:00Z',
    ]) {
      const r = await h.api(owner.token, 'POST', `/api/v1/runs/${runId}/metrics`, {
        metrics: [{ key: 'loss', step: 0, value: 1, time }],
      });
      expect(r.status, time).toBe(400);
      expect(r.json.error.message).toMatch(/^body\.metrics\.0\.time: /);
    }
    const edge = await h.api(owner.token, 'POST', `/api/v1/runs/${runId}/metrics`, {
      metrics: [
        { key: 'first', step: 0, value: 1, time: '0001-01-01T00:00:00Z' },
        { key: 'last', step: 0, value: 1, time: '9999-12-31T23:59:59Z' },
      ],
    });
    expect(edge.status, JSON.stringify(edge.json)).toBe(200);
  });
});

describe('integers past a PostgreSQL integer column', () => {
  it('are refused over REST and tRPC, naming the field and the limit', async () => {
    const seq = await h.api(owner.token, 'POST', `/api/v1/runs/${runId}/logs`, {
      lines: [{ seq: 2 ** 31, line: 'x' }],
    });
    expect(seq.status).toBe(400);
    expect(seq.json.error.message).toMatch(/^body\.lines\.0\.seq: .*<=2147483647$/);
    const after = await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/logs?after=1000000000000`);
    expect(after.status).toBe(400);
    expect(after.json.error.message).toMatch(/^query\.after: /);
    const alias = await h.api(
      owner.token,
      'PUT',
      `/api/v1/projects/${projectId}/models/m/aliases/prod`,
      { version: 2 ** 40 },
    );
    expect(alias.status).toBe(400);
    expect(alias.json.error.message).toMatch(/^body\.version: /);
    const logs = await trpc('runs.logs', { runId, afterSeq: 1e12 }, 'GET');
    expect(logs.status).toBe(400);
    expect(logs.error?.message).toMatch(/^afterSeq: /);
  });
});

describe('body limits', () => {
  it('a tRPC body over the JSON limit answers 413 naming the limit', async () => {
    const res = await fetch(`${h.url}/api/trpc/projects.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(200_000) }),
    });
    expect(res.status).toBe(413);
    const json = (await res.json()) as { error: { message: string; data: { code: string } } };
    expect(json.error.data.code).toBe('PAYLOAD_TOO_LARGE');
    expect(json.error.message).toBe('body: JSON bodies are limited to 65536 bytes');
  });

  it('a REST body over the JSON limit answers 413 naming the limit', async () => {
    const r = await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'x'.repeat(200_000) });
    expect(r.status).toBe(413);
    expect(r.json.error.message).toBe('body: JSON bodies are limited to 65536 bytes');
  });
});

describe('absurd job specs', () => {
  const train = (spec: object) => ({
    job: {
      type: 'train',
      spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 8, steps: 4, ...spec },
    },
  });
  const cases: [object, string, RegExp][] = [
    [train({ steps: 1e12 }), 'job.spec.steps', /<=10000000$/],
    [train({ warmup: 1e12 }), 'job.spec.warmup', /<=10000000$/],
    [train({ batch: 1e6 }), 'job.spec.batch', /<=4096$/],
    [train({ resolution: 65536 }), 'job.spec.resolution', /<=512$/],
    [
      {
        job: {
          type: 'sample',
          spec: { model: { kind: 'run', runId: '00000000-0000-4000-8000-000000000000' }, n: 1e9 },
        },
      },
      'job.spec.n',
      /<=256$/,
    ],
    [
      {
        job: {
          type: 'evaluate',
          spec: {
            model: { kind: 'run', runId: '00000000-0000-4000-8000-000000000000' },
            steps: 1e9,
          },
        },
      },
      'job.spec.steps',
      /<=1000$/,
    ],
  ];

  it('are refused over REST with the limit named', async () => {
    for (const [body, field, limit] of cases) {
      const r = await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/jobs`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.message).toMatch(new RegExp(`^body\\.${field.replaceAll('.', '\\.')}: `));
      expect(r.json.error.message).toMatch(limit);
    }
  });

  it('are refused over tRPC with the limit named', async () => {
    for (const [body, field, limit] of cases) {
      const r = await trpc('jobs.create', { projectId, ...body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.error?.message).toMatch(new RegExp(`^${field.replaceAll('.', '\\.')}: `));
      expect(r.error?.message).toMatch(limit);
    }
  });
});
