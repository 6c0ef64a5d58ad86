import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { localCliTokenFile, localServerFile, resolveAnnealHome } from '@anneal/core/home';
import { z } from 'zod';

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

/**
 * The server `anneal-server start` runs under this ANNEAL_HOME and the local owner's CLI
 * token it keeps there; null when either is missing.
 */
export function readLocalHome(env: NodeJS.ProcessEnv = process.env): Login | null {
  const home = resolveAnnealHome(env);
  try {
    const { url } = z
      .object({ url: z.url() })
      .parse(JSON.parse(readFileSync(localServerFile(home), 'utf8')));
    const token = readFileSync(localCliTokenFile(home), 'utf8').trim();
    return token ? { server: url, token } : null;
  } catch {
    return null;
  }
}

/**
 * The server and token, each from the first that has it: flags, ANNEAL_SERVER /
 * ANNEAL_TOKEN, `anneal login`'s config, the local ANNEAL_HOME's server (DESIGN.md section 1).
 */
export function resolveClient(
  flags: { server?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
): Login {
  const login = readLogin(env);
  let server = flags.server ?? env.ANNEAL_SERVER ?? login?.server;
  let token = flags.token ?? env.ANNEAL_TOKEN ?? login?.token;
  if (!server || !token) {
    const local = readLocalHome(env);
    server ??= local?.server;
    token ??= local?.token;
  }
  if (!server || !token)
    throw new AppError(
      'UNAUTHORIZED',
      `no server or token: pass --server and --token, set ANNEAL_SERVER and ANNEAL_TOKEN, run \`anneal login --server URL\`, or start a local server with \`npm start\` (ANNEAL_HOME=${resolveAnnealHome(env)})`,
    );
  return { server, token };
}

/** A JSON call to the REST API; errors carry the server's message. */
export async function api<T>(
  client: Login,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${client.server.replace(/\/$/, '')}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${client.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
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
