import { statSync } from 'node:fs';
import { tokens } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { createFirstOwner } from '../accounts/setup.ts';
import { tokenPrincipal } from '../accounts/tokens.ts';
import { ensureLocalAgentToken, localAgentTokenPath } from './local-agent.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({}, { gateway: false });
});
afterAll(() => h?.stop());

describe('local agent enrolment', () => {
  it('waits for the owner, then keeps one agent token under ANNEAL_HOME, replaced when revoked', async () => {
    const home = h.config.annealHome;
    expect(await ensureLocalAgentToken(h.services.db, home)).toBeNull();
    await createFirstOwner(h.services.db, {
      email: 'owner@example.com',
      password: 'correct horse battery',
      orgName: 'local',
    });
    const token = await ensureLocalAgentToken(h.services.db, home);
    expect(token).toMatch(/^anneal_agent/);
    expect((await tokenPrincipal(h.services.db, token ?? ''))?.via).toBe('agent');
    expect(statSync(localAgentTokenPath(home)).mode & 0o077).toBe(0);
    expect(await ensureLocalAgentToken(h.services.db, home)).toBe(token);
    await h.services.db
      .update(tokens)
      .set({ revokedAt: new Date() })
      .where(eq(tokens.kind, 'agent'));
    const replaced = await ensureLocalAgentToken(h.services.db, home);
    expect(replaced).not.toBe(token);
    expect((await tokenPrincipal(h.services.db, replaced ?? ''))?.via).toBe('agent');
  });
});
