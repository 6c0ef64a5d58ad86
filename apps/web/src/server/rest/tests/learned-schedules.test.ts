import { modelVersions } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';

let h: Harness;
let token: string;
let viewer: string;
let versionId: string;
let projectId: string;

const record = (over: Record<string, unknown> = {}) => ({
  sampler: 'dpmpp-2m',
  nfe: 5,
  steps: 5,
  sigmas: [157.4, 20.1, 3.2, 0.9, 0.1, 0],
  method: 'dp + coordinate descent',
  calibration: {
    n: 64,
    seed: 1000,
    heldout_seed: 1001,
    reference: { sampler: 'heun', steps: 100 },
  },
  scores: {
    baseline: { schedule: 'default', train_error: 0.02, heldout_error: 0.021 },
    learned: { train_error: 0.01, heldout_error: 0.011 },
  },
  model: 'models/mnist-v-small',
  created_at: '2026-12-02T05:00:00.000Z',
  ...over,
});

beforeAll(async () => {
  h = await startHarness();
  const editor = await h.user('lab', 'editor');
  token = editor.token;
  viewer = (await h.user('lab', 'viewer')).token;
  projectId = (await h.api(token, 'POST', '/api/v1/projects', { name: 'sched' })).json.id;
  versionId = (
    await h.api(token, 'POST', `/api/v1/projects/${projectId}/models/teacher/versions`, {
      metadata: { sampler: 'dpmpp-2m' },
    })
  ).json.id;
});
afterAll(() => h?.stop());

describe('learned schedules on a model version', () => {
  it('stores one per sampler and NFE, a newer replacing the older', async () => {
    const path = `/api/v1/model-versions/${versionId}/schedules`;
    const a = await h.api(token, 'POST', path, record());
    expect(a.status, JSON.stringify(a.json)).toBe(201);
    expect(a.json.sigmas).toEqual(record().sigmas);
    const newer = record({ sigmas: [157.4, 18, 3, 0.8, 0.1, 0] });
    expect((await h.api(token, 'POST', path, newer)).status).toBe(201);
    expect(
      (
        await h.api(
          token,
          'POST',
          path,
          record({
            nfe: 10,
            steps: 10,
            sigmas: [...Array(10)].map((_, i) => 100 / (i + 1)).concat(0),
          }),
        )
      ).status,
    ).toBe(201);
    const read = await h.api(token, 'GET', `/api/v1/model-versions/${versionId}`);
    const stored = read.json.metadata.schedules as Array<{ nfe: number; sigmas: number[] }>;
    expect(stored.map((s) => s.nfe)).toEqual([5, 10]);
    expect(stored[0]?.sigmas).toEqual(newer.sigmas);
  });

  it('refuses invalid records naming the field, and viewers', async () => {
    const path = `/api/v1/model-versions/${versionId}/schedules`;
    const rising = await h.api(
      token,
      'POST',
      path,
      record({ sigmas: [157.4, 3.2, 20.1, 0.9, 0.1, 0] }),
    );
    expect(rising.status).toBe(400);
    expect(JSON.stringify(rising.json)).toMatch(/sigmas.*strictly decrease/);
    const stochastic = await h.api(token, 'POST', path, record({ sampler: 'ddpm' }));
    expect(stochastic.status).toBe(400);
    expect(JSON.stringify(stochastic.json)).toMatch(/sampler/);
    const wrongNfe = await h.api(token, 'POST', path, record({ nfe: 6 }));
    expect(wrongNfe.status).toBe(400);
    expect(JSON.stringify(wrongNfe.json)).toMatch(/nfe/);
    const leaked = await h.api(
      token,
      'POST',
      path,
      record({
        calibration: {
          n: 64,
          seed: 7,
          heldout_seed: 7,
          reference: { sampler: 'heun', steps: 100 },
        },
      }),
    );
    expect(leaked.status).toBe(400);
    expect(JSON.stringify(leaked.json)).toMatch(/heldout_seed.*must differ from calibration.seed/);
    expect((await h.api(viewer, 'POST', path, record())).status).toBe(403);
    const missing = await h.api(
      token,
      'POST',
      '/api/v1/model-versions/00000000-0000-4000-8000-000000000000/schedules',
      record(),
    );
    expect(missing.status).toBe(404);
  });

  it('a stored schedule that no longer parses hides only itself on the model page', async () => {
    const db = h.services.db;
    const [row] = await db.select().from(modelVersions).where(eq(modelVersions.id, versionId));
    const metadata = (row?.metadata ?? {}) as Record<string, unknown> & {
      schedules?: Record<string, unknown>[];
    };
    const good = metadata.schedules ?? [];
    expect(good.length).toBeGreaterThan(0);
    // Stored before equal seeds were refused: it no longer parses.
    const stale = record({
      nfe: 3,
      steps: 3,
      sigmas: [157.4, 3, 0.1, 0],
      calibration: { n: 64, seed: 5, heldout_seed: 5, reference: { sampler: 'heun', steps: 100 } },
    });
    await db
      .update(modelVersions)
      .set({ metadata: { ...metadata, schedules: [...good, stale] } })
      .where(eq(modelVersions.id, versionId));
    const input = encodeURIComponent(JSON.stringify({ projectId, name: 'teacher' }));
    const page = await fetch(`${h.url}/api/trpc/registry.get?input=${input}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(page.status).toBe(200);
    const detail = (await page.json()).result.data;
    const shown = detail.versions.find((v: { id: string }) => v.id === versionId).metadata;
    expect(shown.schedules.map((s: { nfe: number }) => s.nfe)).toEqual(
      good.map((s) => (s as { nfe: number }).nfe),
    );
  });

  it('caps a record (sigmas, hand-crafted rows) and the schedules a version keeps, refusing rather than dropping', async () => {
    const other = (
      await h.api(token, 'POST', `/api/v1/projects/${projectId}/models/capped/versions`, {
        metadata: {},
      })
    ).json.id;
    const path = `/api/v1/model-versions/${other}/schedules`;
    const long = [...Array(1001)].map((_, i) => 1001 - i).concat(0);
    const tooLong = await h.api(
      token,
      'POST',
      path,
      record({ nfe: 1001, steps: 1001, sigmas: long }),
    );
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.json)).toMatch(/steps|sigmas/);
    const row = { schedule: 'karras', sigmas: [1, 0], train_error: 1, heldout_error: 1 };
    const manyRows = await h.api(
      token,
      'POST',
      path,
      record({
        scores: { ...record().scores, hand_crafted: [...Array(9)].map(() => row) },
      }),
    );
    expect(manyRows.status).toBe(400);
    expect(JSON.stringify(manyRows.json)).toMatch(/hand_crafted/);
    // 100 (sampler, NFE) pairs fill a version; a 101st is refused, an existing pair replaced.
    for (let nfe = 1; nfe <= 100; nfe++) {
      const sigmas = [...Array(nfe)].map((_, i) => 100 / (i + 1)).concat(0);
      const r = await h.api(
        token,
        'POST',
        path,
        record({ sampler: 'euler', nfe, steps: nfe, sigmas }),
      );
      expect(r.status, JSON.stringify(r.json)).toBe(201);
    }
    const full = await h.api(token, 'POST', path, record());
    expect(full.status).toBe(409);
    expect(JSON.stringify(full.json)).toMatch(/already holds 100 learned schedules/);
    const replace = await h.api(
      token,
      'POST',
      path,
      record({ sampler: 'euler', nfe: 1, steps: 1, sigmas: [50, 0] }),
    );
    expect(replace.status).toBe(201);
  });
});
