import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mlflowMirrors } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../testing/harness.ts';
import { MlflowMirror } from './mirror.ts';
import { MIRROR_HOSTS_ENV } from './mirror-guard.ts';

// How the mirror schedules its passes. The remote is a small HTTP server that counts calls
// and holds them until told, so a pass can be caught in flight; what an MLflow server does
// with the calls is the long test's (mirror.test.ts).
let h: Harness;
let server: Server;
let base: string;
const calls = new Map<string, number>();
const held: { project: string; res: ServerResponse }[] = [];
let hold = new Set<string>();
const saved = process.env[MIRROR_HOSTS_ENV];

beforeAll(async () => {
  process.env[MIRROR_HOSTS_ENV] = '127.0.0.1';
  h = await startHarness();
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // The project is the first path segment: http://127.0.0.1:<port>/<project>/api/2.0/...
    const project = (req.url ?? '/').split('/')[1] ?? '';
    calls.set(project, (calls.get(project) ?? 0) + 1);
    if (hold.has(project)) {
      held.push({ project, res });
      return;
    }
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"error_code":"TEMPORARILY_UNAVAILABLE"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}, 120_000);
afterAll(async () => {
  if (saved === undefined) delete process.env[MIRROR_HOSTS_ENV];
  else process.env[MIRROR_HOSTS_ENV] = saved;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await h?.stop();
});

function release(project: string) {
  hold.delete(project);
  for (const x of held.filter((x) => x.project === project)) {
    held.splice(held.indexOf(x), 1);
    if (x.res.destroyed) continue;
    x.res.writeHead(503, { 'content-type': 'application/json' });
    x.res.end('{"error_code":"TEMPORARILY_UNAVAILABLE"}');
  }
}

async function until(what: () => boolean) {
  while (!what()) await new Promise((r) => setTimeout(r, 10));
}

async function mirrored(token: string, name: string) {
  const project = (await h.api(token, 'POST', '/api/v1/projects', { name })).json.id as string;
  await h.services.db.insert(mlflowMirrors).values({ projectId: project, url: `${base}/${name}` });
  return project;
}

async function lastError(project: string) {
  const [m] = await h.services.db
    .select()
    .from(mlflowMirrors)
    .where(eq(mlflowMirrors.projectId, project));
  return m?.lastError;
}

describe("the mirror's scheduling", () => {
  it('collapses repeated requests, keeps projects apart, backs off, and aborts on close', async () => {
    const { token } = await h.user('scheduled', 'owner');
    const slow = await mirrored(token, 'slow');
    const quick = await mirrored(token, 'quick');
    let now = 1_000_000;
    const mirror = new MlflowMirror(
      h.services.db,
      h.services.store,
      { now: () => now, random: () => 1 },
      { base: 60_000, max: 600_000 },
    );

    // A pass of `slow` hangs at the remote; five more requests share one pass queued behind it.
    hold = new Set(['slow']);
    const first = mirror.sync(slow);
    await until(() => held.length === 1);
    const repeats = Array.from({ length: 5 }, () => mirror.sync(slow));
    expect(new Set(repeats).size).toBe(1);

    // `quick` does not wait for `slow`.
    await mirror.sync(quick);
    expect(calls.get('quick')).toBe(1);
    expect(await lastError(quick)).toMatch(/503/);

    release('slow');
    await first;
    await repeats[0];
    // The pass in flight, then one pass for all five requests: not one each.
    expect(calls.get('slow')).toBe(2);

    // Both failed, so both are in backoff: a scheduled round skips them until the wait
    // (doubled per failure, here without jitter) is over.
    const seen = () => [calls.get('slow'), calls.get('quick')];
    const before = seen();
    await mirror.tick();
    expect(seen()).toEqual(before);
    now += 600_000;

    // A tick while a round runs is that round, not a second one.
    hold.add('quick');
    const round = mirror.tick();
    expect(mirror.tick()).toBe(round);
    await until(() => held.some((x) => x.project === 'quick'));
    expect(mirror.tick()).toBe(round);
    release('quick');
    await round;
    expect(seen()).toEqual([(before[0] ?? 0) + 1, (before[1] ?? 0) + 1]);

    // An explicit sync does not wait for the backoff.
    await mirror.sync(quick);
    expect(calls.get('quick')).toBe((before[1] ?? 0) + 2);

    // close() aborts a request in flight instead of waiting for the remote.
    hold = new Set(['slow']);
    const hanging = mirror.sync(slow);
    await until(() => held.some((x) => x.project === 'slow'));
    await mirror.close();
    await hanging;
    expect(await lastError(slow)).toMatch(/cannot reach the MLflow server/);
    release('slow');
  });
});
