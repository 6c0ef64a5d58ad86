import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { pngOf } from '../../testing/images.ts';

let h: Harness;
let a: Awaited<ReturnType<Harness['user']>>;
let b: Awaited<ReturnType<Harness['user']>>;
let projectA: string;
let runA: string;
let versionA: string;
let fileSha: string;

beforeAll(async () => {
  h = await startHarness();
  a = await h.user('org-a', 'owner');
  b = await h.user('org-b', 'owner');
  projectA = (await h.api(a.token, 'POST', '/api/v1/projects', { name: 'secret' })).json.id;
  runA = (await h.api(a.token, 'POST', `/api/v1/projects/${projectA}/runs`, { name: 'r' })).json.id;
  await h.api(a.token, 'PUT', `/api/v1/runs/${runA}/artifacts/ckpt.bin`, 'weights', {
    'content-type': 'application/octet-stream',
  });
  const form = new FormData();
  form.append('file', new Blob([pngOf(1)]), 'cat/1.png'); // uploads decode every image
  const res = await fetch(`${h.url}/api/v1/projects/${projectA}/datasets/pets/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.token}` },
    body: form,
  });
  versionA = ((await res.json()) as { id: string }).id;
  const manifest = await h.api(a.token, 'GET', `/api/v1/dataset-versions/${versionA}`);
  fileSha = manifest.json.manifest.files[0].sha256;
});
afterAll(() => h?.stop());

describe('organization isolation', () => {
  it('lists only your own projects', async () => {
    const res = await h.api(b.token, 'GET', '/api/v1/projects');
    expect(res.status).toBe(200);
    expect(res.json.projects).toEqual([]);
    expect((await h.api(a.token, 'GET', '/api/v1/projects')).json.projects).toHaveLength(1);
  });

  it.each([
    ['GET', () => `/api/v1/projects/${projectA}/datasets`],
    ['GET', () => `/api/v1/runs/${runA}`],
    ['GET', () => `/api/v1/runs/${runA}/metrics`],
    ['GET', () => `/api/v1/runs/${runA}/artifacts`],
    ['GET', () => `/api/v1/runs/${runA}/artifacts/ckpt.bin`],
    ['GET', () => `/api/v1/dataset-versions/${versionA}`],
    ['GET', () => `/api/v1/dataset-versions/${versionA}/files/${fileSha}`],
    ['GET', () => `/api/v1/projects/${projectA}/models`],
    ['PATCH', () => `/api/v1/runs/${runA}`],
    ['POST', () => `/api/v1/projects/${projectA}/runs`],
  ])('answers 404 to %s %s from another organization', async (method, path) => {
    const body =
      method === 'GET' ? undefined : method === 'PATCH' ? { status: 'failed' } : { name: 'x' };
    const res = await h.api(b.token, method, path(), body);
    expect(res.status).toBe(404);
    // The owner reaches the same route: the 404 is isolation, not a broken route.
    if (method === 'GET') expect((await h.api(a.token, method, path())).status).toBe(200);
  });

  it('hides runs of other organizations from tRPC too', async () => {
    const res = await fetch(
      `${h.url}/api/trpc/runs.get?input=${encodeURIComponent(JSON.stringify({ runId: runA }))}`,
      {
        headers: { authorization: `Bearer ${b.token}` },
      },
    );
    expect(res.status).toBe(404);
  });
});
