import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '@anneal/db/client';
import { readEmbeddedConnection } from '@anneal/db/embedded';
import { tokens, users } from '@anneal/db/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandIO } from './command.ts';
import { main } from './main.ts';

let home: string;
const saved = { home: process.env.ANNEAL_HOME, url: process.env.DATABASE_URL };

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'anneal-cli-'));
  process.env.ANNEAL_HOME = home;
  delete process.env.DATABASE_URL;
});
afterAll(async () => {
  process.env.ANNEAL_HOME = saved.home;
  if (saved.url) process.env.DATABASE_URL = saved.url;
  await rm(home, { recursive: true, force: true });
});

function io(stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const value: CommandIO = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    readStdin: async () => stdin,
  };
  return { io: value, out, err };
}

describe('anneal-server admin', () => {
  it('creates a user from a piped password, then a token printed once as JSON', async () => {
    const a = io('a strong password\n');
    expect(
      await main(
        ['admin', 'create-user', '--email', 'Ops@Example.com', '--org', 'Acme', '--password-stdin'],
        a.io,
      ),
    ).toBe(0);
    expect(a.out[0]).toMatch(/created ops@example.com \(owner\) in organization "Acme"/);

    const t = io();
    expect(
      await main(
        ['admin', 'create-token', '--email', 'ops@example.com', '--kind', 'agent', '--json'],
        t.io,
      ),
    ).toBe(0);
    const { token, kind } = JSON.parse(t.out[0] ?? '{}') as { token: string; kind: string };
    expect(kind).toBe('agent');
    expect(token).toMatch(/^anneal_agent_/);

    // Same database the server would use: the embedded cluster recorded under ANNEAL_HOME.
    const connection = await readEmbeddedConnection(home);
    expect(connection).not.toBeNull();
  });

  it('reports bad flags by name with exit code 2', async () => {
    const noStdin = io();
    expect(
      await main(['admin', 'create-user', '--email', 'x@example.com', '--org', 'Acme'], noStdin.io),
    ).toBe(2);
    expect(noStdin.err[0]).toMatch(/--password-stdin: is required/);
    const badKind = io();
    expect(
      await main(
        ['admin', 'create-token', '--email', 'x@example.com', '--kind', 'root'],
        badKind.io,
      ),
    ).toBe(2);
    expect(badKind.err[0]).toMatch(/--kind: /);
    const shortPw = io('short\n');
    expect(
      await main(
        ['admin', 'create-user', '--email', 'y@example.com', '--org', 'A', '--password-stdin'],
        shortPw.io,
      ),
    ).toBe(2);
    expect(shortPw.err[0]).toMatch(/password: must be at least 8/);
    const unknownUser = io();
    expect(
      await main(
        ['admin', 'create-token', '--email', 'nobody@example.com', '--kind', 'api'],
        unknownUser.io,
      ),
    ).toBe(1);
    expect(unknownUser.err[0]).toMatch(/--email: no user nobody@example.com/);
  });

  it('stored only hashes', async () => {
    const database = await import('@anneal/db/resolve').then((m) => m.resolveDatabase(process.env));
    const handle = createDb(database.url, { max: 1 });
    try {
      const [user] = await handle.db.select().from(users);
      const [token] = await handle.db.select().from(tokens);
      expect(user?.passwordHash).toMatch(/^scrypt\$/);
      expect(token?.tokenHash).toMatch(/^[a-f0-9]{64}$/);
    } finally {
      await handle.close();
      await database.stop();
    }
  });

  it('prints help for every command', async () => {
    for (const argv of [
      ['--help'],
      ['start', '--help'],
      ['migrate', '--help'],
      ['build', '--help'],
      ['admin', 'create-user', '--help'],
      ['admin', 'create-token', '--help'],
    ]) {
      const h = io();
      expect(await main(argv, h.io)).toBe(0);
      expect(h.out.join('\n')).toMatch(/^Usage: anneal-server/);
    }
  });
});

describe('the anneal-server bin', () => {
  it('exits with the command’s code', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = new URL('../../bin/anneal-server.js', import.meta.url).pathname;
    expect(spawnSync(process.execPath, [bin, 'no-such-command']).status).toBe(2);
    expect(spawnSync(process.execPath, [bin, '--help']).status).toBe(0);
  });
});
