import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, isAppError } from '@anneal/core';
import { zipEntryName } from '@anneal/datasets/intake';
import busboy from 'busboy';
import yauzl from 'yauzl';
import { type BlobStore, ByteBudget } from '../artifacts/blob-store.ts';

/** One uploaded file, held in the upload's staging folder until it is screened. */
export interface StagedFile {
  /** Its relative path as the client named it (checked later, not here). */
  path: string;
  /** Where its bytes are: inside the blob store's tmp folder, so adopting it is a rename. */
  tmp: string;
  size: number;
}

/**
 * An upload received but not yet stored: nothing reaches the blob store until every image
 * has been decoded, so refused files (and everything, under `strict`) leave no trace.
 * `dispose` removes whatever was not adopted.
 */
export interface StagedUpload {
  files: StagedFile[];
  dispose(): Promise<void>;
}

/** Operating-system litter that is never part of a dataset. */
function isJunk(path: string): boolean {
  return (
    path.startsWith('__MACOSX/') ||
    path.split('/').some((p) => p === '.DS_Store' || p === 'Thumbs.db')
  );
}

/** A staging folder under the store's tmp folder, and a writer of numbered files into it. */
async function stagingArea(store: BlobStore, limit: number) {
  const dir = join(store.root, 'tmp', `dataset-${randomBytes(8).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  // The budget caps the expanded size too, so a zip bomb stops at the upload limit.
  const budget = new ByteBudget(limit);
  let next = 0;
  return {
    dir,
    async stage(path: string, source: Readable): Promise<StagedFile> {
      const tmp = join(dir, String(next++));
      let size = 0;
      await pipeline(
        source,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length;
            budget.take(chunk.length);
            yield chunk;
          }
        },
        createWriteStream(tmp, { mode: 0o644 }),
      );
      return { path, tmp, size };
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Receives an uploaded dataset into a staging folder: a zip body (`application/zip`) or a
 * multipart form of files whose names carry their relative paths (a browser folder
 * upload). Nothing is screened, stored or recorded here.
 */
export async function receiveDatasetUpload(
  req: IncomingMessage,
  store: BlobStore,
  limit: number,
): Promise<StagedUpload> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  const zip = type === 'application/zip' || type === 'application/x-zip-compressed';
  if (!zip && type !== 'multipart/form-data')
    throw new AppError(
      'BAD_REQUEST',
      'Content-Type: send application/zip or multipart/form-data files',
    );
  const area = await stagingArea(store, limit);
  try {
    const files = zip
      ? await receiveZip(req, store, limit, area.stage)
      : await receiveMultipart(req, area.stage);
    return { files, dispose: area.dispose };
  } catch (err) {
    await area.dispose();
    throw err;
  }
}

type Stage = (path: string, source: Readable) => Promise<StagedFile>;

async function receiveZip(req: IncomingMessage, store: BlobStore, limit: number, stage: Stage) {
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
    return await extractZip(zipPath, stage);
  } finally {
    await rm(zipPath, { force: true });
  }
}

function extractZip(zipPath: string, stage: Stage): Promise<StagedFile[]> {
  return new Promise((resolve, reject) => {
    // Names are decoded here (zipEntryName), not by yauzl: it reads every name without the
    // UTF-8 flag as CP437, which turns the UTF-8 names most zippers write into mojibake.
    yauzl.open(zipPath, { lazyEntries: true, decodeStrings: false }, (err, zip) => {
      if (err || !zip)
        return reject(new AppError('BAD_REQUEST', `body: not a readable zip (${err?.message})`));
      const files: StagedFile[] = [];
      const fail = (e: unknown) => {
        zip.close();
        reject(e);
      };
      zip.on('error', (e: Error) =>
        fail(new AppError('BAD_REQUEST', `body: broken zip (${e.message})`)),
      );
      zip.on('end', () => resolve(files));
      zip.on('entry', (entry: yauzl.Entry) => {
        const name = zipEntryName(
          entry.fileName as unknown as Buffer, // a Buffer with decodeStrings: false
          entry.generalPurposeBitFlag,
          entry.extraFields,
        ).replace(/^(\.\/)+/, '');
        if (name.endsWith('/') || isJunk(name)) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream)
            return fail(
              new AppError('BAD_REQUEST', `body: cannot read "${name}" in the zip (${e?.message})`),
            );
          stage(name, stream).then(
            (file) => {
              files.push(file);
              zip.readEntry();
            },
            // Inflate errors and sizes that disagree with the directory are the zip's fault;
            // the upload limit (an AppError) keeps its own answer.
            (e: unknown) =>
              fail(
                isAppError(e)
                  ? e
                  : new AppError(
                      'BAD_REQUEST',
                      `body: cannot read "${name}" in the zip (${(e as Error).message})`,
                    ),
              ),
          );
        });
      });
      zip.readEntry();
    });
  });
}

function receiveMultipart(req: IncomingMessage, stage: Stage): Promise<StagedFile[]> {
  return new Promise((resolve, reject) => {
    const files: StagedFile[] = [];
    const pending: Promise<void>[] = [];
    let failed = false;
    let parser: busboy.Busboy;
    try {
      // preservePath: a folder upload names each file by its path relative to the folder.
      // Browsers send file names as UTF-8 (HTML's multipart/form-data encoding); busboy
      // would read them as latin1 (`é` as `Ã©`) unless told.
      parser = busboy({ headers: req.headers, preservePath: true, defParamCharset: 'utf8' });
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
        stage(path, stream).then(
          (file) => {
            files.push(file);
          },
          // A body cut off inside a file fails its stream; the upload limit keeps its answer.
          (err: unknown) =>
            fail(
              isAppError(err)
                ? err
                : new AppError(
                    'BAD_REQUEST',
                    `body: cannot read "${path}" (${(err as Error).message})`,
                  ),
            ),
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
