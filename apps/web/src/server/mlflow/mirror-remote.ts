import { mirrorDestinationProblem } from './mirror-guard.ts';

/** Why a pass stopped: the MLflow server unreachable, or an answer that is not a success. */
export class MirrorError extends Error {
  constructor(
    message: string,
    readonly errorCode?: string,
    readonly status?: number,
  ) {
    super(message);
  }

  /**
   * MLflow answered and refused this one write (a 4xx other than auth and rate limits): the
   * pass records it against the run and goes on; anything else stops the pass.
   */
  get refused(): boolean {
    const s = this.status ?? 0;
    return s >= 400 && s < 500 && ![401, 403, 408, 429].includes(s);
  }
}

/** The most of an MLflow answer the mirror reads; its answers are small JSON documents. */
export const MIRROR_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** MLflow's error codes are upper-case words; anything else from the remote is not repeated. */
const errorCodeOf = (v: unknown) =>
  typeof v === 'string' && /^[A-Z][A-Z_]{0,63}$/.test(v) ? v : undefined;

/**
 * A client of a real MLflow server's REST API (the same one Anneal serves). The server is
 * the project owner's choice, so the client trusts it with nothing: the destination is
 * checked (mirror-guard) before the first request, redirects are refused, answers are read
 * up to MIRROR_MAX_RESPONSE_BYTES, and an error keeps only the status and MLflow's
 * error code, never the remote body (it would show in lastError, a read-back channel).
 */
export class MlflowRemote {
  readonly base: string;
  private checked: Promise<void> | null = null;
  constructor(
    url: string,
    private readonly token: string | null,
    private readonly signal?: AbortSignal,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  private headers(json: boolean): Record<string, string> {
    return {
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...(json ? { 'content-type': 'application/json' } : {}),
    };
  }

  private check(): Promise<void> {
    this.checked ??= mirrorDestinationProblem(this.base).then((problem) => {
      if (problem) throw new MirrorError(`mirror URL refused: ${problem}`);
    });
    return this.checked;
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    await this.check();
    const timeout = AbortSignal.timeout(60_000);
    try {
      return await fetch(url, {
        ...init,
        redirect: 'error',
        signal: this.signal ? AbortSignal.any([timeout, this.signal]) : timeout,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new MirrorError(
        `cannot reach the MLflow server at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
  }

  /** The body, or a MirrorError past the cap (read in pieces, so a huge answer is never held). */
  private async read(res: Response, what: string): Promise<string> {
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MIRROR_MAX_RESPONSE_BYTES) {
      await res.body?.cancel();
      throw new MirrorError(`${what}: answer of ${declared} bytes is over the mirror's cap`);
    }
    if (!res.body) return '';
    const parts: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += part.byteLength;
        if (size > MIRROR_MAX_RESPONSE_BYTES) {
          await res.body.cancel().catch(() => {});
          throw new MirrorError(
            `${what}: answer over the mirror's cap of ${MIRROR_MAX_RESPONSE_BYTES} bytes`,
          );
        }
        parts.push(part);
      }
    } catch (err) {
      if (err instanceof MirrorError) throw err;
      throw new MirrorError(`${what}: the answer broke off`);
    }
    return Buffer.concat(parts).toString('utf8');
  }

  async call<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body: object,
  ): Promise<T> {
    const url = new URL(`${this.base}/api/2.0/mlflow/${path}`);
    if (method === 'GET')
      for (const [k, v] of Object.entries(body)) url.searchParams.set(k, String(v));
    const res = await this.send(url.toString(), {
      method,
      headers: this.headers(method !== 'GET'),
      body: method === 'GET' ? undefined : JSON.stringify(body),
    });
    const text = await this.read(res, `MLflow ${method} ${path}`);
    let json: Record<string, unknown> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {}
    if (!res.ok) {
      const code = errorCodeOf(json.error_code);
      throw new MirrorError(
        `MLflow ${method} ${path}: ${res.status} ${code ?? ''}`.trim(),
        code,
        res.status,
      );
    }
    return json as T;
  }

  /** Uploads through the server's mlflow-artifacts proxy; null when the run's store is elsewhere. */
  artifactUrl(artifactUri: string, path: string): string | null {
    const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
    if (!m) return null;
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    return `${this.base}/api/2.0/mlflow-artifacts/artifacts/${m[1]}/${encoded}`;
  }

  async put(url: string, bytes: Uint8Array, contentType: string, what: string): Promise<void> {
    const res = await this.send(url, {
      method: 'PUT',
      headers: { ...this.headers(false), 'content-type': contentType },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    await this.read(res, `MLflow PUT artifact ${what}`);
    if (!res.ok)
      throw new MirrorError(`MLflow PUT artifact ${what}: ${res.status}`, undefined, res.status);
  }
}
