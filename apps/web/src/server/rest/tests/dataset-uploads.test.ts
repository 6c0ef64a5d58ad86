import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LIMITS, decodeImage } from '@anneal/datasets/folder';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { badImages, pngOf } from '../../testing/images.ts';
import { restContractViolation } from '../../testing/rest-contract.ts';
import { type ZipEntry, zipOf } from '../../testing/zip.ts';

// Uploads are screened like a local folder import before a version exists: every image is
// decoded, bad ones are skipped by name (or refuse everything with strict=true), and only
// the files of the version reach the blob store.

let h: Harness;
let token: string;
let projectId: string;

beforeAll(async () => {
  h = await startHarness();
  token = (await h.user('uploads', 'editor')).token;
  projectId = (await h.api(token, 'POST', '/api/v1/projects', { name: 'intake' })).json.id;
});
afterAll(() => h?.stop());

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type Files = Record<string, Uint8Array<ArrayBuffer> | string>;

/** An upload through the harness, whose answers are held to the OpenAPI contract. */
function post(name: string, body: Blob | FormData, query = '') {
  return h.api(
    token,
    'POST',
    `/api/v1/projects/${projectId}/datasets/${name}/versions${query}`,
    body,
    body instanceof FormData ? {} : { 'content-type': 'application/zip' },
  );
}

function formOf(files: Files): FormData {
  const form = new FormData();
  for (const [path, data] of Object.entries(files)) form.append('files', new Blob([data]), path);
  return form;
}

const senders = {
  zip: (name: string, files: Files, query?: string) => post(name, zipOf(files), query),
  multipart: (name: string, files: Files, query?: string) => post(name, formOf(files), query),
};

/** Every staging folder is gone after a request, whatever it answered. */
function expectNothingStaged() {
  const tmp = join(h.services.store.root, 'tmp');
  expect(readdirSync(tmp).filter((f) => f.startsWith('dataset-'))).toEqual([]);
}

/** Good files under `top/` plus every kind of bad image and a non-image, all unique bytes. */
function mixedUpload(top: string, seed: number) {
  const good: Files = {
    [`${top}/cat/1.png`]: pngOf(seed),
    [`${top}/cat/2.png`]: pngOf(seed + 1),
    [`${top}/dog/1.png`]: pngOf(seed + 2),
  };
  const bad = badImages();
  const files: Files = { ...good, [`${top}/README.txt`]: `about ${top}` };
  for (const [name, { bytes }] of Object.entries(bad)) files[`${top}/dog/${name}`] = bytes;
  return { good, bad, files };
}

