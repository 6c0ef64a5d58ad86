import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCliTokenFile, localServerFile } from '@anneal/core/home';
import { tokens } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { createFirstOwner } from '../accounts/setup.ts';
import { tokenPrincipal } from '../accounts/tokens.ts';
import {
  ensureLocalAgentToken,
  localAgentTokenPath,
  recordLocalServer,
  removeLocalServer,
  startLocalHome,
} from './local-agent.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({}, { gateway: false });
});
afterAll(() => h?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('what anneal-server start keeps under ANNEAL_HOME', () => {
  it('with --no-agent: server.json at once, the CLI token once the owner exists, server.json gone on stop', async () => {
    const home = mkdtempSync(join(tmpdir(), 'anneal-local-home-'));
    try {
      const local = startLocalHome(h.services.db, {
        home,
        url: h.url,
        agent: false,
        log: () => {},
        retryMs: 50,
      });
      expect(JSON.parse(readFileSync(localServerFile(home), 'utf8'))).toEqual({
        url: h.url,
        pid: process.pid,
      });
      // No owner yet: neither token can be made, and it keeps trying.
      expect(await ensureLocalAgentToken(h.services.db, h.config.annealHome)).toBeNull();
      await sleep(200);
      expect(existsSync(localCliTokenFile(home))).toBe(false);
      await createFirstOwner(h.services.db, {
        email: 'owner@example.com',
        password: 'correct horse battery',
        orgName: 'local',
      });
      for (let i = 0; i < 100 && !existsSync(localCliTokenFile(home)); i++) await sleep(50);
      const token = readFileSync(localCliTokenFile(home), 'utf8').trim();
      expect((await h.api(token, 'GET', '/api/v1/projects')).status).toBe(200);
      expect(statSync(localCliTokenFile(home)).mode & 0o077).toBe(0);
      expect(existsSync(localAgentTokenPath(home))).toBe(false);
      local.stop();
      expect(existsSync(localServerFile(home))).toBe(false);
      // Another server's record under the same home is left alone.
      recordLocalServer(home, h.url, process.pid + 100_000);
      removeLocalServer(home);
      expect(existsSync(localServerFile(home))).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('local agent enrolment', () => {
  it('keeps one agent token under ANNEAL_HOME once the owner exists, replaced when revoked', async () => {
    const home = h.config.annealHome;
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
