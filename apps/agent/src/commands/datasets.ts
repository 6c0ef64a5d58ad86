import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { BUILTIN_DATASETS } from '@anneal/datasets/builtins';
import { dvcDirObject, dvcFile } from '@anneal/datasets/hash';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import { api, type Client, resolveClient } from '../client/config.ts';
import { projectNamed } from '../client/projects.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal datasets export-dvc VERSION_ID [options]
       anneal datasets import-dvc FILE.dvc --project NAME [options]

export-dvc  writes NAME.dvc for a stored dataset version, whose files the server serves as
            a DVC 3 HTTP remote, and prints the \`dvc remote\` commands that reach it; then
            \`dvc pull\` materializes exactly the uploaded files.
  --path NAME      the folder the .dvc file tracks (default: the dataset's name)
  --dir DIR        where to write NAME.dvc (default: .), normally a DVC repository
  --remote NAME    the DVC remote's name (default: anneal-<dataset>-v<version>)

import-dvc  makes a dataset version of a folder that \`dvc add\` tracks: reads its .dir
            manifest and files from a DVC cache or a local remote (files/md5/..), checks
            every md5, uploads them under the same relative paths and checks that the new
            version's DVC md5 is the .dvc file's.
  --project NAME   the project (created when missing)
  --dataset NAME   the dataset (default: the tracked folder's name)
  --from DIR       a DVC cache or local remote (default: the repository's .dvc/cache)

Options:
  --server URL, --token T   as for \`anneal submit\` (ANNEAL_SERVER, ANNEAL_TOKEN, anneal login)
  --json           machine output: one JSON line
  -h, --help       show this help`;

const common = {
  server: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const;
const commonFlags = z.object({
  server: z.string().optional(),
  token: z.string().optional(),
  json: z.boolean().default(false),
});

interface VersionReply {
  id: string;
  version: number;
  dvcMd5: string;
  fileCount: number;
  sizeBytes: number;
  datasetName: string;
  manifest: { files: { relpath: string; md5: string; size: number }[] };
}

/** The one positional argument a subcommand takes, before its flags. */
function positional(argv: string[], what: string): [string, string[]] {
  const [first, ...rest] = argv;
  if (!first || first.startsWith('-')) throw new UsageError(`expected ${what}`);
  return [first, rest];
}

async function exportDvc(argv: string[], io: Parameters<Command['run']>[1]) {
  const [versionId, rest] = positional(argv, 'a dataset version id');
  const flags = parseFlags(
    rest,
    { ...common, path: { type: 'string' }, dir: { type: 'string' }, remote: { type: 'string' } },
    commonFlags.extend({
      path: z
        .string()
        .regex(/^[A-Za-z0-9._-][A-Za-z0-9._/-]*$/, {
          message: 'letters, digits, ".", "_", "-" and "/" only',
        })
        .optional(),
      dir: z.string().default('.'),
      remote: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/, { message: 'letters, digits, ".", "_" or "-" only' })
        .optional(),
    }),
  );
  const client = resolveClient(flags);
  const v = await api<VersionReply>(
    client,
    'GET',
    `/dataset-versions/${encodeURIComponent(versionId)}`,
  );
  const dir = dvcDirObject(v.manifest.files.map((f) => ({ md5: f.md5, relpath: f.relpath })));
  if (dir.md5 !== v.dvcMd5)
    throw new AppError(
      'CONFLICT',
      `dataset version ${v.id}: its files hash to DVC md5 ${dir.md5}, the server records ${v.dvcMd5}`,
    );
  const path = flags.path ?? v.datasetName;
  const remote =
    flags.remote ?? `anneal-${v.datasetName}-v${v.version}`.replace(/[^A-Za-z0-9._-]/g, '-');
  const total = v.manifest.files.reduce((n, f) => n + f.size, 0);
  // The output names its remote, so a plain `dvc pull` fetches it from Anneal.
  const text = dvcFile(path, dir, total, v.manifest.files.length).replace(
    /\n {2}path: /,
    `\n  remote: ${remote}\n  path: `,
  );
  const file = join(resolve(flags.dir), `${path.split('/').pop()}.dvc`);
  writeFileSync(file, text);
  const url = `${client.server.replace(/\/$/, '')}/api/v1/dataset-versions/${v.id}/dvc`;
  const commands = [
    `dvc remote add ${remote} ${url}`,
    `dvc remote modify ${remote} auth custom`,
    `dvc remote modify ${remote} custom_auth_header Authorization`,
    `dvc remote modify --local ${remote} password "Bearer $ANNEAL_TOKEN"`,
    `dvc pull ${relative(process.cwd(), file).startsWith('..') ? file : `./${relative(process.cwd(), file)}`}`,
  ];
  if (flags.json)
    io.out(
      JSON.stringify({ file, md5: dir.md5, files: v.manifest.files.length, remote, url, commands }),
    );
  else {
    io.err(`wrote ${file}: ${v.manifest.files.length} files, ${dir.md5}`);
    io.out(commands.join('\n'));
  }
  return 0;
}

