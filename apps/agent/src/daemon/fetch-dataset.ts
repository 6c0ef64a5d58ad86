import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadable } from 'node:stream/web';
import { AppError } from '@anneal/core/errors';
import {
  contentHash,
  type DatasetManifest,
  datasetManifestSchema,
  dvcDirObject,
  type ManifestFile,
} from '@anneal/datasets/hash';
import type { VersionRef } from '@anneal/datasets/ref';
import { getVersion, objectPath, putVersion } from '@anneal/datasets/store';
import type { ServerApi } from './http.ts';

/** Files downloaded at once: enough to hide latency, few enough not to flood the server. */
const CONCURRENCY = 4;

export interface FetchReport {
  /** Files downloaded now. */
  fetched: number;
  /** Files already in the cache, verified by their sha256. */
  cached: number;
  /** Cached files whose bytes no longer matched their sha256, so they were fetched again. */
  replaced: string[];
}

/** sha256 and size of a file on disk, or null when it is not there. */
async function digestOnDisk(path: string): Promise<{ sha256: string; size: number } | null> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.byteLength;
    }
  } catch {
    return null;
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Makes a control-plane dataset version available to `materialize` under `home`, exactly as
 * a local folder import would leave it: each file content-addressed in the store, then the
 * version's manifest. Files are fetched by sha256, every byte is hashed on the way in and
 * written under a temporary name that is renamed into place only when size and sha256
 * match; a cached file that does not hash to its name is fetched again, never used.
 */
export async function fetchDatasetVersion(
  api: ServerApi,
  ref: VersionRef,
  home: string,
): Promise<FetchReport> {
  const manifest = await fetchManifest(api, ref);
  const report: FetchReport = { fetched: 0, cached: 0, replaced: [] };
  const queue = [...manifest.files];
  const errors: Error[] = [];
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      try {
        const path = objectPath(home, file.sha256);
        const onDisk = await digestOnDisk(path);
        if (onDisk?.sha256 === file.sha256) {
          report.cached++;
          continue;
        }
        if (onDisk) report.replaced.push(file.relpath);
        await downloadFile(api, ref, file, path);
        report.fetched++;
      } catch (err) {
        errors.push(err as Error);
      }
    }
  };
  // Every worker finishes before an error is thrown, so no download outlives the call.
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (errors.length > 0) throw errors[0];
  const dvc = dvcDirObject(manifest.files.map((f) => ({ md5: f.md5, relpath: f.relpath })));
  await putVersion(home, ref.hash, manifest, dvc.json);
  // Read back the way materialize will, so a bad store fails here, naming the version.
  await getVersion(home, ref.hash);
  return report;
}

async function fetchManifest(api: ServerApi, ref: VersionRef): Promise<DatasetManifest> {
  const res = await api.get(`/dataset-versions/${encodeURIComponent(ref.id)}`);
  const body = (await res.json()) as { manifest?: unknown };
  const parsed = datasetManifestSchema.safeParse(body.manifest);
  if (!parsed.success) {
    throw new AppError(
      'INTERNAL',
      `dataset version ${ref.id}: the server's manifest is not valid: ${parsed.error.message}`,
    );
  }
  const actual = contentHash(parsed.data);
  if (actual !== ref.hash) {
    throw new AppError(
      'CONFLICT',
      `dataset version ${ref.id}: the server's manifest hashes to ${actual}, the job names ${ref.hash}`,
    );
  }
  return parsed.data;
}

async function downloadFile(
  api: ServerApi,
  ref: VersionRef,
  file: ManifestFile,
  path: string,
): Promise<void> {
  const where = `dataset version ${ref.id} file "${file.relpath}"`;
  const res = await api.get(
    `/dataset-versions/${encodeURIComponent(ref.id)}/files/${file.sha256}`,
    {
      // Big files take longer than a JSON call; a stalled one still fails, not hangs.
      timeoutMs: 10 * 60_000,
    },
  );
  if (!res.body) throw new AppError('INTERNAL', `${where}: the server sent no body`);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      Readable.fromWeb(res.body as WebReadable),
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.byteLength;
          if (size > file.size) {
            done(
              new AppError(
                'INTERNAL',
                `${where}: the download is longer than the ${file.size} bytes the manifest lists`,
              ),
            );
            return;
          }
          hash.update(chunk);
          done(null, chunk);
        },
      }),
      createWriteStream(tmp, { flags: 'wx' }),
    );
    const sha256 = hash.digest('hex');
    if (size !== file.size || sha256 !== file.sha256) {
      throw new AppError(
        'INTERNAL',
        `${where}: downloaded ${size} bytes with sha256 ${sha256}, expected ${file.size} bytes with sha256 ${file.sha256}; the file was not used`,
      );
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof AppError) throw err;
    throw new AppError('INTERNAL', `${where}: download failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
