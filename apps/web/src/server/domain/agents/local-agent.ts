import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { localCliTokenFile, localServerFile } from '@anneal/core/home';
import type { Db } from '@anneal/db/client';
import { memberships, tokens } from '@anneal/db/schema';
import { and, asc, eq, isNull } from 'drizzle-orm';
import { hashSecret } from '../../auth/secrets.ts';
import { createToken } from '../accounts/tokens.ts';

const ANNEAL = join(repoRoot, 'apps/agent/bin/anneal.js');

/** Where the local agent's token is kept (owner-only file under ANNEAL_HOME). */
export const localAgentTokenPath = (home: string) => join(home, 'secrets', 'local-agent-token');

/**
 * A token kept in an owner-only file: the stored one while it is still valid, else a new
 * one for the first owner. Null until an owner exists (the first-run page creates one).
 */
async function ensureStoredToken(
  db: Db,
  path: string,
  kind: 'agent' | 'api',
  name: string,
): Promise<string | null> {
  if (existsSync(path)) {
    const stored = readFileSync(path, 'utf8').trim();
    const [live] = await db
      .select({ id: tokens.id })
      .from(tokens)
      .where(and(eq(tokens.tokenHash, hashSecret(stored)), isNull(tokens.revokedAt)));
    if (live) return stored;
  }
  const [owner] = await db
    .select({ userId: memberships.userId, orgId: memberships.orgId })
    .from(memberships)
    .where(eq(memberships.role, 'owner'))
    .orderBy(asc(memberships.createdAt))
    .limit(1);
  if (!owner) return null;
  const created = await createToken(db, owner, kind, name);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${created.token}\n`, { mode: 0o600 });
  return created.token;
}

/** The local agent's agent token (see ensureStoredToken). */
export function ensureLocalAgentToken(db: Db, home: string): Promise<string | null> {
  return ensureStoredToken(db, localAgentTokenPath(home), 'agent', 'local agent');
}

/**
 * The first owner's API token for the `anneal` CLI on this machine, so `anneal submit`
 * works with no flags and no login (DESIGN.md section 1: the local ANNEAL_HOME comes last).
 */
export function ensureLocalCliToken(db: Db, home: string): Promise<string | null> {
  return ensureStoredToken(db, localCliTokenFile(home), 'api', 'local CLI (ANNEAL_HOME)');
}

/** Records the URL this server serves under ANNEAL_HOME, for the local CLI. */
export function recordLocalServer(home: string, url: string, pid = process.pid): void {
  mkdirSync(home, { recursive: true });
  writeFileSync(localServerFile(home), `${JSON.stringify({ url, pid })}\n`);
}

/**
 * Removes ANNEAL_HOME/server.json on shutdown, when it is still this process's: another
 * server started since under the same home keeps its own.
 */
export function removeLocalServer(home: string, pid = process.pid): void {
  const path = localServerFile(home);
  try {
    if ((JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }).pid !== pid) return;
  } catch {
    return;
  }
  rmSync(path, { force: true });
}

/**
 * Keeps the local CLI token (ensureLocalCliToken) whether or not a local agent runs: it
 * retries until the owner account exists, then stops.
 */
export function keepLocalCliToken(
  db: Db,
  options: { home: string; log: (line: string) => void; retryMs?: number },
): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const attempt = async () => {
    let token: string | null = null;
    try {
      token = await ensureLocalCliToken(db, options.home);
    } catch (err) {
      options.log(`local CLI token: ${(err as Error).message}`);
    }
    if (!token && !stopped) timer = setTimeout(() => void attempt(), options.retryMs ?? 2000);
  };
  void attempt();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * What `anneal-server start` keeps under ANNEAL_HOME for this machine: server.json (the
 * URL `anneal submit` falls back to), the local CLI token, and unless `agent` is false a
 * local agent. `stop` undoes it: the agent stops and server.json goes.
 */
export function startLocalHome(
  db: Db,
  options: {
    home: string;
    url: string;
    agent: boolean;
    log: (line: string) => void;
    retryMs?: number;
  },
): { stop(): void } {
  recordLocalServer(options.home, options.url);
  const token = keepLocalCliToken(db, options);
  const agent = options.agent ? startLocalAgent(db, options) : null;
  return {
    stop() {
      token.stop();
      agent?.stop();
      removeLocalServer(options.home);
    },
  };
}

/**
 * Runs one `anneal agent` beside the server, enrolled automatically, so a new user can
 * train from the browser with no other step. It waits for the owner account, restarts the
 * agent if it exits, and stops it with the server.
 */
export function startLocalAgent(
  db: Db,
  options: { home: string; url: string; log: (line: string) => void },
): { stop(): void } {
  let child: ChildProcess | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const retry = (ms: number) => {
    if (!stopped) timer = setTimeout(() => void launch(), ms);
  };
  const launch = async () => {
    let token: string | null;
    try {
      token = await ensureLocalAgentToken(db, options.home);
    } catch (err) {
      options.log(`local agent: ${(err as Error).message}`);
      return retry(5000);
    }
    if (!token) return retry(2000);
    if (stopped) return;
    child = spawn(
      process.execPath,
      [ANNEAL, 'agent', '--server', options.url, '--token', token, '--name', 'local'],
      {
        env: { ...process.env, ANNEAL_HOME: options.home },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    options.log(`local agent started (pid ${child.pid})`);
    child.on('exit', (code, signal) => {
      child = null;
      if (stopped) return;
      options.log(`local agent exited (${signal ?? code}); restarting`);
      retry(3000);
    });
  };
  void launch();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      child?.kill('SIGTERM');
    },
  };
}
