import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { versionOfFiles } from '@anneal/datasets/hash';
import {
  type AgentMessageInput,
  JOB_LOG_TAIL_LINES,
  jobOfferSchema,
  jobProgressSchema,
} from '@anneal/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerApi } from './http.ts';
import { JobSupervisor, progressReport, type SpawnChild } from './supervisor.ts';

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

function supervise(api: ServerApi, offer = trainOnVersion(), spawnChild?: SpawnChild) {
  const home = mkdtempSync(join(tmpdir(), 'anneal-supervisor-'));
  const reports: AgentMessageInput[] = [];
  const job = new JobSupervisor(
    offer,
    api,
    join(home, 'jobs'),
    (m) => reports.push(m),
    () => {},
    home,
    spawnChild,
  );
  return { job, reports };
}

/** A train job on a builtin dataset: nothing to download before the child starts. */
function trainOnShapes() {
  const offer = trainOnVersion();
  return jobOfferSchema.parse({
    ...offer,
    job: {
      type: 'train',
      spec: { ...offer.job.spec, dataset: { kind: 'builtin', name: 'shapes' } },
    },
  });
}

const summary = {
  steps: 2,
  final_loss: 0.5,
  wall_s: 1,
  out: '/tmp/café',
  images_per_s: 10,
  parameters: 100,
  peak_memory_bytes: 1000,
  cancelled: false,
};

/**
 * Runs `body` (JavaScript, with `write(text)` that writes raw UTF-8 to stdout and waits until
 * it is flushed, and `child_process` in scope) as the job's child: a real process, so exits,
 * signals and stdio behave as they do for `anneal`.
 */
function scriptedChild(body: string): SpawnChild {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-child-'));
  const script = join(dir, 'child.cjs');
  writeFileSync(
    script,
    `const child_process = require('node:child_process');
const write = (text) => new Promise((resolve) => process.stdout.write(text, resolve));
(async () => {
${body}
})();
`,
  );
  return (_args, env) =>
    spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
}

