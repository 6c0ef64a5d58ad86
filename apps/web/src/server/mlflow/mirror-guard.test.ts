import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../testing/harness.ts';
import {
  isInternalAddress,
  MIRROR_HOSTS_ENV,
  mirrorAllowlist,
  mirrorDestinationProblem,
  mirrorUrlProblem,
} from './mirror-guard.ts';
import { MIRROR_MAX_RESPONSE_BYTES, MirrorError, MlflowRemote } from './mirror-remote.ts';

describe('where the MLflow mirror may send', () => {
  it('knows the internal addresses', () => {
    for (const a of [
      '127.0.0.1',
      '127.1.2.3',
      '10.0.0.5',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::',
      '::1',
      'fe80::1',
      'fd00::1',
      'fc12::1',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
      'not-an-address',
    ])
      expect(isInternalAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '2001:4860:4860::8888', '1.1.1.1'])
      expect(isInternalAddress(a), a).toBe(false);
  });

  it('refuses a query, a fragment, credentials and other schemes in the URL', () => {
    expect(mirrorUrlProblem('https://mlflow.example.com')).toBeNull();
    expect(mirrorUrlProblem('https://mlflow.example.com/?x=1')).toMatch(/no query/);
    expect(mirrorUrlProblem('https://mlflow.example.com/?')).toMatch(/no query/);
    expect(mirrorUrlProblem('https://mlflow.example.com/#a')).toMatch(/no fragment/);
    expect(mirrorUrlProblem('https://u:p@mlflow.example.com')).toMatch(/credentials/);
    expect(mirrorUrlProblem('file:///etc/passwd')).toMatch(/http or https/);
    expect(mirrorUrlProblem('nonsense')).toMatch(/not a URL/);
  });

  it('refuses a name that resolves to an internal address, unless allowlisted', async () => {
    const dns = (table: Record<string, string[]>) => async (host: string) => {
      const found = table[host];
      if (!found) throw Object.assign(new Error('no'), { code: 'ENOTFOUND' });
      return found;
    };
    const resolve = dns({
      'metadata.example': ['169.254.169.254'],
      'mixed.example': ['8.8.8.8', '10.0.0.1'],
      'public.example': ['8.8.8.8'],
      'v6.example': ['fe80::1'],
    });
    const none = new Set<string>();
    expect(await mirrorDestinationProblem('http://metadata.example', none, resolve)).toMatch(
      /resolves to 169\.254\.169\.254, an internal address; .*ANNEAL_MLFLOW_MIRROR_HOSTS=metadata\.example:80/,
    );
    expect(await mirrorDestinationProblem('http://mixed.example', none, resolve)).toMatch(
      /10\.0\.0\.1/,
    );
    expect(await mirrorDestinationProblem('http://v6.example', none, resolve)).toMatch(/fe80::1/);
    expect(await mirrorDestinationProblem('http://127.0.0.1:5000', none, resolve)).toMatch(
      /127\.0\.0\.1, an internal address/,
    );
    expect(await mirrorDestinationProblem('http://[::1]:5000', none, resolve)).toMatch(/::1/);
    expect(await mirrorDestinationProblem('http://gone.example', none, resolve)).toMatch(
      /cannot resolve gone\.example: ENOTFOUND/,
    );
    expect(await mirrorDestinationProblem('https://public.example', none, resolve)).toBeNull();

    const allow = mirrorAllowlist({ [MIRROR_HOSTS_ENV]: ' 127.0.0.1:5000 , Metadata.example' });
    expect(await mirrorDestinationProblem('http://127.0.0.1:5000', allow, resolve)).toBeNull();
    expect(await mirrorDestinationProblem('http://127.0.0.1:5001', allow, resolve)).toMatch(
      /internal/,
    );
    expect(
      await mirrorDestinationProblem('http://metadata.example:8080', allow, resolve),
    ).toBeNull();
    expect(await mirrorDestinationProblem('http://127.0.0.1:5000/?q', allow, resolve)).toMatch(
      /no query/,
    );
  });
});

describe("the mirror's MLflow client", () => {
  let server: Server;
  let base: string;
  const saved = process.env[MIRROR_HOSTS_ENV];
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.includes('redirect')) {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        res.end();
      } else if (req.url?.includes('huge')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        const piece = Buffer.alloc(1024 * 1024, 32);
        let sent = 0;
        const more = () => {
          while (sent <= MIRROR_MAX_RESPONSE_BYTES / piece.length + 2) {
            sent++;
            if (!res.write(piece)) return res.once('drain', more);
          }
          res.end();
        };
        more();
      } else {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error_code: 'INVALID_PARAMETER_VALUE', message: 'root:x:0:0:secret' }),
        );
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env[MIRROR_HOSTS_ENV];
    else process.env[MIRROR_HOSTS_ENV] = saved;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const failure = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MirrorError);
    return (err as MirrorError).message;
  };

  it('refuses a loopback server that is not allowlisted, before sending', async () => {
    delete process.env[MIRROR_HOSTS_ENV];
    const remote = new MlflowRemote(base, null);
    expect(await failure(remote.call('GET', 'experiments/get', {}))).toMatch(
      /mirror URL refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, an internal address/,
    );
  });

  it('refuses redirects, caps answers, and keeps remote bodies out of its errors', async () => {
    process.env[MIRROR_HOSTS_ENV] = '127.0.0.1';
    const remote = new MlflowRemote(base, null);
    expect(await failure(remote.call('GET', 'redirect', {}))).toMatch(/cannot reach/);
    expect(await failure(remote.call('GET', 'huge', {}))).toMatch(/over the mirror's cap/);
    const refused = await failure(remote.call('POST', 'runs/log-batch', {}));
    expect(refused).toBe('MLflow POST runs/log-batch: 400 INVALID_PARAMETER_VALUE');
    expect(refused).not.toMatch(/secret/);
  });
});

describe('PUT /projects/{id}/mlflow-mirror', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  }, 120_000);
  afterAll(() => h?.stop());

  it('refuses internal destinations and URLs with a query or fragment, naming body.url', async () => {
    delete process.env[MIRROR_HOSTS_ENV];
    const { token } = await h.user('guarded', 'owner');
    const project = (await h.api(token, 'POST', '/api/v1/projects', { name: 'p' })).json.id;
    for (const [url, why] of [
      ['http://169.254.169.254/latest', /169\.254\.169\.254, an internal address/],
      ['http://localhost:5000', /internal address/],
      ['http://10.1.2.3', /10\.1\.2\.3, an internal address/],
      ['http://[fd00::1]:5000', /fd00::1, an internal address/],
      ['https://mlflow.example.com/?token=1', /no query/],
      ['https://mlflow.example.com/#x', /no fragment/],
    ] as const) {
      const res = await h.api(token, 'PUT', `/api/v1/projects/${project}/mlflow-mirror`, { url });
      expect(res.status, url).toBe(400);
      expect(JSON.stringify(res.json), url).toMatch(/body\.url/);
      expect(JSON.stringify(res.json), url).toMatch(why);
    }
    expect((await h.api(token, 'GET', `/api/v1/projects/${project}/mlflow-mirror`)).status).toBe(
      404,
    );
  });
});
