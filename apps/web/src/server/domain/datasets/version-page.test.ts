import { createHash, randomBytes } from 'node:crypto';
import { encodePng } from '@anneal/core/png';
import { datasetVersionFiles, datasetVersions } from '@anneal/db/schema';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageTypeOf } from '../../rest/routes/datasets.ts';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { pngOf } from '../../testing/images.ts';
import { zipOf } from '../../testing/zip.ts';
import {
  getDatasetVersionPage,
  PAGE_FILE_LIMIT,
  REPORT_LIST_LIMIT,
  SAMPLES_PER_LABEL,
} from './versions.ts';

// The version page gets counts and thumbnails per label from PostgreSQL and the first files
// of the manifest, never the manifest itself; checked against the manifest REST serves.

let h: Harness;
let user: { token: string; orgId: string };
let versionId: string;

beforeAll(async () => {
  h = await startHarness();
  user = await h.user('page', 'editor');
  const projectId = (await h.api(user.token, 'POST', '/api/v1/projects', { name: 'p' })).json.id;
  // 8x8 images repeat after 256 seeds; a larger size keeps every file's bytes unique.
  const png = (i: number) => pngOf(i % 256, 8 + Math.floor(i / 256));
  const files: Record<string, Uint8Array<ArrayBuffer>> = {};
  for (let i = 0; i < 505; i++) files[`cat/${String(i).padStart(3, '0')}.png`] = png(i);
  for (let i = 0; i < 5; i++) files[`dog/${i}.png`] = png(600 + i);
  const res = await h.api(
    user.token,
    'POST',
    `/api/v1/projects/${projectId}/datasets/pets/versions?heldout=0.3&seed=1`,
    zipOf(files),
    { 'content-type': 'application/zip' },
  );
  expect(res.status).toBe(201);
  versionId = res.json.id;
}, 120_000);
afterAll(() => h?.stop());

describe('getDatasetVersionPage', () => {
  it('counts each label per split and picks its first files as the manifest has them', async () => {
    const { manifest } = (await h.api(user.token, 'GET', `/api/v1/dataset-versions/${versionId}`))
      .json as {
      manifest: {
        classes: string[];
        heldOut: string[];
        files: { relpath: string; sha256: string; label?: number; size: number }[];
      };
    };
    const page = await getDatasetVersionPage(h.services.db, user.orgId, versionId);
    expect(page).not.toHaveProperty('manifest');
    const held = new Set(manifest.heldOut);
    expect(page.labels.map((g) => g.label)).toEqual(['cat', 'dog']);
    for (const g of page.labels) {
      const of = manifest.files.filter((f) => manifest.classes[f.label ?? -1] === g.label);
      const train = of.filter((f) => !held.has(f.relpath));
      const heldOut = of.filter((f) => held.has(f.relpath));
      expect([g.train, g.heldOut]).toEqual([train.length, heldOut.length]);
      expect(g.heldOut).toBeGreaterThan(0);
      const expected = [
        ...train.map((f) => ({ relpath: f.relpath, sha256: f.sha256, heldOut: false })),
        ...heldOut.map((f) => ({ relpath: f.relpath, sha256: f.sha256, heldOut: true })),
      ].slice(0, SAMPLES_PER_LABEL);
      expect(g.samples).toEqual(expected);
    }
    expect(page.files).toHaveLength(PAGE_FILE_LIMIT);
    expect(page.files).toEqual(
      manifest.files.slice(0, PAGE_FILE_LIMIT).map((f) => ({
        relpath: f.relpath,
        sha256: f.sha256,
        label: f.label ?? null,
        size: f.size,
        heldOut: held.has(f.relpath),
      })),
    );
    expect(page.classes).toEqual(manifest.classes);
  });

  it('lists every file of a version smaller than the limit', async () => {
    const projectId = (await h.api(user.token, 'POST', '/api/v1/projects', { name: 'small' })).json
      .id;
    const res = await h.api(
      user.token,
      'POST',
      `/api/v1/projects/${projectId}/datasets/three/versions?heldout=0`,
      zipOf({ 'a.png': pngOf(1), 'b.png': pngOf(2), 'c.png': pngOf(3) }),
      { 'content-type': 'application/zip' },
    );
    const page = await getDatasetVersionPage(h.services.db, user.orgId, res.json.id);
    expect(page.files.map((f) => [f.relpath, f.label, f.heldOut])).toEqual([
      ['a.png', null, false],
      ['b.png', null, false],
      ['c.png', null, false],
    ]);
    expect(page.labels).toMatchObject([{ label: 'unlabelled', train: 3, heldOut: 0 }]);
  });

  it('answers NOT_FOUND for another organization', async () => {
    const other = await h.user('other', 'viewer');
    await expect(getDatasetVersionPage(h.services.db, other.orgId, versionId)).rejects.toThrow(
      /no dataset version/,
    );
  });

  it('is what the tRPC query sends, without the manifest', async () => {
    const res = await fetch(
      `${h.url}/api/trpc/datasets.version?input=${encodeURIComponent(JSON.stringify({ versionId }))}`,
      { headers: { authorization: `Bearer ${user.token}` } },
    );
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).not.toContain('"manifest"');
    expect(body).not.toContain('cat/504.png');
    expect(body).toContain('"labels"');
  });
});

