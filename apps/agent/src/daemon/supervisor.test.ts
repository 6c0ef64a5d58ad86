import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { versionOfFiles } from '@anneal/datasets/hash';
import { type AgentMessageInput, jobOfferSchema } from '@anneal/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerApi } from './http.ts';
import { JobSupervisor } from './supervisor.ts';

// The supervisor between lease and child process, against a scripted control plane on a real
// socket: what it reports when the inputs cannot be had, and that a job stopped while its
// inputs download never starts.

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function controlPlane(
  handle: (path: string) => { status: number; body: unknown } | 'hang',
): Promise<{ api: ServerApi; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const r = handle(req.url ?? '');
    if (r === 'hang') return; // answered never: the test stops the job meanwhile
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(r.body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { api: new ServerApi(`http://127.0.0.1:${port}`, 'anneal_agent_test'), requests };
}

function trainOnVersion() {
  return jobOfferSchema.parse({
    type: 'job_offer',
    jobId: randomUUID(),
    leaseId: randomUUID(),
    runId: randomUUID(),
    projectId: randomUUID(),
    leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
    attempt: 1,
    job: {
      type: 'train',
      spec: {
        dataset: { kind: 'version', id: randomUUID(), hash: 'a'.repeat(64) },
        resolution: 8,
        steps: 2,
        preset: 'tiny',
      },
    },
    resume: null,
  });
}

function supervise(api: ServerApi) {
  const home = mkdtempSync(join(tmpdir(), 'anneal-supervisor-'));
  const reports: AgentMessageInput[] = [];
  const job = new JobSupervisor(
    trainOnVersion(),
    api,
    join(home, 'jobs'),
    (m) => reports.push(m),
    () => {},
    home,
  );
  return { job, reports };
}

describe('JobSupervisor', () => {
  it('fails a job whose dataset manifest does not hash to the spec, without retries', async () => {
    const { api } = await controlPlane(() => ({
      status: 200,
      body: { manifest: { wrong: 'shape' } },
    }));
    const { job, reports } = supervise(api);
    job.start();
    await job.done;
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ type: 'job_fail', retryable: true });

    // A valid manifest of other content: CONFLICT, the same on every agent, so not retried.
    const { manifest } = versionOfFiles([
      { relpath: 'a.png', sha256: 'b'.repeat(64), md5: 'c'.repeat(32), size: 10 },
      { relpath: 'b.png', sha256: 'd'.repeat(64), md5: 'e'.repeat(32), size: 10 },
    ]);
    const other = await controlPlane(() => ({ status: 200, body: { manifest } }));
    const second = supervise(other.api);
    second.job.start();
    await second.job.done;
    const fail = second.reports[0] as { type: string; retryable: boolean; reason: string };
    expect(fail.type).toBe('job_fail');
    expect(fail.reason).toMatch(/hashes to [0-9a-f]{64}, the job names a{64}/);
    expect(fail.retryable).toBe(false);
  });

  it('never starts a job stopped while its dataset downloads, and reports nothing', async () => {
    const { api, requests } = await controlPlane(() => 'hang');
    const { job, reports } = supervise(api);
    job.start();
    await expect.poll(() => requests.length).toBe(1);
    job.stop('cancelled');
    // stop() aborts the open manifest request: the supervisor settles at once, spawning nothing.
    await job.done;
    expect(reports).toEqual([]);
  });
});
