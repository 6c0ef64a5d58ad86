import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { pngOf } from '../../testing/images.ts';

// The dashboard's lists name what a run or job is: the job kind behind a run, and a stored
// dataset version as "name vN" (tables showed the spec's JSON before).

let h: Harness;
let token: string;
let projectId: string;

beforeAll(async () => {
  h = await startHarness();
  token = (await h.user('names', 'editor')).token;
  projectId = (await h.api(token, 'POST', '/api/v1/projects', { name: 'names' })).json.id;
});
afterAll(() => h?.stop());

async function trpcQuery(path: string, input: unknown) {
  const res = await fetch(
    `${h.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: { data: unknown } }).result.data;
}

describe('run and job names', () => {
  it('carry the job kind and the dataset version label; script runs have neither', async () => {
    const form = new FormData();
    for (const [i, path] of ['digits/a/1.png', 'digits/a/2.png', 'digits/b/1.png'].entries())
      form.append('files', new Blob([pngOf(100 + i)]), path);
    const version = await h.api(
      token,
      'POST',
      `/api/v1/projects/${projectId}/datasets/digits/versions`,
      form,
    );
    expect(version.status).toBe(201);
    const job = await h.api(token, 'POST', `/api/v1/projects/${projectId}/jobs`, {
      job: {
        type: 'train',
        spec: {
          dataset: {
            kind: 'version',
            id: version.json.id.toUpperCase(),
            hash: version.json.contentHash,
          },
          resolution: 8,
          preset: 'tiny',
          steps: 10,
        },
      },
    });
    expect(job.status).toBe(201);
    expect(job.json.datasetLabel).toBe('digits v1');
    const logged = await h.api(token, 'POST', `/api/v1/projects/${projectId}/runs`, {
      name: 'from-a-script',
    });
    expect(logged.status).toBe(201);

    const runs = (await trpcQuery('runs.list', { projectId })) as {
      name: string;
      kind: string | null;
      datasetVersionId: string | null;
      datasetLabel: string | null;
    }[];
    const train = runs.find((r) => r.name !== 'from-a-script');
    expect(train).toMatchObject({
      kind: 'train',
      datasetVersionId: version.json.id,
      datasetLabel: 'digits v1',
    });
    expect(runs.find((r) => r.name === 'from-a-script')).toMatchObject({
      kind: null,
      datasetVersionId: null,
      datasetLabel: null,
    });

    const detail = (await trpcQuery('runs.get', { runId: job.json.runId })) as {
      kind: string;
      datasetLabel: string;
    };
    expect(detail).toMatchObject({ kind: 'train', datasetLabel: 'digits v1' });
    const jobs = (await trpcQuery('jobs.list', { projectId })) as { datasetLabel: string }[];
    expect(jobs.map((j) => j.datasetLabel)).toEqual(['digits v1']);
  });
});
