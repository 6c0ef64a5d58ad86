import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { localCliTokenFile, localServerFile, resolveAnnealHome } from '@anneal/core/home';
import { z } from 'zod';
import { processAlive } from '../process-alive.ts';

const loginSchema = z.object({ server: z.url(), token: z.string().min(1) });
export type Login = z.infer<typeof loginSchema>;

/** Where `anneal login` keeps the server and token: ANNEAL_CONFIG, else ~/.config/anneal. */
export function loginConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ANNEAL_CONFIG) return env.ANNEAL_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'anneal', 'config.json');
}

export function readLogin(env: NodeJS.ProcessEnv = process.env): Login | null {
  const path = loginConfigPath(env);
  if (!existsSync(path)) return null;
  const parsed = loginSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  return parsed.success ? parsed.data : null;
}

export function writeLogin(login: Login, env: NodeJS.ProcessEnv = process.env): string {
  const path = loginConfigPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  return path;
}

const localServerSchema = z.object({ url: z.url(), pid: z.number().int().positive().optional() });

/**
 * The server `anneal-server start` runs under this ANNEAL_HOME (its server.json) and the
 * local owner's CLI token it keeps there; each null when missing. `unusable` says why a
 * server.json cannot be used: unreadable, or its process is gone (a server that did not
 * shut down cleanly).
 */
export function readLocalHome(env: NodeJS.ProcessEnv = process.env): {
  server: string | null;
  /** The URL server.json records, even when its process is gone: whom the token belongs to. */
  recordedUrl: string | null;
  token: string | null;
  file: string;
  unusable: string | null;
} {
  const home = resolveAnnealHome(env);
  const file = localServerFile(home);
  let server: string | null = null;
  let recordedUrl: string | null = null;
  let unusable: string | null = null;
  if (existsSync(file)) {
    const recorded = (() => {
      try {
        return localServerSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      } catch (err) {
        unusable = `${file} is not a server record ({"url", "pid"}): ${(err as Error).message.split('\n')[0]}; remove it, or pass --server`;
        return null;
      }
    })();
    recordedUrl = recorded?.url ?? null;
    if (recorded?.pid !== undefined && !processAlive(recorded.pid))
      unusable = `${file} names a local server at ${recorded.url} (pid ${recorded.pid}) that is no longer running; start it again with \`npm start\`, or remove the file and pass --server or set ANNEAL_SERVER`;
    else if (recorded) server = recorded.url;
  }
  let token: string | null = null;
  try {
    token = readFileSync(localCliTokenFile(home), 'utf8').trim() || null;
  } catch {}
  return { server, recordedUrl, token, file, unusable };
}

/** A server and token, and where the server came from (for errors when it is unreachable). */
export type Client = Login & { origin?: string };

/** The `--server` and `--token` flags of the commands that call the REST API, as resolveClient reads them. */
export const clientOptions = { server: { type: 'string' }, token: { type: 'string' } } as const;
export const clientFlags = { server: z.string().optional(), token: z.string().optional() };
export const clientUsage = `  --server URL, --token T
                   as for \`anneal submit\` (flags, ANNEAL_SERVER/ANNEAL_TOKEN, \`anneal login\`,
                   the local server)`;

const sameServer = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/**
 * The server and token, each from the first that has it: flags, ANNEAL_SERVER /
 * ANNEAL_TOKEN, `anneal login`'s config, the local ANNEAL_HOME's server (DESIGN.md section 1).
 * A stored token (the login config's, the local server's) only ever goes to the server it was
 * issued by: `--server elsewhere` with no token of its own is refused, not sent one of them.
 */
export function resolveClient(
  flags: { server?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
): Client {
  const login = readLogin(env);
  let server = flags.server ?? env.ANNEAL_SERVER;
  let token = flags.token ?? env.ANNEAL_TOKEN;
  let origin: string | undefined;
  if (login && (!server || sameServer(server, login.server))) {
    server ??= login.server;
    token ??= login.token;
  }
  if (!server || !token) {
    const local = readLocalHome(env);
    if (!server && local.unusable) throw new AppError('PRECONDITION_FAILED', local.unusable);
    if (!server && local.server) {
      server = local.server;
      origin = `the local server recorded in ${local.file}`;
    }
    // The local CLI token was issued by the server server.json records (running or not).
    if (server && local.recordedUrl && sameServer(server, local.recordedUrl))
      token ??= local.token ?? undefined;
  }
  if (!server || !token)
    throw new AppError(
      'UNAUTHORIZED',
      `no server or token: pass --server and --token, set ANNEAL_SERVER and ANNEAL_TOKEN, run \`anneal login --server URL\`, or start a local server with \`npm start\` (ANNEAL_HOME=${resolveAnnealHome(env)}); a stored token is only sent to the server that issued it`,
    );
  return { server, token, origin };
}

/** A JSON call to the REST API; errors carry the server's message. */
export async function api<T>(
  client: Client,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${client.server.replace(/\/$/, '')}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${client.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new AppError(
      'PRECONDITION_FAILED',
      `cannot reach the server at ${client.server}${client.origin ? ` (${client.origin}; is \`npm start\` still running there?)` : ''}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {}
  if (!res.ok) {
    const message =
      (json as { error?: { message?: string } } | null)?.error?.message ?? text.slice(0, 300);
    throw new AppError(
      res.status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST',
      `${method} ${path}: ${message}`,
    );
  }
  return json as T;
}
