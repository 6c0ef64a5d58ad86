import { jobs, projects, runs } from '@anneal/db/schema';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetLabelSql, specVersionIdSql } from '../../domain/datasets/label.ts';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { pngOf } from '../../testing/images.ts';

// The dashboard's lists name what a run or job is: the job kind behind a run, and a stored
// dataset version as "name vN" (tables showed the spec's JSON before).

let h: Harness;
let token: string;
let projectId: string;
let ids: { versionId: string; runId: string; spec: Record<string, unknown> };

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
    // The ref's id is lower-cased when parsed, as PostgreSQL prints uuids.
    expect(job.json.spec.dataset.id).toBe(version.json.id);
    ids = { versionId: version.json.id, runId: job.json.runId, spec: job.json.spec };
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
    // The compare page names the version a run's params point at, as the run's page does.
    const compared = (await trpcQuery('runs.compare', {
      runIds: [job.json.runId, logged.json.id],
    })) as { runs: { datasetVersionId: string | null; datasetLabel: string | null }[] };
    expect(compared.runs.map((r) => [r.datasetVersionId, r.datasetLabel])).toEqual([
      [version.json.id, 'digits v1'],
      [null, null],
    ]);
    const jobs = (await trpcQuery('jobs.list', { projectId })) as { datasetLabel: string }[];
    expect(jobs.map((j) => j.datasetLabel)).toEqual(['digits v1']);
  });

  it('another organization sees no label for a version of this one', async () => {
    // Rows of org B naming org A's version (only possible by a bug or by hand): defence in depth.
    const b = await h.user('names-b', 'owner');
    const [project] = await h.services.db
      .insert(projects)
      .values({ orgId: b.orgId, name: 'b' })
      .returning();
    await h.services.db.insert(runs).values({
      projectId: project!.id,
      name: 'foreign',
      datasetVersionId: ids.versionId,
    });
    await h.services.db
      .insert(jobs)
      .values({ projectId: project!.id, type: 'train', spec: ids.spec });
    const asB = async (path: string) => {
      const res = await fetch(
        `${h.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ projectId: project!.id }))}`,
        { headers: { authorization: `Bearer ${b.token}` } },
      );
      expect(res.status).toBe(200);
      return ((await res.json()) as { result: { data: { datasetLabel: string | null }[] } }).result
        .data;
    };
    expect((await asB('runs.list')).map((r) => r.datasetLabel)).toEqual([null]);
    expect((await asB('jobs.list')).map((j) => j.datasetLabel)).toEqual([null]);
  });

  it('finds labels by the primary key of dataset_versions, for runs and for job specs', async () => {
    const plans = await h.services.db.transaction(async (tx) => {
      // Without a usable index the planner has no choice but the (disabled) sequential scan.
      await tx.execute(sql`set local enable_seqscan = off`);
      const plan = async (q: ReturnType<typeof sql>) =>
        (await tx.execute<{ 'QUERY PLAN': string }>(sql`explain ${q}`))
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      return [
        await plan(
          sql`select ${datasetLabelSql(sql`r.dataset_version_id`, sql`r.project_id`)} from runs r`,
        ),
        await plan(
          sql`select ${datasetLabelSql(specVersionIdSql(sql`j.spec`), sql`j.project_id`)} from jobs j`,
        ),
      ];
    });
    for (const plan of plans) expect(plan).toMatch(/Index Scan using dataset_versions_pkey/);
  });
});

describe('a train job naming a dataset version (the New job form)', () => {
  const count = async (table: typeof jobs | typeof runs) =>
    (await h.services.db.select({ n: sql<number>`count(*)::int` }).from(table))[0]?.n;
  const submit = (as: string, project: string, dataset: Record<string, unknown>) =>
    h.api(as, 'POST', `/api/v1/projects/${project}/jobs`, {
      job: { type: 'train', spec: { dataset, resolution: 8, preset: 'tiny', steps: 10 } },
    });

  it("answers 404 for another organization's version and writes no job or run", async () => {
    const b = await h.user('names-c', 'editor');
    const bProject = (await h.api(b.token, 'POST', '/api/v1/projects', { name: 'c' })).json.id;
    const [jobsBefore, runsBefore] = [await count(jobs), await count(runs)];
    const res = await submit(b.token, bProject, ids.spec.dataset as Record<string, unknown>);
    expect(res.status).toBe(404);
    expect(res.json.error.message).toContain(ids.versionId);
    expect([await count(jobs), await count(runs)]).toEqual([jobsBefore, runsBefore]);
  });

  it('answers 400 naming job.spec.dataset.hash for a hash the version does not have', async () => {
    const [jobsBefore, runsBefore] = [await count(jobs), await count(runs)];
    const res = await submit(token, projectId, {
      kind: 'version',
      id: ids.versionId,
      hash: 'f'.repeat(64),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/^job\.spec\.dataset\.hash: /);
    expect([await count(jobs), await count(runs)]).toEqual([jobsBefore, runsBefore]);
  });
});
