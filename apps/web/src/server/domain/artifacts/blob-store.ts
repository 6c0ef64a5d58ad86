import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@anneal/core';

export const SHA256_RE = /^[a-f0-9]{64}$/;

/**
 * Bytes one request may still write. Shared by every file of a multi-file upload, so
 * concurrent files cannot each use the whole limit.
 */
export class ByteBudget {
  #used = 0;
  constructor(readonly limit: number) {}

  take(n: number): void {
    this.#used += n;
    if (this.#used > this.limit)
      throw new AppError('PAYLOAD_TOO_LARGE', `upload exceeds the limit of ${this.limit} bytes`);
  }
}

export interface StoredBlob {
  sha256: string;
  md5: string;
  size: number;
}

/**
 * Content-addressed bytes under `<ANNEAL_HOME>/artifacts/sha256/ab/abcd...`. Uploads stream
 * to a temporary name while hashing and move into place only when complete, so a reader
 * never sees half a file; a path is built only from a validated hex digest, so no caller
 * string ever reaches the filesystem.
 */
export class BlobStore {
  constructor(readonly root: string) {}

  pathOf(sha256: string): string {
    if (!SHA256_RE.test(sha256))
      throw new AppError('BAD_REQUEST', `sha256: not a sha256 hex digest`);
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  has(sha256: string): boolean {
    return SHA256_RE.test(sha256) && existsSync(this.pathOf(sha256));
  }

  async put(
    source: Readable,
    limit: number | ByteBudget,
    expectedSha256?: string,
  ): Promise<StoredBlob> {
    const budget = typeof limit === 'number' ? new ByteBudget(limit) : limit;
    const tmpDir = join(this.root, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const sha = createHash('sha256');
    const md5 = createHash('md5');
    let size = 0;
    try {
      await pipeline(
        source,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length;
            budget.take(chunk.length);
            sha.update(chunk);
            md5.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp, { mode: 0o644 }),
      );
      const digest = sha.digest('hex');
      if (expectedSha256 && expectedSha256 !== digest)
        throw new AppError(
          'BAD_REQUEST',
          `sha256: the body hashes to ${digest}, not ${expectedSha256}`,
        );
      const final = this.pathOf(digest);
      await mkdir(join(final, '..'), { recursive: true });
      await rename(tmp, final);
      return { sha256: digest, md5: md5.digest('hex'), size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Moves a file the caller has already hashed into place by rename. The file must be under
   * `root` (a staging folder in tmp/) and must not change after it was hashed.
   */
  async adopt(path: string, sha256: string): Promise<void> {
    const final = this.pathOf(sha256);
    await mkdir(join(final, '..'), { recursive: true });
    await rename(path, final);
  }

  async open(sha256: string): Promise<{ stream: Readable; size: number }> {
    const path = this.pathOf(sha256);
    const info = await stat(path).catch(() => null);
    if (!info) throw new AppError('NOT_FOUND', `sha256: no stored bytes for ${sha256}`);
    return { stream: createReadStream(path), size: info.size };
  }
}
