import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { localCliTokenFile, localServerFile } from '@anneal/core/home';
import { trainSpecSchema } from '@anneal/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../testing/harness.ts';

// `anneal submit` with the real CLI against a real server: the job it queues carries
// every flag it was given, and a local server record it cannot use is named as such.

const ANNEAL = join(repoRoot, 'apps/agent/bin/anneal.js');

let h: Harness;
let dir: string;
let owner: Awaited<ReturnType<Harness['user']>>;

function anneal(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [ANNEAL, ...args], {
      env: {
        NODE_ENV: 'test',
        PATH: process.env.PATH ?? '',
        HOME: dir,
        ANNEAL_HOME: join(dir, 'no-home'),
        ANNEAL_CONFIG: join(dir, 'no-config.json'),
        ...env,
      },
      stdio: 'pipe',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  h = await startHarness({}, { gateway: false });
  dir = mkdtempSync(join(tmpdir(), 'anneal-submit-'));
  owner = await h.user('submit-org', 'owner');
});
afterAll(async () => {
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('anneal submit train', () => {
  it('stores every `anneal train` job flag in the queued spec', async () => {
    // Each value differs from its default, so a flag dropped on the way shows up.
    const expected = {
      dataset: { kind: 'builtin', name: 'shapes', options: { count: 64, heldOut: 8, seed: 3 } },
      resolution: 16,
      preset: 'tiny',
      steps: 7,
      batch: 4,
      lr: 0.0005,
      warmup: 2,
      lr_schedule: 'constant',
      min_lr: 0.0001,
      ema_decay: 0.95,
      grad_clip: 0.5,
      seed: 11,
      dtype: 'float16',
      conditional: false,
      parameterization: 'x0',
      loss_weighting: 'min-snr',
      min_snr_gamma: 3,
      cfg_dropout: 0.2,
      checkpoint_every: 3,
      log_every: 2,
    } as const;
    const defaults = trainSpecSchema.parse({
      dataset: { kind: 'builtin', name: 'mnist' },
      resolution: 8,
      steps: 1,
    });
    for (const [key, value] of Object.entries(expected))
      expect(defaults[key as keyof typeof defaults], key).not.toEqual(value);

    const r = await anneal([
      'submit',
      'train',
      '--project',
      'flags',
      '--server',
      h.url,
      '--token',
      owner.token,
      '--json',
      '--dataset-ref',
      JSON.stringify(expected.dataset),
      '--resolution',
      '16',
      '--preset',
      'tiny',
      '--steps',
      '7',
      '--batch',
      '4',
      '--lr',
      '0.0005',
      '--warmup',
      '2',
      '--lr-schedule',
      'constant',
      '--min-lr',
      '0.0001',
      '--loss-weighting',
      'min-snr',
      '--min-snr-gamma',
      '3',
      '--cfg-dropout',
      '0.2',
      '--ema-decay',
      '0.95',
      '--grad-clip',
      '0.5',
      '--seed',
      '11',
      '--dtype',
      'float16',
      '--unconditional',
      '--parameterization',
      'x0',
      '--checkpoint-every',
      '3',
      '--log-every',
      '2',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { job_id, status } = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(status).toBe('queued');
    const job = await h.api(owner.token, 'GET', `/api/v1/jobs/${job_id}`);
    expect(job.status).toBe(200);
    expect(job.json.type).toBe('train');
    expect(job.json.spec).toMatchObject(expected);
    expect(Object.keys(job.json.spec).sort()).toEqual(Object.keys(expected).sort());
  });

  it('submit sample stores the `anneal sample` flags a job spec has', async () => {
    // The train job queued above has a run to sample from.
    const projects = await h.api(owner.token, 'GET', '/api/v1/projects');
    const project = projects.json.projects.find((p: { name: string }) => p.name === 'flags');
    const jobs = await h.api(owner.token, 'GET', `/api/v1/projects/${project.id}/jobs`);
    const runId = jobs.json.jobs[0].runId;
    const expected = {
      model: { kind: 'run', runId },
      n: 9,
      steps: 3,
      sampler: 'heun',
      seed: 4,
      class: 2,
      guidance: 2.5,
      eta: 0.5,
      schedule: 'karras',
      sigma_max: 20,
    };
    const r = await anneal([
      ...['submit', 'sample', '--project', 'flags', '--server', h.url, '--token', owner.token],
      ...['--json', '--run', runId, '--n', '9', '--steps', '3', '--sampler', 'heun'],
      ...['--seed', '4', '--class', '2', '--guidance', '2.5', '--eta', '0.5'],
      ...['--schedule', 'karras', '--sigma-max', '20'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { job_id } = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
    const job = await h.api(owner.token, 'GET', `/api/v1/jobs/${job_id}`);
    expect(job.json.spec).toEqual(expected);
  });

  it('names the flag when a value is wrong, and refuses a local folder', async () => {
    const base = ['submit', 'train', '--project', 'flags', '--server', h.url];
    const auth = ['--token', owner.token, '--resolution', '16', '--steps', '2'];
    const badClip = await anneal([...base, ...auth, '--dataset', 'shapes', '--grad-clip=-1']);
    expect(badClip.code).toBe(2);
    expect(badClip.stderr).toMatch(/--grad-clip: /);
    const folder = await anneal([...base, ...auth, '--dataset', `folder:${dir}`]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toMatch(/--dataset: .* is a folder on this machine; upload it/);
  });
});

describe('anneal submit with a stale local server record', () => {
  /** An ANNEAL_HOME holding the owner's CLI token and a server.json with `record`. */
  function home(name: string, record: unknown) {
    const path = join(dir, name);
    mkdirSync(join(path, 'secrets'), { recursive: true });
    writeFileSync(localCliTokenFile(path), `${owner.token}\n`, { mode: 0o600 });
    writeFileSync(localServerFile(path), JSON.stringify(record));
    return path;
  }
  const args = ['submit', 'train', '--project', 'stale', '--dataset', 'shapes'];
  const job = [...args, '--resolution', '8', '--steps', '1', '--json'];

  it('uses a live one, and says when its process is gone or it cannot be reached', async () => {
    const live = await anneal(job, { ANNEAL_HOME: home('live', { url: h.url, pid: process.pid }) });
    expect(live.code, live.stderr).toBe(0);

    const exited = spawn(process.execPath, ['-e', '']);
    const deadPid = exited.pid as number;
    await new Promise((r) => exited.once('exit', r));
    const deadHome = home('dead', { url: h.url, pid: deadPid });
    const dead = await anneal(job, { ANNEAL_HOME: deadHome });
    expect(dead.code).toBe(1);
    expect(dead.stderr).toContain(
      `${localServerFile(deadHome)} names a local server at ${h.url} (pid ${deadPid}) that is no longer running`,
    );
    // A server given another way does not need the record.
    const flagged = await anneal([...job, '--server', h.url], { ANNEAL_HOME: deadHome });
    expect(flagged.code, flagged.stderr).toBe(0);

    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const address = srv.address();
        srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const gone = home('unreachable', { url: `http://127.0.0.1:${port}`, pid: process.pid });
    const unreachable = await anneal(job, { ANNEAL_HOME: gone });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(the local server recorded in .*server\.json; is `npm start` still running there\?\): ECONNREFUSED/,
    );
  });
});
