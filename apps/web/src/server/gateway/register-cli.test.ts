import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runs } from '@anneal/db/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../testing/agent-process.ts';
import { type Harness, startHarness } from '../testing/harness.ts';

// `anneal register` against a real server and PostgreSQL: a checkpoint trained from the
// command line (the real engine, a few steps of the tiny preset) becomes a model version
// with lineage to a run that holds its files, and a consumer of versions (`anneal schedule
// show --model VERSION`, the same download `--teacher VERSION` uses) gets the same bytes back.
// A folder the engine cannot load, and a bad model name, register nothing.

let h: Harness;
let owner: { token: string; userId: string; orgId: string };
let home: string;
let dir: string;

const cli = (args: string[]) =>
  runCli(args, {
    server: h.url,
    token: owner.token,
    home,
    env: { ANNEAL_HOME: join(home, 'anneal-home') },
  });
const api = (method: string, path: string) => h.api(owner.token, method, path);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Every run on the server: a refused registration leaves none behind. */
const runCount = async () => (await h.services.db.select({ id: runs.id }).from(runs)).length;

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user('register-org', 'owner');
  home = mkdtempSync(join(tmpdir(), 'anneal-register-'));
  dir = join(home, 'shapes-tiny');
  const trained = await cli([
    ...['train', '--dataset', 'shapes', '--resolution', '8', '--preset', 'tiny'],
    ...['--steps', '2', '--batch', '4', '--sample-every', '0', '--out', dir, '--json'],
  ]);
  expect(trained.code, trained.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await h?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('anneal register', () => {
  it('registers a local checkpoint as a version whose files come back unchanged', async () => {
    const first = await cli([
      'register',
      dir,
      '--project',
      'local',
      '--alias',
      'staging',
      '--json',
    ]);
    expect(first.code, first.stderr).toBe(0);
    const out = first.json as unknown as {
      id: string;
      model: string;
      version: number;
      run_id: string;
      weights_sha256: string;
    };
    expect(out).toMatchObject({ model: 'shapes-tiny', version: 1 });
    expect(out.weights_sha256).toBe(sha256(join(dir, 'model.safetensors')));

    const version = (await api('GET', `/api/v1/model-versions/${out.id}`)).json;
    expect(version).toMatchObject({
      sourceRunId: out.run_id,
      artifactPath: 'checkpoints/latest/model.safetensors',
    });
    expect(version.metadata.architecture).toMatchObject({ preset: 'tiny', resolution: 8 });
    expect(version.metadata.architecture.parameters).toBeGreaterThan(0);
    expect(version.metadata.steps).toBe(2);
    const run = (await api('GET', `/api/v1/runs/${out.run_id}`)).json;
    expect(run).toMatchObject({ status: 'succeeded', datasetBuiltin: 'shapes' });
    expect(run.params).toMatchObject({ preset: 'tiny', steps: 2, resolution: 8 });
    const model = (await api('GET', `/api/v1/projects/${run.projectId}/models/shapes-tiny`)).json;
    expect(model.versions).toEqual([expect.objectContaining({ version: 1, aliases: ['staging'] })]);

    // What a job or `--teacher VERSION` downloads is the checkpoint that was registered.
    const shown = await cli(['schedule', 'show', '--model', out.id, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const fetched = join(home, 'anneal-home', 'models', 'versions', out.id);
    for (const file of ['model.safetensors', 'config.json'])
      expect(sha256(join(fetched, file)), file).toBe(sha256(join(dir, file)));

    // Each call adds a version; --model names another model.
    const again = await cli(['register', dir, '--project', 'local', '--json']);
    expect(again.json).toMatchObject({ model: 'shapes-tiny', version: 2 });
    const named = await cli([
      'register',
      dir,
      '--project',
      'local',
      '--model',
      'teacher',
      '--json',
    ]);
    expect(named.json).toMatchObject({ model: 'teacher', version: 1 });
  });

  it('refuses a checkpoint the engine cannot load, and a bad name, registering nothing', async () => {
    const before = await runCount();
    const broken = join(home, 'broken');
    cpSync(dir, broken, { recursive: true });
    truncateSync(join(broken, 'model.safetensors'), 100);
    const refused = await cli(['register', broken, '--project', 'local']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/model\.safetensors/);

    const badName = await cli(['register', dir, '--project', 'local', '--model', 'no spaces']);
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toMatch(/--model: .*letters, digits/);
    const badAlias = await cli(['register', dir, '--project', 'local', '--alias', 'Prod']);
    expect(badAlias.stderr).toMatch(/--alias: .*lowercase/);

    const missing = await cli(['register', join(home, 'nowhere'), '--project', 'local']);
    expect(missing.stderr).toMatch(/no config\.json in .*nowhere/);
    expect(await runCount()).toBe(before);
  });
});