/** The first `outs` entry of a .dvc file as `dvc add` writes it (flat YAML). */
export function readDvcFile(text: string): { md5: string; path: string; hash: string | null } {
  const out: Record<string, string> = {};
  let inOuts = false;
  let seen = 0;
  for (const line of text.split('\n')) {
    if (/^outs:\s*$/.test(line)) {
      inOuts = true;
      continue;
    }
    if (!inOuts) continue;
    const m = /^(- | {2})([a-z0-9_]+):\s*(.*?)\s*$/.exec(line);
    if (!m) {
      if (/^\S/.test(line)) break;
      continue;
    }
    if (m[1] === '- ' && ++seen > 1) break;
    let value = m[3] as string;
    if (value.startsWith('"')) value = JSON.parse(value);
    else if (value.startsWith("'")) value = value.slice(1, -1).replace(/''/g, "'");
    out[m[2] as string] = value;
  }
  if (!out.md5 || !out.path)
    throw new AppError('BAD_REQUEST', 'the .dvc file has no outs entry with md5 and path');
  return { md5: out.md5, path: out.path, hash: out.hash ?? null };
}

function objectPath(root: string, md5: string): string {
  return join(root, 'files', 'md5', md5.slice(0, 2), md5.slice(2));
}

const IMAGE = /\.(png|jpe?g|webp)$/i;

/**
 * The folder an upload strips as a wrapper (the server's rule for zips and folder uploads):
 * every file under one top folder, with the images still in folders below it.
 */
export function wrapperFolder(relpaths: string[]): string | null {
  const tops = new Set(relpaths.map((p) => (p.includes('/') ? p.split('/')[0] : '')));
  if (tops.size !== 1 || tops.has('')) return null;
  const [top] = tops as Set<string>;
  const rest = relpaths.map((p) => p.slice(`${top}/`.length)).filter((p) => IMAGE.test(p));
  return rest.every((p) => p.includes('/')) && top ? top : null;
}