describe.each(Object.entries(senders))('a %s upload with bad image files', (kind, send) => {
  it('skips each one by name with its reason, stores only the version’s files, and they decode', async () => {
    const { good, bad, files } = mixedUpload(`${kind}-pets`, kind === 'zip' ? 10 : 20);
    const res = await send(`${kind}-pets`, files);
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ created: true, version: 1, fileCount: 3 });
    expect(res.json.ignored).toEqual(['README.txt']);
    const skipped = res.json.skipped as { relpath: string; reason: string }[];
    expect(skipped.map((s) => s.relpath)).toEqual(
      Object.keys(bad)
        .map((n) => `dog/${n}`)
        .sort(),
    );
    for (const s of skipped) expect(s.reason).toMatch(bad[s.relpath.slice(4)]?.reason as RegExp);

    const version = await h.api(token, 'GET', `/api/v1/dataset-versions/${res.json.id}`);
    // The version keeps the upload's per-file report for its page.
    expect(version.json.uploadReport).toEqual({
      imported: 3,
      skipped,
      skippedCount: skipped.length,
      ignored: ['README.txt'],
      ignoredCount: 1,
    });
    const manifest = version.json.manifest as { files: { relpath: string; sha256: string }[] };
    expect(manifest.files.map((f) => f.relpath)).toEqual(['cat/1.png', 'cat/2.png', 'dog/1.png']);
    // What an agent fetches decodes, so a job on this version can train.
    for (const f of manifest.files) {
      const path = `/api/v1/dataset-versions/${res.json.id}/files/${f.sha256}`;
      const bytes = await fetch(`${h.url}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      // Bytes, not JSON: the contract check sees the status and content type.
      expect(
        restContractViolation('GET', path, bytes.status, bytes.headers.get('content-type'), null),
      ).toBeNull();
      const body = new Uint8Array(await bytes.arrayBuffer());
      expect(sha256(body)).toBe(sha256(good[`${kind}-pets/${f.relpath}`] as Uint8Array));
      const pixels = await decodeImage(body, 4, 'center-crop', DEFAULT_LIMITS);
      expect(pixels.byteLength).toBe(4 * 4 * 3);
    }
    // The refused files and the ignored one never reached the blob store.
    for (const { bytes } of Object.values(bad))
      expect(h.services.store.has(sha256(bytes))).toBe(false);
    expect(h.services.store.has(sha256(new TextEncoder().encode(`about ${kind}-pets`)))).toBe(
      false,
    );
    expectNothingStaged();
  });

  it('with strict=true refuses the whole upload, naming every bad file, and stores nothing', async () => {
    const { good, bad, files } = mixedUpload(`${kind}-strict`, kind === 'zip' ? 30 : 40);
    const res = await send(`${kind}-strict`, files, '?strict=true');
    expect(res.status).toBe(400);
    const message = res.json.error.message as string;
    expect(message).toMatch(
      /^strict: the upload has 5 file\(s\) that are not usable images; nothing was written:\n/,
    );
    for (const [name, { reason }] of Object.entries(bad)) {
      const line = message.split('\n').find((l) => l.startsWith(`  dog/${name}: `));
      expect(line?.slice(`  dog/${name}: `.length)).toMatch(reason);
    }
    for (const bytes of Object.values(good))
      expect(h.services.store.has(sha256(bytes as Uint8Array))).toBe(false);
    const list = await h.api(token, 'GET', `/api/v1/projects/${projectId}/datasets`);
    expect(list.json.stored.map((d: { name: string }) => d.name)).not.toContain(`${kind}-strict`);
    expectNothingStaged();

    // The same upload without its bad files passes strict.
    const clean = await send(`${kind}-strict`, good, '?strict=true');
    expect(clean.status).toBe(201);
    expect(clean.json.skipped).toEqual([]);
  });

  it('refuses an upload with no usable image, listing why', async () => {
    const bad = badImages();
    const res = await send(`${kind}-allbad`, {
      'empty.png': bad['empty.png']?.bytes as Uint8Array<ArrayBuffer>,
      'notes.png': bad['notes.png']?.bytes as Uint8Array<ArrayBuffer>,
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toBe(
      'the upload holds no readable PNG, JPEG or WebP images; refused:\n' +
        '  empty.png: file is empty (0 bytes)\n' +
        '  notes.png: not a PNG, JPEG or WebP image: it is text (starting "a text file with an image name")',
    );
    expectNothingStaged();
  });

  it('refuses a mix of top-level images and class folders, listing the top-level files', async () => {
    const res = await send(`${kind}-mixed`, {
      'loose.png': pngOf(50),
      'stray.png': pngOf(51),
      'cat/1.png': pngOf(52),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toBe(
      'folder mixes labelled and unlabelled images: 2 at the top level: "loose.png", "stray.png"; ' +
        '1 in class subfolders: cat/ (1); put every image in a subfolder (labels) or none',
    );
    expect(h.services.store.has(sha256(pngOf(50)))).toBe(false);
  });
});

describe('upload file names', () => {
  it('keeps zip names without the UTF-8 flag: UTF-8 bytes as UTF-8, the rest as CP437', async () => {
    const cp437Cafe = [0x63, 0x61, 0x66, 0x82]; // "café" in CP437
    const entries: ZipEntry[] = [
      { name: Uint8Array.from([...cp437Cafe, ...Buffer.from('/a.png')]), data: pngOf(60) },
      { name: 'café/b.png', data: pngOf(61) }, // UTF-8 bytes, no flag (macOS Archive Utility)
      { name: 'café/c.png', data: pngOf(62), utf8Flag: true },
      { name: Uint8Array.from([0x8e, 0x94, 0x81, ...Buffer.from('/d.png')]), data: pngOf(63) },
    ];
    const res = await post('names', zipOf(entries));
    expect(res.status).toBe(201);
    const version = await h.api(token, 'GET', `/api/v1/dataset-versions/${res.json.id}`);
    expect(version.json.manifest.classes).toEqual(['café', 'Äöü']);
    expect(version.json.manifest.files.map((f: { relpath: string }) => f.relpath)).toEqual([
      'café/a.png',
      'café/b.png',
      'café/c.png',
      'Äöü/d.png',
    ]);
  });

  it('keeps multipart file names as the browser sends them (UTF-8)', async () => {
    const res = await post(
      'names-form',
      formOf({ 'été/chat é.png': pngOf(64), 'été/2.png': pngOf(65) }),
    );
    expect(res.status).toBe(201);
    const version = await h.api(token, 'GET', `/api/v1/dataset-versions/${res.json.id}`);
    expect(version.json.manifest.files.map((f: { relpath: string }) => f.relpath)).toEqual([
      'été/2.png',
      'été/chat é.png',
    ]);
  });

  it('refuses paths that leave the dataset, naming them', async () => {
    const res = await post('evil', zipOf({ 'a/../../evil.png': pngOf(66) }));
    expect(res.status).toBe(400);
    expect(res.json.error.message).toBe(
      'files: "a/../../evil.png" cannot be a dataset path: empty, "." and ".." segments are not allowed',
    );
    expectNothingStaged();
  });
});

describe('broken bodies', () => {
  it('answers 400 naming the zip entry whose data cannot be inflated', async () => {
    const res = await post(
      'broken',
      zipOf([
        { name: 'ok.png', data: pngOf(80) },
        { name: 'bad.png', data: pngOf(81), deflated: Uint8Array.from([0xff, 0xfe, 0xfd, 1, 2]) },
      ]),
    );
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/^body: cannot read "bad\.png" in the zip \(.+\)$/);
    expectNothingStaged();
  });

  it('answers 400 for a zip entry longer than its declared size', async () => {
    const data = pngOf(82);
    const { deflateRawSync } = await import('node:zlib');
    const res = await post(
      'broken',
      zipOf([{ name: 'long.png', data: data.subarray(0, 10), deflated: deflateRawSync(data) }]),
    );
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/^body: cannot read "long\.png" in the zip \(.+\)$/);
  });

  it('answers 400 for a multipart body cut off inside a file', async () => {
    const boundary = 'XyZ';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="cat/1.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG partial`;
    const res = await h.api(
      token,
      'POST',
      `/api/v1/projects/${projectId}/datasets/cut/versions`,
      body,
      { 'content-type': `multipart/form-data; boundary=${boundary}` },
    );
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/^body: /);
    expectNothingStaged();
  });
});

