import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inviteMember } from '../../domain/accounts/members.ts';
import { type Harness, startHarness } from '../../testing/harness.ts';

// The throttle's clock is ours: time moves only when a test moves it.
let clock = Date.UTC(2026, 0, 1);
const limits = {
  account: { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfterMs: 60_000 },
  address: { freeFailures: 5, baseDelayMs: 1000, maxDelayMs: 60_000, forgetAfterMs: 600_000 },
  device: { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 60_000, forgetAfterMs: 600_000 },
};

let h: Harness;
let owner: { email: string; userId: string; orgId: string };
beforeAll(async () => {
  // 127.0.0.1 plays a reverse proxy; the tests' own clients come from other loopback addresses.
  h = await startHarness(
    { ANNEAL_TRUSTED_PROXIES: '127.0.0.1' },
    { signIns: { now: () => clock, limits } },
  );
  owner = await h.user('Acme', 'owner');
});
afterAll(() => h?.stop());

const PASSWORD = 'correct horse battery';
let nextAddress = 10;
/** A loopback address no other test has used (Linux routes all of 127/8 to lo). */
const freshAddress = () => `127.0.0.${nextAddress++}`;

/** POSTs JSON from a chosen client address. */
function post(
  path: string,
  body: unknown,
  from: string,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  retryAfter: string | undefined;
  device: string | undefined;
  json: any;
}> {
  const { port } = new URL(h.url);
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        localAddress: from,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'],
            device: res.headers['set-cookie']
              ?.map((c) => /^anneal_device=([^;]*)/.exec(c)?.[1])
              .find((v) => v !== undefined),
            json: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const exchange = (email: string, password: string, from: string) =>
  post('/api/v1/auth/tokens', { email, password }, from);
const signIn = (email: string, password: string, from: string, device?: string) =>
  post(
    '/api/trpc/auth.signIn',
    { email, password },
    from,
    device ? { cookie: `anneal_device=${device}` } : {},
  );

/** Fails for `email` from fresh addresses until its wait for unknown devices has begun. */
async function failUntilLimited(email: string) {
  for (;;) {
    const r = await exchange(email, 'guess', freshAddress());
    if (r.status === 429) return r;
    expect(r.status).toBe(401);
  }
}

describe('failed sign-ins are limited', () => {
  it('per account, from any address, with a doubling wait that a success resets', async () => {
    const { email } = await h.user('Acme', 'editor');
    for (let i = 0; i < limits.account.freeFailures; i++)
      expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    // Even the right password waits: otherwise the answer would still tell a guess apart.
    const limited = await exchange(email, PASSWORD, freshAddress());
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toBe('1');
    expect(limited.json.error).toEqual({
      code: 'RATE_LIMITED',
      message:
        'too many failed sign-ins for this account from unknown devices; try again in 1 second',
    });
    clock += 1000;
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    expect((await exchange(email, 'guess', freshAddress())).retryAfter).toBe('2');
    clock += 2000;
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    expect((await exchange(email, 'guess', freshAddress())).retryAfter).toBe('4');
    clock += 4000;
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    // Capped: the owner is never kept out longer than maxDelayMs after the last failure.
    expect((await exchange(email, 'guess', freshAddress())).retryAfter).toBe('8');
    clock += 8000;
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    expect((await exchange(email, 'guess', freshAddress())).retryAfter).toBe('8');
    clock += 8000;
    expect((await exchange(email, PASSWORD, freshAddress())).status).toBe(201);
    // The success cleared the account's failures.
    for (let i = 0; i < limits.account.freeFailures; i++)
      expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(429);
  });

  it('forgets an account failures after the window', async () => {
    const { email } = await h.user('Acme', 'editor');
    for (let i = 0; i < limits.account.freeFailures; i++)
      expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(429);
    clock += limits.account.forgetAfterMs;
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
    expect((await exchange(email, 'guess', freshAddress())).status).toBe(401);
  });

  it('per address, for any email; the owner signs in meanwhile from elsewhere', async () => {
    const attacker = freshAddress();
    for (let i = 0; i < limits.address.freeFailures; i++)
      expect((await exchange(`nobody${i}@example.com`, 'guess', attacker)).status).toBe(401);
    const sprayed = await signIn(owner.email, 'guess', attacker);
    expect(sprayed.status).toBe(429);
    expect(sprayed.retryAfter).toBe('1');
    expect(sprayed.json.error.data.code).toBe('TOO_MANY_REQUESTS');
    expect(sprayed.json.error.message).toBe(
      'too many failed sign-ins from this address; try again in 1 second',
    );
    // The attacker's failures stopped at the address limit, below the account's: the owner,
    // from their own address, is not kept out at all.
    const mine = await signIn(owner.email, PASSWORD, freshAddress());
    expect(mine.status).toBe(200);
    expect(mine.json.result.data).toEqual({ ok: true });
    // The address waits longer with each failure; a success elsewhere does not free it.
    clock += 1000;
    expect((await signIn(owner.email, 'guess', attacker)).status).toBe(401);
    const again = await signIn(owner.email, PASSWORD, attacker);
    expect(again.status).toBe(429);
    expect(again.json.error.message).toMatch(/from this address; try again in 2 seconds$/);
  });

  it('counts parallel guesses before any is checked', async () => {
    const { email } = await h.user('Acme', 'editor');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => exchange(email, 'guess', freshAddress())),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(limits.account.freeFailures);
    expect(statuses.filter((s) => s === 429)).toHaveLength(8 - limits.account.freeFailures);
  });

  it('does not count attempts refused for their input', async () => {
    const from = freshAddress();
    for (let i = 0; i < limits.address.freeFailures + 2; i++)
      expect((await exchange('not an email', 'x', from)).status).toBe(400);
    expect((await exchange(owner.email, PASSWORD, from)).status).toBe(201);
  });

  it('for an invite to an existing account, whose password it checks', async () => {
    const invited = await h.user('Other', 'owner');
    const { code } = await inviteMember(
      h.services.db,
      { ...owner, role: 'owner', via: 'session', credentialId: owner.userId },
      invited.email,
      'viewer',
    );
    const accept = (password: string) =>
      post('/api/trpc/auth.acceptInvite', { code, password }, freshAddress());
    for (let i = 0; i < limits.account.freeFailures; i++)
      expect((await accept('wrong password')).status).toBe(401);
    const limited = await accept(PASSWORD);
    expect(limited.status).toBe(429);
    expect(limited.retryAfter).toBe('1');
    clock += 1000;
    expect((await accept(PASSWORD)).status).toBe(200);
  });

  it('for invites to one existing account, in the bucket its sign-ins use', async () => {
    const invited = await h.user('Third', 'owner');
    const invite = async (org: string) => {
      const inviter = await h.user(org, 'owner');
      const { code } = await inviteMember(
        h.services.db,
        { ...inviter, role: 'owner', via: 'session', credentialId: inviter.userId },
        invited.email,
        'viewer',
      );
      return (password: string) =>
        post('/api/trpc/auth.acceptInvite', { code, password }, freshAddress());
    };
    const first = await invite('Fourth');
    const second = await invite('Fifth');
    // Failures through either invite and through sign-in count for the one account.
    expect((await first('wrong password')).status).toBe(401);
    expect((await second('wrong password')).status).toBe(401);
    expect((await exchange(invited.email, 'guess', freshAddress())).status).toBe(401);
    const limited = await second(PASSWORD);
    expect(limited.status).toBe(429);
    expect(limited.json.error.message).toMatch(/for this account from unknown devices/);
    expect((await first(PASSWORD)).status).toBe(429);
    expect((await exchange(invited.email, PASSWORD, freshAddress())).status).toBe(429);
    clock += 1000;
    expect((await first(PASSWORD)).status).toBe(200);
  });

  it("lifts the account wait for the owner's known device while attackers keep failing", async () => {
    const victim = await h.user('Acme', 'editor');
    const other = await h.user('Acme', 'editor');
    // The owner signed in once from this browser (and another browser signed in to another
    // account): each carries a known-device cookie.
    const first = await signIn(victim.email, PASSWORD, freshAddress());
    expect(first.status).toBe(200);
    const laptop = first.device;
    expect(laptop).toMatch(/^[0-9a-f-]{36}\.[\w-]+\.[\w-]+$/);
    const elsewhere = (await signIn(other.email, PASSWORD, freshAddress())).device;
    // Attackers fail from many addresses, each time the wait ends, for as long as they like.
    for (let round = 0; round < 6; round++) {
      const limited = await failUntilLimited(victim.email);
      // Unknown devices wait, even with the right password ...
      const stranger = await signIn(victim.email, PASSWORD, freshAddress());
      expect(stranger.status).toBe(429);
      expect(stranger.json.error.message).toMatch(/for this account from unknown devices/);
      expect((await exchange(victim.email, PASSWORD, freshAddress())).status).toBe(429);
      // ... and so do a forged cookie and another account's known device ...
      const forged = `${laptop?.slice(0, -2)}xx`;
      expect((await signIn(victim.email, PASSWORD, freshAddress(), forged)).status).toBe(429);
      expect((await signIn(victim.email, PASSWORD, freshAddress(), elsewhere)).status).toBe(429);
      // ... while the owner's browser signs in at once.
      const mine = await signIn(victim.email, PASSWORD, freshAddress(), laptop);
      expect(mine.status).toBe(200);
      expect(mine.device).toBe(laptop);
      clock += Number(limited.retryAfter) * 1000;
    }
    // The known device's own failures limit it, and only it.
    for (let i = 0; i < limits.device.freeFailures; i++)
      expect((await signIn(victim.email, 'typo', freshAddress(), laptop)).status).toBe(401);
    const typos = await signIn(victim.email, PASSWORD, freshAddress(), laptop);
    expect(typos.status).toBe(429);
    expect(typos.retryAfter).toBe('1');
    expect(typos.json.error.message).toBe(
      'too many failed sign-ins from this browser; try again in 1 second',
    );
    const phone = (await signIn(other.email, PASSWORD, freshAddress(), elsewhere)).status;
    expect(phone).toBe(200);
  });

  it('per client behind a trusted proxy, whose X-Forwarded-For no one else may set', async () => {
    const viaProxy = (email: string, password: string, client: string) =>
      post('/api/v1/auth/tokens', { email, password }, '127.0.0.1', {
        'x-forwarded-for': `10.9.9.9, ${client}`,
      });
    for (let i = 0; i < limits.address.freeFailures; i++)
      expect((await viaProxy(`proxied${i}@example.com`, 'guess', '203.0.113.5')).status).toBe(401);
    expect((await viaProxy(owner.email, PASSWORD, '203.0.113.5')).status).toBe(429);
    // Another client behind the same proxy is not that client.
    expect((await viaProxy(owner.email, PASSWORD, '203.0.113.6')).status).toBe(201);
    // A client that is no trusted proxy cannot pick an address by header.
    const forger = freshAddress();
    for (let i = 0; i < limits.address.freeFailures; i++)
      expect(
        (
          await post(
            '/api/v1/auth/tokens',
            { email: `forged${i}@example.com`, password: 'guess' },
            forger,
            {
              'x-forwarded-for': `198.51.100.${i}`,
            },
          )
        ).status,
      ).toBe(401);
    expect((await exchange(owner.email, PASSWORD, forger)).status).toBe(429);
  });
});
