import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@anneal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { tinyPng } from '../../testing/world.ts';

// DVC 3 against Anneal with the official `dvc` (bench/interop/setup.sh): a dataset version is
// an HTTP remote that `dvc pull` materializes byte for byte from the .dvc file
// `anneal datasets export-dvc` writes, and a folder tracked by `dvc add` and pushed to a
// local remote becomes a version with the same md5 manifest (`anneal datasets import-dvc`).
// Without the venv the dvc tests skip, unless CI promises it (CI=true, ANNEAL_INTEROP_VENV=1).
const dvcBin = join(repoRoot, 'bench/interop/.venv/bin/dvc');
const hasDvc = existsSync(dvcBin);
const venvRequired = process.env.CI === 'true' && process.env.ANNEAL_INTEROP_VENV === '1';
const ANNEAL = join(repoRoot, 'apps/agent/bin/anneal.js');

let h: Harness;
let owner: Awaited<ReturnType<Harness['user']>>;
let other: Awaited<ReturnType<Harness['user']>>;
let tmp: string;
let projectId: string;
let version: {
  id: string;
  dvcMd5: string;
  manifest: { files: { relpath: string; md5: string }[] };
};
const uploaded = new Map<string, Uint8Array<ArrayBuffer>>([
  ['cat/1.png', tinyPng(1)],
  ['cat/2.png', tinyPng(2)],
  ['dog/only one.png', tinyPng(3)],
]);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'anneal-dvc-'));
  h = await startHarness();
  owner = await h.user('lab', 'owner');
  other = await h.user('elsewhere', 'owner');
  projectId = (await h.api(owner.token, 'POST', '/api/v1/projects', { name: 'pets' })).json.id;
  const form = new FormData();
  for (const [path, bytes] of uploaded) form.append('files', new Blob([bytes]), path);
  const res = await h.api(
    owner.token,
    'POST',
    `/api/v1/projects/${projectId}/datasets/pets/versions`,
    form,
  );
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  version = (await h.api(owner.token, 'GET', `/api/v1/dataset-versions/${res.json.id}`)).json;
}, 120_000);
afterAll(async () => {
  await h?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const env = () => ({
  // The venv's dvc first, as a user who activated it has.
  PATH: `${join(repoRoot, 'bench/interop/.venv/bin')}:${process.env.PATH ?? ''}`,
  HOME: tmp,
  DVC_NO_ANALYTICS: '1',
  DVC_SITE_CACHE_DIR: join(tmp, 'dvc-site'),
  ANNEAL_HOME: join(tmp, 'no-home'),
  ANNEAL_CONFIG: join(tmp, 'no-config.json'),
  ANNEAL_SERVER: h.url,
  ANNEAL_TOKEN: owner.token,
});

/** Runs a command without blocking: the server answering it lives in this process. */
function exec(cmd: string, args: string[], cwd: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(cmd, args, { cwd, env: { ...env() } as unknown as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

async function run(cmd: string, args: string[], cwd: string) {
  const r = await exec(cmd, args, cwd);
  expect(r.code, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

const objectUrl = (md5: string) =>
  `${h.url}/api/v1/dataset-versions/${version.id}/dvc/files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`;

describe('a dataset version as a DVC HTTP remote', () => {
  it('serves files and the .dir manifest by md5, GET and HEAD, to its organization only', async () => {
    const file = version.manifest.files[0] as { md5: string; relpath: string };
    const get = await fetch(objectUrl(file.md5), {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(get.status).toBe(200);
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(uploaded.get(file.relpath));
    const head = await fetch(objectUrl(version.dvcMd5), {
      method: 'HEAD',
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const dir = await fetch(objectUrl(version.dvcMd5), {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    const entries = JSON.parse(await dir.text());
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(entries).toEqual(
      [...version.manifest.files]
        .sort((a, b) => (a.relpath < b.relpath ? -1 : 1))
        .map((f) => ({ md5: f.md5, relpath: f.relpath })),
    );
    const unknown = await fetch(objectUrl('0'.repeat(32)), {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(unknown.status).toBe(404);
    const foreign = await fetch(objectUrl(file.md5), {
      headers: { authorization: `Bearer ${other.token}` },
    });
    expect(foreign.status).toBe(404);
    expect((await fetch(objectUrl(file.md5))).status).toBe(401);
  });

  it.runIf(!hasDvc && venvRequired)('has the interop venv when CI promises one', () => {
    expect.fail(`${dvcBin} is missing: run bench/interop/setup.sh`);
  });

  it.runIf(hasDvc)(
    'dvc pull materializes the exact uploaded files from the exported .dvc file',
    async () => {
      const repo = join(tmp, 'pull-repo');
      mkdirSync(repo);
      await run(dvcBin, ['init', '--no-scm', '-q'], repo);
      const exported = JSON.parse(
        await run(
          process.execPath,
          [ANNEAL, 'datasets', 'export-dvc', version.id, '--dir', repo, '--json'],
          repo,
        ),
      );
      expect(exported).toMatchObject({ md5: version.dvcMd5, files: 3, remote: 'anneal-pets-v1' });
      expect(readFileSync(join(repo, 'pets.dvc'), 'utf8')).toContain(`- md5: ${version.dvcMd5}\n`);
      // The printed commands, as a user types them (the token from the environment).
      for (const line of exported.commands as string[]) await run('sh', ['-c', line], repo);
      for (const [path, bytes] of uploaded)
        expect(new Uint8Array(readFileSync(join(repo, 'pets', path))), path).toEqual(bytes);
      // dvc itself agrees that the checkout matches the .dvc file.
      expect((await run(dvcBin, ['status', '--json'], repo)).trim()).toBe('{}');
    },
  );

  it.runIf(hasDvc)(
    'import-dvc makes a `dvc add` folder, pushed to a local remote, a version with its md5s',
    async () => {
      const repo = join(tmp, 'add-repo');
      const remote = join(tmp, 'local-remote');
      mkdirSync(join(repo, 'polygons', 'round'), { recursive: true });
      mkdirSync(join(repo, 'polygons', 'square'), { recursive: true });
      for (let i = 0; i < 3; i++) {
        writeFileSync(join(repo, 'polygons', 'round', `${i}.png`), tinyPng(10 + i));
        writeFileSync(join(repo, 'polygons', 'square', `${i}.png`), tinyPng(20 + i));
      }
      await run(dvcBin, ['init', '--no-scm', '-q'], repo);
      await run(dvcBin, ['remote', 'add', '-d', 'local', remote], repo);
      await run(dvcBin, ['add', 'polygons'], repo);
      await run(dvcBin, ['push'], repo);
      // Only the remote has the objects now.
      rmSync(join(repo, '.dvc', 'cache'), { recursive: true, force: true });
      const tracked = /- md5: ([0-9a-f]{32}\.dir)/.exec(
        readFileSync(join(repo, 'polygons.dvc'), 'utf8'),
      )?.[1];
      const out = JSON.parse(
        await run(
          process.execPath,
          [
            ANNEAL,
            'datasets',
            'import-dvc',
            'polygons.dvc',
            '--project',
            'pets',
            '--from',
            remote,
            '--json',
          ],
          repo,
        ),
      );
      expect(out).toMatchObject({
        dataset: 'polygons',
        version: 1,
        created: true,
        files: 6,
        md5: tracked,
      });
      const stored = (await h.api(owner.token, 'GET', `/api/v1/dataset-versions/${out.version_id}`))
        .json;
      const dir = JSON.parse(
        readFileSync(
          join(
            remote,
            'files',
            'md5',
            (tracked as string).slice(0, 2),
            (tracked as string).slice(2),
          ),
          'utf8',
        ),
      );
      expect(
        stored.manifest.files
          .map((f: { md5: string; relpath: string }) => ({ md5: f.md5, relpath: f.relpath }))
          .sort((a: { relpath: string }, b: { relpath: string }) =>
            a.relpath < b.relpath ? -1 : 1,
          ),
      ).toEqual(dir);
      expect(stored.dvcMd5).toBe(tracked);
    },
  );

  it.runIf(hasDvc)(
    'import-dvc refuses files a dataset cannot hold before uploading anything',
    async () => {
      const repo = join(tmp, 'mixed-repo');
      mkdirSync(join(repo, 'mixed'), { recursive: true });
      writeFileSync(join(repo, 'mixed', 'a.png'), tinyPng(5));
      writeFileSync(join(repo, 'mixed', 'notes.txt'), 'not an image');
      await run(dvcBin, ['init', '--no-scm', '-q'], repo);
      await run(dvcBin, ['add', 'mixed'], repo);
      const r = await exec(
        process.execPath,
        [ANNEAL, 'datasets', 'import-dvc', 'mixed.dvc', '--project', 'pets'],
        repo,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('1 files are not (notes.txt)');
      // One folder around everything is a wrapper to an upload: refused before it strips it.
      mkdirSync(join(repo, 'nested', 'train', 'a'), { recursive: true });
      mkdirSync(join(repo, 'nested', 'train', 'b'), { recursive: true });
      writeFileSync(join(repo, 'nested', 'train', 'a', '1.png'), tinyPng(6));
      writeFileSync(join(repo, 'nested', 'train', 'b', '1.png'), tinyPng(7));
      await run(dvcBin, ['add', 'nested'], repo);
      const wrapped = await exec(
        process.execPath,
        [ANNEAL, 'datasets', 'import-dvc', 'nested.dvc', '--project', 'pets'],
        repo,
      );
      expect(wrapped.code).toBe(1);
      expect(wrapped.stderr).toContain('`dvc add` the folder nested/train instead');
    },
  );

  it.runIf(hasDvc)(
    'dvc push into Anneal makes the pushed folder a version with its md5 manifest',
    async () => {
      const repo = join(tmp, 'push-repo');
      mkdirSync(join(repo, 'pushed', 'a'), { recursive: true });
      mkdirSync(join(repo, 'pushed', 'b'), { recursive: true });
      writeFileSync(join(repo, 'pushed', 'a', '1.png'), tinyPng(30));
      writeFileSync(join(repo, 'pushed', 'a', '2.png'), tinyPng(31));
      // The same bytes twice: one object in DVC, two files in the version.
      writeFileSync(join(repo, 'pushed', 'b', '1.png'), tinyPng(30));
      await run(dvcBin, ['init', '--no-scm', '-q'], repo);
      await run(dvcBin, ['add', 'pushed'], repo);
      const url = `${h.url}/api/v1/projects/${projectId}/datasets/pushed/dvc`;
      await run('sh', ['-c', `dvc remote add -d anneal ${url}`], repo);
      await run('sh', ['-c', 'dvc remote modify anneal auth custom'], repo);
      await run('sh', ['-c', 'dvc remote modify anneal custom_auth_header Authorization'], repo);
      await run(
        'sh',
        ['-c', 'dvc remote modify --local anneal password "Bearer $ANNEAL_TOKEN"'],
        repo,
      );
      await run('sh', ['-c', 'dvc push'], repo);
      const tracked = /- md5: ([0-9a-f]{32}\.dir)/.exec(
        readFileSync(join(repo, 'pushed.dvc'), 'utf8'),
      )?.[1];
      const list = (await h.api(owner.token, 'GET', `/api/v1/projects/${projectId}/datasets`)).json;
      const pushed = list.stored.find((d: { name: string }) => d.name === 'pushed');
      expect(pushed.versions).toHaveLength(1);
      expect(pushed.versions[0]).toMatchObject({ version: 1, fileCount: 3, dvcMd5: tracked });
      // And it pulls back from the version's own remote.
      const again = join(tmp, 'push-clone');
      mkdirSync(again);
      await run(dvcBin, ['init', '--no-scm', '-q'], again);
      const exported = JSON.parse(
        await run(
          process.execPath,
          [ANNEAL, 'datasets', 'export-dvc', pushed.versions[0].id, '--dir', again, '--json'],
          again,
        ),
      );
      for (const line of exported.commands as string[]) await run('sh', ['-c', line], again);
      for (const f of ['a/1.png', 'a/2.png', 'b/1.png'])
        expect(readFileSync(join(again, 'pushed', f))).toEqual(
          readFileSync(join(repo, 'pushed', f)),
        );
    },
  );
});