describe('the upload route', () => {
  it('refuses a strict value that is not true or false, naming the parameter', async () => {
    const res = await post('q', zipOf({ 'a.png': pngOf(70) }), '?strict=maybe');
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/^query\.strict: /);
  });

  it('publishes the report and the strict parameter in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${h.url}/api/v1/openapi.json`)).json()) as any;
    const op = doc.paths['/api/v1/projects/{projectId}/datasets/{name}/versions'].post;
    expect(op.parameters.find((p: { name: string }) => p.name === 'strict')?.schema).toMatchObject({
      type: 'string',
      enum: ['true', 'false'],
    });
    const schema = op.responses['201'].content['application/json'].schema;
    expect(schema.properties.skipped).toMatchObject({
      type: 'array',
      items: { properties: { relpath: { type: 'string' }, reason: { type: 'string' } } },
    });
    expect(schema.properties.ignored).toMatchObject({ type: 'array', items: { type: 'string' } });
    expect(schema.required).toEqual(expect.arrayContaining(['skipped', 'ignored']));
    // The document says exactly what an upload answers: every key, and nothing else.
    const res = await post('documented', zipOf({ 'a.png': pngOf(90), 'b.txt': 'x' }));
    expect(res.status).toBe(201);
    expect(Object.keys(res.json).sort()).toEqual(Object.keys(schema.properties).sort());
    expect(schema.additionalProperties).toBe(false);
  });
});
