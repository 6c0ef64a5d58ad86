import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { AppError } from '@anneal/core';
import { encodePng } from '@anneal/core/png';
import { DEFAULT_LIMITS, decodeImage } from '@anneal/datasets/folder';
import { datasetManifestSchema, dvcDirObject } from '@anneal/datasets/hash';
import { z } from 'zod';
import {
  dvcObjectName,
  receiveDvcObject,
  stagedDvcObject,
} from '../../domain/datasets/dvc-push.ts';
import { receiveDatasetUpload } from '../../domain/datasets/receive-upload.ts';
import {
  assertFileInVersion,
  createDatasetVersion,
  datasetNameSchema,
  getDatasetVersion,
  listDatasets,
  refusalSchema,
  splitOptionsSchema,
  uploadReportSchema,
} from '../../domain/datasets/versions.ts';
import { getProject } from '../../domain/projects/projects.ts';

/** Files up to this size are sent as their own thumbnail. */
const THUMBNAIL_AS_IS_BYTES = 16 * 1024;

/** The first bytes of a stored file, enough to tell an image's format. */
async function headOf(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(12), 0, 12, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** image/png, image/jpeg or image/webp by the file's signature, else application/octet-stream. */
export function imageTypeOf(head: Uint8Array): string {
  const at = (offset: number, bytes: number[]) => bytes.every((b, i) => head[offset + i] === b);
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (at(0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  return 'application/octet-stream';
}

import { defineRoute } from '../route.ts';

const versionSummary = z.object({
  id: z.uuid(),
  version: z.number(),
  contentHash: z.string(),
  fileCount: z.number(),
  sizeBytes: z.number(),
  heldoutCount: z.number(),
  dvcMd5: z.string(),
  createdAt: z.iso.datetime(),
});

const datasetList = z.object({
  builtin: z.array(
    z.object({
      builtin: z.string(),
      name: z.string(),
      description: z.string(),
      fileCount: z.number().int(),
      heldOut: z.number().int(),
      labels: z.array(z.string()),
      channels: z.number().int(),
      resolution: z.string().describe('The resolutions it is generated at, in words'),
    }),
  ),
  stored: z.array(
    z.object({
      id: z.uuid(),
      name: z.string(),
      description: z.string(),
      createdAt: z.iso.datetime(),
      versions: z.array(versionSummary),
    }),
  ),
});

const versionWithManifest = versionSummary.extend({
  datasetId: z.uuid(),
  datasetName: z.string(),
  projectId: z.uuid(),
  manifest: datasetManifestSchema,
  /** What the upload imported and left out (and why); null for versions made before it was kept. */
  uploadReport: uploadReportSchema.nullable(),
});

export const datasetRoutes = [
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/datasets',
    access: { role: 'viewer', agent: 'none' },
    tag: 'datasets',
    summary: 'List datasets: the built-ins (mnist, shapes) and stored ones with their versions',
    params: z.object({ projectId: z.uuid() }),
    response: {
      status: 200,
      description: 'The built-in datasets, then the stored ones with their versions',
      schema: datasetList,
    },
    handle: async (ctx, { params }) => ({
      json: await listDatasets(ctx.db, ctx.principal.orgId, params.projectId),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/datasets/{name}/versions',
    access: { role: 'editor', agent: 'none' },
    tag: 'datasets',
    summary:
      'Create an immutable version by upload: a zip, or multipart files named by relative path. Folders name labels. Every image is decoded first: files that are not PNG, JPEG or WebP by extension are ignored; image files that cannot be decoded or exceed a limit are skipped and listed with the reason (with strict=true, the upload is refused with 400 naming every one).',
    params: z.object({ projectId: z.uuid(), name: datasetNameSchema }),
    query: splitOptionsSchema,
    body: 'stream',
    bodyTypes: ['application/zip', 'multipart/form-data'],
    response: {
      status: 201,
      description:
        'The version (200 with created=false when identical to the latest), with the files skipped and ignored',
      schema: versionSummary.extend({
        datasetId: z.uuid(),
        createdAt: z.iso.datetime(),
        created: z.boolean(),
        skipped: z
          .array(refusalSchema)
          .describe('Image files left out of the version, each with the reason'),
        ignored: z
          .array(z.string())
          .describe('Files that are not PNG, JPEG or WebP by extension; not read'),
      }),
    },
    handle: async (ctx, { params, query, body }) => {
      // The project is resolved before any byte is stored: another organization's id is 404.
      await getProject(ctx.db, ctx.principal.orgId, params.projectId);
      const upload = await receiveDatasetUpload(body, ctx.store, ctx.config.uploadLimit);
      try {
        const version = await createDatasetVersion(
          ctx.db,
          ctx.store,
          ctx.principal.orgId,
          ctx.principal.userId,
          params.projectId,
          params.name,
          upload,
          query,
        );
        return { status: version.created ? 201 : 200, json: version };
      } finally {
        await upload.dispose();
      }
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/dataset-versions/{versionId}',
    access: { role: 'viewer', agent: 'read-leased-dataset-version' },
    tag: 'datasets',
    summary: 'Read a version and its manifest (files, sha256, md5, labels, held-out split)',
    params: z.object({ versionId: z.uuid() }),
    response: {
      status: 200,
      description: 'The version with its manifest',
      schema: versionWithManifest,
    },
    handle: async (ctx, { params }) => {
      const json = await getDatasetVersion(ctx.db, ctx.principal.orgId, params.versionId);
      return { json };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/dataset-versions/{versionId}/files/{sha256}',
    access: { role: 'viewer', agent: 'read-leased-dataset-version' },
    tag: 'datasets',
    summary: 'Fetch one file of a version by its sha256',
    params: z.object({ versionId: z.uuid(), sha256: z.string().regex(/^[a-f0-9]{64}$/) }),
    query: z.object({
      thumbnail: z.coerce
        .number()
        .int()
        .min(16)
        .max(256)
        .optional()
        .describe(
          'a square PNG of this many pixels (centre-cropped) instead of a file over 16 KiB; smaller files are sent as they are',
        ),
    }),
    response: {
      status: 200,
      description:
        'The bytes: image/png, image/jpeg or image/webp when their first bytes are one, else application/octet-stream; with thumbnail, a small PNG',
      binary: true,
    },
    handle: async (ctx, { params, query }) => {
      const file = await assertFileInVersion(
        ctx.db,
        ctx.principal.orgId,
        params.versionId,
        params.sha256,
      );
      const { stream, size } = await ctx.store.open(params.sha256);
      const path = ctx.store.pathOf(params.sha256);
      const type = imageTypeOf(await headOf(path));
      // A file of a few KiB (a 28 px digit) is its own thumbnail: it is sent as it is, not
      // enlarged; a photo is decoded and cut down to a small PNG.
      if (query.thumbnail !== undefined && size > THUMBNAIL_AS_IS_BYTES) {
        stream.destroy();
        if (type === 'application/octet-stream')
          throw new AppError(
            'BAD_REQUEST',
            `thumbnail: ${file.relpath} is not a PNG, JPEG or WebP`,
          );
        const n = query.thumbnail;
        const pixels = await decodeImage(
          await readFile(path),
          n,
          'center-crop',
          DEFAULT_LIMITS,
        ).catch((err: Error) => {
          throw new AppError('BAD_REQUEST', `thumbnail: ${file.relpath}: ${err.message}`);
        });
        const png = encodePng(pixels, n, n, 3);
        return { stream: Readable.from([png]), size: png.length, contentType: 'image/png' };
      }
      return {
        stream,
        size,
        // An image opens in the tab (a thumbnail's link) instead of downloading.
        contentType: type,
        filename: file.relpath.split('/').pop(),
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/dataset-versions/{versionId}/dvc/files/md5/{prefix}/{object}',
    access: { role: 'viewer', agent: 'read-leased-dataset-version' },
    tag: 'datasets',
    summary:
      "The version as a DVC 3 HTTP remote (remote URL: /api/v1/dataset-versions/{versionId}/dvc): a file by md5, or the version's .dir manifest; GET and HEAD",
    params: z.object({ versionId: z.uuid(), prefix: z.string(), object: z.string() }),
    response: { status: 200, description: 'The bytes DVC stores under that md5', binary: true },
    handle: async (ctx, { params }) => {
      const name = `${params.prefix}${params.object}`;
      const missing = () =>
        new AppError('NOT_FOUND', `md5: dataset version ${params.versionId} has no object ${name}`);
      if (params.prefix.length !== 2 || !/^[0-9a-f]{32}(\.dir)?$/.test(name)) throw missing();
      const { manifest } = await getDatasetVersion(ctx.db, ctx.principal.orgId, params.versionId);
      if (name.endsWith('.dir')) {
        // Built from the manifest as DVC builds it (json.dumps of the sorted entries).
        const dir = dvcDirObject(manifest.files.map((f) => ({ md5: f.md5, relpath: f.relpath })));
        if (dir.md5 !== name) throw missing();
        const bytes = Buffer.from(dir.json, 'utf8');
        return {
          stream: Readable.from([bytes]),
          size: bytes.length,
          contentType: 'application/json',
        };
      }
      const file = manifest.files.find((f) => f.md5 === name);
      if (!file) throw missing();
      const { stream, size } = await ctx.store.open(file.sha256);
      return { stream, size, contentType: 'application/octet-stream' };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/datasets/{name}/dvc/files/md5/{prefix}/{object}',
    access: { role: 'editor', agent: 'none' },
    tag: 'datasets',
    summary:
      'dvc push into Anneal (remote URL: /api/v1/projects/{projectId}/datasets/{name}/dvc): an object by md5; the .dir object, sent after its files, makes them a version',
    params: z.object({
      projectId: z.uuid(),
      name: datasetNameSchema,
      prefix: z.string(),
      object: z.string(),
    }),
    body: 'stream',
    bodyTypes: ['application/octet-stream'],
    response: {
      status: 200,
      description: 'The object stored; for a .dir, the version it made',
      schema: z.object({ stored: z.string(), version: z.unknown() }),
    },
    handle: async (ctx, { params, body }) => {
      const name = dvcObjectName(params.prefix, params.object);
      await getProject(ctx.db, ctx.principal.orgId, params.projectId);
      if (!name)
        throw new AppError(
          'BAD_REQUEST',
          `path: ${params.prefix}/${params.object} is not files/md5/<2>/<30>`,
        );
      return {
        json: await receiveDvcObject(
          ctx.db,
          ctx.store,
          ctx.principal,
          params.projectId,
          params.name,
          name,
          body,
          ctx.config.uploadLimit,
        ),
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/datasets/{name}/dvc/files/md5/{prefix}/{object}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'datasets',
    summary: 'What `dvc push` asks first (HEAD): whether an object is already staged',
    params: z.object({
      projectId: z.uuid(),
      name: datasetNameSchema,
      prefix: z.string(),
      object: z.string(),
    }),
    response: { status: 200, description: 'The staged bytes', binary: true },
    handle: async (ctx, { params }) => {
      await getProject(ctx.db, ctx.principal.orgId, params.projectId);
      const name = dvcObjectName(params.prefix, params.object);
      const staged =
        name && (await stagedDvcObject(ctx.store, params.projectId, params.name, name));
      if (!staged)
        throw new AppError(
          'NOT_FOUND',
          `md5: ${params.prefix}${params.object} is not staged for ${params.name}`,
        );
      return {
        stream: createReadStream(staged.path),
        size: staged.size,
        contentType: 'application/octet-stream',
      };
    },
  }),
];
