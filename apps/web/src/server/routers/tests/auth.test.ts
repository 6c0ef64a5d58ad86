import { sessions, users } from '@anneal/db/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.stop());

/** A tiny browser: keeps its cookies (session, known device) and sends our Origin on mutations. */
function browser(origin = h.url) {
  const jar = new Map<string, string>();
  const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  async function call(path: string, input?: unknown, method: 'GET' | 'POST' = 'POST') {
    const url =
      method === 'GET'
        ? `${h.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input ?? null))}`
        : `${h.url}/api/trpc/${path}`;
    const res = await fetch(url, {
      method,
      headers: {
        cookie: cookie(),
        origin,
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      body: method === 'POST' ? JSON.stringify(input ?? null) : undefined,
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
      if (value === '' || /Max-Age=0/.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    const set = res.headers.get('set-cookie');
    const body = (await res.json()) as {
      result?: { data: any };
      error?: { message: string; data: { code: string } };
    };
    return { status: res.status, data: body.result?.data, error: body.error, setCookie: set };
  }
  return { call, cookie };
}

describe('accounts over tRPC', () => {
  it('creates the owner on first run, once', async () => {
    const b = browser();
    expect((await b.call('auth.getStatus', undefined, 'GET')).data).toEqual({
      needsSetup: true,
      user: null,
    });
    const bad = await b.call('auth.createOwner', {
      email: 'nope',
      password: 'short',
      orgName: 'Acme',
    });
    expect(bad.status).toBe(400);
    expect(bad.error?.message).toMatch(/^email: /);
    const ok = await b.call('auth.createOwner', {
      email: 'Owner@Example.com',
      password: 'correct horse',
      orgName: 'Acme',
    });
    expect(ok.status).toBe(200);
    expect(ok.setCookie).toMatch(/HttpOnly/);
    expect(ok.setCookie).toMatch(/SameSite=Lax/);
    const me = await b.call('auth.getStatus', undefined, 'GET');
    expect(me.data.user).toMatchObject({
      email: 'owner@example.com',
      role: 'owner',
      orgName: 'Acme',
    });
    const again = await browser().call('auth.createOwner', {
      email: 'x@example.com',
      password: 'correct horse',
      orgName: 'Evil',
    });
    expect(again.status).toBe(409);
    const [stored] = await h.services.db.select().from(users);
    expect(stored?.passwordHash).toMatch(/^scrypt\$/);
    expect(stored?.passwordHash).not.toContain('correct horse');
  });

  it('signs in and out, and refuses wrong passwords without saying which part was wrong', async () => {
    const b = browser();
    const wrong = await b.call('auth.signIn', {
      email: 'owner@example.com',
      password: 'wrong password',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.error?.message).toBe('wrong email or password');
    expect(
      (await b.call('auth.signIn', { email: 'owner@example.com', password: 'correct horse' }))
        .status,
    ).toBe(200);
    expect((await b.call('projects.create', { name: 'p1' })).status).toBe(200);
    const before = (await h.services.db.select().from(sessions)).length;
    await b.call('auth.signOut');
    expect((await h.services.db.select().from(sessions)).length).toBe(before - 1);
  });

  it('refuses cookie mutations from another origin or without one', async () => {
    const b = browser();
    await b.call('auth.signIn', { email: 'owner@example.com', password: 'correct horse' });
    const evil = await fetch(`${h.url}/api/trpc/projects.create`, {
      method: 'POST',
      headers: {
        cookie: b.cookie(),
        origin: 'https://evil.example',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'csrf' }),
    });
    expect(evil.status).toBe(403);
    const bare = await fetch(`${h.url}/api/trpc/projects.create`, {
      method: 'POST',
      headers: { cookie: b.cookie(), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'csrf' }),
    });
    expect(bare.status).toBe(403);
    const list = await b.call('projects.list', undefined, 'GET');
    expect(list.data.map((p: { name: string }) => p.name)).toEqual(['p1']);
  });

  it('invites a viewer who can read but not write', async () => {
    const owner = browser();
    await owner.call('auth.signIn', { email: 'owner@example.com', password: 'correct horse' });
    const invite = await owner.call('members.invite', {
      email: 'viewer@example.com',
      role: 'viewer',
    });
    expect(invite.status).toBe(200);
    const viewer = browser();
    const info = await viewer.call('auth.getInvite', { code: invite.data.code }, 'GET');
    expect(info.data).toMatchObject({
      email: 'viewer@example.com',
      role: 'viewer',
      orgName: 'Acme',
      hasAccount: false,
    });
    expect(
      (await viewer.call('auth.acceptInvite', { code: invite.data.code, password: 'viewer pass' }))
        .status,
    ).toBe(200);
    expect(
      (await viewer.call('auth.acceptInvite', { code: invite.data.code, password: 'viewer pass' }))
        .status,
    ).toBe(404);
    expect((await viewer.call('projects.list', undefined, 'GET')).data).toHaveLength(1);
    const create = await viewer.call('projects.create', { name: 'nope' });
    expect(create.status).toBe(403);
    expect(create.error?.message).toMatch(/editor/);
    expect((await viewer.call('tokens.createApi', { name: 't' })).status).toBe(403);
    const members = await owner.call('members.list', undefined, 'GET');
    expect(members.data.members.map((m: { role: string }) => m.role)).toEqual(['owner', 'viewer']);
  });
});
