import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@anneal/core';
import busboy from 'busboy';
import yauzl from 'yauzl';
import { type BlobStore, ByteBudget } from '../artifacts/blob-store.ts';

/** One uploaded file, already in the blob store under its sha256. */
export interface HashedFile {
  path: string;
  sha256: string;
  md5: string;
  size: number;
}

/** Operating-system litter that is never part of a dataset. */
function isJunk(path: string): boolean {
  return (
    path.startsWith('__MACOSX/') ||
    path.split('/').some((p) => p === '.DS_Store' || p === 'Thumbs.db')
  );
}

/** A zip of a folder has one top folder; its files belong at the dataset's root. */
function stripCommonRoot(files: HashedFile[]): HashedFile[] {
  const tops = new Set(files.map((f) => (f.path.includes('/') ? f.path.split('/')[0] : '')));
  if (tops.size !== 1 || tops.has('')) return files;
  const [top] = tops;
  const stripped = files.map((f) => ({ ...f, path: f.path.slice(`${top}/`.length) }));
  // Keep the folder when it is the only level: labels come from parent folders.
  return stripped.every((f) => f.path.includes('/')) ? stripped : files;
}

/**
 * Streams an uploaded dataset into the blob store: a zip body (`application/zip`) or a
 * multipart form of files whose names carry their relative paths (a browser folder
 * upload). Returns the hashed files; nothing is recorded in the database here.
 */
export async function receiveDatasetUpload(
  req: IncomingMessage,
  store: BlobStore,
  limit: number,
): Promise<HashedFile[]> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/zip' || type === 'application/x-zip-compressed')
    return stripCommonRoot(await receiveZip(req, store, limit));
  if (type === 'multipart/form-data')
    return stripCommonRoot(await receiveMultipart(req, store, limit));
  throw new AppError(
    'BAD_REQUEST',
    'Content-Type: send application/zip or multipart/form-data files',
  );
}

async function receiveZip(req: IncomingMessage, store: BlobStore, limit: number) {
  const tmpDir = join(store.root, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  const zipPath = join(tmpDir, `upload-${randomBytes(8).toString('hex')}.zip`);
  let size = 0;
  try {
    await pipeline(
      req,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          size += chunk.length;
          if (size > limit)
            throw new AppError('PAYLOAD_TOO_LARGE', `upload exceeds the limit of ${limit} bytes`);
          yield chunk;
        }
      },
      createWriteStream(zipPath),
    );
    return await extractZip(zipPath, store, limit);
  } finally {
    await rm(zipPath, { force: true });
  }
}

function extractZip(zipPath: string, store: BlobStore, limit: number): Promise<HashedFile[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true, strictFileNames: true }, (err, zip) => {
      if (err || !zip)
        return reject(new AppError('BAD_REQUEST', `body: not a readable zip (${err?.message})`));
      const files: HashedFile[] = [];
      const budget = new ByteBudget(limit);
      const fail = (e: unknown) => {
        zip.close();
        reject(e);
      };
      zip.on('error', (e: Error) =>
        fail(new AppError('BAD_REQUEST', `body: broken zip (${e.message})`)),
      );
      zip.on('end', () => resolve(files));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/') || isJunk(entry.fileName)) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream)
            return fail(new AppError('BAD_REQUEST', `body: cannot read ${entry.fileName}`));
          // The budget caps the expanded size too, so a zip bomb stops at the upload limit.
          store.put(stream, budget).then((blob) => {
            files.push({ path: entry.fileName, ...blob });
            zip.readEntry();
          }, fail);
        });
      });
      zip.readEntry();
    });
  });
}

function receiveMultipart(
  req: IncomingMessage,
  store: BlobStore,
  limit: number,
): Promise<HashedFile[]> {
  return new Promise((resolve, reject) => {
    const files: HashedFile[] = [];
    const pending: Promise<void>[] = [];
    const budget = new ByteBudget(limit);
    let failed = false;
    let parser: busboy.Busboy;
    try {
      // preservePath: a folder upload names each file by its path relative to the folder.
      parser = busboy({ headers: req.headers, preservePath: true });
    } catch (err) {
      return reject(new AppError('BAD_REQUEST', `body: ${(err as Error).message}`));
    }
    // First failure answers at once; the rest of the body is drained, not parsed.
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.unpipe(parser);
      req.resume();
      reject(err);
    };
    parser.on('file', (_field, stream, info) => {
      const path = (info.filename ?? '').replace(/^\.\/+/, '');
      if (failed || !path || isJunk(path)) {
        stream.resume();
        return;
      }
      pending.push(
        store.put(stream, budget).then(
          (blob) => {
            files.push({ path, ...blob });
          },
          (err) => fail(err),
        ),
      );
    });
    parser.on('error', (err: Error) => fail(new AppError('BAD_REQUEST', `body: ${err.message}`)));
    parser.on('close', () => {
      Promise.all(pending).then(() => {
        if (!failed) resolve(files);
      }, fail);
    });
    req.pipe(parser);
  });
}
