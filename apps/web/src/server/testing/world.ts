import { encodePng } from '@anneal/core/png';
import { alerts, tokens } from '@anneal/db/schema';
import { and, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { createToken, revokeToken } from '../domain/accounts/tokens.ts';
import { TestAgent } from '../gateway/test-agent.ts';
import { type Harness, startHarness } from './harness.ts';

type User = Awaited<ReturnType<Harness['user']>>;

/**
 * Two organizations for authorization tests. Org A holds one of everything (project,
 * dataset version, run with an artifact, model version with an alias, queued job) and has
 * an owner, a viewer, an editor, a revoked token and a connected agent that holds a lease on another
 * job; org B has an owner who must not reach any of it.
 */
export interface World {
  h: Harness;
  a: User & { tokenId: string };
  viewer: User;
  /** An editor of org A: writes, but not what is the owner's (members, agent tokens). */
  editor: User;
  b: User;
  revoked: string;
  agent: { token: string; id: string; conn: TestAgent };
  /** The job and run leased to the agent: the only run its token may write. */
  leased: { jobId: string; runId: string; leaseId: string };
  ids: OrgIds;
  /** Org B's own things, the same kinds: inputs that mix them with one of A's ids. */
  idsB: OrgIds;
  bViewer: User;
  names: { dataset: string; model: string; alias: string; artifact: string };
}

export interface OrgIds {
  projectId: string;
  runId: string;
  datasetVersionId: string;
  fileSha256: string;
  modelVersionId: string;
  /** An MLflow 3 logged model made by `runId`. */
  loggedModelId: string;
  /** A deployment of `modelVersionId` (pending: no agent serves in the world). */
  deploymentId: string;
  /** An open alert of the deployment (written directly: no probe runs in the world). */
  alertId: string;
  /** A pipeline that points `names.alias` at `modelVersionId` again (a no-op), and a run of it. */
  pipelineId: string;
  pipelineRunId: string;
  jobId: string;
  /** The owner's API token. */
  tokenId: string;
  /** A viewer's user id. */
  userId: string;
}

/** An 8x8 grey PNG with one speck where `seed` says, so images differ. */
export function tinyPng(seed: number): Uint8Array<ArrayBuffer> {
  const px = new Uint8Array(8 * 8 * 3).fill(128);
  px.set([255, 0, 0], (seed % 64) * 3);
  return new Uint8Array(encodePng(px, 8, 8, 3));
}

export const trainJob = {
  type: 'train',
  spec: { dataset: { kind: 'builtin', name: 'shapes' }, resolution: 8, steps: 4, preset: 'tiny' },
} as const;

export async function startWorld(): Promise<World> {
  // Leases outlive the test: the scripted agent sends no heartbeats.
  const h = await startHarness({ ANNEAL_LEASE_MS: '3600000' });
  const ok = async (
    token: string,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => {
    const res = await h.api(token, method, path, body, headers);
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.json)}`).toBeLessThan(300);
    return res.json;
  };
  const a = await h.user('org-a', 'owner');
  const viewer = await h.user('org-a', 'viewer');
  const editor = await h.user('org-a', 'editor');
  const b = await h.user('org-b', 'owner');
  const bViewer = await h.user('org-b', 'viewer');
  const tokenIdOf = async (userId: string) => {
    const [row] = await h.services.db
      .select({ id: tokens.id })
      .from(tokens)
      .where(and(eq(tokens.userId, userId), eq(tokens.kind, 'api')));
    if (!row) throw new Error('no API token for the user');
    return row.id;
  };
  const own = { id: await tokenIdOf(a.userId) };
  const users = new Map([
    [a.token, { tokenId: own.id, viewerId: viewer.userId }],
    [b.token, { tokenId: await tokenIdOf(b.userId), viewerId: bViewer.userId }],
  ]);

  const names = { dataset: 'pets', model: 'm', alias: 'production', artifact: 'ckpt.bin' };
  /** A project with a dataset version, a run with an artifact, a model version with an alias. */
  const stock = async (token: string, seed: number) => {
    const projectId = (await ok(token, 'POST', '/api/v1/projects', { name: 'secret' })).id;
    const form = new FormData();
    form.append('files', new Blob([tinyPng(seed)]), 'pets/cat/1.png');
    form.append('files', new Blob([tinyPng(seed + 1)]), 'pets/dog/1.png');
    const upload = await fetch(
      `${h.url}/api/v1/projects/${projectId}/datasets/${names.dataset}/versions`,
      { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form },
    );
    expect(upload.status).toBe(201);
    const datasetVersionId = ((await upload.json()) as { id: string }).id;
    const manifest = await ok(token, 'GET', `/api/v1/dataset-versions/${datasetVersionId}`);
    const runId = (
      await ok(token, 'POST', `/api/v1/projects/${projectId}/runs`, {
        name: 'r',
        datasetVersionId,
      })
    ).id;
    await ok(token, 'PUT', `/api/v1/runs/${runId}/artifacts/${names.artifact}`, 'weights', {
      'content-type': 'application/octet-stream',
    });
    const modelVersionId = (
      await ok(token, 'POST', `/api/v1/projects/${projectId}/models/${names.model}/versions`, {
        sourceRunId: runId,
        artifactPath: names.artifact,
        aliases: [names.alias],
      })
    ).id;

    const deploymentId = (
      await ok(token, 'POST', `/api/v1/projects/${projectId}/deployments`, {
        name: 'd',
        model: names.model,
        version: 1,
      })
    ).id;

    const [alert] = await h.services.db
      .insert(alerts)
      .values({
        projectId,
        deploymentId,
        ruleKey: 'fd:relative',
        severity: 'warning',
        message: 'm',
      })
      .returning();
    const alertId = alert?.id as string;

    const pipelineId = (
      await ok(token, 'POST', `/api/v1/projects/${projectId}/pipelines`, {
        name: 'promote',
        spec: {
          nodes: [
            {
              key: 'promote',
              kind: 'register',
              spec: { version_id: modelVersionId, alias: names.alias },
            },
          ],
        },
      })
    ).id;
    const pipelineRunId = (await ok(token, 'POST', `/api/v1/pipelines/${pipelineId}/runs`, {}))
      .id as string;

    const loggedModelId = (
      await ok(token, 'POST', '/api/2.0/mlflow/logged-models', {
        experiment_id: projectId,
        name: 'lm',
        source_run_id: runId,
      })
    ).model.info.model_id as string;

    const who = users.get(token);
    if (!who) throw new Error('unknown token');
    return {
      projectId,
      runId,
      datasetVersionId,
      fileSha256: manifest.manifest.files[0].sha256 as string,
      modelVersionId,
      loggedModelId,
      deploymentId,
      alertId,
      pipelineId,
      pipelineRunId,
      jobId: '',
      tokenId: who.tokenId,
      userId: who.viewerId,
    };
  };

  const gone = await createToken(h.services.db, a, 'api', 'revoked');
  await revokeToken(
    h.services.db,
    { ...a, role: 'owner', via: 'api', credentialId: own.id },
    gone.id,
  );

  const ids = await stock(a.token, 1);
  const idsB = await stock(b.token, 3);
  const agentToken = await createToken(h.services.db, a, 'agent', 'worker');
  const conn = await TestAgent.connect(h.url, agentToken.token);
  const leasedJob = await ok(a.token, 'POST', `/api/v1/projects/${ids.projectId}/jobs`, {
    job: trainJob,
  });
  const offer = await conn.next('job_offer');
  expect(offer.jobId).toBe(leasedJob.id);
  // The agent's one slot is taken, so org A's job stays queued; org B has no agent.
  for (const [token, of] of [
    [a.token, ids],
    [b.token, idsB],
  ] as const)
    of.jobId = (
      await ok(token, 'POST', `/api/v1/projects/${of.projectId}/jobs`, {
        job: { type: 'sample', spec: { model: { kind: 'run', runId: of.runId } } },
      })
    ).id;

  return {
    h,
    a: { ...a, tokenId: own.id },
    viewer,
    editor,
    b,
    bViewer,
    revoked: gone.token,
    agent: { token: agentToken.token, id: agentToken.id, conn },
    leased: { jobId: offer.jobId, runId: offer.runId, leaseId: offer.leaseId },
    ids,
    idsB,
    names,
  };
}

export async function stopWorld(w: World | undefined) {
  w?.agent.conn.close();
  await w?.h.stop();
}

/** A tRPC call as the browser's client makes it: GET for queries, POST for mutations. */
export async function trpc(
  w: World,
  token: string | null,
  path: string,
  type: 'query' | 'mutation',
  input?: unknown,
): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res =
    type === 'query'
      ? await fetch(
          `${w.h.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input ?? null))}`,
          { headers },
        )
      : await fetch(`${w.h.url}/api/trpc/${path}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(input ?? null),
        });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

/**
 * A tRPC subscription over server-sent events, for calls that must be refused. A refusal
 * arrives as the first event after `connected` (the HTTP status is 200 either way) and ends
 * the stream; this returns its HTTP status. A subscription wrongly allowed stays open, and
 * the test calling this fails on its timeout instead of passing.
 */
export async function subscribe(
  w: World,
  token: string | null,
  path: string,
  input: unknown,
): Promise<{ status: number; json: any }> {
  const controller = new AbortController();
  const res = await fetch(
    `${w.h.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`,
    {
      headers: {
        accept: 'text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      signal: controller.signal,
    },
  );
  if (!res.headers.get('content-type')?.includes('text/event-stream')) {
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { status: 200, json: null };
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(event)?.[1] ?? 'message';
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (name === 'serialized-error') {
          const json = JSON.parse(data ?? 'null');
          return { status: json?.data?.httpStatus ?? 500, json };
        }
        // Data: the subscription was allowed.
        if (name === 'message') return { status: 200, json: JSON.parse(data ?? 'null') };
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    controller.abort();
  }
}
