import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@anneal/core';
import { dvcDirObject } from '@anneal/datasets/hash';
import type { Db } from '@anneal/db/client';
import { type BlobStore, ByteBudget } from '../artifacts/blob-store.ts';
import { getProject } from '../projects/projects.ts';
import { createDatasetVersion, splitOptionsSchema } from './versions.ts';

/**
 * `dvc push` into Anneal: a dataset is a DVC 3 HTTP remote that takes objects by POST
 * (`files/md5/<2>/<30>`, checked against their md5) into a staging folder. DVC sends a
 * folder's `.dir` object after its files; when it arrives, the files it names become a
 * dataset version (screened as any upload, strictly), whose DVC md5 is the pushed one.
 */
export function dvcObjectName(prefix: string, object: string): string | null {
  const name = `${prefix}${object}`;
  return prefix.length === 2 && /^[0-9a-f]{32}(\.dir)?$/.test(name) ? name : null;
}

function stagingDir(store: BlobStore, projectId: string, dataset: string): string {
  return join(store.root, 'tmp', 'dvc-push', projectId, dataset);
}

export async function stagedDvcObject(
  store: BlobStore,
  projectId: string,
  dataset: string,
  name: string,
) {
  const path = join(stagingDir(store, projectId, dataset), name);
  try {
    return { path, size: (await stat(path)).size };
  } catch {
    return null;
  }
}

const IMAGE = /\.(png|jpe?g|webp)$/i;

export async function receiveDvcObject(
  db: Db,
  store: BlobStore,
  who: { orgId: string; userId: string },
  projectId: string,
  dataset: string,
  name: string,
  body: IncomingMessage,
  limit: number,
) {
  await getProject(db, who.orgId, projectId);
  const dir = stagingDir(store, projectId, dataset);
  await mkdir(dir, { recursive: true });
  const part = join(dir, `${name}.${randomBytes(6).toString('hex')}.part`);
  const md5 = createHash('md5');
  const budget = new ByteBudget(limit);
  try {
    await pipeline(
      body,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          budget.take(chunk.length);
          md5.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(part, { mode: 0o644 }),
    );
    const got = md5.digest('hex');
    if (got !== name.replace(/\.dir$/, ''))
      throw new AppError('BAD_REQUEST', `md5: the body hashes to ${got}, not ${name}`);
    await rename(part, join(dir, name));
  } finally {
    await rm(part, { force: true });
  }
  if (!name.endsWith('.dir')) return { stored: name, version: null };
  return {
    stored: name,
    version: await versionFromDir(db, store, who, projectId, dataset, dir, name),
  };
}

async function versionFromDir(
  db: Db,
  store: BlobStore,
  who: { orgId: string; userId: string },
  projectId: string,
  dataset: string,
  dir: string,
  name: string,
) {
  const text = await readFile(join(dir, name), 'utf8');
  let entries: { md5: string; relpath: string }[];
  try {
    entries = JSON.parse(text);
    if (!Array.isArray(entries)) throw new Error('not a list');
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${name}: not a DVC .dir object (${(err as Error).message})`);
  }
  let canonical: string;
  try {
    canonical = dvcDirObject(entries).json;
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${name}: ${(err as Error).message}`);
  }
  if (canonical !== text)
    throw new AppError('BAD_REQUEST', `${name}: not in DVC's own .dir form (sorted, json.dumps)`);
  const notImages = entries.filter((e) => !IMAGE.test(e.relpath)).map((e) => e.relpath);
  if (notImages.length)
    throw new AppError(
      'BAD_REQUEST',
      `${name}: a dataset version holds PNG, JPEG and WebP images only, and ${notImages.length} files are not (${notImages.slice(0, 5).join(', ')})`,
    );
  const tops = new Set(
    entries.map((e) => (e.relpath.includes('/') ? e.relpath.split('/')[0] : '')),
  );
  if (tops.size === 1 && !tops.has('') && entries.every((e) => e.relpath.split('/').length > 2))
    throw new AppError(
      'BAD_REQUEST',
      `${name}: every file sits under one folder "${[...tops][0]}/", which an upload strips as a wrapper; \`dvc add\` that folder instead`,
    );
  const missing = [];
  for (const e of entries)
    if (!(await stagedDvcObject(store, projectId, dataset, e.md5))) missing.push(e.relpath);
  if (missing.length)
    throw new AppError(
      'BAD_REQUEST',
      `${name}: ${missing.length} files it names were not pushed (${missing.slice(0, 5).join(', ')})`,
    );
  // Each file of the version gets its own staged name (two paths may share content).
  const vdir = join(store.root, 'tmp', `dataset-${randomBytes(8).toString('hex')}`);
  await mkdir(vdir, { recursive: true });
  try {
    const files = [];
    for (const [i, e] of entries.entries()) {
      const tmp = join(vdir, String(i));
      const from = join(dir, e.md5);
      await link(from, tmp).catch(() => copyFile(from, tmp));
      files.push({ path: e.relpath, tmp, size: (await stat(tmp)).size });
    }
    const version = await createDatasetVersion(
      db,
      store,
      who.orgId,
      who.userId,
      projectId,
      dataset,
      { files, dispose: async () => {} },
      splitOptionsSchema.parse({ strict: 'true' }),
    );
    if (version.dvcMd5 !== name)
      throw new AppError(
        'INTERNAL',
        `the version's DVC md5 ${version.dvcMd5} is not the pushed ${name}`,
      );
    for (const e of entries) await rm(join(dir, e.md5), { force: true });
    await rm(join(dir, name), { force: true });
    return version;
  } finally {
    await rm(vdir, { recursive: true, force: true });
  }
}