async function importDvc(argv: string[], io: Parameters<Command['run']>[1]) {
  const [dvcPath, rest] = positional(argv, 'a .dvc file');
  const flags = parseFlags(
    rest,
    {
      ...common,
      project: { type: 'string' },
      dataset: { type: 'string' },
      from: { type: 'string' },
    },
    commonFlags.extend({
      project: z.string({ error: 'is required' }).min(1),
      dataset: z.string().min(1).optional(),
      from: z.string().optional(),
    }),
  );
  if (!existsSync(dvcPath)) throw new AppError('NOT_FOUND', `${dvcPath}: no such file`);
  const out = readDvcFile(readFileSync(dvcPath, 'utf8'));
  const dataset = flags.dataset ?? out.path.split('/').pop() ?? out.path;
  // The server's rule for names, checked before any byte is read or sent.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(dataset))
    throw new UsageError(
      `--dataset: "${dataset}" is not a dataset name (letters, digits, ".", "_" or "-")`,
    );
  if (BUILTIN_DATASETS.some((b) => b.name === dataset))
    throw new UsageError(
      `--dataset: "${dataset}" is the name of a built-in dataset; choose another`,
    );
  if (out.hash !== 'md5')
    throw new AppError(
      'BAD_REQUEST',
      `${dvcPath}: tracked with DVC 2's legacy md5 (no "hash: md5"); run \`dvc cache migrate --dvc-files\` with DVC 3 first`,
    );
  if (!out.md5.endsWith('.dir'))
    throw new AppError(
      'BAD_REQUEST',
      `${dvcPath}: tracks one file, not a folder; a dataset is a folder`,
    );
  let root = flags.from;
  if (!root) {
    for (let d = resolve(dirname(dvcPath)); ; d = dirname(d)) {
      if (existsSync(join(d, '.dvc'))) {
        root = join(d, '.dvc', 'cache');
        break;
      }
      if (dirname(d) === d)
        throw new AppError(
          'BAD_REQUEST',
          `${dvcPath} is not inside a DVC repository: pass --from DIR`,
        );
    }
  }
  const dirFile = objectPath(root, out.md5);
  if (!existsSync(dirFile))
    throw new AppError(
      'NOT_FOUND',
      `--from: ${root} has no ${out.md5} (run \`dvc push\` or \`dvc fetch\` first, or point --from at the remote)`,
    );
  const entries = JSON.parse(readFileSync(dirFile, 'utf8')) as { md5: string; relpath: string }[];
  // The .dir object is named by its own md5; a mismatch means a damaged cache.
  const dirMd5 = `${createHash('md5').update(readFileSync(dirFile)).digest('hex')}.dir`;
  if (dirMd5 !== out.md5) throw new AppError('CONFLICT', `${dirFile}: its bytes hash to ${dirMd5}`);
  const notImages = entries.filter((e) => !IMAGE.test(e.relpath)).map((e) => e.relpath);
  if (notImages.length)
    throw new AppError(
      'BAD_REQUEST',
      `${out.path}: a dataset version holds PNG, JPEG and WebP images only, and ${notImages.length} files are not (${notImages.slice(0, 5).join(', ')}${notImages.length > 5 ? ', ...' : ''}); remove them from the folder and \`dvc add\` it again`,
    );
  const wrapper = wrapperFolder(entries.map((e) => e.relpath));
  if (wrapper)
    throw new AppError(
      'BAD_REQUEST',
      `${out.path}: every file sits under one folder "${wrapper}/", which an upload takes for a wrapper and strips, so the version's md5 manifest would not be this .dvc file's; \`dvc add\` the folder ${out.path}/${wrapper} instead`,
    );
  const form = new FormData();
  for (const e of entries) {
    const file = objectPath(root, e.md5);
    if (!existsSync(file))
      throw new AppError('NOT_FOUND', `--from: ${root} lacks ${e.relpath} (md5 ${e.md5})`);
    const bytes = readFileSync(file);
    const md5 = createHash('md5').update(bytes).digest('hex');
    if (md5 !== e.md5)
      throw new AppError(
        'CONFLICT',
        `${file} (${e.relpath}): its bytes hash to ${md5}, not ${e.md5}`,
      );
    form.append('files', new Blob([bytes]), e.relpath);
  }
  const client = resolveClient(flags);
  const project = await projectNamed(client, flags.project, { create: true });
  const created = await upload(client, project.id, dataset, form);
  if (created.dvcMd5 !== out.md5) {
    const lost = [...created.skipped.map((s) => s.relpath), ...created.ignored];
    throw new AppError(
      'CONFLICT',
      `dataset ${dataset} v${created.version} has DVC md5 ${created.dvcMd5}, not ${out.md5}: the server left out ${lost.length} files (${lost.slice(0, 5).join(', ')})`,
    );
  }
  const size = statSync(dirFile).size;
  const report = {
    version_id: created.id,
    dataset,
    version: created.version,
    created: created.created,
    files: created.fileCount,
    md5: created.dvcMd5,
  };
  if (flags.json) io.out(JSON.stringify(report));
  else
    io.out(
      `${created.created ? 'created' : 'already had'} ${dataset} v${created.version} (${created.id}): ${created.fileCount} files, DVC md5 ${created.dvcMd5} as in ${dvcPath} (.dir ${size} bytes)`,
    );
  return 0;
}

interface UploadReply {
  id: string;
  version: number;
  created: boolean;
  fileCount: number;
  dvcMd5: string;
  skipped: { relpath: string; reason: string }[];
  ignored: string[];
}

async function upload(client: Client, projectId: string, dataset: string, form: FormData) {
  const url = `${client.server.replace(/\/$/, '')}/api/v1/projects/${projectId}/datasets/${encodeURIComponent(dataset)}/versions?strict=true`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.token}` },
      body: form,
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new AppError(
      'PRECONDITION_FAILED',
      `upload to ${client.server}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {}
  if (!res.ok)
    throw new AppError(
      'BAD_REQUEST',
      `upload to ${dataset}: ${(json as { error?: { message?: string } } | null)?.error?.message ?? text.slice(0, 300)}`,
    );
  return json as UploadReply;
}

export const datasets: Command = {
  name: 'datasets',
  summary: 'DVC interop: export a dataset version as a DVC remote, import a `dvc add` folder',
  usage,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === 'export-dvc') return exportDvc(rest, io);
    if (sub === 'import-dvc') return importDvc(rest, io);
    throw new UsageError('expected `datasets export-dvc` or `datasets import-dvc`');
  },
};
