import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';

let h: Harness;
let owner: Awaited<ReturnType<Harness['user']>>;
let viewer: Awaited<ReturnType<Harness['user']>>;
let projectId: string;
let runId: string;

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user('acme', 'owner');
  viewer = await h.user('acme', 'viewer');
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'p' })).json.id;
  runId = (await h.api(owner.token, 'POST', `/api/v1/projects/${projectId}/runs`, {})).json.id;
});
afterAll(() => h?.stop());

function trpc(token: string, path: string, input: unknown) {
  return fetch(`${h.url}/api/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
}

describe('roles', () => {
  it('lets a viewer read', async () => {
    expect((await h.api(viewer.token, 'GET', `/api/v1/runs/${runId}`)).status).toBe(200);
    expect((await h.api(viewer.token, 'GET', '/api/v1/projects')).json.projects).toHaveLength(1);
  });

  it.each([
    ['POST', () => '/api/v1/projects', { name: 'nope' }],
    ['POST', () => `/api/v1/projects/${projectId}/runs`, {}],
    ['PATCH', () => `/api/v1/runs/${runId}`, { status: 'failed' }],
    [
      'POST',
      () => `/api/v1/runs/${runId}/metrics`,
      { metrics: [{ key: 'loss', step: 0, value: 1 }] },
    ],
    ['PUT', () => `/api/v1/runs/${runId}/artifacts/a.txt`, 'bytes'],
    ['POST', () => `/api/v1/projects/${projectId}/models/m/versions`, {}],
  ])('refuses a viewer %s %s with 403', async (method, path, body) => {
    const res = await h.api(viewer.token, method, path(), body);
    expect(res.status).toBe(403);
    expect(res.json.error.message).toMatch(/editor/);
  });

  it('refuses viewer mutations over tRPC', async () => {
    expect((await trpc(viewer.token, 'projects.create', { name: 'x' })).status).toBe(403);
    expect(
      (await trpc(viewer.token, 'members.invite', { email: 'a@b.co', role: 'owner' })).status,
    ).toBe(403);
    expect(
      (
        await trpc(viewer.token, 'registry.setAlias', {
          projectId,
          name: 'm',
          alias: 'production',
          version: 1,
        })
      ).status,
    ).toBe(403);
    expect((await trpc(owner.token, 'projects.create', { name: 'yes' })).status).toBe(200);
  });

  it('leaves nothing written by refused calls', async () => {
    const projects = (await h.api(owner.token, 'GET', '/api/v1/projects')).json.projects.map(
      (p: { name: string }) => p.name,
    );
    expect(projects.sort()).toEqual(['p', 'yes']);
    expect((await h.api(owner.token, 'GET', `/api/v1/runs/${runId}/metrics`)).json.metrics).toEqual(
      [],
    );
  });

  it('refuses missing, malformed and revoked tokens', async () => {
    expect((await fetch(`${h.url}/api/v1/projects`)).status).toBe(401);
    expect((await h.api('not-a-token', 'GET', '/api/v1/projects')).status).toBe(401);
    const res = await trpc(owner.token, 'tokens.list', undefined);
    expect(res.status).toBe(405); // queries are GETs; POST is for mutations
    const list = await fetch(`${h.url}/api/trpc/tokens.list`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    const tokenId = ((await list.json()) as { result: { data: { id: string }[] } }).result.data[0]
      ?.id;
    expect((await trpc(owner.token, 'tokens.revoke', { tokenId })).status).toBe(200);
    expect((await h.api(owner.token, 'GET', '/api/v1/projects')).status).toBe(401);
  });
});
