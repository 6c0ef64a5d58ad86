import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { tokens } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../auth/secrets.ts';
import { ensureLocalCliToken, recordLocalServer } from '../domain/agents/local-agent.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// `anneal login` and where `anneal submit` finds its server and token, with the real CLI
// against a real server: flags, then ANNEAL_SERVER / ANNEAL_TOKEN, then the login config,
// then the server `anneal-server start` recorded under ANNEAL_HOME.

const ANNEAL = join(repoRoot, 'apps/agent/bin/anneal.js');
/** Nothing listens here: a source that wrongly wins fails loudly. */
const DEAD = 'http://127.0.0.1:9';

let h: Harness;
let dir: string;
type User = Awaited<ReturnType<Harness['user']>>;
let local: User;
let viaFlags: User;
let viaEnv: User;
let viaLogin: User;

function anneal(args: string[], env: Record<string, string>, stdin = '') {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const childEnv = {
      NODE_ENV: 'test' as const,
      PATH: process.env.PATH ?? '',
      HOME: dir,
      ANNEAL_HOME: join(dir, 'no-home'),
      ANNEAL_CONFIG: join(dir, 'no-config.json'),
      ...env,
    };
    const child = spawn(process.execPath, [ANNEAL, ...args], { env: childEnv, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** A one-step train job; the project's name follows. */
const SUBMIT_TRAIN = [
  'submit',
  'train',
  '--dataset',
  'shapes',
  '--resolution',
  '8',
  '--steps',
  '1',
  '--project',
];

/** Queues a train job in project `where`; returns the org whose token made it, by listing. */
async function submitTo(env: Record<string, string>, flags: string[] = []) {
  const r = await anneal([...SUBMIT_TRAIN, 'where', '--json', ...flags], env);
  expect(r.code, r.stderr).toBe(0);
  const { job_id } = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  const owners = { local, viaFlags, viaEnv, viaLogin };
  for (const [name, u] of Object.entries(owners))
    if ((await h.api(u.token, 'GET', `/api/v1/jobs/${job_id}`)).status === 200) return name;
  return null;
}

beforeAll(async () => {
  h = await startHarness({}, { gateway: false });
  dir = mkdtempSync(join(tmpdir(), 'anneal-login-'));
  // The first owner: the local CLI token belongs to them.
  local = await h.user('local-org', 'owner');
  viaFlags = await h.user('flags-org', 'owner');
  viaEnv = await h.user('env-org', 'owner');
  viaLogin = await h.user('login-org', 'owner', `login-${Date.now()}@example.com`);
});
afterAll(async () => {
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('anneal login', () => {
  it('exchanges email and password for a new API token, stored hashed server-side and 0600 locally', async () => {
    const config = join(dir, 'login', 'config.json');
    const r = await anneal(
      ['login', '--server', h.url, '--email', viaLogin.email, '--password-stdin'],
      { ANNEAL_CONFIG: config },
      'correct horse battery\n',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/logged in to/);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(config, 'utf8'));
    expect(saved.server).toBe(h.url);
    const [row] = await h.services.db
      .select()
      .from(tokens)
      .where(eq(tokens.tokenHash, hashSecret(saved.token)));
    expect(row).toMatchObject({ kind: 'api', name: `anneal login on ${hostname()}` });
    expect(row?.userId).toBe(viaLogin.userId);
    // Only the hash is stored.
    const all = await h.services.db.select().from(tokens);
    expect(JSON.stringify(all)).not.toContain(saved.token);
  });

  it('refuses a wrong password and stores nothing', async () => {
    const config = join(dir, 'wrong', 'config.json');
    const r = await anneal(
      ['login', '--server', h.url, '--email', viaLogin.email, '--password-stdin'],
      { ANNEAL_CONFIG: config },
      'not the password\n',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/wrong email or password/);
    expect(() => statSync(config)).toThrow();
  });

  it('still takes an existing token with --token, and names bad flags', async () => {
    const config = join(dir, 'token', 'config.json');
    const ok = await anneal(['login', '--server', h.url, '--token', viaEnv.token], {
      ANNEAL_CONFIG: config,
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(readFileSync(config, 'utf8')).token).toBe(viaEnv.token);
    const bad = await anneal(['login', '--server', h.url, '--token', 'x', '--email', 'a@b.c'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--token: give either --token or --email/);
    const noTty = await anneal(['login', '--server', h.url, '--email', viaEnv.email], {});
    expect(noTty.code).toBe(1);
    expect(noTty.stderr).toMatch(/stdin is not a terminal.*--email E --password-stdin/);
    // A hint, not a stack trace.
    expect(noTty.stderr).not.toMatch(/\n\s+at /);
    const noEmail = await anneal(['login', '--server', h.url], {});
    expect(noEmail.code).toBe(1);
    expect(noEmail.stderr).toMatch(/the email and password cannot be asked for/);
    expect(noEmail.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('anneal submit finds its server and token', () => {
  it('flags, then ANNEAL_SERVER/ANNEAL_TOKEN, then the login config, then the local ANNEAL_HOME', async () => {
    const home = join(dir, 'home');
    recordLocalServer(home, h.url);
    expect(await ensureLocalCliToken(h.services.db, home)).toMatch(/^anneal_api/);
    const config = join(dir, 'precedence.json');
    writeFileSync(config, JSON.stringify({ server: h.url, token: viaLogin.token }), {
      mode: 0o600,
    });
    const all = { ANNEAL_HOME: home, ANNEAL_CONFIG: config };
    const env = { ANNEAL_SERVER: h.url, ANNEAL_TOKEN: viaEnv.token };
    expect(await submitTo({ ...all, ...env }, ['--server', h.url, '--token', viaFlags.token])).toBe(
      'viaFlags',
    );
    expect(await submitTo({ ...all, ...env })).toBe('viaEnv');
    expect(await submitTo(all)).toBe('viaLogin');
    expect(await submitTo({ ANNEAL_HOME: home })).toBe('local');
    // Each step only fills in what the ones before it left out.
    expect(await submitTo({ ...all, ANNEAL_SERVER: DEAD }, ['--server', h.url])).toBe('viaLogin');
    // A stored token never goes to another server: asked for one with no token of its own,
    // submit refuses before any request instead of sending the login's or the local one.
    const elsewhere = await anneal([...SUBMIT_TRAIN, 'p', '--server', DEAD], all);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(
      /no server or token: .*only sent to the server that issued it/,
    );
    const none = await anneal([...SUBMIT_TRAIN, 'p'], {});
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no server or token: .*anneal login.*npm start/);
  });
});
