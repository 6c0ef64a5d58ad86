import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadable } from 'node:stream/web';
import type { ArtifactRef } from '@anneal/protocol';

/** The REST API as the agent uses it: artifact bytes go here, never over the socket. */
export class ServerApi {
  constructor(
    readonly url: string,
    readonly token: string,
    /** Aborts every request of this client (a job stopped while it fetches its inputs). */
    readonly signal?: AbortSignal,
  ) {}

  /** The same client, whose requests also end when `signal` aborts. */
  withSignal(signal: AbortSignal): ServerApi {
    return new ServerApi(this.url, this.token, signal);
  }

  /** A request's signal: its timeout, and this client's abort if it has one. */
  requestSignal(timeoutMs = 30_000): AbortSignal {
    const timeout = AbortSignal.timeout(timeoutMs);
    return this.signal ? AbortSignal.any([timeout, this.signal]) : timeout;
  }

  async #fetch(path: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<Response> {
    const res = await fetch(`${this.url.replace(/\/$/, '')}/api/v1${path}`, {
      // A request caught by a server restart must fail, not hang the job's upload queue.
      signal: this.requestSignal(timeoutMs),
      ...init,
      headers: { authorization: `Bearer ${this.token}`, ...(init.headers ?? {}) },
    });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new Error(`${init.method ?? 'GET'} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    }
    return res;
  }

  /** A GET under /api/v1 that throws on any status but 2xx, with the server's message. */
  get(path: string, options: { timeoutMs?: number } = {}): Promise<Response> {
    return this.#fetch(path, {}, options.timeoutMs);
  }

  /** Uploads a file content-addressed; the server checks the digest it is told. */
  async putArtifact(runId: string, path: string, file: string): Promise<ArtifactRef> {
    const bytes = readFileSync(file);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await this.#fetch(
      `/runs/${runId}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'x-anneal-sha256': sha256 },
        body: bytes,
      },
    );
    return { path, sha256, size: bytes.length };
  }

  /** Uploads one generated image to a deployment's image store (content-addressed). */
  async putImage(deploymentId: string, bytes: Buffer): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await this.#fetch(`/deployments/${deploymentId}/images`, {
      method: 'PUT',
      headers: { 'content-type': 'image/png', 'x-anneal-sha256': sha256 },
      body: bytes,
    });
    return { sha256, size: bytes.length };
  }

  async getArtifact(runId: string, ref: ArtifactRef, file: string): Promise<void> {
    const res = await this.#fetch(
      `/runs/${runId}/artifacts/${ref.path.split('/').map(encodeURIComponent).join('/')}`,
    );
    if (!res.body) throw new Error(`${ref.path}: empty body`);
    await pipeline(Readable.fromWeb(res.body as WebReadable), createWriteStream(file));
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (sha256 !== ref.sha256)
      throw new Error(`${ref.path}: sha256 ${sha256}, expected ${ref.sha256}`);
  }
}
