import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { pngOf } from '../../testing/images.ts';
import { zipOf } from '../../testing/zip.ts';

let h: Harness;
let token: string;
let projectId: string;

beforeAll(async () => {
  h = await startHarness();
  token = (await h.user('lab', 'editor')).token;
  projectId = (await h.api(token, 'POST', '/api/v1/projects', { name: 'shapes-edm' })).json.id;
});
afterAll(() => h?.stop());

async function uploadZip(name: string, entries: Record<string, string | Uint8Array>, query = '') {
  const res = await fetch(
    `${h.url}/api/v1/projects/${projectId}/datasets/${name}/versions${query}`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/zip' },
      body: zipOf(entries),
    },
  );
  return { status: res.status, json: (await res.json()) as any };
}

describe('datasets', () => {
  it('lists the built-in datasets in every project', async () => {
    const res = await h.api(token, 'GET', `/api/v1/projects/${projectId}/datasets`);
    expect(res.json.builtin.map((d: { name: string }) => d.name)).toEqual(['mnist', 'shapes']);
    expect(res.json.stored).toEqual([]);
  });

  it('creates immutable versions from a zip, with labels, split and DVC md5', async () => {
    const files = {
      'pets/cat/1.png': pngOf(1),
      'pets/cat/2.png': pngOf(2),
      'pets/dog/1.png': pngOf(3),
      '__MACOSX/x': 'junk',
    };
    const sizeBytes = pngOf(1).length + pngOf(2).length + pngOf(3).length;
    const v1 = await uploadZip('pets', files, '?heldout=0.5&seed=3');
    expect(v1.status).toBe(201);
    expect(v1.json).toMatchObject({ version: 1, fileCount: 3, sizeBytes, created: true });
    expect(v1.json).toMatchObject({ skipped: [], ignored: [] });
    expect(v1.json.dvcMd5).toMatch(/^[a-f0-9]{32}\.dir$/);
    const same = await uploadZip('pets', files, '?heldout=0.5&seed=3');
    expect(same.status).toBe(200);
    expect(same.json).toMatchObject({ id: v1.json.id, created: false });
    const v2 = await uploadZip('pets', { ...files, 'pets/dog/2.png': pngOf(4) });
    expect(v2.json.version).toBe(2);

    const read = await h.api(token, 'GET', `/api/v1/dataset-versions/${v1.json.id}`);
    expect(read.json.manifest.classes).toEqual(['cat', 'dog']);
    expect(
      read.json.manifest.files.map((f: { relpath: string; label: number }) => [f.relpath, f.label]),
    ).toEqual([
      ['cat/1.png', 0],
      ['cat/2.png', 0],
      ['dog/1.png', 1],
    ]);
    expect(read.json.manifest.heldOut).toHaveLength(1);
    expect(read.json.heldoutCount).toBe(1);
    const file = read.json.manifest.files[0];
    const bytes = await fetch(
      `${h.url}/api/v1/dataset-versions/${v1.json.id}/files/${file.sha256}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    expect(new Uint8Array(await bytes.arrayBuffer())).toEqual(pngOf(1));
    expect(bytes.headers.get('content-disposition')).toContain('1.png');

    // Only files of that version, in the caller's organization, are served.
    const onlyInV2 = (await h.api(token, 'GET', `/api/v1/dataset-versions/${v2.json.id}`)).json
      .manifest.files as { relpath: string; sha256: string }[];
    const d2 = onlyInV2.find((f) => f.relpath === 'dog/2.png');
    const missing = await h.api(
      token,
      'GET',
      `/api/v1/dataset-versions/${v1.json.id}/files/${d2?.sha256}`,
    );
    expect(missing.status).toBe(404);
    expect(missing.json.error.message).toBe(
      `sha256: version ${v1.json.id} has no file ${d2?.sha256}`,
    );
    const stranger = (await h.user('another-lab', 'owner')).token;
    const foreign = await h.api(
      stranger,
      'GET',
      `/api/v1/dataset-versions/${v1.json.id}/files/${file.sha256}`,
    );
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.message).toBe(`versionId: no dataset version ${v1.json.id}`);
  });

  it('accepts a multipart folder upload and refuses bad input by name', async () => {
    const form = new FormData();
    form.append('files', new Blob([pngOf(5)]), 'digits/0/a.png');
    form.append('files', new Blob([pngOf(6)]), 'digits/1/b.png');
    const res = await fetch(`${h.url}/api/v1/projects/${projectId}/datasets/digits/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    expect(res.status).toBe(201);
    expect((await uploadZip('mnist', { 'a.png': pngOf(7) })).json.error.message).toMatch(
      /^path\.name: .*built-in/,
    );
    expect((await uploadZip('ok', { '../evil.png': pngOf(8) })).status).toBe(400);
    const notZip = await fetch(`${h.url}/api/v1/projects/${projectId}/datasets/x/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/zip' },
      body: 'not a zip',
    });
    expect(notZip.status).toBe(400);
  });
});

describe('registry', () => {
  it('registers versions with lineage and moves aliases', async () => {
    const runId = (
      await h.api(token, 'POST', `/api/v1/projects/${projectId}/runs`, { name: 'distill' })
    ).json.id;
    const body = {
      sourceRunId: runId,
      metadata: { nfe: 4, sampler: 'euler', quality: { fd: 3.2 } },
      aliases: ['staging'],
    };
    const v1 = await h.api(
      token,
      'POST',
      `/api/v1/projects/${projectId}/models/unet-s/versions`,
      body,
    );
    expect(v1.status).toBe(201);
    expect(v1.json.version).toBe(1);
    const v2 = await h.api(token, 'POST', `/api/v1/projects/${projectId}/models/unet-s/versions`, {
      metadata: { nfe: 2 },
    });
    expect(v2.json.version).toBe(2);
    const put = await h.api(
      token,
      'PUT',
      `/api/v1/projects/${projectId}/models/unet-s/aliases/production`,
      { version: 2 },
    );
    expect(put.status).toBe(200);
    const model = await h.api(token, 'GET', `/api/v1/projects/${projectId}/models/unet-s`);
    expect(
      model.json.versions.map((v: { version: number; aliases: string[] }) => [
        v.version,
        v.aliases,
      ]),
    ).toEqual([
      [2, ['production']],
      [1, ['staging']],
    ]);
    expect(model.json.versions[1].sourceRun.name).toBe('distill');
    const listed = await h.api(token, 'GET', `/api/v1/projects/${projectId}/models`);
    expect(listed.json.models).toMatchObject([
      {
        name: 'unet-s',
        latestVersion: 2,
        aliases: [
          { alias: 'production', version: 2 },
          { alias: 'staging', version: 1 },
        ],
      },
    ]);
    expect(
      (await h.api(token, 'DELETE', `/api/v1/projects/${projectId}/models/unet-s/aliases/staging`))
        .status,
    ).toBe(204);
    expect(
      (
        await h.api(
          token,
          'PUT',
          `/api/v1/projects/${projectId}/models/unet-s/aliases/production`,
          { version: 9 },
        )
      ).status,
    ).toBe(404);
    expect(
      (
        await h.api(token, 'PUT', `/api/v1/projects/${projectId}/models/unet-s/aliases/Bad Alias`, {
          version: 1,
        })
      ).json.error.message,
    ).toMatch(/^path\.alias: /);
  });
});

describe('OpenAPI', () => {
  it('documents every route', async () => {
    const doc = (await (await fetch(`${h.url}/api/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, object>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/projects',
        '/api/v1/runs/{runId}/metrics',
        '/api/v1/runs/{runId}/artifacts/{path}',
      ]),
    );
  });
});