async function runScripted(body: string) {
  const { api } = await controlPlane(() => ({ status: 500, body: {} }));
  const { job, reports } = supervise(api, trainOnShapes(), scriptedChild(body));
  job.start();
  await job.done;
  return reports;
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

  describe("reading the child's output", () => {
    const metrics = JSON.stringify({ event: 'metrics', step: 1, total: 2, loss: 0.9 });

    it('retries a child killed in the middle of a line (an OOM kill)', async () => {
      const reports = await runScripted(`
        await write(${JSON.stringify(`${metrics}
{"event":"metr`)});
        process.kill(process.pid, 'SIGKILL');`);
      expect(reports.map((r) => r.type)).toEqual(['job_metrics', 'job_progress', 'job_fail']);
      expect(reports.at(-1)).toMatchObject({ retryable: true });
      expect((reports.at(-1) as { reason: string }).reason).toMatch(/SIGKILL/);
    });

    it("records a progressive run's stage and resolution as run metrics, a single run's not", async () => {
      const line = (extra: object) =>
        JSON.stringify({
          event: 'metrics',
          step: 2,
          total: 4,
          loss: 0.5,
          resolution: 16,
          ...extra,
        });
      const reports = await runScripted(`
        await write(${JSON.stringify(`${line({ stage: 1 })}\n${line({})}\n`)});
        process.exit(1);`);
      const points = reports
        .filter((r) => r.type === 'job_metrics')
        .map((r) => (r as { points: { key: string; value: number }[] }).points);
      expect(points).toEqual([
        [
          { key: 'loss', step: 2, value: 0.5 },
          { key: 'stage', step: 2, value: 1 },
          { key: 'resolution', step: 2, value: 16 },
        ],
        [{ key: 'loss', step: 2, value: 0.5 }],
      ]);
    });

    it('retries a child that crashed after printing a stray line', async () => {
      const reports = await runScripted(`
        await write('warning from a native library\\n');
        process.exit(139);`);
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ type: 'job_fail', retryable: true });
      expect((reports[0] as { reason: string }).reason).toMatch(/code 139/);
      // The stray line is the child's output: it travels with the failure as its log.
      expect(reports[0]).toMatchObject({ log: ['warning from a native library'] });
    });

    it("sends the child's last output lines with a failure, stderr included", async () => {
      const error = { event: 'error', reason: 'loss diverged', retryable: false };
      const reports = await runScripted(`
        for (let i = 0; i < 60; i++) process.stderr.write('line ' + i + '\\n');
        await new Promise((r) => process.stderr.write('last line without a newline', r));
        await write(${JSON.stringify(`${JSON.stringify(error)}
`)});
        process.exit(1);`);
      expect(reports).toHaveLength(1);
      const fail = reports[0] as { type: string; reason: string; log: string[] };
      expect(fail.type).toBe('job_fail');
      expect(fail.reason).toMatch(/loss diverged/);
      expect(fail.log).toHaveLength(JOB_LOG_TAIL_LINES);
      expect(fail.log.at(-1)).toBe('last line without a newline');
      expect(fail.log.at(-2)).toBe('line 59');
      expect(fail.log[0]).toBe(`line ${60 - JOB_LOG_TAIL_LINES + 1}`);
    });

    it("follows the child's error event over a line it could not read", async () => {
      const error = { event: 'error', reason: 'bad file x.png', retryable: false };
      const reports = await runScripted(`
        await write('not json\\n' + ${JSON.stringify(JSON.stringify(error))} + '\\n');
        process.exit(1);`);
      expect(reports).toEqual([
        expect.objectContaining({
          type: 'job_fail',
          retryable: false,
          reason: expect.stringMatching(/bad file x\.png/),
        }),
      ]);
    });

    it('fails without retry a child that exits 0 after a line its kind refuses', async () => {
      const reports = await runScripted(`
        await write('hello from a dependency\\n' + ${JSON.stringify(JSON.stringify(summary))} + '\\n');
        process.exit(0);`);
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ type: 'job_fail', retryable: false });
      expect((reports[0] as { reason: string }).reason).toMatch(
        /not JSON: "hello from a dependency"/,
      );
    });

    it('fails without retry a child that exits 0 without its summary', async () => {
      const reports = await runScripted(
        `await write(${JSON.stringify(`${metrics}
`)});`,
      );
      expect(reports.at(-1)).toMatchObject({ type: 'job_fail', retryable: false });
      expect((reports.at(-1) as { reason: string }).reason).toMatch(/without printing its summary/);
    });

    it('completes with a summary that arrives in pieces, the last after the child exited', async () => {
      // Split inside the two bytes of "é", and the end written by a grandchild that holds
      // stdout open past the child's exit: the child's 'exit' comes before the line is whole.
      const line = Buffer.from(
        `${JSON.stringify(summary)}
`,
        'utf8',
      );
      const cut = line.indexOf(0xc3) + 1;
      const head = line.subarray(0, cut).toString('base64');
      const tail = line.subarray(cut).toString('base64');
      const reports = await runScripted(`
        await write(Buffer.from('${head}', 'base64'));
        await new Promise((r) => setTimeout(r, 50));
        child_process.spawn(process.execPath, ['-e',
          "setTimeout(() => process.stdout.write(Buffer.from('${tail}', 'base64')), 300)"],
          { stdio: ['ignore', 'inherit', 'inherit'] });
        process.exit(0);`);
      expect(reports).toEqual([expect.objectContaining({ type: 'job_complete', summary })]);
    });

    it("uploads a training sample grid and the index as the run's artifacts at its step", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'anneal-grid-'));
      const png = join(dir, 'step-2.png');
      const index = join(dir, 'index.json');
      writeFileSync(png, 'png bytes');
      writeFileSync(index, '{"frames":[]}');
      const { api, requests } = await controlPlane(() => ({ status: 200, body: {} }));
      const event = { event: 'samples', step: 2, file: png, index };
      const { job, reports } = supervise(
        api,
        trainOnShapes(),
        scriptedChild(`
        await write(${JSON.stringify(`${JSON.stringify(event)}
${JSON.stringify(summary)}
`)});
        process.exit(0);`),
      );
      job.start();
      await job.done;
      expect(requests.filter((r) => r.includes('/artifacts/'))).toEqual([
        expect.stringMatching(/\/artifacts\/samples\/step-2\.png$/),
        expect.stringMatching(/\/artifacts\/samples\/index\.json$/),
      ]);
      expect(reports.map((r) => (r.type === 'job_artifact' ? r.artifact.path : r.type))).toEqual([
        'samples/step-2.png',
        'samples/index.json',
        'job_complete',
      ]);
    });

    it('stops waiting for a process of the child that holds stdout open', async () => {
      // The grandchild never writes and outlives the grace period: the job still settles.
      const reports = await runScripted(`
        await write(${JSON.stringify(`${JSON.stringify(summary)}
`)});
        child_process.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'],
          { stdio: ['ignore', 'inherit', 'inherit'] }).unref();
        process.exit(0);`);
      expect(reports).toEqual([expect.objectContaining({ type: 'job_complete', summary })]);
    }, 30_000);
  });
});

describe('progressReport', () => {
  it("clamps a child's phase and ETA to what the server's job_progress takes", () => {
    const lease = { jobId: randomUUID(), leaseId: randomUUID() };
    const wild = progressReport({
      event: 'progress',
      phase: 'p'.repeat(5000),
      step: 3,
      total: 10,
      eta_s: 1e12,
      eta_lower_bound: true,
    });
    expect(wild.message).toHaveLength(1000);
    expect(wild.etaS).toBe(1e9);
    expect(jobProgressSchema.safeParse({ type: 'job_progress', ...lease, ...wild }).success).toBe(
      true,
    );
    // In bounds, it is the event as it came.
    expect(
      progressReport({ event: 'progress', phase: 'sample', step: 3, total: 10, eta_s: 12 }),
    ).toEqual({ step: 3, total: 10, message: 'sample', etaS: 12, etaLowerBound: false });
  });
});