describe('a file of a version', () => {
  const file = (sha256: string, token = user.token) =>
    fetch(`${h.url}/api/v1/dataset-versions/${versionId}/files/${sha256}`, {
      headers: { authorization: `Bearer ${token}` },
    });

  it('is found by index: every file of the version has a row, written with it', async () => {
    const rows = await h.services.db
      .select()
      .from(datasetVersionFiles)
      .where(eq(datasetVersionFiles.versionId, versionId));
    expect(rows).toHaveLength(510);
    const plan = await h.services.db.execute<{ 'QUERY PLAN': string }>(sql`
      explain select relpath from dataset_version_files
      where version_id = ${versionId} and sha256 = ${rows[0]?.sha256}`);
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('dataset_version_files_sha256');
  });

  it('opens as an image in the tab: its type sniffed from its bytes, shown inline', async () => {
    const page = await getDatasetVersionPage(h.services.db, user.orgId, versionId);
    const sample = page.labels[0]?.samples[0];
    const res = await file(sample?.sha256 as string);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toMatch(/^inline;/);
    expect(new Uint8Array(await res.arrayBuffer()).slice(1, 4)).toEqual(
      new Uint8Array([0x50, 0x4e, 0x47]),
    );
  });

  it('is not found in another version or for another organization', async () => {
    const other = await h.user('stranger', 'viewer');
    const page = await getDatasetVersionPage(h.services.db, user.orgId, versionId);
    const sha = page.files[0]?.sha256 as string;
    expect((await file(sha, other.token)).status).toBe(404);
    expect((await file('0'.repeat(64))).status).toBe(404);
  });
});

describe('imageTypeOf', () => {
  it('tells PNG, JPEG and WebP by their signatures, and nothing else', () => {
    expect(imageTypeOf(pngOf(1).subarray(0, 12))).toBe('image/png');
    expect(imageTypeOf(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(imageTypeOf(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(imageTypeOf(new TextEncoder().encode('<svg xmlns='))).toBe('application/octet-stream');
    expect(imageTypeOf(new Uint8Array([0x89, 0x50]))).toBe('application/octet-stream');
  });
});

describe('the upload report a version keeps', () => {
  it('lists at most REPORT_LIST_LIMIT entries of each kind, with the totals', async () => {
    const projectId = (await h.api(user.token, 'POST', '/api/v1/projects', { name: 'notes' })).json
      .id;
    const files: Record<string, Uint8Array<ArrayBuffer> | string> = { 'a.png': pngOf(9) };
    for (let i = 0; i < 130; i++) files[`notes/${i}.txt`] = `note ${i}`;
    const res = await h.api(
      user.token,
      'POST',
      `/api/v1/projects/${projectId}/datasets/notes/versions`,
      zipOf(files),
      { 'content-type': 'application/zip' },
    );
    expect(res.status).toBe(201);
    const [stored] = await h.services.db
      .select({ report: datasetVersions.uploadReport })
      .from(datasetVersions)
      .where(eq(datasetVersions.id, res.json.id));
    expect(stored?.report?.ignored).toHaveLength(REPORT_LIST_LIMIT);
    expect(stored?.report?.ignoredCount).toBe(130);
    // A row stored before the limit (1,000 entries) is cut when read.
    const old = Array.from({ length: 300 }, (_, i) => ({ relpath: `x/${i}.png`, reason: 'bad' }));
    await h.services.db
      .update(datasetVersions)
      .set({
        uploadReport: {
          imported: 1,
          skipped: old,
          skippedCount: 300,
          ignored: [],
          ignoredCount: 0,
        },
      })
      .where(eq(datasetVersions.id, res.json.id));
    const got = await h.api(user.token, 'GET', `/api/v1/dataset-versions/${res.json.id}`);
    expect(got.json.uploadReport.skipped).toHaveLength(REPORT_LIST_LIMIT);
    expect(got.json.uploadReport.skippedCount).toBe(300);
    const page = await getDatasetVersionPage(h.services.db, user.orgId, res.json.id);
    expect(page.uploadReport?.skipped).toHaveLength(REPORT_LIST_LIMIT);
  });
});

describe('thumbnails', () => {
  it('cuts a large image down to a small PNG and sends a small file as it is', async () => {
    const projectId = (await h.api(user.token, 'POST', '/api/v1/projects', { name: 'photos' })).json
      .id;
    // Incompressible pixels: a PNG of 120x120 well over the 16 KiB sent as it is.
    const big = new Uint8Array(encodePng(randomBytes(120 * 120 * 3), 120, 120, 3));
    const small = pngOf(5);
    const res = await h.api(
      user.token,
      'POST',
      `/api/v1/projects/${projectId}/datasets/photos/versions?heldout=0`,
      zipOf({ 'big.png': big, 'small.png': small }),
      { 'content-type': 'application/zip' },
    );
    expect(res.status).toBe(201);
    const get = (sha: string, query: string) =>
      fetch(`${h.url}/api/v1/dataset-versions/${res.json.id}/files/${sha}${query}`, {
        headers: { authorization: `Bearer ${user.token}` },
      });
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const thumb = await get(sha(big), '?thumbnail=40');
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await thumb.arrayBuffer());
    expect(png.length).toBeLessThan(big.length);
    // IHDR: width and height at bytes 16 and 20.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([40, 40]);
    const asIs = await get(sha(small), '?thumbnail=40');
    expect(sha(new Uint8Array(await asIs.arrayBuffer()))).toBe(sha(small));
    const bad = await get(sha(big), '?thumbnail=5');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/thumbnail/);
  });
});
